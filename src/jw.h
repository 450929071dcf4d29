/* jw.h: a small streaming JSON writer into a reusable buffer, for the JSON lines output.
 * No allocation once the buffer has grown to the largest line; no jansson on the hot path.
 * Usage: jw_reset, jw_obj_begin, jw_key + value..., jw_obj_end, then write jw->buf. */
#ifndef EE_JW_H
#define EE_JW_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct jw {
	char *buf;
	size_t len, cap;
	bool need_comma;  /* a value was written at this level */
	bool oom;         /* sticky: an allocation failed, the line is incomplete */
};

void jw_init(struct jw *w);
void jw_free(struct jw *w);
void jw_reset(struct jw *w);
void jw_obj_begin(struct jw *w);
void jw_obj_end(struct jw *w);
void jw_arr_begin(struct jw *w);
void jw_arr_end(struct jw *w);
/* Makes room for n more bytes plus a NUL; false (w->oom set) when it cannot. */
bool jw_grow(struct jw *w, size_t n);
/* Copies n bytes from s to d. Most strings of a line (key names, connection names, user
 * agents, kinds) are under 32 bytes, and memcpy of a length known only at run time is a
 * libc call per string (about 700 000 on the benchmark slice): two overlapping fixed-size
 * copies that stay inside both buffers cost a few moves instead. */
static inline void jw_copy(char *d, const void *s, size_t n)
{
	const char *c = s;
	if (n >= 16 && n <= 32) {
		memcpy(d, c, 16);
		memcpy(d + n - 16, c + n - 16, 16);
	} else if (n >= 8 && n < 16) {
		memcpy(d, c, 8);
		memcpy(d + n - 8, c + n - 8, 8);
	} else if (n >= 4 && n < 8) {
		memcpy(d, c, 4);
		memcpy(d + n - 4, c + n - 4, 4);
	} else if (n > 0 && n < 4) {
		d[0] = c[0];
		d[n / 2] = c[n / 2];
		d[n - 1] = c[n - 1];
	} else if (n > 32) {
		memcpy(d, c, n);
	}
}

/* Writes "name": — the next call writes the value. Inline, room checked once, so that a
 * literal name costs no strlen and its memcpy of a constant length becomes a few moves
 * (strlen, then the call and memcpy per key, showed in the profile). */
static inline void jw_keyn(struct jw *w, const char *name, size_t n)
{
	if (w->len + n + 5 > w->cap && !jw_grow(w, n + 4))
		return;
	char *d = w->buf + w->len;
	*d = ',';
	d += w->need_comma;
	*d++ = '"';
	jw_copy(d, name, n);
	d += n;
	*d++ = '"';
	*d++ = ':';
	*d = 0;
	w->len = (size_t)(d - w->buf);
	w->need_comma = false;
}
static inline void jw_key(struct jw *w, const char *name) { jw_keyn(w, name, strlen(name)); }
void jw_strn(struct jw *w, const uint8_t *s, size_t n);  /* escapes; invalid UTF-8 as \ufffd */
static inline void jw_str(struct jw *w, const char *s)
{
	jw_strn(w, (const uint8_t *)(s ? s : ""), s ? strlen(s) : 0);
}
void jw_i64(struct jw *w, int64_t v);
void jw_u64(struct jw *w, uint64_t v);
void jw_bool(struct jw *w, bool v);
void jw_null(struct jw *w);
void jw_ts(struct jw *w, int64_t ts_us);                  /* seconds with 6 decimals */
void jw_raw(struct jw *w, const char *json, size_t n);    /* already-encoded JSON value */
/* A jansson value, byte for byte as json_dumps(v, JSON_COMPACT | JSON_ENSURE_ASCII |
 * JSON_ENCODE_ANY) writes it, without building the string first. */
void jw_json(struct jw *w, const json_t *v);
/* Resets w, then writes v as json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) does (UTF-8
 * kept), stopping once limit bytes are written: the first limit bytes are exact, what
 * follows them is cut short. For previews that print a prefix of a value. */
void jw_json_preview(struct jw *w, const json_t *v, size_t limit);
/* Writes "name":"key" when bytes are valid UTF-8, else "name_b64":"base64". */
void jw_key_bytes(struct jw *w, const char *name, const uint8_t *s, size_t n);

/* Convenience: key + value. */
static inline void jw_kstr(struct jw *w, const char *k, const char *v) { jw_key(w, k); jw_str(w, v); }
static inline void jw_ki64(struct jw *w, const char *k, int64_t v) { jw_key(w, k); jw_i64(w, v); }
static inline void jw_ku64(struct jw *w, const char *k, uint64_t v) { jw_key(w, k); jw_u64(w, v); }
static inline void jw_kbool(struct jw *w, const char *k, bool v) { jw_key(w, k); jw_bool(w, v); }

/* Decimal digits of v, right-aligned in b[24]; returns the offset of the first one. */
size_t jw_u64_dec(char b[24], uint64_t v);

bool utf8_valid(const uint8_t *s, size_t n);
/* base64 (RFC 4648) of n bytes into out (needs 4*((n+2)/3)+1); returns length. */
size_t base64_encode(const uint8_t *in, size_t n, char *out);

#endif
