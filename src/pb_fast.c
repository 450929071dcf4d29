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
 * One walk per decode (fill_msg), plus at each level with repeated fields a scan counting
 * them to size their arrays as protobuf-c does:
 *  - it validates with protobuf-c's own rules (5-byte tags, 10-byte varints, 5-byte lengths up
 *    to INT_MAX) and refuses all that is decoded differently or not at all here: unknown
 *    fields (protobuf-c keeps them), a wire type that does not match the field, field types
 *    other than the varint and length-delimited ones above, repeated scalars (packed or not),
 *    a singular message field seen twice (protobuf-c merges the two), and Txns nested too deep.
 *    The checks are check_msg's, made in its order, so the first refusal met is check_msg's;
 *    when the walk stops on an allocator failure instead, check_msg is run to find out whether
 *    the message would have been refused (and with which code). A refusal frees the partial
 *    message and restores the budget of a registered allocator (pb_fast_set_budget: etcd.c's
 *    arena, whose limit (msg_decode) must see on a fallback only what protobuf-c alone uses).
 *  - it builds the structs with protobuf-c's semantics: last value wins for scalars, bytes
 *    and strings; a later oneof member replaces the earlier one; empty bytes are {0, NULL};
 *    bools are true when any bit of the varint is; 32-bit fields keep the low 32 bits. Every
 *    allocation is one protobuf-c would make too (same sizes), so the arena limit is hit here
 *    only if protobuf-c would hit it. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "kv.pb-c.h"
#include "pb_fast.h"
#include "rd.h"
#include "rpc.pb-c.h"

/* Highest field number of a covered message (Compare.range_end): tables are indexed by it. */
#define PBF_MAX_ID 64
/* Repeated fields per covered message at most (TxnRequest has 3). */
#define PBF_MAX_REP 4
/* Recursion bound whatever max_nesting says: covered messages nest 4 levels outside Txns. */
#define PBF_HARD_DEPTH 128

/* The covered top-level messages, the most frequent first; every message they contain is
 * in the list too (closed under containment), so the check is made once, at the top. */
static const ProtobufCMessageDescriptor *const covered[] = {
	&etcdserverpb__range_response__descriptor,
	&etcdserverpb__range_request__descriptor,
	&etcdserverpb__watch_response__descriptor,
	&etcdserverpb__txn_request__descriptor,
	&etcdserverpb__txn_response__descriptor,
	&etcdserverpb__lease_keep_alive_request__descriptor,
	&etcdserverpb__lease_keep_alive_response__descriptor,
	&etcdserverpb__watch_request__descriptor,
	&etcdserverpb__put_request__descriptor,
	&etcdserverpb__put_response__descriptor,
	&etcdserverpb__delete_range_request__descriptor,
	&etcdserverpb__delete_range_response__descriptor,
#define PBF_N_TOP 12
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
#define PBF_N_TYPES (sizeof(covered) / sizeof(covered[0]))

/* What a field number means in a message, from its protobuf-c field descriptor. */
enum pbf_kind {
	K_UNKNOWN = 0, /* no such field: protobuf-c keeps it as an unknown field */
	K_OTHER,       /* a field not decoded here (repeated scalars, fixed-size types) */
	K_I64,         /* int64, uint64: the varint's 64 bits */
	K_I32,         /* int32, uint32, enum: its low 32 bits */
	K_BOOL,        /* any bit set */
	K_BYTES,
	K_STRING,
	K_MSG,         /* singular message (maybe a oneof member) */
	K_MSG_REP,     /* repeated message */
};

struct pbf_type;

struct pbf_field {
	uint8_t kind;      /* enum pbf_kind */
	uint8_t oneof;     /* a oneof member: quant is the offset of the oneof's case */
	uint8_t slot;      /* K_MSG: bit in the seen masks; K_MSG_REP: counter index */
	uint32_t off, quant;
	const struct pbf_type *sub; /* K_MSG, K_MSG_REP */
	const ProtobufCFieldDescriptor *fd;
};

/* A covered message's decoding table, built from its descriptor once (pbf_init). */
struct pbf_type {
	const ProtobufCMessageDescriptor *d;
	bool cycle;    /* part of the Txn cycle: depth-bounded */
	uint8_t n_rep; /* repeated message fields */
	uint32_t rep_off[PBF_MAX_REP]; /* their array offsets, by slot */
	struct pbf_field f[PBF_MAX_ID + 1];
};

static struct pbf_type types[PBF_N_TYPES];
static bool types_ready;

/* The messages that contain themselves (TxnRequest -> RequestOp -> TxnRequest, the same for
 * responses): the only ones whose depth is bounded, as in etcd_methods.c nesting_ok. */
static bool txn_cycle(const ProtobufCMessageDescriptor *d)
{
	return d == &etcdserverpb__txn_request__descriptor ||
	       d == &etcdserverpb__request_op__descriptor ||
	       d == &etcdserverpb__txn_response__descriptor ||
	       d == &etcdserverpb__response_op__descriptor;
}

static const struct pbf_type *type_of(const ProtobufCMessageDescriptor *d, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (covered[i] == d)
			return &types[i];
	return NULL;
}

/* Fills the tables from the generated descriptors (the etcd stage is single-threaded). */
static void pbf_init(void)
{
	for (size_t i = 0; i < PBF_N_TYPES; i++) {
		const ProtobufCMessageDescriptor *d = covered[i];
		struct pbf_type *t = &types[i];
		uint8_t n_msg = 0;
		t->d = d;
		t->cycle = txn_cycle(d);
		for (unsigned k = 0; k < d->n_fields; k++) {
			const ProtobufCFieldDescriptor *fd = &d->fields[k];
			if (fd->id > PBF_MAX_ID)
				continue; /* stays K_UNKNOWN: falls back */
			struct pbf_field *f = &t->f[fd->id];
			bool single = fd->label == PROTOBUF_C_LABEL_NONE;
			f->fd = fd;
			f->off = fd->offset;
			f->quant = fd->quantifier_offset;
			f->oneof = (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0;
			f->kind = K_OTHER;
			switch (fd->type) {
			case PROTOBUF_C_TYPE_INT64:
			case PROTOBUF_C_TYPE_UINT64: f->kind = single ? K_I64 : K_OTHER; break;
			case PROTOBUF_C_TYPE_INT32:
			case PROTOBUF_C_TYPE_UINT32:
			case PROTOBUF_C_TYPE_ENUM: f->kind = single ? K_I32 : K_OTHER; break;
			case PROTOBUF_C_TYPE_BOOL: f->kind = single ? K_BOOL : K_OTHER; break;
			case PROTOBUF_C_TYPE_BYTES: f->kind = single ? K_BYTES : K_OTHER; break;
			case PROTOBUF_C_TYPE_STRING: f->kind = single ? K_STRING : K_OTHER; break;
			case PROTOBUF_C_TYPE_MESSAGE:
				f->sub = type_of(fd->descriptor, PBF_N_TYPES);
				if (!f->sub)
					break;
				if (single && n_msg < 32) {
					f->kind = K_MSG;
					f->slot = n_msg++;
				} else if (fd->label == PROTOBUF_C_LABEL_REPEATED && t->n_rep < PBF_MAX_REP) {
					f->kind = K_MSG_REP;
					f->slot = t->n_rep;
					t->rep_off[t->n_rep++] = fd->offset;
				}
				break;
			default: break;
			}
		}
	}
	types_ready = true;
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

/* The table entry of field number id (K_UNKNOWN beyond the covered numbers). */
static inline const struct pbf_field *field_of(const struct pbf_type *t, uint32_t id)
{
	static const struct pbf_field unknown; /* K_UNKNOWN */
	return id <= PBF_MAX_ID ? &t->f[id] : &unknown;
}

/* ---- validation alone (an allocation failed in fill_msg: what would the code be?) ---- */

/* PB_FAST_OK when fill_msg can decode the n bytes at p as a t exactly as protobuf-c would;
 * depth counts the messages above this one (only Txn-cycle messages are bounded by max). */
static int check_msg(const struct pbf_type *t, const uint8_t *p, size_t n, int depth, int max)
{
	struct rd r;
	uint32_t seen = 0; /* singular message fields met, by slot */

	if (t->cycle && depth > max)
		return PB_FAST_TOO_DEEP;
	if (depth > PBF_HARD_DEPTH)
		return PB_FAST_FALLBACK;
	rd_init(&r, p, n);
	while (rd_left(&r) > 0) {
		uint32_t id;
		unsigned wt;
		bool any = false;
		size_t len;
		if (!read_tag(&r, &id, &wt))
			return PB_FAST_FALLBACK;
		const struct pbf_field *f = field_of(t, id);
		switch (f->kind) {
		case K_I64:
		case K_I32:
		case K_BOOL:
			if (wt != PROTOBUF_C_WIRE_TYPE_VARINT)
				return PB_FAST_FALLBACK;
			(void)read_varint(&r, &any);
			break;
		case K_BYTES:
		case K_STRING:
			if (wt != PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED)
				return PB_FAST_FALLBACK;
			(void)read_len(&r, &len);
			break;
		case K_MSG:
		case K_MSG_REP: {
			if (wt != PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED)
				return PB_FAST_FALLBACK;
			const uint8_t *b = read_len(&r, &len);
			if (r.err)
				return PB_FAST_FALLBACK;
			if (f->kind == K_MSG && !f->oneof) {
				if (seen & 1u << f->slot)
					return PB_FAST_FALLBACK; /* protobuf-c merges the two */
				seen |= 1u << f->slot;
			}
			int rc = check_msg(f->sub, b, len, depth + 1, max);
			if (rc != PB_FAST_OK)
				return rc;
			break;
		}
		default: return PB_FAST_FALLBACK; /* unknown (protobuf-c keeps it) or not ours */
		}
		if (r.err)
			return PB_FAST_FALLBACK;
	}
	return PB_FAST_OK;
}

/* ---- the walk: validating and building the structs ---- */

#define MEMBER(m, off) ((void *)((char *)(m) + (off)))

/* Frees what the oneof of f holds and clears it, as protobuf-c's parse_oneof_member does
 * before storing a new member of the same oneof. */
static void oneof_clear(const struct pbf_type *t, ProtobufCMessage *m, const struct pbf_field *f,
			ProtobufCAllocator *a, ProtobufCAllocator *orig)
{
	uint32_t c = *(uint32_t *)MEMBER(m, f->quant);
	if (c == 0)
		return;
	const struct pbf_field *old = field_of(t, c);
	void *mem = MEMBER(m, f->off); /* oneof members share one offset */
	size_t size = 8;
	switch (old->kind) {
	case K_BYTES: {
		ProtobufCBinaryData *bd = mem;
		if (bd->data)
			a->free(a->allocator_data, bd->data);
		size = sizeof(*bd);
		break;
	}
	case K_STRING: {
		char **s = mem;
		if (*s && *s != old->fd->default_value)
			a->free(a->allocator_data, *s);
		size = sizeof(*s);
		break;
	}
	case K_MSG: {
		ProtobufCMessage **sm = mem;
		if (*sm)
			protobuf_c_message_free_unpacked(*sm, orig);
		size = sizeof(*sm);
		break;
	}
	case K_BOOL: size = sizeof(protobuf_c_boolean); break;
	case K_I32: size = 4; break;
	default: break;
	}
	memset(mem, 0, size);
}

/* Set by alloc_repeated's scan failing: the code is check_msg's (see pb_fast_decode). */
#define PBF_UNSURE (-100)

/* Sizes the arrays of t's repeated (message) fields for the n bytes at p, with n_* left at 0
 * for fill_msg to count up: PB_FAST_OK, PB_FAST_NOMEM, or PBF_UNSURE when the bytes do not
 * scan (check_msg refuses them then: it reads every field this scan reads, the same way). */
static int alloc_repeated(const struct pbf_type *t, ProtobufCMessage *m, const uint8_t *p,
			   size_t n, ProtobufCAllocator *a)
{
	size_t cnt[PBF_MAX_REP] = {0};
	struct rd r;

	rd_init(&r, p, n);
	while (rd_left(&r) > 0) {
		uint32_t id;
		unsigned wt;
		size_t len;
		bool any = false;
		if (!read_tag(&r, &id, &wt))
			return PBF_UNSURE;
		if (wt == PROTOBUF_C_WIRE_TYPE_VARINT) {
			(void)read_varint(&r, &any);
			continue;
		}
		(void)read_len(&r, &len);
		const struct pbf_field *f = field_of(t, id);
		if (f->kind == K_MSG_REP)
			cnt[f->slot]++;
	}
	if (r.err)
		return PBF_UNSURE;
	for (unsigned i = 0; i < t->n_rep; i++) {
		if (!cnt[i])
			continue;
		void **arr = a->alloc(a->allocator_data, sizeof(void *) * cnt[i]);
		if (!arr)
			return PB_FAST_NOMEM;
		*(void ***)MEMBER(m, t->rep_off[i]) = arr;
	}
	return PB_FAST_OK;
}

/* Decodes the n bytes at p as a t, validating as it goes with check_msg's rules, in
 * check_msg's order (depth first at each level, then the fields in wire order, a sub-message
 * before the fields after it), so a refusal met here is the one check_msg would return. NULL
 * with *rc set on a refusal, an allocator failure (PB_FAST_NOMEM) or a failed count of the
 * repeated fields (PBF_UNSURE); the partial message is freed. */
static ProtobufCMessage *fill_msg(const struct pbf_type *t, const uint8_t *p, size_t n,
				  ProtobufCAllocator *a, ProtobufCAllocator *orig, int depth,
				  int max, int *rc)
{
	struct rd r;
	uint32_t seen = 0; /* singular message fields met, by slot */

	if (t->cycle && depth > max) {
		*rc = PB_FAST_TOO_DEEP;
		return NULL;
	}
	if (depth > PBF_HARD_DEPTH) {
		*rc = PB_FAST_FALLBACK;
		return NULL;
	}
	ProtobufCMessage *m = a->alloc(a->allocator_data, t->d->sizeof_message);
	if (!m) {
		*rc = PB_FAST_NOMEM;
		return NULL;
	}
	t->d->message_init(m);
	if (t->n_rep) {
		int arc = alloc_repeated(t, m, p, n, a);
		if (arc != PB_FAST_OK) {
			*rc = arc;
			goto fail;
		}
	}
	rd_init(&r, p, n);
	while (rd_left(&r) > 0) {
		uint32_t id;
		unsigned wt;
		bool any = false;
		size_t len;
		uint64_t v;
		const uint8_t *b;
		if (!read_tag(&r, &id, &wt))
			goto bad;
		const struct pbf_field *f = field_of(t, id);
		if (f->oneof)
			oneof_clear(t, m, f, a, orig);
		void *mem = MEMBER(m, f->off);
		switch (f->kind) {
		case K_I64:
			if (wt != PROTOBUF_C_WIRE_TYPE_VARINT)
				goto bad;
			v = read_varint(&r, &any);
			*(uint64_t *)mem = v;
			break;
		case K_I32:
			if (wt != PROTOBUF_C_WIRE_TYPE_VARINT)
				goto bad;
			v = read_varint(&r, &any);
			*(uint32_t *)mem = (uint32_t)v;
			break;
		case K_BOOL:
			if (wt != PROTOBUF_C_WIRE_TYPE_VARINT)
				goto bad;
			(void)read_varint(&r, &any);
			*(protobuf_c_boolean *)mem = any;
			break;
		case K_BYTES: {
			ProtobufCBinaryData *bd = mem;
			if (wt != PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED)
				goto bad;
			b = read_len(&r, &len);
			if (r.err)
				goto bad;
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
		case K_STRING: {
			char **s = mem;
			if (wt != PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED)
				goto bad;
			b = read_len(&r, &len);
			if (r.err)
				goto bad;
			if (*s && *s != f->fd->default_value)
				a->free(a->allocator_data, *s);
			*s = a->alloc(a->allocator_data, len + 1);
			if (!*s)
				goto nomem;
			memcpy(*s, b, len);
			(*s)[len] = 0;
			break;
		}
		case K_MSG:
		case K_MSG_REP: {
			if (wt != PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED)
				goto bad;
			b = read_len(&r, &len);
			if (r.err)
				goto bad;
			if (f->kind == K_MSG && !f->oneof) {
				if (seen & 1u << f->slot)
					goto bad; /* protobuf-c merges the two */
				seen |= 1u << f->slot;
			}
			ProtobufCMessage *sub = fill_msg(f->sub, b, len, a, orig, depth + 1, max, rc);
			if (!sub)
				goto fail;
			if (f->kind == K_MSG_REP) {
				size_t *cnt = MEMBER(m, f->quant);
				(*(ProtobufCMessage ***)mem)[(*cnt)++] = sub;
			} else {
				*(ProtobufCMessage **)mem = sub;
			}
			break;
		}
		default: goto bad; /* unknown (protobuf-c keeps it) or not ours */
		}
		if (r.err)
			goto bad;
		if (f->oneof)
			*(uint32_t *)MEMBER(m, f->quant) = id;
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

int pb_fast_check(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t n, int max_nesting)
{
	if (!types_ready)
		pbf_init();
	const struct pbf_type *t = type_of(d, PBF_N_TOP);
	if (!t || (!p && n))
		return PB_FAST_FALLBACK;
	return check_msg(t, p, n, 0, max_nesting);
}

static const struct pb_fast_budget *budget; /* pb_fast_set_budget */

void pb_fast_set_budget(const struct pb_fast_budget *b) { budget = b; }

int pb_fast_decode(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t n,
		   ProtobufCAllocator *alloc, int max_nesting, ProtobufCMessage **out)
{
	*out = NULL;
	if (!types_ready)
		pbf_init();
	const struct pbf_type *t = type_of(d, PBF_N_TOP);
	if (!t || (!p && n))
		return PB_FAST_FALLBACK;
	struct pb_fast_mark mark;
	bool budgeted = alloc && budget && alloc->alloc == budget->alloc;
	if (budgeted)
		budget->save(alloc->allocator_data, &mark);
	int rc = PB_FAST_OK;
	*out = fill_msg(t, p, n, alloc ? alloc : &sys_allocator, alloc, 0, max_nesting, &rc);
	if (*out)
		return PB_FAST_OK;
	if (rc == PB_FAST_NOMEM || rc == PBF_UNSURE) {
		/* The walk stopped before meeting what it refuses, if anything: the code is
		 * check_msg's, and NOMEM only for a message it accepts (whose fill made the
		 * very allocations the walk before this one made, up to the same failure). */
		int crc = check_msg(t, p, n, 0, max_nesting);
		rc = crc != PB_FAST_OK ? crc : rc == PB_FAST_NOMEM ? PB_FAST_NOMEM : PB_FAST_FALLBACK;
	}
	if (rc != PB_FAST_NOMEM && budgeted)
		budget->restore(alloc->allocator_data, &mark);
	return rc;
}
