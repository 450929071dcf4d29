/* unit.h: the tiny harness every tests/unit/test_*.c uses. Each CHECK counts one
 * assertion; main() returns non-zero if any failed, and the run ends with the plain
 * "N passed, N failed" line that the test runner and CI read. */
#ifndef EE_UNIT_H
#define EE_UNIT_H

#include <stdio.h>
#include <string.h>

static int unit_passed, unit_failed;

#define CHECK(cond)                                                                           \
	do {                                                                                  \
		if (cond) {                                                                   \
			unit_passed++;                                                        \
		} else {                                                                      \
			unit_failed++;                                                        \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);  \
		}                                                                             \
	} while (0)

#define CHECK_EQ_INT(a, b)                                                                    \
	do {                                                                                  \
		long long _a = (long long)(a), _b = (long long)(b);                           \
		if (_a == _b) {                                                               \
			unit_passed++;                                                        \
		} else {                                                                      \
			unit_failed++;                                                        \
			fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", __FILE__,    \
				__LINE__, #a, #b, _a, _b);                                    \
		}                                                                             \
	} while (0)

#define CHECK_EQ_STR(a, b)                                                                    \
	do {                                                                                  \
		const char *_a = (a), *_b = (b);                                              \
		if (_a && _b && strcmp(_a, _b) == 0) {                                        \
			unit_passed++;                                                        \
		} else {                                                                      \
			unit_failed++;                                                        \
			fprintf(stderr, "%s:%d: %s == %s failed: \"%s\" != \"%s\"\n", __FILE__,\
				__LINE__, #a, #b, _a ? _a : "(null)", _b ? _b : "(null)");    \
		}                                                                             \
	} while (0)

static inline int unit_summary(const char *name)
{
	printf("%s: %d passed, %d failed\n", name, unit_passed, unit_failed);
	return unit_failed ? 1 : 0;
}

#endif
