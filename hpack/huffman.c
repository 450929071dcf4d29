/* huffman.c: HPACK Huffman string decoding (RFC 7541 Section 5.2, Appendix B), used by the
 * partial-mode decoder in hpack.c for string literals with the H bit set. Exact mode leaves
 * Huffman to nghttp2; both must agree on what is valid.
 *
 *   codes are canonical, 5..30 bits, most significant bit first, packed across octets:
 *   |code|code|code...|1111111|   <- last octet padded with the high bits of EOS
 *                      (<= 7 bits, all ones); EOS itself never appears in the data.
 */
#include "hpack.h"

#include "ee.h"
#include "huffman_table.h"

/* Length of the code that starts at the top of the 32-bit window w (bits past the end of
 * the input read as zeros, so the result may exceed the bits actually left). */
static unsigned huff_code_len(uint32_t w)
{
	unsigned len = HUFF_MIN_LEN;

	while (len < HUFF_MAX_LEN && (uint64_t)w >= huff_limit[len])
		len++;
	return len;
}

/* Decodes n octets of Huffman code into out (at most outcap octets). The bit accumulator
 * keeps its bits left-aligned in 64 bits and is refilled a byte at a time, so a whole code
 * (<= 30 bits) is always in view while input remains. */
long hpack_huffman_decode(const uint8_t *in, size_t n, uint8_t *out, size_t outcap)
{
	uint64_t acc = 0;
	unsigned nbits = 0;
	size_t i = 0, o = 0;

	for (;;) {
		while (nbits <= 56 && i < n) {
			acc |= (uint64_t)in[i++] << (56 - nbits);
			nbits += 8;
		}
		if (nbits == 0)
			break;
		uint32_t w = (uint32_t)(acc >> 32);
		unsigned len = huff_code_len(w);
		if (len > nbits) {
			/* Input is exhausted (else nbits > 56): what is left must be padding,
			 * i.e. at most 7 bits, all ones (a prefix of EOS). */
			uint64_t mask = ~0ull << (64 - nbits);
			if (nbits > 7 || (acc & mask) != mask)
				return EE_MALFORMED;
			break;
		}
		uint32_t code = w >> (32 - len);
		uint16_t sym = huff_sorted[huff_index[len] + (code - huff_first[len])];
		if (sym == HUFF_EOS)
			return EE_MALFORMED; /* RFC 7541 5.2: EOS in a string is an error */
		if (o >= outcap)
			return EE_LIMIT;
		out[o++] = (uint8_t)sym;
		acc <<= len;
		nbits -= len;
	}
	return (long)o;
}
