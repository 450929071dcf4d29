/* test_jw.c: the JSON writer's fast paths (src/jw.c) against plain reference code:
 * strings without escapes copied whole against the byte loop, integers and timestamps
 * written digit pairs at a time against snprintf, keys and separators; and the text
 * printer's formatter (out_tprintf in src/out.c) against vsnprintf. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jw.h"
#include "out.h"
#include "unit.h"

static uint64_t rnd_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void) { return unit_xorshift(&rnd_state); }

/* Reference jw_strn escaping: one byte at a time, the rules of jw.h. */
static size_t ref_escape(char *out, const uint8_t *s, size_t n)
{
	size_t o = 0;
	out[o++] = '"';
	for (size_t i = 0; i < n;) {
		uint8_t c = s[i];
		if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
			out[o++] = (char)c;
			i++;
		} else if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
			i++;
		} else if (c == '\n' || c == '\r' || c == '\t') {
			out[o++] = '\\';
			out[o++] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
			i++;
		} else if (c < 0x20) {
			o += (size_t)sprintf(out + o, "\\u%04x", c);
			i++;
		} else {
			/* the longest valid UTF-8 sequence starting here, else U+FFFD */
			size_t l = 0;
			for (size_t t = 2; t <= 4 && !l; t++)
				if (n - i >= t && utf8_valid(s + i, t) &&
				    ((t == 2 && (c & 0xe0) == 0xc0) || (t == 3 && (c & 0xf0) == 0xe0) ||
				     (t == 4 && (c & 0xf8) == 0xf0)))
					l = t;
			if (l) {
				memcpy(out + o, s + i, l);
				o += l;
				i += l;
			} else {
				memcpy(out + o, "\\ufffd", 6);
				o += 6;
				i++;
			}
		}
	}
	out[o++] = '"';
	out[o] = 0;
	return o;
}

/* Writes [s, 7, s] into a fresh writer: the string as first and as middle value, so
 * the comma handling of the fast path is covered too. */
static bool strn_matches(const uint8_t *s, size_t n)
{
	static char want[6 * 600 + 64], one[6 * 300 + 8];
	ref_escape(one, s, n);
	snprintf(want, sizeof want, "[%s,7,%s]", one, one);
	struct jw w;
	jw_init(&w);
	jw_arr_begin(&w);
	jw_strn(&w, s, n);
	jw_i64(&w, 7);
	jw_strn(&w, s, n);
	jw_arr_end(&w);
	bool ok = w.buf && !w.oom && w.len == strlen(want) && strcmp(w.buf, want) == 0;
	if (!ok)
		fprintf(stderr, "jw_strn: got %s want %s\n", w.buf ? w.buf : "(null)", want);
	jw_free(&w);
	return ok;
}

/* Every single byte, alone and at every position of plain strings of 1..24 bytes (the
 * fast path tests 8-byte words, the last one overlapping, and a byte table for short
 * strings), then random strings mixing every escape class with long plain runs. */
static void test_strn(void)
{
	unsigned fails = 0;
	for (int c = 0; c < 256; c++) {
		uint8_t b = (uint8_t)c;
		fails += !strn_matches(&b, 1);
		for (size_t len = 1; len <= 24; len++)
			for (size_t at = 0; at < len; at++) {
				uint8_t s[24];
				memset(s, 'k', len);
				s[at] = b;
				fails += !strn_matches(s, len);
			}
	}
	fails += !strn_matches((const uint8_t *)"", 0);
	fails += !strn_matches(NULL, 0);
	static const char *const pieces[] = {
		"a", "/", " ", "~", "\x7f", "\x1f", "\x01", "\"", "\\", "\n", "\t", "\r", "\b",
		"\f", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\x80", "\xff", "\xc3",
		"\xed\xa0\x80", "\xf4\x90\x80\x80", "/registry/pods/default/",
		"127.0.0.1:43745-127.0.0.1:2379", "kube-apiserver/v1.29.0 (linux/amd64)",
	};
	for (int iter = 0; iter < 20000; iter++) {
		uint8_t s[300];
		size_t n = 0;
		int parts = (int)(rnd() % 12);
		for (int p = 0; p < parts; p++) {
			const char *x = pieces[rnd() % (sizeof pieces / sizeof pieces[0])];
			memcpy(s + n, x, strlen(x));
			n += strlen(x);
		}
		fails += !strn_matches(s, n);
	}
	CHECK_EQ_INT(fails, 0);
	/* a string that cannot fail the test: the reference must see a difference */
	struct jw w;
	jw_init(&w);
	jw_str(&w, "a\"b");
	CHECK_EQ_STR(w.buf, "\"a\\\"b\"");
	jw_reset(&w);
	jw_str(&w, NULL);
	CHECK_EQ_STR(w.buf, "\"\"");
	jw_free(&w);
}

/* jw_key_bytes: "name":"escaped" for valid UTF-8 (plain ASCII takes a one-scan path),
 * "name_b64":"base64" otherwise; against utf8_valid + the reference escaping. */
static void test_key_bytes(void)
{
	static const char *const pieces[] = {
		"/registry/pods/", "a", "\"", "\\", "\n", "\x01", "\xc3\xa9", "\xf0\x9f\x98\x80",
		"\x80", "\xff", "\xfe", "0123456789abcdef",
	};
	unsigned fails = 0;
	for (int iter = 0; iter < 5000; iter++) {
		uint8_t s[200];
		size_t n = 0;
		int parts = (int)(rnd() % 8);
		for (int p = 0; p < parts; p++) {
			const char *x = pieces[rnd() % (sizeof pieces / sizeof pieces[0])];
			memcpy(s + n, x, strlen(x));
			n += strlen(x);
		}
		static char want[2048], val[1300];
		if (utf8_valid(s, n)) {
			ref_escape(val, s, n);
			snprintf(want, sizeof want, "{\"x\":1,\"key\":%s}", val);
		} else {
			base64_encode(s, n, val);
			snprintf(want, sizeof want, "{\"x\":1,\"key_b64\":\"%s\"}", val);
		}
		struct jw w;
		jw_init(&w);
		jw_obj_begin(&w);
		jw_ki64(&w, "x", 1);
		jw_key_bytes(&w, "key", s, n);
		jw_obj_end(&w);
		if (!w.buf || strcmp(w.buf, want) != 0) {
			fails++;
			fprintf(stderr, "jw_key_bytes: got %s want %s\n", w.buf ? w.buf : "(null)", want);
		}
		jw_free(&w);
	}
	CHECK_EQ_INT(fails, 0);
	/* utf8_valid's 8-byte ASCII steps: an invalid byte at every offset of 1..40 bytes */
	fails = 0;
	for (size_t len = 1; len <= 40; len++)
		for (size_t at = 0; at < len; at++) {
			uint8_t s[40];
			memset(s, 'a', len);
			s[at] = 0xff;
			fails += utf8_valid(s, len);
			s[at] = 0x7f;
			fails += !utf8_valid(s, len);
		}
	CHECK_EQ_INT(fails, 0);
}

/* Integers at the digit-count and sign boundaries, and random ones of every length. */
static void test_ints(void)
{
	static const int64_t is[] = {
		0, 1, 9, 10, 11, 99, 100, 101, 999, 1000, 9999, 10000, 99999, 100000, 1000000,
		12345678, 99999999, 100000000, 4294967295LL, 4294967296LL, 999999999999LL,
		INT64_MAX, INT64_MAX - 1, INT64_MIN, INT64_MIN + 1, -1, -9, -10, -99, -100,
		-10000, -1000000000000LL,
	};
	static const uint64_t us[] = {
		0, 1, 9, 10, 99, 100, 9999, 10000, 10001, 99999999, 100000000,
		10000000000000000000ull, 9999999999999999999ull, UINT64_MAX, UINT64_MAX - 1,
		(uint64_t)INT64_MAX + 1,
	};
	unsigned fails = 0;
	char want[64];
	struct jw w;
	jw_init(&w);
	for (size_t i = 0; i < sizeof is / sizeof is[0]; i++) {
		jw_reset(&w);
		jw_i64(&w, is[i]);
		snprintf(want, sizeof want, "%" PRId64, is[i]);
		CHECK_EQ_STR(w.buf, want);
	}
	for (size_t i = 0; i < sizeof us / sizeof us[0]; i++) {
		jw_reset(&w);
		jw_u64(&w, us[i]);
		snprintf(want, sizeof want, "%" PRIu64, us[i]);
		CHECK_EQ_STR(w.buf, want);
	}
	for (int iter = 0; iter < 20000; iter++) {
		uint64_t u = rnd() >> (rnd() % 64);
		int64_t v = (int64_t)(rnd() >> (rnd() % 64)) * (iter & 1 ? -1 : 1);
		jw_reset(&w);
		jw_arr_begin(&w);
		jw_u64(&w, u);
		jw_i64(&w, v);
		jw_arr_end(&w);
		snprintf(want, sizeof want, "[%" PRIu64 ",%" PRId64 "]", u, v);
		fails += strcmp(w.buf, want) != 0;
	}
	CHECK_EQ_INT(fails, 0);
	jw_free(&w);
}

/* Timestamps: microseconds with 6 decimals, negative ones floored as jw_ts documents. */
static void test_ts(void)
{
	static const int64_t ts[] = {
		0, 1, 999999, 1000000, 1000001, 1732490000123456LL, 1732490000000000LL,
		1732490000100000LL, 1732490000000009LL, -1, -1000000, -1000001, -1500000,
		INT64_MAX, INT64_MIN + 1000000,
	};
	char want[64];
	struct jw w;
	jw_init(&w);
	for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) {
		int64_t s = ts[i] / 1000000, u = ts[i] % 1000000;
		if (u < 0) {
			u += 1000000;
			s -= 1;
		}
		snprintf(want, sizeof want, "%" PRId64 ".%06" PRId64, s, u);
		jw_reset(&w);
		jw_ts(&w, ts[i]);
		CHECK_EQ_STR(w.buf, want);
	}
	jw_free(&w);
}

/* Keys (inline, room checked once) and nesting: separators in every position, and a
 * buffer that has to grow in the middle of a key. */
static void test_keys(void)
{
	struct jw w;
	jw_init(&w);
	jw_obj_begin(&w);
	jw_kstr(&w, "a", "x");
	jw_key(&w, "o");
	jw_obj_begin(&w);
	jw_ki64(&w, "i", -5);
	jw_ku64(&w, "u", 5);
	jw_obj_end(&w);
	jw_key(&w, "l");
	jw_arr_begin(&w);
	jw_null(&w);
	jw_bool(&w, true);
	jw_arr_end(&w);
	jw_kbool(&w, "f", false);
	jw_obj_end(&w);
	CHECK_EQ_STR(w.buf, "{\"a\":\"x\",\"o\":{\"i\":-5,\"u\":5},\"l\":[null,true],\"f\":false}");
	jw_free(&w);

	/* growth: 3000 keys of 0..40 bytes from an empty buffer, against snprintf */
	char name[48], *want = malloc(200000);
	size_t o = 0;
	CHECK(want != NULL);
	if (!want)
		return;
	jw_init(&w);
	jw_obj_begin(&w);
	want[o++] = '{';
	for (int i = 0; i < 3000; i++) {
		size_t n = (size_t)(rnd() % 41);
		for (size_t j = 0; j < n; j++)
			name[j] = (char)('a' + rnd() % 26);
		name[n] = 0;
		jw_keyn(&w, name, n);
		jw_i64(&w, i);
		o += (size_t)sprintf(want + o, "%s\"%s\":%d", i ? "," : "", name, i);
	}
	jw_obj_end(&w);
	want[o++] = '}';
	want[o] = 0;
	CHECK(w.buf && w.len == o && strcmp(w.buf, want) == 0);
	jw_free(&w);
	free(want);
}

/* out_tprintf formats the common conversions itself and hands the rest to vsnprintf:
 * every case must give vsnprintf's bytes. */
static struct out tout;

static void tcheck(unsigned *fails, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tcheck(unsigned *fails, const char *fmt, ...)
{
	char want[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(want, sizeof want, fmt, ap);
	va_end(ap);
	tout.tlen = 0;
	out_tprintf(&tout, "<");
	va_start(ap, fmt);
	out_tvprintf(&tout, fmt, ap);
	va_end(ap);
	out_tprintf(&tout, ">");
	char got[1100];
	snprintf(got, sizeof got, "%s", tout.tbuf ? tout.tbuf : "");
	size_t wl = strlen(want);
	bool ok = tout.tlen == wl + 2 && got[0] == '<' && !memcmp(got + 1, want, wl) &&
		  got[wl + 1] == '>' && got[wl + 2] == 0;
	if (!ok) {
		(*fails)++;
		fprintf(stderr, "out_tprintf(\"%s\"): got %s want <%s>\n", fmt, got, want);
	}
}

static void test_tprintf(void)
{
	struct cli_opts o;
	memset(&o, 0, sizeof o);
	out_init(&tout, stdout, &o, false);
	unsigned fails = 0;
	static const int64_t vs[] = {0, 1, -1, 9, 10, 99, 100, -100, 123456789, INT64_MAX, INT64_MIN};
	for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++) {
		int64_t v = vs[i];
		tcheck(&fails, "%" PRId64 " %" PRIu64 " %" PRIx64, v, (uint64_t)v, (uint64_t)v);
		tcheck(&fails, "rev=%" PRId64 " (%zu B) %d%%", v, (size_t)(uint64_t)v, (int)v);
		tcheck(&fails, "%8" PRId64 "|%-8" PRId64 "|%08" PRId64 "|%2" PRIu64, v, v, v, (uint64_t)v);
		tcheck(&fails, "%u %x %02d %06d %12" PRIx64, (unsigned)v, (unsigned)v, (int)v, (int)v,
		       (uint64_t)v);
		tcheck(&fails, "%.3fms %10.3f %9.2f %.1f", (double)v / 1000.0, (double)v, (double)v,
		       (double)v);
		tcheck(&fails, "%*s|%-*s|%d", (int)(v & 15), "ab", (int)(v & 7), "cd", (int)(v & 1));
	}
	static const char *const ss[] = {"", "a", "Watch", "127.0.0.1:43745-127.0.0.1:2379",
		"\xc3\xa9t\xc3\xa9", "x%sy", "a very long string that is longer than forty bytes for sure"};
	for (size_t i = 0; i < sizeof ss / sizeof ss[0]; i++) {
		const char *s = ss[i];
		tcheck(&fails, "%s", s);
		tcheck(&fails, "[%10s][%-40s][%-6s][%1s][%.3s]", s, s, s, s, s);
		tcheck(&fails, "%s%s %s%s%s", s, "", s, "-", s);
		tcheck(&fails, "%c%c %5c", 'a', s[0] ? s[0] : 'z', 'q');
	}
	tcheck(&fails, "plain text, no conversion");
	tcheck(&fails, "%%%% %%d");
	const char *volatile null_str = NULL; /* a literal NULL is a compile-time warning */
	tcheck(&fails, "%s|%5s", null_str, null_str);
	tcheck(&fails, "%ld %lu %lld %llu %hd %hhu %i", -5L, 5UL, -6LL, 6ULL, (short)-7,
	       (unsigned char)200, -8);
	tcheck(&fails, "%+d % d %#x %p", 5, 5, 255, (void *)&fails);
	/* a piece longer than any internal buffer */
	char big[700];
	memset(big, 'b', sizeof big - 1);
	big[sizeof big - 1] = 0;
	tcheck(&fails, "%s|%s", big, "end");
	for (int iter = 0; iter < 5000; iter++) {
		int64_t v = (int64_t)(rnd() >> (rnd() % 64)) * (iter & 1 ? -1 : 1);
		int width = (int)(rnd() % 25);
		char fmt[32];
		snprintf(fmt, sizeof fmt, "%%%s%d%s", iter % 3 == 0 ? "-" : iter % 3 == 1 ? "0" : "",
			 width, PRId64);
		tcheck(&fails, fmt, v);
	}
	CHECK_EQ_INT(fails, 0);

	/* the direct appends: integers at their boundaries, strings, "HH:MM:SS" */
	static const int64_t is[] = {0, 9, 10, 99, 100, -1, -10, INT64_MAX, INT64_MIN};
	char want[64];
	for (size_t i = 0; i < sizeof is / sizeof is[0]; i++) {
		tout.tlen = 0;
		out_ti64(&tout, is[i]);
		out_tputs(&tout, "|");
		out_tu64(&tout, (uint64_t)is[i]);
		out_tputn(&tout, "|x", 1);
		snprintf(want, sizeof want, "%" PRId64 "|%" PRIu64 "|", is[i], (uint64_t)is[i]);
		CHECK_EQ_STR(tout.tbuf, want);
	}
	setenv("TZ", "Australia/Adelaide", 1);
	tzset();
	fails = 0;
	for (int i = 0; i < 3000; i++) {
		/* seconds in and out of order, so both the kept and the new value are checked */
		int64_t ts = (int64_t)(1700000000 + (int64_t)(rnd() % 200000) - (i % 7 == 0 ? 90000 : 0)) * 1000000;
		time_t t = (time_t)(ts / 1000000);
		struct tm tm;
		localtime_r(&t, &tm);
		strftime(want, sizeof want, "%H:%M:%S", &tm);
		fails += strcmp(out_hms(&tout, ts), want) != 0;
		fails += strcmp(out_hms(&tout, ts + 999999), want) != 0;
	}
	CHECK_EQ_INT(fails, 0);
	out_free(&tout);
}

/* out_text.c prints latencies below 10^12 us as integer and remainder parts instead of
 * "%.3f" of latency_us / 1000.0: the two must agree on every such value. */
static void test_ms_claim(void)
{
	unsigned fails = 0;
	for (int iter = 0; iter < 200000; iter++) {
		int64_t us = iter < 3000 ? iter : iter < 6000 ? 999999999999LL - (iter - 3000)
			   : (int64_t)(rnd() % 1000000000000ull);
		char a[64], b[64];
		snprintf(a, sizeof a, "%.3f", (double)us / 1000.0);
		snprintf(b, sizeof b, "%" PRId64 ".%03d", us / 1000, (int)(us % 1000));
		fails += strcmp(a, b) != 0;
	}
	CHECK_EQ_INT(fails, 0);
}

/* jw_copy at every length from 0 to 80 (each of its size classes and both edges): the
 * bytes copied exactly, nothing written before or after them. */
static void test_copy(void)
{
	unsigned fails = 0;
	uint64_t x = 0x9e3779b97f4a7c15ull;
	for (size_t n = 0; n <= 80; n++) {
		char src[80], dst[96];
		for (size_t i = 0; i < n; i++)
			src[i] = (char)(unit_xorshift(&x) & 0xff);
		memset(dst, '#', sizeof dst);
		jw_copy(dst + 8, src, n);
		fails += n && memcmp(dst + 8, src, n) != 0;
		for (size_t i = 0; i < 8; i++)
			fails += dst[i] != '#';
		for (size_t i = 8 + n; i < sizeof dst; i++)
			fails += dst[i] != '#';
	}
	CHECK_EQ_INT(fails, 0);
}

int main(void)
{
	test_copy();
	test_ms_claim();
	test_strn();
	test_key_bytes();
	test_ints();
	test_ts();
	test_keys();
	test_tprintf();
	return unit_summary("test_jw");
}
