/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SipHash-2-4 with its 128-bit output (Aumasson and Bernstein), written from the paper. The
 * near cache looks entries up by this keyed hash of the key with a per-process random key, so
 * it never keeps keys in the clear and another process cannot aim collisions at it.
 */
#ifndef CKI_SIPHASH_H
#define CKI_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

/* out[0] holds the first 8 output bytes (little-endian), out[1] the last 8. */
void cki_siphash128(const uint8_t key[16], const void *data, size_t len, uint64_t out[2]);

#endif
