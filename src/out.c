/* out.c: output plumbing shared by the printers: buffered lines, colour, text escaping. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
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
	} else {
		fwrite(w->buf, 1, w->len, out->f);
		fputc('\n', out->f);
	}
	if (out->flush_each)
		fflush(out->f);
}

const char *out_c(const struct out *out, const char *code) { return out->color ? code : ""; }

static bool out_troom(struct out *out, size_t n)
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

void out_tprintf(struct out *out, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char small[256];
	int n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0 || !out_troom(out, (size_t)n))
		return;
	if ((size_t)n < sizeof small) {
		memcpy(out->tbuf + out->tlen, small, (size_t)n + 1);
	} else {
		va_start(ap, fmt);
		vsnprintf(out->tbuf + out->tlen, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	out->tlen += (size_t)n;
}

/* Keys are bytes: printable ASCII as is, the rest as \xNN (like etcdctl's hex escapes). */
void out_tbytes(struct out *out, const uint8_t *p, size_t n)
{
	if (!out_troom(out, n * 4))
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
		out_tprintf(out, "(all keys)");
		return;
	}
	out_tbytes(out, key, klen);
	if (!elen)
		return;
	if (elen == 1 && end[0] == 0)
		out_tprintf(out, "..");
	else if (is_prefix_end(key, klen, end, elen))
		out_tprintf(out, "*");
	else {
		out_tprintf(out, "..");
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
