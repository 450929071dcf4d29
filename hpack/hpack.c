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
#include "pool.h"
#include "rd.h"

/* Learned names of pre-capture entries kept at once: a real table of 4096 octets holds at
 * most 128 entries, so 256 covers every entry a default-sized table can have had. */
#define HPACK_MAX_LEARNED 256
/* Default dynamic table size before any SETTINGS (RFC 7540 6.5.2). */
#define HPACK_DEFAULT_TABLE 4096u
/* RFC 7541 4.1: an entry costs its name and value lengths plus 32 octets. */
#define HPACK_ENTRY_OVERHEAD 32u
#define HPACK_STATIC_LEN 61

/* Replay cache. gRPC repeats itself: after the first RPCs on a connection, response
 * HEADERS (":status 200", content-type), trailers ("grpc-status 0") and a client's request
 * HEADERS for one method are byte-identical blocks of indexed fields. Four entries hold a
 * server's headers and trailers and a client's few methods; blocks, fields and decoded bytes
 * are bounded so an entry stays small (entries are allocated when first used, and thousands
 * of connections hold two decoders each). */
#define HPACK_CACHE_ENTRIES 4
#define HPACK_CACHE_BLOCK 256   /* largest block kept, in octets */
#define HPACK_CACHE_FIELDS 32   /* most fields in a kept block */
#define HPACK_CACHE_DATA 1024   /* most decoded name and value octets in a kept block */

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

/* One decoded field of a cached block: offsets into the entry's data. */
struct hp_cfield {
	uint64_t unknown_id;
	uint32_t flags;
	uint16_t name_off, name_len, value_off, value_len;
	uint16_t end;               /* offset in the block just past this field's representation */
};

/* A cached block: header, nfields hp_cfield, the block's octets, then names and values, in
 * one allocation of cap octets. Valid while gen equals the decoder's. */
struct hp_centry {
	uint64_t gen;
	uint64_t stamp;             /* last use, for LRU replacement */
	uint32_t cap;
	uint16_t blk_len, nfields;
	uint32_t data_len;
	struct hp_cfield f[];
};

/* Fields recorded while a cacheable block is decoded (on the stack of hpack_decode_block). */
struct hp_rec {
	uint16_t ends[HPACK_CACHE_FIELDS];  /* from the scan */
	struct hp_cfield f[HPACK_CACHE_FIELDS];
	size_t nf, dlen;
	bool over;                  /* more fields or octets than an entry keeps */
	uint8_t data[HPACK_CACHE_DATA];
};

struct hpack_decoder {
	bool exact;
	int err;                    /* sticky: 0 or the EE_* code of the first failure */
	bool cache_on;
	bool busy;                  /* inside hpack_decode_block: nested calls bypass the cache */
	bool replaying;             /* emitting cached fields (exact mode: nghttp2 mid-block) */
	/* Counts everything that may have changed the dynamic table or what its entries
	 * decode to: blocks with a table-changing representation (or any we could not scan),
	 * learn() and set_max_table(). A cache entry is good only for the gen it was made in. */
	uint64_t gen;
	uint64_t stamp, cache_hits;
	struct hp_centry *cache[HPACK_CACHE_ENTRIES];
	struct hp_rec *rec;         /* recording the block being decoded, or NULL */
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
	struct hp_learned *learned; /* grown on demand up to HPACK_MAX_LEARNED: most decoders
				     * (all exact ones) never learn, and thousands are live */
	size_t nlearned, learned_cap;
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

/* nghttp2's inflater allocates an entry per field added to the dynamic table and frees
 * it at eviction, several per stream for some clients: recycled blocks (src/pool.h). */
static void *hp_mem_malloc(size_t n, void *ud) { return pool_alloc(n); }
static void hp_mem_free(void *p, void *ud) { pool_free(p); }
static void *hp_mem_calloc(size_t k, size_t n, void *ud)
{
	return n && k > SIZE_MAX / n ? NULL : pool_calloc(k * n);
}
static void *hp_mem_realloc(void *p, size_t n, void *ud) { return pool_realloc(p, n); }
static nghttp2_mem hp_mem = {NULL, hp_mem_malloc, hp_mem_free, hp_mem_calloc, hp_mem_realloc};

/* Creates a decoder; exact mode allocates nghttp2's inflater. Freed by hpack_decoder_free. */
struct hpack_decoder *hpack_decoder_new(bool exact)
{
	struct hpack_decoder *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->exact = exact;
	d->cache_on = true;
	d->max_bound = HPACK_DEFAULT_TABLE;
	d->cur_max = HPACK_DEFAULT_TABLE;
	d->precap_limit = UINT64_MAX;
	if (exact && nghttp2_hd_inflate_new2(&d->inf, &hp_mem) != 0) {
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
		pool_free(d->ring[(d->ring_start + i) & (d->ring_cap - 1)].buf);
	free(d->ring);
	for (size_t i = 0; i < d->nlearned; i++)
		free(d->learned[i].name);
	free(d->learned);
	free(d->scratch[0]);
	free(d->scratch[1]);
	for (size_t i = 0; i < HPACK_CACHE_ENTRIES; i++)
		free(d->cache[i]);
	free(d);
}

/* Test switch: with the cache off every block is decoded. Entries are kept (a replay may be
 * running) but never used while off. */
void hpack_decoder_set_cache(struct hpack_decoder *d, bool on) { d->cache_on = on; }

uint64_t hpack_decoder_cache_hits(const struct hpack_decoder *d) { return d->cache_hits; }

bool hpack_decoder_replaying(const struct hpack_decoder *d) { return d->replaying; }

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
	pool_free(e->buf);
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

/* Copies one emitted field into the recording of a cacheable block, or marks it over. */
static void hp_rec_field(struct hp_rec *rec, const struct hpack_field *f)
{
	if (rec->over || rec->nf == HPACK_CACHE_FIELDS ||
	    f->name_len + f->value_len > HPACK_CACHE_DATA - rec->dlen) {
		rec->over = true;
		return;
	}
	struct hp_cfield *c = &rec->f[rec->nf++];
	c->unknown_id = f->unknown_id;
	c->flags = f->flags;
	c->name_off = (uint16_t)rec->dlen;
	c->name_len = (uint16_t)f->name_len;
	if (f->name_len)
		memcpy(rec->data + rec->dlen, f->name, f->name_len);
	rec->dlen += f->name_len;
	c->value_off = (uint16_t)rec->dlen;
	c->value_len = (uint16_t)f->value_len;
	if (f->value_len)
		memcpy(rec->data + rec->dlen, f->value, f->value_len);
	rec->dlen += f->value_len;
}

/* Emits one field and counts it (and records it when a cacheable block is decoded). */
static void hp_emit(struct hpack_decoder *d, hpack_emit_fn emit, void *ctx,
		    const struct hpack_field *f)
{
	if (d->rec)
		hp_rec_field(d->rec, f);
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
	e.buf = pool_alloc((size_t)e.name_len + vlen + 1);
	if (!e.buf)
		return EE_NOMEM;
	memcpy(e.buf, ref.name, e.name_len);
	memcpy(e.buf + e.name_len, val, vlen);
	bool kept;
	if ((rc = hp_table_insert(d, &e, &kept)) != 0) {
		pool_free(e.buf);
		return rc;
	}
	if (e.name_known)
		f.name = e.buf;
	f.value = e.buf + e.name_len;
	hp_emit(d, emit, ctx, &f);
	if (!kept)
		pool_free(e.buf);
	return 0;
}

/* Our own decoder for one block: a sequence of field representations (RFC 7541 6). Starts
 * at octet off, after nfields fields (a replay that must decode the rest of its block). */
static int hp_decode_partial(struct hpack_decoder *d, const uint8_t *blk, size_t len, size_t off,
			     int nfields, hpack_emit_fn emit, void *ctx)
{
	struct rd r;
	int rc = 0;
	rd_init(&r, blk + off, len - off);
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

/* Decodes a block in the decoder's mode; an error fails the decoder. */
static int hp_decode_any(struct hpack_decoder *d, const uint8_t *blk, size_t len,
			 hpack_emit_fn emit, void *ctx)
{
	int rc = d->exact ? hp_decode_exact(d, blk, len, emit, ctx)
			  : hp_decode_partial(d, blk, len, 0, 0, emit, ctx);
	return rc < 0 ? hp_fail(d, rc) : rc;
}

/* ---- replay cache ---- */

/* Skips a string literal (RFC 7541 5.2) without decoding it. */
static int hp_skip_string(struct rd *r)
{
	uint8_t b = rd_u8(r);
	uint32_t len;
	if (r->err || hp_int(r, b & 0x7f, 0x7f, &len) != 0 || len > HPACK_MAX_FIELD)
		return -1;
	return rd_bytes(r, len) ? 0 : -1;
}

/* Scans a block's representations (RFC 7541 6) without decoding them. Returns the number of
 * fields, with ends[i] the offset just past field i, when none can change the dynamic table:
 * all indexed (1xxxxxxx) or literal without indexing / never indexed (000xxxxx), so that
 * decoding depends on the table only through its entries and leaves it alone. Returns -1
 * for a literal with incremental indexing (01xxxxxx), a size update (001xxxxx), anything
 * that does not parse, or more fields than an entry keeps. In exact mode nghttp2 holds the
 * table, so this scan is what tells whether a block changed it. */
static int hp_scan(const uint8_t *blk, size_t len, uint16_t *ends)
{
	struct rd r;
	int n = 0;
	rd_init(&r, blk, len);
	while (rd_left(&r) > 0) {
		uint8_t b = rd_u8(&r);
		uint32_t idx;
		if (n == HPACK_CACHE_FIELDS)
			return -1;
		if (b & 0x80) {
			if (hp_int(&r, b & 0x7f, 0x7f, &idx) != 0)
				return -1;
		} else if (b & 0x60) {
			return -1; /* 01xxxxxx or 001xxxxx: changes the table */
		} else {
			if (hp_int(&r, b & 0x0f, 0x0f, &idx) != 0)
				return -1;
			if (idx == 0 && hp_skip_string(&r) != 0)
				return -1;
			if (hp_skip_string(&r) != 0)
				return -1;
		}
		ends[n++] = (uint16_t)(len - rd_left(&r));
	}
	return n;
}

static uint8_t *hp_centry_block(struct hp_centry *e) { return (uint8_t *)(e->f + e->nfields); }

/* The live entry holding exactly this block, or NULL. */
static struct hp_centry *hp_cache_find(struct hpack_decoder *d, const uint8_t *blk, size_t len)
{
	for (size_t i = 0; i < HPACK_CACHE_ENTRIES; i++) {
		struct hp_centry *e = d->cache[i];
		if (e && e->gen == d->gen && e->blk_len == len &&
		    memcmp(hp_centry_block(e), blk, len) == 0)
			return e;
	}
	return NULL;
}

/* Keeps a decoded block: in an empty slot, else one from an older gen, else the least
 * recently used. A slot's allocation is reused when large enough. Out of memory = not kept. */
static void hp_cache_put(struct hpack_decoder *d, const uint8_t *blk, size_t len,
			 const struct hp_rec *rec)
{
	size_t slot = 0;
	for (size_t i = 0; i < HPACK_CACHE_ENTRIES; i++) {
		struct hp_centry *c = d->cache[i], *s = d->cache[slot];
		if (!c || c->gen != d->gen) {
			slot = i;
			break;
		}
		if (c->stamp < s->stamp)
			slot = i;
	}
	size_t need = sizeof(struct hp_centry) + rec->nf * sizeof(struct hp_cfield) + len + rec->dlen;
	struct hp_centry *e = d->cache[slot];
	if (!e || e->cap < need) {
		need = (need + 63) & ~(size_t)63; /* fewer reallocs as blocks come and go */
		struct hp_centry *ne = realloc(e, need);
		if (!ne)
			return;
		e = d->cache[slot] = ne;
		e->cap = (uint32_t)need;
	}
	e->gen = d->gen;
	e->stamp = ++d->stamp;
	e->blk_len = (uint16_t)len;
	e->nfields = (uint16_t)rec->nf;
	e->data_len = (uint32_t)rec->dlen;
	for (size_t i = 0; i < rec->nf; i++) {
		e->f[i] = rec->f[i];
		e->f[i].end = rec->ends[i];
	}
	uint8_t *b = hp_centry_block(e);
	memcpy(b, blk, len);
	memcpy(b + len, rec->data, rec->dlen);
}

/* Emits a cached block's fields as decoding it would. If an emit callback changes the table
 * (learn() or set_max_table() in partial mode), the rest of the block is decoded from the
 * next representation on, exactly as the decoder would have met it. (Decoding another block
 * with the same decoder from its own emit callback is not supported in exact mode: nghttp2
 * would be mid-block. Nothing does that; src/h2 only copies the fields.) */
static int hp_replay(struct hpack_decoder *d, struct hp_centry *e, const uint8_t *blk, size_t len,
		     hpack_emit_fn emit, void *ctx)
{
	const uint8_t *data = hp_centry_block(e) + e->blk_len;
	uint64_t gen = d->gen;
	int n = e->nfields;
	e->stamp = ++d->stamp;
	d->cache_hits++;
	d->busy = d->replaying = true;
	for (int i = 0; i < n; i++) {
		const struct hp_cfield *c = &e->f[i];
		struct hpack_field f = {
			.name = c->name_len ? data + c->name_off : hp_empty, .name_len = c->name_len,
			.value = c->value_len ? data + c->value_off : hp_empty,
			.value_len = c->value_len, .flags = c->flags, .unknown_id = c->unknown_id,
		};
		hp_emit(d, emit, ctx, &f);
		if (d->gen != gen && i + 1 < n && !d->exact) {
			d->busy = d->replaying = false;
			int rc = hp_decode_partial(d, blk, len, c->end, i + 1, emit, ctx);
			return rc < 0 ? hp_fail(d, rc) : rc;
		}
	}
	d->busy = d->replaying = false;
	return n;
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
	if (!d->cache_on || d->busy || len > HPACK_CACHE_BLOCK) {
		/* Not cached (or a nested call from an emit callback): it may change the table. */
		d->gen++;
		return hp_decode_any(d, blk, len, emit, ctx);
	}
	struct hp_centry *e = hp_cache_find(d, blk, len);
	if (e)
		return hp_replay(d, e, blk, len, emit, ctx);

	struct hp_rec rec;
	int n = hp_scan(blk, len, rec.ends);
	if (n < 0) {
		d->gen++;
		return hp_decode_any(d, blk, len, emit, ctx);
	}
	rec.nf = 0;
	rec.dlen = 0;
	rec.over = false;
	uint64_t gen = d->gen;
	d->rec = &rec;
	d->busy = true;
	int rc = hp_decode_any(d, blk, len, emit, ctx);
	d->rec = NULL;
	d->busy = false;
	/* Kept only when decoded alone: an emit callback that called learn() or set_max_table()
	 * (gen moved, or the decoder failed) made the result depend on when that happened. */
	if (rc == n && (size_t)n == rec.nf && !rec.over && gen == d->gen && !d->err)
		hp_cache_put(d, blk, len, &rec);
	return rc;
}

/* Applies the peer's SETTINGS_HEADER_TABLE_SIZE: the bound for size updates, and a shrink of
 * the table if it is below the current size (as nghttp2 does). */
void hpack_decoder_set_max_table(struct hpack_decoder *d, uint32_t size)
{
	if (size > HPACK_MAX_TABLE)
		size = HPACK_MAX_TABLE;
	d->gen++;
	if (d->exact) {
		/* From an emit callback during a replay nghttp2 is between blocks, but without the
		 * cache it would be mid-block and refuse (NGHTTP2_ERR_INVALID_STATE): do the same. */
		if (d->inf && !d->err &&
		    (d->replaying || nghttp2_hd_inflate_change_table_size(d->inf, size) != 0))
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
		uint8_t *nb = pool_alloc(nl + e->value_len + 1);
		if (!nb)
			return EE_NOMEM;
		memcpy(nb, name, nl);
		memcpy(nb + nl, e->buf, e->value_len);
		pool_free(e->buf);
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
	d->gen++; /* names and sizes of entries may change */
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

	/* Copied first: name and value may be a field's views of a learned name (from the emit
	 * callback), which forgetting entries or renaming below frees. */
	char *buf = malloc(nl + vl + 2);
	if (!buf)
		return EE_NOMEM;
	memcpy(buf, name, nl);
	buf[nl] = '\0';
	if (value)
		memcpy(buf + nl + 1, value, vl);
	buf[nl + 1 + vl] = '\0';

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
		if (d->nlearned == HPACK_MAX_LEARNED) {
			free(buf);
			return EE_LIMIT;
		}
	}
	if (!l && d->nlearned == d->learned_cap) {
		size_t ncap = d->learned_cap ? d->learned_cap * 2 : 8;
		if (ncap > HPACK_MAX_LEARNED)
			ncap = HPACK_MAX_LEARNED;
		struct hp_learned *nl2 = realloc(d->learned, ncap * sizeof(*nl2));
		if (!nl2) {
			free(buf);
			return EE_NOMEM;
		}
		d->learned = nl2;
		d->learned_cap = ncap;
	}
	if (!l)
		l = &d->learned[d->nlearned++];
	else
		free(l->name);
	l->id = unknown_id;
	l->name = buf;
	l->name_len = nl;
	l->value = value ? buf + nl + 1 : NULL;
	l->value_len = vl;
	return hp_learn_patch(d, unknown_id, buf, nl);
}
