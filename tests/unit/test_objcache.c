/* test_objcache.c: the cache of decoded values and diffs (src/objcache.c): hits, misses on
 * another endpoint, revision, length or bytes, eviction by entries and by bytes (least
 * recently used first), references (a value handed out outlives its eviction; the cache
 * never frees what a caller holds), pair results; the arena decoding it caches
 * (src/k8s_value.c); and jw_json (src/jw.c), which writes cached diffs byte for byte as
 * json_dumps did. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jw.h"
#include "k8s.h"
#include "objcache.h"
#include "unit.h"

/* A JSON-encoded object (custom resources are stored so): no fixture bytes needed. */
static char *value_json(const char *name, int rev, const char *data)
{
	char *s = malloc(512);
	snprintf(s, 512,
		 "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"%s\","
		 "\"resourceVersion\":\"%d\"},\"data\":{\"k\":\"%s\"}}",
		 name, rev, data);
	return s;
}

static void key_of(struct objcache_key *k, const char *ep, const char *key, int64_t rev,
		   const char *val)
{
	objcache_key_init(k, ep, strlen(ep), (const uint8_t *)key, strlen(key), rev,
			  (const uint8_t *)val, strlen(val));
}

static void test_hit_and_misses(void)
{
	struct objcache *c = objcache_new(16, 1 << 20);
	char *v = value_json("a", 5, "one");
	struct k8s_value dec, got;
	CHECK_EQ_INT(k8s_value_decode((const uint8_t *)v, strlen(v), &dec), 0);
	CHECK(dec.obj != NULL);
	CHECK_EQ_INT(dec.obj->refcount, 1);

	struct objcache_key k;
	key_of(&k, "127.0.0.1:2379", "/registry/configmaps/d/a", 5, v);
	CHECK(!objcache_get(c, &k, &got));
	objcache_put(c, &k, &dec);
	CHECK_EQ_INT(dec.obj->refcount, 2); /* the caller's and the cache's */
	CHECK(objcache_get(c, &k, &got));
	CHECK(got.obj == dec.obj);
	CHECK_EQ_INT(dec.obj->refcount, 3);
	CHECK_EQ_STR(got.kind, "ConfigMap");
	k8s_value_free(&got);
	CHECK_EQ_INT(dec.obj->refcount, 2);

	/* another endpoint (another cluster), revision, length or bytes: a miss */
	struct objcache_key other;
	key_of(&other, "127.0.1.1:2379", "/registry/configmaps/d/a", 5, v);
	CHECK(!objcache_get(c, &other, &got));
	key_of(&other, "127.0.0.1:2379", "/registry/configmaps/d/a", 6, v);
	CHECK(!objcache_get(c, &other, &got));
	key_of(&other, "127.0.0.1:2379", "/registry/configmaps/d/b", 5, v);
	CHECK(!objcache_get(c, &other, &got));
	char *longer = value_json("a", 5, "one!");
	key_of(&other, "127.0.0.1:2379", "/registry/configmaps/d/a", 5, longer);
	CHECK(!objcache_get(c, &other, &got));
	char *same_len = value_json("a", 5, "two");
	CHECK_EQ_INT(strlen(same_len), strlen(v));
	key_of(&other, "127.0.0.1:2379", "/registry/configmaps/d/a", 5, same_len);
	CHECK(!objcache_get(c, &other, &got));

	struct objcache_stats st;
	objcache_get_stats(c, &st);
	CHECK_EQ_INT(st.hits, 1);
	CHECK_EQ_INT(st.misses, 6);
	CHECK_EQ_INT(st.entries, 1);

	/* freeing the cache drops its reference only */
	objcache_free(c);
	CHECK_EQ_INT(dec.obj->refcount, 1);
	CHECK_EQ_STR(json_string_value(json_object_get(json_object_get(dec.obj, "data"), "k")), "one");
	k8s_value_free(&dec);
	free(v);
	free(longer);
	free(same_len);
}

static void put_value(struct objcache *c, const char *key, int rev, struct k8s_value *keep)
{
	char *v = value_json(key, rev, "x");
	struct k8s_value dec;
	k8s_value_decode_arena((const uint8_t *)v, strlen(v), true, &dec);
	struct objcache_key k;
	key_of(&k, "ep", key, rev, v);
	objcache_put(c, &k, &dec);
	if (keep)
		*keep = dec;
	else
		k8s_value_free(&dec);
	free(v);
}

static bool cached(struct objcache *c, const char *key, int rev)
{
	char *v = value_json(key, rev, "x");
	struct objcache_key k;
	key_of(&k, "ep", key, rev, v);
	struct k8s_value got;
	bool hit = objcache_get(c, &k, &got);
	if (hit)
		k8s_value_free(&got);
	free(v);
	return hit;
}

static void test_evict_entries(void)
{
	struct objcache *c = objcache_new(3, 1 << 20);
	struct k8s_value held;
	put_value(c, "/a", 1, &held);
	put_value(c, "/b", 1, NULL);
	put_value(c, "/c", 1, NULL);
	CHECK(cached(c, "/a", 1)); /* /a is now the most recent: /b goes next */
	put_value(c, "/d", 1, NULL);
	CHECK(!cached(c, "/b", 1));
	CHECK(cached(c, "/a", 1));
	CHECK(cached(c, "/c", 1));
	CHECK(cached(c, "/d", 1));
	struct objcache_stats st;
	objcache_get_stats(c, &st);
	CHECK_EQ_INT(st.entries, 3);
	CHECK_EQ_INT(st.evictions, 1);
	/* /a evicted while held: the caller's reference keeps the arena (ASan would see a
	 * use after free) */
	put_value(c, "/e", 1, NULL);
	put_value(c, "/f", 1, NULL);
	put_value(c, "/g", 1, NULL);
	CHECK(!cached(c, "/a", 1));
	CHECK_EQ_STR(json_string_value(json_object_get(json_object_get(held.obj, "metadata"), "name")),
		     "/a");
	k8s_value_free(&held);
	objcache_free(c);
}

static void test_evict_bytes(void)
{
	/* the cost of one entry: its arena and bookkeeping */
	struct objcache *probe = objcache_new(100, 1 << 20);
	put_value(probe, "/a", 1, NULL);
	struct objcache_stats st;
	objcache_get_stats(probe, &st);
	size_t one = st.bytes;
	CHECK(one >= 4096); /* at least the arena's page */
	objcache_free(probe);

	struct objcache *c = objcache_new(100, 3 * one + one / 2);
	put_value(c, "/a", 1, NULL);
	put_value(c, "/b", 1, NULL);
	put_value(c, "/c", 1, NULL);
	objcache_get_stats(c, &st);
	CHECK_EQ_INT(st.entries, 3);
	CHECK_EQ_INT(st.evictions, 0);
	put_value(c, "/d", 1, NULL);
	objcache_get_stats(c, &st);
	CHECK_EQ_INT(st.entries, 3);
	CHECK_EQ_INT(st.evictions, 1);
	CHECK(st.bytes <= 3 * one + one / 2);
	CHECK(!cached(c, "/a", 1));
	CHECK(cached(c, "/d", 1));
	objcache_free(c);

	/* a value larger than the whole budget is not kept (it would evict everything) */
	c = objcache_new(100, one / 2);
	put_value(c, "/a", 1, NULL);
	objcache_get_stats(c, &st);
	CHECK_EQ_INT(st.entries, 0);
	objcache_free(c);
}

static void test_pairs(void)
{
	struct objcache *c = objcache_new(16, 1 << 20);
	char *nv = value_json("a", 7, "new"), *ov = value_json("a", 5, "old");
	struct objcache_key kn, ko, ko2;
	key_of(&kn, "ep", "/a", 7, nv);
	key_of(&ko, "ep", "/a", 5, ov);
	key_of(&ko2, "ep", "/a", 4, ov);
	struct k8s_value n, o;
	k8s_value_decode_arena((const uint8_t *)nv, strlen(nv), true, &n);
	k8s_value_decode_arena((const uint8_t *)ov, strlen(ov), true, &o);
	objcache_put(c, &kn, &n);
	objcache_put(c, &ko, &o);

	struct objcache_pair p = {0}, got;
	CHECK(!objcache_pair_get(c, &kn, &ko, false, &got));
	p.diff = k8s_diff(o.obj, n.obj, 0);
	CHECK_EQ_INT(json_array_size(p.diff), 1); /* data.k; resourceVersion is noise */
	p.change = "update";
	p.has_writer = false;
	objcache_pair_put(c, &kn, &ko, false, n.obj, &p);
	CHECK_EQ_INT(p.diff->refcount, 2);
	CHECK(objcache_pair_get(c, &kn, &ko, false, &got));
	CHECK(got.diff == p.diff);
	CHECK_EQ_STR(got.change, "update");
	CHECK_EQ_INT(p.diff->refcount, 3);
	json_decref(got.diff);
	/* another previous version, none, or a creation: a miss */
	CHECK(!objcache_pair_get(c, &kn, &ko2, false, &got));
	CHECK(!objcache_pair_get(c, &kn, NULL, false, &got));
	CHECK(!objcache_pair_get(c, &kn, &ko, true, &got));
	/* a pair for a tree the entry does not hold is not stored */
	struct objcache_pair q = {0};
	q.change = "none";
	objcache_pair_put(c, &kn, NULL, false, o.obj, &q);
	CHECK(!objcache_pair_get(c, &kn, NULL, false, &got));
	struct objcache_stats st;
	objcache_get_stats(c, &st);
	CHECK_EQ_INT(st.pair_hits, 1);
	CHECK_EQ_INT(st.pair_misses, 5);
	objcache_free(c);
	CHECK_EQ_INT(p.diff->refcount, 1);
	json_decref(p.diff);
	k8s_value_free(&n);
	k8s_value_free(&o);
	free(nv);
	free(ov);
}

/* Arena trees: redaction inside the arena, references in any order. */
static void test_arena(void)
{
	const char *secret = "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"s\"},"
			     "\"data\":{\"password\":\"aHVudGVyMg==\"}}";
	struct k8s_value v, r;
	CHECK_EQ_INT(k8s_value_decode_arena((const uint8_t *)secret, strlen(secret), true, &v), 0);
	CHECK(v.arena != NULL);
	CHECK(k8s_value_mem(&v) >= 4096);
	CHECK_EQ_STR(json_string_value(json_object_get(json_object_get(v.obj, "data"), "password")),
		     "<redacted 7 bytes>"); /* "hunter2" */
	k8s_value_ref(&v, &r);
	k8s_value_free(&v);
	CHECK_EQ_STR(r.kind, "Secret");
	/* a copy made with jansson from an arena tree lives on the heap */
	json_t *copy = json_deep_copy(r.obj);
	k8s_value_free(&r);
	CHECK_EQ_STR(json_string_value(json_object_get(copy, "kind")), "Secret");
	json_decref(copy);
	/* not an object: no arena kept */
	CHECK_EQ_INT(k8s_value_decode_arena((const uint8_t *)"plain", 5, true, &v), 0);
	CHECK(v.arena == NULL && v.obj == NULL);
	CHECK_EQ_INT(v.enc, K8S_ENC_BYTES);
	k8s_value_free(&v);
}

/* jw_json writes what json_dumps(COMPACT | ENSURE_ASCII | ENCODE_ANY) does; jw_json_preview
 * the first bytes of json_dumps(COMPACT | ENCODE_ANY) (the text trace's diff values). */
static void test_jw_json(void)
{
	const char *texts[] = {
		"[{\"path\":\"data.k\",\"old\":\"a\\\"b\\\\c\\/d\",\"new\":\"\\u0001\\b\\f\\n\\r\\t\\u001f\\u007f\"}]",
		"{\"e\":\"\\u00e9\\u20ac\\ud83d\\ude00\",\"n\":[1,-2,9223372036854775807,-9223372036854775808],"
		"\"b\":[true,false,null],\"o\":{},\"a\":[],\"z\":\"\\u0000x\"}",
		"{\"r\":[1.5,0.1,1e+300,-2.0,100000000000000000000.0]}",
		"\"top\"",
		"{\"long\":\"\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9"
		"\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9"
		"\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\",\"x\":{\"y\":[1,2,3]}}",
	};
	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		json_error_t err;
		json_t *j = json_loads(texts[i], JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
		CHECK(j != NULL);
		if (!j)
			continue;
		char *want = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_ENCODE_ANY);
		struct jw w;
		jw_init(&w);
		jw_json(&w, j);
		CHECK_EQ_STR(w.buf, want);
		free(want);
		/* the preview: UTF-8 kept, the first `limit` bytes exact */
		want = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
		for (size_t limit = 1; limit < 80; limit += 13) {
			jw_json_preview(&w, j, limit);
			size_t n = strlen(want) < limit ? strlen(want) : limit;
			CHECK(w.len >= n);
			CHECK(memcmp(w.buf, want, n) == 0);
			if (strlen(want) <= limit)
				CHECK_EQ_STR(w.buf, want);
		}
		jw_free(&w);
		free(want);
		json_decref(j);
	}
}

int main(void)
{
	test_hit_and_misses();
	test_evict_entries();
	test_evict_bytes();
	test_pairs();
	test_arena();
	test_jw_json();
	return unit_summary("test_objcache");
}
