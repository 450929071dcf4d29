/* link_ref.h: the reference frame decoder for test_link.c and fuzz_capture.c: a verbatim
 * copy of capture/link.c as of e2c4a90 (before the single-span rewrite), every symbol
 * prefixed ref_ and the entry point static. The differential tests require the live
 * decoder to give the same return code and the same struct cap_packet on every input.
 * Do not "fix" this file: it is the behaviour the rewrite must keep. */
#ifndef EE_LINK_REF_H
#define EE_LINK_REF_H
#include <string.h>

#include <pcap/pcap.h>

#include "capture.h"
#include "rd.h"

/* LINKTYPE_RAW as written in pcap files; libpcap normally maps it to DLT_RAW (12 or 14
 * depending on the platform), but a caller may hand us the file value directly. */
#define REF_LINKTYPE_RAW_FILE 101

/* VLAN tags stacked on one Ethernet frame. QinQ uses two; anything past a handful is a
 * malformed or hostile frame, not a network (802.1Q / 802.1ad). */
#define REF_CAP_VLAN_MAX_DEPTH 8

/* IPv6 extension headers walked before giving up. Real stacks send one or two; a long
 * chain only burns time (RFC 8200 section 4.1 recommends no more than one of each). */
#define REF_CAP_IP6_EXT_MAX 16

#define REF_ETHERTYPE_IPV4 0x0800
#define REF_ETHERTYPE_IPV6 0x86dd
#define REF_ETHERTYPE_VLAN 0x8100  /* 802.1Q C-tag */
#define REF_ETHERTYPE_QINQ 0x88a8  /* 802.1ad S-tag */
#define REF_ETHERTYPE_QINQ_OLD 0x9100 /* pre-standard QinQ, still seen on some switches */
#define REF_ETHERTYPE_MIN 0x0600   /* below this the field is an 802.3 length, not a type */

#define REF_IPPROTO_NUM_TCP 6
#define REF_IP6_HOPOPTS 0
#define REF_IP6_ROUTING 43
#define REF_IP6_FRAGMENT 44
#define REF_IP6_AH 51
#define REF_IP6_DSTOPTS 60

/* What the link layer says comes next: IPv4, IPv6, "look at the version nibble" (raw IP),
 * or something that is not IP at all. */
enum ref_link_next { ref_NEXT_V4, ref_NEXT_V6, ref_NEXT_NIBBLE, ref_NEXT_OTHER };

/* Maps an Ethernet-style protocol number to the next layer. */
static enum ref_link_next ref_link_from_ethertype(uint16_t type)
{
	if (type == REF_ETHERTYPE_IPV4)
		return ref_NEXT_V4;
	if (type == REF_ETHERTYPE_IPV6)
		return ref_NEXT_V6;
	return ref_NEXT_OTHER;
}

static bool ref_link_is_vlan(uint16_t type)
{
	return type == REF_ETHERTYPE_VLAN || type == REF_ETHERTYPE_QINQ || type == REF_ETHERTYPE_QINQ_OLD;
}

/* Reads an ethertype and skips any VLAN tags after it; shared by Ethernet and the Linux
 * cooked headers (which keep a tag when the driver did not strip it).
 *
 *   +--------+-----+--------+-----+--------+   each tag: TPID 0x8100/0x88a8/0x9100,
 *   | TPID   | TCI | TPID   | TCI | type   |   2 bytes of PCP/DEI/VID (802.1Q-2018 9.6)
 *   +--------+-----+--------+-----+--------+
 */
static int ref_link_vlan_walk(struct rd *r, uint16_t type, enum ref_link_next *next)
{
	for (int depth = 0; ref_link_is_vlan(type); depth++) {
		if (depth >= REF_CAP_VLAN_MAX_DEPTH)
			return EE_MALFORMED;
		rd_skip(r, 2); /* TCI */
		type = rd_be16(r);
		if (r->err)
			return EE_TRUNCATED;
	}
	*next = ref_link_from_ethertype(type);
	return 0;
}

/* Ethernet II (IEEE 802.3 clause 3): dst[6] src[6] type[2], then optional VLAN tags. An
 * 802.3 length field (< 0x0600) means LLC, never our TCP. */
static int ref_link_ether(struct rd *r, enum ref_link_next *next)
{
	rd_skip(r, 12);
	uint16_t type = rd_be16(r);
	if (r->err)
		return EE_TRUNCATED;
	if (type < REF_ETHERTYPE_MIN) {
		*next = ref_NEXT_OTHER;
		return 0;
	}
	return ref_link_vlan_walk(r, type, next);
}

/* Linux cooked v1 (LINKTYPE_LINUX_SLL), 16 bytes:
 *   pkttype[2] arphrd[2] addrlen[2] addr[8] protocol[2]
 */
static int ref_link_sll(struct rd *r, enum ref_link_next *next)
{
	rd_skip(r, 14);
	uint16_t proto = rd_be16(r);
	if (r->err)
		return EE_TRUNCATED;
	return ref_link_vlan_walk(r, proto, next);
}

/* Linux cooked v2 (LINKTYPE_LINUX_SLL2), 20 bytes:
 *   protocol[2] reserved[2] ifindex[4] arphrd[2] pkttype[1] addrlen[1] addr[8]
 */
static int ref_link_sll2(struct rd *r, enum ref_link_next *next)
{
	uint16_t proto = rd_be16(r);
	rd_skip(r, 18);
	if (r->err)
		return EE_TRUNCATED;
	return ref_link_vlan_walk(r, proto, next);
}

/* BSD loopback: a 4-byte address family. DLT_NULL writes it in the capturing host's byte
 * order, DLT_LOOP in network order; files travel between hosts, so both orders are read
 * for both (family values are small, so the order whose value fits 16 bits wins).
 * AF_INET is 2 everywhere; AF_INET6 is 24 (NetBSD/OpenBSD), 28 (FreeBSD), 30 (macOS). */
static int ref_link_bsd_loop(struct rd *r, enum ref_link_next *next)
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
		*next = ref_NEXT_V4;
	else if (af == 24 || af == 28 || af == 30)
		*next = ref_NEXT_V6;
	else
		*next = ref_NEXT_OTHER;
	return 0;
}

/* Runs the link-layer step for dlt; EE_UNSUPPORTED for a type we do not decode. */
static int ref_link_decode(int dlt, struct rd *r, enum ref_link_next *next)
{
	switch (dlt) {
	case DLT_EN10MB:
		return ref_link_ether(r, next);
	case DLT_LINUX_SLL:
		return ref_link_sll(r, next);
	case DLT_LINUX_SLL2:
		return ref_link_sll2(r, next);
	case DLT_NULL:
	case DLT_LOOP:
		return ref_link_bsd_loop(r, next);
	case DLT_RAW:
	case REF_LINKTYPE_RAW_FILE:
		*next = ref_NEXT_NIBBLE;
		return 0;
	case DLT_IPV4:
		*next = ref_NEXT_V4;
		return 0;
	case DLT_IPV6:
		*next = ref_NEXT_V6;
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
static int ref_tcp_decode(struct rd *r, uint32_t seg_wire, struct cap_packet *pkt)
{
	pkt->sport = rd_be16(r);
	pkt->dport = rd_be16(r);
	pkt->seq = rd_be32(r);
	pkt->ack = rd_be32(r);
	uint8_t doff = rd_u8(r) >> 4;
	pkt->flags = rd_u8(r);
	rd_skip(r, 6); /* window, checksum, urgent pointer */
	if (r->err)
		return seg_wire < 20 ? EE_MALFORMED : EE_TRUNCATED;
	uint32_t hlen = (uint32_t)doff * 4;
	if (doff < 5 || hlen > seg_wire)
		return EE_MALFORMED;
	rd_skip(r, hlen - 20); /* options: nothing in them matters to a passive reader */
	if (r->err)
		return EE_TRUNCATED;
	pkt->len = (uint32_t)rd_left(r);
	pkt->wire_len = seg_wire - hlen;
	pkt->payload = rd_bytes(r, pkt->len);
	if (pkt->len > pkt->wire_len) /* cannot happen: r was cut to the IP length */
		return EE_MALFORMED;
	return 0;
}

/* Bounds r to an IP packet whose header claims ip_len bytes (from the IP header start
 * `start`): trims link padding when fewer, leaves r as is when the capture holds fewer
 * (snaplen cut; the missing bytes show up as wire_len > len). */
static void ref_ip_bound(struct rd *r, const uint8_t *start, uint32_t ip_len)
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
static int ref_ip4_decode(struct rd *r, uint32_t link_cut, struct cap_packet *pkt)
{
	const uint8_t *start = r->p;
	uint8_t vihl = rd_u8(r);
	rd_skip(r, 1);
	uint32_t total = rd_be16(r);
	rd_skip(r, 2);
	uint16_t frag = rd_be16(r);
	rd_skip(r, 1);
	uint8_t proto = rd_u8(r);
	rd_skip(r, 2);
	const uint8_t *src = rd_bytes(r, 4);
	const uint8_t *dst = rd_bytes(r, 4);
	if (r->err)
		return EE_TRUNCATED;
	uint32_t hlen = (uint32_t)(vihl & 0x0f) * 4;
	if (vihl >> 4 != 4 || hlen < 20)
		return EE_MALFORMED;
	if (total == 0)
		total = (uint32_t)(r->end - start) + link_cut;
	if (total < hlen)
		return EE_MALFORMED;
	if ((frag & 0x2000) || (frag & 0x1fff)) /* MF set or offset != 0 */
		return EE_NOTTCP;
	if (proto != REF_IPPROTO_NUM_TCP)
		return EE_NOTTCP;
	ref_ip_bound(r, start, total);
	rd_skip(r, hlen - 20);
	if (r->err)
		return EE_TRUNCATED;
	pkt->af = 4;
	memcpy(pkt->src, src, 4);
	memcpy(pkt->dst, dst, 4);
	return ref_tcp_decode(r, total - hlen, pkt);
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
static int ref_ip6_decode(struct rd *r, uint32_t link_cut, struct cap_packet *pkt)
{
	const uint8_t *start = r->p;
	uint8_t ver = rd_u8(r) >> 4;
	rd_skip(r, 3);
	uint32_t plen = rd_be16(r);
	uint8_t nh = rd_u8(r);
	rd_skip(r, 1);
	const uint8_t *src = rd_bytes(r, 16);
	const uint8_t *dst = rd_bytes(r, 16);
	if (r->err)
		return EE_TRUNCATED;
	if (ver != 6)
		return EE_MALFORMED;
	if (plen == 0)
		plen = (uint32_t)(r->end - start) - 40 + link_cut;
	ref_ip_bound(r, start, 40 + plen);
	uint32_t left = plen; /* bytes of the IPv6 payload not yet walked, on the wire */
	for (int n = 0; nh != REF_IPPROTO_NUM_TCP; n++) {
		if (n >= REF_CAP_IP6_EXT_MAX)
			return EE_MALFORMED;
		if (nh != REF_IP6_HOPOPTS && nh != REF_IP6_ROUTING && nh != REF_IP6_DSTOPTS && nh != REF_IP6_AH)
			return EE_NOTTCP; /* fragment, ESP, no-next-header, UDP, ICMPv6 ... */
		uint8_t next = rd_u8(r);
		uint8_t elen = rd_u8(r);
		if (r->err)
			return left < 2 ? EE_MALFORMED : EE_TRUNCATED;
		uint32_t size = nh == REF_IP6_AH ? ((uint32_t)elen + 2) * 4 : ((uint32_t)elen + 1) * 8;
		if (size > left)
			return EE_MALFORMED;
		rd_skip(r, size - 2);
		if (r->err)
			return EE_TRUNCATED;
		left -= size;
		nh = next;
	}
	pkt->af = 6;
	memcpy(pkt->src, src, 16);
	memcpy(pkt->dst, dst, 16);
	return ref_tcp_decode(r, left, pkt);
}

/* Decodes one frame (see capture.h). An unknown dlt returns EE_UNSUPPORTED before any byte
 * is read, which is how capture_open_* check a link type at open time. */
static int ref_capture_decode_frame(int dlt, const uint8_t *frame, uint32_t caplen, uint32_t wirelen,
			        struct cap_packet *pkt)
{
	static const uint8_t empty[1];
	struct rd r;
	enum ref_link_next next = ref_NEXT_OTHER;

	memset(pkt, 0, sizeof *pkt);
	rd_init(&r, frame ? frame : empty, frame ? caplen : 0);
	int rc = ref_link_decode(dlt, &r, &next);
	if (rc < 0)
		return rc;
	/* Bytes the snaplen cut off the end of the frame, for headers whose length is 0. */
	uint32_t link_cut = wirelen > caplen ? wirelen - caplen : 0;
	if (next == ref_NEXT_NIBBLE) {
		if (!rd_need(&r, 1))
			return EE_TRUNCATED;
		uint8_t ver = *r.p >> 4;
		next = ver == 4 ? ref_NEXT_V4 : ver == 6 ? ref_NEXT_V6 : ref_NEXT_OTHER;
		if (next == ref_NEXT_OTHER)
			return EE_MALFORMED;
	}
	switch (next) {
	case ref_NEXT_V4:
		rc = ref_ip4_decode(&r, link_cut, pkt);
		break;
	case ref_NEXT_V6:
		rc = ref_ip6_decode(&r, link_cut, pkt);
		break;
	default:
		rc = EE_NOTTCP;
		break;
	}
	if (rc < 0)
		memset(pkt, 0, sizeof *pkt);
	return rc;
}

#endif
