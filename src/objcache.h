/* objcache.h: a bounded cache of decoded Kubernetes values (k8s stage, issue 6), so that a
 * value seen several times (the Txn that wrote it, the previous value of the next write,
 * the value and prev_kv of every watch event delivering it) is decoded once, and the diff
 * of a pair of versions is computed once for all the watchers that see it.
 *
 * An entry is keyed by (etcd server endpoint, key bytes, mod_revision): a revision names
 * one value of a key within one etcd cluster, and the endpoint stands for the cluster (two
 * clusters in one capture reuse revisions). The value's bytes are compared too (an entry
 * keeps a copy; a pair, one of its previous value's), so a mismatch is a miss, never a
 * wrong answer, even for a capture crafted to break a hash.
 *
 * Ownership: the cache holds one jansson reference to each cached tree (value and diff);
 * a caller that gets a hit receives its own reference (json_incref) and drops it with
 * k8s_value_free / json_decref as if it had decoded the value itself. Evicting or freeing
 * the cache drops the cache's reference only. Bounded by entries and by estimated bytes,
 * least recently used first. */
#ifndef EE_OBJCACHE_H
#define EE_OBJCACHE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "k8s.h"

/* Defaults: a few MB. A value is looked up again within milliseconds (the watch events
 * delivering it) and as the previous value of the key's next write (later). A decoded tree
 * takes ~14x its value's bytes (an arena of 4-32 KiB for a 1-2 KB value), so 4 MiB hold
 * some hundreds of values; larger budgets measured no faster on the bench capture (trees
 * that stay long are cold in the CPU caches; docs/performance.md). */
#define OBJCACHE_MAX_ENTRIES 1024
#define OBJCACHE_MAX_BYTES (4u << 20)

struct objcache;

/* What identifies a value; fill with objcache_key_init (the hash is computed once). */
struct objcache_key {
	const char *ep;
	size_t ep_len;
	const uint8_t *key;
	size_t key_len;
	int64_t rev;
	const uint8_t *val;
	size_t val_len;
	uint64_t h; /* of (ep, key, rev) */
};

/* What a (new value, previous value) pair yields: the diff (NULL when not computed), the
 * change kind, the writer (strings borrowed from the new value's tree). */
struct objcache_pair {
	json_t *diff;
	const char *change;
	bool has_writer;
	struct k8s_writer writer;
};

struct objcache_stats {
	uint64_t hits, misses, evictions, pair_hits, pair_misses;
	size_t entries, bytes;
};

/* max_entries, max_bytes: 0 = the defaults. NULL when out of memory. */
struct objcache *objcache_new(size_t max_entries, size_t max_bytes);
void objcache_free(struct objcache *c);

/* Borrows every pointer until the key is no longer used. val: the raw value bytes
 * (compared with an entry's copy; copied by objcache_put and objcache_pair_put). */
void objcache_key_init(struct objcache_key *k, const char *ep, size_t ep_len, const uint8_t *key,
		       size_t key_len, int64_t rev, const uint8_t *val, size_t val_len);

/* On a hit, copies the cached value into *out with a new reference to its tree (free it
 * with k8s_value_free) and returns true. A sparse tree (k8s_value_decode_sparse) is a
 * miss here: it holds what its pair needs, not the value. */
bool objcache_get(struct objcache *c, const struct objcache_key *k, struct k8s_value *out);

/* Caches a decoded value: the cache takes its own reference to v->obj (the caller keeps
 * its). Replaces an entry with the same key. May evict others. */
void objcache_put(struct objcache *c, const struct objcache_key *k, const struct k8s_value *v);

/* The pair result cached with the new value's entry for this previous value (old NULL:
 * none) and creation flag. On a hit fills *out, with a new reference to the diff (the
 * caller drops it), and, when val is not NULL, *val with a new reference to the new
 * value's tree, sparse or whole (enough for the printers); returns true. */
bool objcache_pair_get(struct objcache *c, const struct objcache_key *new_k,
		       const struct objcache_key *old_k, bool created, struct objcache_pair *out,
		       struct k8s_value *val);

/* Caches the pair result with the new value's entry, if that entry still holds new_obj
 * (the tree the writer's strings point into). Takes its own reference to p->diff. */
void objcache_pair_put(struct objcache *c, const struct objcache_key *new_k,
		       const struct objcache_key *old_k, bool created, const json_t *new_obj,
		       const struct objcache_pair *p);

void objcache_get_stats(const struct objcache *c, struct objcache_stats *st);

#endif
