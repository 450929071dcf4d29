/* fuzz_pcapfile.c: differential libFuzzer target for capture/pcapfile.c, the record walker
 * behind capture_next's fast path. The input is a whole capture file; libpcap reads it
 * (pcap_next_ex on an fmemopen FILE, microsecond precision, as capture_open_offline opens
 * files) side by side with pcapfile_next, and any difference aborts: a record's timestamp,
 * lengths or bytes, end of file, an error or its sentence, or what follows an error.
 * Inputs libpcap refuses or pcapfile_init does not take (pcapng, other link types) only
 * exercise the header checks. Seeded from tests/fuzz/corpus/fuzz_pcapfile/ by
 * scripts/fuzz.sh. (test_capture.c's pf_compare is the same check on hand-built files.) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pcap/pcap.h>

#include "pcapfile.h"

static void fz_fail(const char *what, size_t step)
{
	fprintf(stderr, "fuzz_pcapfile: %s differs at record %zu\n", what, step);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char ebuf[PCAP_ERRBUF_SIZE], why[PCAP_ERRBUF_SIZE];
	if (size == 0)
		return 0;
	FILE *f = fmemopen((void *)data, size, "rb");
	if (!f)
		return 0;
	pcap_t *p = pcap_fopen_offline_with_tstamp_precision(f, PCAP_TSTAMP_PRECISION_MICRO, ebuf);
	if (!p) {
		fclose(f);
		return 0;
	}
	struct pcapfile pf;
	if (!pcapfile_init(&pf, data, size, pcap_datalink(p))) {
		pcap_close(p);
		return 0;
	}
	if (pf.snapshot != (uint32_t)pcap_snapshot(p))
		fz_fail("snapshot length", 0);
	/* each step consumes a 16-byte header or ends the file: this bounds the loop */
	for (size_t step = 0; step <= size / 16 + 2; step++) {
		struct pcap_pkthdr *h;
		const u_char *d;
		struct pcapfile_rec r;
		int a = pcap_next_ex(p, &h, &d);
		int b = pcapfile_next(&pf, &r, why, sizeof why);
		if (a == 1) {
			if (b != 1)
				fz_fail("record vs end/error", step);
			if (r.sec != h->ts.tv_sec || r.usec != h->ts.tv_usec)
				fz_fail("timestamp", step);
			if (r.caplen != h->caplen || r.len != h->len)
				fz_fail("lengths", step);
			if (r.data < data || r.data + r.caplen > data + size)
				fz_fail("data view outside the input", step);
			if (memcmp(r.data, d, h->caplen) != 0)
				fz_fail("bytes", step);
		} else if (a == PCAP_ERROR_BREAK) {
			if (b != 0)
				fz_fail("end of file", step);
			break;
		} else {
			if (b != -1)
				fz_fail("error vs record/end", step);
			if (strcmp(why, pcap_geterr(p)) != 0) {
				fprintf(stderr, "libpcap: %s\npcapfile: %s\n", pcap_geterr(p), why);
				fz_fail("error text", step);
			}
		}
	}
	pcap_close(p);
	return 0;
}
