/* pb_fast.h: a fast decoder for the etcd messages that dominate API-server traffic (Range,
 * Put, DeleteRange, Txn, Watch, LeaseKeepAlive), part of the etcd stage. It produces the very
 * structs protobuf_c_message_unpack would (generated types of build/gen/rpc.pb-c.h, kv.pb-c.h), and says
 * "fall back" for anything it does not decode exactly as protobuf-c does. */
#ifndef EE_PB_FAST_H
#define EE_PB_FAST_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

enum pb_fast_status {
	PB_FAST_OK = 0,
	PB_FAST_FALLBACK = -1, /* not decoded, nothing allocated: use protobuf-c */
	PB_FAST_TOO_DEEP = -2, /* a Txn nests deeper than max_nesting: the message is refused */
	PB_FAST_NOMEM = -3,    /* the allocator failed; protobuf-c would fail as well */
};

/* Decodes the n bytes at p as a d into *out, allocated from alloc (NULL = malloc), to be
 * released like protobuf-c's result (arena reset, or protobuf_c_message_free_unpacked).
 * Bytes and strings are copied: the result does not borrow p. d must be the request or
 * response of Range, Put, DeleteRange, Txn, Watch or LeaseKeepAlive; any other gives
 * PB_FAST_FALLBACK.
 * The input is validated while it is decoded: on PB_FAST_FALLBACK and PB_FAST_TOO_DEEP what
 * was allocated is freed through alloc->free, and an allocator registered with
 * pb_fast_set_budget gets its budget back, so protobuf-c after a fallback starts from the
 * allocator state it would have had alone. The result code is the one a validation of the
 * whole input before any allocation gives (NOMEM only for inputs it accepts). Txn nesting is
 * counted as in etcd_methods.c (TxnRequest 0 -> RequestOp 1 -> TxnRequest 2 ...; the same for
 * responses): a level deeper than max_nesting gives PB_FAST_TOO_DEEP. */
int pb_fast_decode(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t n,
		   ProtobufCAllocator *alloc, int max_nesting, ProtobufCMessage **out);

/* The validation alone: the code pb_fast_decode gives with an allocator that never fails
 * (PB_FAST_OK, PB_FAST_FALLBACK or PB_FAST_TOO_DEEP), for the tests. */
int pb_fast_check(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t n, int max_nesting);

/* Where an allocator with a byte budget stands (etcd.c's arena: its count and limit flag). */
struct pb_fast_mark {
	size_t u[3];
	const void *v;
};

/* An allocator with a budget (etcd.c's arena, whose limit decides that a message would
 * unpack too big), recognised by its alloc function: save is called before a decode, restore
 * after one that fails with PB_FAST_FALLBACK or PB_FAST_TOO_DEEP. */
struct pb_fast_budget {
	void *(*alloc)(void *allocator_data, size_t n);
	void (*save)(void *allocator_data, struct pb_fast_mark *m);
	void (*restore)(void *allocator_data, const struct pb_fast_mark *m);
};

/* Registers b (static storage; NULL: none). The etcd stage is single-threaded. */
void pb_fast_set_budget(const struct pb_fast_budget *b);

#endif
