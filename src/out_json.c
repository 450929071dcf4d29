/* out_json.c: the JSON lines trace printer; the schema is docs/json.md (a stable interface:
 * add fields freely, never rename). */
#include <stdlib.h>
#include <string.h>

#include "etcd.h"
#include "out.h"

static const char *const COMPARE_TARGET[] = {"version", "create", "mod", "value", "lease"};
static const char *const COMPARE_RESULT[] = {"equal", "greater", "less", "not_equal"};

const char *out_op_name(enum rec_op op) { return op == REC_OP_DELETE ? "delete" : "put"; }

const char *out_watch_event_name(enum rec_watch_event e)
{
	switch (e) {
	case RW_CREATE: return "create";
	case RW_CREATED: return "created";
	case RW_CANCEL: return "cancel";
	case RW_CANCELED: return "canceled";
	case RW_PROGRESS_REQUEST: return "progress_request";
	case RW_PROGRESS: return "progress";
	}
	return "?";
}

static void jw_bin(struct jw *w, const char *name, ProtobufCBinaryData b)
{
	jw_key_bytes(w, name, b.data ? b.data : (const uint8_t *)"", b.len);
}

static void json_header(struct jw *w, const struct rec_header *h)
{
	if (!h->present)
		return;
	jw_ki64(w, "revision", h->revision);
	jw_ku64(w, "member_id", h->member_id);
	jw_ku64(w, "raft_term", h->raft_term);
	jw_ku64(w, "cluster_id", h->cluster_id);
}

static void json_compare(struct jw *w, const Etcdserverpb__Compare *c)
{
	jw_obj_begin(w);
	jw_bin(w, "key", c->key);
	if (c->range_end.len)
		jw_bin(w, "range_end", c->range_end);
	jw_kstr(w, "target", (unsigned)c->target < 5 ? COMPARE_TARGET[c->target] : "?");
	jw_kstr(w, "result", (unsigned)c->result < 4 ? COMPARE_RESULT[c->result] : "?");
	switch (c->target_union_case) {
	case ETCDSERVERPB__COMPARE__TARGET_UNION_VERSION: jw_ki64(w, "value", c->version); break;
	case ETCDSERVERPB__COMPARE__TARGET_UNION_CREATE_REVISION: jw_ki64(w, "value", c->create_revision); break;
	case ETCDSERVERPB__COMPARE__TARGET_UNION_MOD_REVISION: jw_ki64(w, "value", c->mod_revision); break;
	case ETCDSERVERPB__COMPARE__TARGET_UNION_LEASE: jw_ki64(w, "value", c->lease); break;
	case ETCDSERVERPB__COMPARE__TARGET_UNION_VALUE: jw_key(w, "value_size"); jw_u64(w, c->value.len); break;
	default: jw_key(w, "value"); jw_i64(w, 0); break;
	}
	jw_obj_end(w);
}

static void json_request_op(struct jw *w, const Etcdserverpb__RequestOp *op)
{
	jw_obj_begin(w);
	switch (op->request_case) {
	case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE:
		jw_kstr(w, "op", "range");
		jw_bin(w, "key", op->request_range->key);
		if (op->request_range->range_end.len)
			jw_bin(w, "range_end", op->request_range->range_end);
		break;
	case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT:
		jw_kstr(w, "op", "put");
		jw_bin(w, "key", op->request_put->key);
		jw_ku64(w, "value_size", op->request_put->value.len);
		if (op->request_put->lease)
			jw_ki64(w, "lease", op->request_put->lease);
		break;
	case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE:
		jw_kstr(w, "op", "delete");
		jw_bin(w, "key", op->request_delete_range->key);
		if (op->request_delete_range->range_end.len)
			jw_bin(w, "range_end", op->request_delete_range->range_end);
		break;
	case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_TXN:
		jw_kstr(w, "op", "txn");
		break;
	default:
		jw_kstr(w, "op", "none");
		break;
	}
	jw_obj_end(w);
}

static void json_members(struct jw *w, Etcdserverpb__Member **ms, size_t n)
{
	jw_key(w, "members");
	jw_arr_begin(w);
	for (size_t i = 0; i < n; i++) {
		const Etcdserverpb__Member *m = ms[i];
		jw_obj_begin(w);
		jw_ku64(w, "id", m->id);
		jw_kstr(w, "name", m->name);
		jw_key(w, "peer_urls");
		jw_arr_begin(w);
		for (size_t j = 0; j < m->n_peerurls; j++)
			jw_str(w, m->peerurls[j]);
		jw_arr_end(w);
		jw_key(w, "client_urls");
		jw_arr_begin(w);
		for (size_t j = 0; j < m->n_clienturls; j++)
			jw_str(w, m->clienturls[j]);
		jw_arr_end(w);
		jw_kbool(w, "is_learner", m->islearner);
		jw_obj_end(w);
	}
	jw_arr_end(w);
}

/* Method-specific request and response fields of an RPC record. */
static void json_rpc_fields(struct jw *w, const struct rec_rpc *rpc)
{
	const void *rq = rpc->req, *rs = rpc->resp;
	switch (rpc->m->method) {
	case EM_RANGE: {
		const Etcdserverpb__RangeRequest *q = rq;
		const Etcdserverpb__RangeResponse *p = rs;
		if (q) {
			jw_bin(w, "key", q->key);
			if (q->range_end.len)
				jw_bin(w, "range_end", q->range_end);
			jw_ki64(w, "limit", q->limit);
			if (q->revision)
				jw_ki64(w, "rev_requested", q->revision);
			if (q->keys_only)
				jw_kbool(w, "keys_only", true);
			if (q->count_only)
				jw_kbool(w, "count_only", true);
			if (q->serializable)
				jw_kbool(w, "serializable", true);
		}
		if (p) {
			jw_ki64(w, "count", p->count);
			jw_ku64(w, "kvs", p->n_kvs);
			jw_kbool(w, "more", p->more);
		}
		break;
	}
	case EM_PUT: {
		const Etcdserverpb__PutRequest *q = rq;
		const Etcdserverpb__PutResponse *p = rs;
		if (q) {
			jw_bin(w, "key", q->key);
			jw_ku64(w, "value_size", q->value.len);
			if (q->lease)
				jw_ki64(w, "lease", q->lease);
		}
		if (p && p->prev_kv)
			jw_ki64(w, "prev_mod_revision", p->prev_kv->mod_revision);
		break;
	}
	case EM_DELETE_RANGE: {
		const Etcdserverpb__DeleteRangeRequest *q = rq;
		const Etcdserverpb__DeleteRangeResponse *p = rs;
		if (q) {
			jw_bin(w, "key", q->key);
			if (q->range_end.len)
				jw_bin(w, "range_end", q->range_end);
		}
		if (p)
			jw_ki64(w, "deleted", p->deleted);
		break;
	}
	case EM_TXN: {
		const Etcdserverpb__TxnRequest *q = rq;
		const Etcdserverpb__TxnResponse *p = rs;
		if (q) {
			/* The key of a Txn is its first compared key (or first op's key): what the
			 * API server's GuaranteedUpdate is about. */
			if (q->n_compare)
				jw_bin(w, "key", q->compare[0]->key);
			jw_key(w, "compare");
			jw_arr_begin(w);
			for (size_t i = 0; i < q->n_compare; i++)
				json_compare(w, q->compare[i]);
			jw_arr_end(w);
		}
		if (p)
			jw_kbool(w, "succeeded", p->succeeded);
		if (q) {
			bool branch_known = p != NULL;
			Etcdserverpb__RequestOp **ops = !p || p->succeeded ? q->success : q->failure;
			size_t n = !p || p->succeeded ? q->n_success : q->n_failure;
			jw_key(w, branch_known ? "ops" : "success_ops");
			jw_arr_begin(w);
			for (size_t i = 0; i < n; i++)
				json_request_op(w, ops[i]);
			jw_arr_end(w);
		}
		break;
	}
	case EM_COMPACT: {
		const Etcdserverpb__CompactionRequest *q = rq;
		if (q) {
			jw_ki64(w, "compact_revision", q->revision);
			if (q->physical)
				jw_kbool(w, "physical", true);
		}
		break;
	}
	case EM_LEASE_GRANT: {
		const Etcdserverpb__LeaseGrantRequest *q = rq;
		const Etcdserverpb__LeaseGrantResponse *p = rs;
		if (q)
			jw_ki64(w, "ttl", q->ttl);
		if (p) {
			jw_ki64(w, "id", p->id);
			jw_ki64(w, "granted_ttl", p->ttl);
			if (p->error && *p->error)
				jw_kstr(w, "lease_error", p->error);
		}
		break;
	}
	case EM_LEASE_REVOKE: {
		const Etcdserverpb__LeaseRevokeRequest *q = rq;
		if (q)
			jw_ki64(w, "id", q->id);
		break;
	}
	case EM_LEASE_KEEPALIVE: {
		const Etcdserverpb__LeaseKeepAliveRequest *q = rq;
		const Etcdserverpb__LeaseKeepAliveResponse *p = rs;
		jw_ki64(w, "id", q ? q->id : p ? p->id : 0);
		if (p)
			jw_ki64(w, "ttl", p->ttl);
		break;
	}
	case EM_LEASE_TIME_TO_LIVE: {
		const Etcdserverpb__LeaseTimeToLiveRequest *q = rq;
		const Etcdserverpb__LeaseTimeToLiveResponse *p = rs;
		jw_ki64(w, "id", q ? q->id : p ? p->id : 0);
		if (p) {
			jw_ki64(w, "ttl", p->ttl);
			jw_ki64(w, "granted_ttl", p->grantedttl);
			jw_ku64(w, "keys", p->n_keys);
		}
		break;
	}
	case EM_LEASE_LEASES: {
		const Etcdserverpb__LeaseLeasesResponse *p = rs;
		if (p)
			jw_ku64(w, "leases", p->n_leases);
		break;
	}
	case EM_MEMBER_LIST: {
		const Etcdserverpb__MemberListResponse *p = rs;
		if (p)
			json_members(w, p->members, p->n_members);
		break;
	}
	case EM_MEMBER_ADD: case EM_MEMBER_REMOVE: case EM_MEMBER_UPDATE: case EM_MEMBER_PROMOTE: {
		/* All four responses carry header=1, members=repeated field; Add has member=2 and
		 * members=3, so only Remove/Update/Promote share the layout of MemberList. */
		if (rpc->m->method != EM_MEMBER_ADD && rs) {
			const Etcdserverpb__MemberListResponse *p = rs;
			json_members(w, p->members, p->n_members);
		} else if (rs) {
			const Etcdserverpb__MemberAddResponse *p = rs;
			json_members(w, p->members, p->n_members);
		}
		break;
	}
	case EM_STATUS: {
		const Etcdserverpb__StatusResponse *p = rs;
		if (p) {
			jw_kstr(w, "version", p->version);
			jw_ki64(w, "db_size", p->dbsize);
			jw_ki64(w, "db_size_in_use", p->dbsizeinuse);
			jw_ku64(w, "leader", p->leader);
			jw_ku64(w, "raft_index", p->raftindex);
			jw_ku64(w, "raft_applied_index", p->raftappliedindex);
			jw_kbool(w, "is_learner", p->islearner);
			if (p->n_errors) {
				jw_key(w, "errors");
				jw_arr_begin(w);
				for (size_t i = 0; i < p->n_errors; i++)
					jw_str(w, p->errors[i]);
				jw_arr_end(w);
			}
		}
		break;
	}
	case EM_HASH_KV: {
		const Etcdserverpb__HashKVResponse *p = rs;
		if (p) {
			jw_ku64(w, "hash", p->hash);
			jw_ki64(w, "compact_revision", p->compact_revision);
		}
		break;
	}
	case EM_ALARM: {
		const Etcdserverpb__AlarmResponse *p = rs;
		if (p)
			jw_ku64(w, "alarms", p->n_alarms);
		break;
	}
	default:
		break;
	}
}

void out_json_k8s_key(struct jw *w, const struct k8s_key *k)
{
	if (k->kind == K8S_KEY_NONE)
		return;
	if (k->kind == K8S_KEY_SPECIAL) {
		jw_kstr(w, "special", k->special ? k->special : "");
		return;
	}
	jw_key(w, "resource");
	jw_obj_begin(w);
	jw_kstr(w, "group", k->group);
	jw_kstr(w, "resource", k->resource);
	if (k->ns[0] || k->kind == K8S_KEY_NAMESPACE)
		jw_kstr(w, "namespace", k->ns);
	if (k->kind == K8S_KEY_OBJECT)
		jw_kstr(w, "name", k->name);
	else
		jw_kstr(w, "scope", k->kind == K8S_KEY_RESOURCE ? "resource" : "namespace");
	jw_obj_end(w);
}

static void json_object_meta(struct jw *w, const struct k8s_value *v)
{
	static const char *const ENC[] = {"", "protobuf", "json", "encrypted", "bytes"};
	jw_kstr(w, "encoding", (unsigned)v->enc < 5 ? ENC[v->enc] : "?");
	if (v->enc == K8S_ENC_ENCRYPTED) {
		jw_kstr(w, "encryption_provider", v->enc_provider);
		jw_kstr(w, "encryption_key", v->enc_key);
		return;
	}
	if (!v->obj)
		return;
	if (v->kind && *v->kind)
		jw_kstr(w, "kind_name", v->kind);
	if (v->api_version && *v->api_version)
		jw_kstr(w, "api_version", v->api_version);
	if (v->uid)
		jw_kstr(w, "uid", v->uid);
	if (v->has_generation)
		jw_ki64(w, "generation", v->generation);
}

void out_json_meaning(struct jw *w, const struct meaning *m, const struct cli_opts *o)
{
	if (!m)
		return;
	if (m->has_key)
		out_json_k8s_key(w, &m->key);
	if (m->housekeeping)
		jw_kstr(w, "housekeeping", m->housekeeping);
	if (m->list_page)
		jw_ki64(w, "list_page", m->list_page);
	if (m->has_value)
		json_object_meta(w, &m->val);
	else if (m->has_prev)
		json_object_meta(w, &m->prev);
	if (m->has_writer) {
		if (m->writer.manager)
			jw_kstr(w, "manager", m->writer.manager);
		if (m->writer.operation)
			jw_kstr(w, "operation", m->writer.operation);
		if (m->writer.subresource && *m->writer.subresource)
			jw_kstr(w, "subresource", m->writer.subresource);
	}
	if (m->change)
		jw_kstr(w, "change", m->change);
	if (m->diff) {
		/* written straight into the line: json_dumps + copy was 16% of --json trace */
		jw_key(w, "diff");
		jw_json(w, m->diff);
	}
}

static void json_common(struct jw *w, const struct etcd_record *r, const char *kind)
{
	jw_obj_begin(w);
	jw_key(w, "ts");
	jw_ts(w, r->c.ts);
	jw_kstr(w, "kind", kind);
	jw_kstr(w, "conn", r->c.conn ? r->c.conn : "");
	jw_ku64(w, "stream", r->c.stream);
}

static void json_watch_range(struct jw *w, const struct rec_watch_range *rg)
{
	if (!rg || !rg->known)
		return;
	jw_key_bytes(w, "key", rg->key ? rg->key : (const uint8_t *)"", rg->key_len);
	if (rg->range_end_len)
		jw_key_bytes(w, "range_end", rg->range_end, rg->range_end_len);
	if (rg->guessed)
		jw_kbool(w, "range_guessed", true);
}

void out_json_record(struct out *out, const struct etcd_record *r, const struct meaning *m)
{
	struct jw *w = &out->jw;
	jw_reset(w);
	switch (r->c.kind) {
	case REC_RPC: {
		const struct rec_rpc *rpc = &r->u.rpc;
		json_common(w, r, "rpc");
		jw_kstr(w, "service", rpc->m->service_name);
		jw_kstr(w, "method", rpc->m->name);
		if (rpc->inferred) {
			jw_kbool(w, "inferred", true);
			jw_ki64(w, "confidence", rpc->confidence);
		}
		jw_key(w, "latency_us");
		if (rpc->latency_us >= 0)
			jw_i64(w, rpc->latency_us);
		else
			jw_null(w);
		jw_key(w, "status");
		if (rpc->status >= 0)
			jw_i64(w, rpc->status);
		else
			jw_null(w);
		if (rpc->status_inferred)
			jw_kbool(w, "status_inferred", true);
		if (rpc->status_message && *rpc->status_message)
			jw_kstr(w, "error", rpc->status_message);
		if (!rpc->req)
			jw_kbool(w, "request_missing", true);
		if (!rpc->resp && rpc->status <= 0)
			jw_kbool(w, "response_missing", true);
		json_header(w, &rpc->hdr);
		json_rpc_fields(w, rpc);
		break;
	}
	case REC_WRITE: {
		const struct rec_write *wr = &r->u.write;
		json_common(w, r, "write");
		jw_kstr(w, "op", out_op_name(wr->op));
		jw_key_bytes(w, "key", wr->key, wr->key_len);
		if (wr->range_end_len)
			jw_key_bytes(w, "range_end", wr->range_end, wr->range_end_len);
		jw_ki64(w, "revision", wr->revision);
		jw_kstr(w, "method", etcd_method_info(wr->method)->name);
		if (wr->op == REC_OP_PUT)
			jw_ku64(w, "value_size", wr->value_len);
		if (wr->op == REC_OP_DELETE && wr->range_end_len)
			jw_ki64(w, "deleted", wr->deleted);
		if (wr->lease)
			jw_ki64(w, "lease", wr->lease);
		if (wr->prev)
			jw_ki64(w, "prev_mod_revision", wr->prev->mod_revision);
		break;
	}
	case REC_WATCH: {
		const struct rec_watch *wa = &r->u.watch;
		json_common(w, r, "watch");
		jw_kstr(w, "event", out_watch_event_name(wa->event));
		jw_ki64(w, "watch_id", wa->watch_id);
		json_watch_range(w, &wa->range);
		if (wa->event == RW_CREATE) {
			jw_ki64(w, "start_revision", wa->range.start_revision);
			jw_kbool(w, "prev_kv", wa->range.prev_kv);
			jw_kbool(w, "progress_notify", wa->range.progress_notify);
		}
		if (wa->event == RW_CANCELED) {
			jw_ki64(w, "compact_revision", wa->compact_revision);
			jw_kstr(w, "cancel_reason", wa->cancel_reason ? wa->cancel_reason : "");
		}
		if (wa->hdr.present)
			jw_ki64(w, "revision", wa->hdr.revision);
		break;
	}
	case REC_WATCH_EVENT: {
		const struct rec_watch_event_rec *ev = &r->u.ev;
		json_common(w, r, "watch_event");
		jw_ki64(w, "watch_id", ev->watch_id);
		jw_kstr(w, "type", out_op_name(ev->type));
		jw_key_bytes(w, "key", ev->kv->key.data ? ev->kv->key.data : (const uint8_t *)"",
			     ev->kv->key.len);
		jw_ki64(w, "mod_revision", ev->kv->mod_revision);
		jw_ki64(w, "create_revision", ev->kv->create_revision);
		jw_ki64(w, "version", ev->kv->version);
		jw_ku64(w, "value_size", ev->kv->value.len);
		if (ev->prev_kv)
			jw_ki64(w, "prev_mod_revision", ev->prev_kv->mod_revision);
		if (ev->fragment)
			jw_kbool(w, "fragment", true);
		if (ev->hdr.present)
			jw_ki64(w, "revision", ev->hdr.revision);
		break;
	}
	case REC_NOTICE: {
		const struct rec_notice *n = &r->u.notice;
		json_common(w, r, "notice");
		jw_kstr(w, "what", n->what);
		jw_kstr(w, "detail", n->detail ? n->detail : "");
		jw_ku64(w, "bytes", n->bytes);
		break;
	}
	case REC_LIST: {
		const struct rec_list *l = &r->u.list;
		json_common(w, r, "list");
		jw_key_bytes(w, "key", l->key ? l->key : (const uint8_t *)"", l->key_len);
		jw_key_bytes(w, "range_end", l->range_end ? l->range_end : (const uint8_t *)"",
			     l->range_end_len);
		jw_ki64(w, "revision", l->revision);
		jw_ki64(w, "limit", l->limit);
		jw_ki64(w, "pages", l->pages);
		jw_ki64(w, "kvs", l->kvs);
		jw_ki64(w, "count", l->count);
		jw_ki64(w, "connections", l->connections);
		jw_key(w, "latency_us");
		if (l->latency_us >= 0)
			jw_i64(w, l->latency_us);
		else
			jw_null(w);
		jw_kbool(w, "complete", l->complete);
		if (l->status > 0)
			jw_ki64(w, "status", l->status);
		break;
	}
	}
	if (r->c.user_agent && *r->c.user_agent)
		jw_kstr(w, "user_agent", r->c.user_agent);
	out_json_meaning(w, m, out->o);
	jw_obj_end(w);
	out_json_emit(out);
}
