/* test_link.c: differential test of the frame decoder (capture/link.c) against the
 * reference copy of the decoder it replaced (link_ref.h). Same return code and the same
 * struct cap_packet, byte for byte, for: every frame of every pcaps/ capture (under its own
 * link type at every cut through the headers, and whole under every link type), synthetic
 * frames of every link type (VLAN stacks, QinQ, IPv4 options/fragments/odd lengths, IPv6
 * extension chains/fragments/odd lengths, TCP options, bad data offsets) at every cut with
 * several wire lengths, and seeded random mutations of those. Each frame is decoded from an
 * exact-size heap copy, so ASan sees any read past the captured bytes. */
#include <pcap/pcap.h>

#include "capture.h"
#include "frame_build.h"
#include "pcaps_frames.h"
#include "link_ref.h"
#include "unit.h"

static const int DLTS[] = {DLT_EN10MB, DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_NULL, DLT_LOOP,
			   DLT_RAW,    101,           DLT_IPV4,       DLT_IPV6, 105, 9999};
#define NDLTS ((int)(sizeof DLTS / sizeof DLTS[0]))

static long compared, mismatches, rc_seen[16];

/* Decodes data[0..caplen) with both decoders and compares everything. */
static void diff_one(int dlt, const uint8_t *data, uint32_t caplen, uint32_t wirelen,
		     const char *what)
{
	uint8_t *copy = malloc(caplen ? caplen : 1);
	if (caplen)
		memcpy(copy, data, caplen);
	const uint8_t *frame = caplen || (wirelen & 1) ? copy : NULL; /* NULL and empty both */
	struct cap_packet a, b;
	memset(&a, 0xa5, sizeof a);
	memset(&b, 0x5a, sizeof b);
	int ra = ref_capture_decode_frame(dlt, frame, caplen, wirelen, &a);
	int rb = capture_decode_frame(dlt, frame, caplen, wirelen, &b);
	compared++;
	rc_seen[ra > 0 || ra < -14 ? 15 : -ra]++;
	bool same = ra == rb && a.ts == b.ts && a.af == b.af && !memcmp(a.src, b.src, 16) &&
		    !memcmp(a.dst, b.dst, 16) && a.sport == b.sport && a.dport == b.dport &&
		    a.seq == b.seq && a.ack == b.ack && a.flags == b.flags &&
		    a.payload == b.payload && a.len == b.len && a.wire_len == b.wire_len &&
		    !memcmp(&a, &b, sizeof a); /* padding included: both clear the whole struct */
	if (!same) {
		if (mismatches < 10)
			fprintf(stderr,
				"test_link: MISMATCH %s dlt %d caplen %u wire %u: rc %d/%d af %d/%d "
				"ports %u,%u/%u,%u len %u/%u wire_len %u/%u\n",
				what, dlt, caplen, wirelen, ra, rb, a.af, b.af, a.sport, a.dport,
				b.sport, b.dport, a.len, b.len, a.wire_len, b.wire_len);
		mismatches++;
	}
	free(copy);
}

/* Every cut through the first `upto` bytes and the whole frame, each with the wire length
 * of the whole frame (a snaplen cut), of the cut (a short frame), and a bit more. */
static void diff_cuts(int dlt, const uint8_t *data, uint32_t n, uint32_t wire, uint32_t upto,
		      const char *what)
{
	uint32_t top = n < upto ? n : upto;
	for (uint32_t c = 0; c <= top; c++) {
		diff_one(dlt, data, c, wire, what);
		diff_one(dlt, data, c, c, what);
		diff_one(dlt, data, c, c + 7, what);
	}
	if (n > top) {
		diff_one(dlt, data, n, wire, what);
		diff_one(dlt, data, n, n, what);
		diff_one(dlt, data, n, n + 70000, what);
	}
}

/* ---- synthetic frames ---- */

/* struct frame and its appenders: frame_build.h */

/* TCP header with data offset doff (whatever the bytes that follow), options bytes of
 * NOP/garbage to fill doff*4 when doff > 5, then plen payload bytes. */
static void put_tcp(struct frame *f, uint8_t doff, uint32_t plen)
{
	put16(f, 51234);
	put16(f, 2379);
	put32(f, 0x01020304);
	put32(f, 0xa0b0c0d0);
	put8(f, (uint8_t)(doff << 4 | 0x0f));
	put8(f, 0x18);
	put16(f, 65535);
	put32(f, 0xdeadbeef);
	if (doff > 5)
		putn(f, 1, (size_t)(doff - 5) * 4);
	for (uint32_t i = 0; i < plen; i++)
		put8(f, (uint8_t)('a' + i % 26));
}

/* One L3 variant: v4 or v6 header, odd fields, TCP with doff/payload. */
struct l3 {
	int v;          /* 4 or 6 (written as the version nibble: ver) */
	uint8_t ver;    /* version nibble written */
	uint8_t ihl;    /* v4 */
	int total;      /* v4 total / v6 payload length: -1 exact, else the value (0 = TSO) */
	int delta;      /* added to the exact length when total == -1 */
	uint16_t frag;  /* v4 */
	uint8_t proto;  /* v4 proto / v6 first next header */
	const uint8_t *ext; /* v6: chain of (nh, elen) pairs, ended by 255 */
	uint8_t doff;
	uint32_t plen;
};

static void build_l3(struct frame *f, const struct l3 *v)
{
	uint32_t start = f->n;
	if (v->v == 4) {
		put8(f, (uint8_t)(v->ver << 4 | v->ihl));
		put8(f, 0);
		put16(f, 0); /* fixed below */
		put16(f, 0x1234);
		put16(f, v->frag);
		put8(f, 64);
		put8(f, v->proto);
		put16(f, 0xbeef);
		put32(f, 0x0a000001);
		put32(f, 0xc0a80102);
		if (v->ihl > 5)
			putn(f, 0x01, (size_t)(v->ihl - 5) * 4);
	} else {
		put32(f, (uint32_t)v->ver << 28 | 0x0abcdef);
		put16(f, 0);
		put8(f, v->proto);
		put8(f, 64);
		for (int i = 0; i < 32; i++)
			put8(f, (uint8_t)(0x20 + i));
		if (v->ext)
			for (const uint8_t *e = v->ext; e[0] != 255; e += 2) {
				/* e[0] is this header's Next Header field, e[1] its length */
				uint32_t size = e[1] * 8u + 8;
				put8(f, e[0]);
				put8(f, e[1]);
				putn(f, 0x00, size - 2);
			}
	}
	put_tcp(f, v->doff, v->plen);
	uint32_t exact = f->n - start - (v->v == 6 ? 40 : 0);
	uint32_t len = v->total >= 0 ? (uint32_t)v->total : (uint32_t)((int)exact + v->delta);
	f->b[start + (v->v == 4 ? 2 : 4)] = (uint8_t)(len >> 8);
	f->b[start + (v->v == 4 ? 3 : 5)] = (uint8_t)len;
}

/* Extension chains (Next Header, Hdr Ext Len ...; 255 ends). The IPv6 header's own Next
 * Header is l3.proto. Sizes are written as (len+1)*8 even for AH, so AH's (len+2)*4 reading
 * lands elsewhere: both decoders must agree on what follows. */
static const uint8_t EXT_HOP[] = {6, 0, 255};
static const uint8_t EXT_MANY[] = {60, 1, 43, 0, 60, 2, 6, 0, 255};
static const uint8_t EXT_AH[] = {6, 1, 255};   /* AH len 1: read as 12 bytes, written 16 */
static const uint8_t EXT_AH2[] = {6, 2, 255};  /* AH len 2: read as 16, written 24 */
static const uint8_t EXT_FRAG[] = {6, 0, 255}; /* used with proto 44 */
static const uint8_t EXT_BIG[] = {6, 200, 255};
static uint8_t ext_long[2 * 20 + 1];          /* 20 hop-by-hop/dst headers */

static struct l3 L3S[400];
static int nl3;

static void add(struct l3 v) { L3S[nl3++] = v; }

static void make_l3s(void)
{
	for (int i = 0; i < 20; i++) {
		ext_long[2 * i] = i == 19 ? 6 : 60;
		ext_long[2 * i + 1] = 0;
	}
	ext_long[40] = 255;
	struct l3 b4 = {.v = 4, .ver = 4, .ihl = 5, .total = -1, .frag = 0x4000, .proto = 6,
			.doff = 5, .plen = 10};
	static const uint8_t ihls[] = {0, 4, 5, 6, 8, 15};
	static const uint8_t doffs[] = {0, 4, 5, 6, 8, 15};
	static const uint32_t plens[] = {0, 1, 10, 100};
	static const int deltas[] = {0, -1, -10, -25, -35, 1, 100, 5000};
	static const int totals[] = {0, 1, 19, 20, 24, 39, 40, 60, 65535};
	static const uint16_t frags[] = {0, 0x4000, 0x2000, 0x0001, 0x1fff, 0x8000, 0x6001};
	for (size_t i = 0; i < sizeof ihls; i++)
		for (size_t j = 0; j < sizeof doffs; j++)
			for (size_t k = 0; k < sizeof plens / sizeof plens[0]; k++) {
				struct l3 v = b4;
				v.ihl = ihls[i];
				v.doff = doffs[j];
				v.plen = plens[k];
				add(v);
			}
	for (size_t i = 0; i < sizeof deltas / sizeof deltas[0]; i++)
		for (int d = 5; d <= 6; d++) {
			struct l3 v = b4;
			v.delta = deltas[i];
			v.doff = (uint8_t)d;
			add(v);
			v.ihl = 7;
			add(v);
		}
	for (size_t i = 0; i < sizeof totals / sizeof totals[0]; i++) {
		struct l3 v = b4;
		v.total = totals[i];
		add(v);
		v.ihl = 6;
		v.doff = 7;
		add(v);
	}
	for (size_t i = 0; i < sizeof frags / sizeof frags[0]; i++) {
		struct l3 v = b4;
		v.frag = frags[i];
		add(v);
	}
	for (int ver = 0; ver < 16; ver += 3) {
		struct l3 v = b4;
		v.ver = (uint8_t)ver;
		add(v);
	}
	{
		struct l3 v = b4;
		v.proto = 17;
		add(v);
		v.proto = 0;
		add(v);
	}
	/* IPv6 */
	struct l3 b6 = {.v = 6, .ver = 6, .total = -1, .proto = 6, .doff = 5, .plen = 10};
	for (size_t j = 0; j < sizeof doffs; j++)
		for (size_t k = 0; k < sizeof plens / sizeof plens[0]; k++) {
			struct l3 v = b6;
			v.doff = doffs[j];
			v.plen = plens[k];
			add(v);
		}
	for (size_t i = 0; i < sizeof deltas / sizeof deltas[0]; i++) {
		struct l3 v = b6;
		v.delta = deltas[i];
		add(v);
		v.proto = 0;
		v.ext = EXT_MANY;
		add(v);
	}
	for (size_t i = 0; i < sizeof totals / sizeof totals[0]; i++) {
		struct l3 v = b6;
		v.total = totals[i];
		add(v);
		v.proto = 0;
		v.ext = EXT_HOP;
		add(v);
		v.total = totals[i] < 20 ? totals[i] : totals[i] % 7;
		add(v);
	}
	static const struct {
		uint8_t proto;
		const uint8_t *ext;
	} chains[] = {
		{0, EXT_HOP},  {60, EXT_HOP},   {43, EXT_HOP},   {0, EXT_MANY}, {51, EXT_AH},
		{51, EXT_AH2}, {44, EXT_FRAG},  {0, EXT_BIG},    {60, ext_long}, {50, EXT_HOP},
		{59, EXT_HOP}, {17, NULL},      {58, NULL},      {135, EXT_HOP}, {0, ext_long + 10},
		{0, ext_long + 8}, {0, ext_long + 6}, {0, ext_long + 12},
	};
	for (size_t i = 0; i < sizeof chains / sizeof chains[0]; i++)
		for (int d = 0; d < 3; d++) {
			struct l3 v = b6;
			v.proto = chains[i].proto;
			v.ext = chains[i].ext;
			v.delta = d == 0 ? 0 : d == 1 ? -12 : 30;
			v.doff = d == 2 ? 9 : 5;
			add(v);
		}
	for (int ver = 0; ver < 16; ver += 5) {
		struct l3 v = b6;
		v.ver = (uint8_t)ver;
		add(v);
	}
}

/* Link variants: a dlt and the bytes before the L3 header (which may claim v4, v6 or
 * something else whatever follows). */
struct link {
	int dlt;
	uint8_t h[64];
	uint32_t n;
};

static struct link LINKS[200];
static int nlinks;

static void add_link(int dlt, const uint8_t *h, uint32_t n)
{
	LINKS[nlinks].dlt = dlt;
	if (n)
		memcpy(LINKS[nlinks].h, h, n);
	LINKS[nlinks].n = n;
	nlinks++;
}

static void make_links(void)
{
	static const uint16_t types[] = {0x0800, 0x86dd, 0x0806, 0x05ff, 0x0600, 0x0000};
	static const uint16_t tpids[] = {0x8100, 0x88a8, 0x9100};
	struct frame f;
	for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
		/* Ethernet, no tag, 1, 2 (QinQ), 8 and 9 tags */
		static const int depths[] = {0, 1, 2, 7, 8, 9};
		for (size_t d = 0; d < sizeof depths / sizeof depths[0]; d++) {
			f.n = 0;
			putn(&f, 0xee, 12);
			for (int k = 0; k < depths[d]; k++) {
				put16(&f, tpids[(k + t) % 3]);
				put16(&f, (uint16_t)(0x0064 + k));
			}
			put16(&f, types[t]);
			add_link(DLT_EN10MB, f.b, f.n);
		}
		/* SLL: proto at 14; with one tag too */
		for (int tag = 0; tag < 3; tag++) {
			f.n = 0;
			put16(&f, 0);
			put16(&f, 772);
			put16(&f, 6);
			putn(&f, 0x11, 8);
			for (int k = 0; k < tag; k++) {
				put16(&f, tpids[k]);
				put16(&f, 7);
			}
			put16(&f, types[t]);
			add_link(DLT_LINUX_SLL, f.b, f.n);
		}
		/* SLL2: proto at 0; a tag after the 20 bytes */
		for (int tag = 0; tag < 2; tag++) {
			f.n = 0;
			put16(&f, tag ? 0x8100 : types[t]);
			put16(&f, 0);
			put32(&f, 3);
			put16(&f, 1);
			put8(&f, 0);
			put8(&f, 6);
			putn(&f, 0x22, 8);
			if (tag) {
				put16(&f, 9);
				put16(&f, types[t]);
			}
			add_link(DLT_LINUX_SLL2, f.b, f.n);
		}
	}
	static const uint32_t afs[] = {2, 24, 28, 30, 0, 10, 0x10000, 0xffffffff};
	for (size_t i = 0; i < sizeof afs / sizeof afs[0]; i++)
		for (int be = 0; be < 2; be++)
			for (int l = 0; l < 2; l++) {
				uint8_t h[4];
				for (int k = 0; k < 4; k++)
					h[k] = (uint8_t)(afs[i] >> (8 * (be ? 3 - k : k)));
				add_link(l ? DLT_LOOP : DLT_NULL, h, 4);
			}
	add_link(DLT_RAW, NULL, 0);
	add_link(101, NULL, 0);
	add_link(DLT_IPV4, NULL, 0);
	add_link(DLT_IPV6, NULL, 0);
	add_link(105, NULL, 0);
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void) { return (uint32_t)(unit_xorshift(&rng) >> 11); }

static void synthetic(void)
{
	make_l3s();
	make_links();
	static struct frame f;
	long before = compared;
	for (int i = 0; i < nlinks; i++)
		for (int j = 0; j < nl3; j++) {
			f.n = 0;
			memcpy(f.b, LINKS[i].h, LINKS[i].n);
			f.n = LINKS[i].n;
			build_l3(&f, &L3S[j]);
			/* the last header byte is at most 36 + 60 + 60 (v4) or 20 + 40 + 20*8 + 60
			 * bytes in: cuts through 300 cover every header, then a few payload cuts */
			diff_cuts(LINKS[i].dlt, f.b, f.n, f.n, 300, "synthetic");
		}
	printf("test_link: %d link headers x %d IP/TCP variants: %ld decodes compared\n", nlinks,
	       nl3, compared - before);
	/* seeded random mutations of the header bytes */
	before = compared;
	for (int it = 0; it < 300000; it++) {
		const struct link *lk = &LINKS[rnd() % (uint32_t)nlinks];
		f.n = 0;
		memcpy(f.b, lk->h, lk->n);
		f.n = lk->n;
		build_l3(&f, &L3S[rnd() % (uint32_t)nl3]);
		int flips = 1 + (int)(rnd() % 4);
		for (int k = 0; k < flips; k++) {
			uint32_t at = rnd() % (f.n < 160 ? f.n : 160);
			f.b[at] = rnd() % 3 ? (uint8_t)rnd() : (uint8_t)(f.b[at] ^ (1u << (rnd() % 8)));
		}
		uint32_t cut = rnd() % 4 ? f.n : rnd() % (f.n + 1);
		uint32_t wire = cut + (rnd() % 2 ? 0 : rnd() % 3000);
		int dlt = rnd() % 16 ? lk->dlt : DLTS[rnd() % NDLTS];
		diff_one(dlt, f.b, cut, wire, "mutated");
	}
	printf("test_link: random mutations: %ld decodes compared\n", compared - before);
}

/* ---- pcaps/ ---- */

static void capture_frame(void *ctx, const char *path, int dlt, const uint8_t *data,
			  uint32_t caplen, uint32_t len)
{
	diff_cuts(dlt, data, caplen, len, 200, path);
	for (int d = 0; d < NDLTS; d++)
		diff_one(DLTS[d], data, caplen, len, path);
}

static void captures(void)
{
	long before = compared;
	long frames = pcaps_each_frame(capture_frame, NULL);
	printf("test_link: pcaps/: %ld frames, %ld decodes compared\n", frames, compared - before);
	CHECK(frames > 1000);
}

int main(void)
{
	synthetic();
	captures();
	printf("test_link: %ld compared (rc 0: %ld, NOTTCP/MALFORMED/TRUNCATED/other: %ld/%ld/%ld/"
	       "%ld), %ld mismatches\n",
	       compared, rc_seen[0], rc_seen[-EE_NOTTCP], rc_seen[-EE_MALFORMED],
	       rc_seen[-EE_TRUNCATED], compared - rc_seen[0] - rc_seen[-EE_NOTTCP] -
	       rc_seen[-EE_MALFORMED] - rc_seen[-EE_TRUNCATED], mismatches);
	CHECK_EQ_INT(mismatches, 0);
	/* the inputs reach every outcome, or the comparison proves little */
	CHECK(rc_seen[0] > 10000 && rc_seen[-EE_NOTTCP] > 10000 && rc_seen[-EE_MALFORMED] > 10000 &&
	      rc_seen[-EE_TRUNCATED] > 10000);
	return unit_summary("test_link");
}
