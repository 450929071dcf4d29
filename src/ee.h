/* ee.h: project-wide error codes and small shared definitions.
 * Functions return 0 (or a count) on success and a negative EE_* code on failure. */
#ifndef EE_EE_H
#define EE_EE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum {
	EE_OK = 0,
	EE_NOMEM = -1,      /* allocation failed */
	EE_TRUNCATED = -2,  /* input ended before a declared length */
	EE_MALFORMED = -3,  /* bytes that cannot be what they claim to be */
	EE_LIMIT = -4,      /* an explicit limit was exceeded (see the named constant) */
	EE_UNSUPPORTED = -5,/* valid but not handled (link type, compression ...) */
	EE_IO = -6,         /* file or capture device error */
	EE_NOTTCP = -7,     /* a packet that is not TCP: skipped, not an error */
	EE_INCOMPLETE = -8, /* need more bytes */
	EE_USAGE = -9,      /* bad command line */
};

const char *ee_strerror(int code);

/* Timestamps are microseconds since the epoch throughout the pipeline. */
typedef int64_t ee_ts;

/* A 64-bit mixing hash of p[0..n), 8 bytes a step, chained through seed: for the hash
 * tables of short byte strings (keys, endpoints). Not for untrusted bytes where a crafted
 * collision would give a wrong answer: compare the bytes there. */
static inline uint64_t ee_hash64(uint64_t h, const void *data, size_t n)
{
	const uint8_t *p = data;
	const uint64_t m = 0x9e3779b97f4a7c15ull;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t w;
		memcpy(&w, p + i, 8);
		h = (h ^ w) * m;
		h ^= h >> 29;
	}
	uint64_t w = 0;
	if (i < n)
		memcpy(&w, p + i, n - i);
	h = (h ^ w ^ (uint64_t)n) * m;
	return h ^ h >> 32;
}

#endif
