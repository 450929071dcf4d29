/* test_etcd.c: unit tests of the etcd stage: method table, message decoding, method
 * inference, and full-path runs where nghttp2 client/server sessions produce real HTTP/2
 * byte streams that go through etcd_conn_open/etcd_conn_data (grpc, h2, hpack included). */
#include <stdlib.h>
#include <string.h>

#include <nghttp2/nghttp2.h>
#include <protobuf-c/protobuf-c.h>

#include "etcd.h"
#include "unit.h"

/* ------------------------------------------------------------------ helpers */

#define BIN(s) ((ProtobufCBinaryData){sizeof(s) - 1, (uint8_t *)(s)})

static const char K8S_VALUE[] = "k8s\0\n\x09\n\x02v1\x12\x03Pod\x12\x05hello";
#define K8SBIN ((ProtobufCBinaryData){sizeof(K8S_VALUE) - 1, (uint8_t *)K8S_VALUE})

/* Packs m into a malloc'd buffer (*n bytes); caller frees. */
static uint8_t *pack(const void *m, size_t *n)
{
	const ProtobufCMessage *pm = m;
	*n = protobuf_c_message_get_packed_size(pm);
	uint8_t *p = malloc(*n + 1);
	protobuf_c_message_pack(pm, p);
	return p;
}

static Etcdserverpb__ResponseHeader hdr_make(int64_t rev)
{
	Etcdserverpb__ResponseHeader h = ETCDSERVERPB__RESPONSE_HEADER__INIT;
	h.cluster_id = 0xcdf818194e3a8c32ull;
	h.member_id = 0x8e9e05c52164694dull;
	h.revision = rev;
	h.raft_term = 2;
	return h;
}

static Mvccpb__KeyValue kv_make(const char *key, int64_t create, int64_t mod, int64_t ver)
{
	Mvccpb__KeyValue kv = MVCCPB__KEY_VALUE__INIT;
	kv.key.data = (uint8_t *)key;
	kv.key.len = strlen(key);
	kv.create_revision = create;
	kv.mod_revision = mod;
	kv.version = ver;
	kv.value = K8SBIN;
	return kv;
}

/* ------------------------------------------------------------------ record sink */

struct rc {
	enum rec_kind kind;
	uint32_t stream;
	ee_ts ts;
	char ua[64], conn[112];
	/* rpc */
	enum etcd_method m;
	bool inferred;
	int conf, status;
	char msg[128];
	int64_t latency, hdr_rev, a, b;
	bool has_req, has_resp;
	/* write */
	enum etcd_method wm;
	int op;
	char key[128], end[128], value[64];
	int64_t rev, lease, deleted, prev_mod;
	bool has_prev, from_txn;
	/* watch + event */
	int wev;
	int64_t watch_id, compact, start_rev;
	bool known, guessed, prev_kv_flag, progress_flag, has_prev_kv;
	char reason[96];
	int etype;
	/* notice */
	char what[32], detail[160];
};

#define MAX_RECS 512
static struct rc recs[MAX_RECS];
static int nrecs;

static void cpy(char *dst, size_t cap, const void *p, size_t n)
{
	if (n >= cap)
		n = cap - 1;
	if (n)
		memcpy(dst, p, n);
	dst[n] = 0;
}

/* Copies the parts of each record the tests check. */
static void sink_record(void *ctx, const struct etcd_record *r)
{
	if (nrecs >= MAX_RECS)
		return;
	struct rc *x = &recs[nrecs++];
	memset(x, 0, sizeof(*x));
	x->kind = r->c.kind;
	x->stream = r->c.stream;
	x->ts = r->c.ts;
	cpy(x->ua, sizeof(x->ua), r->c.user_agent, strlen(r->c.user_agent));
	cpy(x->conn, sizeof(x->conn), r->c.conn, strlen(r->c.conn));
	switch (r->c.kind) {
	case REC_RPC: {
		const struct rec_rpc *p = &r->u.rpc;
		x->m = p->m->method;
		x->inferred = p->inferred;
		x->conf = p->confidence;
		x->status = p->status;
		cpy(x->msg, sizeof(x->msg), p->status_message, strlen(p->status_message));
		x->latency = p->latency_us;
		x->hdr_rev = p->hdr.present ? p->hdr.revision : -1;
		x->has_req = p->req != NULL;
		x->has_resp = p->resp != NULL;
		if (x->m == EM_RANGE && p->resp)
			x->a = (int64_t)((const Etcdserverpb__RangeResponse *)p->resp)->n_kvs;
		if (x->m == EM_LEASE_KEEPALIVE) {
			if (p->req)
				x->a = ((const Etcdserverpb__LeaseKeepAliveRequest *)p->req)->id;
			if (p->resp)
				x->b = ((const Etcdserverpb__LeaseKeepAliveResponse *)p->resp)->ttl;
		}
		break;
	}
	case REC_WRITE: {
		const struct rec_write *w = &r->u.write;
		x->wm = w->method;
		x->op = w->op;
		cpy(x->key, sizeof(x->key), w->key, w->key_len);
		cpy(x->end, sizeof(x->end), w->range_end, w->range_end_len);
		cpy(x->value, sizeof(x->value), w->value, w->value_len);
		x->rev = w->revision;
		x->lease = w->lease;
		x->deleted = w->deleted;
		x->has_prev = w->prev != NULL;
		x->prev_mod = w->prev ? w->prev->mod_revision : 0;
		x->from_txn = w->txn != NULL;
		break;
	}
	case REC_WATCH: {
		const struct rec_watch *w = &r->u.watch;
		x->wev = w->event;
		x->watch_id = w->watch_id;
		x->known = w->range.known;
		x->guessed = w->range.guessed;
		cpy(x->key, sizeof(x->key), w->range.key, w->range.key_len);
		cpy(x->end, sizeof(x->end), w->range.range_end, w->range.range_end_len);
		x->start_rev = w->range.start_revision;
		x->prev_kv_flag = w->range.prev_kv;
		x->progress_flag = w->range.progress_notify;
		x->compact = w->compact_revision;
		cpy(x->reason, sizeof(x->reason), w->cancel_reason, strlen(w->cancel_reason));
		x->rev = w->revision;
		break;
	}
	case REC_WATCH_EVENT: {
		const struct rec_watch_event_rec *e = &r->u.ev;
		x->watch_id = e->watch_id;
		x->etype = e->type;
		x->known = e->range->known;
		x->guessed = e->range->guessed;
		cpy(x->key, sizeof(x->key), e->kv->key.data, e->kv->key.len);
		cpy(x->end, sizeof(x->end), e->range->key, e->range->key_len);
		x->rev = e->kv->mod_revision;
		x->has_prev_kv = e->prev_kv != NULL;
		x->prev_mod = e->prev_kv ? e->prev_kv->mod_revision : 0;
		break;
	}
	case REC_NOTICE:
		cpy(x->what, sizeof(x->what), r->u.notice.what, strlen(r->u.notice.what));
		cpy(x->detail, sizeof(x->detail), r->u.notice.detail, strlen(r->u.notice.detail));
		break;
	case REC_LIST: /* made by list_agg, never by the etcd stage */
		break;
	}
}

static const struct rc *rec_find(enum rec_kind k, int nth)
{
	for (int i = 0; i < nrecs; i++)
		if (recs[i].kind == k && nth-- == 0)
			return &recs[i];
	return NULL;
}

static int rec_count(enum rec_kind k)
{
	int n = 0;
	for (int i = 0; i < nrecs; i++)
		n += recs[i].kind == k;
	return n;
}

/* ------------------------------------------------------------------ method table */

static void test_method_table(void)
{
	for (int m = 1; m < EM__COUNT; m++) {
		const struct etcd_method_info *mi = etcd_method_info((enum etcd_method)m);
		CHECK_EQ_INT(mi->method, m);
		CHECK(mi->req != NULL && mi->resp != NULL);
		CHECK(mi->path && strncmp(mi->path, "/etcdserverpb.", 14) == 0);
		CHECK(etcd_method_by_path(mi->path, strlen(mi->path)) == mi);
	}
	const struct etcd_method_info *u = etcd_method_info(EM_UNKNOWN);
	CHECK_EQ_STR(u->name, "Unknown");
	CHECK_EQ_STR(u->service_name, "?");
	CHECK(etcd_method_info((enum etcd_method)999) == u);

	static const char *const good[] = {"/etcdserverpb.KV/Range", "/etcdserverpb.Lease/LeaseGrant",
					   "/etcdserverpb.Auth/UserAdd", "/etcdserverpb.Watch/Watch",
					   "/etcdserverpb.Maintenance/Snapshot",
					   "/etcdserverpb.Cluster/MemberPromote"};
	static const enum etcd_method want[] = {EM_RANGE, EM_LEASE_GRANT, EM_USER_ADD, EM_WATCH,
						EM_SNAPSHOT, EM_MEMBER_PROMOTE};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		const struct etcd_method_info *mi = etcd_method_by_path(good[i], strlen(good[i]));
		CHECK(mi && mi->method == want[i]);
	}
	static const char *const bad[] = {"/etcdserverpb.KV/Rang", "/etcdserverpb.KV/Ranges",
					  "/etcdserverpb.KV/", "/etcdserverpb.Lease/Range",
					  "/grpc.health.v1.Health/Check", "/v3lockpb.Lock/Lock", "",
					  "/etcdserverpb.", "/etcdserverpb.KVX/Range"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(etcd_method_by_path(bad[i], strlen(bad[i])) == NULL);
	CHECK(etcd_method_by_path(NULL, 0) == NULL);
	/* Length-bounded: a prefix of a longer buffer. */
	CHECK(etcd_method_by_path("/etcdserverpb.KV/PutXYZ", 20)->method == EM_PUT);

	const struct etcd_method_info *w = etcd_method_info(EM_WATCH);
	CHECK(w->client_streaming && w->server_streaming);
	CHECK(etcd_method_info(EM_SNAPSHOT)->server_streaming &&
	      !etcd_method_info(EM_SNAPSHOT)->client_streaming);
	CHECK(!etcd_method_info(EM_RANGE)->client_streaming);
}

/* ------------------------------------------------------------------ decoding */

/* Every method, both directions: a generic message (responses with a header at revision
 * 77) packs and decodes with the table's descriptor. */
static void test_decode_generic(void)
{
	for (int m = 1; m < EM__COUNT; m++) {
		const struct etcd_method_info *mi = etcd_method_info((enum etcd_method)m);
		for (int dir = 0; dir < 2; dir++) {
			const ProtobufCMessageDescriptor *d = dir == TCP_C2S ? mi->req : mi->resp;
			ProtobufCMessage *msg = calloc(1, d->sizeof_message);
			d->message_init(msg);
			Etcdserverpb__ResponseHeader h = hdr_make(77);
			if (dir == TCP_S2C) {
				const ProtobufCFieldDescriptor *fd =
					protobuf_c_message_descriptor_get_field(d, 1);
				CHECK(fd && fd->descriptor == &etcdserverpb__response_header__descriptor);
				*(Etcdserverpb__ResponseHeader **)((char *)msg + fd->offset) = &h;
			}
			size_t n;
			uint8_t *p = pack(msg, &n);
			ProtobufCMessage *out = etcd_message_decode((enum etcd_method)m, dir, p, n, NULL);
			CHECK(out && out->descriptor == d);
			if (out && dir == TCP_S2C) {
				const ProtobufCFieldDescriptor *fd =
					protobuf_c_message_descriptor_get_field(d, 1);
				Etcdserverpb__ResponseHeader *oh =
					*(Etcdserverpb__ResponseHeader **)((char *)out + fd->offset);
				CHECK(oh && oh->revision == 77 && oh->raft_term == 2);
			}
			if (out)
				protobuf_c_message_free_unpacked(out, NULL);
			free(p);
			free(msg);
		}
	}
	CHECK(etcd_message_decode(EM_UNKNOWN, TCP_C2S, (const uint8_t *)"", 0, NULL) == NULL);
	/* Truncated length-delimited field. */
	CHECK(etcd_message_decode(EM_RANGE, TCP_C2S, (const uint8_t *)"\x0a\x05/a", 3, NULL) ==
	      NULL);
}

/* Specific types with their fields, decoded through an arena-like custom allocator. */
static size_t alloc_calls;
static void *count_alloc(void *d, size_t n)
{
	alloc_calls++;
	return malloc(n);
}
static void count_free(void *d, void *p) { free(p); }

static void test_decode_types(void)
{
	ProtobufCAllocator al = {count_alloc, count_free, NULL};
	size_t n;
	uint8_t *p;

	Etcdserverpb__RangeRequest rr = ETCDSERVERPB__RANGE_REQUEST__INIT;
	rr.key = BIN("/registry/pods/");
	rr.range_end = BIN("/registry/pods0");
	rr.limit = 500;
	rr.revision = 1234;
	p = pack(&rr, &n);
	Etcdserverpb__RangeRequest *rro = etcd_message_decode(EM_RANGE, TCP_C2S, p, n, &al);
	CHECK(rro && rro->limit == 500 && rro->revision == 1234 && rro->key.len == 15 &&
	      memcmp(rro->key.data, "/registry/pods/", 15) == 0);
	CHECK(alloc_calls > 0);
	protobuf_c_message_free_unpacked(&rro->base, &al);
	free(p);

	Etcdserverpb__ResponseHeader h = hdr_make(99);
	Mvccpb__KeyValue kv1 = kv_make("/registry/pods/a", 10, 20, 3);
	Mvccpb__KeyValue *kvs[] = {&kv1};
	Etcdserverpb__PutResponse pr = ETCDSERVERPB__PUT_RESPONSE__INIT;
	pr.header = &h;
	pr.prev_kv = &kv1;
	p = pack(&pr, &n);
	Etcdserverpb__PutResponse *pro = etcd_message_decode(EM_PUT, TCP_S2C, p, n, NULL);
	CHECK(pro && pro->header && pro->header->revision == 99 && pro->prev_kv &&
	      pro->prev_kv->mod_revision == 20 && pro->prev_kv->value.len == sizeof(K8S_VALUE) - 1);
	protobuf_c_message_free_unpacked(&pro->base, NULL);
	free(p);

	Mvccpb__Event ev = MVCCPB__EVENT__INIT;
	ev.type = MVCCPB__EVENT__EVENT_TYPE__DELETE;
	ev.kv = &kv1;
	Mvccpb__Event *evs[] = {&ev};
	Etcdserverpb__WatchResponse wr = ETCDSERVERPB__WATCH_RESPONSE__INIT;
	wr.header = &h;
	wr.watch_id = 7;
	wr.n_events = 1;
	wr.events = evs;
	p = pack(&wr, &n);
	Etcdserverpb__WatchResponse *wro = etcd_message_decode(EM_WATCH, TCP_S2C, p, n, NULL);
	CHECK(wro && wro->watch_id == 7 && wro->n_events == 1 &&
	      wro->events[0]->type == MVCCPB__EVENT__EVENT_TYPE__DELETE);
	protobuf_c_message_free_unpacked(&wro->base, NULL);
	free(p);

	Etcdserverpb__StatusResponse sr = ETCDSERVERPB__STATUS_RESPONSE__INIT;
	sr.header = &h;
	sr.version = "3.4.23";
	sr.dbsize = 20480;
	p = pack(&sr, &n);
	Etcdserverpb__StatusResponse *sro = etcd_message_decode(EM_STATUS, TCP_S2C, p, n, NULL);
	CHECK(sro && strcmp(sro->version, "3.4.23") == 0 && sro->dbsize == 20480);
	protobuf_c_message_free_unpacked(&sro->base, NULL);
	free(p);

	Etcdserverpb__RangeResponse rs = ETCDSERVERPB__RANGE_RESPONSE__INIT;
	rs.header = &h;
	rs.n_kvs = 1;
	rs.kvs = kvs;
	rs.count = 1;
	p = pack(&rs, &n);
	Etcdserverpb__RangeResponse *rso = etcd_message_decode(EM_RANGE, TCP_S2C, p, n, NULL);
	CHECK(rso && rso->n_kvs == 1 && rso->count == 1 && rso->kvs[0]->create_revision == 10);
	protobuf_c_message_free_unpacked(&rso->base, NULL);
	free(p);

	/* Authenticate: the password (field 2) is never a decoded field. */
	static const uint8_t auth[] = {0x0a, 0x04, 'r', 'o', 'o', 't', 0x12, 0x03, 's', 'e', 'c'};
	Etcdserverpb__AuthNameRequest *an =
		etcd_message_decode(EM_AUTHENTICATE, TCP_C2S, auth, sizeof(auth), NULL);
	CHECK(an && strcmp(an->name, "root") == 0 && an->base.descriptor->n_fields == 1);
	protobuf_c_message_free_unpacked(&an->base, NULL);
}

/* Writes a RequestOp{request_txn = inner} around inner bytes: field 4 of RequestOp inside
 * field 2 (success) of TxnRequest. Returns the new length. */
static size_t wrap_txn(uint8_t *buf, size_t n, size_t cap)
{
	uint8_t hdr[12];
	size_t h = 0;
	/* RequestOp { 4: TxnRequest(buf) } */
	uint8_t inner[6];
	size_t k = 0;
	inner[k++] = 0x22;
	size_t v = n;
	do {
		inner[k] = (uint8_t)(v & 0x7f);
		v >>= 7;
		if (v)
			inner[k] |= 0x80;
		k++;
	} while (v);
	size_t op_len = k + n;
	hdr[h++] = 0x12;
	v = op_len;
	do {
		hdr[h] = (uint8_t)(v & 0x7f);
		v >>= 7;
		if (v)
			hdr[h] |= 0x80;
		h++;
	} while (v);
	if (h + k + n > cap)
		return 0;
	memmove(buf + h + k, buf, n);
	memcpy(buf, hdr, h);
	memcpy(buf + h, inner, k);
	return h + k + n;
}

/* Regression: a Txn nested hundreds of levels deep is refused before protobuf-c recurses. */
static void test_decode_nesting(void)
{
	static uint8_t buf[8192];
	size_t n = 0;
	for (int i = 0; i < 10; i++)
		n = wrap_txn(buf, n, sizeof(buf));
	void *m = etcd_message_decode(EM_TXN, TCP_C2S, buf, n, NULL);
	CHECK(m != NULL);
	if (m)
		protobuf_c_message_free_unpacked(m, NULL);
	for (int i = 0; i < 300 && n; i++)
		n = wrap_txn(buf, n, sizeof(buf));
	CHECK(n > 0);
	CHECK(etcd_message_decode(EM_TXN, TCP_C2S, buf, n, NULL) == NULL);
}

/* ------------------------------------------------------------------ inference */

static enum etcd_method infer_msg(enum tcp_dir dir, const void *msg, int *conf)
{
	size_t n;
	uint8_t *p = pack(msg, &n);
	enum etcd_method m = etcd_method_infer(dir, p, n, conf);
	free(p);
	return m;
}

#define LEASE_ID 0x694d7e4f5d3c2a1bLL

static void test_infer(void)
{
	int conf;
	Etcdserverpb__ResponseHeader h = hdr_make(500);

	/* Range */
	Etcdserverpb__RangeRequest rr = ETCDSERVERPB__RANGE_REQUEST__INIT;
	rr.key = BIN("/registry/pods/default/");
	rr.range_end = BIN("/registry/pods/default0");
	rr.limit = 500;
	CHECK_EQ_INT(infer_msg(TCP_C2S, &rr, &conf), EM_RANGE);
	CHECK(conf >= 60);
	Mvccpb__KeyValue kv1 = kv_make("/registry/pods/default/a", 10, 20, 3);
	Mvccpb__KeyValue kv2 = kv_make("/registry/pods/default/b", 11, 21, 1);
	Mvccpb__KeyValue *kvs[] = {&kv1, &kv2};
	Etcdserverpb__RangeResponse rs = ETCDSERVERPB__RANGE_RESPONSE__INIT;
	rs.header = &h;
	rs.n_kvs = 2;
	rs.kvs = kvs;
	rs.count = 2;
	CHECK_EQ_INT(infer_msg(TCP_S2C, &rs, &conf), EM_RANGE);
	CHECK(conf >= 60);

	/* Put */
	Etcdserverpb__PutRequest pq = ETCDSERVERPB__PUT_REQUEST__INIT;
	pq.key = BIN("/registry/configmaps/default/cm1");
	pq.value = K8SBIN;
	CHECK_EQ_INT(infer_msg(TCP_C2S, &pq, &conf), EM_PUT);
	CHECK(conf >= 60);
	pq.lease = LEASE_ID;
	CHECK_EQ_INT(infer_msg(TCP_C2S, &pq, &conf), EM_PUT);
	CHECK(conf >= 60);
	/* Seen in pcaps/midconn.pcap: a short non-Kubernetes value must not pass for a
	 * Range's range_end (it is not the prefix end of the key). */
	Etcdserverpb__PutRequest sp = ETCDSERVERPB__PUT_REQUEST__INIT;
	sp.key = BIN("/m/a");
	sp.value = BIN("2");
	CHECK_EQ_INT(infer_msg(TCP_C2S, &sp, &conf), EM_PUT);
	/* A header-only response (Put, Compact, LeaseRevoke ...) says little. */
	Etcdserverpb__PutResponse pr = ETCDSERVERPB__PUT_RESPONSE__INIT;
	pr.header = &h;
	(void)infer_msg(TCP_S2C, &pr, &conf);
	CHECK(conf < 60);

	/* DeleteRange: the request shape equals a Range's; the response with prev_kvs does not. */
	Etcdserverpb__DeleteRangeRequest dq = ETCDSERVERPB__DELETE_RANGE_REQUEST__INIT;
	dq.key = BIN("/registry/events/default/e1");
	dq.prev_kv = true;
	enum etcd_method dm = infer_msg(TCP_C2S, &dq, &conf);
	CHECK(dm == EM_DELETE_RANGE || (dm == EM_RANGE && conf < 60));
	Etcdserverpb__DeleteRangeResponse dr = ETCDSERVERPB__DELETE_RANGE_RESPONSE__INIT;
	dr.header = &h;
	dr.deleted = 2;
	dr.n_prev_kvs = 2;
	dr.prev_kvs = kvs;
	CHECK_EQ_INT(infer_msg(TCP_S2C, &dr, &conf), EM_DELETE_RANGE);
	CHECK(conf >= 60);

	/* Txn as kube-apiserver sends it: compare mod_revision, put on success, range on failure. */
	Etcdserverpb__Compare cmp = ETCDSERVERPB__COMPARE__INIT;
	cmp.result = ETCDSERVERPB__COMPARE__COMPARE_RESULT__EQUAL;
	cmp.target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__MOD;
	cmp.key = BIN("/registry/pods/default/a");
	cmp.target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_MOD_REVISION;
	cmp.mod_revision = 20;
	Etcdserverpb__Compare *cmps[] = {&cmp};
	Etcdserverpb__PutRequest tput = ETCDSERVERPB__PUT_REQUEST__INIT;
	tput.key = cmp.key;
	tput.value = K8SBIN;
	Etcdserverpb__RequestOp op1 = ETCDSERVERPB__REQUEST_OP__INIT;
	op1.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
	op1.request_put = &tput;
	Etcdserverpb__RangeRequest trange = ETCDSERVERPB__RANGE_REQUEST__INIT;
	trange.key = cmp.key;
	Etcdserverpb__RequestOp op2 = ETCDSERVERPB__REQUEST_OP__INIT;
	op2.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE;
	op2.request_range = &trange;
	Etcdserverpb__RequestOp *succ[] = {&op1}, *fail[] = {&op2};
	Etcdserverpb__TxnRequest tq = ETCDSERVERPB__TXN_REQUEST__INIT;
	tq.n_compare = 1;
	tq.compare = cmps;
	tq.n_success = 1;
	tq.success = succ;
	tq.n_failure = 1;
	tq.failure = fail;
	CHECK_EQ_INT(infer_msg(TCP_C2S, &tq, &conf), EM_TXN);
	CHECK(conf >= 60);
	Etcdserverpb__PutResponse tpr = ETCDSERVERPB__PUT_RESPONSE__INIT;
	tpr.header = &h;
	Etcdserverpb__ResponseOp rop = ETCDSERVERPB__RESPONSE_OP__INIT;
	rop.response_case = ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_PUT;
	rop.response_put = &tpr;
	Etcdserverpb__ResponseOp *rops[] = {&rop};
	Etcdserverpb__TxnResponse ts = ETCDSERVERPB__TXN_RESPONSE__INIT;
	ts.header = &h;
	ts.succeeded = true;
	ts.n_responses = 1;
	ts.responses = rops;
	CHECK_EQ_INT(infer_msg(TCP_S2C, &ts, &conf), EM_TXN);
	CHECK(conf >= 60);

	/* Watch create and events */
	Etcdserverpb__WatchCreateRequest wc = ETCDSERVERPB__WATCH_CREATE_REQUEST__INIT;
	wc.key = BIN("/registry/pods/");
	wc.range_end = BIN("/registry/pods0");
	wc.start_revision = 450;
	wc.progress_notify = true;
	wc.prev_kv = true;
	Etcdserverpb__WatchRequest wq = ETCDSERVERPB__WATCH_REQUEST__INIT;
	wq.request_union_case = ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CREATE_REQUEST;
	wq.create_request = &wc;
	CHECK_EQ_INT(infer_msg(TCP_C2S, &wq, &conf), EM_WATCH);
	CHECK(conf >= 60);
	Mvccpb__Event ev = MVCCPB__EVENT__INIT;
	ev.kv = &kv1;
	ev.prev_kv = &kv2;
	Mvccpb__Event *evs[] = {&ev};
	Etcdserverpb__WatchResponse wr = ETCDSERVERPB__WATCH_RESPONSE__INIT;
	wr.header = &h;
	wr.watch_id = 1;
	wr.n_events = 1;
	wr.events = evs;
	CHECK_EQ_INT(infer_msg(TCP_S2C, &wr, &conf), EM_WATCH);
	CHECK(conf >= 60);
	Etcdserverpb__WatchResponse wcr = ETCDSERVERPB__WATCH_RESPONSE__INIT;
	wcr.header = &h;
	wcr.created = true;
	CHECK_EQ_INT(infer_msg(TCP_S2C, &wcr, &conf), EM_WATCH);

	/* LeaseGrant: TTL-sized request; response shaped like a keepalive's. */
	Etcdserverpb__LeaseGrantRequest gq = ETCDSERVERPB__LEASE_GRANT_REQUEST__INIT;
	gq.ttl = 3600;
	CHECK_EQ_INT(infer_msg(TCP_C2S, &gq, &conf), EM_LEASE_GRANT);
	Etcdserverpb__LeaseGrantResponse gr = ETCDSERVERPB__LEASE_GRANT_RESPONSE__INIT;
	gr.header = &h;
	gr.id = LEASE_ID;
	gr.ttl = 3600;
	enum etcd_method gm = infer_msg(TCP_S2C, &gr, &conf);
	CHECK(gm == EM_LEASE_GRANT || gm == EM_LEASE_KEEPALIVE);
	CHECK(conf < 60); /* identical shapes: wait for the request or the stream's behaviour */

	/* LeaseKeepAlive: a lease-sized ID */
	Etcdserverpb__LeaseKeepAliveRequest kq = ETCDSERVERPB__LEASE_KEEP_ALIVE_REQUEST__INIT;
	kq.id = LEASE_ID;
	CHECK_EQ_INT(infer_msg(TCP_C2S, &kq, &conf), EM_LEASE_KEEPALIVE);
	Etcdserverpb__LeaseKeepAliveResponse kr = ETCDSERVERPB__LEASE_KEEP_ALIVE_RESPONSE__INIT;
	kr.header = &h;
	kr.id = LEASE_ID;
	kr.ttl = 60;
	gm = infer_msg(TCP_S2C, &kr, &conf);
	CHECK(gm == EM_LEASE_GRANT || gm == EM_LEASE_KEEPALIVE);

	/* Status: empty request (ambiguous), response with a version string. */
	Etcdserverpb__StatusRequest sq = ETCDSERVERPB__STATUS_REQUEST__INIT;
	CHECK_EQ_INT(infer_msg(TCP_C2S, &sq, &conf), EM_STATUS);
	CHECK(conf < 60);
	Etcdserverpb__StatusResponse sr = ETCDSERVERPB__STATUS_RESPONSE__INIT;
	sr.header = &h;
	sr.version = "3.4.23";
	sr.dbsize = 20480;
	sr.leader = 0x8e9e05c52164694dull;
	sr.raftindex = 600;
	sr.raftterm = 2;
	sr.raftappliedindex = 600;
	sr.dbsizeinuse = 16384;
	CHECK_EQ_INT(infer_msg(TCP_S2C, &sr, &conf), EM_STATUS);
	CHECK(conf >= 60);

	/* MemberList */
	char *purls[] = {"http://127.0.0.1:2380"}, *curls[] = {"http://127.0.0.1:2379"};
	Etcdserverpb__Member mem = ETCDSERVERPB__MEMBER__INIT;
	mem.id = 0x8e9e05c52164694dull;
	mem.name = "default";
	mem.n_peerurls = 1;
	mem.peerurls = purls;
	mem.n_clienturls = 1;
	mem.clienturls = curls;
	Etcdserverpb__Member *mems[] = {&mem};
	Etcdserverpb__MemberListResponse mr = ETCDSERVERPB__MEMBER_LIST_RESPONSE__INIT;
	mr.header = &h;
	mr.n_members = 1;
	mr.members = mems;
	CHECK_EQ_INT(infer_msg(TCP_S2C, &mr, &conf), EM_MEMBER_LIST);
	Etcdserverpb__MemberListRequest mq = ETCDSERVERPB__MEMBER_LIST_REQUEST__INIT;
	mq.linearizable = true;
	(void)infer_msg(TCP_C2S, &mq, &conf);
	CHECK(conf < 60);

	/* Garbage is nothing. */
	static const uint8_t junk[] = {0xff, 0xff, 0xff};
	CHECK_EQ_INT(etcd_method_infer(TCP_C2S, junk, sizeof(junk), &conf), EM_UNKNOWN);
	CHECK_EQ_INT(conf, 0);
}

/* ------------------------------------------------------------------ HTTP/2 harness */

/* One direction of one stream: gRPC-framed messages waiting to be sent as DATA. */
struct src {
	struct buf b;
	size_t off;
	bool eof;
	nghttp2_nv trl[2];
	size_t ntrl;
};

struct h2t {
	nghttp2_session *cli, *srv;
	struct buf c2s, s2c;
	size_t c2s_done, s2c_done;
	struct etcd_conn *ec; /* NULL: bytes are not fed (before the capture started) */
	struct src srcs[32];
	int nsrc;
};

static ssize_t send_cli(nghttp2_session *s, const uint8_t *p, size_t n, int flags, void *ud)
{
	buf_put(&((struct h2t *)ud)->c2s, p, n);
	return (ssize_t)n;
}

static ssize_t send_srv(nghttp2_session *s, const uint8_t *p, size_t n, int flags, void *ud)
{
	buf_put(&((struct h2t *)ud)->s2c, p, n);
	return (ssize_t)n;
}

static ssize_t src_read(nghttp2_session *s, int32_t sid, uint8_t *buf, size_t len,
			uint32_t *flags, nghttp2_data_source *source, void *ud)
{
	struct src *x = source->ptr;
	size_t avail = x->b.n - x->off;
	if (avail) {
		size_t k = avail < len ? avail : len;
		memcpy(buf, x->b.p + x->off, k);
		x->off += k;
		return (ssize_t)k;
	}
	if (!x->eof)
		return NGHTTP2_ERR_DEFERRED;
	*flags |= NGHTTP2_DATA_FLAG_EOF;
	if (x->ntrl) {
		*flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
		nghttp2_submit_trailer(s, sid, x->trl, x->ntrl);
	}
	return 0;
}

static void h2t_init(struct h2t *t)
{
	memset(t, 0, sizeof(*t));
	nghttp2_session_callbacks *cb;
	nghttp2_session_callbacks_new(&cb);
	nghttp2_session_callbacks_set_send_callback(cb, send_cli);
	nghttp2_session_client_new(&t->cli, cb, t);
	nghttp2_session_callbacks_set_send_callback(cb, send_srv);
	nghttp2_session_server_new(&t->srv, cb, t);
	nghttp2_session_callbacks_del(cb);
	nghttp2_submit_settings(t->cli, NGHTTP2_FLAG_NONE, NULL, 0);
	nghttp2_submit_settings(t->srv, NGHTTP2_FLAG_NONE, NULL, 0);
}

static void h2t_free(struct h2t *t)
{
	nghttp2_session_del(t->cli);
	nghttp2_session_del(t->srv);
	free(t->c2s.p);
	free(t->s2c.p);
	for (int i = 0; i < t->nsrc; i++)
		free(t->srcs[i].b.p);
}

/* Client sends what it has: bytes go to the server session and (when capturing) to etcd. */
static void pump_c2s(struct h2t *t, ee_ts ts)
{
	nghttp2_session_send(t->cli);
	size_t n = t->c2s.n - t->c2s_done;
	if (!n)
		return;
	const uint8_t *p = t->c2s.p + t->c2s_done;
	t->c2s_done = t->c2s.n;
	CHECK(nghttp2_session_mem_recv(t->srv, p, n) == (ssize_t)n);
	if (t->ec)
		etcd_conn_data(t->ec, TCP_C2S, p, n, ts);
}

static void pump_s2c(struct h2t *t, ee_ts ts)
{
	nghttp2_session_send(t->srv);
	size_t n = t->s2c.n - t->s2c_done;
	if (!n)
		return;
	const uint8_t *p = t->s2c.p + t->s2c_done;
	t->s2c_done = t->s2c.n;
	CHECK(nghttp2_session_mem_recv(t->cli, p, n) == (ssize_t)n);
	if (t->ec)
		etcd_conn_data(t->ec, TCP_S2C, p, n, ts);
}

/* Appends a gRPC message (5-byte prefix + packed protobuf) to a source. */
static void src_msg(struct src *x, const void *msg)
{
	size_t n;
	uint8_t *p = pack(msg, &n);
	uint8_t pre[5] = {0, (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
	buf_put(&x->b, pre, 5);
	buf_put(&x->b, p, n);
	free(p);
}

#define NV(k, v)                                                                                   \
	{                                                                                          \
		(uint8_t *)(k), (uint8_t *)(v), sizeof(k) - 1, strlen(v), NGHTTP2_NV_FLAG_NONE       \
	}

/* Opens a stream from the client: request HEADERS for path, DATA from the returned source
 * (messages added with src_msg; eof = client half-close). */
static int32_t open_stream(struct h2t *t, const char *path, struct src **req)
{
	nghttp2_nv nva[] = {
		NV(":method", "POST"),
		NV(":scheme", "http"),
		NV(":path", path),
		NV(":authority", "127.0.0.1:2379"),
		NV("content-type", "application/grpc"),
		NV("user-agent", "etcd-test/1.0"),
		NV("te", "trailers"),
	};
	struct src *x = &t->srcs[t->nsrc++];
	nghttp2_data_provider prd = {.source.ptr = x, .read_callback = src_read};
	*req = x;
	return nghttp2_submit_request(t->cli, NULL, nva, sizeof(nva) / sizeof(nva[0]), &prd, NULL);
}

/* Server response HEADERS with a DATA source; trailers carry grpc-status. */
static struct src *respond(struct h2t *t, int32_t sid, const char *status, const char *message)
{
	nghttp2_nv nva[] = {NV(":status", "200"), NV("content-type", "application/grpc")};
	struct src *x = &t->srcs[t->nsrc++];
	nghttp2_data_provider prd = {.source.ptr = x, .read_callback = src_read};
	x->trl[0] = (nghttp2_nv)NV("grpc-status", status);
	x->ntrl = 1;
	if (message) {
		x->trl[1] = (nghttp2_nv)NV("grpc-message", message);
		x->ntrl = 2;
	}
	nghttp2_submit_response(t->srv, sid, nva, 2, &prd);
	return x;
}

static void resume(struct h2t *t, nghttp2_session *s, int32_t sid)
{
	nghttp2_session_resume_data(s, sid);
}

static struct etcd_decoder *dec_new(void)
{
	struct etcd_sink sink = {NULL, sink_record};
	nrecs = 0;
	return etcd_decoder_new(&sink);
}

static struct tcp_conn_info conn_info(bool syn)
{
	struct tcp_conn_info ci;
	memset(&ci, 0, sizeof(ci));
	ci.af = 2;
	ci.cli_port = 45678;
	ci.srv_port = 2379;
	ci.id = 1;
	ci.saw_syn = syn;
	strcpy(ci.name, "127.0.0.1:45678-127.0.0.1:2379");
	return ci;
}

/* A unary RPC: request at t0, response (+ trailers status) at t1. */
static int32_t unary(struct h2t *t, const char *path, const void *req, const void *resp,
		     const char *status, ee_ts t0, ee_ts t1)
{
	struct src *rq;
	int32_t sid = open_stream(t, path, &rq);
	src_msg(rq, req);
	rq->eof = true;
	pump_c2s(t, t0);
	struct src *rs = respond(t, sid, status, NULL);
	if (resp)
		src_msg(rs, resp);
	rs->eof = true;
	pump_s2c(t, t1);
	pump_c2s(t, t1); /* WINDOW_UPDATE / SETTINGS ACK */
	return sid;
}

/* ------------------------------------------------------------------ full-path tests */

static void test_path_kv(void)
{
	struct etcd_decoder *d = dec_new();
	struct tcp_conn_info ci = conn_info(true);
	struct h2t t;
	h2t_init(&t);
	t.ec = etcd_conn_open(d, &ci, 1000000);
	CHECK(t.ec != NULL);
	Etcdserverpb__ResponseHeader h100 = hdr_make(100), h101 = hdr_make(101),
				     h102 = hdr_make(102), h103 = hdr_make(103);

	/* Range: pairing and latency */
	Etcdserverpb__RangeRequest rr = ETCDSERVERPB__RANGE_REQUEST__INIT;
	rr.key = BIN("/registry/pods/default/");
	rr.range_end = BIN("/registry/pods/default0");
	Mvccpb__KeyValue kv1 = kv_make("/registry/pods/default/a", 10, 20, 3);
	Mvccpb__KeyValue kv2 = kv_make("/registry/pods/default/b", 11, 21, 1);
	Mvccpb__KeyValue *kvs[] = {&kv1, &kv2};
	Etcdserverpb__RangeResponse rs = ETCDSERVERPB__RANGE_RESPONSE__INIT;
	rs.header = &h100;
	rs.n_kvs = 2;
	rs.kvs = kvs;
	rs.count = 2;
	int32_t sid = unary(&t, "/etcdserverpb.KV/Range", &rr, &rs, "0", 1000100, 1000600);
	const struct rc *r = rec_find(REC_RPC, 0);
	CHECK(r != NULL);
	if (r) {
		CHECK_EQ_INT(r->m, EM_RANGE);
		CHECK_EQ_INT(r->stream, sid);
		CHECK_EQ_INT(r->status, 0);
		CHECK_EQ_INT(r->latency, 500);
		CHECK_EQ_INT(r->ts, 1000600);
		CHECK_EQ_INT(r->hdr_rev, 100);
		CHECK_EQ_INT(r->a, 2);
		CHECK(r->has_req && r->has_resp && !r->inferred);
		CHECK_EQ_STR(r->ua, "etcd-test/1.0");
		CHECK_EQ_STR(r->conn, "127.0.0.1:45678-127.0.0.1:2379");
	}

	/* Put: RPC then a write at the response revision, with prev_kv */
	nrecs = 0;
	Etcdserverpb__PutRequest pq = ETCDSERVERPB__PUT_REQUEST__INIT;
	pq.key = BIN("/registry/pods/default/a");
	pq.value = BIN("newvalue");
	pq.lease = LEASE_ID;
	pq.prev_kv = true;
	Etcdserverpb__PutResponse pr = ETCDSERVERPB__PUT_RESPONSE__INIT;
	pr.header = &h101;
	pr.prev_kv = &kv1;
	unary(&t, "/etcdserverpb.KV/Put", &pq, &pr, "0", 2000000, 2000250);
	CHECK_EQ_INT(nrecs, 2);
	CHECK(recs[0].kind == REC_RPC && recs[0].m == EM_PUT && recs[0].latency == 250);
	r = rec_find(REC_WRITE, 0);
	CHECK(r != NULL);
	if (r) {
		CHECK_EQ_INT(r->op, REC_OP_PUT);
		CHECK_EQ_INT(r->wm, EM_PUT);
		CHECK_EQ_STR(r->key, "/registry/pods/default/a");
		CHECK_EQ_STR(r->value, "newvalue");
		CHECK_EQ_INT(r->rev, 101);
		CHECK_EQ_INT(r->lease, LEASE_ID);
		CHECK(r->has_prev && r->prev_mod == 20 && !r->from_txn);
	}

	/* Txn success: put a + delete b (prev_kvs) */
	nrecs = 0;
	Etcdserverpb__Compare cmp = ETCDSERVERPB__COMPARE__INIT;
	cmp.target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__MOD;
	cmp.key = BIN("/registry/pods/default/a");
	cmp.target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_MOD_REVISION;
	cmp.mod_revision = 101;
	Etcdserverpb__Compare *cmps[] = {&cmp};
	Etcdserverpb__PutRequest tput = ETCDSERVERPB__PUT_REQUEST__INIT;
	tput.key = BIN("/registry/pods/default/a");
	tput.value = BIN("v3");
	Etcdserverpb__DeleteRangeRequest tdel = ETCDSERVERPB__DELETE_RANGE_REQUEST__INIT;
	tdel.key = BIN("/registry/pods/default/b");
	tdel.prev_kv = true;
	Etcdserverpb__RangeRequest trange = ETCDSERVERPB__RANGE_REQUEST__INIT;
	trange.key = BIN("/registry/pods/default/a");
	Etcdserverpb__PutRequest fput = ETCDSERVERPB__PUT_REQUEST__INIT;
	fput.key = BIN("/registry/pods/default/c");
	fput.value = BIN("vc");
	Etcdserverpb__RequestOp o_put = ETCDSERVERPB__REQUEST_OP__INIT, o_del = o_put,
				o_rng = o_put, o_fput = o_put;
	o_put.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
	o_put.request_put = &tput;
	o_del.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE;
	o_del.request_delete_range = &tdel;
	o_rng.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE;
	o_rng.request_range = &trange;
	o_fput.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
	o_fput.request_put = &fput;
	Etcdserverpb__RequestOp *succ[] = {&o_put, &o_del}, *fail[] = {&o_rng, &o_fput};
	Etcdserverpb__TxnRequest tq = ETCDSERVERPB__TXN_REQUEST__INIT;
	tq.n_compare = 1;
	tq.compare = cmps;
	tq.n_success = 2;
	tq.success = succ;
	tq.n_failure = 2;
	tq.failure = fail;
	Etcdserverpb__PutResponse r_put = ETCDSERVERPB__PUT_RESPONSE__INIT;
	r_put.header = &h102;
	Mvccpb__KeyValue *delkvs[] = {&kv2};
	Etcdserverpb__DeleteRangeResponse r_del = ETCDSERVERPB__DELETE_RANGE_RESPONSE__INIT;
	r_del.header = &h102;
	r_del.deleted = 1;
	r_del.n_prev_kvs = 1;
	r_del.prev_kvs = delkvs;
	Etcdserverpb__ResponseOp ro_put = ETCDSERVERPB__RESPONSE_OP__INIT, ro_del = ro_put;
	ro_put.response_case = ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_PUT;
	ro_put.response_put = &r_put;
	ro_del.response_case = ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_DELETE_RANGE;
	ro_del.response_delete_range = &r_del;
	Etcdserverpb__ResponseOp *rops[] = {&ro_put, &ro_del};
	Etcdserverpb__TxnResponse ts = ETCDSERVERPB__TXN_RESPONSE__INIT;
	ts.header = &h102;
	ts.succeeded = true;
	ts.n_responses = 2;
	ts.responses = rops;
	unary(&t, "/etcdserverpb.KV/Txn", &tq, &ts, "0", 3000000, 3000100);
	CHECK_EQ_INT(rec_count(REC_RPC), 1);
	CHECK_EQ_INT(rec_count(REC_WRITE), 2);
	r = rec_find(REC_WRITE, 0);
	if (r) {
		CHECK(r->op == REC_OP_PUT && r->wm == EM_TXN && r->from_txn && r->rev == 102);
		CHECK_EQ_STR(r->key, "/registry/pods/default/a");
		CHECK_EQ_STR(r->value, "v3");
	}
	r = rec_find(REC_WRITE, 1);
	if (r) {
		CHECK(r->op == REC_OP_DELETE && r->rev == 102 && r->deleted == 1 && r->has_prev);
		CHECK_EQ_STR(r->key, "/registry/pods/default/b");
		CHECK_EQ_INT(r->prev_mod, 21);
	}

	/* Txn failure: range (no write) then put c */
	nrecs = 0;
	Etcdserverpb__RangeResponse r_rng = ETCDSERVERPB__RANGE_RESPONSE__INIT;
	r_rng.header = &h103;
	Etcdserverpb__PutResponse r_fput = ETCDSERVERPB__PUT_RESPONSE__INIT;
	r_fput.header = &h103;
	Etcdserverpb__ResponseOp ro_rng = ETCDSERVERPB__RESPONSE_OP__INIT, ro_fput = ro_rng;
	ro_rng.response_case = ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_RANGE;
	ro_rng.response_range = &r_rng;
	ro_fput.response_case = ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_PUT;
	ro_fput.response_put = &r_fput;
	Etcdserverpb__ResponseOp *frops[] = {&ro_rng, &ro_fput};
	ts.header = &h103;
	ts.succeeded = false;
	ts.n_responses = 2;
	ts.responses = frops;
	unary(&t, "/etcdserverpb.KV/Txn", &tq, &ts, "0", 4000000, 4000100);
	CHECK_EQ_INT(rec_count(REC_WRITE), 1);
	r = rec_find(REC_WRITE, 0);
	if (r) {
		CHECK_EQ_STR(r->key, "/registry/pods/default/c");
		CHECK(r->op == REC_OP_PUT && r->rev == 103);
	}

	/* A failed Txn status: no writes */
	nrecs = 0;
	unary(&t, "/etcdserverpb.KV/Txn", &tq, &ts, "9", 4500000, 4500100);
	CHECK_EQ_INT(rec_count(REC_WRITE), 0);
	r = rec_find(REC_RPC, 0);
	CHECK(r && r->status == 9);

	/* DeleteRange of a range without prev_kv: one ranged delete with the count */
	nrecs = 0;
	Etcdserverpb__DeleteRangeRequest dq = ETCDSERVERPB__DELETE_RANGE_REQUEST__INIT;
	dq.key = BIN("/registry/events/");
	dq.range_end = BIN("/registry/events0");
	Etcdserverpb__DeleteRangeResponse dr = ETCDSERVERPB__DELETE_RANGE_RESPONSE__INIT;
	dr.header = &h103;
	dr.deleted = 7;
	unary(&t, "/etcdserverpb.KV/DeleteRange", &dq, &dr, "0", 4600000, 4600100);
	r = rec_find(REC_WRITE, 0);
	CHECK(r && r->op == REC_OP_DELETE && r->deleted == 7);
	if (r) {
		CHECK_EQ_STR(r->key, "/registry/events/");
		CHECK_EQ_STR(r->end, "/registry/events0");
	}

	/* Trailers-Only error */
	nrecs = 0;
	rr.revision = 5;
	struct src *rq;
	sid = open_stream(&t, "/etcdserverpb.KV/Range", &rq);
	src_msg(rq, &rr);
	rq->eof = true;
	pump_c2s(&t, 5000000);
	nghttp2_nv eh[] = {NV(":status", "200"), NV("content-type", "application/grpc"),
			   NV("grpc-status", "11"),
			   NV("grpc-message", "etcdserver: mvcc: required revision has been compacted")};
	nghttp2_submit_response(t.srv, sid, eh, 4, NULL);
	pump_s2c(&t, 5000040);
	r = rec_find(REC_RPC, 0);
	CHECK(r != NULL);
	if (r) {
		CHECK_EQ_INT(r->m, EM_RANGE);
		CHECK_EQ_INT(r->status, 11);
		CHECK_EQ_STR(r->msg, "etcdserver: mvcc: required revision has been compacted");
		CHECK(r->has_req && !r->has_resp);
		CHECK_EQ_INT(r->latency, 40);
	}

	/* A request whose response never comes: emitted at close with status -1 */
	nrecs = 0;
	sid = open_stream(&t, "/etcdserverpb.KV/Range", &rq);
	src_msg(rq, &rr);
	rq->eof = true;
	pump_c2s(&t, 6000000);
	CHECK_EQ_INT(rec_count(REC_RPC), 0);
	etcd_conn_close(t.ec, TCP_CLOSE_END, 7000000);
	r = rec_find(REC_RPC, 0);
	CHECK(r && r->status == -1 && r->latency == -1 && r->has_req && !r->has_resp);

	struct etcd_stats st;
	etcd_decoder_get_stats(d, &st);
	CHECK_EQ_INT(st.rpcs, 8);
	CHECK_EQ_INT(st.writes, 5);
	CHECK_EQ_INT(st.errors, 2);
	CHECK_EQ_INT(st.unpaired_requests, 1);
	CHECK_EQ_INT(st.undecodable, 0);
	h2t_free(&t);
	etcd_decoder_free(d);
}

static void test_path_watch(void)
{
	struct etcd_decoder *d = dec_new();
	struct tcp_conn_info ci = conn_info(true);
	struct h2t t;
	h2t_init(&t);
	t.ec = etcd_conn_open(d, &ci, 1000000);
	Etcdserverpb__ResponseHeader h = hdr_make(200);

	struct src *rq;
	int32_t sid = open_stream(&t, "/etcdserverpb.Watch/Watch", &rq);
	Etcdserverpb__WatchCreateRequest c1 = ETCDSERVERPB__WATCH_CREATE_REQUEST__INIT;
	c1.key = BIN("/registry/pods/");
	c1.range_end = BIN("/registry/pods0");
	c1.start_revision = 150;
	c1.prev_kv = true;
	c1.progress_notify = true;
	Etcdserverpb__WatchCreateRequest c2 = ETCDSERVERPB__WATCH_CREATE_REQUEST__INIT;
	c2.key = BIN("/registry/services/specs/");
	c2.range_end = BIN("/registry/services/specs0");
	Etcdserverpb__WatchRequest w1 = ETCDSERVERPB__WATCH_REQUEST__INIT, w2 = w1;
	w1.request_union_case = ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CREATE_REQUEST;
	w1.create_request = &c1;
	w2.request_union_case = ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CREATE_REQUEST;
	w2.create_request = &c2;
	src_msg(rq, &w1);
	src_msg(rq, &w2);
	pump_c2s(&t, 1000100);
	/* two creates, ids not yet known */
	CHECK_EQ_INT(rec_count(REC_WATCH), 2);
	const struct rc *r = rec_find(REC_WATCH, 0);
	if (r) {
		CHECK(r->wev == RW_CREATE && r->watch_id == -1 && r->known && !r->guessed);
		CHECK_EQ_STR(r->key, "/registry/pods/");
		CHECK_EQ_STR(r->end, "/registry/pods0");
		CHECK(r->start_rev == 150 && r->prev_kv_flag && r->progress_flag);
	}

	struct src *rs = respond(&t, sid, "0", NULL);
	Etcdserverpb__WatchResponse cr1 = ETCDSERVERPB__WATCH_RESPONSE__INIT, cr2 = cr1;
	cr1.header = &h;
	cr1.created = true;
	cr1.watch_id = 0;
	cr2.header = &h;
	cr2.created = true;
	cr2.watch_id = 1;
	src_msg(rs, &cr1);
	src_msg(rs, &cr2);
	pump_s2c(&t, 1000200);
	r = rec_find(REC_WATCH, 2);
	CHECK(r && r->wev == RW_CREATED && r->watch_id == 0);
	if (r)
		CHECK_EQ_STR(r->key, "/registry/pods/");
	r = rec_find(REC_WATCH, 3);
	CHECK(r && r->wev == RW_CREATED && r->watch_id == 1);
	if (r)
		CHECK_EQ_STR(r->key, "/registry/services/specs/");

	/* events with prev_kv on watch 0 */
	Mvccpb__KeyValue nkv = kv_make("/registry/pods/default/a", 10, 201, 4);
	Mvccpb__KeyValue pkv = kv_make("/registry/pods/default/a", 10, 180, 3);
	Mvccpb__KeyValue dkv = kv_make("/registry/pods/default/b", 0, 202, 0);
	dkv.value.len = 0;
	Mvccpb__Event e1 = MVCCPB__EVENT__INIT, e2 = e1;
	e1.kv = &nkv;
	e1.prev_kv = &pkv;
	e2.type = MVCCPB__EVENT__EVENT_TYPE__DELETE;
	e2.kv = &dkv;
	Mvccpb__Event *evs[] = {&e1, &e2};
	Etcdserverpb__WatchResponse er = ETCDSERVERPB__WATCH_RESPONSE__INIT;
	Etcdserverpb__ResponseHeader h202 = hdr_make(202);
	er.header = &h202;
	er.watch_id = 0;
	er.n_events = 2;
	er.events = evs;
	src_msg(rs, &er);
	/* progress notification */
	Etcdserverpb__WatchResponse pg = ETCDSERVERPB__WATCH_RESPONSE__INIT;
	Etcdserverpb__ResponseHeader h250 = hdr_make(250);
	pg.header = &h250;
	pg.watch_id = 0;
	src_msg(rs, &pg);
	resume(&t, t.srv, sid);
	pump_s2c(&t, 1000300);
	CHECK_EQ_INT(rec_count(REC_WATCH_EVENT), 2);
	r = rec_find(REC_WATCH_EVENT, 0);
	if (r) {
		CHECK(r->etype == REC_OP_PUT && r->watch_id == 0 && r->rev == 201);
		CHECK(r->has_prev_kv && r->prev_mod == 180 && r->known && !r->guessed);
		CHECK_EQ_STR(r->key, "/registry/pods/default/a");
		CHECK_EQ_STR(r->end, "/registry/pods/");
	}
	r = rec_find(REC_WATCH_EVENT, 1);
	CHECK(r && r->etype == REC_OP_DELETE && !r->has_prev_kv && r->rev == 202);
	r = rec_find(REC_WATCH, 4);
	CHECK(r && r->wev == RW_PROGRESS && r->rev == 250 && r->watch_id == 0);

	/* cancel watch 1; canceled with compact_revision */
	Etcdserverpb__WatchCancelRequest cc = ETCDSERVERPB__WATCH_CANCEL_REQUEST__INIT;
	cc.watch_id = 1;
	Etcdserverpb__WatchRequest w3 = ETCDSERVERPB__WATCH_REQUEST__INIT;
	w3.request_union_case = ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CANCEL_REQUEST;
	w3.cancel_request = &cc;
	src_msg(rq, &w3);
	Etcdserverpb__WatchProgressRequest wp = ETCDSERVERPB__WATCH_PROGRESS_REQUEST__INIT;
	Etcdserverpb__WatchRequest w4 = ETCDSERVERPB__WATCH_REQUEST__INIT;
	w4.request_union_case = ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_PROGRESS_REQUEST;
	w4.progress_request = &wp;
	src_msg(rq, &w4);
	resume(&t, t.cli, sid);
	pump_c2s(&t, 1000400);
	r = rec_find(REC_WATCH, 5);
	CHECK(r && r->wev == RW_CANCEL && r->watch_id == 1);
	if (r)
		CHECK_EQ_STR(r->key, "/registry/services/specs/");
	r = rec_find(REC_WATCH, 6);
	CHECK(r && r->wev == RW_PROGRESS_REQUEST);
	Etcdserverpb__WatchResponse cn = ETCDSERVERPB__WATCH_RESPONSE__INIT;
	cn.header = &h250;
	cn.watch_id = 1;
	cn.canceled = true;
	cn.compact_revision = 170;
	cn.cancel_reason = "mvcc: required revision has been compacted";
	src_msg(rs, &cn);
	/* an event for a watch created before the capture: range guessed */
	Mvccpb__Event e3 = MVCCPB__EVENT__INIT;
	Mvccpb__KeyValue xkv = kv_make("/registry/leases/kube-node-lease/n1", 5, 251, 9);
	e3.kv = &xkv;
	Mvccpb__Event *evs3[] = {&e3};
	Etcdserverpb__WatchResponse ux = ETCDSERVERPB__WATCH_RESPONSE__INIT;
	ux.header = &h250;
	ux.watch_id = 42;
	ux.n_events = 1;
	ux.events = evs3;
	src_msg(rs, &ux);
	resume(&t, t.srv, sid);
	pump_s2c(&t, 1000500);
	r = rec_find(REC_WATCH, 7);
	CHECK(r && r->wev == RW_CANCELED && r->watch_id == 1 && r->compact == 170);
	if (r)
		CHECK_EQ_STR(r->reason, "mvcc: required revision has been compacted");
	r = rec_find(REC_WATCH_EVENT, 2);
	CHECK(r && r->watch_id == 42 && r->known && r->guessed);
	if (r)
		CHECK_EQ_STR(r->end, "/registry/leases/kube-node-lease/n1");
	etcd_conn_close(t.ec, TCP_CLOSE_END, 2000000);
	CHECK_EQ_INT(rec_count(REC_RPC), 0);
	struct etcd_stats st;
	etcd_decoder_get_stats(d, &st);
	CHECK_EQ_INT(st.watch_streams, 1);
	CHECK_EQ_INT(st.watch_events, 3);
	h2t_free(&t);
	etcd_decoder_free(d);
}

static void test_path_keepalive_snapshot(void)
{
	struct etcd_decoder *d = dec_new();
	struct tcp_conn_info ci = conn_info(true);
	struct h2t t;
	h2t_init(&t);
	t.ec = etcd_conn_open(d, &ci, 1000000);
	Etcdserverpb__ResponseHeader h = hdr_make(300);

	struct src *rq;
	int32_t sid = open_stream(&t, "/etcdserverpb.Lease/LeaseKeepAlive", &rq);
	Etcdserverpb__LeaseKeepAliveRequest kq = ETCDSERVERPB__LEASE_KEEP_ALIVE_REQUEST__INIT;
	kq.id = LEASE_ID;
	src_msg(rq, &kq);
	kq.id = LEASE_ID + 1;
	src_msg(rq, &kq);
	pump_c2s(&t, 1000000);
	struct src *rs = respond(&t, sid, "0", NULL);
	Etcdserverpb__LeaseKeepAliveResponse kr = ETCDSERVERPB__LEASE_KEEP_ALIVE_RESPONSE__INIT;
	kr.header = &h;
	kr.id = LEASE_ID;
	kr.ttl = 60;
	src_msg(rs, &kr);
	pump_s2c(&t, 1000100);
	kr.id = LEASE_ID + 1;
	kr.ttl = 59;
	src_msg(rs, &kr);
	resume(&t, t.srv, sid);
	pump_s2c(&t, 1000300);
	CHECK_EQ_INT(rec_count(REC_RPC), 2);
	const struct rc *r = rec_find(REC_RPC, 0);
	CHECK(r && r->m == EM_LEASE_KEEPALIVE && r->a == LEASE_ID && r->b == 60 &&
	      r->latency == 100);
	r = rec_find(REC_RPC, 1);
	CHECK(r && r->a == LEASE_ID + 1 && r->b == 59 && r->latency == 300);
	/* one more request left unanswered: flushed at close */
	kq.id = LEASE_ID + 2;
	src_msg(rq, &kq);
	resume(&t, t.cli, sid);
	pump_c2s(&t, 1000400);

	/* Snapshot: several chunks, one RPC with the last header and no blob */
	nrecs = 0;
	Etcdserverpb__SnapshotRequest sq = ETCDSERVERPB__SNAPSHOT_REQUEST__INIT;
	int32_t ss = open_stream(&t, "/etcdserverpb.Maintenance/Snapshot", &rq);
	src_msg(rq, &sq);
	rq->eof = true;
	pump_c2s(&t, 1100000);
	rs = respond(&t, ss, "0", NULL);
	Etcdserverpb__SnapshotResponse sr = ETCDSERVERPB__SNAPSHOT_RESPONSE__INIT;
	sr.header = &h;
	sr.blob = BIN("0123456789");
	sr.remaining_bytes = 10;
	src_msg(rs, &sr);
	sr.remaining_bytes = 0;
	Etcdserverpb__ResponseHeader h2 = hdr_make(301);
	sr.header = &h2;
	src_msg(rs, &sr);
	rs->eof = true;
	pump_s2c(&t, 1100500);
	r = rec_find(REC_RPC, 0);
	CHECK(r && r->m == EM_SNAPSHOT && r->status == 0 && r->hdr_rev == 301 && r->has_resp &&
	      r->latency == 500);
	CHECK_EQ_INT(rec_count(REC_RPC), 1);

	nrecs = 0;
	etcd_conn_close(t.ec, TCP_CLOSE_END, 2000000);
	r = rec_find(REC_RPC, 0);
	CHECK(r && r->m == EM_LEASE_KEEPALIVE && r->a == LEASE_ID + 2 && !r->has_resp);
	CHECK_EQ_INT(rec_count(REC_RPC), 1);
	h2t_free(&t);
	etcd_decoder_free(d);
}

/* Hand-built HTTP/2 (RFC 9113 4.1): 9-byte frame header + payload. nghttp2's deflater never
 * indexes :path, but grpc-go's does, which is what leaves a capture joined mid-connection
 * with :path references to pre-capture HPACK entries; these frames reproduce that. */
static void frame(struct buf *b, uint8_t type, uint8_t flags, uint32_t sid, const void *p,
		  size_t n)
{
	uint8_t h[9] = {(uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n, type, flags,
			(uint8_t)(sid >> 24), (uint8_t)(sid >> 16), (uint8_t)(sid >> 8), (uint8_t)sid};
	buf_put(b, h, 9);
	buf_put(b, p, n);
}

/* HPACK literal header field without indexing, new name, no Huffman (RFC 7541 6.2.2). */
static void hb_lit(struct buf *b, const char *name, const char *value)
{
	uint8_t z = 0, ln = (uint8_t)strlen(name), lv = (uint8_t)strlen(value);
	buf_put(b, &z, 1);
	buf_put(b, &ln, 1);
	buf_put(b, name, ln);
	buf_put(b, &lv, 1);
	buf_put(b, value, lv);
}

/* A DATA frame carrying one gRPC message. */
static void data_msg(struct buf *b, uint32_t sid, const void *msg, bool end)
{
	struct buf m = {0};
	size_t n;
	uint8_t *p = pack(msg, &n);
	uint8_t pre[5] = {0, (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
	buf_put(&m, pre, 5);
	buf_put(&m, p, n);
	frame(b, 0, end ? 1 : 0, sid, m.p, m.n);
	free(p);
	free(m.p);
}

/* A unary exchange on stream sid whose request :path is dynamic-table entry 62 (indexed
 * before the capture). Feeds request bytes at t0 and response bytes at t1. */
static void mid_unary(struct etcd_conn *ec, uint32_t sid, const void *req, const void *resp,
		      ee_ts t0, ee_ts t1)
{
	struct buf c = {0}, hb = {0}, s = {0}, rb = {0}, tb = {0};
	static const uint8_t idx[] = {0x83, 0x86, 0xbe}; /* POST, http, dynamic 62 (:path) */
	buf_put(&hb, idx, sizeof(idx));
	hb_lit(&hb, "content-type", "application/grpc");
	hb_lit(&hb, "te", "trailers");
	frame(&c, 1, 4, sid, hb.p, hb.n);
	data_msg(&c, sid, req, true);
	etcd_conn_data(ec, TCP_C2S, c.p, c.n, t0);
	static const uint8_t st200 = 0x88;
	buf_put(&rb, &st200, 1);
	hb_lit(&rb, "content-type", "application/grpc");
	frame(&s, 1, 4, sid, rb.p, rb.n);
	data_msg(&s, sid, resp, false);
	hb_lit(&tb, "grpc-status", "0");
	frame(&s, 1, 5, sid, tb.p, tb.n);
	etcd_conn_data(ec, TCP_S2C, s.p, s.n, t1);
	free(c.p), free(hb.p), free(s.p), free(rb.p), free(tb.p);
}

/* A connection joined mid-stream (no SYN) whose framers are in step: connection
 * WINDOW_UPDATEs in both directions give h2 the H2_RESYNC_CHAIN plausible headers it
 * resyncs on. */
static struct etcd_conn *mid_conn_open(struct etcd_decoder *d)
{
	struct tcp_conn_info ci = conn_info(false);
	struct etcd_conn *ec = etcd_conn_open(d, &ci, 1000000);
	CHECK(ec != NULL);
	struct buf wu = {0};
	static const uint8_t inc[4] = {0, 0, 0x10, 0};
	for (int i = 0; i < 4; i++)
		frame(&wu, 8, 0, 0, inc, 4);
	etcd_conn_data(ec, TCP_C2S, wu.p, wu.n, 1000000);
	etcd_conn_data(ec, TCP_S2C, wu.p, wu.n, 1000000);
	free(wu.p);
	return ec;
}

/* Joined mid-connection: a Watch stream opened before the capture (no HEADERS) and Range
 * RPCs whose :path is an HPACK reference to a pre-capture entry. */
static void test_path_midstream(void)
{
	struct etcd_decoder *d = dec_new();
	Etcdserverpb__ResponseHeader h = hdr_make(400);
	struct etcd_conn *ec = mid_conn_open(d);

	Etcdserverpb__RangeRequest rr = ETCDSERVERPB__RANGE_REQUEST__INIT;
	rr.key = BIN("/registry/minions/");
	rr.range_end = BIN("/registry/minions0");
	rr.limit = 500;
	Mvccpb__KeyValue kv1 = kv_make("/registry/minions/node1", 10, 20, 3);
	Mvccpb__KeyValue *kvs[] = {&kv1};
	Etcdserverpb__RangeResponse rs = ETCDSERVERPB__RANGE_RESPONSE__INIT;
	rs.header = &h;
	rs.n_kvs = 1;
	rs.kvs = kvs;
	rs.count = 1;


	/* Events on watch stream 3, created before the capture. */
	Mvccpb__KeyValue ek = kv_make("/registry/pods/default/p1", 30, 401, 2);
	Mvccpb__Event ev = MVCCPB__EVENT__INIT;
	ev.kv = &ek;
	Mvccpb__Event *evs[] = {&ev};
	Etcdserverpb__WatchResponse er = ETCDSERVERPB__WATCH_RESPONSE__INIT;
	er.header = &h;
	er.watch_id = 3;
	er.n_events = 1;
	er.events = evs;
	struct buf w = {0};
	data_msg(&w, 3, &er, false);
	data_msg(&w, 3, &er, false);
	etcd_conn_data(ec, TCP_S2C, w.p, w.n, 1000100);

	mid_unary(ec, 5, &rr, &rs, 1000200, 1000900);
	mid_unary(ec, 7, &rr, &rs, 1001000, 1001300);
	etcd_conn_data(ec, TCP_S2C, w.p, w.n / 2, 1001400);
	free(w.p);

	const struct rc *r2 = NULL, *r3 = NULL;
	for (int i = 0; i < nrecs; i++) {
		if (recs[i].kind == REC_RPC && recs[i].stream == 5)
			r2 = &recs[i];
		if (recs[i].kind == REC_RPC && recs[i].stream == 7)
			r3 = &recs[i];
	}
	if (getenv("DEBUG_ETCD"))
		for (int i = 0; i < nrecs; i++)
			fprintf(stderr, "rec %d kind %d stream %u m %d inf %d conf %d what %s %s\n", i,
				recs[i].kind, recs[i].stream, recs[i].m, recs[i].inferred, recs[i].conf,
				recs[i].what, recs[i].detail);
	CHECK(r2 != NULL);
	if (r2) {
		CHECK_EQ_INT(r2->m, EM_RANGE);
		CHECK(r2->inferred && r2->conf >= 60);
		CHECK_EQ_INT(r2->latency, 700);
		CHECK_EQ_INT(r2->a, 1);
	}
	/* the HPACK entry was named by the inference: the next stream decodes its :path */
	CHECK(r3 != NULL);
	if (r3) {
		CHECK_EQ_INT(r3->m, EM_RANGE);
		CHECK(!r3->inferred);
		CHECK_EQ_INT(r3->latency, 300);
	}
	int nev = 0;
	for (int i = 0; i < nrecs; i++) {
		if (recs[i].kind == REC_WATCH_EVENT && recs[i].stream == 3) {
			nev++;
			CHECK(recs[i].watch_id == 3 && recs[i].guessed);
			CHECK_EQ_STR(recs[i].key, "/registry/pods/default/p1");
		}
	}
	CHECK_EQ_INT(nev, 3);
	struct etcd_stats st;
	etcd_decoder_get_stats(d, &st);
	CHECK_EQ_INT(st.inferred, 2);
	CHECK_EQ_INT(st.watch_streams, 1);
	CHECK_EQ_INT(st.undecodable, 0);
	etcd_conn_close(ec, TCP_CLOSE_END, 2000000);
	etcd_decoder_free(d);
}

/* After a loss, thousands of streams stay open (their END_STREAM was lost), each with a
 * message held or decoded in its arena: an arena starts small (it used to take a 64 KiB
 * chunk per stream, 256 MiB for a full stream table). */
static void test_arena_per_stream(void)
{
	struct etcd_decoder *d = dec_new();
	Etcdserverpb__ResponseHeader h = hdr_make(400);
	struct etcd_conn *ec = mid_conn_open(d);
	Mvccpb__KeyValue kv1 = kv_make("/registry/minions/node1", 10, 20, 3);
	Mvccpb__KeyValue *kvs[] = {&kv1};
	Etcdserverpb__RangeResponse rs = ETCDSERVERPB__RANGE_RESPONSE__INIT;
	rs.header = &h;
	rs.n_kvs = 1;
	rs.kvs = kvs;
	rs.count = 1;
	enum { NSTREAMS = 2000 };
	for (uint32_t i = 0; i < NSTREAMS; i++) {
		struct buf w = {0};
		data_msg(&w, 101 + 2 * i, &rs, false);
		etcd_conn_data(ec, TCP_S2C, w.p, w.n, 1000100 + i);
		free(w.p);
	}
	struct etcd_stats st;
	etcd_decoder_get_stats(d, &st);
	CHECK(st.arena_bytes_max > 0);
	CHECK(st.arena_bytes_max < (uint64_t)NSTREAMS * (8u << 10));
	etcd_conn_close(ec, TCP_CLOSE_END, 2000000);
	etcd_decoder_get_stats(d, &st);
	CHECK(st.arena_bytes <= (uint64_t)256 * (4u << 10) + (1u << 20)); /* the pool, scratch */
	etcd_decoder_free(d);
}

/* Loss and undecodable messages surface as notices. */
static void test_path_notices(void)
{
	struct etcd_decoder *d = dec_new();
	struct tcp_conn_info ci = conn_info(true);
	struct h2t t;
	h2t_init(&t);
	t.ec = etcd_conn_open(d, &ci, 1000000);

	struct src *rq;
	int32_t sid = open_stream(&t, "/etcdserverpb.KV/Range", &rq);
	static const uint8_t bad[] = {0, 0, 0, 0, 3, 0x0a, 0x05, '/'};
	buf_put(&rq->b, bad, sizeof(bad));
	rq->eof = true;
	pump_c2s(&t, 1000100);
	const struct rc *r = rec_find(REC_NOTICE, 0);
	CHECK(r != NULL);
	if (r) {
		CHECK_EQ_STR(r->what, "undecodable");
		CHECK_EQ_INT(r->stream, sid);
	}
	etcd_conn_gap(t.ec, TCP_S2C, 1234, 1000200);
	int gaps = 0;
	for (int i = 0; i < nrecs; i++)
		gaps += recs[i].kind == REC_NOTICE && strcmp(recs[i].what, "gap") == 0;
	CHECK_EQ_INT(gaps, 1);
	etcd_conn_close(t.ec, TCP_CLOSE_END, 2000000);
	struct etcd_stats st;
	etcd_decoder_get_stats(d, &st);
	CHECK_EQ_INT(st.undecodable, 1);
	h2t_free(&t);
	etcd_decoder_free(d);
}

int main(void)
{
	test_method_table();
	test_decode_generic();
	test_decode_types();
	test_decode_nesting();
	test_infer();
	test_path_kv();
	test_path_watch();
	test_path_keepalive_snapshot();
	test_path_midstream();
	test_arena_per_stream();
	test_path_notices();
	return unit_summary("test_etcd");
}
