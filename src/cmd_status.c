/* cmd_status.c: the cluster reports: status (endpoints, cluster, rates, latency, errors,
 * verdict), members (MemberList or member ids seen) and size (Status db size + bytes seen). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "etcd.h"

/* Latency samples kept per method for percentiles (a uniform reservoir past this). */
#define STATUS_MAX_SAMPLES 65536
#define STATUS_MAX_NAMES 64
#define STATUS_MAX_ERRORS 32
/* etcd warns about requests slower than 100 ms ("apply request took too long"). */
#define SLOW_P99_US 100000

struct method_stats {
	uint64_t count, answered;
	int64_t *lat;
	size_t nlat, cap;
	uint64_t seen;
};

struct error_stats {
	int code;
	char msg[160];
	uint64_t count;
};

struct status_state {
	struct method_stats m[EM__COUNT];
	char servers[STATUS_MAX_NAMES][64], clients[STATUS_MAX_NAMES][64];
	int nservers, nclients;
	uint64_t member_ids[STATUS_MAX_NAMES];
	int nmembers;
	uint64_t cluster_id, raft_term;
	int64_t revision;
	bool have_status;
	char version[32];
	int64_t db_size, db_size_in_use;
	uint64_t leader;
	struct {
		uint64_t id;
		char name[64], peer[256], client[256];
		bool learner;
	} mem[STATUS_MAX_NAMES];
	int nmem;
	bool have_memberlist;
	struct error_stats err[STATUS_MAX_ERRORS];
	int nerr;
	uint64_t errors, watch_created, watch_canceled, watch_events;
	uint64_t rng;
};

static void add_name(char names[][64], int *n, const char *s, size_t len)
{
	if (len >= 64)
		len = 63;
	for (int i = 0; i < *n; i++)
		if (strlen(names[i]) == len && !memcmp(names[i], s, len))
			return;
	if (*n >= STATUS_MAX_NAMES)
		return;
	memcpy(names[*n], s, len);
	names[*n][len] = 0;
	(*n)++;
}

static void add_member_id(struct status_state *s, uint64_t id)
{
	for (int i = 0; i < s->nmembers; i++)
		if (s->member_ids[i] == id)
			return;
	if (s->nmembers < STATUS_MAX_NAMES)
		s->member_ids[s->nmembers++] = id;
}

static void add_latency(struct status_state *s, struct method_stats *m, int64_t us)
{
	m->seen++;
	if (m->nlat < STATUS_MAX_SAMPLES) {
		if (m->nlat == m->cap) {
			size_t ncap = m->cap ? m->cap * 2 : 64;
			int64_t *nl = realloc(m->lat, ncap * sizeof *nl);
			if (!nl)
				return;
			m->lat = nl;
			m->cap = ncap;
		}
		m->lat[m->nlat++] = us;
		return;
	}
	s->rng = s->rng * 6364136223846793005ull + 1442695040888963407ull;
	uint64_t j = (s->rng >> 11) % m->seen;
	if (j < STATUS_MAX_SAMPLES)
		m->lat[j] = us;
}

static void status_record(struct app *a, const struct etcd_record *r, const struct meaning *mn)
{
	struct status_state *s = a->cmd_state;
	if (r->c.conn) {
		const char *dash = strchr(r->c.conn, '-');
		if (dash) {
			add_name(s->clients, &s->nclients, r->c.conn, (size_t)(dash - r->c.conn));
			add_name(s->servers, &s->nservers, dash + 1, strlen(dash + 1));
		}
	}
	const struct rec_header *h = NULL;
	if (r->c.kind == REC_RPC)
		h = &r->u.rpc.hdr;
	else if (r->c.kind == REC_WATCH)
		h = &r->u.watch.hdr;
	else if (r->c.kind == REC_WATCH_EVENT)
		h = &r->u.ev.hdr;
	if (h && h->present) {
		s->cluster_id = h->cluster_id;
		add_member_id(s, h->member_id);
		if (h->revision > s->revision)
			s->revision = h->revision;
		if (h->raft_term > s->raft_term)
			s->raft_term = h->raft_term;
	}
	if (r->c.kind == REC_WATCH) {
		s->watch_created += r->u.watch.event == RW_CREATED;
		s->watch_canceled += r->u.watch.event == RW_CANCELED;
	}
	s->watch_events += r->c.kind == REC_WATCH_EVENT;
	if (r->c.kind != REC_RPC)
		return;
	const struct rec_rpc *rpc = &r->u.rpc;
	struct method_stats *m = &s->m[rpc->m->method];
	m->count++;
	if (rpc->status >= 0 || rpc->resp)
		m->answered++;
	if (rpc->latency_us >= 0)
		add_latency(s, m, rpc->latency_us);
	if (rpc->status > 0) {
		s->errors++;
		int i;
		for (i = 0; i < s->nerr; i++)
			if (s->err[i].code == rpc->status && !strcmp(s->err[i].msg, rpc->status_message ? rpc->status_message : ""))
				break;
		if (i == s->nerr && s->nerr < STATUS_MAX_ERRORS) {
			s->err[i].code = rpc->status;
			snprintf(s->err[i].msg, sizeof s->err[i].msg, "%s", rpc->status_message ? rpc->status_message : "");
			s->nerr++;
		}
		if (i < s->nerr)
			s->err[i].count++;
	}
	if (rpc->m->method == EM_STATUS && rpc->resp) {
		const Etcdserverpb__StatusResponse *p = (const void *)rpc->resp;
		s->have_status = true;
		snprintf(s->version, sizeof s->version, "%s", p->version ? p->version : "");
		s->db_size = p->dbsize;
		s->db_size_in_use = p->dbsizeinuse;
		s->leader = p->leader;
	}
	if (rpc->m->method == EM_MEMBER_LIST && rpc->resp) {
		const Etcdserverpb__MemberListResponse *p = (const void *)rpc->resp;
		s->have_memberlist = true;
		s->nmem = 0;
		for (size_t i = 0; i < p->n_members && s->nmem < STATUS_MAX_NAMES; i++) {
			const Etcdserverpb__Member *mb = p->members[i];
			s->mem[s->nmem].id = mb->id;
			snprintf(s->mem[s->nmem].name, sizeof s->mem[0].name, "%s", mb->name ? mb->name : "");
			s->mem[s->nmem].peer[0] = s->mem[s->nmem].client[0] = 0;
			for (size_t j = 0; j < mb->n_peerurls; j++) {
				size_t l = strlen(s->mem[s->nmem].peer);
				snprintf(s->mem[s->nmem].peer + l, sizeof s->mem[0].peer - l, "%s%s", j ? "," : "", mb->peerurls[j]);
			}
			for (size_t j = 0; j < mb->n_clienturls; j++) {
				size_t l = strlen(s->mem[s->nmem].client);
				snprintf(s->mem[s->nmem].client + l, sizeof s->mem[0].client - l, "%s%s", j ? "," : "", mb->clienturls[j]);
			}
			s->mem[s->nmem].learner = mb->islearner;
			s->nmem++;
		}
	}
}

static int cmp_i64(const void *x, const void *y)
{
	int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
	return a < b ? -1 : a > b;
}

static int64_t pct(struct method_stats *m, double p)
{
	if (!m->nlat)
		return -1;
	size_t i = (size_t)(p * (double)(m->nlat - 1) + 0.5);
	return m->lat[i];
}

static int status_start(struct app *a)
{
	a->cmd_state = calloc(1, sizeof(struct status_state));
	return a->cmd_state ? 0 : -1;
}

static void status_free(struct app *a)
{
	struct status_state *s = a->cmd_state;
	if (!s)
		return;
	for (int i = 0; i < EM__COUNT; i++)
		free(s->m[i].lat);
	free(s);
	a->cmd_state = NULL;
}

/* The one-line verdict and the rule that made it. */
static const char *verdict(struct status_state *s, char *rule, size_t n)
{
	uint64_t total = 0, answered = 0;
	int64_t worst = -1;
	const char *worst_m = "";
	for (int i = 1; i < EM__COUNT; i++) {
		struct method_stats *m = &s->m[i];
		total += m->count;
		answered += m->answered;
		if (i == EM_WATCH || i == EM_LEASE_KEEPALIVE || i == EM_SNAPSHOT || !m->nlat)
			continue;
		int64_t p99 = pct(m, 0.99);
		if (p99 > worst) {
			worst = p99;
			worst_m = etcd_method_info((enum etcd_method)i)->name;
		}
	}
	if (!total) {
		snprintf(rule, n, "no etcd RPC was seen on the wire");
		return "no traffic";
	}
	if (!answered) {
		snprintf(rule, n, "%" PRIu64 " requests, none answered in the capture", total);
		return "no responses";
	}
	if (s->errors * 100 > total) {
		snprintf(rule, n, "%" PRIu64 " of %" PRIu64 " RPCs failed (more than 1%%)", s->errors, total);
		return "errors";
	}
	if (worst > SLOW_P99_US) {
		snprintf(rule, n, "%s p99 latency %.1f ms is above %d ms", worst_m, (double)worst / 1000.0,
			 SLOW_P99_US / 1000);
		return "slow";
	}
	snprintf(rule, n, "every method's p99 under %d ms, errors at most 1%% (%" PRIu64 " of %" PRIu64 ")",
		 SLOW_P99_US / 1000, s->errors, total);
	return "healthy";
}

static void status_finish(struct app *a)
{
	struct status_state *s = a->cmd_state;
	double secs = a->last_ts > a->first_ts ? (double)(a->last_ts - a->first_ts) / 1e6 : 0;
	for (int i = 0; i < EM__COUNT; i++)
		if (s->m[i].nlat)
			qsort(s->m[i].lat, s->m[i].nlat, sizeof(int64_t), cmp_i64);
	char rule[256];
	const char *v = verdict(s, rule, sizeof rule);
	struct out *o = &a->out;
	if (a->o->json) {
		struct jw *w = &o->jw;
		jw_reset(w);
		jw_obj_begin(w);
		jw_key(w, "endpoints");
		jw_arr_begin(w);
		for (int i = 0; i < s->nservers; i++)
			jw_str(w, s->servers[i]);
		jw_arr_end(w);
		jw_key(w, "clients");
		jw_arr_begin(w);
		for (int i = 0; i < s->nclients; i++)
			jw_str(w, s->clients[i]);
		jw_arr_end(w);
		jw_ku64(w, "cluster_id", s->cluster_id);
		jw_key(w, "member_ids");
		jw_arr_begin(w);
		for (int i = 0; i < s->nmembers; i++)
			jw_u64(w, s->member_ids[i]);
		jw_arr_end(w);
		jw_ki64(w, "revision", s->revision);
		jw_ku64(w, "raft_term", s->raft_term);
		jw_key(w, "leader");
		if (s->have_status) jw_u64(w, s->leader); else jw_null(w);
		jw_key(w, "version");
		if (s->have_status) jw_str(w, s->version); else jw_null(w);
		jw_key(w, "db_size");
		if (s->have_status) jw_i64(w, s->db_size); else jw_null(w);
		jw_key(w, "db_size_in_use");
		if (s->have_status) jw_i64(w, s->db_size_in_use); else jw_null(w);
		jw_key(w, "duration_s");
		char d[32];
		int dl = snprintf(d, sizeof d, "%.3f", secs);
		jw_raw(w, d, (size_t)dl);
		jw_key(w, "methods");
		jw_arr_begin(w);
		for (int i = 0; i < EM__COUNT; i++) {
			struct method_stats *m = &s->m[i];
			if (!m->count)
				continue;
			const struct etcd_method_info *mi = etcd_method_info((enum etcd_method)i);
			jw_obj_begin(w);
			jw_kstr(w, "service", mi->service_name);
			jw_kstr(w, "method", mi->name);
			jw_ku64(w, "count", m->count);
			char rate[32];
			int rl = snprintf(rate, sizeof rate, "%.3f", secs > 0 ? (double)m->count / secs : 0.0);
			jw_key(w, "per_second");
			jw_raw(w, rate, (size_t)rl);
			jw_key(w, "p50_us");
			if (m->nlat) jw_i64(w, pct(m, 0.5)); else jw_null(w);
			jw_key(w, "p99_us");
			if (m->nlat) jw_i64(w, pct(m, 0.99)); else jw_null(w);
			jw_obj_end(w);
		}
		jw_arr_end(w);
		jw_key(w, "errors");
		jw_arr_begin(w);
		for (int i = 0; i < s->nerr; i++) {
			jw_obj_begin(w);
			jw_ki64(w, "code", s->err[i].code);
			jw_kstr(w, "message", s->err[i].msg);
			jw_ku64(w, "count", s->err[i].count);
			jw_obj_end(w);
		}
		jw_arr_end(w);
		jw_ku64(w, "watches_created", s->watch_created);
		jw_ku64(w, "watches_canceled", s->watch_canceled);
		jw_ku64(w, "watch_events", s->watch_events);
		jw_kstr(w, "verdict", v);
		jw_kstr(w, "verdict_rule", rule);
		jw_obj_end(w);
		out_json_emit(o);
		return;
	}
	out_tprintf(o, "verdict:     %s (%s)", v, rule);
	out_temit(o);
	out_tprintf(o, "endpoints:  ");
	for (int i = 0; i < s->nservers; i++)
		out_tprintf(o, " %s", s->servers[i]);
	out_temit(o);
	out_tprintf(o, "clients:    ");
	for (int i = 0; i < s->nclients; i++)
		out_tprintf(o, " %s", s->clients[i]);
	out_temit(o);
	out_tprintf(o, "cluster_id:  %" PRIx64 "   members seen:", s->cluster_id);
	for (int i = 0; i < s->nmembers; i++)
		out_tprintf(o, " %" PRIx64, s->member_ids[i]);
	out_temit(o);
	out_tprintf(o, "revision:    %" PRId64 "   raft_term: %" PRIu64, s->revision, s->raft_term);
	out_temit(o);
	if (s->have_status)
		out_tprintf(o, "etcd:        version %s, leader %" PRIx64 ", db %" PRId64 " B (%" PRId64 " B in use)",
			    s->version, s->leader, s->db_size, s->db_size_in_use);
	else
		out_tprintf(o, "etcd:        no Status response in the capture (version, leader, db size unknown)");
	out_temit(o);
	out_tprintf(o, "watches:     %" PRIu64 " created, %" PRIu64 " canceled, %" PRIu64 " events delivered",
		    s->watch_created, s->watch_canceled, s->watch_events);
	out_temit(o);
	out_tprintf(o, "over %.1f s of capture:", secs);
	out_temit(o);
	out_tprintf(o, "  %-26s %8s %9s %10s %10s", "method", "count", "per sec", "p50 ms", "p99 ms");
	out_temit(o);
	for (int i = 0; i < EM__COUNT; i++) {
		struct method_stats *m = &s->m[i];
		if (!m->count)
			continue;
		const struct etcd_method_info *mi = etcd_method_info((enum etcd_method)i);
		char name[64];
		snprintf(name, sizeof name, "%s/%s", mi->service_name, mi->name);
		out_tprintf(o, "  %-26s %8" PRIu64 " %9.2f", name, m->count, secs > 0 ? (double)m->count / secs : 0.0);
		if (m->nlat)
			out_tprintf(o, " %10.3f %10.3f", (double)pct(m, 0.5) / 1000.0, (double)pct(m, 0.99) / 1000.0);
		else
			out_tprintf(o, " %10s %10s", "-", "-");
		out_temit(o);
	}
	if (s->nerr) {
		out_tprintf(o, "errors:");
		out_temit(o);
		for (int i = 0; i < s->nerr; i++) {
			out_tprintf(o, "  %6" PRIu64 " x %d %s \"%s\"", s->err[i].count, s->err[i].code,
				    out_grpc_code_name(s->err[i].code), s->err[i].msg);
			out_temit(o);
		}
	}
}

static void members_finish(struct app *a)
{
	struct status_state *s = a->cmd_state;
	struct out *o = &a->out;
	if (a->o->json) {
		for (int i = 0; i < (s->have_memberlist ? s->nmem : s->nmembers); i++) {
			struct jw *w = &o->jw;
			jw_reset(w);
			jw_obj_begin(w);
			if (s->have_memberlist) {
				jw_ku64(w, "id", s->mem[i].id);
				jw_kstr(w, "name", s->mem[i].name);
				/* comma-joined in the state; split back into arrays */
				const char *lists[2] = {s->mem[i].peer, s->mem[i].client};
				const char *names[2] = {"peer_urls", "client_urls"};
				for (int l = 0; l < 2; l++) {
					jw_key(w, names[l]);
					jw_arr_begin(w);
					const char *p = lists[l];
					while (*p) {
						const char *c = strchr(p, ',');
						size_t len = c ? (size_t)(c - p) : strlen(p);
						jw_strn(w, (const uint8_t *)p, len);
						p += len + (c ? 1 : 0);
					}
					jw_arr_end(w);
				}
				jw_kbool(w, "is_learner", s->mem[i].learner);
			} else {
				jw_ku64(w, "id", s->member_ids[i]);
				jw_kstr(w, "source", "response headers");
			}
			jw_obj_end(w);
			out_json_emit(o);
		}
		return;
	}
	if (s->have_memberlist) {
		out_tprintf(o, "%-16s %-20s %-8s %-40s %s", "ID", "NAME", "LEARNER", "PEER URLS", "CLIENT URLS");
		out_temit(o);
		for (int i = 0; i < s->nmem; i++) {
			out_tprintf(o, "%-16" PRIx64 " %-20s %-8s %-40s %s", s->mem[i].id, s->mem[i].name,
				    s->mem[i].learner ? "true" : "false", s->mem[i].peer, s->mem[i].client);
			out_temit(o);
		}
		return;
	}
	out_tprintf(o, "# no MemberList response in the capture; member ids seen in response headers:");
	out_temit(o);
	for (int i = 0; i < s->nmembers; i++) {
		out_tprintf(o, "%" PRIx64, s->member_ids[i]);
		out_temit(o);
	}
}

void keys_size_report(struct app *a, bool json_started);

static void size_finish(struct app *a)
{
	struct status_state *s = a->cmd_state;
	struct out *o = &a->out;
	if (a->o->json) {
		struct jw *w = &o->jw;
		jw_reset(w);
		jw_obj_begin(w);
		jw_key(w, "db_size");
		if (s->have_status) jw_i64(w, s->db_size); else jw_null(w);
		jw_key(w, "db_size_in_use");
		if (s->have_status) jw_i64(w, s->db_size_in_use); else jw_null(w);
		keys_size_report(a, true);
		jw_obj_end(w);
		out_json_emit(o);
		return;
	}
	if (s->have_status)
		out_tprintf(o, "db size: %" PRId64 " B (%" PRId64 " B in use), from Status", s->db_size, s->db_size_in_use);
	else
		out_tprintf(o, "db size: unknown (no Status response in the capture)");
	out_temit(o);
	keys_size_report(a, false);
}

const struct command_ops cmd_status = {.name = "status", .keys_only = true, .start = status_start, .on_record = status_record,
				       .finish = status_finish, .free_state = status_free};
const struct command_ops cmd_members = {.name = "members", .keys_only = true, .start = status_start, .on_record = status_record,
					.finish = members_finish, .free_state = status_free};
const struct command_ops cmd_size = {.name = "size", .keys_only = true, .start = status_start, .on_record = status_record,
				     .finish = size_finish, .free_state = status_free};
