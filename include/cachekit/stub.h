/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libcachekit-stub: the C client of the cachekit agent. It holds no secrets: it sends
 * protobuf requests over one ZeroMQ DEALER socket to the agent, which holds the API key, the
 * master key and the upstream connections.
 *
 * Thread-safety: a ck_client may be used by one thread at a time (wrap it in a mutex or open
 * one per thread). After fork() the child's first call opens its own socket automatically;
 * the parent's socket is never touched by the child.
 *
 * Deadlines: every call returns its answer or CK_ETIMEDOUT within its timeout (the client's
 * default, or the call's override). A reply that arrives after its call gave up is recognised
 * by its request id and dropped. If the agent restarts, the next call reconnects by itself.
 */
#ifndef CACHEKIT_STUB_H
#define CACHEKIT_STUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cachekit/errors.h"
#include "cachekit/version.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ck_client ck_client;

/* Options for ck_client_open(). Initialise with CK_CLIENT_OPTS_INIT, then set fields. */
typedef struct ck_client_opts {
	/* ZeroMQ endpoint of the agent. NULL: $CACHEKIT_AGENT_ENDPOINT, else
	 * ipc://$XDG_RUNTIME_DIR/cachekit/agent.sock for non-root users with XDG_RUNTIME_DIR,
	 * else ipc:///run/cachekit/agent.sock. Copied. */
	const char *endpoint;
	/* Default per-call timeout in ms. 0: $CACHEKIT_TIMEOUT (seconds) or 5000. */
	uint32_t timeout_ms;
	/* Default namespace for every call, or NULL. Copied. */
	const char *ns;
	/* Bytes of the in-process near cache; 0 = off (docs/near-cache.md). A hit is served
	 * without leaving the process, and never after a Set, Delete or RefreshTtl of the key
	 * through the agent has returned to any process on the host. */
	size_t near_cache_bytes;
	/* Longest life of a near copy in ms; 0 = 60000. Copies also end with the value's
	 * Fresh-For (its TTL). */
	uint32_t near_cache_max_ms;
} ck_client_opts;

#define CK_CLIENT_OPTS_INIT         \
	{                           \
		NULL, 0, NULL, 0, 0 \
	}

/* Per-call options shared by every operation. NULL pointer = all defaults. */
typedef struct ck_call_opts {
	uint32_t timeout_ms; /* 0: the client's default */
	const char *ns;      /* NULL: the client's default namespace; "" : no namespace */
} ck_call_opts;

#define CK_CALL_OPTS_INIT \
	{                 \
		0, NULL   \
	}

/* Opens a client. Connects lazily: no agent needs to be running yet.
 * On success *out owns the client (free with ck_client_close); on failure *out is untouched. */
CK_API CK_NODISCARD ck_err ck_client_open(ck_client **out, const ck_client_opts *opts);

/* Closes the socket and frees the client. Accepts NULL. */
CK_API void ck_client_close(ck_client *c);

/* The default timeout of this client, in ms (the SDKs' with_timeout is the per-call
 * ck_call_opts.timeout_ms, or this setter for every later call). */
CK_API void ck_client_set_timeout(ck_client *c, uint32_t timeout_ms);

/* ---- values ---------------------------------------------------------------------------- */

typedef enum ck_freshness {
	CK_FRESHNESS_UNKNOWN = 0,
	CK_FRESHNESS_FRESH = 1,
	CK_FRESHNESS_STALE = 2,
} ck_freshness;

/* A value returned by ck_get(). Owned by the caller; free with ck_value_free(). */
typedef struct ck_value {
	uint8_t *data; /* value bytes; a NUL byte follows data[len] for convenience */
	size_t len;
	ck_freshness freshness;
	int64_t fresh_for_ms; /* -1: no bound known */
	bool refresh_due;     /* this caller was chosen to refresh the entry */
} ck_value;

CK_API void ck_value_free(ck_value *v);

typedef struct ck_get_opts {
	ck_call_opts call;
	bool secure;        /* decrypt in the agent */
	const char *format; /* AAD format label the value was sealed with; NULL = "msgpack" */
} ck_get_opts;

#define CK_GET_OPTS_INIT                       \
	{                                      \
		CK_CALL_OPTS_INIT, false, NULL \
	}

/* Reads a key. CK_OK: *out owns the value. CK_ENOTFOUND: a miss (*out untouched).
 * Other codes: errors; *out untouched. opts may be NULL. */
CK_API CK_NODISCARD ck_err ck_get(ck_client *c, const char *key, const ck_get_opts *opts,
                                  ck_value **out);

typedef struct ck_set_opts {
	ck_call_opts call;
	uint32_t ttl_s;       /* 0: the agent's default-ttl (3600 s unless configured) */
	uint32_t stale_ttl_s; /* stale window after the TTL; needs ttl_s */
	bool secure;          /* encrypt in the agent */
	const char *format;   /* AAD format label; NULL = "msgpack" */
	bool sliding;         /* reads extend the TTL */
} ck_set_opts;

#define CK_SET_OPTS_INIT                                    \
	{                                                   \
		CK_CALL_OPTS_INIT, 0, 0, false, NULL, false \
	}

/* Stores len bytes at key (binary safe; the bytes are copied). opts may be NULL. */
CK_API CK_NODISCARD ck_err ck_set(ck_client *c, const char *key, const void *value, size_t len,
                                  const ck_set_opts *opts);

/* Deletes key. *existed (may be NULL) is false when the store reported it absent. */
CK_API CK_NODISCARD ck_err ck_delete(ck_client *c, const char *key, const ck_call_opts *opts,
                                     bool *existed);

/* *exists is set on CK_OK. */
CK_API CK_NODISCARD ck_err ck_exists(ck_client *c, const char *key, const ck_call_opts *opts,
                                     bool *exists);

/* Seconds until eviction (rounded up), -1 for an entry with no expiry.
 * CK_ENOTFOUND when the key is absent. */
CK_API CK_NODISCARD ck_err ck_get_ttl(ck_client *c, const char *key, const ck_call_opts *opts,
                                      int64_t *ttl_s);

/* Sets a new fresh window of ttl_s seconds. *refreshed is false for an absent key.
 * CK_ECONFLICT when the entry is already stale (it must be written again). */
CK_API CK_NODISCARD ck_err ck_refresh_ttl(ck_client *c, const char *key, uint32_t ttl_s,
                                          const ck_call_opts *opts, bool *refreshed);

/* ---- batches --------------------------------------------------------------------------- */

/* Reads n keys (1..1000) in one round trip; the agent reads the ones its L1 lacks concurrently.
 * Keys held in the near cache are answered locally and not sent. opts (may be NULL) apply to
 * every key. CK_OK: the batch was answered and errs[i] says what key i gave: CK_OK (values[i]
 * owns the value, free with ck_value_free), CK_ENOTFOUND or the item's failure (values[i]
 * NULL). Any other result is the failure of the whole batch: every values[i] is NULL and
 * every errs[i] is that result. */
CK_API CK_NODISCARD ck_err ck_mget(ck_client *c, const char *const *keys, size_t n,
                                   const ck_get_opts *opts, ck_value **values, ck_err *errs);

typedef struct ck_mset_item {
	const char *key;
	const void *value;
	size_t len;
} ck_mset_item;

/* Stores n values (1..1000) in one round trip, written concurrently by the agent; opts (may be
 * NULL) apply to every item. CK_OK: errs[i] is each item's result. Otherwise every errs[i] is
 * the batch's failure. */
CK_API CK_NODISCARD ck_err ck_mset(ck_client *c, const ck_mset_item *items, size_t n,
                                   const ck_set_opts *opts, ck_err *errs);

/* ---- locks ----------------------------------------------------------------------------- */

typedef struct ck_lock ck_lock;

typedef struct ck_lock_opts {
	ck_call_opts call;
	uint32_t lease_ms; /* 0: 30000 */
	uint32_t wait_ms;  /* 0: try once */
} ck_lock_opts;

#define CK_LOCK_OPTS_INIT               \
	{                               \
		CK_CALL_OPTS_INIT, 0, 0 \
	}

/* Acquires the lock on name. CK_OK: *out owns the handle (release with ck_lock_release, or
 * drop with ck_lock_free). CK_EBUSY: contested until wait_ms ran out. The agent releases
 * the lock if this process exits without releasing it. */
CK_API CK_NODISCARD ck_err ck_lock_acquire(ck_client *c, const char *name, const ck_lock_opts *opts,
                                           ck_lock **out);

/* Releases and frees the lock (the handle is freed whatever the result).
 * CK_EBADHANDLE: the agent no longer knows it (expired, or released already). */
CK_API ck_err ck_lock_release(ck_client *c, ck_lock *lock, const ck_call_opts *opts);

/* Renews the lease of a lock this process holds: it then ends lease_ms (0: 30000) from now,
 * and ck_lock_lease_ms() reports it. The handle stays the caller's whatever the result.
 * CK_EBADHANDLE: the lock is no longer held (its lease ran out, someone else took it, or it
 * was released); release or free the handle. CK_ENOTSUP: the agent's upstream has no lock
 * renewal (the cachekit.io API). */
CK_API CK_NODISCARD ck_err ck_lock_renew(ck_client *c, ck_lock *lock, uint32_t lease_ms,
                                         const ck_call_opts *opts);

/* Frees a handle without releasing the lock. Accepts NULL. */
CK_API void ck_lock_free(ck_lock *lock);

/* Lease granted by the agent, in ms. */
CK_API int64_t ck_lock_lease_ms(const ck_lock *lock);

/* ---- health and stats ------------------------------------------------------------------ */

typedef struct ck_health {
	bool healthy;
	char *backend_type; /* "memory" or "cachekitio" */
	double latency_ms;  /* -1 on error */
	char *api_url;
	char *version;
	char *error;      /* "" when healthy */
	char *error_type; /* "" when healthy */
	char *agent_version;
} ck_health;

/* CK_OK: *out owns the report (free with ck_health_free) whether or not it is healthy. */
CK_API CK_NODISCARD ck_err ck_health_check(ck_client *c, const ck_call_opts *opts, ck_health **out);
CK_API void ck_health_free(ck_health *h);

typedef struct ck_stat {
	char *name;
	double value;
} ck_stat;

typedef struct ck_stats {
	ck_stat *items;
	size_t count;
} ck_stats;

/* CK_OK: *out owns every counter the agent reports, sorted by name. */
CK_API CK_NODISCARD ck_err ck_stats_get(ck_client *c, const ck_call_opts *opts, ck_stats **out);
CK_API void ck_stats_free(ck_stats *s);

/* Counters of a client's near cache (all 0 when it is off). Reset in a forked child. */
typedef struct ck_near_stats {
	uint64_t hits;          /* Gets answered inside the process */
	uint64_t misses;        /* Gets that went to the agent */
	uint64_t invalidations; /* copies found stale (a write through the agent, a new agent) */
	uint64_t expirations;   /* copies past min(Fresh-For, near_cache_max_ms) */
	uint64_t evictions;     /* copies dropped for the byte bound */
	uint64_t entries;       /* copies held now */
	uint64_t bytes;         /* bytes held now, bookkeeping included */
} ck_near_stats;

/* Fills *out. CK_EINVAL for NULL arguments. */
CK_API CK_NODISCARD ck_err ck_client_near_stats(ck_client *c, ck_near_stats *out);

/* The message the agent attached to the last failed call of this client ("" if none).
 * Valid until the next call on c. */
CK_API const char *ck_client_last_message(const ck_client *c);

#ifdef __cplusplus
}
#endif
#endif
