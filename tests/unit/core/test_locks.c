/* SPDX-License-Identifier: Apache-2.0 */
/* The lease table over the embedded store: acquire, contention, waiting, release rules,
 * lease expiry, release when the holder process dies (pidfd), and shutdown. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cunit_main.h"
#include "loop_turn.h"
#include "core/locks.h"
#include "base/log.h"
#include "base/metrics.h"
#include "store/memory/store_memory.h"

static int
suite_init(void)
{
	cki_log_set_level(CKI_LOG_ERROR);
	return 0;
}

/* One lock callback's outcome. */
typedef struct outcome {
	int calls;
	ck_err err;
	bool acquired;
	uint8_t handle[CKI_LOCK_HANDLE_LEN];
	int64_t lease_ms;
	cki_loop *stop_loop; /* stop this loop when called */
} outcome;

static void
on_lock(void *arg, const cki_lock_result *r)
{
	outcome *o = arg;
	o->calls++;
	o->err = r->err;
	o->acquired = r->acquired;
	o->lease_ms = r->lease_ms;
	if (r->acquired)
		memcpy(o->handle, r->handle, sizeof(o->handle));
	if (o->stop_loop)
		cki_loop_stop(o->stop_loop);
}

typedef struct fixture {
	cki_loop *loop;
	cki_store *store;
	cki_locks *locks;
	cki_peer me;
} fixture;

static void
fixture_init(fixture *f)
{
	memset(f, 0, sizeof(*f));
	CU_ASSERT_EQUAL_FATAL(cki_loop_new(&f->loop), CK_OK);
	CU_ASSERT_EQUAL_FATAL(cki_store_memory_new(&f->store, f->loop, 1u << 20), CK_OK);
	CU_ASSERT_EQUAL_FATAL(cki_locks_new(&f->locks, f->loop, f->store), CK_OK);
	f->me = (cki_peer){.known = true, .uid = getuid(), .gid = getgid(), .pid = getpid()};
	cki_metrics_reset();
}

static void
fixture_done(fixture *f)
{
	cki_locks_shutdown(f->locks);
	f->store->ops->destroy(f->store);
	cki_locks_free(f->locks);
	cki_loop_free(f->loop);
}

static void
on_stop(cki_loop *loop, void *arg)
{
	cki_loop_stop(loop);
}

/* Runs the loop for ms milliseconds. */
static void
run_for(fixture *f, uint64_t ms)
{
	CU_ASSERT_NOT_EQUAL(cki_loop_timer(f->loop, ms, on_stop, NULL), 0);
	CU_ASSERT_EQUAL(cki_loop_run(f->loop), CK_OK);
}

/* Runs the loop until at most `target` leases are held (checked every 10 ms), at most 3 s. */
typedef struct until_count {
	fixture *f;
	size_t target;
	uint64_t give_up;
} until_count;

static void
check_count(cki_loop *loop, void *arg)
{
	until_count *u = arg;
	if (cki_locks_count(u->f->locks) <= u->target || cki_now_ms() >= u->give_up)
		cki_loop_stop(loop);
	else
		CU_ASSERT_NOT_EQUAL(cki_loop_timer(loop, 10, check_count, u), 0);
}

static void
run_until_leases(fixture *f, size_t target)
{
	until_count u = {f, target, cki_now_ms() + 3000};
	CU_ASSERT_NOT_EQUAL(cki_loop_timer(f->loop, 10, check_count, &u), 0);
	CU_ASSERT_EQUAL(cki_loop_run(f->loop), CK_OK);
}

static void
acquire(fixture *f, const char *key, uint32_t lease_ms, uint32_t wait_ms, const cki_peer *who,
        outcome *o)
{
	cki_locks_acquire(f->locks, key, lease_ms, wait_ms, cki_now_ms() + 5000, who, on_lock, o);
	ck_test_turn(f->loop); /* the store's first answer */
}

static void
test_uncontested_acquire_grants_a_lease(void)
{
	fixture f;
	fixture_init(&f);
	outcome a = {0};
	acquire(&f, "lock:a", 5000, 0, &f.me, &a);
	CU_ASSERT_EQUAL(a.calls, 1);
	CU_ASSERT_EQUAL(a.err, CK_OK);
	CU_ASSERT_TRUE(a.acquired);
	CU_ASSERT_EQUAL(a.lease_ms, 5000);
	static const uint8_t zero[CKI_LOCK_HANDLE_LEN];
	CU_ASSERT_NOT_EQUAL(memcmp(a.handle, zero, sizeof(zero)), 0);
	CU_ASSERT_EQUAL(cki_locks_count(f.locks), 1);
	CU_ASSERT_EQUAL(cki_metrics_get(CKI_C_LOCKS_ACQUIRED), 1);
	/* lease 0 means the default; another key is independent. */
	outcome b = {0};
	acquire(&f, "lock:b", 0, 0, &f.me, &b);
	CU_ASSERT_TRUE(b.acquired);
	CU_ASSERT_EQUAL(b.lease_ms, CKI_LOCK_DEFAULT_LEASE_MS);
	CU_ASSERT_NOT_EQUAL(memcmp(a.handle, b.handle, sizeof(a.handle)), 0);
	CU_ASSERT_EQUAL(cki_locks_count(f.locks), 2);
	fixture_done(&f);
}

static void
test_contested_acquire_without_wait_is_refused(void)
{
	fixture f;
	fixture_init(&f);
	outcome a = {0}, b = {0};
	acquire(&f, "lock:c", 5000, 0, &f.me, &a);
	acquire(&f, "lock:c", 5000, 0, &f.me, &b);
	CU_ASSERT_TRUE(a.acquired);
	CU_ASSERT_EQUAL(b.calls, 1);
	CU_ASSERT_EQUAL(b.err, CK_OK);
	CU_ASSERT_FALSE(b.acquired);
	CU_ASSERT_EQUAL(cki_locks_count(f.locks), 1);
	CU_ASSERT_EQUAL(cki_metrics_get(CKI_C_LOCKS_CONTESTED), 1);
	fixture_done(&f);
}

typedef struct releaser {
	fixture *f;
	outcome *holder;
	outcome released;
} releaser;

static void
release_now(cki_loop *loop, void *arg)
{
	releaser *r = arg;
	cki_locks_release(r->f->locks, r->holder->handle, CKI_LOCK_HANDLE_LEN, &r->f->me,
	                  cki_now_ms() + 1000, on_lock, &r->released);
}

static void
test_waiting_acquire_gets_the_lock_once_free(void)
{
	fixture f;
	fixture_init(&f);
	outcome a = {0}, b = {.stop_loop = f.loop};
	acquire(&f, "lock:w", 10000, 0, &f.me, &a);
	CU_ASSERT_TRUE_FATAL(a.acquired);
	acquire(&f, "lock:w", 10000, 3000, &f.me, &b);
	CU_ASSERT_EQUAL(b.calls, 0); /* parked, polling */
	CU_ASSERT_EQUAL(cki_locks_busy(f.locks), 1);
	releaser r = {&f, &a, {0}};
	CU_ASSERT_NOT_EQUAL(cki_loop_timer(f.loop, 120, release_now, &r), 0);
	cki_timer_id guard = cki_loop_timer(f.loop, 4000, on_stop, NULL);
	CU_ASSERT_EQUAL(cki_loop_run(f.loop), CK_OK);
	cki_loop_timer_cancel(f.loop, guard);
	CU_ASSERT_EQUAL(r.released.calls, 1);
	CU_ASSERT_EQUAL(r.released.err, CK_OK);
	CU_ASSERT_EQUAL(b.calls, 1);
	CU_ASSERT_EQUAL(b.err, CK_OK);
	CU_ASSERT_TRUE(b.acquired);
	CU_ASSERT_EQUAL(cki_locks_count(f.locks), 1);
	CU_ASSERT_EQUAL(cki_locks_busy(f.locks), 0);
	fixture_done(&f);
}

static void
test_waiting_acquire_gives_up_when_wait_ends(void)
{
	fixture f;
	fixture_init(&f);
	outcome a = {0}, b = {.stop_loop = f.loop};
	acquire(&f, "lock:g", 10000, 0, &f.me, &a);
	acquire(&f, "lock:g", 10000, 150, &f.me, &b);
	cki_timer_id guard = cki_loop_timer(f.loop, 4000, on_stop, NULL);
	CU_ASSERT_EQUAL(cki_loop_run(f.loop), CK_OK);
	cki_loop_timer_cancel(f.loop, guard);
	CU_ASSERT_EQUAL(b.calls, 1);
	CU_ASSERT_EQUAL(b.err, CK_OK);
	CU_ASSERT_FALSE(b.acquired);
	CU_ASSERT_EQUAL(cki_locks_busy(f.locks), 0);
	fixture_done(&f);
}

static void
test_a_wait_lasts_its_full_length(void)
{
	fixture f;
	fixture_init(&f);
	outcome a = {0}, b = {.stop_loop = f.loop};
	acquire(&f, "lock:w", 10000, 0, &f.me, &a);
	CU_ASSERT_TRUE(a.acquired);
	uint64_t t0 = cki_now_ms();
	/* the jittered poll delays (50 ms doubling to 500 ms) never line up with 700 ms: the
	 * last poll must still come at the end of the wait, not before it */
	acquire(&f, "lock:w", 10000, 700, &f.me, &b);
	cki_timer_id guard = cki_loop_timer(f.loop, 4000, on_stop, NULL);
	CU_ASSERT_EQUAL(cki_loop_run(f.loop), CK_OK);
	cki_loop_timer_cancel(f.loop, guard);
	CU_ASSERT_EQUAL(b.calls, 1);
	CU_ASSERT_FALSE(b.acquired);
	CU_ASSERT_TRUE(cki_now_ms() - t0 >= 700);
	fixture_done(&f);
}

static void
test_release_rules(void)
{
	fixture f;
	fixture_init(&f);
	outcome a = {0};
	acquire(&f, "lock:r", 10000, 0, &f.me, &a);
	CU_ASSERT_TRUE_FATAL(a.acquired);

	cki_peer other = f.me;
	other.pid = f.me.pid + 1;
	outcome r = {0};
	cki_locks_release(f.locks, a.handle, sizeof(a.handle), &other, cki_now_ms() + 1000, on_lock,
	                  &r);
	ck_test_turn(f.loop);
	CU_ASSERT_EQUAL(r.calls, 1);
	CU_ASSERT_EQUAL(r.err, CK_EBADHANDLE);
	cki_peer anonymous = {.known = false};
	cki_locks_release(f.locks, a.handle, sizeof(a.handle), &anonymous, cki_now_ms() + 1000,
	                  on_lock, &r);
	ck_test_turn(f.loop);
	CU_ASSERT_EQUAL(r.err, CK_EBADHANDLE);
	CU_ASSERT_EQUAL(cki_locks_count(f.locks), 1);

	uint8_t unknown[CKI_LOCK_HANDLE_LEN];
	memcpy(unknown, a.handle, sizeof(unknown));
	unknown[0] ^= 0xff;
	cki_locks_release(f.locks, unknown, sizeof(unknown), &f.me, cki_now_ms() + 1000, on_lock,
	                  &r);
	ck_test_turn(f.loop);
	CU_ASSERT_EQUAL(r.err, CK_EBADHANDLE);
	cki_locks_release(f.locks, a.handle, sizeof(a.handle) - 1, &f.me, cki_now_ms() + 1000,
	                  on_lock, &r);
	ck_test_turn(f.loop);
	CU_ASSERT_EQUAL(r.err, CK_EBADHANDLE);
	CU_ASSERT_EQUAL(cki_locks_count(f.locks), 1);

	/* The holder releases; the store lock is free again; the handle is then unknown. */
	cki_locks_release(f.locks, a.handle, sizeof(a.handle), &f.me, cki_now_ms() + 1000, on_lock,
	                  &r);
	ck_test_turn(f.loop);
	CU_ASSERT_EQUAL(r.err, CK_OK);
	CU_ASSERT_EQUAL(r.calls, 5);
	CU_ASSERT_EQUAL(cki_locks_count(f.locks), 0);
	CU_ASSERT_EQUAL(cki_metrics_get(CKI_C_LOCKS_RELEASED), 1);
	cki_locks_release(f.locks, a.handle, sizeof(a.handle), &f.me, cki_now_ms() + 1000, on_lock,
	                  &r);
	ck_test_turn(f.loop);
	CU_ASSERT_EQUAL(r.err, CK_EBADHANDLE);
	outcome again = {0};
	acquire(&f, "lock:r", 10000, 0, &f.me, &again);
	CU_ASSERT_TRUE(again.acquired);
	fixture_done(&f);
}

static void
test_lease_expiry_removes_the_lease(void)
{
	fixture f;
	fixture_init(&f);
	outcome a = {0};
	acquire(&f, "lock:e", 60, 0, &f.me, &a);
	CU_ASSERT_TRUE_FATAL(a.acquired);
	CU_ASSERT_EQUAL(cki_locks_count(f.locks), 1);
	run_until_leases(&f, 0);
	CU_ASSERT_EQUAL(cki_locks_count(f.locks), 0);
	CU_ASSERT_EQUAL(cki_metrics_get(CKI_C_LOCKS_EXPIRED), 1);
	/* The expired handle is unknown; the key can be locked again. */
	outcome r = {0};
	cki_locks_release(f.locks, a.handle, sizeof(a.handle), &f.me, cki_now_ms() + 1000, on_lock,
	                  &r);
	ck_test_turn(f.loop);
	CU_ASSERT_EQUAL(r.err, CK_EBADHANDLE);
	outcome b = {0};
	acquire(&f, "lock:e", 5000, 0, &f.me, &b);
	CU_ASSERT_TRUE(b.acquired);
	fixture_done(&f);
}

static pid_t
spawn_sleeper(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		for (;;)
			pause();
	}
	return pid;
}

static void
test_holder_death_releases_its_locks(void)
{
	fixture f;
	fixture_init(&f);
	pid_t child = spawn_sleeper();
	CU_ASSERT_FATAL(child > 0);
	cki_peer holder = {.known = true, .uid = getuid(), .gid = getgid(), .pid = child};
	outcome a = {0}, b = {0}, mine = {0};
	acquire(&f, "lock:d1", 30000, 0, &holder, &a);
	acquire(&f, "lock:d2", 30000, 0, &holder, &b);
	acquire(&f, "lock:mine", 30000, 0, &f.me, &mine);
	CU_ASSERT_TRUE(a.acquired);
	CU_ASSERT_TRUE(b.acquired);
	CU_ASSERT_EQUAL(cki_locks_count(f.locks), 3);
	/* The holder still lives: nothing happens. */
	run_for(&f, 50);
	CU_ASSERT_EQUAL(cki_locks_count(f.locks), 3);

	kill(child, SIGKILL);
	run_until_leases(&f, 1);
	waitpid(child, NULL, 0);
	CU_ASSERT_EQUAL(cki_locks_count(f.locks), 1); /* only ours is left */
	CU_ASSERT_EQUAL(cki_metrics_get(CKI_C_LOCKS_RELEASED_ON_DEATH), 2);
	ck_test_turn(f.loop); /* the store's answers to giving the dead holder's locks back */
	CU_ASSERT_EQUAL(cki_locks_busy(f.locks), 0);
	outcome c = {0};
	acquire(&f, "lock:d1", 5000, 0, &f.me, &c);
	CU_ASSERT_TRUE(c.acquired);
	fixture_done(&f);
}

static void
test_holder_dead_before_grant_gets_nothing(void)
{
	fixture f;
	fixture_init(&f);
	pid_t child = fork();
	if (child == 0)
		_exit(0);
	CU_ASSERT_FATAL(child > 0);
	CU_ASSERT_EQUAL(waitpid(child, NULL, 0), child); /* reaped: the pid is gone */
	cki_peer holder = {.known = true, .uid = getuid(), .gid = getgid(), .pid = child};
	outcome a = {0};
	acquire(&f, "lock:x", 30000, 0, &holder, &a);
	CU_ASSERT_EQUAL(a.calls, 1);
	CU_ASSERT_FALSE(a.acquired);
	CU_ASSERT_EQUAL(a.err, CK_ESHUTDOWN);
	CU_ASSERT_EQUAL(cki_locks_count(f.locks), 0);
	ck_test_turn(f.loop); /* the store's answer to giving the lock back */
	CU_ASSERT_EQUAL(cki_locks_busy(f.locks), 0);
	outcome b = {0};
	acquire(&f, "lock:x", 5000, 0, &f.me, &b);
	CU_ASSERT_TRUE(b.acquired); /* the store lock was given back */
	fixture_done(&f);
}

static void
test_exited_but_unreaped_holder_is_released_on_the_next_turn(void)
{
	fixture f;
	fixture_init(&f);
	pid_t child = fork();
	if (child == 0)
		_exit(0);
	CU_ASSERT_FATAL(child > 0);
	siginfo_t si;
	/* Wait for the exit but leave the zombie, so the pid still resolves. */
	CU_ASSERT_EQUAL(waitid(P_PID, (id_t)child, &si, WEXITED | WNOWAIT), 0);
	cki_peer holder = {.known = true, .uid = getuid(), .gid = getgid(), .pid = child};
	outcome a = {0};
	acquire(&f, "lock:z", 30000, 0, &holder, &a);
	CU_ASSERT_TRUE(a.acquired);
	run_until_leases(&f, 0);
	CU_ASSERT_EQUAL(cki_locks_count(f.locks), 0);
	waitpid(child, NULL, 0);
	outcome b = {0};
	acquire(&f, "lock:z", 5000, 0, &f.me, &b);
	CU_ASSERT_TRUE(b.acquired);
	fixture_done(&f);
}

typedef struct raw_lock {
	int calls;
	bool granted;
} raw_lock;

static void
on_raw_lock(void *arg, const cki_store_reply *r)
{
	raw_lock *rl = arg;
	rl->calls++;
	rl->granted = r->err == CK_OK && r->lock_id != NULL;
}

static void
test_shutdown_releases_everything_and_fails_waiters(void)
{
	fixture f;
	fixture_init(&f);
	outcome a = {0}, b = {0}, waiting = {0};
	acquire(&f, "lock:s1", 30000, 0, &f.me, &a);
	acquire(&f, "lock:s2", 30000, 0, &f.me, &b);
	acquire(&f, "lock:s1", 30000, 5000, &f.me, &waiting);
	CU_ASSERT_EQUAL(cki_locks_count(f.locks), 2);
	CU_ASSERT_EQUAL(waiting.calls, 0);
	CU_ASSERT_EQUAL(cki_locks_busy(f.locks), 1);

	cki_locks_shutdown(f.locks);
	CU_ASSERT_EQUAL(cki_locks_count(f.locks), 0);
	CU_ASSERT_EQUAL(waiting.calls, 1);
	CU_ASSERT_EQUAL(waiting.err, CK_ESHUTDOWN);
	CU_ASSERT_FALSE(waiting.acquired);
	run_for(&f, 20); /* unlocks to the embedded store answer at once; let the loop turn */
	CU_ASSERT_EQUAL(cki_locks_busy(f.locks), 0);
	/* The store's locks were released: both keys can be locked directly. */
	raw_lock r1 = {0}, r2 = {0};
	f.store->ops->lock(f.store, "lock:s1", 1000, cki_now_ms() + 1000, on_raw_lock, &r1);
	f.store->ops->lock(f.store, "lock:s2", 1000, cki_now_ms() + 1000, on_raw_lock, &r2);
	ck_test_turn(f.loop);
	CU_ASSERT_TRUE(r1.granted);
	CU_ASSERT_TRUE(r2.granted);
	fixture_done(&f);
}

/* The lease table is bounded (memory budget): past the cap, acquires fail at once with
 * CK_EOVERLOAD; releasing one makes room again. */
static void
test_held_locks_are_capped(void)
{
	fixture f;
	fixture_init(&f);
	cki_locks_set_max(f.locks, 2);
	outcome a = {0}, b = {0}, c = {0}, d = {0};
	acquire(&f, "lock:1", 5000, 0, &f.me, &a);
	acquire(&f, "lock:2", 5000, 0, &f.me, &b);
	acquire(&f, "lock:3", 5000, 1000, &f.me, &c);
	CU_ASSERT_TRUE(a.acquired && b.acquired);
	CU_ASSERT_EQUAL(c.calls, 1); /* answered at once, no waiting */
	CU_ASSERT_EQUAL(c.err, CK_EOVERLOAD);
	CU_ASSERT_FALSE(c.acquired);
	CU_ASSERT_EQUAL(cki_locks_count(f.locks), 2);
	outcome r = {0};
	cki_locks_release(f.locks, a.handle, sizeof(a.handle), &f.me, cki_now_ms() + 5000, on_lock,
	                  &r);
	if (r.calls == 0) {
		r.stop_loop = f.loop;
		CU_ASSERT_EQUAL(cki_loop_run(f.loop), CK_OK);
	}
	CU_ASSERT_EQUAL(r.err, CK_OK);
	acquire(&f, "lock:3", 5000, 0, &f.me, &d);
	CU_ASSERT_TRUE(d.acquired);
	fixture_done(&f);
}

static void
test_stop_waiting_answers_waiters_and_keeps_leases(void)
{
	fixture f;
	fixture_init(&f);
	outcome held = {0}, waiting = {0}, late = {0};
	acquire(&f, "lock:w", 30000, 0, &f.me, &held);
	acquire(&f, "lock:w", 30000, 60000, &f.me, &waiting);
	run_for(&f, 20); /* the waiter is now parked between store attempts */
	CU_ASSERT_EQUAL(waiting.calls, 0);

	cki_locks_stop_waiting(f.locks);
	CU_ASSERT_EQUAL(waiting.calls, 1);
	CU_ASSERT_EQUAL(waiting.err, CK_ESHUTDOWN);
	CU_ASSERT_FALSE(waiting.acquired);
	CU_ASSERT_EQUAL(cki_locks_count(f.locks), 1); /* the holder keeps its lease for now */
	CU_ASSERT_EQUAL(cki_locks_busy(f.locks), 0);
	/* A grant that arrives while stopping is handed back, not given out. */
	acquire(&f, "lock:other", 30000, 0, &f.me, &late);
	run_for(&f, 20);
	CU_ASSERT_EQUAL(late.calls, 1);
	CU_ASSERT_EQUAL(late.err, CK_ESHUTDOWN);
	CU_ASSERT_EQUAL(cki_locks_count(f.locks), 1);
	fixture_done(&f);
}

static CU_TestInfo tests[] = {
        {"a wait lasts its full length", test_a_wait_lasts_its_full_length},
        {"an uncontested acquire grants a lease", test_uncontested_acquire_grants_a_lease},
        {"held locks are capped", test_held_locks_are_capped},
        {"a contested acquire without wait is refused",
         test_contested_acquire_without_wait_is_refused},
        {"a waiting acquire gets the lock once it is free",
         test_waiting_acquire_gets_the_lock_once_free},
        {"a waiting acquire gives up when its wait ends",
         test_waiting_acquire_gives_up_when_wait_ends},
        {"release: only the holder, only known handles", test_release_rules},
        {"lease expiry removes the lease", test_lease_expiry_removes_the_lease},
        {"holder death releases its locks", test_holder_death_releases_its_locks},
        {"a holder dead before the grant gets nothing", test_holder_dead_before_grant_gets_nothing},
        {"an exited, unreaped holder is released on the next turn",
         test_exited_but_unreaped_holder_is_released_on_the_next_turn},
        {"shutdown releases everything and fails waiters",
         test_shutdown_releases_everything_and_fails_waiters},
        {"stop_waiting answers waiters and keeps leases",
         test_stop_waiting_answers_waiters_and_keeps_leases},
        CU_TEST_INFO_NULL,
};

CK_UNIT_SUITE_FULL("locks", tests, suite_init, NULL)
