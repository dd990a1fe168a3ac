/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Request building and reply mapping shared by the blocking (client.c) and asynchronous
 * (async.c) calls of libcachekit-stub; see requests.h.
 */
#include "requests.h"

#include <string.h>

#include "ck_limits.h"

ck_err
cki_req_check_key(const char *key)
{
	if (key == NULL)
		return CK_EINVAL;
	if (strlen(key) > CKI_STUB_MAX_KEY)
		return CK_EINVALKEY;
	return CK_OK;
}

bool
cki_req_format_too_long(const char *format)
{
	return format != NULL && strlen(format) > CKI_STUB_MAX_KEY;
}

static void
begin(cki_req *r, Cachekit__Agent__V1__Request__OpCase op, cki_reply_kind kind,
      const ck_call_opts *call)
{
	cachekit__agent__v1__request__init(&r->req);
	memset(&r->body, 0, sizeof(r->body));
	r->req.op_case = op;
	r->kind = kind;
	r->call = call;
}

ck_err
cki_req_get(cki_req *r, const char *key, const ck_get_opts *opts)
{
	ck_err rv = cki_req_check_key(key);
	if (rv != CK_OK)
		return rv;
	if (opts != NULL && cki_req_format_too_long(opts->format))
		return CK_EINVAL;
	begin(r, CACHEKIT__AGENT__V1__REQUEST__OP_GET, CKI_REPLY_GET, opts ? &opts->call : NULL);
	cki_req_fill_get(&r->body.get, key, opts);
	r->req.get = &r->body.get;
	return CK_OK;
}

void
cki_req_fill_get(Cachekit__Agent__V1__GetRequest *get, const char *key, const ck_get_opts *opts)
{
	cachekit__agent__v1__get_request__init(get);
	get->key = (char *)key;
	get->secure = opts != NULL && opts->secure;
	if (opts != NULL && opts->format != NULL)
		get->format = (char *)opts->format;
}

ck_err
cki_req_set(cki_req *r, const char *key, const void *value, size_t len, const ck_set_opts *opts)
{
	if (value == NULL && len > 0)
		return CK_EINVAL;
	ck_err rv = cki_req_check_key(key);
	if (rv != CK_OK)
		return rv;
	if (len > CKI_STUB_MAX_VALUE)
		return CK_ETOOBIG;
	if (opts != NULL && cki_req_format_too_long(opts->format))
		return CK_EINVAL;
	/* The TTL cap of the shared table (common/ck_limits.h), before a round trip. */
	if (opts != NULL && (opts->ttl_s > CK_TTL_MAX || opts->stale_ttl_s > CK_TTL_MAX ||
	                     (uint64_t)opts->ttl_s + opts->stale_ttl_s > CK_TTL_MAX))
		return CK_EINVAL;
	begin(r, CACHEKIT__AGENT__V1__REQUEST__OP_SET, CKI_REPLY_SET, opts ? &opts->call : NULL);
	cki_req_fill_set(&r->body.set, key, value, len, opts);
	r->req.set = &r->body.set;
	return CK_OK;
}

void
cki_req_fill_set(Cachekit__Agent__V1__SetRequest *set, const char *key, const void *value,
                 size_t len, const ck_set_opts *opts)
{
	cachekit__agent__v1__set_request__init(set);
	set->key = (char *)key;
	set->value.data = (uint8_t *)value;
	set->value.len = len;
	if (opts != NULL) {
		set->ttl_s = opts->ttl_s;
		set->stale_ttl_s = opts->stale_ttl_s;
		set->secure = opts->secure;
		set->sliding = opts->sliding;
		if (opts->format != NULL)
			set->format = (char *)opts->format;
	}
}

ck_err
cki_req_key_only(cki_req *r, cki_reply_kind kind, const char *key, const ck_call_opts *opts)
{
	ck_err rv = cki_req_check_key(key);
	if (rv != CK_OK)
		return rv;
	switch (kind) {
	case CKI_REPLY_DELETE:
		begin(r, CACHEKIT__AGENT__V1__REQUEST__OP_DELETE, kind, opts);
		cachekit__agent__v1__delete_request__init(r->req.delete_ = &r->body.del);
		r->body.del.key = (char *)key;
		break;
	case CKI_REPLY_EXISTS:
		begin(r, CACHEKIT__AGENT__V1__REQUEST__OP_EXISTS, kind, opts);
		cachekit__agent__v1__exists_request__init(r->req.exists = &r->body.exists);
		r->body.exists.key = (char *)key;
		break;
	case CKI_REPLY_GET_TTL:
		begin(r, CACHEKIT__AGENT__V1__REQUEST__OP_GET_TTL, kind, opts);
		cachekit__agent__v1__get_ttl_request__init(r->req.get_ttl = &r->body.get_ttl);
		r->body.get_ttl.key = (char *)key;
		break;
	default:
		return CK_EINVAL;
	}
	return CK_OK;
}

ck_err
cki_req_refresh_ttl(cki_req *r, const char *key, uint32_t ttl_s, const ck_call_opts *opts)
{
	ck_err rv = cki_req_check_key(key);
	if (rv != CK_OK)
		return rv;
	if (ttl_s < 1 || ttl_s > CK_TTL_MAX)
		return CK_EINVAL;
	begin(r, CACHEKIT__AGENT__V1__REQUEST__OP_REFRESH_TTL, CKI_REPLY_REFRESH_TTL, opts);
	cachekit__agent__v1__refresh_ttl_request__init(&r->body.refresh_ttl);
	r->body.refresh_ttl.key = (char *)key;
	r->body.refresh_ttl.ttl_s = ttl_s;
	r->req.refresh_ttl = &r->body.refresh_ttl;
	return CK_OK;
}

ck_err
cki_req_lock_acquire(cki_req *r, const char *name, const ck_lock_opts *opts)
{
	ck_err rv = cki_req_check_key(name);
	if (rv != CK_OK)
		return rv;
	begin(r, CACHEKIT__AGENT__V1__REQUEST__OP_ACQUIRE_LOCK, CKI_REPLY_ACQUIRE_LOCK,
	      opts ? &opts->call : NULL);
	Cachekit__Agent__V1__AcquireLockRequest *al = &r->body.acquire_lock;
	cachekit__agent__v1__acquire_lock_request__init(al);
	al->name = (char *)name;
	if (opts != NULL) {
		al->lease_ms = opts->lease_ms;
		al->wait_ms = opts->wait_ms;
	}
	r->req.acquire_lock = al;
	return CK_OK;
}

ck_err
cki_req_lock_release(cki_req *r, const ck_lock *lock, const ck_call_opts *opts)
{
	if (lock == NULL)
		return CK_EINVAL;
	begin(r, CACHEKIT__AGENT__V1__REQUEST__OP_RELEASE_LOCK, CKI_REPLY_RELEASE_LOCK, opts);
	Cachekit__Agent__V1__ReleaseLockRequest *rl = &r->body.release_lock;
	cachekit__agent__v1__release_lock_request__init(rl);
	rl->handle.data = (uint8_t *)cki_lock_handle(lock, &rl->handle.len);
	r->req.release_lock = rl;
	return CK_OK;
}

ck_err
cki_req_lock_renew(cki_req *r, const ck_lock *lock, uint32_t lease_ms, const ck_call_opts *opts)
{
	if (lock == NULL)
		return CK_EINVAL;
	begin(r, CACHEKIT__AGENT__V1__REQUEST__OP_RENEW_LOCK, CKI_REPLY_RENEW_LOCK, opts);
	Cachekit__Agent__V1__RenewLockRequest *rl = &r->body.renew_lock;
	cachekit__agent__v1__renew_lock_request__init(rl);
	rl->handle.data = (uint8_t *)cki_lock_handle(lock, &rl->handle.len);
	rl->lease_ms = lease_ms;
	r->req.renew_lock = rl;
	return CK_OK;
}

void
cki_req_health(cki_req *r, const ck_call_opts *opts)
{
	begin(r, CACHEKIT__AGENT__V1__REQUEST__OP_HEALTH, CKI_REPLY_HEALTH, opts);
	cachekit__agent__v1__health_request__init(&r->body.health);
	r->req.health = &r->body.health;
}

void
cki_req_stats(cki_req *r, const ck_call_opts *opts)
{
	begin(r, CACHEKIT__AGENT__V1__REQUEST__OP_STATS, CKI_REPLY_STATS, opts);
	cachekit__agent__v1__stats_request__init(&r->body.stats);
	r->req.stats = &r->body.stats;
}

ck_err
cki_req_outcome(cki_reply_kind kind, ck_err rv, const cki_reply *reply)
{
	if (rv != CK_OK || reply->flag)
		return rv;
	switch (kind) {
	case CKI_REPLY_GET:
	case CKI_REPLY_GET_TTL:
		return CK_ENOTFOUND;
	case CKI_REPLY_ACQUIRE_LOCK:
		return CK_EBUSY;
	default:
		return rv;
	}
}

cki_near *
cki_req_near(ck_client *c, const char *key, const ck_get_opts *opts, cki_near_key *nk)
{
	cki_near *near = cki_client_near(c);
	const char *ns = opts != NULL && opts->call.ns != NULL ? opts->call.ns : cki_client_ns(c);
	if (near == NULL || (ns != NULL && strlen(ns) > CKI_STUB_MAX_NS))
		return NULL;
	cki_near_key_of(near, ns, key, opts != NULL && opts->secure,
	                opts != NULL ? opts->format : NULL, nk);
	return near;
}
