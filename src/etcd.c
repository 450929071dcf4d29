/* etcd.c: the etcd stage (DESIGN.md "etcd"): takes whole gRPC messages from grpc.c, decodes
 * them with protobuf-c into per-stream arenas, pairs unary requests with responses, follows
 * Watch / LeaseKeepAlive / Snapshot streams, derives writes, and hands records to the sink.
 * Streams whose :path is unknown are buffered until etcd_infer.c names their method. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <protobuf-c/protobuf-c.h>

#include "etcd_int.h"
#include "pb_fast.h"
#include "pool.h"

/* Arena chunks: most etcd messages (keys, small values, headers) decode in a few KiB, so one
 * chunk serves many messages; bigger allocations get their own block. An arena's first chunk
 * is small (a unary RPC's request and response need little, and thousands of streams may be
 * open at once after a loss), later ones double up to ARENA_CHUNK. */
#define ARENA_FIRST_CHUNK (4u << 10)
#define ARENA_CHUNK (64u << 10)
/* Chunks kept after a reset: the scratch arena keeps a steady-state working set without
 * malloc; a stream's arena returned to the pool keeps one. */
#define ARENA_KEEP_CHUNKS 16
#define ARENA_POOLED_KEEP_CHUNKS 1
/* Bytes held by all streams still inferring their method (infer_msg), across connections:
 * past it a stream decides with what it has. */
#define INFER_MAX_PENDING_TOTAL (64u << 20)
/* Reset arenas kept for reuse by new streams (kube-apiserver runs hundreds of concurrent
 * unary RPCs on one connection; more than that are freed). */
#define ARENA_POOL_MAX 256
/* Watches tracked per Watch stream; kube-apiserver opens one per resource type. */
#define WATCH_MAX_PER_STREAM 4096
/* Outstanding LeaseKeepAlive requests per stream; clients send one per lease per TTL/3. */
#define KEEPALIVE_QUEUE_MAX 1024
/* Messages (and bytes) of an unknown-method stream held while its method is inferred. */
#define INFER_MAX_PENDING_MSGS 16
#define INFER_MAX_PENDING_BYTES (4u << 20)
/* Messages per direction that feed the inference scores (later ones add little). */
#define INFER_SCORED_MSGS 4
/* Confidence at which an inferred method is trusted before the stream ends, and the HPACK
 * entry that carried the :path is named. */
#define INFER_COMMIT_CONFIDENCE 60

/* Decoded size allowed per message: DECODE_EXPANSION x its wire size + DECODE_SLACK. */
#define DECODE_EXPANSION 4
#define DECODE_SLACK (1u << 20)

/* ---- arena: a bump allocator behind protobuf-c's allocator interface ---- */

struct achunk {
	struct achunk *next;
	size_t size, used;
	max_align_t data[];
};

struct arena {
	ProtobufCAllocator pa; /* allocator_data = this arena */
	struct achunk *cur;    /* chunks in use, newest first */
	struct achunk *spare;  /* reset chunks ready for reuse */
	struct achunk *big;    /* oversize blocks, freed on reset */
	int nchunks, keep_chunks;
	size_t next_chunk;     /* size of the next chunk malloc'd */
	struct arena_acct *acct; /* bytes of chunks and blocks held, summed here (may be NULL) */
	struct arena *next_free;
	size_t allocated;      /* bytes handed out since the last reset */
	size_t limit;          /* 0 = none; see msg_decode */
	bool limit_hit;
};

struct arena_acct {
	uint64_t now, max;
};

static void arena_acct_add(struct arena_acct *ac, size_t n)
{
	if (!ac)
		return;
	ac->now += n;
	if (ac->now > ac->max)
		ac->max = ac->now;
}

/* Hands out n bytes, 16-aligned, from the current chunk or a new one. */
static void *arena_alloc(void *data, size_t n)
{
	struct arena *a = data;

	if (n > ((size_t)1 << 40))
		return NULL;
	n = (n + 15) & ~(size_t)15;
	if (n == 0)
		n = 16;
	if (a->limit && a->allocated + n > a->limit) {
		a->limit_hit = true;
		return NULL;
	}
	a->allocated += n;
	if (a->cur && a->cur->size - a->cur->used >= n) {
		void *p = (unsigned char *)a->cur->data + a->cur->used;
		a->cur->used += n;
		return p;
	}
	/* chunks and big blocks come from pool.h: a big message's blocks are freed at its
	 * reset and asked for again by the next one */
	if (n > ARENA_CHUNK / 4) {
		struct achunk *b = pool_alloc(sizeof(*b) + n);
		if (!b)
			return NULL;
		b->size = b->used = n;
		arena_acct_add(a->acct, n);
		b->next = a->big;
		a->big = b;
		return b->data;
	}
	struct achunk *c = a->spare;
	if (c && c->size >= n) {
		a->spare = c->next;
	} else {
		size_t size = a->next_chunk < n ? n : a->next_chunk;
		c = pool_alloc(sizeof(*c) + size);
		if (!c)
			return NULL;
		c->size = size;
		a->nchunks++;
		arena_acct_add(a->acct, size);
		if (a->next_chunk < ARENA_CHUNK)
			a->next_chunk *= 2;
	}
	c->used = n;
	c->next = a->cur;
	a->cur = c;
	return c->data;
}

/* protobuf-c frees partial messages on a failed unpack; the arena reclaims at reset. */
static void arena_free(void *data, void *p) {}

/* pb_fast's budget hooks: a decode it abandons for protobuf-c gives back its bytes (count,
 * limit flag, and the current chunk's space when no chunk was started since). */
static void arena_save(void *data, struct pb_fast_mark *m)
{
	struct arena *a = data;
	m->u[0] = a->allocated;
	m->u[1] = a->limit_hit;
	m->u[2] = a->cur ? a->cur->used : 0;
	m->v = a->cur;
}

static void arena_restore(void *data, const struct pb_fast_mark *m)
{
	struct arena *a = data;
	a->allocated = m->u[0];
	a->limit_hit = m->u[1] != 0;
	if (a->cur && a->cur == m->v)
		a->cur->used = m->u[2];
}

static const struct pb_fast_budget arena_budget = {arena_alloc, arena_save, arena_restore};

static void arena_init(struct arena *a)
{
	memset(a, 0, sizeof(*a));
	a->pa.alloc = arena_alloc;
	a->pa.free = arena_free;
	a->pa.allocator_data = a;
	pb_fast_set_budget(&arena_budget);
	a->keep_chunks = ARENA_KEEP_CHUNKS;
	a->next_chunk = ARENA_FIRST_CHUNK;
}

/* Forgets everything allocated; keeps up to ARENA_KEEP_CHUNKS chunks for reuse. */
static void arena_reset(struct arena *a)
{
	a->allocated = 0;
	while (a->big) {
		struct achunk *b = a->big;
		a->big = b->next;
		if (a->acct)
			a->acct->now -= b->size;
		pool_free(b);
	}
	while (a->cur) {
		struct achunk *c = a->cur;
		a->cur = c->next;
		if (a->nchunks > a->keep_chunks) {
			if (a->acct)
				a->acct->now -= c->size;
			pool_free(c);
			a->nchunks--;
		} else {
			c->used = 0;
			c->next = a->spare;
			a->spare = c;
		}
	}
}

static void arena_destroy(struct arena *a)
{
	arena_reset(a);
	while (a->spare) {
		struct achunk *c = a->spare;
		a->spare = c->next;
		if (a->acct)
			a->acct->now -= c->size;
		pool_free(c);
	}
	a->nchunks = 0;
}

/* ---- state ---- */

struct ka_req {
	int64_t id;
	ee_ts ts;
};

struct watch {
	int64_t id;
	bool pending; /* create request sent, created response not yet seen */
	bool early;   /* created response seen before any create request (reordered capture) */
	ee_ts early_ts;
	/* Its "created" record, held until the create request names the range (watch_early) */
	bool created_held;
	bool held_has_hdr;
	Etcdserverpb__ResponseHeader held_hdr;
	struct rec_watch_range r;
	uint8_t *buf; /* owns r.key and r.range_end */
};

struct pend_msg {
	enum tcp_dir dir;
	ee_ts ts;
	const uint8_t *p; /* copy in the stream arena */
	size_t n;
};

/* Per-stream state (grpc_stream.app). */
struct es {
	const struct etcd_method_info *m;
	bool decided; /* m is final (from :path or inference) */
	bool inferred;
	int confidence;
	bool emitted; /* unary RPC record sent */
	bool trailers;
	struct arena *arena; /* request/response of unary RPCs, pending raw messages */
	ProtobufCMessage *req, *resp;
	ee_ts ts_req, ts_resp, ts_trailers;
	/* inference */
	int sc[EM__COUNT];
	int evidence;
	uint64_t nmsg[2];
	struct pend_msg pend[INFER_MAX_PENDING_MSGS];
	int npend;
	size_t pend_bytes;
	/* LeaseKeepAlive FIFO (ring) */
	struct ka_req *ka;
	size_t ka_head, ka_n;
	/* Watch table: pending creates first-come first-served, then bound watches */
	struct watch *w;
	size_t nw, capw, last_hit;
	/* The last watch a canceled response removed: its cancel request may come after it
	 * (a capture reordered across directions). */
	struct watch last_canceled;
	/* Snapshot: the last response, without its blob */
	bool snap_seen, snap_has_hdr;
	Etcdserverpb__ResponseHeader snap_hdr;
	uint64_t snap_remaining;
	char snap_version[32];
	struct es *next_free;
};

struct etcd_decoder {
	struct etcd_sink sink;
	struct etcd_stats st;
	struct arena scratch; /* one streaming message at a time */
	struct arena *free_arenas;
	int n_free_arenas;
	struct es *free_es;
	size_t pend_total; /* bytes held by all undecided streams (INFER_MAX_PENDING_TOTAL) */
	struct arena_acct acct; /* every arena's memory */
};

struct etcd_conn {
	struct etcd_decoder *d;
	struct grpc_conn *g;
	struct tcp_conn_info ci;
	size_t created_held; /* watches whose "created" record waits (watch_created_flush) */
	ee_ts tick_now;      /* etcd_conn_tick's clock, for its per-stream callback */
};

/* ---- decoder ---- */

/* Creates a decoder that reports to sink (copied). Free with etcd_decoder_free. */
struct etcd_decoder *etcd_decoder_new(const struct etcd_sink *sink)
{
	struct etcd_decoder *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	if (sink)
		d->sink = *sink;
	arena_init(&d->scratch);
	d->scratch.acct = &d->acct;
	return d;
}

/* Frees the decoder and its pools; every connection must be closed first. */
void etcd_decoder_free(struct etcd_decoder *d)
{
	if (!d)
		return;
	arena_destroy(&d->scratch);
	while (d->free_arenas) {
		struct arena *a = d->free_arenas;
		d->free_arenas = a->next_free;
		arena_destroy(a);
		free(a);
	}
	while (d->free_es) {
		struct es *e = d->free_es;
		d->free_es = e->next_free;
		free(e);
	}
	free(d);
}

void etcd_decoder_get_stats(const struct etcd_decoder *d, struct etcd_stats *st)
{
	*st = d->st;
	st->arena_bytes = d->acct.now;
	st->arena_bytes_max = d->acct.max;
}

/* Takes a reset arena from the pool (or a new one); NULL when out of memory. */
static struct arena *arena_get(struct etcd_decoder *d)
{
	struct arena *a = d->free_arenas;
	if (a) {
		d->free_arenas = a->next_free;
		d->n_free_arenas--;
		return a;
	}
	a = malloc(sizeof(*a));
	if (a) {
		arena_init(a);
		a->keep_chunks = ARENA_POOLED_KEEP_CHUNKS;
		a->acct = &d->acct;
	}
	return a;
}

static void arena_put(struct etcd_decoder *d, struct arena *a)
{
	arena_reset(a);
	a->next_chunk = ARENA_FIRST_CHUNK;
	if (d->n_free_arenas >= ARENA_POOL_MAX) {
		arena_destroy(a);
		free(a);
		return;
	}
	a->next_free = d->free_arenas;
	d->free_arenas = a;
	d->n_free_arenas++;
}

/* ---- records ---- */

static void rec_init(struct etcd_record *r, enum rec_kind k, const struct etcd_conn *c,
		     const struct grpc_stream *s, ee_ts ts)
{
	memset(r, 0, sizeof(*r));
	r->c.kind = k;
	r->c.ts = ts;
	r->c.conn = c->ci.name;
	r->c.conn_id = c->ci.id;
	r->c.stream = s ? s->id : 0;
	r->c.user_agent = s ? s->user_agent : "";
}

static void rec_emit(struct etcd_conn *c, const struct etcd_record *r)
{
	if (c->d->sink.on_record)
		c->d->sink.on_record(c->d->sink.ctx, r);
}

static void notice_emit(struct etcd_conn *c, const struct grpc_stream *s, const char *what,
			const char *detail, uint64_t bytes, ee_ts ts)
{
	struct etcd_record r;
	rec_init(&r, REC_NOTICE, c, s, ts);
	r.u.notice.what = what;
	r.u.notice.detail = detail ? detail : "";
	r.u.notice.bytes = bytes;
	rec_emit(c, &r);
}

/* The ResponseHeader every etcd response carries as field 1, found via the descriptor. */
static const Etcdserverpb__ResponseHeader *resp_header(const ProtobufCMessage *m)
{
	if (!m)
		return NULL;
	const ProtobufCFieldDescriptor *fd = protobuf_c_message_descriptor_get_field(m->descriptor, 1);
	if (!fd || fd->type != PROTOBUF_C_TYPE_MESSAGE ||
	    fd->descriptor != &etcdserverpb__response_header__descriptor)
		return NULL;
	const Etcdserverpb__ResponseHeader *const *h =
		(const void *)((const char *)m + fd->offset);
	return *h;
}

static struct rec_header hdr_conv(const Etcdserverpb__ResponseHeader *h)
{
	struct rec_header r = {0};
	if (h) {
		r.present = true;
		r.cluster_id = h->cluster_id;
		r.member_id = h->member_id;
		r.raft_term = h->raft_term;
		r.revision = h->revision;
	}
	return r;
}

/* Decodes into alloc; on failure reports an "undecodable" notice and returns NULL. */
static ProtobufCMessage *msg_decode(struct etcd_conn *c, struct grpc_stream *s, struct es *e,
				    enum tcp_dir dir, const uint8_t *p, size_t n,
				    ProtobufCAllocator *alloc, ee_ts ts)
{
	/* protobuf-c allocates a struct per element of a repeated field: 16 MB of empty kvs
	 * would unpack to a gigabyte. Real messages (keys and values copied once, a struct per
	 * kv) stay well under DECODE_EXPANSION times their wire size. */
	struct arena *ar = alloc->alloc == arena_alloc ? alloc->allocator_data : NULL;
	if (ar) {
		ar->limit = ar->allocated + DECODE_EXPANSION * n + DECODE_SLACK;
		ar->limit_hit = false;
	}
	ProtobufCMessage *m = etcd_message_decode(e->m->method, dir, p, n, alloc);
	bool too_big = ar && ar->limit_hit;
	if (ar)
		ar->limit = 0;
	if (!m) {
		const ProtobufCMessageDescriptor *d = dir == TCP_C2S ? e->m->req : e->m->resp;
		c->d->st.undecodable++;
		if (too_big)
			notice_emit(c, s, "limit", "message would unpack to over 4 times its size", n, ts);
		else
			notice_emit(c, s, "undecodable", d ? d->name : e->m->name, n, ts);
	}
	return m;
}

/* ---- writes ---- */

struct wctx {
	struct etcd_conn *c;
	struct grpc_stream *s;
	ee_ts ts;
	int64_t rev;
};

static void write_emit(struct wctx *w, struct rec_write *wr)
{
	struct etcd_record r;
	rec_init(&r, REC_WRITE, w->c, w->s, w->ts);
	wr->revision = w->rev;
	r.u.write = *wr;
	w->c->d->st.writes++;
	rec_emit(w->c, &r);
}

static void writes_put(struct wctx *w, enum etcd_method m, const Etcdserverpb__PutRequest *rq,
		       const Etcdserverpb__PutResponse *rs, const Etcdserverpb__TxnRequest *txn)
{
	struct rec_write wr = {0};
	wr.method = m;
	wr.op = REC_OP_PUT;
	wr.key = rq->key.data, wr.key_len = rq->key.len;
	wr.value = rq->value.data, wr.value_len = rq->value.len;
	wr.lease = rq->lease;
	wr.prev = rs ? rs->prev_kv : NULL;
	wr.txn = txn;
	write_emit(w, &wr);
}

/* One delete per returned prev_kv; else the key, or the range when keys are unknown. */
static void writes_delete(struct wctx *w, enum etcd_method m,
			  const Etcdserverpb__DeleteRangeRequest *rq,
			  const Etcdserverpb__DeleteRangeResponse *rs,
			  const Etcdserverpb__TxnRequest *txn)
{
	struct rec_write wr = {0};

	if (!rs || rs->deleted <= 0)
		return;
	wr.method = m;
	wr.op = REC_OP_DELETE;
	wr.deleted = rs->deleted;
	wr.txn = txn;
	if (rs->n_prev_kvs > 0) {
		for (size_t i = 0; i < rs->n_prev_kvs; i++) {
			const Mvccpb__KeyValue *kv = rs->prev_kvs[i];
			if (!kv)
				continue;
			wr.key = kv->key.data, wr.key_len = kv->key.len;
			wr.prev = kv;
			write_emit(w, &wr);
		}
		return;
	}
	wr.key = rq->key.data, wr.key_len = rq->key.len;
	if (rq->range_end.len > 0)
		wr.range_end = rq->range_end.data, wr.range_end_len = rq->range_end.len;
	write_emit(w, &wr);
}

/* The ops of the branch that ran, each paired with its ResponseOp; nested Txns recurse
 * (depth bounded by the decode-time nesting check). */
static void writes_txn(struct wctx *w, const Etcdserverpb__TxnRequest *rq,
		       const Etcdserverpb__TxnResponse *rs)
{
	Etcdserverpb__RequestOp **ops = rs->succeeded ? rq->success : rq->failure;
	size_t nops = rs->succeeded ? rq->n_success : rq->n_failure;
	size_t n = nops < rs->n_responses ? nops : rs->n_responses;

	for (size_t i = 0; i < n; i++) {
		const Etcdserverpb__RequestOp *op = ops[i];
		const Etcdserverpb__ResponseOp *ro = rs->responses[i];
		if (!op || !ro)
			continue;
		switch (op->request_case) {
		case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT:
			if (ro->response_case == ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_PUT)
				writes_put(w, EM_TXN, op->request_put, ro->response_put, rq);
			break;
		case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE:
			if (ro->response_case ==
			    ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_DELETE_RANGE)
				writes_delete(w, EM_TXN, op->request_delete_range,
					      ro->response_delete_range, rq);
			break;
		case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_TXN:
			if (ro->response_case == ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_TXN &&
			    op->request_txn && ro->response_txn)
				writes_txn(w, op->request_txn, ro->response_txn);
			break;
		default:
			break;
		}
	}
}

/* Emits the writes of a successful Put, DeleteRange or Txn. */
static void writes_emit(struct etcd_conn *c, struct grpc_stream *s, const struct rec_rpc *rpc,
			ee_ts ts)
{
	/* etcd answers an error with Trailers-Only, never with a response message: a decoded
	 * response means the write applied even when the trailers' grpc-status was an HPACK
	 * entry from before the capture (status -1, joined mid-connection). */
	if (rpc->status > 0 || !rpc->req || !rpc->resp)
		return;
	struct wctx w = {c, s, ts, rpc->hdr.revision};
	switch (rpc->m->method) {
	case EM_PUT:
		writes_put(&w, EM_PUT, (const void *)rpc->req, (const void *)rpc->resp, NULL);
		break;
	case EM_DELETE_RANGE:
		writes_delete(&w, EM_DELETE_RANGE, (const void *)rpc->req, (const void *)rpc->resp,
			      NULL);
		break;
	case EM_TXN:
		writes_txn(&w, (const void *)rpc->req, (const void *)rpc->resp);
		break;
	default:
		break;
	}
}

/* ---- RPC records ---- */

/* Sends one RPC record (and the writes it implies). ts_resp 0 = no response side seen. */
static void rpc_emit(struct etcd_conn *c, struct grpc_stream *s, struct es *e,
		     const ProtobufCMessage *req, const ProtobufCMessage *resp, ee_ts ts_req,
		     ee_ts ts_resp, int status)
{
	struct etcd_record r;
	struct etcd_stats *st = &c->d->st;

	rec_init(&r, REC_RPC, c, s, ts_resp ? ts_resp : ts_req);
	r.u.rpc.m = e->m;
	r.u.rpc.inferred = e->inferred;
	r.u.rpc.confidence = e->inferred ? e->confidence : 100;
	r.u.rpc.ts_req = ts_req;
	r.u.rpc.ts_resp = ts_resp;
	r.u.rpc.latency_us = ts_req && ts_resp ? ts_resp - ts_req : -1;
	r.u.rpc.status = status;
	r.u.rpc.status_inferred = s && status == 0 && s->status_inferred;
	r.u.rpc.status_message = s ? s->message : "";
	r.u.rpc.req = req;
	r.u.rpc.resp = resp;
	r.u.rpc.hdr = hdr_conv(resp_header(resp));
	st->rpcs++;
	if (status > 0)
		st->errors++;
	if (ts_req && !ts_resp)
		st->unpaired_requests++;
	if (!ts_req && ts_resp)
		st->unpaired_responses++;
	rec_emit(c, &r);
	writes_emit(c, s, &r.u.rpc, r.c.ts);
}

/* The unary (or Snapshot) RPC of a stream, once: at trailers or at close. */
static void unary_emit(struct etcd_conn *c, struct grpc_stream *s, struct es *e)
{
	if (e->emitted)
		return;
	e->emitted = true;
	const ProtobufCMessage *resp = e->resp;
	Etcdserverpb__SnapshotResponse snap;
	if (e->m->method == EM_SNAPSHOT && e->snap_seen) {
		etcdserverpb__snapshot_response__init(&snap);
		snap.header = e->snap_has_hdr ? &e->snap_hdr : NULL;
		snap.remaining_bytes = e->snap_remaining;
		snap.version = e->snap_version;
		resp = &snap.base;
	}
	ee_ts ts_resp = e->ts_resp ? e->ts_resp : e->trailers ? e->ts_trailers : 0;
	if (!e->ts_req && !ts_resp)
		return; /* nothing of this stream was seen */
	rpc_emit(c, s, e, e->req, resp, e->ts_req, ts_resp, s->status);
}

/* ---- unary messages ---- */

static struct arena *es_arena(struct etcd_conn *c, struct es *e)
{
	if (!e->arena)
		e->arena = arena_get(c->d);
	return e->arena;
}

static void unary_msg(struct etcd_conn *c, struct grpc_stream *s, struct es *e, enum tcp_dir dir,
		      const uint8_t *p, size_t n, ee_ts ts)
{
	if (dir == TCP_C2S) {
		if (e->ts_req)
			return; /* a unary request is one message; extra ones are ignored */
		e->ts_req = ts;
	} else {
		if (e->ts_resp)
			return;
		e->ts_resp = ts;
	}
	if (!e->m->req)
		return; /* not an etcd method: timing only */
	struct arena *a = es_arena(c, e);
	if (!a)
		return;
	ProtobufCMessage *m = msg_decode(c, s, e, dir, p, n, &a->pa, ts);
	if (dir == TCP_C2S)
		e->req = m;
	else
		e->resp = m;
}

/* Snapshot responses stream the database: keep the last header, never the blob. */
static void snapshot_msg(struct etcd_conn *c, struct grpc_stream *s, struct es *e,
			 const uint8_t *p, size_t n, ee_ts ts)
{
	struct arena *a = &c->d->scratch;
	Etcdserverpb__SnapshotResponse *r =
		(void *)msg_decode(c, s, e, TCP_S2C, p, n, &a->pa, ts);
	e->ts_resp = ts;
	if (r) {
		e->snap_seen = true;
		e->snap_has_hdr = r->header != NULL;
		if (r->header)
			e->snap_hdr = *r->header;
		e->snap_remaining = r->remaining_bytes;
		snprintf(e->snap_version, sizeof(e->snap_version), "%s",
			 r->version ? r->version : "");
	}
	arena_reset(a);
}

/* ---- LeaseKeepAlive ---- */

/* Emits the oldest queued request with resp (NULL = unanswered). */
static void ka_pop_emit(struct etcd_conn *c, struct grpc_stream *s, struct es *e,
			const ProtobufCMessage *resp, ee_ts ts_resp)
{
	Etcdserverpb__LeaseKeepAliveRequest rq;
	const ProtobufCMessage *req = NULL;
	ee_ts ts_req = 0;

	if (e->ka && e->ka_n > 0) {
		struct ka_req *k = &e->ka[e->ka_head];
		etcdserverpb__lease_keep_alive_request__init(&rq);
		rq.id = k->id;
		req = &rq.base;
		ts_req = k->ts;
		e->ka_head = (e->ka_head + 1) % KEEPALIVE_QUEUE_MAX;
		e->ka_n--;
	}
	rpc_emit(c, s, e, req, resp, ts_req, ts_resp, s->status);
}

static void keepalive_msg(struct etcd_conn *c, struct grpc_stream *s, struct es *e,
			  enum tcp_dir dir, const uint8_t *p, size_t n, ee_ts ts)
{
	struct arena *a = &c->d->scratch;
	ProtobufCMessage *m = msg_decode(c, s, e, dir, p, n, &a->pa, ts);

	if (dir == TCP_C2S) {
		if (m) {
			if (!e->ka)
				e->ka = calloc(KEEPALIVE_QUEUE_MAX, sizeof(*e->ka));
			if (e->ka) {
				if (e->ka_n == KEEPALIVE_QUEUE_MAX)
					ka_pop_emit(c, s, e, NULL, 0);
				size_t i = (e->ka_head + e->ka_n) % KEEPALIVE_QUEUE_MAX;
				e->ka[i].id = ((Etcdserverpb__LeaseKeepAliveRequest *)m)->id;
				e->ka[i].ts = ts;
				e->ka_n++;
			}
		}
	} else if (m) {
		ka_pop_emit(c, s, e, m, ts);
	}
	arena_reset(a);
}

/* ---- Watch ---- */

static struct watch *watch_find(struct es *e, int64_t id)
{
	if (e->last_hit < e->nw && !e->w[e->last_hit].pending && e->w[e->last_hit].id == id)
		return &e->w[e->last_hit];
	for (size_t i = 0; i < e->nw; i++) {
		if (!e->w[i].pending && e->w[i].id == id) {
			e->last_hit = i;
			return &e->w[i];
		}
	}
	return NULL;
}

/* Appends a watch whose range copies key/end; NULL (and a "limit" notice) when full. */
static struct watch *watch_add(struct etcd_conn *c, struct grpc_stream *s, struct es *e,
			       const uint8_t *key, size_t kn, const uint8_t *end, size_t en, ee_ts ts)
{
	if (e->nw >= WATCH_MAX_PER_STREAM) {
		notice_emit(c, s, "limit", "watches per stream", WATCH_MAX_PER_STREAM, ts);
		return NULL;
	}
	if (e->nw == e->capw) {
		size_t cap = e->capw ? e->capw * 2 : 8;
		struct watch *nw = realloc(e->w, cap * sizeof(*nw));
		if (!nw)
			return NULL;
		e->w = nw;
		e->capw = cap;
	}
	uint8_t *buf = malloc(kn + en + 1);
	if (!buf)
		return NULL;
	if (kn)
		memcpy(buf, key, kn);
	if (en)
		memcpy(buf + kn, end, en);
	struct watch *w = &e->w[e->nw++];
	memset(w, 0, sizeof(*w));
	w->buf = buf;
	w->r.key = buf, w->r.key_len = kn;
	w->r.range_end = buf + kn, w->r.range_end_len = en;
	return w;
}

static void watch_remove(struct es *e, struct watch *w)
{
	size_t i = (size_t)(w - e->w);
	free(w->buf);
	memmove(&e->w[i], &e->w[i + 1], (e->nw - i - 1) * sizeof(*w));
	e->nw--;
}

static void watch_rec(struct etcd_conn *c, struct grpc_stream *s, enum rec_watch_event ev,
		      int64_t id, const struct rec_watch_range *range,
		      const Etcdserverpb__WatchResponse *wr, ee_ts ts)
{
	struct etcd_record r;
	rec_init(&r, REC_WATCH, c, s, ts);
	r.u.watch.event = ev;
	r.u.watch.watch_id = id;
	if (range)
		r.u.watch.range = *range;
	r.u.watch.cancel_reason = "";
	if (wr) {
		r.u.watch.hdr = hdr_conv(wr->header);
		r.u.watch.revision = wr->header ? wr->header->revision : 0;
		r.u.watch.compact_revision = wr->compact_revision;
		if (wr->cancel_reason)
			r.u.watch.cancel_reason = wr->cancel_reason;
	}
	rec_emit(c, &r);
}

/* A watch whose created response came before any create request, at most a second before
 * ts: the create request now seen is the one it answered. */
static struct watch *watch_early(struct es *e, ee_ts ts)
{
	for (size_t i = 0; i < e->nw; i++) {
		struct watch *w = &e->w[i];
		if (w->early && !w->r.known && ts - w->early_ts <= 1000000 && w->early_ts - ts <= 1000000)
			return w;
	}
	return NULL;
}

/* Emits a watch's held "created" record (with the range, if its create was seen since). */
static void watch_created_flush(struct etcd_conn *c, struct grpc_stream *s, struct watch *w)
{
	if (!w->created_held)
		return;
	w->created_held = false;
	c->created_held--;
	Etcdserverpb__WatchResponse wr = ETCDSERVERPB__WATCH_RESPONSE__INIT;
	wr.watch_id = w->id;
	wr.created = 1;
	wr.header = w->held_has_hdr ? &w->held_hdr : NULL;
	watch_rec(c, s, RW_CREATED, w->id, &w->r, &wr, w->early_ts);
}

/* Emits every held "created" record of the stream: all (at close), or those held over a
 * second (their create request is not coming). */
static void watch_created_flush_old(struct etcd_conn *c, struct grpc_stream *s, struct es *e,
				    ee_ts ts, bool all)
{
	for (size_t i = 0; i < e->nw; i++)
		if (e->w[i].created_held && (all || ts - e->w[i].early_ts > 1000000))
			watch_created_flush(c, s, &e->w[i]);
}

static void watch_request(struct etcd_conn *c, struct grpc_stream *s, struct es *e,
			  const Etcdserverpb__WatchRequest *rq, ee_ts ts)
{
	switch (rq->request_union_case) {
	case ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CREATE_REQUEST: {
		const Etcdserverpb__WatchCreateRequest *cr = rq->create_request;
		struct rec_watch_range tmp = {0};
		struct watch *early = watch_early(e, ts);
		size_t early_i = early ? (size_t)(early - e->w) : 0;
		struct watch *w = watch_add(c, s, e, cr->key.data, cr->key.len, cr->range_end.data,
					    cr->range_end.len, ts);
		if (early)
			early = &e->w[early_i]; /* watch_add may have moved the table */
		struct rec_watch_range *rg = w ? &w->r : &tmp;
		if (!w) {
			tmp.key = cr->key.data, tmp.key_len = cr->key.len;
			tmp.range_end = cr->range_end.data, tmp.range_end_len = cr->range_end.len;
		} else if (early) {
			/* this create is what the early created response answered: the early entry
			 * takes the range (and keeps its held "created" record) */
			free(early->buf);
			early->buf = w->buf;
			early->r.key = w->r.key, early->r.key_len = w->r.key_len;
			early->r.range_end = w->r.range_end, early->r.range_end_len = w->r.range_end_len;
			early->early = false;
			w->buf = NULL;
			watch_remove(e, w);
			w = early;
			rg = &w->r;
		} else {
			w->pending = true;
			w->id = cr->watch_id;
		}
		rg->known = true;
		rg->start_revision = cr->start_revision;
		rg->prev_kv = cr->prev_kv;
		rg->progress_notify = cr->progress_notify;
		rg->created_ts = ts;
		watch_rec(c, s, RW_CREATE, cr->watch_id ? cr->watch_id : -1, rg, NULL, ts);
		if (w)
			watch_created_flush(c, s, w); /* the response that came first, now named */
		break;
	}
	case ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CANCEL_REQUEST: {
		int64_t id = rq->cancel_request->watch_id;
		struct watch *w = watch_find(e, id);
		struct watch *lc = &e->last_canceled;
		if (!w && lc->buf && lc->id == id && ts - lc->early_ts <= 1000000 &&
		    lc->early_ts - ts <= 1000000)
			w = lc; /* answered before it was seen */
		watch_rec(c, s, RW_CANCEL, id, w ? &w->r : NULL, NULL, ts);
		break;
	}
	case ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_PROGRESS_REQUEST:
		watch_rec(c, s, RW_PROGRESS_REQUEST, -1, NULL, NULL, ts);
		break;
	default:
		break;
	}
}

/* The watch a created response answers: etcd handles creates in order, so the oldest
 * pending one. A create from before the capture gets an entry with an unknown range. */
static struct watch *watch_bind(struct etcd_conn *c, struct grpc_stream *s, struct es *e,
				int64_t id, ee_ts ts)
{
	for (size_t i = 0; i < e->nw; i++) {
		if (e->w[i].pending) {
			e->w[i].pending = false;
			e->w[i].id = id;
			return &e->w[i];
		}
	}
	struct watch *w = watch_find(e, id);
	if (!w) {
		w = watch_add(c, s, e, NULL, 0, NULL, 0, ts);
		if (w) {
			/* Its create may come after it (a capture reordered across directions, or
			 * requests held behind a TCP hole); if it does not, the capture began between
			 * the two, and the "created" record waits at most a second (watch_early). */
			w->early = true;
			w->early_ts = ts;
		}
	}
	if (w)
		w->id = id;
	return w;
}


static void watch_events(struct etcd_conn *c, struct grpc_stream *s, struct es *e,
			 const Etcdserverpb__WatchResponse *wr, ee_ts ts)
{
	struct watch *w = watch_find(e, wr->watch_id);
	struct rec_watch_range unknown = {0};

	for (size_t i = 0; i < wr->n_events; i++) {
		const Mvccpb__Event *ev = wr->events[i];
		if (!ev || !ev->kv)
			continue;
		if (!w) {
			/* Created before the capture: guess the range from the first event's key. */
			w = watch_add(c, s, e, ev->kv->key.data, ev->kv->key.len, NULL, 0, ts);
			if (w) {
				w->id = wr->watch_id;
				w->r.known = true;
				w->r.guessed = true;
			}
		}
		struct etcd_record r;
		rec_init(&r, REC_WATCH_EVENT, c, s, ts);
		r.u.ev.watch_id = wr->watch_id;
		r.u.ev.range = w ? &w->r : &unknown;
		r.u.ev.type = ev->type == MVCCPB__EVENT__EVENT_TYPE__DELETE ? REC_OP_DELETE : REC_OP_PUT;
		r.u.ev.kv = ev->kv;
		r.u.ev.prev_kv = ev->prev_kv;
		r.u.ev.fragment = wr->fragment;
		r.u.ev.hdr = hdr_conv(wr->header);
		c->d->st.watch_events++;
		rec_emit(c, &r);
	}
}

static void watch_response(struct etcd_conn *c, struct grpc_stream *s, struct es *e,
			   const Etcdserverpb__WatchResponse *wr, ee_ts ts)
{
	if (wr->created) {
		struct watch *w = watch_bind(c, s, e, wr->watch_id, ts);
		if (w && w->early) {
			/* its create request may still come: hold the record (watch_early) */
			w->created_held = true;
			c->created_held++;
			w->held_has_hdr = wr->header != NULL;
			if (wr->header)
				w->held_hdr = *wr->header;
		} else {
			watch_rec(c, s, RW_CREATED, wr->watch_id, w ? &w->r : NULL, wr, ts);
		}
	} else {
		/* an event, progress or cancel of a watch whose created record is held: that
		 * record comes first */
		struct watch *w = watch_find(e, wr->watch_id);
		if (w)
			watch_created_flush(c, s, w);
	}
	if (wr->n_events > 0)
		watch_events(c, s, e, wr, ts);
	if (wr->canceled) {
		struct watch *w = watch_find(e, wr->watch_id);
		if (w)
			watch_created_flush(c, s, w); /* created and canceled in one response */
		watch_rec(c, s, RW_CANCELED, wr->watch_id, w ? &w->r : NULL, wr, ts);
		if (w) {
			free(e->last_canceled.buf);
			e->last_canceled = *w;
			e->last_canceled.early_ts = ts; /* when it was canceled */
			w->buf = NULL;                  /* now owned by last_canceled */
			watch_remove(e, w);
		}
	}
	if (!wr->created && !wr->canceled && wr->n_events == 0) {
		struct watch *w = watch_find(e, wr->watch_id);
		watch_rec(c, s, RW_PROGRESS, wr->watch_id, w ? &w->r : NULL, wr, ts);
	}
}

static void watch_msg(struct etcd_conn *c, struct grpc_stream *s, struct es *e, enum tcp_dir dir,
		      const uint8_t *p, size_t n, ee_ts ts)
{
	struct arena *a = &c->d->scratch;
	ProtobufCMessage *m = msg_decode(c, s, e, dir, p, n, &a->pa, ts);

	watch_created_flush_old(c, s, e, ts, false);
	if (m) {
		if (dir == TCP_C2S)
			watch_request(c, s, e, (const void *)m, ts);
		else
			watch_response(c, s, e, (const void *)m, ts);
	}
	arena_reset(a);
}

/* ---- per-stream dispatch ---- */

/* One message of a stream whose method is decided. */
static void es_msg(struct etcd_conn *c, struct grpc_stream *s, struct es *e, enum tcp_dir dir,
		   const uint8_t *p, size_t n, ee_ts ts)
{
	switch (e->m->method) {
	case EM_WATCH:
		watch_msg(c, s, e, dir, p, n, ts);
		break;
	case EM_LEASE_KEEPALIVE:
		keepalive_msg(c, s, e, dir, p, n, ts);
		break;
	case EM_SNAPSHOT:
		if (dir == TCP_S2C)
			snapshot_msg(c, s, e, p, n, ts);
		else
			unary_msg(c, s, e, dir, p, n, ts); /* the request is unary */
		break;
	default:
		unary_msg(c, s, e, dir, p, n, ts);
		break;
	}
}

static void es_decide(struct etcd_conn *c, struct es *e, const struct etcd_method_info *m)
{
	e->m = m;
	e->decided = true;
	if (m->method == EM_WATCH)
		c->d->st.watch_streams++;
}

/* Creates (or returns) the stream's state; the method comes from :path when known. */
static struct es *es_get(struct etcd_conn *c, struct grpc_stream *s)
{
	struct etcd_decoder *d = c->d;
	struct es *e = s->app;

	if (e)
		return e;
	e = d->free_es;
	if (e)
		d->free_es = e->next_free;
	else
		e = malloc(sizeof(*e));
	if (!e)
		return NULL;
	memset(e, 0, sizeof(*e));
	e->m = etcd_method_info(EM_UNKNOWN);
	s->app = e;
	if (s->path[0] && !s->path_unknown) {
		const struct etcd_method_info *m = etcd_method_by_path(s->path, strlen(s->path));
		es_decide(c, e, m ? m : etcd_method_info(EM_UNKNOWN));
	}
	return e;
}

static void es_release(struct etcd_conn *c, struct es *e)
{
	struct etcd_decoder *d = c->d;
	d->pend_total -= e->pend_bytes; /* held messages of a stream closed undecided */
	if (e->arena)
		arena_put(d, e->arena);
	for (size_t i = 0; i < e->nw; i++)
		free(e->w[i].buf);
	free(e->w);
	free(e->last_canceled.buf);
	free(e->ka);
	e->next_free = d->free_es;
	d->free_es = e;
}

/* ---- inference ---- */

/* Forgets the held messages' bytes (their copies live in the stream arena). */
static void es_pend_clear(struct etcd_conn *c, struct es *e)
{
	c->d->pend_total -= e->pend_bytes;
	e->pend_bytes = 0;
	e->npend = 0;
}

/* Hands the messages held while the method was unknown to the decided method. */
static void es_replay(struct etcd_conn *c, struct grpc_stream *s, struct es *e)
{
	int np = e->npend;
	es_pend_clear(c, e);
	for (int i = 0; i < np; i++)
		es_msg(c, s, e, e->pend[i].dir, e->pend[i].p, e->pend[i].n, e->pend[i].ts);
}

/* The request HEADERS came after the response began (a capture reordered across
 * directions): the :path settles what inference was doing. An undecided stream is decided
 * and its held messages replayed; one inferred as the same method is no longer "inferred".
 * (One inferred as another method keeps it: its messages were decoded as that one.) */
static void es_path_late(struct etcd_conn *c, struct grpc_stream *s, struct es *e)
{
	if (!s->path[0] || s->path_unknown)
		return;
	const struct etcd_method_info *m = etcd_method_by_path(s->path, strlen(s->path));
	if (!m)
		return;
	if (!e->decided) {
		es_decide(c, e, m);
		es_replay(c, s, e);
	} else if (e->inferred && e->m == m) {
		e->inferred = false;
		e->confidence = 100;
		if (c->d->st.inferred)
			c->d->st.inferred--;
	}
}

/* Decides the method of an unknown stream when confident (or when final), then replays the
 * messages held so far. */
static void infer_try(struct etcd_conn *c, struct grpc_stream *s, struct es *e, bool final)
{
	int sc[EM__COUNT];
	bool multi_c = e->nmsg[TCP_C2S] > 1, multi_s = e->nmsg[TCP_S2C] > 1;

	memcpy(sc, e->sc, sizeof(sc));
	for (int m = 1; m < EM__COUNT; m++) {
		const struct etcd_method_info *mi = etcd_method_info((enum etcd_method)m);
		if (sc[m] <= ETCD_INFER_REJECT)
			continue;
		if ((multi_c && !mi->client_streaming) || (multi_s && !mi->server_streaming))
			sc[m] = ETCD_INFER_REJECT;
		else if ((multi_c || multi_s) && mi->client_streaming)
			sc[m] += 8; /* several messages on one stream: Watch or LeaseKeepAlive */
	}
	int conf = 0;
	enum etcd_method m = etcd_infer_pick(sc, e->evidence, &conf);
	if (e->nmsg[TCP_C2S] + e->nmsg[TCP_S2C] == 0)
		m = EM_UNKNOWN, conf = 0; /* no message: nothing to infer from */
	if (conf < INFER_COMMIT_CONFIDENCE && !final)
		return;
	es_decide(c, e, etcd_method_info(m));
	e->inferred = true;
	e->confidence = conf;
	if (m != EM_UNKNOWN)
		c->d->st.inferred++;
	if (m != EM_UNKNOWN && conf >= INFER_COMMIT_CONFIDENCE && s->path_unknown)
		(void)grpc_conn_learn_path(c->g, s, e->m->path);
	if (m == EM_UNKNOWN) {
		es_pend_clear(c, e);
		return;
	}
	es_replay(c, s, e);
}

/* Scores and holds one message of a stream whose method is not decided yet. */
static void infer_msg(struct etcd_conn *c, struct grpc_stream *s, struct es *e, enum tcp_dir dir,
		      const uint8_t *p, size_t n, ee_ts ts)
{
	if (e->nmsg[dir] < INFER_SCORED_MSGS) {
		int sc[EM__COUNT];
		e->evidence += etcd_infer_score(dir, p, n, sc);
		for (int m = 0; m < EM__COUNT; m++) {
			if (sc[m] <= ETCD_INFER_REJECT || e->sc[m] <= ETCD_INFER_REJECT)
				e->sc[m] = ETCD_INFER_REJECT;
			else
				e->sc[m] += sc[m];
		}
	}
	e->nmsg[dir]++;
	struct arena *a = es_arena(c, e);
	uint8_t *copy = a ? arena_alloc(a, n) : NULL;
	if (copy) {
		if (n)
			memcpy(copy, p, n);
		e->pend[e->npend++] = (struct pend_msg){dir, ts, copy, n};
		e->pend_bytes += n;
		c->d->pend_total += n;
	}
	bool full = e->npend == INFER_MAX_PENDING_MSGS || e->pend_bytes > INFER_MAX_PENDING_BYTES ||
		    c->d->pend_total > INFER_MAX_PENDING_TOTAL;
	infer_try(c, s, e, full || !copy);
}

/* ---- grpc callbacks ---- */

static void cb_stream_open(void *ctx, struct grpc_stream *s, ee_ts ts)
{
	struct es *e = s->app;
	if (e)
		es_path_late(ctx, s, e); /* HEADERS after the response: see grpc.h */
	else
		(void)es_get(ctx, s);
}

static void cb_message(void *ctx, struct grpc_stream *s, enum tcp_dir dir, const uint8_t *p,
		       size_t n, bool resumed, ee_ts ts)
{
	static const uint8_t empty[1];
	struct etcd_conn *c = ctx;
	struct es *e = es_get(c, s);

	if (!p)
		p = empty, n = 0; /* an empty message may come without a buffer */
	c->d->st.messages++;
	if (!e)
		return;
	/* Decided before this stream's request HEADERS showed the unknown :path entry. */
	if (e->inferred && s->path_unknown && e->m->method != EM_UNKNOWN &&
	    e->confidence >= INFER_COMMIT_CONFIDENCE)
		(void)grpc_conn_learn_path(c->g, s, e->m->path);
	if (!e->decided)
		infer_msg(c, s, e, dir, p, n, ts);
	else
		es_msg(c, s, e, dir, p, n, ts);
}

static void cb_trailers(void *ctx, struct grpc_stream *s, ee_ts ts)
{
	struct etcd_conn *c = ctx;
	struct es *e = es_get(c, s);

	if (!e)
		return;
	e->trailers = true;
	e->ts_trailers = ts;
	if (!e->decided)
		infer_try(c, s, e, true);
	if (!e->m->client_streaming)
		unary_emit(c, s, e);
}

static void cb_stream_close(void *ctx, struct grpc_stream *s, ee_ts ts)
{
	struct etcd_conn *c = ctx;
	struct es *e = s->app;

	if (!e)
		return;
	if (!e->decided)
		infer_try(c, s, e, true);
	watch_created_flush_old(c, s, e, ts, true);
	if (e->m->method == EM_LEASE_KEEPALIVE) {
		while (e->ka_n > 0)
			ka_pop_emit(c, s, e, NULL, 0);
	} else if (!e->m->client_streaming) {
		unary_emit(c, s, e);
	}
	es_release(c, e);
	s->app = NULL;
}

static void cb_loss(void *ctx, struct grpc_stream *s, enum tcp_dir dir, const char *why, ee_ts ts)
{
	char detail[160];
	snprintf(detail, sizeof(detail), "%s: %s", dir == TCP_C2S ? "client->server" : "server->client",
		 why ? why : "");
	notice_emit(ctx, s, why && strstr(why, "resync") ? "resync" : "loss", detail, 0, ts);
}

static void cb_conn_notice(void *ctx, enum tcp_dir dir, const char *what, uint64_t bytes, ee_ts ts)
{
	notice_emit(ctx, NULL, what, dir == TCP_C2S ? "client->server" : "server->client", bytes, ts);
}

/* ---- connection glue ---- */

/* Creates the gRPC and etcd state of an adopted TCP connection. Freed by etcd_conn_close. */
struct etcd_conn *etcd_conn_open(struct etcd_decoder *d, const struct tcp_conn_info *ci, ee_ts ts)
{
	struct etcd_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->d = d;
	c->ci = *ci;
	struct grpc_callbacks cb = {
		.ctx = c,
		.on_stream_open = cb_stream_open,
		.on_message = cb_message,
		.on_trailers = cb_trailers,
		.on_stream_close = cb_stream_close,
		.on_loss = cb_loss,
		.on_conn_notice = cb_conn_notice,
	};
	c->g = grpc_conn_new(&cb, ci->saw_syn);
	if (!c->g) {
		free(c);
		return NULL;
	}
	return c;
}

void etcd_conn_data(struct etcd_conn *c, enum tcp_dir dir, const uint8_t *p, size_t n, ee_ts ts)
{
	if (c)
		grpc_conn_feed(c->g, dir, p, n, ts);
}

static void tick_stream(void *ctx, struct grpc_stream *s)
{
	struct etcd_conn *c = ctx;
	struct es *e = s->app;
	if (e && e->nw)
		watch_created_flush_old(c, s, e, c->tick_now, false);
}

/* Time passes (also when the connection is quiet): what waits for a request that did not
 * come within a second goes out now (held responses in grpc.c, held "created" records). */
void etcd_conn_tick(struct etcd_conn *c, ee_ts now)
{
	if (!c)
		return;
	grpc_conn_tick(c->g, now);
	if (c->created_held) {
		c->tick_now = now;
		grpc_conn_foreach_stream(c->g, tick_stream, c);
	}
}

/* TCP lost bytes: tell the user, and let gRPC/HTTP/2 resynchronise. */
void etcd_conn_gap(struct etcd_conn *c, enum tcp_dir dir, uint64_t missing, ee_ts ts)
{
	if (!c)
		return;
	notice_emit(c, NULL, "gap", dir == TCP_C2S ? "client->server" : "server->client", missing,
		    ts);
	grpc_conn_gap(c->g, dir, missing, ts);
}

/* Closes every stream (emitting what is pending) and frees the connection. */
void etcd_conn_close(struct etcd_conn *c, enum tcp_close_reason why, ee_ts ts)
{
	if (!c)
		return;
	grpc_conn_free(c->g, ts);
	free(c);
}

void etcd_conn_add_grpc_stats(const struct etcd_conn *c, struct grpc_stats *st)
{
	if (c)
		grpc_conn_add_stats(c->g, st);
}
