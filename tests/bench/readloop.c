/* readloop.c: the floor of `make bench`: the bare libpcap read loop.
 *
 *   readloop FILE
 *
 * pcap_open_offline + pcap_next_ex, counting packets and captured bytes, nothing else: no
 * tool can read a capture through libpcap faster than this. Prints "PACKETS BYTES".
 */
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>

int main(int argc, char **argv)
{
	char err[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const u_char *d;
	uint64_t n = 0, bytes = 0;
	int r;

	if (argc != 2) {
		fprintf(stderr, "usage: readloop FILE\n");
		return 2;
	}
	pcap_t *p = pcap_open_offline(argv[1], err);
	if (!p) {
		fprintf(stderr, "readloop: %s\n", err);
		return 1;
	}
	while ((r = pcap_next_ex(p, &h, &d)) == 1) {
		n++;
		bytes += h->caplen;
	}
	if (r == PCAP_ERROR)
		fprintf(stderr, "readloop: %s\n", pcap_geterr(p));
	printf("%llu %llu\n", (unsigned long long)n, (unsigned long long)bytes);
	pcap_close(p);
	return r == PCAP_ERROR;
}
