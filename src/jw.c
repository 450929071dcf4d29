/* jw.c: JSON lines writer (see jw.h). */
#include "jw.h"

#include <inttypes.h>
#include <stdio.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <stdlib.h>
#include <string.h>

void jw_init(struct jw *w) { memset(w, 0, sizeof *w); }
void jw_free(struct jw *w) { free(w->buf); memset(w, 0, sizeof *w); }

void jw_reset(struct jw *w)
{
	w->len = 0;
	w->need_comma = false;
	w->oom = false;
}

bool jw_grow(struct jw *w, size_t n)
{
	if (w->oom)
		return false;
	if (w->len + n + 1 <= w->cap)
		return true;
	size_t cap = w->cap ? w->cap : 1024;
	while (cap < w->len + n + 1)
		cap *= 2;
	char *nb = realloc(w->buf, cap);
	if (!nb) {
		w->oom = true;
		return false;
	}
	w->buf = nb;
	w->cap = cap;
	return true;
}

/* The fast paths test the room inline: these two run for every byte group of every line
 * (a tenth of --json trace in the profile when they were plain calls). */
static inline void jw_put(struct jw *w, const char *s, size_t n)
{
	if (w->len + n + 1 > w->cap && !jw_grow(w, n))
		return;
	memcpy(w->buf + w->len, s, n);
	w->len += n;
	w->buf[w->len] = 0;
}

static inline void jw_putc(struct jw *w, char c)
{
	if (w->len + 2 > w->cap && !jw_grow(w, 1))
		return;
	w->buf[w->len++] = c;
	w->buf[w->len] = 0;
}

static void jw_sep(struct jw *w)
{
	if (w->need_comma)
		jw_putc(w, ',');
	w->need_comma = true;
}

void jw_obj_begin(struct jw *w) { jw_sep(w); jw_putc(w, '{'); w->need_comma = false; }
void jw_obj_end(struct jw *w) { jw_putc(w, '}'); w->need_comma = true; }
void jw_arr_begin(struct jw *w) { jw_sep(w); jw_putc(w, '['); w->need_comma = false; }
void jw_arr_end(struct jw *w) { jw_putc(w, ']'); w->need_comma = true; }

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when invalid. */
static size_t utf8_seq(const uint8_t *s, size_t n)
{
	uint8_t c = s[0];
	if (c < 0x80)
		return 1;
	size_t len;
	uint32_t min;
	if ((c & 0xe0) == 0xc0) { len = 2; min = 0x80; c &= 0x1f; }
	else if ((c & 0xf0) == 0xe0) { len = 3; min = 0x800; c &= 0x0f; }
	else if ((c & 0xf8) == 0xf0) { len = 4; min = 0x10000; c &= 0x07; }
	else return 0;
	if (n < len)
		return 0;
	uint32_t cp = c;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

bool utf8_valid(const uint8_t *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		if (n - i >= 8) { /* 8 ASCII bytes at a time: keys are mostly ASCII */
			uint64_t x;
			memcpy(&x, s + i, 8);
			if (!(x & 0x8080808080808080ull)) {
				i += 8;
				continue;
			}
		}
		if (s[i] < 0x80) { i++; continue; }
		size_t l = utf8_seq(s + i, n - i);
		if (!l)
			return false;
		i += l;
	}
	return true;
}

/* True when none of the 8 bytes at s needs escaping in JSON with ASCII output: no byte
 * below 0x20, no '"', no '\\', no byte with the high bit set. Once the high bits are
 * known clear the bit tests are exact (no borrow crosses a byte); a word that fails goes
 * through the byte loop, which decides. Strings are most of a JSON line, and the byte
 * loop's four compares a byte were a tenth of `--json trace` (docs/performance.md). */
static inline bool jw_plain8(const void *s)
{
	const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
	uint64_t x;
	memcpy(&x, s, 8);
	uint64_t q = x ^ 0x22 * ones, b = x ^ 0x5c * ones; /* zero where '"', '\\' */
	uint64_t bad = ((x - 0x20 * ones) & ~x) | ((q - ones) & ~q) | ((b - ones) & ~b);
	return !((x | bad) & highs);
}

/* jw_plain8 for 4 bytes. */
static inline bool jw_plain4(const void *s)
{
	const uint32_t ones = 0x01010101u, highs = 0x80808080u;
	uint32_t x;
	memcpy(&x, s, 4);
	uint32_t q = x ^ 0x22 * ones, b = x ^ 0x5c * ones;
	uint32_t bad = ((x - 0x20 * ones) & ~x) | ((q - ones) & ~q) | ((b - ones) & ~b);
	return !((x | bad) & highs);
}

#ifdef __SSE2__
/* Bit k set when s[k] (of 16) needs escaping, as jw_plain8 decides: the signed compare
 * "below 0x20" also catches every byte >= 0x80 (negative as int8). */
static inline unsigned jw_bad16(const uint8_t *s)
{
	__m128i x = _mm_loadu_si128((const __m128i *)(const void *)s);
	__m128i bad = _mm_or_si128(_mm_cmplt_epi8(x, _mm_set1_epi8(0x20)),
				   _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('"')),
						_mm_cmpeq_epi8(x, _mm_set1_epi8('\\'))));
	return (unsigned)_mm_movemask_epi8(bad);
}
#endif

/* 1 for the bytes jw_plain8 calls plain: printable ASCII but '"' and '\\'. A lookup
 * per byte where the compares were four (the tails of strings, 1.6% of --json trace). */
static const uint8_t JW_PLAIN[256] = {
	['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['('] = 1, [')'] = 1,
	['*'] = 1, ['+'] = 1, [','] = 1, ['-'] = 1, ['.'] = 1, ['/'] = 1, [':'] = 1, [';'] = 1,
	['<'] = 1, ['='] = 1, ['>'] = 1, ['?'] = 1, ['@'] = 1, ['['] = 1, [']'] = 1, ['^'] = 1,
	['_'] = 1, ['`'] = 1, ['{'] = 1, ['|'] = 1, ['}'] = 1, ['~'] = 1, [' '] = 1, [0x7f] = 1,
	['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
	['8'] = 1, ['9'] = 1,
	['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1,
	['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1,
	['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
	['Y'] = 1, ['Z'] = 1,
	['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1,
	['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1,
	['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
	['y'] = 1, ['z'] = 1,
};

/* End of the run of plain ASCII (see jw_plain8) starting at s[i]. Whole words first (16
 * bytes with SSE2, which also says where the first byte to escape is; else 8); when they
 * run out, the last word of the string is tested once more, overlapping bytes already
 * known plain, so a plain string of 4 bytes or more never goes through the byte loop
 * (scanning strings was the larger part of jw_strn, itself 5% of --json trace). Always
 * inlined: gcc made it a call, 0.6% of --json trace (callgrind). */
static inline __attribute__((always_inline)) size_t jw_plain_run(const uint8_t *s, size_t i, size_t n)
{
#ifdef __SSE2__
	if (n - i >= 16) {
		do {
			unsigned m = jw_bad16(s + i);
			if (m)
				return i + (size_t)__builtin_ctz(m);
			i += 16;
		} while (n - i >= 16);
		if (i == n)
			return n;
		unsigned m = jw_bad16(s + n - 16);
		return m ? n - 16 + (size_t)__builtin_ctz(m) : n;
	}
#endif
	if (n - i >= 4 && n - i < 8) {
		if (jw_plain4(s + i) && jw_plain4(s + n - 4))
			return n;
		goto bytes;
	}
	while (n - i >= 8) {
		if (!jw_plain8(s + i))
			goto bytes;
		i += 8;
	}
	if (i < n && n >= 8 && jw_plain8(s + n - 8))
		return n;
bytes:
	while (i < n && JW_PLAIN[s[i]])
		i++;
	return i;
}

/* jw_strn for a string with something to escape: plain runs copied whole, the rest byte
 * by byte. Not inlined: the common plain case should not pay for its registers. */
static __attribute__((noinline)) void jw_strn_escaped(struct jw *w, const uint8_t *s, size_t n)
{
	jw_sep(w);
	if (!jw_grow(w, n + 2))
		return;
	w->buf[w->len++] = '"';
	size_t i = 0;
	while (i < n) {
		/* copy runs of plain ASCII in one go */
		size_t run = jw_plain_run(s, i, n);
		if (run > i) {
			jw_put(w, (const char *)s + i, run - i);
			i = run;
			continue;
		}
		uint8_t c = s[i];
		char esc[8];
		if (c == '"') { jw_put(w, "\\\"", 2); i++; }
		else if (c == '\\') { jw_put(w, "\\\\", 2); i++; }
		else if (c == '\n') { jw_put(w, "\\n", 2); i++; }
		else if (c == '\r') { jw_put(w, "\\r", 2); i++; }
		else if (c == '\t') { jw_put(w, "\\t", 2); i++; }
		else if (c < 0x20) { snprintf(esc, sizeof esc, "\\u%04x", c); jw_put(w, esc, 6); i++; }
		else {
			size_t l = utf8_seq(s + i, n - i);
			if (l) { jw_put(w, (const char *)s + i, l); i += l; }
			else { jw_put(w, "\\ufffd", 6); i++; }
		}
	}
	jw_putc(w, '"');
}

/* `,"s"` for a string known to need no escaping: one room check, one copy. */
static inline void jw_strn_plain(struct jw *w, const uint8_t *s, size_t n)
{
	if (w->len + n + 4 > w->cap && !jw_grow(w, n + 3))
		return;
	char *d = w->buf + w->len;
	*d = ',';
	d += w->need_comma;
	*d++ = '"';
	jw_copy(d, s, n); /* s may be NULL when n is 0: nothing read then */
	d += n;
	*d++ = '"';
	*d = 0;
	w->len = (size_t)(d - w->buf);
	w->need_comma = true;
}

/* Most strings (connection names, keys, user agents, resource fields) have nothing to
 * escape: one scan, then jw_strn_plain. */
void jw_strn(struct jw *w, const uint8_t *s, size_t n)
{
	if (jw_plain_run(s, 0, n) == n)
		jw_strn_plain(w, s, n);
	else
		jw_strn_escaped(w, s, n);
}

/* "00" "01" ... "99": two digits per step halve the multiply-shift divisions. */
static const char DIGIT_PAIRS[201] =
	"00010203040506070809101112131415161718192021222324252627282930313233343536373839"
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879"
	"8081828384858687888990919293949596979899";

/* Decimal digits of v (1..20). */
static inline size_t u64_ndigits(uint64_t v)
{
	size_t n = 1;
	while (v >= 10000) {
		v /= 10000;
		n += 4;
	}
	return n + (v >= 10) + (v >= 100) + (v >= 1000);
}

/* Writes the decimal digits of v into b, ending just before b[end] (u64_ndigits of
 * them). Indexes, not a pointer to the end: cppcheck's ctuPointerArith. */
static inline void u64_put_digits(char *b, size_t end, uint64_t v)
{
	while (v >= 100) {
		uint64_t q = v / 100;
		end -= 2;
		memcpy(&b[end], DIGIT_PAIRS + 2 * (v - q * 100), 2);
		v = q;
	}
	if (v >= 10) {
		end -= 2;
		memcpy(&b[end], DIGIT_PAIRS + 2 * v, 2);
	} else {
		b[end - 1] = (char)('0' + v);
	}
}

size_t jw_u64_dec(char b[24], uint64_t v)
{
	u64_put_digits(b, 24, v);
	return 24 - u64_ndigits(v);
}

/* An integer straight into the line: `,` when needed, '-' when neg, the digits of mag;
 * one room check (integers are most of what a JSON line holds; snprintf, then a digit
 * loop and a copy per integer showed in the profile). */
static void jw_int(struct jw *w, bool neg, uint64_t mag)
{
	size_t nd = u64_ndigits(mag);
	if (w->len + nd + 3 > w->cap && !jw_grow(w, nd + 2))
		return;
	char *d = w->buf + w->len;
	*d = ',';
	d += w->need_comma;
	*d = '-';
	d += neg;
	u64_put_digits(d, nd, mag);
	d += nd;
	*d = 0;
	w->len = (size_t)(d - w->buf);
	w->need_comma = true;
}

void jw_i64(struct jw *w, int64_t v)
{
	jw_int(w, v < 0, v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v);
}

void jw_u64(struct jw *w, uint64_t v) { jw_int(w, false, v); }

void jw_bool(struct jw *w, bool v) { jw_sep(w); jw_put(w, v ? "true" : "false", v ? 4 : 5); }
void jw_null(struct jw *w) { jw_sep(w); jw_put(w, "null", 4); }

void jw_ts(struct jw *w, int64_t ts_us)
{
	int64_t s = ts_us / 1000000, us = ts_us % 1000000;
	if (us < 0) { us += 1000000; s -= 1; }
	/* "%lld.%06lld" by hand: one per line, snprintf showed in the profile */
	char b[32];
	size_t i = sizeof b - 6;
	memcpy(b + i, DIGIT_PAIRS + 2 * (us / 10000), 2);
	memcpy(b + i + 2, DIGIT_PAIRS + 2 * (us / 100 % 100), 2);
	memcpy(b + i + 4, DIGIT_PAIRS + 2 * (us % 100), 2);
	b[--i] = '.';
	uint64_t mag = s < 0 ? (uint64_t)0 - (uint64_t)s : (uint64_t)s;
	u64_put_digits(b, i, mag);
	i -= u64_ndigits(mag);
	if (s < 0)
		b[--i] = '-';
	jw_sep(w);
	jw_put(w, b + i, sizeof b - i);
}

void jw_raw(struct jw *w, const char *json, size_t n) { jw_sep(w); jw_put(w, json, n); }

size_t base64_encode(const uint8_t *in, size_t n, char *out)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0, i = 0;
	for (; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = tab[v >> 18]; out[o++] = tab[(v >> 12) & 63];
		out[o++] = tab[(v >> 6) & 63]; out[o++] = tab[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
		out[o++] = tab[v >> 18]; out[o++] = tab[(v >> 12) & 63];
		out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		out[o++] = '=';
	}
	out[o] = 0;
	return o;
}

void jw_key_bytes(struct jw *w, const char *name, const uint8_t *s, size_t n)
{
	/* plain ASCII, the usual key, is valid UTF-8 with nothing to escape: one scan */
	if (jw_plain_run(s, 0, n) == n) {
		jw_key(w, name);
		jw_strn_plain(w, s, n);
		return;
	}
	if (utf8_valid(s, n)) {
		jw_key(w, name);
		jw_strn(w, s, n);
		return;
	}
	char k[64];
	snprintf(k, sizeof k, "%s_b64", name);
	jw_key(w, k);
	size_t need = 4 * ((n + 2) / 3) + 1;
	char small[256];
	char *out = need <= sizeof small ? small : malloc(need);
	if (!out) { w->oom = true; return; }
	size_t len = base64_encode(s, n, out);
	jw_strn(w, (const uint8_t *)out, len);
	if (out != small)
		free(out);
}

/* How a jansson value is written: json_dumps flags JSON_COMPACT | JSON_ENCODE_ANY, with or
 * without JSON_ENSURE_ASCII, and where a preview may stop (0: never). */
struct jw_json_opts {
	bool ascii;
	size_t limit;
};

static bool jw_json_full(const struct jw *w, const struct jw_json_opts *o)
{
	return o->limit && w->len >= o->limit;
}

/* A jansson string as json_dumps writes it: jansson strings are valid UTF-8 (json_stringn
 * checks); escapes are backslash, quote, \b \f \n \r \t, other control characters as
 * \u00XX (upper-case hex); with ascii, every non-ASCII code point as \uXXXX too
 * (surrogate pairs above U+FFFF), else its UTF-8 bytes. */
static void jw_json_str(struct jw *w, const char *s, size_t n, const struct jw_json_opts *o)
{
	static const char hex[] = "0123456789ABCDEF";
	if (jw_plain_run((const uint8_t *)s, 0, n) == n) {
		/* nothing to escape (most names and values of a diff): one copy */
		if (w->len + n + 3 > w->cap && !jw_grow(w, n + 2))
			return;
		char *d = w->buf + w->len;
		*d++ = '"';
		jw_copy(d, s, n);
		d += n;
		*d++ = '"';
		*d = 0;
		w->len = (size_t)(d - w->buf);
		return;
	}
	jw_putc(w, '"');
	size_t i = 0;
	while (i < n && !jw_json_full(w, o)) {
		size_t run = jw_plain_run((const uint8_t *)s, i, n);
		/* UTF-8 is kept as it is without ascii */
		while (!o->ascii && run < n && ((uint8_t)s[run] >= 0x80 ||
		       ((uint8_t)s[run] >= 0x20 && s[run] != '"' && s[run] != '\\')))
			run++;
		if (run > i) {
			jw_put(w, s + i, run - i);
			i = run;
			continue;
		}
		uint8_t c = (uint8_t)s[i];
		const char *esc = NULL;
		switch (c) {
		case '\\': esc = "\\\\"; break;
		case '"': esc = "\\\""; break;
		case '\b': esc = "\\b"; break;
		case '\f': esc = "\\f"; break;
		case '\n': esc = "\\n"; break;
		case '\r': esc = "\\r"; break;
		case '\t': esc = "\\t"; break;
		}
		if (esc) {
			jw_put(w, esc, 2);
			i++;
			continue;
		}
		uint32_t cp = c;
		size_t len = 1;
		if (c >= 0x80) {
			len = utf8_seq((const uint8_t *)s + i, n - i);
			if (!len) {
				/* not from jansson; keep the output valid JSON */
				jw_put(w, "\\uFFFD", 6);
				i++;
				continue;
			}
			cp = len == 2 ? c & 0x1f : len == 3 ? c & 0x0f : c & 0x07;
			for (size_t j = 1; j < len; j++)
				cp = cp << 6 | ((uint8_t)s[i + j] & 0x3f);
		}
		uint32_t units[2] = {cp, 0};
		int nu = 1;
		if (cp >= 0x10000) {
			cp -= 0x10000;
			units[0] = 0xd800 | (cp >> 10);
			units[1] = 0xdc00 | (cp & 0x3ff);
			nu = 2;
		}
		for (int u = 0; u < nu; u++) {
			char e[6] = {'\\', 'u', hex[units[u] >> 12 & 15], hex[units[u] >> 8 & 15],
				     hex[units[u] >> 4 & 15], hex[units[u] & 15]};
			jw_put(w, e, 6);
		}
		i += len;
	}
	jw_putc(w, '"');
}

static void jw_json_value(struct jw *w, const json_t *v, const struct jw_json_opts *o)
{
	if (jw_json_full(w, o))
		return;
	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		const char *k;
		json_t *m;
		bool first = true;
		jw_putc(w, '{');
		json_object_foreach((json_t *)v, k, m) {
			if (jw_json_full(w, o))
				return;
			if (!first)
				jw_putc(w, ',');
			first = false;
			jw_json_str(w, k, strlen(k), o);
			jw_putc(w, ':');
			jw_json_value(w, m, o);
		}
		jw_putc(w, '}');
		break;
	}
	case JSON_ARRAY: {
		jw_putc(w, '[');
		for (size_t i = 0, n = json_array_size(v); i < n && !jw_json_full(w, o); i++) {
			if (i)
				jw_putc(w, ',');
			jw_json_value(w, json_array_get(v, i), o);
		}
		jw_putc(w, ']');
		break;
	}
	case JSON_STRING:
		jw_json_str(w, json_string_value(v), json_string_length(v), o);
		break;
	case JSON_INTEGER: {
		char b[24];
		json_int_t x = json_integer_value(v);
		uint64_t mag = x < 0 ? (uint64_t)0 - (uint64_t)x : (uint64_t)x;
		size_t i = jw_u64_dec(b, mag);
		if (x < 0)
			b[--i] = '-';
		jw_put(w, b + i, 24 - i);
		break;
	}
	case JSON_TRUE: jw_put(w, "true", 4); break;
	case JSON_FALSE: jw_put(w, "false", 5); break;
	case JSON_NULL: jw_put(w, "null", 4); break;
	case JSON_REAL: {
		/* rare in Kubernetes objects: jansson's own formatting (%.17g, ".0", exponent) */
		char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_ENSURE_ASCII);
		if (s) {
			jw_put(w, s, strlen(s));
			free(s);
		} else {
			w->oom = true;
		}
		break;
	}
	}
}

void jw_json(struct jw *w, const json_t *v)
{
	struct jw_json_opts o = {true, 0};
	jw_sep(w);
	if (v)
		jw_json_value(w, v, &o);
	else
		jw_put(w, "null", 4);
}

void jw_json_preview(struct jw *w, const json_t *v, size_t limit)
{
	struct jw_json_opts o = {false, limit};
	jw_reset(w);
	if (v)
		jw_json_value(w, v, &o);
	else
		jw_put(w, "null", 4);
}
