/* h2.h: HTTP/2 framing (RFC 9113), third stage (DESIGN.md "h2").
 * One h2_conn per TCP connection, fed the in-order bytes of both directions. It knows the
 * client preface; without it (joined mid-connection, or after a GAP) it re-synchronises by
 * finding a chain of plausible frame headers. HEADERS+CONTINUATION are joined and decoded
 * with one HPACK decoder per direction (hpack/); DATA padding is stripped. Frames are
 * handed up as events; this stage keeps no per-stream state beyond the header block being
 * assembled. */
#ifndef EE_H2_H
#define EE_H2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../hpack/hpack.h"
#include "ee.h"
#include "tcp.h"

/* RFC 9113 allows frames up to 2^24-1 bytes; we buffer at most this much of one frame.
 * etcd's grpc-go server advertises 16 KiB; clients rarely raise it past 1 MiB. */
#define H2_MAX_FRAME_BUFFER (1u << 24)
/* Frame headers that must chain, each plausible, before a resync is accepted. */
#define H2_RESYNC_CHAIN 3

enum h2_frame_type {
	H2_DATA = 0, H2_HEADERS = 1, H2_PRIORITY = 2, H2_RST_STREAM = 3, H2_SETTINGS = 4,
	H2_PUSH_PROMISE = 5, H2_PING = 6, H2_GOAWAY = 7, H2_WINDOW_UPDATE = 8, H2_CONTINUATION = 9,
};

enum h2_notice {
	H2_N_RESYNC = 1,      /* frame boundary found again after `skipped` bytes */
	H2_N_BAD_FRAME,       /* a frame violated the protocol; connection direction resyncs */
	H2_N_HPACK_ERROR,     /* a header block did not decode; headers of that stream lost */
	H2_N_LIMIT,           /* a frame or header block exceeded a limit; skipped */
	H2_N_GAP,             /* TCP lost bytes in this direction */
	H2_N_PREFACE,         /* client preface seen */
};

struct h2_callbacks {
	/* ctx is the per-connection pointer given to h2_conn_new. Views are borrowed until the
	 * callback returns. dir is the TCP direction (client->server = TCP_C2S). */
	void (*on_headers)(void *ctx, uint32_t stream, enum tcp_dir dir, const struct hpack_field *f,
			   size_t n, bool end_stream, ee_ts ts);
	void (*on_data)(void *ctx, uint32_t stream, enum tcp_dir dir, const uint8_t *p, size_t n,
			bool end_stream, ee_ts ts);
	void (*on_rst_stream)(void *ctx, uint32_t stream, enum tcp_dir dir, uint32_t code, ee_ts ts);
	void (*on_goaway)(void *ctx, enum tcp_dir dir, uint32_t last_stream, uint32_t code,
			  const uint8_t *debug, size_t n, ee_ts ts);
	/* Something was lost or skipped in dir: streams there may resume mid-message. */
	void (*on_notice)(void *ctx, enum tcp_dir dir, enum h2_notice what, uint64_t skipped, ee_ts ts);
};

struct h2_stats {
	uint64_t frames[10];      /* by type, known types only */
	uint64_t frames_unknown;  /* extension frame types, skipped as RFC 9113 says */
	uint64_t resyncs, resync_skipped_bytes;
	uint64_t bad_frames, hpack_errors, limit_skips;
	uint64_t header_blocks, header_fields_unknown;
	uint64_t header_blocks_cut; /* open blocks ended by a HEADERS: their chain end was lost */
};

struct h2_conn;

/* from_start: the TCP handshake was seen, so each direction starts at its first byte
 * (preface / first frame) and HPACK runs in exact mode. */
struct h2_conn *h2_conn_new(const struct h2_callbacks *cb, void *ctx, bool from_start);
void h2_conn_feed(struct h2_conn *c, enum tcp_dir dir, const uint8_t *p, size_t n, ee_ts ts);
/* TCP lost `missing` bytes (0 = unknown) in dir: drop any partial frame, resync. */
void h2_conn_gap(struct h2_conn *c, enum tcp_dir dir, uint64_t missing, ee_ts ts);
/* Names a pre-capture HPACK entry of the decoder for dir (see hpack_decoder_learn). */
int h2_conn_learn(struct h2_conn *c, enum tcp_dir dir, uint64_t unknown_id, const char *name,
		  const char *value);
/* Adds this connection's counters into st. */
void h2_conn_add_stats(const struct h2_conn *c, struct h2_stats *st);
void h2_conn_free(struct h2_conn *c);

/* Pure frame-header plausibility check used by resync, exposed for tests: the 9 bytes at p
 * could be a frame header sent in dir (length within max_frame, known type, flags and
 * stream id valid for the type, stream id parity). */
bool h2_frame_header_plausible(const uint8_t p[9], enum tcp_dir dir, uint32_t max_frame);

#endif
