/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the shared key rule (common/keys.c): its written-out character tests match
 * the table's charsets (common/ck_limits.h) for every byte, the check-only form of
 * ck_key_build gives the same verdict as the building form, and the namespace changes which
 * keys pass (a reserved word is fine inside a namespace; the 400-character cap counts it).
 * The rule's cases against the API's are in tests/unit/base/test_keys.c.
 */
#include <stdio.h>
#include <string.h>

#include "cunit_main.h"
#include "ck_keys.h"
#include "ck_limits.h"

int ck_keys_char_ok_(int ns, unsigned char c); /* common/keys.c, for this test */

#define CHARSET_(name, chars) static const char CK_##name[] __attribute__((unused)) = chars;
CK_CHARSETS_MAP(CHARSET_)
#undef CHARSET_

static void
test_character_tests_match_the_table(void)
{
	int key_bad = 0, ns_bad = 0;

	for (int c = 0; c < 256; c++) {
		key_bad += !ck_keys_char_ok_(0, (unsigned char)c) !=
		           !ck_charset_has(CK_KEY_CHARSET, (unsigned char)c);
		ns_bad += !ck_keys_char_ok_(1, (unsigned char)c) !=
		          !ck_charset_has(CK_NAMESPACE_CHARSET, (unsigned char)c);
	}
	CU_ASSERT_EQUAL(key_bad, 0);
	CU_ASSERT_EQUAL(ns_bad, 0);
	CU_ASSERT_TRUE(ck_charset_has("a-z_-", '-')); /* a trailing '-' is itself */
	CU_ASSERT_TRUE(ck_charset_has("a-z_-", 'q'));
	CU_ASSERT_FALSE(ck_charset_has("a-z_-", 'A'));
}

static ck_err
check(const char *ns, const char *key)
{
	char out[CK_KEY_MAX + 1];
	const char *why1 = NULL, *why2 = NULL;
	ck_err a = ck_key_build(ns, strlen(ns), key, strlen(key), NULL, 0, &why1);
	ck_err b = ck_key_build(ns, strlen(ns), key, strlen(key), out, sizeof(out), &why2);

	CU_ASSERT_EQUAL(a, b);
	if (a != CK_OK)
		CU_ASSERT(why1 != NULL && why2 != NULL && strcmp(why1, why2) == 0);
	return a;
}

static void
test_the_namespace_is_part_of_the_key(void)
{
	char long_key[CK_KEY_MAX + 2];

	CU_ASSERT_EQUAL(check("", "health"), CK_EINVALKEY);
	CU_ASSERT_EQUAL(check("team", "health"), CK_OK);
	CU_ASSERT_EQUAL(check("", "a..b"), CK_EINVALKEY);
	CU_ASSERT_EQUAL(check("team", ""), CK_EINVALKEY);
	CU_ASSERT_EQUAL(check("bad ns", "k"), CK_EINVALKEY);
	CU_ASSERT_EQUAL(check("", "ns:team:"), CK_EINVALKEY);
	memset(long_key, 'k', sizeof(long_key));
	long_key[CK_KEY_MAX] = '\0';
	CU_ASSERT_EQUAL(check("", long_key), CK_OK);
	long_key[CK_KEY_MAX - 8] = '\0'; /* "ns:team:" is 8 more */
	CU_ASSERT_EQUAL(check("team", long_key), CK_OK);
	long_key[CK_KEY_MAX - 8] = 'k';
	long_key[CK_KEY_MAX - 7] = '\0';
	CU_ASSERT_EQUAL(check("team", long_key), CK_EINVALKEY);
}

static CU_TestInfo tests[] = {
        {"character tests match the table", test_character_tests_match_the_table},
        {"the namespace is part of the key", test_the_namespace_is_part_of_the_key},
        CU_TEST_INFO_NULL,
};

CK_UNIT_SUITE("keys_common", tests)
