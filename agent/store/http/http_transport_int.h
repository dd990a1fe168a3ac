/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to http_transport.c and http_request.c: the request and transport structures and
 * the easy-handle helpers they share. Nothing outside store/http includes this.
 */
#ifndef CKI_HTTP_TRANSPORT_INT_H
#define CKI_HTTP_TRANSPORT_INT_H

#include "store/http/http_multi.h"
#include "store/http/http_transport.h"

#define FREE_EASY_MAX    64u
#define CA_CACHE_SECONDS (7L * 24 * 3600) /* keep the parsed CA store for a week */
#define URL_MAX          4096u

struct cki_http_req {
	cki_http *h;
	cki_http_req *prev, *next;
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
	cki_http_done_cb done;
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

struct cki_http {
	cki_loop *loop;
	cki_http_multi mx; /* the multi handle on the loop */
	CURLSH *share;
	char *ca_file, *user_agent;
	struct curl_slist *resolve;
	struct curl_slist *common_headers;
	uint32_t timeout_ms, max_attempts;
	cki_breaker breaker;
	CURL *free_easy[FREE_EASY_MAX];
	size_t n_free;
	cki_http_req *reqs; /* every request not yet finished */
	size_t inflight;
	bool closing;
	uint64_t n_requests, n_retries, n_connects;
};

/* An easy handle from the free list (reset, keeping its caches) or a new one; NULL if out
 * of memory. */
CURL *cki_http_take_easy(cki_http *h);
/* Back to the free list (or cleaned up when it is full or the transport closes). */
void cki_http_give_easy(cki_http *h, CURL *e);
/* Sets every option for one attempt of r on e. */
CURLcode cki_http_setup_easy(cki_http *h, cki_http_req *r, CURL *e, long timeout_ms);
/* Reads the headers the store needs from e's final response into rh (reinitialised). */
void cki_http_read_headers(CURL *e, cki_http_resp_headers *rh);

#endif
