/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Refresh-ahead claims and sliding TTL (see refresh.h). Times are cki_now_ms() milliseconds;
 * the upstream's Fresh-For, when a read reports it, corrects the local estimate.
 */
#include "core/refresh.h"

#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/random.h"
#include "base/metrics.h"
#include "base/strmap.h"

#define SWEEP_MS 5000

typedef struct entry {
	uint64_t ttl_ms; /* 0: unknown (seen stale, written elsewhere) */
	uint64_t stale_ms;
	uint64_t fresh_until;
	uint64_t refresh_at;    /* 0: no refresh point known */
	uint64_t evict_at;      /* 0: keep until swept by claim expiry */
	uint64_t claimed_until; /* a reader was told to refresh; others are not until then */
	uint64_t last_touch;
	bool sliding;
	bool touch_inflight;
} entry;

struct cki_refresh {
	cki_loop *loop;
	cki_store *store;
	cki_refresh_opts opts;
	cki_strmap *map;
	uint64_t bytes; /* accounted: key length + CKI_REFRESH_KEY_OVERHEAD per tracked key */
	cki_timer_id sweep;
};

static uint64_t
key_cost(const char *key)
{
	return strlen(key) + CKI_REFRESH_KEY_OVERHEAD;
}

/* Forgets key (if tracked) and gives back its bytes. */
static void
forget(cki_refresh *r, const char *key)
{
	entry *e = cki_strmap_del(r->map, key);
	if (e != NULL) {
		r->bytes -= key_cost(key);
		free(e);
	}
}

static void on_sweep(cki_loop *loop, void *arg);

ck_err
cki_refresh_new(cki_refresh **out, cki_loop *loop, cki_store *store, const cki_refresh_opts *opts)
{
	cki_refresh *r = calloc(1, sizeof(*r));
	if (r == NULL || (r->map = cki_strmap_new()) == NULL) {
		free(r);
		return CK_ENOMEM;
	}
	r->loop = loop;
	r->store = store;
	r->opts = *opts;
	if (r->opts.max_bytes == 0)
		r->opts.max_bytes = CKI_REFRESH_DEFAULT_MAX_BYTES;
	r->sweep = cki_loop_timer(loop, SWEEP_MS, on_sweep, r);
	if (r->sweep == 0) {
		cki_strmap_free(r->map, free);
		free(r);
		return CK_ENOMEM;
	}
	*out = r;
	return CK_OK;
}

void
cki_refresh_free(cki_refresh *r)
{
	if (r == NULL)
		return;
	cki_loop_timer_cancel(r->loop, r->sweep);
	cki_strmap_free(r->map, free);
	free(r);
}

size_t
cki_refresh_count(const cki_refresh *r)
{
	return cki_strmap_count(r->map);
}

uint64_t
cki_refresh_bytes(const cki_refresh *r)
{
	return r->bytes;
}

typedef struct sweep_ctx {
	cki_refresh *r;
	uint64_t now;
} sweep_ctx;

static bool
sweep_one(void *ctx, const char *key, void *value)
{
	sweep_ctx *c = ctx;
	entry *e = value;
	bool gone = e->evict_at ? c->now >= e->evict_at : c->now >= e->claimed_until;
	if (gone && !e->touch_inflight) {
		c->r->bytes -= key_cost(key);
		free(e);
		return true;
	}
	return false;
}

static void
on_sweep(cki_loop *loop, void *arg)
{
	cki_refresh *r = arg;
	sweep_ctx c = {r, cki_now_ms()};
	cki_strmap_sweep(r->map, sweep_one, &c);
	r->sweep = cki_loop_timer(loop, SWEEP_MS, on_sweep, r);
	if (r->sweep == 0)
		cki_log_error("refresh: cannot schedule the next sweep: expired entries "
		              "are no longer swept");
}

/* ahead_pct of ttl, moved by up to +/- jitter_pct of itself (50 % +/- 20 % of 50 = 40..60 %). */
static uint64_t
refresh_offset(const cki_refresh *r, uint64_t ttl_ms)
{
	if (r->opts.ahead_pct == 0)
		return ttl_ms; /* only when stale */
	uint32_t rnd = (uint32_t)cki_random_u64();
	int64_t pct_x1000 = (int64_t)r->opts.ahead_pct * 1000;
	int64_t span = pct_x1000 * (int64_t)r->opts.jitter_pct / 100;
	if (span > 0)
		pct_x1000 += (int64_t)(rnd % (uint32_t)(2 * span + 1)) - span;
	if (pct_x1000 < 0)
		pct_x1000 = 0;
	if (pct_x1000 > 100000)
		pct_x1000 = 100000;
	return ttl_ms * (uint64_t)pct_x1000 / 100000;
}

static void
set_windows(cki_refresh *r, entry *e, uint64_t now, uint64_t ttl_ms)
{
	e->ttl_ms = ttl_ms;
	e->fresh_until = now + ttl_ms;
	e->refresh_at = now + refresh_offset(r, ttl_ms);
	e->evict_at = e->fresh_until + e->stale_ms;
}

static entry *
get_or_add(cki_refresh *r, const char *key)
{
	entry *e = cki_strmap_get(r->map, key);
	if (e != NULL)
		return e;
	uint64_t cost = key_cost(key);
	if (r->bytes + cost > r->opts.max_bytes) {
		cki_metrics_inc(CKI_C_REFRESH_UNTRACKED); /* full: this key gets no refresh hints */
		return NULL;
	}
	e = calloc(1, sizeof(*e));
	bool ok;
	if (e == NULL)
		return NULL;
	cki_strmap_put(r->map, key, e, &ok);
	if (!ok) {
		free(e);
		return NULL;
	}
	r->bytes += cost;
	return e;
}

void
cki_refresh_on_set(cki_refresh *r, const char *key, uint32_t ttl_s, uint32_t stale_ttl_s,
                   bool sliding)
{
	if (ttl_s == 0) { /* no expiry: nothing to refresh */
		forget(r, key);
		return;
	}
	entry *e = get_or_add(r, key);
	if (e == NULL)
		return;
	uint64_t now = cki_now_ms();
	e->stale_ms = (uint64_t)stale_ttl_s * 1000;
	e->sliding = sliding;
	e->claimed_until = 0; /* the writer refreshed it */
	e->last_touch = now;
	set_windows(r, e, now, (uint64_t)ttl_s * 1000);
}

void
cki_refresh_on_delete(cki_refresh *r, const char *key)
{
	entry *e = cki_strmap_get(r->map, key);
	if (e != NULL && !e->touch_inflight)
		forget(r, key);
	else if (e != NULL)
		e->evict_at = 1; /* swept once its touch has answered */
}

void
cki_refresh_on_drop(void *arg, const char *key)
{
	cki_refresh_on_delete(arg, key);
}

void
cki_refresh_on_touch(cki_refresh *r, const char *key, uint32_t ttl_s)
{
	entry *e = cki_strmap_get(r->map, key);
	if (e == NULL)
		return;
	uint64_t now = cki_now_ms();
	e->last_touch = now;
	set_windows(r, e, now, (uint64_t)ttl_s * 1000);
}

typedef struct touch_op {
	cki_refresh *r;
	uint32_t ttl_s;
	char key[];
} touch_op;

static void
on_touch_done(void *arg, const cki_store_reply *rep)
{
	touch_op *op = arg;
	entry *e = cki_strmap_get(op->r->map, op->key);
	if (e != NULL) {
		e->touch_inflight = false;
		if (rep->err == CK_OK && rep->found) {
			cki_metrics_inc(CKI_C_SLIDING_REFRESHES);
			cki_refresh_on_touch(op->r, op->key, op->ttl_s);
		}
	}
	if (rep->err != CK_OK && rep->err != CK_ECONFLICT)
		cki_log_debug("sliding TTL refresh failed: %s", ck_strerror(rep->err));
	free(op);
}

static void
start_touch(cki_refresh *r, entry *e, const char *key)
{
	size_t len = strlen(key);
	touch_op *op = malloc(sizeof(*op) + len + 1);
	if (op == NULL)
		return;
	op->r = r;
	op->ttl_s = (uint32_t)(e->ttl_ms / 1000);
	memcpy(op->key, key, len + 1);
	e->touch_inflight = true;
	r->store->ops->touch(r->store, key, op->ttl_s, cki_now_ms() + 5000, on_touch_done, op);
}

bool
cki_refresh_on_hit(cki_refresh *r, const char *key, cki_freshness fr, int64_t fresh_for_ms,
                   bool sliding_ns)
{
	uint64_t now = cki_now_ms();
	entry *e = cki_strmap_get(r->map, key);
	if (e == NULL) {
		if (fr != CKI_STALE)
			return false;
		/* Stale and written elsewhere: still only one reader should refresh it. */
		e = get_or_add(r, key);
		if (e == NULL)
			return false;
	}
	if (fresh_for_ms >= 0 && e->ttl_ms > 0 && fr != CKI_STALE) {
		/* The store's word beats our estimate (another host may have written it). */
		uint64_t fresh_until = now + (uint64_t)fresh_for_ms;
		if (fresh_until > e->fresh_until + 1000 || fresh_until + 1000 < e->fresh_until) {
			e->fresh_until = fresh_until;
			e->refresh_at = fresh_until - e->ttl_ms + refresh_offset(r, e->ttl_ms);
			e->evict_at = fresh_until + e->stale_ms;
		}
	}
	bool due = fr == CKI_STALE || (e->refresh_at != 0 && now >= e->refresh_at);
	bool flag = false;
	if (due && now >= e->claimed_until) {
		e->claimed_until = now + r->opts.claim_ms;
		cki_metrics_inc(CKI_C_REFRESH_DUE);
		flag = true;
	}
	if ((e->sliding || sliding_ns) && e->ttl_ms >= 1000 && fr != CKI_STALE &&
	    !e->touch_inflight && now - e->last_touch >= e->ttl_ms / 4)
		start_touch(r, e, key);
	return flag;
}
