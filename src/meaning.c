/* meaning.c: attaches Kubernetes meaning to a record (see meaning.h): the object a key
 * names, the decoded value, the previous value (prev_kv, or what the store saw), the writer
 * from managedFields, a field diff, and housekeeping labels for the API server's own traffic. */
#include "meaning.h"

#include <string.h>

#include "cli.h"
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

static void decode_value(const struct meaning_ctx *ctx, const uint8_t *v, size_t n,
			 struct k8s_value *out)
{
	k8s_value_decode(v, n, out);
	if (out->obj && !ctx->o->show_secrets)
		k8s_redact_secrets(out->obj);
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

/* new value known: find the previous one, the writer, the diff. */
static void explain_put(const struct meaning_ctx *ctx, struct meaning *m, const uint8_t *key,
			size_t key_len, const uint8_t *val, size_t val_len, int64_t mod_rev,
			int64_t create_rev, const Mvccpb__KeyValue *prev)
{
	if (ctx->keys_only)
		return;
	decode_value(ctx, val, val_len, &m->val);
	m->has_value = true;
	if (prev && prev->value.len) {
		decode_value(ctx, prev->value.data, prev->value.len, &m->prev);
		m->has_prev = true;
	} else if (ctx->store) {
		const struct store_version *pv = store_before(store_get(ctx->store, key, key_len), mod_rev);
		if (pv && !pv->deleted && pv->value) {
			decode_value(ctx, pv->value, pv->value_len, &m->prev);
			m->has_prev = true;
		}
	}
	bool created = create_rev && create_rev == mod_rev;
	const json_t *old_obj = m->has_prev ? m->prev.obj : NULL;
	if (m->val.obj)
		m->has_writer = k8s_writer_of(m->val.obj, old_obj, &m->writer);
	if (created) {
		m->change = "create";
	} else if (m->val.obj && old_obj) {
		m->diff = k8s_diff(old_obj, m->val.obj, ctx->o->show_noise ? K8S_DIFF_NOISE : 0);
		m->change = change_kind(m->diff, k8s_generation_bumped(old_obj, m->val.obj));
	}
}

void meaning_build(const struct meaning_ctx *ctx, const struct etcd_record *r, struct meaning *m)
{
	memset(m, 0, sizeof *m);
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
			explain_put(ctx, m, w->key, w->key_len, w->value, w->value_len, w->revision, create,
				    w->prev);
		} else if (w->op == REC_OP_DELETE) {
			m->change = "delete";
			if (w->prev && w->prev->value.len && !ctx->keys_only) {
				decode_value(ctx, w->prev->value.data, w->prev->value.len, &m->prev);
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
			explain_put(ctx, m, kv->key.data, kv->key.len, kv->value.data, kv->value.len,
				    kv->mod_revision, kv->create_revision, e->prev_kv);
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
	if (m->has_value)
		k8s_value_free(&m->val);
	if (m->has_prev)
		k8s_value_free(&m->prev);
	if (m->diff)
		json_decref(m->diff);
	memset(m, 0, sizeof *m);
}
