/* test_list_agg.c: paginated LIST joining (src/list_agg.c) over Range records built the
 * way the etcd stage builds them: the API server's pager pattern, a LIST that fits one
 * page, an error mid-LIST, a LIST joined at a later page, pages over two connections,
 * idle expiry, table overflow, and an emit callback that feeds records back in. */
#include <stdlib.h>
#include <string.h>

#include "etcd.h"
#include "list_agg.h"
#include "unit.h"

struct page {
	Etcdserverpb__RangeRequest q;
	Etcdserverpb__RangeResponse p;
	Etcdserverpb__ResponseHeader h;
	Mvccpb__KeyValue kv[8];
	Mvccpb__KeyValue *kvp[8];
	char keys[8][64];
	char qkey[64];
	struct etcd_record r;
};

static const struct etcd_method_info *range_info(void)
{
	return etcd_method_info(EM_RANGE);
}

static ProtobufCBinaryData bin(const char *s, size_t n)
{
	ProtobufCBinaryData b = {n, (uint8_t *)s};
	return b;
}

/* A Range page over /registry/pods/ (range_end /registry/pods0) starting at start (with
 * its "\0" when cont), returning the names in kvs; more says whether more follow. */
static void mk_page(struct page *pg, const char *start, bool cont, int64_t rev_req,
		    const char *const *names, int n, bool more, ee_ts ts, uint64_t conn_id)
{
	memset(pg, 0, sizeof *pg);
	etcdserverpb__range_request__init(&pg->q);
	etcdserverpb__range_response__init(&pg->p);
	etcdserverpb__response_header__init(&pg->h);
	size_t kl = strlen(start);
	memcpy(pg->qkey, start, kl + 1);
	pg->q.key = bin(pg->qkey, kl + (cont ? 1 : 0));
	pg->q.range_end = bin("/registry/pods0", 15);
	pg->q.limit = 2;
	pg->q.revision = rev_req;
	for (int i = 0; i < n; i++) {
		mvccpb__key_value__init(&pg->kv[i]);
		snprintf(pg->keys[i], sizeof pg->keys[i], "/registry/pods/demo/%s", names[i]);
		pg->kv[i].key = bin(pg->keys[i], strlen(pg->keys[i]));
		pg->kvp[i] = &pg->kv[i];
	}
	pg->p.kvs = pg->kvp;
	pg->p.n_kvs = (size_t)n;
	pg->p.more = more;
	pg->p.count = 5;
	pg->h.revision = 15;
	pg->p.header = &pg->h;
	pg->r.c.kind = REC_RPC;
	pg->r.c.ts = ts;
	pg->r.c.conn = conn_id == 1 ? "10.0.0.1:1000-10.0.0.2:2379" : "10.0.0.1:1001-10.0.0.2:2379";
	pg->r.c.conn_id = conn_id;
	pg->r.c.stream = 1;
	pg->r.c.user_agent = "";
	pg->r.u.rpc.m = range_info();
	pg->r.u.rpc.ts_req = ts;
	pg->r.u.rpc.ts_resp = ts + 300;
	pg->r.u.rpc.latency_us = 300;
	pg->r.u.rpc.status = 0;
	pg->r.u.rpc.req = &pg->q.base;
	pg->r.u.rpc.resp = &pg->p.base;
}

struct got {
	int n;
	struct rec_list l[8];
	char key[8][64];
	ee_ts ts[8];
	struct list_agg *feed_back; /* when set, the callback feeds a record back in */
};

static void collect(void *ctx, const struct etcd_record *r)
{
	struct got *g = ctx;
	if (r->c.kind != REC_LIST)
		return;
	if (g->n >= 8) { /* counted, not kept */
		g->n++;
		return;
	}
	g->l[g->n] = r->u.list;
	size_t kl = r->u.list.key_len < 63 ? r->u.list.key_len : 63;
	memcpy(g->key[g->n], r->u.list.key, kl);
	g->key[g->n][kl] = 0;
	g->ts[g->n] = r->c.ts;
	g->n++;
	if (g->feed_back) { /* what app.c does: the LIST record goes through on_record too */
		CHECK_EQ_INT(list_agg_feed(g->feed_back, r), 0);
		list_agg_flush(g->feed_back, collect, g);
	}
}

static const char *const N01[] = {"web-0", "web-1"}, *const N23[] = {"web-2", "web-3"},
		  *const N4[] = {"web-4"};

static void test_three_pages(bool feed_back)
{
	struct list_agg *la = list_agg_new();
	struct got g = {0};
	if (feed_back)
		g.feed_back = la;
	struct page p1, p2, p3;
	mk_page(&p1, "/registry/pods/", false, 0, N01, 2, true, 1000, 1);
	mk_page(&p2, "/registry/pods/demo/web-1", true, 15, N23, 2, true, 2000, 1);
	mk_page(&p3, "/registry/pods/demo/web-3", true, 15, N4, 1, false, 3000, 1);
	CHECK_EQ_INT(list_agg_feed(la, &p1.r), 1);
	list_agg_flush(la, collect, &g);
	CHECK_EQ_INT(list_agg_feed(la, &p2.r), 2);
	list_agg_flush(la, collect, &g);
	CHECK_EQ_INT(g.n, 0);
	CHECK_EQ_INT(list_agg_feed(la, &p3.r), 3);
	list_agg_flush(la, collect, &g);
	CHECK_EQ_INT(g.n, 1);
	CHECK_EQ_INT(g.l[0].pages, 3);
	CHECK_EQ_INT(g.l[0].kvs, 5);
	CHECK_EQ_INT(g.l[0].count, 5);
	CHECK_EQ_INT(g.l[0].revision, 15);
	CHECK_EQ_INT(g.l[0].limit, 2);
	CHECK_EQ_INT(g.l[0].latency_us, 3300 - 1000);
	CHECK_EQ_INT(g.l[0].connections, 1);
	CHECK(g.l[0].complete);
	CHECK_EQ_STR(g.key[0], "/registry/pods/");
	CHECK_EQ_INT(g.ts[0], 1000);
	list_agg_finish(la, collect, &g);
	CHECK_EQ_INT(g.n, 1); /* nothing left open */
	list_agg_free(la);
}

/* A LIST that fits its first page is an ordinary Range: no LIST record. */
static void test_single_page(void)
{
	struct list_agg *la = list_agg_new();
	struct got g = {0};
	struct page p1;
	mk_page(&p1, "/registry/pods/", false, 0, N01, 2, false, 1000, 1);
	CHECK_EQ_INT(list_agg_feed(la, &p1.r), 0);
	list_agg_finish(la, collect, &g);
	CHECK_EQ_INT(g.n, 0);
	list_agg_free(la);
}

/* Page 2 answered with an error (e.g. the pinned revision was compacted). */
static void test_error_page(void)
{
	struct list_agg *la = list_agg_new();
	struct got g = {0};
	struct page p1, p2;
	mk_page(&p1, "/registry/pods/", false, 0, N01, 2, true, 1000, 1);
	mk_page(&p2, "/registry/pods/demo/web-1", true, 15, N23, 0, false, 2000, 1);
	p2.r.u.rpc.resp = NULL;
	p2.r.u.rpc.status = 11; /* OUT_OF_RANGE: required revision has been compacted */
	list_agg_feed(la, &p1.r);
	CHECK_EQ_INT(list_agg_feed(la, &p2.r), 2);
	list_agg_flush(la, collect, &g);
	CHECK_EQ_INT(g.n, 1);
	CHECK(!g.l[0].complete);
	CHECK_EQ_INT(g.l[0].status, 11);
	CHECK_EQ_INT(g.l[0].pages, 2);
	list_agg_free(la);
}

/* The capture began after page 1: the chain is followed but never called complete; a page
 * at another revision or on another range is not part of it; pages may change connection. */
static void test_joined_late_and_mismatch(void)
{
	struct list_agg *la = list_agg_new();
	struct got g = {0};
	struct page p2, p3, other;
	mk_page(&p2, "/registry/pods/demo/web-1", true, 15, N23, 2, true, 2000, 1);
	mk_page(&other, "/registry/pods/demo/web-3", true, 14, N4, 1, false, 2500, 1);
	mk_page(&p3, "/registry/pods/demo/web-3", true, 15, N4, 1, false, 3000, 2);
	CHECK_EQ_INT(list_agg_feed(la, &p2.r), 1);
	CHECK_EQ_INT(list_agg_feed(la, &other.r), 0); /* revision 14, not the pinned 15 */
	CHECK_EQ_INT(list_agg_feed(la, &p3.r), 2);
	list_agg_flush(la, collect, &g);
	CHECK_EQ_INT(g.n, 1);
	CHECK(!g.l[0].complete);
	CHECK_EQ_INT(g.l[0].connections, 2);
	CHECK_EQ_INT(g.l[0].kvs, 3);
	list_agg_free(la);
}

/* A LIST abandoned after page 2 is given up after a minute of capture time, or at the
 * end; one never continued past page 1 is a Range with a limit, not a LIST. */
static void test_idle_and_finish(void)
{
	struct list_agg *la = list_agg_new();
	struct got g = {0};
	struct page p1, p2, a, b;
	mk_page(&p1, "/registry/pods/", false, 0, N01, 2, true, 1000, 1);
	mk_page(&p2, "/registry/pods/demo/web-1", true, 15, N23, 2, true, 2000, 1);
	list_agg_feed(la, &p1.r);
	list_agg_feed(la, &p2.r);
	mk_page(&a, "/registry/pods/", false, 0, N01, 2, true, 2000 + 61 * 1000000LL, 1);
	CHECK_EQ_INT(list_agg_feed(la, &a.r), 1); /* a new LIST; the old one expired */
	list_agg_flush(la, collect, &g);
	CHECK_EQ_INT(g.n, 1);
	CHECK(!g.l[0].complete);
	CHECK_EQ_INT(g.l[0].pages, 2);
	mk_page(&b, "/registry/pods/demo/web-1", true, 15, N23, 2, true, 3000 + 61 * 1000000LL, 2);
	CHECK_EQ_INT(list_agg_feed(la, &b.r), 2);
	list_agg_finish(la, collect, &g);
	CHECK_EQ_INT(g.n, 2);
	CHECK(!g.l[1].complete);
	struct page lone;
	mk_page(&lone, "/registry/pods/", false, 0, N01, 2, true, 5000 + 61 * 1000000LL, 1);
	CHECK_EQ_INT(list_agg_feed(la, &lone.r), 1);
	list_agg_finish(la, collect, &g);
	CHECK_EQ_INT(g.n, 2); /* dropped */
	list_agg_free(la);
}

/* More open LISTs than the table holds: the oldest are given up, memory stays bounded. */
static void test_overflow(void)
{
	struct list_agg *la = list_agg_new();
	struct got g = {0};
	int emitted = 0, followed = 0;
	for (int i = 0; i < 200; i++) {
		struct page p, q;
		mk_page(&p, "/registry/pods/", false, 0, N01, 2, true, 1000 + i, 1);
		p.q.revision = 100 + i; /* distinct chains */
		mk_page(&q, "/registry/pods/demo/web-1", true, 100 + i, N23, 2, true, 1000 + i, 1);
		g.n = 0;
		if (list_agg_feed(la, &p.r))
			followed += list_agg_feed(la, &q.r) == 2;
		list_agg_flush(la, collect, &g);
		emitted += g.n;
	}
	/* Once full, every other LIST evicts the oldest chain and is itself not followed. */
	CHECK(followed >= 64 + (200 - 64) / 2 - 1);
	CHECK_EQ_INT(emitted, followed - 64);
	g.n = 0;
	list_agg_finish(la, collect, &g);
	CHECK_EQ_INT(g.n, 64);
	list_agg_free(la);
}

int main(void)
{
	test_three_pages(false);
	test_three_pages(true);
	test_single_page();
	test_error_page();
	test_joined_late_and_mismatch();
	test_idle_and_finish();
	test_overflow();
	printf("test_list_agg: %d passed, %d failed\n", unit_passed, unit_failed);
	return unit_failed != 0;
}
