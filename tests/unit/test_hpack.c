/* test_hpack.c: hpack/ against RFC 7541 Appendix C and against nghttp2's own deflater.
 * Exact mode and partial mode from the first block must agree field for field; partial mode
 * joined mid-connection must give the truth or say UNKNOWN, and learn() must close the gap. */
#include <nghttp2/nghttp2.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ee.h"
#include "hpack.h"
#include "huffman_table.h"
#include "unit.h"

/* ---- collecting decoded fields ---- */

#define MAX_FIELDS 256

struct fld {
	char *name, *value;
	size_t nlen, vlen;
	uint32_t flags;
	uint64_t id;
};

struct flist {
	struct fld f[MAX_FIELDS];
	int n;
};

static void flist_clear(struct flist *l)
{
	for (int i = 0; i < l->n; i++) {
		free(l->f[i].name);
		free(l->f[i].value);
	}
	l->n = 0;
}

static char *dupmem(const uint8_t *p, size_t n)
{
	char *s = malloc(n + 1);
	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

static void collect(void *ctx, const struct hpack_field *f)
{
	struct flist *l = ctx;
	if (l->n >= MAX_FIELDS)
		return;
	struct fld *o = &l->f[l->n++];
	o->name = dupmem(f->name, f->name_len);
	o->value = dupmem(f->value, f->value_len);
	o->nlen = f->name_len;
	o->vlen = f->value_len;
	o->flags = f->flags;
	o->id = f->unknown_id;
}

static bool fld_eq(const struct fld *a, const struct fld *b)
{
	return a->nlen == b->nlen && a->vlen == b->vlen && !memcmp(a->name, b->name, a->nlen) &&
	       !memcmp(a->value, b->value, a->vlen) && a->flags == b->flags;
}

static size_t unhex(const char *h, uint8_t *out, size_t cap)
{
	size_t n = 0;
	int hi = -1;
	for (; *h; h++) {
		int v;
		if (*h >= '0' && *h <= '9')
			v = *h - '0';
		else if (*h >= 'a' && *h <= 'f')
			v = *h - 'a' + 10;
		else
			continue;
		if (hi < 0) {
			hi = v;
		} else {
			if (n < cap)
				out[n++] = (uint8_t)(hi << 4 | v);
			hi = -1;
		}
	}
	return n;
}

/* Names the line of a counted mismatch when DBG is set in the environment. */
static void dbg(int line)
{
	if (getenv("DBG"))
		fprintf(stderr, "mismatch at line %d\n", line);
}

/* ---- Huffman ---- */

/* Test-side encoder built from the code lengths alone (canonical assignment). */
static uint32_t hcode[HUFF_NSYM];

static void huff_build_codes(void)
{
	uint32_t code = 0;
	unsigned prev = 0;
	for (int i = 0; i < HUFF_NSYM; i++) {
		unsigned s = huff_sorted[i];
		if (i)
			code = (code + 1) << (huff_len[s] - prev);
		prev = huff_len[s];
		hcode[s] = code;
	}
}

static size_t huff_encode(const uint8_t *in, size_t n, uint8_t *out, int eos)
{
	uint64_t acc = 0;
	unsigned nb = 0;
	size_t o = 0;
	for (size_t i = 0; i <= n; i++) {
		unsigned s = i < n ? in[i] : (eos ? HUFF_EOS : 1000);
		if (s == 1000)
			break;
		acc = acc << huff_len[s] | hcode[s];
		nb += huff_len[s];
		while (nb >= 8) {
			out[o++] = (uint8_t)(acc >> (nb - 8));
			nb -= 8;
		}
	}
	if (nb)
		out[o++] = (uint8_t)(acc << (8 - nb) | (0xffu >> nb));
	return o;
}

static void test_huffman(void)
{
	huff_build_codes();
	/* The canonical codes from the lengths are those of RFC 7541 Appendix B, e.g. */
	CHECK_EQ_INT(hcode['0'], 0x0);
	CHECK_EQ_INT(hcode['a'], 0x3);
	CHECK_EQ_INT(hcode[' '], 0x14);
	CHECK_EQ_INT(hcode[0], 0x1ff8);
	CHECK_EQ_INT(hcode[255], 0x3ffffee);
	CHECK_EQ_INT(hcode[HUFF_EOS], 0x3fffffff);

	/* RFC 7541 C.4.1: "www.example.com". */
	uint8_t want[32], buf[64];
	size_t wn = unhex("f1e3 c2e5 f23a 6ba0 ab90 f4ff", want, sizeof want);
	size_t en = huff_encode((const uint8_t *)"www.example.com", 15, buf, 0);
	CHECK(en == wn && !memcmp(buf, want, wn));
	uint8_t out[256];
	long got = hpack_huffman_decode(want, wn, out, sizeof out);
	CHECK_EQ_INT(got, 15);
	CHECK(got == 15 && !memcmp(out, "www.example.com", 15));

	/* Round trips of random octet strings, every symbol. */
	srand(7);
	int bad = 0;
	for (int t = 0; t < 2000; t++) {
		uint8_t in[64], enc[300], dec[64];
		size_t n = (size_t)(rand() % 64);
		for (size_t i = 0; i < n; i++)
			in[i] = (uint8_t)(t < 256 ? (t + (int)i) : rand());
		size_t e = huff_encode(in, n, enc, 0);
		long d = hpack_huffman_decode(enc, e, dec, sizeof dec);
		if (d != (long)n || memcmp(in, dec, n))
			bad++, dbg(__LINE__);
	}
	CHECK_EQ_INT(bad, 0);

	/* Padding: 8 ones (a whole extra 0xff), zero bits, and EOS are errors. */
	uint8_t p[40];
	memcpy(p, want, wn);
	p[wn] = 0xff;
	CHECK_EQ_INT(hpack_huffman_decode(p, wn + 1, out, sizeof out), EE_MALFORMED);
	p[wn - 1] = 0xfe; /* last octet "f4 ff": 'm' then 7 padding bits, one now zero */
	CHECK_EQ_INT(hpack_huffman_decode(p, wn, out, sizeof out), EE_MALFORMED);
	size_t ee = huff_encode((const uint8_t *)"ab", 2, p, 1);
	CHECK_EQ_INT(hpack_huffman_decode(p, ee, out, sizeof out), EE_MALFORMED);
	uint8_t ones[4] = {0xff, 0xff, 0xff, 0xff}; /* 30 ones = EOS, then 2 ones */
	CHECK_EQ_INT(hpack_huffman_decode(ones, 4, out, sizeof out), EE_MALFORMED);
	uint8_t one = 0xff; /* 8 ones: too much padding */
	CHECK_EQ_INT(hpack_huffman_decode(&one, 1, out, sizeof out), EE_MALFORMED);
	uint8_t pad7 = 0xfe; /* '0' is 00000: that is not padding */
	CHECK_EQ_INT(hpack_huffman_decode(&pad7, 1, out, sizeof out), EE_MALFORMED);
	uint8_t ok1 = 0x07; /* '0' (00000) + 3 ones of padding */
	CHECK_EQ_INT(hpack_huffman_decode(&ok1, 1, out, sizeof out), 1);
	CHECK_EQ_INT(hpack_huffman_decode(NULL, 0, out, sizeof out), 0);
	/* outcap too small */
	CHECK_EQ_INT(hpack_huffman_decode(want, wn, out, 14), EE_LIMIT);
}

/* ---- RFC 7541 Appendix C ---- */

struct hv {
	const char *n, *v;
};

static int check_block(struct hpack_decoder *d, const char *hex, const struct hv *want,
		       int nwant)
{
	uint8_t blk[512];
	size_t n = unhex(hex, blk, sizeof blk);
	struct flist l = {.n = 0};
	int rc = hpack_decode_block(d, blk, n, collect, &l);
	int ok = rc == nwant;
	for (int i = 0; ok && i < nwant; i++)
		ok = !strcmp(l.f[i].name, want[i].n) && !strcmp(l.f[i].value, want[i].v) &&
		     l.f[i].flags == 0;
	flist_clear(&l);
	return ok;
}

static const struct hv req1[] = {{":method", "GET"}, {":scheme", "http"}, {":path", "/"},
				  {":authority", "www.example.com"}};
static const struct hv req2[] = {{":method", "GET"}, {":scheme", "http"}, {":path", "/"},
				  {":authority", "www.example.com"}, {"cache-control", "no-cache"}};
static const struct hv req3[] = {{":method", "GET"}, {":scheme", "https"},
				  {":path", "/index.html"}, {":authority", "www.example.com"},
				  {"custom-key", "custom-value"}};
static const struct hv resp1[] = {{":status", "302"}, {"cache-control", "private"},
				   {"date", "Mon, 21 Oct 2013 20:13:21 GMT"},
				   {"location", "https://www.example.com"}};
static const struct hv resp2[] = {{":status", "307"}, {"cache-control", "private"},
				   {"date", "Mon, 21 Oct 2013 20:13:21 GMT"},
				   {"location", "https://www.example.com"}};
static const struct hv resp3[] = {
	{":status", "200"}, {"cache-control", "private"}, {"date", "Mon, 21 Oct 2013 20:13:22 GMT"},
	{"location", "https://www.example.com"}, {"content-encoding", "gzip"},
	{"set-cookie", "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"}};

static const char *c3[] = {
	"8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
	"8286 84be 5808 6e6f 2d63 6163 6865",
	"8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
};
static const char *c4[] = {
	"8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
	"8286 84be 5886 a8eb 1064 9cbf",
	"8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
};
/* C.5/C.6 with a size update to 256 (3fe101) in front of the first block: nghttp2 requires
 * one after SETTINGS lowered the table size, as RFC 7541 4.2 says. */
static const char *c5[] = {
	"3fe101 4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133"
	" 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65"
	" 2e63 6f6d",
	"4803 3330 37c1 c0bf",
	"88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0"
	" 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851"
	" 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31",
};
static const char *c6[] = {
	"3fe101 4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6"
	" 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
	"4883 640e ffc1 c0bf",
	"88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7"
	" 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0"
	" 03ed 4ee5 b106 3d50 07",
};

static void test_rfc_vectors(void)
{
	for (int exact = 0; exact <= 1; exact++) {
		for (int h = 0; h < 2; h++) {
			const char **req = h ? c4 : c3;
			struct hpack_decoder *d = hpack_decoder_new(exact);
			CHECK(check_block(d, req[0], req1, 4));
			CHECK(check_block(d, req[1], req2, 5));
			CHECK(check_block(d, req[2], req3, 5));
			CHECK(!hpack_decoder_failed(d));
			hpack_decoder_free(d);

			const char **rsp = h ? c6 : c5;
			d = hpack_decoder_new(exact);
			hpack_decoder_set_max_table(d, 256);
			CHECK(check_block(d, rsp[0], resp1, 4));
			CHECK(check_block(d, rsp[1], resp2, 4));
			CHECK(check_block(d, rsp[2], resp3, 6));
			struct hpack_stats st;
			hpack_decoder_stats(d, &st);
			if (!exact) /* 8 insertions, 3 entries left (RFC 7541 C.5.3) */
				CHECK_EQ_INT(st.evictions, 5);
			hpack_decoder_free(d);
		}
	}
	/* Partial mode, no size update: SETTINGS alone sets 256 and entries evict the same. */
	struct hpack_decoder *d = hpack_decoder_new(false);
	hpack_decoder_set_max_table(d, 256);
	CHECK(check_block(d, c5[0] + 7, resp1, 4));
	CHECK(check_block(d, c5[1], resp2, 4));
	CHECK(check_block(d, c5[2], resp3, 6));
	hpack_decoder_free(d);
	/* Partial mode joined at C.3.2: ":authority www.example.com" (index 62) is unknown. */
	d = hpack_decoder_new(false);
	uint8_t blk[64];
	size_t n = unhex(c3[1], blk, sizeof blk);
	struct flist l = {.n = 0};
	CHECK_EQ_INT(hpack_decode_block(d, blk, n, collect, &l), 5);
	CHECK_EQ_INT(l.f[3].flags, HPACK_F_UNKNOWN_NAME | HPACK_F_UNKNOWN_VALUE);
	CHECK_EQ_INT(l.f[3].id, 1);
	CHECK_EQ_STR(l.f[4].value, "no-cache");
	CHECK_EQ_INT(l.f[4].flags, 0);
	flist_clear(&l);
	/* C.3.3 refers to :authority again, now at index 63 (cache-control was inserted). */
	CHECK_EQ_INT(hpack_decoder_learn(d, 1, ":authority", "www.example.com"), 0);
	n = unhex(c3[2], blk, sizeof blk);
	CHECK_EQ_INT(hpack_decode_block(d, blk, n, collect, &l), 5);
	for (int i = 0; i < 5 && l.n == 5; i++) {
		CHECK_EQ_STR(l.f[i].name, req3[i].n);
		CHECK_EQ_STR(l.f[i].value, req3[i].v);
		CHECK_EQ_INT(l.f[i].flags, i == 3 ? HPACK_F_LEARNED : 0);
	}
	flist_clear(&l);
	hpack_decoder_free(d);
}

/* ---- hand-built blocks: unknown names, learning, errors, limits ---- */

static int decode_hex(struct hpack_decoder *d, const char *hex, struct flist *l)
{
	uint8_t blk[128];
	size_t n = unhex(hex, blk, sizeof blk);
	flist_clear(l);
	return hpack_decode_block(d, blk, n, collect, l);
}

static void test_unknown_and_learn(void)
{
	struct flist l = {.n = 0};
	struct hpack_decoder *d = hpack_decoder_new(false);
	/* literal with indexing, name = dynamic 1 (pre-capture #1), value "v1"; static 2 */
	CHECK_EQ_INT(decode_hex(d, "7e 02 7631 82", &l), 2);
	CHECK_EQ_INT(l.f[0].flags, HPACK_F_UNKNOWN_NAME);
	CHECK_EQ_INT(l.f[0].id, 1);
	CHECK_EQ_STR(l.f[0].value, "v1");
	CHECK_EQ_STR(l.f[1].name, ":method");
	CHECK_EQ_STR(l.f[1].value, "GET");
	CHECK_EQ_INT(l.f[1].flags, 0);
	/* index 62 = the new entry (name still unknown), 63 = pre-capture #1, 64 = #2 */
	CHECK_EQ_INT(decode_hex(d, "be bf c0", &l), 3);
	CHECK_EQ_INT(l.f[0].flags, HPACK_F_UNKNOWN_NAME);
	CHECK_EQ_STR(l.f[0].value, "v1");
	CHECK_EQ_INT(l.f[0].id, 1);
	CHECK_EQ_INT(l.f[1].flags, HPACK_F_UNKNOWN_NAME | HPACK_F_UNKNOWN_VALUE);
	CHECK_EQ_INT(l.f[1].id, 1);
	CHECK_EQ_INT(l.f[2].id, 2);
	/* never-indexed literal with a literal name, no table change */
	CHECK_EQ_INT(decode_hex(d, "10 01 61 01 62", &l), 1);
	CHECK_EQ_INT(l.f[0].flags, HPACK_F_NEVER_INDEXED);
	CHECK_EQ_STR(l.f[0].name, "a");

	CHECK_EQ_INT(hpack_decoder_learn(d, 0, "x", "y"), EE_MALFORMED);
	CHECK_EQ_INT(hpack_decoder_learn(d, 1, ":path", "/etcdserverpb.KV/Range"), 0);
	CHECK_EQ_INT(hpack_decoder_learn(d, 2, "te", NULL), 0);
	CHECK_EQ_INT(decode_hex(d, "be bf c0", &l), 3);
	CHECK_EQ_STR(l.f[0].name, ":path");
	CHECK_EQ_STR(l.f[0].value, "v1");
	CHECK_EQ_INT(l.f[0].flags, HPACK_F_LEARNED);
	CHECK_EQ_STR(l.f[1].name, ":path");
	CHECK_EQ_STR(l.f[1].value, "/etcdserverpb.KV/Range");
	CHECK_EQ_INT(l.f[1].flags, HPACK_F_LEARNED);
	CHECK_EQ_STR(l.f[2].name, "te");
	CHECK_EQ_INT(l.f[2].flags, HPACK_F_LEARNED | HPACK_F_UNKNOWN_VALUE);
	/* Literal with indexing whose name is the learned #1: a fully known entry. */
	CHECK_EQ_INT(decode_hex(d, "7f00 01 78 be", &l), 2); /* name index 63 = #1 */
	CHECK_EQ_STR(l.f[0].name, ":path");
	CHECK_EQ_STR(l.f[0].value, "x");
	CHECK_EQ_INT(l.f[0].flags, HPACK_F_LEARNED);
	CHECK_EQ_INT(l.f[0].id, 1);
	CHECK_EQ_STR(l.f[1].name, ":path");
	CHECK_EQ_STR(l.f[1].value, "x");
	CHECK_EQ_INT(l.f[1].flags, HPACK_F_LEARNED);
	CHECK(!hpack_decoder_failed(d));

	/* Filling the table with known entries leaves no room for pre-capture ones. */
	CHECK_EQ_INT(decode_hex(d, "3f e1 01", &l), 0); /* size update 256 */
	for (int i = 0; i < 10; i++) /* 10 x (1 + 40 + 32) > 256 */
		CHECK_EQ_INT(decode_hex(d, "40 01 6b 28 0000000000000000000000000000000000000000"
					   "0000000000000000000000000000000000000000",
					&l),
			     1);
	CHECK_EQ_INT(hpack_decoder_learn(d, 3, "a", "b"), EE_MALFORMED);
	/* a capture-time entry we saw evicted: error, and the decoder stays failed */
	CHECK_EQ_INT(decode_hex(d, "be", &l), 1);
	CHECK_EQ_INT(decode_hex(d, "c1", &l), EE_MALFORMED);
	CHECK(hpack_decoder_failed(d));
	CHECK_EQ_INT(decode_hex(d, "82", &l), EE_MALFORMED);
	struct hpack_stats st;
	hpack_decoder_stats(d, &st);
	CHECK(st.evictions >= 7);
	CHECK_EQ_INT(st.unknown_fields, 5);
	CHECK_EQ_INT(st.learned_fields, 5);
	CHECK_EQ_INT(st.late_size_updates, 0);
	hpack_decoder_free(d);

	/* exact mode has no unknown entries */
	d = hpack_decoder_new(true);
	CHECK_EQ_INT(hpack_decoder_learn(d, 1, "a", "b"), EE_MALFORMED);
	CHECK_EQ_INT(decode_hex(d, "be", &l), EE_MALFORMED);
	CHECK(hpack_decoder_failed(d));
	CHECK_EQ_INT(decode_hex(d, "82", &l), EE_MALFORMED);
	hpack_decoder_free(d);
	flist_clear(&l);
}

/* Runs one block through a fresh exact and a fresh partial decoder. */
static void both(const char *hex, int *exact_rc, int *partial_rc)
{
	struct flist l = {.n = 0};
	struct hpack_decoder *e = hpack_decoder_new(true), *p = hpack_decoder_new(false);
	*exact_rc = decode_hex(e, hex, &l);
	*partial_rc = decode_hex(p, hex, &l);
	flist_clear(&l);
	hpack_decoder_free(e);
	hpack_decoder_free(p);
}

static void test_integers_and_limits(void)
{
	int e, p;
	both("82", &e, &p);
	CHECK(e == 1 && p == 1);
	both("80", &e, &p); /* index 0 */
	CHECK(e < 0 && p == EE_MALFORMED);
	both("ff ff ff ff ff 0f", &e, &p); /* > 2^32 - 1 */
	CHECK(e < 0 && p == EE_MALFORMED);
	both("ff 80 80 80 80 80 00", &e, &p); /* six continuation octets */
	CHECK(e < 0 && p == EE_MALFORMED);
	both("81 ff", &e, &p); /* truncated integer */
	CHECK(e < 0 && p == EE_TRUNCATED);
	both("40 05 61", &e, &p); /* truncated string */
	CHECK(e < 0 && p == EE_TRUNCATED);
	both("ff 80 80 80 80 00", &e, &p); /* 127 padded to five octets: accepted by both */
	CHECK(e < 0 && p == 1);            /* (exact: index 127 is past its table) */
	both("81 3f e1 1f", &e, &p);       /* size update after a field */
	CHECK(e < 0 && p == 1);
	both("3f e1 1f 3f e1 1f 82", &e, &p); /* two updates (4096) at the start: fine */
	CHECK(e == 1 && p == 1);
	both("3f e2 1f", &e, &p); /* 4097 > SETTINGS */
	CHECK(e < 0 && p == 0);
	both("3f e1 ff ff 0f", &e, &p); /* 2^32 - 1 > HPACK_MAX_TABLE */
	CHECK(e < 0 && p == EE_LIMIT);
	/* what partial mode tolerated is counted */
	struct flist l = {.n = 0};
	struct hpack_decoder *pd = hpack_decoder_new(false);
	CHECK_EQ_INT(decode_hex(pd, "81 3f e1 1f 3f e2 1f 82", &l), 2);
	struct hpack_stats st;
	hpack_decoder_stats(pd, &st);
	CHECK_EQ_INT(st.late_size_updates, 2);
	CHECK_EQ_INT(st.oversize_updates, 1);
	CHECK_EQ_INT(st.blocks, 1);
	CHECK_EQ_INT(st.fields, 2);
	hpack_decoder_free(pd);
	flist_clear(&l);

	/* block and field limits */
	size_t big = HPACK_MAX_BLOCK + 1;
	uint8_t *blk = calloc(1, big);
	for (int exact = 0; exact <= 1; exact++) {
		struct hpack_decoder *d = hpack_decoder_new(exact);
		memset(blk, 0x82, big);
		CHECK_EQ_INT(hpack_decode_block(d, blk, big, NULL, NULL), EE_LIMIT);
		CHECK(hpack_decoder_failed(d));
		hpack_decoder_free(d);

		/* raw literal value of HPACK_MAX_FIELD + 1 octets */
		d = hpack_decoder_new(exact);
		size_t n = 0, vl = HPACK_MAX_FIELD + 1;
		blk[n++] = 0x00;
		blk[n++] = 0x01;
		blk[n++] = 'a';
		blk[n++] = 0x7f;
		for (size_t v = vl - 127; v >= 128; v >>= 7)
			blk[n++] = (uint8_t)(0x80 | (v & 0x7f));
		blk[n++] = (uint8_t)((vl - 127) >> 14);
		memset(blk + n, 'x', vl);
		int rc = hpack_decode_block(d, blk, n + vl, collect, &l);
		CHECK(rc < 0);
		if (!exact)
			CHECK_EQ_INT(rc, EE_LIMIT);
		hpack_decoder_free(d);

		/* Huffman value of 45000 octets decoding to 72000 '0's */
		d = hpack_decoder_new(exact);
		n = 0;
		vl = 45000;
		blk[n++] = 0x00;
		blk[n++] = 0x01;
		blk[n++] = 'a';
		blk[n++] = 0xff;
		blk[n++] = (uint8_t)(0x80 | ((vl - 127) & 0x7f));
		blk[n++] = (uint8_t)(((vl - 127) >> 7) & 0x7f) | 0x80;
		blk[n++] = (uint8_t)((vl - 127) >> 14);
		memset(blk + n, 0x00, vl);
		CHECK_EQ_INT(hpack_decode_block(d, blk, n + vl, collect, &l), EE_LIMIT);
		/* one less octet of limit: 40960 octets -> 65536 '0's is fine */
		hpack_decoder_free(d);
		d = hpack_decoder_new(exact);
		vl = 40960;
		n = 4;
		blk[n++] = (uint8_t)(0x80 | ((vl - 127) & 0x7f));
		blk[n++] = (uint8_t)(((vl - 127) >> 7) & 0x7f) | 0x80;
		blk[n++] = (uint8_t)((vl - 127) >> 14);
		memset(blk + n, 0x00, vl);
		flist_clear(&l);
		CHECK_EQ_INT(hpack_decode_block(d, blk, n + vl, collect, &l), 1);
		CHECK_EQ_INT(l.n ? l.f[0].vlen : 0, 65536);
		flist_clear(&l);
		hpack_decoder_free(d);
	}
	free(blk);
}

/* Every static table entry, partial vs nghttp2. */
static void test_static_table(void)
{
	int bad = 0;
	for (int i = 1; i <= 61; i++) {
		uint8_t b = (uint8_t)(0x80 | i);
		struct flist a = {.n = 0}, c = {.n = 0};
		struct hpack_decoder *e = hpack_decoder_new(true), *p = hpack_decoder_new(false);
		int r1 = hpack_decode_block(e, &b, 1, collect, &a);
		int r2 = hpack_decode_block(p, &b, 1, collect, &c);
		if (r1 != 1 || r2 != 1 || !fld_eq(&a.f[0], &c.f[0]))
			bad++, dbg(__LINE__);
		flist_clear(&a);
		flist_clear(&c);
		hpack_decoder_free(e);
		hpack_decoder_free(p);
	}
	CHECK_EQ_INT(bad, 0);
}

/* ---- against nghttp2's deflater: gRPC-like header streams ---- */

#define NBLOCKS 60
#define MAXNV 24

struct blockrec {
	uint8_t *data;
	size_t len;
	int nnv;
	nghttp2_nv nv[MAXNV];
	char store[MAXNV][2][400];
};

static const char *paths[] = {"/etcdserverpb.KV/Range", "/etcdserverpb.KV/Put",
			      "/etcdserverpb.KV/Txn", "/etcdserverpb.Watch/Watch",
			      "/etcdserverpb.Lease/LeaseKeepAlive"};

static void nv_set(struct blockrec *b, const char *n, size_t nl, const char *v, size_t vl,
		   uint8_t flags)
{
	int i = b->nnv++;
	memcpy(b->store[i][0], n, nl);
	memcpy(b->store[i][1], v, vl);
	b->nv[i] = (nghttp2_nv){(uint8_t *)b->store[i][0], (uint8_t *)b->store[i][1], nl, vl, flags};
}

static void nv_add(struct blockrec *b, const char *n, const char *v)
{
	nv_set(b, n, strlen(n), v, strlen(v), NGHTTP2_NV_FLAG_NONE);
}

/* Builds and deflates NBLOCKS header lists; mode 0 = steady gRPC, 1 = random mix. */
static void gen_blocks(struct blockrec *bl, int mode, size_t table, unsigned seed)
{
	nghttp2_hd_deflater *def;
	nghttp2_hd_deflate_new(&def, table);
	srand(seed);
	for (int k = 0; k < NBLOCKS; k++) {
		struct blockrec *b = &bl[k];
		b->nnv = 0;
		nv_add(b, ":method", "POST");
		nv_add(b, ":scheme", "http");
		nv_add(b, ":path", paths[mode == 0 ? k % 3 : rand() % 5]);
		nv_add(b, ":authority", "127.0.0.1:2379");
		nv_add(b, "content-type", "application/grpc");
		nv_add(b, "user-agent", "grpc-go/1.59.0");
		nv_add(b, "te", "trailers");
		if (mode == 0) {
			nv_add(b, "grpc-timeout", "5S");
		} else {
			char v[400];
			snprintf(v, sizeof v, "%dm", rand() % 20000);
			nv_add(b, "grpc-timeout", v);
			int extra = rand() % 6;
			for (int j = 0; j < extra && b->nnv < MAXNV; j++) {
				char n[32];
				snprintf(n, sizeof n, "x-custom-%d", rand() % 8);
				size_t vl = (size_t)(rand() % 4 == 0 ? 100 + rand() % 290 : rand() % 20);
				int binary = rand() % 3 == 0;
				for (size_t q = 0; q < vl; q++)
					v[q] = binary ? (char)(rand() % 256) : (char)('a' + rand() % 26);
				if (rand() % 3 == 0 && vl > 0)
					vl = (size_t)snprintf(v, sizeof v, "v%d", rand() % 4);
				uint8_t fl = rand() % 7 == 0 ? NGHTTP2_NV_FLAG_NO_INDEX
							     : NGHTTP2_NV_FLAG_NONE;
				nv_set(b, n, strlen(n), v, vl, fl);
			}
			if (rand() % 9 == 0) /* a table size change mid-connection */
				nghttp2_hd_deflate_change_table_size(def, (size_t)(64 + rand() % 4033));
		}
		size_t bound = nghttp2_hd_deflate_bound(def, b->nv, (size_t)b->nnv);
		b->data = malloc(bound);
		ssize_t n = nghttp2_hd_deflate_hd(def, b->data, bound, b->nv, (size_t)b->nnv);
		b->len = n > 0 ? (size_t)n : 0;
	}
	nghttp2_hd_deflate_del(def);
}

static bool matches_truth(const struct fld *f, const nghttp2_nv *nv)
{
	return f->nlen == nv->namelen && f->vlen == nv->valuelen &&
	       !memcmp(f->name, nv->name, f->nlen) && !memcmp(f->value, nv->value, f->vlen);
}

/* State of a decoder joined mid-stream: the truth for the current block, and checks. */
struct joined {
	struct hpack_decoder *d;
	const nghttp2_nv *nv;
	int nnv, i;
	bool late;
	int bad, unknown, unknown_late;
};

/* Checks each field against the truth: equal, or flagged UNKNOWN in the part that differs;
 * then names the unknown entry from the truth, as the etcd stage would from a message. */
static void joined_emit(void *ctx, const struct hpack_field *f)
{
	struct joined *jn = ctx;
	if (jn->i >= jn->nnv) {
		jn->bad++, dbg(__LINE__);
		return;
	}
	const nghttp2_nv *nv = &jn->nv[jn->i++];
	bool un = f->flags & HPACK_F_UNKNOWN_NAME, uv = f->flags & HPACK_F_UNKNOWN_VALUE;
	if (!uv && (f->value_len != nv->valuelen || memcmp(f->value, nv->value, f->value_len)))
		jn->bad++, dbg(__LINE__);
	if (!un && (f->name_len != nv->namelen || memcmp(f->name, nv->name, f->name_len)))
		jn->bad++, dbg(__LINE__);
	if (!un && !uv)
		return;
	jn->unknown++;
	jn->unknown_late += jn->late;
	if (f->unknown_id == 0)
		jn->bad++, dbg(__LINE__);
	char n[400], v[400];
	if (memchr(nv->name, 0, nv->namelen) || memchr(nv->value, 0, nv->valuelen))
		return; /* learn() takes C strings */
	memcpy(n, nv->name, nv->namelen);
	n[nv->namelen] = '\0';
	memcpy(v, nv->value, nv->valuelen);
	v[nv->valuelen] = '\0';
	/* an UNKNOWN_NAME-only field: the value is the new entry's, not the old one's */
	int lr = hpack_decoder_learn(jn->d, f->unknown_id, n, uv ? v : NULL);
	if (lr != 0)
		jn->bad++, dbg(__LINE__);
}

/* Returns the number of mismatches; counts unknown fields. */
static int run_stream(struct blockrec *bl, int mode, size_t table)
{
	int bad = 0;
	struct flist le = {.n = 0}, lp = {.n = 0};
	struct hpack_decoder *e = hpack_decoder_new(true), *p = hpack_decoder_new(false);
	/* (a) exact and (b) partial from block 0 */
	for (int k = 0; k < NBLOCKS; k++) {
		flist_clear(&le);
		flist_clear(&lp);
		int r1 = hpack_decode_block(e, bl[k].data, bl[k].len, collect, &le);
		int r2 = hpack_decode_block(p, bl[k].data, bl[k].len, collect, &lp);
		if (r1 != bl[k].nnv || r2 != r1) {
			bad++, dbg(__LINE__);
			continue;
		}
		for (int i = 0; i < r1; i++) {
			if (!matches_truth(&le.f[i], &bl[k].nv[i]) || !fld_eq(&le.f[i], &lp.f[i]))
				bad++, dbg(__LINE__);
			bool ni = (bl[k].nv[i].flags & NGHTTP2_NV_FLAG_NO_INDEX) != 0;
			if (ni != ((le.f[i].flags & HPACK_F_NEVER_INDEXED) != 0))
				bad++, dbg(__LINE__);
		}
	}
	hpack_decoder_free(e);
	hpack_decoder_free(p);

	/* (c) partial joined at block j, learning from the truth as it goes */
	int total_unknown = 0;
	for (int j = 1; j < NBLOCKS; j += 7) {
		struct joined jn = {.d = hpack_decoder_new(false)};
		for (int k = j; k < NBLOCKS; k++) {
			jn.nv = bl[k].nv;
			jn.nnv = bl[k].nnv;
			jn.i = 0;
			jn.late = k >= j + 3;
			int r = hpack_decode_block(jn.d, bl[k].data, bl[k].len, joined_emit, &jn);
			if (r != bl[k].nnv) {
				bad++, dbg(__LINE__);
				break;
			}
		}
		bad += jn.bad;
		total_unknown += jn.unknown;
		if (mode == 0 && jn.unknown_late)
			bad++, dbg(__LINE__); /* a steady stream is fully known once learned */
		hpack_decoder_free(jn.d);
	}
	if (getenv("DBG"))
		fprintf(stderr, "mode %d table %zu: %d unknown fields\n", mode, table, total_unknown);
	if (total_unknown == 0 && table >= 1024)
		bad++, dbg(__LINE__); /* the test would not test anything */
	flist_clear(&le);
	flist_clear(&lp);
	return bad;
}

static void test_against_nghttp2(void)
{
	static struct blockrec bl[NBLOCKS];
	const size_t tables[] = {4096, 1024, 256, 128, 0};
	for (int mode = 0; mode <= 1; mode++) {
		for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++) {
			for (unsigned seed = 1; seed <= 5; seed++) {
				gen_blocks(bl, mode, tables[t], seed * 31 + (unsigned)t);
				int bad = run_stream(bl, mode, tables[t]);
				if (bad)
					fprintf(stderr, "mode %d table %zu seed %u: %d bad\n", mode,
						tables[t], seed, bad);
				CHECK_EQ_INT(bad, 0);
				for (int k = 0; k < NBLOCKS; k++)
					free(bl[k].data);
			}
		}
	}
}


/* ---- replay cache: decoders with and without it must agree on everything ---- */

#define CNBLOCKS 400
#define CPOOL 7

/* A small deterministic generator (the test must not depend on libc's rand sequence). */
static uint32_t cr_state;
static uint32_t cr_next(void)
{
	cr_state ^= cr_state << 13;
	cr_state ^= cr_state >> 17;
	cr_state ^= cr_state << 5;
	return cr_state;
}

/* One block of the stream fed to both decoders, and what happens around it. */
struct cblock {
	uint8_t data[1024];
	size_t len;
	uint32_t set_max;    /* set_max_table(set_max - 1) before the block, when non-zero */
	uint32_t seed;       /* decides what the emit callback does for this block */
};

/* Skips one string literal; false when it does not parse. */
static bool cskip_str(const uint8_t *p, size_t len, size_t *k)
{
	if (*k >= len)
		return false;
	uint32_t n = p[(*k)++] & 0x7f;
	if (n == 0x7f) {
		for (int sh = 0;; sh += 7) {
			if (*k >= len || sh > 21)
				return false;
			uint8_t c = p[(*k)++];
			n += (uint32_t)(c & 0x7f) << sh;
			if (!(c & 0x80))
				break;
		}
	}
	if (n > len - *k)
		return false;
	*k += n;
	return true;
}

/* Whether a block may change the dynamic table (a literal with incremental indexing or a
 * size update): repeating such a block would put the decoders out of step with the
 * deflater, so only blocks that leave the table alone are repeated. */
static bool cblock_modifies(const struct cblock *b)
{
	size_t k = 0;
	while (k < b->len) {
		uint8_t c = b->data[k++];
		uint8_t mask = (c & 0x80) ? 0x7f : 0x0f;
		if (!(c & 0x80) && (c & 0x60))
			return true;
		if ((c & mask) == mask) {
			while (k < b->len && (b->data[k] & 0x80))
				k++;
			k++;
		}
		if (c & 0x80)
			continue;
		if ((c & mask) == 0 && !cskip_str(b->data, b->len, &k))
			return true;
		if (!cskip_str(b->data, b->len, &k))
			return true;
	}
	return false;
}

/* Header lists the deflater encodes again and again, so its output repeats byte for byte
 * once their entries are in its table; one of them has a never-indexed field. */
static void cpool_list(int k, nghttp2_nv *nv, size_t *n, uint32_t r)
{
	static const char *meth[] = {"/etcdserverpb.KV/Range", "/etcdserverpb.KV/Put",
				     "/etcdserverpb.Watch/Watch"};
	static char tmo[16];
	*n = 0;
#define NV(a, b, f)                                                                           \
	(nv[(*n)++] = (nghttp2_nv){(uint8_t *)(a), (uint8_t *)(b), strlen(a), strlen(b), (f)})
	switch (k) {
	case 0: /* response headers */
		NV(":status", "200", 0);
		NV("content-type", "application/grpc", 0);
		break;
	case 1: /* trailers */
		NV("grpc-status", "0", 0);
		NV("grpc-message", "", 0);
		break;
	case 2: case 3: case 4: /* requests, one per method */
		NV(":method", "POST", 0);
		NV(":scheme", "http", 0);
		NV(":path", meth[k - 2], 0);
		NV(":authority", "127.0.0.1:2379", 0);
		NV("content-type", "application/grpc", 0);
		NV("te", "trailers", 0);
		break;
	case 5: /* a secret: literal never indexed */
		NV("authorization", "Bearer abcdefghij", NGHTTP2_NV_FLAG_NO_INDEX);
		NV(":status", "200", 0);
		break;
	default: /* a changing value: inserts a new entry every time */
		snprintf(tmo, sizeof tmo, "%um", (unsigned)(r % 50));
		NV("grpc-timeout", tmo, 0);
		NV("grpc-status", "0", 0);
		break;
	}
#undef NV
}

/* Writes an HPACK integer with an n-bit prefix whose first octet's high bits are hi. */
static size_t cput_int(uint8_t *o, uint8_t hi, int nbits, uint32_t v)
{
	uint32_t max = (1u << nbits) - 1;
	size_t k = 0;
	if (v < max) {
		o[k++] = (uint8_t)(hi | v);
		return k;
	}
	o[k++] = (uint8_t)(hi | max);
	v -= max;
	while (v >= 128) {
		o[k++] = (uint8_t)(0x80 | (v & 0x7f));
		v >>= 7;
	}
	o[k++] = (uint8_t)v;
	return k;
}

/* Hand-made blocks that leave the table alone: indexed fields (static, and dynamic indices
 * that may point at anything, or nothing, by now) and literals without indexing / never
 * indexed, raw or Huffman, with indexed or literal names. dyn: the table has entries. */
static size_t cblock_handmade(uint8_t *o, bool dyn)
{
	size_t k = 0;
	int n = 1 + (int)(cr_next() % 5);
	for (int i = 0; i < n; i++) {
		uint32_t r = cr_next();
		if (r % 3 == 0) {
			uint32_t idx = r % 2 || !dyn ? 1 + (r >> 8) % 61 : 62 + (r >> 8) % 2;
			k += cput_int(o + k, 0x80, 7, idx);
			continue;
		}
		uint8_t hi = (r & 4) ? 0x10 : 0x00;
		uint32_t nidx = (r & 8) ? 0 : 1 + (r >> 8) % (dyn ? 63 : 61);
		k += cput_int(o + k, hi, 4, nidx);
		const char *strs[] = {"x-a", "grpc-status", "", "some value here"};
		for (int part = nidx ? 1 : 0; part < 2; part++) {
			const char *v = strs[(r >> (12 + part * 2)) % 4];
			if (part == 0 && !*v)
				v = "x-b";
			size_t vl = strlen(v);
			if ((r >> 20) & 1) {
				uint8_t hb[64];
				size_t hn = huff_encode((const uint8_t *)v, vl, hb, 0);
				k += cput_int(o + k, 0x80, 7, (uint32_t)hn);
				memcpy(o + k, hb, hn);
				k += hn;
			} else {
				k += cput_int(o + k, 0x00, 7, (uint32_t)vl);
				memcpy(o + k, v, vl);
				k += vl;
			}
		}
	}
	return k;
}

/* A stream of blocks: deflater output for lists from the pool (with table size changes that
 * the decoders are told of, as SETTINGS would), hand-made blocks, and verbatim repeats of
 * recent blocks (which may mean something else now, or be invalid). */
static void cblocks_make(struct cblock *bl, uint32_t seed)
{
	nghttp2_hd_deflater *def;
	nghttp2_hd_deflate_new(&def, 4096);
	cr_state = seed * 2654435761u + 1;
	int last_set = 0;
	for (int k = 0; k < CNBLOCKS; k++) {
		struct cblock *b = &bl[k];
		uint32_t r = cr_next();
		b->set_max = 0;
		b->seed = cr_next();
		/* a repeat from before a table size change could point past the table's end */
		int span = k - last_set < 16 ? k - last_set : 16;
		const struct cblock *old = span > 0 ? &bl[k - 1 - (int)((r >> 8) % (uint32_t)span)] : NULL;
		if (old && r % 100 < 30 && !cblock_modifies(old)) {
			*b = *old;
			b->set_max = 0;
			b->seed = cr_next();
		} else if (r % 100 < 40) {
			b->len = cblock_handmade(b->data, k > 10 && k - last_set > 10);
		} else {
			if (r % 100 >= 97) {
				uint32_t t = (r >> 8) % 3 == 0 ? 0 : 64 + (r >> 10) % 4033;
				nghttp2_hd_deflate_change_table_size(def, t);
				b->set_max = t + 1;
				last_set = k;
			} else if (r % 100 == 96) {
				b->set_max = 4096 + 1; /* SETTINGS repeated: nothing changes */
			}
			nghttp2_nv nv[8];
			size_t n;
			cpool_list((int)((r >> 8) % CPOOL), nv, &n, r >> 16);
			ssize_t w = nghttp2_hd_deflate_hd(def, b->data, sizeof b->data, nv, n);
			b->len = w > 0 ? (size_t)w : 0;
		}
	}
	nghttp2_hd_deflate_del(def);
}

/* What the emit callback sees and does: records the fields, and, as the etcd stage would,
 * names some unknown entries (learn()) mid-block; rarely it changes the table size from
 * inside the callback. Its choices depend only on the block's seed and the field, so two
 * decoders that emit the same fields get the same calls. */
struct cctx {
	struct hpack_decoder *d;
	struct flist l;
	uint32_t seed;
	int learns, midset;
};

static void cctx_emit(void *ctx, const struct hpack_field *f)
{
	struct cctx *c = ctx;
	collect(&c->l, f);
	uint32_t h = c->seed ^ ((uint32_t)c->l.n * 0x9e3779b9u);
	h ^= h >> 15;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	if ((f->flags & (HPACK_F_UNKNOWN_NAME | HPACK_F_UNKNOWN_VALUE)) && h % 3 == 0) {
		char n[32], v[32];
		snprintf(n, sizeof n, "name-%llu", (unsigned long long)f->unknown_id);
		snprintf(v, sizeof v, "value-%llu", (unsigned long long)f->unknown_id);
		(void)hpack_decoder_learn(c->d, f->unknown_id, n, (h >> 8) % 2 ? v : NULL);
		c->learns++;
	}
	/* exact mode: nghttp2 refuses mid-block, so the decoder fails; keep that rare */
	if (h % (hpack_decoder_exact(c->d) ? 4999 : 97) == 0) {
		hpack_decoder_set_max_table(c->d, 256 + (h >> 8) % 4096);
		c->midset++;
	}
}

static bool stats_eq(const struct hpack_stats *a, const struct hpack_stats *b)
{
	return a->blocks == b->blocks && a->fields == b->fields &&
	       a->unknown_fields == b->unknown_fields && a->learned_fields == b->learned_fields &&
	       a->late_size_updates == b->late_size_updates &&
	       a->oversize_updates == b->oversize_updates && a->evictions == b->evictions;
}

/* Feeds blocks [from, nbl) to a decoder with the cache and one without; returns the
 * number of differences. Between blocks: the SETTINGS a block carries, and now and then a
 * learn() of an id a field was unknown with. */
static int cache_run(const struct cblock *bl, int nbl, int from, bool exact, uint64_t *hits,
		     int *learns, int *midsets, int *blocks_ok)
{
	struct cctx a = {.d = hpack_decoder_new(exact)}, b = {.d = hpack_decoder_new(exact)};
	hpack_decoder_set_cache(b.d, false);
	int bad = 0;
	uint64_t last_unknown = 0;
	for (int k = from; k < nbl; k++) {
		if (bl[k].set_max) {
			hpack_decoder_set_max_table(a.d, bl[k].set_max - 1);
			hpack_decoder_set_max_table(b.d, bl[k].set_max - 1);
		}
		if (!exact && last_unknown && bl[k].seed % 11 == 0) {
			int r1 = hpack_decoder_learn(a.d, last_unknown, "between", "blocks");
			int r2 = hpack_decoder_learn(b.d, last_unknown, "between", "blocks");
			if (r1 != r2)
				bad++, dbg(__LINE__);
		}
		flist_clear(&a.l);
		flist_clear(&b.l);
		a.seed = b.seed = bl[k].seed;
		int r1 = hpack_decode_block(a.d, bl[k].data, bl[k].len, cctx_emit, &a);
		int r2 = hpack_decode_block(b.d, bl[k].data, bl[k].len, cctx_emit, &b);
		if (r1 != r2 || a.l.n != b.l.n)
			bad++, dbg(__LINE__);
		for (int i = 0; i < a.l.n && i < b.l.n; i++) {
			if (!fld_eq(&a.l.f[i], &b.l.f[i]) || a.l.f[i].id != b.l.f[i].id)
				bad++, dbg(__LINE__);
			if (a.l.f[i].id)
				last_unknown = a.l.f[i].id;
		}
		struct hpack_stats s1, s2;
		hpack_decoder_stats(a.d, &s1);
		hpack_decoder_stats(b.d, &s2);
		if (!stats_eq(&s1, &s2) || hpack_decoder_failed(a.d) != hpack_decoder_failed(b.d))
			bad++, dbg(__LINE__);
		*blocks_ok += r1 >= 0 && hpack_decoder_exact(a.d) == exact;
		if (hpack_decoder_failed(a.d) && hpack_decoder_failed(b.d)) {
			/* as src/h2 does: a failed decoder is replaced by a partial one */
			*hits += hpack_decoder_cache_hits(a.d);
			hpack_decoder_free(a.d);
			hpack_decoder_free(b.d);
			a.d = hpack_decoder_new(false);
			b.d = hpack_decoder_new(false);
			hpack_decoder_set_cache(b.d, false);
		}
	}
	if (hpack_decoder_cache_hits(b.d) != 0)
		bad++, dbg(__LINE__); /* the switch must really switch it off */
	*hits += hpack_decoder_cache_hits(a.d);
	*learns += a.learns;
	*midsets += a.midset;
	flist_clear(&a.l);
	flist_clear(&b.l);
	hpack_decoder_free(a.d);
	hpack_decoder_free(b.d);
	return bad;
}

/* HPACK_MAX_LEARNED names at once, no more while all their entries may still be in the
 * table; renaming a known id still works at the limit. */
static void test_learned_limit(void)
{
	struct hpack_decoder *d = hpack_decoder_new(false);
	int ok = 0;
	/* a table this large can hold more pre-capture entries than names are kept for */
	hpack_decoder_set_max_table(d, HPACK_MAX_TABLE);
	for (uint64_t id = 1; id <= 256; id++)
		ok += hpack_decoder_learn(d, id, "n", "v") == 0;
	CHECK_EQ_INT(ok, 256);
	CHECK_EQ_INT(hpack_decoder_learn(d, 257, "n", "v"), EE_LIMIT);
	CHECK_EQ_INT(hpack_decoder_learn(d, 200, "other", NULL), 0);
	/* index 61 + 200 = 127 + 134: pre-capture entry 200, the new name, value unknown */
	struct flist l = {.n = 0};
	CHECK_EQ_INT(decode_hex(d, "ff 86 01", &l), 1);
	CHECK(l.n == 1 && !strcmp(l.f[0].name, "other") &&
	      l.f[0].flags == (HPACK_F_LEARNED | HPACK_F_UNKNOWN_VALUE) && l.f[0].id == 200);
	flist_clear(&l);
	hpack_decoder_free(d);
}

/* learn() called from the emit callback with the field's own name, which for a learned
 * entry is the decoder's NUL-terminated copy. Naming a new id at HPACK_MAX_LEARNED forgets the
 * names of entries that can no longer be in the table, that copy among them: the name must be
 * read before (ASan: heap-use-after-free otherwise). */
struct alias_ctx {
	struct hpack_decoder *d;
	int calls, rc;
};

static void alias_learn(void *ctx, const struct hpack_field *f)
{
	struct alias_ctx *a = ctx;
	a->calls++;
	if (f->flags & HPACK_F_LEARNED)
		a->rc = hpack_decoder_learn(a->d, 5, (const char *)f->name, NULL);
}

static void test_learn_name_alias(void)
{
	struct hpack_decoder *d = hpack_decoder_new(false);
	struct alias_ctx a = {.d = d, .rc = 1};
	struct flist l = {.n = 0};
	char name[16];
	int ok = 0;
	hpack_decoder_set_max_table(d, HPACK_MAX_TABLE);
	for (uint64_t id = 6; id < 6 + 256; id++) { /* HPACK_MAX_LEARNED names, not id 5 */
		snprintf(name, sizeof name, "n%llu", (unsigned long long)id);
		ok += hpack_decoder_learn(d, id, name, "v") == 0;
	}
	CHECK_EQ_INT(ok, 256);
	/* size update to 256: at most 8 pre-capture entries are left, so ids past 8 are gone */
	CHECK_EQ_INT(decode_hex(d, "3f e1 01", &l), 0);
	uint8_t blk[] = {0xff, 0x86, 0x01}; /* index 61 + 200: pre-capture 200, "n200" */
	CHECK_EQ_INT(hpack_decode_block(d, blk, sizeof blk, alias_learn, &a), 1);
	CHECK_EQ_INT(a.calls, 1);
	CHECK_EQ_INT(a.rc, 0);
	CHECK_EQ_INT(decode_hex(d, "c2", &l), 1); /* index 61 + 5 */
	CHECK(l.n == 1 && !strcmp(l.f[0].name, "n200") && l.f[0].id == 5 &&
	      l.f[0].flags == (HPACK_F_LEARNED | HPACK_F_UNKNOWN_VALUE));
	flist_clear(&l);
	hpack_decoder_free(d);
}

/* RFC 7541 C.3 and C.4 requests with indexed-only blocks repeated between them: "82 86 84
 * be" means :authority www.example.com before the second request and cache-control no-cache
 * after it, so a replay that ignored the table change would show. */
static void test_cache_rfc(void)
{
	static const char *idx1 = "8286 84be", *idx2 = "bebf 82";
	static const int pat[] = {0, -1, -1, 1, -1, -2, -1, 2, -2, -1, -2, -2, 1, -1, -1};
	enum { NPAT = sizeof pat / sizeof pat[0] };
	static struct cblock bl[NPAT];
	int bad = 0, learns = 0, midsets = 0, ok = 0;
	uint64_t hits = 0;
	for (int set = 0; set < 2; set++) {
		for (int i = 0; i < NPAT; i++) {
			const char *hex = pat[i] == -1 ? idx1 : pat[i] == -2 ? idx2
					  : (set ? c4 : c3)[pat[i]];
			bl[i].len = unhex(hex, bl[i].data, sizeof bl[i].data);
			bl[i].set_max = 0;
			bl[i].seed = (uint32_t)i * 7919u + (uint32_t)set;
		}
		bad += cache_run(bl, NPAT, 0, true, &hits, &learns, &midsets, &ok);
		bad += cache_run(bl, NPAT, 0, false, &hits, &learns, &midsets, &ok);
		bad += cache_run(bl, NPAT, 1, false, &hits, &learns, &midsets, &ok);
	}
	CHECK_EQ_INT(bad, 0);
	CHECK_EQ_INT(ok, 6 * NPAT - 2);
	CHECK(hits >= 12);
}

static void test_cache_differential(void)
{
	static struct cblock bl[CNBLOCKS];
	uint64_t hits[3] = {0};
	int learns = 0, midsets = 0, ok[3] = {0}, bad = 0;
	for (uint32_t seed = 1; seed <= 60; seed++) {
		cblocks_make(bl, seed);
		bad += cache_run(bl, CNBLOCKS, 0, true, &hits[0], &learns, &midsets, &ok[0]);
		bad += cache_run(bl, CNBLOCKS, 0, false, &hits[1], &learns, &midsets, &ok[1]);
		for (int from = 3; from < CNBLOCKS; from += 97)
			bad += cache_run(bl, CNBLOCKS, from, false, &hits[2], &learns, &midsets,
					 &ok[2]);
	}
	if (getenv("DBG"))
		fprintf(stderr, "cache: hits %llu/%llu/%llu, blocks ok %d/%d/%d, learns %d, "
			"set_max in emit %d\n", (unsigned long long)hits[0],
			(unsigned long long)hits[1], (unsigned long long)hits[2], ok[0], ok[1], ok[2],
			learns, midsets);
	CHECK_EQ_INT(bad, 0);
	/* The comparison means something only if the cache was used, in every mode. */
	CHECK(hits[0] > 1000 && hits[1] > 1000 && hits[2] > 1000);
	CHECK(learns > 100 && midsets > 10);
}

int main(void)
{
	test_huffman();
	test_rfc_vectors();
	test_unknown_and_learn();
	test_integers_and_limits();
	test_static_table();
	test_against_nghttp2();
	test_learned_limit();
	test_learn_name_alias();
	test_cache_rfc();
	test_cache_differential();
	return unit_summary("test_hpack");
}
