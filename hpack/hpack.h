/* hpack.h: HPACK header block decoding (RFC 7541), one decoder per connection direction.
 *
 * Two modes:
 *  - exact: the connection was seen from its start, so the dynamic table is fully known.
 *    Decoding goes through nghttp2's inflater (nghttp2_hd_inflate_hd2), the reference.
 *  - partial: joined mid-connection. The dynamic table holds entries inserted before the
 *    capture. Our own decoder keeps going: static-table and literal fields decode; a field
 *    that points at a pre-capture entry is marked HPACK_F_UNKNOWN with a stable `unknown_id`
 *    (1 = the newest entry inserted before the capture, 2 = the one before it ...), which
 *    stays the same as later insertions shift indices. hpack_decoder_learn() names such an
 *    entry once a higher layer knows what it must have been (e.g. the etcd method that a
 *    stream's :path carried), and later references to it then decode normally.
 * A decoder that fails stays failed (sticky, as nghttp2's ctx.bad): hpack_decoder_failed(). */
#ifndef EE_HPACK_H
#define EE_HPACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HPACK_F_UNKNOWN_NAME 0x01  /* name refers to a pre-capture entry */
#define HPACK_F_UNKNOWN_VALUE 0x02 /* value refers to a pre-capture entry */
#define HPACK_F_NEVER_INDEXED 0x04
#define HPACK_F_LEARNED 0x08       /* came from an entry named by hpack_decoder_learn */

/* Largest header block accepted (after CONTINUATION) and largest decoded field; past these
 * the block is rejected with EE_LIMIT (an HPACK bomb must not grow memory). */
#define HPACK_MAX_BLOCK (256u * 1024)
#define HPACK_MAX_FIELD (64u * 1024)
/* Largest dynamic table we honour, whatever SETTINGS say. */
#define HPACK_MAX_TABLE (1u << 20)

struct hpack_field {
	const uint8_t *name;  /* borrowed until the emit callback returns; "" when unknown */
	size_t name_len;
	const uint8_t *value;
	size_t value_len;
	uint32_t flags;       /* HPACK_F_* */
	uint64_t unknown_id;  /* for UNKNOWN fields: which pre-capture entry (>= 1) */
};

typedef void (*hpack_emit_fn)(void *ctx, const struct hpack_field *f);

struct hpack_decoder;

/* exact = true when the direction is decoded from the connection's first header block. */
struct hpack_decoder *hpack_decoder_new(bool exact);
void hpack_decoder_free(struct hpack_decoder *d);

/* Decodes one complete header block (HEADERS + CONTINUATIONs joined), calling emit per field
 * in order. Returns the number of fields or a negative EE_* code. After an error in exact
 * mode the decoder is failed; the caller may replace it with a partial one. */
int hpack_decode_block(struct hpack_decoder *d, const uint8_t *blk, size_t len, hpack_emit_fn emit,
		       void *ctx);

/* SETTINGS_HEADER_TABLE_SIZE from the peer that decodes with this table (the upper bound
 * that dynamic table size updates may use). */
void hpack_decoder_set_max_table(struct hpack_decoder *d, uint32_t size);

/* Names a pre-capture entry. Returns 0, or EE_MALFORMED when the id is unknown/evicted.
 * value may be NULL when only the name is known (the value then stays UNKNOWN_VALUE). May be
 * called from the emit callback, even with the field's own views as name or value when they
 * are NUL-terminated (learned names are); the field's views are not valid after it. */
int hpack_decoder_learn(struct hpack_decoder *d, uint64_t unknown_id, const char *name,
			const char *value);

/* Counters for the report: what partial mode tolerated or could not know. */
struct hpack_stats {
	uint64_t blocks, fields;
	uint64_t unknown_fields;      /* fields with HPACK_F_UNKNOWN_NAME or _VALUE */
	uint64_t learned_fields;      /* fields with HPACK_F_LEARNED */
	uint64_t late_size_updates;   /* table size update after a field (RFC 7541 4.2) */
	uint64_t oversize_updates;    /* table size update above the SETTINGS bound */
	uint64_t evictions;           /* known entries evicted from the dynamic table */
};
void hpack_decoder_stats(const struct hpack_decoder *d, struct hpack_stats *st);

/* Replay cache (on by default): a block byte-identical to one decoded since the dynamic
 * table last changed, and made only of representations that leave the table alone, is not
 * decoded again; its fields are replayed. Callers see exactly what decoding would give
 * (fields, order, return value, stats). The switch exists for the differential unit test;
 * hits counts replayed blocks. */
void hpack_decoder_set_cache(struct hpack_decoder *d, bool on);
uint64_t hpack_decoder_cache_hits(const struct hpack_decoder *d);

/* True inside an emit callback of a replayed block. The views that callback gets then stay
 * valid until the next hpack_decode_block or hpack_decoder_free on d (they point into the
 * cache entry), not only until it returns: a caller may keep them instead of copying. */
bool hpack_decoder_replaying(const struct hpack_decoder *d);

bool hpack_decoder_failed(const struct hpack_decoder *d);
bool hpack_decoder_exact(const struct hpack_decoder *d);

/* Huffman decoding (RFC 7541 Appendix B). Writes at most outcap bytes; returns the decoded
 * length or a negative EE_* code (bad code, bad padding, EOS, or outcap too small). */
long hpack_huffman_decode(const uint8_t *in, size_t n, uint8_t *out, size_t outcap);

#endif
