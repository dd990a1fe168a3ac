/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Value encryption, interop/v1 layout (spec §7, §13 decision 1): AES-256-GCM under the HKDF-
 * SHA256 tenant encryption key, AAD v0x03 with exactly four components (tenant, storage key,
 * format, "True"/"False"), stored as nonce(12) || ciphertext || tag(16).
 *
 * Nonces are 12 random bytes from OpenSSL's CSPRNG (RAND_bytes), drawn per seal. This is the
 * spec's "random 96-bit nonce" option: safe for about 2^32 seals per key, and it needs no
 * shared counter state, so several agents may share one master key. Readers take the nonce
 * from the value, so the choice does not affect interoperability.
 *
 * The lower-level pieces (AAD, fixed-nonce seal; HKDF is kdf.h) are exposed so the test
 * vectors can be checked byte for byte. All functions are thread-safe (no shared state).
 */
#ifndef CKI_SEAL_H
#define CKI_SEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cachekit/errors.h"
#include "crypto/kdf.h"
#include "crypto/keyring.h"

/* nonce + tag: the smallest sealed value (empty plaintext). */
#define CKI_SEAL_OVERHEAD (CKI_NONCE_LEN + CKI_TAG_LEN)
/* Largest plaintext we seal or ciphertext we open (same cap as the envelope). */
#define CKI_SEAL_MAX_PLAINTEXT ((size_t)512 * 1024 * 1024)

/*
 * True when format is a token of the format registry ("msgpack", "orjson", "arrow"; NULL or ""
 * stands for "msgpack"). cki_seal and cki_unseal refuse any other label with CK_EINVAL before
 * it reaches the AAD (protocol ENC-5). cki_aad_build itself takes any label, for the vectors.
 */
bool cki_format_registered(const char *format);

/*
 * Writes AAD v0x03 into buf: 0x03 then u32be-length-prefixed tenant, key, format,
 * compressed_str and (when not NULL) original_type. compressed_str must be exactly "True" or
 * "False" (CK_EINVAL otherwise). *len receives the AAD length even when buf is too small, in
 * which case the result is CK_ETOOBIG and buf is untouched. buf may be NULL when cap is 0.
 */
CK_NODISCARD ck_err cki_aad_build(const char *tenant, const char *key, const char *format,
                                  const char *compressed_str, const char *original_type,
                                  uint8_t *buf, size_t cap, size_t *len);

/*
 * AES-256-GCM with a caller-chosen nonce (tests and vectors only: a nonce must never repeat
 * under one key). Writes nonce || ct || tag, pt_len + CKI_SEAL_OVERHEAD bytes, into out.
 */
CK_NODISCARD ck_err cki_aes_gcm_seal_with_nonce(const uint8_t key[CKI_KEY_LEN],
                                                const uint8_t nonce[CKI_NONCE_LEN],
                                                const uint8_t *aad, size_t aad_len,
                                                const uint8_t *pt, size_t pt_len, uint8_t *out);

/*
 * Opens nonce || ct || tag (in_len >= CKI_SEAL_OVERHEAD) into out (in_len - CKI_SEAL_OVERHEAD
 * bytes). CK_ECRYPTO when the tag does not verify; out is then wiped.
 */
CK_NODISCARD ck_err cki_aes_gcm_open(const uint8_t key[CKI_KEY_LEN], const uint8_t *aad,
                                     size_t aad_len, const uint8_t *in, size_t in_len,
                                     uint8_t *out);

/*
 * Seals pt for storage under storage_key (the full key as sent, before percent-encoding)
 * with the keyring's current key and tenant. format NULL or "" means "msgpack"; compressed says
 * whether pt is a ByteStorage envelope (AAD "True") or the raw payload ("False").
 * On CK_OK, *out is a malloc'd buffer of *out_len = pt_len + CKI_SEAL_OVERHEAD bytes that the
 * caller frees with free(); on failure *out is not written. CK_ETOOBIG above
 * CKI_SEAL_MAX_PLAINTEXT, CK_EINVAL for bad arguments or a format outside the registry,
 * CK_EINTERNAL if the CSPRNG fails.
 */
CK_NODISCARD ck_err cki_seal(const cki_keyring *kr, const char *storage_key, const char *format,
                             bool compressed, const uint8_t *pt, size_t pt_len, uint8_t **out,
                             size_t *out_len);

/*
 * Opens a value sealed by cki_seal or any interop/v1 writer. Tries the current key, then each
 * previous key in order, always with the same AAD. On CK_OK, *out is a malloc'd buffer of
 * *out_len bytes (free with free(); a 1-byte allocation when empty). CK_ECRYPTO when no key
 * authenticates the value (including values shorter than CKI_SEAL_OVERHEAD); *out is then
 * not written. cki_unseal_ex also stores the index of the key that opened the value
 * (0 = current) in *key_index when key_index is not NULL.
 */
CK_NODISCARD ck_err cki_unseal(const cki_keyring *kr, const char *storage_key, const char *format,
                               bool compressed, const uint8_t *in, size_t in_len, uint8_t **out,
                               size_t *out_len);
CK_NODISCARD ck_err cki_unseal_ex(const cki_keyring *kr, const char *storage_key,
                                  const char *format, bool compressed, const uint8_t *in,
                                  size_t in_len, uint8_t **out, size_t *out_len, size_t *key_index);

/*
 * A value as the agent stores it (spec §13 decision 1). Without envelope the plaintext is the
 * value itself (AAD flag "False": exactly interop/v1); with envelope it is the ByteStorage
 * envelope of the value (LZ4 + xxh3, flag "True"). The storage key is bound into the AAD, so a
 * sealed value moved to another key fails to open. *out is malloc'd (free with free()).
 * cki_unseal_value returns CK_ECRYPTO for anything that does not authenticate or whose
 * envelope does not verify; intermediate plaintext is wiped.
 */
CK_NODISCARD ck_err cki_seal_value(const cki_keyring *kr, const char *storage_key,
                                   const char *format, bool envelope, const uint8_t *in,
                                   size_t in_len, uint8_t **out, size_t *out_len);
CK_NODISCARD ck_err cki_unseal_value(const cki_keyring *kr, const char *storage_key,
                                     const char *format, bool envelope, const uint8_t *in,
                                     size_t in_len, uint8_t **out, size_t *out_len);

#endif
