/* cmd_keys.c: the key-space reports, answered from the store at the end of the capture:
 * list [PREFIX], count, get KEY [--rev N], search PATTERN [-E], custom [RESOURCE], size. */
#include <inttypes.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "k8s.h"
#include "yaml.h"

static const char *source_name(enum store_source s)
{
	return s == SRC_RANGE ? "range" : s == SRC_WRITE ? "write" : s == SRC_WATCH ? "watch" : "?";
}

static void key_meaning(const struct app *a, const struct store_key *k, struct k8s_key *kk)
{
	k8s_key_parse(k->key, k->key_len, NULL, 0, a->o->prefix, kk);
}

static bool has_prefix(const struct store_key *k, const char *p)
{
	size_t n = strlen(p);
	return k->key_len >= n && !memcmp(k->key, p, n);
}

/* The kv fields `list` and `get` share (docs/json.md). */
static void json_kv_fields(struct jw *w, const struct store_key *k, const struct store_version *v)
{
	jw_key_bytes(w, "key", k->key, k->key_len);
	jw_ki64(w, "create_revision", v->create_revision);
	jw_ki64(w, "mod_revision", v->mod_revision);
	jw_ki64(w, "version", v->version);
	jw_ku64(w, "value_size", v->value_len);
}

/* list [PREFIX]: live keys with their latest revision; deleted keys marked in text. */
static void list_finish(struct app *a)
{
	size_t n;
	struct store_key **keys = store_sorted(a->store, &n);
	const char *prefix = a->o->n_args ? a->o->args[0] : "";
	size_t shown = 0, deleted = 0;
	for (size_t i = 0; keys && i < n; i++) {
		const struct store_key *k = keys[i];
		const struct store_version *v = store_latest(k);
		if (!v || !has_prefix(k, prefix))
			continue;
		if (v->deleted) {
			deleted++;
			if (a->o->json)
				continue;
		}
		struct k8s_key kk;
		key_meaning(a, k, &kk);
		if (a->o->json) {
			struct jw *w = &a->out.jw;
			jw_reset(w);
			jw_obj_begin(w);
			json_kv_fields(w, k, v);
			jw_ki64(w, "lease", v->lease);
			out_json_k8s_key(w, &kk);
			jw_kstr(w, "source", source_name(v->source));
			jw_obj_end(w);
			out_json_emit(&a->out);
		} else {
			out_tbytes(&a->out, k->key, k->key_len);
			if (v->deleted)
				out_tprintf(&a->out, "  (deleted at rev %" PRId64 ")", v->mod_revision);
			else
				out_tprintf(&a->out, "  rev=%" PRId64 " %zu B", v->mod_revision, v->value_len);
			out_temit(&a->out);
		}
		shown++;
	}
	if (!a->o->json) {
		out_tprintf(&a->out, "# %zu key%s%s%s seen on the wire", shown - (a->o->json ? 0 : deleted),
			    shown - deleted == 1 ? "" : "s", *prefix ? " under " : "", prefix);
		if (deleted)
			out_tprintf(&a->out, ", %zu deleted", deleted);
		out_temit(&a->out);
	}
	free(keys);
}

/* Per resource type counters for count, size and custom. */
struct res_count {
	char group[128], resource[128];
	uint64_t count, bytes;
};

static int res_cmp(const void *x, const void *y)
{
	const struct res_count *a = x, *b = y;
	int c = strcmp(a->group, b->group);
	return c ? c : strcmp(a->resource, b->resource);
}

static struct res_count *count_resources(struct app *a, size_t *nres, bool custom_only)
{
	size_t n, cap = 64;
	*nres = 0;
	struct store_key **keys = store_sorted(a->store, &n);
	struct res_count *rc = calloc(cap, sizeof *rc);
	if (!keys || !rc) {
		free(keys);
		free(rc);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		const struct store_version *v = store_latest(keys[i]);
		if (!v || v->deleted)
			continue;
		struct k8s_key kk;
		key_meaning(a, keys[i], &kk);
		const char *group = kk.kind == K8S_KEY_OBJECT ? kk.group : "";
		const char *res = kk.kind == K8S_KEY_OBJECT ? kk.resource : kk.kind == K8S_KEY_SPECIAL ? "(special)" : "(other keys)";
		if (custom_only && (kk.kind != K8S_KEY_OBJECT || !k8s_group_is_custom(kk.group)))
			continue;
		size_t j;
		for (j = 0; j < *nres; j++)
			if (!strcmp(rc[j].group, group) && !strcmp(rc[j].resource, res))
				break;
		if (j == *nres) {
			if (*nres == cap) {
				struct res_count *nrc = realloc(rc, 2 * cap * sizeof *rc);
				if (!nrc)
					break;
				rc = nrc;
				memset(rc + cap, 0, cap * sizeof *rc);
				cap *= 2;
			}
			snprintf(rc[j].group, sizeof rc[j].group, "%s", group);
			snprintf(rc[j].resource, sizeof rc[j].resource, "%s", res);
			(*nres)++;
		}
		rc[j].count++;
		rc[j].bytes += keys[i]->key_len + v->value_len;
	}
	free(keys);
	qsort(rc, *nres, sizeof *rc, res_cmp);
	return rc;
}

static void count_finish(struct app *a)
{
	size_t n;
	struct res_count *rc = count_resources(a, &n, false);
	uint64_t total = 0;
	for (size_t i = 0; rc && i < n; i++) {
		total += rc[i].count;
		if (a->o->json) {
			struct jw *w = &a->out.jw;
			jw_reset(w);
			jw_obj_begin(w);
			jw_kstr(w, "group", rc[i].group);
			jw_kstr(w, "resource", rc[i].resource);
			jw_ku64(w, "count", rc[i].count);
			jw_obj_end(w);
			out_json_emit(&a->out);
		} else {
			out_tprintf(&a->out, "%8" PRIu64 "  %s%s%s", rc[i].count, rc[i].resource,
				    rc[i].group[0] ? "." : "", rc[i].group);
			out_temit(&a->out);
		}
	}
	if (!a->o->json) {
		out_tprintf(&a->out, "%8" PRIu64 "  total keys seen on the wire", total);
		out_temit(&a->out);
	}
	free(rc);
}

static void size_finish_keys(struct app *a, bool json_started)
{
	size_t n;
	struct res_count *rc = count_resources(a, &n, false);
	struct jw *w = &a->out.jw;
	if (json_started) {
		jw_key(w, "observed");
		jw_arr_begin(w);
	}
	uint64_t total = 0;
	for (size_t i = 0; rc && i < n; i++) {
		total += rc[i].bytes;
		if (json_started) {
			jw_obj_begin(w);
			jw_kstr(w, "group", rc[i].group);
			jw_kstr(w, "resource", rc[i].resource);
			jw_ku64(w, "keys", rc[i].count);
			jw_ku64(w, "bytes", rc[i].bytes);
			jw_obj_end(w);
		} else {
			out_tprintf(&a->out, "%12" PRIu64 " B  %6" PRIu64 " keys  %s%s%s", rc[i].bytes,
				    rc[i].count, rc[i].resource, rc[i].group[0] ? "." : "", rc[i].group);
			out_temit(&a->out);
		}
	}
	if (json_started) {
		jw_arr_end(w);
		jw_ku64(w, "observed_bytes", total);
	} else {
		out_tprintf(&a->out, "%12" PRIu64 " B  total of keys and values observed", total);
		out_temit(&a->out);
	}
	free(rc);
}

/* custom [RESOURCE]: custom resources grouped by group and resource. */
static void custom_finish(struct app *a)
{
	size_t n;
	struct store_key **keys = store_sorted(a->store, &n);
	const char *want = a->o->n_args ? a->o->args[0] : NULL;
	if (a->o->json) {
		for (size_t i = 0; keys && i < n; i++) {
			const struct store_version *v = store_latest(keys[i]);
			struct k8s_key kk;
			key_meaning(a, keys[i], &kk);
			if (!v || v->deleted || kk.kind != K8S_KEY_OBJECT || !k8s_group_is_custom(kk.group))
				continue;
			if (want && strcmp(want, kk.resource))
				continue;
			struct jw *w = &a->out.jw;
			jw_reset(w);
			jw_obj_begin(w);
			jw_kstr(w, "group", kk.group);
			jw_kstr(w, "resource", kk.resource);
			jw_kstr(w, "namespace", kk.ns);
			jw_kstr(w, "name", kk.name);
			jw_key_bytes(w, "key", keys[i]->key, keys[i]->key_len);
			jw_ki64(w, "mod_revision", v->mod_revision);
			jw_obj_end(w);
			out_json_emit(&a->out);
		}
		free(keys);
		return;
	}
	free(keys);
	size_t nr;
	struct res_count *rc = count_resources(a, &nr, true);
	const char *last_group = NULL;
	for (size_t i = 0; rc && i < nr; i++) {
		if (want && strcmp(want, rc[i].resource))
			continue;
		if (!last_group || strcmp(last_group, rc[i].group)) {
			out_tprintf(&a->out, "%s", rc[i].group);
			out_temit(&a->out);
			last_group = rc[i].group;
		}
		out_tprintf(&a->out, "  %-40s %" PRIu64, rc[i].resource, rc[i].count);
		out_temit(&a->out);
	}
	if (!nr) {
		out_tprintf(&a->out, "# no custom resources seen on the wire");
		out_temit(&a->out);
	}
	free(rc);
}

/* search PATTERN [-E]: keys matching a substring, or an extended regex with -E. */
static void search_finish(struct app *a)
{
	const char *pat = a->o->args[0];
	regex_t re;
	if (a->o->regex && regcomp(&re, pat, REG_EXTENDED | REG_NOSUB)) {
		fprintf(stderr, "etcd-explorer: bad regular expression '%s'\n", pat);
		return;
	}
	size_t n, hits = 0;
	struct store_key **keys = store_sorted(a->store, &n);
	for (size_t i = 0; keys && i < n; i++) {
		const struct store_key *k = keys[i];
		const struct store_version *v = store_latest(k);
		if (!v || v->deleted)
			continue;
		char *ks = strndup((const char *)k->key, k->key_len);
		if (!ks)
			break;
		bool match = a->o->regex ? regexec(&re, ks, 0, NULL, 0) == 0 : strstr(ks, pat) != NULL;
		free(ks);
		if (!match)
			continue;
		hits++;
		if (a->o->json) {
			struct k8s_key kk;
			key_meaning(a, k, &kk);
			struct jw *w = &a->out.jw;
			jw_reset(w);
			jw_obj_begin(w);
			jw_key_bytes(w, "key", k->key, k->key_len);
			jw_ki64(w, "mod_revision", v->mod_revision);
			jw_ku64(w, "value_size", v->value_len);
			out_json_k8s_key(w, &kk);
			jw_obj_end(w);
			out_json_emit(&a->out);
		} else {
			out_tbytes(&a->out, k->key, k->key_len);
			out_tprintf(&a->out, "  rev=%" PRId64, v->mod_revision);
			out_temit(&a->out);
		}
	}
	if (!a->o->json) {
		out_tprintf(&a->out, "# %zu key%s match '%s'", hits, hits == 1 ? "" : "s", pat);
		out_temit(&a->out);
	}
	free(keys);
	if (a->o->regex)
		regfree(&re);
}

static void fmt_time(ee_ts ts, char *buf, size_t n)
{
	time_t s = (time_t)(ts / 1000000);
	struct tm tm;
	gmtime_r(&s, &tm);
	snprintf(buf, n, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ts % 1000000));
}

/* Resolves `get`'s argument: a key, or resource/namespace/name, or resource/name. */
static struct store_key *find_key(struct app *a, const char *arg)
{
	struct store_key *k = store_get(a->store, (const uint8_t *)arg, strlen(arg));
	if (k || arg[0] == '/')
		return k;
	char buf[1024];
	snprintf(buf, sizeof buf, "%s/%s", a->o->prefix, arg);
	k = store_get(a->store, (const uint8_t *)buf, strlen(buf));
	if (k)
		return k;
	/* resource.group/ns/name for custom resources: /registry/group/resource/ns/name */
	const char *slash = strchr(arg, '/');
	const char *dot = memchr(arg, '.', slash ? (size_t)(slash - arg) : strlen(arg));
	if (dot && slash) {
		snprintf(buf, sizeof buf, "%s/%.*s/%.*s%s", a->o->prefix, (int)(slash - dot - 1), dot + 1,
			 (int)(dot - arg), arg, slash);
		k = store_get(a->store, (const uint8_t *)buf, strlen(buf));
	}
	return k;
}

static void get_finish(struct app *a)
{
	const char *arg = a->o->args[0];
	struct store_key *k = find_key(a, arg);
	const struct store_version *v = k ? store_at(k, a->o->rev) : NULL;
	if (!k || !v) {
		fprintf(stderr, "etcd-explorer: key '%s' %s in the capture\n", arg,
			k ? "has no revision at or before --rev" : "was not seen");
		return;
	}
	struct k8s_value val;
	bool have_val = v->value && !v->deleted && k8s_value_decode(v->value, v->value_len, &val) == 0;
	if (have_val && val.obj && !a->o->show_secrets)
		k8s_redact_secrets(val.obj);
	if (a->o->json) {
		struct jw *w = &a->out.jw;
		jw_reset(w);
		jw_obj_begin(w);
		json_kv_fields(w, k, v);
		if (v->deleted)
			jw_kbool(w, "deleted", true);
		jw_key(w, "object");
		if (have_val && val.obj) {
			char *s = json_dumps(val.obj, JSON_COMPACT);
			jw_raw(w, s ? s : "null", s ? strlen(s) : 4);
			free(s);
		} else if (have_val && val.enc == K8S_ENC_ENCRYPTED) {
			jw_obj_begin(w);
			jw_kstr(w, "encrypted", val.enc_provider);
			jw_kstr(w, "key", val.enc_key);
			jw_obj_end(w);
		} else if (have_val) {
			/* plain bytes: {"value": text} or {"value_b64": ...} (docs/json.md) */
			jw_obj_begin(w);
			jw_key_bytes(w, "value", v->value, v->value_len);
			jw_obj_end(w);
		} else {
			jw_null(w);
		}
		jw_key(w, "history");
		jw_arr_begin(w);
		for (int i = 0; i < k->n; i++) {
			const struct store_version *h = store_version_nth(k, i);
			jw_obj_begin(w);
			jw_ki64(w, "revision", h->mod_revision);
			jw_kstr(w, "op", h->deleted ? "delete" : "put");
			jw_key(w, "manager");
			if (h->manager[0])
				jw_str(w, h->manager);
			else
				jw_null(w);
			if (h->operation[0])
				jw_kstr(w, "operation", h->operation);
			if (h->subresource[0])
				jw_kstr(w, "subresource", h->subresource);
			jw_kstr(w, "seen_in", source_name(h->source));
			jw_obj_end(w);
		}
		jw_arr_end(w);
		jw_obj_end(w);
		out_json_emit(&a->out);
	} else {
		out_tprintf(&a->out, "# ");
		out_tbytes(&a->out, k->key, k->key_len);
		out_tprintf(&a->out, "  create_rev=%" PRId64 " mod_rev=%" PRId64 " version=%" PRId64 " %zu B%s",
			    v->create_revision, v->mod_revision, v->version, v->value_len,
			    v->deleted ? " (deleted)" : "");
		out_temit(&a->out);
		if (have_val && val.obj) {
			yaml_print_object(&a->out, val.obj);
		} else if (have_val && val.enc == K8S_ENC_ENCRYPTED) {
			out_tprintf(&a->out, "# encrypted at rest: provider %s, key %s", val.enc_provider, val.enc_key);
			out_temit(&a->out);
		} else if (have_val) {
			out_tprintf(&a->out, "value: ");
			out_tbytes(&a->out, v->value, v->value_len);
			out_temit(&a->out);
		} else if (!v->deleted) {
			out_tprintf(&a->out, "# value not captured (keys-only read, or dropped by --max-mem)");
			out_temit(&a->out);
		}
		out_tprintf(&a->out, "# history (revisions seen on the wire):");
		out_temit(&a->out);
		for (int i = 0; i < k->n; i++) {
			const struct store_version *h = store_version_nth(k, i);
			char t[80];
			fmt_time(h->ts, t, sizeof t);
			out_tprintf(&a->out, "#   rev %-8" PRId64 " %-6s %s  by %s%s%s%s%s  (seen in %s)",
				    h->mod_revision, h->deleted ? "delete" : "put", t,
				    h->manager[0] ? h->manager : "?", h->operation[0] ? " " : "", h->operation,
				    h->subresource[0] ? " " : "", h->subresource, source_name(h->source));
			out_temit(&a->out);
		}
		if (k->forgotten) {
			out_tprintf(&a->out, "#   (%" PRIu64 " older revisions not kept)", k->forgotten);
			out_temit(&a->out);
		}
	}
	if (have_val)
		k8s_value_free(&val);
}

static void ignore_record(struct app *a, const struct etcd_record *r, const struct meaning *m) {}

const struct command_ops cmd_list = {.name = "list", .keys_only = true, .on_record = ignore_record, .finish = list_finish};
const struct command_ops cmd_count = {.name = "count", .keys_only = true, .on_record = ignore_record, .finish = count_finish};
const struct command_ops cmd_custom = {.name = "custom", .keys_only = true, .on_record = ignore_record, .finish = custom_finish};
/* A bad -E pattern is an error before any packet is read, not an empty answer. */
static int search_start(struct app *a)
{
	regex_t re;
	if (!a->o->regex || !a->o->n_args)
		return 0;
	if (regcomp(&re, a->o->args[0], REG_EXTENDED | REG_NOSUB)) {
		fprintf(stderr, "etcd-explorer: bad regular expression '%s'\n", a->o->args[0]);
		return -1;
	}
	regfree(&re);
	return 0;
}

const struct command_ops cmd_search = {.name = "search", .keys_only = true, .start = search_start,
				       .on_record = ignore_record, .finish = search_finish};
const struct command_ops cmd_get = {.name = "get", .on_record = ignore_record, .finish = get_finish};

/* Exposed for cmd_status.c's `size`. */
void keys_size_report(struct app *a, bool json_started) { size_finish_keys(a, json_started); }
