/* pool.c: size-class recycling of heap blocks (see pool.h). */
#include "pool.h"

#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define POOL_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define POOL_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POOL_POISON(p, n) ((void)(p), (void)(n))
#define POOL_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/* 4 classes of 16..64 bytes, then 4 per power of two from (64, 128] to (512 KiB, 1 MiB]. */
#define POOL_CLASSES (4 + 14 * 4)
#define POOL_DIRECT UINT32_MAX /* header class of a block bigger than POOL_MAX_CLASSED */

/* Before every block. 16 bytes keep the payload as aligned as malloc's. */
struct pool_hdr {
	uint32_t cls;
	uint32_t unused;
	union {
		struct pool_hdr *next; /* while kept in a class */
		size_t size;           /* a direct block's payload size */
	} u;
};
_Static_assert(sizeof(struct pool_hdr) == 16, "pool header must keep 16-byte alignment");

static struct {
	struct pool_hdr *head[POOL_CLASSES];
	uint32_t count[POOL_CLASSES];
	size_t kept_bytes;
	struct pool_stats st;
} pool;

/* Class of an n-byte request and its payload size; POOL_DIRECT past POOL_MAX_CLASSED. */
static uint32_t pool_class(size_t n, size_t *size)
{
	if (n <= 64) {
		size_t s = n ? (n + 15) & ~(size_t)15 : 16;
		*size = s;
		return (uint32_t)(s / 16 - 1);
	}
	if (n > POOL_MAX_CLASSED) {
		*size = n;
		return POOL_DIRECT;
	}
	unsigned k = 63u - (unsigned)__builtin_clzll((unsigned long long)(n - 1)); /* 2^k < n <= 2^(k+1) */
	size_t step = (size_t)1 << (k - 2);
	size_t s = (n + step - 1) & ~(step - 1); /* 5, 6, 7 or 8 steps */
	*size = s;
	return 4 + (k - 6) * 4 + (uint32_t)(s >> (k - 2)) - 5;
}

/* Payload size of class c (inverse of pool_class). */
static size_t pool_class_size(uint32_t c)
{
	if (c < 4)
		return 16 * ((size_t)c + 1);
	unsigned k = 6 + (c - 4) / 4;
	return ((size_t)5 + (c - 4) % 4) << (k - 2);
}

static size_t pool_class_keep(size_t size)
{
	size_t n = POOL_KEEP_CLASS_BYTES / size;
	return n > POOL_KEEP_MIN ? n : POOL_KEEP_MIN;
}

void *pool_alloc(size_t n)
{
	size_t size;
	uint32_t c = pool_class(n, &size);
	struct pool_hdr *h;
	if (c != POOL_DIRECT && pool.head[c]) {
		h = pool.head[c];
		pool.head[c] = h->u.next;
		pool.count[c]--;
		pool.kept_bytes -= size;
		pool.st.reused++;
		POOL_UNPOISON(h + 1, size);
		return h + 1;
	}
	if (size > SIZE_MAX - sizeof *h)
		return NULL;
	h = malloc(sizeof *h + size);
	if (!h)
		return NULL;
	pool.st.fresh++;
	h->cls = c;
	h->unused = 0;
	if (c == POOL_DIRECT)
		h->u.size = size;
	return h + 1;
}

void *pool_calloc(size_t n)
{
	void *p = pool_alloc(n);
	if (p)
		memset(p, 0, n);
	return p;
}

size_t pool_usable(const void *p)
{
	const struct pool_hdr *h = (const struct pool_hdr *)p - 1;
	return h->cls == POOL_DIRECT ? h->u.size : pool_class_size(h->cls);
}

void pool_free(void *p)
{
	if (!p)
		return;
	struct pool_hdr *h = (struct pool_hdr *)p - 1;
	uint32_t c = h->cls;
	if (c != POOL_DIRECT) {
		size_t size = pool_class_size(c);
		if (pool.count[c] < pool_class_keep(size) &&
		    pool.kept_bytes + size <= POOL_KEEP_BYTES) {
			h->u.next = pool.head[c];
			pool.head[c] = h;
			pool.count[c]++;
			pool.kept_bytes += size;
			POOL_POISON(p, size);
			return;
		}
	}
	pool.st.returned++;
	free(h);
}

void *pool_realloc(void *p, size_t n)
{
	if (!p)
		return pool_alloc(n);
	size_t have = pool_usable(p);
	if (n <= have) {
		/* keep the block unless a much smaller class would do (a direct block shrinks) */
		if (((struct pool_hdr *)p - 1)->cls != POOL_DIRECT || n * 2 > have)
			return p;
	}
	void *q = pool_alloc(n);
	if (!q)
		return NULL;
	memcpy(q, p, n < have ? n : have);
	pool_free(p);
	return q;
}

void pool_release(void)
{
	for (uint32_t c = 0; c < POOL_CLASSES; c++) {
		size_t size = pool_class_size(c);
		while (pool.head[c]) {
			struct pool_hdr *h = pool.head[c];
			POOL_UNPOISON(h + 1, size);
			pool.head[c] = h->u.next;
			free(h);
		}
		pool.count[c] = 0;
	}
	pool.kept_bytes = 0;
}

void pool_get_stats(struct pool_stats *st)
{
	*st = pool.st;
	st->kept_bytes = pool.kept_bytes;
}
