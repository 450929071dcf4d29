/* meaning.c: attaches Kubernetes meaning to a record (see meaning.h): the object a key
 * names, the decoded value, the previous value (prev_kv, or what the store saw), the writer
 * from managedFields, a field diff, and housekeeping labels for the API server's own traffic. */
#include "meaning.h"

#include <stddef.h>
#include <string.h>

#include "cli.h"
#include "objcache.h"
#include "store.h"

static bool bin_has_suffix_nul(ProtobufCBinaryData b) { return b.len && b.data[b.len - 1] == 0; }

static bool key_is_special(const struct meaning *m, const char *name)
{
	return m->has_key && m->key.kind == K8S_KEY_SPECIAL && m->key.special &&
	       !strcmp(m->key.special, name);
}

static void parse_key(const struct meaning_ctx *ctx, struct meaning *m, const uint8_t *key,
		      size_t key_len, const uint8_t *end, size_t end_len)
{
	if (!key)
		return;
	k8s_key_parse(key, key_len, end_len ? end : NULL, end_len, ctx->o->prefix, &m->key);
	m->has_key = m->key.kind != K8S_KEY_NONE;
}

/* The API server's own traffic, labelled so that --no-housekeeping can hide it. */
static const char *housekeeping_of(const struct etcd_record *r, struct meaning *m)
{
	const struct rec_rpc *rpc = &r->u.rpc;
	switch (rpc->m->method) {
	case EM_STATUS: return "status-poll";
	case EM_MEMBER_LIST: return "member-poll";
	case EM_COMPACT: return "compaction";
	case EM_LEASE_GRANT: case EM_LEASE_KEEPALIVE: case EM_LEASE_REVOKE: case EM_LEASE_TIME_TO_LIVE:
	case EM_LEASE_LEASES:
		return "lease";
	case EM_TXN:
		return key_is_special(m, "compact_rev_key") ? "compaction" : NULL;
	case EM_RANGE: {
		const Etcdserverpb__RangeRequest *q = (const void *)rpc->req;
		if (key_is_special(m, "health"))
			return "health";
		if (!q)
			return NULL;
		if (key_is_special(m, "compact_rev_key"))
			return "compaction";
		if (q->count_only)
			return "count";
		if (q->keys_only)
			return "keys-only";
		/* A LIST continuation page starts right after the last key of the previous one. */
		if (q->limit && q->range_end.len && bin_has_suffix_nul(q->key))
			return "list-page";
		return NULL;
	}
	default:
		return NULL;
	}
}

/* Decodes into an arena (no malloc per node, no walk to free), redacting Secrets unless
 * --show-secrets. */
static void decode_value(const struct meaning_ctx *ctx, const uint8_t *v, size_t n,
			 struct k8s_value *out)
{
	k8s_value_decode_arena(v, n, !ctx->o->show_secrets, out);
}

/* The etcd server endpoint of a record's connection ("CLIENT-SERVER"): with the revision,
 * it names one value of a key (revisions are per cluster). */
static void record_endpoint(const struct etcd_record *r, const char **ep, size_t *len)
{
	const char *conn = r->c.conn ? r->c.conn : "";
	const char *dash = strrchr(conn, '-');
	*ep = dash ? dash + 1 : conn;
	*len = strlen(*ep);
}

/* Decodes a value, or takes it from the cache (k NULL: no cache). Secrets are redacted
 * before the tree is cached: show_secrets is one setting for the whole run. */
static void value_of(const struct meaning_ctx *ctx, const struct objcache_key *k,
		     const uint8_t *v, size_t n, struct k8s_value *out)
{
	if (k && objcache_get(ctx->cache, k, out))
		return;
	decode_value(ctx, v, n, out);
	if (k)
		objcache_put(ctx->cache, k, out);
}

/* Classifies an update by what it touched: "spec" when metadata.generation moved (the API
 * server bumps it for spec changes), "status" / "metadata" when every changed path is under
 * that part, "none" for a write that changed nothing visible, else "update". */
static const char *change_kind(const json_t *diff, bool generation_bumped)
{
	if (generation_bumped)
		return "spec";
	if (!diff || !json_array_size(diff))
		return "none";
	bool all_status = true, all_meta = true;
	size_t i;
	json_t *d;
	json_array_foreach(diff, i, d) {
		const char *p = json_string_value(json_object_get(d, "path"));
		if (!p || strncmp(p, "status", 6) || (p[6] && p[6] != '.' && p[6] != '['))
			all_status = false;
		if (!p || strncmp(p, "metadata", 8) || (p[8] && p[8] != '.' && p[8] != '['))
			all_meta = false;
	}
	return all_status ? "status" : all_meta ? "metadata" : "update";
}

/* The writer, diff and change kind of new_v over old_v (NULL: no previous value). */
static void explain_pair(const struct meaning_ctx *ctx, const struct k8s_value *new_v,
			 const struct k8s_value *old_v, bool created, struct objcache_pair *p)
{
	memset(p, 0, sizeof *p);
	const json_t *old_obj = old_v ? old_v->obj : NULL;
	/* the diff lives as long as the new value (cache entry, record): in its arena */
	k8s_value_arena_begin(new_v);
	if (!created && old_obj) {
		unsigned flags = ctx->o->show_noise ? K8S_DIFF_NOISE : 0;
		p->diff = k8s_diff(old_obj, new_v->obj, flags);
		p->change = change_kind(p->diff, k8s_generation_bumped(old_obj, new_v->obj));
		/* the writer of a status-only write needs the diff without noise: the one
		 * just computed, unless --noise (then the writer computes its own) */
		p->has_writer = k8s_writer_of_diff(new_v->obj, old_obj, flags ? NULL : p->diff,
						   &p->writer);
	} else {
		p->has_writer = k8s_writer_of(new_v->obj, old_obj, &p->writer);
		if (created)
			p->change = "create";
	}
	k8s_value_arena_end();
}

/* new value known: find the previous one, the writer, the diff. The two versions are
 * decoded sparsely (k8s_value_decode_sparse): only the fields whose encodings differ, and
 * those the printers and the writer read. With a cache, each (new, previous) pair is
 * explained once, however many records (the write, then one event per watcher) carry it. */
static void explain_put(const struct meaning_ctx *ctx, struct meaning *m,
			const struct etcd_record *r, const uint8_t *key, size_t key_len,
			const uint8_t *val, size_t val_len, int64_t mod_rev, int64_t create_rev,
			const Mvccpb__KeyValue *prev)
{
	if (ctx->keys_only)
		return;
	const uint8_t *pval = NULL;
	size_t plen = 0;
	int64_t prev_rev = 0;
	if (prev && prev->value.len) {
		pval = prev->value.data;
		plen = prev->value.len;
		prev_rev = prev->mod_revision;
	} else if (ctx->store) {
		const struct store_version *pv = store_before(store_get(ctx->store, key, key_len), mod_rev);
		if (pv && !pv->deleted && pv->value) {
			pval = pv->value;
			plen = pv->value_len;
			prev_rev = pv->mod_revision;
		}
	}
	struct objcache_key kn, ko;
	const struct objcache_key *new_k = NULL, *old_k = NULL;
	if (ctx->cache) {
		const char *ep;
		size_t ep_len;
		record_endpoint(r, &ep, &ep_len);
		objcache_key_init(&kn, ep, ep_len, key, key_len, mod_rev, val, val_len);
		new_k = &kn;
		if (pval) {
			objcache_key_init(&ko, ep, ep_len, key, key_len, prev_rev, pval, plen);
			old_k = &ko;
		}
	}
	bool created = create_rev && create_rev == mod_rev;
	struct objcache_pair p;
	if (new_k && objcache_pair_get(ctx->cache, new_k, old_k, created, &p, &m->val)) {
		m->has_value = true;
	} else {
		k8s_value_decode_sparse(val, val_len, pval, plen, pval != NULL, !ctx->o->show_secrets,
					&m->val, &m->prev);
		m->has_value = true;
		m->has_prev = pval != NULL;
		if (!m->val.obj) {
			if (created)
				m->change = "create";
			return;
		}
		explain_pair(ctx, &m->val, m->has_prev ? &m->prev : NULL, created, &p);
		if (new_k) {
			objcache_put(ctx->cache, new_k, &m->val);
			objcache_pair_put(ctx->cache, new_k, old_k, created, m->val.obj, &p);
		}
	}
	m->has_writer = p.has_writer;
	m->writer = p.writer;
	m->diff = p.diff;
	m->change = p.change;
}

/* Zeroes m except the key's text buffers, which get empty strings: they are most of
 * the struct (~770 bytes), k8s_key_parse writes them whole when a key is parsed, and
 * clearing them for every record (twice: meaning_clear did too) cost 3.6% of `count`. */
static void meaning_reset(struct meaning *m)
{
	const size_t k0 = offsetof(struct meaning, key), k1 = k0 + sizeof m->key;
	memset(m, 0, k0);
	memset((char *)m + k1, 0, sizeof *m - k1);
	m->key.kind = K8S_KEY_NONE;
	m->key.group[0] = m->key.resource[0] = m->key.ns[0] = m->key.name[0] = '\0';
	m->key.special = NULL;
}

void meaning_build(const struct meaning_ctx *ctx, const struct etcd_record *r, struct meaning *m)
{
	meaning_reset(m);
	switch (r->c.kind) {
	case REC_RPC: {
		const struct rec_rpc *rpc = &r->u.rpc;
		const void *q = rpc->req;
		if (q && rpc->m->method == EM_RANGE) {
			const Etcdserverpb__RangeRequest *rq = q;
			parse_key(ctx, m, rq->key.data, rq->key.len, rq->range_end.data, rq->range_end.len);
		} else if (q && rpc->m->method == EM_PUT) {
			const Etcdserverpb__PutRequest *pq = q;
			parse_key(ctx, m, pq->key.data, pq->key.len, NULL, 0);
		} else if (q && rpc->m->method == EM_DELETE_RANGE) {
			const Etcdserverpb__DeleteRangeRequest *dq = q;
			parse_key(ctx, m, dq->key.data, dq->key.len, dq->range_end.data, dq->range_end.len);
		} else if (q && rpc->m->method == EM_TXN) {
			const Etcdserverpb__TxnRequest *tq = q;
			if (tq->n_compare)
				parse_key(ctx, m, tq->compare[0]->key.data, tq->compare[0]->key.len, NULL, 0);
			else if (tq->n_success && tq->success[0]->request_case ==
				 ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT)
				parse_key(ctx, m, tq->success[0]->request_put->key.data,
					  tq->success[0]->request_put->key.len, NULL, 0);
		}
		m->housekeeping = housekeeping_of(r, m);
		break;
	}
	case REC_WRITE: {
		const struct rec_write *w = &r->u.write;
		parse_key(ctx, m, w->key, w->key_len, w->range_end, w->range_end_len);
		if (key_is_special(m, "compact_rev_key"))
			m->housekeeping = "compaction";
		if (w->op == REC_OP_PUT && !m->housekeeping) {
			int64_t create = w->prev ? w->prev->create_revision : 0;
			if (!w->prev && w->txn && w->txn->n_compare &&
			    w->txn->compare[0]->target == ETCDSERVERPB__COMPARE__COMPARE_TARGET__MOD &&
			    w->txn->compare[0]->target_union_case == ETCDSERVERPB__COMPARE__TARGET_UNION_MOD_REVISION &&
			    w->txn->compare[0]->mod_revision == 0)
				create = w->revision; /* the API server's create: mod_revision(key) == 0 */
			explain_put(ctx, m, r, w->key, w->key_len, w->value, w->value_len,
				    w->revision, create, w->prev);
		} else if (w->op == REC_OP_DELETE) {
			m->change = "delete";
			if (w->prev && w->prev->value.len && !ctx->keys_only) {
				struct objcache_key ko;
				if (ctx->cache) {
					const char *ep;
					size_t ep_len;
					record_endpoint(r, &ep, &ep_len);
					objcache_key_init(&ko, ep, ep_len, w->key, w->key_len,
							  w->prev->mod_revision, w->prev->value.data,
							  w->prev->value.len);
				}
				value_of(ctx, ctx->cache ? &ko : NULL, w->prev->value.data,
					 w->prev->value.len, &m->prev);
				m->has_prev = true;
			}
		}
		break;
	}
	case REC_WATCH_EVENT: {
		const struct rec_watch_event_rec *e = &r->u.ev;
		const Mvccpb__KeyValue *kv = e->kv;
		parse_key(ctx, m, kv->key.data, kv->key.len, NULL, 0);
		if (key_is_special(m, "compact_rev_key"))
			m->housekeeping = "compaction";
		if (e->type == REC_OP_PUT && !m->housekeeping)
			explain_put(ctx, m, r, kv->key.data, kv->key.len, kv->value.data,
				    kv->value.len, kv->mod_revision, kv->create_revision, e->prev_kv);
		else if (e->type == REC_OP_DELETE)
			m->change = "delete";
		break;
	}
	case REC_WATCH: {
		const struct rec_watch_range *rg = &r->u.watch.range;
		if (rg->known)
			parse_key(ctx, m, rg->key, rg->key_len, rg->range_end, rg->range_end_len);
		break;
	}
	case REC_LIST: {
		const struct rec_list *l = &r->u.list;
		parse_key(ctx, m, l->key, l->key_len, l->range_end, l->range_end_len);
		break;
	}
	case REC_NOTICE:
		break;
	}
}

void meaning_clear(struct meaning *m)
{
	/* the diff first: its nodes may live in the value's arena */
	if (m->diff)
		json_decref(m->diff);
	if (m->has_value)
		k8s_value_free(&m->val);
	if (m->has_prev)
		k8s_value_free(&m->prev);
	meaning_reset(m);
}
