/* fuzz_pcapfile.c: differential libFuzzer target for capture/pcapfile.c, the record walker
 * behind capture_next's fast path. The input is a whole capture file; libpcap reads it
 * (pcap_next_ex on an fmemopen FILE, microsecond precision, as capture_open_offline opens
 * files) side by side with pcapfile_next, and any difference aborts: a record's timestamp,
 * lengths or bytes, end of file, an error or its sentence, or what follows an error.
 * Inputs libpcap refuses or pcapfile_init does not take (pcapng, other link types) only
 * exercise the header checks. Seeded from tests/fuzz/corpus/fuzz_pcapfile/ by
 * scripts/fuzz.sh. The check is tests/unit/pcapfile_check.h's; test_capture.c runs it on
 * hand-built files. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "../unit/pcapfile_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *what;
	size_t step;
	char detail[2 * PCAP_ERRBUF_SIZE + 32];
	if (pcapfile_check(data, size, &what, &step, detail, sizeof detail) == PCAPFILE_CHECK_DIFF) {
		fprintf(stderr, "fuzz_pcapfile: %s differs at record %zu %s\n", what, step, detail);
		abort();
	}
	return 0;
}
