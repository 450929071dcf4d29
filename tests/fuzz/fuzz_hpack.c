/* fuzz_hpack.c: libFuzzer target for hpack/. The input is a sequence of header blocks, each
 * |len:2 (big endian)|block|, after one octet choosing the SETTINGS table size. Every block
 * goes to a partial decoder and, until it fails, to an exact (nghttp2) one; whenever the
 * exact decoder accepts a block, the partial one, which also started at the first block,
 * must have produced the very same fields. Both also run beside twins with the replay cache
 * off (hpack_decoder_set_cache): fields (unknown ids included), return codes, failures and
 * stats must be the same. So does a decoder joined after the first block that calls learn()
 * and set_max_table() from its emit callback (see fz_learn), beside its own twin. A length
 * whose first octet is 0xff is not a block but a SETTINGS_HEADER_TABLE_SIZE (second octet & 3
 * picks it) for every decoder. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hpack.h"

#define FUZZ_MAX_FIELDS 512

struct fz_field {
	const uint8_t *name, *value;
	size_t nlen, vlen;
	uint32_t flags;
	uint64_t unknown_id;
};

/* Fields of one block, copied into one buffer (views die when emit returns). */
struct fz_list {
	struct fz_field f[FUZZ_MAX_FIELDS];
	int n;
	uint8_t *buf;
	size_t used, cap;
	int overflow;
};

/* Appends n octets to l's buffer; returns their offset. */
static size_t fz_keep(struct fz_list *l, const uint8_t *p, size_t n)
{
	if (l->used + n > l->cap) {
		size_t cap = l->cap ? l->cap : 4096;
		while (cap < l->used + n)
			cap *= 2;
		uint8_t *nb = realloc(l->buf, cap);
		if (!nb)
			abort();
		l->buf = nb;
		l->cap = cap;
	}
	if (n)
		memcpy(l->buf + l->used, p, n);
	l->used += n;
	return l->used - n;
}

static void fz_collect(void *ctx, const struct hpack_field *f)
{
	struct fz_list *l = ctx;
	if (l->n >= FUZZ_MAX_FIELDS) {
		l->overflow = 1;
		return;
	}
	struct fz_field *o = &l->f[l->n++];
	/* store offsets now, turn them into pointers once the buffer stops moving */
	o->name = (const uint8_t *)(uintptr_t)fz_keep(l, f->name, f->name_len);
	o->value = (const uint8_t *)(uintptr_t)fz_keep(l, f->value, f->value_len);
	o->nlen = f->name_len;
	o->vlen = f->value_len;
	o->flags = f->flags;
	o->unknown_id = f->unknown_id;
}

static int fz_equal(const struct fz_list *a, const struct fz_list *b)
{
	if (a->n != b->n || a->overflow != b->overflow)
		return 0;
	for (int i = 0; i < a->n; i++) {
		const struct fz_field *x = &a->f[i], *y = &b->f[i];
		if (x->nlen != y->nlen || x->vlen != y->vlen || x->flags != y->flags ||
		    x->unknown_id != y->unknown_id)
			return 0;
		/* empty fields keep no bytes: the buffers may still be NULL */
		if ((x->nlen &&
		     memcmp(a->buf + (uintptr_t)x->name, b->buf + (uintptr_t)y->name, x->nlen)) ||
		    (x->vlen &&
		     memcmp(a->buf + (uintptr_t)x->value, b->buf + (uintptr_t)y->value, x->vlen)))
			return 0;
	}
	return 1;
}

/* A decoder joined after the first block names half of the unknown entries it meets,
 * to exercise learn() (from inside the callback, which the contract allows), and now and then
 * changes the table size from the callback. Both depend on a count of all the fields seen,
 * so that a block first decoded without either (and kept by the replay cache) meets them on
 * a later replay, which must then decode the rest of the block. */
struct fz_joined {
	struct hpack_decoder *d;
	unsigned n;
	struct fz_list *l;
};

static const uint32_t tables[] = {4096, 256, 0, 65536};

static void fz_learn(void *ctx, const struct hpack_field *f)
{
	struct fz_joined *j = ctx;
	static const char *names[] = {":path", "te", "", "grpc-timeout"};
	unsigned n = ++j->n;
	fz_collect(j->l, f);
	if ((f->flags & (HPACK_F_UNKNOWN_NAME | HPACK_F_UNKNOWN_VALUE)) && (n & 1))
		(void)hpack_decoder_learn(j->d, f->unknown_id, names[n & 3],
					  (n & 4) ? NULL : "/etcdserverpb.KV/Range");
	if (n % 23 == 22)
		hpack_decoder_set_max_table(j->d, tables[(n / 23) & 3]);
}

static int fz_stats_equal(const struct hpack_decoder *a, const struct hpack_decoder *b)
{
	struct hpack_stats x, y;
	hpack_decoder_stats(a, &x);
	hpack_decoder_stats(b, &y);
	return x.blocks == y.blocks && x.fields == y.fields && x.unknown_fields == y.unknown_fields &&
	       x.learned_fields == y.learned_fields && x.late_size_updates == y.late_size_updates &&
	       x.oversize_updates == y.oversize_updates && x.evictions == y.evictions;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	struct hpack_decoder *ex = hpack_decoder_new(true), *pa = hpack_decoder_new(false);
	struct hpack_decoder *ex0 = hpack_decoder_new(true), *pa0 = hpack_decoder_new(false);
	static struct fz_list le, lp, le0, lp0, lj, lj0;
	struct fz_joined jn = {.d = hpack_decoder_new(false), .l = &lj};
	struct fz_joined jn0 = {.d = hpack_decoder_new(false), .l = &lj0};
	if (!ex || !pa || !ex0 || !pa0 || !jn.d || !jn0.d)
		abort();
	hpack_decoder_set_cache(ex0, false);
	hpack_decoder_set_cache(pa0, false);
	hpack_decoder_set_cache(jn0.d, false);
	int nblk = 0;
	uint8_t cfg = data[0];
	if (cfg & 4) {
		hpack_decoder_set_max_table(ex, tables[cfg & 3]);
		hpack_decoder_set_max_table(pa, tables[cfg & 3]);
		hpack_decoder_set_max_table(ex0, tables[cfg & 3]);
		hpack_decoder_set_max_table(pa0, tables[cfg & 3]);
	}
	int exact_ok = 1;
	size_t off = 1;
	while (off + 2 <= size) {
		if (data[off] == 0xff) {
			uint32_t t = tables[data[off + 1] & 3];
			off += 2;
			if (exact_ok) {
				hpack_decoder_set_max_table(ex, t);
				hpack_decoder_set_max_table(ex0, t);
			}
			hpack_decoder_set_max_table(pa, t);
			hpack_decoder_set_max_table(pa0, t);
			hpack_decoder_set_max_table(jn.d, t);
			hpack_decoder_set_max_table(jn0.d, t);
			if (hpack_decoder_failed(ex) != hpack_decoder_failed(ex0))
				abort();
			continue;
		}
		size_t len = (size_t)data[off] << 8 | data[off + 1];
		off += 2;
		if (len > size - off)
			len = size - off;
		const uint8_t *blk = data + off;
		off += len;
		le.n = lp.n = le0.n = lp0.n = lj.n = lj0.n = 0;
		le.used = lp.used = le0.used = lp0.used = lj.used = lj0.used = 0;
		le.overflow = lp.overflow = le0.overflow = lp0.overflow = lj.overflow = lj0.overflow = 0;
		int re = exact_ok ? hpack_decode_block(ex, blk, len, fz_collect, &le) : -1;
		int rp = hpack_decode_block(pa, blk, len, fz_collect, &lp);
		int re0 = exact_ok ? hpack_decode_block(ex0, blk, len, fz_collect, &le0) : -1;
		int rp0 = hpack_decode_block(pa0, blk, len, fz_collect, &lp0);
		if (re != re0 || rp != rp0 || (re >= 0 && !fz_equal(&le, &le0)) ||
		    (rp >= 0 && !fz_equal(&lp, &lp0)) ||
		    hpack_decoder_failed(pa) != hpack_decoder_failed(pa0) ||
		    hpack_decoder_failed(ex) != hpack_decoder_failed(ex0) || !fz_stats_equal(pa, pa0) ||
		    (exact_ok && !fz_stats_equal(ex, ex0))) {
			fprintf(stderr, "replay cache on/off: exact %d/%d, partial %d/%d\n", re, re0,
				rp, rp0);
			abort();
		}
		if (nblk++ > 0) {
			int rj = hpack_decode_block(jn.d, blk, len, fz_learn, &jn);
			int rj0 = hpack_decode_block(jn0.d, blk, len, fz_learn, &jn0);
			if (rj != rj0 || (rj >= 0 && !fz_equal(&lj, &lj0)) || jn.n != jn0.n ||
			    hpack_decoder_failed(jn.d) != hpack_decoder_failed(jn0.d) ||
			    !fz_stats_equal(jn.d, jn0.d)) {
				fprintf(stderr, "replay cache on/off, joined: %d/%d\n", rj, rj0);
				abort();
			}
		}
		if (re < 0) {
			exact_ok = 0;
			continue;
		}
		if (rp != re || !fz_equal(&le, &lp)) {
			fprintf(stderr, "exact %d fields, partial %d: mismatch\n", re, rp);
			abort();
		}
	}
	if (exact_ok && hpack_decoder_failed(pa))
		abort();
	hpack_decoder_free(ex);
	hpack_decoder_free(pa);
	hpack_decoder_free(ex0);
	hpack_decoder_free(pa0);
	hpack_decoder_free(jn.d);
	hpack_decoder_free(jn0.d);
	return 0;
}
