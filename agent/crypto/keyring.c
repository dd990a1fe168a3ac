/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The keyring: validates master keys (64 hex digits, at most 3 distinct previous keys),
 * derives each one's tenant encryption key and fingerprint once with HKDF, and keeps only
 * those in secret memory. Master key bytes exist only in a secret-memory scratch buffer
 * during construction and are wiped before it returns. Error texts name keys by position.
 */
#include "crypto/keyring.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "base/log.h"
#include "crypto/kdf.h"

#define MASTER_HEX_LEN (2 * CKI_KEY_LEN)

struct cki_keyring {
	size_t count;
	uint8_t keys[CKI_KEYRING_MAX_KEYS][CKI_KEY_LEN];
	uint8_t fingerprints[CKI_KEYRING_MAX_KEYS][CKI_FINGERPRINT_LEN];
	char tenant[CKI_TENANT_MAX + 1];
};

/*
 * Decodes exactly 64 hex digits into 32 bytes. Branch-free per character, so the time taken
 * does not depend on the key's digits (only on its length, which is public).
 */
static bool
decode_master_hex(const uint8_t *hex, size_t n, uint8_t out[CKI_KEY_LEN])
{
	if (n != MASTER_HEX_LEN)
		return false;
	unsigned ok = 1;
	for (size_t i = 0; i < CKI_KEY_LEN; i++) {
		unsigned byte = 0;
		for (size_t j = 0; j < 2; j++) {
			unsigned c = hex[2 * i + j];
			unsigned digit = c - '0';
			unsigned letter = (c | 0x20) - 'a';
			unsigned is_digit = digit < 10;
			unsigned is_letter = letter < 6;
			unsigned val =
			        (digit & (0u - is_digit)) | ((letter + 10) & (0u - is_letter));
			ok &= is_digit | is_letter;
			byte = (byte << 4) | (val & 0xf);
		}
		out[i] = (uint8_t)byte;
	}
	return ok == 1;
}

static bool
is_blank(uint8_t c)
{
	return c == ' ' || c == '\t';
}

static bool
all_blank(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!is_blank(s[i]))
			return false;
	return true;
}

/*
 * Splits the comma-separated previous keys into masters[1..]. Returns the number of keys in
 * *count. CK_ECONFIG for an empty item, too many items or a malformed key.
 */
static ck_err
parse_previous(const cki_secret *csv, uint8_t (*masters)[CKI_KEY_LEN], size_t *count, char *why,
               size_t why_cap)
{
	*count = 0;
	if (csv == NULL || all_blank(csv->data, csv->len))
		return CK_OK;

	size_t items = 1;
	for (size_t i = 0; i < csv->len; i++)
		if (csv->data[i] == ',')
			items++;
	if (items > CKI_KEYRING_MAX_PREVIOUS) {
		cki_set_why(why, why_cap,
		            "CACHEKIT_PREVIOUS_MASTER_KEYS lists %zu keys; at most %d are allowed "
		            "(remove the oldest)",
		            items, CKI_KEYRING_MAX_PREVIOUS);
		return CK_ECONFIG;
	}

	size_t start = 0;
	for (size_t item = 0; item < items; item++) {
		size_t end = start;
		while (end < csv->len && csv->data[end] != ',')
			end++;
		size_t a = start, b = end;
		while (a < b && is_blank(csv->data[a]))
			a++;
		while (b > a && is_blank(csv->data[b - 1]))
			b--;
		if (a == b) {
			cki_set_why(why, why_cap, "previous master key #%zu is empty", item + 1);
			return CK_ECONFIG;
		}
		if (!decode_master_hex(csv->data + a, b - a, masters[item])) {
			cki_set_why(why, why_cap,
			            "previous master key #%zu is not 64 hex digits (32 bytes); "
			            "generate keys with: openssl rand -hex 32",
			            item + 1);
			return CK_ECONFIG;
		}
		start = end + 1;
	}
	*count = items;
	return CK_OK;
}

ck_err
cki_keyring_new(cki_keyring **out, const char *tenant_id, const cki_secret *current_hex,
                const cki_secret *previous_csv, char *why, size_t why_cap)
{
	ck_err rv;
	cki_keyring *kr = NULL;
	/* masters[0] is the current key, masters[1..] the previous ones. */
	uint8_t(*masters)[CKI_KEY_LEN] = NULL;
	size_t nprev = 0;
	const size_t masters_size = CKI_KEYRING_MAX_KEYS * CKI_KEY_LEN;

	if (out == NULL || current_hex == NULL || current_hex->data == NULL) {
		cki_set_why(why, why_cap, "no master key given");
		return CK_EINVAL;
	}
	const char *tenant = tenant_id != NULL ? tenant_id : CKI_DEFAULT_TENANT;
	size_t tenant_len = strnlen(tenant, CKI_TENANT_MAX + 1);
	if (tenant_len == 0 || tenant_len > CKI_TENANT_MAX) {
		cki_set_why(why, why_cap, "tenant id must be 1 to %d bytes", CKI_TENANT_MAX);
		return CK_ECONFIG;
	}

	masters = cki_secmem_alloc(masters_size);
	kr = cki_secmem_alloc(sizeof(*kr));
	if (masters == NULL || kr == NULL) {
		rv = CK_ENOMEM;
		goto out;
	}
	if (!decode_master_hex(current_hex->data, current_hex->len, masters[0])) {
		cki_set_why(why, why_cap,
		            "the master key is not 64 hex digits (32 bytes); generate one with: "
		            "openssl rand -hex 32");
		rv = CK_ECONFIG;
		goto out;
	}
	rv = parse_previous(previous_csv, masters + 1, &nprev, why, why_cap);
	if (rv != CK_OK)
		goto out;

	for (size_t i = 0; i <= nprev; i++) {
		for (size_t j = i + 1; j <= nprev; j++) {
			if (CRYPTO_memcmp(masters[i], masters[j], CKI_KEY_LEN) != 0)
				continue;
			if (i == 0)
				cki_set_why(
				        why, why_cap,
				        "previous master key #%zu equals the current master key",
				        j);
			else
				cki_set_why(why, why_cap,
				            "previous master keys #%zu and #%zu are the same key",
				            i, j);
			rv = CK_ECONFIG;
			goto out;
		}
	}

	memcpy(kr->tenant, tenant, tenant_len);
	kr->tenant[tenant_len] = '\0';
	kr->count = 1 + nprev;
	for (size_t i = 0; i < kr->count; i++) {
		rv = cki_hkdf_tenant_key(masters[i], kr->tenant, kr->keys[i]);
		if (rv != CK_OK) {
			cki_set_why(why, why_cap, "key derivation failed");
			goto out;
		}
		cki_key_fingerprint(kr->keys[i], kr->fingerprints[i]);
	}
	cki_log_debug("keyring: tenant \"%s\", %zu previous key(s)", kr->tenant, nprev);
	*out = kr;
	kr = NULL;
	rv = CK_OK;
out:
	cki_secmem_free(masters, masters_size);
	cki_keyring_free(kr);
	return rv;
}

ck_err
cki_keyring_load(cki_keyring **out, const char *tenant_id, char *why, size_t why_cap)
{
	ck_err rv;
	cki_secret *current = NULL;
	cki_secret *previous = NULL;
	char prev_why[256] = "";

	/* Load both first, so both environment variables are scrubbed whatever happens. */
	rv = cki_secret_load("CACHEKIT_MASTER_KEY", "cachekit_master_key", &current, why, why_cap);
	ck_err prv =
	        cki_secret_load("CACHEKIT_PREVIOUS_MASTER_KEYS", "cachekit_previous_master_keys",
	                        &previous, prev_why, sizeof(prev_why));
	if (rv != CK_OK && rv != CK_ENOTFOUND)
		goto out;
	if (prv != CK_OK && prv != CK_ENOTFOUND) {
		cki_set_why(why, why_cap, "%s", prev_why);
		rv = prv;
		goto out;
	}
	if (rv == CK_ENOTFOUND) {
		if (previous != NULL && !all_blank(previous->data, previous->len)) {
			cki_set_why(
			        why, why_cap,
			        "CACHEKIT_PREVIOUS_MASTER_KEYS is set but CACHEKIT_MASTER_KEY is "
			        "not");
			rv = CK_ECONFIG;
		}
		goto out;
	}
	rv = cki_keyring_new(out, tenant_id, current, previous, why, why_cap);
out:
	cki_secret_free(current);
	cki_secret_free(previous);
	return rv;
}

void
cki_keyring_free(cki_keyring *kr)
{
	cki_secmem_free(kr, sizeof(*kr));
}

size_t
cki_keyring_count(const cki_keyring *kr)
{
	return kr != NULL ? kr->count : 0;
}

void
cki_keyring_fingerprint(const cki_keyring *kr, size_t idx, uint8_t out[16])
{
	if (kr == NULL || idx >= kr->count) {
		memset(out, 0, CKI_FINGERPRINT_LEN);
		return;
	}
	memcpy(out, kr->fingerprints[idx], CKI_FINGERPRINT_LEN);
}

const char *
cki_keyring_tenant(const cki_keyring *kr)
{
	return kr != NULL ? kr->tenant : NULL;
}

const uint8_t *
cki_keyring_key(const cki_keyring *kr, size_t idx)
{
	if (kr == NULL || idx >= kr->count)
		return NULL;
	return kr->keys[idx];
}
