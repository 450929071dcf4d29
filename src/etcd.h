/* etcd.h: etcd v3 RPCs, fifth stage (DESIGN.md "etcd").
 * Decodes gRPC messages with the protobuf-c code generated from proto/rpc.proto and
 * proto/kv.proto, pairs unary requests with their responses (latency, status), follows
 * bidirectional Watch and LeaseKeepAlive streams (watch_id <-> key range, events, progress,
 * cancellation), derives the key changes a successful write applied, and hands each result
 * to the sink as a record (record.h). When a stream's method is unknown (joined
 * mid-connection) it is inferred from the message shape and direction, and the HPACK entry
 * that carried :path is named. */
#ifndef EE_ETCD_H
#define EE_ETCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ee.h"
#include "grpc.h"
#include "record.h"
#include "tcp.h"

struct etcd_sink {
	void *ctx;
	/* r and everything it points at are borrowed until the callback returns. */
	void (*on_record)(void *ctx, const struct etcd_record *r);
};

struct etcd_stats {
	uint64_t rpcs, unpaired_requests, unpaired_responses, messages, undecodable, inferred,
		watch_streams, watch_events, writes, errors;
	uint64_t arena_bytes;     /* decode arenas' memory now (streams, pool, scratch) */
	uint64_t arena_bytes_max; /* its peak */
};

struct etcd_decoder;
struct etcd_conn;

struct etcd_decoder *etcd_decoder_new(const struct etcd_sink *sink);
void etcd_decoder_free(struct etcd_decoder *d);
void etcd_decoder_get_stats(const struct etcd_decoder *d, struct etcd_stats *st);

/* A TCP connection was adopted: creates its gRPC and etcd state. The returned etcd_conn is
 * what tcp's callbacks get as `user`. */
struct etcd_conn *etcd_conn_open(struct etcd_decoder *d, const struct tcp_conn_info *ci, ee_ts ts);
void etcd_conn_data(struct etcd_conn *c, enum tcp_dir dir, const uint8_t *p, size_t n, ee_ts ts);
void etcd_conn_gap(struct etcd_conn *c, enum tcp_dir dir, uint64_t missing, ee_ts ts);
/* Called about once a second of capture time (and when a live capture is quiet). */
void etcd_conn_tick(struct etcd_conn *c, ee_ts now);
/* Emits what is pending (requests without responses as RPC records with status unseen). */
void etcd_conn_close(struct etcd_conn *c, enum tcp_close_reason why, ee_ts ts);
void etcd_conn_add_grpc_stats(const struct etcd_conn *c, struct grpc_stats *st);

/* Method table (exposed for printers and tests). */
const struct etcd_method_info *etcd_method_by_path(const char *path, size_t len);
const struct etcd_method_info *etcd_method_info(enum etcd_method m);

/* Decodes one message of method m in direction dir (TCP_C2S = request) into a protobuf-c
 * message allocated from alloc (NULL = malloc). Returns NULL when the bytes do not parse.
 * Exposed for unit tests and fuzzing. */
struct ProtobufCAllocator;
void *etcd_message_decode(enum etcd_method m, enum tcp_dir dir, const uint8_t *p, size_t n,
			  struct ProtobufCAllocator *alloc);

/* Infers the method of a message seen without a known :path: returns EM_UNKNOWN when no
 * candidate fits; *confidence in 0..100. Exposed for unit tests. */
enum etcd_method etcd_method_infer(enum tcp_dir dir, const uint8_t *p, size_t n, int *confidence);

#endif
