/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for agent/keyring.c: master key input rules (every accept and reject row of
 * encryption.json master_key_input), keyring vector fingerprints, previous-key validation
 * (count, duplicates, blanks) and loading from the environment.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cunit_main.h"
#include "crypto/keyring.h"
#include "crypto/seal.h"

#define KEY_A        "6161616161616161616161616161616161616161616161616161616161616161"
#define KEY_1        "1111111111111111111111111111111111111111111111111111111111111111"
#define KEY_2        "2222222222222222222222222222222222222222222222222222222222222222"
#define KEY_3        "3333333333333333333333333333333333333333333333333333333333333333"
#define KEY_4        "4444444444444444444444444444444444444444444444444444444444444444"
#define KEY_AB_LOWER "abababababababababababababababababababababababababababababababab"
#define KEY_AB_UPPER "ABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABAB"

static char why[512];

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

/* cki_keyring_new from strings; *out set only on CK_OK. */
static ck_err
build(const char *tenant, const char *current, size_t current_len, const char *previous,
      cki_keyring **out)
{
	cki_secret *cur = cki_secret_from((const uint8_t *)current, current_len);
	cki_secret *prev =
	        previous ? cki_secret_from((const uint8_t *)previous, strlen(previous)) : NULL;
	why[0] = '\0';
	ck_err rv = cki_keyring_new(out, tenant, cur, prev, why, sizeof(why));
	cki_secret_free(cur);
	cki_secret_free(prev);
	return rv;
}

static ck_err
build_str(const char *current, const char *previous, cki_keyring **out)
{
	return build(NULL, current, strlen(current), previous, out);
}

static void
fingerprint_hex(const cki_keyring *kr, size_t idx, char out[33])
{
	uint8_t fp[16];
	cki_keyring_fingerprint(kr, idx, fp);
	for (size_t i = 0; i < 16; i++)
		sprintf(out + 2 * i, "%02x", fp[i]);
}

static json_t *
master_key_rows(json_t **root)
{
	json_error_t err;
	*root = json_load_file(vector_path("encryption.json"), 0, &err);
	return *root ? json_object_get(*root, "master_key_input") : NULL;
}

static void
test_accept_rows(void)
{
	json_t *root;
	json_t *mki = master_key_rows(&root);
	CU_ASSERT_FATAL(mki != NULL);
	size_t i, rows = 0;
	json_t *row;
	json_array_foreach(json_object_get(mki, "accept_vectors"), i, row)
	{
		cki_keyring *kr = NULL;
		const char *hex = json_string_value(json_object_get(row, "master_key_hex"));
		CU_ASSERT_EQUAL_FATAL(build_str(hex, NULL, &kr), CK_OK);
		char fp[33];
		fingerprint_hex(kr, 0, fp);
		CU_ASSERT_STRING_EQUAL(
		        fp, json_string_value(json_object_get(row, "derived_key_fingerprint_hex")));
		CU_ASSERT_STRING_EQUAL(cki_keyring_tenant(kr),
		                       json_string_value(json_object_get(mki, "tenant_id")));
		cki_keyring_free(kr);
		rows++;
	}
	CU_ASSERT(rows > 0);
	json_decref(root);
}

/* Every reject row is refused as the current key and as a previous key, and the reason
 * never quotes the key. */
static void
test_reject_rows(void)
{
	json_t *root;
	json_t *mki = master_key_rows(&root);
	CU_ASSERT_FATAL(mki != NULL);
	size_t i, rows = 0;
	json_t *row;
	json_array_foreach(json_object_get(mki, "reject_vectors"), i, row)
	{
		const char *name = json_string_value(json_object_get(row, "name"));
		const char *hex = json_string_value(json_object_get(row, "master_key_hex"));
		cki_keyring *kr = NULL;
		ck_err rv = build_str(hex, NULL, &kr);
		if (rv != CK_ECONFIG)
			fprintf(stderr, "reject row %s accepted as current key\n", name);
		CU_ASSERT_EQUAL(rv, CK_ECONFIG);
		CU_ASSERT_PTR_NULL(kr);
		CU_ASSERT(why[0] != '\0' && strstr(why, "007f80") == NULL);
		rv = build_str(KEY_A, hex, &kr);
		if (rv != CK_ECONFIG)
			fprintf(stderr, "reject row %s accepted as previous key\n", name);
		CU_ASSERT_EQUAL(rv, CK_ECONFIG);
		CU_ASSERT_PTR_NULL(kr);
		rows++;
	}
	CU_ASSERT(rows > 0);
	json_decref(root);
}

/*
 * The keyring has no raw-bytes entry point (cki_hkdf_tenant_key takes a 32-byte array by
 * type). Raw rows handed to the hex entry point: the short/long binary ones are refused; the
 * 64 ASCII hex digits are, to a hex entry point, exactly the accept row's key.
 */
static void
test_raw_reject_rows(void)
{
	json_t *root;
	json_t *mki = master_key_rows(&root);
	CU_ASSERT_FATAL(mki != NULL);
	size_t i, rows = 0;
	json_t *row;
	json_array_foreach(json_object_get(mki, "raw_reject_vectors"), i, row)
	{
		size_t n;
		uint8_t *raw = ck_unhex(json_string_value(json_object_get(row, "raw_key_hex")), &n);
		CU_ASSERT_FATAL(raw != NULL);
		cki_keyring *kr = NULL;
		const char *name = json_string_value(json_object_get(row, "name"));
		if (strcmp(name, "raw_key_ascii_hex_string") == 0) {
			char fp[33];
			CU_ASSERT_EQUAL_FATAL(build(NULL, (const char *)raw, n, NULL, &kr), CK_OK);
			fingerprint_hex(kr, 0, fp);
			CU_ASSERT_STRING_EQUAL(fp, "f3b07cd5f8ffa96a55243a22fc252200");
			cki_keyring_free(kr);
		} else {
			CU_ASSERT_EQUAL(build(NULL, (const char *)raw, n, NULL, &kr), CK_ECONFIG);
			CU_ASSERT_PTR_NULL(kr);
		}
		free(raw);
		rows++;
	}
	CU_ASSERT(rows > 0);
	json_decref(root);
}

static void
test_keyring_vector_fingerprints(void)
{
	json_error_t err;
	json_t *root = json_load_file(vector_path("encryption.json"), 0, &err);
	CU_ASSERT_FATAL(root != NULL);
	json_t *ring = json_object_get(root, "keyring");
	json_t *entries = json_object_get(ring, "entries");
	const char *tenant = json_string_value(json_object_get(ring, "tenant_id"));
	const char *k1 =
	        json_string_value(json_object_get(json_array_get(entries, 0), "master_key_hex"));
	const char *k2 =
	        json_string_value(json_object_get(json_array_get(entries, 1), "master_key_hex"));
	cki_keyring *kr = NULL;
	CU_ASSERT_EQUAL_FATAL(build(tenant, k2, strlen(k2), k1, &kr), CK_OK);
	CU_ASSERT_EQUAL(cki_keyring_count(kr), 2);
	char fp[33];
	fingerprint_hex(kr, 0, fp);
	CU_ASSERT_STRING_EQUAL(fp,
	                       json_string_value(json_object_get(json_array_get(entries, 1),
	                                                         "derived_key_fingerprint_hex")));
	fingerprint_hex(kr, 1, fp);
	CU_ASSERT_STRING_EQUAL(fp,
	                       json_string_value(json_object_get(json_array_get(entries, 0),
	                                                         "derived_key_fingerprint_hex")));
	/* Out of range: zeros. */
	fingerprint_hex(kr, 2, fp);
	CU_ASSERT_STRING_EQUAL(fp, "00000000000000000000000000000000");
	CU_ASSERT_PTR_NULL(cki_keyring_key(kr, 2));
	cki_keyring_free(kr);
	json_decref(root);
}

static void
test_uppercase_is_the_same_key(void)
{
	cki_keyring *lower = NULL, *upper = NULL;
	CU_ASSERT_EQUAL_FATAL(build_str(KEY_AB_LOWER, NULL, &lower), CK_OK);
	CU_ASSERT_EQUAL_FATAL(build_str(KEY_AB_UPPER, NULL, &upper), CK_OK);
	char a[33], b[33];
	fingerprint_hex(lower, 0, a);
	fingerprint_hex(upper, 0, b);
	CU_ASSERT_STRING_EQUAL(a, b);
	cki_keyring_free(lower);
	cki_keyring_free(upper);
}

static void
test_three_previous_keys_accepted(void)
{
	cki_keyring *kr = NULL;
	CU_ASSERT_EQUAL_FATAL(build_str(KEY_A, KEY_1 "," KEY_2 "," KEY_3, &kr), CK_OK);
	CU_ASSERT_EQUAL(cki_keyring_count(kr), 4);
	cki_keyring_free(kr);
	/* Blanks around items are ignored. */
	CU_ASSERT_EQUAL_FATAL(build_str(KEY_A, " " KEY_1 " ,\t" KEY_2, &kr), CK_OK);
	CU_ASSERT_EQUAL(cki_keyring_count(kr), 3);
	cki_keyring_free(kr);
}

static void
test_four_previous_keys_rejected(void)
{
	cki_keyring *kr = NULL;
	CU_ASSERT_EQUAL(build_str(KEY_A, KEY_1 "," KEY_2 "," KEY_3 "," KEY_4, &kr), CK_ECONFIG);
	CU_ASSERT_PTR_NULL(kr);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "at most 3"));
}

static void
test_previous_equal_to_current_rejected(void)
{
	cki_keyring *kr = NULL;
	CU_ASSERT_EQUAL(build_str(KEY_A, KEY_1 "," KEY_A, &kr), CK_ECONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "#2 equals the current"));
	/* Compared as decoded bytes: case does not hide a duplicate. */
	CU_ASSERT_EQUAL(build_str(KEY_AB_LOWER, KEY_AB_UPPER, &kr), CK_ECONFIG);
	CU_ASSERT_PTR_NULL(kr);
}

static void
test_duplicate_previous_rejected(void)
{
	cki_keyring *kr = NULL;
	CU_ASSERT_EQUAL(build_str(KEY_A, KEY_1 "," KEY_2 "," KEY_1, &kr), CK_ECONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "#1 and #3"));
	CU_ASSERT_PTR_NULL(kr);
}

static void
test_blank_previous_means_none(void)
{
	const char *blanks[] = {"", " ", "\t \t"};
	for (size_t i = 0; i < 3; i++) {
		cki_keyring *kr = NULL;
		CU_ASSERT_EQUAL_FATAL(build_str(KEY_A, blanks[i], &kr), CK_OK);
		CU_ASSERT_EQUAL(cki_keyring_count(kr), 1);
		cki_keyring_free(kr);
	}
}

static void
test_empty_previous_item_rejected(void)
{
	cki_keyring *kr = NULL;
	CU_ASSERT_EQUAL(build_str(KEY_A, KEY_1 ",," KEY_2, &kr), CK_ECONFIG);
	CU_ASSERT_EQUAL(build_str(KEY_A, KEY_1 ",", &kr), CK_ECONFIG);
	CU_ASSERT_EQUAL(build_str(KEY_A, "," KEY_1, &kr), CK_ECONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "#1 is empty"));
	CU_ASSERT_PTR_NULL(kr);
}

static void
test_bad_current_and_tenant_rejected(void)
{
	cki_keyring *kr = NULL;
	CU_ASSERT_EQUAL(build_str("", NULL, &kr), CK_ECONFIG);
	CU_ASSERT_EQUAL(build_str(KEY_A "\n", NULL, &kr), CK_ECONFIG);
	CU_ASSERT_EQUAL(build_str(KEY_A KEY_A, NULL, &kr), CK_ECONFIG); /* 64 bytes */
	CU_ASSERT_EQUAL(build("", KEY_A, 64, NULL, &kr), CK_ECONFIG);
	CU_ASSERT_PTR_NULL(kr);
	CU_ASSERT_EQUAL(cki_keyring_new(&kr, NULL, NULL, NULL, why, sizeof(why)), CK_EINVAL);
	CU_ASSERT_PTR_NULL(kr);
}

/* The keyring for tenant X derives different keys from the one for tenant Y. */
static void
test_tenant_changes_keys(void)
{
	cki_keyring *x = NULL, *y = NULL;
	CU_ASSERT_EQUAL_FATAL(build("x", KEY_A, 64, NULL, &x), CK_OK);
	CU_ASSERT_EQUAL_FATAL(build("y", KEY_A, 64, NULL, &y), CK_OK);
	char a[33], b[33];
	fingerprint_hex(x, 0, a);
	fingerprint_hex(y, 0, b);
	CU_ASSERT_STRING_NOT_EQUAL(a, b);
	cki_keyring_free(x);
	cki_keyring_free(y);
}

static void
clear_env(void)
{
	unsetenv("CREDENTIALS_DIRECTORY");
	unsetenv("CACHEKIT_MASTER_KEY");
	unsetenv("CACHEKIT_MASTER_KEY_FILE");
	unsetenv("CACHEKIT_PREVIOUS_MASTER_KEYS");
	unsetenv("CACHEKIT_PREVIOUS_MASTER_KEYS_FILE");
}

static void
test_load_from_environment(void)
{
	clear_env();
	setenv("CACHEKIT_MASTER_KEY", KEY_2, 1);
	setenv("CACHEKIT_PREVIOUS_MASTER_KEYS", KEY_1, 1);
	cki_keyring *kr = NULL;
	CU_ASSERT_EQUAL_FATAL(cki_keyring_load(&kr, "keyring-conformance", why, sizeof(why)),
	                      CK_OK);
	CU_ASSERT_EQUAL(cki_keyring_count(kr), 2);
	char fp[33];
	fingerprint_hex(kr, 0, fp);
	CU_ASSERT_STRING_EQUAL(fp, "e066ffdacfb5fb11a6ecc44c7a0ecb4e");
	fingerprint_hex(kr, 1, fp);
	CU_ASSERT_STRING_EQUAL(fp, "b6bfaa4119e9d72c87a393b17f1e117b");
	CU_ASSERT_PTR_NULL(getenv("CACHEKIT_MASTER_KEY"));
	CU_ASSERT_PTR_NULL(getenv("CACHEKIT_PREVIOUS_MASTER_KEYS"));
	cki_keyring_free(kr);
}

static void
test_load_without_master_key(void)
{
	clear_env();
	cki_keyring *kr = NULL;
	CU_ASSERT_EQUAL(cki_keyring_load(&kr, NULL, why, sizeof(why)), CK_ENOTFOUND);
	CU_ASSERT_PTR_NULL(kr);
	/* Previous keys alone are a configuration error, and are scrubbed anyway. */
	setenv("CACHEKIT_PREVIOUS_MASTER_KEYS", KEY_1, 1);
	CU_ASSERT_EQUAL(cki_keyring_load(&kr, NULL, why, sizeof(why)), CK_ECONFIG);
	CU_ASSERT_PTR_NULL(kr);
	CU_ASSERT_PTR_NULL(getenv("CACHEKIT_PREVIOUS_MASTER_KEYS"));
}

static void
test_load_reports_bad_key(void)
{
	clear_env();
	setenv("CACHEKIT_MASTER_KEY", "not-a-key", 1);
	cki_keyring *kr = NULL;
	CU_ASSERT_EQUAL(cki_keyring_load(&kr, NULL, why, sizeof(why)), CK_ECONFIG);
	CU_ASSERT_PTR_NULL(kr);
	CU_ASSERT_PTR_NULL(strstr(why, "not-a-key"));
	CU_ASSERT_PTR_NULL(getenv("CACHEKIT_MASTER_KEY"));
}

static CU_TestInfo tests[] = {
        {"master_key_input accept row gives the pinned fingerprint", test_accept_rows},
        {"every master_key_input reject row is refused", test_reject_rows},
        {"raw key rows through the hex entry point", test_raw_reject_rows},
        {"keyring vector fingerprints, current then previous", test_keyring_vector_fingerprints},
        {"uppercase hex is the same key", test_uppercase_is_the_same_key},
        {"three previous keys are accepted", test_three_previous_keys_accepted},
        {"four previous keys are refused, not truncated", test_four_previous_keys_rejected},
        {"a previous key equal to the current one is refused",
         test_previous_equal_to_current_rejected},
        {"duplicate previous keys are refused", test_duplicate_previous_rejected},
        {"blank previous list means none", test_blank_previous_means_none},
        {"empty item in the previous list is refused", test_empty_previous_item_rejected},
        {"bad current key or tenant is refused", test_bad_current_and_tenant_rejected},
        {"tenant id changes the derived keys", test_tenant_changes_keys},
        {"loads keys from the environment and scrubs it", test_load_from_environment},
        {"no master key: not found; previous alone: config error", test_load_without_master_key},
        {"a bad key from the environment is refused without echo", test_load_reports_bad_key},
        CU_TEST_INFO_NULL,
};

CK_UNIT_SUITE("keyring", tests)
