/* fuzz_k8s_sparse.c: libFuzzer target of k8s_value_decode_sparse (src/k8s_sparse.c): two
 * etcd values from one input (a 2-byte big-endian length of the old value, the old value,
 * the new value), decoded sparsely and whole; any difference in what the trace prints from
 * them (tests/unit/sparse_check.h) is a crash. Seeds: tests/fuzz/make_sparse_seeds.py. */
#include <stdint.h>
#include <stdlib.h>

#include "../unit/sparse_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	size_t split = (size_t)data[0] << 8 | data[1];
	const uint8_t *rest = data + 2;
	size_t n = size - 2;
	if (split > n)
		split = n;
	const uint8_t *ov = rest, *nv = rest + split;
	size_t on = split, nn = n - split;
	bool redact = size & 1;
	if (sparse_check(ov, on, true, nv, nn, redact) || sparse_check(NULL, 0, false, nv, nn, redact) ||
	    sparse_check(nv, nn, true, ov, on, !redact))
		abort();
	return 0;
}
