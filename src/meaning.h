/* meaning.h: the Kubernetes meaning attached to a record before it is printed or stored
 * (issue "Kubernetes meaning"): which object a key is, what the value decodes to, who wrote
 * it, what changed, and whether the RPC is the API server's own housekeeping.
 * Built by meaning.c from a record and the store; read by the printers. */
#ifndef EE_MEANING_H
#define EE_MEANING_H

#include <jansson.h>
#include <stdbool.h>

#include "k8s.h"
#include "record.h"

struct store;
struct cli_opts;
struct objcache;

struct meaning {
	bool has_key;
	struct k8s_key key;          /* the record's key, or the range it covers */
	const char *housekeeping;    /* "health", "compaction", "status-poll", "lease",
				      * "count", "keys-only", "list-page", or NULL */
	int list_page;               /* page number within a paginated LIST (list_agg), or 0 */
	bool has_value;
	struct k8s_value val;        /* the new value (put); for a put, a sparse tree
				      * (k8s_value_decode_sparse): kind, uid, generation,
				      * managedFields and the changed fields only */
	bool has_prev;               /* the previous value was known (prev_kv, store, ...) and
				      * decoded: for a put only when the writer and diff were
				      * not in the cache, and sparsely (printers read prev of
				      * deletes only, which is whole) */
	struct k8s_value prev;
	bool has_writer;
	struct k8s_writer writer;
	json_t *diff;                /* array of {path, old, new}; NULL when no previous value */
	const char *change;          /* "create", "spec", "status", "metadata", "delete", "none" */
};

struct meaning_ctx {
	const struct cli_opts *o;
	struct store *store;         /* may be NULL */
	bool keys_only;              /* skip value decoding, writer and diff */
	struct objcache *cache;      /* decoded values and diffs seen before; may be NULL */
};

/* Fills m for r. Cheap for records without a key. Free with meaning_clear, which drops
 * m's own references: the trees may be shared with ctx->cache, never freed under it. */
void meaning_build(const struct meaning_ctx *ctx, const struct etcd_record *r, struct meaning *m);
void meaning_clear(struct meaning *m);

#endif
