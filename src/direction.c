/* direction.c: tells the etcd server's bytes from the client's (see direction.h).
 *
 * Evidence, strongest first:
 *   "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"          client preface
 *   HEADERS block byte 0x88..0x8e              indexed :status (RFC 7541 static 8-14): server
 *   HEADERS block byte 0x82..0x87              indexed :method/:path/:scheme (2-7): client
 *   HEADERS literal with name index 4 (:path)  client
 *   DATA: 00 LLLLLLLL 0a ll 08 .. 10 ..        gRPC message whose field 1 is a message
 *                                              starting with fields 1 and 2 as varints: an
 *                                              etcd ResponseHeader{cluster_id, member_id}
 */
#include "direction.h"

#include <string.h>

#include "h2.h"
#include "rd.h"

static const char PREFACE[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/* A frame header at p[0..9) that chains to another plausible one (or to the end). */
static bool frame_at(const uint8_t *p, size_t n, size_t o)
{
	if (o + 9 > n || !h2_frame_header_plausible(p + o, TCP_C2S, 1u << 20))
		return false;
	uint32_t len = (uint32_t)p[o] << 16 | (uint32_t)p[o + 1] << 8 | p[o + 2];
	size_t next = o + 9 + len;
	if (next >= n)
		return true;
	return next + 9 <= n && h2_frame_header_plausible(p + next, TCP_C2S, 1u << 20);
}

static enum dir_verdict headers_sign(const uint8_t *blk, size_t n)
{
	if (!n)
		return DIR_UNKNOWN;
	uint8_t b = blk[0];
	if (b >= 0x88 && b <= 0x8e)
		return DIR_FROM_SERVER;
	if (b >= 0x82 && b <= 0x87)
		return DIR_FROM_CLIENT;
	if ((b & 0xc0) == 0x40 && (b & 0x3f) == 4)
		return DIR_FROM_CLIENT;
	if ((b & 0xf0) == 0x00 && (b & 0x0f) == 4)
		return DIR_FROM_CLIENT;
	return DIR_UNKNOWN;
}

/* gRPC message prefix + ResponseHeader as field 1. */
static enum dir_verdict data_sign(const uint8_t *p, size_t n)
{
	struct rd r;
	rd_init(&r, p, n);
	uint8_t flag = rd_u8(&r);
	(void)rd_be32(&r);
	if (r.err || flag != 0)
		return DIR_UNKNOWN;
	if (rd_u8(&r) != 0x0a)
		return DIR_UNKNOWN;
	uint64_t ll = rd_varint(&r);
	if (r.err || ll < 4 || ll > 64 || rd_left(&r) < ll)
		return DIR_UNKNOWN;
	struct rd h;
	rd_init(&h, r.p, (size_t)ll);
	if (rd_u8(&h) != 0x08)
		return DIR_UNKNOWN;
	(void)rd_varint(&h);
	if (h.err || rd_u8(&h) != 0x10)
		return DIR_UNKNOWN;
	(void)rd_varint(&h);
	return h.err ? DIR_UNKNOWN : DIR_FROM_SERVER;
}

enum dir_verdict direction_sniff(const uint8_t *p, size_t n)
{
	if (n >= sizeof PREFACE - 1 && !memcmp(p, PREFACE, sizeof PREFACE - 1))
		return DIR_FROM_CLIENT;
	for (size_t o = 0; o + 9 <= n; o++) {
		if (!frame_at(p, n, o))
			continue;
		/* walk the chain from here */
		size_t f = o;
		while (f + 9 <= n) {
			uint32_t len = (uint32_t)p[f] << 16 | (uint32_t)p[f + 1] << 8 | p[f + 2];
			uint8_t type = p[f + 3], flags = p[f + 4];
			const uint8_t *pl = p + f + 9;
			size_t avail = n - (f + 9) < len ? n - (f + 9) : len;
			size_t skip = 0;
			if (flags & 0x08 && (type == 0 || type == 1) && avail)
				skip = 1; /* pad length; padding at the end does not matter here */
			if (type == 1 && (flags & 0x20))
				skip += 5;
			enum dir_verdict v = DIR_UNKNOWN;
			if (type == 1 && avail > skip)
				v = headers_sign(pl + skip, avail - skip);
			else if (type == 0 && avail > skip)
				v = data_sign(pl + skip, avail - skip);
			if (v != DIR_UNKNOWN)
				return v;
			if (!h2_frame_header_plausible(p + f, TCP_C2S, 1u << 20))
				break;
			f += 9 + len;
		}
		break;
	}
	return DIR_UNKNOWN;
}
