/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The submit calls of the asynchronous API for single operations (cachekit/async.h): each
 * builds its Request through requests.c, exactly as its blocking twin in client.c does, and
 * hands it to async.c, which tracks it until its reply, deadline or the client's close. A get
 * held in the near cache completes at the next ck_client_process() without a round trip.
 */
#include "cachekit/async.h"

#include "async_int.h"

/* Submits r if the caller gave a client and a callback and r was built (built: its builder's
 * result, which wins over nothing but a missing client or callback). */
static ck_err
submit(ck_client *c, ck_callback cb, void *arg, ck_err built, cki_req *r)
{
	if (c == NULL || cb == NULL)
		return CK_EINVAL;
	if (built != CK_OK)
		return built;
	return cki_async_submit_req(c, r, NULL, cb, arg);
}

ck_err
ck_get_async(ck_client *c, const char *key, const ck_get_opts *opts, ck_callback cb, void *arg)
{
	cki_req r;
	cki_near_key nk;
	ck_value *hit = NULL;
	ck_err rv;

	if (c == NULL || cb == NULL)
		return CK_EINVAL;
	if ((rv = cki_req_get(&r, key, opts)) != CK_OK)
		return rv;
	cki_near *near = cki_req_near(c, key, opts, &nk);
	if (near != NULL && cki_near_get(near, &nk, &hit))
		return cki_async_ready_hit(c, hit, cb, arg);
	return cki_async_submit_req(c, &r, near ? &nk : NULL, cb, arg);
}

ck_err
ck_set_async(ck_client *c, const char *key, const void *value, size_t len, const ck_set_opts *opts,
             ck_callback cb, void *arg)
{
	cki_req r;
	return submit(c, cb, arg, cki_req_set(&r, key, value, len, opts), &r);
}

ck_err
ck_delete_async(ck_client *c, const char *key, const ck_call_opts *opts, ck_callback cb, void *arg)
{
	cki_req r;
	return submit(c, cb, arg, cki_req_key_only(&r, CKI_REPLY_DELETE, key, opts), &r);
}

ck_err
ck_exists_async(ck_client *c, const char *key, const ck_call_opts *opts, ck_callback cb, void *arg)
{
	cki_req r;
	return submit(c, cb, arg, cki_req_key_only(&r, CKI_REPLY_EXISTS, key, opts), &r);
}

ck_err
ck_get_ttl_async(ck_client *c, const char *key, const ck_call_opts *opts, ck_callback cb, void *arg)
{
	cki_req r;
	return submit(c, cb, arg, cki_req_key_only(&r, CKI_REPLY_GET_TTL, key, opts), &r);
}

ck_err
ck_refresh_ttl_async(ck_client *c, const char *key, uint32_t ttl_s, const ck_call_opts *opts,
                     ck_callback cb, void *arg)
{
	cki_req r;
	return submit(c, cb, arg, cki_req_refresh_ttl(&r, key, ttl_s, opts), &r);
}

ck_err
ck_lock_acquire_async(ck_client *c, const char *name, const ck_lock_opts *opts, ck_callback cb,
                      void *arg)
{
	cki_req r;
	return submit(c, cb, arg, cki_req_lock_acquire(&r, name, opts), &r);
}

ck_err
ck_lock_release_async(ck_client *c, ck_lock *lock, const ck_call_opts *opts, ck_callback cb,
                      void *arg)
{
	cki_req r;
	/* The handle bytes are copied into the frame by the send; the lock goes either way (a NULL
	 * lock is the builder's CK_EINVAL). */
	ck_err rv = submit(c, cb, arg, cki_req_lock_release(&r, lock, opts), &r);
	ck_lock_free(lock);
	return rv;
}

ck_err
ck_lock_renew_async(ck_client *c, const ck_lock *lock, uint32_t lease_ms, const ck_call_opts *opts,
                    ck_callback cb, void *arg)
{
	cki_req r;
	/* The handle bytes are copied into the frame by the send: the lock stays the caller's. */
	return submit(c, cb, arg, cki_req_lock_renew(&r, lock, lease_ms, opts), &r);
}

ck_err
ck_health_check_async(ck_client *c, const ck_call_opts *opts, ck_callback cb, void *arg)
{
	cki_req r;
	cki_req_health(&r, opts);
	return submit(c, cb, arg, CK_OK, &r);
}

ck_err
ck_stats_get_async(ck_client *c, const ck_call_opts *opts, ck_callback cb, void *arg)
{
	cki_req r;
	cki_req_stats(&r, opts);
	return submit(c, cb, arg, CK_OK, &r);
}
