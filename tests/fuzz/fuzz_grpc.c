/* fuzz_grpc.c: libFuzzer target for gRPC reassembly (src/grpc.c) over the h2 framer. Same
 * script format as fuzz_h2: byte 0 picks from_start and a small or default message limit;
 * control bytes pick a direction and chunk length, or a gap. Unknown :paths are learned. */
#include <stddef.h>
#include <stdint.h>

#include "grpc.h"

static volatile uint8_t fuzz_sink;
static struct grpc_conn *fuzz_conn;

static void fuzz_touch(const uint8_t *p, size_t n)
{
	uint8_t x = 0;
	for (size_t i = 0; i < n; i++)
		x ^= p[i];
	fuzz_sink ^= x;
}

static void fuzz_open(void *ctx, struct grpc_stream *s, ee_ts ts)
{
	if (s->path_unknown)
		grpc_conn_learn_path(fuzz_conn, s, "/etcdserverpb.KV/Range");
	fuzz_touch((const uint8_t *)s->path, sizeof s->path);
}

static void fuzz_msg(void *ctx, struct grpc_stream *s, enum tcp_dir dir, const uint8_t *p, size_t n,
		     bool resumed, ee_ts ts)
{
	fuzz_touch(p, n);
}

static void fuzz_close(void *ctx, struct grpc_stream *s, ee_ts ts)
{
	fuzz_touch((const uint8_t *)s->message, sizeof s->message);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	struct grpc_callbacks cb = {NULL, fuzz_open, fuzz_msg, NULL, fuzz_close, NULL};
	grpc_set_max_message(data[0] & 2 ? 1000 : 0);
	fuzz_conn = grpc_conn_new(&cb, data[0] & 1);
	if (!fuzz_conn)
		return 0;
	size_t i = 1;
	while (i < size) {
		uint8_t ctl = data[i++];
		enum tcp_dir dir = ctl & 1 ? TCP_S2C : TCP_C2S;
		if ((ctl & 0xfe) == 0xfe) {
			grpc_conn_gap(fuzz_conn, dir, data[0] >> 2, 0);
			continue;
		}
		size_t n = (size_t)(ctl >> 1) * 4 + 1;
		if (n > size - i)
			n = size - i;
		grpc_conn_feed(fuzz_conn, dir, data + i, n, 0);
		i += n;
	}
	struct grpc_stats st = {0};
	grpc_conn_add_stats(fuzz_conn, &st);
	grpc_conn_free(fuzz_conn, 0);
	fuzz_conn = NULL;
	grpc_set_max_message(0);
	return 0;
}
