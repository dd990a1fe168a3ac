/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The interface every storage backend implements: the embedded store (store_memory), the
 * cachekit.io API (store_http) and Redis (store_redis). Operations are asynchronous: each
 * takes a completion callback that is called exactly once, from the loop, never before the
 * call returns (a backend that knows its answer at once queues it with store/completion.h). So
 * a caller's state is settled before its reply arrives, whatever the store. destroy() answers
 * whatever is still pending.
 * Keys passed in are already validated storage keys (keys.h); values are the stored form
 * (sealed or plain), opaque to the store. Each backend's unit test asserts the contract.
 */
#ifndef CKI_STORE_H
#define CKI_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cachekit/errors.h"

typedef struct cki_store cki_store;

typedef enum cki_freshness {
	CKI_FRESH_UNKNOWN = 0,
	CKI_FRESH = 1,
	CKI_STALE = 2,
} cki_freshness;

/* What an operation produced. Pointers are borrowed: valid only during the callback. */
typedef struct cki_store_reply {
	ck_err err;          /* CK_OK, or why it failed */
	const char *message; /* detail for err, or NULL */
	bool found; /* get/exists: present; del: existed; touch: refreshed; unlock: released;
	               renew_lock: renewed */
	const uint8_t *value; /* get */
	size_t value_len;
	cki_freshness freshness; /* get */
	int64_t fresh_for_ms;    /* get: -1 = no bound (no expiry or not reported) */
	int64_t ttl_s;           /* get_ttl: seconds to eviction, rounded up; -1 = no expiry */
	const char *lock_id;     /* lock: the store's lock id, NULL when contested */
	/* health */
	double latency_ms;
	const char *version;
	const char *error_type;
} cki_store_reply;

/* Initialises a reply to "nothing happened yet": err CK_OK, found false, fresh_for -1. */
void cki_store_reply_init(cki_store_reply *r);

typedef void (*cki_store_cb)(void *arg, const cki_store_reply *r);

typedef struct cki_put_opts {
	uint32_t ttl_s;       /* 0 = no expiry */
	uint32_t stale_ttl_s; /* 0 = no stale window */
} cki_put_opts;

/* Every call gets the absolute deadline in cki_now_ms() milliseconds. */
typedef struct cki_store_ops {
	const char *backend_type; /* "memory", "cachekitio", "redis" */
	void (*get)(cki_store *s, const char *key, uint64_t deadline, cki_store_cb cb, void *arg);
	void (*put)(cki_store *s, const char *key, const uint8_t *value, size_t len,
	            const cki_put_opts *opts, uint64_t deadline, cki_store_cb cb, void *arg);
	void (*del)(cki_store *s, const char *key, uint64_t deadline, cki_store_cb cb, void *arg);
	void (*exists)(cki_store *s, const char *key, uint64_t deadline, cki_store_cb cb,
	               void *arg);
	void (*get_ttl)(cki_store *s, const char *key, uint64_t deadline, cki_store_cb cb,
	                void *arg);
	/* PATCH ttl: found=false for an absent key; CK_ECONFLICT for a stale entry. */
	void (*touch)(cki_store *s, const char *key, uint32_t ttl_s, uint64_t deadline,
	              cki_store_cb cb, void *arg);
	/* One attempt; lock_id NULL when contested. Waiting is the caller's (locks.c). */
	void (*lock)(cki_store *s, const char *key, uint32_t lease_ms, uint64_t deadline,
	             cki_store_cb cb, void *arg);
	void (*unlock)(cki_store *s, const char *key, const char *lock_id, uint64_t deadline,
	               cki_store_cb cb, void *arg);
	/* Compare-and-extend: found=true when lock_id still holds key's lock, whose lease then
	 * ends lease_ms from now; found=false when it does not (expired, another holder, never).
	 * A store without renewal (the API) answers CK_ENOTSUP. */
	void (*renew_lock)(cki_store *s, const char *key, const char *lock_id, uint32_t lease_ms,
	                   uint64_t deadline, cki_store_cb cb, void *arg);
	void (*health)(cki_store *s, uint64_t deadline, cki_store_cb cb, void *arg);
	/* Appends "name value" counters to the stats reply; may be NULL. */
	void (*stats)(cki_store *s, void (*emit)(void *ctx, const char *name, double v), void *ctx);
	/* Answers every operation in flight (CK_ESHUTDOWN, or its queued result), then frees.
	 * The only call that may run callbacks before it returns. */
	void (*destroy)(cki_store *s);
	/* The URL shown in health ("memory:" or the API URL). */
	const char *(*url)(cki_store *s);
} cki_store_ops;

/* Told when the store itself drops key (evicted for space, or reclaimed past its eviction
 * time), so that state kept beside the store (the refresh tracker) goes with it. Not called
 * for deletes or overwrites the caller asked for. Called from inside a store operation: it
 * must not call the store. */
typedef void (*cki_store_drop_fn)(void *arg, const char *key);

struct cki_store {
	const cki_store_ops *ops;
	cki_store_drop_fn on_drop; /* NULL: nobody listens; a store that cannot see its evictions
	                              (the API) never calls it */
	void *on_drop_arg;
};

/* Sets the one drop listener of s (NULL fn: none). */
void cki_store_on_drop(cki_store *s, cki_store_drop_fn fn, void *arg);

#endif
