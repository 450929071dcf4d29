/* store.c: key space revealed by the capture (see store.h). Open-addressing hash table of
 * keys; each key keeps a small ring of versions that grows on demand (most keys are seen
 * once or twice). Values are copied (the record's bytes are borrowed) and accounted against
 * the budget with the bookkeeping; a FIFO of value-owning versions lets the budget drop the
 * oldest values first, and a sweep forgets the least recently touched keys when values
 * alone cannot bring memory under the budget (a live trace that runs for days). */
#include "store.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "pool.h"

struct value_ref {
	struct store_key *k;
	int64_t mod_rev;
};

struct store {
	struct store_key **slots;
	size_t cap, n;
	uint64_t budget, value_bytes, dropped_values, dropped_bytes;
	struct value_ref *fifo; /* ring of versions that own values, oldest first */
	uint64_t mark;          /* current store_mark_begin generation */
	uint64_t clock;         /* bumped by every change; store_key.touched */
	uint64_t meta_bytes;    /* keys, their structs and version rings */
	uint64_t nvalues;       /* versions owning a value (the live part of the FIFO) */
	uint64_t evicted_keys;
	size_t fifo_head, fifo_n, fifo_cap;
};

static uint64_t hash_bytes(const uint8_t *p, size_t n)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

struct store *store_new(uint64_t budget_bytes)
{
	struct store *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->cap = 1024;
	s->slots = calloc(s->cap, sizeof *s->slots);
	if (!s->slots) {
		free(s);
		return NULL;
	}
	s->budget = budget_bytes;
	return s;
}

static size_t key_meta(const struct store_key *k)
{
	return sizeof *k + k->key_len + (size_t)k->cap * sizeof(struct store_version);
}

static void key_free(struct store_key *k)
{
	for (int i = 0; i < k->n; i++)
		pool_free(k->hist[(k->first + i) % k->cap].value);
	free(k->hist);
	free(k->key);
	free(k);
}

void store_free(struct store *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->cap; i++)
		if (s->slots[i])
			key_free(s->slots[i]);
	free(s->slots);
	free(s->fifo);
	free(s);
}

static size_t slot_of(const struct store *s, const uint8_t *key, size_t len)
{
	size_t i = hash_bytes(key, len) & (s->cap - 1);
	while (s->slots[i] && !(s->slots[i]->key_len == len && !memcmp(s->slots[i]->key, key, len)))
		i = (i + 1) & (s->cap - 1);
	return i;
}

static bool grow(struct store *s)
{
	size_t ncap = s->cap * 2;
	struct store_key **ns = calloc(ncap, sizeof *ns);
	if (!ns)
		return false;
	for (size_t i = 0; i < s->cap; i++) {
		struct store_key *k = s->slots[i];
		if (!k)
			continue;
		size_t j = hash_bytes(k->key, k->key_len) & (ncap - 1);
		while (ns[j])
			j = (j + 1) & (ncap - 1);
		ns[j] = k;
	}
	free(s->slots);
	s->slots = ns;
	s->cap = ncap;
	return true;
}

struct store_key *store_get(const struct store *s, const uint8_t *key, size_t key_len)
{
	return s->slots[slot_of(s, key, key_len)];
}

static struct store_key *get_or_add(struct store *s, const uint8_t *key, size_t key_len)
{
	if ((s->n + 1) * 4 > s->cap * 3 && !grow(s))
		return NULL;
	size_t i = slot_of(s, key, key_len);
	if (s->slots[i])
		return s->slots[i];
	struct store_key *k = calloc(1, sizeof *k);
	if (!k)
		return NULL;
	k->key = malloc(key_len ? key_len : 1);
	if (!k->key) {
		free(k);
		return NULL;
	}
	if (key_len) /* an empty key arrives as NULL from protobuf-c */
		memcpy(k->key, key, key_len);
	k->key_len = key_len;
	s->slots[i] = k;
	s->n++;
	s->meta_bytes += key_meta(k);
	return k;
}

static struct store_version *find_version(struct store_key *k, int64_t mod_rev)
{
	for (int i = 0; i < k->n; i++) {
		struct store_version *v = &k->hist[(k->first + i) % k->cap];
		if (v->mod_revision == mod_rev)
			return v;
	}
	return NULL;
}

/* Doubles a key's ring (up to STORE_HISTORY), oldest first at 0. */
static bool ring_grow(struct store *s, struct store_key *k)
{
	int ncap = k->cap ? k->cap * 2 : 1;
	if (ncap > STORE_HISTORY)
		ncap = STORE_HISTORY;
	struct store_version *h = malloc((size_t)ncap * sizeof *h);
	if (!h)
		return false;
	for (int i = 0; i < k->n; i++)
		h[i] = k->hist[(k->first + i) % k->cap];
	s->meta_bytes += (size_t)(ncap - k->cap) * sizeof *h;
	free(k->hist);
	k->hist = h;
	k->cap = ncap;
	k->first = 0;
	return true;
}

static void evict_keys(struct store *s);

/* Drops the value of the oldest value-owning version until under budget; when no value is
 * left to drop, forgets keys. */
static void enforce_budget(struct store *s)
{
	while (s->value_bytes + s->meta_bytes > s->budget && s->fifo_n) {
		struct value_ref r = s->fifo[s->fifo_head];
		s->fifo_head = (s->fifo_head + 1) % s->fifo_cap;
		s->fifo_n--;
		struct store_version *v = find_version(r.k, r.mod_rev);
		if (!v || !v->value)
			continue;
		s->value_bytes -= v->value_len;
		s->nvalues--;
		s->dropped_values++;
		s->dropped_bytes += v->value_len;
		pool_free(v->value);
		v->value = NULL;
	}
	if (s->meta_bytes > s->budget)
		evict_keys(s);
}

/* FIFO entries whose value is gone (version pushed out of its ring, key forgotten) are
 * dropped when they outnumber the live ones, so the FIFO stays proportional to the values
 * held, not to the writes seen. */
static void fifo_compact(struct store *s)
{
	size_t out = 0;
	for (size_t i = 0; i < s->fifo_n; i++) {
		struct value_ref r = s->fifo[(s->fifo_head + i) % s->fifo_cap];
		const struct store_version *v = r.k ? find_version(r.k, r.mod_rev) : NULL;
		if (v && v->value)
			s->fifo[out++] = r;
	}
	/* callers linearize first (head 0), so writing at out <= i never overtakes a read */
	s->fifo_head = 0;
	s->fifo_n = out;
}

static void fifo_linearize(struct store *s)
{
	if (!s->fifo_head || !s->fifo_n)
		return;
	struct value_ref *nf = malloc(s->fifo_cap * sizeof *nf);
	if (!nf)
		return;
	for (size_t i = 0; i < s->fifo_n; i++)
		nf[i] = s->fifo[(s->fifo_head + i) % s->fifo_cap];
	free(s->fifo);
	s->fifo = nf;
	s->fifo_head = 0;
}

static void fifo_push(struct store *s, struct store_key *k, int64_t mod_rev)
{
	if (s->fifo_n == s->fifo_cap && s->fifo_n > 2 * s->nvalues + 1024) {
		fifo_linearize(s);
		if (!s->fifo_head)
			fifo_compact(s);
	}
	if (s->fifo_n == s->fifo_cap) {
		size_t ncap = s->fifo_cap ? s->fifo_cap * 2 : 1024;
		struct value_ref *nf = malloc(ncap * sizeof *nf);
		if (!nf)
			return;
		for (size_t i = 0; i < s->fifo_n; i++)
			nf[i] = s->fifo[(s->fifo_head + i) % s->fifo_cap];
		free(s->fifo);
		s->fifo = nf;
		s->fifo_cap = ncap;
		s->fifo_head = 0;
	}
	s->fifo[(s->fifo_head + s->fifo_n) % s->fifo_cap] = (struct value_ref){k, mod_rev};
	s->fifo_n++;
}

/* Inserts a version keeping the ring sorted by mod_revision; returns it, or the existing one
 * with that revision. */
static struct store_version *insert_version(struct store *s, struct store_key *k, int64_t mod_rev,
					    bool *is_new)
{
	struct store_version *v = find_version(k, mod_rev);
	*is_new = false;
	if (v)
		return v;
	if (k->n == k->cap && k->cap < STORE_HISTORY && !ring_grow(s, k))
		return NULL;
	if (k->n == k->cap) { /* full at STORE_HISTORY: forget the oldest */
		struct store_version *old = &k->hist[k->first];
		if (mod_rev < old->mod_revision)
			return NULL; /* older than everything kept: not worth a slot */
		if (old->value) {
			s->value_bytes -= old->value_len;
			s->nvalues--;
			pool_free(old->value);
		}
		k->first = (k->first + 1) % k->cap;
		k->n--;
		k->forgotten++;
	}
	/* position: after every version with a smaller revision */
	int pos = k->n;
	while (pos > 0 && k->hist[(k->first + pos - 1) % k->cap].mod_revision > mod_rev) {
		k->hist[(k->first + pos) % k->cap] = k->hist[(k->first + pos - 1) % k->cap];
		pos--;
	}
	v = &k->hist[(k->first + pos) % k->cap];
	memset(v, 0, sizeof *v);
	v->mod_revision = mod_rev;
	k->n++;
	k->touched = ++s->clock;
	*is_new = true;
	return v;
}

struct store_key *store_put(struct store *s, const uint8_t *key, size_t key_len, int64_t mod_rev,
			    int64_t create_rev, int64_t version, int64_t lease, const uint8_t *value,
			    size_t value_len, bool value_known, enum store_source src, ee_ts ts)
{
	struct store_key *k = get_or_add(s, key, key_len);
	if (!k)
		return NULL;
	k->mark = s->mark;
	bool is_new;
	struct store_version *v = insert_version(s, k, mod_rev, &is_new);
	if (!v)
		return k;
	if (is_new) {
		v->source = src;
		v->ts = ts;
	}
	v->create_revision = create_rev;
	v->version = version;
	v->lease = lease;
	v->deleted = false;
	if (value_known || !v->value_len) /* a keys-only read says nothing of the size */
		v->value_len = value_known ? value_len : 0;
	if (value_known && !v->value && value_len <= s->budget) {
		v->value = pool_alloc(value_len); /* values come and go per write: recycled */
		if (v->value) {
			if (value_len)
				memcpy(v->value, value, value_len);
			s->value_bytes += value_len;
			s->nvalues++;
			fifo_push(s, k, mod_rev);
		}
	}
	enforce_budget(s); /* k is the newest-touched key: a sweep keeps it */
	return k;
}

static void delete_version(struct store *s, struct store_key *k, int64_t rev,
			   enum store_source src, ee_ts ts)
{
	bool is_new;
	struct store_version *v = insert_version(s, k, rev, &is_new);
	if (v && is_new) {
		v->deleted = true;
		v->source = src;
		v->ts = ts;
	}
}

struct store_key *store_delete(struct store *s, const uint8_t *key, size_t key_len, int64_t rev,
			       enum store_source src, ee_ts ts)
{
	struct store_key *k = get_or_add(s, key, key_len);
	if (k) {
		delete_version(s, k, rev, src, ts);
		enforce_budget(s);
	}
	return k;
}

void store_mark_begin(struct store *s)
{
	s->mark++;
}

static int bytes_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
	int c = memcmp(a, b, an < bn ? an : bn);
	return c ? c : (an > bn) - (an < bn);
}

static bool absent_and_live(const struct store *s, const struct store_key *k, int64_t upto_rev)
{
	const struct store_version *v = store_latest(k);
	return k->mark != s->mark && v && !v->deleted && v->mod_revision <= upto_rev;
}

size_t store_delete_absent(struct store *s, const uint8_t *key, size_t key_len,
			   const uint8_t *end, size_t end_len, int64_t rev, int64_t upto_rev,
			   enum store_source src, ee_ts ts)
{
	if (!end_len) { /* one key: a lookup, not a scan */
		struct store_key *k = store_get(s, key, key_len);
		if (!k || !absent_and_live(s, k, upto_rev))
			return 0;
		delete_version(s, k, rev, src, ts);
		return 1;
	}
	bool to_end = end_len == 1 && end[0] == 0;
	size_t n = 0;
	for (size_t i = 0; i < s->cap; i++) {
		struct store_key *k = s->slots[i];
		if (!k || bytes_cmp(k->key, k->key_len, key, key_len) < 0 ||
		    (!to_end && bytes_cmp(k->key, k->key_len, end, end_len) >= 0) ||
		    !absent_and_live(s, k, upto_rev))
			continue;
		delete_version(s, k, rev, src, ts); /* no insert: the table stays put */
		n++;
	}
	return n;
}

void store_set_writer(struct store_key *k, int64_t mod_rev, const char *manager,
		      const char *operation, const char *subresource)
{
	struct store_version *v = k ? find_version(k, mod_rev) : NULL;
	if (!v)
		return;
	snprintf(v->manager, sizeof v->manager, "%s", manager ? manager : "");
	snprintf(v->operation, sizeof v->operation, "%s", operation ? operation : "");
	snprintf(v->subresource, sizeof v->subresource, "%s", subresource ? subresource : "");
}

const struct store_version *store_version_nth(const struct store_key *k, int i)
{
	if (!k || i < 0 || i >= k->n)
		return NULL;
	return &k->hist[(k->first + i) % k->cap];
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* Forgets the least recently touched half of the keys (their values and history), then
 * rebuilds the table and the FIFO without them. Rare: each sweep halves the bookkeeping. */
static void evict_keys(struct store *s)
{
	if (s->n < 2)
		return;
	uint64_t *t = malloc(s->n * sizeof *t);
	if (!t)
		return;
	size_t n = 0;
	for (size_t i = 0; i < s->cap; i++)
		if (s->slots[i])
			t[n++] = s->slots[i]->touched;
	qsort(t, n, sizeof *t, cmp_u64);
	uint64_t cut = t[n / 2 - 1]; /* touched <= cut: the older half (touches are unique) */
	free(t);
	/* FIFO first, while the keys still exist */
	size_t out = 0;
	for (size_t i = 0; i < s->fifo_n; i++) {
		struct value_ref r = s->fifo[(s->fifo_head + i) % s->fifo_cap];
		if (r.k->touched > cut)
			s->fifo[(s->fifo_head + out++) % s->fifo_cap] = r;
	}
	s->fifo_n = out;
	struct store_key **old = s->slots;
	size_t ocap = s->cap;
	s->slots = calloc(ocap, sizeof *s->slots);
	if (!s->slots) { /* keep everything rather than lose the table */
		s->slots = old;
		return;
	}
	for (size_t i = 0; i < ocap; i++) {
		struct store_key *k = old[i];
		if (!k)
			continue;
		if (k->touched <= cut) {
			for (int j = 0; j < k->n; j++) {
				struct store_version *v = &k->hist[(k->first + j) % k->cap];
				if (v->value) {
					s->value_bytes -= v->value_len;
					s->nvalues--;
				}
			}
			s->meta_bytes -= key_meta(k);
			s->n--;
			s->evicted_keys++;
			key_free(k);
			continue;
		}
		size_t j = hash_bytes(k->key, k->key_len) & (ocap - 1);
		while (s->slots[j])
			j = (j + 1) & (ocap - 1);
		s->slots[j] = k;
	}
	free(old);
}

const struct store_version *store_latest(const struct store_key *k)
{
	if (!k || !k->n)
		return NULL;
	return &k->hist[(k->first + k->n - 1) % k->cap];
}

const struct store_version *store_at(const struct store_key *k, int64_t rev)
{
	if (!k)
		return NULL;
	if (rev <= 0)
		return store_latest(k);
	const struct store_version *best = NULL;
	for (int i = 0; i < k->n; i++) {
		const struct store_version *v = &k->hist[(k->first + i) % k->cap];
		if (v->mod_revision <= rev)
			best = v;
	}
	return best;
}

const struct store_version *store_before(const struct store_key *k, int64_t mod_rev)
{
	return k ? store_at(k, mod_rev - 1) : NULL;
}

static int cmp_keys(const void *a, const void *b)
{
	const struct store_key *x = *(struct store_key *const *)a, *y = *(struct store_key *const *)b;
	size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
	int c = memcmp(x->key, y->key, n);
	if (c)
		return c;
	return x->key_len < y->key_len ? -1 : x->key_len > y->key_len;
}

struct store_key **store_sorted(const struct store *s, size_t *n)
{
	struct store_key **arr = malloc((s->n ? s->n : 1) * sizeof *arr);
	*n = 0;
	if (!arr)
		return NULL;
	for (size_t i = 0; i < s->cap; i++)
		if (s->slots[i])
			arr[(*n)++] = s->slots[i];
	qsort(arr, *n, sizeof *arr, cmp_keys);
	return arr;
}

void store_get_stats(const struct store *s, struct store_stats *st)
{
	memset(st, 0, sizeof *st);
	st->keys = s->n;
	for (size_t i = 0; i < s->cap; i++) {
		const struct store_version *v = s->slots[i] ? store_latest(s->slots[i]) : NULL;
		if (v && !v->deleted)
			st->live_keys++;
	}
	st->value_bytes = s->value_bytes;
	st->dropped_values = s->dropped_values;
	st->dropped_bytes = s->dropped_bytes;
	st->meta_bytes = s->meta_bytes;
	st->evicted_keys = s->evicted_keys;
	st->fifo_entries = s->fifo_n;
	st->budget = s->budget;
}
