/* hpack.c: HPACK header block decoding (RFC 7541), one decoder per connection direction,
 * fed by src/h2 with whole header blocks (HEADERS + CONTINUATION). Exact mode is nghttp2's
 * inflater; partial mode is our own decoder that keeps going when the dynamic table holds
 * entries inserted before the capture started (see hpack.h for the contract).
 *
 * Header field representations (RFC 7541 Section 6), first octet:
 *   1xxxxxxx  indexed field               index: 7-bit prefix integer
 *   01xxxxxx  literal, incremental index  name index: 6-bit prefix (0 = literal name)
 *   0000xxxx  literal, without indexing   name index: 4-bit prefix
 *   0001xxxx  literal, never indexed      name index: 4-bit prefix
 *   001xxxxx  dynamic table size update   max size: 5-bit prefix
 * String literal (Section 5.2):  |H| length (7-bit prefix) | octets (Huffman if H) |
 * Integer (Section 5.1): prefix all ones -> continue with 7-bit groups, low group first.
 */
#include "hpack.h"

#include <nghttp2/nghttp2.h>
#include <stdlib.h>
#include <string.h>

#include "ee.h"
#include "rd.h"

/* Learned names of pre-capture entries kept at once: a real table of 4096 octets holds at
 * most 128 entries, so 256 covers every entry a default-sized table can have had. */
#define HPACK_MAX_LEARNED 256
/* Default dynamic table size before any SETTINGS (RFC 7540 6.5.2). */
#define HPACK_DEFAULT_TABLE 4096u
/* RFC 7541 4.1: an entry costs its name and value lengths plus 32 octets. */
#define HPACK_ENTRY_OVERHEAD 32u
#define HPACK_STATIC_LEN 61

/* RFC 7541 Appendix A. */
static const struct {
	const char *name, *value;
} hpack_static[HPACK_STATIC_LEN] = {
	{":authority", ""}, {":method", "GET"}, {":method", "POST"}, {":path", "/"},
	{":path", "/index.html"}, {":scheme", "http"}, {":scheme", "https"}, {":status", "200"},
	{":status", "204"}, {":status", "206"}, {":status", "304"}, {":status", "400"},
	{":status", "404"}, {":status", "500"}, {"accept-charset", ""},
	{"accept-encoding", "gzip, deflate"}, {"accept-language", ""}, {"accept-ranges", ""},
	{"accept", ""}, {"access-control-allow-origin", ""}, {"age", ""}, {"allow", ""},
	{"authorization", ""}, {"cache-control", ""}, {"content-disposition", ""},
	{"content-encoding", ""}, {"content-language", ""}, {"content-length", ""},
	{"content-location", ""}, {"content-range", ""}, {"content-type", ""}, {"cookie", ""},
	{"date", ""}, {"etag", ""}, {"expect", ""}, {"expires", ""}, {"from", ""}, {"host", ""},
	{"if-match", ""}, {"if-modified-since", ""}, {"if-none-match", ""}, {"if-range", ""},
	{"if-unmodified-since", ""}, {"last-modified", ""}, {"link", ""}, {"location", ""},
	{"max-forwards", ""}, {"proxy-authenticate", ""}, {"proxy-authorization", ""},
	{"range", ""}, {"referer", ""}, {"refresh", ""}, {"retry-after", ""}, {"server", ""},
	{"set-cookie", ""}, {"strict-transport-security", ""}, {"transfer-encoding", ""},
	{"user-agent", ""}, {"vary", ""}, {"via", ""}, {"www-authenticate", ""},
};

/* A dynamic table entry inserted during the capture. Its name may be unknown: it was
 * copied from a pre-capture entry (src_id) that nobody has named yet. */
struct hp_entry {
	uint8_t *buf;       /* name (when known) then value; owned */
	uint32_t name_len;  /* 0 when the name is unknown */
	uint32_t value_len;
	uint64_t src_id;    /* pre-capture entry the name came from, 0 if none */
	bool name_known;
};

/* A pre-capture entry named by hpack_decoder_learn. */
struct hp_learned {
	uint64_t id;
	char *name;         /* name, NUL, value, NUL in one allocation; owned */
	size_t name_len;
	const char *value;  /* inside the same allocation, or NULL when unknown */
	size_t value_len;
};

struct hpack_decoder {
	bool exact;
	int err;                    /* sticky: 0 or the EE_* code of the first failure */
	nghttp2_hd_inflater *inf;   /* exact mode */

	/* Partial mode: the known part of the dynamic table, a ring, oldest at start. */
	struct hp_entry *ring;
	size_t ring_cap;            /* power of two */
	size_t ring_start, ring_count;
	uint64_t inserted;          /* entries inserted during the capture, evicted or not */
	size_t known_size;          /* RFC size of the ring (a lower bound for unknown names) */
	uint32_t max_bound;         /* SETTINGS_HEADER_TABLE_SIZE, clamped to HPACK_MAX_TABLE */
	uint32_t cur_max;           /* current max size (an upper bound until an update is seen) */
	bool cur_known;
	uint64_t precap_limit;      /* pre-capture entries that can still be in the table */
	struct hp_learned learned[HPACK_MAX_LEARNED];
	size_t nlearned;
	uint8_t *scratch[2];        /* Huffman output for the name [0] and value [1] */
	size_t scratch_cap[2];

	struct hpack_stats st;
};

/* A resolved name or value source: a view plus what is known about it. */
struct hp_ref {
	const uint8_t *name, *value;
	size_t name_len, value_len;
	uint32_t flags;
	uint64_t id;        /* pre-capture entry involved, 0 if none */
	bool name_known;
};

static const uint8_t hp_empty[1] = {0};

/* Creates a decoder; exact mode allocates nghttp2's inflater. Freed by hpack_decoder_free. */
struct hpack_decoder *hpack_decoder_new(bool exact)
{
	struct hpack_decoder *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->exact = exact;
	d->max_bound = HPACK_DEFAULT_TABLE;
	d->cur_max = HPACK_DEFAULT_TABLE;
	d->precap_limit = UINT64_MAX;
	if (exact && nghttp2_hd_inflate_new(&d->inf) != 0) {
		free(d);
		return NULL;
	}
	return d;
}

/* Releases the decoder, its table copies, learned names and scratch buffers. */
void hpack_decoder_free(struct hpack_decoder *d)
{
	if (!d)
		return;
	if (d->inf)
		nghttp2_hd_inflate_del(d->inf);
	for (size_t i = 0; i < d->ring_count; i++)
		free(d->ring[(d->ring_start + i) & (d->ring_cap - 1)].buf);
	free(d->ring);
	for (size_t i = 0; i < d->nlearned; i++)
		free(d->learned[i].name);
	free(d->scratch[0]);
	free(d->scratch[1]);
	free(d);
}

bool hpack_decoder_failed(const struct hpack_decoder *d) { return d->err != 0; }

bool hpack_decoder_exact(const struct hpack_decoder *d) { return d->exact; }

void hpack_decoder_stats(const struct hpack_decoder *d, struct hpack_stats *st) { *st = d->st; }

/* Marks the decoder failed with the first error seen; returns that error. */
static int hp_fail(struct hpack_decoder *d, int err)
{
	if (!d->err)
		d->err = err;
	return d->err;
}

/* ---- partial mode: dynamic table ---- */

static size_t hp_entry_size(const struct hp_entry *e)
{
	return (size_t)e->name_len + e->value_len + HPACK_ENTRY_OVERHEAD;
}

/* The entry at dynamic index i (1 = newest) among the known ones; i <= ring_count. */
static struct hp_entry *hp_ring_at(struct hpack_decoder *d, uint64_t i)
{
	return &d->ring[(d->ring_start + d->ring_count - (size_t)i) & (d->ring_cap - 1)];
}

/* Drops the oldest known entry. */
static void hp_ring_pop(struct hpack_decoder *d)
{
	struct hp_entry *e = &d->ring[d->ring_start];
	d->known_size -= hp_entry_size(e);
	free(e->buf);
	e->buf = NULL;
	d->ring_start = (d->ring_start + 1) & (d->ring_cap - 1);
	d->ring_count--;
	d->st.evictions++;
}

/* After any change of sizes: evict oldest known entries until they fit (RFC 7541 4.4), and
 * shrink the bound on surviving pre-capture entries, which are older than every known one
 * and at least 32 octets each. */
static void hp_table_fit(struct hpack_decoder *d)
{
	while (d->ring_count > 0 && d->known_size > d->cur_max)
		hp_ring_pop(d);
	uint64_t room = d->known_size <= d->cur_max ? (d->cur_max - d->known_size) : 0;
	room /= HPACK_ENTRY_OVERHEAD;
	if (room < d->precap_limit)
		d->precap_limit = room;
}

/* Inserts a new entry, evicting as needed; the ring owns e->buf when *kept. An entry larger
 * than the whole table empties it and is not kept (RFC 7541 4.4): the caller frees it. */
static int hp_table_insert(struct hpack_decoder *d, struct hp_entry *e, bool *kept)
{
	size_t sz = hp_entry_size(e);
	*kept = false;
	d->inserted++;
	if (sz > d->cur_max) {
		while (d->ring_count > 0)
			hp_ring_pop(d);
		d->precap_limit = 0;
		return 0;
	}
	while (d->ring_count > 0 && d->known_size + sz > d->cur_max)
		hp_ring_pop(d);
	if (d->ring_count == d->ring_cap) {
		/* Bounded: the ring never holds more than cur_max / 32 entries. */
		size_t ncap = d->ring_cap ? d->ring_cap * 2 : 16;
		struct hp_entry *nr = malloc(ncap * sizeof(*nr));
		if (!nr)
			return EE_NOMEM;
		for (size_t i = 0; i < d->ring_count; i++)
			nr[i] = d->ring[(d->ring_start + i) & (d->ring_cap - 1)];
		free(d->ring);
		d->ring = nr;
		d->ring_cap = ncap;
		d->ring_start = 0;
	}
	d->ring[(d->ring_start + d->ring_count) & (d->ring_cap - 1)] = *e;
	d->ring_count++;
	d->known_size += sz;
	*kept = true;
	hp_table_fit(d);
	return 0;
}

static const struct hp_learned *hp_learned_find(const struct hpack_decoder *d, uint64_t id)
{
	for (size_t i = 0; i < d->nlearned; i++)
		if (d->learned[i].id == id)
			return &d->learned[i];
	return NULL;
}

/* Resolves header table index idx (RFC 7541 2.3.3) into r. Static entries and known dynamic
 * ones resolve fully; an index past the capture's insertions is pre-capture entry
 * idx - 61 - inserted (stable while later insertions shift indices). */
static int hp_lookup(struct hpack_decoder *d, uint32_t idx, struct hp_ref *r)
{
	memset(r, 0, sizeof(*r));
	if (idx == 0)
		return EE_MALFORMED;
	if (idx <= HPACK_STATIC_LEN) {
		r->name = (const uint8_t *)hpack_static[idx - 1].name;
		r->name_len = strlen(hpack_static[idx - 1].name);
		r->value = (const uint8_t *)hpack_static[idx - 1].value;
		r->value_len = strlen(hpack_static[idx - 1].value);
		r->name_known = true;
		return 0;
	}
	uint64_t i = idx - HPACK_STATIC_LEN;
	if (i <= d->inserted) {
		if (i > d->ring_count)
			return EE_MALFORMED; /* a capture-time entry we saw evicted */
		const struct hp_entry *e = hp_ring_at(d, i);
		r->value = e->buf + e->name_len;
		r->value_len = e->value_len;
		r->id = e->src_id;
		const struct hp_learned *l = NULL;
		if (e->name_known) {
			r->name = e->buf;
			r->name_len = e->name_len;
			r->name_known = true;
			r->flags = e->src_id ? HPACK_F_LEARNED : 0;
		} else if ((l = hp_learned_find(d, e->src_id)) != NULL) {
			r->name = (const uint8_t *)l->name;
			r->name_len = l->name_len;
			r->name_known = true;
			r->flags = HPACK_F_LEARNED;
		} else {
			r->name = hp_empty;
			r->flags = HPACK_F_UNKNOWN_NAME;
		}
		return 0;
	}
	r->id = i - d->inserted;
	const struct hp_learned *l = hp_learned_find(d, r->id);
	if (l) {
		r->name = (const uint8_t *)l->name;
		r->name_len = l->name_len;
		r->name_known = true;
		r->flags = HPACK_F_LEARNED;
		if (l->value) {
			r->value = (const uint8_t *)l->value;
			r->value_len = l->value_len;
		} else {
			r->value = hp_empty;
			r->flags |= HPACK_F_UNKNOWN_VALUE;
		}
	} else {
		r->name = r->value = hp_empty;
		r->flags = HPACK_F_UNKNOWN_NAME | HPACK_F_UNKNOWN_VALUE;
	}
	return 0;
}

/* ---- partial mode: wire primitives ---- */

/* Finishes a prefix integer (RFC 7541 5.1) whose first octet's prefix bits were v (mask =
 * all prefix bits set). Values above UINT32_MAX and encodings with more than five
 * continuation octets are rejected, the same bounds nghttp2 applies. */
static int hp_int(struct rd *r, uint32_t v, uint32_t mask, uint32_t *out)
{
	if (v < mask) {
		*out = v;
		return 0;
	}
	for (unsigned shift = 0;; shift += 7) {
		if (shift >= 32)
			return EE_MALFORMED;
		uint8_t c = rd_u8(r);
		if (r->err)
			return EE_TRUNCATED;
		uint32_t add = c & 0x7f;
		if ((UINT32_MAX >> shift) < add)
			return EE_MALFORMED;
		add <<= shift;
		if (UINT32_MAX - add < v)
			return EE_MALFORMED;
		v += add;
		if (!(c & 0x80))
			break;
	}
	*out = v;
	return 0;
}

/* Grows scratch buffer k to hold n octets; kept across blocks, so steady state allocates
 * nothing. n never exceeds HPACK_MAX_FIELD. */
static int hp_scratch(struct hpack_decoder *d, int k, size_t n)
{
	if (d->scratch_cap[k] >= n)
		return 0;
	size_t cap = d->scratch_cap[k] ? d->scratch_cap[k] : 256;
	while (cap < n)
		cap *= 2;
	uint8_t *p = realloc(d->scratch[k], cap);
	if (!p)
		return EE_NOMEM;
	d->scratch[k] = p;
	d->scratch_cap[k] = cap;
	return 0;
}

/* Reads a string literal (RFC 7541 5.2) into a view: raw octets are borrowed from the block,
 * Huffman ones are decoded into scratch buffer k. */
static int hp_string(struct hpack_decoder *d, struct rd *r, int k, const uint8_t **s, size_t *n)
{
	uint8_t b = rd_u8(r);
	if (r->err)
		return EE_TRUNCATED;
	uint32_t len;
	int rc = hp_int(r, b & 0x7f, 0x7f, &len);
	if (rc)
		return rc;
	if (len > HPACK_MAX_FIELD)
		return EE_LIMIT;
	const uint8_t *raw = rd_bytes(r, len);
	if (!raw)
		return EE_TRUNCATED;
	if (!(b & 0x80)) {
		*s = len ? raw : hp_empty;
		*n = len;
		return 0;
	}
	/* The shortest code is 5 bits, so len octets decode to at most len * 8 / 5. */
	size_t cap = (size_t)len * 8 / 5 + 1;
	if (cap > HPACK_MAX_FIELD)
		cap = HPACK_MAX_FIELD;
	if ((rc = hp_scratch(d, k, cap)) != 0)
		return rc;
	long got = hpack_huffman_decode(raw, len, d->scratch[k], cap);
	if (got < 0)
		return (int)got;
	*s = d->scratch[k];
	*n = (size_t)got;
	return 0;
}

/* Emits one field and counts it. */
static void hp_emit(struct hpack_decoder *d, hpack_emit_fn emit, void *ctx,
		    const struct hpack_field *f)
{
	d->st.fields++;
	if (f->flags & (HPACK_F_UNKNOWN_NAME | HPACK_F_UNKNOWN_VALUE))
		d->st.unknown_fields++;
	if (f->flags & HPACK_F_LEARNED)
		d->st.learned_fields++;
	if (emit)
		emit(ctx, f);
}

/* Handles a dynamic table size update (RFC 7541 6.3). Partial mode tolerates, and counts,
 * one that is late in the block or above the SETTINGS bound we know of (we may have
 * missed the SETTINGS that allowed it); past HPACK_MAX_TABLE it is an error. */
static int hp_size_update(struct hpack_decoder *d, uint32_t size, bool late)
{
	if (size > HPACK_MAX_TABLE)
		return EE_LIMIT;
	if (late)
		d->st.late_size_updates++;
	if (size > d->max_bound)
		d->st.oversize_updates++;
	d->cur_max = size;
	d->cur_known = true;
	hp_table_fit(d);
	return 0;
}

/* Decodes one literal field representation whose first octet is b (name index prefix
 * given by mask); inserts it into the table when incremental indexing says so. */
static int hp_literal(struct hpack_decoder *d, struct rd *r, uint8_t b, uint32_t mask,
		      bool index, hpack_emit_fn emit, void *ctx)
{
	struct hp_ref ref;
	uint32_t idx;
	int rc = hp_int(r, b & mask, mask, &idx);
	if (rc)
		return rc;
	if (idx == 0) {
		memset(&ref, 0, sizeof(ref));
		if ((rc = hp_string(d, r, 0, &ref.name, &ref.name_len)) != 0)
			return rc;
		ref.name_known = true;
	} else if ((rc = hp_lookup(d, idx, &ref)) != 0) {
		return rc;
	}
	const uint8_t *val;
	size_t vlen;
	if ((rc = hp_string(d, r, 1, &val, &vlen)) != 0)
		return rc;

	struct hpack_field f = {
		.name = ref.name, .name_len = ref.name_len, .value = val, .value_len = vlen,
		.flags = ref.flags & (HPACK_F_UNKNOWN_NAME | HPACK_F_LEARNED),
		.unknown_id = ref.id,
	};
	if ((b & 0xf0) == 0x10)
		f.flags |= HPACK_F_NEVER_INDEXED;
	if (!index) {
		hp_emit(d, emit, ctx, &f);
		return 0;
	}
	/* Insert a copy first, then emit from the copy: insertion may evict the entry the name
	 * came from, and a learn() from the callback must find the new entry in the table. */
	struct hp_entry e = {
		.name_len = ref.name_known ? (uint32_t)ref.name_len : 0,
		.value_len = (uint32_t)vlen,
		.src_id = ref.id,
		.name_known = ref.name_known,
	};
	e.buf = malloc((size_t)e.name_len + vlen + 1);
	if (!e.buf)
		return EE_NOMEM;
	memcpy(e.buf, ref.name, e.name_len);
	memcpy(e.buf + e.name_len, val, vlen);
	bool kept;
	if ((rc = hp_table_insert(d, &e, &kept)) != 0) {
		free(e.buf);
		return rc;
	}
	if (e.name_known)
		f.name = e.buf;
	f.value = e.buf + e.name_len;
	hp_emit(d, emit, ctx, &f);
	if (!kept)
		free(e.buf);
	return 0;
}

/* Our own decoder for one block: a sequence of field representations (RFC 7541 6). */
static int hp_decode_partial(struct hpack_decoder *d, const uint8_t *blk, size_t len,
			     hpack_emit_fn emit, void *ctx)
{
	struct rd r;
	int nfields = 0, rc = 0;
	rd_init(&r, blk, len);
	while (rd_left(&r) > 0) {
		uint8_t b = rd_u8(&r);
		if (b & 0x80) {
			uint32_t idx;
			struct hp_ref ref;
			if ((rc = hp_int(&r, b & 0x7f, 0x7f, &idx)) != 0)
				return rc;
			if ((rc = hp_lookup(d, idx, &ref)) != 0)
				return rc;
			struct hpack_field f = {
				.name = ref.name, .name_len = ref.name_len,
				.value = ref.value, .value_len = ref.value_len,
				.flags = ref.flags, .unknown_id = ref.id,
			};
			hp_emit(d, emit, ctx, &f);
		} else if ((b & 0xe0) == 0x20) {
			uint32_t size;
			if ((rc = hp_int(&r, b & 0x1f, 0x1f, &size)) != 0)
				return rc;
			if ((rc = hp_size_update(d, size, nfields > 0)) != 0)
				return rc;
			continue;
		} else if (b & 0x40) {
			rc = hp_literal(d, &r, b, 0x3f, true, emit, ctx);
		} else {
			rc = hp_literal(d, &r, b, 0x0f, false, emit, ctx);
		}
		if (rc)
			return rc;
		nfields++;
	}
	return nfields;
}

/* ---- exact mode ---- */

/* Runs one block through nghttp2's inflater, the reference decoder. */
static int hp_decode_exact(struct hpack_decoder *d, const uint8_t *blk, size_t len,
			   hpack_emit_fn emit, void *ctx)
{
	int nfields = 0;
	for (;;) {
		nghttp2_nv nv;
		int iflags = 0;
		ssize_t rv = nghttp2_hd_inflate_hd2(d->inf, &nv, &iflags, blk, len, 1);
		if (rv < 0)
			return rv == NGHTTP2_ERR_NOMEM ? EE_NOMEM : EE_MALFORMED;
		if ((size_t)rv > len)
			return EE_MALFORMED;
		blk += rv;
		len -= (size_t)rv;
		if (iflags & NGHTTP2_HD_INFLATE_EMIT) {
			if (nv.namelen > HPACK_MAX_FIELD || nv.valuelen > HPACK_MAX_FIELD)
				return EE_LIMIT;
			struct hpack_field f = {
				.name = nv.namelen ? nv.name : hp_empty, .name_len = nv.namelen,
				.value = nv.valuelen ? nv.value : hp_empty, .value_len = nv.valuelen,
				.flags = (nv.flags & NGHTTP2_NV_FLAG_NO_INDEX) ? HPACK_F_NEVER_INDEXED : 0,
			};
			hp_emit(d, emit, ctx, &f);
			nfields++;
		}
		if (iflags & NGHTTP2_HD_INFLATE_FINAL) {
			nghttp2_hd_inflate_end_headers(d->inf);
			return nfields;
		}
		if (rv == 0 && len == 0 && !(iflags & NGHTTP2_HD_INFLATE_EMIT))
			return EE_MALFORMED; /* no progress: never loop forever */
	}
}

/* Decodes one whole header block; any error makes the decoder failed for good. */
int hpack_decode_block(struct hpack_decoder *d, const uint8_t *blk, size_t len, hpack_emit_fn emit,
		       void *ctx)
{
	if (d->err)
		return d->err;
	if (len > HPACK_MAX_BLOCK)
		return hp_fail(d, EE_LIMIT);
	if (!blk)
		blk = hp_empty;
	d->st.blocks++;
	int rc = d->exact ? hp_decode_exact(d, blk, len, emit, ctx)
			  : hp_decode_partial(d, blk, len, emit, ctx);
	return rc < 0 ? hp_fail(d, rc) : rc;
}

/* Applies the peer's SETTINGS_HEADER_TABLE_SIZE: the bound for size updates, and a shrink of
 * the table if it is below the current size (as nghttp2 does). */
void hpack_decoder_set_max_table(struct hpack_decoder *d, uint32_t size)
{
	if (size > HPACK_MAX_TABLE)
		size = HPACK_MAX_TABLE;
	if (d->exact) {
		if (d->inf && !d->err && nghttp2_hd_inflate_change_table_size(d->inf, size) != 0)
			hp_fail(d, EE_MALFORMED);
		return;
	}
	d->max_bound = size;
	/* Until an update is seen the current size is unknown: assume the largest allowed,
	 * so we never evict an entry the encoder may still use. */
	if (!d->cur_known || size < d->cur_max)
		d->cur_max = size;
	hp_table_fit(d);
}

/* Whether a known entry still waits for the name of pre-capture entry id. */
static bool hp_ring_wants(const struct hpack_decoder *d, uint64_t id)
{
	for (size_t i = 0; i < d->ring_count; i++) {
		const struct hp_entry *e = &d->ring[(d->ring_start + i) & (d->ring_cap - 1)];
		if (!e->name_known && e->src_id == id)
			return true;
	}
	return false;
}

/* Gives known names to ring entries whose name was copied from pre-capture entry id; their
 * true size is now known, which may evict older entries. */
static int hp_learn_patch(struct hpack_decoder *d, uint64_t id, const char *name, size_t nl)
{
	for (size_t i = 0; i < d->ring_count; i++) {
		struct hp_entry *e = &d->ring[(d->ring_start + i) & (d->ring_cap - 1)];
		if (e->name_known || e->src_id != id)
			continue;
		uint8_t *nb = malloc(nl + e->value_len + 1);
		if (!nb)
			return EE_NOMEM;
		memcpy(nb, name, nl);
		memcpy(nb + nl, e->buf, e->value_len);
		free(e->buf);
		e->buf = nb;
		e->name_len = (uint32_t)nl;
		e->name_known = true;
		d->known_size += nl;
	}
	hp_table_fit(d);
	return 0;
}

/* Names pre-capture entry id (see hpack.h). The strings are copied. */
int hpack_decoder_learn(struct hpack_decoder *d, uint64_t unknown_id, const char *name,
			const char *value)
{
	if (d->exact || unknown_id == 0 || !name)
		return EE_MALFORMED;
	size_t nl = strnlen(name, HPACK_MAX_FIELD + 1);
	size_t vl = value ? strnlen(value, HPACK_MAX_FIELD + 1) : 0;
	if (nl > HPACK_MAX_FIELD || vl > HPACK_MAX_FIELD)
		return EE_LIMIT;
	if (unknown_id > d->precap_limit) {
		/* The entry itself is gone, but known entries may have copied its name. */
		if (!hp_ring_wants(d, unknown_id))
			return EE_MALFORMED;
		return hp_learn_patch(d, unknown_id, name, nl);
	}

	struct hp_learned *l = (struct hp_learned *)hp_learned_find(d, unknown_id);
	if (!l && d->nlearned == HPACK_MAX_LEARNED) {
		/* Forget entries that can no longer be in the table, then retry. */
		size_t j = 0;
		for (size_t i = 0; i < d->nlearned; i++) {
			if (d->learned[i].id <= d->precap_limit)
				d->learned[j++] = d->learned[i];
			else
				free(d->learned[i].name);
		}
		d->nlearned = j;
		if (d->nlearned == HPACK_MAX_LEARNED)
			return EE_LIMIT;
	}
	char *buf = malloc(nl + vl + 2);
	if (!buf)
		return EE_NOMEM;
	memcpy(buf, name, nl);
	buf[nl] = '\0';
	if (value)
		memcpy(buf + nl + 1, value, vl);
	buf[nl + 1 + vl] = '\0';
	if (!l)
		l = &d->learned[d->nlearned++];
	else
		free(l->name);
	l->id = unknown_id;
	l->name = buf;
	l->name_len = nl;
	l->value = value ? buf + nl + 1 : NULL;
	l->value_len = vl;
	return hp_learn_patch(d, unknown_id, name, nl);
}
