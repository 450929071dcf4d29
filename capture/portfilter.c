/* portfilter.c: the default filter's verdict in C (portfilter.h). It mirrors the code
 * libpcap 1.10 generates (tcpdump -y <TYPE> -d 'tcp and (port 2379 or port 43745)', and
 * -d tcp), and decides only where every libpcap would agree:
 *   link layer: the type word BPF compares (Ethernet type at 12, SLL protocol at 14, SLL2
 *     protocol at 0, BSD loopback family, the IP version nibble for raw IP) must say IPv4
 *     or IPv6, else not sure (VLAN tags, ARP, other families: BPF rejects them all, but
 *     they are rare and not worth proving);
 *   IPv4: a version 4 header of at least 20 bytes within caplen; protocol not 6 rejects;
 *     "tcp" alone accepts any protocol 6 datagram, fragments included; with ports a
 *     non-first fragment (offset != 0) rejects, and otherwise the two ports after IHL*4
 *     bytes decide, when they are within caplen;
 *   IPv6: a version 6 header within caplen; next header 6 accepts ("tcp") or lets the ports
 *     at 40 decide; an extension header (hop-by-hop, routing, fragment, ...) is not sure
 *     ("tcp" looks into a fragment header); any other next header rejects.
 * A frame cut before the bytes BPF loads is "not sure": which load comes first, and so
 * whether a cut frame is accepted, is the optimizer's business. Reads go through rd.h. */
#include <arpa/inet.h>
#include <sys/socket.h>

#include <pcap/pcap.h>

#include "portfilter.h"
#include "rd.h"

#define PF_ETHERTYPE_IPV4 0x0800
#define PF_ETHERTYPE_IPV6 0x86dd
#define PF_IPPROTO_TCP 6

/* IPv6 next-header values that are extension headers (RFC 8200 4, IANA's list), before
 * which TCP may still follow: never decided here. */
static int pf_ip6_ext(unsigned nh)
{
	switch (nh) {
	case 0:   /* hop-by-hop */
	case 43:  /* routing */
	case 44:  /* fragment */
	case 50:  /* ESP */
	case 51:  /* AH */
	case 60:  /* destination options */
	case 135: /* mobility */
	case 139: /* HIP */
	case 140: /* shim6 */
	case 253:
	case 254: /* experiments */
		return 1;
	default:
		return 0;
	}
}

static int pf_port_in(uint16_t p, const uint16_t *ports, int nports)
{
	for (int i = 0; i < nports; i++)
		if (ports[i] == p)
			return 1;
	return 0;
}

static inline unsigned pf_be16(const uint8_t *b) { return (unsigned)b[0] << 8 | b[1]; }

/* The network header's offset for dlt, or -1 for a type not decided here. */
static inline int pf_l3(int dlt)
{
	switch (dlt) {
	case DLT_EN10MB:
		return 14;
	case DLT_LINUX_SLL:
		return 16;
	case DLT_LINUX_SLL2:
		return 20;
	case DLT_NULL:
	case DLT_LOOP:
		return 4;
	case DLT_RAW:
	case DLT_IPV4:
	case DLT_IPV6:
		return 0;
	default:
		return -1;
	}
}

/* The IP version the link header announces (4 or 6), 0 when it leaves it to the version
 * nibble (raw IP), -1 for anything else. b holds the link header. */
static inline int pf_link_ver(int dlt, const uint8_t *b)
{
	unsigned type;
	switch (dlt) {
	case DLT_EN10MB:
		type = pf_be16(b + 12);
		break;
	case DLT_LINUX_SLL:
		type = pf_be16(b + 14);
		break;
	case DLT_LINUX_SLL2:
		type = pf_be16(b);
		break;
	case DLT_NULL:
	case DLT_LOOP: {
		/* BPF loads the word big-endian and compares it with htonl(AF_x) for DLT_NULL
		 * (the writing host's order, taken to be ours) and with AF_x for DLT_LOOP */
		uint32_t af = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
		if (dlt == DLT_NULL)
			af = ntohl(af);
		return af == AF_INET ? 4 : af == AF_INET6 ? 6 : -1;
	}
	case DLT_IPV4:
		return 4;
	case DLT_IPV6:
		return 6;
	default:
		return 0;
	}
	return type == PF_ETHERTYPE_IPV4 ? 4 : type == PF_ETHERTYPE_IPV6 ? 6 : -1;
}

int capture_port_verdict_dlt(int dlt) { return pf_l3(dlt) >= 0; }

int capture_port_verdict(int dlt, const uint8_t *frame, uint32_t caplen, const uint16_t *ports,
			 int nports)
{
	int l3 = pf_l3(dlt);
	if (l3 < 0)
		return -1;
	struct rd r;
	rd_init(&r, frame, caplen);
	/* the link header and the first 20 bytes of IP, checked once */
	const uint8_t *b = rd_bytes(&r, (size_t)l3 + 20);
	if (!b)
		return -1;
	int ver = pf_link_ver(dlt, b);
	const uint8_t *ip = b + l3;
	if (ver < 0 || (ver && ip[0] >> 4 != ver))
		return -1;
	const uint8_t *tp;
	if (ip[0] >> 4 == 4) {
		unsigned ihl = ip[0] & 0x0f;
		if (ihl < 5)
			return -1;
		if (ip[9] != PF_IPPROTO_TCP)
			return 0;
		if (nports == 0)
			return 1;
		if (pf_be16(ip + 6) & 0x1fff)
			return 0; /* not the first fragment: no ports */
		rd_skip(&r, 4 * ihl - 20); /* options */
		tp = rd_bytes(&r, 4);
	} else if (ip[0] >> 4 == 6) {
		unsigned nh = ip[6];
		if (!rd_bytes(&r, 20)) /* the rest of the fixed header */
			return -1;
		if (nh != PF_IPPROTO_TCP)
			return pf_ip6_ext(nh) ? -1 : 0;
		if (nports == 0)
			return 1;
		tp = rd_bytes(&r, 4);
	} else {
		return -1;
	}
	if (!tp)
		return -1;
	return pf_port_in((uint16_t)pf_be16(tp), ports, nports) ||
	       pf_port_in((uint16_t)pf_be16(tp + 2), ports, nports);
}
