/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The asynchronous API of libcachekit-stub: submit a request with a completion callback, keep
 * any number in flight on one client (each with its own deadline), and let an event loop drive
 * the client through one file descriptor and one timer. Adapters for libuv and libevent are in
 * cachekit/adapters/; any other loop (epoll, poll) uses the three calls below:
 *
 *   - watch ck_client_fd(c) for readability and never read it yourself. For an ipc://
 *     endpoint it is an epoll descriptor over the client's own connection, readable while a
 *     reply (or room for a waiting request) is there; for tcp:// it is ZeroMQ's notification
 *     fd, edge-like. Either way one ck_client_process() per wake-up does all there is to do;
 *   - call ck_client_process(c) when it is readable, when ck_client_timeout_ms(c) has passed,
 *     and after submitting (or install hooks: the client then asks the loop itself). A submit
 *     call only packs the request; ck_client_process() sends everything submitted since it
 *     last ran, in order and together, so that many requests leave in one write.
 *
 * Callbacks run only inside ck_client_process() (never inside a submit call), exactly once per
 * accepted submission: with the reply, CK_ETIMEDOUT at the request's deadline (a later reply is
 * dropped), CK_ECONNECT when the connection to the agent ends after the request was written
 * (it may or may not have been carried out; requests not yet written wait for the next
 * connection), or CK_ESHUTDOWN when the client is closed first. A callback may submit new
 * requests, but must not close the client.
 *
 * A client with requests in flight refuses blocking calls (CK_EBUSY); use one client per
 * style, or wait until ck_client_pending() is 0. Near-cache hits of ck_get_async() complete
 * at the next ck_client_process() without a round trip. After fork() the child's client has no
 * requests in flight (the parent's callbacks never run there).
 */
#ifndef CACHEKIT_ASYNC_H
#define CACHEKIT_ASYNC_H

#include "cachekit/stub.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What a completed request produced. Valid during the callback only, except value. */
typedef struct ck_result {
	ck_err err;          /* CK_OK; CK_ENOTFOUND for a get miss; or the failure */
	ck_value *value;     /* get, CK_OK: owned by the callback (ck_value_free), else NULL */
	bool flag;           /* delete: existed; exists: exists; refresh_ttl: refreshed;
	                        lock_acquire: acquired */
	int64_t ttl_s;       /* get_ttl (CK_ENOTFOUND for an absent key) */
	const char *message; /* the agent's message for a failure ("" if none) */
	/* Owned by the callback on CK_OK, else NULL: */
	ck_lock *lock;     /* lock_acquire: the handle (ck_lock_release / ck_lock_free) */
	ck_health *health; /* health_check: the report (ck_health_free) */
	ck_stats *stats;   /* stats_get: the counters (ck_stats_free) */
} ck_result;

typedef void (*ck_callback)(ck_client *c, ck_result *r, void *arg);

/* Submits one request: it is sent by the next ck_client_process(). CK_OK: cb will run exactly
 * once from ck_client_process() (CK_ECONNECT in the result: it could not be sent; a full send
 * queue only delays it, within its deadline). Any other result (bad arguments, CK_EINVALKEY,
 * CK_ECONNECT, CK_ENOMEM): nothing was submitted and cb never runs. The opts and key are
 * copied as needed. */
CK_API CK_NODISCARD ck_err ck_get_async(ck_client *c, const char *key, const ck_get_opts *opts,
                                        ck_callback cb, void *arg);
CK_API CK_NODISCARD ck_err ck_set_async(ck_client *c, const char *key, const void *value,
                                        size_t len, const ck_set_opts *opts, ck_callback cb,
                                        void *arg);
CK_API CK_NODISCARD ck_err ck_delete_async(ck_client *c, const char *key, const ck_call_opts *opts,
                                           ck_callback cb, void *arg);

/* The other operations of stub.h, with the same arguments, checks and results (ck_result's
 * flag, ttl_s, lock, health, stats), completing as above: */
CK_API CK_NODISCARD ck_err ck_exists_async(ck_client *c, const char *key, const ck_call_opts *opts,
                                           ck_callback cb, void *arg);
CK_API CK_NODISCARD ck_err ck_get_ttl_async(ck_client *c, const char *key, const ck_call_opts *opts,
                                            ck_callback cb, void *arg);
CK_API CK_NODISCARD ck_err ck_refresh_ttl_async(ck_client *c, const char *key, uint32_t ttl_s,
                                                const ck_call_opts *opts, ck_callback cb,
                                                void *arg);
/* CK_EBUSY in the result: contested until wait_ms ran out. The request's deadline should leave
 * room for wait_ms. */
CK_API CK_NODISCARD ck_err ck_lock_acquire_async(ck_client *c, const char *name,
                                                 const ck_lock_opts *opts, ck_callback cb,
                                                 void *arg);
/* Frees lock whatever the result (as ck_lock_release). CK_EBADHANDLE in the result: the agent
 * no longer knows it. */
CK_API CK_NODISCARD ck_err ck_lock_release_async(ck_client *c, ck_lock *lock,
                                                 const ck_call_opts *opts, ck_callback cb,
                                                 void *arg);
/* The lock stays the caller's (its bytes are copied at submission). CK_OK in the result: renewed
 * (flag true); CK_EBADHANDLE: no longer held; CK_ENOTSUP as ck_lock_renew. ck_lock_lease_ms()
 * is not updated by the async form. */
CK_API CK_NODISCARD ck_err ck_lock_renew_async(ck_client *c, const ck_lock *lock, uint32_t lease_ms,
                                               const ck_call_opts *opts, ck_callback cb, void *arg);
CK_API CK_NODISCARD ck_err ck_health_check_async(ck_client *c, const ck_call_opts *opts,
                                                 ck_callback cb, void *arg);
CK_API CK_NODISCARD ck_err ck_stats_get_async(ck_client *c, const ck_call_opts *opts,
                                              ck_callback cb, void *arg);

/* Batches (stub.h's ck_mget / ck_mset): values and errs are the caller's arrays of n, filled
 * before cb runs and left alone until then (keep them alive until it has run). r->err is CK_OK
 * when the batch was answered (errs[i] per item; values[i] owned by the caller on CK_OK), else
 * the batch's failure, then also in every errs[i] (CK_ETIMEDOUT at the deadline, CK_ESHUTDOWN
 * at close). ck_mget_async sends every key: it neither reads nor fills the near cache. */
CK_API CK_NODISCARD ck_err ck_mget_async(ck_client *c, const char *const *keys, size_t n,
                                         const ck_get_opts *opts, ck_value **values, ck_err *errs,
                                         ck_callback cb, void *arg);
CK_API CK_NODISCARD ck_err ck_mset_async(ck_client *c, const ck_mset_item *items, size_t n,
                                         const ck_set_opts *opts, ck_err *errs, ck_callback cb,
                                         void *arg);

/* The descriptor to watch for readability, or -1 with CK_ECONNECT-worthy trouble (see
 * ck_client_last_message). Stable until ck_client_close, across reconnects. For ipc:// the
 * connection is made by the next ck_client_process(); for tcp:// it is opened here. */
CK_API int ck_client_fd(ck_client *c);

/* Receives every reply that has arrived, expires requests past their deadline and runs their
 * callbacks; never blocks. Returns CK_OK, or CK_ECONNECT if the socket failed. */
CK_API ck_err ck_client_process(ck_client *c);

/* Requests submitted and not yet completed. */
CK_API size_t ck_client_pending(const ck_client *c);

/* Milliseconds until ck_client_process() must run for the earliest deadline (0: now), or -1
 * when nothing is in flight. */
CK_API int ck_client_timeout_ms(const ck_client *c);

/* How a loop adapter learns what the client needs: arm(data, ms) asks for a call to
 * ck_client_process() within ms milliseconds (0: as soon as possible; -1: no timer needed,
 * only the fd). Called after each submit and at the end of each ck_client_process(). */
typedef struct ck_async_hooks {
	void *data;
	void (*arm)(void *data, int timeout_ms);
} ck_async_hooks;

/* Installs (or, with NULL, removes) the hooks. The struct is copied. */
CK_API void ck_client_set_hooks(ck_client *c, const ck_async_hooks *hooks);

#ifdef __cplusplus
}
#endif
#endif
