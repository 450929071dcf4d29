/* tcp.h: TCP reassembly, second stage (DESIGN.md "tcp").
 * Turns segments into in-order byte runs per connection and direction, adopting
 * connections that were open before the capture began (no SYN). A hole that cannot be
 * filled is reported as a GAP, never spliced silently. Memory is bounded: each direction
 * buffers at most TCP_OOO_MAX_BYTES of out-of-order data, all together at most
 * TCP_OOO_TOTAL_MAX_BYTES, the table holds at most max_conns connections (the idlest is
 * evicted first). */
#ifndef EE_TCP_H
#define EE_TCP_H

#include <stdbool.h>
#include <stdint.h>

#include "../capture/capture.h"
#include "ee.h"

/* Out-of-order bytes kept per direction before the oldest hole is declared lost. 1 MiB covers
 * a loopback window of reordering and a few retransmission rounds. */
#define TCP_OOO_MAX_BYTES (1u << 20)
/* Out-of-order bytes kept by all connections together. Each direction may hold
 * TCP_OOO_MAX_BYTES, but under capture loss (a kernel ring that overflows) nearly every
 * connection has a hole at once, and thousands of connections x 2 MiB is no bound; past
 * this, a direction that has a hole declares it lost instead of buffering more. */
#define TCP_OOO_TOTAL_MAX_BYTES (64u << 20)
/* Default connection table bound; kube-apiserver keeps a few dozen connections to etcd. */
#define TCP_DEFAULT_MAX_CONNS 65536
/* Idle connections are closed after this long without a segment (capture time). */
#define TCP_DEFAULT_IDLE_US (600LL * 1000000)

enum tcp_dir { TCP_C2S = 0, TCP_S2C = 1 };

enum tcp_close_reason {
	TCP_CLOSE_FIN = 0,  /* both sides sent FIN */
	TCP_CLOSE_RST = 1,
	TCP_CLOSE_IDLE = 2,
	TCP_CLOSE_EVICT = 3,/* table full */
	TCP_CLOSE_END = 4,  /* end of input */
};

struct tcp_conn_info {
	int af;
	uint8_t cli_ip[16], srv_ip[16];
	uint16_t cli_port, srv_port;
	uint64_t id;       /* 1, 2, 3 ... in order of adoption */
	bool saw_syn;      /* the handshake was captured: the byte streams start at their start */
	char name[112];    /* "CLIENTIP:PORT-SERVERIP:PORT", IPv6 in brackets */
};

struct tcp_callbacks {
	void *ctx;
	/* A connection is adopted; returns the caller's per-connection state (may be NULL). */
	void *(*on_open)(void *ctx, const struct tcp_conn_info *ci, ee_ts ts);
	/* In-order bytes of one direction. p is borrowed until the callback returns. */
	void (*on_data)(void *ctx, void *user, enum tcp_dir dir, const uint8_t *p, size_t n, ee_ts ts);
	/* missing bytes were lost in dir before the next on_data (0 when the size is unknown). */
	void (*on_gap)(void *ctx, void *user, enum tcp_dir dir, uint64_t missing, ee_ts ts);
	/* The connection is gone; user is not used again. */
	void (*on_close)(void *ctx, void *user, enum tcp_close_reason why, ee_ts ts);
};

struct tcp_config {
	const uint16_t *server_ports; /* the etcd side: a segment to/from one of these is ours */
	int n_server_ports;
	bool any_port;                /* -p auto: adopt every connection; server = SYN-ACK sender,
				       * else the lower port */
	uint32_t max_conns;           /* 0 = TCP_DEFAULT_MAX_CONNS */
	int64_t idle_us;              /* 0 = TCP_DEFAULT_IDLE_US */
};

struct tcp_stats {
	uint64_t conns;          /* adopted */
	uint64_t conns_midstream;/* adopted without SYN */
	uint64_t segments, bytes;
	uint64_t retrans_bytes;  /* already delivered: dropped */
	uint64_t ooo_segments;   /* arrived ahead of a hole */
	uint64_t ooo_held_max;   /* most out-of-order bytes held at once, all connections */
	uint64_t ooo_walk;       /* buffered ranges visited to place segments: stays in
				  * proportion to ooo_segments (a cost counter for tests) */
	uint64_t gaps, gap_bytes;
	uint64_t acked_holes;    /* holes declared lost because the receiver acknowledged them */
	uint64_t evicted;
	uint64_t ignored;        /* segments on other ports */
};

struct tcp_table;

struct tcp_table *tcp_table_new(const struct tcp_config *cfg, const struct tcp_callbacks *cb);
/* Feeds one segment (from capture_next); calls back synchronously. */
void tcp_table_feed(struct tcp_table *t, const struct cap_packet *pkt);
/* Closes connections idle since before now - idle_us. */
void tcp_table_expire(struct tcp_table *t, ee_ts now);
/* Calls fn(ctx, user) for every open connection (user = what on_open returned); fn must
 * not feed, expire or close connections. */
void tcp_table_foreach(struct tcp_table *t, void (*fn)(void *ctx, void *user), void *ctx);
/* Delivers what is buffered (declaring the holes before it as gaps) and closes everything
 * with TCP_CLOSE_END. Call at end of input. */
void tcp_table_finish(struct tcp_table *t, ee_ts now);
void tcp_table_get_stats(const struct tcp_table *t, struct tcp_stats *st);
void tcp_table_free(struct tcp_table *t);

#endif
