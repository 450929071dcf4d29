/* pool.h: recycled heap blocks for memory that is freed and asked for again at message
 * rate: decoded-value cache entries and their value copies, the key store's values, the
 * headers of value arenas, HPACK dynamic-table entries, protobuf arena chunks and
 * oversized blocks, gRPC message buffers, LIST page bookkeeping.
 *
 * Issue 6 asks for no allocation per packet or per message in steady state. Each of
 * those owners keeps a bounded amount of memory (a cache budget, one value per key, one
 * table per connection), so in steady state every block freed is soon asked for again at
 * a similar size: the pool keeps freed blocks in size classes and hands them back out,
 * and malloc is called only while the working set grows (tests/run-alloc.sh measures
 * heap allocations per gRPC message).
 *
 * Classes are 16-byte steps up to 64 bytes, then four per power of two (at most 25%
 * rounding) up to POOL_MAX_CLASSED; bigger blocks go straight to malloc and free. Kept
 * blocks are bounded per class and in total (POOL_KEEP_*), so what the pool holds beyond
 * the live blocks is at most POOL_KEEP_BYTES. Not thread-safe (the tool has one thread).
 *
 * Every block carries a 16-byte header (its class), so pool_free needs no size; a block
 * from pool_alloc must go back through pool_free or pool_realloc, never free(). Under
 * AddressSanitizer kept blocks are poisoned, so a use after pool_free is still reported. */
#ifndef EE_POOL_H
#define EE_POOL_H

#include <stddef.h>
#include <stdint.h>

#define POOL_MAX_CLASSED (1u << 20)     /* bigger blocks are not kept */
#define POOL_KEEP_BYTES (16u << 20)     /* bytes of freed blocks kept, all classes */
#define POOL_KEEP_CLASS_BYTES (256u << 10) /* ... per class (but at least POOL_KEEP_MIN) */
#define POOL_KEEP_MIN 8                 /* blocks a class may keep whatever their size */

/* Like malloc, calloc, realloc and free (n == 0 gives a 16-byte block, not NULL). NULL
 * when out of memory; pool_realloc leaves p untouched then. */
void *pool_alloc(size_t n);
void *pool_calloc(size_t n);
void *pool_realloc(void *p, size_t n);
void pool_free(void *p);

/* Bytes usable in a block from pool_alloc (its class size, >= what was asked). */
size_t pool_usable(const void *p);

/* Returns every kept block to free() (at exit, so leak checkers see a clean heap). */
void pool_release(void);

struct pool_stats {
	uint64_t fresh;      /* blocks that came from malloc */
	uint64_t reused;     /* blocks handed out again from a class */
	uint64_t returned;   /* blocks given back to free() (class full, or too big) */
	size_t kept_bytes;   /* bytes of freed blocks held now */
};
void pool_get_stats(struct pool_stats *st);

#endif
