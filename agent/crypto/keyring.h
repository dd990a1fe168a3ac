/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The keyring (spec §7.1, §7.7, §13 decision 2): one current master key that encrypts and
 * decrypts plus at most 3 decrypt-only previous keys. Master keys are 64 hex characters
 * (32 bytes). The keyring keeps only the per-tenant HKDF encryption keys and their
 * fingerprints, in secret memory; master key bytes are wiped as soon as they are derived.
 * A keyring is immutable after creation, so it may be read from any thread.
 */
#ifndef CKI_KEYRING_H
#define CKI_KEYRING_H

#include <stddef.h>
#include <stdint.h>

#include "cachekit/errors.h"
#include "crypto/secmem.h"

/* Previous (decrypt-only) keys allowed besides the current one. */
#define CKI_KEYRING_MAX_PREVIOUS 3
#define CKI_KEYRING_MAX_KEYS     (1 + CKI_KEYRING_MAX_PREVIOUS)
/* Tenant used when none is configured (spec §7.2, §13 decision 3). */
#define CKI_DEFAULT_TENANT "default"

typedef struct cki_keyring cki_keyring;

/*
 * Builds a keyring for tenant_id (NULL means "default"; otherwise 1..1024 bytes, no NUL).
 * current_hex holds exactly 64 hex digits (upper or lower case; nothing else: no "0x", no
 * white space, no newline). previous_csv (may be NULL) is a comma-separated list of such
 * keys; spaces and tabs around each item are ignored; a blank list means none. Rejected with
 * CK_ECONFIG: a malformed key, an empty item, more than 3 previous keys (never truncated), a
 * previous key equal to the current key or to another previous key (decoded bytes compared).
 * On CK_OK *out owns a new keyring (free with cki_keyring_free). why (may be NULL) receives a
 * reason on failure, naming the key by position, never by content.
 */
CK_NODISCARD ck_err cki_keyring_new(cki_keyring **out, const char *tenant_id,
                                    const cki_secret *current_hex, const cki_secret *previous_csv,
                                    char *why, size_t why_cap);

/*
 * Loads CACHEKIT_MASTER_KEY (credential "cachekit_master_key") and
 * CACHEKIT_PREVIOUS_MASTER_KEYS (credential "cachekit_previous_master_keys") with
 * cki_secret_load() and builds the keyring. CK_ENOTFOUND when no master key is configured
 * at all; CK_ECONFIG when previous keys are configured without a current one, or for any
 * cki_keyring_new() or cki_secret_load() refusal.
 */
CK_NODISCARD ck_err cki_keyring_load(cki_keyring **out, const char *tenant_id, char *why,
                                     size_t why_cap);

/* Wipes and frees; accepts NULL. */
void cki_keyring_free(cki_keyring *kr);

/* Number of keys: 1 (current) + previous keys. */
size_t cki_keyring_count(const cki_keyring *kr);

/* Fingerprint of key idx's derived encryption key (0 = current); zeros if idx is out of
 * range. */
void cki_keyring_fingerprint(const cki_keyring *kr, size_t idx, uint8_t out[16]);

/* The tenant id the keys were derived for (owned by the keyring). */
const char *cki_keyring_tenant(const cki_keyring *kr);

/* Key idx's 32-byte derived encryption key, or NULL if idx is out of range. For seal.c only:
 * the bytes stay owned by the keyring and must never be copied out of secret memory. */
const uint8_t *cki_keyring_key(const cki_keyring *kr, size_t idx);

#endif
