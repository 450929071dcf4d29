/* test_tcp.c: unit tests for src/tcp.c (TCP reassembly). Segments are built by hand as
 * struct cap_packet; a recorder collects what each connection delivers (bytes, gaps and
 * where they fall, close reason) and checks that nothing arrives after on_close. */
#include <stdlib.h>
#include <string.h>

#include "tcp.h"
#include "unit.h"

#define MAX_RECS 16
#define MAX_GAPS 32

struct rec {
	struct tcp_conn_info info;
	uint8_t *buf[2];
	size_t n[2], cap[2];
	int ngaps[2];
	uint64_t gap_at[2][MAX_GAPS], gap_len[2][MAX_GAPS]; /* gap position = data bytes before */
	int closes;
	enum tcp_close_reason why;
	int after_close; /* callbacks after on_close: must stay 0 */
};

struct recorder {
	struct rec *r[MAX_RECS];
	int n;
};

/* on_open: a new record per connection. */
static void *rec_open(void *ctx, const struct tcp_conn_info *ci, ee_ts ts)
{
	struct recorder *rc = ctx;
	if (rc->n >= MAX_RECS)
		return NULL;
	struct rec *r = calloc(1, sizeof *r);
	r->info = *ci;
	rc->r[rc->n++] = r;
	return r;
}

/* on_data: appends to the direction's buffer. */
static void rec_data(void *ctx, void *user, enum tcp_dir dir, const uint8_t *p, size_t n, ee_ts ts)
{
	struct rec *r = user;
	if (!r)
		return;
	if (r->closes)
		r->after_close++;
	if (r->n[dir] + n > r->cap[dir]) {
		size_t c = r->cap[dir] ? r->cap[dir] : 1024;
		while (c < r->n[dir] + n)
			c *= 2;
		r->buf[dir] = realloc(r->buf[dir], c);
		r->cap[dir] = c;
	}
	memcpy(r->buf[dir] + r->n[dir], p, n);
	r->n[dir] += n;
}

/* on_gap: records size and position. */
static void rec_gap(void *ctx, void *user, enum tcp_dir dir, uint64_t missing, ee_ts ts)
{
	struct rec *r = user;
	if (!r)
		return;
	if (r->closes)
		r->after_close++;
	if (r->ngaps[dir] < MAX_GAPS) {
		r->gap_at[dir][r->ngaps[dir]] = r->n[dir];
		r->gap_len[dir][r->ngaps[dir]] = missing;
	}
	r->ngaps[dir]++;
}

/* on_close: counts closes and keeps the reason. */
static void rec_close(void *ctx, void *user, enum tcp_close_reason why, ee_ts ts)
{
	struct rec *r = user;
	if (!r)
		return;
	if (r->closes)
		r->after_close++;
	r->closes++;
	r->why = why;
}

static void rec_free(struct recorder *rc)
{
	for (int i = 0; i < rc->n; i++) {
		free(rc->r[i]->buf[0]);
		free(rc->r[i]->buf[1]);
		free(rc->r[i]);
	}
	rc->n = 0;
}

static const uint16_t etcd_port[] = { 2379 };

/* Table with the recorder and the etcd port; extra settings from cfg when given. */
static struct tcp_table *mk_table(struct recorder *rc, const struct tcp_config *cfg)
{
	struct tcp_config c = { .server_ports = etcd_port, .n_server_ports = 1 };
	if (cfg)
		c = *cfg;
	struct tcp_callbacks cb = { rc, rec_open, rec_data, rec_gap, rec_close };
	memset(rc, 0, sizeof *rc);
	return tcp_table_new(&c, &cb);
}

/* Endpoints of the default connection. */
static const uint8_t CLI4[16] = { 10, 0, 0, 1 }, SRV4[16] = { 10, 0, 0, 2 };
static uint16_t cli_port = 40000;
static ee_ts now_ts = 1000;

/* Feeds one IPv4 segment between the default endpoints. c2s selects the direction;
 * wire = 0 means wire_len = len. */
static void feed(struct tcp_table *t, bool c2s, uint32_t seq, uint32_t ack, uint8_t flags,
		 const void *data, uint32_t len, uint32_t wire)
{
	struct cap_packet p;
	memset(&p, 0, sizeof p);
	p.ts = now_ts++;
	p.af = 4;
	memcpy(p.src, c2s ? CLI4 : SRV4, 16);
	memcpy(p.dst, c2s ? SRV4 : CLI4, 16);
	p.sport = c2s ? cli_port : 2379;
	p.dport = c2s ? 2379 : cli_port;
	p.seq = seq;
	p.ack = ack;
	p.flags = flags;
	p.payload = data;
	p.len = len;
	p.wire_len = wire ? wire : len;
	tcp_table_feed(t, &p);
}

/* Deterministic byte pattern: any position's byte is known. */
static uint8_t pat(uint64_t i) { return (uint8_t)(i * 131 + (i >> 9) * 7 + (i >> 17)); }
static uint8_t *mk_pattern(size_t n)
{
	uint8_t *b = malloc(n);
	for (size_t i = 0; i < n; i++)
		b[i] = pat(i);
	return b;
}

/* Handshake with client ISN ci and server ISN si. */
static void handshake(struct tcp_table *t, uint32_t ci, uint32_t si)
{
	feed(t, true, ci, 0, CAP_TH_SYN, NULL, 0, 0);
	feed(t, false, si, ci + 1, CAP_TH_SYN | CAP_TH_ACK, NULL, 0, 0);
	feed(t, true, ci + 1, si + 1, CAP_TH_ACK, NULL, 0, 0);
}

static void test_handshake_in_order(void)
{
	struct recorder rc;
	struct tcp_table *t = mk_table(&rc, NULL);
	handshake(t, 1000, 5000);
	feed(t, true, 1001, 5001, CAP_TH_ACK | CAP_TH_PSH, "hello ", 6, 0);
	feed(t, false, 5001, 1007, CAP_TH_ACK | CAP_TH_PSH, "world", 5, 0);
	feed(t, true, 1007, 5006, CAP_TH_ACK | CAP_TH_PSH, "again", 5, 0);
	CHECK_EQ_INT(rc.n, 1);
	struct rec *r = rc.r[0];
	CHECK_EQ_STR(r->info.name, "10.0.0.1:40000-10.0.0.2:2379");
	CHECK_EQ_INT(r->info.id, 1);
	CHECK(r->info.saw_syn);
	CHECK_EQ_INT(r->info.cli_port, 40000);
	CHECK_EQ_INT(r->info.srv_port, 2379);
	CHECK_EQ_INT(r->n[TCP_C2S], 11);
	CHECK(r->n[TCP_C2S] == 11 && !memcmp(r->buf[TCP_C2S], "hello again", 11));
	CHECK(r->n[TCP_S2C] == 5 && !memcmp(r->buf[TCP_S2C], "world", 5));
	CHECK_EQ_INT(r->ngaps[0] + r->ngaps[1], 0);
	CHECK_EQ_INT(r->closes, 0);
	tcp_table_finish(t, now_ts);
	CHECK_EQ_INT(r->closes, 1);
	CHECK_EQ_INT(r->why, TCP_CLOSE_END);
	CHECK_EQ_INT(r->after_close, 0);
	struct tcp_stats st;
	tcp_table_get_stats(t, &st);
	CHECK_EQ_INT(st.conns, 1);
	CHECK_EQ_INT(st.conns_midstream, 0);
	CHECK_EQ_INT(st.segments, 6);
	CHECK_EQ_INT(st.bytes, 16);
	CHECK_EQ_INT(st.gaps, 0);
	tcp_table_free(t);
	rec_free(&rc);
}

static void test_midstream(void)
{
	struct recorder rc;
	struct tcp_table *t = mk_table(&rc, NULL);
	/* The server speaks first: the roles still come from the port. */
	feed(t, false, 7777, 3333, CAP_TH_ACK, "abc", 3, 0);
	feed(t, true, 3333, 7780, CAP_TH_ACK, "xyz", 3, 0);
	feed(t, false, 7780, 3336, CAP_TH_ACK, "def", 3, 0);
	feed(t, true, 3336, 7783, CAP_TH_ACK, "uvw", 3, 0);
	feed(t, true, 3333, 7783, CAP_TH_ACK, "xyz", 3, 0); /* retransmission */
	CHECK_EQ_INT(rc.n, 1);
	struct rec *r = rc.r[0];
	CHECK(!r->info.saw_syn);
	CHECK_EQ_STR(r->info.name, "10.0.0.1:40000-10.0.0.2:2379");
	/* a mid-stream direction settles (TCP_ADOPT_*) before it delivers */
	CHECK_EQ_INT(r->n[TCP_S2C] + r->n[TCP_C2S], 0);
	struct tcp_stats st;
	tcp_table_get_stats(t, &st);
	CHECK_EQ_INT(st.conns_midstream, 1);
	CHECK_EQ_INT(st.retrans_bytes, 3);
	tcp_table_finish(t, now_ts);
	CHECK(r->n[TCP_S2C] == 6 && !memcmp(r->buf[TCP_S2C], "abcdef", 6));
	CHECK(r->n[TCP_C2S] == 6 && !memcmp(r->buf[TCP_C2S], "xyzuvw", 6));
	CHECK_EQ_INT(r->ngaps[0] + r->ngaps[1], 0);
	tcp_table_free(t);
	rec_free(&rc);
}

static void test_ooo_permutations(void)
{
	static const int perms[6][3] = { { 0, 1, 2 }, { 0, 2, 1 }, { 1, 0, 2 },
					 { 1, 2, 0 }, { 2, 0, 1 }, { 2, 1, 0 } };
	uint8_t data[30];
	for (int i = 0; i < 30; i++)
		data[i] = (uint8_t)('a' + i % 26);
	for (int p = 0; p < 6; p++) {
		struct recorder rc;
		struct tcp_table *t = mk_table(&rc, NULL);
		handshake(t, 100, 900);
		for (int k = 0; k < 3; k++) {
			int s = perms[p][k];
			feed(t, true, 101 + (uint32_t)s * 10, 901, CAP_TH_ACK, data + s * 10, 10, 0);
		}
		struct rec *r = rc.r[0];
		CHECK(r->n[TCP_C2S] == 30 && !memcmp(r->buf[TCP_C2S], data, 30));
		CHECK_EQ_INT(r->ngaps[TCP_C2S], 0);
		struct tcp_stats st;
		tcp_table_get_stats(t, &st);
		static const int expect_ooo_n[6] = { 0, 1, 1, 2, 1, 2 };
		int expect_ooo = expect_ooo_n[p];
		CHECK_EQ_INT(st.ooo_segments, expect_ooo);
		tcp_table_finish(t, now_ts);
		CHECK_EQ_INT(r->ngaps[TCP_C2S], 0);
		CHECK_EQ_INT(r->n[TCP_C2S], 30);
		tcp_table_free(t);
		rec_free(&rc);
	}
}

static void test_retrans_and_overlap(void)
{
	struct recorder rc;
	struct tcp_table *t = mk_table(&rc, NULL);
	uint8_t *d = mk_pattern(64);
	handshake(t, 0, 0);
	/* stream offset o is seq o + 1 */
	feed(t, true, 1, 1, CAP_TH_ACK, d, 10, 0);
	feed(t, true, 1, 1, CAP_TH_ACK, d, 10, 0);          /* full duplicate */
	feed(t, true, 6, 1, CAP_TH_ACK, d + 5, 10, 0);      /* overlaps the edge: tail 10..15 */
	struct rec *r = rc.r[0];
	CHECK(r->n[0] == 15 && !memcmp(r->buf[0], d, 15));
	/* Buffered [25,35) as 'X'; then [20,40) as 'Y' overlapping it on both sides: the first
	 * copy wins in the middle. */
	uint8_t xs[10], ys[20];
	memset(xs, 'X', sizeof xs);
	memset(ys, 'Y', sizeof ys);
	feed(t, true, 26, 1, CAP_TH_ACK, xs, 10, 0);
	feed(t, true, 21, 1, CAP_TH_ACK, ys, 20, 0);
	feed(t, true, 21, 1, CAP_TH_ACK, ys, 20, 0);        /* duplicate of buffered ranges */
	CHECK_EQ_INT(r->n[0], 15);
	feed(t, true, 16, 1, CAP_TH_ACK, d + 15, 5, 0);     /* fills the hole */
	CHECK_EQ_INT(r->n[0], 40);
	uint8_t want[40];
	memcpy(want, d, 20);
	memset(want + 20, 'Y', 5);
	memset(want + 25, 'X', 10);
	memset(want + 35, 'Y', 5);
	CHECK(r->n[0] == 40 && !memcmp(r->buf[0], want, 40));
	/* A segment overlapping the delivered edge and a buffered range on its far side. */
	uint8_t zs[10];
	memset(zs, 'Z', sizeof zs);
	feed(t, true, 51, 1, CAP_TH_ACK, zs, 10, 0);        /* buffered [50,60) */
	feed(t, true, 36, 1, CAP_TH_ACK, d + 35, 20, 0);    /* [35,55): new 40..50 */
	CHECK_EQ_INT(r->n[0], 60);
	CHECK(r->n[0] == 60 && !memcmp(r->buf[0] + 40, d + 40, 10) &&
	      !memcmp(r->buf[0] + 50, zs, 10));
	struct tcp_stats st;
	tcp_table_get_stats(t, &st);
	/* 10 dup, 5 edge, 10 of Y held as X, 20 of Y held again, 5 behind the edge */
	CHECK_EQ_INT(st.retrans_bytes, 10 + 5 + 10 + 20 + 5);
	CHECK_EQ_INT(r->ngaps[0], 0);
	tcp_table_finish(t, now_ts);
	CHECK_EQ_INT(r->ngaps[0], 0);
	tcp_table_free(t);
	rec_free(&rc);
	free(d);
}

static void test_wraparound(void)
{
	struct recorder rc;
	struct tcp_table *t = mk_table(&rc, NULL);
	uint8_t *d = mk_pattern(60);
	uint32_t isn = 0xFFFFFFF0u;
	handshake(t, isn, 0xFFFFFFFFu);
	/* stream offsets [0,20) [20,40) [40,60) at seq isn+1+off, crossing 2^32 */
	feed(t, true, isn + 41, 0, CAP_TH_ACK, d + 40, 20, 0);
	feed(t, true, isn + 21, 0, CAP_TH_ACK, d + 20, 20, 0);
	feed(t, true, isn + 1, 0, CAP_TH_ACK, d, 20, 0);
	feed(t, true, isn + 11, 0, CAP_TH_ACK, d + 10, 20, 0); /* retransmission across wrap */
	/* server ISN 0xFFFFFFFF: its stream starts at seq 0 */
	feed(t, false, 3, 0, CAP_TH_ACK, d + 3, 3, 0);
	feed(t, false, 0, 0, CAP_TH_ACK, d, 3, 0);
	struct rec *r = rc.r[0];
	CHECK(r->n[0] == 60 && !memcmp(r->buf[0], d, 60));
	CHECK(r->n[1] == 6 && !memcmp(r->buf[1], d, 6));
	CHECK_EQ_INT(r->ngaps[0] + r->ngaps[1], 0);
	struct tcp_stats st;
	tcp_table_get_stats(t, &st);
	CHECK_EQ_INT(st.retrans_bytes, 20);
	tcp_table_finish(t, now_ts);
	tcp_table_free(t);
	rec_free(&rc);
	free(d);
}

static void test_hole_at_finish(void)
{
	struct recorder rc;
	struct tcp_table *t = mk_table(&rc, NULL);
	uint8_t *d = mk_pattern(40);
	handshake(t, 0, 0);
	feed(t, true, 1, 1, CAP_TH_ACK, d, 10, 0);
	feed(t, true, 21, 1, CAP_TH_ACK, d + 20, 10, 0);
	feed(t, true, 36, 1, CAP_TH_ACK, d + 35, 5, 0);
	struct rec *r = rc.r[0];
	CHECK_EQ_INT(r->n[0], 10);
	tcp_table_finish(t, now_ts);
	CHECK_EQ_INT(r->ngaps[0], 2);
	CHECK_EQ_INT(r->gap_at[0][0], 10);
	CHECK_EQ_INT(r->gap_len[0][0], 10);
	CHECK_EQ_INT(r->gap_at[0][1], 20);
	CHECK_EQ_INT(r->gap_len[0][1], 5);
	CHECK_EQ_INT(r->n[0], 25);
	CHECK(r->n[0] == 25 && !memcmp(r->buf[0] + 10, d + 20, 10) &&
	      !memcmp(r->buf[0] + 20, d + 35, 5));
	CHECK_EQ_INT(r->closes, 1);
	CHECK_EQ_INT(r->why, TCP_CLOSE_END);
	CHECK_EQ_INT(r->after_close, 0);
	struct tcp_stats st;
	tcp_table_get_stats(t, &st);
	CHECK_EQ_INT(st.gaps, 2);
	CHECK_EQ_INT(st.gap_bytes, 15);
	CHECK_EQ_INT(st.ooo_segments, 2);
	tcp_table_free(t);
	rec_free(&rc);
	free(d);
}

static void test_ooo_limit(void)
{
	struct recorder rc;
	struct tcp_table *t = mk_table(&rc, NULL);
	size_t total = TCP_OOO_MAX_BYTES + 200000;
	uint8_t *d = mk_pattern(total);
	handshake(t, 0, 0);
	/* hole [0,100), then 50000-byte segments from 100 on */
	uint32_t seg = 50000, off = 100;
	struct rec *r = rc.r[0];
	int fed = 0;
	while (off + seg <= total) {
		feed(t, true, 1 + off, 1, CAP_TH_ACK, d + off, seg, 0);
		off += seg;
		fed++;
		if (r->ngaps[0])
			break;
	}
	/* 20 segments (1,000,000 bytes) fit in 1 MiB; the 21st does not */
	CHECK_EQ_INT(fed, 21);
	CHECK_EQ_INT(r->ngaps[0], 1);
	CHECK_EQ_INT(r->gap_at[0][0], 0);
	CHECK_EQ_INT(r->gap_len[0][0], 100);
	CHECK_EQ_INT(r->n[0], off - 100);
	CHECK(r->n[0] == off - 100 && !memcmp(r->buf[0], d + 100, off - 100));
	/* one segment larger than the whole buffer, ahead of a hole */
	size_t big = TCP_OOO_MAX_BYTES + 10;
	uint8_t *bd = mk_pattern(big + 7);
	feed(t, true, 1 + off + 7, 1, CAP_TH_ACK, bd + 7, (uint32_t)big, 0);
	CHECK_EQ_INT(r->ngaps[0], 2);
	CHECK_EQ_INT(r->gap_len[0][1], 7);
	CHECK_EQ_INT(r->n[0], off - 100 + big);
	tcp_table_finish(t, now_ts);
	tcp_table_free(t);
	rec_free(&rc);
	free(d);
	free(bd);
}

/* Many tiny ranges: the range bound (8192 per direction in tcp.c) declares holes lost
 * before the byte bound is anywhere near. */
static void test_ooo_range_limit(void)
{
	struct recorder rc;
	struct tcp_table *t = mk_table(&rc, NULL);
	handshake(t, 0, 0);
	uint8_t *d = mk_pattern(20000);
	for (uint32_t i = 1; i <= 9000; i++)
		feed(t, true, 1 + 2 * i, 1, CAP_TH_ACK, d + 2 * i, 1, 0); /* byte 2i; hole 2i-1 */
	struct rec *r = rc.r[0];
	CHECK_EQ_INT(r->n[0], 9000 - 8192);
	CHECK_EQ_INT(r->ngaps[0], 9000 - 8192);
	CHECK_EQ_INT(r->gap_len[0][0], 2);
	CHECK_EQ_INT(r->gap_len[0][1], 1);
	CHECK(r->n[0] >= 2 && r->buf[0][0] == d[2] && r->buf[0][1] == d[4]);
	tcp_table_finish(t, now_ts);
	CHECK_EQ_INT(r->n[0], 9000);
	CHECK_EQ_INT(r->ngaps[0], 9000);
	CHECK(r->n[0] == 9000 && r->buf[0][8999] == d[18000]);
	tcp_table_free(t);
	rec_free(&rc);
	free(d);
}

/* A lost segment followed by thousands of in-order ones (a capture ring that overflowed):
 * each later segment lands after the last buffered range. Placing it must not walk the
 * whole buffer (that made the cost per segment grow with the hole's age: quadratic, 85% of
 * the CPU on a capture with 10% of its packets lost in bursts), so the ranges visited stay
 * in proportion to the segments, retransmissions over the tail included. */
static void test_ooo_append_cost(void)
{
	struct recorder rc;
	struct tcp_table *t = mk_table(&rc, NULL);
	handshake(t, 0, 0);
	enum { N = 7001, SEG = 10 }; /* N % 7 != 0: the last segment is not overlapped */
	uint8_t *d = mk_pattern((size_t)(N + 2) * SEG);
	/* bytes [0, SEG) are lost; then N segments in order, every 4th sent twice and every
	 * 7th followed by one that overlaps it and brings 3 new bytes (resegmented) */
	for (uint32_t i = 1; i <= N; i++) {
		uint32_t o = i * SEG;
		feed(t, true, 1 + o, 1, CAP_TH_ACK, d + o, SEG, 0);
		if (i % 4 == 0)
			feed(t, true, 1 + o, 1, CAP_TH_ACK, d + o, SEG, 0);
		if (i % 7 == 0)
			feed(t, true, 1 + o + 3, 1, CAP_TH_ACK, d + o + 3, SEG, 0);
	}
	struct tcp_stats st;
	tcp_table_get_stats(t, &st);
	struct rec *r = rc.r[0];
	CHECK_EQ_INT(r->n[0], 0); /* all held: 8001 ranges < TCP_OOO_MAX_RANGES */
	CHECK(st.ooo_segments > N);
	CHECK(st.ooo_walk <= 8 * st.ooo_segments);
	tcp_table_finish(t, now_ts);
	CHECK_EQ_INT(r->ngaps[0], 1);
	CHECK_EQ_INT(r->gap_len[0][0], SEG);
	CHECK(r->n[0] == (size_t)N * SEG && !memcmp(r->buf[0], d + SEG, (size_t)N * SEG));
	tcp_table_free(t);
	rec_free(&rc);
	free(d);
}

/* Capture loss hits every connection at once: 80 connections, each with a hole and then
 * 1,000,000 bytes behind it (under its own TCP_OOO_MAX_BYTES). Together they would hold
 * 80 MB; the table-wide TCP_OOO_TOTAL_MAX_BYTES makes the later ones declare their hole
 * lost instead, and every byte still arrives (after one gap per connection). */
static void test_ooo_total_limit(void)
{
	struct recorder rc;
	struct tcp_table *t = mk_table(&rc, NULL);
	enum { CONNS = 80, SEG = 50000, SEGS = 20 };
	uint8_t *d = mk_pattern((size_t)SEG * (SEGS + 1));
	uint16_t saved = cli_port;
	for (int k = 0; k < CONNS; k++) {
		cli_port = (uint16_t)(41000 + k);
		handshake(t, 0, 0);
		for (uint32_t i = 1; i <= SEGS; i++) /* bytes [0, 100) lost */
			feed(t, true, 1 + 100 + (i - 1) * SEG, 1, CAP_TH_ACK, d + 100, SEG, 0);
	}
	cli_port = saved;
	struct tcp_stats st;
	tcp_table_get_stats(t, &st);
	CHECK(st.ooo_held_max <= TCP_OOO_TOTAL_MAX_BYTES);
	CHECK(st.ooo_held_max > TCP_OOO_TOTAL_MAX_BYTES - 2 * SEG);
	CHECK(st.gaps >= CONNS - TCP_OOO_TOTAL_MAX_BYTES / (SEG * SEGS));
	tcp_table_finish(t, now_ts);
	tcp_table_get_stats(t, &st);
	CHECK_EQ_INT(st.gaps, CONNS);
	CHECK_EQ_INT(st.gap_bytes, CONNS * 100);
	CHECK_EQ_INT(st.bytes, (uint64_t)CONNS * SEG * SEGS);
	tcp_table_free(t);
	rec_free(&rc);
	free(d);
}

/* A live capture whose ring overflowed: the receiver acknowledges bytes the capture never
 * showed. That hole cannot be filled, so it is declared lost TCP_ACKED_HOLE_SEGMENTS (32)
 * segments after the ACK, without waiting for 1 MiB to pile up behind it. An ACK seen
 * before the data it covers (a reordered capture) does not make a gap. */
static void test_acked_hole(void)
{
	struct recorder rc;
	struct tcp_table *t = mk_table(&rc, NULL);
	uint8_t *d = mk_pattern(1000);
	handshake(t, 0, 0);
	feed(t, true, 1 + 10, 1, CAP_TH_ACK, d + 10, 10, 0);  /* [0, 10) never captured */
	feed(t, false, 1, 21, CAP_TH_ACK, NULL, 0, 0);        /* the server has up to 20 */
	struct rec *r = rc.r[0];
	for (uint32_t i = 2; i < 33; i++) /* 31 more segments: still waiting */
		feed(t, true, 1 + i * 10, 1, CAP_TH_ACK, d + i * 10, 10, 0);
	CHECK_EQ_INT(r->n[0], 0);
	CHECK_EQ_INT(r->ngaps[0], 0);
	feed(t, false, 1, 331, CAP_TH_ACK, NULL, 0, 0);       /* the 32nd */
	CHECK_EQ_INT(r->ngaps[0], 1);
	CHECK_EQ_INT(r->gap_len[0][0], 10);
	CHECK(r->n[0] == 320 && !memcmp(r->buf[0], d + 10, 320));
	struct tcp_stats st;
	tcp_table_get_stats(t, &st);
	CHECK_EQ_INT(st.acked_holes, 1);
	tcp_table_free(t);
	rec_free(&rc);

	/* reordered: the ACK comes before the segment it acknowledges */
	t = mk_table(&rc, NULL);
	handshake(t, 0, 0);
	feed(t, true, 1 + 10, 1, CAP_TH_ACK, d + 10, 10, 0);
	feed(t, false, 1, 21, CAP_TH_ACK, NULL, 0, 0);
	feed(t, true, 1 + 20, 1, CAP_TH_ACK, d + 20, 10, 0);
	feed(t, true, 1, 1, CAP_TH_ACK, d, 10, 0);            /* the hole, late */
	for (uint32_t i = 3; i < 80; i++)
		feed(t, true, 1 + i * 10, 1, CAP_TH_ACK, d + i * 10, 10, 0);
	r = rc.r[0];
	CHECK_EQ_INT(r->ngaps[0], 0);
	CHECK(r->n[0] == 800 && !memcmp(r->buf[0], d, 800));
	tcp_table_get_stats(t, &st);
	CHECK_EQ_INT(st.acked_holes, 0);
	tcp_table_free(t);
	rec_free(&rc);
	free(d);
}

/* A capture that joins mid-stream and reorders its first segments: the later segment is
 * seen first. The stream starts at the earliest byte (no gap, no byte lost as a
 * "retransmission"); after TCP_ADOPT_SEGMENTS the start is fixed and a segment from before
 * it is an old retransmission. */
static void test_midstream_reordered(void)
{
	struct recorder rc;
	struct tcp_table *t = mk_table(&rc, NULL);
	feed(t, true, 1006, 500, CAP_TH_ACK, "ghi", 3, 0);
	feed(t, true, 1000, 500, CAP_TH_ACK, "abc", 3, 0);
	feed(t, true, 1003, 500, CAP_TH_ACK, "def", 3, 0);
	struct rec *r = rc.r[0];
	CHECK_EQ_INT(r->n[TCP_C2S], 0);
	for (uint32_t i = 0; i < 16; i++) /* past TCP_ADOPT_SEGMENTS: the start is fixed */
		feed(t, true, 1009 + i, 500, CAP_TH_ACK, "x", 1, 0);
	CHECK(r->n[TCP_C2S] >= 9 && !memcmp(r->buf[TCP_C2S], "abcdefghi", 9));
	feed(t, true, 990, 500, CAP_TH_ACK, "0123456789", 10, 0); /* before the start: old */
	tcp_table_finish(t, now_ts);
	CHECK_EQ_INT(r->n[TCP_C2S], 9 + 16);
	CHECK_EQ_INT(r->ngaps[TCP_C2S], 0);
	tcp_table_free(t);
	rec_free(&rc);
}

static void test_truncated(void)
{
	struct recorder rc;
	struct tcp_table *t = mk_table(&rc, NULL);
	uint8_t *d = mk_pattern(300);
	handshake(t, 0, 0);
	feed(t, true, 1, 1, CAP_TH_ACK, d, 10, 50);          /* [0,10) captured, [10,50) cut */
	struct rec *r = rc.r[0];
	CHECK_EQ_INT(r->n[0], 10);
	CHECK_EQ_INT(r->ngaps[0], 1);
	CHECK_EQ_INT(r->gap_at[0][0], 10);
	CHECK_EQ_INT(r->gap_len[0][0], 40);
	feed(t, true, 51, 1, CAP_TH_ACK, d + 50, 10, 0);
	CHECK(r->n[0] == 20 && !memcmp(r->buf[0] + 10, d + 50, 10));
	/* truncated segment ahead of a hole, then the hole is filled */
	feed(t, true, 71, 1, CAP_TH_ACK, d + 70, 5, 30);      /* [70,75) + cut [75,100) */
	feed(t, true, 101, 1, CAP_TH_ACK, d + 100, 10, 0);
	CHECK_EQ_INT(r->n[0], 20);
	feed(t, true, 61, 1, CAP_TH_ACK, d + 60, 10, 0);
	CHECK_EQ_INT(r->n[0], 45);
	CHECK_EQ_INT(r->ngaps[0], 2);
	CHECK_EQ_INT(r->gap_at[0][1], 35);
	CHECK_EQ_INT(r->gap_len[0][1], 25);
	CHECK(r->n[0] == 45 && !memcmp(r->buf[0] + 20, d + 60, 15) &&
	      !memcmp(r->buf[0] + 35, d + 100, 10));
	struct tcp_stats st;
	tcp_table_get_stats(t, &st);
	CHECK_EQ_INT(st.gap_bytes, 65);
	tcp_table_finish(t, now_ts);
	tcp_table_free(t);
	rec_free(&rc);
	free(d);
}

static void test_rst(void)
{
	struct recorder rc;
	struct tcp_table *t = mk_table(&rc, NULL);
	handshake(t, 0, 0);
	feed(t, true, 1, 1, CAP_TH_ACK, "abc", 3, 0);
	feed(t, true, 8, 1, CAP_TH_ACK, "hij", 3, 0);       /* hole at [4,8) */
	feed(t, false, 1, 4, CAP_TH_RST | CAP_TH_ACK, NULL, 0, 0);
	struct rec *r = rc.r[0];
	/* Bytes sent before the RST may come after it in a reordered capture: the connection
	 * waits TCP_FIN_WAIT_US of idle capture time before it closes. */
	CHECK_EQ_INT(r->closes, 0);
	feed(t, true, 4, 1, CAP_TH_ACK, "defg", 4, 0);      /* the hole, after the RST */
	feed(t, false, 1, 4, CAP_TH_ACK, "ok", 2, 0);       /* and data before the RST's seq */
	CHECK(r->n[0] == 10 && !memcmp(r->buf[0], "abcdefghij", 10));
	CHECK_EQ_INT(r->n[1], 0);                           /* past the server's RST: not stream */
	tcp_table_expire(t, now_ts + 500000);
	CHECK_EQ_INT(r->closes, 0);
	tcp_table_expire(t, now_ts + 1000001);
	CHECK_EQ_INT(r->closes, 1);
	CHECK_EQ_INT(r->why, TCP_CLOSE_RST);
	CHECK_EQ_INT(r->ngaps[0], 0);
	/* late packets of the dead connection do not adopt a new one */
	feed(t, true, 11, 1, CAP_TH_ACK, "xyz", 3, 0);
	feed(t, true, 14, 1, CAP_TH_RST, NULL, 0, 0);
	CHECK_EQ_INT(rc.n, 1);
	CHECK_EQ_INT(r->after_close, 0);
	tcp_table_finish(t, now_ts);
	CHECK_EQ_INT(r->closes, 1);
	/* a lone RST never adopts */
	feed(t, true, 500, 1, CAP_TH_RST, NULL, 0, 0);
	CHECK_EQ_INT(rc.n, 1);
	/* a hole still open when the RST'ed connection closes is a gap */
	cli_port++;
	handshake(t, 0, 0);
	feed(t, true, 1, 1, CAP_TH_ACK, "abc", 3, 0);
	feed(t, true, 8, 1, CAP_TH_ACK, "hij", 3, 0);
	feed(t, false, 1, 4, CAP_TH_RST | CAP_TH_ACK, NULL, 0, 0);
	tcp_table_expire(t, now_ts + 1000001);
	r = rc.r[1];
	CHECK_EQ_INT(r->closes, 1);
	CHECK_EQ_INT(r->why, TCP_CLOSE_RST);
	CHECK(r->n[0] == 6 && !memcmp(r->buf[0], "abchij", 6));
	CHECK_EQ_INT(r->ngaps[0], 1);
	CHECK_EQ_INT(r->gap_len[0][0], 4);
	cli_port--;
	tcp_table_free(t);
	rec_free(&rc);
}

static void test_fin_and_reuse(void)
{
	struct recorder rc;
	struct tcp_table *t = mk_table(&rc, NULL);
	handshake(t, 100, 200);
	feed(t, true, 101, 201, CAP_TH_ACK, "req", 3, 0);
	feed(t, false, 201, 104, CAP_TH_ACK, "resp", 4, 0);
	feed(t, true, 104, 205, CAP_TH_ACK | CAP_TH_FIN, NULL, 0, 0);
	struct rec *r = rc.r[0];
	CHECK_EQ_INT(r->closes, 0);
	feed(t, false, 205, 105, CAP_TH_ACK | CAP_TH_FIN, "!", 1, 0);
	CHECK_EQ_INT(r->closes, 1);
	CHECK_EQ_INT(r->why, TCP_CLOSE_FIN);
	CHECK(r->n[1] == 5 && !memcmp(r->buf[1], "resp!", 5));
	feed(t, true, 105, 207, CAP_TH_ACK, NULL, 0, 0);            /* last ACK */
	feed(t, false, 205, 105, CAP_TH_ACK | CAP_TH_FIN, "!", 1, 0); /* FIN retransmitted */
	CHECK_EQ_INT(rc.n, 1);
	/* port reuse: a new SYN on the same 4-tuple */
	handshake(t, 9000, 700);
	CHECK_EQ_INT(rc.n, 2);
	struct rec *r2 = rc.r[1];
	CHECK_EQ_INT(r2->info.id, 2);
	CHECK(r2->info.saw_syn);
	feed(t, true, 9001, 701, CAP_TH_ACK, "new", 3, 0);
	CHECK(r2->n[0] == 3 && !memcmp(r2->buf[0], "new", 3));
	/* only the client FIN'd, then a new SYN: the old one is closed first */
	feed(t, true, 9004, 701, CAP_TH_ACK | CAP_TH_FIN, NULL, 0, 0);
	feed(t, true, 9000, 0, CAP_TH_SYN, NULL, 0, 0);              /* old SYN again: ignored */
	CHECK_EQ_INT(rc.n, 2);
	feed(t, true, 31337, 0, CAP_TH_SYN, NULL, 0, 0);
	CHECK_EQ_INT(r2->closes, 1);
	CHECK_EQ_INT(r2->why, TCP_CLOSE_FIN);
	CHECK_EQ_INT(rc.n, 3);
	CHECK_EQ_INT(rc.r[2]->info.id, 3);
	tcp_table_finish(t, now_ts);
	CHECK_EQ_INT(rc.r[2]->closes, 1);
	CHECK_EQ_INT(rc.r[2]->why, TCP_CLOSE_END);
	CHECK_EQ_INT(r->closes + r2->closes, 2);
	CHECK_EQ_INT(r->after_close + r2->after_close + rc.r[2]->after_close, 0);
	tcp_table_free(t);
	rec_free(&rc);
}

/* A FIN ahead of a hole waits for the missing bytes (a reordered capture delivers them
 * after the FIN); bytes past the FIN are not stream data. */
static void test_fin_with_hole(void)
{
	struct recorder rc;
	struct tcp_table *t = mk_table(&rc, NULL);
	handshake(t, 0, 0);
	feed(t, true, 1, 1, CAP_TH_ACK, "ab", 2, 0);
	feed(t, true, 6, 1, CAP_TH_ACK | CAP_TH_FIN, "fg", 2, 0);   /* hole [3,6) */
	struct rec *r = rc.r[0];
	CHECK(r->n[0] == 2 && !memcmp(r->buf[0], "ab", 2));
	CHECK_EQ_INT(r->ngaps[0], 0);
	feed(t, true, 12, 1, CAP_TH_ACK, "zz", 2, 0);               /* after the FIN */
	feed(t, true, 3, 1, CAP_TH_ACK, "cde", 3, 0);               /* late, not lost */
	CHECK(r->n[0] == 7 && !memcmp(r->buf[0], "abcdefg", 7));
	CHECK_EQ_INT(r->ngaps[0], 0);
	feed(t, false, 1, 9, CAP_TH_ACK | CAP_TH_FIN, NULL, 0, 0);
	CHECK_EQ_INT(r->closes, 1);
	CHECK_EQ_INT(r->why, TCP_CLOSE_FIN);
	CHECK_EQ_INT(r->n[0], 7);
	CHECK_EQ_INT(r->ngaps[0], 0);
	tcp_table_finish(t, now_ts);
	tcp_table_free(t);
	rec_free(&rc);
}

/* Regression (damage.py --reorder 8 on basic-etcdctl.pcap): both FINs arrive before the last
 * data of both sides. Nothing is lost, the close waits for the data. A hole before a FIN
 * that is never filled is declared lost once both sides have FIN'd and the connection has
 * been idle TCP_FIN_WAIT_US, or at the end of input. */
static void test_fin_reordered(void)
{
	struct recorder rc;
	struct tcp_table *t = mk_table(&rc, NULL);
	handshake(t, 100, 500);
	feed(t, true, 101, 501, CAP_TH_ACK, "req", 3, 0);
	feed(t, false, 504, 104, CAP_TH_ACK | CAP_TH_FIN, NULL, 0, 0); /* server FIN, data missing */
	feed(t, true, 104, 505, CAP_TH_ACK | CAP_TH_FIN, NULL, 0, 0);  /* client FIN */
	struct rec *r = rc.r[0];
	CHECK_EQ_INT(r->closes, 0);
	feed(t, false, 501, 104, CAP_TH_ACK, "res", 3, 0);
	CHECK(r->n[1] == 3 && !memcmp(r->buf[1], "res", 3));
	CHECK_EQ_INT(r->closes, 1);
	CHECK_EQ_INT(r->why, TCP_CLOSE_FIN);
	CHECK_EQ_INT(r->ngaps[0] + r->ngaps[1], 0);

	/* the same with the server's data never arriving: lost after the wait */
	cli_port++;
	handshake(t, 100, 500);
	feed(t, true, 101, 501, CAP_TH_ACK, "req", 3, 0);
	feed(t, false, 502, 104, CAP_TH_ACK | CAP_TH_FIN, "s", 1, 0);  /* hole [501,502) */
	feed(t, true, 104, 505, CAP_TH_ACK | CAP_TH_FIN, NULL, 0, 0);
	struct rec *r2 = rc.r[1];
	CHECK_EQ_INT(r2->closes, 0);
	tcp_table_expire(t, now_ts + 10);            /* within the wait: still open */
	CHECK_EQ_INT(r2->closes, 0);
	tcp_table_expire(t, now_ts + 2000000);
	CHECK_EQ_INT(r2->closes, 1);
	CHECK_EQ_INT(r2->ngaps[1], 1);
	CHECK_EQ_INT(r2->gap_len[1][0], 1);
	CHECK(r2->n[1] == 1 && r2->buf[1][0] == 's');

	/* only one side FIN'd with a hole: the end of input declares it */
	cli_port++;
	handshake(t, 100, 500);
	feed(t, false, 503, 101, CAP_TH_ACK | CAP_TH_FIN, "x", 1, 0);  /* hole [501,503) */
	struct rec *r3 = rc.r[2];
	tcp_table_finish(t, now_ts);
	CHECK_EQ_INT(r3->closes, 1);
	CHECK_EQ_INT(r3->why, TCP_CLOSE_END);
	CHECK_EQ_INT(r3->ngaps[1], 1);
	CHECK_EQ_INT(r3->gap_len[1][0], 2);
	CHECK_EQ_INT(r->after_close + r2->after_close + r3->after_close, 0);
	tcp_table_free(t);
	rec_free(&rc);
}

/* Feeds a segment between arbitrary endpoints. */
static void feed_ep(struct tcp_table *t, int af, const uint8_t *src, uint16_t sport,
		    const uint8_t *dst, uint16_t dport, uint32_t seq, uint32_t ack, uint8_t flags,
		    const char *data, ee_ts ts)
{
	struct cap_packet p;
	memset(&p, 0, sizeof p);
	p.ts = ts;
	p.af = af;
	memcpy(p.src, src, 16);
	memcpy(p.dst, dst, 16);
	p.sport = sport;
	p.dport = dport;
	p.seq = seq;
	p.ack = ack;
	p.flags = flags;
	p.payload = (const uint8_t *)data;
	p.len = p.wire_len = data ? (uint32_t)strlen(data) : 0;
	tcp_table_feed(t, &p);
}

static void test_ignored_and_ipv6(void)
{
	struct recorder rc;
	struct tcp_table *t = mk_table(&rc, NULL);
	feed_ep(t, 4, CLI4, 1234, SRV4, 80, 1, 1, CAP_TH_ACK, "GET /", 1);
	feed_ep(t, 4, CLI4, 2379, SRV4, 2379, 1, 1, CAP_TH_ACK, "x", 2);
	CHECK_EQ_INT(rc.n, 0);
	struct tcp_stats st;
	tcp_table_get_stats(t, &st);
	CHECK_EQ_INT(st.ignored, 2);
	CHECK_EQ_INT(st.conns, 0);
	uint8_t lo6[16] = { 0 }, db8[16] = { 0x20, 0x01, 0x0d, 0xb8 };
	lo6[15] = 1;
	db8[15] = 2;
	feed_ep(t, 6, lo6, 40001, db8, 2379, 5, 0, CAP_TH_SYN, NULL, 3);
	feed_ep(t, 6, db8, 2379, lo6, 40001, 9, 6, CAP_TH_SYN | CAP_TH_ACK, NULL, 4);
	feed_ep(t, 6, lo6, 40001, db8, 2379, 6, 10, CAP_TH_ACK, "v6", 5);
	CHECK_EQ_INT(rc.n, 1);
	CHECK_EQ_STR(rc.r[0]->info.name, "[::1]:40001-[2001:db8::2]:2379");
	CHECK_EQ_INT(rc.r[0]->info.af, 6);
	CHECK(rc.r[0]->n[0] == 2 && !memcmp(rc.r[0]->buf[0], "v6", 2));
	/* same ports over IPv4 are a different connection */
	feed_ep(t, 4, CLI4, 40001, SRV4, 2379, 6, 10, CAP_TH_ACK, "v4", 6);
	CHECK_EQ_INT(rc.n, 2);
	tcp_table_finish(t, 10);
	tcp_table_free(t);
	rec_free(&rc);
}

static void test_any_port(void)
{
	struct recorder rc;
	struct tcp_config cfg = { .any_port = true };
	struct tcp_table *t = mk_table(&rc, &cfg);
	const uint8_t A[16] = { 192, 168, 0, 1 }, B[16] = { 192, 168, 0, 2 };
	/* SYN sender is the client, although its port is lower */
	feed_ep(t, 4, A, 5000, B, 60000, 10, 0, CAP_TH_SYN, NULL, 1);
	feed_ep(t, 4, B, 60000, A, 5000, 20, 11, CAP_TH_SYN | CAP_TH_ACK, NULL, 2);
	feed_ep(t, 4, B, 60000, A, 5000, 21, 11, CAP_TH_ACK, "hi", 3);
	CHECK_EQ_INT(rc.n, 1);
	CHECK_EQ_STR(rc.r[0]->info.name, "192.168.0.1:5000-192.168.0.2:60000");
	CHECK(rc.r[0]->n[TCP_S2C] == 2);
	/* only a SYN-ACK seen: its sender is the server; the client starts at its ack */
	feed_ep(t, 4, A, 6000, B, 7000, 300, 41, CAP_TH_SYN | CAP_TH_ACK, NULL, 4);
	feed_ep(t, 4, B, 7000, A, 6000, 41, 301, CAP_TH_ACK, "req", 5);
	CHECK_EQ_INT(rc.n, 2);
	CHECK_EQ_STR(rc.r[1]->info.name, "192.168.0.2:7000-192.168.0.1:6000");
	CHECK(rc.r[1]->info.saw_syn);
	CHECK(rc.r[1]->n[TCP_C2S] == 3 && !memcmp(rc.r[1]->buf[TCP_C2S], "req", 3));
	/* mid-stream: the lower port is the server */
	feed_ep(t, 4, A, 50000, B, 3000, 1, 1, CAP_TH_ACK, "q", 6);
	feed_ep(t, 4, B, 3000, A, 50000, 1, 2, CAP_TH_ACK, "a", 7);
	CHECK_EQ_INT(rc.n, 3);
	CHECK_EQ_STR(rc.r[2]->info.name, "192.168.0.1:50000-192.168.0.2:3000");
	CHECK(!rc.r[2]->info.saw_syn);
	tcp_table_finish(t, 10);
	CHECK(rc.r[2]->n[TCP_C2S] == 1 && rc.r[2]->buf[TCP_C2S][0] == 'q');
	CHECK(rc.r[2]->n[TCP_S2C] == 1 && rc.r[2]->buf[TCP_S2C][0] == 'a');
	tcp_table_free(t);
	rec_free(&rc);
}

static void test_evict(void)
{
	struct recorder rc;
	struct tcp_config cfg = { .server_ports = etcd_port, .n_server_ports = 1, .max_conns = 2 };
	struct tcp_table *t = mk_table(&rc, &cfg);
	feed_ep(t, 4, CLI4, 1001, SRV4, 2379, 1, 1, CAP_TH_ACK, "a", 1);
	feed_ep(t, 4, CLI4, 1002, SRV4, 2379, 1, 1, CAP_TH_ACK, "b", 2);
	feed_ep(t, 4, SRV4, 2379, CLI4, 1001, 1, 2, CAP_TH_ACK, "A", 3); /* 1001 active again */
	feed_ep(t, 4, CLI4, 1003, SRV4, 2379, 1, 1, CAP_TH_ACK, "c", 4);
	CHECK_EQ_INT(rc.n, 3);
	CHECK_EQ_INT(rc.r[0]->closes, 0);
	CHECK_EQ_INT(rc.r[1]->closes, 1);
	CHECK_EQ_INT(rc.r[1]->why, TCP_CLOSE_EVICT);
	feed_ep(t, 4, CLI4, 1004, SRV4, 2379, 1, 1, CAP_TH_ACK, "d", 5);
	CHECK_EQ_INT(rc.r[0]->closes, 1);
	CHECK_EQ_INT(rc.r[0]->why, TCP_CLOSE_EVICT);
	CHECK_EQ_INT(rc.r[2]->closes, 0);
	struct tcp_stats st;
	tcp_table_get_stats(t, &st);
	CHECK_EQ_INT(st.evicted, 2);
	tcp_table_finish(t, 10);
	CHECK_EQ_INT(rc.r[2]->closes + rc.r[3]->closes, 2);
	for (int i = 0; i < rc.n; i++)
		CHECK_EQ_INT(rc.r[i]->after_close, 0);
	tcp_table_free(t);
	rec_free(&rc);
}

static void test_idle(void)
{
	struct recorder rc;
	struct tcp_config cfg = { .server_ports = etcd_port, .n_server_ports = 1, .idle_us = 1000 };
	struct tcp_table *t = mk_table(&rc, &cfg);
	feed_ep(t, 4, CLI4, 1001, SRV4, 2379, 1, 1, CAP_TH_ACK, "a", 0);
	feed_ep(t, 4, CLI4, 1002, SRV4, 2379, 1, 1, CAP_TH_ACK, "b", 1500);
	tcp_table_expire(t, 1000); /* idle exactly idle_us: kept */
	CHECK_EQ_INT(rc.r[0]->closes, 0);
	tcp_table_expire(t, 1800);
	CHECK_EQ_INT(rc.r[0]->closes, 1);
	CHECK_EQ_INT(rc.r[0]->why, TCP_CLOSE_IDLE);
	CHECK_EQ_INT(rc.r[1]->closes, 0);
	tcp_table_expire(t, 2500);
	CHECK_EQ_INT(rc.r[1]->closes, 0);
	tcp_table_expire(t, 2501);
	CHECK_EQ_INT(rc.r[1]->closes, 1);
	CHECK_EQ_INT(rc.r[1]->why, TCP_CLOSE_IDLE);
	/* expired and forgotten: the next segment adopts a fresh connection */
	feed_ep(t, 4, CLI4, 1001, SRV4, 2379, 2, 1, CAP_TH_ACK, "z", 3000);
	CHECK_EQ_INT(rc.n, 3);
	tcp_table_finish(t, 4000);
	CHECK_EQ_INT(rc.r[2]->why, TCP_CLOSE_END);
	tcp_table_free(t);
	rec_free(&rc);
}

static void test_null_callbacks(void)
{
	struct tcp_config cfg = { .server_ports = etcd_port, .n_server_ports = 1 };
	struct tcp_callbacks cb = { 0 };
	struct tcp_table *t = tcp_table_new(&cfg, &cb);
	handshake(t, 0, 0);
	feed(t, true, 1, 1, CAP_TH_ACK, "abc", 3, 0);
	feed(t, true, 10, 1, CAP_TH_ACK, "abc", 3, 0);
	tcp_table_finish(t, now_ts);
	struct tcp_stats st;
	tcp_table_get_stats(t, &st);
	CHECK_EQ_INT(st.bytes, 6);
	CHECK_EQ_INT(st.gap_bytes, 6);
	tcp_table_free(t);
}

/* xorshift64*: reproducible randomness */
static uint64_t rng_state;
static uint32_t rnd(uint32_t n)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 2685821657736338717ull) >> 33) % n;
}

struct rseg {
	uint32_t off, len;
};

static void test_random_stream(void)
{
	const uint32_t total = 200 * 1024;
	uint8_t *d = mk_pattern(total);
	static const uint32_t isns[] = { 12345, 0xFFFF0000u, 0x7FFFFFF0u };
	for (int round = 0; round < 6; round++) {
		rng_state = 0x9E3779B97F4A7C15ull + (uint64_t)round * 7919;
		uint32_t isn = isns[round % 3];
		struct rseg *segs = malloc(sizeof *segs * total);
		size_t n = 0;
		for (uint32_t off = 0; off < total;) {
			uint32_t len = 1 + rnd(3000);
			if (len > total - off)
				len = total - off;
			segs[n++] = (struct rseg){ off, len };
			/* some duplicates, some overlapping re-cuts */
			if (rnd(10) == 0)
				segs[n++] = (struct rseg){ off, len };
			if (rnd(10) == 0 && off > 100) {
				uint32_t back = 1 + rnd(100);
				segs[n++] = (struct rseg){ off - back, back + len / 2 };
			}
			off += len;
		}
		/* shuffle within a window of 8 */
		for (size_t i = 0; i + 1 < n; i++) {
			size_t j = i + rnd(8);
			if (j >= n)
				j = n - 1;
			struct rseg tmp = segs[i];
			segs[i] = segs[j];
			segs[j] = tmp;
		}
		struct recorder rc;
		struct tcp_table *t = mk_table(&rc, NULL);
		handshake(t, isn, isn ^ 0x55555555u);
		/* each side acknowledges only the other's first byte: a receiver never
		 * acknowledges a hole that is later filled by a retransmission */
		uint32_t cbase = isn + 1, sbase = (isn ^ 0x55555555u) + 1;
		for (size_t i = 0; i < n; i++) {
			bool c2s = rnd(2);
			feed(t, c2s, (c2s ? cbase : sbase) + segs[i].off, c2s ? sbase : cbase,
			     CAP_TH_ACK, d + segs[i].off, segs[i].len, 0);
		}
		/* whichever direction lost a segment to the coin flip: resend everything */
		for (size_t i = 0; i < n; i++) {
			feed(t, true, cbase + segs[i].off, sbase, CAP_TH_ACK, d + segs[i].off,
			     segs[i].len, 0);
			feed(t, false, sbase + segs[i].off, cbase, CAP_TH_ACK, d + segs[i].off,
			     segs[i].len, 0);
		}
		struct rec *r = rc.r[0];
		CHECK_EQ_INT(r->n[0], total);
		CHECK_EQ_INT(r->n[1], total);
		CHECK(r->n[0] == total && !memcmp(r->buf[0], d, total));
		CHECK(r->n[1] == total && !memcmp(r->buf[1], d, total));
		CHECK_EQ_INT(r->ngaps[0] + r->ngaps[1], 0);
		tcp_table_finish(t, now_ts);
		CHECK_EQ_INT(r->ngaps[0] + r->ngaps[1], 0);
		CHECK_EQ_INT(r->closes, 1);
		tcp_table_free(t);
		rec_free(&rc);
		free(segs);
	}
	/* the same with real loss: every delivered byte is right, bytes + gaps = the stream */
	rng_state = 42;
	struct recorder rc;
	struct tcp_table *t = mk_table(&rc, NULL);
	handshake(t, 0xFFFFF000u, 1);
	uint32_t lost = 0;
	struct rseg win[8];
	int nw = 0;
	for (uint32_t off = 0; off < total;) {
		uint32_t len = 1 + rnd(3000);
		if (len > total - off)
			len = total - off;
		if (rnd(50) == 0 && off + len < total)
			lost += len; /* never sent; the final segment is always sent */
		else
			win[nw++] = (struct rseg){ off, len };
		off += len;
		if (nw == 8 || off == total) {
			for (int i = nw - 1; i > 0; i--) {
				int j = (int)rnd((uint32_t)i + 1);
				struct rseg tmp = win[i];
				win[i] = win[j];
				win[j] = tmp;
			}
			for (int i = 0; i < nw; i++)
				feed(t, true, 0xFFFFF001u + win[i].off, 0, CAP_TH_ACK, d + win[i].off,
				     win[i].len, 0);
			nw = 0;
		}
	}
	tcp_table_finish(t, now_ts);
	struct rec *r = rc.r[0];
	uint64_t gsum = 0;
	size_t pos = 0, di = 0;
	bool ok = true;
	for (int g = 0; g <= r->ngaps[0] && g < MAX_GAPS; g++) {
		size_t upto = g < r->ngaps[0] ? r->gap_at[0][g] : r->n[0];
		size_t run = upto - di;
		if (pos + run > total || memcmp(r->buf[0] + di, d + pos, run))
			ok = false;
		pos += run;
		di = upto;
		if (g < r->ngaps[0]) {
			pos += r->gap_len[0][g];
			gsum += r->gap_len[0][g];
		}
	}
	CHECK(r->ngaps[0] < MAX_GAPS);
	CHECK(ok);
	CHECK_EQ_INT(pos, total);
	CHECK_EQ_INT(gsum, lost);
	CHECK(lost > 0);
	tcp_table_free(t);
	rec_free(&rc);
	free(d);
}

int main(void)
{
	test_handshake_in_order();
	test_midstream();
	test_ooo_permutations();
	test_retrans_and_overlap();
	test_wraparound();
	test_hole_at_finish();
	test_ooo_limit();
	test_midstream_reordered();
	test_ooo_range_limit();
	test_ooo_append_cost();
	test_ooo_total_limit();
	test_acked_hole();
	test_truncated();
	test_rst();
	test_fin_and_reuse();
	test_fin_with_hole();
	test_fin_reordered();
	test_ignored_and_ipv6();
	test_any_port();
	test_evict();
	test_idle();
	test_null_callbacks();
	test_random_stream();
	return unit_summary("test_tcp");
}
