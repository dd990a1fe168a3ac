/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Key derivation (spec §7.3): HKDF-SHA256 domain keys, the tenant encryption key, and the
 * key fingerprint. Below both the keyring (which derives its keys here) and seal (which uses
 * them), so neither includes the other. Thread-safe: no shared state.
 */
#ifndef CKI_KDF_H
#define CKI_KDF_H

#include <stddef.h>
#include <stdint.h>

#include "cachekit/errors.h"

#define CKI_KEY_LEN         32
#define CKI_NONCE_LEN       12
#define CKI_TAG_LEN         16
#define CKI_FINGERPRINT_LEN 16
/* nonce + tag: the smallest sealed value (empty plaintext). */
#define CKI_SEAL_OVERHEAD (CKI_NONCE_LEN + CKI_TAG_LEN)
/* Largest plaintext we seal or ciphertext we open (same cap as the envelope). */
#define CKI_SEAL_MAX_PLAINTEXT ((size_t)512 * 1024 * 1024)
/* HKDF salt component limits (spec §7.3). */
#define CKI_TENANT_MAX 1024
#define CKI_DOMAIN_MAX 255

/*
 * derive_domain_key of §7.3: HKDF-SHA256 with salt "cachekit_v1_" || u8 len || domain ||
 * u16be len || tenant, IKM = master (>= 16 bytes), info = domain, 32 bytes out.
 * CK_EINVAL for out-of-range lengths; CK_EINTERNAL if OpenSSL fails.
 */
CK_NODISCARD ck_err cki_hkdf_derive(const uint8_t *master, size_t master_len, const char *domain,
                                    const char *tenant, uint8_t out[CKI_KEY_LEN]);

/* The tenant encryption key: cki_hkdf_derive(master, 32, "encryption", tenant, out). */
CK_NODISCARD ck_err cki_hkdf_tenant_key(const uint8_t master[CKI_KEY_LEN], const char *tenant,
                                        uint8_t out[CKI_KEY_LEN]);

/* SHA-256("key_fingerprint_v1" || key)[0:16], of a DERIVED encryption key. */
void cki_key_fingerprint(const uint8_t key[CKI_KEY_LEN], uint8_t out[CKI_FINGERPRINT_LEN]);

#endif
