/* test_pool.c: the size-class recycler (src/pool.c): class sizes cover every request with
 * at most 25% rounding, a freed block is handed out again for a request of its class,
 * the kept blocks stay within their bounds, realloc keeps the bytes, calloc zeroes a
 * recycled block, big blocks bypass the classes, and (under AddressSanitizer) kept blocks
 * are poisoned so a use after pool_free is still caught. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"
#include "unit.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

static void test_class_sizes(void)
{
	int bad_fit = 0, bad_round = 0, bad_mono = 0;
	size_t prev = 0;
	for (size_t n = 0; n <= POOL_MAX_CLASSED + 100; n += n < 70000 ? 1 : 977) {
		void *p = pool_alloc(n);
		if (!p) {
			CHECK(p != NULL);
			return;
		}
		size_t u = pool_usable(p);
		if (u < n || (n == 0 && u != 16))
			bad_fit++;
		/* 16-byte steps to 64, then at most a quarter over */
		if ((n > 0 && n <= 64 && u > n + 15) || (n > 64 && n <= POOL_MAX_CLASSED && u * 4 > n * 5 + 4 * 64))
			bad_round++;
		if (n <= POOL_MAX_CLASSED && u < prev)
			bad_mono++;
		prev = u;
		memset(p, 0xa5, n); /* the whole request is writable (ASan checks the bound) */
		pool_free(p);
	}
	CHECK_EQ_INT(bad_fit, 0);
	CHECK_EQ_INT(bad_round, 0);
	CHECK_EQ_INT(bad_mono, 0);
	pool_release();
}

static void test_reuse(void)
{
	struct pool_stats a, b;
	void *p = pool_alloc(1500);
	pool_free(p);
	pool_get_stats(&a);
	CHECK(a.kept_bytes >= 1500);
	void *q = pool_alloc(1490); /* same class (1280, 1536] */
	pool_get_stats(&b);
	CHECK(q == p);
	CHECK_EQ_INT(b.reused, a.reused + 1);
	CHECK_EQ_INT(b.fresh, a.fresh);
	void *r = pool_alloc(3000); /* another class: a fresh block */
	pool_get_stats(&a);
	CHECK(r != p);
	CHECK_EQ_INT(a.fresh, b.fresh + 1);
	pool_free(q);
	pool_free(r);
	pool_free(NULL);
	pool_release();
	pool_get_stats(&a);
	CHECK_EQ_INT(a.kept_bytes, 0);
}

static void test_keep_bounds(void)
{
	enum { N = 3000 };
	static void *p[N];
	struct pool_stats a, b;
	pool_get_stats(&a);
	for (int i = 0; i < N; i++)
		p[i] = pool_alloc(1024);
	for (int i = 0; i < N; i++)
		pool_free(p[i]);
	pool_get_stats(&b);
	/* a class keeps POOL_KEEP_CLASS_BYTES worth (1024-byte blocks: 256), the rest is freed */
	CHECK(b.kept_bytes <= POOL_KEEP_CLASS_BYTES);
	CHECK(b.kept_bytes >= POOL_KEEP_CLASS_BYTES - 1024);
	CHECK_EQ_INT(b.returned - a.returned, N - POOL_KEEP_CLASS_BYTES / 1024);
	/* many classes at once: the total bound holds */
	static void *q[40][200];
	int nclass = 0;
	for (size_t sz = 70; sz <= POOL_MAX_CLASSED && nclass < 200; sz = sz * 9 / 8, nclass++)
		for (int i = 0; i < 40; i++)
			q[i][nclass] = pool_alloc(sz);
	for (int c = 0; c < nclass; c++)
		for (int i = 0; i < 40; i++)
			pool_free(q[i][c]);
	pool_get_stats(&b);
	CHECK(b.kept_bytes <= POOL_KEEP_BYTES);
	pool_release();
}

static void test_realloc_calloc(void)
{
	unsigned char *p = pool_alloc(10);
	for (int i = 0; i < 10; i++)
		p[i] = (unsigned char)i;
	unsigned char *q = pool_realloc(p, 12); /* fits its 16-byte class: same block */
	CHECK(q == p);
	q = pool_realloc(q, 5000);
	int same = 1;
	for (int i = 0; i < 10; i++)
		same &= q[i] == i;
	CHECK(same);
	memset(q, 0xff, 5000);
	pool_free(q);
	unsigned char *z = pool_calloc(4900); /* the block just freed, zeroed */
	CHECK(z == q);
	int zero = 1;
	for (int i = 0; i < 4900; i++)
		zero &= z[i] == 0;
	CHECK(zero);
	pool_free(z);
	/* a direct block: kept out of the classes, and shrinking by half moves it */
	unsigned char *big = pool_alloc(POOL_MAX_CLASSED + 1);
	CHECK(big != NULL);
	CHECK_EQ_INT(pool_usable(big), POOL_MAX_CLASSED + 1);
	big[POOL_MAX_CLASSED] = 7;
	big[0] = 9;
	unsigned char *small = pool_realloc(big, 100);
	CHECK(small != NULL && small[0] == 9);
	CHECK(pool_usable(small) < 200);
	struct pool_stats a, b;
	pool_get_stats(&a);
	big = pool_alloc(2u << 20);
	pool_free(big);
	pool_get_stats(&b);
	CHECK_EQ_INT(b.returned, a.returned + 1);
	CHECK_EQ_INT(b.kept_bytes, a.kept_bytes);
	pool_free(small);
	pool_release();
}

static void test_poisoned(void)
{
#if defined(__SANITIZE_ADDRESS__)
	unsigned char *p = pool_alloc(300);
	CHECK(!__asan_address_is_poisoned(p + 299));
	pool_free(p);
	CHECK(__asan_address_is_poisoned(p));
	CHECK(__asan_address_is_poisoned(p + 299));
	unsigned char *q = pool_alloc(300);
	CHECK(q == p && !__asan_address_is_poisoned(q + 299));
	pool_free(q);
	pool_release();
#endif
}

int main(void)
{
	test_class_sizes();
	test_reuse();
	test_keep_bounds();
	test_realloc_calloc();
	test_poisoned();
	printf("test_pool: %d passed, %d failed\n", unit_passed, unit_failed);
	return unit_failed != 0;
}
