/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the embedded store's lock renewal (renew_lock in
 * agent/store/memory/store_memory_locks.c): the holder's id extends the lease from now, a wrong
 * id or an expired lease renews nothing, and the answer comes from the loop, never inside the
 * call. Time is an injected fake clock, so no test sleeps.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cunit_main.h"
#include "store/memory/store_memory.h"

#define START_MS 1000000u
#define LIMIT    (4u * 1024 * 1024)

struct fake_clock {
	uint64_t now;
};

static uint64_t
fake_now(void *ctx)
{
	return ((struct fake_clock *)ctx)->now;
}

struct result {
	int calls;
	ck_err err;
	bool found;
	char lock_id[64];
	bool has_lock_id;
};

static cki_loop *loop;
static cki_store *st;
static struct fake_clock clk;
static struct result res;

static void
capture(void *arg, const cki_store_reply *r)
{
	struct result *out = arg;

	out->calls++;
	out->err = r->err;
	out->found = r->found;
	out->has_lock_id = r->lock_id != NULL;
	snprintf(out->lock_id, sizeof(out->lock_id), "%s", r->lock_id ? r->lock_id : "");
}

static void
stop_loop(cki_loop *l, void *arg)
{
	(void)arg;
	cki_loop_stop(l);
}

/* The contract: nothing completes inside the call; the loop's next turn delivers it, once. */
static void
settle(void)
{
	CU_ASSERT_EQUAL(res.calls, 0);
	CU_ASSERT_FATAL(cki_loop_timer(loop, 0, stop_loop, NULL) != 0);
	CU_ASSERT_EQUAL(cki_loop_run(loop), CK_OK);
	CU_ASSERT_EQUAL(res.calls, 1);
}

static void
open_store(void)
{
	clk.now = START_MS;
	memset(&res, 0, sizeof(res));
	if (loop == NULL)
		CU_ASSERT_FATAL(cki_loop_new(&loop) == CK_OK);
	CU_ASSERT_FATAL(cki_store_memory_new(&st, loop, LIMIT) == CK_OK);
	cki_store_memory_set_clock(st, fake_now, &clk);
}

static void
close_store(void)
{
	st->ops->destroy(st);
	st = NULL;
}

static struct result *
lock(const char *key, uint32_t lease_ms)
{
	memset(&res, 0, sizeof(res));
	st->ops->lock(st, key, lease_ms, 0, capture, &res);
	settle();
	return &res;
}

static struct result *
renew(const char *key, const char *id, uint32_t lease_ms)
{
	memset(&res, 0, sizeof(res));
	st->ops->renew_lock(st, key, id, lease_ms, 0, capture, &res);
	settle();
	return &res;
}

static struct result *
unlock(const char *key, const char *id)
{
	memset(&res, 0, sizeof(res));
	st->ops->unlock(st, key, id, 0, capture, &res);
	settle();
	return &res;
}

static void
test_the_holder_renews_and_the_lease_ends_later(void)
{
	char id[64];
	open_store();
	snprintf(id, sizeof(id), "%s", lock("k", 1000)->lock_id);
	clk.now += 900;
	struct result *r = renew("k", id, 1000);
	CU_ASSERT_EQUAL(r->err, CK_OK);
	CU_ASSERT_TRUE(r->found);
	/* Past the first lease's end (1000 ms after the grant) the lock is still held... */
	clk.now += 500;
	CU_ASSERT_FALSE(lock("k", 1000)->has_lock_id);
	/* ...until 1000 ms after the renewal, and not a millisecond longer. */
	clk.now += 499;
	CU_ASSERT_FALSE(lock("k", 1000)->has_lock_id);
	clk.now += 1;
	CU_ASSERT_TRUE(lock("k", 1000)->has_lock_id);
	close_store();
}

static void
test_a_renewal_may_shorten_the_lease(void)
{
	char id[64];
	open_store();
	snprintf(id, sizeof(id), "%s", lock("k", 60000)->lock_id);
	CU_ASSERT_TRUE(renew("k", id, 10)->found);
	clk.now += 10;
	CU_ASSERT_TRUE(lock("k", 1000)->has_lock_id);
	close_store();
}

static void
test_a_wrong_id_renews_nothing(void)
{
	char id[64], wrong[64];
	open_store();
	snprintf(id, sizeof(id), "%s", lock("k", 1000)->lock_id);
	snprintf(wrong, sizeof(wrong), "%s", id);
	wrong[0] = wrong[0] == 'a' ? 'b' : 'a';
	struct result *r = renew("k", wrong, 60000);
	CU_ASSERT_EQUAL(r->err, CK_OK);
	CU_ASSERT_FALSE(r->found);
	CU_ASSERT_FALSE(renew("k", "not-a-uuid", 60000)->found);
	CU_ASSERT_FALSE(renew("other", id, 60000)->found); /* the id of another key's lock */
	/* The lease was not extended: it ends at its first 1000 ms. */
	clk.now += 1000;
	CU_ASSERT_TRUE(lock("k", 1000)->has_lock_id);
	close_store();
}

static void
test_an_expired_lease_cannot_be_renewed(void)
{
	char first[64];
	open_store();
	snprintf(first, sizeof(first), "%s", lock("k", 100)->lock_id);
	clk.now += 100;
	struct result *r = renew("k", first, 1000);
	CU_ASSERT_EQUAL(r->err, CK_OK);
	CU_ASSERT_FALSE(r->found);
	/* Nobody holds it now, and once someone does, the old id still renews nothing. */
	CU_ASSERT_TRUE(lock("k", 100)->has_lock_id);
	CU_ASSERT_FALSE(renew("k", first, 1000)->found);
	close_store();
}

static void
test_after_release_the_id_renews_nothing(void)
{
	char id[64];
	open_store();
	snprintf(id, sizeof(id), "%s", lock("k", 1000)->lock_id);
	CU_ASSERT_TRUE(unlock("k", id)->found);
	CU_ASSERT_FALSE(renew("k", id, 1000)->found);
	CU_ASSERT_TRUE(lock("k", 1000)->has_lock_id);
	close_store();
}

static void
test_bad_arguments_are_invalid(void)
{
	char id[64];
	open_store();
	snprintf(id, sizeof(id), "%s", lock("k", 1000)->lock_id);
	CU_ASSERT_EQUAL(renew("k", NULL, 1000)->err, CK_EINVAL);
	CU_ASSERT_EQUAL(renew("k", " ", 1000)->err, CK_EINVAL);
	CU_ASSERT_EQUAL(renew("k", id, 0)->err, CK_EINVAL);
	CU_ASSERT_FALSE(res.found);
	close_store();
}

static CU_TestInfo tests[] = {
        {"the holder renews and the lease ends lease_ms after the renewal",
         test_the_holder_renews_and_the_lease_ends_later},
        {"a renewal may shorten the lease", test_a_renewal_may_shorten_the_lease},
        {"a wrong id renews nothing", test_a_wrong_id_renews_nothing},
        {"an expired lease cannot be renewed", test_an_expired_lease_cannot_be_renewed},
        {"after release the id renews nothing", test_after_release_the_id_renews_nothing},
        {"bad arguments are invalid", test_bad_arguments_are_invalid},
        CU_TEST_INFO_NULL,
};

static int
suite_clean(void)
{
	cki_loop_free(loop);
	loop = NULL;
	return 0;
}

CK_UNIT_SUITE_FULL("store_memory_renew", tests, NULL, suite_clean)
