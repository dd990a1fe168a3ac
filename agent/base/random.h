/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's one source of randomness (OpenSSL's CSPRNG, RAND_bytes) and its one UUID writer
 * (libuuid). Nonces, lock handles, hash seeds, retry and refresh jitter and session ids all
 * draw from here; nothing in the agent calls rand(), random() or getrandom() itself.
 * Single-threaded like the rest of the agent (the fallback state is not locked).
 */
#ifndef CKI_RANDOM_H
#define CKI_RANDOM_H

#include <stddef.h>
#include <stdint.h>

#include "cachekit/errors.h"

/* Fills buf with n bytes from the CSPRNG. CK_EINTERNAL (logged) if it fails; buf is then
 * unspecified. For secrets and handles. */
CK_NODISCARD ck_err cki_random_bytes(void *buf, size_t n);

/* A uniform 64-bit value, for jitter and hash seeds, never for secrets: if the CSPRNG fails
 * (logged once), a xorshift state mixed with the clock stands in, so callers need no error path. */
uint64_t cki_random_u64(void);

/* A uniform double in [0, 1), from cki_random_u64(). */
double cki_random_unit(void);

/* Writes a random (version 4) UUID from cki_random_bytes, lowercase and hyphenated by libuuid,
 * into out (37 bytes with the NUL). CK_EINTERNAL if the CSPRNG fails. */
CK_NODISCARD ck_err cki_uuid_v4(char out[37]);

#endif
