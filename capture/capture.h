/* capture.h: the packet source, first stage of the pipeline (DESIGN.md "capture/").
 * Live (libpcap, immediate mode) or offline (pcap/pcapng, "-" for stdin). Each call to
 * capture_next() yields the next TCP segment with its link, IP and TCP headers decoded;
 * everything else is counted and skipped. */
#ifndef EE_CAPTURE_H
#define EE_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../src/ee.h"

#define CAP_TH_FIN 0x01
#define CAP_TH_SYN 0x02
#define CAP_TH_RST 0x04
#define CAP_TH_PSH 0x08
#define CAP_TH_ACK 0x10

/* One TCP segment. All pointers borrow the capture's buffer until the next capture_next(). */
struct cap_packet {
	ee_ts ts;              /* capture time, microseconds since the epoch */
	int af;                /* 4 or 6 */
	uint8_t src[16], dst[16]; /* IPv4 uses the first 4 bytes, rest zero */
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;         /* CAP_TH_* */
	const uint8_t *payload;/* captured TCP payload bytes */
	uint32_t len;          /* captured payload length */
	uint32_t wire_len;     /* payload length per the IP header; > len when snaplen cut it */
};

struct capture_stats {
	uint64_t packets;      /* link-layer frames read */
	uint64_t bytes;        /* captured bytes read */
	uint64_t tcp;          /* TCP segments yielded */
	uint64_t not_tcp;      /* frames skipped: not IP/TCP, fragments */
	uint64_t malformed;    /* frames whose headers were truncated or inconsistent */
	uint64_t truncated;    /* TCP segments cut by snaplen */
	uint64_t drops;        /* live: pcap_stats ps_drop + ps_ifdrop; offline: 0 */
	bool drops_known;
};

struct capture;

/* Opens a saved capture (pcap or pcapng; "-" reads stdin). On failure returns a negative
 * EE_* code and writes one human sentence into err. */
int capture_open_offline(struct capture **out, const char *path, char *err, size_t errlen);

/* Opens a live capture on iface ("any" for all) in immediate mode with a large buffer and a
 * short read timeout so the caller can poll for Ctrl-C. */
/* buffer_bytes: the kernel capture buffer (0 = CAP_BUFFER_BYTES, 32 MiB). */
int capture_open_live(struct capture **out, const char *iface, size_t buffer_bytes, char *err,
		      size_t errlen);

/* Applies a BPF filter expression (compiled for the capture's link type). */
int capture_set_filter(struct capture *c, const char *expr, char *err, size_t errlen);

/* Ports capture_set_default_ports takes (more: the BPF runs alone). */
#define CAPTURE_NATIVE_PORTS 64

/* Says the filter capture_set_filter just installed is the default one, "tcp and (port P1
 * or port P2 ...)" for these ports, or "tcp" when nports is 0: reading a file, the fast
 * path then decides most frames in C (portfilter.c) with BPF's verdict, running the BPF
 * only for the others. A later capture_set_filter forgets it. Never for a user's filter. */
void capture_set_default_ports(struct capture *c, const uint16_t *ports, int nports);

/* Starts saving every frame read (raw, before decoding) to path, like tcpdump -w. */
int capture_dump_open(struct capture *c, const char *path, char *err, size_t errlen);

/* Reads until the next TCP segment. Returns 1 with *pkt filled, 0 at end of input (or after
 * capture_break), or a negative EE_* code on a read error (err filled). A live capture whose
 * read timeout expires with nothing returns 2 with pkt untouched, so callers can do
 * housekeeping (timers, flush) and call again. */
int capture_next(struct capture *c, struct cap_packet *pkt, char *err, size_t errlen);

/* Async-signal-safe: makes the current or next capture_next return 0. */
void capture_break(struct capture *c);

void capture_get_stats(struct capture *c, struct capture_stats *st);
int capture_linktype(const struct capture *c);
const char *capture_linktype_name(const struct capture *c);
void capture_close(struct capture *c);

/* Pure decoder used by capture_next, exposed for tests and fuzzing: decodes one frame of
 * link type dlt (DLT_* value). Returns 0 for a TCP segment, EE_NOTTCP for anything else
 * that is well-formed, EE_MALFORMED/EE_TRUNCATED when the headers do not fit. */
int capture_decode_frame(int dlt, const uint8_t *frame, uint32_t caplen, uint32_t wirelen,
			 struct cap_packet *pkt);

/* Formats an address as text ("10.0.0.1", "::1"). buf needs 46 bytes. */
void capture_addr_str(int af, const uint8_t addr[16], char *buf, size_t len);

#endif
