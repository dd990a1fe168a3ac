/* SPDX-License-Identifier: Apache-2.0 */
/* Key validation, namespacing and percent-encoding (vectors: path-encoding.json). */
#include <jansson.h>
#include <string.h>

#include "cunit_main.h"
#include "base/keys.h"

static void
test_encoder_matches_every_vector_row(void)
{
	json_error_t jerr;
	json_t *root = json_load_file(ck_vector_path("path-encoding.json"), JSON_ALLOW_NUL, &jerr);
	CU_ASSERT_PTR_NOT_NULL_FATAL(root);
	json_t *rows = json_object_get(root, "vectors");
	size_t i, checked = 0;
	json_t *row;
	json_array_foreach(rows, i, row)
	{
		const char *key = json_string_value(json_object_get(row, "key"));
		size_t key_len = json_string_length(json_object_get(row, "key"));
		json_t *enc = json_object_get(row, "encoded");
		if (!json_is_string(enc))
			continue;
		char out[3 * 512 + 1];
		CU_ASSERT_FATAL(key_len < 512);
		size_t n = cki_key_encode(key, key_len, out);
		CU_ASSERT_EQUAL(n, strlen(json_string_value(enc)));
		CU_ASSERT_STRING_EQUAL(out, json_string_value(enc));
		checked++;
	}
	/* Every row of whatever revision the file holds; at least one, so the loop ran. */
	CU_ASSERT(checked > 0);
	json_decref(root);
}

static void
test_reject_rows_are_invalid_keys(void)
{
	json_error_t jerr;
	json_t *root = json_load_file(ck_vector_path("path-encoding.json"), JSON_ALLOW_NUL, &jerr);
	CU_ASSERT_PTR_NOT_NULL_FATAL(root);
	size_t i, rejects = 0, valid = 0;
	json_t *row;
	json_array_foreach(json_object_get(root, "vectors"), i, row)
	{
		const char *key = json_string_value(json_object_get(row, "key"));
		size_t len = json_string_length(json_object_get(row, "key"));
		const char *why = NULL;
		ck_err rv = cki_key_validate(key, len, &why);
		if (json_is_true(json_object_get(row, "reject"))) {
			CU_ASSERT_EQUAL(rv, CK_EINVALKEY);
			CU_ASSERT_PTR_NOT_NULL(why);
			rejects++;
		}
		if (rv == CK_OK)
			valid++;
	}
	CU_ASSERT_EQUAL(rejects, 6);
	/* Only the auto-mode key and User:Key are server-valid ("ns:key" has no {rest}). */
	CU_ASSERT_EQUAL(valid, 2);
	json_decref(root);
}

static void
test_accepts_plain_and_namespaced_keys(void)
{
	CU_ASSERT_EQUAL(cki_key_validate("user:42", 7, NULL), CK_OK);
	CU_ASSERT_EQUAL(cki_key_validate("ns:app:user.1", 13, NULL), CK_OK);
	CU_ASSERT_EQUAL(cki_key_validate("nsapi:app:x", 11, NULL), CK_OK);
	CU_ASSERT_EQUAL(cki_key_validate("a-b_c.d:E", 9, NULL), CK_OK);
}

static void
test_rejects_bad_characters_and_dots(void)
{
	CU_ASSERT_EQUAL(cki_key_validate("a b", 3, NULL), CK_EINVALKEY);
	CU_ASSERT_EQUAL(cki_key_validate("a/b", 3, NULL), CK_EINVALKEY);
	CU_ASSERT_EQUAL(cki_key_validate("a..b", 4, NULL), CK_EINVALKEY);
	CU_ASSERT_EQUAL(cki_key_validate("caf\xc3\xa9", 5, NULL), CK_EINVALKEY);
	CU_ASSERT_EQUAL(cki_key_validate("a\0b", 3, NULL), CK_EINVALKEY);
	CU_ASSERT_EQUAL(cki_key_validate("ns:bad ns:x", 11, NULL), CK_EINVALKEY);
	CU_ASSERT_EQUAL(cki_key_validate("ns:app:", 7, NULL), CK_EINVALKEY);
	CU_ASSERT_EQUAL(cki_key_validate("ns:", 3, NULL), CK_EINVALKEY);
}

static void
test_length_limit_is_400(void)
{
	char key[402];
	memset(key, 'k', sizeof(key));
	CU_ASSERT_EQUAL(cki_key_validate(key, 400, NULL), CK_OK);
	CU_ASSERT_EQUAL(cki_key_validate(key, 401, NULL), CK_EINVALKEY);
}

static void
test_build_prefixes_namespace(void)
{
	char out[512];
	const char *why = NULL;
	CU_ASSERT_EQUAL(cki_key_build("app", 3, "k1", 2, out, sizeof(out), &why), CK_OK);
	CU_ASSERT_STRING_EQUAL(out, "ns:app:k1");
	CU_ASSERT_EQUAL(cki_key_build("", 0, "k1", 2, out, sizeof(out), &why), CK_OK);
	CU_ASSERT_STRING_EQUAL(out, "k1");
	CU_ASSERT_EQUAL(cki_key_build("a/b", 3, "k1", 2, out, sizeof(out), &why), CK_EINVALKEY);
	CU_ASSERT_EQUAL(cki_key_build("app", 3, "", 0, out, sizeof(out), &why), CK_EINVALKEY);
	char longkey[400];
	memset(longkey, 'x', sizeof(longkey));
	/* 400 chars alone is fine, but not once "ns:app:" is added. */
	CU_ASSERT_EQUAL(cki_key_build("app", 3, longkey, 400, out, sizeof(out), &why),
	                CK_EINVALKEY);
}

static void
test_namespace_of_storage_key(void)
{
	char ns[65];
	cki_key_namespace("ns:billing:k", ns, sizeof(ns));
	CU_ASSERT_STRING_EQUAL(ns, "billing");
	cki_key_namespace("nsapi:ext:k", ns, sizeof(ns));
	CU_ASSERT_STRING_EQUAL(ns, "ext");
	cki_key_namespace("plain:key", ns, sizeof(ns));
	CU_ASSERT_STRING_EQUAL(ns, "default");
}

static CU_TestInfo tests[] = {
        {"encoder matches every path-encoding.json row", test_encoder_matches_every_vector_row},
        {"reject rows and server-invalid keys are refused", test_reject_rows_are_invalid_keys},
        {"plain and namespaced keys are accepted", test_accepts_plain_and_namespaced_keys},
        {"bad characters, dots and namespaces are refused", test_rejects_bad_characters_and_dots},
        {"the length limit is 400 characters", test_length_limit_is_400},
        {"build prefixes the namespace", test_build_prefixes_namespace},
        {"namespace of a storage key", test_namespace_of_storage_key},
        CU_TEST_INFO_NULL,
};

CK_UNIT_SUITE("keys", tests)
