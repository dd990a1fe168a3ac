/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CSPRNG draws through OpenSSL and UUID text through libuuid (uuid_unparse_lower), so the agent
 * has one random source and one UUID format.
 */
#include "base/random.h"

#include <openssl/rand.h>
#include <stdbool.h>
#include <uuid/uuid.h>

#include "base/log.h"
#include "base/loop.h"

ck_err
cki_random_bytes(void *buf, size_t n)
{
	unsigned char *p = buf;
	while (n > 0) {
		int chunk = n > (size_t)1 << 30 ? 1 << 30 : (int)n;
		if (RAND_bytes(p, chunk) != 1) {
			cki_log_error("CSPRNG (RAND_bytes) failed");
			return CK_EINTERNAL;
		}
		p += chunk;
		n -= (size_t)chunk;
	}
	return CK_OK;
}

uint64_t
cki_random_u64(void)
{
	static uint64_t fallback = 0x9e3779b97f4a7c15u;
	static bool warned;
	uint64_t x;
	if (RAND_bytes((unsigned char *)&x, sizeof x) == 1)
		return x;
	if (!warned) {
		cki_log_warn("CSPRNG unavailable: jitter falls back to a clock-seeded xorshift");
		warned = true;
	}
	fallback ^= cki_now_us();
	fallback ^= fallback << 13;
	fallback ^= fallback >> 7;
	fallback ^= fallback << 17;
	return fallback;
}

double
cki_random_unit(void)
{
	return (double)(cki_random_u64() >> 11) / 9007199254740992.0; /* 53 bits / 2^53 */
}

ck_err
cki_uuid_v4(char out[37])
{
	uuid_t u;
	ck_err rv = cki_random_bytes(u, sizeof u);
	if (rv != CK_OK)
		return rv;
	u[6] = (unsigned char)((u[6] & 0x0f) | 0x40); /* version 4 */
	u[8] = (unsigned char)((u[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	uuid_unparse_lower(u, out);
	return CK_OK;
}
