/* k8s_key.c: Kubernetes meaning of an etcd key (k8s stage, DESIGN.md "k8s").
 * Turns "/registry/[group/]resource/[namespace/]name" and the LIST/WATCH ranges the API
 * server asks for into group, resource, namespace and name (src/k8s.h).
 *
 * Key layout written by kube-apiserver (storage prefix "/registry" by default, --prefix):
 *
 *   <prefix>/<store>/<namespace>/<name>          namespaced built-in
 *   <prefix>/<store>/<name>                      cluster-scoped built-in
 *   <prefix>/<group>/<resource>/[<ns>/]<name>    group-prefixed (custom resources, CRDs,
 *                                                APIServices): a first segment with a dot
 *   <prefix>/<store>/ .. <prefix>/<store>0       LIST/WATCH of a resource ('/' + 1 = '0')
 *   <prefix>/<store>/<ns>/ .. <prefix>/<store>/<ns>0   ... of one namespace
 *   "<last key>\0" .. <range end>                next page of a paged LIST
 *   compact_rev_key                              compaction marker (no prefix)
 *   <prefix>/health, <prefix>/masterleases/<ip>, <prefix>/ranges/<allocator>
 *
 * <store> is usually the resource name; a few differ (storage factory's special prefixes:
 * services/specs, services/endpoints, minions, controllers, ingress). */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "k8s.h"

/* A built-in resource stored without its group in the key. */
struct k8s_builtin {
	const char *store;    /* key segment(s) after the prefix */
	const char *resource; /* API resource name */
	const char *group;    /* API group ("" = core) */
	bool cluster;         /* cluster-scoped: the next segment is the name */
};

/* Storage paths of kube-apiserver's built-in resources (the storage factory uses the
 * lower-case resource name unless listed in its special prefixes). */
static const struct k8s_builtin k8s_builtins[] = {
	{"services/specs", "services", "", false},
	{"services/endpoints", "endpoints", "", false},
	{"pods", "pods", "", false},
	{"podtemplates", "podtemplates", "", false},
	{"configmaps", "configmaps", "", false},
	{"secrets", "secrets", "", false},
	{"serviceaccounts", "serviceaccounts", "", false},
	{"events", "events", "", false},
	{"limitranges", "limitranges", "", false},
	{"resourcequotas", "resourcequotas", "", false},
	{"persistentvolumeclaims", "persistentvolumeclaims", "", false},
	{"controllers", "replicationcontrollers", "", false},
	{"minions", "nodes", "", true},
	{"namespaces", "namespaces", "", true},
	{"persistentvolumes", "persistentvolumes", "", true},
	{"componentstatuses", "componentstatuses", "", true},
	{"deployments", "deployments", "apps", false},
	{"replicasets", "replicasets", "apps", false},
	{"statefulsets", "statefulsets", "apps", false},
	{"daemonsets", "daemonsets", "apps", false},
	{"controllerrevisions", "controllerrevisions", "apps", false},
	{"jobs", "jobs", "batch", false},
	{"cronjobs", "cronjobs", "batch", false},
	{"horizontalpodautoscalers", "horizontalpodautoscalers", "autoscaling", false},
	{"poddisruptionbudgets", "poddisruptionbudgets", "policy", false},
	{"podsecuritypolicy", "podsecuritypolicies", "policy", true},
	{"leases", "leases", "coordination.k8s.io", false},
	{"leasecandidates", "leasecandidates", "coordination.k8s.io", false},
	{"endpointslices", "endpointslices", "discovery.k8s.io", false},
	{"ingress", "ingresses", "networking.k8s.io", false},
	{"networkpolicies", "networkpolicies", "networking.k8s.io", false},
	{"ingressclasses", "ingressclasses", "networking.k8s.io", true},
	{"ipaddresses", "ipaddresses", "networking.k8s.io", true},
	{"servicecidrs", "servicecidrs", "networking.k8s.io", true},
	{"roles", "roles", "rbac.authorization.k8s.io", false},
	{"rolebindings", "rolebindings", "rbac.authorization.k8s.io", false},
	{"clusterroles", "clusterroles", "rbac.authorization.k8s.io", true},
	{"clusterrolebindings", "clusterrolebindings", "rbac.authorization.k8s.io", true},
	{"priorityclasses", "priorityclasses", "scheduling.k8s.io", true},
	{"storageclasses", "storageclasses", "storage.k8s.io", true},
	{"csidrivers", "csidrivers", "storage.k8s.io", true},
	{"csinodes", "csinodes", "storage.k8s.io", true},
	{"volumeattachments", "volumeattachments", "storage.k8s.io", true},
	{"csistoragecapacities", "csistoragecapacities", "storage.k8s.io", false},
	{"volumeattributesclasses", "volumeattributesclasses", "storage.k8s.io", true},
	{"mutatingwebhookconfigurations", "mutatingwebhookconfigurations",
	 "admissionregistration.k8s.io", true},
	{"validatingwebhookconfigurations", "validatingwebhookconfigurations",
	 "admissionregistration.k8s.io", true},
	{"validatingadmissionpolicies", "validatingadmissionpolicies",
	 "admissionregistration.k8s.io", true},
	{"validatingadmissionpolicybindings", "validatingadmissionpolicybindings",
	 "admissionregistration.k8s.io", true},
	{"mutatingadmissionpolicies", "mutatingadmissionpolicies", "admissionregistration.k8s.io",
	 true},
	{"mutatingadmissionpolicybindings", "mutatingadmissionpolicybindings",
	 "admissionregistration.k8s.io", true},
	{"certificatesigningrequests", "certificatesigningrequests", "certificates.k8s.io", true},
	{"clustertrustbundles", "clustertrustbundles", "certificates.k8s.io", true},
	{"runtimeclasses", "runtimeclasses", "node.k8s.io", true},
	{"flowschemas", "flowschemas", "flowcontrol.apiserver.k8s.io", true},
	{"prioritylevelconfigurations", "prioritylevelconfigurations",
	 "flowcontrol.apiserver.k8s.io", true},
	{"storageversions", "storageversions", "internal.apiserver.k8s.io", true},
	{"storageversionmigrations", "storageversionmigrations", "storagemigration.k8s.io", true},
	{"resourceclaims", "resourceclaims", "resource.k8s.io", false},
	{"resourceclaimtemplates", "resourceclaimtemplates", "resource.k8s.io", false},
	{"deviceclasses", "deviceclasses", "resource.k8s.io", true},
	{"resourceslices", "resourceslices", "resource.k8s.io", true},
};

/* Group-prefixed built-ins whose scope is known (served by the apiextensions and
 * aggregator servers inside kube-apiserver). */
static const struct k8s_builtin k8s_grouped[] = {
	{"apiextensions.k8s.io/customresourcedefinitions", "customresourcedefinitions",
	 "apiextensions.k8s.io", true},
	{"apiregistration.k8s.io/apiservices", "apiservices", "apiregistration.k8s.io", true},
};

/* Kubernetes' own API groups: anything else with a dot is a custom resource group. */
static const char *const k8s_builtin_groups[] = {
	"", "apps", "batch", "autoscaling", "policy", "extensions",
	"coordination.k8s.io", "discovery.k8s.io", "events.k8s.io", "networking.k8s.io",
	"rbac.authorization.k8s.io", "scheduling.k8s.io", "storage.k8s.io",
	"admissionregistration.k8s.io", "certificates.k8s.io", "node.k8s.io",
	"flowcontrol.apiserver.k8s.io", "internal.apiserver.k8s.io", "resource.k8s.io",
	"apiextensions.k8s.io", "apiregistration.k8s.io", "authentication.k8s.io",
	"authorization.k8s.io", "storagemigration.k8s.io",
};

/* A borrowed slice of the key. */
struct k8s_span {
	const char *p;
	size_t n;
};

/* True when the group is not one of Kubernetes' built-in API groups. */
bool k8s_group_is_custom(const char *group)
{
	if (!group)
		return false;
	for (size_t i = 0; i < sizeof k8s_builtin_groups / sizeof k8s_builtin_groups[0]; i++)
		if (strcmp(group, k8s_builtin_groups[i]) == 0)
			return false;
	return true;
}

/* Copies a span into a fixed field, truncating (keys are at most 1.5 MiB in etcd but
 * Kubernetes names are at most 253 bytes). NUL bytes become '?' so the C string is whole. */
static void k8s_copy(char *dst, size_t cap, struct k8s_span s)
{
	size_t n = s.n < cap - 1 ? s.n : cap - 1;
	for (size_t i = 0; i < n; i++)
		dst[i] = s.p[i] ? s.p[i] : '?';
	dst[n] = '\0';
}

static bool k8s_span_eq(struct k8s_span s, const char *lit)
{
	size_t n = strlen(lit);
	return s.n == n && memcmp(s.p, lit, n) == 0;
}

/* Splits s at the first '/': head is before it, s becomes the rest. Returns false when s
 * was empty. */
static bool k8s_next_seg(struct k8s_span *s, struct k8s_span *head)
{
	if (s->n == 0)
		return false;
	const char *slash = memchr(s->p, '/', s->n);
	size_t hn = slash ? (size_t)(slash - s->p) : s->n;
	head->p = s->p;
	head->n = hn;
	s->p += slash ? hn + 1 : hn;
	s->n -= slash ? hn + 1 : hn;
	return true;
}

/* Strips the prefix and one '/' from key. Returns false when the key is not below it. */
static bool k8s_strip_prefix(struct k8s_span *key, const char *prefix)
{
	size_t pn = strlen(prefix);
	while (pn > 0 && prefix[pn - 1] == '/')
		pn--;
	if (key->n < pn + 1 || memcmp(key->p, prefix, pn) != 0 || key->p[pn] != '/')
		return false;
	key->p += pn + 1;
	key->n -= pn + 1;
	return true;
}

/* Matches the resource part at the start of rest against a table; on success rest is
 * what follows it. */
static const struct k8s_builtin *k8s_match(const struct k8s_builtin *tab, size_t ntab,
					   struct k8s_span *rest)
{
	for (size_t i = 0; i < ntab; i++) {
		size_t n = strlen(tab[i].store);
		if (rest->n < n || memcmp(rest->p, tab[i].store, n) != 0)
			continue;
		if (rest->n > n) {
			if (rest->p[n] != '/')
				continue;
			n++;
		}
		rest->p += n;
		rest->n -= n;
		return &tab[i];
	}
	return NULL;
}

/* Recognises compact_rev_key, health, masterleases and the service IP/port allocators. */
static bool k8s_parse_special(struct k8s_span rest, struct k8s_key *out)
{
	struct k8s_span head;
	if (!k8s_next_seg(&rest, &head))
		return false;
	if (k8s_span_eq(head, "compact_rev_key") && rest.n == 0)
		out->special = "compact_rev_key";
	else if (k8s_span_eq(head, "health") && rest.n == 0)
		out->special = "health";
	else if (k8s_span_eq(head, "masterleases"))
		out->special = "masterleases";
	else if (k8s_span_eq(head, "ranges"))
		out->special = "ranges";
	else
		return false;
	k8s_copy(out->name, sizeof out->name, rest);
	out->kind = K8S_KEY_SPECIAL;
	return true;
}

/* Parses what follows the prefix: [group/]resource[/ns][/name], with or without a
 * trailing '/' (a directory, the start of a range). */
static enum k8s_key_kind k8s_parse_rest(struct k8s_span rest, struct k8s_key *out)
{
	if (k8s_parse_special(rest, out))
		return out->kind;

	bool scope_known = true, cluster = false;
	const struct k8s_builtin *b = NULL;
	struct k8s_span seg = {NULL, 0};
	const char *dot = rest.n ? memchr(rest.p, '.', rest.n) : NULL;
	const char *slash = rest.n ? memchr(rest.p, '/', rest.n) : NULL;

	if (dot && (!slash || dot < slash)) {
		b = k8s_match(k8s_grouped, sizeof k8s_grouped / sizeof k8s_grouped[0], &rest);
		if (!b) {
			/* <group>/<resource>/...: scope unknown, decided by segment count */
			k8s_next_seg(&rest, &seg);
			k8s_copy(out->group, sizeof out->group, seg);
			if (!k8s_next_seg(&rest, &seg) || seg.n == 0)
				return out->kind = K8S_KEY_NONE;
			k8s_copy(out->resource, sizeof out->resource, seg);
			scope_known = false;
		}
	} else {
		b = k8s_match(k8s_builtins, sizeof k8s_builtins / sizeof k8s_builtins[0], &rest);
		if (!b) {
			/* a resource we do not know, stored without a group: scope unknown */
			if (!k8s_next_seg(&rest, &seg) || seg.n == 0)
				return out->kind = K8S_KEY_NONE;
			k8s_copy(out->resource, sizeof out->resource, seg);
			scope_known = false;
		}
	}
	if (b) {
		k8s_copy(out->group, sizeof out->group, (struct k8s_span){b->group, strlen(b->group)});
		k8s_copy(out->resource, sizeof out->resource,
			 (struct k8s_span){b->resource, strlen(b->resource)});
		cluster = b->cluster;
	}

	/* What is left: "", "<ns>/", "<ns>/<name>" or "<name>". */
	if (rest.n == 0)
		return out->kind = K8S_KEY_RESOURCE;
	if (scope_known && cluster) {
		/* a cluster-scoped name; keep anything after it (names hold no '/') whole */
		k8s_copy(out->name, sizeof out->name, rest);
		return out->kind = K8S_KEY_OBJECT;
	}
	struct k8s_span first = {NULL, 0};
	k8s_next_seg(&rest, &first);
	bool had_slash = first.p + first.n < rest.p;
	if (!had_slash) {
		/* one segment: a namespaced resource's name without namespace is not a key the
		 * API server writes; a custom resource with 2 segments is cluster-scoped */
		k8s_copy(out->name, sizeof out->name, first);
		return out->kind = K8S_KEY_OBJECT;
	}
	k8s_copy(out->ns, sizeof out->ns, first);
	if (rest.n == 0)
		return out->kind = K8S_KEY_NAMESPACE;
	k8s_copy(out->name, sizeof out->name, rest);
	return out->kind = K8S_KEY_OBJECT;
}

/* Reads a range [key, range_end) whose end is etcd's "prefix end" of a directory D/ (D
 * followed by '0' = '/' + 1). The start is D/ itself or, for the next page of a paged
 * LIST, "<last key>\0" inside D/. Returns NONE when the range has another shape. */
static enum k8s_key_kind k8s_parse_dir_range(struct k8s_span k, struct k8s_span e,
					     const char *prefix, struct k8s_key *out)
{
	/* Directories are short; a longer range end is not one the API server sends. */
	char dirbuf[1024];
	if (e.n < 2 || e.n >= sizeof dirbuf || e.p[e.n - 1] != '/' + 1)
		return K8S_KEY_NONE;
	memcpy(dirbuf, e.p, e.n);
	dirbuf[e.n - 1] = '/';
	if (k.n < e.n || memcmp(k.p, dirbuf, e.n) != 0)
		return K8S_KEY_NONE;
	struct k8s_span d = {dirbuf, e.n};
	if (!k8s_strip_prefix(&d, prefix))
		return K8S_KEY_NONE;
	enum k8s_key_kind kk = k8s_parse_rest(d, out);
	if (kk == K8S_KEY_RESOURCE || kk == K8S_KEY_NAMESPACE || kk == K8S_KEY_SPECIAL)
		return kk;
	memset(out, 0, sizeof *out);
	return K8S_KEY_NONE;
}

/* Parses key (and range_end for a range) below prefix, without the memo. */
static enum k8s_key_kind k8s_key_parse_once(const uint8_t *key, size_t key_len,
					    const uint8_t *range_end, size_t range_end_len,
					    const char *prefix, struct k8s_key *out)
{
	memset(out, 0, sizeof *out);
	if (!key)
		return out->kind = K8S_KEY_NONE;
	if (!prefix || !*prefix)
		prefix = "/registry";

	struct k8s_span k = {(const char *)key, key_len};
	/* The API server's compaction marker lives at the root, outside the prefix. */
	if (k8s_span_eq(k, "compact_rev_key")) {
		out->special = "compact_rev_key";
		return out->kind = K8S_KEY_SPECIAL;
	}

	bool is_range = range_end && range_end_len > 0;
	if (is_range) {
		struct k8s_span e = {(const char *)range_end, range_end_len};
		enum k8s_key_kind kk = k8s_parse_dir_range(k, e, prefix, out);
		if (kk != K8S_KEY_NONE)
			return kk;
		/* another range shape: read the start key, without a page's trailing NUL */
		if (k.n > 0 && k.p[k.n - 1] == '\0')
			k.n--;
	}
	if (!k8s_strip_prefix(&k, prefix))
		return out->kind = K8S_KEY_NONE;
	enum k8s_key_kind kk = k8s_parse_rest(k, out);
	if (is_range && kk == K8S_KEY_OBJECT) {
		/* a range starting at an object covers the namespace or resource it is in */
		out->name[0] = '\0';
		return out->kind = out->ns[0] ? K8S_KEY_NAMESPACE : K8S_KEY_RESOURCE;
	}
	return kk;
}

/* ---- memo ----
 * Every record's key is parsed (meaning.c), and a capture repeats keys: the Txn that
 * writes an object, the watch events that deliver it, the next write. Parsing is a pure
 * function of (key, range_end, prefix), so the last results are kept in a small
 * direct-mapped table (a parse was ~950 instructions, a fifth of `count`'s per-record
 * work; a hit copies the struct). Keys longer than K8S_KEY_MEMO_BYTES are parsed each time. */
#define K8S_KEY_MEMO 128
#define K8S_KEY_MEMO_BYTES 200

struct k8s_key_memo {
	bool used;
	const char *prefix;        /* compared as a pointer: another pointer is a miss */
	uint32_t key_len, end_len; /* end_len 0: not a range */
	enum k8s_key_kind kind;
	struct k8s_key key;
	uint8_t bytes[K8S_KEY_MEMO_BYTES]; /* key, then range_end */
};

static struct k8s_key_memo k8s_memo[K8S_KEY_MEMO];
static bool k8s_memo_off;

void k8s_key_memo_enable(bool on)
{
	k8s_memo_off = !on;
}

/* Parses key (and range_end for a range) below prefix; see src/k8s.h. */
enum k8s_key_kind k8s_key_parse(const uint8_t *key, size_t key_len, const uint8_t *range_end,
				size_t range_end_len, const char *prefix, struct k8s_key *out)
{
	size_t end_len = range_end ? range_end_len : 0;
	if (k8s_memo_off || !key || key_len + end_len > K8S_KEY_MEMO_BYTES)
		return k8s_key_parse_once(key, key_len, range_end, range_end_len, prefix, out);
	uint64_t h = ee_hash64((uintptr_t)prefix, key, key_len);
	if (end_len)
		h = ee_hash64(h, range_end, end_len);
	struct k8s_key_memo *e = &k8s_memo[h % K8S_KEY_MEMO];
	if (e->used && e->prefix == prefix && e->key_len == key_len && e->end_len == end_len &&
	    memcmp(e->bytes, key, key_len) == 0 &&
	    (!end_len || memcmp(e->bytes + key_len, range_end, end_len) == 0)) {
		*out = e->key;
		return e->kind;
	}
	enum k8s_key_kind kind =
		k8s_key_parse_once(key, key_len, range_end, range_end_len, prefix, out);
	e->used = true;
	e->prefix = prefix;
	e->key_len = (uint32_t)key_len;
	e->end_len = (uint32_t)end_len;
	memcpy(e->bytes, key, key_len);
	if (end_len)
		memcpy(e->bytes + key_len, range_end, end_len);
	e->kind = kind;
	e->key = *out;
	return kind;
}
