/* SPDX-License-Identifier: Apache-2.0 */
/* The near cache: hits, expiry bounded by Fresh-For, what is never kept, byte bound, LRU. */
#include <string.h>
#include <unistd.h>

#include "cunit_main.h"
#include "core/l1.h"

static cki_store_reply
found(const char *v, int64_t fresh_for_ms, cki_freshness fr)
{
	cki_store_reply r;
	cki_store_reply_init(&r);
	r.found = true;
	r.value = (const uint8_t *)v;
	r.value_len = strlen(v);
	r.fresh_for_ms = fresh_for_ms;
	r.freshness = fr;
	return r;
}

static void
test_hit_returns_the_stored_bytes(void)
{
	cki_l1 *l1;
	CU_ASSERT_EQUAL_FATAL(cki_l1_new(&l1, 1 << 20, 5000), CK_OK);
	cki_store_reply r = found("value", 60000, CKI_FRESH), out;
	cki_l1_put(l1, "k", &r);
	CU_ASSERT_TRUE(cki_l1_get(l1, "k", &out));
	CU_ASSERT_EQUAL(out.value_len, 5);
	CU_ASSERT(memcmp(out.value, "value", 5) == 0);
	CU_ASSERT_EQUAL(out.freshness, CKI_FRESH);
	CU_ASSERT(out.fresh_for_ms > 59000 && out.fresh_for_ms <= 60000);
	CU_ASSERT_FALSE(cki_l1_get(l1, "other", &out));
	cki_l1_free(l1);
}

static void
test_stale_zero_fresh_for_and_misses_are_not_kept(void)
{
	cki_l1 *l1;
	CU_ASSERT_EQUAL_FATAL(cki_l1_new(&l1, 1 << 20, 5000), CK_OK);
	cki_store_reply stale = found("s", 1000, CKI_STALE), zero = found("z", 0, CKI_FRESH), out;
	cki_store_reply miss;
	cki_store_reply_init(&miss);
	cki_l1_put(l1, "stale", &stale);
	cki_l1_put(l1, "zero", &zero);
	cki_l1_put(l1, "miss", &miss);
	CU_ASSERT_FALSE(cki_l1_get(l1, "stale", &out));
	CU_ASSERT_FALSE(cki_l1_get(l1, "zero", &out));
	CU_ASSERT_FALSE(cki_l1_get(l1, "miss", &out));
	CU_ASSERT_EQUAL(cki_l1_count(l1), 0);
	cki_l1_free(l1);
}

static void
test_copy_lives_at_most_the_shorter_of_ttl_and_fresh_for(void)
{
	cki_l1 *l1;
	CU_ASSERT_EQUAL_FATAL(cki_l1_new(&l1, 1 << 20, 5000), CK_OK);
	/* Fresh-For 1 s < L1 ttl 5 s; 1 s leaves a busy machine time for the first get, and the
	 * sleeps are lower bounds (more time passing changes no outcome). */
	cki_store_reply r = found("v", 1000, CKI_FRESH), out;
	cki_l1_put(l1, "k", &r);
	CU_ASSERT_TRUE(cki_l1_get(l1, "k", &out));
	usleep(1200000);
	CU_ASSERT_FALSE(cki_l1_get(l1, "k", &out));
	cki_l1_free(l1);
	CU_ASSERT_EQUAL_FATAL(cki_l1_new(&l1, 1 << 20, 1000), CK_OK); /* L1 ttl 1 s */
	r = found("v", -1, CKI_FRESH);                                /* no upstream bound */
	cki_l1_put(l1, "k", &r);
	CU_ASSERT_TRUE(cki_l1_get(l1, "k", &out));
	CU_ASSERT_EQUAL(out.fresh_for_ms, -1);
	usleep(1200000);
	CU_ASSERT_FALSE(cki_l1_get(l1, "k", &out));
	cki_l1_free(l1);
}

static void
test_bytes_bound_evicts_least_recently_used(void)
{
	cki_l1 *l1;
	CU_ASSERT_EQUAL_FATAL(cki_l1_new(&l1, 4000, 5000), CK_OK);
	char big[900];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	cki_store_reply r = found(big, -1, CKI_FRESH), out;
	cki_l1_put(l1, "a", &r);
	cki_l1_put(l1, "b", &r);
	cki_l1_put(l1, "c", &r);
	CU_ASSERT_TRUE(cki_l1_get(l1, "a", &out)); /* a is now the most recent */
	cki_l1_put(l1, "d", &r);
	cki_l1_put(l1, "e", &r);
	CU_ASSERT(cki_l1_bytes(l1) <= 4000);
	CU_ASSERT_TRUE(cki_l1_get(l1, "a", &out));
	CU_ASSERT_FALSE(cki_l1_get(l1, "b", &out));
	CU_ASSERT_TRUE(cki_l1_get(l1, "e", &out));
	cki_l1_free(l1);
}

static void
test_forget_and_disabled_cache(void)
{
	cki_l1 *l1;
	CU_ASSERT_EQUAL_FATAL(cki_l1_new(&l1, 1 << 20, 5000), CK_OK);
	cki_store_reply r = found("v", -1, CKI_FRESH), out;
	cki_l1_put(l1, "k", &r);
	cki_l1_forget(l1, "k");
	CU_ASSERT_FALSE(cki_l1_get(l1, "k", &out));
	CU_ASSERT_EQUAL(cki_l1_bytes(l1), 0);
	cki_l1_free(l1);
	CU_ASSERT_EQUAL_FATAL(cki_l1_new(&l1, 0, 5000), CK_OK);
	cki_l1_put(l1, "k", &r);
	CU_ASSERT_FALSE(cki_l1_get(l1, "k", &out));
	cki_l1_free(l1);
}

static CU_TestInfo tests[] = {
        {"a hit returns the stored bytes", test_hit_returns_the_stored_bytes},
        {"stale, zero Fresh-For and misses are not kept",
         test_stale_zero_fresh_for_and_misses_are_not_kept},
        {"a copy lives at most min(ttl, Fresh-For)",
         test_copy_lives_at_most_the_shorter_of_ttl_and_fresh_for},
        {"the byte bound evicts least recently used", test_bytes_bound_evicts_least_recently_used},
        {"forget, and a disabled cache", test_forget_and_disabled_cache},
        CU_TEST_INFO_NULL,
};

CK_UNIT_SUITE("l1", tests)
