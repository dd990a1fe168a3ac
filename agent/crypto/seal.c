/* SPDX-License-Identifier: Apache-2.0 */
/*
 * interop/v1 value encryption (spec §7.3–§7.5, §13 decisions 1–2): HKDF-SHA256 tenant keys,
 * key fingerprints, AAD v0x03, and AES-256-GCM seal/open of nonce || ct || tag with random
 * nonces. Opening tries the keyring's keys in order with one AAD, never alternative AADs,
 * so a failed open reveals nothing but "no key authenticates this value".
 */
#include "crypto/seal.h"

#include "crypto/envelope.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "base/log.h"
#include "base/random.h"

#define AAD_VERSION 0x03

static uint8_t *
put_component(uint8_t *p, const char *s, size_t n)
{
	p[0] = (uint8_t)(n >> 24);
	p[1] = (uint8_t)(n >> 16);
	p[2] = (uint8_t)(n >> 8);
	p[3] = (uint8_t)n;
	memcpy(p + 4, s, n);
	return p + 4 + n;
}

ck_err
cki_aad_build(const char *tenant, const char *key, const char *format, const char *compressed_str,
              const char *original_type, uint8_t *buf, size_t cap, size_t *len)
{
	if (tenant == NULL || key == NULL || format == NULL || compressed_str == NULL ||
	    len == NULL)
		return CK_EINVAL;
	/* The flag is a frozen token (§7.5): never "true", "1" or a byte. */
	if (strcmp(compressed_str, "True") != 0 && strcmp(compressed_str, "False") != 0)
		return CK_EINVAL;

	const char *parts[5] = {tenant, key, format, compressed_str, original_type};
	size_t lens[5] = {0};
	size_t nparts = original_type != NULL ? 5 : 4;
	size_t total = 1;
	for (size_t i = 0; i < nparts; i++) {
		lens[i] = strlen(parts[i]);
		if (lens[i] > UINT32_MAX || total > SIZE_MAX - 4 - lens[i])
			return CK_EINVAL;
		total += 4 + lens[i];
	}
	*len = total;
	if (buf == NULL || cap < total)
		return CK_ETOOBIG;

	uint8_t *p = buf;
	*p++ = AAD_VERSION;
	for (size_t i = 0; i < nparts; i++)
		p = put_component(p, parts[i], lens[i]);
	return CK_OK;
}

ck_err
cki_aes_gcm_seal_with_nonce(const uint8_t key[CKI_KEY_LEN], const uint8_t nonce[CKI_NONCE_LEN],
                            const uint8_t *aad, size_t aad_len, const uint8_t *pt, size_t pt_len,
                            uint8_t *out)
{
	ck_err rv = CK_EINTERNAL;
	EVP_CIPHER_CTX *ctx = NULL;
	int n = 0;

	if (key == NULL || nonce == NULL || out == NULL || (aad == NULL && aad_len > 0) ||
	    (pt == NULL && pt_len > 0))
		return CK_EINVAL;
	if (pt_len > CKI_SEAL_MAX_PLAINTEXT || aad_len > INT_MAX)
		return CK_ETOOBIG;

	memmove(out, nonce, CKI_NONCE_LEN);
	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL)
		goto out;
	if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, out) != 1)
		goto out;
	if (aad_len > 0 && EVP_EncryptUpdate(ctx, NULL, &n, aad, (int)aad_len) != 1)
		goto out;
	if (pt_len > 0 && (EVP_EncryptUpdate(ctx, out + CKI_NONCE_LEN, &n, pt, (int)pt_len) != 1 ||
	                   (size_t)n != pt_len))
		goto out;
	if (EVP_EncryptFinal_ex(ctx, out + CKI_NONCE_LEN + pt_len, &n) != 1 || n != 0)
		goto out;
	if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, CKI_TAG_LEN,
	                        out + CKI_NONCE_LEN + pt_len) != 1)
		goto out;
	rv = CK_OK;
out:
	if (rv != CK_OK) {
		cki_log_error("AES-256-GCM encryption failed in OpenSSL");
		OPENSSL_cleanse(out, pt_len + CKI_SEAL_OVERHEAD);
	}
	EVP_CIPHER_CTX_free(ctx);
	return rv;
}

ck_err
cki_aes_gcm_open(const uint8_t key[CKI_KEY_LEN], const uint8_t *aad, size_t aad_len,
                 const uint8_t *in, size_t in_len, uint8_t *out)
{
	ck_err rv = CK_ECRYPTO;
	EVP_CIPHER_CTX *ctx = NULL;
	uint8_t tag[CKI_TAG_LEN];
	int n = 0;

	if (key == NULL || in == NULL || out == NULL || (aad == NULL && aad_len > 0))
		return CK_EINVAL;
	if (in_len < CKI_SEAL_OVERHEAD)
		return CK_ECRYPTO;
	size_t ct_len = in_len - CKI_SEAL_OVERHEAD;
	if (ct_len > CKI_SEAL_MAX_PLAINTEXT || aad_len > INT_MAX)
		return CK_ETOOBIG;
	memcpy(tag, in + CKI_NONCE_LEN + ct_len, CKI_TAG_LEN);

	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL) {
		rv = CK_ENOMEM;
		goto out;
	}
	if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, in) != 1)
		goto out;
	if (aad_len > 0 && EVP_DecryptUpdate(ctx, NULL, &n, aad, (int)aad_len) != 1)
		goto out;
	if (ct_len > 0 && (EVP_DecryptUpdate(ctx, out, &n, in + CKI_NONCE_LEN, (int)ct_len) != 1 ||
	                   (size_t)n != ct_len))
		goto out;
	if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, CKI_TAG_LEN, tag) != 1)
		goto out;
	/* The tag check happens here; until it passes, out holds unauthenticated bytes. */
	if (EVP_DecryptFinal_ex(ctx, out + ct_len, &n) != 1)
		goto out;
	rv = CK_OK;
out:
	if (rv != CK_OK)
		OPENSSL_cleanse(out, ct_len);
	EVP_CIPHER_CTX_free(ctx);
	return rv;
}

/* The format registry (spec §7.5, protocol encryption.md "format tokens"). */
static const char *const format_registry[] = {"msgpack", "orjson", "arrow"};

bool
cki_format_registered(const char *format)
{
	if (format == NULL || format[0] == '\0')
		return true;
	for (size_t i = 0; i < sizeof(format_registry) / sizeof(format_registry[0]); i++)
		if (strcmp(format, format_registry[i]) == 0)
			return true;
	return false;
}

/* Builds the 4-component AAD of §13 decision 1 into a malloc'd buffer. */
static ck_err
build_value_aad(const cki_keyring *kr, const char *storage_key, const char *format, bool compressed,
                uint8_t **aad, size_t *aad_len)
{
	/* A label outside the registry never reaches the AAD (ENC-5). */
	if (!cki_format_registered(format))
		return CK_EINVAL;
	/* NULL or "" (an unset proto3 string) is the default label. */
	const char *fmt = format != NULL && format[0] != '\0' ? format : "msgpack";
	const char *flag = compressed ? "True" : "False";
	const char *tenant = cki_keyring_tenant(kr);
	size_t need = 0;

	ck_err rv = cki_aad_build(tenant, storage_key, fmt, flag, NULL, NULL, 0, &need);
	if (rv != CK_ETOOBIG)
		return rv == CK_OK ? CK_EINTERNAL : rv;
	uint8_t *buf = malloc(need);
	if (buf == NULL)
		return CK_ENOMEM;
	rv = cki_aad_build(tenant, storage_key, fmt, flag, NULL, buf, need, aad_len);
	if (rv != CK_OK) {
		free(buf);
		return rv;
	}
	*aad = buf;
	return CK_OK;
}

/* The AAD and an output buffer of out_size bytes, both malloc'd, or neither. */
static ck_err
value_buffers(const cki_keyring *kr, const char *storage_key, const char *format, bool compressed,
              size_t out_size, uint8_t **aad, size_t *aad_len, uint8_t **buf)
{
	ck_err rv = build_value_aad(kr, storage_key, format, compressed, aad, aad_len);
	if (rv != CK_OK)
		return rv;
	*buf = malloc(out_size > 0 ? out_size : 1);
	if (*buf == NULL) {
		free(*aad);
		*aad = NULL;
		return CK_ENOMEM;
	}
	return CK_OK;
}

/* The one exit of seal and unseal: frees the AAD, hands buf out on success, else frees it. */
static ck_err
hand_out(ck_err rv, uint8_t *aad, uint8_t *buf, size_t len, uint8_t **out, size_t *out_len)
{
	free(aad);
	if (rv != CK_OK) {
		free(buf);
		return rv;
	}
	*out = buf;
	*out_len = len;
	return CK_OK;
}

ck_err
cki_seal(const cki_keyring *kr, const char *storage_key, const char *format, bool compressed,
         const uint8_t *pt, size_t pt_len, uint8_t **out, size_t *out_len)
{
	ck_err rv;
	uint8_t *aad = NULL;
	size_t aad_len = 0;
	uint8_t *buf = NULL;
	uint8_t nonce[CKI_NONCE_LEN];

	if (kr == NULL || storage_key == NULL || out == NULL || out_len == NULL ||
	    (pt == NULL && pt_len > 0) || cki_keyring_count(kr) == 0)
		return CK_EINVAL;
	if (pt_len > CKI_SEAL_MAX_PLAINTEXT)
		return CK_ETOOBIG;

	rv = value_buffers(kr, storage_key, format, compressed, pt_len + CKI_SEAL_OVERHEAD, &aad,
	                   &aad_len, &buf);
	if (rv != CK_OK)
		goto out;
	if (cki_random_bytes(nonce, sizeof(nonce)) != CK_OK) {
		cki_log_error("the OpenSSL CSPRNG failed; refusing to seal");
		rv = CK_EINTERNAL;
		goto out;
	}
	rv = cki_aes_gcm_seal_with_nonce(cki_keyring_key(kr, 0), nonce, aad, aad_len, pt, pt_len,
	                                 buf);
out:
	return hand_out(rv, aad, buf, pt_len + CKI_SEAL_OVERHEAD, out, out_len);
}

ck_err
cki_unseal_ex(const cki_keyring *kr, const char *storage_key, const char *format, bool compressed,
              const uint8_t *in, size_t in_len, uint8_t **out, size_t *out_len, size_t *key_index)
{
	ck_err rv;
	uint8_t *aad = NULL;
	size_t aad_len = 0;
	uint8_t *buf = NULL;

	if (kr == NULL || storage_key == NULL || out == NULL || out_len == NULL ||
	    (in == NULL && in_len > 0))
		return CK_EINVAL;
	if (in_len < CKI_SEAL_OVERHEAD)
		return CK_ECRYPTO;
	size_t pt_len = in_len - CKI_SEAL_OVERHEAD;
	if (pt_len > CKI_SEAL_MAX_PLAINTEXT)
		return CK_ETOOBIG;

	rv = value_buffers(kr, storage_key, format, compressed, pt_len, &aad, &aad_len, &buf);
	if (rv != CK_OK)
		goto out;
	/* Current key first, then previous keys in order; the AAD never changes (§7.5). */
	rv = CK_ECRYPTO;
	for (size_t i = 0; i < cki_keyring_count(kr); i++) {
		rv = cki_aes_gcm_open(cki_keyring_key(kr, i), aad, aad_len, in, in_len, buf);
		if (rv == CK_OK) {
			if (key_index != NULL)
				*key_index = i;
			break;
		}
		if (rv != CK_ECRYPTO)
			goto out;
	}
out:
	return hand_out(rv, aad, buf, pt_len, out, out_len);
}

ck_err
cki_unseal(const cki_keyring *kr, const char *storage_key, const char *format, bool compressed,
           const uint8_t *in, size_t in_len, uint8_t **out, size_t *out_len)
{
	return cki_unseal_ex(kr, storage_key, format, compressed, in, in_len, out, out_len, NULL);
}

ck_err
cki_seal_value(const cki_keyring *kr, const char *storage_key, const char *format, bool envelope,
               const uint8_t *in, size_t in_len, uint8_t **out, size_t *out_len)
{
	if (!envelope)
		return cki_seal(kr, storage_key, format, false, in, in_len, out, out_len);
	uint8_t *env = NULL;
	size_t env_len = 0;
	ck_err err = cki_envelope_encode(in, in_len, &env, &env_len);
	if (err != CK_OK)
		return err;
	err = cki_seal(kr, storage_key, format, true, env, env_len, out, out_len);
	OPENSSL_cleanse(env, env_len);
	free(env);
	return err;
}

ck_err
cki_unseal_value(const cki_keyring *kr, const char *storage_key, const char *format, bool envelope,
                 const uint8_t *in, size_t in_len, uint8_t **out, size_t *out_len)
{
	uint8_t *pt = NULL;
	size_t pt_len = 0;
	ck_err err = cki_unseal(kr, storage_key, format, envelope, in, in_len, &pt, &pt_len);
	if (err != CK_OK || !envelope) {
		if (err == CK_OK) {
			*out = pt;
			*out_len = pt_len;
		}
		return err;
	}
	err = cki_envelope_decode(pt, pt_len, out, out_len);
	OPENSSL_cleanse(pt, pt_len);
	free(pt);
	return err == CK_OK ? CK_OK : CK_ECRYPTO;
}
