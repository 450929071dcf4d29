/* pb_fast.c: decodes etcd's hot messages into the structs protobuf-c generates, without
 * protobuf-c's generic machinery (a scan of every field into a side table, a descriptor
 * lookup per field, a second pass), part of the etcd stage (DESIGN.md "etcd").
 * etcd_message_decode calls it first and falls back to protobuf_c_message_unpack for whatever
 * it refuses; EE_PB_SLOW=1 turns it off there.
 *
 * Wire format (protobuf encoding, https://protobuf.dev/programming-guides/encoding/):
 *
 *   field  := tag value
 *   tag    := varint (field_number << 3 | wire_type)
 *   value  := varint                      wire type 0 (int64, uint64, enum, bool)
 *           | varint(len) byte[len]        wire type 2 (bytes, string, message)
 *
 * Two walks per decode:
 *  1. check_msg validates the whole message tree with protobuf-c's own rules (5-byte tags,
 *     10-byte varints, 5-byte lengths up to INT_MAX) and refuses, before anything is
 *     allocated, all that is decoded differently or not at all here: unknown fields (protobuf-c
 *     keeps them), a wire type that does not match the field, field types other than the
 *     varint and length-delimited ones above, repeated scalars (packed or not), a singular
 *     message field seen twice (protobuf-c merges the two), and Txns nested too deep.
 *     Refusing before allocating keeps the arena's budget (etcd.c msg_decode) exactly what
 *     protobuf-c alone would have used on a fallback.
 *  2. fill_msg builds the structs in one pass per level (plus a count of the repeated fields of
 *     that level, to size their arrays as protobuf-c does), with protobuf-c's semantics: last
 *     value wins for scalars, bytes and strings; a later oneof member replaces the earlier one;
 *     empty bytes are {0, NULL}; bools are true when any bit of the varint is; 32-bit fields
 *     keep the low 32 bits. Every allocation is one protobuf-c would make too (same sizes), so
 *     the arena limit is hit here only if protobuf-c would hit it. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "kv.pb-c.h"
#include "pb_fast.h"
#include "rd.h"
#include "rpc.pb-c.h"

/* Fields per covered message at most (RangeRequest has 13); sizes the per-level counters. */
#define PBF_MAX_FIELDS 16
/* Recursion bound whatever max_nesting says: covered messages nest 4 levels outside Txns. */
#define PBF_HARD_DEPTH 128

/* The covered top-level messages; every message they contain is in the list too (closed
 * under containment), so the check is made once, at the top. */
static const ProtobufCMessageDescriptor *const covered[] = {
	&etcdserverpb__range_request__descriptor,
	&etcdserverpb__range_response__descriptor,
	&etcdserverpb__put_request__descriptor,
	&etcdserverpb__put_response__descriptor,
	&etcdserverpb__delete_range_request__descriptor,
	&etcdserverpb__delete_range_response__descriptor,
	&etcdserverpb__txn_request__descriptor,
	&etcdserverpb__txn_response__descriptor,
	&etcdserverpb__watch_request__descriptor,
	&etcdserverpb__watch_response__descriptor,
	&etcdserverpb__lease_keep_alive_request__descriptor,
	&etcdserverpb__lease_keep_alive_response__descriptor,
	/* contained only */
	&etcdserverpb__response_header__descriptor,
	&mvccpb__key_value__descriptor,
	&mvccpb__event__descriptor,
	&etcdserverpb__compare__descriptor,
	&etcdserverpb__request_op__descriptor,
	&etcdserverpb__response_op__descriptor,
	&etcdserverpb__watch_create_request__descriptor,
	&etcdserverpb__watch_cancel_request__descriptor,
	&etcdserverpb__watch_progress_request__descriptor,
};

bool pb_fast_covers(const ProtobufCMessageDescriptor *d)
{
	for (size_t i = 0; i < sizeof(covered) / sizeof(covered[0]); i++)
		if (covered[i] == d)
			return true;
	return false;
}

/* The messages that contain themselves (TxnRequest -> RequestOp -> TxnRequest, the same for
 * responses): the only ones whose depth is bounded, as in etcd_methods.c nesting_ok. */
static bool txn_cycle(const ProtobufCMessageDescriptor *d)
{
	return d == &etcdserverpb__txn_request__descriptor ||
	       d == &etcdserverpb__request_op__descriptor ||
	       d == &etcdserverpb__txn_response__descriptor ||
	       d == &etcdserverpb__response_op__descriptor;
}

/* ---- allocation, as protobuf-c's do_alloc / do_free ---- */

static void *sys_alloc(void *data, size_t n) { return malloc(n); }
static void sys_free(void *data, void *p) { free(p); }
/* protobuf-c's default allocator is malloc/free too, so its free_unpacked releases ours. */
static ProtobufCAllocator sys_allocator = {sys_alloc, sys_free, NULL};

/* ---- wire reads, each through the bounds-checked reader ---- */

/* A tag as protobuf-c's parse_tag_and_wiretype reads it: at most 5 bytes, and the first byte
 * must carry field-number bits. False (and r->err) otherwise. */
static inline bool read_tag(struct rd *r, uint32_t *id, unsigned *wt)
{
	uint8_t b = rd_u8(r);
	if (r->err || !(b & 0xf8)) {
		r->err = true;
		return false;
	}
	*wt = b & 7;
	uint32_t tag = (uint32_t)(b & 0x7f) >> 3;
	unsigned shift = 4;
	for (int i = 1; b & 0x80; i++) {
		if (i == 5) {
			r->err = true;
			return false;
		}
		b = rd_u8(r);
		if (r->err)
			return false;
		tag |= (uint32_t)(b & 0x7f) << shift;
		shift += 7;
	}
	*id = tag;
	return true;
}

/* A varint of at most 10 bytes (protobuf-c's scan_varint); *any says whether any of its
 * 7-bit groups is non-zero, which is protobuf-c's parse_boolean (a bit shifted out of the
 * 64-bit value still makes a bool true). */
static inline uint64_t read_varint(struct rd *r, bool *any)
{
	uint64_t v = 0;
	uint8_t nz = 0;
	for (unsigned shift = 0; shift < 70; shift += 7) {
		uint8_t b = rd_u8(r);
		if (r->err)
			return 0;
		v |= (uint64_t)(b & 0x7f) << shift;
		nz |= b & 0x7f;
		if (!(b & 0x80)) {
			*any = nz != 0;
			return v;
		}
	}
	r->err = true;
	return 0;
}

/* A length-delimited value (protobuf-c's scan_length_prefixed_data: at most 5 bytes of
 * length, at most INT_MAX); returns its bytes, *len their count. */
static inline const uint8_t *read_len(struct rd *r, size_t *len)
{
	size_t v = 0;
	for (unsigned i = 0; i < 5; i++) {
		uint8_t b = rd_u8(r);
		if (r->err)
			return NULL;
		v |= (size_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			if (v > INT_MAX) {
				r->err = true;
				return NULL;
			}
			*len = v;
			return rd_bytes(r, v);
		}
	}
	r->err = true;
	return NULL;
}

/* The field with number id: fields are sorted by number and mostly dense from 1. */
static inline const ProtobufCFieldDescriptor *field_find(const ProtobufCMessageDescriptor *d,
							 uint32_t id)
{
	if (id - 1 < d->n_fields && d->fields[id - 1].id == id)
		return &d->fields[id - 1];
	for (unsigned i = 0; i < d->n_fields; i++)
		if (d->fields[i].id == id)
			return &d->fields[i];
	return NULL;
}

static inline bool is_varint_type(ProtobufCType t)
{
	return t == PROTOBUF_C_TYPE_INT64 || t == PROTOBUF_C_TYPE_UINT64 ||
	       t == PROTOBUF_C_TYPE_INT32 || t == PROTOBUF_C_TYPE_UINT32 ||
	       t == PROTOBUF_C_TYPE_ENUM || t == PROTOBUF_C_TYPE_BOOL;
}

/* ---- walk 1: validation ---- */

/* PB_FAST_OK when fill_msg can decode the n bytes at p as a d exactly as protobuf-c would;
 * depth counts the messages above this one (only Txn-cycle messages are bounded by max). */
static int check_msg(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t n, int depth,
		     int max)
{
	struct rd r;
	uint32_t seen = 0; /* singular message fields met, by field index */

	if (txn_cycle(d) && depth > max)
		return PB_FAST_TOO_DEEP;
	if (depth > PBF_HARD_DEPTH || d->n_fields > PBF_MAX_FIELDS)
		return PB_FAST_FALLBACK;
	rd_init(&r, p, n);
	while (rd_left(&r) > 0) {
		uint32_t id;
		unsigned wt;
		if (!read_tag(&r, &id, &wt))
			return PB_FAST_FALLBACK;
		const ProtobufCFieldDescriptor *f = field_find(d, id);
		if (!f)
			return PB_FAST_FALLBACK; /* unknown field: protobuf-c keeps it */
		if (is_varint_type(f->type)) {
			bool any;
			if (wt != PROTOBUF_C_WIRE_TYPE_VARINT || f->label != PROTOBUF_C_LABEL_NONE)
				return PB_FAST_FALLBACK;
			(void)read_varint(&r, &any);
			if (r.err)
				return PB_FAST_FALLBACK;
			continue;
		}
		if (wt != PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED)
			return PB_FAST_FALLBACK;
		size_t len;
		const uint8_t *b = read_len(&r, &len);
		if (r.err)
			return PB_FAST_FALLBACK;
		switch (f->type) {
		case PROTOBUF_C_TYPE_BYTES:
		case PROTOBUF_C_TYPE_STRING:
			if (f->label != PROTOBUF_C_LABEL_NONE)
				return PB_FAST_FALLBACK;
			break;
		case PROTOBUF_C_TYPE_MESSAGE: {
			if (f->label == PROTOBUF_C_LABEL_NONE &&
			    !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)) {
				uint32_t bit = 1u << (f - d->fields);
				if (seen & bit)
					return PB_FAST_FALLBACK; /* protobuf-c merges the two */
				seen |= bit;
			} else if (f->label != PROTOBUF_C_LABEL_NONE &&
				   f->label != PROTOBUF_C_LABEL_REPEATED) {
				return PB_FAST_FALLBACK;
			}
			int rc = check_msg(f->descriptor, b, len, depth + 1, max);
			if (rc != PB_FAST_OK)
				return rc;
			break;
		}
		default:
			return PB_FAST_FALLBACK;
		}
	}
	return PB_FAST_OK;
}

/* ---- walk 2: building the structs (input already validated by check_msg) ---- */

#define MEMBER(m, off) ((void *)((char *)(m) + (off)))

/* Frees what a oneof member holds and clears it, as protobuf-c's parse_oneof_member does
 * before storing a new member of the same oneof. */
static void oneof_clear(const ProtobufCMessageDescriptor *d, ProtobufCMessage *m,
			const ProtobufCFieldDescriptor *f, ProtobufCAllocator *a,
			ProtobufCAllocator *orig)
{
	uint32_t *c = MEMBER(m, f->quantifier_offset);
	if (*c == 0)
		return;
	const ProtobufCFieldDescriptor *old = field_find(d, *c);
	void *mem = MEMBER(m, f->offset); /* oneof members share one offset */
	size_t size = 8;
	if (!old)
		return;
	switch (old->type) {
	case PROTOBUF_C_TYPE_BYTES: {
		ProtobufCBinaryData *bd = mem;
		if (bd->data)
			a->free(a->allocator_data, bd->data);
		size = sizeof(*bd);
		break;
	}
	case PROTOBUF_C_TYPE_STRING: {
		char **s = mem;
		if (*s && *s != old->default_value)
			a->free(a->allocator_data, *s);
		size = sizeof(*s);
		break;
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		ProtobufCMessage **sm = mem;
		if (*sm)
			protobuf_c_message_free_unpacked(*sm, orig);
		size = sizeof(*sm);
		break;
	}
	case PROTOBUF_C_TYPE_BOOL: size = sizeof(protobuf_c_boolean); break;
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_ENUM: size = 4; break;
	default: break;
	}
	memset(mem, 0, size);
}

/* Sizes the arrays of d's repeated (message) fields for the n bytes at p, with n_* left at 0
 * for fill_msg to count up. False when the allocator fails. */
static bool alloc_repeated(const ProtobufCMessageDescriptor *d, ProtobufCMessage *m,
			   const uint8_t *p, size_t n, ProtobufCAllocator *a)
{
	size_t cnt[PBF_MAX_FIELDS] = {0};
	bool any_rep = false;
	struct rd r;

	for (unsigned i = 0; i < d->n_fields; i++)
		any_rep |= d->fields[i].label == PROTOBUF_C_LABEL_REPEATED;
	if (!any_rep)
		return true;
	rd_init(&r, p, n);
	while (rd_left(&r) > 0) {
		uint32_t id;
		unsigned wt;
		size_t len;
		bool any;
		if (!read_tag(&r, &id, &wt))
			return false;
		if (wt == PROTOBUF_C_WIRE_TYPE_VARINT) {
			(void)read_varint(&r, &any);
			continue;
		}
		(void)read_len(&r, &len);
		const ProtobufCFieldDescriptor *f = field_find(d, id);
		if (f && f->label == PROTOBUF_C_LABEL_REPEATED)
			cnt[f - d->fields]++;
	}
	if (r.err)
		return false;
	for (unsigned i = 0; i < d->n_fields; i++) {
		if (!cnt[i])
			continue;
		/* only message fields are repeated here (check_msg): an array of pointers */
		void **arr = a->alloc(a->allocator_data, sizeof(void *) * cnt[i]);
		if (!arr)
			return false;
		*(void ***)MEMBER(m, d->fields[i].offset) = arr;
	}
	return true;
}

/* Decodes a checked message; NULL with *rc set when the allocator fails (or, never expected
 * after check_msg, the bytes do not parse). The partial message is freed. */
static ProtobufCMessage *fill_msg(const ProtobufCMessageDescriptor *d, const uint8_t *p,
				  size_t n, ProtobufCAllocator *a, ProtobufCAllocator *orig,
				  int *rc)
{
	ProtobufCMessage *m = a->alloc(a->allocator_data, d->sizeof_message);
	struct rd r;

	if (!m) {
		*rc = PB_FAST_NOMEM;
		return NULL;
	}
	d->message_init(m);
	if (!alloc_repeated(d, m, p, n, a)) {
		*rc = PB_FAST_NOMEM;
		goto fail;
	}
	rd_init(&r, p, n);
	while (rd_left(&r) > 0) {
		uint32_t id;
		unsigned wt;
		if (!read_tag(&r, &id, &wt))
			goto bad;
		const ProtobufCFieldDescriptor *f = field_find(d, id);
		if (!f)
			goto bad;
		bool oneof = f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF;
		void *mem = MEMBER(m, f->offset);
		if (is_varint_type(f->type)) {
			bool any;
			uint64_t v = read_varint(&r, &any);
			if (r.err || wt != PROTOBUF_C_WIRE_TYPE_VARINT)
				goto bad;
			if (oneof)
				oneof_clear(d, m, f, a, orig);
			switch (f->type) {
			case PROTOBUF_C_TYPE_INT64:
			case PROTOBUF_C_TYPE_UINT64: *(uint64_t *)mem = v; break;
			case PROTOBUF_C_TYPE_BOOL: *(protobuf_c_boolean *)mem = any; break;
			default: *(uint32_t *)mem = (uint32_t)v; break;
			}
		} else {
			size_t len;
			const uint8_t *b = read_len(&r, &len);
			if (r.err || wt != PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED)
				goto bad;
			if (oneof)
				oneof_clear(d, m, f, a, orig);
			switch (f->type) {
			case PROTOBUF_C_TYPE_BYTES: {
				ProtobufCBinaryData *bd = mem;
				if (bd->data)
					a->free(a->allocator_data, bd->data);
				bd->data = NULL;
				bd->len = 0;
				if (len) {
					bd->data = a->alloc(a->allocator_data, len);
					if (!bd->data)
						goto nomem;
					memcpy(bd->data, b, len);
					bd->len = len;
				}
				break;
			}
			case PROTOBUF_C_TYPE_STRING: {
				char **s = mem;
				if (*s && *s != f->default_value)
					a->free(a->allocator_data, *s);
				*s = a->alloc(a->allocator_data, len + 1);
				if (!*s)
					goto nomem;
				memcpy(*s, b, len);
				(*s)[len] = 0;
				break;
			}
			case PROTOBUF_C_TYPE_MESSAGE: {
				ProtobufCMessage *sub = fill_msg(f->descriptor, b, len, a, orig, rc);
				if (!sub)
					goto fail;
				if (f->label == PROTOBUF_C_LABEL_REPEATED) {
					size_t *cnt = MEMBER(m, f->quantifier_offset);
					(*(ProtobufCMessage ***)mem)[(*cnt)++] = sub;
				} else {
					*(ProtobufCMessage **)mem = sub;
				}
				break;
			}
			default: goto bad;
			}
		}
		if (oneof)
			*(uint32_t *)MEMBER(m, f->quantifier_offset) = f->id;
	}
	return m;
nomem:
	*rc = PB_FAST_NOMEM;
	goto fail;
bad:
	*rc = PB_FAST_FALLBACK;
fail:
	protobuf_c_message_free_unpacked(m, orig);
	return NULL;
}

int pb_fast_decode(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t n,
		   ProtobufCAllocator *alloc, int max_nesting, ProtobufCMessage **out)
{
	*out = NULL;
	if (!d || (!p && n) || !pb_fast_covers(d))
		return PB_FAST_FALLBACK;
	int rc = check_msg(d, p, n, 0, max_nesting);
	if (rc != PB_FAST_OK)
		return rc;
	rc = PB_FAST_OK;
	*out = fill_msg(d, p, n, alloc ? alloc : &sys_allocator, alloc, &rc);
	return *out ? PB_FAST_OK : rc;
}
