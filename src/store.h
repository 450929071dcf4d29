/* store.h: the key space the capture has revealed (DESIGN.md "store"): from Range responses,
 * applied writes and watch events, the latest kv per key plus a bounded history of the
 * revisions seen and who wrote them. Memory is bounded by a budget that counts values and
 * the per-key bookkeeping: past it, stored values are dropped oldest first; when only
 * bookkeeping is left and it is still over, the least recently touched half of the keys is
 * forgotten. Both are counted for the report. */
#ifndef EE_STORE_H
#define EE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ee.h"

/* Versions kept per key; older ones are forgotten (counted). */
#define STORE_HISTORY 16

enum store_source { SRC_RANGE = 1, SRC_WRITE, SRC_WATCH };

struct store_version {
	int64_t mod_revision, create_revision, version, lease;
	bool deleted;
	enum store_source source;
	ee_ts ts;
	uint8_t *value;          /* owned; NULL when unknown, dropped by the budget, or deleted */
	size_t value_len;        /* the size even when the bytes were dropped */
	char manager[64];        /* writer (managedFields) when known, "" otherwise */
	char operation[16];
	char subresource[16];
};

struct store_key {
	uint8_t *key;
	size_t key_len;
	struct store_version *hist; /* ring of `cap` (grows to STORE_HISTORY), oldest first
				     * from `first`; read it with store_version_nth */
	int first, n, cap;
	uint64_t forgotten;      /* versions pushed out of the ring */
	uint64_t mark;           /* store_mark of the last store_put (see store_delete_absent) */
	uint64_t touched;        /* store clock of the last change, for eviction */
};

struct store_stats {
	uint64_t keys, live_keys, value_bytes, meta_bytes, dropped_values, dropped_bytes,
		evicted_keys, budget, fifo_entries;
};

struct store;

struct store *store_new(uint64_t budget_bytes);
void store_free(struct store *s);

/* Records a kv state (Range response or watch event / write). Older revisions than the
 * latest known are kept in the history only if new. Returns the key entry or NULL on OOM. */
struct store_key *store_put(struct store *s, const uint8_t *key, size_t key_len, int64_t mod_rev,
			    int64_t create_rev, int64_t version, int64_t lease, const uint8_t *value,
			    size_t value_len, bool value_known, enum store_source src, ee_ts ts);
struct store_key *store_delete(struct store *s, const uint8_t *key, size_t key_len, int64_t rev,
			       enum store_source src, ee_ts ts);
/* Deleting what a read or a range delete shows gone, in two steps: store_mark_begin, then
 * store_put of every key the response listed, then store_delete_absent: every live key in
 * [key, end) (etcd's range: end empty = key alone, "\0" = every key from key on) that was
 * not put since the mark and whose latest version is at or before upto_rev is marked
 * deleted at rev. Returns the number of keys marked. */
void store_mark_begin(struct store *s);
size_t store_delete_absent(struct store *s, const uint8_t *key, size_t key_len,
			   const uint8_t *end, size_t end_len, int64_t rev, int64_t upto_rev,
			   enum store_source src, ee_ts ts);
/* Sets the writer of the version at mod_rev of key. */
void store_set_writer(struct store_key *k, int64_t mod_rev, const char *manager,
		      const char *operation, const char *subresource);

struct store_key *store_get(const struct store *s, const uint8_t *key, size_t key_len);
/* The i-th version kept, oldest first (0 <= i < k->n). */
const struct store_version *store_version_nth(const struct store_key *k, int i);
/* The latest version (NULL when none) and the one at or before rev (0 = latest). */
const struct store_version *store_latest(const struct store_key *k);
const struct store_version *store_at(const struct store_key *k, int64_t rev);
/* The version before the one at mod_rev (its previous value), or NULL. */
const struct store_version *store_before(const struct store_key *k, int64_t mod_rev);

/* All keys sorted by key bytes; the array is owned by the caller (free()), entries by the
 * store. */
struct store_key **store_sorted(const struct store *s, size_t *n);
void store_get_stats(const struct store *s, struct store_stats *st);

#endif
