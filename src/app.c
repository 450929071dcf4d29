/* app.c: the run loop. Same pipeline live and offline; only the capture source differs. */
#include "app.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "capture.h"
#include "direction.h"
#include "etcd.h"
#include "grpc.h"
#include "objcache.h"
#include "pool.h"
#include "tcp.h"

static struct capture *g_cap; /* for the signal handler only */

static void on_signal(int sig)
{
	(void)sig;
	if (g_cap)
		capture_break(g_cap);
}

static ee_ts wall_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return (ee_ts)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

/* Keeps the store in step with what the wire showed. */
static void store_update(struct app *a, const struct etcd_record *r, const struct meaning *m)
{
	struct store *s = a->store;
	switch (r->c.kind) {
	case REC_RPC: {
		const struct rec_rpc *rpc = &r->u.rpc;
		if (rpc->m->method != EM_RANGE || !rpc->resp || rpc->status > 0)
			return;
		const Etcdserverpb__RangeResponse *p = (const void *)rpc->resp;
		const Etcdserverpb__RangeRequest *q = (const void *)rpc->req;
		bool keys_only = q && q->keys_only;
		store_mark_begin(s);
		for (size_t i = 0; i < p->n_kvs; i++) {
			const Mvccpb__KeyValue *kv = p->kvs[i];
			store_put(s, kv->key.data, kv->key.len, kv->mod_revision, kv->create_revision,
				  kv->version, kv->lease, kv->value.data, kv->value.len, !keys_only,
				  SRC_RANGE, r->c.ts);
		}
		/* A whole answer (not cut by a limit, not a count) also says which keys are gone:
		 * deleted without a message we saw (lease expiry, a capture that missed it).
		 * They are marked deleted at the revision the read saw. */
		int64_t read_rev = q && q->revision ? q->revision : p->header ? p->header->revision : 0;
		bool filtered = q && (q->min_mod_revision || q->max_mod_revision ||
				      q->min_create_revision || q->max_create_revision);
		if (q && !p->more && !q->count_only && !filtered && read_rev > 0)
			store_delete_absent(s, q->key.data, q->key.len, q->range_end.data,
					    q->range_end.len, read_rev, read_rev, SRC_RANGE, r->c.ts);
		return;
	}
	case REC_WRITE: {
		const struct rec_write *w = &r->u.write;
		if (w->op == REC_OP_PUT) {
			int64_t ver = w->prev ? w->prev->version + 1 : 0;
			int64_t create = w->prev ? w->prev->create_revision : 0;
			struct store_key *k = store_put(s, w->key, w->key_len, w->revision, create, ver,
							w->lease, w->value, w->value_len, true,
							SRC_WRITE, r->c.ts);
			if (m && m->has_writer)
				store_set_writer(k, w->revision, m->writer.manager, m->writer.operation,
						 m->writer.subresource);
		} else if (!w->range_end_len) {
			store_delete(s, w->key, w->key_len, w->revision, SRC_WRITE, r->c.ts);
		} else {
			/* A range delete whose keys the response did not list (no prev_kv): every
			 * key known live in the range before this revision is gone. */
			store_mark_begin(s);
			store_delete_absent(s, w->key, w->key_len, w->range_end, w->range_end_len,
					    w->revision, w->revision - 1, SRC_WRITE, r->c.ts);
		}
		return;
	}
	case REC_WATCH_EVENT: {
		const Mvccpb__KeyValue *kv = r->u.ev.kv;
		struct store_key *k;
		if (r->u.ev.type == REC_OP_DELETE) {
			store_delete(s, kv->key.data, kv->key.len, kv->mod_revision, SRC_WATCH, r->c.ts);
			return;
		}
		k = store_put(s, kv->key.data, kv->key.len, kv->mod_revision, kv->create_revision,
			      kv->version, kv->lease, kv->value.data, kv->value.len, true, SRC_WATCH,
			      r->c.ts);
		if (m && m->has_writer)
			store_set_writer(k, kv->mod_revision, m->writer.manager, m->writer.operation,
					 m->writer.subresource);
		return;
	}
	default:
		return;
	}
}

static bool conn_confirmed(const struct app *a, uint64_t id)
{
	for (size_t i = a->nconfirmed; i-- > 0;)
		if (a->confirmed[i] == id)
			return true;
	return false;
}

/* The server port of a record's connection ("CLIENT:PORT-SERVER:PORT"), 0 if unknown. */
static long record_server_port(const struct etcd_record *r)
{
	const char *colon = r->c.conn ? strrchr(r->c.conn, ':') : NULL;
	return colon ? strtol(colon + 1, NULL, 10) : 0;
}

static bool port_found(const struct app *a, long port)
{
	for (int i = 0; i < a->nfound_ports; i++)
		if (a->found_ports[i] == port)
			return true;
	return false;
}

/* -p auto: remembers that conn speaks etcd and which server port it uses. */
static void conn_confirm(struct app *a, const struct etcd_record *r)
{
	if (conn_confirmed(a, r->c.conn_id))
		return;
	if (a->nconfirmed == a->capconfirmed) {
		size_t ncap = a->capconfirmed ? a->capconfirmed * 2 : 64;
		uint64_t *n = realloc(a->confirmed, ncap * sizeof *n);
		if (!n)
			return;
		a->confirmed = n;
		a->capconfirmed = ncap;
	}
	a->confirmed[a->nconfirmed++] = r->c.conn_id;
	long port = record_server_port(r);
	if (port_found(a, port))
		return;
	if (port > 0 && a->nfound_ports < 16)
		a->found_ports[a->nfound_ports++] = (uint16_t)port;
}

/* -p auto: a notice from a connection not yet known to be etcd (a gap before its first
 * decoded message) is held until the connection proves to be etcd, then printed before
 * the record that proved it; notices of connections that never do are dropped (counted):
 * they were some other protocol's. At most HELD_MAX are held. */
#define HELD_MAX 256

struct held_notice {
	struct etcd_record r;
	char conn[64], what[32], detail[160], user_agent[64];
};

static void on_record(void *ctx, const struct etcd_record *r);

static void hold_notice(struct app *a, const struct etcd_record *r)
{
	if (!a->held)
		a->held = calloc(HELD_MAX, sizeof *a->held);
	if (!a->held || a->nheld == HELD_MAX) {
		a->unconfirmed_notices++;
		return;
	}
	struct held_notice *h = &a->held[a->nheld++];
	h->r = *r;
	snprintf(h->conn, sizeof h->conn, "%s", r->c.conn ? r->c.conn : "");
	snprintf(h->what, sizeof h->what, "%s", r->u.notice.what ? r->u.notice.what : "");
	snprintf(h->detail, sizeof h->detail, "%s", r->u.notice.detail ? r->u.notice.detail : "");
	snprintf(h->user_agent, sizeof h->user_agent, "%s", r->c.user_agent ? r->c.user_agent : "");
	h->r.c.conn = h->conn;
	h->r.c.user_agent = h->user_agent;
	h->r.u.notice.what = h->what;
	h->r.u.notice.detail = h->detail;
}

/* Emits (in order) and forgets the held notices of a connection just confirmed. */
static void release_held(struct app *a, uint64_t conn_id)
{
	size_t out = 0, n = a->nheld;
	struct held_notice *mine = NULL;
	size_t nmine = 0;
	for (size_t i = 0; i < n; i++)
		nmine += a->held[i].r.c.conn_id == conn_id;
	if (!nmine)
		return;
	mine = malloc(nmine * sizeof *mine);
	nmine = 0;
	for (size_t i = 0; i < n; i++) {
		if (a->held[i].r.c.conn_id != conn_id)
			a->held[out++] = a->held[i];
		else if (mine)
			mine[nmine++] = a->held[i];
	}
	a->nheld = out;
	for (size_t i = 0; i < nmine; i++) {
		struct held_notice *h = &mine[i];
		h->r.c.conn = h->conn; /* the copy moved: point at its own strings */
		h->r.c.user_agent = h->user_agent;
		h->r.u.notice.what = h->what;
		h->r.u.notice.detail = h->detail;
		on_record(a, &h->r);
	}
	free(mine);
}

/* A port was just found to serve etcd: the held notices of other connections to it are
 * etcd's too (their loss may have left nothing else to prove it). */
static void release_port(struct app *a, long port)
{
	for (size_t i = 0; i < a->nheld;) {
		struct etcd_record r = a->held[i].r;
		if (record_server_port(&r) != port || conn_confirmed(a, r.c.conn_id)) {
			i++;
			continue;
		}
		conn_confirm(a, &r);
		release_held(a, r.c.conn_id); /* removes it from held: rescan from the start */
		i = 0;
	}
}

/* Remembers the cluster a response header names. A capture of several clusters (two kind
 * clusters on one host, say) merges their keys in the store: the summary says so. */
static void note_cluster(struct app *a, const struct rec_header *h)
{
	if (!h->present || !h->cluster_id)
		return;
	int n = a->nclusters < 8 ? a->nclusters : 8;
	for (int i = 0; i < n; i++)
		if (a->cluster_ids[i] == h->cluster_id)
			return;
	if (a->nclusters < 8)
		a->cluster_ids[a->nclusters] = h->cluster_id;
	a->nclusters++;
}

static void on_record(void *ctx, const struct etcd_record *r)
{
	struct app *a = ctx;
	if (a->o->any_port && !conn_confirmed(a, r->c.conn_id)) {
		long port = record_server_port(r);
		if (r->c.kind != REC_NOTICE || port_found(a, port)) {
			bool new_port = !port_found(a, port);
			conn_confirm(a, r);
			release_held(a, r->c.conn_id);
			if (new_port)
				release_port(a, port);
		} else {
			hold_notice(a, r);
			return;
		}
	}
	if (r->c.kind == REC_RPC)
		note_cluster(a, &r->u.rpc.hdr);
	else if (r->c.kind == REC_WATCH_EVENT)
		note_cluster(a, &r->u.ev.hdr);
	switch (r->c.kind) {
	case REC_RPC: a->n.rpcs++; a->n.inferred += r->u.rpc.inferred; break;
	case REC_WRITE: a->n.writes++; break;
	case REC_WATCH: a->n.watch_ctl++; break;
	case REC_WATCH_EVENT: a->n.watch_events++; break;
	case REC_NOTICE: a->n.notices++; break;
	case REC_LIST: a->n.lists++; break;
	}
	int page = list_agg_feed(a->lists, r);
	struct meaning m;
	meaning_build(&a->mctx, r, &m);
	/* Pages 2.. are the pager's own; page 1 is not labelled housekeeping because, when it
	 * is printed, nothing yet tells it from a user's `etcdctl get --prefix --limit N`. */
	if (page) {
		m.list_page = page;
		if (page > 1 && !m.housekeeping)
			m.housekeeping = "list-page";
	}
	store_update(a, r, &m);
	a->cmd->on_record(a, r, &m);
	meaning_clear(&m);
	/* A LIST whose last page this was follows it, as its own record. */
	list_agg_flush(a->lists, on_record, a);
}

/* Store budget of trace, watch and writes unless --max-mem says otherwise. */
#define STREAMING_MAX_MEM (32ull << 20)

/* Bytes per direction held back while deciding which side of a mid-stream -p auto
 * connection is etcd; past this the tcp stage's port guess stands. */
#define SNIFF_MAX_BYTES (1u << 20)

/* After a gap, the decision waits at most this long (capture time) or this many held
 * pieces for evidence (the other side's bytes, or the port found on another connection)
 * before the tcp stage's guess stands: bytes cut by a short snapshot length make a gap
 * of every segment, and the first one came before any evidence. */
#define SNIFF_GAP_WAIT_US 1000000
#define SNIFF_MAX_CHUNKS 4096

/* A held piece: len bytes at off in the direction's buffer, or (len 0) a gap of missing. */
struct sniff_chunk {
	enum tcp_dir dir;
	ee_ts ts;
	size_t off, len;
	uint64_t missing;
};

/* What tcp's callbacks carry per connection: the etcd connection once the direction is
 * settled, the held-back bytes before. */
struct conn_shim {
	struct etcd_conn *ec;
	struct tcp_conn_info ci;
	bool decided, swapped;
	ee_ts open_ts;
	uint8_t *buf[2];
	size_t len[2];
	size_t sniff_from[2];     /* bytes since the direction's last gap start here */
	ee_ts first_gap_ts;       /* 0: no gap while undecided */
	struct sniff_chunk *chunks;
	size_t nchunks, capchunks;
};

static void info_swap(struct tcp_conn_info *ci)
{
	uint8_t ip[16];
	memcpy(ip, ci->cli_ip, 16);
	memcpy(ci->cli_ip, ci->srv_ip, 16);
	memcpy(ci->srv_ip, ip, 16);
	uint16_t port = ci->cli_port;
	ci->cli_port = ci->srv_port;
	ci->srv_port = port;
	char c[48], sv[48];
	capture_addr_str(ci->af, ci->cli_ip, c, sizeof c);
	capture_addr_str(ci->af, ci->srv_ip, sv, sizeof sv);
	if (ci->af == 6)
		snprintf(ci->name, sizeof ci->name, "[%s]:%u-[%s]:%u", c, ci->cli_port, sv, ci->srv_port);
	else
		snprintf(ci->name, sizeof ci->name, "%s:%u-%s:%u", c, ci->cli_port, sv, ci->srv_port);
}

static enum tcp_dir map_dir(const struct conn_shim *sh, enum tcp_dir dir)
{
	return sh->swapped ? (dir == TCP_C2S ? TCP_S2C : TCP_C2S) : dir;
}

/* Settles the direction, opens the etcd connection and replays what was held back. */
static void shim_decide(struct app *a, struct conn_shim *sh, bool swapped)
{
	sh->decided = true;
	sh->swapped = swapped;
	if (swapped)
		info_swap(&sh->ci);
	sh->ec = etcd_conn_open(a->dec, &sh->ci, sh->open_ts);
	for (size_t i = 0; sh->ec && i < sh->nchunks; i++) {
		const struct sniff_chunk *c = &sh->chunks[i];
		if (c->len)
			etcd_conn_data(sh->ec, map_dir(sh, c->dir), sh->buf[c->dir] + c->off, c->len,
				       c->ts);
		else
			etcd_conn_gap(sh->ec, map_dir(sh, c->dir), c->missing, c->ts);
	}
	free(sh->buf[0]);
	free(sh->buf[1]);
	free(sh->chunks);
	sh->buf[0] = sh->buf[1] = NULL;
	sh->chunks = NULL;
	sh->nchunks = sh->capchunks = 0;
}

static void *tcp_open(void *ctx, const struct tcp_conn_info *ci, ee_ts ts)
{
	struct app *a = ctx;
	struct conn_shim *sh = calloc(1, sizeof *sh);
	if (!sh)
		return NULL;
	sh->ci = *ci;
	sh->open_ts = ts;
	/* Only -p auto without a handshake needs the bytes to tell the sides apart. */
	if (!a->o->any_port || ci->saw_syn)
		shim_decide(a, sh, false);
	return sh;
}

/* No evidence in the bytes: a port already confirmed as etcd's on another connection
 * names the server; else the tcp stage's guess stands. */
static bool fallback_swap(const struct app *a, const struct conn_shim *sh)
{
	return port_found(a, sh->ci.cli_port);
}

/* Appends a held piece; false when out of memory or too many. */
static bool shim_chunk(struct conn_shim *sh, struct sniff_chunk c)
{
	if (sh->nchunks >= SNIFF_MAX_CHUNKS)
		return false;
	if (sh->nchunks == sh->capchunks) {
		size_t cap = sh->capchunks ? sh->capchunks * 2 : 16;
		struct sniff_chunk *nc = realloc(sh->chunks, cap * sizeof *nc);
		if (!nc)
			return false;
		sh->chunks = nc;
		sh->capchunks = cap;
	}
	sh->chunks[sh->nchunks++] = c;
	return true;
}

/* After a gap while undecided: decides when a port of this connection has been found
 * serving etcd elsewhere, or the wait is over. True when decided. */
static bool shim_after_gap(struct app *a, struct conn_shim *sh, ee_ts ts)
{
	if (port_found(a, sh->ci.cli_port) || port_found(a, sh->ci.srv_port) ||
	    ts - sh->first_gap_ts > SNIFF_GAP_WAIT_US) {
		shim_decide(a, sh, fallback_swap(a, sh));
		return true;
	}
	return false;
}

/* Holds bytes back until direction_sniff sees who sent them. */
static void shim_hold(struct app *a, struct conn_shim *sh, enum tcp_dir dir, const uint8_t *p,
		      size_t n, ee_ts ts)
{
	if (sh->len[dir] + n > SNIFF_MAX_BYTES) {
		shim_decide(a, sh, fallback_swap(a, sh));
		if (sh->ec)
			etcd_conn_data(sh->ec, map_dir(sh, dir), p, n, ts);
		return;
	}
	uint8_t *nb = realloc(sh->buf[dir], sh->len[dir] + n);
	if (nb)
		sh->buf[dir] = nb;
	if (!nb || !shim_chunk(sh, (struct sniff_chunk){dir, ts, sh->len[dir], n, 0})) {
		shim_decide(a, sh, sh->first_gap_ts ? fallback_swap(a, sh) : false);
		if (sh->ec)
			etcd_conn_data(sh->ec, map_dir(sh, dir), p, n, ts);
		return;
	}
	memcpy(nb + sh->len[dir], p, n);
	sh->len[dir] += n;
	/* the bytes since the direction's last gap: frames in them line up */
	enum dir_verdict v = direction_sniff(sh->buf[dir] + sh->sniff_from[dir],
					     sh->len[dir] - sh->sniff_from[dir]);
	if (v == DIR_FROM_SERVER)
		shim_decide(a, sh, dir == TCP_C2S);
	else if (v == DIR_FROM_CLIENT)
		shim_decide(a, sh, dir == TCP_S2C);
	else if (sh->first_gap_ts)
		(void)shim_after_gap(a, sh, ts);
}

static void tcp_data(void *ctx, void *user, enum tcp_dir dir, const uint8_t *p, size_t n, ee_ts ts)
{
	struct conn_shim *sh = user;
	if (!sh)
		return;
	if (!sh->decided)
		shim_hold(ctx, sh, dir, p, n, ts);
	else if (sh->ec)
		etcd_conn_data(sh->ec, map_dir(sh, dir), p, n, ts);
}

static void tcp_gap(void *ctx, void *user, enum tcp_dir dir, uint64_t missing, ee_ts ts)
{
	struct conn_shim *sh = user;
	if (!sh)
		return;
	if (!sh->decided) {
		if (!sh->first_gap_ts)
			sh->first_gap_ts = ts ? ts : 1;
		sh->sniff_from[dir] = sh->len[dir];
		if (shim_chunk(sh, (struct sniff_chunk){dir, ts, sh->len[dir], 0, missing})) {
			/* held, and replayed in its place when the sides are decided */
			(void)shim_after_gap(ctx, sh, ts);
			return;
		}
		shim_decide(ctx, sh, fallback_swap(ctx, sh));
	}
	if (sh->ec)
		etcd_conn_gap(sh->ec, map_dir(sh, dir), missing, ts);
}

static void tcp_close(void *ctx, void *user, enum tcp_close_reason why, ee_ts ts)
{
	struct app *a = ctx;
	struct conn_shim *sh = user;
	if (!sh)
		return;
	if (!sh->decided)
		shim_decide(a, sh, fallback_swap(a, sh));
	if (sh->ec) {
		/* gRPC/HTTP/2 counters live per connection: collect them before it goes away. */
		etcd_conn_add_grpc_stats(sh->ec, &a->gstats);
		etcd_conn_close(sh->ec, why, ts);
	}
	free(sh);
}

/* Default BPF: the etcd ports, or all TCP for -p auto. */
static char *default_filter(const struct cli_opts *o)
{
	if (o->bpf)
		return strdup(o->bpf);
	if (o->any_port)
		return strdup("tcp");
	char *f = malloc(32 + 16 * (size_t)o->n_ports);
	if (!f)
		return NULL;
	strcpy(f, "tcp and (");
	for (int i = 0; i < o->n_ports; i++)
		sprintf(f + strlen(f), "%sport %u", i ? " or " : "", o->ports[i]);
	strcat(f, ")");
	return f;
}

static void print_summary(struct app *a)
{
	struct capture_stats cs;
	struct tcp_stats ts;
	struct etcd_stats es;
	capture_get_stats(a->cap, &cs);
	tcp_table_get_stats(a->tcp, &ts);
	etcd_decoder_get_stats(a->dec, &es);
	const struct grpc_stats gs = a->gstats;
	if (a->o->json && a->cmd->streaming) {
		struct jw *w = &a->out.jw;
		jw_reset(w);
		jw_obj_begin(w);
		jw_kstr(w, "kind", "summary");
		jw_ku64(w, "packets", cs.packets);
		jw_ku64(w, "bytes", cs.bytes);
		jw_ku64(w, "tcp_segments", cs.tcp);
		jw_ku64(w, "malformed_packets", cs.malformed);
		jw_ku64(w, "truncated_packets", cs.truncated);
		jw_ku64(w, "connections", ts.conns);
		jw_ku64(w, "connections_midstream", ts.conns_midstream);
		jw_ku64(w, "streams", gs.streams);
		jw_ku64(w, "messages", es.messages);
		jw_ku64(w, "rpcs", es.rpcs);
		jw_ku64(w, "inferred", es.inferred);
		jw_ku64(w, "undecodable", es.undecodable);
		jw_ku64(w, "watch_events", es.watch_events);
		jw_ku64(w, "gaps", ts.gaps);
		jw_ku64(w, "gap_bytes", ts.gap_bytes);
		jw_ku64(w, "resyncs", gs.h2.resyncs);
		jw_ku64(w, "hpack_errors", gs.h2.hpack_errors);
		jw_ku64(w, "bad_frames", gs.h2.bad_frames);
		jw_ku64(w, "header_blocks_cut", gs.h2.header_blocks_cut);
		jw_ku64(w, "limit_skips", gs.h2.limit_skips);
		jw_ku64(w, "status_inferred", gs.status_inferred);
		jw_ku64(w, "oversize_messages", gs.oversize);
		jw_ku64(w, "decompress_errors", gs.decompress_errors);
		jw_ku64(w, "acked_holes", ts.acked_holes);
		jw_ki64(w, "clusters", a->nclusters);
		jw_key(w, "drops");
		if (cs.drops_known)
			jw_u64(w, cs.drops);
		else
			jw_null(w);
		jw_obj_end(w);
		out_json_emit(&a->out);
	}
	if (a->o->quiet)
		return;
	fflush(a->out.f);
	fprintf(stderr,
		"etcd-explorer: %" PRIu64 " packets (%" PRIu64 " bytes), %" PRIu64 " connections (%" PRIu64
		" joined mid-stream), %" PRIu64 " streams, %" PRIu64 " messages, %" PRIu64 " RPCs (%" PRIu64
		" inferred), %" PRIu64 " watch events, %" PRIu64 " undecodable, %" PRIu64 " gaps (%" PRIu64
		" bytes), %" PRIu64 " resyncs",
		cs.packets, cs.bytes, ts.conns, ts.conns_midstream, gs.streams, es.messages, es.rpcs,
		es.inferred, es.watch_events, es.undecodable, ts.gaps, ts.gap_bytes, gs.h2.resyncs);
	if (cs.malformed || cs.truncated)
		fprintf(stderr, ", %" PRIu64 " malformed and %" PRIu64 " truncated packets", cs.malformed,
			cs.truncated);
	/* Trouble that is zero in a clean capture is named only when it happened. */
	if (gs.h2.bad_frames || gs.h2.hpack_errors || gs.h2.header_blocks_cut)
		fprintf(stderr,
			", %" PRIu64 " bad HTTP/2 frames, %" PRIu64 " HPACK errors, %" PRIu64
			" header blocks cut",
			gs.h2.bad_frames, gs.h2.hpack_errors, gs.h2.header_blocks_cut);
	if (gs.h2.limit_skips || gs.oversize || gs.decompress_errors)
		fprintf(stderr,
			", limits: %" PRIu64 " header blocks and %" PRIu64
			" messages over the size limits, %" PRIu64 " messages that failed to decompress",
			gs.h2.limit_skips, gs.oversize, gs.decompress_errors);
	if (cs.drops_known)
		fprintf(stderr, ", %" PRIu64 " dropped by the kernel", cs.drops);
	fputc('\n', stderr);
	if (a->o->any_port) {
		fprintf(stderr, "etcd-explorer: etcd found on port%s", a->nfound_ports == 1 ? "" : "s");
		for (int i = 0; i < a->nfound_ports; i++)
			fprintf(stderr, "%s%u", i ? ", " : " ", a->found_ports[i]);
		if (!a->nfound_ports)
			fprintf(stderr, ": none");
		if (a->unconfirmed_notices)
			fprintf(stderr, " (%" PRIu64 " loss notices of connections never seen to carry"
				" etcd not shown)", a->unconfirmed_notices);
		fputc('\n', stderr);
	}
	if (a->nclusters > 1) {
		fprintf(stderr, "etcd-explorer: %d etcd clusters in this capture (cluster_id", a->nclusters);
		for (int i = 0; i < a->nclusters && i < 8; i++)
			fprintf(stderr, "%s%" PRIx64, i ? ", " : " ", a->cluster_ids[i]);
		fprintf(stderr, "): list, count, get, search and diffs mix their keys; look at one with"
				" a filter, e.g. -- 'tcp port PORT and host ADDR'\n");
	}
	struct store_stats ss;
	store_get_stats(a->store, &ss);
	if (ss.dropped_values)
		fprintf(stderr,
			"etcd-explorer: memory budget (--max-mem %" PRIu64 " MiB) reached: %" PRIu64
			" stored values (%" PRIu64 " bytes) dropped, oldest first\n",
			ss.budget >> 20, ss.dropped_values, ss.dropped_bytes);
	if (ss.evicted_keys)
		fprintf(stderr,
			"etcd-explorer: memory budget (--max-mem %" PRIu64 " MiB) reached: %" PRIu64
			" keys forgotten, least recently changed first\n",
			ss.budget >> 20, ss.evicted_keys);
}

static void tick_conn(void *ctx, void *user)
{
	struct app *a = ctx;
	struct conn_shim *sh = user;
	if (sh->ec)
		etcd_conn_tick(sh->ec, a->tick_now);
}

/* Once a second of capture time, and when a live capture is quiet: TCP's timers, then
 * whatever the decoders hold waiting for a request that did not come. */
static void app_tick(struct app *a, ee_ts now)
{
	tcp_table_expire(a->tcp, now);
	a->tick_now = now;
	tcp_table_foreach(a->tcp, tick_conn, a);
}

static int run_loop(struct app *a)
{
	char err[512];
	struct cap_packet pkt;
	uint64_t packets = 0;
	ee_ts start_wall = wall_now(), next_expire = 0;
	for (;;) {
		int rc = capture_next(a->cap, &pkt, err, sizeof err);
		if (rc == 0)
			break;
		if (rc < 0) {
			fprintf(stderr, "etcd-explorer: %s\n", err);
			return 1;
		}
		if (rc == 2) { /* live read timeout: housekeeping */
			if (a->o->duration_us && wall_now() - start_wall >= a->o->duration_us)
				break;
			/* a quiet connection's held bytes (mid-stream start) go out now */
			app_tick(a, wall_now());
			fflush(a->out.f);
			continue;
		}
		if (!a->first_ts)
			a->first_ts = pkt.ts;
		if (pkt.ts > a->last_ts)
			a->last_ts = pkt.ts;
		if (a->o->duration_us && pkt.ts - a->first_ts >= a->o->duration_us)
			break;
		tcp_table_feed(a->tcp, &pkt);
		if (pkt.ts >= next_expire) {
			app_tick(a, pkt.ts);
			next_expire = pkt.ts + 1000000;
		}
		if (a->o->max_packets && ++packets >= a->o->max_packets)
			break;
		if (a->live && a->o->duration_us && wall_now() - start_wall >= a->o->duration_us)
			break;
	}
	return 0;
}

int app_main(struct cli_opts *o)
{
	struct app a;
	memset(&a, 0, sizeof a);
	a.o = o;
	a.cmd = command_lookup(o->command);
	if (!a.cmd) {
		fprintf(stderr, "etcd-explorer: command '%s' is not available\n", o->command);
		return 2;
	}
	char err[512] = "";
	int rc;
	if (o->read_file) {
		rc = capture_open_offline(&a.cap, o->read_file, err, sizeof err);
	} else {
		rc = capture_open_live(&a.cap, o->iface, o->buffer_bytes, err, sizeof err);
		a.live = true;
	}
	if (rc < 0) {
		fprintf(stderr, "etcd-explorer: %s\n", err);
		return 1;
	}
	char *filter = default_filter(o);
	if (!filter || capture_set_filter(a.cap, filter, err, sizeof err) < 0) {
		fprintf(stderr, "etcd-explorer: %s\n", filter ? err : "out of memory");
		free(filter);
		capture_close(a.cap);
		return o->bpf ? 2 : 1;
	}
	free(filter);
	if (!o->bpf)
		capture_set_default_ports(a.cap, o->ports, o->any_port ? 0 : o->n_ports);
	if (o->write_file && capture_dump_open(a.cap, o->write_file, err, sizeof err) < 0) {
		fprintf(stderr, "etcd-explorer: %s\n", err);
		capture_close(a.cap);
		return 1;
	}
	out_init(&a.out, stdout, o, a.live);
	if (!a.live)
		setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	grpc_set_max_message((uint32_t)o->max_message); /* 0: the default */
	/* Streaming commands keep values only to diff the next write of a key: a smaller
	 * budget keeps their memory flat on long captures (docs/performance.md). */
	if (a.cmd->streaming && !o->max_mem_set)
		o->max_mem = STREAMING_MAX_MEM;
	a.store = store_new(o->max_mem);
	a.mctx.o = o;
	a.mctx.store = a.store;
	a.mctx.keys_only = a.cmd->keys_only;
	/* decoded values and diffs shared by the records that carry the same version; commands
	 * that decode no values need none */
	if (!a.cmd->keys_only)
		a.mctx.cache = objcache_new(0, 0);
	struct etcd_sink sink = {.ctx = &a, .on_record = on_record};
	a.dec = etcd_decoder_new(&sink);
	struct tcp_config tc = {
		.server_ports = o->ports,
		.n_server_ports = o->n_ports,
		.any_port = o->any_port,
	};
	struct tcp_callbacks cb = {
		.ctx = &a, .on_open = tcp_open, .on_data = tcp_data, .on_gap = tcp_gap, .on_close = tcp_close,
	};
	a.tcp = tcp_table_new(&tc, &cb);
	a.lists = list_agg_new();
	if (!a.store || !a.dec || !a.tcp || !a.lists) {
		fprintf(stderr, "etcd-explorer: out of memory\n");
		return 1;
	}
	if (a.cmd->start && a.cmd->start(&a) < 0)
		return 1;
	g_cap = a.cap;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (a.live && !o->quiet)
		fprintf(stderr, "etcd-explorer: capturing on %s (%s), Ctrl-C to stop\n", o->iface,
			capture_linktype_name(a.cap));

	rc = run_loop(&a);
	tcp_table_finish(a.tcp, a.last_ts ? a.last_ts : wall_now());
	list_agg_finish(a.lists, on_record, &a);
	if (a.cmd->finish)
		a.cmd->finish(&a);
	a.unconfirmed_notices += a.nheld; /* never shown to carry etcd */
	a.nheld = 0;
	print_summary(&a);
	g_cap = NULL;
	if (a.cmd->free_state)
		a.cmd->free_state(&a);
	tcp_table_free(a.tcp);
	list_agg_free(a.lists);
	etcd_decoder_free(a.dec);
	store_free(a.store);
	objcache_free(a.mctx.cache);
	free(a.confirmed);
	free(a.held);
	out_free(&a.out);
	capture_close(a.cap);
	pool_release(); /* the blocks kept for reuse (pool.h) */
	return rc;
}
