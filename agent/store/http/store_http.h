/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The cachekit.io API as a cki_store (spec §2, §4, §13): every operation is one route of
 * /v1/cache/, sent over one libcurl multi handle (HTTP/2, one multiplexed connection pool)
 * driven by the agent's loop. The store owns the transport policy: URL policy at creation,
 * per-attempt timeouts bounded by each operation's deadline, retries with backoff and
 * Retry-After (§13 decision 4), a circuit breaker, and body caps while receiving. Callbacks
 * always run later, from the loop, never inside the call that started the operation.
 * Not thread-safe: create, use and destroy on the loop thread.
 */
#ifndef CKI_STORE_HTTP_H
#define CKI_STORE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cachekit/errors.h"
#include "store/http/http_response.h"
#include "base/loop.h"
#include "store/store.h"

typedef struct cki_http_opts {
	/* API base URL ("https://api.cachekit.io"); checked by cki_url_check(). Trailing '/'
	 * are stripped; a path prefix is kept in front of /v1/cache/. */
	const char *url;
	/* API key bytes: a secret, owned by the caller. The store copies it once into secret
	 * memory (the Authorization line), so the caller may wipe its copy as soon as
	 * cki_store_http_new() returns. Non-empty, no whitespace or control characters (spec
	 * §2.2): refused, never trimmed. */
	const uint8_t *api_key;
	size_t api_key_len;
	uint32_t timeout_ms;       /* per attempt (CACHEKIT_TIMEOUT); 0 = 5000 */
	uint32_t pool_size;        /* max connections to the API host; 0 = 10 */
	bool allow_custom_host;    /* skip the hostname allowlist (never the private-IP block) */
	const char *ca_file;       /* extra CA bundle (CURLOPT_CAINFO), or NULL for the system's */
	const char *resolve;       /* "host:port:addr" pin like curl --resolve, or NULL */
	uint32_t max_attempts;     /* attempts per operation incl. the first: 1..3; 0 = 3 */
	uint32_t breaker_failures; /* consecutive failed operations that open the circuit; 0 = 5 */
	uint32_t breaker_open_ms;  /* open period before a half-open probe; 0 = 5000 */
	const char *l1_status;     /* X-CacheKit-L1-Status: "disabled" (NULL) or "miss" */
} cki_http_opts;

/* Creates the store. On success *out owns a new store (free with (*out)->ops->destroy) that
 * keeps a pointer to loop (which must outlive it); the API key and the other option strings
 * are copied. On failure *out is untouched, a one-line reason (never the key) goes
 * into why (why_cap bytes; why may be NULL) and the result is:
 *   CK_EURL     the URL is refused by policy (message stays generic)
 *   CK_ECONFIG  a bad API key, l1_status, max_attempts or resolve string
 *   CK_ENOMEM / CK_EINTERNAL  libcurl or memory failure.
 *
 * Result mapping (cki_store_reply), after retries where the class is transient:
 *   get     200 -> found, value, freshness (X-CacheKit-Freshness), fresh_for_ms
 *           (X-CacheKit-Fresh-For, -1 when absent); 404 -> found = false
 *   exists  200 -> found; 404 -> not found          del  2xx -> found; 404 -> not found
 *   get_ttl {"ttl":n} -> ttl_s n; {"ttl":null} -> -1 (no expiry); {"ttl":0} (never sent for a
 *           present key, §4.2) and 404 -> found = false
 *   touch   2xx -> found = true (the API also answers 200 for an absent key, so found may be
 *           true for one); 404 -> found = false; 409 -> CK_ECONFLICT
 *   lock    {"lock_id":"..."} -> lock_id; null, absent, 409 or a malformed body -> contested;
 *           404/405 -> CK_ENOTSUP and 400 -> CK_EINVAL (no lock routes: never "contested")
 *   unlock  2xx -> found; 404 -> found = false (both CK_OK: not released)
 *   renew_lock  CK_ENOTSUP at once, nothing sent: the API has no lock renewal (spec §4.1)
 *   health  200 -> version ("unknown" when the body has none), latency_ms of the last attempt;
 *           200 with a body that is not a JSON object -> CK_EUPSTREAM (unhealthy)
 *   errors  401 CK_EAUTH, 403 CK_EFORBIDDEN, 413 CK_ETOOBIG, 429 CK_ERATELIMIT, timeouts
 *           CK_ETIMEDOUT, 5xx/408/connection failures and other 4xx CK_EUPSTREAM, circuit
 *           open CK_EUNAVAILABLE, destroy with operations in flight CK_ESHUTDOWN.
 * Every callback runs from the loop, never inside the call that started the operation (an
 * operation refused at once is deferred with cki_loop_defer()); only destroy calls back
 * inside itself, with CK_ESHUTDOWN. The reply's pointers are valid only during the callback.
 * A callback may start new operations but must not destroy the store. */
CK_NODISCARD ck_err cki_store_http_new(cki_store **out, cki_loop *loop, const cki_http_opts *opts,
                                       char *why, size_t why_cap);

#endif
