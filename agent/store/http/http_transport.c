/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Requests and their attempts over the loop-driven multi handle of http_multi.c. Each request
 * runs up to max_attempts attempts, each with CURLOPT_TIMEOUT_MS = min(timeout, time left);
 * between attempts it waits on a loop timer (never a sleep); a wait that would end past the
 * deadline waits until the deadline and then fails with the last answer. Every request
 * completes from the loop, never inside cki_http_send(): a failure decided at once is handed
 * to cki_loop_defer(). Which failures are retried, and how long to wait, is http_retry.c's;
 * the request object and its easy handle (options, free list, body sink, response headers)
 * are http_request.c's. Connections are pooled by the multi handle (HTTP/2 multiplexing,
 * CURLOPT_PIPEWAIT so concurrent requests share one connection); TLS sessions and DNS are
 * shared through a CURLSH.
 */
#include "store/http/http_transport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/metrics.h"
#include "store/http/http_request.h"
#include "store/http/http_retry.h"
#include "store/http/http_multi.h"

struct cki_http {
	cki_loop *loop;
	cki_http_multi mx;  /* the multi handle on the loop */
	cki_http_easies ez; /* easy-handle options and free list */
	uint32_t timeout_ms, max_attempts;
	cki_breaker breaker;
	cki_list reqs; /* every request not yet finished, the newest at the tail */
	uint64_t n_requests, n_retries, n_connects;
};

static void
link_req(cki_http *h, cki_http_req *r)
{
	r->h = h;
	cki_list_push_back(&h->reqs, &r->link);
}

static void
unlink_req(cki_http *h, cki_http_req *r)
{
	cki_list_remove(&h->reqs, &r->link);
}

/* Completes r now: unlinks, calls back, frees. */
static void finish(cki_http_req *r, ck_err err, const char *msg);

/* A timer ran out that ends r with what r->err and r->msg hold. */
static void
on_wait_over(cki_loop *loop, void *arg)
{
	cki_http_req *r = arg;

	(void)loop;
	r->timer = 0;
	finish(r, r->err, r->msg);
}

/* Completes r now: unlinks, calls back, frees. */
static void
finish(cki_http_req *r, ck_err err, const char *msg)
{
	cki_http *h = r->h;
	cki_http_result res = {.err = err, .message = msg};

	if (r->probe) /* ended before an attempt could report on the upstream */
		cki_breaker_probe_abandoned(&h->breaker, cki_now_ms());
	if (err == CK_OK) {
		res.status = (long)r->rh.status;
		res.headers = &r->rh;
		res.body = r->resp != NULL ? r->resp : (const uint8_t *)"";
		res.body_len = r->resp_len;
		res.total_ms = r->total_ms;
	}
	unlink_req(h, r);
	r->done(r->arg, &res);
	cki_http_req_free(r);
}

static void
on_deferred(cki_loop *loop, void *arg)
{
	cki_http_req *r = arg;

	(void)loop;
	if (r->orphan) { /* the transport is gone; its callback already ran */
		cki_http_req_free(r);
		return;
	}
	r->deferred = false;
	finish(r, r->err, r->msg);
}

/* Completes r on a later turn of the loop, so callers never see a callback inside a call. */
static void
finish_later(cki_http_req *r, ck_err err, const char *msg)
{
	r->err = err;
	if (msg != r->msg)
		snprintf(r->msg, sizeof r->msg, "%s", msg);
	if (cki_loop_defer(r->h->loop, on_deferred, r) == CK_OK) {
		r->deferred = true;
		return;
	}
	r->timer = cki_loop_timer(r->h->loop, 0, on_wait_over, r);
	if (r->timer == 0) {
		/* TODO: out of memory twice over; the one completion inside the call */
		cki_log_error("http: out of memory: completing a request inside the call");
		finish(r, r->err, r->msg);
	}
}

static void on_retry(cki_loop *loop, void *arg);

/* Starts the next attempt. CK_OK, or an error for finish (nothing is running then). */
static ck_err
start_attempt(cki_http_req *r)
{
	cki_http *h = r->h;
	uint64_t now = cki_now_ms();
	long timeout_ms;
	CURL *e;

	if (now >= r->deadline) {
		snprintf(r->msg, sizeof r->msg, "deadline reached before the request was sent");
		return CK_ETIMEDOUT;
	}
	timeout_ms = (long)(r->deadline - now < h->timeout_ms ? r->deadline - now : h->timeout_ms);
	e = cki_http_take_easy(&h->ez);
	if (e == NULL) {
		snprintf(r->msg, sizeof r->msg, "out of memory");
		return CK_ENOMEM;
	}
	r->resp_len = 0;
	r->resp_overflow = false;
	r->errbuf[0] = '\0';
	if (cki_http_setup_easy(&h->ez, r, e, timeout_ms) != CURLE_OK ||
	    curl_multi_add_handle(h->mx.multi, e) != CURLM_OK) {
		curl_easy_cleanup(e);
		snprintf(r->msg, sizeof r->msg, "cannot set up the HTTP request");
		return CK_EINTERNAL;
	}
	r->easy = e;
	r->attempts++;
	h->n_requests++;
	return CK_OK;
}

/* Tells the breaker how the request ended (transient: the upstream failed it; else it
 * answered, even if with a permanent error). */
static void
report_outcome(cki_http *h, cki_http_req *r, bool transient, uint64_t now)
{
	uint64_t opens = h->breaker.opens;

	cki_breaker_report(&h->breaker, !transient, r->probe, now);
	if (h->breaker.opens != opens)
		cki_log_warn("http: circuit open for %u ms after: %s", h->breaker.open_ms, r->msg);
	r->probe = false;
}

static void
attempt_done(cki_http *h, cki_http_req *r, CURLcode cc)
{
	long status = 0, connects = 0;
	curl_off_t total_us = 0;
	bool transient;
	ck_err err = CK_OK;
	uint64_t now = cki_now_ms(), delay;

	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(r->easy, CURLINFO_NUM_CONNECTS, &connects);
	curl_easy_getinfo(r->easy, CURLINFO_TOTAL_TIME_T, &total_us);
	h->n_connects += (uint64_t)connects;
	cki_metrics_observe_upstream(total_us > 0 ? (uint64_t)total_us : 0);
	r->total_ms = (double)total_us / 1000.0;
	cki_http_read_headers(r->easy, &r->rh); /* before the handle is reset for reuse */
	cki_http_give_easy(&h->ez, r->easy);
	r->easy = NULL;

	if (cc == CURLE_OK) {
		transient = cki_http_status_transient(status);
		r->rh.status = (int)status;
		snprintf(r->msg, sizeof r->msg, "upstream HTTP %ld", status);
	} else {
		transient = cki_http_curl_transient(cc);
		if (cc == CURLE_OPERATION_TIMEDOUT) {
			err = CK_ETIMEDOUT;
			snprintf(r->msg, sizeof r->msg, "upstream request timed out");
		} else if (cc == CURLE_WRITE_ERROR && r->resp_overflow) {
			err = CK_EUPSTREAM;
			snprintf(r->msg, sizeof r->msg, "upstream response body over %zu bytes",
			         r->resp_max);
		} else if (cc == CURLE_OUT_OF_MEMORY || cc == CURLE_WRITE_ERROR) {
			err = CK_ENOMEM;
			snprintf(r->msg, sizeof r->msg, "out of memory");
		} else {
			err = CK_EUPSTREAM;
			snprintf(r->msg, sizeof r->msg, "upstream: %.140s",
			         r->errbuf[0] != '\0' ? r->errbuf : curl_easy_strerror(cc));
		}
	}
	cki_log_debug("http: attempt %u: %s", r->attempts, r->msg);

	if (transient && r->attempts < r->max_attempts) {
		delay = cki_http_retry_delay(&r->rh, status, r->attempts - 1);
		if (now + delay < r->deadline) {
			r->timer = cki_loop_timer(h->loop, delay, on_retry, r);
			if (r->timer != 0) {
				h->n_retries++;
				return;
			}
		} else if (now < r->deadline) {
			/* The wait outlasts the deadline: wait what is left, then fail with this
			 * answer, so a caller that asked for a deadline gets no early failure. */
			report_outcome(h, r, transient, now);
			r->err = err;
			r->timer = cki_loop_timer(h->loop, r->deadline - now, on_wait_over, r);
			if (r->timer != 0)
				return;
			finish(r, err, r->msg);
			return;
		}
	}
	report_outcome(h, r, transient, now);
	finish(r, err, r->msg);
}

static void
on_retry(cki_loop *loop, void *arg)
{
	cki_http_req *r = arg;
	ck_err err;

	r->timer = 0;
	err = start_attempt(r);
	if (err != CK_OK) {
		/* the wait used up the deadline: the upstream still failed this operation */
		cki_breaker_report(&r->h->breaker, false, false, cki_now_ms());
		finish(r, err, r->msg);
	}
}

/* A transfer finished (http_multi has removed it): its request's attempt is over. */
static void
on_transfer_done(void *arg, CURL *e, CURLcode cc)
{
	cki_http *h = arg;
	cki_http_req *r = NULL;

	curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&r);
	if (r != NULL && r->easy == e)
		attempt_done(h, r, cc);
}

void
cki_http_send(cki_http *h, cki_http_req *r, uint64_t deadline, cki_http_done_cb done, void *arg)
{
	ck_err err;

	r->done = done;
	r->arg = arg;
	r->deadline = deadline;
	r->max_attempts = h->max_attempts;
	if (r->own_last != NULL)
		r->own_last->next = h->ez.common_headers;
	link_req(h, r);
	if (h->ez.closing) {
		finish_later(r, CK_ESHUTDOWN, "agent is shutting down");
		return;
	}
	if (cki_now_ms() >= deadline) {
		finish_later(r, CK_ETIMEDOUT, "deadline reached before the request was sent");
		return;
	}
	switch (cki_breaker_admit(&h->breaker, cki_now_ms())) {
	case CKI_ADMIT_REJECT:
		finish_later(r, CK_EUNAVAILABLE, "circuit open");
		return;
	case CKI_ADMIT_PROBE:
		r->probe = true;
		r->max_attempts = 1;
		break;
	case CKI_ADMIT_PASS:
		break;
	}
	err = start_attempt(r);
	if (err != CK_OK)
		finish_later(r, err, r->msg);
}

/* ---- lifetime ------------------------------------------------------------------------------ */

ck_err
cki_http_new(cki_http **out, cki_loop *loop, const cki_http_config *cfg, char *why, size_t why_cap)
{
	cki_http *h = calloc(1, sizeof *h);
	ck_err rv = CK_ENOMEM;

	if (h == NULL)
		return CK_ENOMEM;
	h->loop = loop;
	h->timeout_ms = cfg->timeout_ms;
	h->max_attempts = cfg->max_attempts;
	h->ez.common_headers = cfg->common_headers;
	cki_breaker_init(&h->breaker, cfg->breaker_failures, cfg->breaker_open_ms);
	if ((h->ez.user_agent = strdup(cfg->user_agent)) == NULL)
		goto out;
	if (cfg->ca_file != NULL && (h->ez.ca_file = strdup(cfg->ca_file)) == NULL)
		goto out;
	if (cfg->resolve != NULL && (h->ez.resolve = curl_slist_append(NULL, cfg->resolve)) == NULL)
		goto out;
	rv = CK_EINTERNAL;
	h->ez.share = curl_share_init();
	if (h->ez.share == NULL) {
		snprintf(why, why_cap, "libcurl initialisation failed");
		goto out;
	}
	if (curl_share_setopt(h->ez.share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) !=
	            CURLSHE_OK ||
	    curl_share_setopt(h->ez.share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK) {
		snprintf(why, why_cap, "libcurl share setup failed");
		goto out;
	}
	rv = cki_http_multi_init(&h->mx, loop, (long)cfg->pool_size, on_transfer_done, h, why,
	                         why_cap);
	if (rv != CK_OK)
		goto out;
	*out = h;
	h = NULL;
	rv = CK_OK;
out:
	cki_http_free(h);
	return rv;
}

void
cki_http_free(cki_http *h)
{
	if (h == NULL)
		return;
	h->ez.closing = true;
	while (h->reqs.tail != NULL) { /* newest first */
		cki_http_req *r = CKI_LIST_ITEM(h->reqs.tail, cki_http_req, link);

		cki_loop_timer_cancel(h->loop, r->timer);
		r->timer = 0;
		if (r->easy != NULL) {
			curl_multi_remove_handle(h->mx.multi, r->easy);
			curl_easy_cleanup(r->easy);
			r->easy = NULL;
		}
		if (r->deferred) {
			/* its deferred call still holds r: answer now, let that call free it */
			cki_http_result res = {.err = CK_ESHUTDOWN,
			                       .message = "agent is shutting down"};

			unlink_req(h, r);
			r->orphan = true;
			r->done(r->arg, &res);
			continue;
		}
		finish(r, CK_ESHUTDOWN, "agent is shutting down");
	}
	cki_http_multi_fini(&h->mx); /* closes pooled connections, stops watching their sockets */
	cki_http_easies_fini(&h->ez);
	if (h->ez.share != NULL)
		curl_share_cleanup(h->ez.share);
	curl_slist_free_all(h->ez.resolve);
	free(h->ez.ca_file);
	free(h->ez.user_agent);
	free(h);
}

void
cki_http_stats(cki_http *h, void (*emit)(void *ctx, const char *name, double v), void *ctx)
{
	emit(ctx, "http_requests", (double)h->n_requests);
	emit(ctx, "http_retries", (double)h->n_retries);
	emit(ctx, "breaker_state", (double)h->breaker.state);
	emit(ctx, "breaker_opens", (double)h->breaker.opens);
	emit(ctx, "connections", (double)h->n_connects);
	emit(ctx, "inflight", (double)h->reqs.n);
}
