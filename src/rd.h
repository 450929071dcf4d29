/* rd.h: the bounds-checked reader every parser uses for wire bytes.
 * A failed read sets a sticky `err` and yields 0 / NULL; callers check `err` once at the
 * end of a unit of work (STYLE.md rule 3). Header-only so the hot path inlines. */
#ifndef EE_RD_H
#define EE_RD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rd {
	const uint8_t *p, *end;
	bool err;
};

static inline void rd_init(struct rd *r, const void *p, size_t n)
{
	static const uint8_t none[1];
	r->p = p ? (const uint8_t *)p : none; /* NULL + 0 is undefined behaviour */
	r->end = r->p + n;
	r->err = false;
}

static inline size_t rd_left(const struct rd *r) { return (size_t)(r->end - r->p); }

/* Marks the reader failed unless n bytes remain. */
static inline bool rd_need(struct rd *r, size_t n)
{
	if (r->err || rd_left(r) < n) {
		r->err = true;
		return false;
	}
	return true;
}

static inline uint8_t rd_u8(struct rd *r)
{
	if (!rd_need(r, 1))
		return 0;
	return *r->p++;
}

static inline uint16_t rd_be16(struct rd *r)
{
	if (!rd_need(r, 2))
		return 0;
	uint16_t v = (uint16_t)(r->p[0] << 8 | r->p[1]);
	r->p += 2;
	return v;
}

static inline uint32_t rd_be24(struct rd *r)
{
	if (!rd_need(r, 3))
		return 0;
	uint32_t v = (uint32_t)r->p[0] << 16 | (uint32_t)r->p[1] << 8 | r->p[2];
	r->p += 3;
	return v;
}

static inline uint32_t rd_be32(struct rd *r)
{
	if (!rd_need(r, 4))
		return 0;
	uint32_t v = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 | (uint32_t)r->p[2] << 8 | r->p[3];
	r->p += 4;
	return v;
}

static inline uint16_t rd_le16(struct rd *r)
{
	if (!rd_need(r, 2))
		return 0;
	uint16_t v = (uint16_t)(r->p[1] << 8 | r->p[0]);
	r->p += 2;
	return v;
}

static inline uint32_t rd_le32(struct rd *r)
{
	if (!rd_need(r, 4))
		return 0;
	uint32_t v = (uint32_t)r->p[3] << 24 | (uint32_t)r->p[2] << 16 | (uint32_t)r->p[1] << 8 | r->p[0];
	r->p += 4;
	return v;
}

/* Returns a view of the next n bytes, or NULL (and err) when fewer remain. */
static inline const uint8_t *rd_bytes(struct rd *r, size_t n)
{
	if (!rd_need(r, n))
		return NULL;
	const uint8_t *v = r->p;
	r->p += n;
	return v;
}

static inline void rd_skip(struct rd *r, size_t n) { (void)rd_bytes(r, n); }

/* Protobuf base-128 varint, at most 10 bytes. */
static inline uint64_t rd_varint(struct rd *r)
{
	uint64_t v = 0;
	for (int shift = 0; shift < 70; shift += 7) {
		if (!rd_need(r, 1))
			return 0;
		uint8_t b = *r->p++;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return v;
	}
	r->err = true;
	return 0;
}

/* Reads one protobuf field: its tag, and for a length-delimited one (wire type 2) its value
 * (*val, *len; NULL and 0 otherwise). False when the bytes do not parse: a varint or a
 * fixed value past the end, a length past the end, wire types 3, 4, 6, 7. */
static inline bool rd_pb_field(struct rd *r, uint64_t *tag, const uint8_t **val, size_t *len)
{
	*tag = rd_varint(r);
	*val = NULL;
	*len = 0;
	switch (*tag & 7) {
	case 0: (void)rd_varint(r); break;
	case 1: rd_skip(r, 8); break;
	case 5: rd_skip(r, 4); break;
	case 2: {
		uint64_t n = rd_varint(r);
		if (r->err || n > rd_left(r))
			return false;
		*len = (size_t)n;
		*val = rd_bytes(r, *len);
		break;
	}
	default: return false;
	}
	return !r->err;
}

#endif
