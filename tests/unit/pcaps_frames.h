/* pcaps_frames.h: every frame of every committed capture (the .pcap files in pcaps/, read by libpcap),
 * for the tests that compare a decoder with its reference frame by frame (test_link.c,
 * test_portfilter.c). Run from the repository root, as the unit tests are. */
#ifndef EE_PCAPS_FRAMES_H
#define EE_PCAPS_FRAMES_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <pcap/pcap.h>

typedef void (*pcaps_frame_fn)(void *ctx, const char *path, int dlt, const uint8_t *data,
			       uint32_t caplen, uint32_t len);

/* Calls fn for each frame; returns the frames seen, -1 when pcaps/ cannot be listed or a
 * capture in it cannot be opened. */
static inline long pcaps_each_frame(pcaps_frame_fn fn, void *ctx)
{
	DIR *dp = opendir("pcaps");
	if (!dp)
		return -1;
	long frames = 0;
	struct dirent *de;
	while (frames >= 0 && (de = readdir(dp))) {
		size_t l = strlen(de->d_name);
		if (l < 5 || strcmp(de->d_name + l - 5, ".pcap") != 0)
			continue;
		char path[512], ebuf[PCAP_ERRBUF_SIZE];
		snprintf(path, sizeof path, "pcaps/%s", de->d_name);
		pcap_t *p = pcap_open_offline(path, ebuf);
		if (!p) {
			frames = -1;
			break;
		}
		int dlt = pcap_datalink(p);
		struct pcap_pkthdr *h;
		const u_char *data;
		while (pcap_next_ex(p, &h, &data) == 1) {
			frames++;
			fn(ctx, path, dlt, data, h->caplen, h->len);
		}
		pcap_close(p);
	}
	closedir(dp);
	return frames;
}

#endif
