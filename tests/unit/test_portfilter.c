/* test_portfilter.c: capture_port_verdict (capture/portfilter.c) against libpcap. Every
 * verdict it gives (not -1) must be the one pcap_offline_filter gives with the default
 * expression app.c installs ("tcp and (port P1 or ...)", "tcp" for no ports) compiled for
 * the same link type on a dead handle: for every frame of every pcaps/ capture, and for
 * hand-built frames of every link type it decides (IPv4 with options and fragments, IPv6
 * plain and with extension headers, VLAN tags, other protocols and families, ports as
 * source or destination), each cut at every caplen. Also counts how often it does not
 * decide on pcaps/ (it should decide them all), and checks the fast path's use of it. */
#include <arpa/inet.h>
#include <sys/socket.h>

#include <pcap/pcap.h>

#include "capture.h"
#include "pcaps_frames.h"
#include "portfilter.h"
#include "unit.h"

/* Port sets tried: "tcp", the etcd ports, and sets around the synthetic frames' ports. */
static const uint16_t SET_ETCD[] = {2379};
static const uint16_t SET_TWO[] = {2379, 43745};
static const uint16_t SET_SYN[] = {1000, 2000, 3000};
static const uint16_t SET_SRC[] = {40000};
static const struct {
	const uint16_t *p;
	int n;
} SETS[] = {{NULL, 0}, {SET_ETCD, 1}, {SET_TWO, 2}, {SET_SYN, 3}, {SET_SRC, 1}};
#define NSETS ((int)(sizeof SETS / sizeof SETS[0]))

static const int DLTS[] = {DLT_EN10MB, DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_NULL, DLT_LOOP,
			   DLT_RAW, DLT_IPV4, DLT_IPV6};
#define NDLTS ((int)(sizeof DLTS / sizeof DLTS[0]))

/* Compiled programs, by link type index and port set. */
static struct bpf_program progs[NDLTS][NSETS];

static void compile_all(void)
{
	for (int d = 0; d < NDLTS; d++) {
		pcap_t *p = pcap_open_dead(DLTS[d], 262144);
		CHECK(p != NULL);
		for (int s = 0; s < NSETS; s++) {
			char expr[256] = "tcp";
			if (SETS[s].n) {
				strcpy(expr, "tcp and (");
				for (int i = 0; i < SETS[s].n; i++)
					sprintf(expr + strlen(expr), "%sport %u", i ? " or " : "",
						SETS[s].p[i]);
				strcat(expr, ")");
			}
			int rc = pcap_compile(p, &progs[d][s], expr, 1, PCAP_NETMASK_UNKNOWN);
			CHECK_EQ_INT(rc, 0);
		}
		pcap_close(p);
	}
}

static long compared, decided, undecided, mismatches;

/* One frame, one caplen, every port set: native against BPF. */
static void diff_one(int d, const uint8_t *frame, uint32_t caplen, uint32_t len, const char *what)
{
	struct pcap_pkthdr h = {.caplen = caplen, .len = len};
	for (int s = 0; s < NSETS; s++) {
		int nv = capture_port_verdict(DLTS[d], frame, caplen, SETS[s].p, SETS[s].n);
		int bv = pcap_offline_filter(&progs[d][s], &h, frame) != 0;
		compared++;
		if (nv < 0) {
			undecided++;
			continue;
		}
		decided++;
		if (nv != bv) {
			if (mismatches++ < 10)
				fprintf(stderr, "%s: dlt %d caplen %u set %d: native %d, BPF %d\n", what,
					DLTS[d], caplen, s, nv, bv);
		}
	}
}

/* Every cut of the frame from 0 to its length. */
static void diff_cuts(int d, const uint8_t *frame, uint32_t n, const char *what)
{
	for (uint32_t c = 0; c <= n; c++)
		diff_one(d, frame, c, n, what);
}

/* ---- hand-built frames ---- */

struct fr {
	uint8_t b[512];
	uint32_t n;
};
static void p8(struct fr *f, unsigned v) { f->b[f->n++] = (uint8_t)v; }
static void p16(struct fr *f, unsigned v)
{
	p8(f, v >> 8);
	p8(f, v & 0xff);
}
static void pz(struct fr *f, unsigned n)
{
	while (n--)
		p8(f, 0);
}

/* An IPv4 header (ihl words, protocol, fragment field) and 20 bytes of TCP/UDP header. */
static void ip4(struct fr *f, unsigned ver, unsigned ihl, unsigned proto, unsigned frag,
		unsigned sport, unsigned dport)
{
	p8(f, ver << 4 | ihl);
	p8(f, 0);
	p16(f, 4 * ihl + 20);
	p16(f, 1);
	p16(f, frag);
	p8(f, 64);
	p8(f, proto);
	p16(f, 0);
	p8(f, 10), p8(f, 0), p8(f, 0), p8(f, 1);
	p8(f, 10), p8(f, 0), p8(f, 0), p8(f, 2);
	for (unsigned i = 20; i < 4 * ihl; i++)
		p8(f, 1); /* NOP options */
	p16(f, sport);
	p16(f, dport);
	pz(f, 16);
}

/* An IPv6 header and, after nh, the chain exts (each an 8-byte extension header whose next
 * header is the following entry), then 20 bytes of transport header. */
static void ip6(struct fr *f, unsigned nh, const unsigned *exts, int nexts, unsigned sport,
		unsigned dport)
{
	p8(f, 0x60);
	pz(f, 3);
	p16(f, (unsigned)(8 * nexts + 20));
	p8(f, nh);
	p8(f, 64);
	pz(f, 15), p8(f, 1);
	pz(f, 15), p8(f, 2);
	for (int i = 0; i < nexts; i++) {
		p8(f, exts[i]);
		pz(f, 7);
	}
	p16(f, sport);
	p16(f, dport);
	pz(f, 16);
}

/* Wraps network-layer bytes in dlt's link header; kind picks variants (family values,
 * VLAN tags, other types). Returns 0 when that variant does not exist for dlt. */
static int wrap(struct fr *out, int dlt, int kind, int ver, const struct fr *l3)
{
	out->n = 0;
	unsigned et = ver == 4 ? 0x0800 : 0x86dd;
	switch (dlt) {
	case DLT_EN10MB:
		if (kind > 3)
			return 0;
		pz(out, 12);
		if (kind == 1) { /* one 802.1Q tag */
			p16(out, 0x8100);
			p16(out, 5);
		}
		p16(out, kind == 2 ? 0x0806 : kind == 3 ? (ver == 4 ? 0x86dd : 0x0800) : et);
		break;
	case DLT_LINUX_SLL:
		if (kind > 1)
			return 0;
		p16(out, 0), p16(out, 772), p16(out, 6);
		pz(out, 8);
		p16(out, kind ? 0x0004 : et);
		break;
	case DLT_LINUX_SLL2:
		if (kind > 1)
			return 0;
		p16(out, kind ? 0x0806 : et);
		pz(out, 2);
		p8(out, 0), p8(out, 0), p8(out, 0), p8(out, 1);
		p16(out, 772), p8(out, 0), p8(out, 6);
		pz(out, 8);
		break;
	case DLT_NULL:
	case DLT_LOOP: {
		/* kind 0: the family in the link type's order; 1: the other order; 2..4: the
		 * BSD AF_INET6 values 24, 28, 30; 5: AF_UNSPEC */
		static const uint32_t bsd6[] = {24, 28, 30};
		if (kind > 5)
			return 0;
		uint32_t af = ver == 4 ? AF_INET : AF_INET6;
		if (kind >= 2 && kind <= 4)
			af = bsd6[kind - 2];
		if (kind == 5)
			af = 0;
		int host = dlt == DLT_NULL;
		if (kind == 1)
			host = !host;
		uint32_t w = host ? af : htonl(af);
		memcpy(out->b, &w, 4);
		out->n = 4;
		break;
	}
	case DLT_RAW:
		if (kind)
			return 0;
		break;
	case DLT_IPV4:
	case DLT_IPV6:
		if (kind)
			return 0;
		break;
	default:
		return 0;
	}
	memcpy(out->b + out->n, l3->b, l3->n);
	out->n += l3->n;
	/* 2: the wrong IP version for DLT_IPV4/DLT_IPV6, still compared */
	return (dlt == DLT_IPV4 && ver != 4) || (dlt == DLT_IPV6 && ver != 6) ? 2 : 1;
}

static void synthetic(void)
{
	struct fr l3s[64];
	int vers[64];
	int n = 0;
	static const unsigned sports[] = {40000, 1000, 5555};
	static const unsigned dports[] = {2379, 3000, 43745, 6666};
	for (int si = 0; si < 3; si++) {
		for (int di = 0; di < 4; di++) {
			unsigned sp = sports[si], dp = dports[di];
			if ((si + di) % 2 == 0 || n > 40)
				continue;
			l3s[n].n = 0, ip4(&l3s[n], 4, 5, 6, 0, sp, dp), vers[n++] = 4;
			l3s[n].n = 0, ip6(&l3s[n], 6, NULL, 0, sp, dp), vers[n++] = 6;
		}
	}
	/* IPv4 options, fragments, other protocols, odd headers */
	l3s[n].n = 0, ip4(&l3s[n], 4, 6, 6, 0, 40000, 2379), vers[n++] = 4;
	l3s[n].n = 0, ip4(&l3s[n], 4, 15, 6, 0, 1000, 9), vers[n++] = 4;
	l3s[n].n = 0, ip4(&l3s[n], 4, 5, 6, 0x2000, 40000, 2379), vers[n++] = 4; /* MF, first */
	l3s[n].n = 0, ip4(&l3s[n], 4, 5, 6, 0x00b9, 40000, 2379), vers[n++] = 4; /* later */
	l3s[n].n = 0, ip4(&l3s[n], 4, 5, 6, 0x20b9, 9, 9), vers[n++] = 4;
	l3s[n].n = 0, ip4(&l3s[n], 4, 5, 6, 0x1000, 2379, 9), vers[n++] = 4; /* offset bit 12 */
	l3s[n].n = 0, ip4(&l3s[n], 4, 5, 6, 0x4000, 2379, 9), vers[n++] = 4;   /* DF */
	l3s[n].n = 0, ip4(&l3s[n], 4, 5, 17, 0, 40000, 2379), vers[n++] = 4;   /* UDP */
	l3s[n].n = 0, ip4(&l3s[n], 4, 3, 6, 0, 2379, 2379), vers[n++] = 4;     /* IHL < 5 */
	l3s[n].n = 0, ip4(&l3s[n], 5, 5, 6, 0, 2379, 2379), vers[n++] = 4;     /* version 5 */
	l3s[n].n = 0, ip4(&l3s[n], 6, 5, 6, 0, 2379, 2379), vers[n++] = 4;     /* says 6 */
	/* IPv6 extension headers, other next headers */
	static const unsigned hbh[] = {6}, frag[] = {6}, two[] = {60, 6}, fudp[] = {17};
	l3s[n].n = 0, ip6(&l3s[n], 0, hbh, 1, 40000, 2379), vers[n++] = 6;
	l3s[n].n = 0, ip6(&l3s[n], 44, frag, 1, 40000, 2379), vers[n++] = 6;
	l3s[n].n = 0, ip6(&l3s[n], 44, fudp, 1, 40000, 2379), vers[n++] = 6;
	l3s[n].n = 0, ip6(&l3s[n], 0, two, 2, 1000, 3000), vers[n++] = 6;
	l3s[n].n = 0, ip6(&l3s[n], 17, NULL, 0, 40000, 2379), vers[n++] = 6;
	l3s[n].n = 0, ip6(&l3s[n], 58, NULL, 0, 40000, 2379), vers[n++] = 6;
	l3s[n].n = 0, ip6(&l3s[n], 59, NULL, 0, 40000, 2379), vers[n++] = 6;
	l3s[n].n = 0, ip6(&l3s[n], 6, NULL, 0, 2379, 2379), vers[n++] = 6;
	l3s[n].n = 0, ip6(&l3s[n], 6, NULL, 0, 2379, 2379), vers[n] = 6, l3s[n].b[0] = 0x40, n++; /* says 4 */

	for (int d = 0; d < NDLTS; d++)
		for (int kind = 0; kind < 8; kind++)
			for (int i = 0; i < n; i++) {
				struct fr f;
				if (!wrap(&f, DLTS[d], kind, vers[i], &l3s[i]))
					continue;
				diff_cuts(d, f.b, f.n, "synthetic");
			}
}

/* A plain TCP/IPv4 frame to each link type must be decided: the test would pass with a
 * function that never decides otherwise. */
static void decides_plain(void)
{
	for (int d = 0; d < NDLTS; d++)
		for (int ver = 4; ver <= 6; ver += 2) {
			struct fr l3 = {.n = 0}, f;
			if (ver == 4)
				ip4(&l3, 4, 5, 6, 0, 40000, 2379);
			else
				ip6(&l3, 6, NULL, 0, 40000, 2379);
			if (wrap(&f, DLTS[d], 0, ver, &l3) != 1)
				continue;
			CHECK_EQ_INT(capture_port_verdict(DLTS[d], f.b, f.n, SET_ETCD, 1), 1);
			CHECK_EQ_INT(capture_port_verdict(DLTS[d], f.b, f.n, SET_SYN, 3), 0);
			CHECK_EQ_INT(capture_port_verdict(DLTS[d], f.b, f.n, NULL, 0), 1);
		}
}

/* ---- pcaps/ ---- */

struct capture_counts {
	long full, full_undecided, bad_dlt;
};

static void capture_frame(void *ctx, const char *path, int dlt, const uint8_t *data,
			  uint32_t caplen, uint32_t len)
{
	struct capture_counts *cc = ctx;
	int d = 0;
	while (d < NDLTS && DLTS[d] != dlt)
		d++;
	if (d == NDLTS) {
		cc->bad_dlt++;
		return;
	}
	/* the verdict reads at most 20 + 60 + 4 bytes (link, IPv4 with options, ports) or
	 * 20 + 40 + 4: every cut up to 128 and the whole frame cover every case */
	uint32_t top = caplen < 128 ? caplen : 128;
	for (uint32_t c = 0; c <= top; c++)
		diff_one(d, data, c, len, path);
	if (caplen > top)
		diff_one(d, data, caplen, len, path);
	for (int s = 0; s < NSETS; s++) {
		cc->full++;
		if (capture_port_verdict(DLTS[d], data, caplen, SETS[s].p, SETS[s].n) < 0)
			cc->full_undecided++;
	}
}

static void captures(void)
{
	struct capture_counts cc = {0};
	long frames = pcaps_each_frame(capture_frame, &cc);
	printf("test_portfilter: pcaps/: %ld frames, %ld whole-frame verdicts, %ld not decided\n",
	       frames, cc.full, cc.full_undecided);
	CHECK(frames > 1000);
	CHECK_EQ_INT(cc.bad_dlt, 0);
	CHECK(cc.full_undecided * 1000 < cc.full); /* under 0.1% */
}

/* The fast path with the default ports gives what it gives without them. */
static void fast_path(void)
{
	static const char *files[] = {"pcaps/demo.pcap", "pcaps/damaged-bitflip.pcap"};
	for (int i = 0; i < 2; i++)
		for (int s = 0; s < 3; s++) {
			struct capture_stats st[2];
			for (int native = 0; native < 2; native++) {
				struct capture *c;
				char err[256];
				CHECK_EQ_INT(capture_open_offline(&c, files[i], err, sizeof err), 0);
				const char *expr = s == 0 ? "tcp" : s == 1 ? "tcp and (port 2379)"
									  : "tcp and (port 2379 or port 43745)";
				CHECK_EQ_INT(capture_set_filter(c, expr, err, sizeof err), 0);
				if (native)
					capture_set_default_ports(c, SETS[s].p, SETS[s].n);
				struct cap_packet pkt;
				uint64_t sum = 0;
				int rc;
				while ((rc = capture_next(c, &pkt, err, sizeof err)) == 1)
					sum += pkt.seq + pkt.len;
				CHECK_EQ_INT(rc, 0);
				capture_get_stats(c, &st[native]);
				st[native].drops = sum; /* unused offline: the segments' checksum */
				capture_close(c);
			}
			CHECK_EQ_INT(st[0].packets, st[1].packets);
			CHECK_EQ_INT(st[0].tcp, st[1].tcp);
			CHECK_EQ_INT(st[0].not_tcp, st[1].not_tcp);
			CHECK_EQ_INT(st[0].malformed, st[1].malformed);
			CHECK_EQ_INT(st[0].bytes, st[1].bytes);
			CHECK_EQ_INT(st[0].drops, st[1].drops);
		}
}

/* A filter set after the default ports is the user's: BPF alone again. */
static void later_filter(void)
{
	struct capture *c;
	char err[256];
	CHECK_EQ_INT(capture_open_offline(&c, "pcaps/demo.pcap", err, sizeof err), 0);
	CHECK_EQ_INT(capture_set_filter(c, "tcp", err, sizeof err), 0);
	capture_set_default_ports(c, NULL, 0);
	CHECK_EQ_INT(capture_set_filter(c, "tcp and port 1", err, sizeof err), 0);
	struct cap_packet pkt;
	while (capture_next(c, &pkt, err, sizeof err) == 1)
		;
	struct capture_stats st;
	capture_get_stats(c, &st);
	CHECK_EQ_INT(st.packets, 0);
	capture_close(c);
}

int main(void)
{
	compile_all();
	decides_plain();
	synthetic();
	captures();
	fast_path();
	later_filter();
	printf("test_portfilter: %ld compared, %ld decided, %ld not decided, %ld mismatches\n",
	       compared, decided, undecided, mismatches);
	CHECK_EQ_INT(mismatches, 0);
	for (int d = 0; d < NDLTS; d++)
		for (int s = 0; s < NSETS; s++)
			pcap_freecode(&progs[d][s]);
	return unit_summary("test_portfilter");
}
