/* fuzz_h2.c: libFuzzer target for the HTTP/2 framer (src/h2.c). The input is a script:
 * byte 0 picks from_start; then each control byte picks a direction and a chunk length
 * (or a gap), followed by that many bytes to feed. Callbacks touch every byte they get so
 * ASan sees any view that points outside its buffer. */
#include <stddef.h>
#include <stdint.h>

#include "h2.h"

static volatile uint8_t fuzz_sink;

static void fuzz_touch(const uint8_t *p, size_t n)
{
	uint8_t x = 0;
	for (size_t i = 0; i < n; i++)
		x ^= p[i];
	fuzz_sink ^= x;
}

static void fuzz_headers(void *ctx, uint32_t stream, enum tcp_dir dir, const struct hpack_field *f,
			 size_t n, bool end_stream, ee_ts ts)
{
	for (size_t i = 0; i < n; i++) {
		fuzz_touch(f[i].name, f[i].name_len);
		fuzz_touch(f[i].value, f[i].value_len);
		if (f[i].flags & HPACK_F_UNKNOWN_VALUE)
			h2_conn_learn(*(struct h2_conn **)ctx, dir, f[i].unknown_id, ":path", "/learned");
	}
}

static void fuzz_data(void *ctx, uint32_t stream, enum tcp_dir dir, const uint8_t *p, size_t n,
		      bool end_stream, ee_ts ts)
{
	fuzz_touch(p, n);
}

static void fuzz_goaway(void *ctx, enum tcp_dir dir, uint32_t last, uint32_t code,
			const uint8_t *debug, size_t n, ee_ts ts)
{
	fuzz_touch(debug, n);
}

static const struct h2_callbacks fuzz_cb = {fuzz_headers, fuzz_data, NULL, fuzz_goaway, NULL};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	struct h2_conn *c = NULL;
	c = h2_conn_new(&fuzz_cb, &c, data[0] & 1);
	if (!c)
		return 0;
	size_t i = 1;
	while (i < size) {
		uint8_t ctl = data[i++];
		enum tcp_dir dir = ctl & 1 ? TCP_S2C : TCP_C2S;
		if ((ctl & 0xfe) == 0xfe) {
			h2_conn_gap(c, dir, data[0] >> 1, 0);
			continue;
		}
		size_t n = (size_t)(ctl >> 1) * 4 + 1;
		if (n > size - i)
			n = size - i;
		h2_conn_feed(c, dir, data + i, n, 0);
		i += n;
	}
	struct h2_stats st = {0};
	h2_conn_add_stats(c, &st);
	h2_conn_free(c);
	return 0;
}
