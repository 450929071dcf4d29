/* fuzz_tcp.c: libFuzzer target for src/tcp.c. The input is a small header and a list of
 * segment descriptors over two 4-tuples; every payload byte is taken from a fixed pattern
 * indexed by its sequence number, so the harness can check that each delivered byte is the
 * pattern byte at its stream position (positions advance by data and by gap sizes), that
 * nothing follows on_close, and that every opened connection is closed exactly once.
 * A direction adopted mid-stream (no SYN seen) starts at the lowest byte of its first
 * segments (tcp.c settles, TCP_ADOPT_*): the harness does not model that rule, it finds the
 * start by locating the first delivered bytes in the pattern, then checks every later byte.
 *
 *   header (9 bytes):  base_seq[endpoint 0] (be32) | base_seq[endpoint 1] (be32) | config
 *   descriptor (8):    flags | seq offset (be16) | len (be16) | ack offset (be16) | cut
 *   flags: 0x01 sender is the server endpoint, 0x02 SYN, 0x04 FIN, 0x08 RST, 0x10 ACK,
 *          0x20 second tuple, 0x40 truncated by snaplen, 0x80 advance the clock and expire
 *   config: 0x01 any_port, 0x02 max_conns 1, 0x04 idle 100 us, 0x08 seq offsets x32 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tcp.h"

#define FZ_MAX_LEN 4095
#define FZ_PAT_LEN (65536u * 32 + FZ_MAX_LEN + 2)
#define FZ_MAX_CONNS 4096

static uint8_t *fz_pat[2]; /* per sending endpoint */
static uint32_t fz_base[2];

/* What the harness knows of one adopted connection. */
struct fz_conn {
	int tuple;
	int sender[2];   /* endpoint index sending in TCP_C2S, TCP_S2C */
	bool init[2];
	bool unknown[2]; /* mid-stream: the start is found from the first bytes delivered */
	uint32_t pos[2]; /* sequence number of the next byte expected from tcp.c */
	bool closed;
};

static struct fz_conn *fz_live[2];
static struct fz_conn *fz_all[FZ_MAX_CONNS];
static int fz_n;
static const struct cap_packet *fz_cur;
static int fz_cur_sender, fz_cur_tuple;

static void fz_fail(void) { __builtin_trap(); }

/* Mirrors tcp.c's rule for where a direction's stream starts: at the first segment the
 * connection sees from that side (after its SYN), or at the ack of a SYN-ACK. */
static void fz_apply_init(struct fz_conn *c, const struct cap_packet *p, int sender)
{
	if (p->flags & CAP_TH_RST)
		return;
	int dir = c->sender[TCP_C2S] == sender ? TCP_C2S : TCP_S2C;
	uint32_t ds = p->seq + ((p->flags & CAP_TH_SYN) ? 1 : 0);
	if ((p->flags & CAP_TH_SYN) && (p->flags & CAP_TH_ACK) && !c->init[!dir]) {
		c->init[!dir] = true;
		c->pos[!dir] = p->ack;
	}
	if (!c->init[dir]) {
		c->init[dir] = true;
		c->pos[dir] = ds;
		c->unknown[dir] = !(p->flags & CAP_TH_SYN);
	}
}

/* Finds where p (n >= 8 bytes) sits in sender s's pattern; false when nowhere. */
static bool fz_locate(int s, const uint8_t *p, size_t n, uint32_t *seq)
{
	size_t m = n < 32 ? n : 32;
	for (uint32_t idx = 0; idx + m <= FZ_PAT_LEN; idx++)
		if (fz_pat[s][idx] == p[0] && !memcmp(fz_pat[s] + idx, p, m)) {
			*seq = idx + fz_base[s];
			return true;
		}
	return false;
}

static void *fz_open(void *ctx, const struct tcp_conn_info *ci, ee_ts ts)
{
	if (fz_n >= FZ_MAX_CONNS)
		fz_fail();
	struct fz_conn *c = calloc(1, sizeof *c);
	c->tuple = fz_cur_tuple;
	c->sender[TCP_C2S] = ci->cli_port == 2379 ? 1 : 0;
	c->sender[TCP_S2C] = !c->sender[TCP_C2S];
	fz_apply_init(c, fz_cur, fz_cur_sender);
	fz_all[fz_n++] = c;
	fz_live[c->tuple] = c;
	return c;
}

static void fz_data(void *ctx, void *user, enum tcp_dir dir, const uint8_t *p, size_t n, ee_ts ts)
{
	struct fz_conn *c = user;
	if (!c || c->closed || !c->init[dir] || n == 0)
		fz_fail();
	int s = c->sender[dir];
	if (c->unknown[dir]) {
		if (n < 8)
			return; /* too short to place: the next delivery will be */
		if (!fz_locate(s, p, n, &c->pos[dir]))
			fz_fail();
		c->unknown[dir] = false;
	}
	for (size_t i = 0; i < n; i++) {
		uint32_t idx = c->pos[dir] + (uint32_t)i - fz_base[s];
		if (idx >= FZ_PAT_LEN || p[i] != fz_pat[s][idx])
			fz_fail();
	}
	c->pos[dir] += (uint32_t)n;
}

static void fz_gap(void *ctx, void *user, enum tcp_dir dir, uint64_t missing, ee_ts ts)
{
	struct fz_conn *c = user;
	if (!c || c->closed || !c->init[dir] || missing == 0 || missing > UINT32_MAX)
		fz_fail();
	if (!c->unknown[dir])
		c->pos[dir] += (uint32_t)missing;
}

static void fz_close(void *ctx, void *user, enum tcp_close_reason why, ee_ts ts)
{
	struct fz_conn *c = user;
	if (!c || c->closed || why > TCP_CLOSE_END)
		fz_fail();
	c->closed = true;
	if (fz_live[c->tuple] == c)
		fz_live[c->tuple] = NULL;
}

static uint32_t be16(const uint8_t *p) { return (uint32_t)p[0] << 8 | p[1]; }
static uint32_t be32(const uint8_t *p) { return be16(p) << 16 | be16(p + 2); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!fz_pat[0]) {
		for (int s = 0; s < 2; s++) {
			fz_pat[s] = malloc(FZ_PAT_LEN);
			uint32_t x = 0x12345678u + (uint32_t)s;
			for (uint32_t i = 0; i < FZ_PAT_LEN; i++) {
				x ^= x << 13;
				x ^= x >> 17;
				x ^= x << 5;
				fz_pat[s][i] = (uint8_t)x;
			}
		}
	}
	if (size < 9)
		return 0;
	fz_base[0] = be32(data);
	fz_base[1] = be32(data + 4);
	uint8_t cf = data[8];
	data += 9;
	size -= 9;

	static const uint16_t port[] = { 2379 };
	struct tcp_config cfg = {
		.server_ports = port,
		.n_server_ports = 1,
		.any_port = cf & 1,
		.max_conns = (cf & 2) ? 1 : 0,
		.idle_us = (cf & 4) ? 100 : 0,
	};
	struct tcp_callbacks cb = { NULL, fz_open, fz_data, fz_gap, fz_close };
	struct tcp_table *t = tcp_table_new(&cfg, &cb);
	if (!t)
		return 0;
	fz_n = 0;
	fz_live[0] = fz_live[1] = NULL;
	uint32_t scale = (cf & 8) ? 32 : 1;
	ee_ts ts = 1;
	static const uint8_t ip[2][16] = { { 10, 0, 0, 1 }, { 10, 0, 0, 2 } };

	for (; size >= 8; data += 8, size -= 8) {
		uint8_t f = data[0];
		int s = f & 1, tuple = (f >> 5) & 1;
		uint16_t cport = (uint16_t)(40000 + tuple);
		uint32_t off = be16(data + 1) * scale, len = be16(data + 3) & FZ_MAX_LEN;
		struct cap_packet p;
		memset(&p, 0, sizeof p);
		p.ts = ts++;
		p.af = 4;
		memcpy(p.src, ip[s], 16);
		memcpy(p.dst, ip[!s], 16);
		p.sport = s ? 2379 : cport;
		p.dport = s ? cport : 2379;
		p.seq = fz_base[s] + off;
		p.ack = fz_base[!s] + be16(data + 5) * scale;
		p.flags = (uint8_t)((f & 0x02 ? CAP_TH_SYN : 0) | (f & 0x04 ? CAP_TH_FIN : 0) |
				    (f & 0x08 ? CAP_TH_RST : 0) | (f & 0x10 ? CAP_TH_ACK : 0));
		uint32_t syn = (p.flags & CAP_TH_SYN) ? 1 : 0;
		p.payload = fz_pat[s] + off + syn;
		p.wire_len = len;
		p.len = (f & 0x40) ? (uint32_t)(len * data[7] / 255) : len;
		fz_cur = &p;
		fz_cur_sender = s;
		fz_cur_tuple = tuple;
		if (fz_live[tuple])
			fz_apply_init(fz_live[tuple], &p, s);
		tcp_table_feed(t, &p);
		if (f & 0x80) {
			ts += 60 + data[7];
			tcp_table_expire(t, ts);
		}
	}
	tcp_table_finish(t, ts);
	struct tcp_stats st;
	tcp_table_get_stats(t, &st);
	if (st.conns != (uint64_t)fz_n)
		fz_fail();
	for (int i = 0; i < fz_n; i++) {
		if (!fz_all[i]->closed)
			fz_fail();
		free(fz_all[i]);
	}
	tcp_table_free(t);
	return 0;
}
