/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ck_lock_renew and ck_lock_renew_async against a real agent on the embedded store: the
 * holder renews (the lease it reports follows), a competitor waiting well past the first lease
 * is still refused, a forked child with the inherited handle is refused (CK_EBADHANDLE: only the
 * acquiring process may renew), and a released lock renews nothing. Every wait is a reply.
 */
#include <poll.h>
#include <string.h>

#include "cachekit/async.h"

#define CK_AGENT_CHILD_NAME "ck-renew"
#include "agent_child.h"

typedef struct got {
	int calls;
	ck_err err;
	bool flag;
} got;

static void
on_result(ck_client *c, ck_result *r, void *arg)
{
	got *g = arg;
	(void)c;
	g->calls++;
	g->err = r->err;
	g->flag = r->flag;
}

/* Drives c until nothing is pending (30 s at most), waiting on its fd between turns. */
static void
drive(ck_client *c)
{
	int64_t end = now_ms() + 30000;
	while (ck_client_pending(c) > 0 && now_ms() < end) {
		struct pollfd p = {.fd = ck_client_fd(c), .events = POLLIN};
		(void)poll(&p, 1, 100);
		CU_ASSERT_EQUAL(ck_client_process(c), CK_OK);
	}
	CU_ASSERT_EQUAL(ck_client_pending(c), 0);
}

static void
test_the_holder_renews_and_keeps_the_lock(void)
{
	ck_client *a = open_client(0), *b = open_client(0);
	ck_lock_opts lo = CK_LOCK_OPTS_INIT;
	ck_lock *lock = NULL;
	lo.lease_ms = 1000;
	CU_ASSERT_EQUAL_FATAL(ck_lock_acquire(a, "renew:c", &lo, &lock), CK_OK);
	CU_ASSERT_EQUAL(ck_lock_lease_ms(lock), 1000);
	CU_ASSERT_EQUAL(ck_lock_renew(a, lock, 60000, NULL), CK_OK);
	CU_ASSERT_EQUAL(ck_lock_lease_ms(lock), 60000);

	/* b keeps trying for 2.5 s, well past the first lease: the agent answers CK_EBUSY. */
	ck_lock_opts wait = CK_LOCK_OPTS_INIT;
	ck_lock *other = NULL;
	wait.wait_ms = 2500;
	wait.call.timeout_ms = 30000;
	int64_t t0 = now_ms();
	CU_ASSERT_EQUAL(ck_lock_acquire(b, "renew:c", &wait, &other), CK_EBUSY);
	CU_ASSERT(now_ms() - t0 >= 2500);
	CU_ASSERT_PTR_NULL(other);

	/* 0: the default lease. */
	CU_ASSERT_EQUAL(ck_lock_renew(a, lock, 0, NULL), CK_OK);
	CU_ASSERT_EQUAL(ck_lock_lease_ms(lock), 30000);
	CU_ASSERT_EQUAL(ck_lock_renew(NULL, lock, 0, NULL), CK_EINVAL);
	CU_ASSERT_EQUAL(ck_lock_renew(a, NULL, 0, NULL), CK_EINVAL);

	/* A forked child holds a copy of the handle but is another process: refused. */
	pid_t pid = fork();
	if (pid == 0) {
		ck_client *c = NULL;
		ck_client_opts o = CK_CLIENT_OPTS_INIT;
		o.endpoint = endpoint;
		o.timeout_ms = 10000;
		if (ck_client_open(&c, &o) != CK_OK)
			_exit(100);
		ck_err rv = ck_lock_renew(c, lock, 60000, NULL);
		_exit(rv == CK_EBADHANDLE ? 0 : 101 + (int)rv);
	}
	CU_ASSERT_FATAL(pid > 0);
	int st = 0;
	CU_ASSERT_EQUAL(waitpid(pid, &st, 0), pid);
	CU_ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CU_ASSERT_EQUAL(ck_lock_renew(a, lock, 60000, NULL), CK_OK); /* still ours */

	/* Released: the next holder gets it at once. */
	CU_ASSERT_EQUAL(ck_lock_release(a, lock, NULL), CK_OK);
	CU_ASSERT_EQUAL(ck_lock_acquire(b, "renew:c", NULL, &other), CK_OK);
	CU_ASSERT_EQUAL(ck_lock_release(b, other, NULL), CK_OK);
	ck_client_close(a);
	ck_client_close(b);
}

static void
test_async_renewal(void)
{
	ck_client *a = open_client(0);
	ck_lock_opts lo = CK_LOCK_OPTS_INIT;
	ck_lock *lock = NULL;
	lo.lease_ms = 5000;
	CU_ASSERT_EQUAL_FATAL(ck_lock_acquire(a, "renew:async", &lo, &lock), CK_OK);
	got renewed = {0};
	CU_ASSERT_EQUAL(ck_lock_renew_async(a, lock, 60000, NULL, on_result, &renewed), CK_OK);
	drive(a);
	CU_ASSERT_EQUAL(renewed.calls, 1);
	CU_ASSERT_EQUAL(renewed.err, CK_OK);
	CU_ASSERT_TRUE(renewed.flag);
	ck_lock *none = NULL;
	CU_ASSERT_EQUAL(ck_lock_acquire(a, "renew:async", NULL, &none), CK_EBUSY);

	/* Refused before sending: no callback. */
	got refused = {0};
	CU_ASSERT_EQUAL(ck_lock_renew_async(a, NULL, 0, NULL, on_result, &refused), CK_EINVAL);
	CU_ASSERT_EQUAL(ck_lock_renew_async(a, lock, 0, NULL, NULL, NULL), CK_EINVAL);
	CU_ASSERT_EQUAL(refused.calls, 0);

	/* Renewed short, the lease lapses: a waiting competitor gets the lock (its reply is the
	 * event), and the old handle then renews nothing: CK_EBADHANDLE, the handle still ours. */
	got short_lease = {0};
	CU_ASSERT_EQUAL(ck_lock_renew_async(a, lock, 200, NULL, on_result, &short_lease), CK_OK);
	drive(a);
	CU_ASSERT_EQUAL(short_lease.err, CK_OK);
	ck_client *b = open_client(0);
	ck_lock_opts wait = CK_LOCK_OPTS_INIT;
	ck_lock *next = NULL;
	wait.wait_ms = 20000;
	wait.call.timeout_ms = 30000;
	CU_ASSERT_EQUAL(ck_lock_acquire(b, "renew:async", &wait, &next), CK_OK);
	got gone = {0};
	CU_ASSERT_EQUAL(ck_lock_renew_async(a, lock, 60000, NULL, on_result, &gone), CK_OK);
	drive(a);
	CU_ASSERT_EQUAL(gone.calls, 1);
	CU_ASSERT_EQUAL(gone.err, CK_EBADHANDLE);
	CU_ASSERT_FALSE(gone.flag);
	CU_ASSERT_EQUAL(ck_lock_renew(a, lock, 60000, NULL), CK_EBADHANDLE);
	ck_lock_free(lock);
	CU_ASSERT_EQUAL(ck_lock_release(b, next, NULL), CK_OK);
	ck_client_close(b);
	ck_client_close(a);
}

static CU_TestInfo tests[] = {
        {"the holder renews and keeps the lock; another process cannot",
         test_the_holder_renews_and_keeps_the_lock},
        {"async renewal", test_async_renewal},
        CU_TEST_INFO_NULL,
};

CK_UNIT_SUITE_FULL("lock_renew_c", tests, suite_init, suite_clean)
