/* SPDX-License-Identifier: Apache-2.0 */
/* The error table: stable numbers, names and messages from one X-macro list. */
#include <string.h>

#include "cachekit/errors.h"
#include "cunit_main.h"

static void
test_numbers_are_stable(void)
{
	CU_ASSERT_EQUAL(CK_OK, 0);
	CU_ASSERT_EQUAL(CK_EINVALKEY, 2);
	CU_ASSERT_EQUAL(CK_ETIMEDOUT, 4);
	CU_ASSERT_EQUAL(CK_ENOTFOUND, 14);
	CU_ASSERT_EQUAL(CK_EOVERLOAD, 27);
}

static void
test_every_code_has_name_and_message(void)
{
	int seen = 0;
#define CHECK_(name, num, msg)                                \
	CU_ASSERT_STRING_EQUAL(ck_strerror(num), msg);        \
	CU_ASSERT_STRING_EQUAL(ck_errname(num), "CK_" #name); \
	seen++;
	CK_ERRNO_MAP(CHECK_)
#undef CHECK_
	CU_ASSERT(seen >= 28);
}

static void
test_unknown_code_is_reported_as_unknown(void)
{
	CU_ASSERT_STRING_EQUAL(ck_strerror(9999), "unknown error");
	CU_ASSERT_STRING_EQUAL(ck_strerror(-1), "unknown error");
	CU_ASSERT_PTR_NULL(ck_errname(9999));
}

static CU_TestInfo tests[] = {
        {"numbers are stable", test_numbers_are_stable},
        {"every code has a name and a message", test_every_code_has_name_and_message},
        {"an unknown code is reported as unknown", test_unknown_code_is_reported_as_unknown},
        CU_TEST_INFO_NULL,
};

CK_UNIT_SUITE("errors", tests)
