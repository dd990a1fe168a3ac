/* SPDX-License-Identifier: Apache-2.0 */
/*
 * RenewLock from request to store and back (core/locks_holder.c, core/dispatch_admin.c):
 * requests are encoded and decoded as the front would and handed to cki_dispatch_handle()
 * with a chosen peer's credentials; behind dispatch the storefront and the embedded store on
 * an injected clock (so a lease can run out in the store without waiting). Covers: the holder
 * renews; another process or an unknown handle cannot (CK_EBADHANDLE, as for release); the
 * lock right on the lease's namespace is checked again; a lease the store no longer holds
 * reads renewed=false and is forgotten; the table's expiry timer follows the renewed lease.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cunit_main.h"
#include "core/dispatch.h"
#include "core/storefront.h"
#include "base/log.h"
#include "base/metrics.h"
#include "store/memory/store_memory.h"

#define GUARD_MS 30000u

static int
suite_init(void)
{
	cki_log_set_level(CKI_LOG_ERROR);
	return 0;
}

typedef struct fixture {
	cki_config cfg;
	cki_loop *loop;
	cki_store *backend; /* the embedded store, on clock */
	cki_store *store;   /* the storefront over it */
	cki_locks *locks;
	cki_refresh *refresh;
	cki_l1 *l1;
	cki_flight *flight;
	cki_dispatch *dispatch;
	cki_response *resp;
	size_t replies;
	uint64_t next_id;
	uint64_t skew_ms; /* the store's clock runs this far ahead of real time */
	cki_peer me;
} fixture;

static uint64_t
store_clock(void *ctx)
{
	fixture *f = ctx;
	return cki_now_ms() + f->skew_ms;
}

static void
record_reply(void *arg, const cki_reply_to *to, const cki_response *resp)
{
	fixture *f = arg;
	size_t n = cachekit__agent__v1__response__get_packed_size(resp);
	uint8_t *buf = malloc(n ? n : 1);
	(void)to;
	CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
	cachekit__agent__v1__response__pack(resp, buf);
	cachekit__agent__v1__response__free_unpacked(f->resp, NULL);
	f->resp = cachekit__agent__v1__response__unpack(NULL, n, buf);
	free(buf);
	f->replies++;
	cki_loop_stop(f->loop);
}

static void
fixture_init(fixture *f)
{
	memset(f, 0, sizeof(*f));
	CU_ASSERT_EQUAL_FATAL(cki_config_defaults(&f->cfg), CK_OK);
	f->cfg.memory_limit_bytes = 4u << 20;
	f->next_id = 100;
	f->me = (cki_peer){.known = true, .uid = getuid(), .gid = getgid(), .pid = getpid()};
}

static void
fixture_start(fixture *f)
{
	CU_ASSERT_EQUAL_FATAL(cki_config_policy(&f->cfg, stderr), CK_OK);
	CU_ASSERT_EQUAL_FATAL(cki_loop_new(&f->loop), CK_OK);
	CU_ASSERT_EQUAL_FATAL(cki_store_memory_new(&f->backend, f->loop, f->cfg.memory_limit_bytes),
	                      CK_OK);
	cki_store_memory_set_clock(f->backend, store_clock, f);
	CU_ASSERT_EQUAL_FATAL(cki_l1_new(&f->l1, f->cfg.l1_bytes, f->cfg.l1_ttl_ms), CK_OK);
	CU_ASSERT_EQUAL_FATAL(cki_storefront_new(&f->store, f->backend, f->loop, f->l1), CK_OK);
	CU_ASSERT_EQUAL_FATAL(cki_locks_new(&f->locks, f->loop, f->store), CK_OK);
	cki_refresh_opts ro = {.ahead_pct = 50, .jitter_pct = 0, .claim_ms = 10000};
	CU_ASSERT_EQUAL_FATAL(cki_refresh_new(&f->refresh, f->loop, f->store, &ro), CK_OK);
	CU_ASSERT_EQUAL_FATAL(cki_flight_new(&f->flight, f->store), CK_OK);
	cki_dispatch_deps deps = {.loop = f->loop,
	                          .cfg = &f->cfg,
	                          .store = f->store,
	                          .locks = f->locks,
	                          .refresh = f->refresh,
	                          .l1 = f->l1,
	                          .flight = f->flight};
	CU_ASSERT_EQUAL_FATAL(cki_dispatch_new(&f->dispatch, &deps), CK_OK);
	cki_dispatch_set_reply(f->dispatch, (cki_reply_sink){.send = record_reply, .arg = f});
	cki_metrics_reset();
}

static void
fixture_done(fixture *f)
{
	cki_locks_shutdown(f->locks);
	f->store->ops->destroy(f->store);
	cki_locks_free(f->locks);
	cki_refresh_free(f->refresh);
	cki_flight_free(f->flight);
	cki_l1_free(f->l1);
	cki_dispatch_free(f->dispatch);
	cachekit__agent__v1__response__free_unpacked(f->resp, NULL);
	cki_loop_free(f->loop);
	cki_config_free(&f->cfg);
}

static void
on_timeout(cki_loop *loop, void *arg)
{
	(void)arg;
	cki_loop_stop(loop);
}

/* Sends req as peer and returns the reply (owned by f, valid until the next exchange). */
static const cki_response *
exchange_as(fixture *f, cki_request *req, const cki_peer *peer)
{
	req->id = ++f->next_id;
	size_t n = cachekit__agent__v1__request__get_packed_size(req);
	uint8_t *buf = malloc(n ? n : 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
	cachekit__agent__v1__request__pack(req, buf);
	cachekit__agent__v1__response__free_unpacked(f->resp, NULL);
	f->resp = NULL;
	f->replies = 0;
	cki_request *decoded = cki_request_unpack(buf, n);
	free(buf);
	CU_ASSERT_PTR_NOT_NULL_FATAL(decoded);
	cki_reply_to to = {.rid = {0, 1, 2, 3}, .rid_len = 4};
	cki_dispatch_handle(f->dispatch, &to, peer, decoded);
	if (f->replies == 0) {
		cki_timer_id t = cki_loop_timer(f->loop, GUARD_MS, on_timeout, f);
		CU_ASSERT_EQUAL(cki_loop_run(f->loop), CK_OK);
		cki_loop_timer_cancel(f->loop, t);
	}
	CU_ASSERT_EQUAL_FATAL(f->replies, 1);
	CU_ASSERT_EQUAL(f->resp->id, req->id);
	return f->resp;
}

/* AcquireLock on ns/name; the handle into out. */
static void
acquire(fixture *f, const char *ns, const char *name, uint32_t lease_ms, uint8_t *out)
{
	cki_request req = CACHEKIT__AGENT__V1__REQUEST__INIT;
	Cachekit__Agent__V1__AcquireLockRequest al =
	        CACHEKIT__AGENT__V1__ACQUIRE_LOCK_REQUEST__INIT;
	req.namespace_ = (char *)(ns ? ns : "");
	req.op_case = CACHEKIT__AGENT__V1__REQUEST__OP_ACQUIRE_LOCK;
	req.acquire_lock = &al;
	al.name = (char *)name;
	al.lease_ms = lease_ms;
	const cki_response *r = exchange_as(f, &req, &f->me);
	CU_ASSERT_EQUAL_FATAL(r->status, CK_OK);
	CU_ASSERT_TRUE_FATAL(r->acquire_lock != NULL && r->acquire_lock->acquired);
	CU_ASSERT_EQUAL_FATAL(r->acquire_lock->handle.len, CKI_LOCK_HANDLE_LEN);
	memcpy(out, r->acquire_lock->handle.data, CKI_LOCK_HANDLE_LEN);
}

static const cki_response *
renew_as(fixture *f, const uint8_t *handle, size_t len, uint32_t lease_ms, const cki_peer *peer)
{
	cki_request req = CACHEKIT__AGENT__V1__REQUEST__INIT;
	Cachekit__Agent__V1__RenewLockRequest rl = CACHEKIT__AGENT__V1__RENEW_LOCK_REQUEST__INIT;
	req.op_case = CACHEKIT__AGENT__V1__REQUEST__OP_RENEW_LOCK;
	req.renew_lock = &rl;
	rl.handle.data = (uint8_t *)handle;
	rl.handle.len = len;
	rl.lease_ms = lease_ms;
	return exchange_as(f, &req, peer);
}

static const cki_response *
renew(fixture *f, const uint8_t *handle, uint32_t lease_ms)
{
	return renew_as(f, handle, CKI_LOCK_HANDLE_LEN, lease_ms, &f->me);
}

static void
test_the_holder_renews(void)
{
	fixture f;
	uint8_t h[CKI_LOCK_HANDLE_LEN];
	fixture_init(&f);
	fixture_start(&f);
	acquire(&f, "jobs", "nightly", 5000, h);
	const cki_response *r = renew(&f, h, 60000);
	CU_ASSERT_EQUAL(r->status, CK_OK);
	CU_ASSERT_EQUAL_FATAL(r->result_case, CACHEKIT__AGENT__V1__RESPONSE__RESULT_RENEW_LOCK);
	CU_ASSERT_TRUE(r->renew_lock->renewed);
	CU_ASSERT_EQUAL(r->renew_lock->lease_ms, 60000);
	/* lease 0: the acquire default */
	r = renew(&f, h, 0);
	CU_ASSERT_TRUE(r->renew_lock != NULL && r->renew_lock->renewed);
	CU_ASSERT_EQUAL(r->renew_lock->lease_ms, 30000);
	CU_ASSERT_EQUAL(cki_metrics_get(CKI_C_LOCKS_RENEWED), 2);
	/* The store's lease moved too: 29 s on (past the first 5 s lease), still held. */
	f.skew_ms = 29000;
	CU_ASSERT_TRUE(renew(&f, h, 1000)->renew_lock->renewed);
	CU_ASSERT_EQUAL(cki_locks_count(f.locks), 1);
	fixture_done(&f);
}

static void
test_only_the_holder_process_may_renew(void)
{
	fixture f;
	uint8_t h[CKI_LOCK_HANDLE_LEN], unknown[CKI_LOCK_HANDLE_LEN];
	fixture_init(&f);
	fixture_start(&f);
	acquire(&f, NULL, "job", 5000, h);
	/* Another live process (our parent) with the handle bytes: refused like a release. */
	cki_peer other = f.me;
	other.pid = getppid();
	const cki_response *r = renew_as(&f, h, sizeof(h), 60000, &other);
	CU_ASSERT_EQUAL(r->status, CK_EBADHANDLE);
	CU_ASSERT_PTR_NOT_NULL(strstr(r->message, "another process"));
	cki_peer anonymous = {.known = false};
	CU_ASSERT_EQUAL(renew_as(&f, h, sizeof(h), 60000, &anonymous)->status, CK_EBADHANDLE);
	memcpy(unknown, h, sizeof(h));
	unknown[0] ^= 0xff;
	CU_ASSERT_EQUAL(renew(&f, unknown, 60000)->status, CK_EBADHANDLE);
	CU_ASSERT_EQUAL(renew_as(&f, h, 3, 60000, &f.me)->status, CK_EBADHANDLE);
	CU_ASSERT_EQUAL(cki_metrics_get(CKI_C_LOCKS_RENEWED), 0);
	/* None of that touched the lease: the holder still renews. */
	CU_ASSERT_TRUE(renew(&f, h, 60000)->renew_lock->renewed);
	fixture_done(&f);
}

static void
test_renewing_needs_the_lock_right_on_the_namespace(void)
{
	fixture f;
	uint8_t h[CKI_LOCK_HANDLE_LEN];
	char uid[32];
	fixture_init(&f);
	snprintf(uid, sizeof(uid), "%u", (unsigned)getuid());
	CU_ASSERT_EQUAL_FATAL(cki_access_add(&f.cfg.policy.access, "me", "uid", uid, "t", stderr),
	                      CK_OK);
	CU_ASSERT_EQUAL_FATAL(
	        cki_access_add(&f.cfg.policy.access, "me", "namespaces", "jobs", "t", stderr),
	        CK_OK);
	CU_ASSERT_EQUAL_FATAL(
	        cki_access_add(&f.cfg.policy.access, "me", "allow", "lock, read", "t", stderr),
	        CK_OK);
	fixture_start(&f);
	acquire(&f, "jobs", "nightly", 5000, h);
	CU_ASSERT_TRUE(renew(&f, h, 60000)->renew_lock->renewed);
	/* A reload takes the lock right away: the holder may no longer renew. */
	f.cfg.policy.access->rules[0].rights = 1u; /* read only */
	f.cfg.policy.access->serial++;
	const cki_response *r = renew(&f, h, 60000);
	CU_ASSERT_EQUAL(r->status, CK_EDENIED);
	CU_ASSERT_PTR_NOT_NULL(strstr(r->message, "lock"));
	CU_ASSERT_PTR_NOT_NULL(strstr(r->message, "\"jobs\""));
	CU_ASSERT_EQUAL(cki_metrics_get(CKI_C_LOCKS_RENEWED), 1);
	fixture_done(&f);
}

static void
test_a_lease_the_store_lost_is_not_renewed(void)
{
	fixture f;
	uint8_t h[CKI_LOCK_HANDLE_LEN];
	fixture_init(&f);
	fixture_start(&f);
	acquire(&f, NULL, "job", 5000, h);
	f.skew_ms = 5000; /* the store's lease has run out; the table's timer has not fired yet */
	const cki_response *r = renew(&f, h, 60000);
	CU_ASSERT_EQUAL(r->status, CK_OK);
	CU_ASSERT_TRUE(r->renew_lock != NULL && !r->renew_lock->renewed);
	/* The table forgot it: the handle is unknown now. */
	CU_ASSERT_EQUAL(cki_locks_count(f.locks), 0);
	CU_ASSERT_EQUAL(renew(&f, h, 60000)->status, CK_EBADHANDLE);
	fixture_done(&f);
}

/* Runs the loop until no lease is held (checked every 10 ms), GUARD_MS at most. */
typedef struct until_none {
	fixture *f;
	uint64_t give_up;
} until_none;

static void
check_none(cki_loop *loop, void *arg)
{
	until_none *u = arg;
	if (cki_locks_count(u->f->locks) == 0 || cki_now_ms() >= u->give_up)
		cki_loop_stop(loop);
	else
		CU_ASSERT_NOT_EQUAL(cki_loop_timer(loop, 10, check_none, u), 0);
}

static void
test_the_table_expiry_follows_the_renewed_lease(void)
{
	fixture f;
	uint8_t h[CKI_LOCK_HANDLE_LEN];
	fixture_init(&f);
	fixture_start(&f);
	/* Renewed shorter: the table's lease now ends with the store's, 50 ms on, not 60 s. */
	acquire(&f, NULL, "job", 60000, h);
	CU_ASSERT_TRUE(renew(&f, h, 50)->renew_lock->renewed);
	uint64_t start = cki_now_ms();
	until_none u = {&f, start + GUARD_MS};
	CU_ASSERT_NOT_EQUAL(cki_loop_timer(f.loop, 10, check_none, &u), 0);
	CU_ASSERT_EQUAL(cki_loop_run(f.loop), CK_OK);
	CU_ASSERT_EQUAL(cki_locks_count(f.locks), 0);
	CU_ASSERT_TRUE(cki_now_ms() - start < GUARD_MS);
	CU_ASSERT_EQUAL(cki_metrics_get(CKI_C_LOCKS_EXPIRED), 1);
	CU_ASSERT_EQUAL(renew(&f, h, 1000)->status, CK_EBADHANDLE);
	/* The store let it go at the same time: the next acquire is granted. */
	acquire(&f, NULL, "job", 60000, h);
	fixture_done(&f);
}

typedef struct lock_outcome {
	int calls;
	ck_err err;
	bool renewed, released;
} lock_outcome;

static void
on_lock(void *arg, const cki_lock_result *r)
{
	lock_outcome *o = arg;
	o->calls++;
	o->err = r->err;
	o->renewed = r->renewed;
	o->released = r->released;
}

/* A release that overtakes a renewal still in the store: the renewal reads renewed=false (the
 * lease is gone here), nothing stays locked in the store, and nothing is left in flight. */
static void
test_a_release_during_a_renewal_wins(void)
{
	fixture f;
	uint8_t h[CKI_LOCK_HANDLE_LEN];
	lock_outcome ren = {0}, rel = {0};
	fixture_init(&f);
	fixture_start(&f);
	acquire(&f, NULL, "job", 60000, h);
	cki_locks_renew(f.locks, h, sizeof(h), 90000, &f.me, cki_now_ms() + 5000, on_lock, &ren);
	cki_locks_release(f.locks, h, sizeof(h), &f.me, cki_now_ms() + 5000, on_lock, &rel);
	CU_ASSERT_EQUAL(ren.calls, 0); /* stores answer from the loop */
	CU_ASSERT_EQUAL(cki_locks_busy(f.locks), 1);
	uint64_t give_up = cki_now_ms() + GUARD_MS;
	while ((ren.calls == 0 || rel.calls == 0 || cki_locks_busy(f.locks) > 0) &&
	       cki_now_ms() < give_up) {
		CU_ASSERT_FATAL(cki_loop_timer(f.loop, 1, on_timeout, NULL) != 0);
		CU_ASSERT_EQUAL(cki_loop_run(f.loop), CK_OK);
	}
	CU_ASSERT_EQUAL(ren.calls, 1);
	CU_ASSERT_EQUAL(ren.err, CK_OK);
	CU_ASSERT_FALSE(ren.renewed);
	CU_ASSERT_EQUAL(rel.calls, 1);
	CU_ASSERT_TRUE(rel.released);
	CU_ASSERT_EQUAL(cki_locks_busy(f.locks), 0);
	CU_ASSERT_EQUAL(cki_locks_count(f.locks), 0);
	acquire(&f, NULL, "job", 60000, h); /* free in the store */
	fixture_done(&f);
}

static CU_TestInfo tests[] = {
        {"the holder renews (lease, default lease, the store's lease moves)",
         test_the_holder_renews},
        {"only the holder process may renew; unknown handles are CK_EBADHANDLE",
         test_only_the_holder_process_may_renew},
        {"renewing needs the lock right on the namespace",
         test_renewing_needs_the_lock_right_on_the_namespace},
        {"a lease the store lost is not renewed and is forgotten",
         test_a_lease_the_store_lost_is_not_renewed},
        {"the table's expiry follows the renewed lease",
         test_the_table_expiry_follows_the_renewed_lease},
        {"a release during a renewal wins", test_a_release_during_a_renewal_wins},
        CU_TEST_INFO_NULL,
};

CK_UNIT_SUITE_FULL("locks_holder", tests, suite_init, NULL)
