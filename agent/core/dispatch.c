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
#include "core/access.h"
#include "crypto/keyring.h"
#include "base/keys.h"
#include "base/log.h"
#include "base/metrics.h"
#include "crypto/ckframe.h"
#include "crypto/seal.h"
#include "core/batch.h"
#include "core/nearver.h"

typedef Cachekit__Agent__V1__Response resp_t;

struct cki_dispatch {
	cki_dispatch_deps deps;
	cki_reply_sink reply;
	cki_nearver *nearver; /* NULL: no version table, stubs keep no near copies */
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
	uint64_t near_ver;              /* Get: key's version-table slot before the read began */
	struct batch_call *batch;       /* an item of this batch (req is then a borrowed shell) */
	size_t batch_index;
} call;

/* A MultiGet or MultiSet between its arrival and its reply: its items run as calls. */
typedef struct batch_call {
	cki_reply_to to;
	cki_request *req;
	cki_batch *answers;
	size_t remaining; /* items not yet answered, plus one while items are being started */
	bool is_get;
} batch_call;

static void batch_item_done(cki_dispatch *d, batch_call *b, size_t i, const resp_t *resp);

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
cki_dispatch_set_nearver(cki_dispatch *d, cki_nearver *v)
{
	d->nearver = v;
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
	cki_metrics_observe(c->op, cki_now_us() - c->started_us);
	cki_metrics_request(c->op, (int)resp->status);
	d->inflight--;
	d->inflight_bytes -= c->held_bytes;
	if (c->batch != NULL) {
		batch_item_done(d, c->batch, c->batch_index, resp);
		free(c->req); /* a shell around the batch request's item */
	} else {
		d->reply.send(d->reply.arg, &c->to, resp);
		cki_request_free(c->req);
	}
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

/* Access rules (docs/access-rules.md): does the peer hold need on the key's namespace? Refused
 * calls end here with CK_EDENIED naming the operation and the namespace. */
static bool
check_access(call *c, unsigned need, const char *op)
{
	char m[200];
	if (cki_access_check(c->d->deps.cfg->policy.access, &c->peer, c->ns, need, op, m,
	                     sizeof(m)) == CK_OK)
		return true;
	cki_metrics_inc(CKI_C_DENIED);
	cki_log_warn("%s (pid %d)", m, c->peer.known ? (int)c->peer.pid : -1);
	finish_status(c, CK_EDENIED, m);
	return false;
}

/* check_access for a read or write that may carry secure intent. */
static bool
check_access_rw(call *c, unsigned right, bool secure)
{
	bool read = right == CKI_RIGHT_READ;
	return check_access(c, right | (secure ? CKI_RIGHT_SECURE : 0u),
	                    secure ? (read ? "read with secure intent" : "write with secure intent")
	                           : (read ? "read" : "write"));
}

/* Policy for secure intent: a namespace may require it; it needs a keyring. */
static bool
check_secure(call *c, bool secure, const char *format)
{
	const cki_config *cfg = c->d->deps.cfg;
	if (!secure && cki_ns_set_match(&cfg->policy.secure_ns, c->ns)) {
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
	if (secure && !cki_format_registered(format)) {
		finish_status(c, CK_EINVAL,
		              "format must be a registered token: msgpack, orjson or arrow");
		return false;
	}
	return true;
}

/* A write, delete or TTL change of c->key has completed (or failed, and may have happened):
 * later Gets must not join a read that began before it, and every stub's near copy of the key
 * becomes stale. Runs before the reply is sent. */
static void
key_written(call *c)
{
	cki_flight_forget(c->d->deps.flight, c->key);
	cki_nearver_bump(c->d->nearver, c->key);
}

/* Sealed values in envelope namespaces are LZ4 envelopes inside (AAD flag "True"). */
static bool
uses_envelope(const call *c)
{
	return cki_ns_set_match(&c->d->deps.cfg->policy.envelope_ns, c->ns);
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
	/* cachekit-py's auto-mode container is neither our bytes nor ciphertext: say what it is
	 * rather than hand it out as a value, a miss or a failed decryption (python-frame.json). */
	if (r->found && cki_ckframe_is_frame(r->value, r->value_len)) {
		finish_status(
		        c, CK_EAUTOMODE,
		        "entry was written by cachekit-py in auto mode (CK frame v3): read it "
		        "with cachekit-py, or run that writer in interop mode "
		        "(docs/mixed-deployments.md)");
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
		res.near_epoch = cki_nearver_epoch(c->d->nearver);
		res.near_version = c->near_ver;
		cki_metrics_inc(CKI_C_GET_HITS);
		res.freshness = (Cachekit__Agent__V1__Freshness)r->freshness;
		res.fresh_for_ms = r->fresh_for_ms;
		if (r->freshness == CKI_STALE)
			cki_metrics_inc(CKI_C_GET_STALE);
		bool sliding_ns = cki_ns_set_match(&c->d->deps.cfg->policy.sliding_ns, c->ns);
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

/* A store answer (possibly shared by several callers through single-flight). The storefront
 * has filled the L1 with it; a write of the key that completed during the read may have been
 * missed by it, so then the copy goes again. */
static void
done_get_from_store(void *arg, const cki_store_reply *r)
{
	call *c = arg;
	if (cki_nearver_read(c->d->nearver, c->key) != c->near_ver)
		cki_l1_forget(c->d->deps.l1, c->key);
	done_get(c, r);
}

static void
handle_get(call *c)
{
	Cachekit__Agent__V1__GetRequest *g = c->req->get;
	if (!take_key(c, g->key) || !check_access_rw(c, CKI_RIGHT_READ, g->secure))
		return;
	if (!check_secure(c, g->secure, g->format))
		return;
	cki_dispatch_deps *deps = &c->d->deps;
	cki_store_reply hit;
	/* Before the read: a write that completes after this point moves the slot past it. */
	c->near_ver = cki_nearver_read(c->d->nearver, c->key);
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
	key_written(c);
	if (r->err != CK_OK) {
		/* Tracked when the call went out; the store did not take it. */
		cki_refresh_on_delete(c->d->deps.refresh, c->key);
		finish_store_error(c, r);
		return;
	}
	cki_metrics_inc(CKI_C_SETS);
	resp_t resp = CACHEKIT__AGENT__V1__RESPONSE__INIT;
	Cachekit__Agent__V1__SetResult res = CACHEKIT__AGENT__V1__SET_RESULT__INIT;
	resp.result_case = CACHEKIT__AGENT__V1__RESPONSE__RESULT_SET;
	resp.set = &res;
	finish(c, &resp);
}

#define TTL_MAX ((uint32_t)CK_TTL_MAX) /* the shared table, common/ck_limits.h */

static void
handle_set(call *c)
{
	Cachekit__Agent__V1__SetRequest *st = c->req->set;
	const cki_config *cfg = c->d->deps.cfg;
	if (!take_key(c, st->key) || !check_access_rw(c, CKI_RIGHT_WRITE, st->secure))
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
	if (!check_secure(c, st->secure, st->format))
		return;
	/* A Set that names no TTL gets the configured default (protocol PRE-4: never-expire is
	 * an explicit opt-in, here the operator's default-ttl = 0). */
	if (st->ttl_s == 0)
		st->ttl_s = cfg->default_ttl_s;
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
	cki_store *s = c->d->deps.store;
	/* Tracked before the call, in the order the store applies writes: an embedded store that
	 * evicts this key for a later Set tells the tracker after this (and a failed Set forgets
	 * it in done_set). */
	bool sliding = st->sliding || cki_ns_set_match(&c->d->deps.cfg->policy.sliding_ns, c->ns);
	cki_refresh_on_set(c->d->deps.refresh, c->key, st->ttl_s, st->stale_ttl_s, sliding);
	s->ops->put(s, c->key, value, len, &po, c->deadline, done_set, c);
}

/* ---- delete, exists ------------------------------------------------------------------------ */

static void
done_delete(void *arg, const cki_store_reply *r)
{
	call *c = arg;
	key_written(c);
	if (r->err != CK_OK) {
		finish_store_error(c, r);
		return;
	}
	cki_metrics_inc(CKI_C_DELETES);
	cki_refresh_on_delete(c->d->deps.refresh, c->key);
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
	if (!take_key(c, c->req->delete_->key) || !check_access(c, CKI_RIGHT_DELETE, "delete"))
		return;
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
	if (!take_key(c, c->req->exists->key) || !check_access(c, CKI_RIGHT_READ, "read"))
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
	if (!take_key(c, c->req->get_ttl->key) || !check_access(c, CKI_RIGHT_READ, "read"))
		return;
	cki_store *s = c->d->deps.store;
	s->ops->get_ttl(s, c->key, c->deadline, done_get_ttl, c);
}

static void
done_refresh_ttl(void *arg, const cki_store_reply *r)
{
	call *c = arg;
	key_written(c);
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
	finish(c, &resp);
}

static void
handle_refresh_ttl(call *c)
{
	Cachekit__Agent__V1__RefreshTtlRequest *rt = c->req->refresh_ttl;
	if (!take_key(c, rt->key) || !check_access(c, CKI_RIGHT_WRITE, "write"))
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
	if (!take_key(c, al->name) || !check_access(c, CKI_RIGHT_LOCK, "lock"))
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
	res.released = r->released;
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
	cki_metrics_set_gauge("refresh_tracked_bytes", (double)cki_refresh_bytes(d->deps.refresh));
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

/* ---- batches ------------------------------------------------------------------------------ */

static void
batch_item_done(cki_dispatch *d, batch_call *b, size_t i, const resp_t *resp)
{
	if (resp != NULL)
		cki_batch_put(b->answers, i, resp);
	if (--b->remaining > 0)
		return;
	cki_batch_send(b->answers, &d->reply, &b->to, b->req->id, b->is_get);
	cki_request_free(b->req);
	free(b);
}

/* Runs each item as its own call (L1, single-flight, the store: all concurrently); the reply
 * goes out when the last one answers. */
static void
handle_batch(cki_dispatch *d, const cki_reply_to *to, const cki_peer *peer, cki_request *req)
{
	bool is_get = req->op_case == CACHEKIT__AGENT__V1__REQUEST__OP_MULTI_GET;
	size_t n = is_get ? req->multi_get->n_items : req->multi_set->n_items;
	batch_call *b = calloc(1, sizeof(*b));
	if (b == NULL || (b->answers = cki_batch_new(n)) == NULL) {
		free(b);
		cki_reply_status(&d->reply, to, req->id, CK_ENOMEM, "agent out of memory");
		cki_request_free(req);
		return;
	}
	b->to = *to;
	b->req = req;
	b->is_get = is_get;
	b->remaining = n + 1;
	const cki_config *cfg = d->deps.cfg;
	uint32_t budget = req->deadline_ms ? req->deadline_ms : cfg->timeout_ms;
	if (budget > cfg->max_deadline_ms)
		budget = cfg->max_deadline_ms;
	for (size_t i = 0; i < n; i++) {
		cki_request *shell = calloc(1, sizeof(*shell));
		call *c = shell ? calloc(1, sizeof(*c)) : NULL;
		if (c == NULL) {
			resp_t oom = CACHEKIT__AGENT__V1__RESPONSE__INIT;
			oom.status = CK_ENOMEM;
			oom.message = (char *)"agent out of memory";
			free(shell);
			batch_item_done(d, b, i, &oom);
			continue;
		}
		cachekit__agent__v1__request__init(shell);
		shell->id = req->id;
		shell->deadline_ms = req->deadline_ms;
		shell->namespace_ = req->namespace_;
		c->d = d;
		c->to = *to;
		c->peer = *peer;
		c->req = shell;
		c->batch = b;
		c->batch_index = i;
		c->started_us = cki_now_us();
		c->deadline = c->started_us / 1000 + budget;
		d->inflight++;
		if (is_get) {
			shell->op_case = CACHEKIT__AGENT__V1__REQUEST__OP_GET;
			shell->get = req->multi_get->items[i];
			c->op = CKI_OP_GET;
			handle_get(c);
		} else {
			shell->op_case = CACHEKIT__AGENT__V1__REQUEST__OP_SET;
			shell->set = req->multi_set->items[i];
			c->held_bytes = shell->set->value.len;
			d->inflight_bytes += c->held_bytes;
			c->op = CKI_OP_SET;
			handle_set(c);
		}
	}
	batch_item_done(d, b, n, NULL); /* every item started: drop the guard */
}

/* ---- entry -------------------------------------------------------------------------------- */

void
cki_dispatch_handle(void *arg, const cki_reply_to *to, const cki_peer *peer, cki_request *req)
{
	cki_dispatch *d = arg;
	/* Bounded memory under a flood (or a stuck upstream): refuse, do not queue. */
	uint64_t bytes =
	        req->op_case == CACHEKIT__AGENT__V1__REQUEST__OP_SET ? req->set->value.len : 0;
	size_t items = 1;
	if (req->op_case == CACHEKIT__AGENT__V1__REQUEST__OP_MULTI_GET)
		items = req->multi_get->n_items;
	if (req->op_case == CACHEKIT__AGENT__V1__REQUEST__OP_MULTI_SET) {
		items = req->multi_set->n_items;
		for (size_t i = 0; i < items; i++)
			bytes += req->multi_set->items[i]->value.len;
	}
	if (items > CKI_BATCH_MAX) {
		char m[96];
		snprintf(m, sizeof(m), "a batch holds at most %d items, not %zu", CKI_BATCH_MAX,
		         items);
		cki_reply_status(&d->reply, to, req->id, CK_EINVAL, m);
		cki_request_free(req);
		return;
	}
	if (d->inflight + items > d->deps.cfg->max_inflight ||
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
	if (req->op_case == CACHEKIT__AGENT__V1__REQUEST__OP_MULTI_GET ||
	    req->op_case == CACHEKIT__AGENT__V1__REQUEST__OP_MULTI_SET) {
		handle_batch(d, to, peer, req);
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
