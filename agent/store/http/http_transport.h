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
#include "store/http/http_response.h"
#include "base/loop.h"

typedef struct cki_http cki_http;
typedef struct cki_http_req cki_http_req;

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

typedef enum cki_http_method {
	CKI_HTTP_GET,
	CKI_HTTP_HEAD,
	CKI_HTTP_PUT,
	CKI_HTTP_POST,
	CKI_HTTP_PATCH,
	CKI_HTTP_DELETE,
} cki_http_method;

/* How a finished request turned out. On CK_OK the response is in status, headers and body
 * (borrowed, valid during the callback). Otherwise err and message describe a transport
 * failure (timeout, connection, body over cap, circuit open, shutdown). */
typedef struct cki_http_result {
	ck_err err;
	const char *message;
	long status;
	const cki_http_resp_headers *headers;
	const uint8_t *body;
	size_t body_len;
	double total_ms; /* duration of the last attempt */
} cki_http_result;

typedef void (*cki_http_done_cb)(void *arg, const cki_http_result *res);

CK_NODISCARD ck_err cki_http_new(cki_http **out, cki_loop *loop, const cki_http_config *cfg,
                                 char *why, size_t why_cap);
/* Finishes every request in flight with CK_ESHUTDOWN (callbacks called), then frees.
 * Accepts NULL. */
void cki_http_free(cki_http *h);

/* A request. url and header lines are copied; body (body_len bytes) is adopted (freed by the
 * transport with free()); body_max caps the response body. Returns NULL when out of memory
 * (body is freed then too). */
cki_http_req *cki_http_req_new(cki_http_method method, const char *url, uint8_t *body,
                               size_t body_len, size_t body_max);
/* Adds "Name: value" (copied). CK_EINVAL if the line holds CR, LF or NUL. */
CK_NODISCARD ck_err cki_http_req_header(cki_http_req *r, const char *line);
void cki_http_req_free(cki_http_req *r);

/* Sends r (ownership passes to the transport) to finish before deadline (cki_now_ms()). done
 * is called exactly once, always later from the loop. A transient status (408, 429, 5xx) or
 * a transient transport failure is retried per policy; the callback sees the last attempt.
 * While the circuit is open it finishes with CK_EUNAVAILABLE without sending. */
void cki_http_send(cki_http *h, cki_http_req *r, uint64_t deadline, cki_http_done_cb done,
                   void *arg);

/* Finishes an operation that never became a request (bad input, no memory) with err and
 * msg, on a later turn of the loop like any other. */
void cki_http_fail(cki_http *h, ck_err err, const char *msg, cki_http_done_cb done, void *arg);

/* Appends the transport counters (http_requests, http_retries, breaker_state, breaker_opens,
 * connections, inflight). */
void cki_http_stats(cki_http *h, void (*emit)(void *ctx, const char *name, double v), void *ctx);

/* True for the statuses the policy retries (408, 429, 5xx). */
bool cki_http_status_transient(long status);

#endif
