/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The asynchronous forms of every single-key and agent operation beyond get/set/delete
 * (exists, get_ttl, refresh_ttl, lock acquire/release, health, stats, mget, mset) against a
 * real agent,
 * driven by hand through ck_client_fd() and poll() as an epoll program would: each result
 * matches what the blocking call gives, a contested lock waits its wait_ms and reports
 * CK_EBUSY, and with the agent stopped every request completes CK_ETIMEDOUT at its own
 * deadline, its late reply dropped.
 */
#include <poll.h>
#include <string.h>

#include "cachekit/async.h"

#define CK_AGENT_CHILD_NAME "ck-asyncops"
#include "agent_child.h"

typedef struct got {
	int calls;
	ck_err err;
	bool flag;
	int64_t ttl_s;
	int64_t at_ms; /* when the callback ran */
	ck_lock *lock;
	ck_health *health;
	ck_stats *stats;
	ck_value *value;
} got;

static void
on_result(ck_client *c, ck_result *r, void *arg)
{
	got *g = arg;
	(void)c;
	g->calls++;
	g->err = r->err;
	g->flag = r->flag;
	g->ttl_s = r->ttl_s;
	g->at_ms = now_ms();
	g->lock = r->lock;
	g->health = r->health;
	g->stats = r->stats;
	g->value = r->value;
}

static void
got_clear(got *g)
{
	ck_lock_free(g->lock);
	ck_health_free(g->health);
	ck_stats_free(g->stats);
	ck_value_free(g->value);
	memset(g, 0, sizeof(*g));
}

/* Drives c until nothing is pending (30 s at most), waiting on its fd between turns. */
static void
drive(ck_client *c)
{
	int fd = ck_client_fd(c);
	CU_ASSERT_FATAL(fd >= 0);
	for (int64_t end = now_ms() + 30000; ck_client_pending(c) > 0 && now_ms() < end;) {
		int wait = ck_client_timeout_ms(c);
		struct pollfd p = {.fd = fd, .events = POLLIN};
		(void)poll(&p, 1, wait < 0 || wait > 50 ? 50 : wait);
		CU_ASSERT_EQUAL(ck_client_process(c), CK_OK);
	}
	CU_ASSERT_EQUAL(ck_client_pending(c), 0);
}

static void
test_every_operation_completes_with_the_blocking_result(void)
{
	ck_client *c = open_client(0);
	ck_set_opts so = CK_SET_OPTS_INIT;
	so.ttl_s = 60;
	CU_ASSERT_EQUAL_FATAL(ck_set(c, "ops:k", "v", 1, &so), CK_OK);
	got ex = {0}, none = {0}, ttl = {0}, ttl_none = {0}, ref = {0}, ref_none = {0};
	got health = {0}, stats = {0};
	CU_ASSERT_EQUAL(ck_exists_async(c, "ops:k", NULL, on_result, &ex), CK_OK);
	CU_ASSERT_EQUAL(ck_exists_async(c, "ops:none", NULL, on_result, &none), CK_OK);
	CU_ASSERT_EQUAL(ck_get_ttl_async(c, "ops:k", NULL, on_result, &ttl), CK_OK);
	CU_ASSERT_EQUAL(ck_get_ttl_async(c, "ops:none", NULL, on_result, &ttl_none), CK_OK);
	CU_ASSERT_EQUAL(ck_refresh_ttl_async(c, "ops:k", 600, NULL, on_result, &ref), CK_OK);
	CU_ASSERT_EQUAL(ck_refresh_ttl_async(c, "ops:none", 600, NULL, on_result, &ref_none),
	                CK_OK);
	CU_ASSERT_EQUAL(ck_health_check_async(c, NULL, on_result, &health), CK_OK);
	CU_ASSERT_EQUAL(ck_stats_get_async(c, NULL, on_result, &stats), CK_OK);
	CU_ASSERT_EQUAL(ck_client_pending(c), 8);
	CU_ASSERT_EQUAL(ex.calls, 0); /* never inside the submit call */
	drive(c);

	CU_ASSERT_EQUAL(ex.calls, 1);
	CU_ASSERT_EQUAL(ex.err, CK_OK);
	CU_ASSERT_TRUE(ex.flag);
	CU_ASSERT_EQUAL(none.err, CK_OK);
	CU_ASSERT_FALSE(none.flag);
	CU_ASSERT_EQUAL(ttl.err, CK_OK);
	CU_ASSERT(ttl.ttl_s > 0 && ttl.ttl_s <= 60);
	CU_ASSERT_EQUAL(ttl_none.err, CK_ENOTFOUND);
	CU_ASSERT_EQUAL(ref.err, CK_OK);
	CU_ASSERT_TRUE(ref.flag);
	CU_ASSERT_EQUAL(ref_none.err, CK_OK);
	CU_ASSERT_FALSE(ref_none.flag);
	CU_ASSERT_EQUAL(health.err, CK_OK);
	CU_ASSERT_PTR_NOT_NULL_FATAL(health.health);
	CU_ASSERT_TRUE(health.health->healthy);
	CU_ASSERT_STRING_EQUAL(health.health->backend_type, "memory");
	CU_ASSERT_EQUAL(stats.err, CK_OK);
	CU_ASSERT_PTR_NOT_NULL_FATAL(stats.stats);
	CU_ASSERT(stats.stats->count > 0);

	/* The refresh happened: the blocking call now sees the new window. */
	int64_t after = 0;
	CU_ASSERT_EQUAL(ck_get_ttl(c, "ops:k", NULL, &after), CK_OK);
	CU_ASSERT(after > 60 && after <= 600);

	/* Argument checks refuse before anything is sent; the callback never runs. */
	got refused = {0};
	CU_ASSERT_EQUAL(ck_refresh_ttl_async(c, "ops:k", 0, NULL, on_result, &refused), CK_EINVAL);
	CU_ASSERT_EQUAL(ck_exists_async(c, NULL, NULL, on_result, &refused), CK_EINVAL);
	CU_ASSERT_EQUAL(ck_health_check_async(c, NULL, NULL, NULL), CK_EINVAL);
	CU_ASSERT_EQUAL(ck_client_pending(c), 0);
	CU_ASSERT_EQUAL(refused.calls, 0);
	got_clear(&health);
	got_clear(&stats);
	ck_client_close(c);
}

static void
test_locks_acquire_contend_and_release(void)
{
	ck_client *a = open_client(0), *b = open_client(0);
	ck_lock_opts lo = CK_LOCK_OPTS_INIT;
	lo.lease_ms = 30000;
	got first = {0};
	CU_ASSERT_EQUAL(ck_lock_acquire_async(a, "ops:lock", &lo, on_result, &first), CK_OK);
	drive(a);
	CU_ASSERT_EQUAL(first.err, CK_OK);
	CU_ASSERT_TRUE(first.flag);
	CU_ASSERT_PTR_NOT_NULL_FATAL(first.lock);
	CU_ASSERT(ck_lock_lease_ms(first.lock) > 0);

	/* Another client waits its wait_ms for the held lock, then gets CK_EBUSY. */
	got second = {0};
	ck_lock_opts wait = CK_LOCK_OPTS_INIT;
	wait.wait_ms = 300;
	wait.call.timeout_ms = 10000;
	int64_t t0 = now_ms();
	CU_ASSERT_EQUAL(ck_lock_acquire_async(b, "ops:lock", &wait, on_result, &second), CK_OK);
	drive(b);
	CU_ASSERT_EQUAL(second.err, CK_EBUSY);
	CU_ASSERT_PTR_NULL(second.lock);
	CU_ASSERT(second.at_ms - t0 >= 300);

	/* Released through the async call (the handle is freed by it), then free for b. */
	got released = {0};
	CU_ASSERT_EQUAL(ck_lock_release_async(a, first.lock, NULL, on_result, &released), CK_OK);
	first.lock = NULL;
	drive(a);
	CU_ASSERT_EQUAL(released.err, CK_OK);
	got third = {0};
	CU_ASSERT_EQUAL(ck_lock_acquire_async(b, "ops:lock", NULL, on_result, &third), CK_OK);
	drive(b);
	CU_ASSERT_EQUAL(third.err, CK_OK);
	CU_ASSERT_PTR_NOT_NULL(third.lock);
	CU_ASSERT_EQUAL(ck_lock_release(b, third.lock, NULL), CK_OK);
	third.lock = NULL;
	CU_ASSERT_EQUAL(ck_lock_release_async(b, NULL, NULL, on_result, &third), CK_EINVAL);
	ck_client_close(a);
	ck_client_close(b);
}

static void
test_each_request_times_out_at_its_own_deadline(void)
{
	enum { N = 9 };
	ck_client *c = open_client(0);
	got g[N];
	memset(g, 0, sizeof(g));
	ck_call_opts co[N];
	for (int i = 0; i < N; i++) {
		ck_call_opts init = CK_CALL_OPTS_INIT;
		co[i] = init;
		co[i].timeout_ms = 100 + 50 * (uint32_t)i;
	}
	ck_lock_opts lo = CK_LOCK_OPTS_INIT;
	lo.call = co[3];
	ck_lock *stale = NULL;
	CU_ASSERT_EQUAL_FATAL(ck_lock_acquire(c, "ops:stale", NULL, &stale), CK_OK);
	kill(agent_pid, SIGSTOP);
	int64_t t0 = now_ms();
	CU_ASSERT_EQUAL(ck_exists_async(c, "ops:k", &co[0], on_result, &g[0]), CK_OK);
	CU_ASSERT_EQUAL(ck_get_ttl_async(c, "ops:k", &co[1], on_result, &g[1]), CK_OK);
	CU_ASSERT_EQUAL(ck_refresh_ttl_async(c, "ops:k", 5, &co[2], on_result, &g[2]), CK_OK);
	CU_ASSERT_EQUAL(ck_lock_acquire_async(c, "ops:t", &lo, on_result, &g[3]), CK_OK);
	CU_ASSERT_EQUAL(ck_lock_release_async(c, stale, &co[4], on_result, &g[4]), CK_OK);
	CU_ASSERT_EQUAL(ck_health_check_async(c, &co[5], on_result, &g[5]), CK_OK);
	CU_ASSERT_EQUAL(ck_stats_get_async(c, &co[6], on_result, &g[6]), CK_OK);
	const char *keys[2] = {"ops:k", "ops:none"};
	ck_value *values[2] = {(ck_value *)&g[0], NULL}; /* overwritten: NULL on failure */
	ck_err errs[2] = {CK_OK, CK_OK}, set_errs[1] = {CK_OK};
	ck_get_opts go = CK_GET_OPTS_INIT;
	go.call = co[7];
	CU_ASSERT_EQUAL(ck_mget_async(c, keys, 2, &go, values, errs, on_result, &g[7]), CK_OK);
	ck_mset_item item = {"ops:m", "x", 1};
	ck_set_opts so = CK_SET_OPTS_INIT;
	so.call = co[8];
	CU_ASSERT_EQUAL(ck_mset_async(c, &item, 1, &so, set_errs, on_result, &g[8]), CK_OK);
	drive(c);
	CU_ASSERT_PTR_NULL(values[0]);
	CU_ASSERT_PTR_NULL(values[1]);
	CU_ASSERT_EQUAL(errs[0], CK_ETIMEDOUT);
	CU_ASSERT_EQUAL(errs[1], CK_ETIMEDOUT);
	CU_ASSERT_EQUAL(set_errs[0], CK_ETIMEDOUT);
	kill(agent_pid, SIGCONT);
	for (int i = 0; i < N; i++) {
		CU_ASSERT_EQUAL(g[i].calls, 1);
		CU_ASSERT_EQUAL(g[i].err, CK_ETIMEDOUT);
		CU_ASSERT(g[i].at_ms - t0 >= (int64_t)co[i].timeout_ms);
		if (i > 0)
			CU_ASSERT(g[i].at_ms >= g[i - 1].at_ms); /* in deadline order */
	}
	/* The agent now answers all nine late; only the new request's callback runs. */
	got fresh = {0};
	CU_ASSERT_EQUAL(ck_health_check_async(c, NULL, on_result, &fresh), CK_OK);
	drive(c);
	CU_ASSERT_EQUAL(fresh.calls, 1);
	CU_ASSERT_EQUAL(fresh.err, CK_OK);
	for (int i = 0; i < N; i++)
		CU_ASSERT_EQUAL(g[i].calls, 1);
	got_clear(&fresh);
	ck_client_close(c);
}

static void
test_batches_fill_the_callers_arrays(void)
{
	ck_client *c = open_client(1 << 20);
	ck_mset_item items[3] = {{"ops:b0", "zero", 4}, {"ops:b1", "one", 3}, {"", "bad", 3}};
	ck_err set_errs[3] = {CK_EINTERNAL, CK_EINTERNAL, CK_EINTERNAL};
	got sg = {0};
	CU_ASSERT_EQUAL(ck_mset_async(c, items, 3, NULL, set_errs, on_result, &sg), CK_OK);
	CU_ASSERT_EQUAL(set_errs[0], CK_EINTERNAL); /* untouched until the callback */
	drive(c);
	CU_ASSERT_EQUAL(sg.calls, 1);
	CU_ASSERT_EQUAL(sg.err, CK_OK);
	CU_ASSERT_EQUAL(set_errs[0], CK_OK);
	CU_ASSERT_EQUAL(set_errs[1], CK_OK);
	CU_ASSERT_EQUAL(set_errs[2], CK_EINVALKEY);

	const char *keys[3] = {"ops:b1", "ops:missing", "ops:b0"};
	ck_value *values[3] = {NULL, NULL, NULL};
	ck_err errs[3] = {CK_EINTERNAL, CK_EINTERNAL, CK_EINTERNAL};
	got mg = {0};
	CU_ASSERT_EQUAL(ck_mget_async(c, keys, 3, NULL, values, errs, on_result, &mg), CK_OK);
	drive(c);
	CU_ASSERT_EQUAL(mg.calls, 1);
	CU_ASSERT_EQUAL(mg.err, CK_OK);
	CU_ASSERT_EQUAL(errs[0], CK_OK);
	CU_ASSERT_EQUAL(errs[1], CK_ENOTFOUND);
	CU_ASSERT_EQUAL(errs[2], CK_OK);
	CU_ASSERT(values[0] != NULL && values[0]->len == 3 &&
	          memcmp(values[0]->data, "one", 3) == 0);
	CU_ASSERT_PTR_NULL(values[1]);
	CU_ASSERT(values[2] != NULL && values[2]->len == 4 &&
	          memcmp(values[2]->data, "zero", 4) == 0);
	for (int i = 0; i < 3; i++)
		ck_value_free(values[i]);

	/* Refused before sending: no callback. */
	CU_ASSERT_EQUAL(ck_mget_async(c, keys, 0, NULL, values, errs, on_result, &mg), CK_EINVAL);
	CU_ASSERT_EQUAL(ck_mset_async(c, items, 1, NULL, NULL, on_result, &sg), CK_EINVAL);
	CU_ASSERT_EQUAL(ck_client_pending(c), 0);
	/* Close runs a pending batch's callback with CK_ESHUTDOWN in every item. */
	got closed = {0};
	CU_ASSERT_EQUAL(ck_mget_async(c, keys, 3, NULL, values, errs, on_result, &closed), CK_OK);
	ck_client_close(c);
	CU_ASSERT_EQUAL(closed.calls, 1);
	CU_ASSERT_EQUAL(closed.err, CK_ESHUTDOWN);
	for (int i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(errs[i], CK_ESHUTDOWN);
		CU_ASSERT_PTR_NULL(values[i]);
	}
}

static CU_TestInfo tests[] = {
        {"every operation completes with the blocking result",
         test_every_operation_completes_with_the_blocking_result},
        {"locks: acquire, contend and release", test_locks_acquire_contend_and_release},
        {"batches fill the caller's arrays", test_batches_fill_the_callers_arrays},
        {"each request times out at its own deadline",
         test_each_request_times_out_at_its_own_deadline},
        CU_TEST_INFO_NULL,
};

CK_UNIT_SUITE_FULL("async_ops", tests, suite_init, suite_clean)
