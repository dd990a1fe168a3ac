/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The HTTP transport under store_http: one libcurl multi handle (HTTP/2 multiplexing, a
 * bounded connection pool, shared TLS session and CA caches) driven by the agent's loop, a
 * free list of easy handles, and the per-request attempt policy: per-attempt timeout bounded
 * by the deadline, retries of transient failures with jittered backoff or Retry-After
 * (spec §13 decision 4), and the circuit breaker. It knows nothing about cache routes: the
 * store builds requests (method, URL, headers, body) and maps finished responses to replies.
 * Not thread-safe: loop thread only.
 */
#ifndef CKI_HTTP_TRANSPORT_H
#define CKI_HTTP_TRANSPORT_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/breaker.h"
#include "cachekit/errors.h"
#include "store/http/http_request.h"
#include "store/http/http_response.h"
#include "base/loop.h"

typedef struct cki_http cki_http;

typedef struct cki_http_config {
	uint32_t timeout_ms;
	uint32_t pool_size;
	uint32_t max_attempts;
	uint32_t breaker_failures;
	uint32_t breaker_open_ms;
	const char *ca_file;    /* copied */
	const char *resolve;    /* copied */
	const char *user_agent; /* copied */
	/* Headers sent on every request, as ready "Name: value" lines. The transport links
	 * these nodes behind each request's own headers without copying them, so secrets in
	 * them stay in the caller's (wiped) memory. Owned by the caller; must outlive the
	 * transport. */
	struct curl_slist *common_headers;
} cki_http_config;

CK_NODISCARD ck_err cki_http_new(cki_http **out, cki_loop *loop, const cki_http_config *cfg,
                                 char *why, size_t why_cap);
/* Finishes every request in flight with CK_ESHUTDOWN (callbacks called), then frees.
 * Accepts NULL. */
void cki_http_free(cki_http *h);

/* Sends r (ownership passes to the transport) to finish before deadline (cki_now_ms()). done
 * is called exactly once, always later from the loop (never inside this call). A transient
 * status (408, 429, 5xx) or a transient transport failure is retried per policy
 * (http_retry.h); when the wait before the next attempt would end past the deadline, the
 * request waits until the deadline and the callback then sees the last attempt. While the
 * circuit is open it finishes with CK_EUNAVAILABLE without sending. */
void cki_http_send(cki_http *h, cki_http_req *r, uint64_t deadline, cki_http_done_cb done,
                   void *arg);

/* Appends the transport counters (http_requests, http_retries, breaker_state, breaker_opens,
 * connections, inflight). */
void cki_http_stats(cki_http *h, void (*emit)(void *ctx, const char *name, double v), void *ctx);

#endif
