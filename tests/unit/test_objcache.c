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
	CHECK(!objcache_pair_get(c, &kn, &ko, false, &got, NULL));
	p.diff = k8s_diff(o.obj, n.obj, 0);
	CHECK_EQ_INT(json_array_size(p.diff), 1); /* data.k; resourceVersion is noise */
	p.change = "update";
	p.has_writer = false;
	objcache_pair_put(c, &kn, &ko, false, n.obj, &p);
	CHECK_EQ_INT(p.diff->refcount, 2);
	CHECK(objcache_pair_get(c, &kn, &ko, false, &got, NULL));
	CHECK(got.diff == p.diff);
	CHECK_EQ_STR(got.change, "update");
	CHECK_EQ_INT(p.diff->refcount, 3);
	json_decref(got.diff);
	/* another previous version, none, or a creation: a miss */
	CHECK(!objcache_pair_get(c, &kn, &ko2, false, &got, NULL));
	CHECK(!objcache_pair_get(c, &kn, NULL, false, &got, NULL));
	CHECK(!objcache_pair_get(c, &kn, &ko, true, &got, NULL));
	/* a pair for a tree the entry does not hold is not stored */
	struct objcache_pair q = {0};
	q.change = "none";
	objcache_pair_put(c, &kn, NULL, false, o.obj, &q);
	CHECK(!objcache_pair_get(c, &kn, NULL, false, &got, NULL));
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

/* Values that differ but share endpoint, key, revision and length are a miss, whatever
 * their hash: a crafted capture can give two values one hash (flipping bit 63 of an 8-byte
 * word changes the lane's state by bits 63 and 34 whatever it was, which the same word
 * of the next 32-byte block cancels), and the cache must not answer with the other
 * value's tree, nor with a pair computed against another previous value. */
static void test_same_hash(void)
{
	struct objcache *c = objcache_new(16, 1 << 20);
	char *v = value_json("a", 5, "0123456789abcdef0123456789abcdef");
	size_t n = strlen(v);
	CHECK(n >= 40);
	char *w = strdup(v);
	w[7] ^= (char)0x80;
	w[39] ^= (char)0x80;
	w[36] ^= 0x04;
	struct objcache_key kv, kw;
	key_of(&kv, "ep", "/a", 5, v);
	key_of(&kw, "ep", "/a", 5, w);
	CHECK(memcmp(v, w, n) != 0);
	struct k8s_value dec, got;
	CHECK_EQ_INT(k8s_value_decode_arena((const uint8_t *)v, n, true, &dec), 0);
	objcache_put(c, &kv, &dec);
	CHECK(objcache_get(c, &kv, &got));
	k8s_value_free(&got);
	bool hit = objcache_get(c, &kw, &got);
	CHECK(!hit);
	if (hit)
		k8s_value_free(&got);

	/* the same for the previous value of a pair */
	char *nv = value_json("a", 7, "new");
	struct objcache_key kn;
	key_of(&kn, "ep", "/a", 7, nv);
	struct k8s_value nd;
	CHECK_EQ_INT(k8s_value_decode_arena((const uint8_t *)nv, strlen(nv), true, &nd), 0);
	objcache_put(c, &kn, &nd);
	struct objcache_pair p = {0}, pg;
	p.change = "update";
	objcache_pair_put(c, &kn, &kv, false, nd.obj, &p);
	CHECK(objcache_pair_get(c, &kn, &kv, false, &pg, NULL));
	CHECK(!objcache_pair_get(c, &kn, &kw, false, &pg, NULL));
	objcache_free(c);
	k8s_value_free(&nd);
	k8s_value_free(&dec);
	free(nv);
	free(v);
	free(w);
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

/* The reference jw_strn: the byte loop jw.c used before its 8-byte scan. */
static void ref_strn(char *out, size_t *o, const uint8_t *s, size_t n)
{
	out[(*o)++] = '"';
	for (size_t i = 0; i < n;) {
		uint8_t c = s[i];
		if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
			out[(*o)++] = (char)c;
			i++;
		} else if (c == '"' || c == '\\') {
			out[(*o)++] = '\\';
			out[(*o)++] = (char)c;
			i++;
		} else if (c == '\n' || c == '\r' || c == '\t') {
			out[(*o)++] = '\\';
			out[(*o)++] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
			i++;
		} else if (c < 0x20) {
			*o += (size_t)sprintf(out + *o, "\\u%04x", c);
			i++;
		} else {
			size_t l = utf8_valid(s + i, 2) && (c & 0xe0) == 0xc0 && n - i >= 2 ? 2
				 : n - i >= 3 && (c & 0xf0) == 0xe0 && utf8_valid(s + i, 3) ? 3
				 : n - i >= 4 && (c & 0xf8) == 0xf0 && utf8_valid(s + i, 4) ? 4 : 0;
			if (l) {
				memcpy(out + *o, s + i, l);
				*o += l;
				i += l;
			} else {
				memcpy(out + *o, "\\ufffd", 6);
				*o += 6;
				i++;
			}
		}
	}
	out[(*o)++] = '"';
	out[*o] = 0;
}

/* jw_strn and jw_json scan 8 bytes at a time: random strings of bytes that need escaping
 * or not (at every offset in and across the 8-byte words), against the byte loop
 * (jw_strn) and json_dumps (jw_json, jw_json_preview). */
static void test_jw_strings(void)
{
	static const char *const pieces[] = {
		"a", "Z", " ", "~", "!", "#", "[", "]", "\x1f", "\x01", "\x7f", "\"", "\\",
		"\n", "\t", "\r", "\b", "\f", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
		"abcdefgh", "0123456789abcdef",
	};
	static const char *const bad[] = {"\x80", "\xff", "\xc3", "\xed\xa0\x80"};
	uint64_t r = 0x9e3779b97f4a7c15ull;
	unsigned fails = 0;
	for (int iter = 0; iter < 20000; iter++) {
		char s[256];
		size_t n = 0;
		r ^= r << 13, r ^= r >> 7, r ^= r << 17;
		int parts = (int)(r % 24);
		bool valid = true;
		for (int p = 0; p < parts; p++) {
			r ^= r << 13, r ^= r >> 7, r ^= r << 17;
			const char *x;
			if (iter % 3 == 0 && r % 17 == 0) {
				x = bad[r / 17 % 4];
				valid = false;
			} else {
				x = pieces[r / 17 % (sizeof pieces / sizeof pieces[0])];
			}
			memcpy(s + n, x, strlen(x));
			n += strlen(x);
		}
		struct jw w;
		jw_init(&w);
		jw_strn(&w, (const uint8_t *)s, n);
		char want[2048];
		size_t o = 0;
		ref_strn(want, &o, (const uint8_t *)s, n);
		if (!w.buf || strcmp(w.buf, want) != 0)
			fails++;
		if (valid) {
			json_t *j = json_stringn(s, n);
			CHECK(j != NULL);
			char *d = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_ENCODE_ANY);
			jw_reset(&w);
			jw_json(&w, j);
			if (!d || strcmp(w.buf, d) != 0)
				fails++;
			free(d);
			d = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
			jw_json_preview(&w, j, 4096);
			if (!d || strcmp(w.buf, d) != 0)
				fails++;
			free(d);
			json_decref(j);
		}
		jw_free(&w);
	}
	CHECK_EQ_INT(fails, 0);
}

int main(void)
{
	test_hit_and_misses();
	test_evict_entries();
	test_evict_bytes();
	test_pairs();
	test_same_hash();
	test_arena();
	test_jw_json();
	test_jw_strings();
	return unit_summary("test_objcache");
}
