/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Lock, health and stats request handlers: AcquireLock, ReleaseLock and RenewLock go to the
 * lease table, Health asks the store, and Stats gathers the agent's metrics, gauges and the
 * store's own figures into one list sorted by name.
 */
#include "core/dispatch_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cachekit/version.h"
#include "base/metrics.h"

/* ---- locks ---------------------------------------------------------------------------------- */

/* True after it has ended the call with r's error; false when the lock call succeeded. */
static bool
lock_failed(call *c, const cki_lock_result *r)
{
	if (r->err == CK_OK)
		return false;
	cki_call_finish_status(c, r->err, r->message);
	return true;
}

static void
done_acquire(void *arg, const cki_lock_result *r)
{
	call *c = arg;
	if (lock_failed(c, r))
		return;
	Cachekit__Agent__V1__AcquireLockResult res = CACHEKIT__AGENT__V1__ACQUIRE_LOCK_RESULT__INIT;
	res.acquired = r->acquired;
	if (r->acquired) {
		res.handle.data = (uint8_t *)r->handle;
		res.handle.len = sizeof(r->handle);
		res.lease_ms = r->lease_ms;
	}
	CKI_CALL_FINISH_RESULT(c, ACQUIRE_LOCK, acquire_lock, &res);
}

void
cki_handle_acquire_lock(call *c)
{
	Cachekit__Agent__V1__AcquireLockRequest *al = c->req->acquire_lock;
	if (!cki_call_take_key(c, al->name) || !cki_call_check_access(c, CKI_RIGHT_LOCK, "lock"))
		return;
	cki_locks_acquire(c->d->deps.locks, c->key, al->lease_ms, al->wait_ms, c->deadline,
	                  &c->peer, done_acquire, c);
}

static void
done_release(void *arg, const cki_lock_result *r)
{
	call *c = arg;
	if (lock_failed(c, r))
		return;
	Cachekit__Agent__V1__ReleaseLockResult res = CACHEKIT__AGENT__V1__RELEASE_LOCK_RESULT__INIT;
	res.released = r->released;
	CKI_CALL_FINISH_RESULT(c, RELEASE_LOCK, release_lock, &res);
}

void
cki_handle_release_lock(call *c)
{
	Cachekit__Agent__V1__ReleaseLockRequest *rl = c->req->release_lock;
	cki_locks_release(c->d->deps.locks, rl->handle.data, rl->handle.len, &c->peer, c->deadline,
	                  done_release, c);
}

static void
done_renew(void *arg, const cki_lock_result *r)
{
	call *c = arg;
	if (lock_failed(c, r))
		return;
	Cachekit__Agent__V1__RenewLockResult res = CACHEKIT__AGENT__V1__RENEW_LOCK_RESULT__INIT;
	res.renewed = r->renewed;
	if (r->renewed)
		res.lease_ms = r->lease_ms;
	CKI_CALL_FINISH_RESULT(c, RENEW_LOCK, renew_lock, &res);
}

/* Renewing keeps a lock longer, so besides holding the handle the peer needs the lock right on
 * the key's namespace, as for AcquireLock (a rule changed by a reload since applies). */
void
cki_handle_renew_lock(call *c)
{
	Cachekit__Agent__V1__RenewLockRequest *rl = c->req->renew_lock;
	cki_locks *locks = c->d->deps.locks;
	const char *key = cki_locks_holder_key(locks, rl->handle.data, rl->handle.len, &c->peer);
	if (key != NULL) {
		cki_key_namespace(key, c->ns, sizeof(c->ns));
		if (!cki_call_check_access(c, CKI_RIGHT_LOCK, "lock"))
			return;
	}
	/* Not the holder's (or unknown): the table answers CK_EBADHANDLE, as for release. */
	cki_locks_renew(locks, rl->handle.data, rl->handle.len, rl->lease_ms, &c->peer, c->deadline,
	                done_renew, c);
}

/* ---- health, stats ------------------------------------------------------------------------ */

static void
done_health(void *arg, const cki_store_reply *r)
{
	call *c = arg;
	cki_store *s = c->d->deps.store;
	Cachekit__Agent__V1__HealthResult res = CACHEKIT__AGENT__V1__HEALTH_RESULT__INIT;
	res.healthy = r->err == CK_OK;
	res.backend_type = (char *)s->ops->backend_type;
	res.api_url = (char *)s->ops->url(s);
	res.agent_version = (char *)CK_VERSION_STRING;
	res.latency_ms = r->err == CK_OK ? r->latency_ms : -1;
	res.version = (char *)(r->version ? r->version : "unknown");
	if (r->err != CK_OK) {
		res.error = (char *)(r->message ? r->message : ck_strerror(r->err));
		res.error_type = (char *)(r->error_type ? r->error_type : ck_errname(r->err));
	}
	/* An unhealthy upstream is a successful health check with healthy = false. */
	CKI_CALL_FINISH_RESULT(c, HEALTH, health, &res);
}

void
cki_handle_health(call *c)
{
	cki_store *s = c->d->deps.store;
	s->ops->health(s, c->deadline, done_health, c);
}

typedef struct stat_list {
	Cachekit__Agent__V1__Stat *items;
	Cachekit__Agent__V1__Stat **ptrs;
	char (*names)[64];
	size_t n, cap;
} stat_list;

static void
add_stat(void *ctx, const char *name, double v)
{
	stat_list *l = ctx;
	if (l->n == l->cap)
		return;
	Cachekit__Agent__V1__Stat init = CACHEKIT__AGENT__V1__STAT__INIT;
	l->items[l->n] = init;
	snprintf(l->names[l->n], sizeof(l->names[0]), "%s", name);
	l->items[l->n].name = l->names[l->n];
	l->items[l->n].value = v;
	l->ptrs[l->n] = &l->items[l->n];
	l->n++;
}

static int
cmp_stat(const void *a, const void *b)
{
	return strcmp((*(Cachekit__Agent__V1__Stat *const *)a)->name,
	              (*(Cachekit__Agent__V1__Stat *const *)b)->name);
}

void
cki_handle_stats(call *c)
{
	enum { CAP = 256 };
	cki_dispatch *d = c->d;
	stat_list l = {.cap = CAP};
	l.items = calloc(CAP, sizeof(*l.items));
	l.ptrs = calloc(CAP, sizeof(*l.ptrs));
	l.names = calloc(CAP, sizeof(*l.names));
	if (l.items == NULL || l.ptrs == NULL || l.names == NULL) {
		free(l.items);
		free(l.ptrs);
		free(l.names);
		cki_call_finish_status(c, CK_ENOMEM, NULL);
		return;
	}
	cki_metrics_set_gauge("inflight_requests", (double)d->inflight);
	cki_metrics_set_gauge("inflight_bytes", (double)d->inflight_bytes);
	cki_metrics_set_gauge("locks_held", (double)cki_locks_count(d->deps.locks));
	cki_metrics_set_gauge("l1_bytes", (double)cki_l1_bytes(d->deps.l1));
	cki_metrics_set_gauge("l1_entries", (double)cki_l1_count(d->deps.l1));
	cki_metrics_set_gauge("refresh_tracked_keys", (double)cki_refresh_count(d->deps.refresh));
	cki_metrics_set_gauge("refresh_tracked_bytes", (double)cki_refresh_bytes(d->deps.refresh));
	cki_metrics_each(add_stat, &l);
	if (d->deps.store->ops->stats)
		d->deps.store->ops->stats(d->deps.store, add_stat, &l);
	qsort(l.ptrs, l.n, sizeof(*l.ptrs), cmp_stat); /* the contract: sorted by name */
	Cachekit__Agent__V1__StatsResult res = CACHEKIT__AGENT__V1__STATS_RESULT__INIT;
	res.n_stats = l.n;
	res.stats = l.ptrs;
	CKI_CALL_FINISH_RESULT(c, STATS, stats, &res);
	free(l.items);
	free(l.ptrs);
	free(l.names);
}
