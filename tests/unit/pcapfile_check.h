/* pcapfile_check.h: the differential check of capture/pcapfile.c against libpcap, shared
 * by tests/unit/test_capture.c (hand-built files) and tests/fuzz/fuzz_pcapfile.c (random
 * ones). libpcap reads the bytes as capture_open_offline opens files (pcap_next_ex on an
 * fmemopen FILE, microsecond precision) side by side with pcapfile_next, and every step
 * must agree: a record's timestamp, lengths and bytes (a view inside the input), end of
 * file, an error and its sentence, and what follows an error. */
#ifndef EE_PCAPFILE_CHECK_H
#define EE_PCAPFILE_CHECK_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <pcap/pcap.h>

#include "pcapfile.h"

#define PCAPFILE_CHECK_DIFF (-3)

/* Returns the records both read, -1 when libpcap refuses the file, -2 when pcapfile_init
 * does not take it, PCAPFILE_CHECK_DIFF at the first difference (*what names it, *step is
 * the record, detail says more when there is more to say). */
static int pcapfile_check(const uint8_t *data, size_t size, const char **what, size_t *step,
			  char *detail, size_t dlen)
{
	char ebuf[PCAP_ERRBUF_SIZE], why[PCAP_ERRBUF_SIZE];
	int n = 0, rc = 0;
	*what = "";
	*step = 0;
	if (dlen)
		detail[0] = 0;
	FILE *f = size ? fmemopen((void *)data, size, "rb") : NULL;
	if (!f)
		return -1;
	pcap_t *p = pcap_fopen_offline_with_tstamp_precision(f, PCAP_TSTAMP_PRECISION_MICRO, ebuf);
	if (!p) {
		fclose(f);
		return -1;
	}
	struct pcapfile pf;
	if (!pcapfile_init(&pf, data, size, pcap_datalink(p))) {
		pcap_close(p);
		return -2;
	}
#define PCAPFILE_DIFF(w)                                                                      \
	do {                                                                                  \
		*what = (w);                                                                  \
		*step = s;                                                                    \
		rc = PCAPFILE_CHECK_DIFF;                                                     \
		goto out;                                                                     \
	} while (0)
	size_t s = 0;
	if (pf.snapshot != (uint32_t)pcap_snapshot(p))
		PCAPFILE_DIFF("snapshot length");
	/* each step consumes a 16-byte header or ends the file: this bounds the loop */
	for (; s <= size / 16 + 2; s++) {
		struct pcap_pkthdr *h;
		const u_char *d;
		struct pcapfile_rec r;
		int a = pcap_next_ex(p, &h, &d);
		int b = pcapfile_next(&pf, &r, why, sizeof why);
		if (a == 1) {
			if (b != 1)
				PCAPFILE_DIFF("record vs end/error");
			if (r.sec != h->ts.tv_sec || r.usec != h->ts.tv_usec)
				PCAPFILE_DIFF("timestamp");
			if (r.caplen != h->caplen || r.len != h->len)
				PCAPFILE_DIFF("lengths");
			if (r.data < data || r.data + r.caplen > data + size)
				PCAPFILE_DIFF("data view outside the input");
			if (memcmp(r.data, d, h->caplen) != 0)
				PCAPFILE_DIFF("bytes");
			n++;
		} else if (a == PCAP_ERROR_BREAK) {
			if (b != 0)
				PCAPFILE_DIFF("end of file");
			break;
		} else {
			if (a != PCAP_ERROR || b != -1)
				PCAPFILE_DIFF("error vs record/end");
			if (strcmp(why, pcap_geterr(p)) != 0) {
				snprintf(detail, dlen, "libpcap: %s / pcapfile: %s", pcap_geterr(p), why);
				PCAPFILE_DIFF("error text");
			}
		}
	}
#undef PCAPFILE_DIFF
	rc = n;
out:
	pcap_close(p);
	return rc;
}

#endif
