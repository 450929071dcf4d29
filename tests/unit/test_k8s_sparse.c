/* test_k8s_sparse.c: k8s_value_decode_sparse (src/k8s_sparse.c) against the full decoding.
 * The property (sparse_check.h): everything the trace prints from two versions of an
 * object is the same from the sparse trees as from the full ones. Checked on Kubernetes'
 * own fixtures (read from ../shared/k8s-fixtures, never copied) and on versions made from
 * them by a mutator that edits the protobuf the way writes do (a field changed, added,
 * removed, repeated, an element of a list or an entry of a map changed) and the ways the
 * API server never does (fields out of order, flipped bytes), with a fixed seed. Also that
 * the trees are sparse: an unchanged spec is not decoded. */
#include <dirent.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "k8s.h"
#include "k8s.pb-c.h"
#include "sparse_check.h"
#include "unit.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(uint32_t n)
{
	uint64_t v = unit_xorshift(&rng_state);
	return n ? (uint32_t)(v % n) : 0;
}

static void put_varint(struct buf *b, uint64_t v)
{
	uint8_t t[10];
	size_t n = 0;
	do {
		t[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v);
	buf_put(b, t, n);
}

/* One field of a message being mutated. */
struct fld {
	const uint8_t *start, *end; /* whole field */
	uint64_t tag;
	const uint8_t *pay;         /* length-delimited value, else NULL */
	size_t plen;
};

static size_t get_varint(const uint8_t *p, size_t n, size_t *i, uint64_t *v)
{
	*v = 0;
	for (int s = 0; s < 64 && *i < n; s += 7) {
		uint8_t c = p[(*i)++];
		*v |= (uint64_t)(c & 0x7f) << s;
		if (!(c & 0x80))
			return 1;
	}
	return 0;
}

/* Splits a message into fields; 0 when it does not parse. */
static size_t split(const uint8_t *p, size_t n, struct fld *f, size_t max)
{
	size_t i = 0, k = 0;
	while (i < n && k < max) {
		struct fld x = {p + i, NULL, 0, NULL, 0};
		if (!get_varint(p, n, &i, &x.tag) || x.tag >> 3 == 0)
			return 0;
		uint64_t v;
		switch (x.tag & 7) {
		case 0: if (!get_varint(p, n, &i, &v)) return 0; break;
		case 1: if (n - i < 8) return 0; i += 8; break;
		case 5: if (n - i < 4) return 0; i += 4; break;
		case 2:
			if (!get_varint(p, n, &i, &v) || v > n - i)
				return 0;
			x.pay = p + i;
			x.plen = (size_t)v;
			i += (size_t)v;
			break;
		default: return 0;
		}
		x.end = p + i;
		f[k++] = x;
	}
	return i == n ? k : 0;
}

/* Writes p[0..n) with one edit at a random place: a field dropped, repeated, swapped with
 * the next, its value replaced by text, a byte of it changed, or the same one level down. */
static void mutate(struct buf *out, const uint8_t *p, size_t n, int depth)
{
	enum { MAX_FIELDS = 4096 };
	struct fld *fs = malloc(MAX_FIELDS * sizeof *fs);
	size_t k = split(p, n, fs, MAX_FIELDS);
	if (!k) {
		buf_put(out, p, n);
		if (n)
			out->p[out->n - 1 - rnd((uint32_t)n)] ^= (uint8_t)(1 + rnd(255));
		free(fs);
		return;
	}
	size_t t = rnd((uint32_t)k);
	unsigned op = rnd(depth < 6 ? 10 : 5);
	for (size_t i = 0; i < k; i++) {
		const struct fld *x = &fs[i];
		if (i != t) {
			buf_put(out, x->start, (size_t)(x->end - x->start));
			continue;
		}
		switch (op) {
		case 0: /* drop */
			break;
		case 1: /* repeat */
			buf_put(out, x->start, (size_t)(x->end - x->start));
			buf_put(out, x->start, (size_t)(x->end - x->start));
			break;
		case 2: /* swap with the next: out of order */
			if (i + 1 < k) {
				buf_put(out, fs[i + 1].start, (size_t)(fs[i + 1].end - fs[i + 1].start));
				buf_put(out, x->start, (size_t)(x->end - x->start));
				i++;
			} else {
				buf_put(out, x->start, (size_t)(x->end - x->start));
			}
			break;
		case 3: /* change one byte of the field */ {
			size_t at = out->n;
			buf_put(out, x->start, (size_t)(x->end - x->start));
			out->p[at + rnd((uint32_t)(x->end - x->start))] ^= (uint8_t)(1 + rnd(255));
			break;
		}
		case 4: /* new text value */
			if (x->pay) {
				char txt[24];
				size_t tn = rnd(sizeof txt);
				for (size_t j = 0; j < tn; j++)
					txt[j] = (char)('a' + rnd(26));
				put_varint(out, x->tag);
				put_varint(out, tn);
				buf_put(out, txt, tn);
			} else {
				buf_put(out, x->start, (size_t)(x->end - x->start));
			}
			break;
		default: /* one level down (most edits: writes change leaves) */
			if (x->pay) {
				struct buf sub = {0};
				mutate(&sub, x->pay, x->plen, depth + 1);
				put_varint(out, x->tag);
				put_varint(out, sub.n);
				buf_put(out, sub.p, sub.n);
				free(sub.p);
			} else {
				buf_put(out, x->start, (size_t)(x->end - x->start));
			}
			break;
		}
	}
	free(fs);
}

/* The envelope's parts: "k8s\0", TypeMeta field, raw object. */
static bool unwrap(const uint8_t *v, size_t n, const uint8_t **tm, size_t *tmn,
		   const uint8_t **raw, size_t *rawn)
{
	struct fld f[8];
	if (n < 4 || memcmp(v, "k8s", 4) != 0)
		return false;
	size_t k = split(v + 4, n - 4, f, 8);
	*tm = *raw = NULL;
	for (size_t i = 0; i < k; i++) {
		if (f[i].tag == (1 << 3 | 2)) {
			*tm = f[i].start;
			*tmn = (size_t)(f[i].end - f[i].start);
		} else if (f[i].tag == (2 << 3 | 2)) {
			*raw = f[i].pay;
			*rawn = f[i].plen;
		}
	}
	return *tm && *raw;
}

/* A version of value v: its raw object mutated `edits` times, rewrapped. */
static uint8_t *version_of(const uint8_t *v, size_t n, int edits, size_t *out_n)
{
	const uint8_t *tm, *raw;
	size_t tmn, rawn;
	if (!unwrap(v, n, &tm, &tmn, &raw, &rawn))
		return NULL;
	struct buf cur = {0};
	buf_put(&cur, raw, rawn);
	for (int e = 0; e < edits; e++) {
		struct buf next = {0};
		mutate(&next, cur.p, cur.n, 0);
		free(cur.p);
		cur = next;
	}
	struct buf out = {0};
	buf_put(&out, "k8s", 4);
	buf_put(&out, tm, tmn);
	put_varint(&out, 2 << 3 | 2);
	put_varint(&out, cur.n);
	buf_put(&out, cur.p, cur.n);
	free(cur.p);
	*out_n = out.n;
	return out.p;
}

static int failures_shown;

static void expect_same(const char *what, const uint8_t *ov, size_t on, bool has_old,
			const uint8_t *nv, size_t nn, bool redact)
{
	const char *bad = sparse_check(ov, on, has_old, nv, nn, redact);
	CHECK(bad == NULL);
	if (bad && failures_shown++ < 5)
		fprintf(stderr, "  %s: %s\n", what, bad);
}

static uint8_t *read_file(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long len = ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *b = malloc(len > 0 ? (size_t)len : 1);
	*n = b ? fread(b, 1, len > 0 ? (size_t)len : 0, f) : 0;
	fclose(f);
	return b;
}

/* One fixture: itself, alone, and chains of versions made by the mutator. */
static void fixture_versions(const char *dir, const char *name, int rounds, bool redact)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	size_t n;
	uint8_t *v = read_file(path, &n);
	CHECK(v != NULL);
	if (!v)
		return;
	expect_same(name, v, n, true, v, n, redact);
	expect_same(name, NULL, 0, false, v, n, redact);
	uint8_t *prev = v;
	size_t pn = n;
	for (int r = 0; r < rounds; r++) {
		size_t mn;
		uint8_t *m = version_of(prev, pn, 1 + (int)rnd(3), &mn);
		CHECK(m != NULL);
		if (!m)
			break;
		expect_same(name, prev, pn, true, m, mn, redact);
		expect_same(name, m, mn, true, prev, pn, redact);
		expect_same(name, v, n, true, m, mn, redact);
		expect_same(name, NULL, 0, false, m, mn, redact);
		if (prev != v)
			free(prev);
		/* a chain, as a key's versions are; back to the fixture now and then */
		if (rnd(4) == 0) {
			free(m);
			prev = v;
			pn = n;
		} else {
			prev = m;
			pn = mn;
		}
	}
	if (prev != v)
		free(prev);
	free(v);
}

static void test_fixture_versions(void)
{
	const char *dir;
	DIR *dp = unit_fixtures("test_k8s_sparse", &dir);
	if (!dp)
		return;
	int count = 0;
	const char *name;
	while ((name = unit_next_pb(dp))) {
		count++;
		fixture_versions(dir, name, 120, count % 2 == 0);
	}
	closedir(dp);
	CHECK(count >= 18);

	/* two kinds: decoded whole, same answers */
	char a[1024], b[1024];
	snprintf(a, sizeof a, "%s/core.v1.ConfigMap.pb", dir);
	snprintf(b, sizeof b, "%s/core.v1.Secret.pb", dir);
	size_t an, bn;
	uint8_t *av = read_file(a, &an), *bv = read_file(b, &bn);
	if (av && bv) {
		expect_same("ConfigMap -> Secret", av, an, true, bv, bn, true);
		expect_same("Secret -> ConfigMap", bv, bn, true, av, an, false);
	}
	free(av);
	free(bv);
}

/* Values that are not protobuf objects take the full decoding. */
static void test_other_encodings(void)
{
	static const char j1[] = "{\"apiVersion\":\"x.io/v1\",\"kind\":\"W\",\"metadata\":{\"uid\":"
				 "\"u\",\"generation\":1},\"spec\":{\"a\":1,\"b\":[1,2]}}";
	static const char j2[] = "{\"apiVersion\":\"x.io/v1\",\"kind\":\"W\",\"metadata\":{\"uid\":"
				 "\"u\",\"generation\":2},\"spec\":{\"a\":2,\"b\":[1,3]}}";
	static const char enc[] = "k8s:enc:aescbc:v1:key1:\x01\x02\x03";
	const uint8_t *J1 = (const uint8_t *)j1, *J2 = (const uint8_t *)j2;
	expect_same("json", J1, sizeof j1 - 1, true, J2, sizeof j2 - 1, false);
	expect_same("json alone", NULL, 0, false, J2, sizeof j2 - 1, false);
	expect_same("encrypted", (const uint8_t *)enc, sizeof enc - 1, true, J2, sizeof j2 - 1,
		    false);
	expect_same("bytes", (const uint8_t *)"abc", 3, true, (const uint8_t *)"abd", 3, false);
	expect_same("empty", (const uint8_t *)"", 0, true, (const uint8_t *)"k8s", 4, false);
	struct k8s_value n, o;
	CHECK_EQ_INT(k8s_value_decode_sparse(J2, sizeof j2 - 1, J1, sizeof j1 - 1, true, false, &n,
					     &o),
		     0);
	CHECK(!n.sparse && n.enc == K8S_ENC_JSON);
	k8s_value_free(&n);
	k8s_value_free(&o);
}

/* A ConfigMap version: data {a: 1, b: <b>, c: 3}, a label, one managedFields entry. */
static uint8_t *configmap(const char *b_value, const char *mf_time_day, size_t *out_n)
{
	K8s__ObjectMeta__LabelsEntry l1 = K8S__OBJECT_META__LABELS_ENTRY__INIT;
	l1.key = "app";
	l1.value = "web";
	K8s__ObjectMeta__LabelsEntry *labels[] = {&l1};
	K8s__Time t = K8S__TIME__INIT;
	t.has_seconds = true;
	t.seconds = 1700000000 + 86400 * atoi(mf_time_day);
	K8s__ManagedFieldsEntry mfe = K8S__MANAGED_FIELDS_ENTRY__INIT;
	mfe.manager = "kubectl-edit";
	mfe.operation = "Update";
	mfe.apiversion = "v1";
	mfe.time = &t;
	K8s__ManagedFieldsEntry *mfs[] = {&mfe};
	K8s__ObjectMeta meta = K8S__OBJECT_META__INIT;
	meta.name = "cm1";
	meta.namespace_ = "default";
	meta.uid = "0b4f6a4e-1111-2222-3333-444455556666";
	meta.n_labels = 1;
	meta.labels = labels;
	meta.n_managedfields = 1;
	meta.managedfields = mfs;
	K8s__ConfigMap__DataEntry d[3] = {K8S__CONFIG_MAP__DATA_ENTRY__INIT,
					  K8S__CONFIG_MAP__DATA_ENTRY__INIT,
					  K8S__CONFIG_MAP__DATA_ENTRY__INIT};
	d[0].key = "a";
	d[0].value = "1";
	d[1].key = "b";
	d[1].value = (char *)b_value;
	d[2].key = "c";
	d[2].value = "3";
	K8s__ConfigMap__DataEntry *data[] = {&d[0], &d[1], &d[2]};
	K8s__ConfigMap cm = K8S__CONFIG_MAP__INIT;
	cm.metadata = &meta;
	cm.n_data = 3;
	cm.data = data;
	size_t raw_n = k8s__config_map__get_packed_size(&cm);
	uint8_t *raw = malloc(raw_n);
	k8s__config_map__pack(&cm, raw);
	struct buf out = {0};
	buf_put(&out, "k8s", 4);
	static const uint8_t tm[] = {0x0a, 0x0f, 0x0a, 0x02, 'v', '1', 0x12, 0x09, 'C', 'o', 'n',
				     'f', 'i', 'g', 'M', 'a', 'p'};
	buf_put(&out, tm, sizeof tm);
	put_varint(&out, 2 << 3 | 2);
	put_varint(&out, raw_n);
	buf_put(&out, raw, raw_n);
	free(raw);
	*out_n = out.n;
	return out.p;
}

/* A ConfigMap value ("k8s\0", TypeMeta, raw) around raw object bytes. */
static uint8_t *wrap_configmap(const uint8_t *raw, size_t raw_n, size_t *out_n)
{
	static const uint8_t tm[] = {0x0a, 0x0f, 0x0a, 0x02, 'v', '1', 0x12, 0x09, 'C', 'o', 'n',
				     'f', 'i', 'g', 'M', 'a', 'p'};
	struct buf out = {0};
	buf_put(&out, "k8s", 4);
	buf_put(&out, tm, sizeof tm);
	put_varint(&out, 2 << 3 | 2);
	put_varint(&out, raw_n);
	buf_put(&out, raw, raw_n);
	*out_n = out.n;
	return out.p;
}

/* Encodings the API server does not write but a capture may hold: overlong varints (equal
 * values, different bytes), repeated or unsorted map keys, entries without a key or with
 * the value first, a message field twice, unknown fields, wire types the schema does not
 * give. Each against a plain version, both ways and alone. */
static void test_odd_encodings(void)
{
	/* metadata {name: "cm", uid: "u1"}; data {a: 1, b: 2} */
#define META 0x0a, 0x08, 0x0a, 0x02, 'c', 'm', 0x2a, 0x02, 'u', '1'
#define ENTRY(k, v) 0x12, 0x06, 0x0a, 0x01, k, 0x12, 0x01, v
	static const uint8_t base[] = {META, ENTRY('a', '1'), ENTRY('b', '2')};
	static const uint8_t overlong_tag[] = {META, 0x92, 0x00, 0x06, 0x0a, 0x01, 'a', 0x12, 0x01,
					       '1', ENTRY('b', '3')};
	static const uint8_t overlong_len[] = {0x0a, 0x88, 0x00, 0x0a, 0x02, 'c', 'm', 0x2a, 0x02,
					       'u', '1', ENTRY('a', '1'), ENTRY('b', '3')};
	static const uint8_t overlong_inner[] = {META, 0x12, 0x07, 0x0a, 0x81, 0x00, 'a', 0x12,
						 0x01, '1', ENTRY('b', '2')};
	static const uint8_t dup_key[] = {META, ENTRY('a', '1'), ENTRY('a', '9'), ENTRY('b', '2')};
	static const uint8_t unsorted[] = {META, ENTRY('b', '2'), ENTRY('a', '1')};
	static const uint8_t value_first[] = {META, 0x12, 0x06, 0x12, 0x01, '1', 0x0a, 0x01, 'a',
					      ENTRY('b', '5')};
	static const uint8_t no_key[] = {META, 0x12, 0x03, 0x12, 0x01, '7', ENTRY('a', '1'),
					 ENTRY('b', '2')};
	static const uint8_t bad_key[] = {META, ENTRY(0xff, '1'), ENTRY('b', '2')};
	static const uint8_t meta_twice[] = {META, 0x0a, 0x04, 0x2a, 0x02, 'u', '2',
					     ENTRY('a', '1'), ENTRY('b', '2')};
	static const uint8_t unknown[] = {META, ENTRY('a', '1'), ENTRY('b', '2'), 0x4a, 0x01, 'x'};
	static const uint8_t data_varint[] = {META, 0x10, 0x05, ENTRY('b', '2')};
	static const uint8_t empty_meta[] = {0x0a, 0x00, ENTRY('a', '1'), ENTRY('b', '2')};
#undef META
#undef ENTRY
	static const struct {
		const char *name;
		const uint8_t *raw;
		size_t n;
	} odd[] = {
		{"overlong tag", overlong_tag, sizeof overlong_tag},
		{"overlong length", overlong_len, sizeof overlong_len},
		{"overlong inner", overlong_inner, sizeof overlong_inner},
		{"duplicate key", dup_key, sizeof dup_key},
		{"unsorted keys", unsorted, sizeof unsorted},
		{"value first", value_first, sizeof value_first},
		{"no key", no_key, sizeof no_key},
		{"bad key", bad_key, sizeof bad_key},
		{"metadata twice", meta_twice, sizeof meta_twice},
		{"unknown field", unknown, sizeof unknown},
		{"data as varint", data_varint, sizeof data_varint},
		{"empty metadata", empty_meta, sizeof empty_meta},
	};
	size_t bn;
	uint8_t *b = wrap_configmap(base, sizeof base, &bn);
	for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
		size_t on;
		uint8_t *o = wrap_configmap(odd[i].raw, odd[i].n, &on);
		expect_same(odd[i].name, b, bn, true, o, on, false);
		expect_same(odd[i].name, o, on, true, b, bn, true);
		expect_same(odd[i].name, NULL, 0, false, o, on, false);
		for (size_t j = 0; j < i; j++) {
			size_t pn;
			uint8_t *p = wrap_configmap(odd[j].raw, odd[j].n, &pn);
			expect_same(odd[i].name, p, pn, true, o, on, false);
			free(p);
		}
		free(o);
	}
	free(b);
}

/* The trees are sparse: only the changed entry and the fields always read. */
static void test_sparse_trees(void)
{
	size_t on, nn;
	uint8_t *ov = configmap("2", "0", &on), *nv = configmap("9", "1", &nn);
	expect_same("configmap", ov, on, true, nv, nn, false);
	struct k8s_value n, o;
	CHECK_EQ_INT(k8s_value_decode_sparse(nv, nn, ov, on, true, false, &n, &o), 0);
	CHECK(n.sparse && o.sparse);
	CHECK_EQ_STR(n.kind, "ConfigMap");
	CHECK_EQ_STR(n.api_version, "v1");
	json_t *nd = json_object_get(n.obj, "data"), *od = json_object_get(o.obj, "data");
	CHECK_EQ_INT(json_object_size(nd), 1);
	CHECK_EQ_STR(json_string_value(json_object_get(nd, "b")), "9");
	CHECK_EQ_STR(json_string_value(json_object_get(od, "b")), "2");
	json_t *md = json_object_get(n.obj, "metadata");
	CHECK(json_object_get(md, "uid") != NULL);
	CHECK(json_object_get(md, "managedFields") != NULL);
	CHECK(json_object_get(md, "name") == NULL);     /* equal, not read: left out */
	CHECK(json_object_get(md, "labels") == NULL);
	json_t *d = k8s_diff(o.obj, n.obj, 0);
	char *s = json_dumps(d, JSON_COMPACT);
	CHECK_EQ_STR(s, "[{\"path\":\"data.b\",\"old\":\"2\",\"new\":\"9\"}]");
	free(s);
	json_decref(d);
	struct k8s_writer w;
	CHECK(k8s_writer_of(n.obj, o.obj, &w));
	CHECK_EQ_STR(w.manager, "kubectl-edit");
	k8s_value_free(&n);
	k8s_value_free(&o);

	/* alone: metadata's read fields only */
	CHECK_EQ_INT(k8s_value_decode_sparse(nv, nn, NULL, 0, false, false, &n, &o), 0);
	CHECK(n.sparse && o.obj == NULL);
	CHECK(json_object_get(n.obj, "data") == NULL);
	CHECK_EQ_STR(json_string_value(json_object_get(json_object_get(n.obj, "metadata"), "uid")),
		     "0b4f6a4e-1111-2222-3333-444455556666");
	k8s_value_free(&n);
	k8s_value_free(&o);
	free(ov);
	free(nv);
}

int main(void)
{
	test_sparse_trees();
	test_odd_encodings();
	test_other_encodings();
	test_fixture_versions();
	return unit_summary("test_k8s_sparse");
}
