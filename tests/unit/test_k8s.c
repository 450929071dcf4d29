/* test_k8s.c: unit tests of the k8s stage (src/k8s.h): keys, value decoding against
 * Kubernetes' own round-trip fixtures (read from ../shared/k8s-fixtures, never copied),
 * encrypted/JSON/garbage/truncated/bomb values, writer detection, diff and redaction. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "k8s.h"
#include "k8s.pb-c.h"
#include "unit.h"

/* ---- helpers ---- */

/* Reads a whole file; NULL when absent. Caller frees. */
static uint8_t *read_file(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 1 << 16, len = 0;
	uint8_t *buf = malloc(cap);
	size_t got;
	while (buf && (got = fread(buf + len, 1, cap - len, f)) > 0) {
		len += got;
		if (len == cap) {
			uint8_t *nb = realloc(buf, cap *= 2);
			if (!nb) {
				free(buf);
				buf = NULL;
			}
			buf = nb;
		}
	}
	fclose(f);
	*n = len;
	return buf;
}

/* Value at a dotted path ("spec.template.spec.containers[0].image"); NULL if absent. */
static json_t *at(json_t *obj, const char *path)
{
	char buf[256];
	snprintf(buf, sizeof buf, "%s", path);
	json_t *cur = obj;
	for (char *seg = strtok(buf, "."); seg && cur; seg = strtok(NULL, ".")) {
		char *br = strchr(seg, '[');
		if (br)
			*br = '\0';
		cur = json_object_get(cur, seg);
		while (br && cur) {
			cur = json_array_get(cur, strtoul(br + 1, NULL, 10));
			br = strchr(br + 1, '[');
		}
	}
	return cur;
}

static const char *at_str(json_t *obj, const char *path)
{
	const char *s = json_string_value(at(obj, path));
	return s ? s : "(absent)";
}

/* Checks that a path holds equal values in the decoded tree and the JSON twin. */
static void check_same(const char *file, json_t *dec, json_t *twin, const char *path, bool required)
{
	json_t *a = at(dec, path), *b = at(twin, path);
	if (!b && !required)
		return;
	if (a && b && json_equal(a, b)) {
		unit_passed++;
		return;
	}
	unit_failed++;
	char *sa = a ? json_dumps(a, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
	char *sb = b ? json_dumps(b, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
	fprintf(stderr, "%s: %s differs: decoded %s, json %s\n", file, path, sa ? sa : "(absent)",
		sb ? sb : "(absent)");
	free(sa);
	free(sb);
}

/* Greatest nesting depth of a JSON tree. */
static int tree_depth(const json_t *j)
{
	int max = 0;
	if (json_is_object(j)) {
		const char *k;
		json_t *v;
		json_object_foreach((json_t *)j, k, v) {
			int d = tree_depth(v);
			if (d > max)
				max = d;
		}
		return max + 1;
	}
	if (json_is_array(j)) {
		size_t i;
		json_t *v;
		json_array_foreach(j, i, v) {
			int d = tree_depth(v);
			if (d > max)
				max = d;
		}
		return max + 1;
	}
	return 0;
}

/* ---- fixtures ---- */

/* Compares one .pb fixture with its .json twin on the fields the issue names. */
static void fixture_compare(const char *dir, const char *name)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	size_t n;
	uint8_t *pb = read_file(path, &n);
	snprintf(path + strlen(path) - 3, 8, ".json");
	json_error_t jerr;
	json_t *twin = json_load_file(path, 0, &jerr);
	CHECK(pb != NULL);
	CHECK(twin != NULL);
	if (!pb || !twin) {
		free(pb);
		json_decref(twin);
		return;
	}
	struct k8s_value v;
	CHECK_EQ_INT(k8s_value_decode(pb, n, &v), 0);
	CHECK_EQ_INT(v.enc, K8S_ENC_PROTOBUF);
	CHECK_EQ_INT(v.size, n);
	json_t *d = v.obj;
	CHECK_EQ_STR(v.kind, at_str(twin, "kind"));
	CHECK_EQ_STR(v.api_version, at_str(twin, "apiVersion"));

	static const char *const common[] = {
		"kind", "apiVersion", "metadata.name", "metadata.namespace", "metadata.uid",
		"metadata.resourceVersion", "metadata.generation", "metadata.labels",
		"metadata.annotations", "metadata.creationTimestamp", "metadata.deletionTimestamp",
		"metadata.finalizers", "metadata.ownerReferences",
	};
	for (size_t i = 0; i < sizeof common / sizeof common[0]; i++)
		check_same(name, d, twin, common[i], true);
	json_t *mf = at(twin, "metadata.managedFields");
	CHECK(json_array_size(mf) > 0);
	CHECK_EQ_INT(json_array_size(at(d, "metadata.managedFields")), json_array_size(mf));
	for (size_t i = 0; i < json_array_size(mf); i++) {
		static const char *const mk[] = {"manager", "operation", "apiVersion", "time",
						 "fieldsType", "subresource", "fieldsV1"};
		for (size_t k = 0; k < sizeof mk / sizeof mk[0]; k++) {
			char p[128];
			snprintf(p, sizeof p, "metadata.managedFields[%zu].%s", i, mk[k]);
			check_same(name, d, twin, p, true);
		}
	}
	/* the schema names every metadata field: nothing falls back to "#N" */
	const char *k;
	json_t *val;
	bool unnamed = false;
	json_object_foreach(at(d, "metadata"), k, val) unnamed |= k[0] == '#';
	CHECK(!unnamed);

	/* kind-specific key fields */
	const char *kind = at_str(twin, "kind");
	const char *av = at_str(twin, "apiVersion");
	static const struct {
		const char *kind, *path;
	} key_fields[] = {
		{"Deployment", "spec.replicas"},
		{"Deployment", "spec.template.spec.containers[0].image"},
		{"Deployment", "status.readyReplicas"},
		{"ReplicaSet", "spec.replicas"},
		{"StatefulSet", "spec.replicas"},
		{"StatefulSet", "status.currentRevision"},
		{"DaemonSet", "status.numberReady"},
		{"Pod", "spec.nodeName"},
		{"Pod", "status.phase"},
		{"Pod", "spec.containers[0].name"},
		{"Pod", "spec.containers[0].ports"},
		{"ConfigMap", "data"},
		{"ConfigMap", "binaryData"},
		{"Secret", "data"},
		{"Secret", "stringData"},
		{"Secret", "type"},
		{"Lease", "spec.holderIdentity"},
		{"Lease", "spec.renewTime"},
		{"Lease", "spec.acquireTime"},
		{"Event", "reason"},
		{"Event", "involvedObject.name"},
		{"Event", "eventTime"},
		{"Event", "regarding.name"},
		{"Event", "note"},
		{"Namespace", "status.phase"},
		{"Node", "status.nodeInfo.kubeletVersion"},
		{"Node", "status.capacity"},
		{"Service", "spec.clusterIP"},
		{"Service", "spec.ports[0].targetPort"},
		{"ServiceAccount", "secrets"},
		{"Endpoints", "subsets[0].addresses[0].ip"},
		{"EndpointSlice", "endpoints[0].addresses"},
		{"EndpointSlice", "addressType"},
		{"Job", "status.succeeded"},
		{"Job", "spec.template.spec.containers[0].image"},
		{"CustomResourceDefinition", "spec.group"},
		{"CustomResourceDefinition", "spec.names.kind"},
	};
	int kind_checks = 0;
	for (size_t i = 0; i < sizeof key_fields / sizeof key_fields[0]; i++) {
		if (strcmp(kind, key_fields[i].kind) != 0)
			continue;
		/* core and events.k8s.io Events share the kind: each has its own fields */
		bool core_event = strcmp(av, "v1") == 0;
		if (strcmp(kind, "Event") == 0 &&
		    (strcmp(key_fields[i].path, "regarding.name") == 0 ||
		     strcmp(key_fields[i].path, "note") == 0) == core_event)
			continue;
		check_same(name, d, twin, key_fields[i].path, true);
		kind_checks++;
	}
	CHECK(kind_checks > 0);
	k8s_value_free(&v);
	json_decref(twin);
	free(pb);
}

/* Decodes every prefix of a fixture: never crashes, stays PROTOBUF or BYTES, and a prefix
 * that keeps the object whole decodes to the same tree. */
static void fixture_truncate(const char *dir, const char *name, size_t stride)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	size_t n;
	uint8_t *pb = read_file(path, &n);
	if (!pb)
		return;
	struct k8s_value full;
	k8s_value_decode(pb, n, &full);
	int bad_enc = 0, kinds = 0;
	for (size_t len = 0; len <= n; len++) {
		if (len % stride != 0 && len != n - 4 && len != n / 2)
			continue;
		uint8_t *cut = malloc(len ? len : 1); /* exact size: ASan sees any overread */
		memcpy(cut, pb, len);
		struct k8s_value v;
		if (k8s_value_decode(cut, len, &v) != 0)
			bad_enc++;
		if (v.enc != K8S_ENC_PROTOBUF && v.enc != K8S_ENC_BYTES)
			bad_enc++;
		if (v.obj && strcmp(v.kind, full.kind) == 0)
			kinds++;
		if (len == n - 4) /* only contentEncoding/contentType are gone */
			CHECK(json_equal(v.obj, full.obj));
		if (len == n / 2) {
			CHECK_EQ_INT(v.enc, K8S_ENC_PROTOBUF);
			CHECK_EQ_STR(at_str(v.obj, "metadata.name"), "nameValue");
		}
		k8s_value_free(&v);
		free(cut);
	}
	CHECK_EQ_INT(bad_enc, 0);
	CHECK(kinds > (int)(n / stride) / 2);
	k8s_value_free(&full);
	free(pb);
}

/* Every *.pb in the fixture directory. */
static void test_fixtures(void)
{
	const char *dir;
	DIR *dp = unit_fixtures("test_k8s", &dir);
	if (!dp)
		return;
	int count = 0;
	bool saw_cm = false, saw_deploy = false;
	const char *name;
	while ((name = unit_next_pb(dp))) {
		count++;
		saw_cm |= strcmp(name, "core.v1.ConfigMap.pb") == 0;
		saw_deploy |= strcmp(name, "apps.v1.Deployment.pb") == 0;
		fixture_compare(dir, name);
	}
	closedir(dp);
	CHECK(count >= 18);
	CHECK(saw_cm && saw_deploy);
	/* every length of two small fixtures, every 7th of a large one (time under ASan) */
	fixture_truncate(dir, "core.v1.ConfigMap.pb", 1);
	fixture_truncate(dir, "coordination.k8s.io.v1.Lease.pb", 1);
	fixture_truncate(dir, "apps.v1.Deployment.pb", 7);

	/* redaction of the Secret fixture */
	char path[1024];
	snprintf(path, sizeof path, "%s/core.v1.Secret.pb", dir);
	size_t n;
	uint8_t *pb = read_file(path, &n);
	CHECK(pb != NULL);
	if (pb) {
		struct k8s_value v;
		k8s_value_decode(pb, n, &v);
		CHECK_EQ_STR(at_str(v.obj, "data.dataKey"), "Ag==");
		k8s_redact_secrets(v.obj);
		CHECK_EQ_STR(at_str(v.obj, "data.dataKey"), "<redacted 1 bytes>");
		CHECK_EQ_STR(at_str(v.obj, "stringData.stringDataKey"), "<redacted 15 bytes>");
		CHECK_EQ_STR(at_str(v.obj, "metadata.name"), "nameValue");
		CHECK_EQ_STR(v.kind, "Secret");
		k8s_value_free(&v);
		free(pb);
	}
}

/* ---- values built here ---- */

/* Wraps an object's protobuf in "k8s\0" + runtime.Unknown. Caller frees. */
static uint8_t *wrap_unknown(const char *api_version, const char *kind, const uint8_t *raw,
			     size_t raw_n, size_t *out_n)
{
	K8s__TypeMeta tm = K8S__TYPE_META__INIT;
	tm.apiversion = (char *)api_version;
	tm.kind = (char *)kind;
	K8s__Unknown u = K8S__UNKNOWN__INIT;
	u.typemeta = &tm;
	u.has_raw = true;
	u.raw.data = (uint8_t *)raw;
	u.raw.len = raw_n;
	size_t n = k8s__unknown__get_packed_size(&u);
	uint8_t *buf = malloc(n + 4);
	memcpy(buf, "k8s", 4);
	k8s__unknown__pack(&u, buf + 4);
	*out_n = n + 4;
	return buf;
}

/* A ConfigMap packed with the generated code: labels, data, binaryData, managedFields. */
static void test_built_configmap(void)
{
	K8s__ObjectMeta__LabelsEntry l1 = K8S__OBJECT_META__LABELS_ENTRY__INIT;
	l1.key = "app";
	l1.value = "web";
	K8s__ObjectMeta__LabelsEntry *labels[] = {&l1};
	K8s__Time t = K8S__TIME__INIT;
	t.has_seconds = true;
	t.seconds = 1700000000; /* 2023-11-14T22:13:20Z */
	K8s__FieldsV1 fv = K8S__FIELDS_V1__INIT;
	fv.has_raw = true;
	fv.raw.data = (uint8_t *)"{\"f:data\":{\"f:k\":{}}}";
	fv.raw.len = strlen((char *)fv.raw.data);
	K8s__ManagedFieldsEntry mfe = K8S__MANAGED_FIELDS_ENTRY__INIT;
	mfe.manager = "kubectl-create";
	mfe.operation = "Update";
	mfe.apiversion = "v1";
	mfe.time = &t;
	mfe.fieldstype = "FieldsV1";
	mfe.fieldsv1 = &fv;
	K8s__ManagedFieldsEntry *mfs[] = {&mfe};
	K8s__ObjectMeta meta = K8S__OBJECT_META__INIT;
	meta.name = "cm1";
	meta.namespace_ = "default";
	meta.n_labels = 1;
	meta.labels = labels;
	meta.creationtimestamp = &t;
	meta.n_managedfields = 1;
	meta.managedfields = mfs;
	K8s__ConfigMap__DataEntry d1 = K8S__CONFIG_MAP__DATA_ENTRY__INIT;
	d1.key = "k";
	d1.value = "v";
	K8s__ConfigMap__DataEntry *data[] = {&d1};
	K8s__ConfigMap__BinaryDataEntry b1 = K8S__CONFIG_MAP__BINARY_DATA_ENTRY__INIT;
	b1.key = "bin";
	b1.has_value = true;
	b1.value.data = (uint8_t *)"\x00\x01\x02";
	b1.value.len = 3;
	K8s__ConfigMap__BinaryDataEntry *bdata[] = {&b1};
	K8s__ConfigMap cm = K8S__CONFIG_MAP__INIT;
	cm.metadata = &meta;
	cm.n_data = 1;
	cm.data = data;
	cm.n_binarydata = 1;
	cm.binarydata = bdata;
	size_t raw_n = k8s__config_map__get_packed_size(&cm);
	uint8_t *raw = malloc(raw_n);
	k8s__config_map__pack(&cm, raw);
	size_t n;
	uint8_t *val = wrap_unknown("v1", "ConfigMap", raw, raw_n, &n);

	struct k8s_value v;
	CHECK_EQ_INT(k8s_value_decode(val, n, &v), 0);
	CHECK_EQ_INT(v.enc, K8S_ENC_PROTOBUF);
	CHECK_EQ_STR(v.kind, "ConfigMap");
	CHECK_EQ_STR(v.api_version, "v1");
	CHECK_EQ_STR(at_str(v.obj, "metadata.name"), "cm1");
	CHECK_EQ_STR(at_str(v.obj, "metadata.namespace"), "default");
	CHECK_EQ_STR(at_str(v.obj, "metadata.labels.app"), "web");
	CHECK_EQ_STR(at_str(v.obj, "metadata.creationTimestamp"), "2023-11-14T22:13:20Z");
	CHECK_EQ_STR(at_str(v.obj, "metadata.managedFields[0].manager"), "kubectl-create");
	CHECK(json_is_object(at(v.obj, "metadata.managedFields[0].fieldsV1.f:data")));
	CHECK_EQ_STR(at_str(v.obj, "data.k"), "v");
	CHECK_EQ_STR(at_str(v.obj, "binaryData.bin"), "AAEC");
	k8s_value_free(&v);

	/* every truncation of it: no crash, and what remains is named */
	int named = 0;
	for (size_t len = 0; len < n; len++) {
		uint8_t *cut = malloc(len ? len : 1);
		memcpy(cut, val, len);
		k8s_value_decode(cut, len, &v);
		CHECK(v.enc == K8S_ENC_PROTOBUF || v.enc == K8S_ENC_BYTES);
		named += strcmp(at_str(v.obj, "metadata.name"), "cm1") == 0;
		k8s_value_free(&v);
		free(cut);
	}
	CHECK(named > 20);
	free(val);
	free(raw);
}

/* An unknown kind: metadata named, the rest as "#N" guesses. */
static void test_unknown_kind(void)
{
	/* {1: {1: "x"}, 2: {1: "spec-text", 2: 42}, 3: 7} */
	static const uint8_t raw[] = {0x0a, 0x03, 0x0a, 0x01, 'x', 0x12, 0x0d, 0x0a, 0x09, 's', 'p',
				      'e', 'c', '-', 't', 'e', 'x', 't', 0x10, 0x2a, 0x18, 0x07};
	size_t n;
	uint8_t *val = wrap_unknown("example.com/v1", "Thing", raw, sizeof raw, &n);
	struct k8s_value v;
	k8s_value_decode(val, n, &v);
	CHECK_EQ_INT(v.enc, K8S_ENC_PROTOBUF);
	CHECK_EQ_STR(v.kind, "Thing");
	CHECK_EQ_STR(at_str(v.obj, "metadata.name"), "x");
	CHECK_EQ_STR(at_str(v.obj, "#2.#1"), "spec-text");
	CHECK_EQ_INT(json_integer_value(at(v.obj, "#2.#2")), 42);
	CHECK_EQ_INT(json_integer_value(at(v.obj, "#3")), 7);
	k8s_value_free(&v);
	free(val);
}

/* A deeply nested protobuf (field 5 inside field 5 ... 5000 times) stops at the limit. */
static void test_bomb(void)
{
	enum { LEVELS = 5000 };
	size_t cap = LEVELS * 4 + 16, len = 0;
	uint8_t *buf = malloc(cap), *tmp = malloc(cap);
	for (int i = 0; i < LEVELS; i++) {
		/* prepend tag 0x2a (field 5, LEN) and the varint length */
		uint8_t hdr[8];
		size_t h = 0;
		hdr[h++] = 0x2a;
		size_t l = len;
		do {
			hdr[h++] = (uint8_t)((l & 0x7f) | (l > 0x7f ? 0x80 : 0));
			l >>= 7;
		} while (l);
		memcpy(tmp, hdr, h);
		memcpy(tmp + h, buf, len);
		memcpy(buf, tmp, h + len);
		len += h;
	}
	size_t n;
	uint8_t *val = wrap_unknown("v1", "ConfigMap", buf, len, &n);
	struct k8s_value v;
	CHECK_EQ_INT(k8s_value_decode(val, n, &v), 0);
	CHECK_EQ_INT(v.enc, K8S_ENC_PROTOBUF);
	CHECK(tree_depth(v.obj) <= K8S_MAX_DEPTH + 1);
	CHECK(tree_depth(v.obj) > 10);
	k8s_value_free(&v);

	/* JSON bomb: refused before the parser */
	char *j = malloc(200001);
	for (int i = 0; i < 100000; i++)
		memcpy(j + i * 2, "[{", 2);
	j[200000] = '\0';
	j[0] = '{';
	k8s_value_decode((uint8_t *)j, 200000, &v);
	CHECK_EQ_INT(v.enc, K8S_ENC_BYTES);
	CHECK(v.obj == NULL);
	k8s_value_free(&v);
	free(j);
	free(val);
	free(buf);
	free(tmp);
}

/* Encrypted at rest: provider and key name; nothing decoded. */
static void test_encrypted(void)
{
	static const struct {
		const char *v;
		const char *provider, *key;
	} cases[] = {
		{"k8s:enc:aescbc:v1:key1:\x8f\x01\x02\x00\xff", "aescbc", "key1"},
		{"k8s:enc:aesgcm:v1:rotated-2024:\x01\x02", "aesgcm", "rotated-2024"},
		{"k8s:enc:secretbox:v1:sb:\x00", "secretbox", "sb"},
		{"k8s:enc:kms:v1:my-kms-plugin:\x00\x10", "kms", "my-kms-plugin"},
		{"k8s:enc:kms:v2:vault:\x0a\x05hello", "kms", "vault"},
		{"k8s:enc:", "", ""},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct k8s_value v;
		size_t n = strlen(cases[i].v) + (i < 5 ? 2 : 0); /* include trailing bytes */
		CHECK_EQ_INT(k8s_value_decode((const uint8_t *)cases[i].v, n, &v), 0);
		CHECK_EQ_INT(v.enc, K8S_ENC_ENCRYPTED);
		CHECK_EQ_STR(v.enc_provider, cases[i].provider);
		CHECK_EQ_STR(v.enc_key, cases[i].key);
		CHECK(v.obj == NULL);
		CHECK_EQ_INT(v.size, n);
		k8s_value_free(&v);
	}
}

/* A custom resource stored as JSON, written by two managers. */
static const char *const cr_v1 =
	"{\"apiVersion\":\"demo.mycompany.com/v1\",\"kind\":\"ConfigMapApp\","
	"\"metadata\":{\"name\":\"app1\",\"namespace\":\"demo\",\"uid\":\"u-1\","
	"\"resourceVersion\":\"100\",\"generation\":1,\"labels\":{\"app\":\"demo\",\"old\":\"x\"},"
	"\"managedFields\":["
	"{\"manager\":\"kubectl-client-side-apply\",\"operation\":\"Update\","
	"\"apiVersion\":\"demo.mycompany.com/v1\",\"time\":\"2024-05-01T10:00:00Z\","
	"\"fieldsType\":\"FieldsV1\",\"fieldsV1\":{\"f:spec\":{\"f:replicas\":{}}}},"
	"{\"manager\":\"demo-operator\",\"operation\":\"Update\",\"apiVersion\":\"demo.mycompany.com/v1\","
	"\"time\":\"2024-05-01T10:00:05Z\",\"fieldsType\":\"FieldsV1\","
	"\"fieldsV1\":{\"f:status\":{\"f:ready\":{}}},\"subresource\":\"status\"}]},"
	"\"spec\":{\"replicas\":3,\"template\":{\"spec\":{\"containers\":[{\"name\":\"c\","
	"\"image\":\"nginx:1.25\"}]}}},\"status\":{\"ready\":1}}";

/* JSON values: the tree, apiVersion and kind. */
static void test_json_values(void)
{
	struct k8s_value v;
	CHECK_EQ_INT(k8s_value_decode((const uint8_t *)cr_v1, strlen(cr_v1), &v), 0);
	CHECK_EQ_INT(v.enc, K8S_ENC_JSON);
	CHECK_EQ_STR(v.api_version, "demo.mycompany.com/v1");
	CHECK_EQ_STR(v.kind, "ConfigMapApp");
	CHECK_EQ_INT(json_integer_value(at(v.obj, "spec.replicas")), 3);
	CHECK_EQ_INT(json_array_size(at(v.obj, "metadata.managedFields")), 2);
	k8s_value_free(&v);

	/* broken JSON, JSON that is not an object, plain text, empty */
	static const char *const not_objects[] = {"{\"a\":", "[1,2]", "hello world", "", "{]"};
	for (size_t i = 0; i < sizeof not_objects / sizeof not_objects[0]; i++) {
		k8s_value_decode((const uint8_t *)not_objects[i], strlen(not_objects[i]), &v);
		CHECK_EQ_INT(v.enc, K8S_ENC_BYTES);
		CHECK(v.obj == NULL);
		CHECK_EQ_STR(v.kind, "");
		k8s_value_free(&v);
	}
	k8s_value_decode((const uint8_t *)"ab\x01\xff", 4, &v);
	CHECK_EQ_STR(v.preview, "ab..");
	k8s_value_free(&v);
	k8s_value_decode(NULL, 0, &v);
	CHECK_EQ_INT(v.enc, K8S_ENC_BYTES);
	k8s_value_free(&v);
}

/* Pseudo-random bytes, with and without the magic: never crash, sane result. */
static void test_garbage(void)
{
	uint32_t seed = 12345;
	uint8_t buf[600];
	int bad = 0;
	for (int round = 0; round < 3000; round++) {
		size_t n = (size_t)(round % 600);
		for (size_t i = 0; i < n; i++) {
			seed = seed * 1103515245u + 12345u;
			buf[i] = (uint8_t)(seed >> 16);
			/* bias towards small protobuf-looking bytes half of the time */
			if (round & 1)
				buf[i] &= 0x3f;
		}
		if (round % 3 == 0 && n >= 4)
			memcpy(buf, "k8s", 4);
		if (round % 3 == 1 && n >= 6)
			memcpy(buf, "k8s\0\x0a", 5);
		struct k8s_value v;
		if (k8s_value_decode(buf, n, &v) != 0)
			bad++;
		if (v.obj && !json_is_object(v.obj))
			bad++;
		if (v.obj && tree_depth(v.obj) > K8S_MAX_DEPTH + 2)
			bad++;
		json_t *d = k8s_diff(v.obj, v.obj, 0);
		if (v.obj && json_array_size(d) != 0)
			bad++;
		json_decref(d);
		k8s_value_free(&v);
	}
	CHECK_EQ_INT(bad, 0);
}

/* ---- keys ---- */

struct key_case {
	const char *key;
	size_t key_len; /* 0: strlen */
	const char *end;
	size_t end_len; /* 0: strlen */
	const char *prefix;
	enum k8s_key_kind kind;
	const char *group, *resource, *ns, *name, *special;
};

static void test_keys(void)
{
	static const struct key_case cases[] = {
		{"/registry/pods/default/web-0", 0, NULL, 0, NULL, K8S_KEY_OBJECT, "", "pods", "default", "web-0", NULL},
		{"/registry/configmaps/kube-system/coredns", 0, NULL, 0, NULL, K8S_KEY_OBJECT, "", "configmaps", "kube-system", "coredns", NULL},
		{"/registry/secrets/ns1/s", 0, NULL, 0, NULL, K8S_KEY_OBJECT, "", "secrets", "ns1", "s", NULL},
		{"/registry/events/default/web-0.17a", 0, NULL, 0, NULL, K8S_KEY_OBJECT, "", "events", "default", "web-0.17a", NULL},
		{"/registry/services/specs/default/kubernetes", 0, NULL, 0, NULL, K8S_KEY_OBJECT, "", "services", "default", "kubernetes", NULL},
		{"/registry/services/endpoints/default/kubernetes", 0, NULL, 0, NULL, K8S_KEY_OBJECT, "", "endpoints", "default", "kubernetes", NULL},
		{"/registry/minions/node-1", 0, NULL, 0, NULL, K8S_KEY_OBJECT, "", "nodes", "", "node-1", NULL},
		{"/registry/namespaces/kube-system", 0, NULL, 0, NULL, K8S_KEY_OBJECT, "", "namespaces", "", "kube-system", NULL},
		{"/registry/persistentvolumes/pv-1", 0, NULL, 0, NULL, K8S_KEY_OBJECT, "", "persistentvolumes", "", "pv-1", NULL},
		{"/registry/clusterroles/system:basic-user", 0, NULL, 0, NULL, K8S_KEY_OBJECT, "rbac.authorization.k8s.io", "clusterroles", "", "system:basic-user", NULL},
		{"/registry/clusterrolebindings/cluster-admin", 0, NULL, 0, NULL, K8S_KEY_OBJECT, "rbac.authorization.k8s.io", "clusterrolebindings", "", "cluster-admin", NULL},
		{"/registry/rolebindings/kube-system/r", 0, NULL, 0, NULL, K8S_KEY_OBJECT, "rbac.authorization.k8s.io", "rolebindings", "kube-system", "r", NULL},
		{"/registry/priorityclasses/system-node-critical", 0, NULL, 0, NULL, K8S_KEY_OBJECT, "scheduling.k8s.io", "priorityclasses", "", "system-node-critical", NULL},
		{"/registry/flowschemas/exempt", 0, NULL, 0, NULL, K8S_KEY_OBJECT, "flowcontrol.apiserver.k8s.io", "flowschemas", "", "exempt", NULL},
		{"/registry/validatingwebhookconfigurations/w", 0, NULL, 0, NULL, K8S_KEY_OBJECT, "admissionregistration.k8s.io", "validatingwebhookconfigurations", "", "w", NULL},
		{"/registry/deployments/default/web", 0, NULL, 0, NULL, K8S_KEY_OBJECT, "apps", "deployments", "default", "web", NULL},
		{"/registry/controllerrevisions/default/web-5d", 0, NULL, 0, NULL, K8S_KEY_OBJECT, "apps", "controllerrevisions", "default", "web-5d", NULL},
		{"/registry/cronjobs/default/nightly", 0, NULL, 0, NULL, K8S_KEY_OBJECT, "batch", "cronjobs", "default", "nightly", NULL},
		{"/registry/leases/kube-node-lease/node-1", 0, NULL, 0, NULL, K8S_KEY_OBJECT, "coordination.k8s.io", "leases", "kube-node-lease", "node-1", NULL},
		{"/registry/endpointslices/default/kubernetes", 0, NULL, 0, NULL, K8S_KEY_OBJECT, "discovery.k8s.io", "endpointslices", "default", "kubernetes", NULL},
		{"/registry/ingress/default/web", 0, NULL, 0, NULL, K8S_KEY_OBJECT, "networking.k8s.io", "ingresses", "default", "web", NULL},
		{"/registry/apiextensions.k8s.io/customresourcedefinitions/configmapapps.demo.mycompany.com", 0, NULL, 0, NULL, K8S_KEY_OBJECT, "apiextensions.k8s.io", "customresourcedefinitions", "", "configmapapps.demo.mycompany.com", NULL},
		{"/registry/apiregistration.k8s.io/apiservices/v1.apps", 0, NULL, 0, NULL, K8S_KEY_OBJECT, "apiregistration.k8s.io", "apiservices", "", "v1.apps", NULL},
		{"/registry/demo.mycompany.com/configmapapps/demo/app1", 0, NULL, 0, NULL, K8S_KEY_OBJECT, "demo.mycompany.com", "configmapapps", "demo", "app1", NULL},
		{"/registry/demo.mycompany.com/clusterwidgets/w1", 0, NULL, 0, NULL, K8S_KEY_OBJECT, "demo.mycompany.com", "clusterwidgets", "", "w1", NULL},
		{"compact_rev_key", 0, NULL, 0, NULL, K8S_KEY_SPECIAL, "", "", "", "", "compact_rev_key"},
		{"/registry/health", 0, NULL, 0, NULL, K8S_KEY_SPECIAL, "", "", "", "", "health"},
		{"/registry/masterleases/10.0.0.1", 0, NULL, 0, NULL, K8S_KEY_SPECIAL, "", "", "", "10.0.0.1", "masterleases"},
		{"/registry/ranges/serviceips", 0, NULL, 0, NULL, K8S_KEY_SPECIAL, "", "", "", "serviceips", "ranges"},
		{"/registry/pods/", 0, "/registry/pods0", 0, NULL, K8S_KEY_RESOURCE, "", "pods", "", "", NULL},
		{"/registry/pods/ns1/", 0, "/registry/pods/ns10", 0, NULL, K8S_KEY_NAMESPACE, "", "pods", "ns1", "", NULL},
		{"/registry/minions/", 0, "/registry/minions0", 0, NULL, K8S_KEY_RESOURCE, "", "nodes", "", "", NULL},
		{"/registry/demo.mycompany.com/configmapapps/", 0, "/registry/demo.mycompany.com/configmapapps0", 0, NULL, K8S_KEY_RESOURCE, "demo.mycompany.com", "configmapapps", "", "", NULL},
		/* next page of a paged LIST: "<last key>\0" .. prefix end */
		{"/registry/pods/ns1/web-7\0", 25, "/registry/pods0", 0, NULL, K8S_KEY_RESOURCE, "", "pods", "", "", NULL},
		{"/registry/pods/ns1/web-7\0", 25, "/registry/pods/ns10", 0, NULL, K8S_KEY_NAMESPACE, "", "pods", "ns1", "", NULL},
		{"/registry/masterleases/", 0, "/registry/masterleases0", 0, NULL, K8S_KEY_SPECIAL, "", "", "", "", "masterleases"},
		/* a watch from a key with no end: one object */
		{"/registry/leases/kube-system/kube-scheduler", 0, "", 1, NULL, K8S_KEY_OBJECT, "coordination.k8s.io", "leases", "kube-system", "kube-scheduler", NULL},
		{"/kubernetes.io/pods/a/b", 0, NULL, 0, "/kubernetes.io", K8S_KEY_OBJECT, "", "pods", "a", "b", NULL},
		{"/kubernetes.io/pods/a/b", 0, NULL, 0, "/kubernetes.io/", K8S_KEY_OBJECT, "", "pods", "a", "b", NULL},
		{"/registry/pods/a/b", 0, NULL, 0, "/kubernetes.io", K8S_KEY_NONE, "", "", "", "", NULL},
		{"/registryx/pods/a/b", 0, NULL, 0, NULL, K8S_KEY_NONE, "", "", "", "", NULL},
		{"foo", 0, NULL, 0, NULL, K8S_KEY_NONE, "", "", "", "", NULL},
		{"/registry/", 0, NULL, 0, NULL, K8S_KEY_NONE, "", "", "", "", NULL},
	};
	/* pass 0 without the memo, 1 filling it, 2 from it (the last parse of each key) */
	for (int pass = 0; pass < 3; pass++)
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		if (i == 0 && pass < 2)
			k8s_key_memo_enable(pass == 1);
		const struct key_case *c = &cases[i];
		struct k8s_key k;
		size_t kl = c->key_len ? c->key_len : strlen(c->key);
		size_t el = c->end ? (c->end_len ? c->end_len : strlen(c->end)) : 0;
		if (c->end && c->end_len == 1 && c->end[0] == '\0')
			el = 0; /* empty range_end: a single key */
		enum k8s_key_kind kind = k8s_key_parse((const uint8_t *)c->key, kl,
						       (const uint8_t *)c->end, el, c->prefix, &k);
		if (kind != c->kind || k.kind != c->kind || strcmp(k.group, c->group) ||
		    strcmp(k.resource, c->resource) || strcmp(k.ns, c->ns) || strcmp(k.name, c->name) ||
		    (c->special && (!k.special || strcmp(k.special, c->special)))) {
			unit_failed++;
			fprintf(stderr, "key case %zu \"%s\": kind %d g=%s r=%s ns=%s n=%s sp=%s\n", i,
				c->key, kind, k.group, k.resource, k.ns, k.name,
				k.special ? k.special : "-");
		} else {
			unit_passed++;
		}
	}
	/* many keys (more than the memo holds), in a pseudo-random order, against the parse
	 * without the memo: every field equal */
	uint32_t x = 12345;
	int same = 0, total = 0;
	for (int n = 0; n < 20000; n++) {
		x = x * 1103515245u + 12345u;
		unsigned id = (x >> 8) % 600;
		char key[96], end[96];
		static const char *const res[] = {"pods", "configmaps", "leases", "minions",
						  "demo.io/widgets", "deployments"};
		int kl = snprintf(key, sizeof key, "/registry/%s/ns%u/obj-%u", res[id % 6], id % 7, id);
		int el = snprintf(end, sizeof end, "/registry/%s0", res[id % 6]);
		/* the same key as a range or not, under one prefix or another */
		bool range = (x >> 3) % 5 == 0;
		const char *prefix = (x >> 5) % 3 == 0 ? "/kubernetes.io" : NULL;
		struct k8s_key a, b;
		k8s_key_memo_enable(false);
		enum k8s_key_kind ka = k8s_key_parse((const uint8_t *)key, (size_t)kl,
						     range ? (const uint8_t *)end : NULL,
						     range ? (size_t)el : 0, prefix, &a);
		k8s_key_memo_enable(true);
		enum k8s_key_kind kb = k8s_key_parse((const uint8_t *)key, (size_t)kl,
						     range ? (const uint8_t *)end : NULL,
						     range ? (size_t)el : 0, prefix, &b);
		same += ka == kb && memcmp(&a, &b, sizeof a) == 0;
		total++;
	}
	CHECK_EQ_INT(same, total);
	CHECK(!k8s_group_is_custom(""));
	CHECK(!k8s_group_is_custom("apps"));
	CHECK(!k8s_group_is_custom("apiextensions.k8s.io"));
	CHECK(k8s_group_is_custom("demo.mycompany.com"));
	CHECK(k8s_group_is_custom("cert-manager.io"));
}

/* ---- writer and diff ---- */

/* Parses JSON text for the tests. */
static json_t *J(const char *s)
{
	json_error_t e;
	json_t *j = json_loads(s, 0, &e);
	if (!j)
		fprintf(stderr, "bad test JSON: %s at %d\n", e.text, e.position);
	return j;
}

/* Replaces text in a copy of s (first occurrence). Caller frees. */
static char *subst(const char *s, const char *from, const char *to)
{
	const char *p = strstr(s, from);
	size_t n = strlen(s) - strlen(from) + strlen(to);
	char *out = malloc(n + 1);
	size_t pre = (size_t)(p - s);
	memcpy(out, s, pre);
	strcpy(out + pre, to);
	strcat(out, p + strlen(from));
	return out;
}

static const char *const mf_patch =
	",{\"manager\":\"kubectl-patch\",\"operation\":\"Update\",\"apiVersion\":\"demo.mycompany.com/v1\","
	"\"time\":\"2024-05-01T10:01:00Z\",\"fieldsType\":\"FieldsV1\","
	"\"fieldsV1\":{\"f:spec\":{\"f:replicas\":{}}}}]},";

static void test_writer(void)
{
	json_t *old = J(cr_v1);
	/* kubectl patch: replicas 3 -> 5, a new managedFields entry */
	char *s1 = subst(cr_v1, "\"replicas\":3", "\"replicas\":5");
	char *s2 = subst(s1, "\"subresource\":\"status\"}]},", "\"subresource\":\"status\"}");
	char *s3 = subst(s2, "\"subresource\":\"status\"}", "\"subresource\":\"status\"}XX");
	char *s4 = subst(s3, "XX", mf_patch);
	char *s5 = subst(s4, "\"generation\":1", "\"generation\":2");
	json_t *patched = J(s5);
	CHECK(patched != NULL);
	struct k8s_writer w;
	CHECK(k8s_writer_of(patched, old, &w));
	CHECK_EQ_STR(w.manager, "kubectl-patch");
	CHECK_EQ_STR(w.operation, "Update");
	CHECK_EQ_STR(w.subresource, "");
	CHECK_EQ_STR(w.time, "2024-05-01T10:01:00Z");
	CHECK_EQ_STR(w.api_version, "demo.mycompany.com/v1");
	CHECK(k8s_generation_bumped(old, patched));

	/* a status write by the operator: its status entry gets a new time */
	char *t1 = subst(cr_v1, "\"ready\":1", "\"ready\":3");
	char *t2 = subst(t1, "\"2024-05-01T10:00:05Z\"", "\"2024-05-01T10:02:00Z\"");
	json_t *status = J(t2);
	CHECK(k8s_writer_of(status, old, &w));
	CHECK_EQ_STR(w.manager, "demo-operator");
	CHECK_EQ_STR(w.subresource, "status");
	CHECK_EQ_STR(w.time, "2024-05-01T10:02:00Z");
	CHECK(!k8s_generation_bumped(old, status));

	/* status-only change where another entry also moved later: status entry preferred */
	char *u1 = subst(t2, "\"2024-05-01T10:00:00Z\"", "\"2024-05-01T10:09:00Z\"");
	json_t *status2 = J(u1);
	CHECK(k8s_writer_of(status2, old, &w));
	CHECK_EQ_STR(w.manager, "demo-operator");
	/* the same with the caller's diff (meaning.c passes the one it printed): it decides
	 * status-only, so a diff of a spec change gives the spec change's writer */
	json_t *d2 = k8s_diff(old, status2, 0);
	CHECK(k8s_writer_of_diff(status2, old, d2, &w));
	CHECK_EQ_STR(w.manager, "demo-operator");
	CHECK(k8s_writer_of_diff(status2, old, NULL, &w));
	CHECK_EQ_STR(w.manager, "demo-operator");
	/* a spec change with the same two moved entries: the newest wins */
	char *u2 = subst(u1, "\"replicas\":3", "\"replicas\":4");
	json_t *spec2 = J(u2);
	CHECK(k8s_writer_of(spec2, old, &w));
	CHECK_EQ_STR(w.manager, "kubectl-client-side-apply");
	json_t *ds = k8s_diff(old, spec2, 0);
	CHECK(k8s_writer_of_diff(spec2, old, ds, &w));
	CHECK_EQ_STR(w.manager, "kubectl-client-side-apply");
	CHECK(k8s_writer_of_diff(status2, old, ds, &w)); /* the diff decides: not status-only */
	CHECK_EQ_STR(w.manager, "kubectl-client-side-apply");
	json_decref(ds);
	json_decref(d2);

	/* nothing changed in managedFields: no writer */
	CHECK(!k8s_writer_of(old, old, &w));
	/* creation: the newest entry */
	CHECK(k8s_writer_of(old, NULL, &w));
	CHECK_EQ_STR(w.manager, "demo-operator");
	/* no managedFields at all */
	json_t *bare = J("{\"metadata\":{\"name\":\"x\"}}");
	CHECK(!k8s_writer_of(bare, NULL, &w));

	json_decref(bare);
	json_decref(spec2);
	json_decref(status2);
	json_decref(status);
	json_decref(patched);
	json_decref(old);
	free(s1), free(s2), free(s3), free(s4), free(s5), free(t1), free(t2), free(u1), free(u2);
}

/* Finds the diff entry for path; NULL if none. */
static json_t *diff_find(json_t *d, const char *path)
{
	size_t i;
	json_t *e;
	json_array_foreach(d, i, e) if (strcmp(json_string_value(json_object_get(e, "path")), path) == 0) return e;
	return NULL;
}

static void test_diff(void)
{
	json_t *old = J(cr_v1);
	char *s1 = subst(cr_v1, "\"replicas\":3", "\"replicas\":5");
	char *s2 = subst(s1, "\"old\":\"x\"", "\"tier\":\"web\"");
	char *s3 = subst(s2, "nginx:1.25", "nginx:1.26");
	char *s4 = subst(s3, "\"resourceVersion\":\"100\"", "\"resourceVersion\":\"101\"");
	char *s5 = subst(s4, "2024-05-01T10:00:05Z", "2024-05-01T10:00:09Z");
	json_t *new = J(s5);

	json_t *d = k8s_diff(old, new, 0);
	CHECK_EQ_INT(json_array_size(d), 4);
	json_t *e = diff_find(d, "spec.replicas");
	CHECK(e != NULL);
	CHECK_EQ_INT(json_integer_value(json_object_get(e, "old")), 3);
	CHECK_EQ_INT(json_integer_value(json_object_get(e, "new")), 5);
	e = diff_find(d, "metadata.labels.tier");
	CHECK(e && !json_object_get(e, "old"));
	CHECK_EQ_STR(json_string_value(json_object_get(e, "new")), "web");
	e = diff_find(d, "metadata.labels.old");
	CHECK(e && !json_object_get(e, "new"));
	CHECK_EQ_STR(json_string_value(json_object_get(e, "old")), "x");
	e = diff_find(d, "spec.template.spec.containers[0].image");
	CHECK(e != NULL);
	CHECK_EQ_STR(json_string_value(json_object_get(e, "new")), "nginx:1.26");
	CHECK(diff_find(d, "metadata.resourceVersion") == NULL);
	CHECK(diff_find(d, "metadata.managedFields[1].time") == NULL);
	json_decref(d);

	d = k8s_diff(old, new, K8S_DIFF_NOISE);
	CHECK_EQ_INT(json_array_size(d), 6);
	CHECK(diff_find(d, "metadata.resourceVersion") != NULL);
	CHECK(diff_find(d, "metadata.managedFields[1].time") != NULL);
	json_decref(d);

	d = k8s_diff(NULL, new, 0); /* creation */
	CHECK(json_is_array(d) && json_array_size(d) == 0);
	json_decref(d);
	d = k8s_diff(old, old, K8S_DIFF_NOISE);
	CHECK_EQ_INT(json_array_size(d), 0);
	json_decref(d);

	/* array grows and shrinks */
	json_t *a = J("{\"l\":[1,2]}"), *b = J("{\"l\":[1,3,4]}");
	d = k8s_diff(a, b, 0);
	CHECK_EQ_INT(json_array_size(d), 2);
	CHECK(diff_find(d, "l[1]") != NULL);
	e = diff_find(d, "l[2]");
	CHECK(e && !json_object_get(e, "old"));
	json_decref(d);
	d = k8s_diff(b, a, 0);
	e = diff_find(d, "l[2]");
	CHECK(e && !json_object_get(e, "new"));
	json_decref(d);

	/* a deep tree is compared whole below the depth limit */
	json_t *deep_a = json_integer(1), *deep_b = json_integer(2);
	for (int i = 0; i < K8S_MAX_DEPTH * 2; i++) {
		json_t *oa = json_object(), *ob = json_object();
		json_object_set_new(oa, "x", deep_a);
		json_object_set_new(ob, "x", deep_b);
		deep_a = oa;
		deep_b = ob;
	}
	d = k8s_diff(deep_a, deep_b, 0);
	CHECK_EQ_INT(json_array_size(d), 1);
	json_decref(d);
	json_decref(deep_a);
	json_decref(deep_b);

	CHECK(!k8s_generation_bumped(old, new));
	CHECK(!k8s_generation_bumped(NULL, new));
	json_decref(a);
	json_decref(b);
	json_decref(new);
	json_decref(old);
	free(s1), free(s2), free(s3), free(s4), free(s5);
}

/* Redaction of a JSON Secret: data, stringData and kubectl's last-applied copy. */
/* k8s_diff walks the keys of both objects side by side while they match: the same
 * diff, in the same order, when they do not (other order, same size with other keys). */
static void test_diff_key_order(void)
{
	static const struct {
		const char *old, *new, *want;
	} cases[] = {
		{"{\"a\":1,\"b\":2}", "{\"b\":2,\"a\":1}", "[]"},
		{"{\"a\":1,\"b\":2}", "{\"b\":3,\"a\":1}", "[{\"path\":\"b\",\"old\":2,\"new\":3}]"},
		{"{\"x\":1,\"y\":2}", "{\"y\":2,\"z\":3}",
		 "[{\"path\":\"z\",\"new\":3},{\"path\":\"x\",\"old\":1}]"},
		{"{\"x\":1,\"y\":2}", "{\"x\":1,\"z\":2}",
		 "[{\"path\":\"z\",\"new\":2},{\"path\":\"y\",\"old\":2}]"},
		{"{\"x\":1,\"y\":2,\"w\":4}", "{\"x\":1,\"y\":2}", "[{\"path\":\"w\",\"old\":4}]"},
		{"{\"x\":1}", "{\"x\":1,\"y\":{\"q\":[1]}}", "[{\"path\":\"y\",\"new\":{\"q\":[1]}}]"},
		{"{\"ab\":1,\"a\":2}", "{\"a\":2,\"ab\":1}", "[]"},
		{"{\"s\":{\"k\":1,\"l\":2}}", "{\"s\":{\"l\":2,\"m\":1}}",
		 "[{\"path\":\"s.m\",\"new\":1},{\"path\":\"s.k\",\"old\":1}]"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		json_t *o = J(cases[i].old), *n = J(cases[i].new);
		json_t *d = k8s_diff(o, n, 0);
		char *got = json_dumps(d, JSON_COMPACT);
		CHECK_EQ_STR(got, cases[i].want);
		free(got);
		json_decref(d);
		json_decref(o);
		json_decref(n);
	}
}

static void test_redact_json(void)
{
	json_t *s = J("{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"db\","
		      "\"annotations\":{\"kubectl.kubernetes.io/last-applied-configuration\":"
		      "\"{\\\"data\\\":{\\\"pw\\\":\\\"aHVudGVyMg==\\\"}}\"}},"
		      "\"data\":{\"pw\":\"aHVudGVyMg==\",\"k\":\"YWJj\"},\"stringData\":{\"t\":\"tok\"}}");
	k8s_redact_secrets(s);
	CHECK_EQ_STR(at_str(s, "data.pw"), "<redacted 7 bytes>");
	CHECK_EQ_STR(at_str(s, "data.k"), "<redacted 3 bytes>");
	CHECK_EQ_STR(at_str(s, "stringData.t"), "<redacted 3 bytes>");
	char *dump = json_dumps(s, 0);
	CHECK(strstr(dump, "aHVudGVyMg") == NULL);
	free(dump);
	json_decref(s);
	/* not a Secret: untouched */
	json_t *cm = J("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"data\":{\"pw\":\"x\"}}");
	k8s_redact_secrets(cm);
	CHECK_EQ_STR(at_str(cm, "data.pw"), "x");
	json_decref(cm);
	k8s_redact_secrets(NULL);
}

int main(void)
{
	test_keys();
	test_fixtures();
	test_built_configmap();
	test_unknown_kind();
	test_bomb();
	test_encrypted();
	test_json_values();
	test_garbage();
	test_writer();
	test_diff();
	test_diff_key_order();
	test_redact_json();
	return unit_summary("test_k8s");
}
