/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for agent/store/http/l1_headers.c: the L1 metrics header lines of spec §2.5 (decimal
 * counts, a rate with exactly three decimals rounded half up, "0.000" with no lookups, the
 * l1 / (l1 + l2 + misses) formula, no overflow at the top of uint64), and when they are sent:
 * only with the agent's L1 on or after a stub reported its near cache.
 */
#include <stdint.h>
#include <string.h>

#include "base/metrics.h"
#include "cunit_main.h"
#include "store/http/l1_headers.h"

static void
test_lines_and_rate(void)
{
	cki_l1_header_lines l;

	cki_l1_headers_format(l, 3, 1, 1);
	CU_ASSERT_STRING_EQUAL(l[0], "X-CacheKit-L1-Hits: 3");
	CU_ASSERT_STRING_EQUAL(l[1], "X-CacheKit-L2-Hits: 1");
	CU_ASSERT_STRING_EQUAL(l[2], "X-CacheKit-Misses: 1");
	CU_ASSERT_STRING_EQUAL(l[3], "X-CacheKit-L1-Hit-Rate: 0.600");
	cki_l1_headers_format(l, 1, 1, 1); /* 0.3333 */
	CU_ASSERT_STRING_EQUAL(l[3], "X-CacheKit-L1-Hit-Rate: 0.333");
	cki_l1_headers_format(l, 2, 1, 0); /* 0.6667 rounds up */
	CU_ASSERT_STRING_EQUAL(l[3], "X-CacheKit-L1-Hit-Rate: 0.667");
	cki_l1_headers_format(l, 1, 1999, 0); /* 0.0005 rounds half up */
	CU_ASSERT_STRING_EQUAL(l[3], "X-CacheKit-L1-Hit-Rate: 0.001");
	cki_l1_headers_format(l, 7, 0, 0);
	CU_ASSERT_STRING_EQUAL(l[3], "X-CacheKit-L1-Hit-Rate: 1.000");
	cki_l1_headers_format(l, 0, 0, 0);
	CU_ASSERT_STRING_EQUAL(l[0], "X-CacheKit-L1-Hits: 0");
	CU_ASSERT_STRING_EQUAL(l[3], "X-CacheKit-L1-Hit-Rate: 0.000");
	cki_l1_headers_format(l, 0, 5, 5);
	CU_ASSERT_STRING_EQUAL(l[3], "X-CacheKit-L1-Hit-Rate: 0.000");
}

static void
test_huge_counts_do_not_overflow(void)
{
	cki_l1_header_lines l;

	cki_l1_headers_format(l, UINT64_MAX, UINT64_MAX, UINT64_MAX);
	CU_ASSERT_STRING_EQUAL(l[0], "X-CacheKit-L1-Hits: 18446744073709551615");
	CU_ASSERT_STRING_EQUAL(l[3], "X-CacheKit-L1-Hit-Rate: 0.333");
	CU_ASSERT(strlen(l[0]) < CKI_L1_HEADER_CAP);
}

static void
test_sent_only_when_figures_exist(void)
{
	cki_l1_header_lines l;

	cki_metrics_reset();
	CU_ASSERT_EQUAL(cki_l1_headers_current(l, false), 0);
	CU_ASSERT_EQUAL(cki_l1_headers_current(l, true), CKI_L1_HEADER_LINES);
	CU_ASSERT_STRING_EQUAL(l[3], "X-CacheKit-L1-Hit-Rate: 0.000");
	/* A stub's report turns them on; agent L1 hits and stub hits add up. */
	cki_metrics_add(CKI_C_NEAR_REPORTS, 1);
	cki_metrics_add(CKI_C_NEAR_HITS, 4);
	cki_metrics_add(CKI_C_L1_HITS, 2);
	cki_l1_headers_count_get(true);
	cki_l1_headers_count_get(false);
	cki_l1_headers_count_get(false);
	CU_ASSERT_EQUAL(cki_l1_headers_current(l, false), CKI_L1_HEADER_LINES);
	CU_ASSERT_STRING_EQUAL(l[0], "X-CacheKit-L1-Hits: 6");
	CU_ASSERT_STRING_EQUAL(l[1], "X-CacheKit-L2-Hits: 1");
	CU_ASSERT_STRING_EQUAL(l[2], "X-CacheKit-Misses: 2");
	CU_ASSERT_STRING_EQUAL(l[3], "X-CacheKit-L1-Hit-Rate: 0.667");
	/* Saturating: a peer's huge report stops at the top, never wraps. */
	cki_metrics_add_sat(CKI_C_NEAR_HITS, UINT64_MAX);
	CU_ASSERT_EQUAL(cki_metrics_get(CKI_C_NEAR_HITS), UINT64_MAX);
	CU_ASSERT_EQUAL(cki_l1_headers_current(l, false), CKI_L1_HEADER_LINES);
	CU_ASSERT_STRING_EQUAL(l[0], "X-CacheKit-L1-Hits: 18446744073709551615");
	cki_metrics_reset();
}

static CU_TestInfo tests[] = {
        {"lines and the three-decimal rate", test_lines_and_rate},
        {"huge counts do not overflow", test_huge_counts_do_not_overflow},
        {"sent only when near-cache figures exist", test_sent_only_when_figures_exist},
        CU_TEST_INFO_NULL,
};

CK_UNIT_SUITE("l1_headers", tests)
