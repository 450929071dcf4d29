/* ee.c: names for the EE_* error codes (ee.h). */
#include "ee.h"

const char *ee_strerror(int code)
{
	switch (code) {
	case EE_OK: return "ok";
	case EE_NOMEM: return "out of memory";
	case EE_TRUNCATED: return "truncated";
	case EE_MALFORMED: return "malformed";
	case EE_LIMIT: return "limit exceeded";
	case EE_UNSUPPORTED: return "unsupported";
	case EE_IO: return "I/O error";
	case EE_NOTTCP: return "not TCP";
	case EE_INCOMPLETE: return "incomplete";
	case EE_USAGE: return "usage error";
	default: return "unknown error";
	}
}
