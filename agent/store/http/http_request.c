/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One HTTP request of the transport and the libcurl easy handle that carries an attempt of
 * it: building the request (URL, own header lines linked in front of the common ones, adopted
 * body), the response body sink with its cap, reading the response headers with
 * curl_easy_header(), the free list of easy handles and their options (HTTPS only, HTTP/2,
 * verified TLS, pinned resolve, keep-alive, per-attempt timeout). The CA store stays cached
 * (CURLOPT_CA_CACHE_TIMEOUT). Proxies are off (CURLOPT_PROXY ""): the agent talks to one
 * pinned, verified host and an inherited *_proxy variable must not reroute it.
 * TODO: a proxy setting, for sites that can only reach the API through one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/http/http_request.h"

#define CA_CACHE_SECONDS (7L * 24 * 3600) /* keep the parsed CA store for a week */
#define URL_MAX          4096u

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

/* The headers the store reads, from libcurl's own parse of the final response (interim 1xx
 * responses are a different origin and never seen here). */
void
cki_http_read_headers(CURL *e, cki_http_resp_headers *rh)
{
	static const char *const names[] = {"X-CacheKit-Freshness", "X-CacheKit-Fresh-For",
	                                    "Retry-After"};
	struct curl_header *hh;

	cki_http_resp_headers_init(rh);
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		if (curl_easy_header(e, names[i], 0, CURLH_HEADER, -1, &hh) == CURLHE_OK &&
		    hh->value != NULL)
			cki_http_resp_header_value(rh, names[i], hh->value, strlen(hh->value),
			                           hh->amount);
	}
}

CURL *
cki_http_take_easy(cki_http_easies *ez)
{
	CURL *e;

	if (ez->n_free > 0) {
		e = ez->free_easy[--ez->n_free];
		curl_easy_reset(e); /* keeps its connection, session and DNS caches */
		return e;
	}
	return curl_easy_init();
}

void
cki_http_give_easy(cki_http_easies *ez, CURL *e)
{
	if (ez->n_free < CKI_HTTP_FREE_EASY_MAX && !ez->closing)
		ez->free_easy[ez->n_free++] = e;
	else
		curl_easy_cleanup(e);
}

#define SET(opt, val)                                       \
	do {                                                \
		if (rc == CURLE_OK)                         \
			rc = curl_easy_setopt(e, opt, val); \
	} while (0)

CURLcode
cki_http_setup_easy(const cki_http_easies *ez, cki_http_req *r, CURL *e, long timeout_ms)
{
	static char empty[] = "";
	CURLcode rc = CURLE_OK;

	SET(CURLOPT_URL, r->url);
	SET(CURLOPT_PRIVATE, r);
	SET(CURLOPT_SHARE, ez->share);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_PROTOCOLS_STR, "https");
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_PROXY, "");
	SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	SET(CURLOPT_PIPEWAIT, 1L);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	SET(CURLOPT_CA_CACHE_TIMEOUT, CA_CACHE_SECONDS);
	if (ez->ca_file != NULL)
		SET(CURLOPT_CAINFO, ez->ca_file);
	if (ez->resolve != NULL)
		SET(CURLOPT_RESOLVE, ez->resolve);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_TCP_KEEPIDLE, 60L);
	SET(CURLOPT_TCP_KEEPINTVL, 10L);
	SET(CURLOPT_TCP_NODELAY, 1L);
	SET(CURLOPT_TIMEOUT_MS, timeout_ms);
	SET(CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
	SET(CURLOPT_USERAGENT, ez->user_agent);
	SET(CURLOPT_HTTPHEADER, r->own_headers != NULL ? r->own_headers : ez->common_headers);
	SET(CURLOPT_WRITEFUNCTION, write_cb);
	SET(CURLOPT_WRITEDATA, r);
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

void
cki_http_easies_fini(cki_http_easies *ez)
{
	while (ez->n_free > 0)
		curl_easy_cleanup(ez->free_easy[--ez->n_free]);
}
