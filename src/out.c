/* out.c: output plumbing shared by the printers: buffered lines, colour, text escaping. */
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "out.h"

void out_init(struct out *out, FILE *f, const struct cli_opts *o, bool live)
{
	memset(out, 0, sizeof *out);
	out->f = f;
	out->o = o;
	out->json = o->json;
	out->color = !o->json && (o->color == COLOR_ALWAYS ||
				  (o->color == COLOR_AUTO && isatty(fileno(f))));
	/* Live lines must show up as their packets do; a pipe to jq or grep too. */
	out->flush_each = live;
	jw_init(&out->jw);
}

void out_free(struct out *out)
{
	fflush(out->f);
	jw_free(&out->jw);
	free(out->tbuf);
	out->tbuf = NULL;
}

void out_record(struct out *out, const struct etcd_record *r, const struct meaning *m)
{
	if (out->json)
		out_json_record(out, r, m);
	else
		out_text_record(out, r, m);
}

void out_json_emit(struct out *out)
{
	struct jw *w = &out->jw;
	if (w->oom) {
		fputs("{\"kind\":\"notice\",\"what\":\"oom\"}\n", out->f);
	} else if (!w->buf) {
		fputc('\n', out->f);
	} else {
		/* the newline in the NUL's place: one unlocked write a line (single-threaded) */
		w->buf[w->len] = '\n';
		fwrite_unlocked(w->buf, 1, w->len + 1, out->f);
		w->buf[w->len] = 0;
	}
	if (out->flush_each)
		fflush(out->f);
}

const char *out_c(const struct out *out, const char *code) { return out->color ? code : ""; }

bool out_tgrow(struct out *out, size_t n)
{
	if (out->tlen + n + 1 <= out->tcap)
		return true;
	size_t cap = out->tcap ? out->tcap : 512;
	while (cap < out->tlen + n + 1)
		cap *= 2;
	char *nb = realloc(out->tbuf, cap);
	if (!nb)
		return false;
	out->tbuf = nb;
	out->tcap = cap;
	return true;
}

/* The general case: vsnprintf into the line; ap2 holds the same arguments as ap, for a
 * second pass when the piece is longer than the small buffer. */
static void out_tvprintf_libc(struct out *out, const char *fmt, va_list ap, va_list ap2)
{
	char small[256];
	int n = vsnprintf(small, sizeof small, fmt, ap);
	if (n >= 0 && out_tgrow(out, (size_t)n)) {
		if ((size_t)n < sizeof small)
			memcpy(out->tbuf + out->tlen, small, (size_t)n + 1);
		else
			vsnprintf(out->tbuf + out->tlen, (size_t)n + 1, fmt, ap2);
		out->tlen += (size_t)n;
	}
}

/* Appends n bytes; false when out of memory. */
static inline bool out_tput(struct out *out, const char *s, size_t n)
{
	if (out->tlen + n + 1 > out->tcap && !out_tgrow(out, n))
		return false;
	char *d = out->tbuf + out->tlen;
	memcpy(d, s, n);
	d[n] = 0;
	out->tlen += n;
	return true;
}

void out_tu64(struct out *out, uint64_t v)
{
	char b[24];
	size_t i = jw_u64_dec(b, v);
	out_tputn(out, b + i, 24 - i);
}

void out_ti64(struct out *out, int64_t v)
{
	char b[24];
	size_t i = jw_u64_dec(b, v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v);
	if (v < 0)
		b[--i] = '-';
	out_tputn(out, b + i, 24 - i);
}

const char *out_hms(struct out *out, ee_ts ts)
{
	time_t s = (time_t)(ts / 1000000);
	if (!out->hms_valid || out->hms_sec != (int64_t)s) {
		struct tm tm;
		localtime_r(&s, &tm);
		snprintf(out->hms, sizeof out->hms, "%02d:%02d:%02d", tm.tm_hour, tm.tm_min, tm.tm_sec);
		out->hms_sec = (int64_t)s;
		out->hms_valid = true;
	}
	return out->hms;
}

/* Appends n bytes and pad spaces to width (before them unless left); false when out of
 * memory. */
static bool out_tpad(struct out *out, const char *s, size_t n, size_t width, bool left)
{
	if (width <= n)
		return out_tput(out, s, n);
	size_t pad = width - n;
	if (!out_tgrow(out, n + pad))
		return false;
	char *d = out->tbuf + out->tlen;
	if (!left) {
		memset(d, ' ', pad);
		d += pad;
	}
	memcpy(d, s, n);
	d += n;
	if (left) {
		memset(d, ' ', pad);
		d += pad;
	}
	*d = 0;
	out->tlen = (size_t)(d - out->tbuf);
	return true;
}

enum tfmt_result { TFMT_DONE, TFMT_LIBC, TFMT_OOM };

/* printf for what the printers use on every line: %s %c %d %i %u %x with the l, ll and z
 * sizes, a width (digits or '*') and the '-' and '0' flags, %%. Anything else (a
 * precision, %f, other flags or sizes, a NULL string) answers TFMT_LIBC before or after
 * writing part of the line, and the caller starts again with vsnprintf. vsnprintf cost
 * about a thousand instructions a call: a third of `trace` (callgrind). */
static enum tfmt_result out_tfmt(struct out *out, const char *fmt, va_list ap)
{
	const char *p = fmt;
	for (;;) {
		const char *q = strchrnul(p, '%');
		if (q > p && !out_tput(out, p, (size_t)(q - p)))
			return TFMT_OOM;
		if (!*q)
			return TFMT_DONE;
		p = q + 1;
		if (*p == 's') { /* the most common conversion, without flags */
			const char *a = va_arg(ap, const char *);
			if (!a)
				return TFMT_LIBC;
			if (!out_tput(out, a, strlen(a)))
				return TFMT_OOM;
			p++;
			continue;
		}
		if (*p == '%') {
			if (!out_tput(out, "%", 1))
				return TFMT_OOM;
			p++;
			continue;
		}
		bool left = false, zero = false;
		for (;; p++) {
			if (*p == '-')
				left = true;
			else if (*p == '0')
				zero = true;
			else
				break;
		}
		size_t width = 0;
		if (*p == '*') {
			int wa = va_arg(ap, int);
			if (wa < 0) { /* as C says: a negative width is '-' and its magnitude */
				if (wa == INT_MIN)
					return TFMT_LIBC;
				left = true;
				wa = -wa;
			}
			width = (size_t)wa;
			if (width > 4096)
				return TFMT_LIBC;
			p++;
		} else {
			while (*p >= '0' && *p <= '9') {
				width = width * 10 + (size_t)(*p++ - '0');
				if (width > 4096)
					return TFMT_LIBC;
			}
		}
		int size = 0; /* 0 int, 1 long, 2 long long, 3 size_t */
		if (*p == 'l') {
			size = p[1] == 'l' ? 2 : 1;
			p += size;
		} else if (*p == 'z') {
			size = 3;
			p++;
		}
		char b[24];
		const char *s;
		size_t n;
		bool neg = false;
		uint64_t mag;
		switch (*p++) {
		case 's':
			s = va_arg(ap, const char *);
			if (size || zero || !s)
				return TFMT_LIBC;
			if (!out_tpad(out, s, strlen(s), width, left))
				return TFMT_OOM;
			continue;
		case 'c':
			b[0] = (char)va_arg(ap, int);
			if (size || zero)
				return TFMT_LIBC;
			if (!out_tpad(out, b, 1, width, left))
				return TFMT_OOM;
			continue;
		case 'd': case 'i': {
			int64_t v = size == 0 ? va_arg(ap, int) : size == 1 ? va_arg(ap, long)
				  : size == 2 ? va_arg(ap, long long) : (int64_t)va_arg(ap, ssize_t);
			neg = v < 0;
			mag = neg ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
			size_t i = jw_u64_dec(b, mag);
			s = b + i;
			n = 24 - i;
			break;
		}
		case 'u': case 'x': {
			mag = size == 0 ? va_arg(ap, unsigned) : size == 1 ? va_arg(ap, unsigned long)
			    : size == 2 ? va_arg(ap, unsigned long long) : (uint64_t)va_arg(ap, size_t);
			if (p[-1] == 'u') {
				size_t i = jw_u64_dec(b, mag);
				s = b + i;
				n = 24 - i;
			} else {
				char *e = b + sizeof b, *d = e;
				do {
					*--d = "0123456789abcdef"[mag & 15];
					mag >>= 4;
				} while (mag);
				s = d;
				n = (size_t)(e - d);
			}
			break;
		}
		default:
			return TFMT_LIBC;
		}
		/* an integer: sign, then zeros to the width with '0' (not with '-'), else spaces */
		size_t len = n + neg;
		if (zero && !left && width > len) {
			if (!out_tgrow(out, width))
				return TFMT_OOM;
			char *d = out->tbuf + out->tlen;
			if (neg)
				*d++ = '-';
			memset(d, '0', width - len);
			d += width - len;
			memcpy(d, s, n);
			d[n] = 0;
			out->tlen += width;
			continue;
		}
		if (neg) {
			char sb[25];
			sb[0] = '-';
			memcpy(sb + 1, s, n);
			if (!out_tpad(out, sb, n + 1, width, left))
				return TFMT_OOM;
		} else if (!out_tpad(out, s, n, width, left)) {
			return TFMT_OOM;
		}
	}
}

/* After out_tfmt did not finish: undo the part written (out of memory: the line keeps
 * nothing, as the vsnprintf path did). */
static void out_tundo(struct out *out, size_t start)
{
	out->tlen = start;
	if (out->tbuf)
		out->tbuf[start] = 0;
}

void out_tvprintf(struct out *out, const char *fmt, va_list ap)
{
	size_t start = out->tlen;
	va_list a1, a2;
	va_copy(a1, ap);
	va_copy(a2, ap);
	enum tfmt_result r = out_tfmt(out, fmt, ap);
	if (r != TFMT_DONE) {
		out_tundo(out, start);
		if (r == TFMT_LIBC)
			out_tvprintf_libc(out, fmt, a1, a2);
	}
	va_end(a2);
	va_end(a1);
}

/* out_tvprintf's steps with the arguments started anew for each pass (the clang
 * analyzer does not follow va_copy of a va_list parameter into a callee). */
void out_tprintf(struct out *out, const char *fmt, ...)
{
	size_t start = out->tlen;
	va_list ap;
	va_start(ap, fmt);
	enum tfmt_result r = out_tfmt(out, fmt, ap);
	va_end(ap);
	if (r != TFMT_DONE) {
		out_tundo(out, start);
		if (r == TFMT_LIBC) {
			va_list ap2;
			va_start(ap, fmt);
			va_start(ap2, fmt);
			out_tvprintf_libc(out, fmt, ap, ap2);
			va_end(ap2);
			va_end(ap);
		}
	}
}

/* Keys are bytes: printable ASCII as is, the rest as \xNN (like etcdctl's hex escapes). */
void out_tbytes(struct out *out, const uint8_t *p, size_t n)
{
	if (!out_tgrow(out, n * 4))
		return;
	char *o = out->tbuf + out->tlen;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];
		if (c >= 0x20 && c < 0x7f && c != '\\') {
			*o++ = (char)c;
		} else {
			static const char hex[] = "0123456789abcdef";
			*o++ = '\\';
			*o++ = 'x';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
		}
	}
	*o = 0;
	out->tlen = (size_t)(o - out->tbuf);
}

/* True when END is etcd's prefix end of KEY (what `etcdctl --prefix` sends):
 * KEY with trailing 0xff bytes dropped and the last byte incremented. */
static bool is_prefix_end(const uint8_t *key, size_t klen, const uint8_t *end, size_t elen)
{
	while (klen && key[klen - 1] == 0xff)
		klen--;
	if (!klen || elen != klen || memcmp(key, end, klen - 1) != 0)
		return false;
	return end[klen - 1] == (uint8_t)(key[klen - 1] + 1);
}

void out_trange(struct out *out, const uint8_t *key, size_t klen, const uint8_t *end, size_t elen)
{
	if (!key)
		key = (const uint8_t *)"";
	if (elen == 1 && end[0] == 0 && klen == 1 && key[0] == 0) {
		out_tlit(out, "(all keys)");
		return;
	}
	out_tbytes(out, key, klen);
	if (!elen)
		return;
	if (elen == 1 && end[0] == 0)
		out_tlit(out, "..");
	else if (is_prefix_end(key, klen, end, elen))
		out_tlit(out, "*");
	else {
		out_tlit(out, "..");
		out_tbytes(out, end, elen);
	}
}

void out_temit(struct out *out)
{
	if (out->tbuf)
		fwrite(out->tbuf, 1, out->tlen, out->f);
	fputc('\n', out->f);
	out->tlen = 0;
	if (out->tbuf)
		out->tbuf[0] = 0;
	if (out->flush_each)
		fflush(out->f);
}
