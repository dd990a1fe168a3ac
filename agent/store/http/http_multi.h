/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to the HTTP transport: one libcurl multi handle driven by the agent's loop. It owns
 * the CURLM, the loop timer libcurl asks for, and the set of sockets libcurl told us to watch
 * (so none outlives it); it hands every finished transfer to a callback. It knows nothing about
 * requests, attempts or retries: http_transport.c adds and removes the easy handles. Not
 * thread-safe: loop thread only.
 */
#ifndef CKI_HTTP_MULTI_H
#define CKI_HTTP_MULTI_H

#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>

#include "cachekit/errors.h"
#include "base/loop.h"

/* Called from the loop for each finished transfer, after easy has been removed from the
 * multi handle. The easy handle stays the caller's. */
typedef void (*cki_http_multi_done_cb)(void *arg, CURL *easy, CURLcode result);

typedef struct cki_http_multi {
	cki_loop *loop;
	CURLM *multi; /* add and remove easy handles on this directly */
	cki_timer_id curl_timer;
	int *fds; /* sockets we watch */
	size_t n_fds, cap_fds;
	cki_http_multi_done_cb done;
	void *done_arg;
} cki_http_multi;

/* Sets up m (caller-owned storage, e.g. zeroed inside a larger struct): a multi handle with
 * HTTP/2 multiplexing and at most pool_size connections, whose sockets and timer run on loop.
 * On failure writes a reason to why and returns CK_EINTERNAL; m must then still be passed to
 * cki_http_multi_fini. */
CK_NODISCARD ck_err cki_http_multi_init(cki_http_multi *m, cki_loop *loop, long pool_size,
                                        cki_http_multi_done_cb done, void *done_arg, char *why,
                                        size_t why_cap);

/* Closes the multi handle (and its pooled connections), cancels the timer and stops watching
 * every socket. Remove running easy handles first. Safe on a zeroed or half-initialised m. */
void cki_http_multi_fini(cki_http_multi *m);

#endif
