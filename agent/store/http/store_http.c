/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The cachekit.io API as a cki_store: builds each route's request (spec §2.3, §2.5, §4,
 * §13 decisions 5 and 8) and maps the response to a cki_store_reply. Transport policy
 * (pooling, timeouts, retries, breaker) lives in http_transport.c, parsing of headers and
 * bodies in http_response.c, the mapping of responses to replies in http_reply.c. The
 * Authorization line is the only copy of the API key the store makes: it lives in secret
 * memory (crypto/secmem: OpenSSL's locked secure heap, wiped on free) and is linked into every
 * request's header list without being copied. What libcurl copies on its own is measured and
 * explained in docs/security-apikey.md.
 */
#define _GNU_SOURCE /* asprintf */
#include "store/http/store_http.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/keys.h"
#include "base/log.h"
#include "base/random.h"
#include "crypto/secmem.h"
#include "store/http/http_curl_mem.h"
#include "store/http/http_reply.h"
#include "store/http/http_transport.h"
#include "store/http/l1_headers.h"
#include "store/http/url_policy.h"

#define API_KEY_MAX      4096u
#define RESOLVE_MAX      512u
#define AUTH_PREFIX      "Authorization: Bearer "
#define N_COMMON_HEADERS 5

typedef struct http_store {
	cki_store base;
	cki_http *http;
	cki_loop *loop;
	char *base_url;
	char *auth_line; /* "Authorization: Bearer <key>" in secmem (locked, wiped on free) */
	size_t auth_len; /* bytes allocated for auth_line */
	char l1_line[48];
	bool agent_l1; /* L1 status "miss": the agent near cache is on */
	char session_id_line[64];
	char session_start_line[64];
	char expect_line[8];
	struct curl_slist common[N_COMMON_HEADERS];
	uint64_t n_errors;
} http_store;

typedef struct http_op {
	http_store *s;
	cki_http_op kind;
	cki_store_cb cb;
	void *arg;
} http_op;

/* ---- results ------------------------------------------------------------------------------ */

static void
on_done(void *arg, const cki_http_result *res)
{
	http_op *op = arg;
	cki_store_reply rep;
	cki_http_reply_bufs bufs;

	cki_http_reply_map(op->kind, res, &rep, &bufs);
	if (rep.err != CK_OK)
		op->s->n_errors++;
	else if (op->kind == CKI_OP_GET)
		cki_l1_headers_count_get(rep.found);
	op->cb(op->arg, &rep);
	free(op);
}

/* ---- operations that never became a request ----------------------------------------------- */

/* Such an operation finishes on a later turn of the loop like any other (the store contract).
 * The deferred call holds no pointer to the store, so a store destroyed meanwhile is fine. */
typedef struct failed_op {
	cki_http_op kind;
	ck_err err;
	const char *why; /* a string literal */
	cki_store_cb cb;
	void *arg;
} failed_op;

static void
finish_failed(const failed_op *f)
{
	cki_store_reply rep;

	cki_http_reply_fail(f->kind, f->err, f->why, &rep);
	f->cb(f->arg, &rep);
}

static void
run_failed(cki_loop *loop, void *arg)
{
	failed_op *f = arg;

	(void)loop;
	finish_failed(f);
	free(f);
}

/* When memory runs out, failures wait in this ring instead (loop thread only), drained by
 * one deferred call: the loop keeps room for deferred calls, so this needs no allocation. */
#define OOM_RING 64u
static failed_op oom_ring[OOM_RING];
static size_t oom_head, oom_len;
static bool oom_drain_queued;

static void
drain_oom(cki_loop *loop, void *arg)
{
	(void)loop;
	(void)arg;
	oom_drain_queued = false;
	while (oom_len > 0) {
		failed_op f = oom_ring[oom_head];

		oom_head = (oom_head + 1) % OOM_RING;
		oom_len--;
		finish_failed(&f);
	}
}

static void
fail_op(http_store *s, cki_http_op kind, ck_err err, const char *why, cki_store_cb cb, void *arg)
{
	failed_op *f = malloc(sizeof *f);

	s->n_errors++;
	if (f != NULL) {
		*f = (failed_op){.kind = kind, .err = err, .why = why, .cb = cb, .arg = arg};
		if (cki_loop_defer(s->loop, run_failed, f) == CK_OK)
			return;
		free(f);
	}
	if (oom_len < OOM_RING &&
	    (oom_drain_queued || cki_loop_defer(s->loop, drain_oom, NULL) == CK_OK)) {
		oom_drain_queued = true;
		oom_ring[(oom_head + oom_len++) % OOM_RING] = (failed_op){.kind = kind,
		                                                          .err = CK_ENOMEM,
		                                                          .why = "out of memory",
		                                                          .cb = cb,
		                                                          .arg = arg};
		return;
	}
	/* TODO: none left; 64 failures out of memory in one turn: the one inline callback */
	cki_log_error("http: out of memory: completing an operation inside the call");
	finish_failed(&(failed_op){
	        .kind = kind, .err = CK_ENOMEM, .why = "out of memory", .cb = cb, .arg = arg});
}

/* ---- requests ----------------------------------------------------------------------------- */

/* The L1 metrics headers (spec §2.5), while near-cache figures exist. */
static ck_err
add_l1_headers(const http_store *s, cki_http_req *req)
{
	cki_l1_header_lines lines;
	size_t n = cki_l1_headers_current(lines, s->agent_l1);
	ck_err err = CK_OK;

	for (size_t i = 0; i < n && err == CK_OK; i++)
		err = cki_http_req_header(req, lines[i]);
	return err;
}

/* Starts kind on suffix of key's route (or of the health route). Takes body (body_len
 * bytes, malloc'd or NULL); headers is a NULL-terminated list of extra lines or NULL. */
static void
submit(http_store *s, cki_http_op kind, cki_http_method method, const char *key, const char *suffix,
       uint8_t *body, size_t body_len, const char *const *headers, uint64_t deadline,
       cki_store_cb cb, void *arg)
{
	http_op *op = NULL;
	cki_http_req *req = NULL;
	char enc[3 * CKI_KEY_MAX + 1];
	char *url = NULL;
	size_t key_len;
	ck_err err = CK_ENOMEM;
	const char *why = "out of memory";

	if (kind != CKI_OP_HEALTH) {
		key_len = key != NULL ? strlen(key) : 0;
		if (key_len == 0 || key_len > CKI_KEY_MAX) {
			err = CK_EINVALKEY;
			why = "key length out of range";
			goto fail;
		}
		cki_key_encode(key, key_len, enc);
		if (asprintf(&url, "%s/v1/cache/%s%s", s->base_url, enc, suffix) < 0)
			url = NULL;
	} else if (asprintf(&url, "%s/v1/cache/health%s", s->base_url, suffix) < 0) {
		url = NULL;
	}
	if (url == NULL)
		goto fail;
	req = cki_http_req_new(method, url, body, body_len,
	                       kind == CKI_OP_GET ? CKI_HTTP_VALUE_BODY_MAX
	                                          : CKI_HTTP_JSON_BODY_MAX);
	body = NULL; /* adopted, even on failure */
	if (req == NULL)
		goto fail;
	for (size_t i = 0; headers != NULL && headers[i] != NULL; i++) {
		err = cki_http_req_header(req, headers[i]);
		if (err != CK_OK) {
			why = err == CK_EINVAL ? "header value holds CR or LF" : "out of memory";
			goto fail;
		}
	}
	err = add_l1_headers(s, req);
	if (err != CK_OK)
		goto fail;
	op = calloc(1, sizeof *op);
	if (op == NULL) {
		err = CK_ENOMEM;
		goto fail;
	}
	*op = (http_op){.s = s, .kind = kind, .cb = cb, .arg = arg};
	free(url);
	cki_http_send(s->http, req, deadline, on_done, op);
	return;
fail:
	free(url);
	free(body);
	cki_http_req_free(req);
	fail_op(s, kind, err, why, cb, arg);
}

static void
http_get(cki_store *st, const char *key, uint64_t deadline, cki_store_cb cb, void *arg)
{
	submit((http_store *)st, CKI_OP_GET, CKI_HTTP_GET, key, "", NULL, 0, NULL, deadline, cb,
	       arg);
}

static void
http_put(cki_store *st, const char *key, const uint8_t *value, size_t len, const cki_put_opts *opts,
         uint64_t deadline, cki_store_cb cb, void *arg)
{
	http_store *s = (http_store *)st;
	char ttl[48] = "", stale[48] = "";
	const char *headers[4] = {"Content-Type: application/octet-stream", NULL, NULL, NULL};
	uint8_t *copy = NULL;

	/* the body is copied: the caller's buffer need not outlive this call */
	if (len > CKI_HTTP_VALUE_BODY_MAX) {
		fail_op(s, CKI_OP_PUT, CK_ETOOBIG, "value too large", cb, arg);
		return;
	}
	if (len > 0 && (copy = malloc(len)) == NULL) {
		fail_op(s, CKI_OP_PUT, CK_ENOMEM, "out of memory", cb, arg);
		return;
	}
	if (len > 0)
		memcpy(copy, value, len);
	if (opts != NULL && opts->ttl_s > 0) {
		snprintf(ttl, sizeof ttl, "X-CacheKit-TTL: %" PRIu32, opts->ttl_s);
		headers[1] = ttl;
		if (opts->stale_ttl_s > 0) {
			snprintf(stale, sizeof stale, "X-CacheKit-Stale-TTL: %" PRIu32,
			         opts->stale_ttl_s);
			headers[2] = stale;
		}
	}
	submit(s, CKI_OP_PUT, CKI_HTTP_PUT, key, "", copy, len, headers, deadline, cb, arg);
}

static void
http_del(cki_store *st, const char *key, uint64_t deadline, cki_store_cb cb, void *arg)
{
	submit((http_store *)st, CKI_OP_DEL, CKI_HTTP_DELETE, key, "", NULL, 0, NULL, deadline, cb,
	       arg);
}

static void
http_exists(cki_store *st, const char *key, uint64_t deadline, cki_store_cb cb, void *arg)
{
	submit((http_store *)st, CKI_OP_EXISTS, CKI_HTTP_HEAD, key, "", NULL, 0, NULL, deadline, cb,
	       arg);
}

static void
http_get_ttl(cki_store *st, const char *key, uint64_t deadline, cki_store_cb cb, void *arg)
{
	submit((http_store *)st, CKI_OP_GET_TTL, CKI_HTTP_GET, key, "/ttl", NULL, 0, NULL, deadline,
	       cb, arg);
}

static const char *const json_headers[] = {"Content-Type: application/json", NULL};

/* A small JSON body {"<name>":<v>}; NULL when out of memory (submit reports it). */
static uint8_t *
json_number_body(const char *name, uint32_t v, size_t *len)
{
	char *b = NULL;
	int n = asprintf(&b, "{\"%s\":%" PRIu32 "}", name, v);

	if (n < 0)
		return NULL;
	*len = (size_t)n;
	return (uint8_t *)b;
}

static void
http_touch(cki_store *st, const char *key, uint32_t ttl_s, uint64_t deadline, cki_store_cb cb,
           void *arg)
{
	size_t len = 0;
	uint8_t *body = json_number_body("ttl", ttl_s, &len);

	if (body == NULL) {
		fail_op((http_store *)st, CKI_OP_TOUCH, CK_ENOMEM, "out of memory", cb, arg);
		return;
	}
	submit((http_store *)st, CKI_OP_TOUCH, CKI_HTTP_PATCH, key, "/ttl", body, len, json_headers,
	       deadline, cb, arg);
}

static void
http_lock(cki_store *st, const char *key, uint32_t lease_ms, uint64_t deadline, cki_store_cb cb,
          void *arg)
{
	size_t len = 0;
	/* py clamps the lease to >= 1 ms; so do we */
	uint8_t *body = json_number_body("timeout_ms", lease_ms > 0 ? lease_ms : 1, &len);

	if (body == NULL) {
		fail_op((http_store *)st, CKI_OP_LOCK, CK_ENOMEM, "out of memory", cb, arg);
		return;
	}
	submit((http_store *)st, CKI_OP_LOCK, CKI_HTTP_POST, key, "/lock", body, len, json_headers,
	       deadline, cb, arg);
}

static void
http_unlock(cki_store *st, const char *key, const char *lock_id, uint64_t deadline, cki_store_cb cb,
            void *arg)
{
	http_store *s = (http_store *)st;
	char line[sizeof "X-CacheKit-Lock-Id: " + CKI_HTTP_LOCK_ID_MAX];
	const char *headers[] = {line, NULL};
	size_t n = lock_id != NULL ? strlen(lock_id) : 0;

	/* never in the URL (CWE-532); a header line must not be split (CR/LF) */
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)lock_id[i] < 0x20 || lock_id[i] == 0x7f)
			n = 0;
	}
	if (n == 0 || n > CKI_HTTP_LOCK_ID_MAX) {
		fail_op(s, CKI_OP_UNLOCK, CK_EINVAL, "invalid lock id", cb, arg);
		return;
	}
	snprintf(line, sizeof line, "X-CacheKit-Lock-Id: %s", lock_id);
	submit(s, CKI_OP_UNLOCK, CKI_HTTP_DELETE, key, "/lock", NULL, 0, headers, deadline, cb,
	       arg);
}

/* The API has no renewal route (spec §4.1): refused at once, nothing is sent. */
static void
http_renew_lock(cki_store *st, const char *key, const char *lock_id, uint32_t lease_ms,
                uint64_t deadline, cki_store_cb cb, void *arg)
{
	(void)key;
	(void)lock_id;
	(void)lease_ms;
	(void)deadline;
	fail_op((http_store *)st, CKI_OP_UNLOCK, CK_ENOTSUP,
	        "the cachekit.io API has no lock renewal", cb, arg);
}

static void
http_health(cki_store *st, uint64_t deadline, cki_store_cb cb, void *arg)
{
	submit((http_store *)st, CKI_OP_HEALTH, CKI_HTTP_GET, NULL, "", NULL, 0, NULL, deadline, cb,
	       arg);
}

static void
http_stats(cki_store *st, void (*emit)(void *ctx, const char *name, double v), void *ctx)
{
	http_store *s = (http_store *)st;

	cki_http_stats(s->http, emit, ctx);
	emit(ctx, "http_errors", (double)s->n_errors);
}

static const char *
http_url(cki_store *st)
{
	return ((http_store *)st)->base_url;
}

static void
free_store(http_store *s)
{
	if (s == NULL)
		return;
	cki_http_free(s->http);
	cki_secmem_free(s->auth_line, s->auth_len);
	free(s->base_url);
	free(s);
	curl_global_cleanup();
}

static void
http_destroy(cki_store *st)
{
	free_store((http_store *)st);
}

static const cki_store_ops http_ops = {
        .backend_type = "cachekitio",
        .get = http_get,
        .put = http_put,
        .del = http_del,
        .exists = http_exists,
        .get_ttl = http_get_ttl,
        .touch = http_touch,
        .lock = http_lock,
        .unlock = http_unlock,
        .renew_lock = http_renew_lock,
        .health = http_health,
        .stats = http_stats,
        .destroy = http_destroy,
        .url = http_url,
};

/* ---- construction ------------------------------------------------------------------------- */

static ck_err
make_auth_line(http_store *s, const uint8_t *key, size_t len, char *why, size_t why_cap)
{
	if (len == 0 || len > API_KEY_MAX) {
		snprintf(why, why_cap, "API key is empty or too long");
		return CK_ECONFIG;
	}
	/* RFC 6750 and cachekit-py: refused, never trimmed (a key that works here must work
	 * in every SDK); a trailing newline from a secrets file is the usual cause */
	if (key[len - 1] == ' ' || key[len - 1] == '\t' || key[len - 1] == '\n' ||
	    key[len - 1] == '\r') {
		snprintf(why, why_cap,
		         "API key ends with whitespace (a trailing newline?): "
		         "remove it; keys are used exactly as given");
		return CK_ECONFIG;
	}
	for (size_t i = 0; i < len; i++) {
		if (key[i] <= 0x20 || key[i] >= 0x7f) {
			snprintf(why, why_cap,
			         "API key contains whitespace or non-printable bytes");
			return CK_ECONFIG;
		}
	}
	s->auth_len = sizeof AUTH_PREFIX + len;
	s->auth_line = cki_secmem_alloc(s->auth_len);
	if (s->auth_line == NULL) {
		s->auth_len = 0;
		return CK_ENOMEM;
	}
	memcpy(s->auth_line, AUTH_PREFIX, sizeof AUTH_PREFIX - 1);
	memcpy(s->auth_line + sizeof AUTH_PREFIX - 1, key, len);
	s->auth_line[sizeof AUTH_PREFIX - 1 + len] = '\0';
	return CK_OK;
}

static ck_err
make_session(http_store *s)
{
	char uuid[37];
	struct timespec ts;

	if (cki_uuid_v4(uuid) != CK_OK)
		return CK_EINTERNAL;
	snprintf(s->session_id_line, sizeof s->session_id_line, "X-CacheKit-Session-ID: %s", uuid);
	clock_gettime(CLOCK_REALTIME, &ts); /* wall time, for the header; never for intervals */
	snprintf(s->session_start_line, sizeof s->session_start_line,
	         "X-CacheKit-Session-Start: %" PRIu64,
	         (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u);
	return CK_OK;
}

static bool
resolve_ok(const char *r)
{
	size_t colons = 0, n = strlen(r);

	if (n == 0 || n > RESOLVE_MAX)
		return false;
	for (const char *p = r; *p != '\0'; p++) {
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return false;
		colons += *p == ':';
	}
	return colons >= 2;
}

ck_err
cki_store_http_new(cki_store **out, cki_loop *loop, const cki_http_opts *opts, char *why,
                   size_t why_cap)
{
	http_store *s = NULL;
	cki_http_config cfg;
	char ua[128], scratch[160];
	const char *l1;
	ck_err rv;

	if (why == NULL || why_cap == 0) {
		why = scratch;
		why_cap = sizeof scratch;
	}
	why[0] = '\0';
	if (cki_http_curl_init() != CURLE_OK) {
		snprintf(why, why_cap, "libcurl initialisation failed");
		return CK_EINTERNAL;
	}
	s = calloc(1, sizeof *s);
	if (s == NULL) {
		rv = CK_ENOMEM;
		goto out;
	}
	s->base.ops = &http_ops;
	s->loop = loop;
	rv = cki_url_check(opts->url, opts->allow_custom_host, why, why_cap);
	if (rv != CK_OK)
		goto out;
	rv = cki_url_base(opts->url, &s->base_url);
	if (rv != CK_OK)
		goto out;
	rv = CK_ECONFIG;
	l1 = opts->l1_status != NULL ? opts->l1_status : "disabled";
	if (strcmp(l1, "disabled") != 0 && strcmp(l1, "miss") != 0) {
		snprintf(why, why_cap, "L1 status must be \"disabled\" or \"miss\"");
		goto out;
	}
	if (opts->max_attempts > 3) {
		snprintf(why, why_cap, "max_attempts must be 1..3");
		goto out;
	}
	if (opts->resolve != NULL && !resolve_ok(opts->resolve)) {
		snprintf(why, why_cap, "resolve must look like host:port:address");
		goto out;
	}
	rv = make_auth_line(s, opts->api_key, opts->api_key_len, why, why_cap);
	if (rv != CK_OK)
		goto out;
	rv = make_session(s);
	if (rv != CK_OK) {
		snprintf(why, why_cap, "no randomness for the session id");
		goto out;
	}
	snprintf(s->l1_line, sizeof s->l1_line, "X-CacheKit-L1-Status: %s", l1);
	s->agent_l1 = strcmp(l1, "miss") == 0;
	snprintf(s->expect_line, sizeof s->expect_line, "Expect:"); /* no 100-continue */
	{
		char *lines[N_COMMON_HEADERS] = {s->auth_line, s->l1_line, s->session_id_line,
		                                 s->session_start_line, s->expect_line};

		for (size_t i = 0; i < N_COMMON_HEADERS; i++) {
			s->common[i].data = lines[i];
			s->common[i].next = i + 1 < N_COMMON_HEADERS ? &s->common[i + 1] : NULL;
		}
	}
	snprintf(ua, sizeof ua, "cachekit-agent/%s libcurl/%s", CK_VERSION_STRING,
	         curl_version_info(CURLVERSION_NOW)->version);
	cfg = (cki_http_config){
	        .timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : 5000,
	        .pool_size = opts->pool_size > 0 ? opts->pool_size : 10,
	        .max_attempts = opts->max_attempts > 0 ? opts->max_attempts : 3,
	        .breaker_failures = opts->breaker_failures > 0 ? opts->breaker_failures : 5,
	        .breaker_open_ms = opts->breaker_open_ms > 0 ? opts->breaker_open_ms : 5000,
	        .ca_file = opts->ca_file,
	        .resolve = opts->resolve,
	        .user_agent = ua,
	        .common_headers = &s->common[0],
	};
	rv = cki_http_new(&s->http, loop, &cfg, why, why_cap);
	if (rv != CK_OK)
		goto out;
	*out = &s->base;
	s = NULL;
out:
	if (s != NULL)
		free_store(s); /* also balances curl_global_init */
	else if (rv != CK_OK)
		curl_global_cleanup();
	return rv;
}
