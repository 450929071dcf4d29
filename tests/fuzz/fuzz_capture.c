/* fuzz_capture.c: libFuzzer target for the capture stage's frame decoder (capture/link.c).
 * Byte 0 picks the link type (every supported one, plus one that is not), byte 1 how many
 * bytes the snaplen "cut" (wire length = caplen + that); the rest is the frame. Every
 * result is also compared with the reference decoder (tests/unit/link_ref.h, the decoder
 * before the single-span rewrite): same return code, same struct cap_packet. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <pcap/pcap.h>

#include "capture.h"
#include "../unit/link_ref.h"

static const int fuzz_dlts[] = {
	DLT_EN10MB, DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_NULL, DLT_LOOP,
	DLT_RAW,    101,           DLT_IPV4,       DLT_IPV6, 105 /* 802.11: unsupported */
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	int dlt = fuzz_dlts[data[0] % (sizeof fuzz_dlts / sizeof fuzz_dlts[0])];
	uint32_t caplen = (uint32_t)(size - 2);
	uint32_t wirelen = caplen + data[1];
	const uint8_t *frame = data + 2;
	struct cap_packet p;
	memset(&p, 0xa5, sizeof p);

	int rc = capture_decode_frame(dlt, frame, caplen, wirelen, &p);
	struct cap_packet ref;
	memset(&ref, 0x5a, sizeof ref);
	if (ref_capture_decode_frame(dlt, frame, caplen, wirelen, &ref) != rc ||
	    memcmp(&ref, &p, sizeof p) != 0) /* both clear the whole struct, padding too */
		abort();
	if (rc == 0) {
		/* The payload view lies inside the frame, and never claims more than the wire. */
		if (p.len > 0 && (p.payload < frame || p.payload + p.len > frame + caplen))
			abort();
		if (p.len > p.wire_len || p.len > caplen)
			abort();
		if (p.af != 4 && p.af != 6)
			abort();
		if (p.af == 4 && (memcmp(p.src + 4, (uint8_t[12]){0}, 12) != 0))
			abort();
		volatile uint8_t sink = 0;
		for (uint32_t i = 0; i < p.len; i++) /* touch every byte: ASan checks the view */
			sink ^= p.payload[i];
		(void)sink;
	} else if (rc != EE_NOTTCP && rc != EE_MALFORMED && rc != EE_TRUNCATED &&
		   rc != EE_UNSUPPORTED) {
		abort();
	} else if (rc == EE_UNSUPPORTED && dlt != 105) {
		abort();
	}
	return 0;
}
