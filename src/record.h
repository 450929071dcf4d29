/* record.h: what the etcd stage produces and every later stage (k8s, store, out) reads.
 * A record borrows its bytes and protobuf-c messages from the decoder until the sink
 * callback returns; a consumer that keeps anything copies it. */
#ifndef EE_RECORD_H
#define EE_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ee.h"
#include "kv.pb-c.h"
#include "rpc.pb-c.h"

enum etcd_service { ES_KV, ES_WATCH, ES_LEASE, ES_CLUSTER, ES_MAINTENANCE, ES_AUTH, ES_UNKNOWN };

enum etcd_method {
	EM_UNKNOWN = 0,
	/* KV */
	EM_RANGE, EM_PUT, EM_DELETE_RANGE, EM_TXN, EM_COMPACT,
	/* Watch */
	EM_WATCH,
	/* Lease */
	EM_LEASE_GRANT, EM_LEASE_REVOKE, EM_LEASE_KEEPALIVE, EM_LEASE_TIME_TO_LIVE, EM_LEASE_LEASES,
	/* Cluster */
	EM_MEMBER_ADD, EM_MEMBER_REMOVE, EM_MEMBER_UPDATE, EM_MEMBER_LIST, EM_MEMBER_PROMOTE,
	/* Maintenance */
	EM_ALARM, EM_STATUS, EM_DEFRAGMENT, EM_HASH, EM_HASH_KV, EM_SNAPSHOT, EM_MOVE_LEADER,
	EM_DOWNGRADE,
	/* Auth */
	EM_AUTH_ENABLE, EM_AUTH_DISABLE, EM_AUTH_STATUS, EM_AUTHENTICATE, EM_USER_ADD, EM_USER_GET,
	EM_USER_LIST, EM_USER_DELETE, EM_USER_CHANGE_PASSWORD, EM_USER_GRANT_ROLE,
	EM_USER_REVOKE_ROLE, EM_ROLE_ADD, EM_ROLE_GET, EM_ROLE_LIST, EM_ROLE_DELETE,
	EM_ROLE_GRANT_PERMISSION, EM_ROLE_REVOKE_PERMISSION,
	EM__COUNT
};

struct etcd_method_info {
	enum etcd_method method;
	enum etcd_service service;
	const char *service_name; /* "KV", "Watch", "Lease", "Cluster", "Maintenance", "Auth" */
	const char *name;         /* "Range", "LeaseGrant", "MemberList" ... */
	const char *path;         /* "/etcdserverpb.KV/Range" */
	const ProtobufCMessageDescriptor *req, *resp;
	bool client_streaming, server_streaming;
};

enum rec_kind { REC_RPC = 1, REC_WRITE, REC_WATCH, REC_WATCH_EVENT, REC_NOTICE, REC_LIST };

/* Present in every record. */
struct rec_common {
	enum rec_kind kind;
	ee_ts ts;              /* when the record's defining message was captured */
	const char *conn;      /* "CLIENTIP:PORT-SERVERIP:PORT" */
	uint64_t conn_id;
	uint32_t stream;       /* HTTP/2 stream id */
	const char *user_agent;/* the stream's request user-agent, "" when unseen */
};

struct rec_header {
	bool present;
	uint64_t cluster_id, member_id, raft_term;
	int64_t revision;
};

/* A unary RPC (or one request/response exchange on a LeaseKeepAlive stream). */
struct rec_rpc {
	const struct etcd_method_info *m; /* never NULL; EM_UNKNOWN has an entry too */
	bool inferred;                    /* method inferred from the message shape */
	int confidence;                   /* of the inference, 0..100 */
	ee_ts ts_req, ts_resp;            /* 0 when that side was not captured */
	int64_t latency_us;               /* -1 when either side is missing */
	int status;                       /* grpc-status; -1 when unseen */
	bool status_inferred;             /* 0 inferred: its HPACK entry was unknown (grpc.h) */
	const char *status_message;       /* grpc-message, "" when none */
	const ProtobufCMessage *req;      /* decoded request, NULL when not captured */
	const ProtobufCMessage *resp;     /* decoded response, NULL when not captured */
	struct rec_header hdr;            /* from the response */
};

enum rec_op { REC_OP_PUT = 1, REC_OP_DELETE = 2 };

/* One key change applied by a successful Put, DeleteRange or Txn branch. */
struct rec_write {
	enum etcd_method method;          /* EM_PUT, EM_DELETE_RANGE or EM_TXN */
	enum rec_op op;
	const uint8_t *key; size_t key_len;
	const uint8_t *range_end; size_t range_end_len; /* delete of a range whose keys are unknown */
	int64_t revision;                 /* the revision the change was written at */
	const uint8_t *value; size_t value_len; /* puts */
	int64_t lease;
	const Mvccpb__KeyValue *prev;     /* previous kv when the response carried it, else NULL */
	int64_t deleted;                  /* for deletes: count from the response */
	const Etcdserverpb__TxnRequest *txn; /* the Txn the write came from, else NULL */
};

enum rec_watch_event {
	RW_CREATE = 1, RW_CREATED, RW_CANCEL, RW_CANCELED, RW_PROGRESS_REQUEST, RW_PROGRESS,
};

/* The key range a watch covers, as far as the capture shows it. */
struct rec_watch_range {
	bool known;                       /* from the create request, or guessed from events */
	bool guessed;                     /* not from a create request: from the keys of events */
	const uint8_t *key; size_t key_len;
	const uint8_t *range_end; size_t range_end_len;
	int64_t start_revision;
	bool prev_kv, progress_notify;
	ee_ts created_ts;                 /* 0 when the creation was not captured */
};

/* Watch stream control. */
struct rec_watch {
	enum rec_watch_event event;
	int64_t watch_id;                 /* -1 when not yet assigned (create request) */
	struct rec_watch_range range;
	int64_t compact_revision;
	const char *cancel_reason;        /* "" when none */
	int64_t revision;                 /* response header revision, 0 for requests */
	struct rec_header hdr;
};

/* One event delivered on a watch stream. */
struct rec_watch_event_rec {
	int64_t watch_id;
	const struct rec_watch_range *range;
	enum rec_op type;
	const Mvccpb__KeyValue *kv;       /* never NULL */
	const Mvccpb__KeyValue *prev_kv;  /* NULL unless the watch asked for prev_kv */
	bool fragment;                    /* part of a fragmented response */
	struct rec_header hdr;
};

/* Something the user must know: loss, resync, undecodable message, limit. */
struct rec_notice {
	const char *what;                 /* "gap", "resync", "undecodable", "limit" ... */
	const char *detail;
	uint64_t bytes;
};

/* A paginated LIST, joined from its Range pages by list_agg (not made by the etcd stage).
 * rec_common carries the first page's connection, stream and request time. */
struct rec_list {
	const uint8_t *key; size_t key_len;        /* the first page's start key */
	const uint8_t *range_end; size_t range_end_len;
	int64_t revision;                          /* the revision every page was read at */
	int64_t limit;                             /* page size asked for */
	int pages;
	int64_t kvs;                               /* objects returned over all pages */
	int64_t count;                             /* objects in the range (first page's count) */
	int64_t latency_us;                        /* first request to last response, -1 unknown */
	bool complete;                             /* the last page (more=false) was seen */
	int status;                                /* gRPC status of the page that ended it */
	int connections;                           /* connections the pages used */
};

struct etcd_record {
	struct rec_common c;
	union {
		struct rec_rpc rpc;
		struct rec_write write;
		struct rec_watch watch;
		struct rec_watch_event_rec ev;
		struct rec_notice notice;
		struct rec_list list;
	} u;
};

#endif
