/* huffman_table.h: the HPACK Huffman code (RFC 7541 Appendix B) as code lengths, plus the
 * canonical-code tables derived from them for hpack/huffman.c. The RFC code is canonical:
 * sorting symbols by (length, value) and counting up reproduces every code in Appendix B, so
 * the 257 lengths are the whole fact; the rest was computed from them once (and is checked
 * against them by tests/unit/test_hpack.c). Only huffman.c includes this file. */
#ifndef EE_HPACK_HUFFMAN_TABLE_H
#define EE_HPACK_HUFFMAN_TABLE_H

#include <stdint.h>

#define HUFF_NSYM 257 /* 256 octets + EOS */
#define HUFF_EOS 256
#define HUFF_MIN_LEN 5
#define HUFF_MAX_LEN 30

/* Code length in bits of each symbol, RFC 7541 Appendix B. */
static const uint8_t huff_len[HUFF_NSYM] = {
	13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,
	28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
	6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,
	5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
	13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
	7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
	15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,
	6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
	20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
	24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
	22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,
	21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
	26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
	19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
	20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
	26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
	30,
};

/* Symbols sorted by (code length, symbol): the order in which canonical codes are assigned. */
static const uint16_t huff_sorted[HUFF_NSYM] = {
	48, 49, 50, 97, 99, 101, 105, 111, 115, 116, 32, 37,
	45, 46, 47, 51, 52, 53, 54, 55, 56, 57, 61, 65,
	95, 98, 100, 102, 103, 104, 108, 109, 110, 112, 114, 117,
	58, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76,
	77, 78, 79, 80, 81, 82, 83, 84, 85, 86, 87, 89,
	106, 107, 113, 118, 119, 120, 121, 122, 38, 42, 44, 59,
	88, 90, 33, 34, 40, 41, 63, 39, 43, 124, 35, 62,
	0, 36, 64, 91, 93, 126, 94, 125, 60, 96, 123, 92,
	195, 208, 128, 130, 131, 162, 184, 194, 224, 226, 153, 161,
	167, 172, 176, 177, 179, 209, 216, 217, 227, 229, 230, 129,
	132, 133, 134, 136, 146, 154, 156, 160, 163, 164, 169, 170,
	173, 178, 181, 185, 186, 187, 189, 190, 196, 198, 228, 232,
	233, 1, 135, 137, 138, 139, 140, 141, 143, 147, 149, 150,
	151, 152, 155, 157, 158, 165, 166, 168, 174, 175, 180, 182,
	183, 188, 191, 197, 231, 239, 9, 142, 144, 145, 148, 159,
	171, 206, 215, 225, 236, 237, 199, 207, 234, 235, 192, 193,
	200, 201, 202, 205, 210, 213, 218, 219, 238, 240, 242, 243,
	255, 203, 204, 211, 212, 214, 221, 222, 223, 241, 244, 245,
	246, 247, 248, 250, 251, 252, 253, 254, 2, 3, 4, 5,
	6, 7, 8, 11, 12, 14, 15, 16, 17, 18, 19, 20,
	21, 23, 24, 25, 26, 27, 28, 29, 30, 31, 127, 220,
	249, 10, 13, 22, 256,
};

/* For each length L: the first canonical code of that length, the position of its symbol in
 * huff_sorted, and the exclusive upper bound of all codes of length <= L, left-aligned in 32
 * bits (so a 32-bit window w holds a code of length L when lim[L-1] <= w < lim[L]). */
static const uint32_t huff_first[HUFF_MAX_LEN + 1] = {
	0x0, 0x0, 0x0, 0x0, 0x0, 0x0, 0x14, 0x5c,
	0xf8, 0x1fc, 0x3f8, 0x7fa, 0xffa, 0x1ff8, 0x3ffc, 0x7ffc,
	0xfffe, 0x1fffc, 0x3fff8, 0x7fff0, 0xfffe6, 0x1fffdc, 0x3fffd2, 0x7fffd8,
	0xffffea, 0x1ffffec, 0x3ffffe0, 0x7ffffde, 0xfffffe2, 0x1ffffffe, 0x3ffffffc,
};
static const uint16_t huff_index[HUFF_MAX_LEN + 1] = {
	0, 0, 0, 0, 0, 0, 10, 36,
	68, 74, 74, 79, 82, 84, 90, 92,
	95, 95, 95, 95, 98, 106, 119, 145,
	174, 186, 190, 205, 224, 253, 253,
};
static const uint64_t huff_limit[HUFF_MAX_LEN + 1] = {
	0x0ull, 0x0ull, 0x0ull, 0x0ull, 0x0ull, 0x50000000ull,
	0xb8000000ull, 0xf8000000ull, 0xfe000000ull, 0xfe000000ull, 0xff400000ull, 0xffa00000ull,
	0xffc00000ull, 0xfff00000ull, 0xfff80000ull, 0xfffe0000ull, 0xfffe0000ull, 0xfffe0000ull,
	0xfffe0000ull, 0xfffe6000ull, 0xfffee000ull, 0xffff4800ull, 0xffffb000ull, 0xffffea00ull,
	0xfffff600ull, 0xfffff800ull, 0xfffffbc0ull, 0xfffffe20ull, 0xfffffff0ull, 0xfffffff0ull,
	0x100000000ull,
};

#endif
