/* unit.h: the tiny harness every tests/unit/test_*.c uses. Each CHECK counts one
 * assertion; main() returns non-zero if any failed, and the run ends with the plain
 * "N passed, N failed" line that the test runner and CI read. */
#ifndef EE_UNIT_H
#define EE_UNIT_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
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

/* One step of a 64-bit xorshift generator (Marsaglia's 13/7/17): the tests' random inputs
 * must not depend on libc's rand sequence. Each test keeps its own state and seed. */
static inline uint64_t unit_xorshift(uint64_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return *state;
}

/* A growable byte buffer for building wire bytes (frames, messages, values). */
struct buf {
	uint8_t *p;
	size_t n, cap;
};

static inline void buf_put(struct buf *b, const void *p, size_t n)
{
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2 + 64;
		b->p = realloc(b->p, b->cap);
	}
	if (n)
		memcpy(b->p + b->n, p, n);
	b->n += n;
}

/* The Kubernetes fixture directory (../shared/k8s-fixtures, or $K8S_FIXTURES), opened, its
 * path in *dir. NULL when it is missing: a SKIP line, and a failed check under CI (where
 * ../shared is always there). */
static inline DIR *unit_fixtures(const char *test, const char **dir)
{
	*dir = getenv("K8S_FIXTURES");
	if (!*dir || !**dir)
		*dir = "../shared/k8s-fixtures";
	DIR *dp = opendir(*dir);
	if (!dp) {
		printf("SKIP %s fixtures: %s not found (set K8S_FIXTURES)\n", test, *dir);
		if (getenv("CI"))
			CHECK(!"fixture directory missing under CI");
	}
	return dp;
}

/* The next protobuf fixture (NAME.pb) in a directory unit_fixtures opened; NULL at the end. */
static inline const char *unit_next_pb(DIR *dp)
{
	struct dirent *de;
	while ((de = readdir(dp))) {
		size_t l = strlen(de->d_name);
		if (l >= 4 && strcmp(de->d_name + l - 3, ".pb") == 0)
			return de->d_name;
	}
	return NULL;
}

static inline int unit_summary(const char *name)
{
	printf("%s: %d passed, %d failed\n", name, unit_passed, unit_failed);
	return unit_failed ? 1 : 0;
}

#endif
