/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The calls of libcachekit-stub (include/cachekit/stub.h): each ck_* operation checks its
 * arguments against the stub's caps, builds its protobuf Request, runs one exchange with the
 * agent (cki_exchange, transport.c) and turns the reply into the call's result, such as a miss
 * becoming CK_ENOTFOUND or a lock held elsewhere CK_EBUSY. The client handle and its socket
 * live in transport.c; the result types and their free functions in results.c.
 */
#include "cachekit/stub.h"

#include <string.h>

#include "cachekit/agent/v1/agent.pb-c.h"
#include "ck_limits.h"
#include "near.h"
#include "stub_internal.h"

typedef Cachekit__Agent__V1__Request Request;

static ck_err
check_key(const char *key)
{
	if (key == NULL)
		return CK_EINVAL;
	if (strlen(key) > CKI_STUB_MAX_KEY)
		return CK_EINVALKEY;
	return CK_OK;
}

/* ---- values ----------------------------------------------------------------------------- */

ck_err
ck_get(ck_client *c, const char *key, const ck_get_opts *opts, ck_value **out)
{
	Request req = CACHEKIT__AGENT__V1__REQUEST__INIT;
	Cachekit__Agent__V1__GetRequest get = CACHEKIT__AGENT__V1__GET_REQUEST__INIT;
	cki_reply reply;
	ck_err rv;

	if (c == NULL || out == NULL)
		return CK_EINVAL;
	if ((rv = check_key(key)) != CK_OK)
		return rv;
	if (opts != NULL && opts->format != NULL && strlen(opts->format) > CKI_STUB_MAX_KEY)
		return CK_EINVAL;
	cki_near *near = cki_client_near(c);
	const char *ns = opts != NULL && opts->call.ns != NULL ? opts->call.ns : cki_client_ns(c);
	cki_near_key nk;
	if (near != NULL && (ns == NULL || strlen(ns) <= CKI_STUB_MAX_NS)) {
		cki_near_key_of(near, ns, key, opts != NULL && opts->secure,
		                opts != NULL ? opts->format : NULL, &nk);
		if (cki_near_get(near, &nk, out))
			return CK_OK;
	} else {
		near = NULL;
	}
	get.key = (char *)key;
	get.secure = opts != NULL && opts->secure;
	if (opts != NULL && opts->format != NULL)
		get.format = (char *)opts->format;
	req.op_case = CACHEKIT__AGENT__V1__REQUEST__OP_GET;
	req.get = &get;
	rv = cki_exchange(c, opts ? &opts->call : NULL, &req, CKI_REPLY_GET, &reply);
	if (rv == CK_OK && !reply.flag)
		rv = CK_ENOTFOUND;
	if (rv == CK_OK) {
		if (near != NULL)
			cki_near_put(near, &nk, reply.value, reply.near_epoch, reply.near_version);
		*out = reply.value;
		reply.value = NULL;
	}
	cki_reply_clear(&reply);
	return rv;
}

ck_err
ck_set(ck_client *c, const char *key, const void *value, size_t len, const ck_set_opts *opts)
{
	Request req = CACHEKIT__AGENT__V1__REQUEST__INIT;
	Cachekit__Agent__V1__SetRequest set = CACHEKIT__AGENT__V1__SET_REQUEST__INIT;
	cki_reply reply;
	ck_err rv;

	if (c == NULL || (value == NULL && len > 0))
		return CK_EINVAL;
	if ((rv = check_key(key)) != CK_OK)
		return rv;
	if (len > CKI_STUB_MAX_VALUE)
		return CK_ETOOBIG;
	if (opts != NULL && opts->format != NULL && strlen(opts->format) > CKI_STUB_MAX_KEY)
		return CK_EINVAL;
	/* The TTL cap of the shared table (common/ck_limits.h), before a round trip. */
	if (opts != NULL && (opts->ttl_s > CK_TTL_MAX || opts->stale_ttl_s > CK_TTL_MAX ||
	                     (uint64_t)opts->ttl_s + opts->stale_ttl_s > CK_TTL_MAX))
		return CK_EINVAL;
	set.key = (char *)key;
	set.value.data = (uint8_t *)value;
	set.value.len = len;
	if (opts != NULL) {
		set.ttl_s = opts->ttl_s;
		set.stale_ttl_s = opts->stale_ttl_s;
		set.secure = opts->secure;
		set.sliding = opts->sliding;
		if (opts->format != NULL)
			set.format = (char *)opts->format;
	}
	req.op_case = CACHEKIT__AGENT__V1__REQUEST__OP_SET;
	req.set = &set;
	rv = cki_exchange(c, opts ? &opts->call : NULL, &req, CKI_REPLY_SET, &reply);
	cki_reply_clear(&reply);
	return rv;
}

ck_err
ck_delete(ck_client *c, const char *key, const ck_call_opts *opts, bool *existed)
{
	Request req = CACHEKIT__AGENT__V1__REQUEST__INIT;
	Cachekit__Agent__V1__DeleteRequest del = CACHEKIT__AGENT__V1__DELETE_REQUEST__INIT;
	cki_reply reply;
	ck_err rv;

	if (c == NULL)
		return CK_EINVAL;
	if ((rv = check_key(key)) != CK_OK)
		return rv;
	del.key = (char *)key;
	req.op_case = CACHEKIT__AGENT__V1__REQUEST__OP_DELETE;
	req.delete_ = &del;
	rv = cki_exchange(c, opts, &req, CKI_REPLY_DELETE, &reply);
	if (rv == CK_OK && existed != NULL)
		*existed = reply.flag;
	cki_reply_clear(&reply);
	return rv;
}

ck_err
ck_exists(ck_client *c, const char *key, const ck_call_opts *opts, bool *exists)
{
	Request req = CACHEKIT__AGENT__V1__REQUEST__INIT;
	Cachekit__Agent__V1__ExistsRequest ex = CACHEKIT__AGENT__V1__EXISTS_REQUEST__INIT;
	cki_reply reply;
	ck_err rv;

	if (c == NULL || exists == NULL)
		return CK_EINVAL;
	if ((rv = check_key(key)) != CK_OK)
		return rv;
	ex.key = (char *)key;
	req.op_case = CACHEKIT__AGENT__V1__REQUEST__OP_EXISTS;
	req.exists = &ex;
	rv = cki_exchange(c, opts, &req, CKI_REPLY_EXISTS, &reply);
	if (rv == CK_OK)
		*exists = reply.flag;
	cki_reply_clear(&reply);
	return rv;
}

ck_err
ck_get_ttl(ck_client *c, const char *key, const ck_call_opts *opts, int64_t *ttl_s)
{
	Request req = CACHEKIT__AGENT__V1__REQUEST__INIT;
	Cachekit__Agent__V1__GetTtlRequest gt = CACHEKIT__AGENT__V1__GET_TTL_REQUEST__INIT;
	cki_reply reply;
	ck_err rv;

	if (c == NULL || ttl_s == NULL)
		return CK_EINVAL;
	if ((rv = check_key(key)) != CK_OK)
		return rv;
	gt.key = (char *)key;
	req.op_case = CACHEKIT__AGENT__V1__REQUEST__OP_GET_TTL;
	req.get_ttl = &gt;
	rv = cki_exchange(c, opts, &req, CKI_REPLY_GET_TTL, &reply);
	if (rv == CK_OK && !reply.flag)
		rv = CK_ENOTFOUND;
	if (rv == CK_OK)
		*ttl_s = reply.ttl_s;
	cki_reply_clear(&reply);
	return rv;
}

ck_err
ck_refresh_ttl(ck_client *c, const char *key, uint32_t ttl_s, const ck_call_opts *opts,
               bool *refreshed)
{
	Request req = CACHEKIT__AGENT__V1__REQUEST__INIT;
	Cachekit__Agent__V1__RefreshTtlRequest rt = CACHEKIT__AGENT__V1__REFRESH_TTL_REQUEST__INIT;
	cki_reply reply;
	ck_err rv;

	if (c == NULL)
		return CK_EINVAL;
	if ((rv = check_key(key)) != CK_OK)
		return rv;
	if (ttl_s < 1 || ttl_s > CK_TTL_MAX)
		return CK_EINVAL;
	rt.key = (char *)key;
	rt.ttl_s = ttl_s;
	req.op_case = CACHEKIT__AGENT__V1__REQUEST__OP_REFRESH_TTL;
	req.refresh_ttl = &rt;
	rv = cki_exchange(c, opts, &req, CKI_REPLY_REFRESH_TTL, &reply);
	if (rv == CK_OK && refreshed != NULL)
		*refreshed = reply.flag;
	cki_reply_clear(&reply);
	return rv;
}

/* ---- locks ------------------------------------------------------------------------------ */

ck_err
ck_lock_acquire(ck_client *c, const char *name, const ck_lock_opts *opts, ck_lock **out)
{
	Request req = CACHEKIT__AGENT__V1__REQUEST__INIT;
	Cachekit__Agent__V1__AcquireLockRequest al =
	        CACHEKIT__AGENT__V1__ACQUIRE_LOCK_REQUEST__INIT;
	cki_reply reply;
	ck_err rv;

	if (c == NULL || out == NULL)
		return CK_EINVAL;
	if ((rv = check_key(name)) != CK_OK)
		return rv;
	al.name = (char *)name;
	if (opts != NULL) {
		al.lease_ms = opts->lease_ms;
		al.wait_ms = opts->wait_ms;
	}
	req.op_case = CACHEKIT__AGENT__V1__REQUEST__OP_ACQUIRE_LOCK;
	req.acquire_lock = &al;
	rv = cki_exchange(c, opts ? &opts->call : NULL, &req, CKI_REPLY_ACQUIRE_LOCK, &reply);
	if (rv == CK_OK && !reply.flag)
		rv = CK_EBUSY;
	if (rv == CK_OK) {
		*out = reply.lock;
		reply.lock = NULL;
	}
	cki_reply_clear(&reply);
	return rv;
}

ck_err
ck_lock_release(ck_client *c, ck_lock *lock, const ck_call_opts *opts)
{
	Request req = CACHEKIT__AGENT__V1__REQUEST__INIT;
	Cachekit__Agent__V1__ReleaseLockRequest rl =
	        CACHEKIT__AGENT__V1__RELEASE_LOCK_REQUEST__INIT;
	cki_reply reply;
	ck_err rv;

	if (c == NULL || lock == NULL) {
		rv = CK_EINVAL;
		goto out;
	}
	/* The Request only borrows the handle bytes; the lock is freed below either way. */
	rl.handle.data = (uint8_t *)cki_lock_handle(lock, &rl.handle.len);
	req.op_case = CACHEKIT__AGENT__V1__REQUEST__OP_RELEASE_LOCK;
	req.release_lock = &rl;
	rv = cki_exchange(c, opts, &req, CKI_REPLY_RELEASE_LOCK, &reply);
	cki_reply_clear(&reply);
out:
	ck_lock_free(lock);
	return rv;
}

/* ---- health and stats ------------------------------------------------------------------- */

ck_err
ck_health_check(ck_client *c, const ck_call_opts *opts, ck_health **out)
{
	Request req = CACHEKIT__AGENT__V1__REQUEST__INIT;
	Cachekit__Agent__V1__HealthRequest hr = CACHEKIT__AGENT__V1__HEALTH_REQUEST__INIT;
	cki_reply reply;
	ck_err rv;

	if (c == NULL || out == NULL)
		return CK_EINVAL;
	req.op_case = CACHEKIT__AGENT__V1__REQUEST__OP_HEALTH;
	req.health = &hr;
	rv = cki_exchange(c, opts, &req, CKI_REPLY_HEALTH, &reply);
	if (rv == CK_OK) {
		*out = reply.health;
		reply.health = NULL;
	}
	cki_reply_clear(&reply);
	return rv;
}

ck_err
ck_stats_get(ck_client *c, const ck_call_opts *opts, ck_stats **out)
{
	Request req = CACHEKIT__AGENT__V1__REQUEST__INIT;
	Cachekit__Agent__V1__StatsRequest sr = CACHEKIT__AGENT__V1__STATS_REQUEST__INIT;
	cki_reply reply;
	ck_err rv;

	if (c == NULL || out == NULL)
		return CK_EINVAL;
	req.op_case = CACHEKIT__AGENT__V1__REQUEST__OP_STATS;
	req.stats = &sr;
	rv = cki_exchange(c, opts, &req, CKI_REPLY_STATS, &reply);
	if (rv == CK_OK) {
		*out = reply.stats;
		reply.stats = NULL;
	}
	cki_reply_clear(&reply);
	return rv;
}
