/* cmd_changes.c: the streaming change views.
 *  watch PREFIX: every change under PREFIX as it happens (op, object, revision, writer,
 *                diff), once per revision even when both the write's response and a watch
 *                event show it; flushed per line in live mode.
 *  writes:       every applied write with its writer and diff, and every attempted write
 *                that did not apply (Txn else-branch, gRPC error) with the reason. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "etcd.h"

/* Changes remembered to print each (key, revision) once. */
#define SEEN_RING 8192

struct changes_state {
	char prefix[512];
	size_t prefix_len;
	uint64_t seen[SEEN_RING];
	size_t seen_pos;
	struct jw value; /* a diff value being written for the text line */
};

static uint64_t change_id(const uint8_t *k, size_t n, int64_t rev)
{
	uint64_t h = 1469598103934665603ull ^ (uint64_t)rev;
	for (size_t i = 0; i < n; i++)
		h = (h ^ k[i]) * 1099511628211ull;
	return h ? h : 1;
}

/* True the first time a (key, revision) is offered. */
static bool first_sighting(struct changes_state *s, const uint8_t *k, size_t n, int64_t rev)
{
	uint64_t id = change_id(k, n, rev);
	for (size_t i = 0; i < SEEN_RING; i++)
		if (s->seen[i] == id)
			return false;
	s->seen[s->seen_pos] = id;
	s->seen_pos = (s->seen_pos + 1) % SEEN_RING;
	return true;
}

static int changes_start(struct app *a)
{
	struct changes_state *s = calloc(1, sizeof *s);
	if (!s)
		return -1;
	jw_init(&s->value);
	if (a->o->n_args) {
		const char *p = a->o->args[0];
		/* "configmaps/demo" is shorthand for "<prefix>/configmaps/demo" */
		if (p[0] == '/')
			snprintf(s->prefix, sizeof s->prefix, "%s", p);
		else
			snprintf(s->prefix, sizeof s->prefix, "%s/%s", a->o->prefix, p);
		s->prefix_len = strlen(s->prefix);
	}
	a->cmd_state = s;
	return 0;
}

static void changes_free(struct app *a)
{
	struct changes_state *s = a->cmd_state;
	if (s)
		jw_free(&s->value);
	free(a->cmd_state);
	a->cmd_state = NULL;
}

/* A diff value as json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) writes it (written by jw,
 * without a malloc'd string per value), or "(none)". */
static void change_value(struct out *o, struct jw *scratch, const json_t *v)
{
	if (v)
		jw_json_preview(scratch, v, 0); /* limit 0: the whole value */
	if (!v || scratch->oom || !scratch->buf)
		out_tlit(o, "(none)");
	else
		out_tputn(o, scratch->buf, scratch->len);
}

/* One change: a write applied or delivered as a watch event. */
static void print_change(struct app *a, const struct etcd_record *r, const struct meaning *m,
			 enum rec_op op, const uint8_t *key, size_t key_len, int64_t rev,
			 const char *seen_as)
{
	struct out *o = &a->out;
	if (a->o->json) {
		struct jw *w = &o->jw;
		jw_reset(w);
		jw_obj_begin(w);
		jw_key(w, "ts");
		jw_ts(w, r->c.ts);
		jw_kstr(w, "kind", "change");
		jw_kstr(w, "op", out_op_name(op));
		jw_key_bytes(w, "key", key, key_len);
		jw_ki64(w, "revision", rev);
		jw_kstr(w, "seen_as", seen_as);
		jw_kstr(w, "conn", r->c.conn ? r->c.conn : "");
		out_json_meaning(w, m, a->o);
		jw_obj_end(w);
		out_json_emit(o);
		return;
	}
	out_tputs(o, out_hms(o, r->c.ts)); /* local time, cached per second */
	out_tprintf(o, ".%06d %s ", (int)(r->c.ts % 1000000), op == REC_OP_DELETE ? "DELETE" : "PUT   ");
	out_tbytes(o, key, key_len);
	out_tprintf(o, " rev=%" PRId64 " (%s)", rev, seen_as);
	/* reuse the trace printer's meaning part through a minimal text record */
	if (m) {
		const struct k8s_value *v = m->has_value ? &m->val : m->has_prev ? &m->prev : NULL;
		if (m->has_key && m->key.kind == K8S_KEY_OBJECT)
			out_tprintf(o, " %s %s%s%s", v && v->kind && *v->kind ? v->kind : m->key.resource,
				    m->key.ns, m->key.ns[0] ? "/" : "", m->key.name);
		if (m->has_writer && m->writer.manager)
			out_tprintf(o, " by %s %s%s%s", m->writer.manager, m->writer.operation ? m->writer.operation : "",
				    m->writer.subresource && *m->writer.subresource ? " " : "",
				    m->writer.subresource ? m->writer.subresource : "");
		if (m->change)
			out_tprintf(o, " (%s)", m->change);
		size_t i;
		json_t *d;
		struct changes_state *s = a->cmd_state;
		json_array_foreach(m->diff, i, d) {
			out_tprintf(o, "%s %s: ", i ? ";" : ":", json_string_value(json_object_get(d, "path")));
			change_value(o, &s->value, json_object_get(d, "old"));
			out_tlit(o, " -> ");
			change_value(o, &s->value, json_object_get(d, "new"));
		}
	}
	out_temit(o);
}

static bool under_prefix(const struct changes_state *s, const uint8_t *k, size_t n)
{
	return n >= s->prefix_len && !memcmp(k, s->prefix, s->prefix_len);
}

static void watch_record(struct app *a, const struct etcd_record *r, const struct meaning *m)
{
	struct changes_state *s = a->cmd_state;
	if (!app_filter_pass(a, r, m))
		return;
	if (r->c.kind == REC_WRITE) {
		const struct rec_write *w = &r->u.write;
		if (w->range_end_len || !under_prefix(s, w->key, w->key_len) ||
		    !first_sighting(s, w->key, w->key_len, w->revision))
			return;
		print_change(a, r, m, w->op, w->key, w->key_len, w->revision, "write");
	} else if (r->c.kind == REC_WATCH_EVENT) {
		const Mvccpb__KeyValue *kv = r->u.ev.kv;
		if (!under_prefix(s, kv->key.data, kv->key.len) ||
		    !first_sighting(s, kv->key.data, kv->key.len, kv->mod_revision))
			return;
		print_change(a, r, m, r->u.ev.type, kv->key.data, kv->key.len, kv->mod_revision, "watch event");
	}
}

/* Why a write RPC did not apply, or NULL when it did. */
static const char *not_applied_reason(const struct rec_rpc *rpc, char *buf, size_t n)
{
	if (rpc->status > 0) {
		snprintf(buf, n, "error %d %s: %s", rpc->status, out_grpc_code_name(rpc->status),
			 rpc->status_message ? rpc->status_message : "");
		return buf;
	}
	if (rpc->m->method != EM_TXN || !rpc->req || !rpc->resp)
		return NULL;
	const Etcdserverpb__TxnRequest *q = (const void *)rpc->req;
	const Etcdserverpb__TxnResponse *p = (const void *)rpc->resp;
	if (p->succeeded || !q->n_success)
		return NULL;
	bool writes = false;
	for (size_t i = 0; i < q->n_success; i++)
		writes |= q->success[i]->request_case != ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE;
	if (!writes)
		return NULL;
	/* The API server's failure branch reads the key back: its mod_revision is the actual. */
	int64_t actual = -1;
	for (size_t i = 0; i < p->n_responses; i++)
		if (p->responses[i]->response_case == ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_RANGE &&
		    p->responses[i]->response_range->n_kvs)
			actual = p->responses[i]->response_range->kvs[0]->mod_revision;
	const Etcdserverpb__Compare *c = q->n_compare ? q->compare[0] : NULL;
	if (c && c->target == ETCDSERVERPB__COMPARE__COMPARE_TARGET__MOD && actual >= 0)
		snprintf(buf, n, "revision conflict: expected mod_revision %" PRId64 ", key is at %" PRId64,
			 c->mod_revision, actual);
	else if (c && c->target == ETCDSERVERPB__COMPARE__COMPARE_TARGET__MOD && c->mod_revision == 0)
		snprintf(buf, n, "already exists (create compares mod_revision == 0)");
	else if (c && c->target == ETCDSERVERPB__COMPARE__COMPARE_TARGET__MOD)
		snprintf(buf, n, "revision conflict: expected mod_revision %" PRId64, c->mod_revision);
	else
		snprintf(buf, n, "Txn compare failed: else branch ran");
	return buf;
}

static void writes_record(struct app *a, const struct etcd_record *r, const struct meaning *m)
{
	struct changes_state *s = a->cmd_state;
	if (!app_filter_pass(a, r, m) || (m && m->housekeeping && a->o->hide_housekeeping))
		return;
	if (r->c.kind == REC_WRITE) {
		const struct rec_write *w = &r->u.write;
		if (s->prefix_len && !under_prefix(s, w->key, w->key_len))
			return;
		print_change(a, r, m, w->op, w->key, w->key_len, w->revision, "applied");
		return;
	}
	if (r->c.kind != REC_RPC)
		return;
	const struct rec_rpc *rpc = &r->u.rpc;
	if (rpc->m->method != EM_PUT && rpc->m->method != EM_TXN && rpc->m->method != EM_DELETE_RANGE)
		return;
	if (s->prefix_len) {
		size_t klen = 0;
		const uint8_t *k = app_record_key(r, &klen);
		if (!k || !under_prefix(s, k, klen))
			return;
	}
	char reason[256];
	if (!not_applied_reason(rpc, reason, sizeof reason))
		return;
	struct out *o = &a->out;
	if (a->o->json) {
		struct jw *w = &o->jw;
		jw_reset(w);
		jw_obj_begin(w);
		jw_key(w, "ts");
		jw_ts(w, r->c.ts);
		jw_kstr(w, "kind", "rejected");
		jw_kstr(w, "method", rpc->m->name);
		jw_kstr(w, "reason", reason);
		jw_kstr(w, "conn", r->c.conn ? r->c.conn : "");
		out_json_meaning(w, m, a->o);
		jw_obj_end(w);
		out_json_emit(o);
		return;
	}
	out_text_record(o, r, m);
	out_tprintf(o, "    ^ NOT APPLIED: %s", reason);
	out_temit(o);
}

const struct command_ops cmd_watch = {.name = "watch", .streaming = true, .start = changes_start,
				      .on_record = watch_record, .free_state = changes_free};
const struct command_ops cmd_writes = {.name = "writes", .streaming = true, .start = changes_start,
				       .on_record = writes_record, .free_state = changes_free};

/* Exposed for cmd_why.c. */
const char *changes_not_applied_reason(const struct rec_rpc *rpc, char *buf, size_t n)
{
	return not_applied_reason(rpc, buf, n);
}
