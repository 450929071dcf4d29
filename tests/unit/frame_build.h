/* frame_build.h: building link-layer frames byte by byte for the capture tests
 * (test_capture.c, test_link.c): a fixed buffer and big-endian appenders. */
#ifndef EE_FRAME_BUILD_H
#define EE_FRAME_BUILD_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct frame {
	uint8_t b[4096];
	size_t n;
};

static inline void put(struct frame *f, const void *p, size_t n)
{
	memcpy(f->b + f->n, p, n);
	f->n += n;
}
static inline void put8(struct frame *f, uint8_t v) { f->b[f->n++] = v; }
static inline void put16(struct frame *f, uint16_t v)
{
	put8(f, (uint8_t)(v >> 8));
	put8(f, (uint8_t)v);
}
static inline void put32(struct frame *f, uint32_t v)
{
	put16(f, (uint16_t)(v >> 16));
	put16(f, (uint16_t)v);
}
static inline void put32le(struct frame *f, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		put8(f, (uint8_t)(v >> (8 * i)));
}
/* n bytes of value v (putz: zeros) */
static inline void putn(struct frame *f, uint8_t v, size_t n)
{
	memset(f->b + f->n, v, n);
	f->n += n;
}
static inline void putz(struct frame *f, size_t n) { putn(f, 0, n); }

#endif
