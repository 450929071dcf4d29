/* test_pbfast.c: differential unit test of src/pb_fast.c against protobuf-c. Every message of
 * a corpus built with the generated C API (every field of every covered message, nested
 * Txns, empty and repeated fields, large varints, negative int64s) and hand-made wire forms
 * protobuf-c accepts but never packs (explicit empty/zero fields, repeated singular fields,
 * non-minimal varints, unknown fields, packed enums), then 20000 seeded mutations of them,
 * are decoded by pb_fast and by the reference (etcd_message_decode with EE_PB_SLOW=1): both
 * refused, or both decoded and equal (pack and field-by-field walk, tests/fuzz/fuzz_pbfast.c).
 * Also: the Txn nesting bound, allocation failures, and the one walk's refusals after a partial
 * fill (same code as the validation alone, budget given back). */
#include <stdlib.h>
#include <string.h>

#include <protobuf-c/protobuf-c.h>

#include "etcd.h"
#include "pb_fast.h"
#include "unit.h"

#define PBDIFF_NO_FUZZ_MAIN
#include "../fuzz/fuzz_pbfast.c"

/* ------------------------------------------------------------------ corpus */

#define CORPUS_MAX 512

struct item {
	enum etcd_method m;
	enum tcp_dir dir;
	uint8_t *p;
	size_t n;
};

static struct item corpus[CORPUS_MAX];
static size_t n_corpus;

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) { return unit_xorshift(&rng_state); }

static void add_raw(enum etcd_method m, enum tcp_dir dir, const void *p, size_t n)
{
	if (n_corpus == CORPUS_MAX)
		return;
	struct item *it = &corpus[n_corpus++];
	it->m = m;
	it->dir = dir;
	it->p = malloc(n + 1);
	memcpy(it->p, p, n);
	it->n = n;
}

static void add_msg(enum etcd_method m, enum tcp_dir dir, const void *msg)
{
	const ProtobufCMessage *pm = msg;
	size_t n = protobuf_c_message_get_packed_size(pm);
	uint8_t *p = malloc(n + 1);
	protobuf_c_message_pack(pm, p);
	add_raw(m, dir, p, n);
	free(p);
}

#define BIN(s) ((ProtobufCBinaryData){sizeof(s) - 1, (uint8_t *)(s)})

/* Values that stress varints: zero, 1-byte, multi-byte, negative (10 bytes), extremes. */
static int64_t v64(int i)
{
	static const int64_t vals[] = {0, 1, 127, 128, 300, -1, -2, INT64_MAX, INT64_MIN,
				       1700000000123ll, 0x7fffffff, 0x80000000ll};
	return vals[(unsigned)i % (sizeof(vals) / sizeof(vals[0]))];
}

static Etcdserverpb__ResponseHeader hdr(int i)
{
	Etcdserverpb__ResponseHeader h = ETCDSERVERPB__RESPONSE_HEADER__INIT;
	h.cluster_id = (uint64_t)v64(i + 5);
	h.member_id = 0x8e9e05c52164694dull;
	h.revision = v64(i);
	h.raft_term = (uint64_t)v64(i + 1);
	return h;
}

static const char *const keys[] = {"/registry/pods/default/a", "", "/registry/configmaps/x/y",
				   "k"};
static const char *const vals[] = {"k8s\0\n\x09v1", "", "{\"kind\":\"ConfigMap\"}", "v"};

static Mvccpb__KeyValue kv(int i)
{
	Mvccpb__KeyValue k = MVCCPB__KEY_VALUE__INIT;
	k.key.data = (uint8_t *)keys[i % 4];
	k.key.len = strlen(keys[i % 4]);
	k.value.data = (uint8_t *)vals[(i / 2) % 4];
	k.value.len = i % 4 == 0 ? 9 : strlen(vals[(i / 2) % 4]);
	k.create_revision = v64(i);
	k.mod_revision = v64(i + 3);
	k.version = v64(i + 7);
	k.lease = v64(i + 2);
	return k;
}

static void corpus_kv(int i)
{
	Mvccpb__KeyValue k[4];
	Mvccpb__KeyValue *kp[4];
	for (int j = 0; j < 4; j++) {
		k[j] = kv(i + j);
		kp[j] = &k[j];
	}
	Etcdserverpb__ResponseHeader h = hdr(i);

	Etcdserverpb__RangeRequest rq = ETCDSERVERPB__RANGE_REQUEST__INIT;
	rq.key = k[0].key;
	rq.range_end = BIN("/registry/pods0");
	rq.limit = v64(i);
	rq.revision = v64(i + 1);
	rq.sort_order = i % 3;
	rq.sort_target = i % 5;
	rq.serializable = i & 1;
	rq.keys_only = (i >> 1) & 1;
	rq.count_only = (i >> 2) & 1;
	rq.min_mod_revision = v64(i + 2);
	rq.max_mod_revision = v64(i + 3);
	rq.min_create_revision = v64(i + 4);
	rq.max_create_revision = v64(i + 5);
	add_msg(EM_RANGE, TCP_C2S, &rq);

	Etcdserverpb__RangeResponse rs = ETCDSERVERPB__RANGE_RESPONSE__INIT;
	rs.header = i % 5 == 4 ? NULL : &h;
	rs.n_kvs = (size_t)(i % 5);
	rs.kvs = rs.n_kvs ? kp : NULL;
	rs.more = i & 1;
	rs.count = v64(i + 6);
	add_msg(EM_RANGE, TCP_S2C, &rs);

	Etcdserverpb__PutRequest pq = ETCDSERVERPB__PUT_REQUEST__INIT;
	pq.key = k[1].key;
	pq.value = k[2].value;
	pq.lease = v64(i);
	pq.prev_kv = i & 1;
	pq.ignore_value = (i >> 1) & 1;
	pq.ignore_lease = (i >> 2) & 1;
	add_msg(EM_PUT, TCP_C2S, &pq);

	Etcdserverpb__PutResponse ps = ETCDSERVERPB__PUT_RESPONSE__INIT;
	ps.header = &h;
	ps.prev_kv = i & 1 ? &k[3] : NULL;
	add_msg(EM_PUT, TCP_S2C, &ps);

	Etcdserverpb__DeleteRangeRequest dq = ETCDSERVERPB__DELETE_RANGE_REQUEST__INIT;
	dq.key = k[0].key;
	dq.range_end = i & 1 ? BIN("\0") : k[3].key;
	dq.prev_kv = i & 1;
	add_msg(EM_DELETE_RANGE, TCP_C2S, &dq);

	Etcdserverpb__DeleteRangeResponse ds = ETCDSERVERPB__DELETE_RANGE_RESPONSE__INIT;
	ds.header = &h;
	ds.deleted = v64(i);
	ds.n_prev_kvs = (size_t)(i % 4);
	ds.prev_kvs = ds.n_prev_kvs ? kp : NULL;
	add_msg(EM_DELETE_RANGE, TCP_S2C, &ds);

	Etcdserverpb__LeaseKeepAliveRequest lq = ETCDSERVERPB__LEASE_KEEP_ALIVE_REQUEST__INIT;
	lq.id = v64(i);
	add_msg(EM_LEASE_KEEPALIVE, TCP_C2S, &lq);
	Etcdserverpb__LeaseKeepAliveResponse ls = ETCDSERVERPB__LEASE_KEEP_ALIVE_RESPONSE__INIT;
	ls.header = &h;
	ls.id = v64(i + 1);
	ls.ttl = v64(i + 2);
	add_msg(EM_LEASE_KEEPALIVE, TCP_S2C, &ls);
}

static void corpus_watch(int i)
{
	Mvccpb__KeyValue k[3] = {kv(i), kv(i + 1), kv(i + 2)};
	Etcdserverpb__ResponseHeader h = hdr(i);

	Etcdserverpb__WatchCreateRequest cr = ETCDSERVERPB__WATCH_CREATE_REQUEST__INIT;
	cr.key = k[0].key;
	cr.range_end = BIN("/registry/pods0");
	cr.start_revision = v64(i);
	cr.progress_notify = i & 1;
	Etcdserverpb__WatchCreateRequest__FilterType filt[2] = {
		ETCDSERVERPB__WATCH_CREATE_REQUEST__FILTER_TYPE__NODELETE,
		ETCDSERVERPB__WATCH_CREATE_REQUEST__FILTER_TYPE__NOPUT};
	cr.n_filters = i % 3 == 2 ? 2 : 0;
	cr.filters = cr.n_filters ? filt : NULL;
	cr.prev_kv = (i >> 1) & 1;
	cr.watch_id = v64(i + 3);
	cr.fragment = (i >> 2) & 1;
	Etcdserverpb__WatchCancelRequest cc = ETCDSERVERPB__WATCH_CANCEL_REQUEST__INIT;
	cc.watch_id = v64(i + 1);
	Etcdserverpb__WatchProgressRequest pr = ETCDSERVERPB__WATCH_PROGRESS_REQUEST__INIT;
	Etcdserverpb__WatchRequest wq = ETCDSERVERPB__WATCH_REQUEST__INIT;
	wq.request_union_case = ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CREATE_REQUEST;
	wq.create_request = &cr;
	add_msg(EM_WATCH, TCP_C2S, &wq);
	wq.request_union_case = ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CANCEL_REQUEST;
	wq.cancel_request = &cc;
	add_msg(EM_WATCH, TCP_C2S, &wq);
	wq.request_union_case = ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_PROGRESS_REQUEST;
	wq.progress_request = &pr;
	add_msg(EM_WATCH, TCP_C2S, &wq);

	Mvccpb__Event ev[3];
	Mvccpb__Event *evp[3];
	for (int j = 0; j < 3; j++) {
		Mvccpb__Event e = MVCCPB__EVENT__INIT;
		e.type = (i + j) & 1 ? MVCCPB__EVENT__EVENT_TYPE__DELETE : MVCCPB__EVENT__EVENT_TYPE__PUT;
		e.kv = &k[j];
		e.prev_kv = (i + j) % 3 ? &k[(j + 1) % 3] : NULL;
		ev[j] = e;
		evp[j] = &ev[j];
	}
	Etcdserverpb__WatchResponse ws = ETCDSERVERPB__WATCH_RESPONSE__INIT;
	ws.header = &h;
	ws.watch_id = v64(i);
	ws.created = i & 1;
	ws.canceled = (i >> 1) & 1;
	ws.compact_revision = v64(i + 4);
	ws.cancel_reason = i % 3 ? (char *)"mvcc: required revision has been compacted" : (char *)"";
	ws.fragment = (i >> 2) & 1;
	ws.n_events = (size_t)(i % 4);
	ws.events = ws.n_events ? evp : NULL;
	add_msg(EM_WATCH, TCP_S2C, &ws);
}

/* A Txn request of a few ops, with a nested Txn of depth levels below it. */
static void txn_req_build(int i, int depth, Etcdserverpb__TxnRequest *t, Etcdserverpb__Compare *cmp,
			  Etcdserverpb__Compare **cmpp, Etcdserverpb__RequestOp *ops,
			  Etcdserverpb__RequestOp **opp, Etcdserverpb__RangeRequest *rr,
			  Etcdserverpb__PutRequest *pq, Etcdserverpb__DeleteRangeRequest *dq,
			  Etcdserverpb__TxnRequest *inner)
{
	static const uint8_t cv[] = "expected";
	for (int j = 0; j < 3; j++) {
		Etcdserverpb__Compare c = ETCDSERVERPB__COMPARE__INIT;
		c.result = (i + j) % 4;
		c.target = (i + j) % 5;
		c.key = BIN("/registry/leases/kube-system/x");
		c.range_end = (i + j) % 3 == 1 ? BIN("/registry/leases0") : (ProtobufCBinaryData){0, NULL};
		switch ((i + j) % 6) {
		case 0: break;
		case 1: c.target_union_case = 4; c.version = v64(i + j); break;
		case 2: c.target_union_case = 5; c.create_revision = v64(i + j); break;
		case 3: c.target_union_case = 6; c.mod_revision = v64(i + j); break;
		case 4:
			c.target_union_case = 7;
			c.value.data = (uint8_t *)cv;
			c.value.len = (i & 1) ? sizeof(cv) - 1 : 0;
			break;
		case 5: c.target_union_case = 8; c.lease = v64(i + j); break;
		}
		cmp[j] = c;
		cmpp[j] = &cmp[j];
	}
	etcdserverpb__range_request__init(rr);
	rr->key = BIN("/registry/a");
	rr->limit = v64(i);
	etcdserverpb__put_request__init(pq);
	pq->key = BIN("/registry/b");
	pq->value = BIN("k8s\0value");
	pq->lease = v64(i + 1);
	etcdserverpb__delete_range_request__init(dq);
	dq->key = BIN("/registry/c");
	for (int j = 0; j < 4; j++) {
		etcdserverpb__request_op__init(&ops[j]);
		opp[j] = &ops[j];
	}
	ops[0].request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE;
	ops[0].request_range = rr;
	ops[1].request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
	ops[1].request_put = pq;
	ops[2].request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE;
	ops[2].request_delete_range = dq;
	if (inner) {
		ops[3].request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_TXN;
		ops[3].request_txn = inner;
	}
	etcdserverpb__txn_request__init(t);
	t->n_compare = (size_t)(i % 4);
	t->compare = t->n_compare ? cmpp : NULL;
	t->n_success = (size_t)(i % 3 + (inner ? 2 : 0));
	t->success = t->n_success ? opp + (inner ? 4 - t->n_success : 0) : NULL;
	t->n_failure = (size_t)((i + 1) % 3);
	t->failure = t->n_failure ? opp : NULL;
	(void)depth;
}

static void corpus_txn(int i, int depth)
{
	Etcdserverpb__TxnRequest t[8] = {ETCDSERVERPB__TXN_REQUEST__INIT};
	Etcdserverpb__Compare cmp[8][3];
	Etcdserverpb__Compare *cmpp[8][3];
	Etcdserverpb__RequestOp ops[8][4];
	Etcdserverpb__RequestOp *opp[8][4];
	Etcdserverpb__RangeRequest rr[8];
	Etcdserverpb__PutRequest pq[8];
	Etcdserverpb__DeleteRangeRequest dq[8];
	if (depth > 7)
		depth = 7;
	for (int l = depth; l >= 0; l--)
		txn_req_build(i + l, l, &t[l], cmp[l], cmpp[l], ops[l], opp[l], &rr[l], &pq[l], &dq[l],
			      l < depth ? &t[l + 1] : NULL);
	add_msg(EM_TXN, TCP_C2S, &t[0]);

	Etcdserverpb__ResponseHeader h[8];
	Mvccpb__KeyValue k[8][2];
	Mvccpb__KeyValue *kp[8][2];
	Etcdserverpb__RangeResponse rs[8];
	Etcdserverpb__PutResponse ps[8];
	Etcdserverpb__DeleteRangeResponse ds[8];
	Etcdserverpb__ResponseOp rop[8][4];
	Etcdserverpb__ResponseOp *ropp[8][4];
	Etcdserverpb__TxnResponse ts[8];
	for (int l = depth; l >= 0; l--) {
		h[l] = hdr(i + l);
		k[l][0] = kv(i + l);
		k[l][1] = kv(i + l + 1);
		kp[l][0] = &k[l][0];
		kp[l][1] = &k[l][1];
		etcdserverpb__range_response__init(&rs[l]);
		rs[l].header = &h[l];
		rs[l].n_kvs = (size_t)((i + l) % 3);
		rs[l].kvs = rs[l].n_kvs ? kp[l] : NULL;
		rs[l].count = v64(i + l);
		etcdserverpb__put_response__init(&ps[l]);
		ps[l].header = &h[l];
		ps[l].prev_kv = (i + l) & 1 ? &k[l][1] : NULL;
		etcdserverpb__delete_range_response__init(&ds[l]);
		ds[l].header = (i + l) % 3 ? &h[l] : NULL;
		ds[l].deleted = v64(i + l + 2);
		ds[l].n_prev_kvs = (size_t)((i + l) % 3);
		ds[l].prev_kvs = ds[l].n_prev_kvs ? kp[l] : NULL;
		for (int j = 0; j < 4; j++) {
			etcdserverpb__response_op__init(&rop[l][j]);
			ropp[l][j] = &rop[l][j];
		}
		rop[l][0].response_case = ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_RANGE;
		rop[l][0].response_range = &rs[l];
		rop[l][1].response_case = ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_PUT;
		rop[l][1].response_put = &ps[l];
		rop[l][2].response_case = ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_DELETE_RANGE;
		rop[l][2].response_delete_range = &ds[l];
		if (l < depth) {
			rop[l][3].response_case = ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_TXN;
			rop[l][3].response_txn = &ts[l + 1];
		}
		etcdserverpb__txn_response__init(&ts[l]);
		ts[l].header = (i + l) % 4 ? &h[l] : NULL;
		ts[l].succeeded = (i + l) & 1;
		ts[l].n_responses = (size_t)((i + l) % 4 + (l < depth ? 1 : 0));
		if (ts[l].n_responses > 4)
			ts[l].n_responses = 4;
		ts[l].responses = ts[l].n_responses ? ropp[l] + (4 - ts[l].n_responses) : NULL;
	}
	add_msg(EM_TXN, TCP_S2C, &ts[0]);
}

/* Wire forms protobuf-c accepts but never produces (explicit defaults, repeats, odd
 * encodings), and some it refuses. Each byte string is the whole message. */
static void corpus_raw(void)
{
	static const struct {
		enum etcd_method m;
		enum tcp_dir dir;
		const char *p;
		size_t n;
	} raw[] = {
#define R(m, d, s) {m, d, s, sizeof(s) - 1}
		R(EM_RANGE, TCP_C2S, ""),
		R(EM_RANGE, TCP_C2S, "\x0a\x00\x12\x00\x18\x00\x38\x00"), /* explicit empty/zero */
		R(EM_RANGE, TCP_C2S, "\x0a\x01" "a\x0a\x02" "bc"),         /* bytes: last wins */
		R(EM_RANGE, TCP_C2S, "\x0a\x01" "a\x0a\x00"),              /* ... even if empty */
		R(EM_RANGE, TCP_C2S, "\x18\x05\x18\x07"),                  /* scalar: last wins */
		R(EM_RANGE, TCP_C2S, "\x38\x80\x80\x80\x80\x80\x80\x80\x80\x80\x02"), /* bool: bit 64 */
		R(EM_RANGE, TCP_C2S, "\x38\x80\x00"),                      /* bool false, 2 bytes */
		R(EM_RANGE, TCP_C2S, "\x28\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"), /* enum -1 */
		R(EM_RANGE, TCP_C2S, "\x28\x80\x80\x80\x80\x10"),          /* enum: bit 32 dropped */
		R(EM_RANGE, TCP_C2S, "\x88\x00\x05"),                      /* non-minimal tag */
		R(EM_RANGE, TCP_C2S, "\x0a\x81\x00" "a"),                  /* non-minimal length */
		R(EM_RANGE, TCP_C2S, "\x8a\x80\x80\x80\x00\x01" "a"),      /* 5-byte tag: the most */
		R(EM_RANGE, TCP_C2S, "\x8a\x80\x80\x80\x80\x00\x01" "a"),  /* 6-byte tag */
		R(EM_RANGE, TCP_C2S, "\x88\x80\x80\x80\x40\x05"),          /* field 2^31 + 1 */
		R(EM_RANGE, TCP_C2S, "\x0a\x81\x80\x80\x80\x00" "a"),      /* 5-byte length */
		R(EM_RANGE, TCP_C2S, "\x0a\x81\x80\x80\x80\x80\x00" "a"),  /* 6-byte length */
		R(EM_RANGE, TCP_C2S, "\x0a\xff\xff\xff\xff\x07"),          /* length 2^35 - 1 */
		R(EM_RANGE, TCP_C2S, "\x0a\x80\x80\x80\x80\x08"),          /* length 2^31 */
		R(EM_RANGE, TCP_C2S, "\x18\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f"), /* bits > 64 */
		R(EM_RANGE, TCP_C2S, "\x0a"),                              /* length missing */
		R(EM_RANGE, TCP_C2S, "\x18"),                              /* varint missing */
		R(EM_RANGE, TCP_C2S, "\x18\x80"),                          /* varint cut */
		R(EM_RANGE, TCP_C2S, "\x18\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"), /* 11 bytes */
		R(EM_RANGE, TCP_C2S, "\x70\x01"),                          /* unknown field 14 */
		R(EM_RANGE, TCP_C2S, "\x1a\x00"),                          /* wire type mismatch */
		R(EM_RANGE, TCP_C2S, "\x19\x00\x00\x00\x00\x00\x00\x00\x00"), /* fixed64 on int64 */
		R(EM_RANGE, TCP_C2S, "\x0b\x0c"),                          /* group */
		R(EM_RANGE, TCP_C2S, "\x00\x01"),                          /* tag 0 */
		R(EM_RANGE, TCP_S2C, "\x0a\x02\x18\x05\x0a\x02\x20\x06"),  /* header twice: merged */
		R(EM_RANGE, TCP_S2C, "\x12\x00\x12\x00\x12\x02\x08\x01"),  /* empty kvs */
		R(EM_RANGE, TCP_S2C, "\x12\x00\x0a\x00\x12\x00"),          /* interleaved */
		R(EM_RANGE, TCP_S2C, "\x12\x03\x0a\x01" "a\x12\x05\x2a\x03" "b\x0a\x00"),
		R(EM_WATCH, TCP_S2C, "\x32\x00"),                          /* empty string */
		R(EM_WATCH, TCP_S2C, "\x32\x03" "a\0b\x32\x01" "c"),       /* string: last wins */
		R(EM_WATCH, TCP_S2C, "\x5a\x04\x12\x00\x12\x00"),          /* event kv twice */
		R(EM_WATCH, TCP_S2C, "\x5a\x02\x08\x01\x5a\x00"),
		R(EM_WATCH, TCP_C2S, "\x0a\x00\x12\x02\x08\x07"),          /* oneof: last wins */
		R(EM_WATCH, TCP_C2S, "\x12\x02\x08\x07\x12\x02\x08\x09"),  /* same member twice */
		R(EM_WATCH, TCP_C2S, "\x1a\x00\x0a\x02\x0a\x00"),
		R(EM_WATCH, TCP_C2S, "\x0a\x03\x2a\x01\x01"),              /* packed filters */
		R(EM_WATCH, TCP_C2S, "\x0a\x02\x28\x01"),                  /* unpacked filter */
		R(EM_TXN, TCP_C2S, "\x0a\x05\x38\x05\x20\x09\x0a"),        /* compare oneof switch */
		R(EM_TXN, TCP_C2S, "\x0a\x07\x3a\x01" "x\x20\x09\x3a\x00"),
		R(EM_TXN, TCP_C2S, "\x0a\x07\x3a\x01" "x\x3a\x02" "yz"),
		R(EM_TXN, TCP_C2S, "\x0a\x05\x82\x04\x02" "re"),           /* range_end, 2-byte tag */
		R(EM_TXN, TCP_C2S, "\x12\x04\x22\x00\x22\x00"),            /* request_txn twice */
		R(EM_TXN, TCP_C2S, "\x12\x06\x0a\x02\x18\x01\x12\x00"),    /* range then put */
		R(EM_TXN, TCP_C2S, "\x12\x00\x1a\x00\x0a\x00"),
		R(EM_TXN, TCP_S2C, "\x1a\x04\x0a\x00\x12\x00\x10\x01"),
		R(EM_TXN, TCP_S2C, "\x1a\x06\x22\x04\x1a\x02\x22\x00"),
		R(EM_PUT, TCP_S2C, "\x12\x00\x12\x02\x08\x01"),            /* prev_kv twice */
		R(EM_PUT, TCP_C2S, "\x12\x00\x20\x02\x28\x80\x01\x30\x00"),
		R(EM_DELETE_RANGE, TCP_S2C, "\x1a\x00\x10\x01\x1a\x02\x0a\x00"),
		R(EM_LEASE_KEEPALIVE, TCP_C2S, "\x08\xff\xff\xff\xff\xff\xff\xff\xff\x7f"),
		R(EM_LEASE_KEEPALIVE, TCP_S2C, "\x0a\x00\x10\x01\x18\x02\x10\x03"),
#undef R
	};
	for (size_t i = 0; i < sizeof(raw) / sizeof(raw[0]); i++)
		add_raw(raw[i].m, raw[i].dir, raw[i].p, raw[i].n);
}

/* Builds the corpus; returns how many of its messages (the first ones) were generated. */
static size_t corpus_build(void)
{
	for (int i = 0; i < 24; i++) {
		corpus_kv(i);
		corpus_watch(i);
		corpus_txn(i, i % 4);
	}
	corpus_txn(1, 7);
	size_t n = n_corpus;
	corpus_raw();
	return n;
}

/* ------------------------------------------------------------------ tests */

static const char *verdict_name(enum pbdiff_verdict v)
{
	static const char *const names[] = {"fast", "fallback", "refused", "MISMATCH"};
	return names[v];
}

/* Every corpus message: equal results; the generated ones (not hand-made) all decode fast. */
static void test_corpus(size_t n_generated)
{
	size_t counts[4] = {0};
	for (size_t i = 0; i < n_corpus; i++) {
		enum pbdiff_verdict v = pbdiff_run(corpus[i].m, corpus[i].dir, corpus[i].p, corpus[i].n);
		counts[v]++;
		if (v == PBD_MISMATCH)
			fprintf(stderr, "corpus %zu (method %d dir %d, %zu bytes): mismatch\n", i,
				(int)corpus[i].m, (int)corpus[i].dir, corpus[i].n);
		CHECK(v != PBD_MISMATCH);
		/* generated messages use no feature pb_fast refuses, except WatchCreate filters */
		if (i < n_generated && v != PBD_FAST) {
			const uint8_t *p = corpus[i].p;
			bool filters = corpus[i].m == EM_WATCH && corpus[i].dir == TCP_C2S &&
				       corpus[i].n > 2 && p[0] == 0x0a && memchr(p, 0x2a, corpus[i].n);
			if (!filters)
				fprintf(stderr, "corpus %zu (method %d dir %d): %s\n", i,
					(int)corpus[i].m, (int)corpus[i].dir, verdict_name(v));
			CHECK(filters);
		}
	}
	printf("  corpus: %zu messages: %zu fast, %zu fallback, %zu refused\n", n_corpus,
	       counts[PBD_FAST], counts[PBD_FALLBACK], counts[PBD_REFUSED]);
	CHECK(counts[PBD_FAST] > n_generated / 2);
}

/* Seeded mutations of the corpus: bit flips, byte sets, truncations, splices, cuts. */
static void test_mutations(int iterations)
{
	size_t counts[4] = {0};
	static uint8_t buf[1 << 16];
	for (int it = 0; it < iterations; it++) {
		const struct item *a = &corpus[rnd() % n_corpus];
		size_t n = a->n < sizeof(buf) ? a->n : sizeof(buf);
		memcpy(buf, a->p, n);
		int k = rnd() % 4 ? 1 : 2 + (int)(rnd() % 2); /* mostly one change: more stay valid */
		for (int j = 0; j < k; j++) {
			size_t pos = n ? (size_t)(rnd() % n) : 0;
			switch (rnd() % 6) {
			case 0:
				if (n)
					buf[pos] ^= (uint8_t)(1u << (rnd() % 8));
				break;
			case 1:
				if (n)
					buf[pos] = (uint8_t)rnd();
				break;
			case 2: n = pos; break;
			case 3: { /* splice: the tail of another message replaces ours from pos */
				const struct item *b = &corpus[rnd() % n_corpus];
				size_t from = b->n ? (size_t)(rnd() % b->n) : 0;
				size_t len = b->n - from;
				if (pos + len > sizeof(buf))
					len = sizeof(buf) - pos;
				memcpy(buf + pos, b->p + from, len);
				n = pos + len;
				break;
			}
			case 4: { /* cut a run out */
				size_t len = n - pos ? (size_t)(rnd() % (n - pos)) : 0;
				memmove(buf + pos, buf + pos + len, n - pos - len);
				n -= len;
				break;
			}
			case 5: { /* repeat a run (duplicate fields) */
				size_t len = n - pos ? 1 + (size_t)(rnd() % (n - pos)) : 0;
				if (n + len <= sizeof(buf)) {
					memmove(buf + pos + len, buf + pos, n - pos);
					n += len;
				}
				break;
			}
			}
		}
		/* mostly the message's own type, sometimes another covered one */
		enum etcd_method m = a->m;
		enum tcp_dir dir = a->dir;
		if (rnd() % 8 == 0) {
			unsigned s = (unsigned)(rnd() % PBDIFF_N_METHODS);
			m = pbdiff_methods[s].m;
			dir = pbdiff_methods[s].dir;
		}
		enum pbdiff_verdict v = pbdiff_run(m, dir, buf, n);
		counts[v]++;
		if (v == PBD_MISMATCH) {
			fprintf(stderr, "mutation %d (method %d dir %d): mismatch on", it, (int)m,
				(int)dir);
			for (size_t j = 0; j < n && j < 64; j++)
				fprintf(stderr, " %02x", buf[j]);
			fprintf(stderr, "\n");
		}
		CHECK(v != PBD_MISMATCH);
	}
	printf("  mutations: %d: %zu fast, %zu fallback, %zu refused\n", iterations,
	       counts[PBD_FAST], counts[PBD_FALLBACK], counts[PBD_REFUSED]);
	/* the comparison must have had material: a good share decoded by the fast path */
	CHECK(counts[PBD_FAST] > (size_t)iterations / 5);
}

/* Wraps the message in buf (n bytes) as field `field` of a new message, in place. */
static size_t wrap(uint8_t *buf, size_t n, size_t cap, uint8_t field)
{
	uint8_t hdr[8];
	size_t h = 0, v = n;
	hdr[h++] = (uint8_t)(field << 3 | 2);
	do {
		hdr[h++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v);
	if (h + n > cap)
		return 0;
	memmove(buf + h, buf, n);
	memcpy(buf, hdr, h);
	return h + n;
}

/* A Txn of depth levels: TxnRequest (0) -> RequestOp (1) -> TxnRequest (2) ...; depth odd
 * ends with an empty RequestOp. The same shape for responses (field 3, field 4). */
static size_t nest(uint8_t *buf, size_t cap, int depth, enum tcp_dir dir)
{
	size_t n = 0;
	for (int l = depth; l >= 1; l--) {
		/* level l is a RequestOp when odd: its parent TxnRequest holds it as success (2)
		 * or responses (3); a TxnRequest at even l sits in field 4 of its RequestOp */
		uint8_t field = l % 2 ? (dir == TCP_C2S ? 2 : 3) : 4;
		n = wrap(buf, n, cap, field);
	}
	return n;
}

/* The bound is nesting_ok's: accepted and refused at exactly the same depth. */
static void test_nesting(void)
{
	static uint8_t buf[4096];
	for (int dir = 0; dir < 2; dir++) {
		for (int depth = 28; depth <= 36; depth++) {
			size_t n = nest(buf, sizeof(buf), depth, (enum tcp_dir)dir);
			ProtobufCMessage *fast = NULL;
			int rc = pb_fast_decode(dir == TCP_C2S ? &etcdserverpb__txn_request__descriptor
							       : &etcdserverpb__txn_response__descriptor,
						buf, n, NULL, PBDIFF_NESTING, &fast);
			CHECK_EQ_INT(rc, depth <= PBDIFF_NESTING ? PB_FAST_OK : PB_FAST_TOO_DEEP);
			if (fast)
				protobuf_c_message_free_unpacked(fast, NULL);
			enum pbdiff_verdict v = pbdiff_run(EM_TXN, (enum tcp_dir)dir, buf, n);
			CHECK_EQ_INT(v, depth <= PBDIFF_NESTING ? PBD_FAST : PBD_REFUSED);
		}
	}
	/* far too deep: refused before any recursion gets near the stack's end */
	size_t n = nest(buf, sizeof(buf), 600, TCP_C2S);
	CHECK(n > 0);
	CHECK_EQ_INT(pbdiff_run(EM_TXN, TCP_C2S, buf, n), PBD_REFUSED);
}

/* The budget allocator is fuzz_pbfast.c's (pbdiff_budget_*), included above. */

/* Out of budget: pb_fast fails only where protobuf-c with the same budget fails, and frees
 * what it had allocated (ASan reports leaks; live counts them too). */
static void test_alloc_failure(void)
{
	int nomem = 0, ok = 0;
	for (size_t i = 0; i < n_corpus; i++) {
		const struct etcd_method_info *mi = etcd_method_info(corpus[i].m);
		const ProtobufCMessageDescriptor *d = corpus[i].dir == TCP_C2S ? mi->req : mi->resp;
		for (size_t budget = 0; budget < 2048; budget += 16 + budget / 2) {
			struct pbdiff_budget b = {budget, 0};
			ProtobufCAllocator al = {pbdiff_budget_alloc, pbdiff_budget_free, &b};
			ProtobufCMessage *fast = NULL;
			int rc = pb_fast_decode(d, corpus[i].p, corpus[i].n, &al, PBDIFF_NESTING, &fast);
			if (fast)
				protobuf_c_message_free_unpacked(fast, &al);
			CHECK_EQ_INT(b.live, 0);
			if (rc == PB_FAST_OK)
				ok++;
			if (rc != PB_FAST_NOMEM)
				continue;
			nomem++;
			struct pbdiff_budget b2 = {budget, 0};
			ProtobufCAllocator al2 = {pbdiff_budget_alloc, pbdiff_budget_free, &b2};
			ProtobufCMessage *ref =
				protobuf_c_message_unpack(d, &al2, corpus[i].n, corpus[i].p);
			CHECK(ref == NULL);
			if (ref)
				protobuf_c_message_free_unpacked(ref, &al2);
		}
	}
	printf("  allocation budgets: %d out of memory, %d decoded\n", nomem, ok);
	CHECK(nomem > 100 && ok > 100);
}

/* Decodes the n bytes at p as d with the registered budget allocator (pbdiff_budget_*) and
 * `budget` bytes; *taken = the bytes the decode kept. */
static int onewalk_decode(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t n,
			  size_t budget, size_t *taken)
{
	struct pbdiff_budget b = {budget, 0};
	ProtobufCAllocator al = {pbdiff_budget_alloc, pbdiff_budget_free, &b};
	ProtobufCMessage *m = NULL;
	int rc = pb_fast_decode(d, p, n, &al, PBDIFF_NESTING, &m);
	int crc = pb_fast_check(d, p, n, PBDIFF_NESTING);
	if (crc != PB_FAST_OK)
		CHECK_EQ_INT(rc, crc);
	else
		CHECK(rc == PB_FAST_OK || rc == PB_FAST_NOMEM);
	if (m)
		protobuf_c_message_free_unpacked(m, &al);
	CHECK_EQ_INT(b.live, 0);
	if (rc == PB_FAST_FALLBACK || rc == PB_FAST_TOO_DEEP)
		CHECK(b.left == budget); /* all given back */
	if (taken)
		*taken = budget - b.left;
	return rc;
}

/* One walk validates and fills: a refusal met after a partial fill frees it and gives the
 * budget back; TOO_DEEP and FALLBACK keep the validation's precedence (the first met in
 * field order, depth first at each level), also when memory runs out before either is met;
 * repeated fields of any count decode as protobuf-c's. */
static void test_onewalk(void)
{
	static uint8_t buf[1 << 16];
	const ProtobufCMessageDescriptor *rs = &etcdserverpb__range_response__descriptor;
	const ProtobufCMessageDescriptor *tx = &etcdserverpb__txn_request__descriptor;
	static const uint8_t kvb[] = {0x12, 0x08, 0x0a, 0x03, 'k', 'e', 'y', 0x2a, 0x01, 'v'};

	/* 2000 kvs: equal to protobuf-c, and taking their bytes; then an unknown field after
	 * them: a fallback after a fill of 2000 kvs */
	size_t n = 0;
	for (int i = 0; i < 2000; i++) {
		memcpy(buf + n, kvb, sizeof(kvb));
		n += sizeof(kvb);
	}
	CHECK_EQ_INT(pbdiff_run(EM_RANGE, TCP_S2C, buf, n), PBD_FAST);
	size_t taken = 0;
	CHECK_EQ_INT(onewalk_decode(rs, buf, n, SIZE_MAX / 2, &taken), PB_FAST_OK);
	CHECK(taken > 2000 * 48);
	buf[n++] = 0x78; /* field 15, varint: unknown to RangeResponse */
	buf[n++] = 0x01;
	CHECK_EQ_INT(onewalk_decode(rs, buf, n, SIZE_MAX / 2, NULL), PB_FAST_FALLBACK);
	CHECK_EQ_INT(onewalk_decode(rs, buf, n, 4096, NULL), PB_FAST_FALLBACK); /* NOMEM first */
	CHECK_EQ_INT(pbdiff_run(EM_RANGE, TCP_S2C, buf, n), PBD_FALLBACK);
	/* a kv whose value has the wrong wire type, at the end */
	n -= 2;
	memcpy(buf + n, "\x12\x02\x2d\x00", 4);
	n += 4;
	CHECK_EQ_INT(onewalk_decode(rs, buf, n, SIZE_MAX / 2, NULL), PB_FAST_FALLBACK);
	/* a second header (protobuf-c merges): refused after the kvs */
	n -= 4;
	memcpy(buf + n, "\x0a\x00\x0a\x00", 4);
	n += 4;
	CHECK_EQ_INT(onewalk_decode(rs, buf, n, SIZE_MAX / 2, NULL), PB_FAST_FALLBACK);

	/* TOO_DEEP vs FALLBACK: a Txn too deep in success[0], an unknown field before or after */
	for (int before = 0; before < 2; before++) {
		for (int deep = 0; deep < 2; deep++) {
			n = nest(buf + 2, sizeof(buf) - 4, deep ? PBDIFF_NESTING + 3 : 6, TCP_C2S);
			CHECK(n > 0);
			if (before) {
				buf[0] = 0x78, buf[1] = 0x01;
			} else {
				memmove(buf, buf + 2, n);
				buf[n] = 0x78, buf[n + 1] = 0x01;
			}
			n += 2;
			int want = deep && !before ? PB_FAST_TOO_DEEP : PB_FAST_FALLBACK;
			CHECK_EQ_INT(pb_fast_check(tx, buf, n, PBDIFF_NESTING), want);
			for (size_t bud = 0; bud < 4096; bud += 16)
				CHECK_EQ_INT(onewalk_decode(tx, buf, n, bud, NULL), want);
			CHECK_EQ_INT(onewalk_decode(tx, buf, n, SIZE_MAX / 2, NULL), want);
		}
	}
	/* compare[0] filled, then the deep success: TOO_DEEP after a partial fill */
	n = nest(buf, sizeof(buf), PBDIFF_NESTING + 1, TCP_C2S);
	memmove(buf + 4, buf, n);
	memcpy(buf, "\x0a\x02\x10\x01", 4); /* compare { target: 1 } */
	n += 4;
	CHECK_EQ_INT(onewalk_decode(tx, buf, n, SIZE_MAX / 2, NULL), PB_FAST_TOO_DEEP);
	CHECK_EQ_INT(onewalk_decode(tx, buf, n, 64, NULL), PB_FAST_TOO_DEEP);
}

/* PBFAST_SEEDS=DIR writes the corpus there as fuzz_pbfast inputs (selector byte first). */
static void corpus_dump(const char *dir)
{
	for (size_t i = 0; i < n_corpus; i++) {
		unsigned sel = 0;
		for (unsigned k = 0; k < PBDIFF_N_METHODS; k++)
			if (pbdiff_methods[k].m == corpus[i].m && pbdiff_methods[k].dir == corpus[i].dir)
				sel = k;
		char path[4096];
		snprintf(path, sizeof(path), "%s/seed-%03zu", dir, i);
		FILE *f = fopen(path, "wb");
		if (!f)
			return;
		fputc((int)sel, f);
		fwrite(corpus[i].p, 1, corpus[i].n, f);
		fclose(f);
	}
}

int main(void)
{
	pbdiff_init();
	size_t n_generated = corpus_build();
	if (getenv("PBFAST_SEEDS"))
		corpus_dump(getenv("PBFAST_SEEDS"));
	test_corpus(n_generated);
	test_mutations(20000);
	test_nesting();
	test_alloc_failure();
	test_onewalk();
	for (size_t i = 0; i < n_corpus; i++)
		free(corpus[i].p);
	return unit_summary("test_pbfast");
}
