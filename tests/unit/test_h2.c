/* test_h2.c: unit tests of the HTTP/2 framer (src/h2.c). Connections are built by hand,
 * header blocks with nghttp2's HPACK deflater; every event is logged as text so that
 * different feed chunkings, resync starts and gaps can be compared exactly. */
#include <nghttp2/nghttp2.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "h2.h"
#include "unit.h"

/* ---- byte builders ---- */

static void buf_printf(struct buf *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	buf_put(b, tmp, (size_t)k < sizeof tmp ? (size_t)k : sizeof tmp - 1);
}

static void put_frame(struct buf *b, uint8_t type, uint8_t flags, uint32_t stream, const void *pl,
		      size_t n)
{
	uint8_t h[9] = {(uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n, type, flags,
			(uint8_t)(stream >> 24), (uint8_t)(stream >> 16), (uint8_t)(stream >> 8),
			(uint8_t)stream};
	buf_put(b, h, 9);
	buf_put(b, pl, n);
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Encodes name/value pairs (NULL-terminated list) into an HPACK block. */
static size_t hd_block(nghttp2_hd_deflater *def, uint8_t *out, size_t cap, const char *const *kv)
{
	nghttp2_nv nv[32];
	size_t n = 0;
	for (; kv[2 * n]; n++) {
		nv[n].name = (uint8_t *)(uintptr_t)kv[2 * n];
		nv[n].namelen = strlen(kv[2 * n]);
		nv[n].value = (uint8_t *)(uintptr_t)kv[2 * n + 1];
		nv[n].valuelen = strlen(kv[2 * n + 1]);
		nv[n].flags = NGHTTP2_NV_FLAG_NONE;
	}
	ssize_t r = nghttp2_hd_deflate_hd(def, out, cap, nv, n);
	return r < 0 ? 0 : (size_t)r;
}

static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/* ---- event log ---- */

struct rec {
	struct buf log;
	struct buf data[2]; /* all DATA payloads per direction, concatenated */
	int notices[8];
	uint64_t resync_skipped;
};

static void rec_headers(void *ctx, uint32_t stream, enum tcp_dir dir, const struct hpack_field *f,
			size_t n, bool end_stream, ee_ts ts)
{
	struct rec *r = ctx;
	buf_printf(&r->log, "H %u %d es=%d", stream, dir, end_stream);
	for (size_t i = 0; i < n; i++) {
		buf_printf(&r->log, " %.*s=%.*s", (int)f[i].name_len, (const char *)f[i].name,
			   (int)f[i].value_len, (const char *)f[i].value);
		if (f[i].flags & (HPACK_F_UNKNOWN_NAME | HPACK_F_UNKNOWN_VALUE))
			buf_printf(&r->log, "?%llu", (unsigned long long)f[i].unknown_id);
	}
	buf_printf(&r->log, "\n");
}

static void rec_data(void *ctx, uint32_t stream, enum tcp_dir dir, const uint8_t *p, size_t n,
		     bool end_stream, ee_ts ts)
{
	struct rec *r = ctx;
	buf_printf(&r->log, "D %u %d es=%d n=%zu '%.*s'\n", stream, dir, end_stream, n,
		   (int)(n < 40 ? n : 40), (const char *)p);
	buf_put(&r->data[dir], p, n);
}

static void rec_rst(void *ctx, uint32_t stream, enum tcp_dir dir, uint32_t code, ee_ts ts)
{
	struct rec *r = ctx;
	buf_printf(&r->log, "R %u %d code=%u\n", stream, dir, code);
}

static void rec_goaway(void *ctx, enum tcp_dir dir, uint32_t last, uint32_t code,
		       const uint8_t *debug, size_t n, ee_ts ts)
{
	struct rec *r = ctx;
	buf_printf(&r->log, "G %d last=%u code=%u '%.*s'\n", dir, last, code, (int)n,
		   (const char *)debug);
}

static void rec_notice(void *ctx, enum tcp_dir dir, enum h2_notice what, uint64_t skipped, ee_ts ts)
{
	struct rec *r = ctx;
	if (what < 8)
		r->notices[what]++;
	if (what == H2_N_RESYNC)
		r->resync_skipped += skipped;
	buf_printf(&r->log, "N %d %d\n", dir, what);
}

static const struct h2_callbacks rec_cb = {rec_headers, rec_data, rec_rst, rec_goaway, rec_notice};

static void rec_free(struct rec *r)
{
	free(r->log.p);
	free(r->data[0].p);
	free(r->data[1].p);
	memset(r, 0, sizeof *r);
}

static char *rec_str(struct rec *r)
{
	buf_put(&r->log, "", 1);
	r->log.n--;
	return (char *)r->log.p;
}

/* ---- a sample connection ---- */

/* Frame start offsets of the C2S stream, for resync checks. */
struct conn {
	struct buf dir[2];
	size_t starts[64];
	uint8_t types[64];
	size_t nstarts;
	size_t data_starts[16]; /* offsets of DATA frames in C2S */
	size_t ndata;
};

static void conn_frame(struct conn *c, int dir, uint8_t type, uint8_t flags, uint32_t stream,
		       const void *pl, size_t n)
{
	if (dir == TCP_C2S) {
		c->starts[c->nstarts] = c->dir[0].n;
		c->types[c->nstarts++] = type;
	}
	put_frame(&c->dir[dir], type, flags, stream, pl, n);
}

/* Builds: preface, SETTINGS, HEADERS+2 CONTINUATION, padded DATA, second request reusing
 * the dynamic table, PING, PRIORITY, unknown frame, ... and a server side with SETTINGS,
 * response HEADERS, DATA, trailers, RST_STREAM, GOAWAY. */
static void conn_build(struct conn *c)
{
	memset(c, 0, sizeof *c);
	nghttp2_hd_deflater *dc, *ds;
	nghttp2_hd_deflate_new(&dc, 4096);
	nghttp2_hd_deflate_new(&ds, 4096);
	uint8_t blk[4096], pl[4096];
	size_t n;
	buf_put(&c->dir[0], preface, 24);
	uint8_t set[12] = {0, 1, 0, 0, 0x10, 0, 0, 5, 0, 0, 0x40, 0}; /* table 4096, frame 16384 */
	conn_frame(c, 0, H2_SETTINGS, 0, 0, set, 12);
	uint8_t wu[4] = {0, 0, 0x10, 0};
	conn_frame(c, 0, H2_WINDOW_UPDATE, 0, 0, wu, 4);
	const char *req1[] = {":method", "POST", ":scheme", "http", ":path", "/etcdserverpb.KV/Range",
			      ":authority", "127.0.0.1:2379", "content-type", "application/grpc",
			      "user-agent", "grpc-go/1.51.0", "te", "trailers", NULL};
	n = hd_block(dc, blk, sizeof blk, req1);
	/* split the block across HEADERS + 2 CONTINUATION */
	size_t a = n / 3, b2 = 2 * n / 3;
	conn_frame(c, 0, H2_HEADERS, 0, 1, blk, a);
	conn_frame(c, 0, H2_CONTINUATION, 0, 1, blk + a, b2 - a);
	conn_frame(c, 0, H2_CONTINUATION, 0x4, 1, blk + b2, n - b2);
	/* padded DATA with END_STREAM: pad length 3 */
	pl[0] = 3;
	memcpy(pl + 1, "request-one", 11);
	memset(pl + 12, 0, 3);
	c->data_starts[c->ndata++] = c->dir[0].n;
	conn_frame(c, 0, H2_DATA, 0x1 | 0x8, 1, pl, 15);
	/* server side */
	uint8_t sset[6] = {0, 5, 0, 0, 0x40, 0};
	put_frame(&c->dir[1], H2_SETTINGS, 0, 0, sset, 6);
	put_frame(&c->dir[1], H2_SETTINGS, 0x1, 0, NULL, 0);
	const char *resp[] = {":status", "200", "content-type", "application/grpc", NULL};
	n = hd_block(ds, blk, sizeof blk, resp);
	put_frame(&c->dir[1], H2_HEADERS, 0x4, 1, blk, n);
	put_frame(&c->dir[1], H2_DATA, 0, 1, "response-one", 12);
	const char *trl[] = {"grpc-status", "0", NULL};
	n = hd_block(ds, blk, sizeof blk, trl);
	put_frame(&c->dir[1], H2_HEADERS, 0x5, 1, blk, n);
	/* second request: its block references dynamic entries of the first */
	conn_frame(c, 0, H2_SETTINGS, 0x1, 0, NULL, 0);
	const char *req2[] = {":method", "POST", ":scheme", "http", ":path", "/etcdserverpb.KV/Range",
			      ":authority", "127.0.0.1:2379", "content-type", "application/grpc",
			      "user-agent", "grpc-go/1.51.0", "te", "trailers", NULL};
	n = hd_block(dc, blk, sizeof blk, req2);
	/* HEADERS with PADDED + PRIORITY */
	pl[0] = 2;
	memset(pl + 1, 0, 5);
	pl[5] = 15;
	memcpy(pl + 6, blk, n);
	memset(pl + 6 + n, 0, 2);
	conn_frame(c, 0, H2_HEADERS, 0x4 | 0x8 | 0x20, 3, pl, 6 + n + 2);
	c->data_starts[c->ndata++] = c->dir[0].n;
	conn_frame(c, 0, H2_DATA, 0, 3, "request-two-part-a", 18);
	conn_frame(c, 0, H2_PING, 0, 0, "12345678", 8);
	uint8_t prio[5] = {0, 0, 0, 1, 10};
	conn_frame(c, 0, H2_PRIORITY, 0, 3, prio, 5);
	conn_frame(c, 0, 0xb, 0, 0, "ext", 3); /* unknown type: ignored */
	c->data_starts[c->ndata++] = c->dir[0].n;
	conn_frame(c, 0, H2_DATA, 0, 3, "request-two-part-b", 18);
	const char *req3[] = {":method", "POST", ":scheme", "http", ":path", "/etcdserverpb.Watch/Watch",
			      ":authority", "127.0.0.1:2379", "content-type", "application/grpc", NULL};
	n = hd_block(dc, blk, sizeof blk, req3);
	conn_frame(c, 0, H2_HEADERS, 0x4, 5, blk, n);
	c->data_starts[c->ndata++] = c->dir[0].n;
	conn_frame(c, 0, H2_DATA, 0, 5, "watch-create", 12);
	conn_frame(c, 0, H2_WINDOW_UPDATE, 0, 0, wu, 4);
	c->data_starts[c->ndata++] = c->dir[0].n;
	conn_frame(c, 0, H2_DATA, 0x1, 3, "request-two-end", 15);
	conn_frame(c, 0, H2_PING, 0x1, 0, "abcdefgh", 8);
	conn_frame(c, 0, H2_PING, 0x1, 0, "abcdefgh", 8);
	uint8_t rst[4];
	put_be32(rst, 8);
	put_frame(&c->dir[1], H2_RST_STREAM, 0, 3, rst, 4);
	uint8_t ga[8 + 5];
	put_be32(ga, 5);
	put_be32(ga + 4, 0);
	memcpy(ga + 8, "bye!!", 5);
	put_frame(&c->dir[1], H2_GOAWAY, 0, 0, ga, 13);
	nghttp2_hd_deflate_del(dc);
	nghttp2_hd_deflate_del(ds);
}

static void conn_free(struct conn *c)
{
	free(c->dir[0].p);
	free(c->dir[1].p);
}

/* Feeds both directions in chunks chosen by `mode`: 0 = whole, 1 = byte by byte, else a
 * seeded random chunking; C2S and S2C alternate. Returns the event log (caller frees). */
static char *run_conn(const struct conn *c, int mode, unsigned seed, struct h2_stats *st)
{
	struct rec r = {0};
	struct h2_conn *h = h2_conn_new(&rec_cb, &r, true);
	size_t off[2] = {0, 0};
	srand(seed);
	/* C2S first entirely up to its second SETTINGS, so events have a stable order? No: the
	 * directions are independent; feed C2S fully, then S2C, chunked. */
	for (int d = 0; d < 2; d++) {
		while (off[d] < c->dir[d].n) {
			size_t k = c->dir[d].n - off[d];
			if (mode == 1)
				k = 1;
			else if (mode > 1)
				k = 1 + (size_t)rand() % (k < 40 ? k : 40);
			h2_conn_feed(h, d, c->dir[d].p + off[d], k, 0);
			off[d] += k;
		}
	}
	if (st)
		h2_conn_add_stats(h, st);
	h2_conn_free(h);
	char *s = strdup(rec_str(&r));
	rec_free(&r);
	return s;
}

static void test_whole_connection(void)
{
	struct conn c;
	conn_build(&c);
	struct h2_stats st = {0};
	char *log = run_conn(&c, 0, 0, &st);
	const char *want =
		"N 0 6\n"
		"H 1 0 es=0 :method=POST :scheme=http :path=/etcdserverpb.KV/Range "
		":authority=127.0.0.1:2379 content-type=application/grpc user-agent=grpc-go/1.51.0 "
		"te=trailers\n"
		"D 1 0 es=1 n=11 'request-one'\n"
		"H 3 0 es=0 :method=POST :scheme=http :path=/etcdserverpb.KV/Range "
		":authority=127.0.0.1:2379 content-type=application/grpc user-agent=grpc-go/1.51.0 "
		"te=trailers\n"
		"D 3 0 es=0 n=18 'request-two-part-a'\n"
		"D 3 0 es=0 n=18 'request-two-part-b'\n"
		"H 5 0 es=0 :method=POST :scheme=http :path=/etcdserverpb.Watch/Watch "
		":authority=127.0.0.1:2379 content-type=application/grpc\n"
		"D 5 0 es=0 n=12 'watch-create'\n"
		"D 3 0 es=1 n=15 'request-two-end'\n"
		"H 1 1 es=0 :status=200 content-type=application/grpc\n"
		"D 1 1 es=0 n=12 'response-one'\n"
		"H 1 1 es=1 grpc-status=0\n"
		"R 3 1 code=8\n"
		"G 1 last=5 code=0 'bye!!'\n";
	CHECK_EQ_STR(log, want);
	CHECK_EQ_INT(st.frames[H2_DATA], 6);
	CHECK_EQ_INT(st.frames[H2_HEADERS], 5);
	CHECK_EQ_INT(st.frames[H2_CONTINUATION], 2);
	CHECK_EQ_INT(st.frames[H2_SETTINGS], 4);
	CHECK_EQ_INT(st.frames[H2_PING], 3);
	CHECK_EQ_INT(st.frames[H2_PRIORITY], 1);
	CHECK_EQ_INT(st.frames[H2_WINDOW_UPDATE], 2);
	CHECK_EQ_INT(st.frames[H2_RST_STREAM], 1);
	CHECK_EQ_INT(st.frames[H2_GOAWAY], 1);
	CHECK_EQ_INT(st.frames_unknown, 1);
	CHECK_EQ_INT(st.header_blocks, 5);
	CHECK_EQ_INT(st.bad_frames + st.resyncs + st.hpack_errors + st.limit_skips, 0);
	/* every chunking gives the same events */
	char *b1 = run_conn(&c, 1, 0, NULL);
	CHECK_EQ_STR(b1, log);
	free(b1);
	int same = 1;
	for (unsigned seed = 1; seed < 200; seed++) {
		char *r = run_conn(&c, 2, seed, NULL);
		same &= strcmp(r, log) == 0;
		free(r);
	}
	CHECK(same);
	/* every single split point */
	same = 1;
	for (int d = 0; d < 2; d++) {
		for (size_t k = 0; k <= c.dir[d].n; k++) {
			struct rec r = {0};
			struct h2_conn *h = h2_conn_new(&rec_cb, &r, true);
			h2_conn_feed(h, d, c.dir[d].p, k, 0);
			h2_conn_feed(h, d, c.dir[d].p + k, c.dir[d].n - k, 0);
			h2_conn_feed(h, !d, c.dir[!d].p, c.dir[!d].n, 0);
			h2_conn_free(h);
			struct rec r2 = {0};
			h = h2_conn_new(&rec_cb, &r2, true);
			h2_conn_feed(h, d, c.dir[d].p, c.dir[d].n, 0);
			h2_conn_feed(h, !d, c.dir[!d].p, c.dir[!d].n, 0);
			h2_conn_free(h);
			same &= strcmp(rec_str(&r), rec_str(&r2)) == 0;
			rec_free(&r);
			rec_free(&r2);
		}
	}
	CHECK(same);
	free(log);
	conn_free(&c);
}

static void test_plausible(void)
{
	uint8_t h[9] = {0, 0, 10, H2_DATA, 0x1, 0, 0, 0, 1};
	CHECK(h2_frame_header_plausible(h, TCP_C2S, 16384));
	h[8] = 2; /* even stream */
	CHECK(!h2_frame_header_plausible(h, TCP_C2S, 16384));
	h[8] = 0; /* DATA on stream 0 */
	CHECK(!h2_frame_header_plausible(h, TCP_C2S, 16384));
	h[8] = 1;
	h[4] = 0x2; /* undefined flag */
	CHECK(!h2_frame_header_plausible(h, TCP_C2S, 16384));
	h[4] = 0;
	h[5] = 0x80; /* R bit */
	CHECK(!h2_frame_header_plausible(h, TCP_C2S, 16384));
	h[5] = 0;
	h[0] = 1; /* 65546 > max */
	CHECK(!h2_frame_header_plausible(h, TCP_C2S, 16384));
	CHECK(h2_frame_header_plausible(h, TCP_C2S, 1 << 20));
	uint8_t s[9] = {0, 0, 12, H2_SETTINGS, 0, 0, 0, 0, 0};
	CHECK(h2_frame_header_plausible(s, TCP_S2C, 16384));
	s[2] = 7;
	CHECK(!h2_frame_header_plausible(s, TCP_S2C, 16384));
	uint8_t p[9] = {0, 0, 8, H2_PING, 1, 0, 0, 0, 0};
	CHECK(h2_frame_header_plausible(p, TCP_C2S, 16384));
	p[2] = 9;
	CHECK(!h2_frame_header_plausible(p, TCP_C2S, 16384));
	uint8_t r[9] = {0, 0, 4, H2_RST_STREAM, 0, 0, 0, 0, 3};
	CHECK(h2_frame_header_plausible(r, TCP_C2S, 16384));
	r[2] = 5;
	CHECK(!h2_frame_header_plausible(r, TCP_C2S, 16384));
	uint8_t w[9] = {0, 0, 4, H2_WINDOW_UPDATE, 0, 0, 0, 0, 0};
	CHECK(h2_frame_header_plausible(w, TCP_C2S, 16384));
	uint8_t pr[9] = {0, 0, 5, H2_PRIORITY, 0, 0, 0, 0, 3};
	CHECK(h2_frame_header_plausible(pr, TCP_C2S, 16384));
	uint8_t ct[9] = {0, 0, 5, H2_CONTINUATION, 4, 0, 0, 0, 3};
	CHECK(!h2_frame_header_plausible(ct, TCP_C2S, 16384)); /* never first */
	uint8_t pp[9] = {0, 0, 8, H2_PUSH_PROMISE, 4, 0, 0, 0, 3};
	CHECK(!h2_frame_header_plausible(pp, TCP_C2S, 16384));
	CHECK(h2_frame_header_plausible(pp, TCP_S2C, 16384));
	uint8_t ux[9] = {0, 0, 5, 0x20, 0, 0, 0, 0, 0};
	CHECK(!h2_frame_header_plausible(ux, TCP_C2S, 16384)); /* unknown type not first */
	uint8_t ga[9] = {0, 0, 8, H2_GOAWAY, 0, 0, 0, 0, 0};
	CHECK(h2_frame_header_plausible(ga, TCP_S2C, 16384));
	ga[8] = 1;
	CHECK(!h2_frame_header_plausible(ga, TCP_S2C, 16384));
}

/* Returns the C2S log of a from_start=false connection fed from offset o (mode 0 whole,
 * 1 byte by byte). */
static void run_from(const struct conn *c, size_t o, int mode, struct rec *r)
{
	struct h2_conn *h = h2_conn_new(&rec_cb, r, false);
	if (mode == 0) {
		h2_conn_feed(h, TCP_C2S, c->dir[0].p + o, c->dir[0].n - o, 0);
	} else {
		for (size_t i = o; i < c->dir[0].n; i++)
			h2_conn_feed(h, TCP_C2S, c->dir[0].p + i, 1, 0);
	}
	h2_conn_free(h);
}

/* Resync from every offset: the DATA bytes delivered are exactly those of the DATA frames
 * at or after the first frame start that begins a 3-frame chain (not a CONTINUATION). */
static void test_resync_every_offset(void)
{
	struct conn c;
	conn_build(&c);
	int ok_data = 1, ok_chunk = 1, ok_skip = 1, ok_notice = 1;
	for (size_t o = 0; o < c.dir[0].n; o++) {
		/* expected boundary */
		size_t b = SIZE_MAX;
		for (size_t i = 0; i + 2 < c.nstarts; i++) {
			if (c.starts[i] >= o && c.types[i] != H2_CONTINUATION && c.types[i] <= 9) {
				b = c.starts[i];
				break;
			}
		}
		struct buf want = {0};
		for (size_t i = 0; i < c.ndata; i++) {
			if (c.data_starts[i] >= b) {
				/* payload: padded frame 0 is skipped by the builder's order; decode */
				const uint8_t *f = c.dir[0].p + c.data_starts[i];
				size_t len = (size_t)f[0] << 16 | f[1] << 8 | f[2];
				if (f[4] & 0x8)
					buf_put(&want, f + 10, len - 1 - f[9]);
				else
					buf_put(&want, f + 9, len);
			}
		}
		struct rec r = {0};
		run_from(&c, o, 0, &r);
		bool same = r.data[0].n == want.n && (!want.n || !memcmp(r.data[0].p, want.p, want.n));
		if (!same) {
			fprintf(stderr, "resync from %zu: got %zu data bytes, want %zu\n", o, r.data[0].n,
				want.n);
			ok_data = 0;
		}
		if (o == 0) {
			/* joined at the connection's very start (its SYN not seen): the preface is
			 * recognised, nothing is skipped, no resync */
			if (r.resync_skipped != 0 || r.notices[H2_N_RESYNC] != 0)
				ok_skip = 0;
			if (r.notices[H2_N_PREFACE] != 1)
				ok_notice = 0;
		} else {
			if (b != SIZE_MAX && r.resync_skipped != b - o)
				ok_skip = 0;
			if (b != SIZE_MAX && r.notices[H2_N_RESYNC] != 1)
				ok_notice = 0;
		}
		if (o % 7 == 0) {
			struct rec r1 = {0};
			run_from(&c, o, 1, &r1);
			if (strcmp(rec_str(&r), rec_str(&r1)) != 0)
				ok_chunk = 0;
			rec_free(&r1);
		}
		rec_free(&r);
		free(want.p);
	}
	CHECK(ok_data);
	CHECK(ok_skip);
	CHECK(ok_notice);
	CHECK(ok_chunk);
	conn_free(&c);
}

/* A gap: unknown size -> resync; size inside the current frame -> framing survives. */
static void test_gap(void)
{
	struct conn c;
	conn_build(&c);
	/* cut in the middle of the 2nd DATA frame ("request-two-part-a") */
	size_t cut = c.data_starts[1] + 9 + 4;
	size_t resume = c.data_starts[1] + 9 + 10;
	struct rec r = {0};
	struct h2_conn *h = h2_conn_new(&rec_cb, &r, true);
	h2_conn_feed(h, TCP_C2S, c.dir[0].p, cut, 0);
	h2_conn_gap(h, TCP_C2S, resume - cut, 0);
	h2_conn_feed(h, TCP_C2S, c.dir[0].p + resume, c.dir[0].n - resume, 0);
	struct h2_stats st = {0};
	h2_conn_add_stats(h, &st);
	h2_conn_free(h);
	CHECK_EQ_INT(r.notices[H2_N_GAP], 1);
	CHECK_EQ_INT(r.notices[H2_N_RESYNC], 0); /* the gap was inside one frame */
	CHECK(strstr(rec_str(&r), "request-two-part-a") == NULL);
	CHECK(strstr(rec_str(&r), "D 3 0 es=0 n=18 'request-two-part-b'") != NULL);
	CHECK(strstr(rec_str(&r), "D 3 0 es=1 n=15 'request-two-end'") != NULL);
	/* the loss was inside a DATA frame: HPACK stays exact, stream 5's headers decode */
	CHECK(strstr(rec_str(&r), "H 5 0 es=0 :method=POST :scheme=http "
				  ":path=/etcdserverpb.Watch/Watch :authority=127.0.0.1:2379 "
				  "content-type=application/grpc\n") != NULL);
	rec_free(&r);

	/* unknown size: resync */
	h = h2_conn_new(&rec_cb, &r, true);
	h2_conn_feed(h, TCP_C2S, c.dir[0].p, cut, 0);
	h2_conn_gap(h, TCP_C2S, 0, 0);
	h2_conn_feed(h, TCP_C2S, c.dir[0].p + resume, c.dir[0].n - resume, 0);
	h2_conn_free(h);
	CHECK_EQ_INT(r.notices[H2_N_GAP], 1);
	CHECK_EQ_INT(r.notices[H2_N_RESYNC], 1);
	CHECK(strstr(rec_str(&r), "D 3 0 es=0 n=18 'request-two-part-b'") != NULL);
	CHECK(strstr(rec_str(&r), "D 3 0 es=1 n=15 'request-two-end'") != NULL);
	CHECK(strstr(rec_str(&r), "D 5 0 es=0 n=12 'watch-create'") != NULL);
	rec_free(&r);

	/* gap while a header block is open: the block is dropped */
	size_t mid_cont = c.starts[3] + 3; /* inside the first CONTINUATION */
	h = h2_conn_new(&rec_cb, &r, true);
	h2_conn_feed(h, TCP_C2S, c.dir[0].p, mid_cont, 0);
	h2_conn_gap(h, TCP_C2S, 0, 0);
	h2_conn_feed(h, TCP_C2S, c.dir[0].p + c.data_starts[0], c.dir[0].n - c.data_starts[0], 0);
	h2_conn_free(h);
	CHECK(strstr(rec_str(&r), "H 1 0") == NULL);
	CHECK(strstr(rec_str(&r), "D 1 0 es=1 n=11 'request-one'") != NULL);
	rec_free(&r);
	conn_free(&c);
}

/* Protocol violations: bad padding, interleaved header block. */
/* A connection seen from its start that gets b from the client in one piece: the events
 * in r, the counters in st. */
static void feed_c2s(const struct buf *b, struct rec *r, struct h2_stats *st)
{
	struct h2_conn *h = h2_conn_new(&rec_cb, r, true);
	h2_conn_feed(h, TCP_C2S, b->p, b->n, 0);
	h2_conn_add_stats(h, st);
	h2_conn_free(h);
}

static void test_bad_frames(void)
{
	struct buf b = {0};
	buf_put(&b, preface, 24);
	put_frame(&b, H2_SETTINGS, 0, 0, NULL, 0);
	uint8_t pad[4] = {9, 'a', 'b', 'c'}; /* pad length 9 >= payload */
	put_frame(&b, H2_DATA, 0x8, 1, pad, 4);
	put_frame(&b, H2_DATA, 0, 1, "after-1", 7);
	put_frame(&b, H2_PING, 0, 0, "12345678", 8);
	put_frame(&b, H2_DATA, 0, 1, "after-2", 7);
	/* HEADERS without END_HEADERS then DATA: interleaving */
	uint8_t blk[2] = {0x83, 0x86};
	put_frame(&b, H2_HEADERS, 0, 3, blk, 2);
	put_frame(&b, H2_DATA, 0, 3, "interleaved", 11);
	put_frame(&b, H2_PING, 0, 0, "12345678", 8);
	put_frame(&b, H2_DATA, 0, 1, "after-3", 7);
	put_frame(&b, H2_PING, 0, 0, "12345678", 8);
	put_frame(&b, H2_PING, 0, 0, "12345678", 8);
	struct rec r = {0};
	struct h2_stats st = {0};
	feed_c2s(&b, &r, &st);
	CHECK_EQ_INT(st.bad_frames, 2);
	CHECK_EQ_INT(r.notices[H2_N_BAD_FRAME], 2);
	CHECK_EQ_INT(r.notices[H2_N_RESYNC], 2);
	const char *log = rec_str(&r);
	CHECK(strstr(log, "'after-1'") && strstr(log, "'after-2'") && strstr(log, "'after-3'"));
	CHECK(strstr(log, "interleaved") == NULL);
	CHECK(strstr(log, "abc") == NULL);
	rec_free(&r);
	free(b.p);

	/* no preface with from_start: not fatal, frames are found */
	struct buf nb = {0};
	put_frame(&nb, H2_SETTINGS, 0, 0, NULL, 0);
	put_frame(&nb, H2_DATA, 0, 1, "x1", 2);
	put_frame(&nb, H2_DATA, 0, 1, "x2", 2);
	put_frame(&nb, H2_DATA, 0, 1, "x3", 2);
	memset(&st, 0, sizeof st);
	feed_c2s(&nb, &r, &st);
	CHECK_EQ_INT(r.data[0].n, 6);
	CHECK_EQ_INT(r.notices[H2_N_RESYNC], 1);
	CHECK_EQ_INT(r.resync_skipped, 0);
	rec_free(&r);
	free(nb.p);
}

/* Limits: a frame larger than SETTINGS allow is still read in sync (up to the buffer),
 * one over H2_MAX_FRAME_BUFFER is skipped; a header block over HPACK_MAX_BLOCK is dropped. */
static void test_limits(void)
{
	struct buf b = {0};
	buf_put(&b, preface, 24);
	size_t big = 100000;
	uint8_t *pl = calloc(1, big);
	memset(pl, 'z', big);
	put_frame(&b, H2_DATA, 0, 1, pl, big);
	put_frame(&b, H2_DATA, 0, 1, "next", 4);
	struct rec r = {0};
	struct h2_conn *h = h2_conn_new(&rec_cb, &r, true);
	for (size_t o = 0; o < b.n; o += 1000)
		h2_conn_feed(h, TCP_C2S, b.p + o, b.n - o < 1000 ? b.n - o : 1000, 0);
	h2_conn_free(h);
	CHECK_EQ_INT(r.data[0].n, big + 4);
	CHECK_EQ_INT(r.notices[H2_N_LIMIT], 0);
	rec_free(&r);
	free(pl);
	b.n = 0;

	/* a 2^24-1 byte frame: over the buffer, skipped */
	uint8_t hdr[9] = {0xff, 0xff, 0xff, H2_DATA, 0, 0, 0, 0, 1};
	h = h2_conn_new(&rec_cb, &r, true);
	h2_conn_feed(h, TCP_C2S, (const uint8_t *)preface, 24, 0);
	h2_conn_feed(h, TCP_C2S, hdr, 9, 0);
	uint8_t *zeros = calloc(1, 1 << 20);
	for (int i = 0; i < 16; i++)
		h2_conn_feed(h, TCP_C2S, zeros, i == 15 ? (1 << 20) - 1 : 1 << 20, 0);
	put_frame(&b, H2_DATA, 0, 1, "after", 5);
	h2_conn_feed(h, TCP_C2S, b.p, b.n, 0);
	struct h2_stats st = {0};
	h2_conn_add_stats(h, &st);
	h2_conn_free(h);
	CHECK_EQ_INT(st.limit_skips, 1);
	CHECK_EQ_INT(r.notices[H2_N_LIMIT], 1);
	CHECK_EQ_INT(r.data[0].n, 5);
	rec_free(&r);
	free(zeros);
	b.n = 0;

	/* header block of 17 x 16000 bytes > HPACK_MAX_BLOCK (256 KiB) */
	buf_put(&b, preface, 24);
	uint8_t *frag = calloc(1, 16000);
	put_frame(&b, H2_HEADERS, 0, 1, frag, 16000);
	for (int i = 0; i < 16; i++)
		put_frame(&b, H2_CONTINUATION, i == 15 ? 0x4 : 0, 1, frag, 16000);
	put_frame(&b, H2_DATA, 0, 1, "still", 5);
	h = h2_conn_new(&rec_cb, &r, true);
	h2_conn_feed(h, TCP_C2S, b.p, b.n, 0);
	memset(&st, 0, sizeof st);
	h2_conn_add_stats(h, &st);
	h2_conn_free(h);
	CHECK_EQ_INT(st.limit_skips, 1);
	CHECK_EQ_INT(r.notices[H2_N_LIMIT], 1);
	CHECK(strstr(rec_str(&r), "H 1") == NULL);
	CHECK(strstr(rec_str(&r), "'still'") != NULL);
	CHECK_EQ_INT(st.bad_frames, 0);
	rec_free(&r);
	free(frag);
	free(b.p);
}

/* SETTINGS: MAX_FRAME_SIZE from the client raises the S2C plausibility limit (so resync
 * finds 30000-byte frames); HEADER_TABLE_SIZE from the client bounds the S2C decoder. */
static void test_settings(void)
{
	for (int raise = 0; raise < 2; raise++) {
		struct buf c2s = {0}, s2c = {0};
		buf_put(&c2s, preface, 24);
		uint8_t set[6] = {0, 5, 0, 1, 0, 0}; /* 65536 */
		if (raise)
			put_frame(&c2s, H2_SETTINGS, 0, 0, set, 6);
		else
			put_frame(&c2s, H2_SETTINGS, 0, 0, NULL, 0);
		put_frame(&s2c, H2_SETTINGS, 0, 0, NULL, 0);
		uint8_t *pl = malloc(30000);
		memset(pl, 'q', 30000);
		for (int i = 0; i < 6; i++)
			put_frame(&s2c, H2_DATA, 0, 1, pl, 30000);
		struct rec r = {0};
		struct h2_conn *h = h2_conn_new(&rec_cb, &r, true);
		h2_conn_feed(h, TCP_C2S, c2s.p, c2s.n, 0);
		h2_conn_feed(h, TCP_S2C, s2c.p, 9 + 100, 0);
		h2_conn_gap(h, TCP_S2C, 0, 0);
		h2_conn_feed(h, TCP_S2C, s2c.p + 9 + 100, s2c.n - 9 - 100, 0);
		h2_conn_free(h);
		/* with the raise: frames 2..6 found (frame 1 was cut); without: none */
		CHECK_EQ_INT(r.data[1].n, raise ? 5 * 30000 : 0);
		rec_free(&r);
		free(pl);
		free(c2s.p);
		free(s2c.p);
	}
	/* HEADER_TABLE_SIZE 8192 sent by the client lets the server's encoder use 8192 */
	struct buf c2s = {0}, s2c = {0};
	buf_put(&c2s, preface, 24);
	uint8_t set[6] = {0, 1, 0, 0, 0x20, 0};
	put_frame(&c2s, H2_SETTINGS, 0, 0, set, 6);
	nghttp2_hd_deflater *ds;
	nghttp2_hd_deflate_new(&ds, 8192);
	nghttp2_hd_deflate_change_table_size(ds, 8192);
	uint8_t blk[512];
	const char *resp[] = {":status", "200", "x-big", "value", NULL};
	size_t n = hd_block(ds, blk, sizeof blk, resp);
	put_frame(&s2c, H2_HEADERS, 0x4, 1, blk, n);
	nghttp2_hd_deflate_del(ds);
	struct rec r = {0};
	struct h2_conn *h = h2_conn_new(&rec_cb, &r, true);
	h2_conn_feed(h, TCP_C2S, c2s.p, c2s.n, 0);
	h2_conn_feed(h, TCP_S2C, s2c.p, s2c.n, 0);
	struct h2_stats st = {0};
	h2_conn_add_stats(h, &st);
	h2_conn_free(h);
	CHECK_EQ_INT(st.hpack_errors, 0);
	CHECK(strstr(rec_str(&r), "H 1 1 es=0 :status=200 x-big=value") != NULL);
	rec_free(&r);
	free(c2s.p);
	free(s2c.p);
}

/* An undecodable block: HPACK_ERROR, the direction continues with a partial decoder. */
static void test_hpack_error(void)
{
	struct buf b = {0};
	buf_put(&b, preface, 24);
	uint8_t bad[2] = {0xff, 0xff}; /* index out of any table, unterminated integer */
	put_frame(&b, H2_HEADERS, 0x4 | 0x1, 1, bad, 2);
	uint8_t good[3] = {0x83, 0x86, 0x84}; /* POST http / */
	put_frame(&b, H2_HEADERS, 0x4, 3, good, 3);
	struct rec r = {0};
	struct h2_stats st = {0};
	feed_c2s(&b, &r, &st);
	CHECK(st.hpack_errors >= 1);
	CHECK(r.notices[H2_N_HPACK_ERROR] >= 1);
	CHECK(strstr(rec_str(&r), "H 1 0 es=1\n") != NULL); /* end_stream still reported */
	CHECK(strstr(rec_str(&r), "H 3 0 es=0 :method=POST :scheme=http :path=/\n") != NULL);
	rec_free(&r);
	free(b.p);
}

/* A HEADERS frame while a header block is still open (RFC 9113 6.10 forbids interleaving;
 * a real peer never does it, so the end of the CONTINUATION chain was lost to us, or we gave
 * up on an over-long block): the open block ends as lost (reported, its END_STREAM still
 * passed up, the HPACK table in partial mode since its insertions are gone) and the HEADERS
 * is decoded; no resync, nothing after it is lost. Both while assembling and while dropping
 * a block over HPACK_MAX_BLOCK. */
static void test_headers_end_open_block(void)
{
	uint8_t blk[2] = {0x82, 0x86};          /* GET http: first part of stream 1's block */
	uint8_t good[3] = {0x83, 0x86, 0x84};   /* POST http / */
	for (int dropping = 0; dropping < 2; dropping++) {
		struct buf b = {0};
		buf_put(&b, preface, 24);
		uint8_t *frag = calloc(1, 16000);
		if (dropping) {
			/* 17 x 16000 bytes > HPACK_MAX_BLOCK: dropped; END_HEADERS never comes */
			put_frame(&b, H2_HEADERS, 0x1, 1, frag, 16000);
			for (int i = 0; i < 16; i++)
				put_frame(&b, H2_CONTINUATION, 0, 1, frag, 16000);
		} else {
			put_frame(&b, H2_HEADERS, 0x1, 1, blk, 2);
			put_frame(&b, H2_CONTINUATION, 0, 1, blk, 1);
		}
		put_frame(&b, H2_HEADERS, 0x4, 3, good, 3);
		put_frame(&b, H2_DATA, 0, 3, "body-3", 6);
		struct rec r = {0};
		struct h2_stats st = {0};
		feed_c2s(&b, &r, &st);
		const char *log = rec_str(&r);
		CHECK_EQ_INT(st.bad_frames, 0);
		CHECK_EQ_INT(r.notices[H2_N_BAD_FRAME] + r.notices[H2_N_RESYNC], 0);
		CHECK_EQ_INT(st.header_blocks_cut, 1);
		CHECK_EQ_INT(r.notices[H2_N_HPACK_ERROR], 1);
		CHECK_EQ_INT(r.notices[H2_N_LIMIT], dropping);
		CHECK(strstr(log, "H 1 0 es=1\n") != NULL); /* stream 1 ended, headers lost */
		CHECK(strstr(log, "H 3 0 es=0 :method=POST :scheme=http :path=/\n") != NULL);
		CHECK(strstr(log, "D 3 0 es=0 n=6 'body-3'") != NULL);
		rec_free(&r);
		free(frag);
		free(b.p);
	}
	/* other frames inside a block stay violations (test_bad_frames: DATA); so does a
	 * CONTINUATION of another stream */
	struct buf b = {0};
	buf_put(&b, preface, 24);
	put_frame(&b, H2_HEADERS, 0, 1, blk, 2);
	put_frame(&b, H2_CONTINUATION, 0x4, 3, blk, 2);
	struct rec r = {0};
	struct h2_stats st = {0};
	feed_c2s(&b, &r, &st);
	CHECK_EQ_INT(st.bad_frames, 1);
	CHECK_EQ_INT(st.header_blocks_cut, 0);
	rec_free(&r);
	free(b.p);
}

/* PUSH_PROMISE is decoded (keeps HPACK in step) but not emitted. */
static void test_push_promise(void)
{
	nghttp2_hd_deflater *ds;
	nghttp2_hd_deflate_new(&ds, 4096);
	uint8_t blk[256], pl[300];
	const char *pp[] = {":path", "/pushed", NULL};
	size_t n = hd_block(ds, blk, sizeof blk, pp);
	put_be32(pl, 2);
	memcpy(pl + 4, blk, n);
	struct buf b = {0};
	put_frame(&b, H2_PUSH_PROMISE, 0x4, 1, pl, 4 + n);
	const char *again[] = {":path", "/pushed", NULL}; /* now a dynamic table reference */
	n = hd_block(ds, blk, sizeof blk, again);
	put_frame(&b, H2_HEADERS, 0x4, 1, blk, n);
	nghttp2_hd_deflate_del(ds);
	struct rec r = {0};
	struct h2_conn *h = h2_conn_new(&rec_cb, &r, true);
	h2_conn_feed(h, TCP_S2C, b.p, b.n, 0);
	h2_conn_free(h);
	CHECK_EQ_STR(rec_str(&r), "H 1 1 es=0 :path=/pushed\n");
	rec_free(&r);
	free(b.p);
}

/* Logs every field with all its flags, for test_replayed_blocks. */
static void flags_headers(void *ctx, uint32_t stream, enum tcp_dir dir,
			  const struct hpack_field *f, size_t n, bool end_stream, ee_ts ts)
{
	struct rec *r = ctx;
	buf_printf(&r->log, "H %u", stream);
	for (size_t i = 0; i < n; i++)
		buf_printf(&r->log, " %.*s=%.*s/%x", (int)f[i].name_len, (const char *)f[i].name,
			   (int)f[i].value_len, (const char *)f[i].value, (unsigned)f[i].flags);
	buf_printf(&r->log, "\n");
}

/* Header blocks byte-identical to one decoded since the table last changed are replayed
 * by hpack, and h2 hands their fields up without copying them (hpack_decoder_replaying):
 * they must read exactly as decoded ones, flags included, also after a block that changed
 * the table in between. */
static void test_replayed_blocks(void)
{
	static const char *const kv[] = {":method", "POST", ":path", "/etcdserverpb.KV/Range",
					 "content-type", "application/grpc",
					 "user-agent", "grpc-go/1.51.0", "te", "trailers", NULL};
	static const char *const other[] = {":method", "POST", ":path", "/etcdserverpb.KV/Put",
					    "content-type", "application/grpc", NULL};
	nghttp2_hd_deflater *def;
	CHECK(nghttp2_hd_deflate_new(&def, 4096) == 0);
	struct buf c2s = {0};
	buf_put(&c2s, preface, sizeof preface - 1);
	uint8_t blk[512];
	uint32_t stream = 1;
	/* 1: inserts; 3, 5, 7: the same indexed-only bytes (5 and 7 replayed); 9: another
	 * path, inserted (the table changes); 11, 13, 15: the first list again (13, 15
	 * replayed after the change) */
	for (int i = 0; i < 8; i++, stream += 2) {
		size_t n = hd_block(def, blk, sizeof blk, i == 4 ? other : kv);
		CHECK(n > 0);
		put_frame(&c2s, 1 /* HEADERS */, 0x5 /* END_STREAM | END_HEADERS */, stream, blk, n);
	}
	nghttp2_hd_deflate_del(def);
	static const struct h2_callbacks cb = {flags_headers, rec_data, rec_rst, rec_goaway,
					       rec_notice};
	struct rec r = {0};
	struct h2_conn *h = h2_conn_new(&cb, &r, true);
	h2_conn_feed(h, TCP_C2S, c2s.p, c2s.n, 0);
	h2_conn_free(h);
	const char *f = " :method=POST/0 :path=/etcdserverpb.KV/Range/0 "
			"content-type=application/grpc/0 user-agent=grpc-go/1.51.0/0 te=trailers/0\n";
	char want[2048] = "N 0 6\n"; /* the preface */
	for (unsigned st = 1; st <= 15; st += 2) {
		char line[256];
		if (st == 9)
			snprintf(line, sizeof line, "H 9 :method=POST/0 :path=/etcdserverpb.KV/Put/0 "
				 "content-type=application/grpc/0\n");
		else
			snprintf(line, sizeof line, "H %u%s", st, f);
		strcat(want, line);
	}
	CHECK_EQ_STR(rec_str(&r), want);
	rec_free(&r);
	free(c2s.p);
}

int main(void)
{
	test_replayed_blocks();
	test_plausible();
	test_whole_connection();
	test_resync_every_offset();
	test_gap();
	test_bad_frames();
	test_limits();
	test_settings();
	test_hpack_error();
	test_headers_end_open_block();
	test_push_promise();
	return unit_summary("test_h2");
}
