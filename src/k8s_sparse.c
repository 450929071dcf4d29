/* k8s_sparse.c: decodes two versions of one object for what a write changed (k8s stage,
 * issue 6), instead of decoding both whole (see k8s_value_decode_sparse in k8s.h).
 *
 * The API server writes a version of an object as one protobuf encoding, fields in field
 * number order (gogo-protobuf), map entries sorted by key. Where two versions' encodings
 * of a field are byte for byte equal, their decodings are equal and the diff has nothing
 * there: such fields are left out of both trees. What differs is decoded with k8s_value.c's
 * own field decoder (k8s_pb.h), so the trees hold, field for field, what the full decoding
 * holds, minus equal parts:
 *   - a singular message field that differs is walked the same way, one level down;
 *   - a repeated message field keeps its length: equal elements become `true` in both
 *     trees (the diff compares arrays by index), differing ones are walked;
 *   - a map<string, string> keeps only the entries whose encodings differ (the diff
 *     compares maps by key);
 *   - anything else that differs (scalars, strings, special renderings such as Time or
 *     Quantity, unknown fields, a field seen twice) is decoded whole in both.
 * k8s_diff of the two trees is then k8s_diff of the full trees. The fields the printers and
 * the writer read are decoded even when equal: metadata.uid, generation and managedFields
 * (apiVersion and kind come from the envelope). With no old version, only those are.
 *
 * A level whose encoding is not as the API server writes it (fields out of order, bytes
 * that do not parse, a cut value) is decoded whole in both versions: slower, same result.
 * The walk stops being sparse below K8S_SPARSE_MAX_DEPTH, far above the depth of real
 * objects and below the diff's own limit (K8S_MAX_DEPTH), where whole subtrees compare. */
#include <stdlib.h>
#include <string.h>

#include "k8s_pb.h"

/* Decoder depth below which fields are compared one by one (tree depth at most twice
 * this: arrays add a level). */
#define K8S_SPARSE_MAX_DEPTH 16

/* Entries of the field stack kept between calls (40 bytes each). */
#define K8S_SPARSE_OCC_KEEP 4096

/* First arena block: the trees hold the changed fields only, a few hundred bytes. */
#define K8S_SPARSE_FIRST_BLOCK 4096

/* One field of a message as it is on the wire. */
struct k8s_occ {
	uint32_t num;
	uint8_t wt;
	const uint8_t *start, *end; /* the whole field, tag included */
	const uint8_t *pay;         /* length-delimited: the value */
	size_t plen;
};

/* Which fields a level always decodes. */
enum k8s_level { K8S_LV_PLAIN, K8S_LV_TOP, K8S_LV_META };

struct k8s_sparse {
	struct k8s_walk w;
	bool single;            /* no old version: only the always-read fields */
	struct k8s_occ *occ;    /* a stack shared by the levels of the walk */
	size_t n, cap;
};

/* Appends the fields of p[0..n) to the stack; *first: where they start. False when the
 * bytes do not parse or the field numbers go down (not the API server's encoding); the
 * stack is then as before. */
static bool k8s_scan(struct k8s_sparse *c, const uint8_t *p, size_t n, size_t *first)
{
	struct rd r;
	rd_init(&r, p, n);
	*first = c->n;
	uint32_t last = 0;
	while (rd_left(&r) > 0) {
		const uint8_t *start = r.p;
		uint64_t tag;
		const uint8_t *pay;
		size_t plen;
		if (!rd_pb_field(&r, &tag, &pay, &plen))
			goto bad;
		uint64_t num = tag >> 3;
		unsigned wt = (unsigned)(tag & 7);
		if (num == 0 || num > 0x1fffffff || num < last)
			goto bad;
		if (c->n == c->cap) {
			size_t cap = c->cap ? 2 * c->cap : 64;
			struct k8s_occ *v = realloc(c->occ, cap * sizeof *v);
			if (!v) {
				c->w.nomem = true;
				goto bad;
			}
			c->occ = v;
			c->cap = cap;
		}
		c->occ[c->n++] = (struct k8s_occ){(uint32_t)num, (uint8_t)wt, start, r.p, pay, plen};
		last = (uint32_t)num;
	}
	return true;
bad:
	c->n = *first;
	return false;
}

static void k8s_sparse_pair(struct k8s_sparse *c, const ProtobufCMessageDescriptor *d,
			    const uint8_t *a, size_t an, const uint8_t *b, size_t bn, int depth,
			    enum k8s_level lv, json_t **oa, json_t **ob);

/* The full walk of p[0..n) into *o: a new object, or added to the one given. */
static void k8s_sparse_whole(struct k8s_sparse *c, const ProtobufCMessageDescriptor *d,
			     const uint8_t *p, size_t n, int depth, json_t **o)
{
	json_t *m = k8s_pb_message(&c->w, d, p, n, depth, false);
	if (!*o) {
		*o = m;
	} else if (!m || json_object_update(*o, m) != 0) {
		c->w.nomem = true;
	}
	if (*o != m)
		json_decref(m);
}

/* Decodes the fields [i, j) of the stack into obj, a message of type d, as the full walk
 * does (they parsed already: only running out of memory can fail). The one other way
 * k8s_pb_field can stop a message is a malformed packed repeated scalar (K8S_FIELD_BAD,
 * then "#truncated"); proto/k8s.proto declares no packed scalars, so it cannot happen
 * here. A schema that adds one must make k8s_scan check its payload and fall back to the
 * whole walk, or the two decodings would part (review note, helper-28). */
static void k8s_full_run(struct k8s_sparse *c, const ProtobufCMessageDescriptor *d, json_t *obj,
			 size_t i, size_t j, int depth)
{
	for (; i < j && !c->w.nomem; i++) {
		struct rd r;
		rd_init(&r, c->occ[i].start, (size_t)(c->occ[i].end - c->occ[i].start));
		if (k8s_pb_field(&c->w, d, obj, &r, depth, false) == K8S_FIELD_FAIL)
			c->w.nomem = true;
	}
}

static bool k8s_span_equal(const struct k8s_sparse *c, size_t ia, size_t ja, size_t ib, size_t jb)
{
	size_t na = (size_t)(c->occ[ja - 1].end - c->occ[ia].start);
	size_t nb = (size_t)(c->occ[jb - 1].end - c->occ[ib].start);
	return na == nb && memcmp(c->occ[ia].start, c->occ[ib].start, na) == 0;
}

/* Sets name in obj to v (stolen); NULL v: out of memory. */
static void k8s_sparse_set(struct k8s_sparse *c, json_t *obj, const char *name, json_t *v)
{
	if (!v || json_object_set_new_nocheck(obj, name, v) != 0)
		c->w.nomem = true;
}

/* A repeated message field: index by index, equal elements as `true` in both. */
static void k8s_sparse_array(struct k8s_sparse *c, const ProtobufCFieldDescriptor *fd, int depth,
			     size_t ia, size_t ja, size_t ib, size_t jb, json_t *oa, json_t *ob)
{
	json_t *arr_a = json_array(), *arr_b = json_array();
	size_t na = ja - ia, nb = jb - ib;
	for (size_t i = 0; (i < na || i < nb) && arr_a && arr_b && !c->w.nomem; i++) {
		json_t *va = NULL, *vb = NULL;
		if (i < na && i < nb) {
			const struct k8s_occ *x = &c->occ[ia + i], *y = &c->occ[ib + i];
			if (x->plen == y->plen && memcmp(x->pay, y->pay, x->plen) == 0) {
				va = json_true();
				vb = json_true();
			} else {
				const uint8_t *xp = x->pay, *yp = y->pay;
				size_t xn = x->plen, yn = y->plen;
				k8s_sparse_pair(c, fd->descriptor, xp, xn, yp, yn, depth + 1,
						K8S_LV_PLAIN, &va, &vb);
			}
		} else if (i < na) {
			va = k8s_len_json(&c->w, fd, c->occ[ia + i].pay, c->occ[ia + i].plen, depth, false);
		} else {
			vb = k8s_len_json(&c->w, fd, c->occ[ib + i].pay, c->occ[ib + i].plen, depth, false);
		}
		/* va is made where i < na, vb where i < nb */
		if (i < na && (!va || json_array_append_new(arr_a, va) != 0))
			c->w.nomem = true;
		if (i < nb && (!vb || json_array_append_new(arr_b, vb) != 0))
			c->w.nomem = true;
	}
	k8s_sparse_set(c, oa, fd->name, arr_a);
	k8s_sparse_set(c, ob, fd->name, arr_b);
}

/* The key of a map<string, string> entry; false when the full walk would not read the
 * entry as one (k8s_string_entry). */
static bool k8s_entry_key(const struct k8s_occ *o, const uint8_t **k, size_t *kn)
{
	const uint8_t *kv[2];
	size_t n[2];
	if (!k8s_string_entry(o->pay, o->plen, kv, n))
		return false;
	*k = kv[0];
	*kn = n[0];
	return true;
}

static int k8s_key_cmp(const uint8_t *x, size_t xn, const uint8_t *y, size_t yn)
{
	int c = memcmp(x, y, xn < yn ? xn : yn);
	return c ? c : xn < yn ? -1 : xn > yn;
}

/* True when the entries [i, j) have usable keys in strictly increasing order (a repeated
 * key would make "last one wins" depend on entries left out). */
static bool k8s_entries_sorted(const struct k8s_sparse *c, size_t i, size_t j)
{
	const uint8_t *pk = NULL;
	size_t pn = 0;
	for (; i < j; i++) {
		const uint8_t *k;
		size_t kn;
		if (!k8s_entry_key(&c->occ[i], &k, &kn) || (pk && k8s_key_cmp(pk, pn, k, kn) >= 0))
			return false;
		pk = k;
		pn = kn;
	}
	return true;
}

/* A map<string, string> field: only the entries whose encodings differ, merged by key.
 * False (nothing done) when the entries are not usable that way. */
static bool k8s_sparse_map(struct k8s_sparse *c, const ProtobufCMessageDescriptor *d,
			   const ProtobufCFieldDescriptor *fd, int depth, size_t ia, size_t ja,
			   size_t ib, size_t jb, json_t *oa, json_t *ob)
{
	const ProtobufCMessageDescriptor *ed = fd->descriptor;
	if (ed->fields[0].type != PROTOBUF_C_TYPE_STRING ||
	    ed->fields[1].type != PROTOBUF_C_TYPE_STRING || !k8s_entries_sorted(c, ia, ja) ||
	    !k8s_entries_sorted(c, ib, jb))
		return false;
	/* the full walk makes the map at the first entry, which both have */
	k8s_sparse_set(c, oa, fd->name, json_object());
	k8s_sparse_set(c, ob, fd->name, json_object());
	size_t i = ia, j = ib;
	while ((i < ja || j < jb) && !c->w.nomem) {
		int cmp;
		if (i < ja && j < jb) {
			const uint8_t *ka = NULL, *kb = NULL;
			size_t kan = 0, kbn = 0; /* set: the entries were checked */
			k8s_entry_key(&c->occ[i], &ka, &kan);
			k8s_entry_key(&c->occ[j], &kb, &kbn);
			cmp = k8s_key_cmp(ka, kan, kb, kbn);
		} else {
			cmp = i < ja ? -1 : 1;
		}
		if (cmp == 0) {
			const struct k8s_occ *x = &c->occ[i], *y = &c->occ[j];
			if (x->plen != y->plen || memcmp(x->pay, y->pay, x->plen) != 0) {
				k8s_full_run(c, d, oa, i, i + 1, depth);
				k8s_full_run(c, d, ob, j, j + 1, depth);
			}
			i++;
			j++;
		} else if (cmp < 0) {
			k8s_full_run(c, d, oa, i, i + 1, depth);
			i++;
		} else {
			k8s_full_run(c, d, ob, j, j + 1, depth);
			j++;
		}
	}
	return true;
}

/* Fields a level decodes even when equal: 1 for metadata under the top (walked as
 * K8S_LV_META), 2 for the metadata fields the printers and the writer read. */
static int k8s_must(enum k8s_level lv, const ProtobufCFieldDescriptor *fd)
{
	if (!fd || lv == K8S_LV_PLAIN)
		return 0;
	if (lv == K8S_LV_TOP)
		return strcmp(fd->name, "metadata") == 0;
	return strcmp(fd->name, "uid") == 0 || strcmp(fd->name, "generation") == 0 ||
			       strcmp(fd->name, "managedFields") == 0
		       ? 2
		       : 0;
}

/* True when every field of [i, j) is length-delimited (a message, as the schema says). */
static bool k8s_all_len(const struct k8s_sparse *c, size_t i, size_t j)
{
	for (; i < j; i++)
		if (c->occ[i].wt != 2)
			return false;
	return true;
}

/* One field number: the runs [ia, ja) of the old version and [ib, jb) of the new. */
static void k8s_sparse_run(struct k8s_sparse *c, const ProtobufCMessageDescriptor *d, int depth,
			   enum k8s_level lv, uint32_t num, size_t ia, size_t ja, size_t ib,
			   size_t jb, json_t *oa, json_t *ob)
{
	const ProtobufCFieldDescriptor *fd =
		d ? protobuf_c_message_descriptor_get_field(d, num) : NULL;
	int must = k8s_must(lv, fd);
	bool in_a = ja > ia, in_b = jb > ib;
	bool msg = fd && fd->type == PROTOBUF_C_TYPE_MESSAGE && depth + 1 < K8S_SPARSE_MAX_DEPTH &&
		   !k8s_is_special(fd->descriptor) && k8s_all_len(c, ia, ja) && k8s_all_len(c, ib, jb);
	if (c->single) {
		if (must == 1 && msg && jb - ib == 1 && fd->label != PROTOBUF_C_LABEL_REPEATED) {
			json_t *vb = NULL;
			k8s_sparse_pair(c, fd->descriptor, NULL, 0, c->occ[ib].pay, c->occ[ib].plen,
					depth + 1, K8S_LV_META, NULL, &vb);
			k8s_sparse_set(c, ob, fd->name, vb);
		} else if (must) {
			k8s_full_run(c, d, ob, ib, jb, depth);
		}
		return;
	}
	if (!in_a || !in_b) {
		k8s_full_run(c, d, oa, ia, ja, depth);
		k8s_full_run(c, d, ob, ib, jb, depth);
		return;
	}
	if (must != 2 && msg) {
		if (k8s_is_map_entry(fd->descriptor)) {
			if (k8s_span_equal(c, ia, ja, ib, jb) ||
			    k8s_sparse_map(c, d, fd, depth, ia, ja, ib, jb, oa, ob))
				return;
		} else if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
			if (!k8s_span_equal(c, ia, ja, ib, jb))
				k8s_sparse_array(c, fd, depth, ia, ja, ib, jb, oa, ob);
			return;
		} else if (ja - ia == 1 && jb - ib == 1) {
			if (!must && k8s_span_equal(c, ia, ja, ib, jb))
				return;
			json_t *va = NULL, *vb = NULL;
			const struct k8s_occ x = c->occ[ia], y = c->occ[ib];
			k8s_sparse_pair(c, fd->descriptor, x.pay, x.plen, y.pay, y.plen, depth + 1,
					must ? K8S_LV_META : K8S_LV_PLAIN, &va, &vb);
			k8s_sparse_set(c, oa, fd->name, va);
			k8s_sparse_set(c, ob, fd->name, vb);
			return;
		}
	}
	if (!must && k8s_span_equal(c, ia, ja, ib, jb))
		return;
	k8s_full_run(c, d, oa, ia, ja, depth);
	k8s_full_run(c, d, ob, ib, jb, depth);
}

/* Walks a message of type d in both versions (a: old, absent when c->single) at depth
 * into *oa and *ob: new objects, or the ones given (not NULL: the top, which holds
 * apiVersion and kind already). */
static void k8s_sparse_pair(struct k8s_sparse *c, const ProtobufCMessageDescriptor *d,
			    const uint8_t *a, size_t an, const uint8_t *b, size_t bn, int depth,
			    enum k8s_level lv, json_t **oa, json_t **ob)
{
	size_t mark = c->n, fa, fb;
	if (!c->single && lv == K8S_LV_PLAIN && an == bn && memcmp(a, b, an) == 0) {
		*oa = json_object();
		*ob = json_object();
		return;
	}
	if ((!c->single && !k8s_scan(c, a, an, &fa)) || !k8s_scan(c, b, bn, &fb)) {
		c->n = mark;
		if (!c->single)
			k8s_sparse_whole(c, d, a, an, depth, oa);
		k8s_sparse_whole(c, d, b, bn, depth, ob);
		return;
	}
	if (c->single)
		fa = fb; /* no old fields */
	size_t ea = fb, eb = c->n;
	if (!c->single && !*oa && !(*oa = json_object()))
		c->w.nomem = true;
	if (!*ob && !(*ob = json_object()))
		c->w.nomem = true;
	size_t ia = fa, ib = fb;
	while ((ia < ea || ib < eb) && !c->w.nomem) {
		uint32_t na = ia < ea ? c->occ[ia].num : UINT32_MAX;
		uint32_t nb = ib < eb ? c->occ[ib].num : UINT32_MAX;
		uint32_t num = na < nb ? na : nb;
		size_t ja = ia, jb = ib;
		while (ja < ea && c->occ[ja].num == num)
			ja++;
		while (jb < eb && c->occ[jb].num == num)
			jb++;
		k8s_sparse_run(c, d, depth, lv, num, ia, ja, ib, jb, c->single ? NULL : *oa, *ob);
		ia = ja;
		ib = jb;
	}
	c->n = mark;
}

/* The full decodings, into one arena, when the versions cannot be compared by fields. */
static int k8s_sparse_fallback(const uint8_t *nv, size_t nn, const uint8_t *ov, size_t on,
			       bool has_old, bool redact, struct k8s_value *new_out,
			       struct k8s_value *old_out)
{
	int rc = k8s_value_decode_arena(nv, nn, redact, new_out);
	if (rc == 0 && has_old)
		rc = k8s_value_decode_arena(ov, on, redact, old_out);
	if (rc != 0) {
		k8s_value_free(new_out);
		k8s_value_free(old_out);
	}
	return rc;
}

/* The top object of a version: apiVersion and kind first, as in Kubernetes' JSON (and
 * k8s_protobuf_value); the walk adds the object's fields after them. */
static json_t *k8s_sparse_top(struct k8s_sparse *c, const char *av, const char *kind)
{
	json_t *top = json_object();
	if (!top || json_object_set_new(top, "apiVersion", json_string(av)) != 0 ||
	    json_object_set_new(top, "kind", json_string(kind)) != 0)
		c->w.nomem = true;
	return top;
}

/* Makes *out from a walked top object (stolen). */
static int k8s_sparse_value(json_t *top, size_t size, bool redact, struct k8s_arena *a,
			    struct k8s_value *out)
{
	out->enc = K8S_ENC_PROTOBUF;
	out->obj = top;
	if (redact)
		k8s_redact_secrets(out->obj);
	k8s_value_names(out);
	out->size = size;
	out->sparse = true;
	k8s_arena_take(a, out);
	return 0;
}

/* See k8s.h. */
int k8s_value_decode_sparse(const uint8_t *nv, size_t nn, const uint8_t *ov, size_t on,
			    bool has_old, bool redact, struct k8s_value *new_out,
			    struct k8s_value *old_out)
{
	memset(new_out, 0, sizeof *new_out);
	memset(old_out, 0, sizeof *old_out);
	new_out->api_version = new_out->kind = old_out->api_version = old_out->kind = "";
	char avn[128], kn[128], avo[128], ko[128];
	const uint8_t *rn, *ro = NULL;
	size_t rnn, ron = 0;
	if (!k8s_envelope(nv, nn, avn, sizeof avn, kn, sizeof kn, &rn, &rnn) ||
	    (has_old && (!k8s_envelope(ov, on, avo, sizeof avo, ko, sizeof ko, &ro, &ron) ||
			 strcmp(avn, avo) != 0 || strcmp(kn, ko) != 0)))
		return k8s_sparse_fallback(nv, nn, ov, on, has_old, redact, new_out, old_out);

	struct k8s_arena *a = k8s_arena_begin(K8S_SPARSE_FIRST_BLOCK);
	if (!a)
		return EE_NOMEM;
	/* the field stack is kept from one call to the next (one per write: no malloc each
	 * time); single-threaded, and this does not call itself */
	static struct k8s_occ *occ_keep;
	static size_t occ_keep_cap;
	struct k8s_sparse c = {.single = !has_old, .occ = occ_keep, .cap = occ_keep_cap};
	json_t *oa = has_old ? k8s_sparse_top(&c, avo, ko) : NULL;
	json_t *ob = k8s_sparse_top(&c, avn, kn);
	if (!c.w.nomem)
		k8s_sparse_pair(&c, k8s_desc_of(avn, kn), ro, ron, rn, rnn, 0, K8S_LV_TOP, &oa, &ob);
	if (c.cap > K8S_SPARSE_OCC_KEEP) {
		free(c.occ); /* a message with a huge list: not kept */
		c.occ = NULL;
		c.cap = 0;
	}
	occ_keep = c.occ;
	occ_keep_cap = c.cap;
	int rc = c.w.nomem || !ob || (has_old && !oa) ? EE_NOMEM : 0;
	/* k8s_redact_secrets looks up kind and apiVersion in the tree, where the walk put the
	 * envelope's (no built-in type has a field of either name at the top): only a v1
	 * Secret needs the call, and the versions' envelopes are equal (checked above) */
	redact = redact && strcmp(kn, "Secret") == 0 && strcmp(avn, "v1") == 0;
	if (rc == 0)
		rc = k8s_sparse_value(ob, nn, redact, a, new_out);
	else
		json_decref(ob);
	if (rc == 0 && has_old)
		rc = k8s_sparse_value(oa, on, redact, a, old_out);
	else
		json_decref(oa);
	k8s_arena_end();
	if (rc != 0) {
		k8s_value_free(new_out);
		k8s_value_free(old_out);
	}
	k8s_arena_drop(a);
	return rc;
}
