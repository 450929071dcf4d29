/* sparse_check.h: the property k8s_value_decode_sparse must keep, shared by the unit test
 * (test_k8s_sparse.c) and the fuzz target (tests/fuzz/fuzz_k8s_sparse.c): for any two etcd
 * values, what the trace prints from the sparse trees (the diff with and without noise,
 * byte for byte in order; the writer; whether the generation moved; kind, apiVersion,
 * uid and generation of the new version) is what it prints from the full trees. */
#ifndef EE_SPARSE_CHECK_H
#define EE_SPARSE_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8s.h"

/* The diff as the trace writes it (insertion order kept), or a marker for NULL. */
static char *sparse_check_dump(const json_t *d)
{
	char *s = d ? json_dumps(d, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
	return s ? s : strdup("(null)");
}

static bool sparse_check_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool sparse_check_writer(const struct k8s_writer *x, const struct k8s_writer *y)
{
	return sparse_check_str(x->manager, y->manager) &&
	       sparse_check_str(x->operation, y->operation) &&
	       sparse_check_str(x->subresource, y->subresource) &&
	       sparse_check_str(x->time, y->time) &&
	       sparse_check_str(x->api_version, y->api_version);
}

static const json_t *sparse_check_meta(const struct k8s_value *v, const char *field)
{
	return json_object_get(json_object_get(v->obj, "metadata"), field);
}

/* Both absent, or both present and equal (json_equal(NULL, NULL) is false). */
static bool sparse_check_same(const json_t *a, const json_t *b)
{
	return (!a && !b) || (a && b && json_equal((json_t *)a, (json_t *)b));
}

/* Compares full and sparse decodings of (old, new); has_old false: new alone. Returns
 * NULL when they agree, else what differs (static buffer). */
static const char *sparse_check(const uint8_t *ov, size_t on, bool has_old, const uint8_t *nv,
				size_t nn, bool redact)
{
	static char why[512];
	struct k8s_value fo = {0}, fn, so, sn;
	if (k8s_value_decode_arena(nv, nn, redact, &fn) != 0)
		return NULL; /* out of memory: nothing to compare */
	if (has_old && k8s_value_decode_arena(ov, on, redact, &fo) != 0) {
		k8s_value_free(&fn);
		return NULL;
	}
	if (k8s_value_decode_sparse(nv, nn, ov, on, has_old, redact, &sn, &so) != 0) {
		k8s_value_free(&fn);
		k8s_value_free(&fo);
		return NULL;
	}
	const char *bad = NULL;
	if (!fn.obj != !sn.obj || fn.enc != sn.enc)
		bad = "new: decoded differently";
	else if (has_old && !fo.obj != !so.obj)
		bad = "old: decoded differently";
	else if (strcmp(fn.kind, sn.kind) != 0 || strcmp(fn.api_version, sn.api_version) != 0)
		bad = "kind or apiVersion";
	else if (!sparse_check_same(sparse_check_meta(&fn, "uid"), sparse_check_meta(&sn, "uid")) ||
		 !sparse_check_same(sparse_check_meta(&fn, "generation"),
				    sparse_check_meta(&sn, "generation")))
		bad = "uid or generation";
	const json_t *fold = has_old ? fo.obj : NULL, *sold = has_old ? so.obj : NULL;
	for (unsigned flags = 0; !bad && fn.obj && flags <= K8S_DIFF_NOISE; flags++) {
		json_t *df = k8s_diff(fold, fn.obj, flags), *ds = k8s_diff(sold, sn.obj, flags);
		char *a = sparse_check_dump(df), *b = sparse_check_dump(ds);
		if (strcmp(a, b) != 0) {
			snprintf(why, sizeof why, "diff (flags %u):\n  full   %.200s\n  sparse %.200s",
				 flags, a, b);
			bad = why;
		}
		if (!bad && flags == 0) {
			struct k8s_writer wf, ws;
			bool hf = k8s_writer_of_diff(fn.obj, fold, fold ? df : NULL, &wf);
			bool hs = k8s_writer_of_diff(sn.obj, sold, sold ? ds : NULL, &ws);
			if (hf != hs || (hf && !sparse_check_writer(&wf, &ws)))
				bad = "writer";
			else if (k8s_generation_bumped(fold, fn.obj) !=
				 k8s_generation_bumped(sold, sn.obj))
				bad = "generation bumped";
		}
		free(a);
		free(b);
		json_decref(df);
		json_decref(ds);
	}
	k8s_value_free(&fn);
	k8s_value_free(&fo);
	k8s_value_free(&sn);
	k8s_value_free(&so);
	return bad;
}

#endif
