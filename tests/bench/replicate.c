/* replicate.c: grows a real etcd capture into the big benchmark capture (make bench).
 *
 *   replicate [-p PORT] [-n COPIES] [-s SPREAD] IN.pcap OUT.pcap
 *
 * Writes COPIES copies of every IPv4/TCP packet of IN, each copy a different set of
 * connections: the client side (the end that is not the etcd PORT) gets address
 * A + (copy << 16) (127.0.0.1 -> 127.1.0.1, 127.2.0.1, ...) and a shifted port, the server
 * side address S + (copy << 8) (127.0.0.1 -> 127.0.1.1, 127.0.2.1, ...), so each copy looks
 * like its own etcd cluster: the copies repeat the seed's keys, revisions and values, and
 * nothing keyed by (server, key, revision), like the decoded-value cache, may treat copy
 * K's values as copy 0's, which no real capture would allow; the TCP
 * sequence numbers of each direction (and the acks, and SACK blocks, that refer to them) are
 * offset by a per-copy constant; timestamps by copy * SPREAD * span / COPIES (default SPREAD
 * 0.5), and the copies are merged in time order so their connections interleave. IP and TCP
 * checksums are updated incrementally (RFC 1624), so a valid checksum stays valid and an
 * offloaded (invalid) one stays as it was. Copy 0 is the input unchanged. Without -p the etcd
 * port is the destination port of most SYNs. Packets that are not IPv4/TCP go to copy 0 only.
 *
 * Not part of the tool: a bench helper reading our own seed capture. Every access to packet
 * bytes still goes through the bounds-checked pk_* helpers below (offset + size <= caplen).
 */
#include <pcap/pcap.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_COPIES 250	/* client address A + (copy << 16) must stay in 127.0.0.0/8, the
			 * server's S + (copy << 8) in 127.0.0.0/16 */

struct pkt {
	struct pcap_pkthdr h;
	uint8_t *data;
	int ip;		/* offset of the IPv4 header, -1 if not IPv4/TCP */
};

static struct pkt *pkts;
static size_t npkts;

static bool pk_ok(const struct pkt *p, int off, int n)
{
	return off >= 0 && n >= 0 && (size_t)off + (size_t)n <= p->h.caplen;
}

static uint16_t pk_be16(const struct pkt *p, int off)
{
	if (!pk_ok(p, off, 2))
		return 0;
	return (uint16_t)(p->data[off] << 8 | p->data[off + 1]);
}

static uint32_t pk_be32(const struct pkt *p, int off)
{
	return (uint32_t)pk_be16(p, off) << 16 | pk_be16(p, off + 2);
}

static void pk_put16(uint8_t *buf, size_t cap, int off, uint16_t v)
{
	if (off >= 0 && (size_t)off + 2 <= cap) {
		buf[off] = (uint8_t)(v >> 8);
		buf[off + 1] = (uint8_t)v;
	}
}

/* Offset of the network header for the link types tcpdump/libpcap give for loopback and
 * ordinary interfaces; -1 when this packet is not IPv4. */
static int ip_offset(int dlt, const struct pkt *p)
{
	int off;
	uint16_t et;

	switch (dlt) {
	case DLT_EN10MB:
		off = 12;
		et = pk_be16(p, off);
		while (et == 0x8100 || et == 0x88a8) {	/* VLAN tags */
			off += 4;
			et = pk_be16(p, off);
		}
		return et == 0x0800 ? off + 2 : -1;
	case DLT_LINUX_SLL:
		return pk_be16(p, 14) == 0x0800 ? 16 : -1;
	case DLT_LINUX_SLL2:
		return pk_be16(p, 0) == 0x0800 ? 20 : -1;
	case DLT_NULL:
	case DLT_LOOP:
		return pk_ok(p, 0, 4) && (p->data[0] == 2 || p->data[3] == 2) ? 4 : -1;
	case DLT_RAW:
	case 228:	/* DLT_IPV4 */
		return 0;
	default:
		return -1;
	}
}

/* IPv4 + TCP with full headers in the capture: the TCP header offset, else -1. */
static int tcp_offset(const struct pkt *p)
{
	int ip = p->ip;

	if (ip < 0 || !pk_ok(p, ip, 20) || (p->data[ip] >> 4) != 4 || p->data[ip + 9] != 6)
		return -1;
	if ((pk_be16(p, ip + 6) & 0x1fff) != 0)	/* a non-first fragment */
		return -1;
	int ihl = (p->data[ip] & 15) * 4;
	if (ihl < 20 || !pk_ok(p, ip + ihl, 20))
		return -1;
	int thl = (p->data[ip + ihl + 12] >> 4) * 4;
	if (thl < 20 || !pk_ok(p, ip + ihl, thl))
		return -1;
	return ip + ihl;
}

/* RFC 1624 incremental checksum: HC' = ~(~HC + ~m + m') for each changed 16-bit word. */
struct csum {
	uint32_t acc;
};

static void csum_change16(struct csum *c, uint16_t old, uint16_t new)
{
	c->acc += (uint16_t)~old;
	c->acc += new;
}

static void csum_change32(struct csum *c, uint32_t old, uint32_t new)
{
	csum_change16(c, (uint16_t)(old >> 16), (uint16_t)(new >> 16));
	csum_change16(c, (uint16_t)old, (uint16_t)new);
}

static uint16_t csum_apply(const struct csum *c, uint16_t hc)
{
	uint32_t s = (uint16_t)~hc + c->acc;

	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static uint16_t shift_port(uint16_t port, unsigned copy)
{
	if (port < 1024)
		return port;
	return (uint16_t)(1024 + (port - 1024 + copy * 4099u) % (65536 - 1024));
}

/* Rewrites packet p as copy `copy` into buf (caplen bytes). */
static void rewrite(const struct pkt *p, uint8_t *buf, unsigned copy, uint16_t etcd_port)
{
	int tcp = tcp_offset(p);
	int ip = p->ip;
	size_t cap = p->h.caplen;

	memcpy(buf, p->data, cap);
	if (tcp < 0 || copy == 0)
		return;
	uint16_t sport = pk_be16(p, tcp), dport = pk_be16(p, tcp + 2);
	bool to_server = dport == etcd_port;
	if (!to_server && sport != etcd_port)
		return;	/* not etcd traffic (cannot happen with the seed's filter) */
	/* per-copy offsets of each direction's sequence space: large odd multipliers so the
	 * copies' sequence numbers are far apart */
	uint32_t dc = copy * 0x9e3779b1u, ds = copy * 0x7f4a7c15u;
	struct csum ipc = { 0 }, tc = { 0 };

	int caddr = to_server ? ip + 12 : ip + 16;
	uint32_t a = pk_be32(p, caddr), na = a + ((uint32_t)copy << 16);
	csum_change32(&ipc, a, na);
	csum_change32(&tc, a, na);	/* the pseudo-header */
	pk_put16(buf, cap, caddr, (uint16_t)(na >> 16));
	pk_put16(buf, cap, caddr + 2, (uint16_t)na);

	int saddr = to_server ? ip + 16 : ip + 12;
	uint32_t sa = pk_be32(p, saddr), nsa = sa + ((uint32_t)copy << 8);
	csum_change32(&ipc, sa, nsa);
	csum_change32(&tc, sa, nsa);
	pk_put16(buf, cap, saddr, (uint16_t)(nsa >> 16));
	pk_put16(buf, cap, saddr + 2, (uint16_t)nsa);

	int cport = to_server ? tcp : tcp + 2;
	uint16_t cp = pk_be16(p, cport), ncp = shift_port(cp, copy);
	csum_change16(&tc, cp, ncp);
	pk_put16(buf, cap, cport, ncp);

	uint32_t dseq = to_server ? dc : ds, dack = to_server ? ds : dc;
	uint32_t seq = pk_be32(p, tcp + 4), ack = pk_be32(p, tcp + 8);
	csum_change32(&tc, seq, seq + dseq);
	pk_put16(buf, cap, tcp + 4, (uint16_t)((seq + dseq) >> 16));
	pk_put16(buf, cap, tcp + 6, (uint16_t)(seq + dseq));
	if (p->data[tcp + 13] & 0x10) {	/* ACK */
		csum_change32(&tc, ack, ack + dack);
		pk_put16(buf, cap, tcp + 8, (uint16_t)((ack + dack) >> 16));
		pk_put16(buf, cap, tcp + 10, (uint16_t)(ack + dack));
	}
	/* SACK blocks name the peer's sequence numbers: shift them like the ack */
	int thl = (p->data[tcp + 12] >> 4) * 4;
	for (int o = tcp + 20; o < tcp + thl;) {
		uint8_t kind = p->data[o];
		if (kind == 0)
			break;
		if (kind == 1) {
			o++;
			continue;
		}
		if (!pk_ok(p, o, 2) || p->data[o + 1] < 2 || o + p->data[o + 1] > tcp + thl)
			break;
		int len = p->data[o + 1];
		if (kind == 5)
			for (int b = o + 2; b + 4 <= o + len; b += 4) {
				uint32_t e = pk_be32(p, b);
				csum_change32(&tc, e, e + dack);
				pk_put16(buf, cap, b, (uint16_t)((e + dack) >> 16));
				pk_put16(buf, cap, b + 2, (uint16_t)(e + dack));
			}
		o += len;
	}
	pk_put16(buf, cap, ip + 10, csum_apply(&ipc, pk_be16(p, ip + 10)));
	pk_put16(buf, cap, tcp + 16, csum_apply(&tc, pk_be16(p, tcp + 16)));
}

/* The port most SYNs (without ACK) went to: the etcd client port. */
static uint16_t guess_port(void)
{
	static uint32_t syns[65536];
	uint16_t best = 0;

	for (size_t i = 0; i < npkts; i++) {
		int tcp = tcp_offset(&pkts[i]);
		if (tcp >= 0 && (pkts[i].data[tcp + 13] & 0x12) == 0x02) {
			uint16_t d = pk_be16(&pkts[i], tcp + 2);
			if (++syns[d] > syns[best])
				best = d;
		}
	}
	return best;
}

static int64_t us_of(const struct timeval *tv)
{
	return (int64_t)tv->tv_sec * 1000000 + tv->tv_usec;
}

static void usage(void)
{
	fprintf(stderr, "usage: replicate [-p PORT] [-n COPIES] [-s SPREAD] IN.pcap OUT.pcap\n");
	exit(2);
}

int main(int argc, char **argv)
{
	char err[PCAP_ERRBUF_SIZE];
	unsigned copies = 8;
	double spread = 0.5;
	long port = 0;
	int c;

	while ((c = getopt(argc, argv, "p:n:s:")) != -1) {
		switch (c) {
		case 'p': port = strtol(optarg, NULL, 10); break;
		case 'n': copies = (unsigned)strtoul(optarg, NULL, 10); break;
		case 's': spread = strtod(optarg, NULL); break;
		default: usage();
		}
	}
	if (argc - optind != 2 || copies < 1 || copies > MAX_COPIES || port < 0 || port > 65535)
		usage();
	pcap_t *in = pcap_open_offline_with_tstamp_precision(argv[optind],
							     PCAP_TSTAMP_PRECISION_MICRO, err);
	if (!in) {
		fprintf(stderr, "replicate: %s\n", err);
		return 1;
	}
	int dlt = pcap_datalink(in);
	size_t cap = 0;
	struct pcap_pkthdr *h;
	const u_char *d;
	int r;
	while ((r = pcap_next_ex(in, &h, &d)) == 1) {
		if (npkts == cap) {
			cap = cap ? cap * 2 : 65536;
			pkts = realloc(pkts, cap * sizeof(*pkts));
			if (!pkts) {
				perror("replicate");
				return 1;
			}
		}
		struct pkt *p = &pkts[npkts++];
		p->h = *h;
		p->data = malloc(h->caplen ? h->caplen : 1);
		if (!p->data) {
			perror("replicate");
			return 1;
		}
		memcpy(p->data, d, h->caplen);
		p->ip = ip_offset(dlt, p);
	}
	if (r == PCAP_ERROR)
		fprintf(stderr, "replicate: %s (keeping %zu packets)\n", pcap_geterr(in), npkts);
	if (npkts == 0) {
		fprintf(stderr, "replicate: no packets\n");
		return 1;
	}
	if (port == 0)
		port = guess_port();
	if (port == 0) {
		fprintf(stderr, "replicate: no SYN to find the etcd port; pass -p PORT\n");
		return 1;
	}
	int64_t span = us_of(&pkts[npkts - 1].h.ts) - us_of(&pkts[0].h.ts);
	if (span < 0)
		span = 0;

	pcap_t *dead = pcap_open_dead_with_tstamp_precision(dlt, pcap_snapshot(in),
							    PCAP_TSTAMP_PRECISION_MICRO);
	pcap_dumper_t *out = pcap_dump_open(dead, argv[optind + 1]);
	if (!out) {
		fprintf(stderr, "replicate: %s\n", pcap_geterr(dead));
		return 1;
	}
	size_t *next = calloc(copies, sizeof(*next));
	int64_t *off = calloc(copies, sizeof(*off));
	uint8_t *buf = malloc(65536 + 262144);
	if (!next || !off || !buf) {
		perror("replicate");
		return 1;
	}
	for (unsigned k = 0; k < copies; k++)
		off[k] = (int64_t)((double)span * spread * k / copies) + k * 7;	/* +7 us: no ties */
	/* k-way merge of the time-shifted copies (copies is small: a linear scan is enough) */
	uint64_t written = 0, bytes = 0;
	for (;;) {
		int best = -1;
		int64_t bt = 0;
		for (unsigned k = 0; k < copies; k++) {
			if (next[k] == npkts)
				continue;
			int64_t t = us_of(&pkts[next[k]].h.ts) + off[k];
			if (best < 0 || t < bt) {
				best = (int)k;
				bt = t;
			}
		}
		if (best < 0)
			break;
		struct pkt *p = &pkts[next[best]++];
		if (best > 0 && tcp_offset(p) < 0)
			continue;	/* not TCP: only once, in copy 0 */
		if (p->h.caplen > 65536 + 262144)
			continue;
		rewrite(p, buf, (unsigned)best, (uint16_t)port);
		struct pcap_pkthdr oh = p->h;
		oh.ts.tv_sec = (time_t)(bt / 1000000);
		oh.ts.tv_usec = (suseconds_t)(bt % 1000000);
		pcap_dump((u_char *)out, &oh, buf);
		written++;
		bytes += oh.caplen;
	}
	pcap_dump_close(out);
	fprintf(stderr, "replicate: %zu packets x %u copies (etcd port %ld) -> %llu packets, %.1f MB\n",
		npkts, copies, port, (unsigned long long)written, bytes / 1e6);
	return 0;
}
