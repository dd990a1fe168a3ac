/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Requests and their attempts over the loop-driven multi handle of http_multi.c. Each request
 * runs up to max_attempts attempts, each with CURLOPT_TIMEOUT_MS = min(timeout, time left);
 * between attempts it waits on a loop timer (never a sleep). Easy handles are recycled through
 * a free list. Connections are pooled by the multi handle (HTTP/2 multiplexing,
 * CURLOPT_PIPEWAIT so concurrent requests share one connection); TLS sessions and DNS are
 * shared through a CURLSH, and the CA store stays cached (CURLOPT_CA_CACHE_TIMEOUT). Proxies
 * are off (CURLOPT_PROXY ""): the agent talks to one pinned, verified host and an inherited
 * *_proxy variable must not reroute it.
 * TODO: a proxy setting, for sites that can only reach the API through one.
 */
#include "store/http/http_transport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "store/http/http_multi.h"
#include "base/log.h"
#include "base/metrics.h"

#define BACKOFF_BASE_MS  100u
#define BACKOFF_CAP_MS   5000u
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
	cki_timer_id timer; /* retry wait or deferred completion */
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

bool
cki_http_status_transient(long status)
{
	return status == 408 || status == 429 || (status >= 500 && status <= 599);
}

static void
link_req(cki_http *h, cki_http_req *r)
{
	r->h = h;
	r->prev = NULL;
	r->next = h->reqs;
	if (h->reqs != NULL)
		h->reqs->prev = r;
	h->reqs = r;
	h->inflight++;
}

static void
unlink_req(cki_http *h, cki_http_req *r)
{
	if (r->prev != NULL)
		r->prev->next = r->next;
	else
		h->reqs = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	h->inflight--;
}

/* ---- requests ----------------------------------------------------------------------------- */

cki_http_req *
cki_http_req_new(cki_http_method method, const char *url, uint8_t *body, size_t body_len,
                 size_t body_max)
{
	cki_http_req *r = calloc(1, sizeof *r);

	if (r == NULL || strlen(url) > URL_MAX || (r->url = strdup(url)) == NULL) {
		free(r);
		free(body);
		return NULL;
	}
	r->method = method;
	r->body = body;
	r->body_len = body_len;
	r->resp_max = body_max;
	return r;
}

ck_err
cki_http_req_header(cki_http_req *r, const char *line)
{
	struct curl_slist *l;

	if (strpbrk(line, "\r\n") != NULL)
		return CK_EINVAL;
	l = curl_slist_append(r->own_headers, line);
	if (l == NULL)
		return CK_ENOMEM;
	r->own_headers = l;
	for (r->own_last = l; r->own_last->next != NULL; r->own_last = r->own_last->next)
		;
	return CK_OK;
}

void
cki_http_req_free(cki_http_req *r)
{
	if (r == NULL)
		return;
	if (r->own_last != NULL)
		r->own_last->next = NULL; /* the common headers are not ours to free */
	curl_slist_free_all(r->own_headers);
	free(r->url);
	free(r->body);
	free(r->resp);
	free(r);
}

static size_t
write_cb(char *data, size_t size, size_t nmemb, void *userp)
{
	cki_http_req *r = userp;
	size_t n = size * nmemb;

	if (n > r->resp_max - r->resp_len) {
		r->resp_overflow = true;
		return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
	}
	if (r->resp_len + n > r->resp_cap) {
		size_t cap = r->resp_cap ? r->resp_cap : 4096;
		uint8_t *p;

		while (cap < r->resp_len + n)
			cap = cap > r->resp_max / 2 ? r->resp_max : cap * 2;
		p = realloc(r->resp, cap);
		if (p == NULL)
			return 0;
		r->resp = p;
		r->resp_cap = cap;
	}
	memcpy(r->resp + r->resp_len, data, n);
	r->resp_len += n;
	return n;
}

static size_t
header_cb(char *line, size_t size, size_t nmemb, void *userp)
{
	cki_http_req *r = userp;

	cki_http_resp_header_line(&r->rh, line, size * nmemb);
	return size * nmemb;
}

static CURL *
take_easy(cki_http *h)
{
	CURL *e;

	if (h->n_free > 0) {
		e = h->free_easy[--h->n_free];
		curl_easy_reset(e); /* keeps its connection, session and DNS caches */
		return e;
	}
	return curl_easy_init();
}

static void
give_easy(cki_http *h, CURL *e)
{
	if (h->n_free < FREE_EASY_MAX && !h->closing)
		h->free_easy[h->n_free++] = e;
	else
		curl_easy_cleanup(e);
}

#define SET(opt, val)                                       \
	do {                                                \
		if (rc == CURLE_OK)                         \
			rc = curl_easy_setopt(e, opt, val); \
	} while (0)

static CURLcode
setup_easy(cki_http *h, cki_http_req *r, CURL *e, long timeout_ms)
{
	static char empty[] = "";
	CURLcode rc = CURLE_OK;

	SET(CURLOPT_URL, r->url);
	SET(CURLOPT_PRIVATE, r);
	SET(CURLOPT_SHARE, h->share);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_PROTOCOLS_STR, "https");
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_PROXY, "");
	SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	SET(CURLOPT_PIPEWAIT, 1L);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	SET(CURLOPT_CA_CACHE_TIMEOUT, CA_CACHE_SECONDS);
	if (h->ca_file != NULL)
		SET(CURLOPT_CAINFO, h->ca_file);
	if (h->resolve != NULL)
		SET(CURLOPT_RESOLVE, h->resolve);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_TCP_KEEPIDLE, 60L);
	SET(CURLOPT_TCP_KEEPINTVL, 10L);
	SET(CURLOPT_TCP_NODELAY, 1L);
	SET(CURLOPT_TIMEOUT_MS, timeout_ms);
	SET(CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
	SET(CURLOPT_USERAGENT, h->user_agent);
	SET(CURLOPT_HTTPHEADER, r->own_headers != NULL ? r->own_headers : h->common_headers);
	SET(CURLOPT_WRITEFUNCTION, write_cb);
	SET(CURLOPT_WRITEDATA, r);
	SET(CURLOPT_HEADERFUNCTION, header_cb);
	SET(CURLOPT_HEADERDATA, r);
	SET(CURLOPT_ERRORBUFFER, r->errbuf);
	switch (r->method) {
	case CKI_HTTP_GET:
		break;
	case CKI_HTTP_HEAD:
		SET(CURLOPT_NOBODY, 1L);
		break;
	case CKI_HTTP_DELETE:
		SET(CURLOPT_CUSTOMREQUEST, "DELETE");
		break;
	case CKI_HTTP_PUT:
	case CKI_HTTP_POST:
	case CKI_HTTP_PATCH:
		if (r->method != CKI_HTTP_POST)
			SET(CURLOPT_CUSTOMREQUEST, r->method == CKI_HTTP_PUT ? "PUT" : "PATCH");
		SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
		SET(CURLOPT_POSTFIELDS, r->body != NULL ? (char *)r->body : empty);
		break;
	}
	return rc;
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

	r->timer = 0;
	finish(r, r->err, r->msg);
}

/* Completes r on a later turn of the loop, so callers never see a callback inside a call. */
static void
finish_later(cki_http_req *r, ck_err err, const char *msg)
{
	r->err = err;
	if (msg != r->msg)
		snprintf(r->msg, sizeof r->msg, "%s", msg);
	r->timer = cki_loop_timer(r->h->loop, 0, on_deferred, r);
	if (r->timer == 0)
		finish(r, r->err, r->msg);
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
	e = take_easy(h);
	if (e == NULL) {
		snprintf(r->msg, sizeof r->msg, "out of memory");
		return CK_ENOMEM;
	}
	r->resp_len = 0;
	r->resp_overflow = false;
	r->errbuf[0] = '\0';
	cki_http_resp_headers_init(&r->rh);
	if (setup_easy(h, r, e, timeout_ms) != CURLE_OK ||
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

static double
jitter(void)
{
	static uint64_t fallback = 0x9e3779b97f4a7c15u;
	uint64_t x;

	if (getrandom(&x, sizeof x, GRND_NONBLOCK) != (ssize_t)sizeof x) {
		/* no kernel entropy yet: xorshift is plenty for spreading retries */
		fallback ^= fallback << 13;
		fallback ^= fallback >> 7;
		fallback ^= fallback << 17;
		x = fallback ^ cki_now_ms();
	}
	return 0.5 + (double)(x >> 11) / 9007199254740992.0; /* [0.5, 1.5) */
}

/* Delay before retry n (0-based), or the capped Retry-After for 429/503. */
static uint64_t
retry_delay(const cki_http_req *r, long status, unsigned n)
{
	int64_t ra = cki_http_resp_retry_after_ms(&r->rh);
	uint64_t base;

	if ((status == 429 || status == 503) && ra >= 0)
		return ra < BACKOFF_CAP_MS ? (uint64_t)ra : BACKOFF_CAP_MS;
	base = n < 6 ? (uint64_t)BACKOFF_BASE_MS << n : BACKOFF_CAP_MS;
	if (base > BACKOFF_CAP_MS)
		base = BACKOFF_CAP_MS;
	return (uint64_t)((double)base * jitter());
}

/* Transient transport failures: worth another attempt (spec §2.8 "connect/network error"). */
static bool
curl_transient(CURLcode c)
{
	switch (c) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_AGAIN:
		return true;
	default:
		return false;
	}
}

static void
attempt_done(cki_http *h, cki_http_req *r, CURLcode cc)
{
	long status = 0, connects = 0;
	curl_off_t total_us = 0;
	bool transient;
	ck_err err = CK_OK;
	uint64_t now = cki_now_ms(), delay, opens;

	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(r->easy, CURLINFO_NUM_CONNECTS, &connects);
	curl_easy_getinfo(r->easy, CURLINFO_TOTAL_TIME_T, &total_us);
	h->n_connects += (uint64_t)connects;
	cki_metrics_observe_upstream(total_us > 0 ? (uint64_t)total_us : 0);
	r->total_ms = (double)total_us / 1000.0;
	give_easy(h, r->easy);
	r->easy = NULL;

	if (cc == CURLE_OK) {
		transient = cki_http_status_transient(status);
		r->rh.status = (int)status;
		snprintf(r->msg, sizeof r->msg, "upstream HTTP %ld", status);
	} else {
		transient = curl_transient(cc);
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
		delay = retry_delay(r, status, r->attempts - 1);
		if (now + delay < r->deadline) {
			r->timer = cki_loop_timer(h->loop, delay, on_retry, r);
			if (r->timer != 0) {
				h->n_retries++;
				return;
			}
		}
	}
	opens = h->breaker.opens;
	cki_breaker_report(&h->breaker, !transient, r->probe, now);
	if (h->breaker.opens != opens)
		cki_log_warn("http: circuit open for %u ms after: %s", h->breaker.open_ms, r->msg);
	r->probe = false;
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
		r->own_last->next = h->common_headers;
	link_req(h, r);
	if (h->closing) {
		finish(r, CK_ESHUTDOWN, "agent is shutting down");
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

void
cki_http_fail(cki_http *h, ck_err err, const char *msg, cki_http_done_cb done, void *arg)
{
	cki_http_req *r = calloc(1, sizeof *r);

	if (r == NULL) {
		cki_http_result res = {.err = err, .message = msg};

		done(arg, &res); /* out of memory: the one synchronous callback */
		return;
	}
	r->done = done;
	r->arg = arg;
	link_req(h, r);
	if (h->closing)
		finish(r, CK_ESHUTDOWN, "agent is shutting down");
	else
		finish_later(r, err, msg);
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
	h->common_headers = cfg->common_headers;
	cki_breaker_init(&h->breaker, cfg->breaker_failures, cfg->breaker_open_ms);
	if ((h->user_agent = strdup(cfg->user_agent)) == NULL)
		goto out;
	if (cfg->ca_file != NULL && (h->ca_file = strdup(cfg->ca_file)) == NULL)
		goto out;
	if (cfg->resolve != NULL && (h->resolve = curl_slist_append(NULL, cfg->resolve)) == NULL)
		goto out;
	rv = CK_EINTERNAL;
	h->share = curl_share_init();
	if (h->share == NULL) {
		snprintf(why, why_cap, "libcurl initialisation failed");
		goto out;
	}
	if (curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) !=
	            CURLSHE_OK ||
	    curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK) {
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
	h->closing = true;
	while (h->reqs != NULL) {
		cki_http_req *r = h->reqs;

		cki_loop_timer_cancel(h->loop, r->timer);
		r->timer = 0;
		if (r->easy != NULL) {
			curl_multi_remove_handle(h->mx.multi, r->easy);
			curl_easy_cleanup(r->easy);
			r->easy = NULL;
		}
		finish(r, CK_ESHUTDOWN, "agent is shutting down");
	}
	cki_http_multi_fini(&h->mx); /* closes pooled connections, stops watching their sockets */
	while (h->n_free > 0)
		curl_easy_cleanup(h->free_easy[--h->n_free]);
	if (h->share != NULL)
		curl_share_cleanup(h->share);
	curl_slist_free_all(h->resolve);
	free(h->ca_file);
	free(h->user_agent);
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
	emit(ctx, "inflight", (double)h->inflight);
}
