/* pcapfile.c: the pure classic-pcap record walker behind capture_next's fast path
 * (pcapfile.h). It mirrors libpcap 1.10's sf-pcap.c (pcap_check_header, pcap_next_packet)
 * for a file opened with microsecond precision, field by field; where libpcap's result
 * depends on a C integer quirk the comment says so, since the point is to be
 * indistinguishable, damaged files included. Every read goes through struct rd. */
#include <stdio.h>
#include <string.h>

#include <pcap/pcap.h>

#include "pcapfile.h"
#include "rd.h"

#define PCAPFILE_MAGIC_US 0xa1b2c3d4u
#define PCAPFILE_MAGIC_NS 0xa1b23c4du

/* Link types whose records libpcap hands over exactly as stored, with the 256 KiB limit:
 * the ones capture_decode_frame decodes. Left out on purpose: the swapped forms of
 * LINUX_SLL/SLL2 (libpcap byte-swaps SocketCAN pseudo-headers in them), and every type
 * with a larger limit or its own pseudo-header fix-ups (DBUS, USB, NFLOG, PFLOG ...). */
static bool pcapfile_dlt_plain(int dlt, bool swapped)
{
	switch (dlt) {
	case DLT_EN10MB:
	case DLT_NULL:
	case DLT_LOOP:
	case DLT_RAW:
	case DLT_IPV4:
	case DLT_IPV6:
		return true;
	case DLT_LINUX_SLL:
	case DLT_LINUX_SLL2:
		return !swapped;
	default:
		return false;
	}
}

static bool pcapfile_host_le(void)
{
	const uint16_t one = 1;
	return *(const uint8_t *)&one == 1;
}

static uint32_t pcapfile_u32(struct rd *r, bool le) { return le ? rd_le32(r) : rd_be32(r); }
static uint16_t pcapfile_u16(struct rd *r, bool le) { return le ? rd_le16(r) : rd_be16(r); }

bool pcapfile_init(struct pcapfile *pf, const uint8_t *buf, size_t len, int dlt)
{
	struct rd r;
	bool le;

	rd_init(&r, buf, len);
	if (len < PCAPFILE_HDR_LEN)
		return false;
	uint32_t magic = rd_le32(&r);
	if (magic == PCAPFILE_MAGIC_US || magic == PCAPFILE_MAGIC_NS) {
		le = true;
	} else {
		rd_init(&r, buf, len);
		magic = rd_be32(&r);
		if (magic != PCAPFILE_MAGIC_US && magic != PCAPFILE_MAGIC_NS)
			return false;
		le = false;
	}
	uint16_t major = pcapfile_u16(&r, le);
	uint16_t minor = pcapfile_u16(&r, le);
	rd_skip(&r, 8); /* thiszone, sigfigs: libpcap ignores them */
	uint32_t snaplen = pcapfile_u32(&r, le);
	if (r.err || major != 2 || minor > 4)
		return false; /* 1.x, 543.0 (DG/UX), 2.5+: libpcap's to refuse or read */

	bool swapped = le != pcapfile_host_le();
	if (!pcapfile_dlt_plain(dlt, swapped))
		return false;
	pf->buf = buf;
	pf->len = len;
	pf->off = PCAPFILE_HDR_LEN;
	pf->swapped = swapped;
	pf->nsec = magic == PCAPFILE_MAGIC_NS;
	pf->lengths = minor < 3 ? PCAPFILE_LEN_SWAPPED
		    : minor == 3 ? PCAPFILE_LEN_MAYBE : PCAPFILE_LEN_NORMAL;
	/* libpcap 1.10.3 replaces 0 and what is negative as an int with the limit, and keeps
	 * the rest, even above the limit (pcap_snapshot then says so too) */
	pf->snapshot = snaplen == 0 || snaplen > INT32_MAX ? PCAPFILE_MAX_SNAPLEN : snaplen;
	return true;
}

/* An error: the next call starts where libpcap's FILE would stand after it (past the
 * record header when only the length was bad, at the end when the file ran out). */
static int pcapfile_fail(struct pcapfile *pf, size_t off)
{
	pf->off = off;
	return -1;
}

int pcapfile_next(struct pcapfile *pf, struct pcapfile_rec *rec, char *err, size_t errlen)
{
	size_t left = pf->len - pf->off;
	struct rd r;

	if (left < PCAPFILE_REC_LEN) {
		if (left == 0)
			return 0;
		snprintf(err, errlen, "truncated dump file; tried to read %d header bytes, only got %zu",
			 PCAPFILE_REC_LEN, left);
		return pcapfile_fail(pf, pf->len);
	}
	/* The record header as libpcap freads it: four host-order words, byte-swapped when the
	 * file is in the other order (one copy and no per-byte shifts: this runs per packet). */
	rd_init(&r, pf->buf + pf->off, left);
	uint32_t w[4];
	memcpy(w, rd_bytes(&r, PCAPFILE_REC_LEN), sizeof w);
	if (pf->swapped)
		for (int i = 0; i < 4; i++)
			w[i] = __builtin_bswap32(w[i]);
	uint32_t sec = w[0], frac = w[1], caplen = w[2], len = w[3];
	left -= PCAPFILE_REC_LEN;

	/* libpcap copies an unswapped field as the signed 32-bit value the struct holds, and a
	 * swapped one through SWAPLONG, which yields an unsigned int: so -1 stays -1 in one
	 * byte order and becomes 4294967295 in the other. Nanoseconds are then divided by 1000
	 * as a long (rounding toward zero). */
	if (pf->swapped) {
		rec->sec = sec;
		rec->usec = frac;
	} else {
		rec->sec = (int32_t)sec;
		rec->usec = (int32_t)frac;
	}
	if (pf->nsec)
		rec->usec /= 1000;
	if (pf->lengths == PCAPFILE_LEN_SWAPPED ||
	    (pf->lengths == PCAPFILE_LEN_MAYBE && caplen > len)) {
		uint32_t t = caplen;
		caplen = len;
		len = t;
	}

	size_t data = pf->off + PCAPFILE_REC_LEN;
	if (caplen > PCAPFILE_MAX_SNAPLEN) {
		if (caplen > pf->snapshot)
			snprintf(err, errlen,
				 "invalid packet capture length %u, bigger than snaplen of %d", caplen,
				 (int)pf->snapshot);
		else
			snprintf(err, errlen,
				 "invalid packet capture length %u, bigger than maximum of %u", caplen,
				 (unsigned)PCAPFILE_MAX_SNAPLEN);
		return pcapfile_fail(pf, data);
	}
	if (caplen > pf->snapshot) {
		/* libpcap reads the first snapshot bytes and discards the rest of the record */
		if (left < pf->snapshot) {
			snprintf(err, errlen,
				 "truncated dump file; tried to read %d captured bytes, only got %zu",
				 (int)pf->snapshot, left);
			return pcapfile_fail(pf, pf->len);
		}
		if (left < caplen) {
			snprintf(err, errlen,
				 "truncated dump file; tried to read %u captured bytes, only got %zu",
				 caplen, left);
			return pcapfile_fail(pf, pf->len);
		}
		rec->caplen = pf->snapshot;
	} else {
		if (left < caplen) {
			snprintf(err, errlen,
				 "truncated dump file; tried to read %u captured bytes, only got %zu",
				 caplen, left);
			return pcapfile_fail(pf, pf->len);
		}
		rec->caplen = caplen;
	}
	rec->len = len;
	rd_init(&r, pf->buf + data, left);
	rec->data = rd_bytes(&r, caplen);
	pf->off = data + caplen;
	return 1;
}
