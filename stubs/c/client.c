/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The blocking calls of libcachekit-stub (include/cachekit/stub.h): each ck_* operation builds
 * its Request through requests.c (argument checks included), runs one exchange with the agent
 * (cki_exchange, transport.c) and hands the reply's result to the caller; requests.c maps a
 * miss to CK_ENOTFOUND and a lock held elsewhere to CK_EBUSY. The client handle and its socket
 * live in transport.c; the result types and their free functions in results.c.
 */
#include "cachekit/stub.h"

#include <string.h>

#include "requests.h"

/* One exchange of r if the caller's arguments hold (args_ok: a client, and somewhere for the
 * result) and r was built (built: its builder's result, which only a missing argument beats);
 * the result after requests.c's mapping. reply is always initialised: the caller takes its
 * result from it and clears it. */
static ck_err
run(ck_client *c, bool args_ok, ck_err built, cki_req *r, cki_reply *reply)
{
	memset(reply, 0, sizeof(*reply));
	if (c == NULL || !args_ok)
		return CK_EINVAL;
	if (built != CK_OK)
		return built;
	ck_err rv = cki_exchange(c, r->call, &r->req, r->kind, reply);
	return cki_req_outcome(r->kind, rv, reply);
}

/* The calls whose result is at most a flag and a number (set, delete, exists, get_ttl,
 * refresh_ttl, lock release and renewal): run() with them copied out on CK_OK. */
static ck_err
run_scalar(ck_client *c, bool args_ok, ck_err built, cki_req *r, bool *flag, int64_t *ttl_s)
{
	cki_reply reply;
	ck_err rv = run(c, args_ok, built, r, &reply);
	if (rv == CK_OK && flag != NULL)
		*flag = reply.flag;
	if (rv == CK_OK && ttl_s != NULL)
		*ttl_s = reply.ttl_s;
	cki_reply_clear(&reply);
	return rv;
}

/* ---- values ----------------------------------------------------------------------------- */

ck_err
ck_get(ck_client *c, const char *key, const ck_get_opts *opts, ck_value **out)
{
	cki_req r;
	cki_reply reply;
	cki_near_key nk;
	ck_err rv;

	if (c == NULL || out == NULL)
		return CK_EINVAL;
	if ((rv = cki_req_get(&r, key, opts)) != CK_OK)
		return rv;
	cki_near *near = cki_req_near(c, key, opts, &nk);
	if (near != NULL && cki_near_get(near, &nk, out))
		return CK_OK;
	rv = run(c, true, CK_OK, &r, &reply);
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
	cki_req r;
	return run_scalar(c, true, cki_req_set(&r, key, value, len, opts), &r, NULL, NULL);
}

ck_err
ck_delete(ck_client *c, const char *key, const ck_call_opts *opts, bool *existed)
{
	cki_req r;
	return run_scalar(c, true, cki_req_key_only(&r, CKI_REPLY_DELETE, key, opts), &r, existed,
	                  NULL);
}

ck_err
ck_exists(ck_client *c, const char *key, const ck_call_opts *opts, bool *exists)
{
	cki_req r;
	return run_scalar(c, exists != NULL, cki_req_key_only(&r, CKI_REPLY_EXISTS, key, opts), &r,
	                  exists, NULL);
}

ck_err
ck_get_ttl(ck_client *c, const char *key, const ck_call_opts *opts, int64_t *ttl_s)
{
	cki_req r;
	return run_scalar(c, ttl_s != NULL, cki_req_key_only(&r, CKI_REPLY_GET_TTL, key, opts), &r,
	                  NULL, ttl_s);
}

ck_err
ck_refresh_ttl(ck_client *c, const char *key, uint32_t ttl_s, const ck_call_opts *opts,
               bool *refreshed)
{
	cki_req r;
	return run_scalar(c, true, cki_req_refresh_ttl(&r, key, ttl_s, opts), &r, refreshed, NULL);
}

/* ---- locks ------------------------------------------------------------------------------ */

ck_err
ck_lock_acquire(ck_client *c, const char *name, const ck_lock_opts *opts, ck_lock **out)
{
	cki_req r;
	cki_reply reply;
	ck_err rv = run(c, out != NULL, cki_req_lock_acquire(&r, name, opts), &r, &reply);

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
	cki_req r;
	/* The Request only borrows the handle bytes; the lock is freed below either way (a NULL
	 * lock is the builder's CK_EINVAL). */
	ck_err rv = run_scalar(c, true, cki_req_lock_release(&r, lock, opts), &r, NULL, NULL);
	ck_lock_free(lock);
	return rv;
}

ck_err
ck_lock_renew(ck_client *c, ck_lock *lock, uint32_t lease_ms, const ck_call_opts *opts)
{
	cki_req r;
	int64_t granted_ms = 0;
	ck_err rv = run_scalar(c, true, cki_req_lock_renew(&r, lock, lease_ms, opts), &r, NULL,
	                       &granted_ms);
	if (rv == CK_OK)
		cki_lock_set_lease(lock, granted_ms);
	return rv;
}

/* ---- health and stats ------------------------------------------------------------------- */

ck_err
ck_health_check(ck_client *c, const ck_call_opts *opts, ck_health **out)
{
	cki_req r;
	cki_reply reply;

	cki_req_health(&r, opts);
	ck_err rv = run(c, out != NULL, CK_OK, &r, &reply);
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
	cki_req r;
	cki_reply reply;

	cki_req_stats(&r, opts);
	ck_err rv = run(c, out != NULL, CK_OK, &r, &reply);
	if (rv == CK_OK) {
		*out = reply.stats;
		reply.stats = NULL;
	}
	cki_reply_clear(&reply);
	return rv;
}
