/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to libcachekit-stub: the one place each single-key operation is checked and turned
 * into a protobuf Request, and where its reply becomes the call's result code. The blocking
 * calls (client.c) and the asynchronous ones (async.c) both build through here, so a field
 * added to a request, or a rule for an argument, is written once. A cki_req borrows every
 * pointer it was built from (key, value, options, lock handle) and holds no heap memory.
 */
#ifndef CKI_STUB_REQUESTS_H
#define CKI_STUB_REQUESTS_H

#include "cachekit/agent/v1/agent.pb-c.h"
#include "cachekit/stub.h"
#include "near.h"
#include "stub_internal.h"

/* A Request with room for the body of any single-key operation. */
typedef struct cki_req {
	Cachekit__Agent__V1__Request req;
	union {
		Cachekit__Agent__V1__GetRequest get;
		Cachekit__Agent__V1__SetRequest set;
		Cachekit__Agent__V1__DeleteRequest del;
		Cachekit__Agent__V1__ExistsRequest exists;
		Cachekit__Agent__V1__GetTtlRequest get_ttl;
		Cachekit__Agent__V1__RefreshTtlRequest refresh_ttl;
		Cachekit__Agent__V1__AcquireLockRequest acquire_lock;
		Cachekit__Agent__V1__ReleaseLockRequest release_lock;
		Cachekit__Agent__V1__RenewLockRequest renew_lock;
		Cachekit__Agent__V1__HealthRequest health;
		Cachekit__Agent__V1__StatsRequest stats;
	} body;
	cki_reply_kind kind;      /* the result the reply must carry */
	const ck_call_opts *call; /* the per-call options (may be NULL) */
} cki_req;

/* The argument rules every builder applies (batch.c too): a key or lock name is CK_EINVAL when
 * NULL and CK_EINVALKEY when longer than CKI_STUB_MAX_KEY; a format is too long past it. */
CK_NODISCARD ck_err cki_req_check_key(const char *key);
bool cki_req_format_too_long(const char *format);

/* Each builder checks its arguments exactly as the blocking call documents (CK_EINVAL,
 * CK_EINVALKEY, CK_ETOOBIG) and on CK_OK fills *r. c is only checked for NULL here. */
CK_NODISCARD ck_err cki_req_get(cki_req *r, const char *key, const ck_get_opts *opts);
CK_NODISCARD ck_err cki_req_set(cki_req *r, const char *key, const void *value, size_t len,
                                const ck_set_opts *opts);
/* Fills one GetRequest from checked arguments (also each item of a MultiGet, batch.c). */
void cki_req_fill_get(Cachekit__Agent__V1__GetRequest *get, const char *key,
                      const ck_get_opts *opts);
/* Fills one SetRequest from checked arguments (also each item of a MultiSet, batch.c). */
void cki_req_fill_set(Cachekit__Agent__V1__SetRequest *set, const char *key, const void *value,
                      size_t len, const ck_set_opts *opts);
/* delete, exists or get_ttl of key, as kind says (CKI_REPLY_DELETE, _EXISTS, _GET_TTL; any
 * other kind is CK_EINVAL): the three requests whose body is the key alone (agent.proto). */
CK_NODISCARD ck_err cki_req_key_only(cki_req *r, cki_reply_kind kind, const char *key,
                                     const ck_call_opts *opts);
CK_NODISCARD ck_err cki_req_refresh_ttl(cki_req *r, const char *key, uint32_t ttl_s,
                                        const ck_call_opts *opts);
CK_NODISCARD ck_err cki_req_lock_acquire(cki_req *r, const char *name, const ck_lock_opts *opts);
/* Borrows lock's handle bytes: keep lock alive until the request is sent. */
CK_NODISCARD ck_err cki_req_lock_release(cki_req *r, const ck_lock *lock, const ck_call_opts *opts);
/* Borrows lock's handle bytes, as release does. */
CK_NODISCARD ck_err cki_req_lock_renew(cki_req *r, const ck_lock *lock, uint32_t lease_ms,
                                       const ck_call_opts *opts);
void cki_req_health(cki_req *r, const ck_call_opts *opts);
void cki_req_stats(cki_req *r, const ck_call_opts *opts);

/* The call's result from an exchange's result rv and its reply: a get or get_ttl that found
 * nothing is CK_ENOTFOUND, a lock held elsewhere CK_EBUSY; everything else is rv. */
ck_err cki_req_outcome(cki_reply_kind kind, ck_err rv, const cki_reply *reply);

/* The near cache a get of key with opts may use (NULL: none, or a namespace too long to key
 * by), with *nk set to the copy's lookup key. */
cki_near *cki_req_near(ck_client *c, const char *key, const ck_get_opts *opts, cki_near_key *nk);

#endif
