/* SPDX-License-Identifier: Apache-2.0 */
/* SipHash-2-4-128 (see siphash.h). */
#include "siphash.h"

#include <string.h>

/* SipHash-2-4: 2 rounds per message word, 4 per finalization. */
#define C_ROUNDS 2
#define D_ROUNDS 4

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

static inline uint64_t
load_le64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

#define SIPROUND                   \
	do {                       \
		v0 += v1;          \
		v1 = ROTL(v1, 13); \
		v1 ^= v0;          \
		v0 = ROTL(v0, 32); \
		v2 += v3;          \
		v3 = ROTL(v3, 16); \
		v3 ^= v2;          \
		v0 += v3;          \
		v3 = ROTL(v3, 21); \
		v3 ^= v0;          \
		v2 += v1;          \
		v1 = ROTL(v1, 17); \
		v1 ^= v2;          \
		v2 = ROTL(v2, 32); \
	} while (0)

void
cki_siphash128(const uint8_t key[16], const void *data, size_t len, uint64_t out[2])
{
	const uint8_t *in = data;
	uint64_t k0 = load_le64(key), k1 = load_le64(key + 8);
	uint64_t v0 = UINT64_C(0x736f6d6570736575) ^ k0;
	uint64_t v1 = UINT64_C(0x646f72616e646f6d) ^ k1 ^ 0xee;
	uint64_t v2 = UINT64_C(0x6c7967656e657261) ^ k0;
	uint64_t v3 = UINT64_C(0x7465646279746573) ^ k1;
	size_t whole = len & ~(size_t)7;
	uint64_t m, b = (uint64_t)len << 56;

	for (size_t i = 0; i < whole; i += 8) {
		m = load_le64(in + i);
		v3 ^= m;
		for (int r = 0; r < C_ROUNDS; r++)
			SIPROUND;
		v0 ^= m;
	}
	for (size_t i = 0; i < (len & 7); i++)
		b |= (uint64_t)in[whole + i] << (8 * i);
	v3 ^= b;
	for (int r = 0; r < C_ROUNDS; r++)
		SIPROUND;
	v0 ^= b;
	/* Finalization: D_ROUNDS rounds after each of the two output words' constants. */
	v2 ^= 0xee;
	for (int r = 0; r < D_ROUNDS; r++)
		SIPROUND;
	out[0] = v0 ^ v1 ^ v2 ^ v3;
	v1 ^= 0xdd;
	for (int r = 0; r < D_ROUNDS; r++)
		SIPROUND;
	out[1] = v0 ^ v1 ^ v2 ^ v3;
}
