/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for agent/seal.c: every row of encryption.json (HKDF fingerprints, AAD bytes,
 * fixed-nonce AES-GCM ciphertexts, keyring and default-tenant rows), the encryption rows of
 * interop-mode.json, and the behaviour of cki_seal/cki_unseal: tamper, swap, wrong key,
 * wrong tenant, rotation.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cunit_main.h"
#include "crypto/keyring.h"
#include "crypto/seal.h"

#define KEY_A  "6161616161616161616161616161616161616161616161616161616161616161"
#define KEY_K1 "1111111111111111111111111111111111111111111111111111111111111111"
#define KEY_K2 "2222222222222222222222222222222222222222222222222222222222222222"

/* ck_vector_path() in cunit_main.c is compiled without CK_VECTORS_DIR (only test_<module>.c
 * gets the definition), so it falls back to a cwd-relative path that breaks under ctest.
 * Resolve the vectors here instead. */
static const char *
vector_path(const char *file)
{
	static char path[4096];
	const char *dir = getenv("CK_VECTORS_DIR");
	snprintf(path, sizeof(path), "%s/%s", dir != NULL ? dir : CK_VECTORS_DIR, file);
	return path;
}

static json_t *
load_vectors(const char *file)
{
	json_error_t err;
	json_t *root = json_load_file(vector_path(file), 0, &err);
	if (root == NULL)
		fprintf(stderr, "cannot load %s: %s\n", vector_path(file), err.text);
	return root;
}

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
	if (hex == NULL)
		return NULL;
	if (hex[0] == '\0')
		return calloc(1, 1);
	return ck_unhex(hex, len);
}

static void
to_hex(const uint8_t *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
	out[2 * n] = '\0';
}

static bool
bytes_equal(const char *what, const char *name, const uint8_t *got, size_t got_len,
            const uint8_t *want, size_t want_len)
{
	if (got_len == want_len && memcmp(got, want, got_len) == 0)
		return true;
	fprintf(stderr, "%s mismatch in vector %s (got %zu bytes, want %zu)\n", what, name, got_len,
	        want_len);
	return false;
}

static cki_keyring *
make_keyring(const char *tenant, const char *current, const char *previous)
{
	cki_secret *cur = cki_secret_from((const uint8_t *)current, strlen(current));
	cki_secret *prev =
	        previous ? cki_secret_from((const uint8_t *)previous, strlen(previous)) : NULL;
	cki_keyring *kr = NULL;
	char why[256];
	if (cki_keyring_new(&kr, tenant, cur, prev, why, sizeof(why)) != CK_OK) {
		fprintf(stderr, "keyring: %s\n", why);
		kr = NULL;
	}
	cki_secret_free(cur);
	cki_secret_free(prev);
	return kr;
}

static void
check_fingerprint(const char *master_hex, const char *tenant, const char *want_hex)
{
	size_t n;
	uint8_t *master = ck_unhex(master_hex, &n);
	uint8_t key[CKI_KEY_LEN], fp[CKI_FINGERPRINT_LEN];
	char hex[2 * CKI_FINGERPRINT_LEN + 1];
	CU_ASSERT_FATAL(master != NULL && n == CKI_KEY_LEN);
	CU_ASSERT_EQUAL(cki_hkdf_tenant_key(master, tenant, key), CK_OK);
	cki_key_fingerprint(key, fp);
	to_hex(fp, sizeof(fp), hex);
	CU_ASSERT_STRING_EQUAL(hex, want_hex);
	free(master);
}

/*
 * One AAD + fixed-nonce ciphertext row: rebuilds the AAD from its fields, seals the plaintext
 * with the row's nonce (the ciphertext's first 12 bytes) and compares bytes; opens the
 * ciphertext back. With a keyring for the same master and tenant, and no original_type,
 * cki_unseal (the production path) must open it too.
 */
static void
check_row(const json_t *row, const char *master_hex, const char *tenant, const cki_keyring *kr)
{
	const char *name = str_field(row, "name");
	const char *key = str_field(row, "cache_key");
	const char *format = str_field(row, "format");
	const char *original_type = str_field(row, "original_type");
	bool compressed = json_is_true(json_object_get(row, "compressed"));
	size_t pt_len, aad_want_len, ct_len, master_len;
	uint8_t *pt = hex_field(row, "plaintext_hex", &pt_len);
	uint8_t *aad_want = hex_field(row, "aad_hex", &aad_want_len);
	uint8_t *ct = hex_field(row, "ciphertext_hex", &ct_len);
	uint8_t *master = ck_unhex(master_hex, &master_len);
	uint8_t aad[1024], enc_key[CKI_KEY_LEN];
	size_t aad_len = 0;

	CU_ASSERT_FATAL(name && key && format && pt && aad_want && ct && master);
	CU_ASSERT_EQUAL(cki_aad_build(tenant, key, format, compressed ? "True" : "False",
	                              original_type, aad, sizeof(aad), &aad_len),
	                CK_OK);
	CU_ASSERT(bytes_equal("AAD", name, aad, aad_len, aad_want, aad_want_len));

	CU_ASSERT_EQUAL(cki_hkdf_tenant_key(master, tenant, enc_key), CK_OK);
	uint8_t *sealed = malloc(pt_len + CKI_SEAL_OVERHEAD);
	CU_ASSERT_EQUAL(cki_aes_gcm_seal_with_nonce(enc_key, ct, aad, aad_len, pt, pt_len, sealed),
	                CK_OK);
	CU_ASSERT(bytes_equal("ciphertext", name, sealed, pt_len + CKI_SEAL_OVERHEAD, ct, ct_len));

	uint8_t *opened = malloc(ct_len);
	CU_ASSERT_EQUAL(cki_aes_gcm_open(enc_key, aad, aad_len, ct, ct_len, opened), CK_OK);
	CU_ASSERT(bytes_equal("plaintext", name, opened, ct_len - CKI_SEAL_OVERHEAD, pt, pt_len));

	if (kr != NULL && original_type == NULL) {
		uint8_t *out = NULL;
		size_t out_len = 0;
		CU_ASSERT_EQUAL(cki_unseal(kr, key, format, compressed, ct, ct_len, &out, &out_len),
		                CK_OK);
		if (out != NULL)
			CU_ASSERT(bytes_equal("unsealed", name, out, out_len, pt, pt_len));
		free(out);
	}
	free(opened);
	free(sealed);
	free(pt);
	free(aad_want);
	free(ct);
	free(master);
}

static void
test_main_vectors(void)
{
	json_t *root = load_vectors("encryption.json");
	CU_ASSERT_FATAL(root != NULL);
	const char *master = str_field(root, "master_key_hex");
	const char *tenant = str_field(root, "tenant_id");
	check_fingerprint(master, tenant, str_field(root, "derived_key_fingerprint_hex"));
	cki_keyring *kr = make_keyring(tenant, master, NULL);
	CU_ASSERT_FATAL(kr != NULL);
	size_t i, rows = 0;
	json_t *row;
	json_array_foreach(json_object_get(root, "vectors"), i, row)
	{
		check_row(row, master, tenant, kr);
		rows++;
	}
	CU_ASSERT(rows > 0);
	CU_ASSERT_EQUAL(rows, json_array_size(json_object_get(root, "vectors")));
	cki_keyring_free(kr);
	json_decref(root);
}

static void
test_default_tenant_vectors(void)
{
	json_t *root = load_vectors("encryption.json");
	CU_ASSERT_FATAL(root != NULL);
	const char *master = str_field(root, "master_key_hex");
	json_t *dt = json_object_get(root, "default_tenant");
	CU_ASSERT_STRING_EQUAL(str_field(dt, "tenant_id"), CKI_DEFAULT_TENANT);
	check_fingerprint(master, CKI_DEFAULT_TENANT, str_field(dt, "derived_key_fingerprint_hex"));
	/* A NULL tenant must mean "default" in the keyring. */
	cki_keyring *kr = make_keyring(NULL, master, NULL);
	CU_ASSERT_FATAL(kr != NULL);
	CU_ASSERT_STRING_EQUAL(cki_keyring_tenant(kr), "default");
	size_t i, rows = 0;
	json_t *row;
	json_array_foreach(json_object_get(dt, "vectors"), i, row)
	{
		check_row(row, master, CKI_DEFAULT_TENANT, kr);
		rows++;
	}
	CU_ASSERT(rows > 0);
	cki_keyring_free(kr);
	json_decref(root);
}

static void
test_keyring_vectors(void)
{
	json_t *root = load_vectors("encryption.json");
	CU_ASSERT_FATAL(root != NULL);
	json_t *ring = json_object_get(root, "keyring");
	const char *tenant = str_field(ring, "tenant_id");
	const char *masters[2] = {NULL, NULL};
	size_t i;
	json_t *entry;
	json_array_foreach(json_object_get(ring, "entries"), i, entry)
	{
		CU_ASSERT_FATAL(i < 2);
		masters[i] = str_field(entry, "master_key_hex");
		check_fingerprint(masters[i], tenant,
		                  str_field(entry, "derived_key_fingerprint_hex"));
	}
	CU_ASSERT_FATAL(masters[0] != NULL && masters[1] != NULL);
	json_t *row;
	json_array_foreach(json_object_get(ring, "vectors"), i, row)
	{
		const char *with = str_field(row, "encrypted_with");
		const char *master = strcmp(with, "k1") == 0 ? masters[0] : masters[1];
		check_row(row, master, tenant, NULL);
	}
	json_decref(root);
}

/* Rotation through the production path: keyring (k2 current, k1 previous) opens both
 * vector entries and reports which key did; keyring (k2 only) refuses the k1 entry. */
static void
test_keyring_vectors_rotation(void)
{
	json_t *root = load_vectors("encryption.json");
	CU_ASSERT_FATAL(root != NULL);
	json_t *ring = json_object_get(root, "keyring");
	const char *tenant = str_field(ring, "tenant_id");
	cki_keyring *both = make_keyring(tenant, KEY_K2, KEY_K1);
	cki_keyring *k2_only = make_keyring(tenant, KEY_K2, NULL);
	CU_ASSERT_FATAL(both != NULL && k2_only != NULL);
	size_t i;
	json_t *row;
	json_array_foreach(json_object_get(ring, "vectors"), i, row)
	{
		size_t ct_len, pt_len, idx = 99;
		uint8_t *ct = hex_field(row, "ciphertext_hex", &ct_len);
		uint8_t *pt = hex_field(row, "plaintext_hex", &pt_len);
		const char *key = str_field(row, "cache_key");
		bool from_k1 = strcmp(str_field(row, "encrypted_with"), "k1") == 0;
		uint8_t *out = NULL;
		size_t out_len = 0;
		CU_ASSERT_EQUAL(cki_unseal_ex(both, key, "msgpack", false, ct, ct_len, &out,
		                              &out_len, &idx),
		                CK_OK);
		CU_ASSERT_EQUAL(idx, from_k1 ? 1 : 0);
		CU_ASSERT(out != NULL && bytes_equal("plaintext", str_field(row, "name"), out,
		                                     out_len, pt, pt_len));
		free(out);
		out = NULL;
		CU_ASSERT_EQUAL(
		        cki_unseal(k2_only, key, "msgpack", false, ct, ct_len, &out, &out_len),
		        from_k1 ? CK_ECRYPTO : CK_OK);
		free(out);
		free(ct);
		free(pt);
	}
	cki_keyring_free(both);
	cki_keyring_free(k2_only);
	json_decref(root);
}

static void
test_master_key_accept_row(void)
{
	json_t *root = load_vectors("encryption.json");
	CU_ASSERT_FATAL(root != NULL);
	json_t *mki = json_object_get(root, "master_key_input");
	const char *tenant = str_field(mki, "tenant_id");
	size_t i, rows = 0;
	json_t *row;
	json_array_foreach(json_object_get(mki, "accept_vectors"), i, row)
	{
		const char *master = str_field(row, "master_key_hex");
		cki_keyring *kr = make_keyring(NULL, master, NULL);
		CU_ASSERT_FATAL(kr != NULL);
		uint8_t fp[16];
		char hex[33];
		cki_keyring_fingerprint(kr, 0, fp);
		to_hex(fp, sizeof(fp), hex);
		CU_ASSERT_STRING_EQUAL(hex, str_field(row, "derived_key_fingerprint_hex"));
		check_row(row, master, tenant, kr);
		cki_keyring_free(kr);
		rows++;
	}
	CU_ASSERT(rows > 0);
	json_decref(root);
}

static void
test_interop_vectors(void)
{
	json_t *root = load_vectors("interop-mode.json");
	CU_ASSERT_FATAL(root != NULL);
	size_t i, rows = 0;
	json_t *row;
	json_array_foreach(json_object_get(root, "aad_vectors"), i, row)
	{
		size_t want_len, len = 0;
		uint8_t *want = hex_field(row, "aad_hex", &want_len);
		uint8_t aad[512];
		bool compressed = json_is_true(json_object_get(row, "compressed"));
		CU_ASSERT_EQUAL(cki_aad_build(str_field(row, "tenant_id"),
		                              str_field(row, "cache_key"), str_field(row, "format"),
		                              compressed ? "True" : "False", NULL, aad, sizeof(aad),
		                              &len),
		                CK_OK);
		CU_ASSERT(bytes_equal("AAD", str_field(row, "name"), aad, len, want, want_len));
		free(want);
		rows++;
	}
	json_array_foreach(json_object_get(root, "encryption_vectors"), i, row)
	{
		const char *master = str_field(row, "master_key_hex");
		const char *tenant = str_field(row, "tenant_id");
		check_fingerprint(master, tenant, str_field(row, "derived_key_fingerprint_hex"));
		size_t nonce_len, ct_len;
		uint8_t *nonce = hex_field(row, "nonce_hex", &nonce_len);
		uint8_t *ct = hex_field(row, "ciphertext_hex", &ct_len);
		CU_ASSERT(nonce_len == CKI_NONCE_LEN && memcmp(nonce, ct, CKI_NONCE_LEN) == 0);
		cki_keyring *kr = make_keyring(tenant, master, NULL);
		CU_ASSERT_FATAL(kr != NULL);
		check_row(row, master, tenant, kr);
		cki_keyring_free(kr);
		free(nonce);
		free(ct);
		rows++;
	}
	CU_ASSERT(rows > 0);
	json_decref(root);
}

static void
test_hkdf_rejects_bad_inputs(void)
{
	uint8_t master[32] = {0}, out[32];
	char long_tenant[CKI_TENANT_MAX + 2];
	memset(long_tenant, 't', sizeof(long_tenant) - 1);
	long_tenant[sizeof(long_tenant) - 1] = '\0';
	CU_ASSERT_EQUAL(cki_hkdf_derive(master, 15, "encryption", "t", out), CK_EINVAL);
	CU_ASSERT_EQUAL(cki_hkdf_derive(master, 32, "", "t", out), CK_EINVAL);
	CU_ASSERT_EQUAL(cki_hkdf_derive(master, 32, "encryption", "", out), CK_EINVAL);
	CU_ASSERT_EQUAL(cki_hkdf_derive(master, 32, "encryption", long_tenant, out), CK_EINVAL);
	long_tenant[CKI_TENANT_MAX] = '\0';
	CU_ASSERT_EQUAL(cki_hkdf_derive(master, 32, "encryption", long_tenant, out), CK_OK);
}

/* Domain separation: the three §7.3 domains give three different keys. */
static void
test_hkdf_domains_differ(void)
{
	uint8_t master[32], a[32], b[32], c[32];
	memset(master, 0x61, sizeof(master));
	CU_ASSERT_EQUAL(cki_hkdf_derive(master, 32, "encryption", "t", a), CK_OK);
	CU_ASSERT_EQUAL(cki_hkdf_derive(master, 32, "authentication", "t", b), CK_OK);
	CU_ASSERT_EQUAL(cki_hkdf_derive(master, 32, "cache_keys", "t", c), CK_OK);
	CU_ASSERT(memcmp(a, b, 32) != 0 && memcmp(a, c, 32) != 0 && memcmp(b, c, 32) != 0);
	CU_ASSERT_EQUAL(cki_hkdf_tenant_key(master, "t", b), CK_OK);
	CU_ASSERT(memcmp(a, b, 32) == 0);
}

static void
test_aad_flag_token_and_size(void)
{
	uint8_t buf[64];
	size_t len = 0;
	CU_ASSERT_EQUAL(cki_aad_build("t", "k", "msgpack", "true", NULL, buf, sizeof(buf), &len),
	                CK_EINVAL);
	CU_ASSERT_EQUAL(cki_aad_build("t", "k", "msgpack", "1", NULL, buf, sizeof(buf), &len),
	                CK_EINVAL);
	CU_ASSERT_EQUAL(cki_aad_build("t", "k", "msgpack", "False", NULL, NULL, 0, &len),
	                CK_ETOOBIG);
	/* 1 + (4+1) + (4+1) + (4+7) + (4+5) */
	CU_ASSERT_EQUAL(len, 31);
	CU_ASSERT_EQUAL(cki_aad_build("t", "k", "msgpack", "False", NULL, buf, 30, &len),
	                CK_ETOOBIG);
	CU_ASSERT_EQUAL(cki_aad_build("t", "k", "msgpack", "False", NULL, buf, 31, &len), CK_OK);
	CU_ASSERT_EQUAL(buf[0], 0x03);
	CU_ASSERT_EQUAL(memcmp(buf + 26, "False", 5), 0);
}

static void
test_seal_round_trip(void)
{
	cki_keyring *kr = make_keyring("tenant-x", KEY_A, NULL);
	CU_ASSERT_FATAL(kr != NULL);
	const uint8_t pt[] = "\x82\xa3"
	                     "age\x1e\xa4"
	                     "name\xa5"
	                     "alice";
	uint8_t *ct = NULL, *back = NULL;
	size_t ct_len = 0, back_len = 0;
	CU_ASSERT_EQUAL_FATAL(cki_seal(kr, "ns:key", NULL, false, pt, sizeof(pt) - 1, &ct, &ct_len),
	                      CK_OK);
	CU_ASSERT_EQUAL(ct_len, sizeof(pt) - 1 + 28);
	CU_ASSERT_EQUAL(cki_unseal(kr, "ns:key", "msgpack", false, ct, ct_len, &back, &back_len),
	                CK_OK);
	CU_ASSERT(back_len == sizeof(pt) - 1 && memcmp(back, pt, back_len) == 0);
	free(back);

	/* The sealed value is exactly the interop layout under the tenant key and AAD. */
	uint8_t master[32], key[32], aad[128], plain[64];
	size_t aad_len;
	memset(master, 0x61, sizeof(master));
	CU_ASSERT_EQUAL(cki_hkdf_tenant_key(master, "tenant-x", key), CK_OK);
	CU_ASSERT_EQUAL(cki_aad_build("tenant-x", "ns:key", "msgpack", "False", NULL, aad,
	                              sizeof(aad), &aad_len),
	                CK_OK);
	CU_ASSERT_EQUAL(cki_aes_gcm_open(key, aad, aad_len, ct, ct_len, plain), CK_OK);
	CU_ASSERT_EQUAL(memcmp(plain, pt, sizeof(pt) - 1), 0);
	free(ct);
	cki_keyring_free(kr);
}

static void
test_seal_empty_plaintext(void)
{
	cki_keyring *kr = make_keyring(NULL, KEY_A, NULL);
	uint8_t *ct = NULL, *back = NULL;
	size_t ct_len = 0, back_len = 99;
	CU_ASSERT_EQUAL_FATAL(cki_seal(kr, "k", NULL, false, NULL, 0, &ct, &ct_len), CK_OK);
	CU_ASSERT_EQUAL(ct_len, 28);
	CU_ASSERT_EQUAL(cki_unseal(kr, "k", NULL, false, ct, ct_len, &back, &back_len), CK_OK);
	CU_ASSERT_EQUAL(back_len, 0);
	free(back);
	free(ct);
	cki_keyring_free(kr);
}

static void
test_seal_nonces_differ(void)
{
	cki_keyring *kr = make_keyring(NULL, KEY_A, NULL);
	uint8_t *a = NULL, *b = NULL;
	size_t a_len, b_len;
	const uint8_t pt[4] = {1, 2, 3, 4};
	CU_ASSERT_EQUAL(cki_seal(kr, "k", NULL, false, pt, 4, &a, &a_len), CK_OK);
	CU_ASSERT_EQUAL(cki_seal(kr, "k", NULL, false, pt, 4, &b, &b_len), CK_OK);
	CU_ASSERT_FATAL(a != NULL && b != NULL);
	CU_ASSERT(memcmp(a, b, CKI_NONCE_LEN) != 0);
	free(a);
	free(b);
	cki_keyring_free(kr);
}

static void
test_tamper_fails(void)
{
	cki_keyring *kr = make_keyring(NULL, KEY_A, NULL);
	const uint8_t pt[] = "some cached value";
	uint8_t *ct = NULL;
	size_t ct_len = 0;
	CU_ASSERT_EQUAL_FATAL(cki_seal(kr, "k", NULL, false, pt, sizeof(pt), &ct, &ct_len), CK_OK);
	/* One byte in the nonce, the first and last ciphertext bytes, the first and last tag
	 * bytes; every bit of each. */
	const size_t where[] = {0, 11, 12, ct_len - 17, ct_len - 16, ct_len - 1};
	for (size_t w = 0; w < sizeof(where) / sizeof(where[0]); w++) {
		for (int bit = 0; bit < 8; bit++) {
			uint8_t *out = NULL;
			size_t out_len = 0;
			ct[where[w]] ^= (uint8_t)(1u << bit);
			CU_ASSERT_EQUAL(
			        cki_unseal(kr, "k", NULL, false, ct, ct_len, &out, &out_len),
			        CK_ECRYPTO);
			CU_ASSERT_PTR_NULL(out);
			ct[where[w]] ^= (uint8_t)(1u << bit);
		}
	}
	/* Truncated or extended values do not open either. */
	uint8_t *out = NULL;
	size_t out_len;
	CU_ASSERT_EQUAL(cki_unseal(kr, "k", NULL, false, ct, ct_len - 1, &out, &out_len),
	                CK_ECRYPTO);
	CU_ASSERT_EQUAL(cki_unseal(kr, "k", NULL, false, ct, 27, &out, &out_len), CK_ECRYPTO);
	CU_ASSERT_EQUAL(cki_unseal(kr, "k", NULL, false, ct, 0, &out, &out_len), CK_ECRYPTO);
	CU_ASSERT_EQUAL(cki_unseal(kr, "k", NULL, false, ct, ct_len, &out, &out_len), CK_OK);
	free(out);
	free(ct);
	cki_keyring_free(kr);
}

/* A value sealed for one storage key, format or flag cannot be served for another. */
static void
test_swap_fails(void)
{
	cki_keyring *kr = make_keyring(NULL, KEY_A, NULL);
	const uint8_t pt[] = "value of A";
	uint8_t *ct = NULL, *out = NULL;
	size_t ct_len = 0, out_len = 0;
	CU_ASSERT_EQUAL_FATAL(cki_seal(kr, "user:A", NULL, false, pt, sizeof(pt), &ct, &ct_len),
	                      CK_OK);
	CU_ASSERT_EQUAL(cki_unseal(kr, "user:B", NULL, false, ct, ct_len, &out, &out_len),
	                CK_ECRYPTO);
	CU_ASSERT_EQUAL(cki_unseal(kr, "user:A", NULL, true, ct, ct_len, &out, &out_len),
	                CK_ECRYPTO);
	CU_ASSERT_EQUAL(cki_unseal(kr, "user:A", "orjson", false, ct, ct_len, &out, &out_len),
	                CK_ECRYPTO);
	CU_ASSERT_PTR_NULL(out);
	free(ct);
	cki_keyring_free(kr);
}

static void
test_wrong_key_or_tenant_fails(void)
{
	cki_keyring *kr = make_keyring("t1", KEY_A, NULL);
	cki_keyring *other_key = make_keyring("t1", KEY_K1, NULL);
	cki_keyring *other_tenant = make_keyring("t2", KEY_A, NULL);
	const uint8_t pt[] = "secret value";
	uint8_t *ct = NULL, *out = NULL;
	size_t ct_len = 0, out_len = 0;
	CU_ASSERT_EQUAL_FATAL(cki_seal(kr, "k", NULL, false, pt, sizeof(pt), &ct, &ct_len), CK_OK);
	CU_ASSERT_EQUAL(cki_unseal(other_key, "k", NULL, false, ct, ct_len, &out, &out_len),
	                CK_ECRYPTO);
	CU_ASSERT_EQUAL(cki_unseal(other_tenant, "k", NULL, false, ct, ct_len, &out, &out_len),
	                CK_ECRYPTO);
	CU_ASSERT_PTR_NULL(out);
	free(ct);
	cki_keyring_free(kr);
	cki_keyring_free(other_key);
	cki_keyring_free(other_tenant);
}

static void
test_rotation(void)
{
	cki_keyring *k1 = make_keyring(NULL, KEY_K1, NULL);
	cki_keyring *k2_k1 = make_keyring(NULL, KEY_K2, KEY_K1);
	cki_keyring *k2 = make_keyring(NULL, KEY_K2, NULL);
	const uint8_t pt[] = "rotating";
	uint8_t *old = NULL, *fresh = NULL, *out = NULL;
	size_t old_len, fresh_len, out_len, idx = 99;
	CU_ASSERT_FATAL(k1 && k2_k1 && k2);
	CU_ASSERT_EQUAL_FATAL(cki_seal(k1, "k", NULL, false, pt, sizeof(pt), &old, &old_len),
	                      CK_OK);
	CU_ASSERT_EQUAL(cki_unseal_ex(k2_k1, "k", NULL, false, old, old_len, &out, &out_len, &idx),
	                CK_OK);
	CU_ASSERT_EQUAL(idx, 1);
	CU_ASSERT(out != NULL && out_len == sizeof(pt) && memcmp(out, pt, out_len) == 0);
	free(out);
	out = NULL;
	CU_ASSERT_EQUAL(cki_unseal(k2, "k", NULL, false, old, old_len, &out, &out_len), CK_ECRYPTO);
	/* New writes use the current key only: k1 alone cannot read them. */
	CU_ASSERT_EQUAL_FATAL(cki_seal(k2_k1, "k", NULL, false, pt, sizeof(pt), &fresh, &fresh_len),
	                      CK_OK);
	CU_ASSERT_EQUAL(cki_unseal(k2, "k", NULL, false, fresh, fresh_len, &out, &out_len), CK_OK);
	free(out);
	out = NULL;
	CU_ASSERT_EQUAL(cki_unseal(k1, "k", NULL, false, fresh, fresh_len, &out, &out_len),
	                CK_ECRYPTO);
	free(old);
	free(fresh);
	cki_keyring_free(k1);
	cki_keyring_free(k2_k1);
	cki_keyring_free(k2);
}

static void
test_seal_rejects_bad_arguments(void)
{
	cki_keyring *kr = make_keyring(NULL, KEY_A, NULL);
	uint8_t *out = NULL;
	size_t out_len;
	CU_ASSERT_EQUAL(cki_seal(NULL, "k", NULL, false, (const uint8_t *)"x", 1, &out, &out_len),
	                CK_EINVAL);
	CU_ASSERT_EQUAL(cki_seal(kr, NULL, NULL, false, (const uint8_t *)"x", 1, &out, &out_len),
	                CK_EINVAL);
	CU_ASSERT_EQUAL(cki_seal(kr, "k", NULL, false, NULL, 1, &out, &out_len), CK_EINVAL);
	CU_ASSERT_EQUAL(cki_seal(kr, "k", NULL, false, (const uint8_t *)"x",
	                         CKI_SEAL_MAX_PLAINTEXT + 1, &out, &out_len),
	                CK_ETOOBIG);
	CU_ASSERT_PTR_NULL(out);
	cki_keyring_free(kr);
}

static void
test_stored_values_with_and_without_envelope(void)
{
	cki_keyring *kr = make_keyring("default", KEY_K1, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(kr);
	uint8_t value[3000];
	for (size_t i = 0; i < sizeof(value); i++)
		value[i] = (uint8_t)(i % 7);
	for (int envelope = 0; envelope < 2; envelope++) {
		uint8_t *sealed = NULL, *opened = NULL;
		size_t sealed_len = 0, opened_len = 0;
		CU_ASSERT_EQUAL_FATAL(cki_seal_value(kr, "ns:a:k", "msgpack", envelope, value,
		                                     sizeof(value), &sealed, &sealed_len),
		                      CK_OK);
		if (envelope) { /* LZ4 inside: far smaller than the repetitive value */
			CU_ASSERT(sealed_len < sizeof(value) / 4);
		} else {
			CU_ASSERT_EQUAL(sealed_len, sizeof(value) + CKI_SEAL_OVERHEAD);
		}
		CU_ASSERT_EQUAL(cki_unseal_value(kr, "ns:a:k", "msgpack", envelope, sealed,
		                                 sealed_len, &opened, &opened_len),
		                CK_OK);
		CU_ASSERT_EQUAL(opened_len, sizeof(value));
		CU_ASSERT(opened != NULL && memcmp(opened, value, sizeof(value)) == 0);
		free(opened);
		opened = NULL;
		/* The envelope flag is in the AAD: reading with the other policy fails. */
		CU_ASSERT_EQUAL(cki_unseal_value(kr, "ns:a:k", "msgpack", !envelope, sealed,
		                                 sealed_len, &opened, &opened_len),
		                CK_ECRYPTO);
		CU_ASSERT_PTR_NULL(opened);
		free(sealed);
	}
	/* Authentic ciphertext whose plaintext is not an envelope: an error, never bytes. */
	uint8_t *sealed = NULL, *opened = NULL;
	size_t sealed_len = 0, opened_len = 0;
	CU_ASSERT_EQUAL_FATAL(cki_seal(kr, "k", "msgpack", true, value, 10, &sealed, &sealed_len),
	                      CK_OK);
	CU_ASSERT_EQUAL(cki_unseal_value(kr, "k", "msgpack", true, sealed, sealed_len, &opened,
	                                 &opened_len),
	                CK_ECRYPTO);
	CU_ASSERT_PTR_NULL(opened);
	free(sealed);
	cki_keyring_free(kr);
}

static CU_TestInfo tests[] = {
        {"stored values with and without the envelope",
         test_stored_values_with_and_without_envelope},
        {"encryption.json main vectors: fingerprint, AAD, ciphertext", test_main_vectors},
        {"encryption.json default tenant vector", test_default_tenant_vectors},
        {"encryption.json keyring entries and vectors", test_keyring_vectors},
        {"keyring vectors open through rotation", test_keyring_vectors_rotation},
        {"encryption.json master key accept row decrypts", test_master_key_accept_row},
        {"interop-mode.json AAD and encryption vectors", test_interop_vectors},
        {"HKDF rejects out-of-range inputs", test_hkdf_rejects_bad_inputs},
        {"HKDF domains give different keys", test_hkdf_domains_differ},
        {"AAD flag is the frozen token and size is reported", test_aad_flag_token_and_size},
        {"seal then unseal round-trips in interop layout", test_seal_round_trip},
        {"empty plaintext seals to 28 bytes", test_seal_empty_plaintext},
        {"each seal draws a fresh nonce", test_seal_nonces_differ},
        {"any flipped bit in nonce, ct or tag fails", test_tamper_fails},
        {"value sealed for key A does not open as key B", test_swap_fails},
        {"wrong master key or tenant fails", test_wrong_key_or_tenant_fails},
        {"rotation: previous keys open, only current seals", test_rotation},
        {"seal rejects bad arguments", test_seal_rejects_bad_arguments},
        CU_TEST_INFO_NULL,
};

CK_UNIT_SUITE("seal", tests)
