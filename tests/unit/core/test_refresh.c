/* SPDX-License-Identifier: Apache-2.0 */
/* The refresh scheduler over the embedded store: refresh-ahead claims (exactly one reader is
 * told, until the claim times out or the key is written), stale hits of unknown keys,
 * forgetting on ttl 0 and delete, the store's fresh-for correction, and sliding TTL touches. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cunit_main.h"
#include "loop_turn.h"
#include "base/log.h"
#include "base/metrics.h"
#include "core/refresh.h"
#include "store/memory/store_memory.h"

static int
suite_init(void)
{
	cki_log_set_level(CKI_LOG_ERROR);
	return 0;
}

static void
sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0) {
	}
}

typedef struct fixture {
	cki_loop *loop;
	cki_store *store;
	cki_refresh *r;
} fixture;

static void
fixture_init(fixture *f, uint32_t ahead_pct, uint32_t claim_ms, size_t max_bytes)
{
	memset(f, 0, sizeof(*f));
	CU_ASSERT_EQUAL_FATAL(cki_loop_new(&f->loop), CK_OK);
	CU_ASSERT_EQUAL_FATAL(cki_store_memory_new(&f->store, f->loop, 1u << 20), CK_OK);
	cki_refresh_opts o = {.ahead_pct = ahead_pct,
	                      .jitter_pct = 0,
	                      .claim_ms = claim_ms,
	                      .max_bytes = max_bytes};
	CU_ASSERT_EQUAL_FATAL(cki_refresh_new(&f->r, f->loop, f->store, &o), CK_OK);
	cki_metrics_reset();
}

static void
fixture_done(fixture *f)
{
	/* The store goes first: destroying it answers what is pending, into the tracker. */
	f->store->ops->destroy(f->store);
	cki_refresh_free(f->r);
	cki_loop_free(f->loop);
}

/* How many of n fresh hits were told to refresh. */
static int
flags_among(fixture *f, const char *key, int n)
{
	int flagged = 0;
	for (int i = 0; i < n; i++)
		flagged += cki_refresh_on_hit(f->r, key, CKI_FRESH, -1, false) ? 1 : 0;
	return flagged;
}

static void
test_hit_before_the_refresh_point_is_not_flagged(void)
{
	fixture f;
	fixture_init(&f, 50, 10000, 0);
	cki_refresh_on_set(f.r, "k", 10, 0, false);
	CU_ASSERT_EQUAL(cki_refresh_count(f.r), 1);
	CU_ASSERT_EQUAL(flags_among(&f, "k", 10), 0);
	CU_ASSERT_EQUAL(cki_metrics_get(CKI_C_REFRESH_DUE), 0);
	fixture_done(&f);
}

static void
test_exactly_one_reader_is_flagged_per_claim(void)
{
	fixture f;
	/* Due 1 s (+/- 10%) into a 100 s window; claims hold 3 s: room for a busy machine. The
	 * sleeps are lower bounds (more time passing changes no outcome below). */
	fixture_init(&f, 1, 3000, 0);
	cki_refresh_on_set(f.r, "k", 100, 0, false);
	sleep_ms(1200);
	CU_ASSERT_EQUAL(flags_among(&f, "k", 20), 1);
	CU_ASSERT_EQUAL(flags_among(&f, "k", 20), 0); /* claim still held */
	sleep_ms(3100);                               /* claim timed out; still fresh */
	CU_ASSERT_EQUAL(flags_among(&f, "k", 20), 1);
	CU_ASSERT_EQUAL(cki_metrics_get(CKI_C_REFRESH_DUE), 2);
	fixture_done(&f);
}

static void
test_a_write_satisfies_the_claim(void)
{
	fixture f;
	fixture_init(&f, 1, 60000, 0); /* a claim that would hold for the whole test */
	cki_refresh_on_set(f.r, "k", 100, 0, false); /* due 1 s (+/- 10%) in */
	sleep_ms(1200);
	CU_ASSERT_EQUAL(flags_among(&f, "k", 5), 1);
	cki_refresh_on_set(f.r, "k", 100, 0, false); /* the flagged reader wrote it */
	CU_ASSERT_EQUAL(flags_among(&f, "k", 5), 0); /* new window: not due for 0.9 s */
	sleep_ms(1200);
	CU_ASSERT_EQUAL(flags_among(&f, "k", 5), 1); /* due again, and the old claim is gone */
	fixture_done(&f);
}

static void
test_stale_hit_of_an_unknown_key_flags_one_reader(void)
{
	fixture f;
	fixture_init(&f, 50, 10000, 0);
	/* Fresh hits of keys this agent never wrote are not tracked. */
	CU_ASSERT_FALSE(cki_refresh_on_hit(f.r, "elsewhere", CKI_FRESH, 5000, false));
	CU_ASSERT_EQUAL(cki_refresh_count(f.r), 0);
	int flagged = 0;
	for (int i = 0; i < 10; i++)
		flagged += cki_refresh_on_hit(f.r, "elsewhere", CKI_STALE, -1, false) ? 1 : 0;
	CU_ASSERT_EQUAL(flagged, 1);
	CU_ASSERT_EQUAL(cki_refresh_count(f.r), 1);
	fixture_done(&f);
}

static void
test_only_stale_hits_are_flagged_when_ahead_is_zero(void)
{
	fixture f;
	fixture_init(&f, 0, 10000, 0);
	cki_refresh_on_set(f.r, "k", 1, 5, false);
	sleep_ms(30);
	CU_ASSERT_EQUAL(flags_among(&f, "k", 5), 0);
	CU_ASSERT_TRUE(cki_refresh_on_hit(f.r, "k", CKI_STALE, -1, false));
	CU_ASSERT_FALSE(cki_refresh_on_hit(f.r, "k", CKI_STALE, -1, false));
	fixture_done(&f);
}

static void
test_store_fresh_for_beats_the_local_estimate(void)
{
	fixture f;
	fixture_init(&f, 50, 10000, 0);
	cki_refresh_on_set(f.r, "k", 100, 0, false);
	CU_ASSERT_FALSE(cki_refresh_on_hit(f.r, "k", CKI_FRESH, 99500, false)); /* agrees */
	/* The store says 10 ms left: someone wrote it ~100 s ago; past the refresh point. */
	CU_ASSERT_TRUE(cki_refresh_on_hit(f.r, "k", CKI_FRESH, 10, false));
	fixture_done(&f);
}

static void
test_ttl_zero_and_delete_forget_the_key(void)
{
	fixture f;
	fixture_init(&f, 1, 10000, 0);
	cki_refresh_on_set(f.r, "a", 1, 0, false);
	cki_refresh_on_set(f.r, "b", 1, 0, false);
	CU_ASSERT_EQUAL(cki_refresh_count(f.r), 2);
	cki_refresh_on_set(f.r, "a", 0, 0, false); /* no expiry now */
	CU_ASSERT_EQUAL(cki_refresh_count(f.r), 1);
	cki_refresh_on_delete(f.r, "b");
	CU_ASSERT_EQUAL(cki_refresh_count(f.r), 0);
	cki_refresh_on_delete(f.r, "never-set"); /* harmless */
	sleep_ms(30);
	CU_ASSERT_EQUAL(flags_among(&f, "a", 3), 0);
	CU_ASSERT_EQUAL(flags_among(&f, "b", 3), 0);
	fixture_done(&f);
}

static void
test_remembered_keys_are_capped(void)
{
	fixture f;
	fixture_init(&f, 50, 10000, 2 * (1 + CKI_REFRESH_KEY_OVERHEAD)); /* two 1-byte keys */
	cki_refresh_on_set(f.r, "a", 10, 0, false);
	cki_refresh_on_set(f.r, "b", 10, 0, false);
	cki_refresh_on_set(f.r, "c", 10, 0, false);
	CU_ASSERT_EQUAL(cki_refresh_count(f.r), 2);
	CU_ASSERT_EQUAL(cki_refresh_bytes(f.r), 2 * (1 + CKI_REFRESH_KEY_OVERHEAD));
	CU_ASSERT_EQUAL(cki_metrics_get(CKI_C_REFRESH_UNTRACKED), 1);
	cki_refresh_on_set(f.r, "a", 20, 0, false); /* known keys still update */
	CU_ASSERT_EQUAL(cki_refresh_count(f.r), 2);
	/* Forgetting one makes room for another. */
	cki_refresh_on_delete(f.r, "b");
	cki_refresh_on_set(f.r, "c", 10, 0, false);
	CU_ASSERT_EQUAL(cki_refresh_count(f.r), 2);
	cki_refresh_on_set(f.r, "a", 0, 0, false); /* no expiry: forgotten */
	cki_refresh_on_delete(f.r, "c");
	CU_ASSERT_EQUAL(cki_refresh_count(f.r), 0);
	CU_ASSERT_EQUAL(cki_refresh_bytes(f.r), 0);
	fixture_done(&f);
}

static void
on_put_done(void *arg, const cki_store_reply *r)
{
	CU_ASSERT_EQUAL(r->err, CK_OK);
	(*(int *)arg)++;
}

/* Keys the store evicts for space leave the tracker too (the store's drop listener), so the
 * tracker never holds more keys than the store. */
static void
test_store_evictions_drop_tracking(void)
{
	fixture f;
	fixture_init(&f, 50, 10000, 0);
	cki_store_on_drop(f.store, cki_refresh_on_drop, f.r);
	static uint8_t value[16 * 1024];
	cki_put_opts po = {.ttl_s = 3600};
	int done = 0;
	char key[32];
	for (int i = 0; i < 200; i++) { /* 3.2 MB through a 1 MiB store */
		snprintf(key, sizeof(key), "k%d", i);
		f.store->ops->put(f.store, key, value, sizeof(value), &po, cki_now_ms() + 30000,
		                  on_put_done, &done);
		cki_refresh_on_set(f.r, key, 3600, 0, false);
	}
	ck_test_turn(f.loop); /* the store's answers */
	CU_ASSERT_EQUAL(done, 200);
	size_t tracked = cki_refresh_count(f.r);
	CU_ASSERT(tracked > 0);
	CU_ASSERT(tracked <= 64); /* at most what 1 MiB holds, not 200 */
	/* Keys k100..k199 (4 bytes) survive: every tracked one is 4 bytes long. */
	CU_ASSERT_EQUAL(cki_refresh_bytes(f.r), tracked * (4 + CKI_REFRESH_KEY_OVERHEAD));
	/* The newest key is still tracked, the oldest is not: a hit on k199 can be due, k0 is
	 * unknown (and a fresh hit on an unknown key never is). */
	CU_ASSERT_FALSE(cki_refresh_on_hit(f.r, "k0", CKI_FRESH, -1, false));
	fixture_done(&f);
}

/* ---- sliding TTL ------------------------------------------------------------------------- */

typedef struct reply_copy {
	int calls;
	ck_err err;
	bool found;
	int64_t ttl_s;
} reply_copy;

static void
on_reply(void *arg, const cki_store_reply *r)
{
	reply_copy *c = arg;
	c->calls++;
	c->err = r->err;
	c->found = r->found;
	c->ttl_s = r->ttl_s;
}

static void
put(fixture *f, const char *key, uint32_t ttl_s)
{
	reply_copy c = {0};
	cki_put_opts po = {.ttl_s = ttl_s};
	f->store->ops->put(f->store, key, (const uint8_t *)"v", 1, &po, cki_now_ms() + 1000,
	                   on_reply, &c);
	ck_test_turn(f->loop);
	CU_ASSERT_EQUAL(c.err, CK_OK);
}

static int64_t
store_ttl(fixture *f, const char *key)
{
	reply_copy c = {0};
	f->store->ops->get_ttl(f->store, key, cki_now_ms() + 1000, on_reply, &c);
	ck_test_turn(f->loop);
	CU_ASSERT_EQUAL(c.calls, 1);
	CU_ASSERT_TRUE(c.found);
	return c.ttl_s;
}

static void
test_sliding_hit_extends_the_ttl_once_per_quarter(void)
{
	fixture f;
	fixture_init(&f, 50, 10000, 0);
	put(&f, "slide", 4);
	put(&f, "slide-ns", 4);
	put(&f, "fixed", 4);
	cki_refresh_on_set(f.r, "slide", 4, 0, true);
	cki_refresh_on_set(f.r, "slide-ns", 4, 0, false);
	cki_refresh_on_set(f.r, "fixed", 4, 0, false);
	/* Right after the write: no touch (less than ttl/4 since the last one). */
	cki_refresh_on_hit(f.r, "slide", CKI_FRESH, -1, false);
	CU_ASSERT_EQUAL(cki_metrics_get(CKI_C_SLIDING_REFRESHES), 0);

	sleep_ms(1050); /* past ttl/4 */
	CU_ASSERT_EQUAL(store_ttl(&f, "slide"), 3);
	CU_ASSERT_FALSE(cki_refresh_on_hit(f.r, "slide", CKI_FRESH, -1, false));
	CU_ASSERT_EQUAL(store_ttl(&f, "slide"), 4); /* extended */
	CU_ASSERT_EQUAL(cki_metrics_get(CKI_C_SLIDING_REFRESHES), 1);
	/* No second touch within the next quarter. */
	for (int i = 0; i < 5; i++)
		cki_refresh_on_hit(f.r, "slide", CKI_FRESH, -1, false);
	CU_ASSERT_EQUAL(cki_metrics_get(CKI_C_SLIDING_REFRESHES), 1);

	/* A sliding namespace slides a key written without the flag. */
	cki_refresh_on_hit(f.r, "slide-ns", CKI_FRESH, -1, true);
	CU_ASSERT_EQUAL(store_ttl(&f, "slide-ns"), 4);
	CU_ASSERT_EQUAL(cki_metrics_get(CKI_C_SLIDING_REFRESHES), 2);
	/* Neither flag: the TTL runs down. */
	cki_refresh_on_hit(f.r, "fixed", CKI_FRESH, -1, false);
	CU_ASSERT_EQUAL(store_ttl(&f, "fixed"), 3);
	/* Stale hits never slide. */
	cki_refresh_on_hit(f.r, "fixed", CKI_STALE, -1, true);
	CU_ASSERT_EQUAL(store_ttl(&f, "fixed"), 3);
	CU_ASSERT_EQUAL(cki_metrics_get(CKI_C_SLIDING_REFRESHES), 2);
	fixture_done(&f);
}

static void
test_sliding_touch_of_a_vanished_key_changes_nothing(void)
{
	fixture f;
	fixture_init(&f, 50, 10000, 0);
	cki_refresh_on_set(f.r, "gone", 4, 0, true); /* never reached the store */
	sleep_ms(1050);
	cki_refresh_on_hit(f.r, "gone", CKI_FRESH, -1, false);
	ck_test_turn(f.loop); /* the store's answer: not found */
	CU_ASSERT_EQUAL(cki_metrics_get(CKI_C_SLIDING_REFRESHES), 0);
	CU_ASSERT_EQUAL(cki_refresh_count(f.r), 1);
	fixture_done(&f);
}

static CU_TestInfo tests[] = {
        {"a hit before the refresh point is not flagged",
         test_hit_before_the_refresh_point_is_not_flagged},
        {"exactly one reader is flagged per claim", test_exactly_one_reader_is_flagged_per_claim},
        {"a write satisfies the claim", test_a_write_satisfies_the_claim},
        {"a stale hit of an unknown key flags one reader",
         test_stale_hit_of_an_unknown_key_flags_one_reader},
        {"only stale hits are flagged when ahead is 0",
         test_only_stale_hits_are_flagged_when_ahead_is_zero},
        {"the store's fresh-for beats the local estimate",
         test_store_fresh_for_beats_the_local_estimate},
        {"ttl 0 and delete forget the key", test_ttl_zero_and_delete_forget_the_key},
        {"remembered keys are capped", test_remembered_keys_are_capped},
        {"store evictions drop tracking", test_store_evictions_drop_tracking},
        {"a sliding hit extends the TTL once per quarter",
         test_sliding_hit_extends_the_ttl_once_per_quarter},
        {"a sliding touch of a vanished key changes nothing",
         test_sliding_touch_of_a_vanished_key_changes_nothing},
        CU_TEST_INFO_NULL,
};

CK_UNIT_SUITE_FULL("refresh", tests, suite_init, NULL)
