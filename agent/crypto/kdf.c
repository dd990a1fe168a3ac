/* SPDX-License-Identifier: Apache-2.0 */
/* HKDF-SHA256 domain and tenant keys and key fingerprints (spec §7.3), on OpenSSL's KDF API. */
#include "crypto/kdf.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "base/log.h"

#define HKDF_SALT_PREFIX     "cachekit_v1_"
#define HKDF_SALT_PREFIX_LEN (sizeof(HKDF_SALT_PREFIX) - 1)
#define HKDF_SALT_MAX        (HKDF_SALT_PREFIX_LEN + 1 + CKI_DOMAIN_MAX + 2 + CKI_TENANT_MAX)
#define HKDF_MIN_IKM         16
#define FINGERPRINT_LABEL    "key_fingerprint_v1"

ck_err
cki_hkdf_derive(const uint8_t *master, size_t master_len, const char *domain, const char *tenant,
                uint8_t out[CKI_KEY_LEN])
{
	ck_err rv = CK_EINTERNAL;
	EVP_KDF *kdf = NULL;
	EVP_KDF_CTX *ctx = NULL;
	uint8_t salt[HKDF_SALT_MAX];
	size_t salt_len = 0;

	if (master == NULL || domain == NULL || tenant == NULL || out == NULL)
		return CK_EINVAL;
	size_t domain_len = strnlen(domain, CKI_DOMAIN_MAX + 1);
	size_t tenant_len = strnlen(tenant, CKI_TENANT_MAX + 1);
	if (master_len < HKDF_MIN_IKM || domain_len == 0 || domain_len > CKI_DOMAIN_MAX ||
	    tenant_len == 0 || tenant_len > CKI_TENANT_MAX)
		return CK_EINVAL;

	memcpy(salt, HKDF_SALT_PREFIX, HKDF_SALT_PREFIX_LEN);
	salt_len = HKDF_SALT_PREFIX_LEN;
	salt[salt_len++] = (uint8_t)domain_len;
	memcpy(salt + salt_len, domain, domain_len);
	salt_len += domain_len;
	salt[salt_len++] = (uint8_t)(tenant_len >> 8);
	salt[salt_len++] = (uint8_t)tenant_len;
	memcpy(salt + salt_len, tenant, tenant_len);
	salt_len += tenant_len;

	OSSL_PARAM params[] = {
	        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
	        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)master, master_len),
	        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt, salt_len),
	        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)domain, domain_len),
	        OSSL_PARAM_construct_end(),
	};
	kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	if (kdf == NULL)
		goto out;
	ctx = EVP_KDF_CTX_new(kdf);
	if (ctx == NULL)
		goto out;
	if (EVP_KDF_derive(ctx, out, CKI_KEY_LEN, params) <= 0)
		goto out;
	rv = CK_OK;
out:
	if (rv != CK_OK)
		cki_log_error("HKDF-SHA256 failed in OpenSSL");
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	return rv;
}

ck_err
cki_hkdf_tenant_key(const uint8_t master[CKI_KEY_LEN], const char *tenant, uint8_t out[CKI_KEY_LEN])
{
	return cki_hkdf_derive(master, CKI_KEY_LEN, "encryption", tenant, out);
}

void
cki_key_fingerprint(const uint8_t key[CKI_KEY_LEN], uint8_t out[CKI_FINGERPRINT_LEN])
{
	uint8_t digest[EVP_MAX_MD_SIZE];
	unsigned int digest_len = 0;
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	memset(out, 0, CKI_FINGERPRINT_LEN);
	if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(md, FINGERPRINT_LABEL, sizeof(FINGERPRINT_LABEL) - 1) != 1 ||
	    EVP_DigestUpdate(md, key, CKI_KEY_LEN) != 1 ||
	    EVP_DigestFinal_ex(md, digest, &digest_len) != 1 || digest_len < CKI_FINGERPRINT_LEN)
		cki_log_error("SHA-256 failed in OpenSSL");
	else
		memcpy(out, digest, CKI_FINGERPRINT_LEN);
	EVP_MD_CTX_free(md);
}
