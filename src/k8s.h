/* k8s.h: Kubernetes meaning of etcd keys and values, sixth stage (DESIGN.md "k8s").
 * Keys: /registry/[group/]resource/[namespace/]name -> struct k8s_key.
 * Values: "k8s\0" protobuf (runtime.Unknown envelope, ObjectMeta = field 1 of the object),
 * JSON (custom resources), "k8s:enc:<provider>:v1:<key>:" (encrypted at rest), or bytes.
 * Every decoded object becomes one JSON tree (jansson) with Kubernetes field names where the
 * schema is known (ObjectMeta, TypeMeta, the key fields of common kinds) and field-number
 * names ("#3", "#3.#1") elsewhere, so that writer detection, diff, redaction and printing work
 * the same for both encodings. */
#ifndef EE_K8S_H
#define EE_K8S_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ee.h"

/* Nesting depth accepted in protobuf and JSON values (a protobuf bomb must not recurse
 * without bound). */
#define K8S_MAX_DEPTH 64

enum k8s_key_kind {
	K8S_KEY_NONE = 0,    /* not under the prefix: plain etcd key */
	K8S_KEY_OBJECT,      /* one object */
	K8S_KEY_RESOURCE,    /* a prefix covering a whole resource (LIST/WATCH of all namespaces) */
	K8S_KEY_NAMESPACE,   /* a prefix covering one namespace of a resource */
	K8S_KEY_SPECIAL,     /* compact_rev_key, masterleases, health ... */
};

struct k8s_key {
	enum k8s_key_kind kind;
	char group[128];     /* "" for core and for built-ins stored without their group */
	char resource[128];
	char ns[256];        /* "" when cluster-scoped or unknown */
	char name[256];
	const char *special; /* for K8S_KEY_SPECIAL: "compact_rev_key", "health", "masterleases" */
};

/* Parses key (and range_end when non-NULL, for ranges) below prefix ("/registry"). Knows which
 * built-in resources are cluster-scoped, so /registry/namespaces/foo is name foo, not a
 * namespace. Returns the kind (also in out->kind). */
enum k8s_key_kind k8s_key_parse(const uint8_t *key, size_t key_len, const uint8_t *range_end,
				size_t range_end_len, const char *prefix, struct k8s_key *out);

/* Parse results are memoized (a small table of recent keys); tests turn that off to
 * compare. */
void k8s_key_memo_enable(bool on);

/* True when the group is not one of Kubernetes' built-in API groups (a custom resource). */
bool k8s_group_is_custom(const char *group);

enum k8s_encoding { K8S_ENC_PROTOBUF = 1, K8S_ENC_JSON, K8S_ENC_ENCRYPTED, K8S_ENC_BYTES };

struct k8s_arena;

struct k8s_value {
	enum k8s_encoding enc;
	json_t *obj;             /* owned (see arena); NULL for ENCRYPTED and BYTES */
	struct k8s_arena *arena; /* when not NULL, obj's nodes live in this refcounted arena
				  * (k8s_value_decode_arena): the tree is read-only */
	const char *api_version; /* borrowed from obj, "" when unknown */
	const char *kind;
	char enc_provider[64];   /* ENCRYPTED: "aescbc", "aesgcm", "kms", "secretbox" ... */
	char enc_key[128];       /* ENCRYPTED: the key name */
	char preview[64];        /* BYTES: printable preview */
	size_t size;
	const char *uid;         /* metadata.uid, borrowed from obj; NULL when absent */
	bool has_generation;     /* metadata.generation is an integer */
	int64_t generation;
	bool sparse;             /* obj holds only what a diff and the printers need
				  * (k8s_value_decode_sparse), not the whole object */
};

/* Decodes an etcd value. Never fails on bad bytes: what does not decode is BYTES (or a
 * protobuf object with the undecodable part kept as "#N": "<bytes ...>"). Returns 0, or
 * EE_NOMEM. Free with k8s_value_free. */
int k8s_value_decode(const uint8_t *v, size_t n, struct k8s_value *out);
void k8s_value_free(struct k8s_value *v);

/* The same decoding into an arena: every jansson node of the tree is carved from a few
 * large blocks, so building the tree costs no malloc per node and freeing it no walk of
 * the tree (the blocks go at once). The tree must not be modified after this returns
 * (a node added later would not live in the arena): redact asks for Secret redaction
 * here, while the arena is still in use. Free with k8s_value_free. */
int k8s_value_decode_arena(const uint8_t *v, size_t n, bool redact, struct k8s_value *out);

/* Decodes two versions of one object for what a write changed: new_out and old_out get
 * sparse trees (->sparse), holding the fields whose encodings differ and, in the new one,
 * apiVersion, kind, metadata.uid, .generation and .managedFields even when equal.
 * k8s_diff of the two equals k8s_diff of the full trees; k8s_writer_of*,
 * k8s_generation_bumped and Secret redaction (redact) give the same answers. With
 * has_old false, new_out gets only the fields that are read even when equal. Values that
 * cannot be compared field by field (JSON, different kinds, cut or malformed envelopes)
 * are decoded whole (->sparse false). Both trees share one arena; free each with
 * k8s_value_free. Returns 0 or EE_NOMEM (both values empty). Implemented in
 * k8s_sparse.c. */
int k8s_value_decode_sparse(const uint8_t *nv, size_t nn, const uint8_t *ov, size_t on,
			    bool has_old, bool redact, struct k8s_value *new_out,
			    struct k8s_value *old_out);

/* Between these two calls, new jansson nodes are carved from v's arena (when it has one):
 * for a tree that lives no longer than v, such as the diff of v over its previous version
 * (no malloc per node, no free walk). Not nested; v's own tree is not modified. */
void k8s_value_arena_begin(const struct k8s_value *v);
void k8s_value_arena_end(void);

/* Another reference to v's tree in *out (a copy of the struct; arena or jansson refcount
 * taken): both are freed with k8s_value_free, in any order. */
void k8s_value_ref(const struct k8s_value *v, struct k8s_value *out);

/* Bytes the arena of v holds (0 when v has none): what keeping v costs. */
size_t k8s_value_mem(const struct k8s_value *v);

/* Secret redaction: replaces every value under data and stringData of a v1 Secret with
 * "<redacted N bytes>". No-op for other kinds. */
void k8s_redact_secrets(json_t *obj);

/* The managedFields entry a write added or updated: the newest time; for a subresource
 * write, the entry with that subresource. old may be NULL. Strings borrowed from obj. */
struct k8s_writer {
	const char *manager, *operation, *subresource, *time, *api_version;
};
bool k8s_writer_of(const json_t *new_obj, const json_t *old_obj, struct k8s_writer *w);

/* k8s_writer_of with diff = k8s_diff(old_obj, new_obj, 0) when the caller has already
 * computed it (the writer of a status-only write needs it), or NULL to compute it here
 * when needed. A diff with other flags (K8S_DIFF_NOISE) must not be passed. */
bool k8s_writer_of_diff(const json_t *new_obj, const json_t *old_obj, const json_t *diff,
			struct k8s_writer *w);

#define K8S_DIFF_NOISE 0x1 /* include resourceVersion, managedFields times, etc. */

/* Field-level diff old -> new as a JSON array of {"path": "spec.replicas", "old": 3,
 * "new": 5} (old/new absent for additions/removals). old may be NULL (creation: returns an
 * empty array). Caller owns the result. */
json_t *k8s_diff(const json_t *old_obj, const json_t *new_obj, unsigned flags);

/* True when the change is a spec change (metadata.generation moved). */
bool k8s_generation_bumped(const json_t *old_obj, const json_t *new_obj);

#endif
