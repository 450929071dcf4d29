/* k8s_diff.c: what a write changed in a Kubernetes object (k8s stage, DESIGN.md "k8s"):
 * a field-level diff of two decoded trees, whether the spec changed (generation), and
 * which managedFields entry names the writer. Works on the JSON trees k8s_value.c builds,
 * so protobuf and JSON objects are treated alike. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8s.h"

/* Largest path buffer kept between diffs. */
#define K8S_PATH_KEEP 4096

/* A growable path buffer ("spec.template.spec.containers[0].image"). */
struct k8s_path {
	char *s;
	size_t len, cap;
	bool nomem;
};

/* Appends sep (0: none) and text[0..n) to the path; returns the old length to restore
 * later. Lengths are passed in: this runs for every node of both trees. */
static size_t k8s_path_push(struct k8s_path *p, char sep, const char *text, size_t n)
{
	size_t old = p->len;
	size_t add = (sep != 0) + n;
	if (p->len + add + 1 > p->cap) {
		size_t cap = (p->len + add + 1) * 2;
		char *s = realloc(p->s, cap);
		if (!s) {
			p->nomem = true;
			return old;
		}
		p->s = s;
		p->cap = cap;
	}
	if (sep)
		p->s[p->len++] = sep;
	memcpy(p->s + p->len, text, n);
	p->len += n;
	p->s[p->len] = '\0';
	return old;
}

/* Appends ".key" (or "key" at the top). */
static size_t k8s_path_push_key(struct k8s_path *p, const char *k, size_t n)
{
	return k8s_path_push(p, p->len ? '.' : 0, k, n);
}

/* Appends "[i]". */
static size_t k8s_path_push_index(struct k8s_path *p, size_t i)
{
	char b[24];
	char *d = b + sizeof b;
	*--d = ']';
	do {
		*--d = (char)('0' + i % 10);
		i /= 10;
	} while (i);
	*--d = '[';
	return k8s_path_push(p, 0, d, (size_t)(b + sizeof b - d));
}

static void k8s_path_pop(struct k8s_path *p, size_t old)
{
	p->len = old;
	if (p->s)
		p->s[old] = '\0';
}

/* Paths that change on every write and say nothing about intent. */
static bool k8s_path_is_noise(const char *path)
{
	static const char mf[] = "metadata.managedFields";
	if (path[0] != 'm')
		return false; /* most paths: no strlen, no compare */
	size_t n = strlen(path);
	if (strcmp(path, "metadata.resourceVersion") == 0)
		return true;
	if (n < sizeof mf - 1 || memcmp(path, mf, sizeof mf - 1) != 0)
		return false;
	return n == sizeof mf - 1 || path[sizeof mf - 1] == '[' || path[sizeof mf - 1] == '.';
}

/* Appends {"path", "old"?, "new"?} to out. The path is made of the trees' keys and array
 * indices, valid UTF-8 already: jansson's checks are skipped (_nocheck). */
static void k8s_diff_emit(json_t *out, const struct k8s_path *p, const json_t *old_v,
			  const json_t *new_v)
{
	json_t *e = json_object();
	if (!e)
		return;
	json_object_set_new_nocheck(e, "path", json_stringn_nocheck(p->s, p->len));
	if (old_v)
		json_object_set_new_nocheck(e, "old", json_deep_copy(old_v));
	if (new_v)
		json_object_set_new_nocheck(e, "new", json_deep_copy(new_v));
	json_array_append_new(out, e);
}

/* Compares a and b at path, appending changes to out. Recursion stops at K8S_MAX_DEPTH:
 * deeper subtrees are compared whole. */
static void k8s_diff_walk(json_t *out, struct k8s_path *p, const json_t *a, const json_t *b,
			  int depth, unsigned flags)
{
	if (p->nomem)
		return;
	if (!(flags & K8S_DIFF_NOISE) && k8s_path_is_noise(p->s))
		return;
	if (depth < K8S_MAX_DEPTH && json_is_object(a) && json_is_object(b)) {
		/* Two values of one object usually have the same keys in the same order
		 * (jansson keeps insertion order, and both were decoded from one schema):
		 * a's keys are walked alongside b's and a hash lookup is made only where
		 * they part. When every key matched in place and the sizes are equal, a
		 * has no key b lacks, and the second loop is skipped. */
		const char *k;
		size_t kn;
		const json_t *bv;
		void *ia = json_object_iter((json_t *)a);
		bool aligned = json_object_size(a) == json_object_size(b);
		json_object_keylen_foreach((json_t *)b, k, kn, bv) {
			size_t old = k8s_path_push_key(p, k, kn);
			const json_t *av;
			if (ia && json_object_iter_key_len(ia) == kn &&
			    memcmp(json_object_iter_key(ia), k, kn) == 0) {
				av = json_object_iter_value(ia);
			} else {
				av = json_object_getn(a, k, kn);
				aligned = false;
			}
			if (ia)
				ia = json_object_iter_next((json_t *)a, ia);
			if (!av) {
				if ((flags & K8S_DIFF_NOISE) || !k8s_path_is_noise(p->s))
					k8s_diff_emit(out, p, NULL, bv);
			} else {
				k8s_diff_walk(out, p, av, bv, depth + 1, flags);
			}
			k8s_path_pop(p, old);
		}
		if (aligned)
			return;
		const json_t *av;
		json_object_keylen_foreach((json_t *)a, k, kn, av) {
			if (json_object_getn(b, k, kn))
				continue;
			size_t old = k8s_path_push_key(p, k, kn);
			if ((flags & K8S_DIFF_NOISE) || !k8s_path_is_noise(p->s))
				k8s_diff_emit(out, p, av, NULL);
			k8s_path_pop(p, old);
		}
		return;
	}
	if (depth < K8S_MAX_DEPTH && json_is_array(a) && json_is_array(b)) {
		size_t na = json_array_size(a), nb = json_array_size(b);
		for (size_t i = 0; i < na || i < nb; i++) {
			size_t old = k8s_path_push_index(p, i);
			if (i < na && i < nb)
				k8s_diff_walk(out, p, json_array_get(a, i), json_array_get(b, i),
					      depth + 1, flags);
			else
				k8s_diff_emit(out, p, i < na ? json_array_get(a, i) : NULL,
					      i < nb ? json_array_get(b, i) : NULL);
			k8s_path_pop(p, old);
		}
		return;
	}
	if (!json_equal((json_t *)a, (json_t *)b))
		k8s_diff_emit(out, p, a, b);
}

/* Field-level diff old -> new; see src/k8s.h. */
json_t *k8s_diff(const json_t *old_obj, const json_t *new_obj, unsigned flags)
{
	json_t *out = json_array();
	if (!out || !old_obj || !new_obj)
		return out;
	/* the path buffer is kept from one diff to the next (one per write: no malloc each
	 * time); single-threaded, and k8s_diff does not call itself */
	static char *path_buf;
	static size_t path_cap;
	struct k8s_path p = {path_buf, 0, path_cap, false};
	k8s_path_push(&p, 0, "", 0);
	k8s_diff_walk(out, &p, old_obj, new_obj, 0, flags);
	bool nomem = p.nomem;
	if (p.cap > K8S_PATH_KEEP) {
		free(p.s); /* a pathological depth: not kept */
		p.s = NULL;
		p.cap = 0;
	}
	path_buf = p.s;
	path_cap = p.cap;
	if (nomem) {
		json_decref(out);
		return NULL;
	}
	return out;
}

/* metadata.generation, or -1 when absent. */
static json_int_t k8s_generation(const json_t *obj)
{
	const json_t *g = json_object_get(json_object_get(obj, "metadata"), "generation");
	return json_is_integer(g) ? json_integer_value(g) : -1;
}

/* True when metadata.generation moved (the API server bumps it on spec changes only). */
bool k8s_generation_bumped(const json_t *old_obj, const json_t *new_obj)
{
	if (!old_obj || !new_obj)
		return false;
	return k8s_generation(old_obj) != k8s_generation(new_obj);
}

/* A string member of a managedFields entry, "" when absent. */
static const char *k8s_mf_str(const json_t *e, const char *k)
{
	const char *s = json_string_value(json_object_get(e, k));
	return s ? s : "";
}

/* True when two managedFields entries record the same write. */
static bool k8s_mf_same(const json_t *a, const json_t *b)
{
	static const char *const keys[] = {"manager", "operation", "subresource", "apiVersion",
					   "time"};
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		if (strcmp(k8s_mf_str(a, keys[i]), k8s_mf_str(b, keys[i])) != 0)
			return false;
	const json_t *fa = json_object_get(a, "fieldsV1"), *fb = json_object_get(b, "fieldsV1");
	if (!fa || !fb)
		return fa == fb;
	return json_equal((json_t *)fa, (json_t *)fb);
}

/* True when every (non-noise) change between old and new is under status. diff: the
 * k8s_diff(old, new, 0) the caller already has, or NULL to compute it here. */
static bool k8s_status_only(const json_t *old_obj, const json_t *new_obj, const json_t *diff)
{
	if (!old_obj)
		return false;
	json_t *d = diff ? (json_t *)diff : k8s_diff(old_obj, new_obj, 0);
	bool only = json_array_size(d) > 0;
	size_t i;
	json_t *e;
	json_array_foreach(d, i, e) {
		const char *path = json_string_value(json_object_get(e, "path"));
		if (!path || strncmp(path, "status", 6) != 0 ||
		    (path[6] != '\0' && path[6] != '.' && path[6] != '['))
			only = false;
	}
	if (!diff)
		json_decref(d);
	return only;
}

/* The managedFields entry this write added or updated; see src/k8s.h. */
bool k8s_writer_of(const json_t *new_obj, const json_t *old_obj, struct k8s_writer *w)
{
	return k8s_writer_of_diff(new_obj, old_obj, NULL, w);
}

/* The same with the diff old -> new (flags 0) when the caller has it; see src/k8s.h. */
bool k8s_writer_of_diff(const json_t *new_obj, const json_t *old_obj, const json_t *diff,
			struct k8s_writer *w)
{
	memset(w, 0, sizeof *w);
	const json_t *mf = json_object_get(json_object_get(new_obj, "metadata"), "managedFields");
	const json_t *old_mf =
		old_obj ? json_object_get(json_object_get(old_obj, "metadata"), "managedFields") : NULL;
	if (!json_is_array(mf))
		return false;
	bool status_only = k8s_status_only(old_obj, new_obj, diff);
	const json_t *best = NULL;
	/* two passes when only status changed: entries of the status subresource first */
	for (int pass = status_only ? 0 : 1; pass < 2 && !best; pass++) {
		size_t i;
		const json_t *e;
		json_array_foreach(mf, i, e) {
			if (!json_is_object(e))
				continue;
			if (pass == 0 && strcmp(k8s_mf_str(e, "subresource"), "status") != 0)
				continue;
			bool known = false;
			size_t j;
			const json_t *o;
			json_array_foreach(old_mf, j, o) {
				if (k8s_mf_same(e, o)) {
					known = true;
					break;
				}
			}
			if (known)
				continue;
			/* RFC 3339 times in one format order as strings; ties go to the last */
			if (!best || strcmp(k8s_mf_str(e, "time"), k8s_mf_str(best, "time")) >= 0)
				best = e;
		}
	}
	if (!best)
		return false;
	w->manager = k8s_mf_str(best, "manager");
	w->operation = k8s_mf_str(best, "operation");
	w->subresource = k8s_mf_str(best, "subresource");
	w->time = k8s_mf_str(best, "time");
	w->api_version = k8s_mf_str(best, "apiVersion");
	return true;
}
