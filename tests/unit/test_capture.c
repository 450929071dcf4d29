/* test_capture.c: unit tests for capture/ — the pure frame decoder on hand-built frames of
 * every supported link type, truncation at every length, and the libpcap side (offline
 * pcap/pcapng/stdin, -w round trip, filters, error sentences, live loopback). */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <pcap/pcap.h>

#include "capture.h"
#include "frame_build.h"
#include "pcapfile.h"
#include "pcapfile_check.h"
#include "unit.h"

static const uint8_t V4_SRC[4] = {10, 0, 0, 1}, V4_DST[4] = {10, 0, 0, 2};
static const uint8_t V6_SRC[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
static const uint8_t V6_DST[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 2};
static const char PAYLOAD[] = "hello etcd";
#define PLEN ((uint32_t)sizeof PAYLOAD - 1)

/* TCP header with optlen bytes of NOP options, then the payload. */
static void put_tcp(struct frame *f, size_t optlen, const char *pl, size_t plen)
{
	put16(f, 51234);
	put16(f, 2379);
	put32(f, 0x01020304);
	put32(f, 0xa0b0c0d0);
	put8(f, (uint8_t)((5 + optlen / 4) << 4));
	put8(f, CAP_TH_PSH | CAP_TH_ACK);
	put16(f, 65535);
	put32(f, 0); /* checksum, urgent */
	memset(f->b + f->n, 1, optlen);
	f->n += optlen;
	put(f, pl, plen);
}

/* IPv4 header (IHL 5 + optlen/4) carrying proto; total length covers the TCP part. */
static void put_ip4(struct frame *f, uint8_t proto, uint16_t frag, size_t optlen, size_t l4len)
{
	put8(f, (uint8_t)(0x40 | (5 + optlen / 4)));
	put8(f, 0);
	put16(f, (uint16_t)(20 + optlen + l4len));
	put16(f, 0x1234);
	put16(f, frag);
	put8(f, 64);
	put8(f, proto);
	put16(f, 0);
	put(f, V4_SRC, 4);
	put(f, V4_DST, 4);
	putz(f, optlen);
}

static void put_ip6(struct frame *f, uint8_t nh, size_t plen)
{
	put32(f, 0x60000000);
	put16(f, (uint16_t)plen);
	put8(f, nh);
	put8(f, 64);
	put(f, V6_SRC, 16);
	put(f, V6_DST, 16);
}

static void put_eth(struct frame *f, uint16_t type)
{
	putz(f, 12);
	put16(f, type);
}

/* Complete IPv4/TCP packet with PAYLOAD. */
static void put_v4_tcp(struct frame *f)
{
	put_ip4(f, 6, 0x4000, 0, 20 + PLEN);
	put_tcp(f, 0, PAYLOAD, PLEN);
}

static void put_v6_tcp(struct frame *f)
{
	put_ip6(f, 6, 20 + PLEN);
	put_tcp(f, 0, PAYLOAD, PLEN);
}

/* Checks the decoded segment is the one put_tcp wrote, of address family af. */
static void check_seg(const struct cap_packet *p, int af, uint32_t len, uint32_t wire)
{
	CHECK_EQ_INT(p->af, af);
	CHECK_EQ_INT(p->sport, 51234);
	CHECK_EQ_INT(p->dport, 2379);
	CHECK_EQ_INT(p->seq, 0x01020304);
	CHECK_EQ_INT(p->ack, 0xa0b0c0d0);
	CHECK_EQ_INT(p->flags, CAP_TH_PSH | CAP_TH_ACK);
	CHECK_EQ_INT(p->len, len);
	CHECK_EQ_INT(p->wire_len, wire);
	CHECK(p->len == 0 || (p->payload && memcmp(p->payload, PAYLOAD, p->len) == 0));
	if (af == 4) {
		CHECK(memcmp(p->src, V4_SRC, 4) == 0 && memcmp(p->dst, V4_DST, 4) == 0);
		CHECK(p->src[4] == 0 && p->dst[15] == 0);
	} else {
		CHECK(memcmp(p->src, V6_SRC, 16) == 0 && memcmp(p->dst, V6_DST, 16) == 0);
	}
}

/* Decodes a copy of the frame in an exact-size heap block, so ASan sees any over-read. */
static int decode(int dlt, const struct frame *f, size_t n, size_t wire, struct cap_packet *p)
{
	uint8_t *copy = malloc(n ? n : 1);
	memcpy(copy, f->b, n);
	int rc = capture_decode_frame(dlt, n ? copy : NULL, (uint32_t)n, (uint32_t)wire, p);
	/* Views must point into the frame; re-point them at the original for the checks. */
	if (rc == 0 && p->payload) {
		CHECK(p->payload >= copy && p->payload + p->len <= copy + n);
		p->payload = f->b + (p->payload - copy);
	}
	free(copy);
	return rc;
}

/* Decodes f whole and checks the full segment came out; then cuts it at every length: a
 * cut inside the headers must be an error, a cut inside the payload a short segment. */
static void check_frame(const char *what, int dlt, const struct frame *f, int af)
{
	struct cap_packet p;
	int rc = decode(dlt, f, f->n, f->n, &p);
	if (rc != 0)
		fprintf(stderr, "frame %s: rc %d\n", what, rc);
	CHECK_EQ_INT(rc, 0);
	check_seg(&p, af, PLEN, PLEN);
	size_t hdr = f->n - PLEN;
	int bad = 0;
	for (size_t n = 0; n < f->n; n++) {
		rc = decode(dlt, f, n, f->n, &p);
		if (n < hdr) {
			if (rc != EE_TRUNCATED && rc != EE_MALFORMED) {
				fprintf(stderr, "frame %s cut at %zu: rc %d\n", what, n, rc);
				bad++;
			}
		} else if (rc != 0 || p.len != n - hdr || p.wire_len != PLEN || p.seq != 0x01020304) {
			fprintf(stderr, "frame %s cut at %zu: rc %d len %u\n", what, n, rc, p.len);
			bad++;
		}
	}
	CHECK_EQ_INT(bad, 0);
}

static void test_link_types(void)
{
	struct frame f = {0};

	put_eth(&f, 0x0800);
	put_v4_tcp(&f);
	check_frame("eth v4", DLT_EN10MB, &f, 4);

	f.n = 0;
	put_eth(&f, 0x86dd);
	put_v6_tcp(&f);
	check_frame("eth v6", DLT_EN10MB, &f, 6);

	f.n = 0;
	put_eth(&f, 0x8100);
	put16(&f, 0x0064);
	put16(&f, 0x0800);
	put_v4_tcp(&f);
	check_frame("802.1Q", DLT_EN10MB, &f, 4);

	f.n = 0;
	put_eth(&f, 0x88a8);
	put16(&f, 0x0010);
	put16(&f, 0x8100);
	put16(&f, 0x0064);
	put16(&f, 0x86dd);
	put_v6_tcp(&f);
	check_frame("QinQ", DLT_EN10MB, &f, 6);

	f.n = 0; /* SLL: pkttype, arphrd, addrlen, addr[8], protocol */
	put16(&f, 0);
	put16(&f, 1);
	put16(&f, 6);
	putz(&f, 8);
	put16(&f, 0x0800);
	put_v4_tcp(&f);
	check_frame("SLL", DLT_LINUX_SLL, &f, 4);

	f.n = 0; /* SLL2: protocol, reserved, ifindex, arphrd, pkttype, addrlen, addr[8] */
	put16(&f, 0x86dd);
	put16(&f, 0);
	put32(&f, 2);
	put16(&f, 1);
	put8(&f, 4);
	put8(&f, 6);
	putz(&f, 8);
	put_v6_tcp(&f);
	check_frame("SLL2", DLT_LINUX_SLL2, &f, 6);

	f.n = 0;
	put32le(&f, 2);
	put_v4_tcp(&f);
	check_frame("NULL le v4", DLT_NULL, &f, 4);

	f.n = 0;
	put32(&f, 2);
	put_v4_tcp(&f);
	check_frame("NULL be v4", DLT_NULL, &f, 4);

	static const uint32_t v6fams[] = {24, 28, 30};
	for (int i = 0; i < 3; i++) {
		f.n = 0;
		put32le(&f, v6fams[i]);
		put_v6_tcp(&f);
		check_frame("NULL le v6", DLT_NULL, &f, 6);
		f.n = 0;
		put32(&f, v6fams[i]);
		put_v6_tcp(&f);
		check_frame("LOOP v6", DLT_LOOP, &f, 6);
	}

	f.n = 0;
	put32(&f, 2);
	put_v4_tcp(&f);
	check_frame("LOOP v4", DLT_LOOP, &f, 4);

	f.n = 0;
	put_v4_tcp(&f);
	check_frame("RAW v4", DLT_RAW, &f, 4);
	check_frame("LINKTYPE_RAW v4", 101, &f, 4);
	check_frame("IPV4", DLT_IPV4, &f, 4);

	f.n = 0;
	put_v6_tcp(&f);
	check_frame("RAW v6", DLT_RAW, &f, 6);
	check_frame("IPV6", DLT_IPV6, &f, 6);

	/* IPv4 and TCP options are skipped. */
	f.n = 0;
	put_eth(&f, 0x0800);
	put_ip4(&f, 6, 0, 8, 32 + PLEN);
	put_tcp(&f, 12, PAYLOAD, PLEN);
	check_frame("options", DLT_EN10MB, &f, 4);

	/* IPv6 extension chain: hop-by-hop (8), routing (24), destination options (16), AH
	 * (24: len field 4 -> (4+2)*4), then TCP. */
	f.n = 0;
	put_ip6(&f, 0, 8 + 24 + 16 + 24 + 20 + PLEN);
	put8(&f, 43);
	put8(&f, 0);
	putz(&f, 6);
	put8(&f, 60);
	put8(&f, 2);
	putz(&f, 22);
	put8(&f, 51);
	put8(&f, 1);
	putz(&f, 14);
	put8(&f, 6);
	put8(&f, 4);
	putz(&f, 22);
	put_tcp(&f, 0, PAYLOAD, PLEN);
	check_frame("v6 ext", DLT_RAW, &f, 6);
}

static void test_not_tcp(void)
{
	struct frame f = {0};
	struct cap_packet p;

	put_eth(&f, 0x0806); /* ARP */
	putz(&f, 28);
	CHECK_EQ_INT(decode(DLT_EN10MB, &f, f.n, f.n, &p), EE_NOTTCP);

	f.n = 0; /* 802.3 length field + LLC */
	put_eth(&f, 46);
	putz(&f, 46);
	CHECK_EQ_INT(decode(DLT_EN10MB, &f, f.n, f.n, &p), EE_NOTTCP);

	f.n = 0; /* UDP */
	put_ip4(&f, 17, 0, 0, 8);
	putz(&f, 8);
	CHECK_EQ_INT(decode(DLT_RAW, &f, f.n, f.n, &p), EE_NOTTCP);

	f.n = 0; /* first fragment (MF) */
	put_ip4(&f, 6, 0x2000, 0, 20 + PLEN);
	put_tcp(&f, 0, PAYLOAD, PLEN);
	CHECK_EQ_INT(decode(DLT_RAW, &f, f.n, f.n, &p), EE_NOTTCP);

	f.n = 0; /* later fragment (offset 3, no MF) */
	put_ip4(&f, 6, 3, 0, 20 + PLEN);
	put_tcp(&f, 0, PAYLOAD, PLEN);
	CHECK_EQ_INT(decode(DLT_RAW, &f, f.n, f.n, &p), EE_NOTTCP);

	f.n = 0; /* IPv6 fragment header, even at offset 0 */
	put_ip6(&f, 44, 8 + 20 + PLEN);
	put8(&f, 6);
	put8(&f, 0);
	put16(&f, 0x0001);
	put32(&f, 99);
	put_tcp(&f, 0, PAYLOAD, PLEN);
	CHECK_EQ_INT(decode(DLT_RAW, &f, f.n, f.n, &p), EE_NOTTCP);

	f.n = 0; /* IPv6 no next header */
	put_ip6(&f, 59, 0);
	CHECK_EQ_INT(decode(DLT_IPV6, &f, f.n, f.n, &p), EE_NOTTCP);

	f.n = 0; /* unknown loopback family */
	put32le(&f, 7);
	put_v4_tcp(&f);
	CHECK_EQ_INT(decode(DLT_NULL, &f, f.n, f.n, &p), EE_NOTTCP);

	f.n = 0; /* SLL carrying ARP */
	putz(&f, 14);
	put16(&f, 0x0806);
	putz(&f, 28);
	CHECK_EQ_INT(decode(DLT_LINUX_SLL, &f, f.n, f.n, &p), EE_NOTTCP);

	/* Unknown link types are refused before reading anything. */
	CHECK_EQ_INT(capture_decode_frame(105, f.b, (uint32_t)f.n, (uint32_t)f.n, &p), EE_UNSUPPORTED);
	CHECK_EQ_INT(capture_decode_frame(9999, NULL, 0, 0, &p), EE_UNSUPPORTED);
}

static void test_malformed(void)
{
	struct frame f = {0};
	struct cap_packet p;

	put_v4_tcp(&f);
	f.b[0] = 0x44; /* IHL 4 */
	CHECK_EQ_INT(decode(DLT_IPV4, &f, f.n, f.n, &p), EE_MALFORMED);
	f.b[0] = 0x55; /* version 5 on a v4 link */
	CHECK_EQ_INT(decode(DLT_IPV4, &f, f.n, f.n, &p), EE_MALFORMED);
	CHECK_EQ_INT(decode(DLT_RAW, &f, f.n, f.n, &p), EE_MALFORMED);
	f.b[0] = 0x45;
	f.b[2] = 0;
	f.b[3] = 19; /* total length below the header */
	CHECK_EQ_INT(decode(DLT_IPV4, &f, f.n, f.n, &p), EE_MALFORMED);
	f.b[3] = 30; /* total length leaves 10 bytes for a 20-byte TCP header */
	CHECK_EQ_INT(decode(DLT_IPV4, &f, f.n, f.n, &p), EE_MALFORMED);
	f.b[3] = (uint8_t)(40 + PLEN);
	f.b[32] = 0x40; /* TCP data offset 4 */
	CHECK_EQ_INT(decode(DLT_IPV4, &f, f.n, f.n, &p), EE_MALFORMED);
	f.b[32] = 0xf0; /* data offset 15 = 60 bytes, beyond the segment */
	CHECK_EQ_INT(decode(DLT_IPV4, &f, f.n, f.n, &p), EE_MALFORMED);
	f.b[32] = 0x50;
	CHECK_EQ_INT(decode(DLT_IPV4, &f, f.n, f.n, &p), 0);

	f.n = 0; /* v6 extension header longer than the payload length */
	put_ip6(&f, 0, 8);
	put8(&f, 6);
	put8(&f, 1);
	putz(&f, 30);
	CHECK_EQ_INT(decode(DLT_IPV6, &f, f.n, f.n, &p), EE_MALFORMED);

	f.n = 0; /* a chain of 17 hop-by-hop headers hits CAP_IP6_EXT_MAX */
	put_ip6(&f, 0, 17 * 8 + 20);
	for (int i = 0; i < 17; i++) {
		put8(&f, i == 16 ? 6 : 0);
		put8(&f, 0);
		putz(&f, 6);
	}
	put_tcp(&f, 0, "", 0);
	CHECK_EQ_INT(decode(DLT_IPV6, &f, f.n, f.n, &p), EE_MALFORMED);

	f.n = 0; /* 9 stacked VLAN tags hit CAP_VLAN_MAX_DEPTH */
	put_eth(&f, 0x8100);
	for (int i = 0; i < 9; i++) {
		put16(&f, 1);
		put16(&f, i == 8 ? 0x0800 : 0x8100);
	}
	put_v4_tcp(&f);
	CHECK_EQ_INT(decode(DLT_EN10MB, &f, f.n, f.n, &p), EE_MALFORMED);
}

static void test_lengths(void)
{
	struct frame f = {0};
	struct cap_packet p;

	/* A bare ACK padded to Ethernet's 60-byte minimum: the padding is not payload. */
	put_eth(&f, 0x0800);
	put_ip4(&f, 6, 0, 0, 20);
	put_tcp(&f, 0, "", 0);
	CHECK_EQ_INT(f.n, 54);
	putz(&f, 6);
	CHECK_EQ_INT(decode(DLT_EN10MB, &f, f.n, f.n, &p), 0);
	CHECK_EQ_INT(p.len, 0);
	CHECK_EQ_INT(p.wire_len, 0);

	f.n = 0; /* 2 payload bytes + 4 bytes of padding */
	put_eth(&f, 0x0800);
	put_ip4(&f, 6, 0, 0, 22);
	put_tcp(&f, 0, "he", 2);
	put(&f, "XXXX", 4);
	CHECK_EQ_INT(decode(DLT_EN10MB, &f, f.n, f.n, &p), 0);
	CHECK_EQ_INT(p.len, 2);
	CHECK_EQ_INT(p.wire_len, 2);
	CHECK(p.payload && memcmp(p.payload, "he", 2) == 0);

	f.n = 0; /* IPv6 padding trimmed by the payload length too */
	put_eth(&f, 0x86dd);
	put_v6_tcp(&f);
	putz(&f, 8);
	CHECK_EQ_INT(decode(DLT_EN10MB, &f, f.n, f.n, &p), 0);
	check_seg(&p, 6, PLEN, PLEN);

	/* Snaplen cut: 1000-byte payload, 100 bytes captured. */
	static char big[1000];
	memset(big, 'x', sizeof big);
	f.n = 0;
	put_eth(&f, 0x0800);
	put_ip4(&f, 6, 0, 0, 20 + sizeof big);
	put_tcp(&f, 0, big, sizeof big);
	CHECK_EQ_INT(decode(DLT_EN10MB, &f, 54 + 100, f.n, &p), 0);
	CHECK_EQ_INT(p.len, 100);
	CHECK_EQ_INT(p.wire_len, 1000);

	/* TSO: total length 0 on a segment captured on the sender; captured length rules. */
	f.n = 0;
	put_v4_tcp(&f);
	f.b[2] = f.b[3] = 0;
	CHECK_EQ_INT(decode(DLT_RAW, &f, f.n, f.n, &p), 0);
	check_seg(&p, 4, PLEN, PLEN);
	CHECK_EQ_INT(decode(DLT_RAW, &f, f.n - 4, f.n, &p), 0);
	CHECK_EQ_INT(p.len, PLEN - 4);
	CHECK_EQ_INT(p.wire_len, PLEN);

	f.n = 0; /* IPv6 payload length 0 (jumbogram / TSO) */
	put_v6_tcp(&f);
	f.b[4] = f.b[5] = 0;
	CHECK_EQ_INT(decode(DLT_RAW, &f, f.n, f.n, &p), 0);
	check_seg(&p, 6, PLEN, PLEN);
}

static void test_addr_str(void)
{
	char buf[46];
	uint8_t a[16] = {127, 0, 0, 1};
	capture_addr_str(4, a, buf, sizeof buf);
	CHECK_EQ_STR(buf, "127.0.0.1");
	capture_addr_str(6, V6_SRC, buf, sizeof buf);
	CHECK_EQ_STR(buf, "2001:db8::1");
	capture_addr_str(0, a, buf, sizeof buf);
	CHECK_EQ_STR(buf, "?");
}

static char tmpdir[64];

static void tmp_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", tmpdir, name);
}

/* Writes frames to a pcap of link type dlt; frame i gets ts = 1700000000 + i, usec i*1000
 * (or the same instant in nanoseconds when nano). */
static void write_pcap(const char *path, int dlt, bool nano, struct frame *frames, int n)
{
	pcap_t *p = pcap_open_dead_with_tstamp_precision(
		dlt, 65535, nano ? PCAP_TSTAMP_PRECISION_NANO : PCAP_TSTAMP_PRECISION_MICRO);
	pcap_dumper_t *d = pcap_dump_open(p, path);
	CHECK(d != NULL);
	for (int i = 0; d && i < n; i++) {
		struct pcap_pkthdr h = {0};
		h.ts.tv_sec = 1700000000 + i;
		h.ts.tv_usec = (i * 1000 + 7) * (nano ? 1000 : 1);
		h.caplen = h.len = (bpf_u_int32)frames[i].n;
		pcap_dump((u_char *)d, &h, frames[i].b);
	}
	if (d)
		pcap_dump_close(d);
	pcap_close(p);
}

/* Three frames: IPv4 TCP, ARP, IPv6 TCP. */
static void make_frames(struct frame fr[3])
{
	memset(fr, 0, 3 * sizeof *fr);
	put_eth(&fr[0], 0x0800);
	put_v4_tcp(&fr[0]);
	put_eth(&fr[1], 0x0806);
	putz(&fr[1], 28);
	put_eth(&fr[2], 0x86dd);
	put_v6_tcp(&fr[2]);
}

/* Reads a whole capture, returning TCP segments seen and filling st. */
static int read_all(struct capture *c, struct capture_stats *st, ee_ts *first_ts)
{
	struct cap_packet p;
	char err[256];
	int n = 0, rc;
	while ((rc = capture_next(c, &p, err, sizeof err)) == 1) {
		if (n == 0 && first_ts)
			*first_ts = p.ts;
		n++;
	}
	CHECK_EQ_INT(rc, 0);
	capture_get_stats(c, st);
	return n;
}

static void test_offline(void)
{
	struct frame fr[3];
	char path[128], wpath[128], err[256];
	struct capture *c;
	struct capture_stats st;
	struct cap_packet p;
	ee_ts ts = 0;

	make_frames(fr);
	tmp_path(path, sizeof path, "three.pcap");
	write_pcap(path, DLT_EN10MB, false, fr, 3);

	CHECK_EQ_INT(capture_open_offline(&c, path, err, sizeof err), 0);
	CHECK_EQ_INT(capture_linktype(c), DLT_EN10MB);
	CHECK_EQ_STR(capture_linktype_name(c), "EN10MB");
	CHECK_EQ_INT(capture_next(c, &p, err, sizeof err), 1);
	check_seg(&p, 4, PLEN, PLEN);
	CHECK_EQ_INT(p.ts, 1700000000LL * 1000000 + 7);
	CHECK_EQ_INT(capture_next(c, &p, err, sizeof err), 1);
	check_seg(&p, 6, PLEN, PLEN);
	CHECK_EQ_INT(p.ts, 1700000002LL * 1000000 + 2007);
	CHECK_EQ_INT(capture_next(c, &p, err, sizeof err), 0);
	CHECK_EQ_INT(capture_next(c, &p, err, sizeof err), 0);
	capture_get_stats(c, &st);
	CHECK_EQ_INT(st.packets, 3);
	CHECK_EQ_INT(st.bytes, fr[0].n + fr[1].n + fr[2].n);
	CHECK_EQ_INT(st.tcp, 2);
	CHECK_EQ_INT(st.not_tcp, 1);
	CHECK_EQ_INT(st.malformed, 0);
	CHECK_EQ_INT(st.truncated, 0);
	CHECK(!st.drops_known);
	capture_close(c);

	/* -w: every frame read (ARP too) lands in the dump; reading it back gives the same. */
	tmp_path(wpath, sizeof wpath, "copy.pcap");
	CHECK_EQ_INT(capture_open_offline(&c, path, err, sizeof err), 0);
	CHECK_EQ_INT(capture_dump_open(c, wpath, err, sizeof err), 0);
	CHECK_EQ_INT(read_all(c, &st, NULL), 2);
	capture_close(c);
	CHECK_EQ_INT(capture_open_offline(&c, wpath, err, sizeof err), 0);
	CHECK_EQ_INT(read_all(c, &st, &ts), 2);
	CHECK_EQ_INT(st.packets, 3);
	CHECK_EQ_INT(st.not_tcp, 1);
	CHECK_EQ_INT(ts, 1700000000LL * 1000000 + 7);
	capture_close(c);

	/* Filters run on the offline reader too. */
	CHECK_EQ_INT(capture_open_offline(&c, path, err, sizeof err), 0);
	CHECK_EQ_INT(capture_set_filter(c, "ip6 and tcp dst port 2379", err, sizeof err), 0);
	CHECK_EQ_INT(read_all(c, &st, NULL), 1);
	CHECK_EQ_INT(st.packets, 1);
	CHECK_EQ_INT(capture_set_filter(c, "tcp port", err, sizeof err), EE_USAGE);
	CHECK(strncmp(err, "bad filter \"tcp port\": ", 23) == 0);
	capture_close(c);

	/* Nanosecond pcap: timestamps still come out in microseconds. */
	tmp_path(path, sizeof path, "nano.pcap");
	write_pcap(path, DLT_EN10MB, true, fr, 3);
	CHECK_EQ_INT(capture_open_offline(&c, path, err, sizeof err), 0);
	CHECK_EQ_INT(read_all(c, &st, &ts), 2);
	CHECK_EQ_INT(ts, 1700000000LL * 1000000 + 7);
	capture_close(c);

	/* stdin */
	tmp_path(path, sizeof path, "three.pcap");
	int saved = dup(0);
	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0 && dup2(fd, 0) == 0);
	close(fd);
	CHECK_EQ_INT(capture_open_offline(&c, "-", err, sizeof err), 0);
	CHECK_EQ_INT(read_all(c, &st, NULL), 2);
	capture_close(c);
	dup2(saved, 0);
	close(saved);

	/* Errors: missing file, not a capture, unsupported link type, unwritable -w. */
	CHECK_EQ_INT(capture_open_offline(&c, "/nonexistent/x.pcap", err, sizeof err), EE_IO);
	CHECK_EQ_STR(err, "cannot read /nonexistent/x.pcap: No such file or directory");
	CHECK(c == NULL);

	tmp_path(path, sizeof path, "text.pcap");
	FILE *fp = fopen(path, "w");
	fputs("this is not a capture file, just some text\n", fp);
	fclose(fp);
	CHECK_EQ_INT(capture_open_offline(&c, path, err, sizeof err), EE_IO);
	char want[256];
	snprintf(want, sizeof want, "cannot read %s: unknown file format", path);
	CHECK_EQ_STR(err, want);

	tmp_path(path, sizeof path, "wifi.pcap");
	write_pcap(path, DLT_IEEE802_11, false, fr, 1);
	CHECK_EQ_INT(capture_open_offline(&c, path, err, sizeof err), EE_UNSUPPORTED);
	CHECK_EQ_STR(err, "unsupported link type IEEE802_11 (105)");

	tmp_path(path, sizeof path, "three.pcap");
	CHECK_EQ_INT(capture_open_offline(&c, path, err, sizeof err), 0);
	CHECK_EQ_INT(capture_dump_open(c, "/nonexistent/out.pcap", err, sizeof err), EE_IO);
	CHECK(strncmp(err, "cannot write /nonexistent/out.pcap: ", 36) == 0);
	capture_close(c);

	/* Malformed and snaplen-cut frames are counted, not fatal. */
	struct frame bad[3];
	make_frames(bad);
	bad[1] = bad[0];
	bad[1].b[14] = 0x41; /* IHL 1 */
	bad[2] = bad[0];
	bad[2].n -= 3; /* captured 3 bytes short of the IP total length */
	tmp_path(path, sizeof path, "bad.pcap");
	write_pcap(path, DLT_EN10MB, false, bad, 3);
	CHECK_EQ_INT(capture_open_offline(&c, path, err, sizeof err), 0);
	CHECK_EQ_INT(read_all(c, &st, NULL), 2);
	CHECK_EQ_INT(st.malformed, 1);
	CHECK_EQ_INT(st.truncated, 1);
	capture_close(c);
}

/* A minimal pcapng (SHB, IDB for Linux SLL, one EPB) written by hand, since libpcap 1.10
 * cannot write pcapng. Little-endian, microsecond resolution (no if_tsresol option). */
static void test_pcapng(void)
{
	struct frame f = {0}, ng = {0};
	char path[128], err[256];
	struct capture *c;
	struct cap_packet p;

	putz(&f, 14);
	put16(&f, 0x0800);
	put_v4_tcp(&f);
	size_t padded = (f.n + 3) & ~(size_t)3;
	uint64_t ts = 1700000000ULL * 1000000 + 123456;

	put32le(&ng, 0x0a0d0d0a); /* SHB */
	put32le(&ng, 28);
	put32le(&ng, 0x1a2b3c4d);
	put32le(&ng, 1);          /* major 1, minor 0 */
	put32le(&ng, 0xffffffff); /* section length unknown */
	put32le(&ng, 0xffffffff);
	put32le(&ng, 28);
	put32le(&ng, 1); /* IDB */
	put32le(&ng, 20);
	put32le(&ng, DLT_LINUX_SLL);
	put32le(&ng, 65535);
	put32le(&ng, 20);
	put32le(&ng, 6); /* EPB */
	put32le(&ng, (uint32_t)(32 + padded));
	put32le(&ng, 0);
	put32le(&ng, (uint32_t)(ts >> 32));
	put32le(&ng, (uint32_t)ts);
	put32le(&ng, (uint32_t)f.n);
	put32le(&ng, (uint32_t)f.n);
	put(&ng, f.b, f.n);
	putz(&ng, padded - f.n);
	put32le(&ng, (uint32_t)(32 + padded));

	tmp_path(path, sizeof path, "one.pcapng");
	FILE *fp = fopen(path, "wb");
	fwrite(ng.b, 1, ng.n, fp);
	fclose(fp);
	int rc = capture_open_offline(&c, path, err, sizeof err);
	CHECK_EQ_INT(rc, 0);
	if (rc != 0) {
		fprintf(stderr, "pcapng: %s\n", err);
		return;
	}
	CHECK_EQ_INT(capture_linktype(c), DLT_LINUX_SLL);
	CHECK_EQ_STR(capture_linktype_name(c), "LINUX_SLL");
	CHECK_EQ_INT(capture_next(c, &p, err, sizeof err), 1);
	check_seg(&p, 4, PLEN, PLEN);
	CHECK_EQ_INT(p.ts, (ee_ts)ts);
	CHECK_EQ_INT(capture_next(c, &p, err, sizeof err), 0);
	capture_close(c);
}

/* Classic pcap bytes built by hand for the record walker (pcapfile.c), in either byte order. */
static void pf_u32(struct buf *b, bool le, uint32_t v)
{
	uint8_t x[4];
	for (int i = 0; i < 4; i++)
		x[le ? i : 3 - i] = (uint8_t)(v >> (8 * i));
	buf_put(b, x, 4);
}
static void pf_u16(struct buf *b, bool le, uint16_t v)
{
	uint8_t x[2] = {(uint8_t)(le ? v : v >> 8), (uint8_t)(le ? v >> 8 : v)};
	buf_put(b, x, 2);
}
static void pf_header(struct buf *b, bool le, bool nsec, uint16_t minor, uint32_t snaplen,
		      uint32_t linktype)
{
	b->n = 0;
	pf_u32(b, le, nsec ? 0xa1b23c4d : 0xa1b2c3d4);
	pf_u16(b, le, 2);
	pf_u16(b, le, minor);
	pf_u32(b, le, 0);
	pf_u32(b, le, 0);
	pf_u32(b, le, snaplen);
	pf_u32(b, le, linktype);
}
/* A record header claiming caplen/len, followed by have bytes of frame f (zeros past it). */
static void pf_record(struct buf *b, bool le, uint32_t sec, uint32_t frac, uint32_t caplen,
		      uint32_t len, const struct frame *f, size_t have)
{
	pf_u32(b, le, sec);
	pf_u32(b, le, frac);
	pf_u32(b, le, caplen);
	pf_u32(b, le, len);
	for (size_t i = 0; i < have; i++) {
		uint8_t c = f && i < f->n ? f->b[i] : 0;
		buf_put(b, &c, 1);
	}
}

/* pcapfile_check.h's differential check on one file, counted as a unit check. Returns the
 * records read, -1 when libpcap refuses the file, -2 when pcapfile_init does not take it.
 * (fuzz_pcapfile.c runs the same check on random input.) */
static int pf_compare(const uint8_t *data, size_t size)
{
	const char *what;
	size_t step;
	char detail[2 * PCAP_ERRBUF_SIZE + 32];
	int n = pcapfile_check(data, size, &what, &step, detail, sizeof detail);
	if (n == PCAPFILE_CHECK_DIFF)
		fprintf(stderr, "pcapfile vs libpcap: %s differs at record %zu %s\n", what, step, detail);
	CHECK(n != PCAPFILE_CHECK_DIFF);
	return n;
}

static int pf_compare_buf(const struct buf *b) { return pf_compare(b->p, b->n); }

static void test_pcapfile(void)
{
	struct frame fr[3];
	struct buf b = {0};
	char why[PCAP_ERRBUF_SIZE];
	struct pcapfile pf;
	struct pcapfile_rec r;

	make_frames(fr);
	for (int le = 0; le < 2; le++) {
		for (int nsec = 0; nsec < 2; nsec++) {
			/* Three good records, then timestamps at the edges of 32 bits: libpcap reads
			 * them signed in the host's byte order and unsigned in the other one. */
			pf_header(&b, le, nsec, 4, 65535, DLT_EN10MB);
			for (int i = 0; i < 3; i++)
				pf_record(&b, le, 1700000000u + (uint32_t)i, nsec ? 123456789u : 123456u,
					  (uint32_t)fr[i].n, (uint32_t)fr[i].n, &fr[i], fr[i].n);
			pf_record(&b, le, 0xfffffff0u, 0xffffff00u, 4, 60, &fr[0], 4);
			pf_record(&b, le, 0x80000000u, 0x80000001u, 0, 0, NULL, 0);
			pf_record(&b, le, 5, 1999999999u, 1, 1, &fr[1], 1);
			CHECK_EQ_INT(pf_compare_buf(&b), 6);
			CHECK(pcapfile_init(&pf, b.p, b.n, DLT_EN10MB));
			CHECK_EQ_INT(pcapfile_next(&pf, &r, why, sizeof why), 1);
			CHECK_EQ_INT(r.sec, 1700000000);
			CHECK_EQ_INT(r.usec, 123456);
			CHECK_EQ_INT(r.caplen, fr[0].n);

			/* Cut at every length: a short record header, a short frame. */
			size_t full = b.n;
			for (size_t cut = PCAPFILE_HDR_LEN; cut < full; cut++) {
				int n = pf_compare(b.p, cut);
				CHECK(n >= 0 && n <= 5);
			}
			b.n = PCAPFILE_HDR_LEN; /* header only: end of file at once */
			CHECK_EQ_INT(pf_compare_buf(&b), 0);

			/* caplen above the snapshot length (64): cut to 64 and the rest skipped,
			 * whole, cut inside the kept part, cut inside the skipped part. */
			pf_header(&b, le, nsec, 4, 64, DLT_EN10MB);
			pf_record(&b, le, 1, 2, 100, 100, &fr[0], 100);
			pf_record(&b, le, 3, 4, (uint32_t)fr[2].n, (uint32_t)fr[2].n, &fr[2], fr[2].n);
			CHECK_EQ_INT(pf_compare_buf(&b), 2);
			CHECK(pcapfile_init(&pf, b.p, b.n, DLT_EN10MB));
			CHECK_EQ_INT(pcapfile_next(&pf, &r, why, sizeof why), 1);
			CHECK_EQ_INT(r.caplen, 64);
			CHECK_EQ_INT(r.len, 100);
			CHECK_EQ_INT(pf_compare(b.p, PCAPFILE_HDR_LEN + 16 + 50), 0);
			CHECK_EQ_INT(pf_compare(b.p, PCAPFILE_HDR_LEN + 16 + 80), 0);

			/* caplen above libpcap's 256 KiB limit: an error, then libpcap reads the
			 * next record header from where the bad record's frame would start. */
			pf_header(&b, le, nsec, 4, 0, DLT_EN10MB);
			pf_record(&b, le, 1, 2, 300000, 300000, NULL, 0);
			pf_record(&b, le, 3, 4, (uint32_t)fr[0].n, (uint32_t)fr[0].n, &fr[0], fr[0].n);
			CHECK_EQ_INT(pf_compare_buf(&b), 1);
			CHECK(pcapfile_init(&pf, b.p, b.n, DLT_EN10MB));
			CHECK_EQ_INT(pcapfile_next(&pf, &r, why, sizeof why), -1);
			CHECK_EQ_STR(why, "invalid packet capture length 300000, bigger than snaplen of "
					  "262144");
			CHECK_EQ_INT(pcapfile_next(&pf, &r, why, sizeof why), 1);

			/* A snaplen above the limit but within an int is kept (1.10.3), so a record
			 * above the limit and within it gets libpcap's other sentence; above INT_MAX
			 * the snaplen becomes the limit. */
			pf_header(&b, le, nsec, 4, 0x7fffffffu, DLT_EN10MB);
			pf_record(&b, le, 1, 2, 300000, 300000, NULL, 0);
			CHECK_EQ_INT(pf_compare_buf(&b), 0);
			CHECK(pcapfile_init(&pf, b.p, b.n, DLT_EN10MB));
			CHECK_EQ_INT(pf.snapshot, 0x7fffffff);
			CHECK_EQ_INT(pcapfile_next(&pf, &r, why, sizeof why), -1);
			CHECK_EQ_STR(why, "invalid packet capture length 300000, bigger than maximum of "
					  "262144");
			pf_header(&b, le, nsec, 4, 0x80000000u, DLT_EN10MB);
			pf_record(&b, le, 1, 2, 300000, 300000, NULL, 0);
			CHECK_EQ_INT(pf_compare_buf(&b), 0);

			/* Garbage record headers, and a huge snaplen in the file header. */
			pf_header(&b, le, nsec, 4, 0xffffffffu, DLT_RAW);
			for (uint32_t i = 0; i < 64; i++)
				pf_u32(&b, le, i * 2654435761u);
			CHECK(pf_compare_buf(&b) >= 0);
		}
		/* Versions 2.0-2.2 store len before caplen; 2.3 maybe, when caplen > len. (SLL
		 * only in the host's byte order: see pcapfile_dlt_plain.) */
		for (uint16_t minor = 0; minor <= 4; minor++) {
			pf_header(&b, le, false, minor, 65535, le ? DLT_LINUX_SLL : DLT_EN10MB);
			pf_record(&b, le, 1, 2, 10, 40, &fr[0], 40);
			pf_record(&b, le, 1, 2, 40, 10, &fr[0], 40);
			CHECK(pf_compare_buf(&b) >= 1);
		}
	}
	/* Kept on libpcap's reader: pcapng, other versions and magics, link types libpcap does
	 * more for (swapped SLL), link types we do not decode, a header cut short. */
	pf_header(&b, true, false, 4, 65535, DLT_EN10MB);
	CHECK(pcapfile_init(&pf, b.p, b.n, DLT_EN10MB));
	CHECK(!pcapfile_init(&pf, b.p, b.n - 1, DLT_EN10MB));
	CHECK(!pcapfile_init(&pf, b.p, b.n, DLT_IEEE802_11));
	pf_header(&b, false, false, 4, 65535, DLT_LINUX_SLL);
	CHECK(!pcapfile_init(&pf, b.p, b.n, DLT_LINUX_SLL));
	CHECK(pcapfile_init(&pf, b.p, b.n, DLT_EN10MB));
	pf_header(&b, true, false, 5, 65535, DLT_EN10MB);
	CHECK(!pcapfile_init(&pf, b.p, b.n, DLT_EN10MB));
	b.n = 0;
	pf_u32(&b, true, 0xa1b2cd34); /* Kuznetzov */
	pf_u16(&b, true, 2);
	pf_u16(&b, true, 4);
	for (int i = 0; i < 4; i++)
		pf_u32(&b, true, 0);
	CHECK(!pcapfile_init(&pf, b.p, b.n, DLT_EN10MB));
	b.n = 0;
	pf_u32(&b, true, 0x0a0d0d0a); /* pcapng section header block */
	for (int i = 0; i < 5; i++)
		pf_u32(&b, true, 0x1a2b3c4d);
	CHECK(!pcapfile_init(&pf, b.p, b.n, DLT_EN10MB));
	free(b.p);
}

/* What capture_next makes of a file, as text: one line per segment or error (up to max),
 * the stats. */
static void capture_transcript(const char *path, const char *wpath, int max, struct buf *out)
{
	struct capture *c;
	struct cap_packet p;
	struct capture_stats st;
	char err[256], line[512];
	int rc;

	out->n = 0;
	if (capture_open_offline(&c, path, err, sizeof err) != 0) {
		snprintf(line, sizeof line, "open: %s\n", err);
		buf_put(out, line, strlen(line));
		return;
	}
	if (wpath)
		CHECK_EQ_INT(capture_dump_open(c, wpath, err, sizeof err), 0);
	for (int i = 0; i < max && (rc = capture_next(c, &p, err, sizeof err)) != 0; i++) {
		if (rc == 1)
			snprintf(line, sizeof line, "%lld %u %u %u %u\n", (long long)p.ts, p.sport,
				 p.dport, p.len, p.wire_len);
		else
			snprintf(line, sizeof line, "rc %d: %s\n", rc, err);
		buf_put(out, line, strlen(line));
	}
	capture_get_stats(c, &st);
	snprintf(line, sizeof line, "%llu %llu %llu %llu %llu %llu\n",
		 (unsigned long long)st.packets, (unsigned long long)st.bytes,
		 (unsigned long long)st.tcp, (unsigned long long)st.not_tcp,
		 (unsigned long long)st.malformed, (unsigned long long)st.truncated);
	buf_put(out, line, strlen(line));
	capture_close(c);
}

static void read_file(const char *path, struct buf *out)
{
	uint8_t tmp[4096];
	size_t n;
	out->n = 0;
	FILE *f = fopen(path, "rb");
	CHECK(f != NULL);
	while (f && (n = fread(tmp, 1, sizeof tmp, f)) > 0)
		buf_put(out, tmp, n);
	if (f)
		fclose(f);
}

/* Writes n bytes of p to path. */
static void write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	CHECK(f && fwrite(p, 1, n, f) == n);
	if (f)
		fclose(f);
}

/* capture_transcript (with -w) on the fast path and, with EE_PCAP_LIBPCAP=1, on libpcap's:
 * checks they are the same, and returns the fast one in out. */
static void transcript_both(const char *path, int max, struct buf *out)
{
	struct buf slow = {0}, wfast = {0}, wslow = {0};
	char wpath[128];

	tmp_path(wpath, sizeof wpath, "both-w.pcap");
	unsetenv("EE_PCAP_LIBPCAP");
	capture_transcript(path, wpath, max, out);
	read_file(wpath, &wfast);
	setenv("EE_PCAP_LIBPCAP", "1", 1);
	capture_transcript(path, wpath, max, &slow);
	read_file(wpath, &wslow);
	unsetenv("EE_PCAP_LIBPCAP");
	CHECK(out->n == slow.n && memcmp(out->p, slow.p, out->n) == 0);
	CHECK(wfast.n == wslow.n && memcmp(wfast.p, wslow.p, wfast.n) == 0);
	free(slow.p);
	free(wfast.p);
	free(wslow.p);
}

/* Reads from c until n records have been read (TCP or not) or the end; returns the TCP
 * segments and the last return value in *last. */
static int read_records(struct capture *c, uint64_t n, int *last, char *err, size_t errlen)
{
	struct cap_packet pk;
	struct capture_stats st;
	int segs = 0;
	*last = 1;
	for (;;) {
		capture_get_stats(c, &st);
		if (st.packets >= n || (*last = capture_next(c, &pk, err, errlen)) != 1)
			return segs;
		segs++;
	}
}

/* The same capture files through capture_next on the fast path (read in 1 MiB blocks) and,
 * with EE_PCAP_LIBPCAP=1, on libpcap's: the same segments, errors, counters, and -w bytes;
 * cut at every length; records across the blocks' ends; files that change while read. */
static void test_capture_fast(void)
{
	struct frame fr[3], big;
	struct buf file = {0}, fast = {0};
	char path[128];

	make_frames(fr);
	tmp_path(path, sizeof path, "cut.pcap");
	for (int le = 0; le < 2; le++) {
		pf_header(&file, le, le, 4, 80, DLT_EN10MB);
		for (int i = 0; i < 6; i++)
			pf_record(&file, le, 1700000000u + (uint32_t)i, 999999u + (uint32_t)i * 1000,
				  (uint32_t)fr[i % 3].n + (i == 4 ? 30 : 0), (uint32_t)fr[i % 3].n,
				  &fr[i % 3], fr[i % 3].n + (i == 4 ? 30 : 0));
		for (size_t cut = file.n; cut >= PCAPFILE_HDR_LEN; cut -= 7) {
			write_file(path, file.p, cut);
			transcript_both(path, 100, &fast);
			if (cut == file.n) {
				/* the whole file: 6 frames, 4 of them TCP, one cut to the snaplen */
				CHECK(fast.n > 0 && memmem(fast.p, fast.n, "rc ", 3) == NULL);
			}
		}
	}

	/* Records of every size up to libpcap's largest (256 KiB, the buffer's reserve), so the
	 * 1 MiB blocks end inside record headers and frames at many offsets; whole and cut
	 * around each block end. Snaplen 200 000: the largest ones are cut to it, the rest of
	 * them skipped across block ends too. */
	memset(&big, 0, sizeof big);
	put_eth(&big, 0x0800);
	put_v4_tcp(&big);
	pf_header(&file, true, false, 4, 200000, DLT_EN10MB);
	for (uint32_t i = 0; file.n < (5u << 20); i++) {
		uint32_t caplen = i % 7 == 6 ? PCAPFILE_MAX_SNAPLEN - i % 3 : (i * 7919u) % 70000;
		if (caplen < big.n)
			caplen = (uint32_t)big.n;
		pf_record(&file, true, 1700000000u + i, i, caplen, caplen + 5, &big, caplen);
	}
	write_file(path, file.p, file.n);
	transcript_both(path, 1000, &fast);
	CHECK(fast.n > 0 && memmem(fast.p, fast.n, "rc ", 3) == NULL);
	for (size_t blk = 1; blk <= 4; blk++) {
		static const int d[] = {-300000, -70001, -17, -16, -15, -1, 0, 1, 15, 16, 17, 5000};
		for (size_t k = 0; k < sizeof d / sizeof d[0]; k++) {
			size_t cut = (blk << 20) + (size_t)(ptrdiff_t)d[k];
			write_file(path, file.p, cut);
			transcript_both(path, 1000, &fast);
		}
	}

	/* A file that grows after the open (a capture still being written) is read on to its
	 * new end on both paths, a record cut by the old end included, whether the bytes come
	 * before the first read or after a short one; but once a read has found the end, stdio's
	 * end-of-file indicator sticks (glibc), and so the fast path's: bytes appended after
	 * that are not read. */
	for (int mode = 0; mode < 6; mode++) {
		struct capture *c;
		struct capture_stats st;
		char err[256];
		int last = 1, segs = 0, when = mode >> 1; /* before any read, after one, at the end */
		pf_header(&file, true, false, 4, 65535, DLT_EN10MB);
		for (int i = 0; i < 6; i++)
			pf_record(&file, true, 1700000000u + (uint32_t)i, 0, (uint32_t)fr[i % 3].n,
				  (uint32_t)fr[i % 3].n, &fr[i % 3], fr[i % 3].n);
		size_t first = PCAPFILE_HDR_LEN + 3 * 16 + fr[0].n + fr[1].n + fr[2].n + 20;
		size_t whole = first - 20, from = when == 2 ? whole : first;
		FILE *f = fopen(path, "wb");
		CHECK(f && fwrite(file.p, 1, from, f) == from);
		if (f)
			fflush(f);
		if (mode & 1)
			setenv("EE_PCAP_LIBPCAP", "1", 1);
		CHECK_EQ_INT(capture_open_offline(&c, path, err, sizeof err), 0);
		unsetenv("EE_PCAP_LIBPCAP");
		if (when > 0) /* a first short read, or the end met */
			segs = read_records(c, when == 2 ? 4 : 1, &last, err, sizeof err);
		CHECK_EQ_INT(last, when == 2 ? 0 : 1);
		CHECK(f && fwrite(file.p + from, 1, file.n - from, f) == file.n - from);
		if (f)
			fclose(f);
		segs += read_all(c, &st, NULL);
		CHECK_EQ_INT(segs, when == 2 ? 2 : 4);
		CHECK_EQ_INT(st.packets, when == 2 ? 3 : 6);
		capture_close(c);
	}

	/* A file truncated in place while being read (logrotate's copytruncate) ends where the
	 * reads meet its new end: what was read before (the first 1 MiB block, as stdio's
	 * buffer holds) is still handed out, then the record cut by the block's end is a
	 * truncated file, with the same sentence on both paths. 1.5 MiB of records, read to
	 * 300 KiB, cut at 600 KiB. */
	pf_header(&file, true, false, 4, 65535, DLT_EN10MB);
	while (file.n < (3u << 19))
		pf_record(&file, true, 1700000000u, 0, (uint32_t)fr[0].n, (uint32_t)fr[0].n, &fr[0],
			  fr[0].n);
	size_t rec = 16 + fr[0].n;
	char errs[2][256];
	size_t ns[2];
	for (int mode = 0; mode < 2; mode++) {
		struct capture *c;
		char err[256];
		int rc;
		write_file(path, file.p, file.n);
		if (mode)
			setenv("EE_PCAP_LIBPCAP", "1", 1);
		CHECK_EQ_INT(capture_open_offline(&c, path, err, sizeof err), 0);
		unsetenv("EE_PCAP_LIBPCAP");
		size_t n = (size_t)read_records(c, (300u << 10) / rec, &rc, err, sizeof err);
		CHECK_EQ_INT(rc, 1);
		CHECK_EQ_INT(truncate(path, 600u << 10), 0);
		n += (size_t)read_records(c, UINT64_MAX, &rc, err, sizeof err);
		/* every whole record of the first block was read, nothing after it */
		CHECK_EQ_INT(n, ((1u << 20) - PCAPFILE_HDR_LEN) / rec);
		CHECK(rc == EE_IO && strstr(err, "truncated dump file") != NULL);
		ns[mode] = n;
		snprintf(errs[mode], sizeof errs[mode], "%s", err);
		CHECK_EQ_INT(capture_next(c, &(struct cap_packet){0}, err, sizeof err), 0);
		capture_close(c);
	}
	CHECK_EQ_INT(ns[0], ns[1]);
	CHECK_EQ_STR(errs[0], errs[1]);
	free(file.p);
	free(fast.p);
}

/* Threads of this process (the Threads: line of /proc/PID/status), -1 when it cannot be read. */
static int thread_count(void)
{
	char path[64], line[256];
	int n = -1;
	snprintf(path, sizeof path, "/proc/%d/status", (int)getpid());
	FILE *f = fopen(path, "r");
	while (f && fgets(line, sizeof line, f))
		if (strncmp(line, "Threads:", 8) == 0)
			n = atoi(line + 8);
	if (f)
		fclose(f);
	return n;
}

/* The fast path reads the next block on a second thread into a spare buffer, and copies the
 * record cut by a block's end into the headroom before it. 7 MiB of records of varying
 * sizes up to libpcap's 256 KiB limit, each with its own bytes, placed so that a record
 * starts at several distances before each block end (a cut header, a 256 KiB frame cut one
 * byte before its end: the largest headroom): the -w copy of what capture_next read is the
 * file itself, byte for byte, and the same as libpcap's path (transcript_both). Then
 * captures closed mid-file (before the first read, inside a block, just after a block
 * change, after capture_break) and at the end: the reader thread is joined every time (the
 * thread count is back), ASan sees no leak. */
static void test_capture_prefetch(void)
{
	static const uint32_t tail[] = {16 + PCAPFILE_MAX_SNAPLEN - 1, 1, 15, 16, 17, 100000, 262000};
	struct frame big;
	struct buf file = {0}, out = {0}, w = {0};
	char path[128], wpath[128];
	uint64_t rnd = 0x9e3779b97f4a7c15u;
	uint32_t i = 0;

	memset(&big, 0, sizeof big);
	put_eth(&big, 0x0800);
	put_v4_tcp(&big);
	tmp_path(path, sizeof path, "prefetch.pcap");
	tmp_path(wpath, sizeof wpath, "prefetch-w.pcap");
	/* a header as pcap_dump_open writes it for this capture, so -w gives the same bytes */
	pf_header(&file, true, false, 4, PCAPFILE_MAX_SNAPLEN, DLT_EN10MB);
	for (size_t k = 1; k <= 7; k++) {
		/* records up to 70 000 bytes, then one that fills the gap exactly, so that the
		 * 256 KiB record after it starts tail[k - 1] bytes before the k-th MiB */
		size_t target = (k << 20) - tail[k - 1];
		for (;;) {
			size_t gap = target - file.n, caplen;
			if (gap > 16 + 140000)
				caplen = big.n + unit_xorshift(&rnd) % (70000 - big.n);
			else
				caplen = gap - 16;
			pf_record(&file, true, 1700000000u + i, i % 1000000u, (uint32_t)caplen,
				  (uint32_t)caplen + 3, &big, big.n);
			for (size_t b = big.n; b < caplen; b++) {
				uint8_t x = (uint8_t)unit_xorshift(&rnd);
				buf_put(&file, &x, 1);
			}
			i++;
			if (caplen == gap - 16)
				break;
		}
		CHECK_EQ_INT(file.n, target);
		pf_record(&file, true, 1700000000u + i, 7, PCAPFILE_MAX_SNAPLEN,
			  PCAPFILE_MAX_SNAPLEN, &big, big.n);
		for (size_t b = big.n; b < PCAPFILE_MAX_SNAPLEN; b++) {
			uint8_t x = (uint8_t)(b * 31 + k);
			buf_put(&file, &x, 1);
		}
		i++;
	}
	write_file(path, file.p, file.n);
	capture_transcript(path, wpath, 100000, &out);
	read_file(wpath, &w);
	CHECK(w.n == file.n && memcmp(w.p, file.p, file.n) == 0);
	CHECK(out.n > 0 && memmem(out.p, out.n, "rc ", 3) == NULL);
	transcript_both(path, 100000, &out);
	CHECK(out.n > 0 && memmem(out.p, out.n, "rc ", 3) == NULL);

	/* closed before the end, after 0 records (nothing read yet), 1, 20 (about 0.7 MiB
	 * in), 40 (past the first block's end), all but the last; and read to the end */
	int before = thread_count();
	CHECK(before > 0);
	uint64_t stops[] = {0, 1, 20, 40, i - 1, UINT64_MAX};
	for (size_t s = 0; s < sizeof stops / sizeof stops[0]; s++) {
		for (int rep = 0; rep < 20; rep++) {
			struct capture *c;
			char err[256];
			int last;
			CHECK_EQ_INT(capture_open_offline(&c, path, err, sizeof err), 0);
			CHECK_EQ_INT(thread_count(), before + 1);
			int segs = read_records(c, stops[s], &last, err, sizeof err);
			if (stops[s] == UINT64_MAX)
				CHECK(segs == (int)i && last == 0);
			else
				CHECK(segs == (int)stops[s] && last == 1);
			if (rep == 1) {
				capture_break(c);
				CHECK_EQ_INT(read_records(c, UINT64_MAX, &last, err, sizeof err), 0);
				CHECK_EQ_INT(last, 0);
			}
			capture_close(c);
			CHECK_EQ_INT(thread_count(), before);
		}
	}
	/* no thread on libpcap's path */
	struct capture *c;
	char err[256];
	setenv("EE_PCAP_LIBPCAP", "1", 1);
	CHECK_EQ_INT(capture_open_offline(&c, path, err, sizeof err), 0);
	unsetenv("EE_PCAP_LIBPCAP");
	CHECK_EQ_INT(thread_count(), before);
	capture_close(c);
	free(file.p);
	free(out.p);
	free(w.p);
}

/* Live capture on loopback: needs root or CAP_NET_RAW, skipped (and said so) without. */
static void test_live(void)
{
	struct capture *c;
	char err[256];

	CHECK(capture_open_live(&c, "ee-nosuch0", 0, err, sizeof err) < 0);
	CHECK(c == NULL);
	CHECK(strstr(err, "ee-nosuch0") != NULL);

	int rc = capture_open_live(&c, "lo", 0, err, sizeof err);
	if (rc < 0) {
		printf("test_capture: live test skipped: %s\n", err);
		return;
	}
	CHECK_EQ_STR(capture_linktype_name(c), "EN10MB");

	int ls = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof sa;
	CHECK(bind(ls, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(ls, 1) == 0);
	CHECK(getsockname(ls, (struct sockaddr *)&sa, &sl) == 0);
	char filter[64];
	snprintf(filter, sizeof filter, "tcp port %u", ntohs(sa.sin_port));
	CHECK_EQ_INT(capture_set_filter(c, filter, err, sizeof err), 0);

	/* Nothing sent yet: the read timeout makes capture_next return 2 (after any frames that
	 * slipped into the ring before the filter was installed). */
	struct cap_packet p;
	int got2 = 0;
	for (int i = 0; i < 50 && !got2; i++)
		got2 = capture_next(c, &p, err, sizeof err) == 2;
	CHECK(got2);

	int cs = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(connect(cs, (struct sockaddr *)&sa, sizeof sa) == 0);
	int as = accept(ls, NULL, NULL);
	CHECK(write(cs, PAYLOAD, PLEN) == (ssize_t)PLEN);

	bool syn = false, data = false;
	time_t end = time(NULL) + 5;
	while (time(NULL) < end && !(syn && data)) {
		rc = capture_next(c, &p, err, sizeof err);
		if (rc != 1)
			continue;
		if ((p.flags & CAP_TH_SYN) && p.dport == ntohs(sa.sin_port))
			syn = true;
		if (p.len == PLEN && memcmp(p.payload, PAYLOAD, PLEN) == 0 &&
		    p.dport == ntohs(sa.sin_port) && p.af == 4 && p.src[0] == 127)
			data = true;
	}
	CHECK(syn);
	CHECK(data);
	struct capture_stats st;
	capture_get_stats(c, &st);
	CHECK(st.drops_known);
	CHECK(st.tcp >= 2);

	capture_break(c);
	CHECK_EQ_INT(capture_next(c, &p, err, sizeof err), 0);
	close(as);
	close(cs);
	close(ls);
	capture_close(c);
}

int main(void)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/test_capture.XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	test_link_types();
	test_not_tcp();
	test_malformed();
	test_lengths();
	test_addr_str();
	test_offline();
	test_pcapng();
	test_pcapfile();
	test_capture_fast();
	test_capture_prefetch();
	test_live();

	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
	return unit_summary("test_capture");
}
