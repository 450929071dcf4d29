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

int main(void)
{
	test_huffman();
	test_rfc_vectors();
	test_unknown_and_learn();
	test_integers_and_limits();
	test_static_table();
	test_against_nghttp2();
	return unit_summary("test_hpack");
}
