/* objcache.c: the bounded cache of decoded Kubernetes values and of the diffs between
 * versions (see objcache.h): a chained hash table over an LRU list, bounded by entries and
 * by an estimate of the bytes the decoded trees take. */
#include "objcache.h"

#include <stdlib.h>
#include <string.h>

#include "pool.h"

/* Bytes a decoded tree outside an arena (k8s_value_decode) is taken to need per byte of
 * value; a tree in an arena counts its arena's exact size (k8s_value_mem). */
#define OBJCACHE_TREE_FACTOR 8
/* A diff entry {path, old, new}: three small jansson nodes and their strings. */
#define OBJCACHE_DIFF_ENTRY_BYTES 256

struct objcache_entry {
	struct objcache_entry *hnext;         /* hash chain */
	struct objcache_entry *prev, *next;   /* LRU list, most recent first */
	uint64_t h;
	int64_t rev;
	size_t val_len;
	size_t ep_len, key_len;
	size_t cost;                          /* estimated bytes of the entry, trees included */
	struct k8s_value val;                 /* the cache's reference (k8s_value_ref) */
	/* the latest pair computed with this entry as the new value */
	bool has_pair, pair_created, pair_has_old;
	int64_t pair_old_rev;
	size_t pair_old_len;
	uint8_t *pair_old;                    /* a copy of the previous value's bytes */
	size_t pair_cost;
	struct objcache_pair pair;            /* the cache's reference to pair.diff */
	char bytes[];                         /* ep, key, then the value */
};

struct objcache {
	struct objcache_entry **tab;
	size_t mask;
	struct objcache_entry *head, *tail;
	size_t max_entries, max_bytes;
	struct objcache_stats st;
};

struct objcache *objcache_new(size_t max_entries, size_t max_bytes)
{
	struct objcache *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->max_entries = max_entries ? max_entries : OBJCACHE_MAX_ENTRIES;
	c->max_bytes = max_bytes ? max_bytes : OBJCACHE_MAX_BYTES;
	size_t buckets = 16;
	while (buckets < c->max_entries * 2)
		buckets *= 2;
	c->tab = calloc(buckets, sizeof *c->tab);
	if (!c->tab) {
		free(c);
		return NULL;
	}
	c->mask = buckets - 1;
	return c;
}

static void oc_pair_drop(struct objcache *c, struct objcache_entry *e)
{
	if (!e->has_pair)
		return;
	json_decref(e->pair.diff);
	e->pair.diff = NULL;
	pool_free(e->pair_old);
	e->pair_old = NULL;
	e->has_pair = false;
	e->cost -= e->pair_cost;
	c->st.bytes -= e->pair_cost;
	e->pair_cost = 0;
}

static void oc_entry_free(struct objcache_entry *e)
{
	json_decref(e->pair.diff);
	pool_free(e->pair_old);
	k8s_value_free(&e->val);
	pool_free(e);
}

void objcache_free(struct objcache *c)
{
	if (!c)
		return;
	for (struct objcache_entry *e = c->head, *n; e; e = n) {
		n = e->next;
		oc_entry_free(e);
	}
	free(c->tab);
	free(c);
}

void objcache_key_init(struct objcache_key *k, const char *ep, size_t ep_len, const uint8_t *key,
		       size_t key_len, int64_t rev, const uint8_t *val, size_t val_len)
{
	k->ep = ep ? ep : "";
	k->ep_len = ep ? ep_len : 0;
	k->key = key ? key : (const uint8_t *)"";
	k->key_len = key ? key_len : 0;
	k->rev = rev;
	k->val = val ? val : (const uint8_t *)"";
	k->val_len = val ? val_len : 0;
	/* the hash table is of (endpoint, key, revision); values are not hashed but compared
	 * byte for byte (a crafted capture can give two values one hash of this kind, and
	 * hashing every value looked up cost as much as comparing the few that share
	 * endpoint, key and revision) */
	uint64_t h = ee_hash64((uint64_t)rev, k->ep, k->ep_len);
	k->h = ee_hash64(h, k->key, k->key_len);
}

static bool oc_match(const struct objcache_entry *e, const struct objcache_key *k)
{
	return e->h == k->h && e->rev == k->rev && e->ep_len == k->ep_len &&
	       e->key_len == k->key_len && memcmp(e->bytes, k->ep, k->ep_len) == 0 &&
	       memcmp(e->bytes + e->ep_len, k->key, k->key_len) == 0;
}

/* The entry of (ep, key, rev) whatever its value, with the link that points to it. */
static struct objcache_entry **oc_slot(struct objcache *c, const struct objcache_key *k)
{
	struct objcache_entry **pp = &c->tab[k->h & c->mask];
	while (*pp && !oc_match(*pp, k))
		pp = &(*pp)->hnext;
	return pp;
}

static void oc_lru_unlink(struct objcache *c, struct objcache_entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		c->tail = e->prev;
	e->prev = e->next = NULL;
}

static void oc_lru_front(struct objcache *c, struct objcache_entry *e)
{
	e->next = c->head;
	e->prev = NULL;
	if (c->head)
		c->head->prev = e;
	c->head = e;
	if (!c->tail)
		c->tail = e;
}

/* Unlinks e from the table and the list and frees it. */
static void oc_remove(struct objcache *c, struct objcache_entry **slot)
{
	struct objcache_entry *e = *slot;
	*slot = e->hnext;
	oc_lru_unlink(c, e);
	c->st.entries--;
	c->st.bytes -= e->cost;
	oc_entry_free(e);
}

/* Evicts least recently used entries, never keep (the one just added or touched). */
static void oc_trim(struct objcache *c, const struct objcache_entry *keep)
{
	while ((c->st.entries > c->max_entries || c->st.bytes > c->max_bytes) && c->tail &&
	       c->tail != keep) {
		struct objcache_entry *e = c->tail;
		struct objcache_key k = {.ep = e->bytes, .ep_len = e->ep_len,
					 .key = (const uint8_t *)e->bytes + e->ep_len,
					 .key_len = e->key_len, .rev = e->rev, .h = e->h};
		oc_remove(c, oc_slot(c, &k));
		c->st.evictions++;
	}
}

/* The entry matching k with the same value bytes, moved to the front. */
static struct objcache_entry *oc_find(struct objcache *c, const struct objcache_key *k)
{
	struct objcache_entry *e = *oc_slot(c, k);
	if (!e || e->val_len != k->val_len ||
	    memcmp(e->bytes + e->ep_len + e->key_len, k->val, k->val_len) != 0)
		return NULL;
	if (c->head != e) {
		oc_lru_unlink(c, e);
		oc_lru_front(c, e);
	}
	return e;
}

bool objcache_get(struct objcache *c, const struct objcache_key *k, struct k8s_value *out)
{
	struct objcache_entry *e = oc_find(c, k);
	if (!e || e->val.sparse) {
		/* a sparse tree serves its pair only, not a caller that reads the value */
		c->st.misses++;
		return false;
	}
	c->st.hits++;
	k8s_value_ref(&e->val, out);
	return true;
}

void objcache_put(struct objcache *c, const struct objcache_key *k, const struct k8s_value *v)
{
	struct objcache_entry **slot = oc_slot(c, k);
	if (*slot)
		oc_remove(c, slot);
	size_t tree = v->arena ? k8s_value_mem(v) : v->obj ? OBJCACHE_TREE_FACTOR * k->val_len : 0;
	/* sizes of buffers in memory: they cannot wrap in these sums */
	size_t bytes = k->ep_len + k->key_len + k->val_len;
	size_t cost = sizeof(struct objcache_entry) + bytes + tree;
	if (cost > c->max_bytes)
		return; /* would evict everything else: not worth keeping */
	/* entries come and go with the values at message rate: recycled blocks (pool.h) */
	struct objcache_entry *e = pool_alloc(sizeof *e + bytes);
	if (!e)
		return;
	memset(e, 0, sizeof *e);
	memcpy(e->bytes, k->ep, k->ep_len);
	memcpy(e->bytes + k->ep_len, k->key, k->key_len);
	memcpy(e->bytes + k->ep_len + k->key_len, k->val, k->val_len);
	e->h = k->h;
	e->rev = k->rev;
	e->val_len = k->val_len;
	e->ep_len = k->ep_len;
	e->key_len = k->key_len;
	e->cost = cost;
	k8s_value_ref(v, &e->val);
	e->hnext = c->tab[k->h & c->mask];
	c->tab[k->h & c->mask] = e;
	oc_lru_front(c, e);
	c->st.entries++;
	c->st.bytes += cost;
	oc_trim(c, e);
}

static bool oc_pair_is(const struct objcache_entry *e, const struct objcache_key *old_k,
		       bool created)
{
	if (!e->has_pair || e->pair_created != created || e->pair_has_old != (old_k != NULL))
		return false;
	return !old_k || (e->pair_old_rev == old_k->rev && e->pair_old_len == old_k->val_len &&
			  memcmp(e->pair_old, old_k->val, old_k->val_len) == 0);
}

bool objcache_pair_get(struct objcache *c, const struct objcache_key *new_k,
		       const struct objcache_key *old_k, bool created, struct objcache_pair *out,
		       struct k8s_value *val)
{
	struct objcache_entry *e = oc_find(c, new_k);
	/* the old value is the same key's: same endpoint and key, so revision and bytes
	 * identify it */
	if (!e || !oc_pair_is(e, old_k, created)) {
		c->st.pair_misses++;
		return false;
	}
	c->st.pair_hits++;
	*out = e->pair;
	json_incref(out->diff);
	if (val)
		k8s_value_ref(&e->val, val);
	return true;
}

void objcache_pair_put(struct objcache *c, const struct objcache_key *new_k,
		       const struct objcache_key *old_k, bool created, const json_t *new_obj,
		       const struct objcache_pair *p)
{
	struct objcache_entry *e = oc_find(c, new_k);
	if (!e || e->val.obj != new_obj)
		return;
	oc_pair_drop(c, e);
	uint8_t *old = NULL;
	if (old_k) {
		old = pool_alloc(old_k->val_len);
		if (!old)
			return;
		memcpy(old, old_k->val, old_k->val_len);
	}
	e->pair_old = old;
	e->pair = *p;
	json_incref(e->pair.diff);
	e->has_pair = true;
	e->pair_created = created;
	e->pair_has_old = old_k != NULL;
	e->pair_old_rev = old_k ? old_k->rev : 0;
	e->pair_old_len = old_k ? old_k->val_len : 0;
	e->pair_cost = (p->diff ? json_array_size(p->diff) * OBJCACHE_DIFF_ENTRY_BYTES : 0) +
		       e->pair_old_len;
	e->cost += e->pair_cost;
	c->st.bytes += e->pair_cost;
	oc_trim(c, e);
}

void objcache_get_stats(const struct objcache *c, struct objcache_stats *st)
{
	if (c)
		*st = c->st;
	else
		memset(st, 0, sizeof *st);
}
