/* out.h: printers, the last stage (DESIGN.md "out"). They only read records, meanings and
 * the store; nothing here decodes. Text is a tcpdump-like timeline (one line per RPC, write
 * or watch event, colour on a TTY); JSON lines follow docs/json.md. */
#ifndef EE_OUT_H
#define EE_OUT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "jw.h"
#include "meaning.h"
#include "record.h"

struct out {
	FILE *f;
	const struct cli_opts *o;
	bool json;
	bool color;
	bool flush_each;   /* live: every line reaches the terminal at once */
	struct jw jw;
	char *tbuf;        /* text line buffer */
	size_t tlen, tcap;
	/* "HH:MM:SS" of the second hms_sec (local time), when hms_valid: localtime_r per
	 * line was a tenth of the text printer, and lines come many to a second */
	bool hms_valid;
	int64_t hms_sec;
	char hms[16];
};

void out_init(struct out *out, FILE *f, const struct cli_opts *o, bool live);
void out_free(struct out *out);
/* One trace record, in the selected format. */
void out_record(struct out *out, const struct etcd_record *r, const struct meaning *m);
void out_json_record(struct out *out, const struct etcd_record *r, const struct meaning *m);
void out_text_record(struct out *out, const struct etcd_record *r, const struct meaning *m);
/* Emits the finished JSON line in out->jw (adds the newline, flushes when live). */
void out_json_emit(struct out *out);
/* The text buffer: tprintf appends, temit writes the line. */
void out_tprintf(struct out *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void out_tvprintf(struct out *out, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
void out_tbytes(struct out *out, const uint8_t *p, size_t n); /* printable, escaped */
/* Direct appends for the pieces of every line, without a format to parse (out_tprintf
 * was a third of `trace` with vsnprintf, and is still most of the text printer). */
bool out_tgrow(struct out *out, size_t n); /* room for n more bytes and a NUL */
static inline void out_tputn(struct out *out, const char *s, size_t n)
{
	if (out->tlen + n + 1 > out->tcap && !out_tgrow(out, n))
		return;
	memcpy(out->tbuf + out->tlen, s, n);
	out->tlen += n;
	out->tbuf[out->tlen] = 0;
}
static inline void out_tputs(struct out *out, const char *s) { out_tputn(out, s, strlen(s)); }
/* A string literal, its length known at compile time ("" lit: literals only). */
#define out_tlit(out, lit) out_tputn((out), "" lit, sizeof(lit) - 1)
void out_tu64(struct out *out, uint64_t v);   /* "%" PRIu64 */
void out_ti64(struct out *out, int64_t v);    /* "%" PRId64 */
/* "HH:MM:SS" of the second ts / 10^6 in local time, kept until the second changes. */
const char *out_hms(struct out *out, ee_ts ts);
/* A key range as the user typed it: KEY, KEY* (a prefix), KEY.. (from KEY on),
 * KEY..END, or (all keys). */
void out_trange(struct out *out, const uint8_t *key, size_t klen, const uint8_t *end, size_t elen);
void out_temit(struct out *out);
/* Colour helpers (no-ops without colour). */
const char *out_c(const struct out *out, const char *code);

/* JSON helpers shared by the report printers. */
void out_json_meaning(struct jw *w, const struct meaning *m, const struct cli_opts *o);
void out_json_k8s_key(struct jw *w, const struct k8s_key *k);
const char *out_op_name(enum rec_op op);
const char *out_grpc_code_name(int code);
const char *out_watch_event_name(enum rec_watch_event e);

#endif
