/* tcp.c: TCP reassembly, second stage of the pipeline (DESIGN.md "tcp", contract in tcp.h).
 * Segments from capture/ go in; in-order byte runs, GAP marks and open/close events per
 * connection and direction come out to h2. Sequence numbers are compared modulo 2^32.
 *
 *   segment:  seq |<-- len captured -->|<-- wire_len - len cut by snaplen -->|
 *   stream:   ... delivered ... | next | hole | buffered ranges (sorted) | ...
 *
 * Connections live in a chained hash table keyed by the unordered pair of endpoints, and in a
 * list ordered by last activity (eviction and idle expiry take from its head). A closed
 * connection stays as a tombstone (no user state, no buffers) so that its trailing ACKs
 * and retransmissions are not adopted as a new mid-stream connection; only a new SYN on the
 * same 4-tuple (port reuse) replaces it. Tombstones count against max_conns and are the
 * first to go since they no longer see traffic. */
#include "tcp.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* Buffered out-of-order ranges per direction. Bounds the bookkeeping (and the range headers,
 * which TCP_OOO_MAX_BYTES does not count) when a peer sends many tiny segments: 1 MiB of
 * 1448-byte segments is ~730 ranges, so 8192 leaves room for small writes. */
#define TCP_OOO_MAX_RANGES 8192
/* Initial and largest bucket count of the connection hash (chained, grown by doubling when
 * the table holds as many connections as buckets). */
#define TCP_HASH_MIN_BUCKETS 1024u
#define TCP_HASH_MAX_BUCKETS (1u << 22)
/* A FIN tells where a direction's stream ends, but bytes before it may still arrive after it
 * (captures reorder: multi-queue NICs, `any` captures, merged files). A direction waits for
 * them; once both sides have sent their FIN, a connection idle this long (capture time) has
 * its remaining holes declared lost and is closed. 1 s is far beyond reordering on a host
 * yet short enough that records of the connection are not held back noticeably. */
#define TCP_FIN_WAIT_US 1000000
/* A direction adopted mid-stream (no SYN) starts at the lowest sequence number among its
 * first TCP_ADOPT_SEGMENTS segments, or those of its first TCP_ADOPT_US: a reordered capture
 * may show a later segment first, and starting there would drop the earlier bytes as
 * retransmissions (and with them, HPACK insertions that name every later stream). Segments
 * more than TCP_ADOPT_BACK bytes before the first one are old retransmissions. Nothing is
 * delivered while a direction settles; it is bounded by TCP_OOO_MAX_BYTES like any hole. */
#define TCP_ADOPT_SEGMENTS 16
/* An ACK from the receiver beyond a hole says the hole's bytes arrived there, so no
 * retransmission will fill it: the capture missed them (a kernel ring that overflowed).
 * Waiting for TCP_OOO_MAX_BYTES to pile up behind it holds memory and every record of the
 * connection; but a capture may also show an ACK before the data it acknowledges (`any`
 * captures, multi-queue NICs, merged files), so such a hole is declared lost once this many
 * more segments of the connection have passed without filling it. Reordering reaches a few
 * packets; 32 leaves a wide margin. */
#define TCP_ACKED_HOLE_SEGMENTS 32
#define TCP_ADOPT_US 20000
#define TCP_ADOPT_BACK (256u << 10)

/* One buffered range ahead of the next expected byte. missing = the bytes were cut by the
 * snaplen: the range is known lost and becomes a gap when reached. */
struct tcp_ooo {
	struct tcp_ooo *next, *prev;
	uint32_t seq, len;
	ee_ts ts;              /* arrival of the segment that brought it */
	bool missing;
	uint8_t data[];
};

/* One direction of a connection. */
struct tcp_half {
	uint32_t next;         /* next expected sequence number (valid when init) */
	uint32_t isn;          /* valid when syn */
	uint32_t fin_seq;      /* sequence number of the FIN (valid when fin_seen) */
	bool init, syn;
	bool settling;         /* adopted mid-stream: start not fixed yet (TCP_ADOPT_*) */
	uint32_t settle_n;     /* segments seen while settling */
	ee_ts settle_ts;       /* when settling began */
	bool fin_seen;         /* a FIN arrived: the stream ends at fin_seq */
	bool fin;              /* ... and every byte before it was delivered or declared lost */
	struct tcp_ooo *ooo;   /* sorted, non-overlapping, all ahead of next */
	struct tcp_ooo *ooo_tail; /* last of ooo (NULL when empty): after a lost segment, the
				   * later ones land at or near it (tcp_ooo_merge) */
	uint32_t ooo_bytes, ooo_n;
	uint64_t gap_pending;  /* lost bytes not yet reported: adjacent losses merge into one */
	bool hole_acked;       /* the peer acknowledged bytes past next while a hole was open */
	uint32_t hole_ack;     /* ... up to here (highest such ACK) */
	uint32_t hole_ack_segs;/* segments of the connection since (TCP_ACKED_HOLE_SEGMENTS) */
};

struct tcp_conn {
	struct tcp_conn *hnext;        /* hash chain */
	struct tcp_conn *lprev, *lnext;/* activity list, least recent first */
	uint64_t hash;
	struct tcp_conn_info info;
	void *user;
	struct tcp_half half[2];       /* indexed by enum tcp_dir (sender's direction) */
	ee_ts last_ts;
	bool closed;                   /* tombstone: on_close was called */
	bool rst;                      /* a RST was seen: closes once TCP_FIN_WAIT_US is idle */
	bool in_settle_list;
	struct tcp_conn *sprev, *snext;/* settling list, oldest settle start first */
	ee_ts settle_ts;               /* when the connection began settling */
};

struct tcp_table {
	struct tcp_config cfg;
	struct tcp_callbacks cb;
	struct tcp_conn **buckets;
	uint32_t nbuckets, count;
	struct tcp_conn *lru_head, *lru_tail;
	uint64_t next_id;
	ee_ts clock;                   /* latest timestamp seen: keeps the activity list sorted */
	uint64_t ooo_total;            /* out-of-order bytes held by all connections */
	struct tcp_conn *settle_head, *settle_tail; /* connections settling (TCP_ADOPT_US) */
	struct tcp_stats st;
};

/* Segment being processed: [s, e) in sequence space, bytes [s, cap_end) captured at p. */
struct tcp_seg {
	uint32_t s, e, cap_end;
	const uint8_t *p;
};

/* a < b modulo 2^32 (RFC 1982 serial number arithmetic). */
static bool seq_lt(uint32_t a, uint32_t b) { return (int32_t)(a - b) < 0; }
static bool seq_le(uint32_t a, uint32_t b) { return (int32_t)(a - b) <= 0; }

/* Hashes the unordered endpoint pair so both directions find the same connection. */
static uint64_t tcp_hash_pair(int af, const uint8_t a[16], uint16_t pa, const uint8_t b[16],
			      uint16_t pb)
{
	int c = memcmp(a, b, 16);
	if (c > 0 || (c == 0 && pa > pb)) {
		const uint8_t *tp = a;
		a = b;
		b = tp;
		uint16_t tq = pa;
		pa = pb;
		pb = tq;
	}
	/* Eight bytes at a time (a byte-wise FNV loop over the 37 bytes was ~3% of `count`):
	 * the table only needs a well-mixed 64-bit value; nothing depends on its order. */
	uint64_t w[4];
	memcpy(&w[0], a, 8);
	memcpy(&w[1], a + 8, 8);
	memcpy(&w[2], b, 8);
	memcpy(&w[3], b + 8, 8);
	uint64_t h = ((uint64_t)af << 32 | (uint64_t)pa << 16 | pb) * 0x9e3779b97f4a7c15ull;
	for (int i = 0; i < 4; i++) {
		h ^= w[i];
		h *= 0xff51afd7ed558ccdull;
		h ^= h >> 32;
	}
	return h ^ (h >> 29);
}

/* Creates a table; returns NULL when out of memory. The caller frees it with
 * tcp_table_free. */
struct tcp_table *tcp_table_new(const struct tcp_config *cfg, const struct tcp_callbacks *cb)
{
	struct tcp_table *t = calloc(1, sizeof *t);
	if (!t)
		return NULL;
	if (cfg)
		t->cfg = *cfg;
	if (cb)
		t->cb = *cb;
	if (t->cfg.max_conns == 0)
		t->cfg.max_conns = TCP_DEFAULT_MAX_CONNS;
	if (t->cfg.idle_us <= 0)
		t->cfg.idle_us = TCP_DEFAULT_IDLE_US;
	t->nbuckets = TCP_HASH_MIN_BUCKETS;
	t->buckets = calloc(t->nbuckets, sizeof *t->buckets);
	if (!t->buckets) {
		free(t);
		return NULL;
	}
	t->next_id = 1;
	t->clock = INT64_MIN;
	return t;
}

/* Doubles the bucket array; on allocation failure keeps the old one (longer chains). */
static void tcp_table_grow(struct tcp_table *t)
{
	if (t->nbuckets >= TCP_HASH_MAX_BUCKETS)
		return;
	uint32_t n = t->nbuckets * 2;
	struct tcp_conn **b = calloc(n, sizeof *b);
	if (!b)
		return;
	for (uint32_t i = 0; i < t->nbuckets; i++) {
		struct tcp_conn *c = t->buckets[i];
		while (c) {
			struct tcp_conn *nx = c->hnext;
			uint32_t k = (uint32_t)(c->hash & (n - 1));
			c->hnext = b[k];
			b[k] = c;
			c = nx;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->nbuckets = n;
}

/* Finds the connection of this packet's 4-tuple, either direction. */
static struct tcp_conn *tcp_table_lookup(struct tcp_table *t, const struct cap_packet *pkt,
					 uint64_t hash)
{
	for (struct tcp_conn *c = t->buckets[hash & (t->nbuckets - 1)]; c; c = c->hnext) {
		const struct tcp_conn_info *ci = &c->info;
		if (c->hash != hash || ci->af != pkt->af)
			continue;
		if (ci->cli_port == pkt->sport && ci->srv_port == pkt->dport &&
		    !memcmp(ci->cli_ip, pkt->src, 16) && !memcmp(ci->srv_ip, pkt->dst, 16))
			return c;
		if (ci->cli_port == pkt->dport && ci->srv_port == pkt->sport &&
		    !memcmp(ci->cli_ip, pkt->dst, 16) && !memcmp(ci->srv_ip, pkt->src, 16))
			return c;
	}
	return NULL;
}

/* Moves c to the most-recent end of the activity list. */
static void tcp_lru_touch(struct tcp_table *t, struct tcp_conn *c)
{
	if (t->lru_tail == c)
		return;
	if (c->lprev)
		c->lprev->lnext = c->lnext;
	else if (t->lru_head == c)
		t->lru_head = c->lnext;
	if (c->lnext)
		c->lnext->lprev = c->lprev;
	c->lprev = t->lru_tail;
	c->lnext = NULL;
	if (t->lru_tail)
		t->lru_tail->lnext = c;
	t->lru_tail = c;
	if (!t->lru_head)
		t->lru_head = c;
}

/* Reports the lost bytes accumulated in h, if any. */
static void tcp_half_flush_gap(struct tcp_table *t, struct tcp_conn *c, enum tcp_dir dir,
			       ee_ts ts)
{
	struct tcp_half *h = &c->half[dir];
	if (!h->gap_pending)
		return;
	uint64_t n = h->gap_pending;
	h->gap_pending = 0;
	t->st.gaps++;
	t->st.gap_bytes += n;
	if (t->cb.on_gap)
		t->cb.on_gap(t->cb.ctx, c->user, dir, n, ts);
}

/* Hands n in-order bytes to the upper layer, after any gap that precedes them. */
static void tcp_half_emit(struct tcp_table *t, struct tcp_conn *c, enum tcp_dir dir,
			  const uint8_t *p, uint32_t n, ee_ts ts)
{
	if (n == 0)
		return;
	tcp_half_flush_gap(t, c, dir, ts);
	t->st.bytes += n;
	if (t->cb.on_data)
		t->cb.on_data(t->cb.ctx, c->user, dir, p, n, ts);
}

/* Delivers the first buffered range (which starts at or before next) at time ts: its new
 * bytes go up, or become a pending gap when they were cut by the snaplen. */
static void tcp_half_consume_head(struct tcp_table *t, struct tcp_conn *c, enum tcp_dir dir,
				  ee_ts ts)
{
	struct tcp_half *h = &c->half[dir];
	struct tcp_ooo *x = h->ooo;
	/* Unlink first: the callback sees a consistent buffer. */
	h->ooo = x->next;
	if (h->ooo)
		h->ooo->prev = NULL;
	else
		h->ooo_tail = NULL;
	h->ooo_n--;
	if (!x->missing) {
		h->ooo_bytes -= x->len;
		t->ooo_total -= x->len;
	}
	uint32_t skip = h->next - x->seq;
	if (skip < x->len) {
		uint32_t n = x->len - skip;
		h->next = x->seq + x->len;
		if (x->missing)
			h->gap_pending += n;
		else
			tcp_half_emit(t, c, dir, x->data + skip, n, ts);
	}
	free(x);
}

/* Delivers everything contiguous with next: buffered ranges and the current segment (sg may
 * be NULL), taking the buffered copy where both cover a byte (the first copy wins). */
static void tcp_half_deliver(struct tcp_table *t, struct tcp_conn *c, enum tcp_dir dir,
			     const struct tcp_seg *sg, ee_ts ts)
{
	struct tcp_half *h = &c->half[dir];
	for (;;) {
		struct tcp_ooo *x = h->ooo;
		if (x && seq_le(x->seq, h->next)) {
			tcp_half_consume_head(t, c, dir, ts);
			continue;
		}
		if (sg && seq_le(sg->s, h->next) && seq_lt(h->next, sg->e)) {
			uint32_t lim = sg->e;
			if (x && seq_lt(x->seq, lim))
				lim = x->seq;
			if (seq_lt(h->next, sg->cap_end)) {
				uint32_t cend = seq_lt(lim, sg->cap_end) ? lim : sg->cap_end;
				uint32_t from = h->next;
				h->next = cend;
				tcp_half_emit(t, c, dir, sg->p + (from - sg->s), cend - from, ts);
			}
			if (seq_lt(h->next, lim)) {
				h->gap_pending += lim - h->next;
				h->next = lim;
			}
			continue;
		}
		return;
	}
}

/* Walks the buffer for range [s, e) and counts (or, with insert, stores) the parts that no
 * buffered range covers yet. p holds the bytes of [s, e), or is NULL for a missing range.
 * Returns the number of new bytes; *nranges gets the number of new ranges.
 * The walk starts at the last range that begins at or before s, found from the tail
 * backwards: after a lost segment, every later one lands at the tail (or, resent or
 * reordered, near it), so the cost per segment does not grow with the buffer (from the
 * head, it did: quadratic in the segments held behind a hole). */
static uint32_t tcp_ooo_merge(struct tcp_table *t, struct tcp_half *h, uint32_t s, uint32_t e,
			      const uint8_t *p, bool insert, uint32_t *nranges, ee_ts ts)
{
	struct tcp_ooo *prev = h->ooo_tail;
	while (prev && seq_lt(s, prev->seq)) {
		t->st.ooo_walk++;
		prev = prev->prev;
	}
	/* link: the pointer to the first range to look at; prev: the range before it */
	struct tcp_ooo **link = prev ? (prev->prev ? &prev->prev->next : &h->ooo) : &h->ooo;
	if (prev)
		prev = prev->prev;
	uint32_t cur = s, added = 0;
	*nranges = 0;
	while (seq_lt(cur, e)) {
		struct tcp_ooo *x = *link;
		if (x)
			t->st.ooo_walk++;
		if (x && seq_le(x->seq + x->len, cur)) {
			prev = x;
			link = &x->next;
			continue;
		}
		uint32_t end = e;
		if (x && seq_lt(x->seq, end))
			end = x->seq;
		if (!seq_lt(cur, end)) {
			/* cur is inside x: skip what x already holds. */
			cur = x->seq + x->len;
			prev = x;
			link = &x->next;
			continue;
		}
		uint32_t n = end - cur;
		added += n;
		(*nranges)++;
		if (insert) {
			struct tcp_ooo *nw = malloc(sizeof *nw + (p ? n : 0));
			if (nw) {
				nw->seq = cur;
				nw->len = n;
				nw->ts = ts;
				nw->missing = !p;
				if (p)
					memcpy(nw->data, p + (cur - s), n);
				nw->next = x;
				nw->prev = prev;
				*link = nw;
				if (x)
					x->prev = nw;
				else
					h->ooo_tail = nw;
				prev = nw;
				link = &nw->next;
				h->ooo_n++;
				if (p) {
					h->ooo_bytes += n;
					t->ooo_total += n;
					if (t->ooo_total > t->st.ooo_held_max)
						t->st.ooo_held_max = t->ooo_total;
				}
			}
		}
		cur = end;
	}
	return added;
}

/* May h buffer nb more bytes in nr more ranges? Within its own bounds and the table's. */
static bool tcp_ooo_fits(const struct tcp_table *t, const struct tcp_half *h, uint32_t nb,
			 uint32_t nr)
{
	return (uint64_t)h->ooo_bytes + nb <= TCP_OOO_MAX_BYTES &&
	       (uint64_t)h->ooo_n + nr <= TCP_OOO_MAX_RANGES &&
	       t->ooo_total + nb <= TCP_OOO_TOTAL_MAX_BYTES;
}

/* Declares the hole before the first buffered range lost and delivers the run after it,
 * each range with its own arrival time: no retransmission held those bytes back (the
 * receiver had them, or we give up waiting), so they are dated as they were seen. */
static void tcp_half_skip_hole(struct tcp_table *t, struct tcp_conn *c, enum tcp_dir dir,
			       ee_ts ts)
{
	struct tcp_half *h = &c->half[dir];
	if (!h->ooo)
		return;
	if (seq_lt(h->next, h->ooo->seq)) {
		h->gap_pending += h->ooo->seq - h->next;
		h->next = h->ooo->seq;
	}
	while (h->ooo && seq_le(h->ooo->seq, h->next))
		tcp_half_consume_head(t, c, dir, h->ooo->ts);
}

/* Delivers all buffered data, declaring every hole before it lost. */
static void tcp_half_flush(struct tcp_table *t, struct tcp_conn *c, enum tcp_dir dir, ee_ts ts)
{
	while (c->half[dir].ooo)
		tcp_half_skip_hole(t, c, dir, ts);
	tcp_half_flush_gap(t, c, dir, ts);
}

/* Places one segment's bytes: delivers what is in order, drops what was delivered, buffers
 * what is ahead of a hole; when the buffer limits would be exceeded, the oldest hole is
 * declared lost until the segment fits or becomes in order. */
static void settle_list_remove(struct tcp_table *t, struct tcp_conn *c)
{
	if (!c->in_settle_list)
		return;
	if (c->sprev)
		c->sprev->snext = c->snext;
	else
		t->settle_head = c->snext;
	if (c->snext)
		c->snext->sprev = c->sprev;
	else
		t->settle_tail = c->sprev;
	c->sprev = c->snext = NULL;
	c->in_settle_list = false;
}

/* Settle starts come in capture-time order, so the list stays sorted by appending. */
static void settle_list_append(struct tcp_table *t, struct tcp_conn *c, ee_ts ts)
{
	if (c->in_settle_list)
		return;
	c->settle_ts = ts;
	c->in_settle_list = true;
	c->sprev = t->settle_tail;
	c->snext = NULL;
	if (t->settle_tail)
		t->settle_tail->snext = c;
	else
		t->settle_head = c;
	t->settle_tail = c;
}

/* Ends the settling of a connection adopted mid-stream: each direction starts at the lowest
 * byte seen, and the bytes held are delivered with their own arrival times, the two
 * directions interleaved in arrival order (a request before its response), as if they had
 * never been held. Holes left stay open like any other. */
static void tcp_conn_settle(struct tcp_table *t, struct tcp_conn *c)
{
	struct tcp_half *hs[2] = {&c->half[TCP_C2S], &c->half[TCP_S2C]};
	settle_list_remove(t, c);
	if (!hs[0]->settling && !hs[1]->settling)
		return;
	hs[0]->settling = hs[1]->settling = false;
	for (;;) {
		int pick = -1;
		for (int d = 0; d < 2; d++) {
			const struct tcp_ooo *x = hs[d]->ooo;
			if (x && seq_le(x->seq, hs[d]->next) &&
			    (pick < 0 || x->ts < hs[pick]->ooo->ts))
				pick = d;
		}
		if (pick < 0)
			return;
		tcp_half_consume_head(t, c, (enum tcp_dir)pick, hs[pick]->ooo->ts);
	}
}

/* While settling: moves the start back to an earlier segment, and buffers the segment.
 * Returns false when the segment must take the normal path (settling over). */
static bool tcp_half_settling_segment(struct tcp_table *t, struct tcp_conn *c, enum tcp_dir dir,
				      const struct tcp_seg *sg, ee_ts ts)
{
	struct tcp_half *h = &c->half[dir];
	/* Nothing was delivered yet, so the start may move back; buffered ranges stay ahead
	 * of it. */
	if (seq_lt(sg->s, h->next) && h->next - sg->s <= TCP_ADOPT_BACK)
		h->next = sg->s;
	h->settle_n++;
	uint32_t r1, r2;
	uint32_t from = seq_lt(sg->s, h->next) ? h->next : sg->s;
	if (!seq_lt(from, sg->e) || h->settle_n > TCP_ADOPT_SEGMENTS ||
	    ts - h->settle_ts > TCP_ADOPT_US) {
		tcp_conn_settle(t, c);
		return false;
	}
	uint32_t cap_from = seq_lt(from, sg->cap_end) ? from : sg->cap_end;
	uint32_t nb = tcp_ooo_merge(t, h, cap_from, sg->cap_end, sg->p + (cap_from - sg->s), false, &r1, ts);
	t->st.retrans_bytes += (cap_from - sg->s) + (sg->cap_end - cap_from) - nb;
	(void)tcp_ooo_merge(t, h, sg->cap_end, sg->e, NULL, false, &r2, ts);
	if (!tcp_ooo_fits(t, h, nb, r1 + r2)) {
		tcp_conn_settle(t, c);
		return false;
	}
	tcp_ooo_merge(t, h, cap_from, sg->cap_end, sg->p + (cap_from - sg->s), true, &r1, ts);
	tcp_ooo_merge(t, h, sg->cap_end, sg->e, NULL, true, &r2, ts);
	return true;
}

static void tcp_half_segment(struct tcp_table *t, struct tcp_conn *c, enum tcp_dir dir,
			     const struct tcp_seg *sg, ee_ts ts)
{
	struct tcp_half *h = &c->half[dir];
	if (!h->init) {
		/* A pure ACK says where nothing starts: the first data segment does. */
		if (sg->s == sg->e)
			return;
		h->next = sg->s;
		h->init = true;
		if (!h->syn && !c->info.saw_syn) {
			h->settling = true;
			h->settle_n = 0;
			h->settle_ts = ts;
			settle_list_append(t, c, ts);
		}
	}
	struct tcp_seg clip;
	if (h->fin_seen && seq_lt(h->fin_seq, sg->e)) {
		/* Bytes after the FIN are not part of the stream. */
		clip = *sg;
		clip.e = seq_lt(sg->s, h->fin_seq) ? h->fin_seq : sg->s;
		if (seq_lt(clip.e, clip.cap_end))
			clip.cap_end = clip.e;
		sg = &clip;
	}
	if (sg->s == sg->e)
		return;
	if (h->settling && tcp_half_settling_segment(t, c, dir, sg, ts))
		return;
	bool counted = false;
	for (;;) {
		if (h->fin || seq_le(sg->e, h->next)) {
			/* Delivered already (or after this side's FIN: not stream data). */
			if (seq_le(sg->e, h->next))
				t->st.retrans_bytes += sg->e - sg->s;
			return;
		}
		if (seq_le(sg->s, h->next)) {
			t->st.retrans_bytes += h->next - sg->s;
			tcp_half_deliver(t, c, dir, sg, ts);
			return;
		}
		if (!counted) {
			t->st.ooo_segments++;
			counted = true;
		}
		uint32_t r1, r2;
		uint32_t nb = tcp_ooo_merge(t, h, sg->s, sg->cap_end, sg->p, false, &r1, ts);
		(void)tcp_ooo_merge(t, h, sg->cap_end, sg->e, NULL, false, &r2, ts);
		if (tcp_ooo_fits(t, h, nb, r1 + r2)) {
			uint32_t dup = (sg->cap_end - sg->s) - nb;
			t->st.retrans_bytes += dup;
			tcp_ooo_merge(t, h, sg->s, sg->cap_end, sg->p, true, &r1, ts);
			tcp_ooo_merge(t, h, sg->cap_end, sg->e, NULL, true, &r2, ts);
			return;
		}
		if (!h->ooo) {
			/* Larger than the whole buffer: the hole before it is lost. */
			h->gap_pending += sg->s - h->next;
			h->next = sg->s;
			continue;
		}
		tcp_half_skip_hole(t, c, dir, ts);
	}
}

/* Completes a direction whose FIN was seen once its stream reached fin_seq (or, with force,
 * declaring the holes still outstanding before it lost); the FIN consumes one sequence
 * number. */
static void tcp_half_fin_settle(struct tcp_table *t, struct tcp_conn *c, enum tcp_dir dir,
				bool force, ee_ts ts)
{
	struct tcp_half *h = &c->half[dir];
	if (!h->fin_seen || h->fin)
		return;
	if (!force && h->next != h->fin_seq)
		return;
	while (h->ooo && seq_lt(h->ooo->seq, h->fin_seq))
		tcp_half_skip_hole(t, c, dir, ts);
	if (seq_lt(h->next, h->fin_seq)) {
		h->gap_pending += h->fin_seq - h->next;
		h->next = h->fin_seq;
	}
	if (h->next == h->fin_seq)
		h->next = h->fin_seq + 1;
	h->fin = true;
	tcp_half_flush_gap(t, c, dir, ts);
}

/* This side's FIN at fin_seq. Buffered bytes after it are dropped; a hole before it stays
 * open (the bytes may arrive after the FIN in a reordered capture) until the direction
 * settles: its stream reaches fin_seq, the connection is closed, or both sides have sent
 * FIN and TCP_FIN_WAIT_US passed (tcp_table_expire). */
static void tcp_half_fin(struct tcp_table *t, struct tcp_conn *c, enum tcp_dir dir,
			 uint32_t fin_seq, ee_ts ts)
{
	struct tcp_half *h = &c->half[dir];
	if (h->fin_seen)
		return;
	tcp_conn_settle(t, c);
	if (!h->init) {
		h->next = fin_seq;
		h->init = true;
	}
	if (seq_lt(fin_seq, h->next))
		fin_seq = h->next; /* bytes past the FIN were delivered already: keep the stream */
	struct tcp_ooo **link = &h->ooo;
	while (*link) {
		struct tcp_ooo *x = *link;
		if (seq_lt(x->seq, fin_seq)) {
			if (seq_lt(fin_seq, x->seq + x->len)) {
				/* the bytes past fin_seq are not part of the stream */
				if (!x->missing) {
					h->ooo_bytes -= x->len - (fin_seq - x->seq);
					t->ooo_total -= x->len - (fin_seq - x->seq);
				}
				x->len = fin_seq - x->seq;
			}
			link = &x->next;
			continue;
		}
		*link = x->next;
		h->ooo_n--;
		if (!x->missing) {
			h->ooo_bytes -= x->len;
			t->ooo_total -= x->len;
		}
		free(x);
	}
	/* The ranges past the FIN are gone: relink what is kept. */
	h->ooo_tail = NULL;
	for (struct tcp_ooo *x = h->ooo; x; x = x->next) {
		x->prev = h->ooo_tail;
		h->ooo_tail = x;
	}
	h->fin_seen = true;
	h->fin_seq = fin_seq;
	tcp_half_fin_settle(t, c, dir, false, ts);
}

/* Flushes both directions and reports the close; c becomes a tombstone. */
static void tcp_conn_close(struct tcp_table *t, struct tcp_conn *c, enum tcp_close_reason why,
			   ee_ts ts)
{
	if (c->closed)
		return;
	tcp_conn_settle(t, c);
	tcp_half_fin_settle(t, c, TCP_C2S, true, ts);
	tcp_half_fin_settle(t, c, TCP_S2C, true, ts);
	tcp_half_flush(t, c, TCP_C2S, ts);
	tcp_half_flush(t, c, TCP_S2C, ts);
	c->closed = true;
	void *user = c->user;
	c->user = NULL;
	if (t->cb.on_close)
		t->cb.on_close(t->cb.ctx, user, why, ts);
}

/* Unlinks c from the hash and the activity list and frees it (no callback). */
static void tcp_conn_free(struct tcp_table *t, struct tcp_conn *c)
{
	settle_list_remove(t, c);
	struct tcp_conn **pp = &t->buckets[c->hash & (t->nbuckets - 1)];
	while (*pp && *pp != c)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = c->hnext;
	if (c->lprev)
		c->lprev->lnext = c->lnext;
	else
		t->lru_head = c->lnext;
	if (c->lnext)
		c->lnext->lprev = c->lprev;
	else
		t->lru_tail = c->lprev;
	for (int d = 0; d < 2; d++) {
		t->ooo_total -= c->half[d].ooo_bytes;
		struct tcp_ooo *x = c->half[d].ooo;
		while (x) {
			struct tcp_ooo *nx = x->next;
			free(x);
			x = nx;
		}
	}
	t->count--;
	free(c);
}

/* True when port is one of the configured server ports. */
static bool tcp_is_server_port(const struct tcp_table *t, uint16_t port)
{
	for (int i = 0; i < t->cfg.n_server_ports; i++)
		if (t->cfg.server_ports && t->cfg.server_ports[i] == port)
			return true;
	return false;
}

/* Formats "IP:PORT" (IPv6 in brackets) into buf. */
static void tcp_endpoint_str(int af, const uint8_t ip[16], uint16_t port, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN] = "?";
	if (af == 6) {
		inet_ntop(AF_INET6, ip, a, sizeof a);
		snprintf(buf, len, "[%s]:%u", a, (unsigned)port);
	} else {
		inet_ntop(AF_INET, ip, a, sizeof a);
		snprintf(buf, len, "%s:%u", a, (unsigned)port);
	}
}

/* Adopts a connection for pkt whose sender is the server when src_is_server. Evicts the least
 * recently active connection when the table is full. Returns NULL when out of memory. */
static struct tcp_conn *tcp_conn_adopt(struct tcp_table *t, const struct cap_packet *pkt,
				       uint64_t hash, bool src_is_server)
{
	while (t->count >= t->cfg.max_conns && t->lru_head) {
		struct tcp_conn *old = t->lru_head;
		if (!old->closed) {
			t->st.evicted++;
			tcp_conn_close(t, old, TCP_CLOSE_EVICT, pkt->ts);
		}
		tcp_conn_free(t, old);
	}
	struct tcp_conn *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	struct tcp_conn_info *ci = &c->info;
	ci->af = pkt->af;
	memcpy(ci->cli_ip, src_is_server ? pkt->dst : pkt->src, 16);
	memcpy(ci->srv_ip, src_is_server ? pkt->src : pkt->dst, 16);
	ci->cli_port = src_is_server ? pkt->dport : pkt->sport;
	ci->srv_port = src_is_server ? pkt->sport : pkt->dport;
	ci->id = t->next_id++;
	ci->saw_syn = (pkt->flags & CAP_TH_SYN) != 0;
	/* "[" 45-char IPv6 "]:" 5-digit port NUL = 54; two plus "-" fit the 112 of name. */
	char a[54], b[54];
	tcp_endpoint_str(ci->af, ci->cli_ip, ci->cli_port, a, sizeof a);
	tcp_endpoint_str(ci->af, ci->srv_ip, ci->srv_port, b, sizeof b);
	snprintf(ci->name, sizeof ci->name, "%s-%s", a, b);
	c->hash = hash;
	c->last_ts = pkt->ts;

	if (t->count >= t->nbuckets)
		tcp_table_grow(t);
	uint32_t k = (uint32_t)(hash & (t->nbuckets - 1));
	c->hnext = t->buckets[k];
	t->buckets[k] = c;
	t->count++;
	tcp_lru_touch(t, c);

	t->st.conns++;
	if (!ci->saw_syn)
		t->st.conns_midstream++;
	if (t->cb.on_open)
		c->user = t->cb.on_open(t->cb.ctx, ci, pkt->ts);
	return c;
}

/* Decides which endpoint of a new connection is the server. Returns false when the segment
 * is not ours (no or both ports are server ports). */
static bool tcp_pick_server(const struct tcp_table *t, const struct cap_packet *pkt,
			    bool *src_is_server)
{
	if (!t->cfg.any_port) {
		bool s = tcp_is_server_port(t, pkt->sport), d = tcp_is_server_port(t, pkt->dport);
		if (s == d)
			return false;
		*src_is_server = s;
		return true;
	}
	uint8_t sa = CAP_TH_SYN | CAP_TH_ACK;
	if ((pkt->flags & sa) == sa)
		*src_is_server = true;
	else if (pkt->flags & CAP_TH_SYN)
		*src_is_server = false;
	else
		*src_is_server = pkt->sport < pkt->dport;
	return true;
}

/* After a segment (sent in dir) of c: notes an ACK that covers a hole of the other direction,
 * and declares acknowledged holes lost once TCP_ACKED_HOLE_SEGMENTS segments passed. */
static void tcp_conn_acked_holes(struct tcp_table *t, struct tcp_conn *c, enum tcp_dir dir,
				 const struct cap_packet *pkt)
{
	for (int d = 0; d < 2; d++) {
		struct tcp_half *h = &c->half[d];
		if (h->hole_acked && (!h->ooo || !seq_lt(h->next, h->hole_ack)))
			h->hole_acked = false; /* filled, or declared lost some other way */
		if (d != (int)dir && (pkt->flags & CAP_TH_ACK) && h->init && !h->settling &&
		    !h->fin && h->ooo && seq_lt(h->next, pkt->ack)) {
			if (!h->hole_acked) {
				h->hole_acked = true;
				h->hole_ack = pkt->ack;
				h->hole_ack_segs = 0;
				continue;
			}
			if (seq_lt(h->hole_ack, pkt->ack))
				h->hole_ack = pkt->ack;
		}
		if (!h->hole_acked || ++h->hole_ack_segs < TCP_ACKED_HOLE_SEGMENTS)
			continue;
		t->st.acked_holes++;
		while (h->ooo && seq_lt(h->next, h->hole_ack))
			tcp_half_skip_hole(t, c, (enum tcp_dir)d, pkt->ts);
		h->hole_acked = false;
		tcp_half_flush_gap(t, c, (enum tcp_dir)d, pkt->ts);
	}
}

/* Applies one segment to its connection in direction dir. */
static void tcp_conn_segment(struct tcp_table *t, struct tcp_conn *c, enum tcp_dir dir,
			     const struct cap_packet *pkt, uint32_t wire_len)
{
	struct tcp_half *h = &c->half[dir];
	if (pkt->flags & CAP_TH_RST) {
		/* The sender's stream ends here, but bytes sent before the RST (either way) may
		 * come after it in a reordered capture: the connection closes once it has been
		 * idle TCP_FIN_WAIT_US (tcp_table_expire), like one where both sides sent FIN. */
		c->rst = true;
		if (h->init && !h->fin_seen && seq_le(h->next, pkt->seq) &&
		    pkt->seq - h->next <= TCP_ADOPT_BACK)
			tcp_half_fin(t, c, dir, pkt->seq, pkt->ts);
		return;
	}
	uint32_t s = pkt->seq;
	if (pkt->flags & CAP_TH_SYN) {
		if (!h->syn) {
			h->syn = true;
			h->isn = pkt->seq;
		}
		/* The SYN came after data in a reordered capture: the stream starts after it. */
		if (h->settling && seq_lt(pkt->seq + 1, h->next) &&
		    h->next - (pkt->seq + 1) <= TCP_ADOPT_BACK)
			h->next = pkt->seq + 1;
		if (!h->init) {
			h->next = pkt->seq + 1;
			h->init = true;
		}
		s = pkt->seq + 1;
		/* A SYN-ACK acknowledges the client's ISN + 1: the client stream starts there. */
		struct tcp_half *o = &c->half[!dir];
		if ((pkt->flags & CAP_TH_ACK) && !o->init) {
			o->next = pkt->ack;
			o->init = true;
		}
	}
	/* A direction still settling (mid-stream start) is released after TCP_ADOPT_US even
	 * when only the other direction carries traffic. */
	struct tcp_half *other = &c->half[!dir];
	if (other->settling && pkt->ts - other->settle_ts > TCP_ADOPT_US)
		tcp_conn_settle(t, c);
	struct tcp_seg sg = { .s = s, .e = s + wire_len, .cap_end = s + pkt->len, .p = pkt->payload };
	tcp_half_segment(t, c, dir, &sg, pkt->ts);
	if (pkt->flags & CAP_TH_FIN)
		tcp_half_fin(t, c, dir, sg.e, pkt->ts);
	tcp_half_fin_settle(t, c, dir, false, pkt->ts);
	tcp_half_flush_gap(t, c, dir, pkt->ts);
	tcp_conn_acked_holes(t, c, dir, pkt);
	if (c->half[0].fin && c->half[1].fin)
		tcp_conn_close(t, c, TCP_CLOSE_FIN, pkt->ts);
}

/* Feeds one segment (see tcp.h). */
void tcp_table_feed(struct tcp_table *t, const struct cap_packet *pkt)
{
	if ((pkt->af != 4 && pkt->af != 6) || (pkt->len > 0 && !pkt->payload)) {
		t->st.ignored++;
		return;
	}
	/* wire_len below len would be a capture bug; trust the bytes we hold. */
	uint32_t wire_len = pkt->wire_len < pkt->len ? pkt->len : pkt->wire_len;
	bool src_is_server = false;
	if (!t->cfg.any_port && !tcp_pick_server(t, pkt, &src_is_server)) {
		t->st.ignored++;
		return;
	}
	if (pkt->ts > t->clock)
		t->clock = pkt->ts;
	/* Connections whose settling time is over start now, even when they are quiet: the
	 * timeline stays in capture order across connections. */
	while (t->settle_head && t->clock - t->settle_head->settle_ts > TCP_ADOPT_US)
		tcp_conn_settle(t, t->settle_head);
	uint64_t hash = tcp_hash_pair(pkt->af, pkt->src, pkt->sport, pkt->dst, pkt->dport);
	struct tcp_conn *c = tcp_table_lookup(t, pkt, hash);
	if (c && (pkt->flags & CAP_TH_SYN) && !(pkt->flags & CAP_TH_RST)) {
		enum tcp_dir d = (c->info.cli_port == pkt->sport &&
				  !memcmp(c->info.cli_ip, pkt->src, 16)) ? TCP_C2S : TCP_S2C;
		const struct tcp_half *h = &c->half[d];
		bool same_syn = h->syn && h->isn == pkt->seq;
		if (!same_syn && (c->closed || c->half[0].fin_seen || c->half[1].fin_seen)) {
			/* Port reuse: the old connection is over, a new one starts. */
			tcp_conn_close(t, c, TCP_CLOSE_FIN, pkt->ts);
			tcp_conn_free(t, c);
			c = NULL;
		}
	}
	if (!c) {
		/* A lone RST or an empty FIN says nothing worth a new connection. */
		if ((pkt->flags & CAP_TH_RST) || ((pkt->flags & CAP_TH_FIN) && wire_len == 0))
			return;
		if (t->cfg.any_port)
			tcp_pick_server(t, pkt, &src_is_server);
		c = tcp_conn_adopt(t, pkt, hash, src_is_server);
		if (!c) {
			t->st.ignored++;
			return;
		}
	}
	t->st.segments++;
	c->last_ts = t->clock;
	tcp_lru_touch(t, c);
	if (c->closed)
		return;
	enum tcp_dir dir = (c->info.cli_port == pkt->sport && !memcmp(c->info.cli_ip, pkt->src, 16))
				   ? TCP_C2S
				   : TCP_S2C;
	tcp_conn_segment(t, c, dir, pkt, wire_len);
}

/* Closes (TCP_CLOSE_IDLE) and drops connections idle for more than idle_us before now. The
 * activity list is sorted by last_ts, so the walk stops at the first active one. */
void tcp_table_expire(struct tcp_table *t, ee_ts now)
{
	while (t->lru_head && now - t->lru_head->last_ts > t->cfg.idle_us) {
		struct tcp_conn *c = t->lru_head;
		tcp_conn_close(t, c, TCP_CLOSE_IDLE, now);
		tcp_conn_free(t, c);
	}
	/* Mid-stream connections that stopped talking while settling start now. */
	while (t->settle_head && now - t->settle_head->settle_ts > TCP_ADOPT_US)
		tcp_conn_settle(t, t->settle_head);
	/* Both sides sent FIN but a hole before a FIN was never filled: give up on it. */
	for (struct tcp_conn *c = t->lru_head; c && now - c->last_ts > TCP_FIN_WAIT_US;) {
		struct tcp_conn *next = c->lnext;
		if (!c->closed && (c->rst || (c->half[0].fin_seen && c->half[1].fin_seen))) {
			tcp_half_fin_settle(t, c, TCP_C2S, true, now);
			tcp_half_fin_settle(t, c, TCP_S2C, true, now);
			tcp_conn_close(t, c, c->rst ? TCP_CLOSE_RST : TCP_CLOSE_FIN, now);
		}
		c = next;
	}
}

void tcp_table_foreach(struct tcp_table *t, void (*fn)(void *ctx, void *user), void *ctx)
{
	for (struct tcp_conn *c = t->lru_head; c; c = c->lnext)
		if (!c->closed && c->user)
			fn(ctx, c->user);
}

/* Flushes and closes every connection with TCP_CLOSE_END; the table is empty afterwards. */
void tcp_table_finish(struct tcp_table *t, ee_ts now)
{
	while (t->lru_head) {
		struct tcp_conn *c = t->lru_head;
		tcp_conn_close(t, c, TCP_CLOSE_END, now);
		tcp_conn_free(t, c);
	}
}

void tcp_table_get_stats(const struct tcp_table *t, struct tcp_stats *st)
{
	*st = t->st;
}

/* Frees the table and every connection without calling back: call tcp_table_finish first
 * to close connections properly. */
void tcp_table_free(struct tcp_table *t)
{
	if (!t)
		return;
	while (t->lru_head)
		tcp_conn_free(t, t->lru_head);
	free(t->buckets);
	free(t);
}
