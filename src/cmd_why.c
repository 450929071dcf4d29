/* cmd_why.c: `why KEY | RESOURCE[.GROUP]/NAMESPACE/NAME` — the operator-debugging report for
 * one object. Collects every write attempt on the object and every watch whose range covers
 * it, then names the first broken link in write -> etcd -> watch -> delivery.
 *
 * The API server's habits this relies on: an update that changes no byte is never sent to
 * etcd; all its watches share one gRPC Watch stream per connection, told apart by watch_id;
 * most resources have one etcd watch per resource, fanned out to operators by the API
 * server, so an operator's own watch is not on this wire. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "etcd.h"

#define WHY_MAX_ATTEMPTS 256
#define WHY_MAX_WATCHES 256
#define WHY_MAX_DELIVERIES 64
#define WHY_MAX_LISTS 64
/* Seconds from a write to its event. etcd may send the event before the write's response
 * and the capture clock has a microsecond grain: never below zero ("-0.000 s"). */
static double delay_s(ee_ts write_ts, ee_ts event_ts)
{
	return event_ts > write_ts ? (double)(event_ts - write_ts) / 1e6 : 0.0;
}

/* An event later than this after its write is reported as late. */
#define WHY_LATE_US 1000000

const char *changes_not_applied_reason(const struct rec_rpc *rpc, char *buf, size_t n);

struct why_attempt {
	ee_ts ts;
	bool applied;
	int64_t revision;
	char method[16], op[8], manager[64], operation[16], subresource[16], reason[200], change[16];
	char diff[256];
};

struct why_delivery {
	int64_t revision;
	ee_ts ts;
	enum rec_op type;
};

struct why_watch {
	uint64_t conn_id;
	uint32_t stream;
	int64_t watch_id;
	char conn[112];
	bool range_known, range_guessed;
	uint8_t key[256], end[256];
	size_t key_len, end_len;
	int64_t start_revision;
	int64_t created_revision; /* header revision of the "created" response, 0: not seen */
	ee_ts created_ts;
	bool canceled;
	int64_t compact_revision;
	char cancel_reason[128];
	ee_ts canceled_ts;
	uint64_t progress;
	struct why_delivery del[WHY_MAX_DELIVERIES];
	int ndel;
	bool covers; /* its range covers the key, or it delivered an event for it */
	int outcome; /* enum why_outcome, set by why_verdict for covering watches */
	int via_list; /* outcome delivered-by-list: index in why_state.lists + 1 */
};

/* A complete read of a range (a LIST joined from its pages, or one Range that said no
 * more) at a revision: an informer's LIST before its WATCH. If it covers the key at or
 * after the write's revision, the object reached the API server through it. */
struct why_list {
	int64_t revision;
	ee_ts ts;
	uint64_t conn_id;
	char conn[112];
	int pages; /* 1: a Range */
	uint8_t key[256], end[256];
	size_t key_len, end_len;
};

struct why_state {
	/* the target: a key, or resource/group/namespace/name matched on meaning */
	bool by_key;
	uint8_t key[512];
	size_t key_len;
	char resource[128], group[128], ns[256], name[256];
	bool key_learned; /* by_key false: the concrete key once seen */
	struct why_attempt att[WHY_MAX_ATTEMPTS];
	int natt;
	struct why_watch w[WHY_MAX_WATCHES];
	int nw;
	ee_ts last_ts;       /* the last record's time; at the end, the last packet's */
	ee_ts reads[64]; /* Range requests that read the object itself, newest kept */
	int nreads;
	struct why_list lists[WHY_MAX_LISTS]; /* covering the key (or all, while it is unknown), newest kept */
	int nlists;
};

static int why_start(struct app *a)
{
	struct why_state *s = calloc(1, sizeof *s);
	if (!s)
		return -1;
	const char *arg = a->o->args[0];
	if (arg[0] == '/') {
		s->by_key = true;
		s->key_len = strlen(arg) < sizeof s->key ? strlen(arg) : sizeof s->key - 1;
		memcpy(s->key, arg, s->key_len);
	} else {
		/* resource[.group]/namespace/name or resource[.group]/name */
		char tmp[640];
		snprintf(tmp, sizeof tmp, "%s", arg);
		char *p1 = strchr(tmp, '/');
		if (!p1) {
			fprintf(stderr, "etcd-explorer: why needs a key (/registry/...) or RESOURCE/NAMESPACE/NAME\n");
			free(s);
			return -1;
		}
		*p1++ = 0;
		char *p2 = strchr(p1, '/');
		if (p2) {
			*p2++ = 0;
			snprintf(s->ns, sizeof s->ns, "%.*s", (int)sizeof s->ns - 1, p1);
			snprintf(s->name, sizeof s->name, "%.*s", (int)sizeof s->name - 1, p2);
		} else {
			snprintf(s->name, sizeof s->name, "%.*s", (int)sizeof s->name - 1, p1);
		}
		char *dot = strchr(tmp, '.');
		if (dot) {
			*dot++ = 0;
			snprintf(s->group, sizeof s->group, "%.*s", (int)sizeof s->group - 1, dot);
		}
		snprintf(s->resource, sizeof s->resource, "%.*s", (int)sizeof s->resource - 1, tmp);
	}
	a->cmd_state = s;
	return 0;
}

static void why_free(struct app *a)
{
	free(a->cmd_state);
	a->cmd_state = NULL;
}

/* Is this record about the target? Learns the concrete key on first match by name. */
static bool is_target(struct why_state *s, const uint8_t *key, size_t len, const struct meaning *m)
{
	if (!key)
		return false;
	if (s->by_key || s->key_learned)
		return len == s->key_len && !memcmp(key, s->key, len);
	if (!m || !m->has_key || m->key.kind != K8S_KEY_OBJECT)
		return false;
	if (strcmp(m->key.resource, s->resource) || strcmp(m->key.name, s->name) ||
	    strcmp(m->key.ns, s->ns) || (s->group[0] && strcmp(m->key.group, s->group)))
		return false;
	if (len < sizeof s->key) {
		memcpy(s->key, key, len);
		s->key_len = len;
		s->key_learned = true;
	}
	return true;
}

/* Is k in the etcd range [key, end) (end empty: key alone; end "\0": key and after)? */
static bool in_range(const uint8_t *key, size_t key_len, const uint8_t *end, size_t end_len,
		     const uint8_t *k, size_t n)
{
	size_t m = n < key_len ? n : key_len;
	int c = memcmp(k, key, m);
	if (c < 0 || (c == 0 && n < key_len))
		return false; /* key < range start */
	if (!end_len)
		return n == key_len && c == 0;
	if (end_len == 1 && end[0] == 0)
		return true; /* from key on */
	m = n < end_len ? n : end_len;
	c = memcmp(k, end, m);
	return c < 0 || (c == 0 && n < end_len);
}

static bool range_covers(const struct why_watch *w, const uint8_t *k, size_t n)
{
	return w->range_known && in_range(w->key, w->key_len, w->end, w->end_len, k, n);
}

/* Keeps a complete read of [key, end) at revision rev. A range too long to keep whole is
 * not kept (it could not be matched against the key). */
static void add_list(struct why_state *s, const struct etcd_record *r, const uint8_t *key, size_t kl,
		     const uint8_t *end, size_t el, int64_t rev, int pages)
{
	struct why_list *l;
	if (!el || kl > sizeof l->key || el > sizeof l->end || rev <= 0)
		return;
	if ((s->by_key || s->key_learned) && !in_range(key, kl, end, el, s->key, s->key_len))
		return;
	if (s->nlists == WHY_MAX_LISTS)
		memmove(s->lists, s->lists + 1, (WHY_MAX_LISTS - 1) * sizeof s->lists[0]);
	else
		s->nlists++;
	l = &s->lists[s->nlists - 1];
	memset(l, 0, sizeof *l);
	l->revision = rev;
	l->ts = r->c.ts;
	l->conn_id = r->c.conn_id;
	snprintf(l->conn, sizeof l->conn, "%s", r->c.conn ? r->c.conn : "");
	l->pages = pages;
	if (kl)
		memcpy(l->key, key, kl);
	l->key_len = kl;
	memcpy(l->end, end, el);
	l->end_len = el;
}

/* Length of the client address in a connection name "CLIENT:PORT-SERVER:PORT" (IPv6 in
 * brackets: no '-' in either address), 0 when it has no such shape. */
static size_t client_host_len(const char *conn)
{
	const char *dash = strchr(conn, '-');
	if (!dash)
		return 0;
	for (const char *p = dash; p > conn; p--)
		if (p[-1] == ':')
			return (size_t)(p - 1 - conn);
	return 0;
}

/* Same API server: the same connection, or another from the same client address. An API
 * server's etcd client spreads its RPCs over one connection per etcd endpoint (round
 * robin), so its LIST and its WATCH may travel on two connections from one host. */
static bool same_client(const struct why_list *l, const struct why_watch *w)
{
	if (l->conn_id == w->conn_id)
		return true;
	size_t a = client_host_len(l->conn), b = client_host_len(w->conn);
	return a && a == b && !memcmp(l->conn, w->conn, a);
}

/* Shown in the report: a watch covering the key, or one whose range is unknown (created
 * before the capture, no event for the key seen): it may cover the key, and what etcd said
 * about it (a cancellation, a compaction) is all there is to know. */
static bool watch_shown(const struct why_watch *w, const uint8_t *key, size_t n)
{
	return w->covers || range_covers(w, key, n) || !w->range_known;
}

/* Why a watch's range is unknown: its creation was not seen, or only its answer was. */
static const char *unknown_why(const struct why_watch *w)
{
	return w->created_ts ? "its create request was not captured" : "created before the capture";
}

static struct why_watch *find_watch(struct why_state *s, const struct etcd_record *r, int64_t id, bool add)
{
	for (int i = s->nw - 1; i >= 0; i--)
		if (s->w[i].conn_id == r->c.conn_id && s->w[i].stream == r->c.stream && s->w[i].watch_id == id)
			return &s->w[i];
	if (!add || s->nw >= WHY_MAX_WATCHES)
		return NULL;
	struct why_watch *w = &s->w[s->nw++];
	memset(w, 0, sizeof *w);
	w->conn_id = r->c.conn_id;
	w->stream = r->c.stream;
	w->watch_id = id;
	snprintf(w->conn, sizeof w->conn, "%s", r->c.conn ? r->c.conn : "");
	return w;
}

static void copy_range(struct why_watch *w, const struct rec_watch_range *rg)
{
	if (!rg->known || w->range_known)
		return;
	w->range_known = true;
	w->range_guessed = rg->guessed;
	w->key_len = rg->key_len < sizeof w->key ? rg->key_len : sizeof w->key;
	memcpy(w->key, rg->key, w->key_len);
	w->end_len = rg->range_end_len < sizeof w->end ? rg->range_end_len : sizeof w->end;
	if (w->end_len)
		memcpy(w->end, rg->range_end, w->end_len);
	w->start_revision = rg->start_revision;
	w->created_ts = rg->created_ts;
}

static void add_attempt(struct why_state *s, const struct etcd_record *r, const struct meaning *m,
			bool applied, int64_t rev, const char *method, const char *op, const char *reason)
{
	if (s->natt >= WHY_MAX_ATTEMPTS)
		return;
	/* a Txn write appears as the RPC and as its write record: keep one */
	for (int i = 0; i < s->natt; i++)
		if (applied && s->att[i].applied && s->att[i].revision == rev)
			return;
	struct why_attempt *t = &s->att[s->natt++];
	memset(t, 0, sizeof *t);
	t->ts = r->c.ts;
	t->applied = applied;
	t->revision = rev;
	snprintf(t->method, sizeof t->method, "%s", method);
	snprintf(t->op, sizeof t->op, "%s", op);
	snprintf(t->reason, sizeof t->reason, "%s", reason ? reason : "");
	if (m && m->has_writer) {
		snprintf(t->manager, sizeof t->manager, "%s", m->writer.manager ? m->writer.manager : "");
		snprintf(t->operation, sizeof t->operation, "%s", m->writer.operation ? m->writer.operation : "");
		snprintf(t->subresource, sizeof t->subresource, "%s", m->writer.subresource ? m->writer.subresource : "");
	}
	if (m && m->change)
		snprintf(t->change, sizeof t->change, "%s", m->change);
	size_t i;
	json_t *d;
	if (m && m->diff)
		json_array_foreach(m->diff, i, d) {
			size_t l = strlen(t->diff);
			const char *p = json_string_value(json_object_get(d, "path"));
			char *ns = json_object_get(d, "new") ? json_dumps(json_object_get(d, "new"), JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
			snprintf(t->diff + l, sizeof t->diff - l, "%s%s=%s", l ? ", " : "", p ? p : "?", ns ? ns : "(removed)");
			free(ns);
		}
}

/* Who attempted a write that did not apply: the meaning has no writer for it (nothing was
 * written), but the request carries the value the client wanted, with its managedFields.
 * The API server's failure branch reads the key back: that current value, when present,
 * tells which managedFields entry the client added or moved. */
static void rejected_writer(struct why_attempt *t, const struct rec_rpc *rpc, const uint8_t *key, size_t kl)
{
	const ProtobufCBinaryData *val = NULL, *cur = NULL;
	if (!rpc->req)
		return;
	if (rpc->m->method == EM_PUT) {
		val = &((const Etcdserverpb__PutRequest *)rpc->req)->value;
	} else if (rpc->m->method == EM_TXN) {
		const Etcdserverpb__TxnRequest *q = (const void *)rpc->req;
		for (size_t i = 0; i < q->n_success && !val; i++) {
			const Etcdserverpb__PutRequest *pq = q->success[i]->request_case ==
				ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT ? q->success[i]->request_put : NULL;
			if (pq && pq->key.len == kl && !memcmp(pq->key.data, key, kl))
				val = &pq->value;
		}
		const Etcdserverpb__TxnResponse *p = (const void *)rpc->resp;
		for (size_t i = 0; p && i < p->n_responses && !cur; i++) {
			const Etcdserverpb__RangeResponse *rr = p->responses[i]->response_case ==
				ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_RANGE ? p->responses[i]->response_range : NULL;
			if (rr && rr->n_kvs && rr->kvs[0]->key.len == kl && !memcmp(rr->kvs[0]->key.data, key, kl))
				cur = &rr->kvs[0]->value;
		}
	}
	if (!val || !val->len)
		return;
	struct k8s_value nv = {0}, ov = {0};
	if (k8s_value_decode(val->data, val->len, &nv))
		return;
	bool have_old = cur && cur->len && !k8s_value_decode(cur->data, cur->len, &ov);
	struct k8s_writer w;
	if (nv.obj && k8s_writer_of(nv.obj, have_old ? ov.obj : NULL, &w)) {
		snprintf(t->manager, sizeof t->manager, "%s", w.manager ? w.manager : "");
		snprintf(t->operation, sizeof t->operation, "%s", w.operation ? w.operation : "");
		snprintf(t->subresource, sizeof t->subresource, "%s", w.subresource ? w.subresource : "");
	}
	if (have_old)
		k8s_value_free(&ov);
	k8s_value_free(&nv);
}

static void why_record(struct app *a, const struct etcd_record *r, const struct meaning *m)
{
	struct why_state *s = a->cmd_state;
	s->last_ts = r->c.ts;
	switch (r->c.kind) {
	case REC_WRITE: {
		const struct rec_write *w = &r->u.write;
		if (is_target(s, w->key, w->key_len, m))
			add_attempt(s, r, m, true, w->revision, etcd_method_info(w->method)->name,
				    out_op_name(w->op), NULL);
		return;
	}
	case REC_RPC: {
		const struct rec_rpc *rpc = &r->u.rpc;
		if (rpc->m->method == EM_RANGE && rpc->req && rpc->status <= 0) {
			const Etcdserverpb__RangeRequest *q = (const void *)rpc->req;
			const Etcdserverpb__RangeResponse *rr = (const void *)rpc->resp;
			/* a whole range read with values (a page that says more is part of a LIST:
			 * the joined REC_LIST record stands for it) */
			if (q->range_end.len && rr && !rr->more && !q->count_only && !q->keys_only)
				add_list(s, r, q->key.data, q->key.len, q->range_end.data, q->range_end.len,
					 q->revision ? q->revision : rpc->hdr.revision, 1);
			if (!q->range_end.len && is_target(s, q->key.data, q->key.len, m)) {
				if (s->nreads == 64)
					memmove(s->reads, s->reads + 1, 63 * sizeof s->reads[0]);
				else
					s->nreads++;
				s->reads[s->nreads - 1] = r->c.ts;
			}
			return;
		}
		if (rpc->m->method != EM_PUT && rpc->m->method != EM_TXN && rpc->m->method != EM_DELETE_RANGE)
			return;
		char reason[200];
		if (!changes_not_applied_reason(rpc, reason, sizeof reason) || !m || !m->has_key)
			return;
		/* the meaning's key is the Txn's compared key / the Put's key */
		const void *q = rpc->req;
		const uint8_t *k = NULL;
		size_t kl = 0;
		if (q && rpc->m->method == EM_TXN && ((const Etcdserverpb__TxnRequest *)q)->n_compare) {
			k = ((const Etcdserverpb__TxnRequest *)q)->compare[0]->key.data;
			kl = ((const Etcdserverpb__TxnRequest *)q)->compare[0]->key.len;
		} else if (q && rpc->m->method == EM_PUT) {
			k = ((const Etcdserverpb__PutRequest *)q)->key.data;
			kl = ((const Etcdserverpb__PutRequest *)q)->key.len;
		} else if (q) {
			k = ((const Etcdserverpb__DeleteRangeRequest *)q)->key.data;
			kl = ((const Etcdserverpb__DeleteRangeRequest *)q)->key.len;
		}
		if (is_target(s, k, kl, m)) {
			int n = s->natt;
			add_attempt(s, r, m, false, rpc->hdr.revision, rpc->m->name, "", reason);
			if (s->natt > n && !s->att[n].manager[0])
				rejected_writer(&s->att[n], rpc, k, kl);
		}
		return;
	}
	case REC_LIST: {
		const struct rec_list *l = &r->u.list;
		if (l->complete && l->status <= 0)
			add_list(s, r, l->key, l->key_len, l->range_end, l->range_end_len, l->revision, l->pages);
		return;
	}
	case REC_WATCH: {
		const struct rec_watch *wa = &r->u.watch;
		if (wa->event == RW_CREATED || (wa->event == RW_CANCELED && wa->watch_id >= 0)) {
			struct why_watch *w = find_watch(s, r, wa->watch_id, true);
			if (!w)
				return;
			copy_range(w, &wa->range);
			if (!w->created_ts && wa->event == RW_CREATED)
				w->created_ts = r->c.ts;
			if (!w->created_revision && wa->event == RW_CREATED)
				w->created_revision = wa->revision;
			if (wa->event == RW_CANCELED) {
				w->canceled = true;
				w->canceled_ts = r->c.ts;
				w->compact_revision = wa->compact_revision;
				snprintf(w->cancel_reason, sizeof w->cancel_reason, "%s", wa->cancel_reason ? wa->cancel_reason : "");
			}
		} else if (wa->event == RW_PROGRESS) {
			for (int i = 0; i < s->nw; i++)
				if (s->w[i].conn_id == r->c.conn_id && s->w[i].stream == r->c.stream &&
				    (wa->watch_id < 0 || s->w[i].watch_id == wa->watch_id))
					s->w[i].progress++;
		}
		return;
	}
	case REC_WATCH_EVENT: {
		const struct rec_watch_event_rec *e = &r->u.ev;
		struct why_watch *w = find_watch(s, r, e->watch_id, true);
		if (!w)
			return;
		if (e->range)
			copy_range(w, e->range);
		if (!is_target(s, e->kv->key.data, e->kv->key.len, m))
			return;
		w->covers = true;
		if (w->ndel < WHY_MAX_DELIVERIES) {
			w->del[w->ndel].revision = e->kv->mod_revision;
			w->del[w->ndel].ts = r->c.ts;
			w->del[w->ndel].type = e->type;
			w->ndel++;
		}
		return;
	}
	default:
		return;
	}
}

static void fmt_ts(ee_ts ts, char *buf, size_t n)
{
	time_t sec = (time_t)(ts / 1000000);
	struct tm tm;
	localtime_r(&sec, &tm);
	snprintf(buf, n, "%02d:%02d:%02d.%06d", tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ts % 1000000));
}

/* What one covering watch did with the last applied write, best first. A canceled watch
 * that its own connection (the same API server) replaced by a later covering watch able to
 * send the write's event is "replaced": the later watch tells for that API server. A
 * replacement started after the write does not hide the cancellation that made it miss
 * the event (the compaction is the first broken link then). A watch that started after
 * the write is "delivered-by-list" when its API server read the key's range at or after
 * the write's revision before creating it: the informer's LIST then WATCH from the LIST's
 * revision + 1; the object came with the LIST. */
enum why_outcome {
	WO_NONE, WO_DELIVERED, WO_LISTED, WO_LATE, WO_NOT_DELIVERED, WO_STARTED_LATE, WO_CANCELED, WO_COMPACTED,
	WO_REPLACED
};

static const char *const outcome_name[] = {
	[WO_NONE] = "", [WO_DELIVERED] = "delivered", [WO_LISTED] = "delivered-by-list", [WO_LATE] = "delivered-late",
	[WO_NOT_DELIVERED] = "not-delivered", [WO_STARTED_LATE] = "started-late",
	[WO_CANCELED] = "canceled", [WO_COMPACTED] = "compacted", [WO_REPLACED] = "replaced",
};

/* Severity for the verdict: the worst outcome over the covering watches wins (a replaced
 * watch does not take part). */
static int outcome_rank(enum why_outcome o)
{
	return o == WO_REPLACED ? 0 : (int)o;
}

/* The first revision whose events the watch sends: its start revision; for start revision
 * 0 ("from now"), the one after the revision etcd was at when it created the watch (the
 * "created" response's header); 0 when neither was captured. */
static int64_t first_revision(const struct why_watch *w)
{
	if (w->start_revision)
		return w->start_revision;
	return w->created_revision ? w->created_revision + 1 : 0;
}

/* Could this watch send the write's event: it did, or it started at or before the write.
 * Without either revision, its creation time tells. */
static bool could_deliver(const struct why_watch *w, const struct why_attempt *applied)
{
	for (int d = 0; d < w->ndel; d++)
		if (w->del[d].revision == applied->revision)
			return true;
	if (first_revision(w))
		return first_revision(w) <= applied->revision;
	return w->created_ts && w->created_ts <= applied->ts;
}

/* The covering read that gave the watch's API server the write before the watch was
 * created: the newest complete read of a range covering the key at a revision at or after
 * the write's, on the same client (same_client), before the create. -1 when none. */
static int list_before(const struct why_state *s, const struct why_watch *w, const struct why_attempt *applied)
{
	if (!w->created_ts)
		return -1;
	for (int i = s->nlists - 1; i >= 0; i--) {
		const struct why_list *l = &s->lists[i];
		if (l->revision >= applied->revision && l->ts <= w->created_ts && same_client(l, w) &&
		    in_range(l->key, l->key_len, l->end, l->end_len, s->key, s->key_len))
			return i;
	}
	return -1;
}

static enum why_outcome watch_outcome(const struct why_state *s, const struct why_watch *w,
				      const struct why_attempt *applied, double *lat, int *via)
{
	*via = -1;
	for (int d = 0; d < w->ndel; d++)
		if (w->del[d].revision == applied->revision) {
			*lat = delay_s(applied->ts, w->del[d].ts);
			return w->del[d].ts > applied->ts && w->del[d].ts - applied->ts > WHY_LATE_US ?
				WO_LATE : WO_DELIVERED;
		}
	if (w->canceled)
		for (int i = 0; i < s->nw; i++) {
			const struct why_watch *o = &s->w[i];
			if (o != w && o->covers && o->conn_id == w->conn_id && o->created_ts &&
			    o->created_ts >= w->canceled_ts && could_deliver(o, applied))
				return WO_REPLACED;
		}
	if (w->canceled)
		return w->compact_revision ? WO_COMPACTED : WO_CANCELED;
	if (first_revision(w) > applied->revision) {
		*via = list_before(s, w, applied);
		return *via >= 0 ? WO_LISTED : WO_STARTED_LATE;
	}
	return WO_NOT_DELIVERED;
}

/* "watch 3", and with several covering watches "watch 3 (s49 on CONN)": watch ids are
 * per stream, so only the stream and connection tell two API servers' watches apart. */
static const char *watch_name(const struct why_watch *w, bool several, char *buf, size_t n)
{
	if (several)
		snprintf(buf, n, "watch %" PRId64 " (s%u on %s)", w->watch_id, w->stream, w->conn);
	else
		snprintf(buf, n, "watch %" PRId64, w->watch_id);
	return buf;
}

/* The verdict: the first broken link, as one sentence. With several watches covering the
 * key (HA control planes: one etcd watch per API server), the worst outcome of any of them
 * decides, and the sentence says how many delivered at once: the operator talks to one API
 * server the etcd wire cannot name, so a healthy watch must not hide a broken one. */
static void why_verdict(struct why_state *s, char *v, size_t n, const char **code)
{
	const struct why_attempt *applied = NULL, *last = NULL;
	for (int i = 0; i < s->natt; i++) {
		if (s->att[i].applied)
			applied = &s->att[i]; /* the last applied write */
		last = &s->att[i];
	}
	/* The question is about the latest attempt: a rejected update after an applied one is
	 * the reason nothing happened. */
	if (last && !last->applied) {
		*code = strstr(last->reason, "conflict") ? "write-rejected-conflict" : "write-rejected";
		snprintf(v, n, "write rejected: %s%s%s%s", last->reason, last->manager[0] ? " (attempt by " : "",
			 last->manager, last->manager[0] ? ")" : "");
		return;
	}
	if (!applied) {
		*code = "no-write";
		snprintf(v, n, "no write reached etcd (an update that changes nothing is never sent to etcd; "
			       "look at the client or at admission)");
		return;
	}
	for (int i = 0; i < s->nw; i++)
		if (!s->w[i].covers && range_covers(&s->w[i], s->key, s->key_len))
			s->w[i].covers = true;
	/* A covering watch set up after the last write, then only reads of the object: the
	 * client's update changed nothing, so the API server never sent it to etcd. */
	for (int i = 0; i < s->nw; i++) {
		const struct why_watch *w = &s->w[i];
		if (!w->covers || w->canceled || !w->created_ts || w->created_ts < applied->ts ||
		    !s->nreads || s->reads[s->nreads - 1] < w->created_ts)
			continue;
		*code = "no-write";
		snprintf(v, n, "no write reached etcd since watch %" PRId64 " started at revision %" PRId64
			       " (the last write was revision %" PRId64 "; later requests only read the object: an "
			       "update that changes nothing is never sent to etcd)",
			 w->watch_id, w->start_revision, applied->revision);
		return;
	}
	/* every covering watch's outcome; the worst one (first in capture order on a tie) and
	 * the slowest prompt delivery */
	const struct why_watch *worst = NULL, *slowest = NULL;
	double worst_lat = 0, slow_lat = -1;
	int ncover = 0, nprompt = 0, nlisted = 0;
	for (int i = 0; i < s->nw; i++) {
		struct why_watch *w = &s->w[i];
		if (!w->covers)
			continue;
		double lat = 0;
		int via;
		w->outcome = watch_outcome(s, w, applied, &lat, &via);
		w->via_list = via + 1;
		if (w->outcome == WO_REPLACED)
			continue;
		ncover++;
		nlisted += w->outcome == WO_LISTED;
		if (w->outcome == WO_DELIVERED) {
			nprompt++;
			if (lat > slow_lat) {
				slow_lat = lat;
				slowest = w;
			}
		}
		if (!worst || outcome_rank(w->outcome) > outcome_rank(worst->outcome)) {
			worst = w;
			worst_lat = lat;
		}
	}
	if (!worst) {
		*code = "no-watch";
		int l = snprintf(v, n, "no watch covers this key (write at revision %" PRId64 "; watches seen: %d)",
				 applied->revision, s->nw);
		/* a watch created before the capture may cover it: say what etcd said about it */
		for (int i = 0; i < s->nw && l > 0 && (size_t)l < n; i++) {
			const struct why_watch *w = &s->w[i];
			if (w->range_known)
				continue;
			if (w->canceled && w->compact_revision)
				l += snprintf(v + l, n - (size_t)l, "; watch %" PRId64 ", whose range is unknown (%s), "
					      "was canceled at revision %" PRId64 " (compacted)", w->watch_id,
					      unknown_why(w), w->compact_revision);
			else
				l += snprintf(v + l, n - (size_t)l, "; watch %" PRId64 ", whose range is unknown (%s), "
					      "may cover it%s", w->watch_id, unknown_why(w), w->canceled ? " (canceled)" : "");
		}
		return;
	}
	bool several = ncover > 1;
	char wn[200];
	watch_name(worst, several, wn, sizeof wn);
	int l = 0;
	switch (worst->outcome) {
	case WO_DELIVERED:
		*code = "delivered";
		if (several)
			snprintf(v, n, "delivered: the event for revision %" PRId64 " reached the %d watches covering "
				       "the key within %d s; the slowest was %s, after %.3f s; look at the operator",
				 applied->revision, ncover, WHY_LATE_US / 1000000,
				 watch_name(slowest, true, wn, sizeof wn), slow_lat);
		else
			snprintf(v, n, "delivered: the event for revision %" PRId64 " reached the API server "
				       "after %.3f s on %s; look at the operator", applied->revision, worst_lat, wn);
		return;
	case WO_LISTED: {
		/* no broken link: the watch's API server had the object from its LIST */
		const struct why_list *li = &s->lists[worst->via_list - 1];
		char lt[80], how[300];
		fmt_ts(li->ts, lt, sizeof lt);
		if (worst->start_revision && worst->start_revision == li->revision + 1)
			snprintf(how, sizeof how, "that %s resumed from", wn);
		else
			snprintf(how, sizeof how, "before %s started at revision %" PRId64, wn, first_revision(worst));
		*code = "delivered";
		l = snprintf(v, n, "delivered through the %s at revision %" PRId64 " (%s) %s: the write at revision %"
			     PRId64 " came before the watch, and the API server read it with the %s",
			     li->pages > 1 ? "LIST" : "Range", li->revision, lt, how, applied->revision,
			     li->pages > 1 ? "LIST" : "Range");
		if (several && l > 0 && (size_t)l < n)
			l += snprintf(v + l, n - (size_t)l, "; of %d watches covering the key, %d delivered the event "
				      "at once and %d had the object from a LIST", ncover, nprompt, nlisted);
		if (l > 0 && (size_t)l < n)
			snprintf(v + l, n - (size_t)l, "; look at the operator");
		return;
	}
	case WO_LATE:
		*code = "delivered-late";
		l = snprintf(v, n, "event delivered after %.1f s: the event for revision %" PRId64
			       " reached %s more than %d s after the write applied; a "
			       "watcher that reads its stream slowly, or a busy etcd, holds events back",
			 worst_lat, applied->revision, wn, WHY_LATE_US / 1000000);
		break;
	case WO_COMPACTED: {
		*code = "watch-compacted";
		/* the start revision is known only when the create request was captured */
		char start[64] = "a revision";
		if (worst->start_revision)
			snprintf(start, sizeof start, "%" PRId64, worst->start_revision);
		l = snprintf(v, n, "watch canceled at revision %" PRId64 " (compacted): %s"
			       " asked to start at %s, older than the compaction; the watcher must re-list",
			 worst->compact_revision, wn, start);
		/* did it? A later watch of the same API server that had the object from a LIST
		 * read after the cancel: the operator got it, late, through that re-list */
		for (int i = 0; i < s->nw && l > 0 && (size_t)l < n; i++) {
			const struct why_watch *o = &s->w[i];
			const struct why_list *li = o->outcome == WO_LISTED ? &s->lists[o->via_list - 1] : NULL;
			if (!li || li->ts < worst->canceled_ts || !same_client(li, worst))
				continue;
			char lt[80];
			fmt_ts(li->ts, lt, sizeof lt);
			l += snprintf(v + l, n - (size_t)l, " (it did: the %s at revision %" PRId64 ", at %s, gave its API "
				      "server the object, late, before watch %" PRId64 " (s%u) resumed)",
				      li->pages > 1 ? "LIST" : "Range", li->revision, lt, o->watch_id, o->stream);
			break;
		}
		break;
	}
	case WO_CANCELED: {
		*code = "watch-canceled";
		char ct[80];
		fmt_ts(worst->canceled_ts, ct, sizeof ct);
		l = snprintf(v, n, "%s was canceled%s%s%s at %s, before the write at revision %" PRId64
			     ", and not replaced: the event was sent on no watch of its API server", wn,
			     worst->cancel_reason[0] ? " (" : "", worst->cancel_reason,
			     worst->cancel_reason[0] ? ")" : "", ct, applied->revision);
		break;
	}
	case WO_STARTED_LATE:
		*code = "watch-started-late";
		if (worst->start_revision)
			l = snprintf(v, n, "%s started at revision %" PRId64 ", after the write at revision %"
				     PRId64 ": the event is never sent on it",
				     wn, worst->start_revision, applied->revision);
		else
			l = snprintf(v, n, "%s started at revision %" PRId64 " (a watch from now, created when "
				     "etcd was at revision %" PRId64 "), after the write at revision %" PRId64
				     ": the event is never sent on it",
				     wn, first_revision(worst), worst->created_revision, applied->revision);
		break;
	default:
		*code = "not-delivered";
		l = snprintf(v, n, "%s covers the key but no event for revision %" PRId64
			       " was delivered in the %.1f s the capture ran after the write; etcd may "
			       "still hold it in the stream's send queue (a watcher that reads slowly): "
			       "capture longer to tell",
			 wn, applied->revision, (double)(s->last_ts - applied->ts) / 1e6);
		break;
	}
	if (several && l > 0 && (size_t)l < n)
		snprintf(v + l, n - (size_t)l, "; %d of %d watches covering the key delivered it at once%s", nprompt,
			 ncover, !nprompt ? "" : worst->outcome == WO_LATE ?
			 ": the operator's API server may be the slow one" :
			 ": the operator's API server may be the one whose watch failed");
}

static void why_finish(struct app *a)
{
	struct why_state *s = a->cmd_state;
	char verdict[1024];
	const char *code = "";
	/* how long the capture ran: to its last packet, not its last record (a watch that
	 * got nothing after the write leaves no record behind it) */
	if (a->last_ts > s->last_ts)
		s->last_ts = a->last_ts;
	why_verdict(s, verdict, sizeof verdict, &code);
	struct out *o = &a->out;
	char t[80];
	if (a->o->json) {
		struct jw *w = &o->jw;
		jw_reset(w);
		jw_obj_begin(w);
		jw_key_bytes(w, "key", s->key, s->key_len);
		jw_key(w, "attempts");
		jw_arr_begin(w);
		for (int i = 0; i < s->natt; i++) {
			const struct why_attempt *t2 = &s->att[i];
			jw_obj_begin(w);
			jw_key(w, "ts");
			jw_ts(w, t2->ts);
			jw_kstr(w, "method", t2->method);
			jw_kbool(w, "applied", t2->applied);
			jw_ki64(w, "revision", t2->revision);
			if (t2->op[0]) jw_kstr(w, "op", t2->op);
			if (t2->manager[0]) jw_kstr(w, "manager", t2->manager);
			if (t2->operation[0]) jw_kstr(w, "operation", t2->operation);
			if (t2->subresource[0]) jw_kstr(w, "subresource", t2->subresource);
			if (t2->change[0]) jw_kstr(w, "change", t2->change);
			if (t2->reason[0]) jw_kstr(w, "reason", t2->reason);
			jw_obj_end(w);
		}
		jw_arr_end(w);
		jw_key(w, "watches");
		jw_arr_begin(w);
		for (int i = 0; i < s->nw; i++) {
			const struct why_watch *ww = &s->w[i];
			if (!watch_shown(ww, s->key, s->key_len))
				continue;
			jw_obj_begin(w);
			jw_kstr(w, "conn", ww->conn);
			jw_ku64(w, "stream", ww->stream);
			jw_ki64(w, "watch_id", ww->watch_id);
			if (ww->range_known) {
				jw_key_bytes(w, "key", ww->key, ww->key_len);
				if (ww->end_len)
					jw_key_bytes(w, "range_end", ww->end, ww->end_len);
			} else {
				jw_kbool(w, "range_known", false);
			}
			if (ww->range_known) /* the start revision comes with the range, from the create */
				jw_ki64(w, "start_revision", ww->start_revision);
			if (ww->created_revision) /* a watch from revision 0 starts after it */
				jw_ki64(w, "created_revision", ww->created_revision);
			if (ww->created_ts) { jw_key(w, "created_ts"); jw_ts(w, ww->created_ts); }
			jw_kbool(w, "canceled", ww->canceled);
			if (ww->canceled) { jw_key(w, "canceled_ts"); jw_ts(w, ww->canceled_ts); }
			if (ww->compact_revision) jw_ki64(w, "compact_revision", ww->compact_revision);
			if (ww->cancel_reason[0]) jw_kstr(w, "cancel_reason", ww->cancel_reason);
			jw_ku64(w, "progress_notifications", ww->progress);
			if (ww->outcome)
				jw_kstr(w, "outcome", outcome_name[ww->outcome]);
			if (ww->outcome == WO_LISTED) {
				const struct why_list *li = &s->lists[ww->via_list - 1];
				jw_key(w, "list");
				jw_obj_begin(w);
				jw_ki64(w, "revision", li->revision);
				jw_key(w, "ts");
				jw_ts(w, li->ts);
				jw_kstr(w, "conn", li->conn);
				jw_ki64(w, "pages", li->pages);
				jw_obj_end(w);
			}
			jw_key(w, "delivered");
			jw_arr_begin(w);
			for (int d = 0; d < ww->ndel; d++) {
				jw_obj_begin(w);
				jw_ki64(w, "revision", ww->del[d].revision);
				jw_key(w, "ts");
				jw_ts(w, ww->del[d].ts);
				jw_kstr(w, "type", out_op_name(ww->del[d].type));
				jw_obj_end(w);
			}
			jw_arr_end(w);
			jw_obj_end(w);
		}
		jw_arr_end(w);
		jw_kstr(w, "verdict_code", code);
		jw_kstr(w, "verdict", verdict);
		jw_obj_end(w);
		out_json_emit(o);
		return;
	}
	out_tprintf(o, "why ");
	if (s->key_len)
		out_tbytes(o, s->key, s->key_len);
	else
		out_tprintf(o, "%s%s%s/%s%s%s", s->resource, s->group[0] ? "." : "", s->group, s->ns, s->ns[0] ? "/" : "", s->name);
	out_temit(o);
	out_tprintf(o, "write attempts: %d", s->natt);
	out_temit(o);
	for (int i = 0; i < s->natt; i++) {
		const struct why_attempt *t2 = &s->att[i];
		fmt_ts(t2->ts, t, sizeof t);
		out_tprintf(o, "  %s %s %s", t, t2->method, t2->applied ? "APPLIED" : "NOT APPLIED");
		if (t2->applied)
			out_tprintf(o, " %s rev=%" PRId64, t2->op, t2->revision);
		if (t2->manager[0])
			out_tprintf(o, " by %s %s%s%s", t2->manager, t2->operation, t2->subresource[0] ? " " : "", t2->subresource);
		if (t2->change[0])
			out_tprintf(o, " (%s)", t2->change);
		if (t2->diff[0])
			out_tprintf(o, ": %s", t2->diff);
		if (t2->reason[0])
			out_tprintf(o, ": %s", t2->reason);
		out_temit(o);
	}
	int covering = 0, unknown = 0, outcomes = 0;
	for (int i = 0; i < s->nw; i++) {
		bool c = s->w[i].covers || range_covers(&s->w[i], s->key, s->key_len);
		covering += c;
		unknown += !c && !s->w[i].range_known;
		outcomes += s->w[i].outcome != WO_NONE;
	}
	out_tprintf(o, "watches covering the key: %d (of %d seen", covering, s->nw);
	if (unknown)
		out_tprintf(o, "; %d of unknown range shown too", unknown);
	out_tprintf(o, ")");
	out_temit(o);
	for (int i = 0; i < s->nw; i++) {
		const struct why_watch *ww = &s->w[i];
		if (!watch_shown(ww, s->key, s->key_len))
			continue;
		out_tprintf(o, "  watch %" PRId64 " on %s s%u ", ww->watch_id, ww->conn, ww->stream);
		if (ww->range_known) {
			out_trange(o, ww->key, ww->key_len, ww->end, ww->end_len);
		} else {
			out_tprintf(o, "(range unknown: %s)", unknown_why(ww));
		}
		if (ww->created_ts) {
			fmt_ts(ww->created_ts, t, sizeof t);
			out_tprintf(o, " created %s", t);
		}
		if (ww->start_revision)
			out_tprintf(o, " from rev %" PRId64, ww->start_revision);
		if (ww->progress)
			out_tprintf(o, ", %" PRIu64 " progress notifications", ww->progress);
		if (ww->canceled) {
			/* what etcd said: when, and the compaction revision or its reason (a
			 * compaction cancel carries header revision 0: not a revision to print) */
			fmt_ts(ww->canceled_ts, t, sizeof t);
			out_tprintf(o, ", CANCELED at %s", t);
			if (ww->compact_revision)
				out_tprintf(o, " (compacted at rev %" PRId64 ")", ww->compact_revision);
			if (ww->cancel_reason[0])
				out_tprintf(o, ": %s", ww->cancel_reason);
		}
		/* one covering watch: the verdict is its outcome; several: say each one's */
		if (outcomes > 1 && ww->outcome)
			out_tprintf(o, " -> %s", outcome_name[ww->outcome]);
		out_temit(o);
		if (ww->outcome == WO_LISTED) {
			const struct why_list *li = &s->lists[ww->via_list - 1];
			fmt_ts(li->ts, t, sizeof t);
			out_tprintf(o, "    had the object from the %s at rev %" PRId64 " at %s on %s", li->pages > 1 ? "LIST" : "Range",
				    li->revision, t, li->conn);
			if (li->pages > 1)
				out_tprintf(o, " (%d pages)", li->pages);
			out_temit(o);
		}
		for (int d = 0; d < ww->ndel; d++) {
			fmt_ts(ww->del[d].ts, t, sizeof t);
			out_tprintf(o, "    delivered %s rev=%" PRId64 " at %s", ww->del[d].type == REC_OP_DELETE ? "DELETE" : "PUT",
				    ww->del[d].revision, t);
			for (int i2 = 0; i2 < s->natt; i2++)
				if (s->att[i2].applied && s->att[i2].revision == ww->del[d].revision)
					out_tprintf(o, " (%.3f s after the write)", delay_s(s->att[i2].ts, ww->del[d].ts));
			out_temit(o);
		}
	}
	out_tprintf(o, "verdict: %s", verdict);
	out_temit(o);
}

const struct command_ops cmd_why = {.name = "why", .start = why_start, .on_record = why_record,
				    .finish = why_finish, .free_state = why_free};
