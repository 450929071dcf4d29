/* list_agg.c: joins the Range pages of a paginated LIST into one REC_LIST record
 * (see list_agg.h for the pattern it follows and its limits). */
#include "list_agg.h"

#include <stdlib.h>
#include <string.h>

#include "pool.h"

/* Open chains at once; the API server runs a few LISTs at a time (one per informer
 * resync or client LIST), so this is generous. The oldest is given up past it. */
#define LIST_MAX_OPEN 64
/* A chain with no page for this long (capture time) is given up: pagers ask for the next
 * page at once, and an abandoned LIST (client timeout) must not stay open forever. */
#define LIST_IDLE_US (60 * 1000000LL)
/* Distinct connections remembered per chain, for the "connections" count. */
#define LIST_CONN_IDS 8

struct chain {
	bool used;
	bool from_start;        /* the first page was seen */
	bool ended;             /* waiting to be emitted */
	uint8_t *key, *end, *next;
	size_t key_len, end_len, next_len;
	char *conn, *user_agent;
	uint64_t conn_id;
	uint32_t stream;
	uint64_t conn_ids[LIST_CONN_IDS];
	int nconn_ids, connections;
	ee_ts first_ts, last_ts, first_req_ts, last_resp_ts;
	struct rec_list l;
};

struct list_agg {
	struct chain c[LIST_MAX_OPEN];
	bool emitting; /* emit callbacks may feed records back in (the app's on_record) */
	/* Every record is fed and flushed: these let both skip the walk over c[] when no
	 * chain is open (expire) or ended (flush), which is nearly always. */
	int nopen, nended;      /* chains used and not ended / used and ended */
	ee_ts oldest_ts;        /* <= last_ts of every open chain */
};

struct list_agg *list_agg_new(void) { return calloc(1, sizeof(struct list_agg)); }

static void chain_clear(struct list_agg *la, struct chain *ch)
{
	if (ch->used) {
		if (ch->ended)
			la->nended--;
		else
			la->nopen--;
	}
	pool_free(ch->key);
	pool_free(ch->end);
	pool_free(ch->next);
	pool_free(ch->conn);
	pool_free(ch->user_agent);
	memset(ch, 0, sizeof *ch);
}

void list_agg_free(struct list_agg *la)
{
	if (!la)
		return;
	for (int i = 0; i < LIST_MAX_OPEN; i++)
		chain_clear(la, &la->c[i]);
	free(la);
}

/* A chain's copies live as long as its LIST, one per page or per LIST: recycled blocks
 * (pool.h), freed with pool_free. */
static uint8_t *dup_bytes(const uint8_t *p, size_t n, size_t extra)
{
	uint8_t *d = pool_alloc(n + extra + 1);
	if (d && n)
		memcpy(d, p, n);
	return d;
}

static char *dup_str(const char *s)
{
	if (!s)
		s = "";
	size_t n = strlen(s);
	char *d = (char *)dup_bytes((const uint8_t *)s, n, 0);
	if (d)
		d[n] = 0;
	return d;
}

static bool bin_eq(const uint8_t *a, size_t an, ProtobufCBinaryData b)
{
	return an == b.len && (!an || !memcmp(a, b.data, an));
}

static void note_conn(struct chain *ch, uint64_t id)
{
	for (int i = 0; i < ch->nconn_ids; i++)
		if (ch->conn_ids[i] == id)
			return;
	if (ch->nconn_ids < LIST_CONN_IDS)
		ch->conn_ids[ch->nconn_ids++] = id;
	ch->connections++;
}

/* The key the next page will start at: the page's last key + "\0". */
static bool set_next(struct chain *ch, const Etcdserverpb__RangeResponse *resp)
{
	const ProtobufCBinaryData *last = &resp->kvs[resp->n_kvs - 1]->key;
	uint8_t *n = dup_bytes(last->data, last->len, 1);
	if (!n)
		return false;
	n[last->len] = 0;
	pool_free(ch->next);
	ch->next = n;
	ch->next_len = last->len + 1;
	return true;
}

static void end_chain(struct list_agg *la, struct chain *ch, bool complete, int status)
{
	if (!ch->ended) {
		la->nopen--;
		la->nended++;
	}
	ch->ended = true;
	ch->l.complete = complete && ch->from_start;
	ch->l.status = status;
}

static struct chain *find(struct list_agg *la, const Etcdserverpb__RangeRequest *q)
{
	if (!la->nopen)
		return NULL;
	for (int i = 0; i < LIST_MAX_OPEN; i++) {
		struct chain *ch = &la->c[i];
		if (ch->used && !ch->ended && q->revision == ch->l.revision &&
		    bin_eq(ch->next, ch->next_len, q->key) && bin_eq(ch->end, ch->end_len, q->range_end))
			return ch;
	}
	return NULL;
}

/* A free slot; past LIST_MAX_OPEN the chain idle longest is given up (emitted at flush). */
static struct chain *slot(struct list_agg *la)
{
	struct chain *oldest = NULL;
	for (int i = 0; i < LIST_MAX_OPEN; i++) {
		struct chain *ch = &la->c[i];
		if (!ch->used)
			return ch;
		if (!ch->ended && (!oldest || ch->last_ts < oldest->last_ts))
			oldest = ch;
	}
	if (oldest)
		end_chain(la, oldest, false, 0);
	return NULL; /* this page is not followed; the slot frees at the next flush */
}

static void add_page(struct list_agg *la, struct chain *ch, const struct etcd_record *r,
		     const Etcdserverpb__RangeResponse *resp)
{
	const struct rec_rpc *rpc = &r->u.rpc;
	ch->l.pages++;
	ch->last_ts = r->c.ts;
	if (r->c.ts < la->oldest_ts)
		la->oldest_ts = r->c.ts;
	if (rpc->ts_resp)
		ch->last_resp_ts = rpc->ts_resp;
	note_conn(ch, r->c.conn_id);
	if (!resp || rpc->status > 0) {
		end_chain(la, ch, false, rpc->status > 0 ? rpc->status : 0);
		return;
	}
	ch->l.kvs += (int64_t)resp->n_kvs;
	if (resp->more && resp->n_kvs) {
		if (!set_next(ch, resp))
			end_chain(la, ch, false, 0);
	} else {
		end_chain(la, ch, true, 0);
	}
}

static struct chain *start_chain(struct list_agg *la, const struct etcd_record *r,
				 const Etcdserverpb__RangeRequest *q,
				 const Etcdserverpb__RangeResponse *resp)
{
	struct chain *ch = slot(la);
	if (!ch)
		return NULL;
	ch->used = true;
	if (!la->nopen++)
		la->oldest_ts = r->c.ts; /* add_page follows at once and sets last_ts */
	ch->from_start = !(q->key.len && q->key.data[q->key.len - 1] == 0);
	ch->key = dup_bytes(q->key.data, q->key.len, 0);
	ch->key_len = q->key.len;
	ch->end = dup_bytes(q->range_end.data, q->range_end.len, 0);
	ch->end_len = q->range_end.len;
	ch->conn = dup_str(r->c.conn);
	ch->user_agent = dup_str(r->c.user_agent);
	if (!ch->key || !ch->end || !ch->conn || !ch->user_agent) {
		chain_clear(la, ch);
		return NULL;
	}
	ch->conn_id = r->c.conn_id;
	ch->stream = r->c.stream;
	ch->first_ts = r->c.ts;
	ch->first_req_ts = r->u.rpc.ts_req;
	ch->l.revision = q->revision ? q->revision
				     : (resp->header ? resp->header->revision : 0);
	ch->l.limit = q->limit;
	ch->l.count = resp->count;
	return ch;
}

static void expire(struct list_agg *la, ee_ts now)
{
	if (!la->nopen || now - la->oldest_ts <= LIST_IDLE_US)
		return;
	bool first = true;
	for (int i = 0; i < LIST_MAX_OPEN; i++) {
		struct chain *ch = &la->c[i];
		if (!ch->used || ch->ended)
			continue;
		if (now - ch->last_ts > LIST_IDLE_US) {
			end_chain(la, ch, false, 0);
		} else if (first || ch->last_ts < la->oldest_ts) {
			la->oldest_ts = ch->last_ts;
			first = false;
		}
	}
}

int list_agg_feed(struct list_agg *la, const struct etcd_record *r)
{
	if (!la || r->c.kind != REC_RPC)
		return 0;
	expire(la, r->c.ts);
	const struct rec_rpc *rpc = &r->u.rpc;
	if (rpc->m->method != EM_RANGE || !rpc->req)
		return 0;
	const Etcdserverpb__RangeRequest *q = (const void *)rpc->req;
	const Etcdserverpb__RangeResponse *resp = (const void *)rpc->resp;
	if (!q->limit || !q->range_end.len || q->count_only)
		return 0;
	struct chain *ch = find(la, q);
	if (!ch) {
		/* Only a page that promises more starts a chain: a LIST that fits one page is
		 * an ordinary Range and stays one line. */
		if (!resp || rpc->status > 0 || !resp->more || !resp->n_kvs)
			return 0;
		ch = start_chain(la, r, q, resp);
		if (!ch)
			return 0;
	}
	add_page(la, ch, r, resp);
	return ch->l.pages;
}

static void emit_chain(struct list_agg *la, struct chain *ch, list_emit_fn emit, void *ctx)
{
	struct etcd_record r;
	memset(&r, 0, sizeof r);
	r.c.kind = REC_LIST;
	r.c.ts = ch->first_ts;
	r.c.conn = ch->conn;
	r.c.conn_id = ch->conn_id;
	r.c.stream = ch->stream;
	r.c.user_agent = ch->user_agent;
	r.u.list = ch->l;
	r.u.list.key = ch->key;
	r.u.list.key_len = ch->key_len;
	r.u.list.range_end = ch->end;
	r.u.list.range_end_len = ch->end_len;
	r.u.list.connections = ch->connections;
	r.u.list.latency_us = ch->first_req_ts && ch->last_resp_ts >= ch->first_req_ts
				      ? ch->last_resp_ts - ch->first_req_ts : -1;
	/* One page and no follow-up is a Range with a limit (etcdctl get --limit), not a LIST. */
	if (emit && ch->l.pages > 1)
		emit(ctx, &r);
	chain_clear(la, ch);
}

void list_agg_flush(struct list_agg *la, list_emit_fn emit, void *ctx)
{
	if (!la || la->emitting || !la->nended)
		return;
	la->emitting = true;
	for (int i = 0; i < LIST_MAX_OPEN; i++)
		if (la->c[i].used && la->c[i].ended)
			emit_chain(la, &la->c[i], emit, ctx);
	la->emitting = false;
}

void list_agg_finish(struct list_agg *la, list_emit_fn emit, void *ctx)
{
	if (!la || la->emitting)
		return;
	la->emitting = true;
	for (int i = 0; i < LIST_MAX_OPEN; i++)
		if (la->c[i].used) {
			if (!la->c[i].ended)
				end_chain(la, &la->c[i], false, 0);
			emit_chain(la, &la->c[i], emit, ctx);
		}
	la->emitting = false;
}
