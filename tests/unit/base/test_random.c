/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for agent/base/random.c: the CSPRNG draws differ and cover every byte value, the unit
 * draw stays in [0, 1), and cki_uuid_v4 writes a lowercase RFC 4122 version-4 UUID (the one
 * UUID writer: libuuid's text).
 */
#include <ctype.h>
#include <stdbool.h>
#include <string.h>

#include "base/random.h"
#include "cunit_main.h"

static void
test_bytes_differ_and_cover_every_value(void)
{
	unsigned char a[64], b[64];
	CU_ASSERT_EQUAL(cki_random_bytes(a, sizeof a), CK_OK);
	CU_ASSERT_EQUAL(cki_random_bytes(b, sizeof b), CK_OK);
	CU_ASSERT_NOT_EQUAL(memcmp(a, b, sizeof a), 0);
	bool seen[256] = {false};
	size_t distinct = 0;
	for (int round = 0; round < 64 && distinct < 256; round++) {
		unsigned char buf[4096];
		CU_ASSERT_EQUAL_FATAL(cki_random_bytes(buf, sizeof buf), CK_OK);
		for (size_t i = 0; i < sizeof buf; i++)
			if (!seen[buf[i]]) {
				seen[buf[i]] = true;
				distinct++;
			}
	}
	CU_ASSERT_EQUAL(distinct, 256);
	CU_ASSERT_EQUAL(cki_random_bytes(a, 0), CK_OK);
}

static void
test_unit_draw_is_in_range_and_varies(void)
{
	double lo = 1.0, hi = 0.0;
	for (int i = 0; i < 10000; i++) {
		double x = cki_random_unit();
		CU_ASSERT(x >= 0.0 && x < 1.0);
		lo = x < lo ? x : lo;
		hi = x > hi ? x : hi;
	}
	CU_ASSERT(lo < 0.01 && hi > 0.99);
	CU_ASSERT_NOT_EQUAL(cki_random_u64(), cki_random_u64());
}

static void
test_uuid_v4_text(void)
{
	char a[37], b[37];
	CU_ASSERT_EQUAL_FATAL(cki_uuid_v4(a), CK_OK);
	CU_ASSERT_EQUAL_FATAL(cki_uuid_v4(b), CK_OK);
	CU_ASSERT_EQUAL(strlen(a), 36);
	CU_ASSERT_STRING_NOT_EQUAL(a, b);
	for (size_t i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			CU_ASSERT_EQUAL(a[i], '-');
		} else {
			CU_ASSERT(isxdigit((unsigned char)a[i]) && !isupper((unsigned char)a[i]));
		}
	}
	CU_ASSERT_EQUAL(a[14], '4');
	CU_ASSERT_PTR_NOT_NULL(strchr("89ab", a[19]));
}

static CU_TestInfo tests[] = {
        {"random bytes differ and cover every value", test_bytes_differ_and_cover_every_value},
        {"the unit draw is in [0, 1) and varies", test_unit_draw_is_in_range_and_varies},
        {"uuid v4 text is lowercase RFC 4122", test_uuid_v4_text},
        CU_TEST_INFO_NULL};

CK_UNIT_SUITE("random", tests)
