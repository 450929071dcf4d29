/* fuzz_portfilter.c: differential libFuzzer target for capture/portfilter.c. The input is
 * one byte picking the link type (of those capture_port_verdict decides), one byte for the
 * number of ports (0 = "tcp" alone, else 1 to 3), the ports (2 bytes each, big-endian),
 * then the frame. The default expression app.c would install for those ports is compiled
 * for that link type on a dead handle and run with pcap_offline_filter; a native verdict
 * (not -1) that differs from BPF's aborts. Seeded from tests/fuzz/corpus/fuzz_portfilter/
 * (frames of pcaps/ and hand-built ones of each link type) by scripts/fuzz.sh;
 * test_portfilter runs the same comparison on pcaps/ and synthetic frames. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pcap/pcap.h>

#include "portfilter.h"

static const int DLTS[] = {DLT_EN10MB, DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_NULL, DLT_LOOP,
			   DLT_RAW, DLT_IPV4, DLT_IPV6};
#define NDLTS (sizeof DLTS / sizeof DLTS[0])

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static pcap_t *dead[NDLTS];
	if (size < 2)
		return 0;
	size_t d = data[0] % NDLTS;
	int nports = data[1] % 4;
	if (size < 2 + 2 * (size_t)nports)
		return 0;
	uint16_t ports[3];
	char expr[128] = "tcp";
	if (nports)
		strcpy(expr, "tcp and (");
	for (int i = 0; i < nports; i++) {
		ports[i] = (uint16_t)(data[2 + 2 * i] << 8 | data[3 + 2 * i]);
		sprintf(expr + strlen(expr), "%sport %u", i ? " or " : "", ports[i]);
	}
	if (nports)
		strcat(expr, ")");
	const uint8_t *frame = data + 2 + 2 * nports;
	uint32_t caplen = (uint32_t)(size - 2 - 2 * (size_t)nports);

	if (!dead[d] && !(dead[d] = pcap_open_dead(DLTS[d], 262144)))
		abort();
	struct bpf_program prog;
	if (pcap_compile(dead[d], &prog, expr, 1, PCAP_NETMASK_UNKNOWN) != 0) {
		fprintf(stderr, "fuzz_portfilter: cannot compile \"%s\": %s\n", expr,
			pcap_geterr(dead[d]));
		abort();
	}
	/* the frame in a buffer of its own size, so ASan sees any read past caplen */
	uint8_t *copy = malloc(caplen ? caplen : 1);
	if (!copy)
		abort();
	memcpy(copy, frame, caplen);
	struct pcap_pkthdr h = {.caplen = caplen, .len = caplen};
	int bv = pcap_offline_filter(&prog, &h, copy) != 0;
	int nv = capture_port_verdict(DLTS[d], copy, caplen, ports, nports);
	pcap_freecode(&prog);
	free(copy);
	if (nv >= 0 && nv != bv) {
		fprintf(stderr, "fuzz_portfilter: dlt %d \"%s\" caplen %u: native %d, BPF %d\n",
			DLTS[d], expr, caplen, nv, bv);
		abort();
	}
	return 0;
}
