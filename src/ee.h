/* ee.h: project-wide error codes and small shared definitions.
 * Functions return 0 (or a count) on success and a negative EE_* code on failure. */
#ifndef EE_EE_H
#define EE_EE_H

#include <stdint.h>

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

#endif
