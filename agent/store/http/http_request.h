/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One request of the HTTP transport and the libcurl easy handles that carry its attempts:
 * the request object (method, URL, own header lines, adopted body, response of the current
 * attempt), the options every attempt gets, the free list of easy handles, and the response
 * headers read with curl_easy_header(). Private to store/http; loop thread only.
 */
#ifndef CKI_HTTP_REQUEST_H
#define CKI_HTTP_REQUEST_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/list.h"
#include "base/loop.h"
#include "cachekit/errors.h"
#include "store/http/http_response.h"

#define CKI_HTTP_FREE_EASY_MAX 64u

typedef struct cki_http cki_http;
typedef struct cki_http_req cki_http_req;

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

/* What every attempt's easy handle is set up with, and the handles kept for reuse. */
typedef struct cki_http_easies {
	CURLSH *share;
	char *ca_file, *user_agent;
	struct curl_slist *resolve;
	struct curl_slist *common_headers; /* the caller's; linked behind each request's own */
	CURL *free_easy[CKI_HTTP_FREE_EASY_MAX];
	size_t n_free;
	bool closing; /* no more reuse: handles given back are cleaned up */
} cki_http_easies;

struct cki_http_req {
	cki_http *h;
	cki_list_link link; /* on the transport's list of requests not yet finished */
	cki_http_method method;
	char *url;
	struct curl_slist *own_headers; /* ours; the last node links to the common headers */
	struct curl_slist *own_last;
	uint8_t *body;
	size_t body_len;
	uint64_t deadline;
	unsigned attempts;
	unsigned max_attempts;
	bool probe;
	CURL *easy;         /* the running attempt, or NULL */
	cki_timer_id timer; /* retry wait, or the wait for the deadline */
	bool deferred;      /* its completion is queued with cki_loop_defer() */
	bool orphan;        /* completed by cki_http_free(); the deferred call only frees it */
	void (*done)(void *arg, const cki_http_result *res);
	void *arg;
	/* response of the current attempt */
	uint8_t *resp;
	size_t resp_len, resp_cap, resp_max;
	bool resp_overflow;
	cki_http_resp_headers rh;
	double total_ms;
	char errbuf[CURL_ERROR_SIZE];
	/* a failure decided before or without a response */
	ck_err err;
	char msg[160];
};

/* A request. url and header lines are copied; body (body_len bytes) is adopted (freed by the
 * transport with free()); body_max caps the response body. Returns NULL when out of memory
 * (body is freed then too). */
cki_http_req *cki_http_req_new(cki_http_method method, const char *url, uint8_t *body,
                               size_t body_len, size_t body_max);
/* Adds "Name: value" (copied). CK_EINVAL if the line holds CR, LF or NUL. */
CK_NODISCARD ck_err cki_http_req_header(cki_http_req *r, const char *line);
void cki_http_req_free(cki_http_req *r);

/* An easy handle from the free list (reset, keeping its caches) or a new one; NULL if out
 * of memory. */
CURL *cki_http_take_easy(cki_http_easies *ez);
/* Back to the free list (or cleaned up when it is full or closing). */
void cki_http_give_easy(cki_http_easies *ez, CURL *e);
/* Cleans up every handle on the free list. */
void cki_http_easies_fini(cki_http_easies *ez);
/* Sets every option for one attempt of r on e. */
CURLcode cki_http_setup_easy(const cki_http_easies *ez, cki_http_req *r, CURL *e, long timeout_ms);
/* Reads the headers the store needs from e's final response into rh (reinitialised). */
void cki_http_read_headers(CURL *e, cki_http_resp_headers *rh);

#endif
