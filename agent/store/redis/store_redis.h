/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A self-hosted Redis or Redis Cluster as a cki_store, on hiredis's async API driven by the
 * agent's loop (no threads). Entries are stored as cachekit-py's RedisBackend stores them: the
 * storage key is the Redis key, the value bytes are the Redis string, the TTL is the Redis
 * expiry (SETEX), so cachekit-py services and agent clients share entries. A stale window
 * (spec §4) is kept beside the entry in "ck:stale:{key}" (same hash slot, same expiry): the
 * entry lives ttl+stale seconds and is stale once its remaining PTTL falls under the window.
 * Locks are "ck:lock:{key}" = a random UUIDv4 token, SET NX PX, released only by the holder
 * (compare-and-delete script). Every operation has an absolute deadline and is answered
 * CK_ETIMEDOUT at it whatever Redis does. Each node has its own connection (requests
 * pipelined), reconnect with backoff and circuit breaker; a dead node fails its own slots
 * fast (CK_EUPSTREAM, then CK_EUNAVAILABLE once its breaker opens) while the others serve.
 * Not thread-safe: create, use and destroy on the loop thread.
 */
#ifndef CKI_STORE_REDIS_H
#define CKI_STORE_REDIS_H

#include <stddef.h>
#include <stdint.h>

#include "base/loop.h"
#include "cachekit/errors.h"
#include "store/store.h"

typedef struct cki_redis_opts {
	/* redis://[user@]host:port[/db], redis+unix:///path[?db=N], redis+cluster://h:p[,h:p..].
	 * A password inside the URL is refused here: the caller moves it into `password`. */
	const char *url;
	/* AUTH password: a secret owned by the caller, kept alive for the life of the store;
	 * NULL for none. Never logged. */
	const uint8_t *password;
	size_t password_len;
	uint32_t connect_timeout_ms; /* one connection attempt; 0 = 5000 */
	uint32_t max_inflight;     /* commands in flight per node; more: CK_EOVERLOAD; 0 = 65536 */
	uint32_t breaker_failures; /* per node; 0 = 5 */
	uint32_t breaker_open_ms;  /* 0 = 5000 */
} cki_redis_opts;

/* Creates the store and starts connecting (the first operations wait for the connection
 * inside their deadline). On success *out owns the store (free with (*out)->ops->destroy),
 * which keeps pointers to loop and opts->password. On failure *out is untouched and why
 * (why_cap bytes, may be NULL) gets a reason: CK_EURL (bad URL, or a password inside it),
 * CK_ENOMEM.
 *
 * Replies: get found/value/freshness/fresh_for_ms; exists/del found; get_ttl ttl_s (-1 no
 * expiry); touch found, CK_ECONFLICT for a stale entry; lock lock_id or NULL when held;
 * unlock found = the caller held it; renew_lock found = the caller held it and its lease now
 * ends lease_ms from now; health latency_ms (PING) and version (INFO server).
 * Errors: CK_ETIMEDOUT at the deadline, CK_EUPSTREAM (connection lost or refused, a Redis
 * error reply, CLUSTERDOWN), CK_EAUTH (NOAUTH/WRONGPASS/NOPERM), CK_EUNAVAILABLE (breaker
 * open), CK_EOVERLOAD (node queue full), CK_ESHUTDOWN (destroyed in flight). */
CK_NODISCARD ck_err cki_store_redis_new(cki_store **out, cki_loop *loop, const cki_redis_opts *opts,
                                        char *why, size_t why_cap);

#endif
