/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The encryption.json (1.5.0) rows that test_seal.c does not run, and the format registry:
 * every aad_reject_vectors row (a ciphertext presented under another AAD than it was sealed
 * with) fails to open, both at the AES-GCM level with the row's own AAD and through the
 * agent's unseal path where that path can build the row's AAD; every decrypted_container row
 * for the two readers the agent is (plain: AAD "False", the value returned as stored bytes,
 * never unwrapped; envelope: AAD "True", the ByteStorage envelope) ends as its outcome says.
 * ENC-5: cki_seal/cki_unseal refuse a format label outside the registry. Rows are iterated.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/keyring.h"
#include "crypto/seal.h"
#include "cunit_main.h"

static const char *
str_field(const json_t *row, const char *name)
{
	return json_string_value(json_object_get(row, name));
}

static uint8_t *
hex_field(const json_t *row, const char *name, size_t *len)
{
	const char *hex = str_field(row, name);
	*len = 0;
	CU_ASSERT_FATAL(hex != NULL);
	return hex[0] == '\0' ? calloc(1, 1) : ck_unhex(hex, len);
}

static json_t *
load_encryption(void)
{
	json_error_t err;
	json_t *root = json_load_file(ck_vector_path("encryption.json"), 0, &err);
	if (root == NULL)
		fprintf(stderr, "cannot load encryption.json: %s\n", err.text);
	return root;
}

static cki_keyring *
main_keyring(json_t *root)
{
	const char *hex = str_field(root, "master_key_hex");
	cki_secret *cur = cki_secret_from((const uint8_t *)hex, strlen(hex));
	cki_keyring *kr = NULL;
	char why[256];
	CU_ASSERT_EQUAL(
	        cki_keyring_new(&kr, str_field(root, "tenant_id"), cur, NULL, why, sizeof(why)),
	        CK_OK);
	cki_secret_free(cur);
	return kr;
}

static void
tenant_key(json_t *root, uint8_t key[CKI_KEY_LEN])
{
	size_t n;
	uint8_t *master = hex_field(root, "master_key_hex", &n);
	CU_ASSERT_FATAL(master != NULL && n == CKI_KEY_LEN);
	CU_ASSERT_EQUAL_FATAL(cki_hkdf_tenant_key(master, str_field(root, "tenant_id"), key),
	                      CK_OK);
	free(master);
}

/* The row's compressed field (a JSON boolean or the token itself) as the AAD token. */
static const char *
compressed_token(const json_t *row)
{
	const json_t *c = json_object_get(row, "compressed");
	if (json_is_boolean(c))
		return json_is_true(c) ? "True" : "False";
	return json_string_value(c);
}

/* The row's AAD as cki_aad_build makes it from the row's fields; checked against aad_hex. */
static uint8_t *
row_aad(json_t *root, json_t *row, const char *compressed, size_t *len)
{
	size_t want_len;
	uint8_t *want = hex_field(row, "aad_hex", &want_len);
	uint8_t *aad = malloc(want_len + 1);
	CU_ASSERT_FATAL(want != NULL && aad != NULL);
	CU_ASSERT_EQUAL(cki_aad_build(str_field(root, "tenant_id"), str_field(row, "cache_key"),
	                              str_field(row, "format"), compressed,
	                              str_field(row, "original_type"), aad, want_len + 1, len),
	                CK_OK);
	CU_ASSERT(*len == want_len && memcmp(aad, want, want_len) == 0);
	free(want);
	return aad;
}

static void
test_aad_reject_rows_never_open(void)
{
	json_t *root = load_encryption();
	CU_ASSERT_FATAL(root != NULL);
	uint8_t key[CKI_KEY_LEN];
	tenant_key(root, key);
	cki_keyring *kr = main_keyring(root);
	CU_ASSERT_FATAL(kr != NULL);
	size_t i, rows = 0;
	json_t *row;
	json_array_foreach(json_object_get(root, "aad_reject_vectors"), i, row)
	{
		const char *name = str_field(row, "name");
		size_t aad_len, ct_len;
		uint8_t *aad = row_aad(root, row, compressed_token(row), &aad_len);
		uint8_t *ct = hex_field(row, "ciphertext_hex", &ct_len);
		CU_ASSERT_FATAL(ct != NULL && ct_len >= CKI_SEAL_OVERHEAD);
		uint8_t *pt = malloc(ct_len);
		CU_ASSERT_FATAL(pt != NULL);
		ck_err rv = cki_aes_gcm_open(key, aad, aad_len, ct, ct_len, pt);
		if (rv != CK_ECRYPTO)
			fprintf(stderr, "aad reject row %s opened\n", name);
		CU_ASSERT_EQUAL(rv, CK_ECRYPTO);
		/* The agent's own path builds four components only: run it where the row has no
		 * original_type (a fifth component is a cachekit-py-only AAD shape). */
		if (str_field(row, "original_type") == NULL) {
			uint8_t *out = NULL;
			size_t out_len = 0;
			bool compressed = strcmp(compressed_token(row), "True") == 0;
			CU_ASSERT_EQUAL(cki_unseal(kr, str_field(row, "cache_key"),
			                           str_field(row, "format"), compressed, ct, ct_len,
			                           &out, &out_len),
			                CK_ECRYPTO);
			CU_ASSERT_PTR_NULL(out);
		}
		free(pt);
		free(ct);
		free(aad);
		rows++;
	}
	CU_ASSERT(rows > 0);
	cki_keyring_free(kr);
	json_decref(root);
}

static void
test_decrypted_container_rows(void)
{
	json_t *root = load_encryption();
	CU_ASSERT_FATAL(root != NULL);
	cki_keyring *kr = main_keyring(root);
	CU_ASSERT_FATAL(kr != NULL);
	size_t i, ran = 0;
	json_t *row;
	json_array_foreach(json_object_get(json_object_get(root, "decrypted_container"), "vectors"),
	                   i, row)
	{
		const char *reader = str_field(row, "reader");
		const char *outcome = str_field(row, "outcome");
		bool envelope;
		if (strcmp(reader, "plain_msgpack") == 0)
			envelope = false;
		else if (strcmp(reader, "bytestorage_envelope") == 0)
			envelope = true;
		else
			continue; /* interop, arrow and orjson readers: stubs or cachekit-py only */
		CU_ASSERT_STRING_EQUAL(compressed_token(row), envelope ? "True" : "False");
		size_t aad_len, ct_len, pt_len;
		uint8_t *aad = row_aad(root, row, envelope ? "True" : "False", &aad_len);
		uint8_t *ct = hex_field(row, "ciphertext_hex", &ct_len);
		uint8_t *pt = hex_field(row, "plaintext_hex", &pt_len);
		uint8_t *out = NULL;
		size_t out_len = 0;
		ck_err rv =
		        cki_unseal_value(kr, str_field(row, "cache_key"), str_field(row, "format"),
		                         envelope, ct, ct_len, &out, &out_len);
		if (strcmp(outcome, "not_unwrapped") == 0) {
			/* The plain reader hands back the decrypted bytes as they are, never the
			 * value inside a container it is not configured for. */
			CU_ASSERT_EQUAL(rv, CK_OK);
			CU_ASSERT(out_len == pt_len && memcmp(out, pt, pt_len) == 0);
		} else {
			CU_ASSERT_STRING_EQUAL(outcome, "error");
			CU_ASSERT_NOT_EQUAL(rv, CK_OK);
			CU_ASSERT_PTR_NULL(out);
		}
		free(out);
		free(pt);
		free(ct);
		free(aad);
		ran++;
	}
	CU_ASSERT(ran > 0);
	cki_keyring_free(kr);
	json_decref(root);
}

static void
test_format_registry(void)
{
	json_t *root = load_encryption();
	CU_ASSERT_FATAL(root != NULL);
	cki_keyring *kr = main_keyring(root);
	CU_ASSERT_FATAL(kr != NULL);
	json_decref(root);
	static const char *const good[] = {NULL, "", "msgpack", "orjson", "arrow"};
	static const char *const bad[] = {"json", "MSGPACK", "msgpack ", "pickle", "arrow\n"};
	const uint8_t v[] = "value";
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		uint8_t *ct = NULL, *pt = NULL;
		size_t ct_len, pt_len;
		CU_ASSERT_TRUE(cki_format_registered(good[i]));
		CU_ASSERT_EQUAL(cki_seal(kr, "k", good[i], false, v, 5, &ct, &ct_len), CK_OK);
		CU_ASSERT_EQUAL(cki_unseal(kr, "k", good[i], false, ct, ct_len, &pt, &pt_len),
		                CK_OK);
		CU_ASSERT(pt_len == 5 && memcmp(pt, v, 5) == 0);
		free(ct);
		free(pt);
	}
	uint8_t *ct = NULL;
	size_t ct_len;
	CU_ASSERT_EQUAL(cki_seal(kr, "k", "msgpack", false, v, 5, &ct, &ct_len), CK_OK);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t *out = NULL;
		size_t out_len;
		CU_ASSERT_FALSE(cki_format_registered(bad[i]));
		CU_ASSERT_EQUAL(cki_seal(kr, "k", bad[i], false, v, 5, &out, &out_len), CK_EINVAL);
		CU_ASSERT_PTR_NULL(out);
		CU_ASSERT_EQUAL(cki_unseal(kr, "k", bad[i], false, ct, ct_len, &out, &out_len),
		                CK_EINVAL);
		CU_ASSERT_PTR_NULL(out);
	}
	free(ct);
	cki_keyring_free(kr);
}

/* interop-v2.json (draft): the AES layer only, which the agent already has (AAD "True" over the
 * container bytes); the 0xC1 0x02 container itself is not implemented (docs/compatibility.md). */
static void
test_interop_v2_crypto_rows(void)
{
	json_error_t err;
	json_t *root = json_load_file(ck_vector_path("interop-v2.json"), 0, &err);
	CU_ASSERT_FATAL(root != NULL);
	size_t i, rows = 0;
	json_t *row;
	json_array_foreach(json_object_get(root, "aad_vectors"), i, row)
	{
		size_t len;
		json_t *shape = json_pack("{s:s}", "tenant_id", str_field(row, "tenant_id"));
		free(row_aad(shape, row, compressed_token(row), &len));
		json_decref(shape);
		rows++;
	}
	json_array_foreach(json_object_get(root, "encryption_vectors"), i, row)
	{
		json_t *shape =
		        json_pack("{s:s,s:s}", "master_key_hex", str_field(row, "master_key_hex"),
		                  "tenant_id", str_field(row, "tenant_id"));
		cki_keyring *kr = main_keyring(shape);
		CU_ASSERT_FATAL(kr != NULL);
		size_t ct_len, pt_len, out_len = 0;
		uint8_t *ct = hex_field(row, "ciphertext_hex", &ct_len);
		uint8_t *pt = hex_field(row, "plaintext_hex", &pt_len);
		uint8_t *out = NULL;
		CU_ASSERT_EQUAL(cki_unseal(kr, str_field(row, "cache_key"),
		                           str_field(row, "format"), true, ct, ct_len, &out,
		                           &out_len),
		                CK_OK);
		CU_ASSERT(out_len == pt_len && out != NULL && memcmp(out, pt, pt_len) == 0);
		free(out);
		out = NULL;
		/* The same ciphertext under the v1 AAD ("False") never opens. */
		CU_ASSERT_EQUAL(cki_unseal(kr, str_field(row, "cache_key"),
		                           str_field(row, "format"), false, ct, ct_len, &out,
		                           &out_len),
		                CK_ECRYPTO);
		free(ct);
		free(pt);
		cki_keyring_free(kr);
		json_decref(shape);
		rows++;
	}
	json_array_foreach(json_object_get(root, "crypto_reject_vectors"), i, row)
	{
		size_t ct_len, aad_len;
		uint8_t key[CKI_KEY_LEN];
		json_t *shape =
		        json_pack("{s:s}", "master_key_hex", str_field(row, "master_key_hex"));
		size_t n;
		uint8_t *master = hex_field(shape, "master_key_hex", &n);
		CU_ASSERT_FATAL(master != NULL && n == CKI_KEY_LEN);
		CU_ASSERT_EQUAL(cki_hkdf_tenant_key(master, str_field(row, "tenant_id"), key),
		                CK_OK);
		uint8_t *ct = hex_field(row, "ciphertext_hex", &ct_len);
		uint8_t *aad = hex_field(row, "aad_hex", &aad_len);
		uint8_t *buf = malloc(ct_len);
		CU_ASSERT_FATAL(ct != NULL && aad != NULL && buf != NULL &&
		                ct_len >= CKI_SEAL_OVERHEAD);
		CU_ASSERT_EQUAL(cki_aes_gcm_open(key, aad, aad_len, ct, ct_len, buf), CK_ECRYPTO);
		free(buf);
		free(aad);
		free(ct);
		free(master);
		json_decref(shape);
		rows++;
	}
	CU_ASSERT(rows > 0);
	json_decref(root);
}

static CU_TestInfo tests[] = {
        {"interop-v2.json AAD, encryption and crypto reject rows", test_interop_v2_crypto_rows},
        {"every aad_reject_vectors row fails to open", test_aad_reject_rows_never_open},
        {"decrypted_container rows for the plain and envelope readers",
         test_decrypted_container_rows},
        {"format labels outside the registry are refused (ENC-5)", test_format_registry},
        CU_TEST_INFO_NULL};

CK_UNIT_SUITE("seal_vectors", tests)
