/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for stubs/c/near_report.c: when the C stub piggybacks a near-cache report on a
 * request (the first request that finds the counters moved, then every 100 requests or once
 * a second), that it carries deltas and never totals, says nothing when nothing moved, and
 * restarts its baseline when the counters go backwards (a fork emptied the cache).
 */
#include <stdint.h>

#include "cunit_main.h"
#include "near_report.h"

#define SEC INT64_C(1000000000)

static void
test_first_report_then_every_100_requests(void)
{
	cki_near_report r = {0};
	ck_near_stats st = {.misses = 1};
	Cachekit__Agent__V1__NearStats out;

	CU_ASSERT_TRUE(cki_near_report_take(&r, &st, 5 * SEC, &out));
	CU_ASSERT_EQUAL(out.misses, 1);
	CU_ASSERT_EQUAL(out.hits, 0);
	st.hits = 7;
	for (int i = 1; i < 100; i++)
		CU_ASSERT_FALSE(cki_near_report_take(&r, &st, 5 * SEC, &out));
	CU_ASSERT_TRUE(cki_near_report_take(&r, &st, 5 * SEC, &out)); /* the 100th */
	CU_ASSERT_EQUAL(out.hits, 7);
	CU_ASSERT_EQUAL(out.misses, 0); /* a delta: the miss was reported already */
}

static void
test_once_a_second_and_only_when_moved(void)
{
	cki_near_report r = {0};
	ck_near_stats st = {0};
	Cachekit__Agent__V1__NearStats out;

	CU_ASSERT_FALSE(cki_near_report_take(&r, &st, 5 * SEC, &out)); /* nothing moved */
	st.hits = 2;
	st.invalidations = 1;
	CU_ASSERT_TRUE(cki_near_report_take(&r, &st, 5 * SEC, &out));
	st.hits = 5;
	CU_ASSERT_FALSE(cki_near_report_take(&r, &st, 5 * SEC + SEC / 2, &out));
	CU_ASSERT_TRUE(cki_near_report_take(&r, &st, 6 * SEC, &out));
	CU_ASSERT_EQUAL(out.hits, 3);
	CU_ASSERT_EQUAL(out.invalidations, 0);
	CU_ASSERT_FALSE(cki_near_report_take(&r, &st, 60 * SEC, &out)); /* quiet: nothing sent */
}

static void
test_counters_going_back_restart_the_baseline(void)
{
	cki_near_report r = {0};
	ck_near_stats st = {.hits = 50, .misses = 5};
	Cachekit__Agent__V1__NearStats out;

	CU_ASSERT_TRUE(cki_near_report_take(&r, &st, 5 * SEC, &out));
	st = (ck_near_stats){.hits = 2}; /* the child of a fork */
	CU_ASSERT_TRUE(cki_near_report_take(&r, &st, 7 * SEC, &out));
	CU_ASSERT_EQUAL(out.hits, 2);
	CU_ASSERT_EQUAL(out.misses, 0);
}

static CU_TestInfo tests[] = {
        {"first report, then every 100 requests", test_first_report_then_every_100_requests},
        {"once a second, only when something moved", test_once_a_second_and_only_when_moved},
        {"counters going back restart the baseline", test_counters_going_back_restart_the_baseline},
        CU_TEST_INFO_NULL,
};

CK_UNIT_SUITE("near_report", tests)
