/* link.c: the pure frame decoder behind capture_next() (capture.h), first stage of the
 * pipeline. Takes one link-layer frame and finds the TCP segment inside it: link header,
 * VLAN tags, IPv4 or IPv6 (+ extension headers), TCP header. No libpcap I/O here, so unit
 * tests and the fuzzer drive it with hand-built bytes; every read goes through struct rd:
 * one rd_bytes() bounds check per fixed-size header, then loads from the returned span.
 * tests/unit/link_ref.h keeps the decoder as it was before that change; test_link and
 * fuzz_capture require the same return code and struct cap_packet for every input. */
#include <string.h>

#include <pcap/pcap.h>

#include "capture.h"
#include "rd.h"

/* LINKTYPE_RAW as written in pcap files; libpcap normally maps it to DLT_RAW (12 or 14
 * depending on the platform), but a caller may hand us the file value directly. */
#define LINKTYPE_RAW_FILE 101

/* VLAN tags stacked on one Ethernet frame. QinQ uses two; anything past a handful is a
 * malformed or hostile frame, not a network (802.1Q / 802.1ad). */
#define CAP_VLAN_MAX_DEPTH 8

/* IPv6 extension headers walked before giving up. Real stacks send one or two; a long
 * chain only burns time (RFC 8200 section 4.1 recommends no more than one of each). */
#define CAP_IP6_EXT_MAX 16

#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_IPV6 0x86dd
#define ETHERTYPE_VLAN 0x8100  /* 802.1Q C-tag */
#define ETHERTYPE_QINQ 0x88a8  /* 802.1ad S-tag */
#define ETHERTYPE_QINQ_OLD 0x9100 /* pre-standard QinQ, still seen on some switches */
#define ETHERTYPE_MIN 0x0600   /* below this the field is an 802.3 length, not a type */

#define IPPROTO_NUM_TCP 6
#define IP6_HOPOPTS 0
#define IP6_ROUTING 43
#define IP6_FRAGMENT 44
#define IP6_AH 51
#define IP6_DSTOPTS 60

/* What the link layer says comes next: IPv4, IPv6, "look at the version nibble" (raw IP),
 * or something that is not IP at all. */
enum link_next { NEXT_V4, NEXT_V6, NEXT_NIBBLE, NEXT_OTHER };

/* Maps an Ethernet-style protocol number to the next layer. */
static enum link_next link_from_ethertype(uint16_t type)
{
	if (type == ETHERTYPE_IPV4)
		return NEXT_V4;
	if (type == ETHERTYPE_IPV6)
		return NEXT_V6;
	return NEXT_OTHER;
}

static bool link_is_vlan(uint16_t type)
{
	return type == ETHERTYPE_VLAN || type == ETHERTYPE_QINQ || type == ETHERTYPE_QINQ_OLD;
}

/* Reads an ethertype and skips any VLAN tags after it; shared by Ethernet and the Linux
 * cooked headers (which keep a tag when the driver did not strip it).
 *
 *   +--------+-----+--------+-----+--------+   each tag: TPID 0x8100/0x88a8/0x9100,
 *   | TPID   | TCI | TPID   | TCI | type   |   2 bytes of PCP/DEI/VID (802.1Q-2018 9.6)
 *   +--------+-----+--------+-----+--------+
 *
 * Always inlined: every Ethernet/SLL frame passes through it, nearly always with no tag. */
static inline __attribute__((always_inline)) int link_vlan_walk(struct rd *r, uint16_t type,
								  enum link_next *next)
{
	for (int depth = 0; link_is_vlan(type); depth++) {
		if (depth >= CAP_VLAN_MAX_DEPTH)
			return EE_MALFORMED;
		const uint8_t *tag = rd_bytes(r, 4); /* TCI, then the next type */
		if (!tag)
			return EE_TRUNCATED;
		type = (uint16_t)(tag[2] << 8 | tag[3]);
	}
	*next = link_from_ethertype(type);
	return 0;
}

/* Ethernet II (IEEE 802.3 clause 3): dst[6] src[6] type[2], then optional VLAN tags. An
 * 802.3 length field (< 0x0600) means LLC, never our TCP. */
static int link_ether(struct rd *r, enum link_next *next)
{
	const uint8_t *h = rd_bytes(r, 14);
	if (!h)
		return EE_TRUNCATED;
	uint16_t type = (uint16_t)(h[12] << 8 | h[13]);
	if (type < ETHERTYPE_MIN) {
		*next = NEXT_OTHER;
		return 0;
	}
	return link_vlan_walk(r, type, next);
}

/* Linux cooked v1 (LINKTYPE_LINUX_SLL), 16 bytes:
 *   pkttype[2] arphrd[2] addrlen[2] addr[8] protocol[2]
 */
static int link_sll(struct rd *r, enum link_next *next)
{
	const uint8_t *h = rd_bytes(r, 16);
	if (!h)
		return EE_TRUNCATED;
	uint16_t proto = (uint16_t)(h[14] << 8 | h[15]);
	return link_vlan_walk(r, proto, next);
}

/* Linux cooked v2 (LINKTYPE_LINUX_SLL2), 20 bytes:
 *   protocol[2] reserved[2] ifindex[4] arphrd[2] pkttype[1] addrlen[1] addr[8]
 */
static int link_sll2(struct rd *r, enum link_next *next)
{
	const uint8_t *h = rd_bytes(r, 20);
	if (!h)
		return EE_TRUNCATED;
	uint16_t proto = (uint16_t)(h[0] << 8 | h[1]);
	return link_vlan_walk(r, proto, next);
}

/* BSD loopback: a 4-byte address family. DLT_NULL writes it in the capturing host's byte
 * order, DLT_LOOP in network order; files travel between hosts, so both orders are read
 * for both (family values are small, so the order whose value fits 16 bits wins).
 * AF_INET is 2 everywhere; AF_INET6 is 24 (NetBSD/OpenBSD), 28 (FreeBSD), 30 (macOS). */
static int link_bsd_loop(struct rd *r, enum link_next *next)
{
	const uint8_t *b = rd_bytes(r, 4);
	if (!b)
		return EE_TRUNCATED;
	struct rd fam;
	rd_init(&fam, b, 4);
	uint32_t af = rd_le32(&fam);
	if (af > 0xffff) {
		rd_init(&fam, b, 4);
		af = rd_be32(&fam);
	}
	if (af == 2)
		*next = NEXT_V4;
	else if (af == 24 || af == 28 || af == 30)
		*next = NEXT_V6;
	else
		*next = NEXT_OTHER;
	return 0;
}

/* Runs the link-layer step for dlt; EE_UNSUPPORTED for a type we do not decode. */
static int link_decode(int dlt, struct rd *r, enum link_next *next)
{
	if (dlt == DLT_EN10MB) /* the common case, before the switch's compare tree */
		return link_ether(r, next);
	switch (dlt) {
	case DLT_EN10MB:
		return link_ether(r, next);
	case DLT_LINUX_SLL:
		return link_sll(r, next);
	case DLT_LINUX_SLL2:
		return link_sll2(r, next);
	case DLT_NULL:
	case DLT_LOOP:
		return link_bsd_loop(r, next);
	case DLT_RAW:
	case LINKTYPE_RAW_FILE:
		*next = NEXT_NIBBLE;
		return 0;
	case DLT_IPV4:
		*next = NEXT_V4;
		return 0;
	case DLT_IPV6:
		*next = NEXT_V6;
		return 0;
	default:
		return EE_UNSUPPORTED;
	}
}

/* TCP header (RFC 9293 section 3.1), after the IP layer has bounded r to the segment's
 * captured bytes and computed its length on the wire (seg_wire):
 *
 *    0                   1                   2                   3
 *   +-------------------------------+-------------------------------+
 *   |          Source Port          |       Destination Port        |
 *   |                        Sequence Number                        |
 *   |                    Acknowledgment Number                      |
 *   | DOff  | Rsrvd |     Flags     |            Window             |
 *   |           Checksum            |         Urgent Pointer        |
 *   |                   Options (DOff*4 - 20 bytes)                 |
 *   +---------------------------------------------------------------+
 */
/* Inlined into both IP decoders: one call less per segment. */
static inline __attribute__((always_inline)) int tcp_decode(struct rd *r, uint32_t seg_wire,
							      struct cap_packet *pkt)
{
	const uint8_t *h = rd_bytes(r, 20); /* the fixed header: one check, then plain loads */
	if (!h)
		return seg_wire < 20 ? EE_MALFORMED : EE_TRUNCATED;
	uint32_t hlen = (uint32_t)(h[12] >> 4) * 4;
	if (hlen < 20 || hlen > seg_wire)
		return EE_MALFORMED;
	rd_skip(r, hlen - 20); /* options: nothing in them matters to a passive reader */
	if (r->err)
		return EE_TRUNCATED;
	uint32_t len = (uint32_t)rd_left(r);
	if (len > seg_wire - hlen) /* cannot happen: r was cut to the IP length */
		return EE_MALFORMED;
	pkt->sport = (uint16_t)(h[0] << 8 | h[1]);
	pkt->dport = (uint16_t)(h[2] << 8 | h[3]);
	pkt->seq = (uint32_t)h[4] << 24 | (uint32_t)h[5] << 16 | (uint32_t)h[6] << 8 | h[7];
	pkt->ack = (uint32_t)h[8] << 24 | (uint32_t)h[9] << 16 | (uint32_t)h[10] << 8 | h[11];
	pkt->flags = h[13];
	pkt->len = len;
	pkt->wire_len = seg_wire - hlen;
	pkt->payload = rd_bytes(r, len);
	return 0;
}

/* Bounds r to an IP packet whose header claims ip_len bytes (from the IP header start
 * `start`): trims link padding when fewer, leaves r as is when the capture holds fewer
 * (snaplen cut; the missing bytes show up as wire_len > len). */
static void ip_bound(struct rd *r, const uint8_t *start, uint32_t ip_len)
{
	size_t have = (size_t)(r->end - start);
	if (ip_len < have)
		r->end = start + ip_len;
}

/* IPv4 header (RFC 791 section 3.1):
 *
 *   +-------+-------+---------------+-------------------------------+
 *   |Version|  IHL  |      ToS      |          Total Length         |
 *   |         Identification        |Flags|     Fragment Offset     |
 *   |      TTL      |    Protocol   |        Header Checksum        |
 *   |                         Source Address                        |
 *   |                      Destination Address                      |
 *   |                  Options (IHL*4 - 20 bytes)                   |
 *   +---------------------------------------------------------------+
 *
 * Total Length 0 is what TSO/GSO segments captured on the sending host carry; the
 * captured bytes (plus whatever the snaplen cut) are then the only length there is. */
static int ip4_decode(struct rd *r, uint32_t link_cut, struct cap_packet *pkt)
{
	const uint8_t *start = rd_bytes(r, 20); /* the fixed header */
	if (!start)
		return EE_TRUNCATED;
	uint8_t vihl = start[0];
	uint32_t total = (uint32_t)start[2] << 8 | start[3];
	uint16_t frag = (uint16_t)(start[6] << 8 | start[7]);
	uint8_t proto = start[9];
	uint32_t hlen = (uint32_t)(vihl & 0x0f) * 4;
	if (vihl >> 4 != 4 || hlen < 20)
		return EE_MALFORMED;
	if (total == 0)
		total = (uint32_t)(r->end - start) + link_cut;
	if (total < hlen)
		return EE_MALFORMED;
	if ((frag & 0x2000) || (frag & 0x1fff)) /* MF set or offset != 0 */
		return EE_NOTTCP;
	if (proto != IPPROTO_NUM_TCP)
		return EE_NOTTCP;
	ip_bound(r, start, total);
	rd_skip(r, hlen - 20);
	if (r->err)
		return EE_TRUNCATED;
	int rc = tcp_decode(r, total - hlen, pkt);
	if (rc == 0) {
		pkt->af = 4;
		memcpy(pkt->src, start + 12, 4);
		memcpy(pkt->dst, start + 16, 4);
	}
	return rc;
}

/* IPv6 fixed header (RFC 8200 section 3) and the extension headers before TCP:
 *
 *   +-------+---------------+---------------------------------------+
 *   |Version| Traffic Class |              Flow Label               |
 *   |         Payload Length        |  Next Header  |   Hop Limit   |
 *   |                 Source Address (16 bytes)                     |
 *   |              Destination Address (16 bytes)                   |
 *   +---------------------------------------------------------------+
 *   extension: | Next Header | Hdr Ext Len | ... |  (len+1)*8 bytes; AH: (len+2)*4
 *
 * Payload Length 0 means a jumbogram or a TSO segment: the captured bytes decide. Any
 * Fragment header means a piece of a datagram we do not reassemble: not TCP for us. */
static int ip6_decode(struct rd *r, uint32_t link_cut, struct cap_packet *pkt)
{
	const uint8_t *start = rd_bytes(r, 40); /* the fixed header */
	if (!start)
		return EE_TRUNCATED;
	uint32_t plen = (uint32_t)start[4] << 8 | start[5];
	uint8_t nh = start[6];
	if (start[0] >> 4 != 6)
		return EE_MALFORMED;
	if (plen == 0)
		plen = (uint32_t)(r->end - start) - 40 + link_cut;
	ip_bound(r, start, 40 + plen);
	uint32_t left = plen; /* bytes of the IPv6 payload not yet walked, on the wire */
	for (int n = 0; nh != IPPROTO_NUM_TCP; n++) {
		if (n >= CAP_IP6_EXT_MAX)
			return EE_MALFORMED;
		if (nh != IP6_HOPOPTS && nh != IP6_ROUTING && nh != IP6_DSTOPTS && nh != IP6_AH)
			return EE_NOTTCP; /* fragment, ESP, no-next-header, UDP, ICMPv6 ... */
		const uint8_t *ext = rd_bytes(r, 2);
		if (!ext)
			return left < 2 ? EE_MALFORMED : EE_TRUNCATED;
		uint8_t next = ext[0], elen = ext[1];
		uint32_t size = nh == IP6_AH ? ((uint32_t)elen + 2) * 4 : ((uint32_t)elen + 1) * 8;
		if (size > left)
			return EE_MALFORMED;
		rd_skip(r, size - 2);
		if (r->err)
			return EE_TRUNCATED;
		left -= size;
		nh = next;
	}
	int rc = tcp_decode(r, left, pkt);
	if (rc == 0) {
		pkt->af = 6;
		memcpy(pkt->src, start + 8, 16);
		memcpy(pkt->dst, start + 24, 16);
	}
	return rc;
}

/* Decodes one frame (see capture.h). An unknown dlt returns EE_UNSUPPORTED before any byte
 * is read, which is how capture_open_* check a link type at open time. */
int capture_decode_frame(int dlt, const uint8_t *frame, uint32_t caplen, uint32_t wirelen,
			 struct cap_packet *pkt)
{
	static const uint8_t empty[1];
	struct rd r;
	enum link_next next = NEXT_OTHER;

	memset(pkt, 0, sizeof *pkt);
	rd_init(&r, frame ? frame : empty, frame ? caplen : 0);
	int rc = link_decode(dlt, &r, &next);
	if (rc < 0)
		return rc;
	/* Bytes the snaplen cut off the end of the frame, for headers whose length is 0. */
	uint32_t link_cut = wirelen > caplen ? wirelen - caplen : 0;
	if (next == NEXT_NIBBLE) {
		if (!rd_need(&r, 1))
			return EE_TRUNCATED;
		uint8_t ver = *r.p >> 4;
		next = ver == 4 ? NEXT_V4 : ver == 6 ? NEXT_V6 : NEXT_OTHER;
		if (next == NEXT_OTHER)
			return EE_MALFORMED;
	}
	switch (next) {
	case NEXT_V4:
		rc = ip4_decode(&r, link_cut, pkt);
		break;
	case NEXT_V6:
		rc = ip6_decode(&r, link_cut, pkt);
		break;
	default:
		rc = EE_NOTTCP;
		break;
	}
	return rc; /* pkt is written only once the whole segment decoded: still all zero */
}
