/* pcapfile.h: a pure reader of classic pcap savefiles held in memory (capture.c's read
 * buffer, behind capture_next's fast path). It walks the records the way libpcap 1.10's
 * sf-pcap.c pcap_next_packet does for a file opened with PCAP_TSTAMP_PRECISION_MICRO: same
 * timestamps, same caplen cuts, same errors with the same text, and the same position after
 * an error, so the tool cannot tell which reader it was given. No I/O here: unit tests and
 * the fuzzer compare it with pcap_next_ex on the same bytes. */
#ifndef EE_PCAPFILE_H
#define EE_PCAPFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The 24-byte file header and the 16-byte record header (pcap-savefile(5)):
 *   file:   magic(4) version_major(2) version_minor(2) thiszone(4) sigfigs(4) snaplen(4)
 *           linktype(4)
 *   record: ts_sec(4) ts_usec_or_nsec(4) caplen(4) len(4), then caplen bytes of frame
 * in the byte order of the writer, which the magic tells. */
#define PCAPFILE_HDR_LEN 24
#define PCAPFILE_REC_LEN 16

/* libpcap's MAXIMUM_SNAPLEN: its hard limit on a record (max_snaplen_for_dlt) for every
 * link type this reader accepts, and the snapshot length of a file that says 0 (or more
 * than INT_MAX). */
#define PCAPFILE_MAX_SNAPLEN 262144

/* Order of the caplen and len fields, by file version (sf-pcap.c: they were interchanged
 * in 2.3, and some 2.3 writers kept the old order). */
enum pcapfile_lengths { PCAPFILE_LEN_NORMAL, PCAPFILE_LEN_SWAPPED, PCAPFILE_LEN_MAYBE };

struct pcapfile {
	const uint8_t *buf; /* the file's bytes, borrowed: from its start for pcapfile_init; the
			     * caller may then point buf/len/off at any later window of it */
	size_t len, off;    /* off: the next record header; len: the end of the bytes held */
	bool swapped;       /* written in the other byte order than this host's */
	bool nsec;          /* nanosecond timestamps, scaled down to microseconds */
	enum pcapfile_lengths lengths;
	uint32_t snapshot;  /* the file's snaplen as libpcap adjusts it */
};

/* One record, as libpcap's struct pcap_pkthdr + data pointer would hold it. */
struct pcapfile_rec {
	int64_t sec, usec;    /* ts.tv_sec, ts.tv_usec (microseconds) */
	uint32_t caplen, len; /* caplen is at most the snapshot length */
	const uint8_t *data;  /* caplen bytes inside the buffer */
};

/* Recognises a classic pcap header (magic a1b2c3d4 or a1b23c4d in either byte order,
 * version 2.0 to 2.4) at the start of buf and sets pf to read the first record. dlt is the
 * link type libpcap reports for the file (pcap_datalink). Returns false for anything else
 * (pcapng, the modified formats, version 543.0, fewer than 24 bytes), and for the link
 * types where libpcap does more than copy the record (pseudo-headers it byte-swaps, limits
 * other than 256 KiB): the caller keeps libpcap's reader. */
bool pcapfile_init(struct pcapfile *pf, const uint8_t *buf, size_t len, int dlt);

/* Reads the next record. Returns 1 with *rec filled (data points into the buffer), 0 at
 * the end of the buffer, -1 on a damaged record with libpcap's sentence in err ("truncated
 * dump file; ...", "invalid packet capture length ..."). A later call goes on from where
 * libpcap's file position would be after that error. An end or a truncation error that
 * leaves off at len is only final at the end of the file: a caller holding part of the
 * file puts off back to the record and calls again once it holds more bytes. */
int pcapfile_next(struct pcapfile *pf, struct pcapfile_rec *rec, char *err, size_t errlen);

#endif
