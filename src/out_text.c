/* out_text.c: the text timeline, one line per RPC, write, watch control or watch event, in
 * the spirit of tcpdump: time, connection, stream, what, result, latency. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "etcd.h"
#include "out.h"

#define C_BOLD "\033[1m"
#define C_DIM "\033[2m"
#define C_RED "\033[31m"
#define C_GREEN "\033[32m"
#define C_YELLOW "\033[33m"
#define C_CYAN "\033[36m"
#define C_OFF "\033[0m"

static const char *const GRPC_CODES[] = {
	"OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound",
	"AlreadyExists", "PermissionDenied", "ResourceExhausted", "FailedPrecondition", "Aborted",
	"OutOfRange", "Unimplemented", "Internal", "Unavailable", "DataLoss", "Unauthenticated",
};

const char *out_grpc_code_name(int code)
{
	return code >= 0 && code <= 16 ? GRPC_CODES[code] : "?";
}

/* HH:MM:SS.uuuuuu in local time (TZ=UTC in golden tests), as tcpdump prints. */
static void text_ts(struct out *out, ee_ts ts)
{
	const char *hms = out_hms(out, ts);
	int us = (int)(ts % 1000000);
	if (us < 0) { /* before 1970: as printf's %06d would */
		out_tprintf(out, "%s%s.%06d%s ", out_c(out, C_DIM), hms, us, out_c(out, C_OFF));
		return;
	}
	char b[8] = {'.'};
	for (int i = 6; i >= 1; i--, us /= 10)
		b[i] = (char)('0' + us % 10);
	out_tputs(out, out_c(out, C_DIM));
	out_tputs(out, hms);
	out_tputn(out, b, 7);
	out_tputs(out, out_c(out, C_OFF));
	out_tputn(out, " ", 1);
}

/* " %.3fms" of a latency in microseconds, without vsnprintf's floating point: below
 * 10^12 us the double latency_us / 1000.0 is within far less than half a thousandth of
 * the exact quotient, so %.3f prints exactly its integer and remainder parts. */
static void text_ms(struct out *out, int64_t us)
{
	if (us >= 0 && us < 1000000000000LL) {
		int ms3 = (int)(us % 1000);
		char b[6] = {'.', (char)('0' + ms3 / 100), (char)('0' + ms3 / 10 % 10),
			     (char)('0' + ms3 % 10), 'm', 's'};
		out_tlit(out, " ");
		out_ti64(out, us / 1000);
		out_tputn(out, b, 6);
	} else
		out_tprintf(out, " %.3fms", (double)us / 1000.0);
}

static void text_bin(struct out *out, ProtobufCBinaryData b)
{
	out_tbytes(out, b.data ? b.data : (const uint8_t *)"", b.len);
}

static void text_range(struct out *out, ProtobufCBinaryData key, ProtobufCBinaryData end)
{
	out_trange(out, key.data, key.len, end.data, end.len);
}

/* " (N B)": the size of a value. */
static void text_size(struct out *out, size_t n)
{
	out_tlit(out, " (");
	out_tu64(out, n);
	out_tlit(out, " B)");
}

static const char *const CMP_T[] = {"version", "create", "mod", "value", "lease"};
static const char *const CMP_R[] = {"==", ">", "<", "!="};

static void text_compare(struct out *out, const Etcdserverpb__Compare *c)
{
	out_tputs(out, (unsigned)c->target < 5 ? CMP_T[c->target] : "?");
	out_tlit(out, "(");
	text_range(out, c->key, c->range_end);
	out_tlit(out, ")");
	out_tputs(out, (unsigned)c->result < 4 ? CMP_R[c->result] : "?");
	switch (c->target_union_case) {
	case ETCDSERVERPB__COMPARE__TARGET_UNION_VERSION: out_ti64(out, c->version); break;
	case ETCDSERVERPB__COMPARE__TARGET_UNION_CREATE_REVISION: out_ti64(out, c->create_revision); break;
	case ETCDSERVERPB__COMPARE__TARGET_UNION_MOD_REVISION: out_ti64(out, c->mod_revision); break;
	case ETCDSERVERPB__COMPARE__TARGET_UNION_LEASE: out_ti64(out, c->lease); break;
	case ETCDSERVERPB__COMPARE__TARGET_UNION_VALUE: out_tprintf(out, "<%zu bytes>", c->value.len); break;
	default: out_tlit(out, "0"); break;
	}
}

static bool bin_eq(ProtobufCBinaryData a, ProtobufCBinaryData b)
{
	return a.len == b.len && (!a.len || !memcmp(a.data, b.data, a.len));
}

/* Ops of a Txn branch; a key equal to the compared key is not repeated (the API server's
 * GuaranteedUpdate compares and writes the same key). */
static void text_ops(struct out *out, Etcdserverpb__RequestOp **ops, size_t n, const ProtobufCBinaryData *same)
{
	if (!n) {
		out_tlit(out, "nothing");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const Etcdserverpb__RequestOp *op = ops[i];
		if (i)
			out_tlit(out, ", ");
		switch (op->request_case) {
		case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE:
			out_tlit(out, "get");
			if (!same || !bin_eq(*same, op->request_range->key) || op->request_range->range_end.len) {
				out_tlit(out, " ");
				text_range(out, op->request_range->key, op->request_range->range_end);
			}
			break;
		case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT:
			out_tlit(out, "put");
			if (!same || !bin_eq(*same, op->request_put->key)) {
				out_tlit(out, " ");
				text_bin(out, op->request_put->key);
			}
			text_size(out, op->request_put->value.len);
			break;
		case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE:
			out_tlit(out, "del");
			if (!same || !bin_eq(*same, op->request_delete_range->key) || op->request_delete_range->range_end.len) {
				out_tlit(out, " ");
				text_range(out, op->request_delete_range->key, op->request_delete_range->range_end);
			}
			break;
		case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_TXN:
			out_tlit(out, "txn{...}");
			break;
		default:
			out_tlit(out, "?");
		}
	}
}

/* The request part of an RPC line. */
static void text_request(struct out *out, const struct rec_rpc *rpc)
{
	const void *rq = rpc->req;
	if (!rq) {
		if (rpc->m->method != EM_UNKNOWN)
			out_tlit(out, "(request not captured)");
		return;
	}
	switch (rpc->m->method) {
	case EM_RANGE: {
		const Etcdserverpb__RangeRequest *q = rq;
		text_range(out, q->key, q->range_end);
		if (q->limit) out_tprintf(out, " limit=%" PRId64, q->limit);
		if (q->revision) out_tprintf(out, " rev=%" PRId64, q->revision);
		if (q->keys_only) out_tlit(out, " keys-only");
		if (q->count_only) out_tlit(out, " count-only");
		if (q->serializable) out_tlit(out, " serializable");
		break;
	}
	case EM_PUT: {
		const Etcdserverpb__PutRequest *q = rq;
		text_bin(out, q->key);
		text_size(out, q->value.len);
		if (q->lease) out_tprintf(out, " lease=%" PRIx64, (uint64_t)q->lease);
		break;
	}
	case EM_DELETE_RANGE: {
		const Etcdserverpb__DeleteRangeRequest *q = rq;
		text_range(out, q->key, q->range_end);
		break;
	}
	case EM_TXN: {
		const Etcdserverpb__TxnRequest *q = rq;
		out_tlit(out, "if ");
		for (size_t i = 0; i < q->n_compare; i++) {
			if (i) out_tlit(out, " && ");
			text_compare(out, q->compare[i]);
		}
		if (!q->n_compare) out_tlit(out, "true");
		const ProtobufCBinaryData *same = q->n_compare ? &q->compare[0]->key : NULL;
		out_tlit(out, " then ");
		text_ops(out, q->success, q->n_success, same);
		out_tlit(out, " else ");
		text_ops(out, q->failure, q->n_failure, same);
		break;
	}
	case EM_COMPACT: {
		const Etcdserverpb__CompactionRequest *q = rq;
		out_tprintf(out, "rev=%" PRId64 "%s", q->revision, q->physical ? " physical" : "");
		break;
	}
	case EM_LEASE_GRANT: {
		const Etcdserverpb__LeaseGrantRequest *q = rq;
		out_tprintf(out, "ttl=%" PRId64, q->ttl);
		break;
	}
	case EM_LEASE_REVOKE: case EM_LEASE_KEEPALIVE: case EM_LEASE_TIME_TO_LIVE: {
		/* all three requests have ID as field 1 */
		const Etcdserverpb__LeaseRevokeRequest *q = rq;
		out_tprintf(out, "id=%" PRIx64, (uint64_t)q->id);
		break;
	}
	default:
		break;
	}
}

static void text_members(struct out *out, Etcdserverpb__Member **ms, size_t n)
{
	out_tprintf(out, " %zu member%s:", n, n == 1 ? "" : "s");
	for (size_t i = 0; i < n; i++)
		out_tprintf(out, " %s(%" PRIx64 "%s)", ms[i]->name && *ms[i]->name ? ms[i]->name : "unstarted",
			    ms[i]->id, ms[i]->islearner ? ",learner" : "");
}

/* The response part of an RPC line (after "-> OK"). */
static void text_response(struct out *out, const struct rec_rpc *rpc)
{
	const void *rs = rpc->resp;
	if (rpc->hdr.present && rpc->hdr.revision) { /* Cluster RPCs carry no revision */
		out_tlit(out, " rev=");
		out_ti64(out, rpc->hdr.revision);
	}
	if (!rs)
		return;
	switch (rpc->m->method) {
	case EM_RANGE: {
		const Etcdserverpb__RangeResponse *p = rs;
		out_tlit(out, " count=");
		out_ti64(out, p->count);
		out_tlit(out, " kvs=");
		out_tu64(out, p->n_kvs);
		if (p->more)
			out_tlit(out, " more");
		break;
	}
	case EM_DELETE_RANGE: {
		const Etcdserverpb__DeleteRangeResponse *p = rs;
		out_tprintf(out, " deleted=%" PRId64, p->deleted);
		break;
	}
	case EM_TXN: {
		const Etcdserverpb__TxnResponse *p = rs;
		if (p->succeeded)
			out_tlit(out, " succeeded");
		else
			out_tlit(out, " failed (else branch)");
		break;
	}
	case EM_LEASE_GRANT: {
		const Etcdserverpb__LeaseGrantResponse *p = rs;
		out_tprintf(out, " id=%" PRIx64 " ttl=%" PRId64, (uint64_t)p->id, p->ttl);
		break;
	}
	case EM_LEASE_KEEPALIVE: {
		const Etcdserverpb__LeaseKeepAliveResponse *p = rs;
		out_tprintf(out, " ttl=%" PRId64, p->ttl);
		break;
	}
	case EM_LEASE_TIME_TO_LIVE: {
		const Etcdserverpb__LeaseTimeToLiveResponse *p = rs;
		out_tprintf(out, " ttl=%" PRId64 "/%" PRId64, p->ttl, p->grantedttl);
		break;
	}
	case EM_MEMBER_LIST: case EM_MEMBER_REMOVE: case EM_MEMBER_UPDATE: case EM_MEMBER_PROMOTE: {
		const Etcdserverpb__MemberListResponse *p = rs;
		text_members(out, p->members, p->n_members);
		break;
	}
	case EM_STATUS: {
		const Etcdserverpb__StatusResponse *p = rs;
		out_tprintf(out, " version=%s db=%" PRId64 " in_use=%" PRId64 " leader=%" PRIx64
			    " raft_index=%" PRIu64, p->version, p->dbsize, p->dbsizeinuse, p->leader,
			    p->raftindex);
		break;
	}
	default:
		break;
	}
}

static void text_prefix(struct out *out, const struct etcd_record *r)
{
	text_ts(out, r->c.ts);
	out_tputs(out, r->c.conn ? r->c.conn : "?");
	out_tputn(out, " s", 2);
	out_tu64(out, r->c.stream);
	out_tputn(out, " ", 1);
}

/* "ConfigMapApp demo/my-nginx-app by kubectl-patch Update: spec.replicas 3 -> 5". */
/* Diff values are shown as compact JSON cut to 60 bytes ("..." for the rest): only the
 * first 61 bytes are written, where json_dumps wrote whole subtrees to print 57 of them.
 * The buffers are reused from line to line. */
#define TEXT_PREVIEW_MAX 60
static struct jw preview_old, preview_new;

static const char *text_preview(struct jw *w, const json_t *v)
{
	jw_json_preview(w, v, TEXT_PREVIEW_MAX + 1);
	if (w->oom || !w->buf)
		return NULL;
	if (w->len > TEXT_PREVIEW_MAX) {
		memcpy(w->buf + TEXT_PREVIEW_MAX - 3, "...", 4);
		w->len = TEXT_PREVIEW_MAX;
	}
	return w->buf;
}

static void text_meaning(struct out *out, const struct meaning *m)
{
	if (!m)
		return;
	if (m->housekeeping && m->list_page && !strcmp(m->housekeeping, "list-page"))
		out_tprintf(out, " %s[%s %d]%s", out_c(out, C_DIM), m->housekeeping, m->list_page,
			    out_c(out, C_OFF));
	else if (m->housekeeping)
		out_tprintf(out, " %s[%s]%s", out_c(out, C_DIM), m->housekeeping, out_c(out, C_OFF));
	const struct k8s_value *v = m->has_value ? &m->val : m->has_prev ? &m->prev : NULL;
	if (m->has_key && m->key.kind == K8S_KEY_OBJECT) {
		const char *kind = v && v->kind && *v->kind ? v->kind : m->key.resource;
		/* " KIND NS/NAME", on most lines: appended piece by piece */
		out_tputn(out, " ", 1);
		out_tputs(out, out_c(out, C_CYAN));
		out_tputs(out, kind);
		out_tputn(out, " ", 1);
		out_tputs(out, m->key.ns);
		if (m->key.ns[0])
			out_tputn(out, "/", 1);
		out_tputs(out, m->key.name);
		out_tputs(out, out_c(out, C_OFF));
	} else if (m->has_key && (m->key.kind == K8S_KEY_RESOURCE || m->key.kind == K8S_KEY_NAMESPACE)) {
		out_tprintf(out, " %s%s%s%s%s%s", out_c(out, C_CYAN), m->key.group, m->key.group[0] ? "/" : "",
			    m->key.resource, m->key.kind == K8S_KEY_NAMESPACE ? " in " : "",
			    m->key.kind == K8S_KEY_NAMESPACE ? m->key.ns : "");
		out_tprintf(out, "%s", out_c(out, C_OFF));
	}
	if (v && v->enc == K8S_ENC_ENCRYPTED)
		out_tprintf(out, " [encrypted %s key=%s]", v->enc_provider, v->enc_key);
	if (m->has_writer && m->writer.manager) {
		out_tprintf(out, " by %s%s%s", out_c(out, C_YELLOW), m->writer.manager, out_c(out, C_OFF));
		if (m->writer.operation)
			out_tprintf(out, " %s", m->writer.operation);
		if (m->writer.subresource && *m->writer.subresource)
			out_tprintf(out, " %s", m->writer.subresource);
	}
	if (m->change) {
		out_tlit(out, " (");
		out_tputs(out, m->change);
		out_tlit(out, ")");
	}
	if (m->diff && json_array_size(m->diff)) {
		out_tlit(out, ":");
		size_t i;
		json_t *d;
		json_array_foreach(m->diff, i, d) {
			if (i >= 8) {
				out_tprintf(out, " ... %zu more", json_array_size(m->diff) - 8);
				break;
			}
			const char *path = json_string_value(json_object_get(d, "path"));
			json_t *o = json_object_get(d, "old"), *n = json_object_get(d, "new");
			const char *os = o ? text_preview(&preview_old, o) : NULL;
			const char *ns = n ? text_preview(&preview_new, n) : NULL;
			if (o && n && os && ns) { /* "; PATH: OLD -> NEW" */
				if (i)
					out_tlit(out, ";");
				out_tlit(out, " ");
				out_tputs(out, path ? path : "?");
				out_tlit(out, ": ");
				out_tputs(out, os);
				out_tlit(out, " -> ");
				out_tputs(out, ns);
			} else if (o && n)
				out_tprintf(out, "%s %s: %s -> %s", i ? ";" : "", path ? path : "?", os, ns);
			else if (n)
				out_tprintf(out, "%s %s: + %s", i ? ";" : "", path ? path : "?", ns);
			else
				out_tprintf(out, "%s %s: - %s", i ? ";" : "", path ? path : "?", os ? os : "");
		}
	}
}

static void text_rpc(struct out *out, const struct etcd_record *r, const struct meaning *m)
{
	const struct rec_rpc *rpc = &r->u.rpc;
	out_tputs(out, out_c(out, C_CYAN));
	out_tputs(out, rpc->m->service_name);
	out_tputn(out, "/", 1);
	out_tputs(out, rpc->m->name);
	if (rpc->inferred)
		out_tputn(out, "?", 1);
	out_tputs(out, out_c(out, C_OFF));
	size_t before = out->tlen;
	out_tlit(out, " ");
	text_request(out, rpc);
	if (out->tlen == before + 1)
		out->tlen = before; /* nothing to say about the request */
	if (rpc->status > 0) {
		out_tprintf(out, " -> %sERROR %d %s%s", out_c(out, C_RED), rpc->status,
			    out_grpc_code_name(rpc->status), out_c(out, C_OFF));
		if (rpc->status_message && *rpc->status_message)
			out_tprintf(out, " \"%s\"", rpc->status_message);
	} else if (rpc->status == 0 || rpc->resp) {
		out_tlit(out, " -> ");
		out_tputs(out, out_c(out, C_GREEN));
		out_tlit(out, "OK");
		out_tputs(out, out_c(out, C_OFF));
		text_response(out, rpc);
	} else {
		out_tlit(out, " -> (no response captured)");
	}
	if (rpc->latency_us >= 0)
		text_ms(out, rpc->latency_us);
	if (rpc->inferred)
		out_tprintf(out, " [method inferred, %d%%]", rpc->confidence);
	text_meaning(out, m);
}

static void text_watch_range(struct out *out, const struct rec_watch_range *rg)
{
	if (!rg || !rg->known) {
		out_tlit(out, " (range unknown: created before the capture)");
		return;
	}
	out_tlit(out, " ");
	ProtobufCBinaryData k = {rg->key_len, (uint8_t *)rg->key};
	ProtobufCBinaryData e = {rg->range_end_len, (uint8_t *)rg->range_end};
	text_range(out, k, e);
	if (rg->guessed)
		out_tlit(out, " (guessed from events)");
}

void out_text_record(struct out *out, const struct etcd_record *r, const struct meaning *m)
{
	text_prefix(out, r);
	switch (r->c.kind) {
	case REC_RPC:
		text_rpc(out, r, m);
		break;
	case REC_WRITE: {
		const struct rec_write *w = &r->u.write;
		out_tputs(out, out_c(out, C_YELLOW));
		out_tlit(out, "write ");
		out_tputs(out, out_op_name(w->op));
		out_tputs(out, out_c(out, C_OFF));
		out_tlit(out, " ");
		out_trange(out, w->key, w->key_len, w->range_end, w->range_end_len);
		if (w->range_end_len)
			out_tprintf(out, " deleted=%" PRId64, w->deleted);
		out_tlit(out, " rev=");
		out_ti64(out, w->revision);
		if (w->op == REC_OP_PUT)
			text_size(out, w->value_len);
		out_tlit(out, " via ");
		out_tputs(out, etcd_method_info(w->method)->name);
		text_meaning(out, m);
		break;
	}
	case REC_WATCH: {
		const struct rec_watch *w = &r->u.watch;
		out_tprintf(out, "%sWatch/%s%s", out_c(out, C_CYAN), out_watch_event_name(w->event), out_c(out, C_OFF));
		if (w->watch_id >= 0)
			out_tprintf(out, " id=%" PRId64, w->watch_id);
		if (w->event == RW_CREATE || w->event == RW_CREATED) {
			text_watch_range(out, &w->range);
			if (w->range.start_revision)
				out_tprintf(out, " start=%" PRId64, w->range.start_revision);
			if (w->range.prev_kv)
				out_tlit(out, " prev_kv");
			if (w->range.progress_notify)
				out_tlit(out, " progress_notify");
		}
		if (w->event == RW_CANCELED) {
			if (w->compact_revision)
				out_tprintf(out, " %scompacted at rev=%" PRId64 "%s", out_c(out, C_RED),
					    w->compact_revision, out_c(out, C_OFF));
			if (w->cancel_reason && *w->cancel_reason)
				out_tprintf(out, " \"%s\"", w->cancel_reason);
		}
		/* etcd sends header revision 0 with a compaction cancel: nothing to print */
		if (w->hdr.present && w->hdr.revision)
			out_tprintf(out, " rev=%" PRId64, w->hdr.revision);
		text_meaning(out, m);
		break;
	}
	case REC_WATCH_EVENT: {
		const struct rec_watch_event_rec *e = &r->u.ev;
		out_tputs(out, out_c(out, C_CYAN));
		out_tlit(out, "Watch/event");
		out_tputs(out, out_c(out, C_OFF));
		out_tlit(out, " id=");
		out_ti64(out, e->watch_id);
		if (e->type == REC_OP_DELETE)
			out_tlit(out, " DELETE ");
		else
			out_tlit(out, " PUT ");
		text_bin(out, e->kv->key);
		out_tlit(out, " mod=");
		out_ti64(out, e->kv->mod_revision);
		if (e->type == REC_OP_PUT) {
			out_tlit(out, " ver=");
			out_ti64(out, e->kv->version);
			text_size(out, e->kv->value.len);
		}
		if (e->prev_kv) {
			out_tlit(out, " prev=");
			out_ti64(out, e->prev_kv->mod_revision);
		}
		if (e->fragment)
			out_tlit(out, " fragment");
		text_meaning(out, m);
		break;
	}
	case REC_NOTICE: {
		const struct rec_notice *n = &r->u.notice;
		out_tprintf(out, "%s! %s%s", out_c(out, C_RED), n->what, out_c(out, C_OFF));
		if (n->bytes)
			out_tprintf(out, " %" PRIu64 " bytes", n->bytes);
		if (n->detail && *n->detail)
			out_tprintf(out, ": %s", n->detail);
		break;
	}
	case REC_LIST: {
		/* "LIST /registry/pods/(prefix) rev=15 3 pages of 2, 5 objects 0.960ms" */
		const struct rec_list *l = &r->u.list;
		out_tprintf(out, "%sLIST%s ", out_c(out, C_BOLD), out_c(out, C_OFF));
		out_trange(out, l->key, l->key_len, l->range_end, l->range_end_len);
		out_tprintf(out, " rev=%" PRId64 " %d page%s of %" PRId64 ", %" PRId64 " object%s",
			    l->revision, l->pages, l->pages == 1 ? "" : "s", l->limit, l->kvs,
			    l->kvs == 1 ? "" : "s");
		if (l->connections > 1)
			out_tprintf(out, " over %d connections", l->connections);
		if (l->latency_us >= 0)
			text_ms(out, l->latency_us);
		if (!l->complete)
			out_tprintf(out, " %sincomplete%s%s%s", out_c(out, C_RED),
				    l->status > 0 ? ": " : "",
				    l->status > 0 ? out_grpc_code_name(l->status) : "", out_c(out, C_OFF));
		text_meaning(out, m);
		break;
	}
	}
	out_temit(out);
}
