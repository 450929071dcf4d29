/* fuzz_pbfast.c: libFuzzer differential target for src/pb_fast.c. The first input byte picks
 * one of the 12 method/direction pairs pb_fast covers, the rest is the message. pb_fast's
 * result must equal the reference, etcd_message_decode with EE_PB_SLOW=1 (nesting bound +
 * protobuf_c_message_unpack): both refused, or both decoded, packing to the same bytes and
 * equal field by field; the result code equal to the validation's alone (pb_fast_check), and a
 * decode short of memory freeing and giving back all it took. Aborts on a mismatch.
 * tests/unit/test_pbfast.c includes this file (PBDIFF_NO_FUZZ_MAIN) for the same check. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <protobuf-c/protobuf-c.h>

#include "etcd.h"
#include "pb_fast.h"

/* ETCD_MAX_NESTING of src/etcd_methods.c: a different bound here shows as a mismatch on
 * nested Txns (the reference refuses at its own bound). */
#define PBDIFF_NESTING 32

static const struct {
	enum etcd_method m;
	enum tcp_dir dir;
} pbdiff_methods[] = {
	{EM_RANGE, TCP_C2S},        {EM_RANGE, TCP_S2C},        {EM_PUT, TCP_C2S},
	{EM_PUT, TCP_S2C},          {EM_DELETE_RANGE, TCP_C2S}, {EM_DELETE_RANGE, TCP_S2C},
	{EM_TXN, TCP_C2S},          {EM_TXN, TCP_S2C},          {EM_WATCH, TCP_C2S},
	{EM_WATCH, TCP_S2C},        {EM_LEASE_KEEPALIVE, TCP_C2S}, {EM_LEASE_KEEPALIVE, TCP_S2C},
};
#define PBDIFF_N_METHODS (sizeof(pbdiff_methods) / sizeof(pbdiff_methods[0]))

static size_t pbdiff_elt_size(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_ENUM: return 4;
	case PROTOBUF_C_TYPE_BOOL: return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_MESSAGE: return sizeof(void *);
	case PROTOBUF_C_TYPE_BYTES: return sizeof(ProtobufCBinaryData);
	default: return 8;
	}
}

static int pbdiff_msg_eq(const ProtobufCMessage *a, const ProtobufCMessage *b);

/* One value of field f at a and b (element of a repeated field, or the member itself). */
static int pbdiff_val_eq(const ProtobufCFieldDescriptor *f, const void *a, const void *b)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING: {
		const char *sa = *(char *const *)a, *sb = *(char *const *)b;
		if (!sa || !sb)
			return sa == sb;
		/* the shared default (protobuf_c_empty_string) vs an allocated "" */
		if ((sa == f->default_value) != (sb == f->default_value))
			return 0;
		return strcmp(sa, sb) == 0;
	}
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *x = a, *y = b;
		if (x->len != y->len || (x->data == NULL) != (y->data == NULL))
			return 0;
		return x->len == 0 || memcmp(x->data, y->data, x->len) == 0;
	}
	case PROTOBUF_C_TYPE_MESSAGE:
		return pbdiff_msg_eq(*(ProtobufCMessage *const *)a, *(ProtobufCMessage *const *)b);
	default: return memcmp(a, b, pbdiff_elt_size(f->type)) == 0;
	}
}

/* Field-by-field equality walking the descriptors: counts, oneof cases, has_ flags,
 * NULL-ness of submessages and arrays, bytes contents, unknown fields. */
static int pbdiff_msg_eq(const ProtobufCMessage *a, const ProtobufCMessage *b)
{
	if (!a || !b)
		return a == b;
	if (a->descriptor != b->descriptor || a->n_unknown_fields != b->n_unknown_fields)
		return 0;
	for (unsigned i = 0; i < a->n_unknown_fields; i++) {
		const ProtobufCMessageUnknownField *x = &a->unknown_fields[i],
						   *y = &b->unknown_fields[i];
		if (x->tag != y->tag || x->wire_type != y->wire_type || x->len != y->len ||
		    memcmp(x->data, y->data, x->len) != 0)
			return 0;
	}
	const ProtobufCMessageDescriptor *d = a->descriptor;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const char *ma = (const char *)a + f->offset, *mb = (const char *)b + f->offset;
		const char *qa = (const char *)a + f->quantifier_offset;
		const char *qb = (const char *)b + f->quantifier_offset;
		if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
			uint32_t ca = *(const uint32_t *)qa, cb = *(const uint32_t *)qb;
			if (ca != cb)
				return 0;
			if (ca != f->id)
				continue;
		} else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_MESSAGE &&
			   f->type != PROTOBUF_C_TYPE_STRING) {
			if (*(const protobuf_c_boolean *)qa != *(const protobuf_c_boolean *)qb)
				return 0;
		}
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t na = *(const size_t *)qa, nb = *(const size_t *)qb;
			const char *arr_a = *(char *const *)ma, *arr_b = *(char *const *)mb;
			if (na != nb || (arr_a == NULL) != (arr_b == NULL))
				return 0;
			size_t es = pbdiff_elt_size(f->type);
			for (size_t k = 0; k < na; k++)
				if (!pbdiff_val_eq(f, arr_a + k * es, arr_b + k * es))
					return 0;
		} else if (!pbdiff_val_eq(f, ma, mb)) {
			return 0;
		}
	}
	return 1;
}

/* Both pack to the same bytes. */
static int pbdiff_pack_eq(const ProtobufCMessage *a, const ProtobufCMessage *b)
{
	size_t na = protobuf_c_message_get_packed_size(a), nb = protobuf_c_message_get_packed_size(b);
	if (na != nb)
		return 0;
	uint8_t *pa = malloc(na + 1), *pb = malloc(nb + 1);
	int eq = pa && pb && protobuf_c_message_pack(a, pa) == na &&
		 protobuf_c_message_pack(b, pb) == nb && memcmp(pa, pb, na) == 0;
	free(pa);
	free(pb);
	return eq;
}

enum pbdiff_verdict {
	PBD_FAST,     /* pb_fast decoded, equal to the reference */
	PBD_FALLBACK, /* pb_fast left it to protobuf-c */
	PBD_REFUSED,  /* pb_fast refused (too deep, no memory), so did the reference */
	PBD_MISMATCH,
};

/* An allocator with a byte budget (16-byte rounding, as etcd.c's arena) registered with
 * pb_fast_set_budget: a refused decode must give back all it took, bytes and blocks. */
struct pbdiff_budget {
	size_t left, live;
};
static void *pbdiff_budget_alloc(void *data, size_t n)
{
	struct pbdiff_budget *b = data;
	size_t r = n ? (n + 15) & ~(size_t)15 : 16;
	if (r > b->left)
		return NULL;
	b->left -= r;
	b->live++;
	return malloc(n ? n : 1);
}
static void pbdiff_budget_free(void *data, void *p)
{
	struct pbdiff_budget *b = data;
	if (p)
		b->live--;
	free(p);
}
static void pbdiff_budget_save(void *data, struct pb_fast_mark *m)
{
	m->u[0] = ((struct pbdiff_budget *)data)->left;
}
static void pbdiff_budget_restore(void *data, const struct pb_fast_mark *m)
{
	((struct pbdiff_budget *)data)->left = m->u[0];
}
static const struct pb_fast_budget pbdiff_budget_ops = {pbdiff_budget_alloc, pbdiff_budget_save,
							 pbdiff_budget_restore};

/* The reference must run with EE_PB_SLOW=1 set before etcd_message_decode's first call. */
static void pbdiff_init(void)
{
	setenv("EE_PB_SLOW", "1", 1);
	pb_fast_set_budget(&pbdiff_budget_ops);
}

/* Decodes with a budget of `budget` bytes: the code must be the validation's (pb_fast_check)
 * when it refuses, else OK or NOMEM (protobuf-c failing too); nothing may stay allocated but
 * the result, and a refusal gives the whole budget back. 1 when all holds. */
static int pbdiff_budget_run(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t n,
			     int crc, size_t budget)
{
	struct pbdiff_budget b = {budget, 0};
	ProtobufCAllocator al = {pbdiff_budget_alloc, pbdiff_budget_free, &b};
	ProtobufCMessage *m = NULL;
	int rc = pb_fast_decode(d, p, n, &al, PBDIFF_NESTING, &m);
	int ok = 1;
	if (crc != PB_FAST_OK)
		ok = rc == crc && !m && b.live == 0 && b.left == budget;
	else if (rc == PB_FAST_OK)
		ok = m != NULL;
	else if (rc == PB_FAST_NOMEM) {
		struct pbdiff_budget b2 = {budget, 0};
		ProtobufCAllocator al2 = {pbdiff_budget_alloc, pbdiff_budget_free, &b2};
		ProtobufCMessage *ref = protobuf_c_message_unpack(d, &al2, n, p);
		ok = !m && b.live == 0 && !ref;
		if (ref)
			protobuf_c_message_free_unpacked(ref, &al2);
	} else
		ok = 0;
	if (m)
		protobuf_c_message_free_unpacked(m, &al);
	return ok && b.live == 0;
}

/* Decodes the n bytes at p both ways for method m, direction dir, and compares. */
static enum pbdiff_verdict pbdiff_run(enum etcd_method m, enum tcp_dir dir, const uint8_t *p,
				      size_t n)
{
	const struct etcd_method_info *mi = etcd_method_info(m);
	const ProtobufCMessageDescriptor *d = dir == TCP_C2S ? mi->req : mi->resp;
	ProtobufCMessage *fast = NULL;
	int rc = pb_fast_decode(d, p, n, NULL, PBDIFF_NESTING, &fast);
	/* the one-walk decode refuses exactly as the validation alone does, with the same code */
	int crc = pb_fast_check(d, p, n, PBDIFF_NESTING);
	if (rc != crc) {
		if (fast)
			protobuf_c_message_free_unpacked(fast, NULL);
		return PBD_MISMATCH;
	}
	/* and, short of memory, frees and gives back all it took (a budget from the bytes) */
	size_t budget = n ? (size_t)(p[n / 2] * 31 + p[n - 1]) * 16 % (64 * n + 256) : 64;
	if (!pbdiff_budget_run(d, p, n, crc, budget)) {
		if (fast)
			protobuf_c_message_free_unpacked(fast, NULL);
		return PBD_MISMATCH;
	}
	if (rc == PB_FAST_FALLBACK)
		return fast ? PBD_MISMATCH : PBD_FALLBACK;
	ProtobufCMessage *ref = etcd_message_decode(m, dir, p, n, NULL);
	enum pbdiff_verdict v;
	if (rc == PB_FAST_OK)
		v = fast && ref && pbdiff_msg_eq(fast, ref) && pbdiff_pack_eq(fast, ref) ? PBD_FAST
											 : PBD_MISMATCH;
	else
		v = !fast && !ref ? PBD_REFUSED : PBD_MISMATCH;
	if (fast)
		protobuf_c_message_free_unpacked(fast, NULL);
	if (ref)
		protobuf_c_message_free_unpacked(ref, NULL);
	return v;
}

#ifndef PBDIFF_NO_FUZZ_MAIN
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	pbdiff_init();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned k = data[0] % PBDIFF_N_METHODS;
	if (pbdiff_run(pbdiff_methods[k].m, pbdiff_methods[k].dir, data + 1, size - 1) ==
	    PBD_MISMATCH) {
		fprintf(stderr, "fuzz_pbfast: pb_fast and protobuf-c differ (method %d dir %d)\n",
			(int)pbdiff_methods[k].m, (int)pbdiff_methods[k].dir);
		abort();
	}
	return 0;
}
#endif
