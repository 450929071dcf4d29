/* alloc_count.so: counts heap allocations of a dynamically linked program (LD_PRELOAD).
 *
 *   ALLOC_COUNT_OUT=FILE LD_PRELOAD=build/alloc/alloc_count.so ./etcd-explorer ...
 *
 * Counted: malloc, calloc, realloc with a non-zero size (realloc(NULL, n) included: both
 * can move or grow a block; realloc(p, 0) frees), aligned_alloc, posix_memalign, memalign,
 * valloc, pvalloc. strdup/strndup and the like call malloc inside libc, so they are counted
 * through it. free is passed through (it only has to skip the bootstrap buffer).
 * At exit (destructor) one line is appended to $ALLOC_COUNT_OUT (stderr when unset):
 *   allocs=N malloc=N calloc=N realloc=N memalign=N maxrss_kb=N
 * where allocs is the sum, memalign covers every aligned kind, and maxrss_kb is the
 * process's peak resident set so far (getrusage), for the memory-flatness check.
 *
 * The real functions are found with dlsym(RTLD_NEXT, ...); glibc's dlsym may itself call
 * calloc/malloc (its error buffer) before they are resolved, so while resolving every
 * allocation comes from a static bootstrap buffer that is never freed and never counted.
 * Nothing here allocates or calls back into the counted functions (no stdio: the line is
 * formatted by hand and written with write(2)).
 *
 * Use the release build: an AddressSanitizer binary must have ASan first in the link order
 * and refuses to run under LD_PRELOAD of another allocator wrapper.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/resource.h>

enum { K_MALLOC, K_CALLOC, K_REALLOC, K_MEMALIGN, K_N };
static const char *const kind_name[K_N] = { "malloc", "calloc", "realloc", "memalign" };
static atomic_ulong counts[K_N];

static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static void (*real_free)(void *);
static void *(*real_memalign)(size_t, size_t);
static int (*real_posix_memalign)(void **, size_t, size_t);
static void *(*real_aligned_alloc)(size_t, size_t);
static void *(*real_valloc)(size_t);
static void *(*real_pvalloc)(size_t);

/* Bootstrap arena for the allocations dlsym makes while we resolve the real functions. */
static _Alignas(max_align_t) unsigned char boot[16384];
static size_t boot_used;
static int resolving;      /* set while init() runs: allocations go to boot[] */
static int resolved;

static int in_boot(const void *p)
{
	return (const unsigned char *)p >= boot && (const unsigned char *)p < boot + sizeof boot;
}

static void *boot_alloc(size_t n, size_t align)
{
	if (align < _Alignof(max_align_t))
		align = _Alignof(max_align_t);
	size_t at = (boot_used + align - 1) & ~(align - 1);
	if (at > sizeof boot || n > sizeof boot - at)
		return NULL;   /* dlsym copes with a failed allocation (errno ENOMEM) */
	boot_used = at + n;
	return memset(boot + at, 0, n);
}

static void init(void)
{
	if (resolved || resolving)
		return;
	resolving = 1;
	real_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
	real_calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
	real_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
	real_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
	real_memalign = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "memalign");
	real_posix_memalign = (int (*)(void **, size_t, size_t))dlsym(RTLD_NEXT, "posix_memalign");
	real_aligned_alloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "aligned_alloc");
	real_valloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "valloc");
	real_pvalloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "pvalloc");
	resolving = 0;
	resolved = 1;
}

static void count(int k)
{
	atomic_fetch_add_explicit(&counts[k], 1, memory_order_relaxed);
}

/* While resolving (same thread, dlsym calling back) hand out bootstrap memory. */
#define BOOTSTRAP(n, align)                 \
	do {                                \
		if (!resolved) {            \
			init();             \
			if (!resolved)      \
				return boot_alloc((n), (align)); \
		}                           \
	} while (0)

void *malloc(size_t n)
{
	BOOTSTRAP(n, 0);
	count(K_MALLOC);
	return real_malloc(n);
}

void *calloc(size_t a, size_t b)
{
	if (!resolved) {
		init();
		if (!resolved) {
			if (b && a > SIZE_MAX / b)
				return NULL;
			return boot_alloc(a * b, 0);
		}
	}
	count(K_CALLOC);
	return real_calloc(a, b);
}

void free(void *p)
{
	if (p == NULL || in_boot(p))
		return;
	if (!resolved)
		init();
	if (real_free)
		real_free(p);
}

void *realloc(void *p, size_t n)
{
	BOOTSTRAP(n, 0);
	if (in_boot(p)) {
		/* grow a bootstrap block into a real one; its old size is unknown, so copy what
		 * fits from the block up to the end of the used part of boot[] */
		void *q = n ? real_malloc(n) : NULL;
		if (n)
			count(K_MALLOC);
		if (q) {
			size_t avail = (size_t)(boot + boot_used - (unsigned char *)p);
			memcpy(q, p, n < avail ? n : avail);
		}
		return q;
	}
	if (n != 0)
		count(K_REALLOC);
	return real_realloc(p, n);
}

void *memalign(size_t align, size_t n)
{
	BOOTSTRAP(n, align);
	count(K_MEMALIGN);
	return real_memalign(align, n);
}

void *aligned_alloc(size_t align, size_t n)
{
	BOOTSTRAP(n, align);
	count(K_MEMALIGN);
	return real_aligned_alloc(align, n);
}

int posix_memalign(void **out, size_t align, size_t n)
{
	if (!resolved) {
		init();
		if (!resolved) {
			*out = boot_alloc(n, align);
			return *out ? 0 : ENOMEM;
		}
	}
	count(K_MEMALIGN);
	return real_posix_memalign(out, align, n);
}

void *valloc(size_t n)
{
	BOOTSTRAP(n, 4096);
	count(K_MEMALIGN);
	return real_valloc(n);
}

void *pvalloc(size_t n)
{
	BOOTSTRAP(n, 4096);
	count(K_MEMALIGN);
	return real_pvalloc(n);
}

__attribute__((constructor)) static void alloc_count_init(void)
{
	init();
}

static char *put_str(char *o, const char *s)
{
	while (*s)
		*o++ = *s++;
	return o;
}

static char *put_ulong(char *o, unsigned long v)
{
	char tmp[24];
	int n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*o++ = tmp[--n];
	return o;
}

__attribute__((destructor)) static void alloc_count_report(void)
{
	unsigned long v[K_N], sum = 0;
	for (int k = 0; k < K_N; k++) {
		v[k] = atomic_load_explicit(&counts[k], memory_order_relaxed);
		sum += v[k];
	}
	char line[256], *o = line;
	o = put_str(o, "allocs=");
	o = put_ulong(o, sum);
	for (int k = 0; k < K_N; k++) {
		*o++ = ' ';
		o = put_str(o, kind_name[k]);
		*o++ = '=';
		o = put_ulong(o, v[k]);
	}
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) == 0) {
		o = put_str(o, " maxrss_kb=");
		o = put_ulong(o, (unsigned long)ru.ru_maxrss);
	}
	*o++ = '\n';
	const char *path = getenv("ALLOC_COUNT_OUT");
	int fd = 2;
	if (path && *path) {
		fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd < 0)
			fd = 2;
	}
	ssize_t w = write(fd, line, (size_t)(o - line));
	(void)w;
	if (fd != 2)
		close(fd);
}
