/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Request handlers. Each handle_<op>() validates, starts the store (or lock) operation with a
 * call record, and the matching done_<op>() builds the reply when the store answers, which
 * may happen before the store call returns (embedded store) or later (HTTP).
 */
#include "core/dispatch.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cachekit/version.h"
#include "crypto/keyring.h"
#include "base/keys.h"
#include "base/log.h"
#include "base/metrics.h"
#include "crypto/seal.h"

typedef Cachekit__Agent__V1__Response resp_t;

struct cki_dispatch {
	cki_dispatch_deps deps;
	cki_reply_sink reply;
	size_t inflight;
	uint64_t inflight_bytes; /* Set values held by calls in progress */
};

/* One request between its arrival and its reply. */
typedef struct call {
	cki_dispatch *d;
	cki_reply_to to;
	cki_peer peer;
	cki_request *req;
	cki_op op;
	uint64_t started_us;
	uint64_t deadline;
	char key[CKI_KEY_MAX + 1];
	char ns[CKI_NAMESPACE_MAX + 1]; /* namespace of key ("default" when none) */
	uint8_t *owned;                 /* sealed value handed to the store; freed at the end */
	uint64_t held_bytes;            /* counted in inflight_bytes until the reply */
} call;

ck_err
cki_dispatch_new(cki_dispatch **out, const cki_dispatch_deps *deps)
{
	cki_dispatch *d = calloc(1, sizeof(*d));
	if (d == NULL)
		return CK_ENOMEM;
	d->deps = *deps;
	*out = d;
	return CK_OK;
}

void
cki_dispatch_set_reply(cki_dispatch *d, cki_reply_sink sink)
{
	d->reply = sink;
}

void
cki_dispatch_set_keyring(cki_dispatch *d, const cki_keyring *kr)
{
	d->deps.keyring = kr;
}

void
cki_dispatch_free(cki_dispatch *d)
{
	free(d);
}

size_t
cki_dispatch_inflight(const cki_dispatch *d)
{
	return d->inflight;
}

/* Sends resp (status/message filled by the caller) and ends the call. */
static void
finish(call *c, resp_t *resp)
{
	cki_dispatch *d = c->d;
	resp->id = c->req->id;
	if (resp->message == NULL)
		resp->message = (char *)"";
	if (resp->status != CK_OK)
		cki_metrics_inc(CKI_C_ERRORS);
	d->reply.send(d->reply.arg, &c->to, resp);
	cki_metrics_observe(c->op, cki_now_us() - c->started_us);
	cki_metrics_request(c->op, (int)resp->status);
	d->inflight--;
	d->inflight_bytes -= c->held_bytes;
	cki_request_free(c->req);
	free(c->owned);
	free(c);
}

static void
finish_status(call *c, ck_err err, const char *message)
{
	resp_t resp = CACHEKIT__AGENT__V1__RESPONSE__INIT;
	resp.status = err;
	resp.message = (char *)(message ? message : ck_strerror(err));
	finish(c, &resp);
}

static void
finish_store_error(call *c, const cki_store_reply *r)
{
	finish_status(c, r->err, r->message ? r->message : ck_strerror(r->err));
}

/* Validates key (with the request's namespace) into c->key. */
static bool
take_key(call *c, const char *key)
{
	const char *ns = c->req->namespace_ ? c->req->namespace_ : "";
	const char *why = NULL;
	if (cki_key_build(ns, strlen(ns), key ? key : "", key ? strlen(key) : 0, c->key,
	                  sizeof(c->key), &why) != CK_OK) {
		char m[160];
		snprintf(m, sizeof(m), "invalid cache key: %s", why ? why : "rejected");
		finish_status(c, CK_EINVALKEY, m);
		return false;
	}
	cki_key_namespace(c->key, c->ns, sizeof(c->ns));
	return true;
}

/* Policy for secure intent: a namespace may require it; it needs a keyring. */
static bool
check_secure(call *c, bool secure)
{
	const cki_config *cfg = c->d->deps.cfg;
	if (!secure && cki_list_contains(cfg->secure_namespaces, c->ns)) {
		char m[160];
		snprintf(m, sizeof(m), "namespace \"%s\" requires secure intent", c->ns);
		finish_status(c, CK_EDENIED, m);
		return false;
	}
	if (secure && c->d->deps.keyring == NULL) {
		finish_status(c, CK_ENOKEY,
		              "secure intent needs a master key (CACHEKIT_MASTER_KEY)");
		return false;
	}
	return true;
}

/* Sealed values in envelope namespaces are LZ4 envelopes inside (AAD flag "True"). */
static bool
uses_envelope(const call *c)
{
	return cki_list_contains(c->d->deps.cfg->envelope_namespaces, c->ns);
}

/* ---- get ---------------------------------------------------------------------------------- */

static void
done_get(void *arg, const cki_store_reply *r)
{
	call *c = arg;
	if (r->err != CK_OK) {
		finish_store_error(c, r);
		return;
	}
	resp_t resp = CACHEKIT__AGENT__V1__RESPONSE__INIT;
	Cachekit__Agent__V1__GetResult res = CACHEKIT__AGENT__V1__GET_RESULT__INIT;
	resp.result_case = CACHEKIT__AGENT__V1__RESPONSE__RESULT_GET;
	resp.get = &res;
	res.found = r->found;
	res.fresh_for_ms = -1;
	uint8_t *plain = NULL;
	if (r->found && c->req->get->secure) {
		ck_err err = cki_unseal_value(c->d->deps.keyring, c->key, c->req->get->format,
		                              uses_envelope(c), r->value, r->value_len, &plain,
		                              &res.value.len);
		if (err != CK_OK) {
			cki_metrics_inc(CKI_C_UNSEAL_FAILURES);
			cki_log_warn("value of %s failed to decrypt (%s)", c->key,
			             ck_strerror(err));
			if (c->d->deps.cfg->encryption_fail_closed) {
				finish_status(
				        c, CK_ECRYPTO,
				        "stored value failed authentication (wrong key, tampered, "
				        "or written without secure intent)");
				return;
			}
			res.found = false; /* never wrong bytes: a value we cannot open is a miss */
		} else {
			res.value.data = plain;
		}
	} else if (r->found) {
		res.value.data = (uint8_t *)r->value;
		res.value.len = r->value_len;
	}
	if (res.found) {
		cki_metrics_inc(CKI_C_GET_HITS);
		res.freshness = (Cachekit__Agent__V1__Freshness)r->freshness;
		res.fresh_for_ms = r->fresh_for_ms;
		if (r->freshness == CKI_STALE)
			cki_metrics_inc(CKI_C_GET_STALE);
		bool sliding_ns = cki_list_contains(c->d->deps.cfg->sliding_namespaces, c->ns);
		res.refresh_due = cki_refresh_on_hit(c->d->deps.refresh, c->key, r->freshness,
		                                     r->fresh_for_ms, sliding_ns);
	} else {
		res.value.len = 0;
		cki_metrics_inc(CKI_C_GET_MISSES);
	}
	finish(c, &resp);
	if (plain != NULL) {
		OPENSSL_cleanse(plain, res.value.len);
		free(plain);
	}
}

/* A store answer (possibly shared by several callers through single-flight). */
static void
done_get_from_store(void *arg, const cki_store_reply *r)
{
	call *c = arg;
	cki_l1_put(c->d->deps.l1, c->key, r);
	done_get(c, r);
}

static void
handle_get(call *c)
{
	Cachekit__Agent__V1__GetRequest *g = c->req->get;
	if (!take_key(c, g->key))
		return;
	if (!check_secure(c, g->secure))
		return;
	cki_dispatch_deps *deps = &c->d->deps;
	cki_store_reply hit;
	if (cki_l1_get(deps->l1, c->key, &hit)) {
		cki_metrics_inc(CKI_C_L1_HITS);
		done_get(c, &hit);
		return;
	}
	if (deps->cfg->l1_bytes > 0)
		cki_metrics_inc(CKI_C_L1_MISSES);
	cki_flight_get(deps->flight, c->key, c->deadline, done_get_from_store, c);
}

/* ---- set ---------------------------------------------------------------------------------- */

static void
done_set(void *arg, const cki_store_reply *r)
{
	call *c = arg;
	if (r->err != CK_OK) {
		finish_store_error(c, r);
		return;
	}
	cki_metrics_inc(CKI_C_SETS);
	cki_l1_forget(c->d->deps.l1, c->key); /* a Get may have refilled it meanwhile */
	Cachekit__Agent__V1__SetRequest *st = c->req->set;
	bool sliding = st->sliding || cki_list_contains(c->d->deps.cfg->sliding_namespaces, c->ns);
	cki_refresh_on_set(c->d->deps.refresh, c->key, st->ttl_s, st->stale_ttl_s, sliding);
	resp_t resp = CACHEKIT__AGENT__V1__RESPONSE__INIT;
	Cachekit__Agent__V1__SetResult res = CACHEKIT__AGENT__V1__SET_RESULT__INIT;
	resp.result_case = CACHEKIT__AGENT__V1__RESPONSE__RESULT_SET;
	resp.set = &res;
	finish(c, &resp);
}

#define TTL_MAX 2592000u

static void
handle_set(call *c)
{
	Cachekit__Agent__V1__SetRequest *st = c->req->set;
	const cki_config *cfg = c->d->deps.cfg;
	if (!take_key(c, st->key))
		return;
	if (st->value.len > cfg->max_value_bytes) {
		char m[128];
		snprintf(m, sizeof(m), "value of %zu bytes exceeds the limit of %llu bytes",
		         st->value.len, (unsigned long long)cfg->max_value_bytes);
		finish_status(c, CK_ETOOBIG, m);
		return;
	}
	if (st->ttl_s > TTL_MAX || st->stale_ttl_s > TTL_MAX - 1 ||
	    (st->stale_ttl_s > 0 && st->ttl_s == 0) ||
	    (uint64_t)st->ttl_s + st->stale_ttl_s > TTL_MAX) {
		finish_status(c, CK_EINVAL,
		              "ttl must be 0..2592000 s; stale ttl needs a ttl and ttl + stale ttl "
		              "<= 2592000 s");
		return;
	}
	if (!check_secure(c, st->secure))
		return;
	const uint8_t *value = st->value.data;
	size_t len = st->value.len;
	if (st->secure) {
		ck_err err = cki_seal_value(c->d->deps.keyring, c->key, st->format,
		                            uses_envelope(c), value, len, &c->owned, &len);
		if (err != CK_OK) {
			finish_status(c, err, "cannot encrypt the value");
			return;
		}
		value = c->owned;
		cki_metrics_inc(CKI_C_SEALED);
	}
	cki_put_opts po = {.ttl_s = st->ttl_s, .stale_ttl_s = st->stale_ttl_s};
	cki_l1_forget(c->d->deps.l1, c->key);
	cki_store *s = c->d->deps.store;
	s->ops->put(s, c->key, value, len, &po, c->deadline, done_set, c);
}

/* ---- delete, exists ------------------------------------------------------------------------ */

static void
done_delete(void *arg, const cki_store_reply *r)
{
	call *c = arg;
	if (r->err != CK_OK) {
		finish_store_error(c, r);
		return;
	}
	cki_metrics_inc(CKI_C_DELETES);
	cki_refresh_on_delete(c->d->deps.refresh, c->key);
	cki_l1_forget(c->d->deps.l1, c->key);
	resp_t resp = CACHEKIT__AGENT__V1__RESPONSE__INIT;
	Cachekit__Agent__V1__DeleteResult res = CACHEKIT__AGENT__V1__DELETE_RESULT__INIT;
	resp.result_case = CACHEKIT__AGENT__V1__RESPONSE__RESULT_DELETE;
	resp.delete_ = &res;
	res.existed = r->found;
	finish(c, &resp);
}

static void
handle_delete(call *c)
{
	if (!take_key(c, c->req->delete_->key))
		return;
	cki_l1_forget(c->d->deps.l1, c->key);
	cki_store *s = c->d->deps.store;
	s->ops->del(s, c->key, c->deadline, done_delete, c);
}

static void
done_exists(void *arg, const cki_store_reply *r)
{
	call *c = arg;
	if (r->err != CK_OK) {
		finish_store_error(c, r);
		return;
	}
	resp_t resp = CACHEKIT__AGENT__V1__RESPONSE__INIT;
	Cachekit__Agent__V1__ExistsResult res = CACHEKIT__AGENT__V1__EXISTS_RESULT__INIT;
	resp.result_case = CACHEKIT__AGENT__V1__RESPONSE__RESULT_EXISTS;
	resp.exists = &res;
	res.exists = r->found;
	finish(c, &resp);
}

static void
handle_exists(call *c)
{
	if (!take_key(c, c->req->exists->key))
		return;
	cki_store *s = c->d->deps.store;
	s->ops->exists(s, c->key, c->deadline, done_exists, c);
}

/* ---- ttl ------------------------------------------------------------------------------------ */

static void
done_get_ttl(void *arg, const cki_store_reply *r)
{
	call *c = arg;
	if (r->err != CK_OK) {
		finish_store_error(c, r);
		return;
	}
	resp_t resp = CACHEKIT__AGENT__V1__RESPONSE__INIT;
	Cachekit__Agent__V1__GetTtlResult res = CACHEKIT__AGENT__V1__GET_TTL_RESULT__INIT;
	resp.result_case = CACHEKIT__AGENT__V1__RESPONSE__RESULT_GET_TTL;
	resp.get_ttl = &res;
	res.found = r->found;
	res.ttl_s = r->found ? r->ttl_s : -1;
	finish(c, &resp);
}

static void
handle_get_ttl(call *c)
{
	if (!take_key(c, c->req->get_ttl->key))
		return;
	cki_store *s = c->d->deps.store;
	s->ops->get_ttl(s, c->key, c->deadline, done_get_ttl, c);
}

static void
done_refresh_ttl(void *arg, const cki_store_reply *r)
{
	call *c = arg;
	if (r->err != CK_OK) {
		finish_store_error(c, r);
		return;
	}
	resp_t resp = CACHEKIT__AGENT__V1__RESPONSE__INIT;
	Cachekit__Agent__V1__RefreshTtlResult res = CACHEKIT__AGENT__V1__REFRESH_TTL_RESULT__INIT;
	resp.result_case = CACHEKIT__AGENT__V1__RESPONSE__RESULT_REFRESH_TTL;
	resp.refresh_ttl = &res;
	res.refreshed = r->found;
	if (r->found)
		cki_refresh_on_touch(c->d->deps.refresh, c->key, c->req->refresh_ttl->ttl_s);
	cki_l1_forget(c->d->deps.l1, c->key); /* its Fresh-For bound changed */
	finish(c, &resp);
}

static void
handle_refresh_ttl(call *c)
{
	Cachekit__Agent__V1__RefreshTtlRequest *rt = c->req->refresh_ttl;
	if (!take_key(c, rt->key))
		return;
	if (rt->ttl_s < 1 || rt->ttl_s > TTL_MAX) {
		finish_status(c, CK_EINVAL, "ttl must be 1..2592000 seconds");
		return;
	}
	cki_store *s = c->d->deps.store;
	s->ops->touch(s, c->key, rt->ttl_s, c->deadline, done_refresh_ttl, c);
}

/* ---- locks ---------------------------------------------------------------------------------- */

static void
done_acquire(void *arg, const cki_lock_result *r)
{
	call *c = arg;
	if (r->err != CK_OK) {
		finish_status(c, r->err, r->message);
		return;
	}
	resp_t resp = CACHEKIT__AGENT__V1__RESPONSE__INIT;
	Cachekit__Agent__V1__AcquireLockResult res = CACHEKIT__AGENT__V1__ACQUIRE_LOCK_RESULT__INIT;
	resp.result_case = CACHEKIT__AGENT__V1__RESPONSE__RESULT_ACQUIRE_LOCK;
	resp.acquire_lock = &res;
	res.acquired = r->acquired;
	if (r->acquired) {
		res.handle.data = (uint8_t *)r->handle;
		res.handle.len = sizeof(r->handle);
		res.lease_ms = r->lease_ms;
	}
	finish(c, &resp);
}

static void
handle_acquire_lock(call *c)
{
	Cachekit__Agent__V1__AcquireLockRequest *al = c->req->acquire_lock;
	if (!take_key(c, al->name))
		return;
	cki_locks_acquire(c->d->deps.locks, c->key, al->lease_ms, al->wait_ms, c->deadline,
	                  &c->peer, done_acquire, c);
}

static void
done_release(void *arg, const cki_lock_result *r)
{
	call *c = arg;
	if (r->err != CK_OK) {
		finish_status(c, r->err, r->message);
		return;
	}
	resp_t resp = CACHEKIT__AGENT__V1__RESPONSE__INIT;
	Cachekit__Agent__V1__ReleaseLockResult res = CACHEKIT__AGENT__V1__RELEASE_LOCK_RESULT__INIT;
	resp.result_case = CACHEKIT__AGENT__V1__RESPONSE__RESULT_RELEASE_LOCK;
	resp.release_lock = &res;
	res.released = true;
	finish(c, &resp);
}

static void
handle_release_lock(call *c)
{
	Cachekit__Agent__V1__ReleaseLockRequest *rl = c->req->release_lock;
	cki_locks_release(c->d->deps.locks, rl->handle.data, rl->handle.len, &c->peer, c->deadline,
	                  done_release, c);
}

/* ---- health, stats ------------------------------------------------------------------------ */

static void
done_health(void *arg, const cki_store_reply *r)
{
	call *c = arg;
	cki_store *s = c->d->deps.store;
	resp_t resp = CACHEKIT__AGENT__V1__RESPONSE__INIT;
	Cachekit__Agent__V1__HealthResult res = CACHEKIT__AGENT__V1__HEALTH_RESULT__INIT;
	resp.result_case = CACHEKIT__AGENT__V1__RESPONSE__RESULT_HEALTH;
	resp.health = &res;
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
	finish(c, &resp);
}

static void
handle_health(call *c)
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

static void
handle_stats(call *c)
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
		finish_status(c, CK_ENOMEM, NULL);
		return;
	}
	cki_metrics_set_gauge("inflight_requests", (double)d->inflight);
	cki_metrics_set_gauge("inflight_bytes", (double)d->inflight_bytes);
	cki_metrics_set_gauge("locks_held", (double)cki_locks_count(d->deps.locks));
	cki_metrics_set_gauge("l1_bytes", (double)cki_l1_bytes(d->deps.l1));
	cki_metrics_set_gauge("l1_entries", (double)cki_l1_count(d->deps.l1));
	cki_metrics_set_gauge("refresh_tracked_keys", (double)cki_refresh_count(d->deps.refresh));
	cki_metrics_each(add_stat, &l);
	if (d->deps.store->ops->stats)
		d->deps.store->ops->stats(d->deps.store, add_stat, &l);
	qsort(l.ptrs, l.n, sizeof(*l.ptrs), cmp_stat); /* the contract: sorted by name */
	resp_t resp = CACHEKIT__AGENT__V1__RESPONSE__INIT;
	Cachekit__Agent__V1__StatsResult res = CACHEKIT__AGENT__V1__STATS_RESULT__INIT;
	resp.result_case = CACHEKIT__AGENT__V1__RESPONSE__RESULT_STATS;
	resp.stats = &res;
	res.n_stats = l.n;
	res.stats = l.ptrs;
	finish(c, &resp);
	free(l.items);
	free(l.ptrs);
	free(l.names);
}

/* ---- entry -------------------------------------------------------------------------------- */

void
cki_dispatch_handle(void *arg, const cki_reply_to *to, const cki_peer *peer, cki_request *req)
{
	cki_dispatch *d = arg;
	/* Bounded memory under a flood (or a stuck upstream): refuse, do not queue. */
	uint64_t bytes =
	        req->op_case == CACHEKIT__AGENT__V1__REQUEST__OP_SET ? req->set->value.len : 0;
	if (d->inflight >= d->deps.cfg->max_inflight ||
	    (bytes > 0 && d->inflight_bytes + bytes > d->deps.cfg->max_inflight_bytes)) {
		char m[128];
		snprintf(m, sizeof(m),
		         "agent overloaded: %zu requests (%llu value bytes) in progress",
		         d->inflight, (unsigned long long)d->inflight_bytes);
		cki_metrics_inc(CKI_C_OVERLOADED);
		cki_reply_status(&d->reply, to, req->id, CK_EOVERLOAD, m);
		cki_request_free(req);
		return;
	}
	call *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		cki_reply_status(&d->reply, to, req->id, CK_ENOMEM, "agent out of memory");
		cki_request_free(req);
		return;
	}
	const cki_config *cfg = d->deps.cfg;
	uint32_t budget = req->deadline_ms ? req->deadline_ms : cfg->timeout_ms;
	if (budget > cfg->max_deadline_ms)
		budget = cfg->max_deadline_ms;
	c->d = d;
	c->to = *to;
	c->peer = *peer;
	c->req = req;
	c->started_us = cki_now_us();
	c->deadline = c->started_us / 1000 + budget;
	d->inflight++;
	c->held_bytes = bytes;
	d->inflight_bytes += bytes;
	switch (req->op_case) {
	case CACHEKIT__AGENT__V1__REQUEST__OP_GET:
		c->op = CKI_OP_GET;
		handle_get(c);
		break;
	case CACHEKIT__AGENT__V1__REQUEST__OP_SET:
		c->op = CKI_OP_SET;
		handle_set(c);
		break;
	case CACHEKIT__AGENT__V1__REQUEST__OP_DELETE:
		c->op = CKI_OP_DELETE;
		handle_delete(c);
		break;
	case CACHEKIT__AGENT__V1__REQUEST__OP_EXISTS:
		c->op = CKI_OP_EXISTS;
		handle_exists(c);
		break;
	case CACHEKIT__AGENT__V1__REQUEST__OP_GET_TTL:
		c->op = CKI_OP_GET_TTL;
		handle_get_ttl(c);
		break;
	case CACHEKIT__AGENT__V1__REQUEST__OP_REFRESH_TTL:
		c->op = CKI_OP_REFRESH_TTL;
		handle_refresh_ttl(c);
		break;
	case CACHEKIT__AGENT__V1__REQUEST__OP_ACQUIRE_LOCK:
		c->op = CKI_OP_ACQUIRE_LOCK;
		handle_acquire_lock(c);
		break;
	case CACHEKIT__AGENT__V1__REQUEST__OP_RELEASE_LOCK:
		c->op = CKI_OP_RELEASE_LOCK;
		handle_release_lock(c);
		break;
	case CACHEKIT__AGENT__V1__REQUEST__OP_HEALTH:
		c->op = CKI_OP_HEALTH;
		handle_health(c);
		break;
	case CACHEKIT__AGENT__V1__REQUEST__OP_STATS:
		c->op = CKI_OP_STATS;
		handle_stats(c);
		break;
	default:
		c->op = CKI_OP_STATS;
		finish_status(c, CK_ENOTSUP, "operation not supported by this agent");
		break;
	}
}
