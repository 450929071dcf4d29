/* grpc.h: gRPC over HTTP/2, fourth stage (DESIGN.md "grpc").
 * Owns the stream table of a connection: each stream's request :path (possibly unknown when
 * joined mid-connection), grpc-encoding, and the reassembly of 5-byte length-prefixed
 * messages across DATA frames (several per frame, or one across many), decompressing
 * gzip/deflate with zlib. Trailers give grpc-status and grpc-message.
 *
 *   +--------+----------------+----------------------+
 *   | flag 1 | length 4 (BE)  | message (length)     |   flag bit 0: compressed
 *   +--------+----------------+----------------------+
 */
#ifndef EE_GRPC_H
#define EE_GRPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ee.h"
#include "h2.h"
#include "tcp.h"

/* Largest gRPC message reassembled (compressed or not). etcd's default --max-request-bytes
 * is 1.5 MiB, but Range responses for a big LIST reach hundreds of MB; past this limit a
 * message is skipped and counted. Adjustable with grpc_set_max_message(). */
#define GRPC_DEFAULT_MAX_MESSAGE (64u << 20)
/* Streams tracked per connection before the oldest idle one is dropped. */
#define GRPC_MAX_STREAMS_PER_CONN 4096

enum grpc_compression { GRPC_ENC_IDENTITY = 0, GRPC_ENC_GZIP, GRPC_ENC_DEFLATE, GRPC_ENC_OTHER };

/* A response seen before its request (a capture reordered across directions) is held,
 * messages and trailers, until the request's first message, the client's END_STREAM, a
 * later client stream, 1 s of capture time, or the close, and then handed up in order with
 * its own timestamps; so the next stage always sees a request before its response when
 * the capture holds both. */

/* One HTTP/2 stream as seen by gRPC. Fields are read-only for callers except `app`. */
struct grpc_stream {
	uint32_t id;
	char path[128];          /* request :path, "" when not (yet) known */
	bool path_unknown;       /* :path was an HPACK reference to a pre-capture entry */
	uint64_t path_unknown_id;/* that entry's id, for grpc_conn_learn_path */
	bool headers_seen[2];    /* HEADERS seen per direction (TCP_C2S request, TCP_S2C response) */
	bool ended[2];           /* END_STREAM seen per direction */
	bool reset;
	int status;              /* grpc-status, -1 until trailers are seen */
	bool status_inferred;    /* status 0 inferred: its HPACK entry was unknown */
	char message[256];       /* grpc-message, percent-decoded, "" when none */
	char user_agent[96];     /* request user-agent, "" when unseen */
	enum grpc_compression enc[2];
	uint64_t msgs[2];        /* messages delivered per direction */
	void *app;               /* the next stage's per-stream state */
};

struct grpc_callbacks {
	void *ctx; /* per connection, given back in every call */
	/* Request HEADERS seen (path may be unknown): for a new stream, or for one that the
	 * response opened first (a capture reordered across directions; s->app is set then). */
	void (*on_stream_open)(void *ctx, struct grpc_stream *s, ee_ts ts);
	/* One complete, decompressed message. p is borrowed until the callback returns.
	 * resumed = the stream's first bytes in this direction were not a message start, so
	 * this is the first whole message after skipping. */
	void (*on_message)(void *ctx, struct grpc_stream *s, enum tcp_dir dir, const uint8_t *p,
			   size_t n, bool resumed, ee_ts ts);
	/* Trailers (or a Trailers-Only response) with grpc-status. */
	void (*on_trailers)(void *ctx, struct grpc_stream *s, ee_ts ts);
	/* The stream is finished (both ends, RST_STREAM, GOAWAY, connection close). Last call
	 * for s: free s->app here. */
	void (*on_stream_close)(void *ctx, struct grpc_stream *s, ee_ts ts);
	/* Messages lost: a stream's partial message was discarded (gap, limit, bad compression). */
	void (*on_loss)(void *ctx, struct grpc_stream *s, enum tcp_dir dir, const char *why, ee_ts ts);
	/* Connection-level trouble in dir from the HTTP/2 framer: "resync" (frame boundary found
	 * again after `bytes` skipped), "bad-frame", "hpack-error", "limit". TCP gaps are not
	 * repeated here: the caller reported them when it called grpc_conn_gap. */
	void (*on_conn_notice)(void *ctx, enum tcp_dir dir, const char *what, uint64_t bytes,
			       ee_ts ts);
};

struct grpc_stats {
	struct h2_stats h2;
	uint64_t streams, messages, bytes, compressed, decompress_errors, oversize, skipped_bytes,
		resumed, status_inferred;
};

struct grpc_conn;

struct grpc_conn *grpc_conn_new(const struct grpc_callbacks *cb, bool from_start);
void grpc_conn_feed(struct grpc_conn *g, enum tcp_dir dir, const uint8_t *p, size_t n, ee_ts ts);
void grpc_conn_gap(struct grpc_conn *g, enum tcp_dir dir, uint64_t missing, ee_ts ts);
/* Tells the connection what a stream's unknown :path was: names the HPACK entry so later
 * streams that reference it decode their :path directly, and fills s->path; open streams
 * that referenced the same entry get the path too, with on_stream_open (ts 0). */
int grpc_conn_learn_path(struct grpc_conn *g, struct grpc_stream *s, const char *path);
/* Closes every open stream (on_stream_close for each) and frees. */
void grpc_conn_free(struct grpc_conn *g, ee_ts ts);
void grpc_conn_add_stats(const struct grpc_conn *g, struct grpc_stats *st);
/* Time passes without bytes on the connection: responses held for their request longer
 * than 1 s of capture time are handed up. */
void grpc_conn_tick(struct grpc_conn *g, ee_ts now);
/* Calls fn for every open stream; fn must not close streams or feed the connection. */
void grpc_conn_foreach_stream(struct grpc_conn *g, void (*fn)(void *ctx, struct grpc_stream *s),
			      void *ctx);
void grpc_set_max_message(uint32_t bytes);

#endif
