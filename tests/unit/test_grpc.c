/* test_grpc.c: unit tests of gRPC message reassembly (src/grpc.c) over the h2 framer.
 * Connections are built by hand (header blocks by nghttp2's HPACK deflater, gzip by zlib);
 * every event is logged as text so chunkings, resyncs and gaps can be compared exactly. */
#include <nghttp2/nghttp2.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "grpc.h"
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

/* Appends a gRPC message (prefix + body). */
static void put_msg(struct buf *b, uint8_t flag, const void *p, size_t n)
{
	uint8_t h[5] = {flag, (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
	buf_put(b, h, 5);
	buf_put(b, p, n);
}

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

/* gzip (windowBits 16+15) or zlib-format deflate of p. */
static size_t zcompress(bool gzip, const void *p, size_t n, uint8_t *out, size_t cap)
{
	z_stream z;
	memset(&z, 0, sizeof z);
	deflateInit2(&z, 6, Z_DEFLATED, gzip ? 16 + MAX_WBITS : MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
	z.next_in = (Bytef *)(uintptr_t)p;
	z.avail_in = (uInt)n;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	deflate(&z, Z_FINISH);
	size_t r = cap - z.avail_out;
	deflateEnd(&z);
	return r;
}

static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/* ---- event log ---- */

struct rec {
	struct buf log;
	int opens, closes, losses, trailers;
	struct grpc_conn *g;
	const char *learn; /* when set, learn unknown paths as this */
};

static void rec_open(void *ctx, struct grpc_stream *s, ee_ts ts)
{
	struct rec *r = ctx;
	r->opens++;
	buf_printf(&r->log, "open %u path=%s%s ua=%s enc=%d\n", s->id, s->path,
		   s->path_unknown ? "(unknown)" : "", s->user_agent, s->enc[0]);
	if (s->path_unknown && r->learn)
		CHECK_EQ_INT(grpc_conn_learn_path(r->g, s, r->learn), 0);
}

static void rec_msg(void *ctx, struct grpc_stream *s, enum tcp_dir dir, const uint8_t *p, size_t n,
		    bool resumed, ee_ts ts)
{
	struct rec *r = ctx;
	buf_printf(&r->log, "msg %u %d n=%zu%s '%.*s'\n", s->id, dir, n, resumed ? " resumed" : "",
		   (int)(n < 32 ? n : 32), (const char *)p);
}

static void rec_trailers(void *ctx, struct grpc_stream *s, ee_ts ts)
{
	struct rec *r = ctx;
	r->trailers++;
	buf_printf(&r->log, "trailers %u status=%d%s message=%s\n", s->id, s->status,
		   s->status_inferred ? " (inferred)" : "", s->message);
}

static void rec_close(void *ctx, struct grpc_stream *s, ee_ts ts)
{
	struct rec *r = ctx;
	r->closes++;
	buf_printf(&r->log, "close %u reset=%d msgs=%llu/%llu\n", s->id, s->reset,
		   (unsigned long long)s->msgs[0], (unsigned long long)s->msgs[1]);
}

static void rec_loss(void *ctx, struct grpc_stream *s, enum tcp_dir dir, const char *why, ee_ts ts)
{
	struct rec *r = ctx;
	r->losses++;
	buf_printf(&r->log, "loss %u %d %s\n", s->id, dir, why);
}

static struct grpc_callbacks rec_cb(struct rec *r)
{
	struct grpc_callbacks cb = {r, rec_open, rec_msg, rec_trailers, rec_close, rec_loss, NULL};
	return cb;
}

static const char *rec_str(struct rec *r)
{
	buf_put(&r->log, "", 1);
	r->log.n--;
	return (const char *)r->log.p;
}

/* ---- a sample connection ---- */

struct conn {
	struct buf d[2];
	nghttp2_hd_deflater *def[2];
};

static void headers(struct conn *c, int dir, uint32_t stream, uint8_t flags, const char *const *kv)
{
	uint8_t blk[2048];
	size_t n = hd_block(c->def[dir], blk, sizeof blk, kv);
	put_frame(&c->d[dir], 1, flags | 0x4, stream, blk, n);
}

static const char *req_range[] = {":method", "POST", ":scheme", "http", ":path",
				  "/etcdserverpb.KV/Range", ":authority", "127.0.0.1:2379",
				  "content-type", "application/grpc", "user-agent", "grpc-go/1.51.0",
				  "grpc-encoding", "gzip", "te", "trailers", NULL};
static const char *resp_ok[] = {":status", "200", "content-type", "application/grpc",
				"grpc-encoding", "gzip", NULL};

/* Stream 1: three requests in one DATA frame, then a message across 3 frames, a gzip one;
 * response: one message cut in the middle of its prefix across frames, trailers 9 with a
 * percent-encoded message. Stream 3: RST. Stream 5: closed by GOAWAY (last 3). */
static void conn_build(struct conn *c)
{
	memset(c, 0, sizeof *c);
	nghttp2_hd_deflate_new(&c->def[0], 4096);
	nghttp2_hd_deflate_new(&c->def[1], 4096);
	buf_put(&c->d[0], preface, 24);
	put_frame(&c->d[0], 4, 0, 0, NULL, 0);
	put_frame(&c->d[1], 4, 0, 0, NULL, 0);
	headers(c, 0, 1, 0, req_range);
	struct buf m = {0};
	put_msg(&m, 0, "alpha", 5);
	put_msg(&m, 0, "beta", 4);
	put_msg(&m, 0, "", 0);
	put_frame(&c->d[0], 0, 0, 1, m.p, m.n);
	m.n = 0;
	/* 300-byte message over 3 DATA frames, with a padded middle one */
	uint8_t big[300];
	for (int i = 0; i < 300; i++)
		big[i] = (uint8_t)('a' + i % 26);
	put_msg(&m, 0, big, 300);
	put_frame(&c->d[0], 0, 0, 1, m.p, 3); /* prefix cut */
	uint8_t padded[1 + 200 + 4];
	padded[0] = 4;
	memcpy(padded + 1, m.p + 3, 200);
	memset(padded + 201, 0, 4);
	put_frame(&c->d[0], 0, 0x8, 1, padded, sizeof padded);
	put_frame(&c->d[0], 0, 0, 1, m.p + 203, m.n - 203);
	m.n = 0;
	/* gzip-compressed message, END_STREAM */
	uint8_t z[512];
	const char *plain = "compressed-hello-compressed-hello-compressed-hello";
	size_t zn = zcompress(true, plain, strlen(plain), z, sizeof z);
	put_msg(&m, 1, z, zn);
	put_frame(&c->d[0], 0, 0x1, 1, m.p, m.n);
	m.n = 0;
	headers(c, 1, 1, 0, resp_ok);
	put_msg(&m, 0, "response-1", 10);
	put_frame(&c->d[1], 0, 0, 1, m.p, 2);
	put_frame(&c->d[1], 0, 0, 1, m.p + 2, m.n - 2);
	m.n = 0;
	const char *trl[] = {"grpc-status", "9", "grpc-message", "caf%C3%A9%20%zz%", NULL};
	headers(c, 1, 1, 0x1, trl);
	/* stream 3: a request, then RST_STREAM from the server */
	headers(c, 0, 3, 0, req_range);
	put_msg(&m, 0, "three", 5);
	put_frame(&c->d[0], 0, 0, 3, m.p, m.n);
	m.n = 0;
	uint8_t rst[4] = {0, 0, 0, 8};
	put_frame(&c->d[1], 3, 0, 3, rst, 4);
	/* DATA still in flight after the RST: must not reopen stream 3 */
	put_msg(&m, 0, "late!", 5);
	put_frame(&c->d[1], 0, 0x1, 3, m.p, m.n);
	m.n = 0;
	/* stream 5: request, then GOAWAY last=3 */
	headers(c, 0, 5, 0, req_range);
	uint8_t ga[8] = {0, 0, 0, 3, 0, 0, 0, 0};
	put_frame(&c->d[1], 7, 0, 0, ga, 8);
	free(m.p);
}

static void conn_free(struct conn *c)
{
	free(c->d[0].p);
	free(c->d[1].p);
	nghttp2_hd_deflate_del(c->def[0]);
	nghttp2_hd_deflate_del(c->def[1]);
}

/* Feeds C2S then S2C with a chunking (0 whole, 1 byte by byte, else random by seed). */
static char *run(const struct conn *c, int mode, unsigned seed, struct grpc_stats *st)
{
	struct rec r = {0};
	struct grpc_callbacks cb = rec_cb(&r);
	struct grpc_conn *g = grpc_conn_new(&cb, true);
	srand(seed);
	for (int d = 0; d < 2; d++) {
		size_t off = 0;
		while (off < c->d[d].n) {
			size_t k = c->d[d].n - off;
			if (mode == 1)
				k = 1;
			else if (mode > 1)
				k = 1 + (size_t)rand() % (k < 50 ? k : 50);
			grpc_conn_feed(g, d, c->d[d].p + off, k, 0);
			off += k;
		}
	}
	if (st)
		grpc_conn_add_stats(g, st);
	grpc_conn_free(g, 0);
	char *s = strdup(rec_str(&r));
	free(r.log.p);
	return s;
}

static void test_connection(void)
{
	struct conn c;
	conn_build(&c);
	struct grpc_stats st = {0};
	char *log = run(&c, 0, 0, &st);
	char bigmsg[64];
	const char *want_fmt =
		"open 1 path=/etcdserverpb.KV/Range ua=grpc-go/1.51.0 enc=1\n"
		"msg 1 0 n=5 'alpha'\n"
		"msg 1 0 n=4 'beta'\n"
		"msg 1 0 n=0 ''\n"
		"msg 1 0 n=300 '%s'\n"
		"msg 1 0 n=50 'compressed-hello-compressed-hell'\n"
		"open 3 path=/etcdserverpb.KV/Range ua=grpc-go/1.51.0 enc=1\n"
		"msg 3 0 n=5 'three'\n"
		"open 5 path=/etcdserverpb.KV/Range ua=grpc-go/1.51.0 enc=1\n"
		"msg 1 1 n=10 'response-1'\n"
		"trailers 1 status=9 message=caf\xc3\xa9 %%zz%%\n"
		"close 1 reset=0 msgs=5/1\n"
		"close 3 reset=1 msgs=1/0\n"
		"close 5 reset=0 msgs=0/0\n";
	memcpy(bigmsg, "abcdefghijklmnopqrstuvwxyzabcdef", 33);
	char want[2048];
	snprintf(want, sizeof want, want_fmt, bigmsg);
	CHECK_EQ_STR(log, want);
	CHECK_EQ_INT(st.streams, 3);
	CHECK_EQ_INT(st.messages, 7);
	CHECK_EQ_INT(st.compressed, 1);
	CHECK_EQ_INT(st.decompress_errors + st.oversize + st.skipped_bytes + st.resumed, 0);
	CHECK_EQ_INT(st.h2.frames[0], 9);
	/* same events for every chunking */
	char *b1 = run(&c, 1, 0, NULL);
	CHECK_EQ_STR(b1, log);
	free(b1);
	int same = 1;
	for (unsigned seed = 1; seed < 300; seed++) {
		char *r = run(&c, 2, seed, NULL);
		same &= strcmp(r, log) == 0;
		free(r);
	}
	CHECK(same);
	free(log);
	conn_free(&c);
}

/* Joined mid-connection (from_start = false) at every offset of the C2S side: every message
 * reported is one of the real ones (or a resumed whole one), each stream closes once. */
static void test_resync_every_offset(void)
{
	struct conn c;
	conn_build(&c);
	/* append more traffic so the tail can be chained: stream 7 with small messages */
	struct buf m = {0};
	headers(&c, 0, 7, 0, req_range);
	size_t tail2 = 0; /* start of the 2nd tail frame: a chain of 3 from there at the latest */
	for (int i = 0; i < 4; i++) {
		if (i == 1)
			tail2 = c.d[0].n;
		m.n = 0;
		put_msg(&m, 0, "tail-message", 12);
		put_frame(&c.d[0], 0, i == 3 ? 1 : 0, 7, m.p, m.n);
	}
	free(m.p);
	int ok = 1, ok_tail = 1, ok_close = 1;
	for (size_t o = 0; o < c.d[0].n; o++) {
		struct rec r = {0};
		struct grpc_callbacks cb = rec_cb(&r);
		struct grpc_conn *g = grpc_conn_new(&cb, false);
		grpc_conn_feed(g, TCP_C2S, c.d[0].p + o, c.d[0].n - o, 0);
		grpc_conn_free(g, 0);
		const char *log = rec_str(&r);
		/* message lines must be real messages */
		for (const char *l = log; (l = strstr(l, "msg ")); l++) {
			if (!strstr(l, "'alpha'") && !strstr(l, "'beta'") && !strstr(l, "n=0 ''") &&
			    !strstr(l, "n=300") && !strstr(l, "n=50 ") && !strstr(l, "'three'") &&
			    !strstr(l, "'tail-message'"))
				ok = 0;
			const char *nl = strchr(l, '\n');
			if (!nl)
				break;
			if (!(strstr(l, "'alpha'") < nl || strstr(l, "'beta'") < nl ||
			      strstr(l, "n=0 ''") < nl || strstr(l, "n=300") < nl ||
			      strstr(l, "n=50 ") < nl || strstr(l, "'three'") < nl ||
			      strstr(l, "'tail-message'") < nl)) {
				fprintf(stderr, "offset %zu: unexpected %.*s\n", o, (int)(nl - l), l);
				ok = 0;
			}
		}
		/* joined before the 2nd tail frame, at least the last 2 tail messages are found
	 * (resync needs 3 chained frames) */
		int tails = 0;
		for (const char *l = log; (l = strstr(l, "'tail-message'")); l++)
			tails++;
		if (o <= tail2 && tails < 2) {
			fprintf(stderr, "offset %zu: %d tail messages\n%s", o, tails, log);
			ok_tail = 0;
		}
		if (r.opens != r.closes)
			ok_close = 0;
		free(r.log.p);
	}
	CHECK(ok);
	CHECK(ok_tail);
	CHECK(ok_close);
	conn_free(&c);
}

/* Mid-message start: a stream seen first through DATA that begins inside a message. */
static void test_mid_message(void)
{
	struct buf s = {0}, m = {0};
	uint8_t body[100];
	memset(body, 'x', sizeof body);
	put_msg(&m, 0, body, sizeof body);
	/* frame A: the tail of a message (from inside it); frame B: whole message "fresh" */
	put_frame(&s, 0, 0, 9, m.p + 37, m.n - 37);
	m.n = 0;
	put_msg(&m, 0, "fresh", 5);
	put_msg(&m, 0, "second", 6);
	put_frame(&s, 0, 0, 9, m.p, m.n);
	put_frame(&s, 6, 0, 0, "12345678", 8);
	put_frame(&s, 6, 0, 0, "12345678", 8);
	struct rec r = {0};
	struct grpc_callbacks cb = rec_cb(&r);
	struct grpc_conn *g = grpc_conn_new(&cb, false);
	grpc_conn_feed(g, TCP_S2C, s.p, s.n, 0);
	struct grpc_stats st = {0};
	grpc_conn_add_stats(g, &st);
	grpc_conn_free(g, 0);
	CHECK_EQ_STR(rec_str(&r), "open 9 path= ua= enc=0\n"
				  "msg 9 1 n=5 resumed 'fresh'\n"
				  "msg 9 1 n=6 'second'\n"
				  "close 9 reset=0 msgs=0/2\n");
	CHECK_EQ_INT(st.skipped_bytes, 68);
	CHECK_EQ_INT(st.resumed, 1);
	free(r.log.p);
	free(s.p);
	free(m.p);
}

/* A gap in the middle of a message: on_loss, later messages resumed. */
static void test_gap(void)
{
	struct conn c;
	conn_build(&c);
	/* find the 300-byte message's middle frame: search the padded frame header */
	size_t mid = 0;
	for (size_t i = 0; i + 9 < c.d[0].n; i++)
		if (c.d[0].p[i + 2] == 205 && c.d[0].p[i + 3] == 0 && c.d[0].p[i + 4] == 0x8 &&
		    c.d[0].p[i + 8] == 1) {
			mid = i;
			break;
		}
	CHECK(mid > 0);
	struct rec r = {0};
	struct grpc_callbacks cb = rec_cb(&r);
	struct grpc_conn *g = grpc_conn_new(&cb, true);
	grpc_conn_feed(g, TCP_C2S, c.d[0].p, mid + 50, 0);
	size_t flen = 9 + 205;
	grpc_conn_gap(g, TCP_C2S, flen - 50, 0); /* the rest of the middle frame is lost */
	grpc_conn_feed(g, TCP_C2S, c.d[0].p + mid + flen, c.d[0].n - mid - flen, 0);
	grpc_conn_free(g, 0);
	const char *log = rec_str(&r);
	CHECK(strstr(log, "loss 1 0 bytes lost in the connection\n") != NULL);
	CHECK(strstr(log, "n=300") == NULL);
	/* the third frame (message tail) is skipped; the gzip message is found again */
	CHECK(strstr(log, "msg 1 0 n=50 resumed 'compressed-hello") != NULL);
	CHECK(strstr(log, "msg 3 0 n=5 'three'") != NULL);
	CHECK_EQ_INT(r.opens, r.closes);
	free(r.log.p);
	conn_free(&c);
}

/* Limits: oversize message skipped exactly; decompression bomb; compressed without encoding. */
static void test_limits(void)
{
	struct conn c;
	memset(&c, 0, sizeof c);
	nghttp2_hd_deflate_new(&c.def[0], 4096);
	nghttp2_hd_deflate_new(&c.def[1], 4096);
	buf_put(&c.d[0], preface, 24);
	headers(&c, 0, 1, 0, req_range);
	struct buf m = {0};
	uint8_t *big = malloc(5000);
	memset(big, 'B', 5000);
	put_msg(&m, 0, big, 5000);
	put_msg(&m, 0, "small", 5);
	for (size_t o = 0; o < m.n; o += 1000)
		put_frame(&c.d[0], 0, 0, 1, m.p + o, m.n - o < 1000 ? m.n - o : 1000);
	/* bomb: 1 MiB of zeros gzip-compressed, limit 4000 */
	m.n = 0;
	uint8_t *zeros = calloc(1, 1 << 20);
	uint8_t *z = malloc(1 << 16);
	size_t zn = zcompress(true, zeros, 1 << 20, z, 1 << 16);
	CHECK(zn < 4000);
	put_msg(&m, 1, z, zn);
	put_msg(&m, 0, "after-bomb", 10);
	put_frame(&c.d[0], 0, 0, 1, m.p, m.n);
	/* stream 3 without grpc-encoding: compressed flag with identity */
	const char *plain_req[] = {":method", "POST", ":scheme", "http", ":path", "/x", NULL};
	headers(&c, 0, 3, 0, plain_req);
	m.n = 0;
	put_msg(&m, 1, "notcompressed", 13);
	put_msg(&m, 0, "ok3", 3);
	put_frame(&c.d[0], 0, 0x1, 3, m.p, m.n);
	grpc_set_max_message(4000);
	struct rec r = {0};
	struct grpc_callbacks cb = rec_cb(&r);
	struct grpc_conn *g = grpc_conn_new(&cb, true);
	for (size_t o = 0; o < c.d[0].n; o += 7)
		grpc_conn_feed(g, TCP_C2S, c.d[0].p + o, c.d[0].n - o < 7 ? c.d[0].n - o : 7, 0);
	struct grpc_stats st = {0};
	grpc_conn_add_stats(g, &st);
	grpc_conn_free(g, 0);
	grpc_set_max_message(0);
	CHECK_EQ_STR(rec_str(&r), "open 1 path=/etcdserverpb.KV/Range ua=grpc-go/1.51.0 enc=1\n"
				  "loss 1 0 message over the size limit\n"
				  "msg 1 0 n=5 'small'\n"
				  "loss 1 0 decompressed message over the limit\n"
				  "msg 1 0 n=10 'after-bomb'\n"
				  "open 3 path=/x ua= enc=0\n"
				  "loss 3 0 compressed without a known grpc-encoding\n"
				  "msg 3 0 n=3 'ok3'\n"
				  "close 1 reset=0 msgs=2/0\n"
				  "close 3 reset=0 msgs=1/0\n");
	CHECK_EQ_INT(st.oversize, 1);
	CHECK_EQ_INT(st.decompress_errors, 2);
	free(r.log.p);
	free(m.p);
	free(big);
	free(zeros);
	free(z);
	conn_free(&c);
}

/* Deflate (zlib format) decompression; a Trailers-Only response. */
static void test_deflate_trailers_only(void)
{
	struct conn c;
	memset(&c, 0, sizeof c);
	nghttp2_hd_deflate_new(&c.def[0], 4096);
	nghttp2_hd_deflate_new(&c.def[1], 4096);
	const char *req[] = {":method", "POST", ":path", "/etcdserverpb.Lease/LeaseGrant",
			     "grpc-encoding", "deflate", NULL};
	headers(&c, 0, 1, 0, req);
	uint8_t z[256];
	size_t zn = zcompress(false, "deflated!", 9, z, sizeof z);
	struct buf m = {0};
	put_msg(&m, 1, z, zn);
	put_frame(&c.d[0], 0, 1, 1, m.p, m.n);
	const char *to[] = {":status", "200", "grpc-status", "14", "grpc-message", "unavailable", NULL};
	headers(&c, 1, 1, 0x1, to);
	struct rec r = {0};
	struct grpc_callbacks cb = rec_cb(&r);
	struct grpc_conn *g = grpc_conn_new(&cb, false);
	grpc_conn_feed(g, TCP_C2S, c.d[0].p, c.d[0].n, 0);
	grpc_conn_feed(g, TCP_S2C, c.d[1].p, c.d[1].n, 0);
	CHECK_EQ_INT(r.closes, 0); /* resync needs 3 frames: nothing seen yet on C2S */
	grpc_conn_free(g, 0);
	free(r.log.p);
	/* from the start */
	memset(&r, 0, sizeof r);
	cb = rec_cb(&r);
	g = grpc_conn_new(&cb, true);
	grpc_conn_feed(g, TCP_C2S, (const uint8_t *)preface, 24, 0);
	grpc_conn_feed(g, TCP_C2S, c.d[0].p, c.d[0].n, 0);
	grpc_conn_feed(g, TCP_S2C, c.d[1].p, c.d[1].n, 0);
	grpc_conn_free(g, 0);
	CHECK_EQ_STR(rec_str(&r), "open 1 path=/etcdserverpb.Lease/LeaseGrant ua= enc=2\n"
				  "msg 1 0 n=9 'deflated!'\n"
				  "trailers 1 status=14 message=unavailable\n"
				  "close 1 reset=0 msgs=1/0\n");
	free(r.log.p);
	free(m.p);
	conn_free(&c);
}

/* Joined mid-connection: the :path of stream 3 is a pre-capture HPACK entry. After
 * grpc_conn_learn_path, stream 5 (same entry) has its path directly. */
/* A connection joined mid-stream (from_start false) that gets n bytes in dir: the events
 * in r (which may learn paths through r->g), the counters in st. */
static void run_mid(struct rec *r, enum tcp_dir dir, const uint8_t *p, size_t n,
		    struct grpc_stats *st)
{
	struct grpc_callbacks cb = rec_cb(r);
	struct grpc_conn *g = grpc_conn_new(&cb, false);
	r->g = g;
	grpc_conn_feed(g, dir, p, n, 0);
	grpc_conn_add_stats(g, st);
	grpc_conn_free(g, 0);
}

static void test_learn_path(void)
{
	struct conn c;
	memset(&c, 0, sizeof c);
	nghttp2_hd_deflate_new(&c.def[0], 4096);
	nghttp2_hd_deflate_new(&c.def[1], 4096);
	/* hand-made blocks: POST, http, then :path literal with incremental indexing (name
	 * index 4), later referenced as dynamic index 62 (0xbe) */
	uint8_t blk1[64] = {0x83, 0x86, 0x44, 20};
	memcpy(blk1 + 4, "/etcdserverpb.KV/Put", 20);
	const uint8_t blk2[3] = {0x83, 0x86, 0xbe};
	put_frame(&c.d[0], 1, 0x4, 1, blk1, 24); /* before the capture: inserts :path */
	size_t cut = c.d[0].n;
	struct buf m = {0};
	put_msg(&m, 0, "put-3", 5);
	put_frame(&c.d[0], 1, 0x4, 3, blk2, 3);
	put_frame(&c.d[0], 0, 1, 3, m.p, m.n);
	put_frame(&c.d[0], 6, 0, 0, "12345678", 8);
	put_frame(&c.d[0], 1, 0x4, 5, blk2, 3);
	put_frame(&c.d[0], 0, 1, 5, m.p, m.n);
	put_frame(&c.d[0], 6, 0, 0, "12345678", 8);
	put_frame(&c.d[0], 6, 0, 0, "12345678", 8);
	struct rec r = {0};
	r.learn = "/etcdserverpb.KV/Put";
	struct grpc_stats st = {0};
	run_mid(&r, TCP_C2S, c.d[0].p + cut, c.d[0].n - cut, &st);
	CHECK_EQ_STR(rec_str(&r), "open 3 path=(unknown) ua= enc=0\n"
				  "msg 3 0 n=5 'put-3'\n"
				  "open 5 path=/etcdserverpb.KV/Put ua= enc=0\n"
				  "msg 5 0 n=5 'put-3'\n"
				  "close 3 reset=0 msgs=1/0\n"
				  "close 5 reset=0 msgs=1/0\n");
	CHECK(st.h2.header_fields_unknown >= 1);
	free(r.log.p);
	free(m.p);
	conn_free(&c);
}

/* Trailers made of HPACK entries inserted before the capture, after a response message:
 * status 0 is inferred (grpc-go writes grpc-status: 0 then an empty grpc-message) and the
 * entries are named, so the next trailers decode exactly. */
static void test_status_infer(void)
{
	struct conn c;
	memset(&c, 0, sizeof c);
	/* before the capture: stream 1's trailers insert grpc-status: 0 (then dynamic index
	 * 63) and grpc-message: "" (62) */
	uint8_t pre[64] = {0x40, 11};
	memcpy(pre + 2, "grpc-status", 11);
	pre[13] = 1, pre[14] = '0', pre[15] = 0x40, pre[16] = 12;
	memcpy(pre + 17, "grpc-message", 12);
	pre[29] = 0;
	put_frame(&c.d[1], 1, 0x5, 1, pre, 30);
	size_t cut = c.d[1].n;
	struct buf m = {0};
	put_msg(&m, 0, "resp", 4);
	static const uint8_t st200[1] = {0x88}, trl[2] = {0xbf, 0xbe};
	for (uint32_t id = 3; id <= 5; id += 2) {
		put_frame(&c.d[1], 1, 0x4, id, st200, 1);
		put_frame(&c.d[1], 0, 0, id, m.p, m.n);
		put_frame(&c.d[1], 1, 0x5, id, trl, 2);
	}
	struct rec r = {0};
	struct grpc_stats st = {0};
	run_mid(&r, TCP_S2C, c.d[1].p + cut, c.d[1].n - cut, &st);
	const char *log = rec_str(&r);
	CHECK(strstr(log, "trailers 3 status=0 (inferred) message=\n") != NULL);
	CHECK(strstr(log, "trailers 5 status=0 message=\n") != NULL); /* learned: exact */
	CHECK_EQ_INT(st.status_inferred, 1);
	free(r.log.p);
	free(m.p);
	free(c.d[0].p);
	free(c.d[1].p);
}

/* Stream table bound: the oldest stream is evicted with on_stream_close. */
static void test_eviction(void)
{
	struct conn c;
	memset(&c, 0, sizeof c);
	nghttp2_hd_deflate_new(&c.def[0], 4096);
	nghttp2_hd_deflate_new(&c.def[1], 4096);
	buf_put(&c.d[0], preface, 24);
	for (uint32_t i = 0; i < GRPC_MAX_STREAMS_PER_CONN + 10; i++)
		headers(&c, 0, 2 * i + 1, 0, req_range);
	struct rec r = {0};
	struct grpc_callbacks cb = rec_cb(&r);
	struct grpc_conn *g = grpc_conn_new(&cb, true);
	grpc_conn_feed(g, TCP_C2S, c.d[0].p, c.d[0].n, 0);
	CHECK_EQ_INT(r.opens, GRPC_MAX_STREAMS_PER_CONN + 10);
	CHECK_EQ_INT(r.closes, 10);
	CHECK(strncmp(strstr(rec_str(&r), "close"), "close 1 ", 8) == 0);
	grpc_conn_free(g, 0);
	CHECK_EQ_INT(r.closes, GRPC_MAX_STREAMS_PER_CONN + 10);
	free(r.log.p);
	conn_free(&c);
}

/* A capture reordered across directions shows a response before its request: the response
 * (message and trailers) waits for the request and is handed up after it, with its own
 * timestamp; one whose request never comes is released by a later client stream or after
 * 1 s of capture time, and never held again. */
static void test_response_first(void)
{
	struct conn c;
	memset(&c, 0, sizeof c);
	nghttp2_hd_deflate_new(&c.def[0], 4096);
	nghttp2_hd_deflate_new(&c.def[1], 4096);
	static const char *req_plain[] = {":method", "POST", ":path", "/etcdserverpb.KV/Range",
					  "content-type", "application/grpc", NULL};
	static const char *resp_plain[] = {":status", "200", "content-type", "application/grpc",
					   NULL};
	static const char *trl[] = {"grpc-status", "0", NULL};
	struct buf m = {0};
	/* server: stream 1 answered (HEADERS, message, trailers); stream 3 answered, its
	 * request never comes; stream 7 answered without trailers, then nothing for 2 s */
	size_t ends[3];
	static const uint32_t ids[3] = {1, 3, 7};
	for (int i = 0; i < 3; i++) {
		char body[8];
		snprintf(body, sizeof body, "resp-%u", (unsigned)ids[i]);
		headers(&c, 1, ids[i], 0, resp_plain);
		put_msg(&m, 0, body, 6);
		put_frame(&c.d[1], 0, 0, ids[i], m.p, m.n);
		m.n = 0;
		if (ids[i] != 7)
			headers(&c, 1, ids[i], 0x1, trl);
		ends[i] = c.d[1].n;
	}
	size_t s1_end = ends[0], s3_end = ends[1];
	/* client: stream 1's request, then stream 5 (so stream 3's can no longer come) */
	headers(&c, 0, 1, 0, req_plain);
	put_msg(&m, 0, "req-1", 5);
	put_frame(&c.d[0], 0, 0x1, 1, m.p, m.n);
	m.n = 0;
	size_t c1_end = c.d[0].n;
	headers(&c, 0, 5, 0, req_plain);
	free(m.p);

	struct rec r = {0};
	struct grpc_callbacks cb = rec_cb(&r);
	struct grpc_conn *g = grpc_conn_new(&cb, true);
	grpc_conn_feed(g, TCP_C2S, (const uint8_t *)preface, 24, 0);
	grpc_conn_feed(g, TCP_S2C, c.d[1].p, s1_end, 10);
	CHECK_EQ_STR(rec_str(&r), "open 1 path= ua= enc=0\n"); /* held: nothing but the open */
	grpc_conn_feed(g, TCP_S2C, c.d[1].p + s1_end, s3_end - s1_end, 20);
	grpc_conn_feed(g, TCP_C2S, c.d[0].p, c1_end, 30);
	grpc_conn_feed(g, TCP_S2C, c.d[1].p + s3_end, c.d[1].n - s3_end, 40);
	grpc_conn_feed(g, TCP_C2S, c.d[0].p + c1_end, c.d[0].n - c1_end, 50);
	const char *want =
		"open 1 path= ua= enc=0\n"
		"open 3 path= ua= enc=0\n"
		"open 1 path=/etcdserverpb.KV/Range ua= enc=0\n" /* the request, late */
		"msg 1 0 n=5 'req-1'\n"
		"msg 1 1 n=6 'resp-1'\n"                         /* released after it */
		"trailers 1 status=0 message=\n"
		"close 1 reset=0 msgs=1/1\n"
		"open 7 path= ua= enc=0\n"
		"msg 3 1 n=6 'resp-3'\n"                         /* stream 5 opened: 3 gives up */
		"trailers 3 status=0 message=\n"
		"open 5 path=/etcdserverpb.KV/Range ua= enc=0\n";
	CHECK_EQ_STR(rec_str(&r), want);
	/* stream 7 waits until 1 s of capture time has gone by */
	uint8_t ping[9 + 8] = {0, 0, 8, 6, 0, 0, 0, 0, 0};
	grpc_conn_feed(g, TCP_S2C, ping, sizeof ping, 40 + 900000);
	CHECK(strstr(rec_str(&r), "resp-7") == NULL);
	grpc_conn_tick(g, 40 + 1000001); /* no bytes needed: time passing releases it */
	CHECK(strstr(rec_str(&r), "msg 7 1 n=6 'resp-7'") != NULL);
	grpc_conn_free(g, 0);
	free(r.log.p);
	conn_free(&c);
}

int main(void)
{
	test_connection();
	test_response_first();
	test_resync_every_offset();
	test_mid_message();
	test_gap();
	test_limits();
	test_deflate_trailers_only();
	test_learn_path();
	test_status_infer();
	test_eviction();
	return unit_summary("test_grpc");
}
