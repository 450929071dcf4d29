/* app.h: ties the pipeline together for one run: capture -> tcp -> etcd (grpc, h2, hpack
 * inside) -> records -> meaning -> store -> the command (trace, a report ...). */
#ifndef EE_APP_H
#define EE_APP_H

#include <stdbool.h>
#include <stdint.h>

#include "cli.h"
#include "grpc.h"
#include "list_agg.h"
#include "meaning.h"
#include "out.h"
#include "record.h"
#include "store.h"

struct app;

/* A command: sees every record (after meaning and store update) and prints at the end. */
struct command_ops {
	const char *name;
	bool streaming;   /* prints as records arrive (trace, watch, writes) */
	bool keys_only;   /* needs keys and housekeeping labels, never decoded values, writers
			   * or diffs: meaning_build skips the value work (the hot path) */
	int (*start)(struct app *a);
	void (*on_record)(struct app *a, const struct etcd_record *r, const struct meaning *m);
	void (*finish)(struct app *a);
	void (*free_state)(struct app *a);
};

struct app_counts {
	uint64_t rpcs, writes, watch_ctl, watch_events, notices, inferred, lists;
};

struct app {
	struct cli_opts *o;
	struct out out;
	struct store *store;
	struct meaning_ctx mctx;
	const struct command_ops *cmd;
	void *cmd_state;
	bool live;
	ee_ts first_ts, last_ts;
	struct app_counts n;
	struct capture *cap;
	struct tcp_table *tcp;
	struct etcd_decoder *dec;
	struct list_agg *lists;   /* joins paginated LIST pages (list_agg.h) */
	struct grpc_stats gstats; /* summed over closed connections */
	/* -p auto: connections confirmed as etcd (a record other than a notice came from them)
	 * and the server ports found. Notices of unconfirmed connections are not etcd's. */
	uint64_t *confirmed;
	size_t nconfirmed, capconfirmed;
	uint16_t found_ports[16];
	int nfound_ports;
	uint64_t unconfirmed_notices;  /* dropped: their connection never proved to be etcd */
	/* etcd clusters seen in response headers (the key store does not tell them apart) */
	uint64_t cluster_ids[8];
	int nclusters;                 /* up to 8 remembered; more are counted in nclusters */
	ee_ts tick_now;                /* app_tick's clock, for its per-connection callback */
	struct held_notice *held;      /* notices of unconfirmed connections (app.c) */
	size_t nheld;
};

/* Runs the whole pipeline for the parsed options; returns the process exit code. */
int app_main(struct cli_opts *o);

/* True when r passes the user's filters (--resource, --namespace, --name, --manager,
 * --key-prefix, --writes, --no-housekeeping). */
bool app_filter_pass(const struct app *a, const struct etcd_record *r, const struct meaning *m);

/* The key bytes a record is about: a write's or event's key, a watch's start key, an RPC
 * request's key (a Txn's first compare); NULL when it has none. */
const uint8_t *app_record_key(const struct etcd_record *r, size_t *len);

/* Commands (src/cmd_*.c). */
const struct command_ops *command_lookup(const char *name);

#endif
