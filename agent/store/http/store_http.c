/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The cachekit.io API as a cki_store: builds each route's request (spec §2.3, §2.5, §4,
 * §13 decisions 5 and 8) and maps the response to a cki_store_reply. Transport policy
 * (pooling, timeouts, retries, breaker) lives in http_transport.c, parsing of headers and
 * bodies in http_response.c. The Authorization line is the only copy of the API key we make:
 * it sits in a locked, non-dumpable page that is wiped on destroy, and is linked into every
 * request's header list without being copied. (libcurl still formats it into its own send
 * buffers and HPACK table, which it frees without wiping; that is out of our reach.)
 */
#define _GNU_SOURCE /* asprintf */
#include "store/http/store_http.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "store/http/http_transport.h"
#include "base/keys.h"
#include "base/log.h"
#include "base/random.h"
#include "store/http/url_policy.h"

#define API_KEY_MAX      4096u
#define RESOLVE_MAX      512u
#define AUTH_PREFIX      "Authorization: Bearer "
#define N_COMMON_HEADERS 5

enum op_kind {
	OP_GET,
	OP_EXISTS,
	OP_PUT,
	OP_DEL,
	OP_GET_TTL,
	OP_TOUCH,
	OP_LOCK,
	OP_UNLOCK,
	OP_HEALTH,
};

typedef struct http_store {
	cki_store base;
	cki_http *http;
	char *base_url;
	char *auth_line; /* mmap'd, mlock'd, wiped on free */
	size_t auth_map_len;
	char l1_line[48];
	char session_id_line[64];
	char session_start_line[64];
	char expect_line[8];
	struct curl_slist common[N_COMMON_HEADERS];
	uint64_t n_errors;
} http_store;

typedef struct http_op {
	http_store *s;
	enum op_kind kind;
	cki_store_cb cb;
	void *arg;
} http_op;

/* ---- results ------------------------------------------------------------------------------ */

static void
map_error_status(long status, cki_store_reply *rep)
{
	switch (status) {
	case 401:
		rep->err = CK_EAUTH;
		break;
	case 403:
		rep->err = CK_EFORBIDDEN;
		break;
	case 413:
		rep->err = CK_ETOOBIG;
		rep->message = "value too large";
		break;
	case 429:
		rep->err = CK_ERATELIMIT;
		break;
	default:
		rep->err = CK_EUPSTREAM; /* 400, 405, other 4xx, 408, 5xx, 1xx/3xx */
		break;
	}
}

/* Fills rep from a response. lock_id and version are buffers for borrowed strings. */
static void
map_response(enum op_kind kind, const cki_http_result *res, cki_store_reply *rep, char *lock_id,
             size_t lock_cap, char *version, size_t version_cap)
{
	long st = res->status;
	bool ok = st >= 200 && st <= 299;
	bool acquired;
	ck_err err;

	if (kind == OP_HEALTH)
		rep->latency_ms = res->total_ms;
	if (st == 404 && kind != OP_LOCK && kind != OP_HEALTH) {
		rep->found = false;
		return;
	}
	if (st == 409 && kind == OP_LOCK) {
		rep->lock_id = NULL; /* legacy "contested" */
		return;
	}
	if (st == 409 && kind == OP_TOUCH) {
		rep->err = CK_ECONFLICT;
		return;
	}
	if (!ok) {
		map_error_status(st, rep);
		return;
	}
	switch (kind) {
	case OP_GET:
		rep->found = true;
		rep->value = res->body;
		rep->value_len = res->body_len;
		rep->freshness = cki_http_resp_freshness(res->headers);
		rep->fresh_for_ms = cki_http_resp_fresh_for(res->headers);
		if (rep->fresh_for_ms > 0)
			rep->fresh_for_ms *= 1000;
		break;
	case OP_GET_TTL:
		err = cki_parse_ttl_body((const char *)res->body, res->body_len, &rep->ttl_s);
		if (err != CK_OK) {
			rep->err = CK_EUPSTREAM;
			rep->message = "malformed TTL response";
			rep->ttl_s = -1;
			return;
		}
		rep->found = true;
		break;
	case OP_LOCK:
		err = cki_parse_lock_body((const char *)res->body, res->body_len, &acquired,
		                          lock_id, lock_cap);
		if (err != CK_OK)
			cki_log_warn(
			        "http: malformed lock response (%zu bytes): treated as contested",
			        res->body_len);
		rep->found = err == CK_OK && acquired;
		rep->lock_id = rep->found ? lock_id : NULL;
		break;
	case OP_HEALTH:
		cki_parse_health_body((const char *)res->body, res->body_len, version, version_cap);
		rep->version = version;
		rep->found = true;
		break;
	default: /* exists, put, del, touch, unlock */
		rep->found = true;
		break;
	}
}

static void
on_done(void *arg, const cki_http_result *res)
{
	http_op *op = arg;
	cki_store_reply rep;
	char lock_id[CKI_HTTP_LOCK_ID_MAX + 1];
	char version[CKI_HTTP_VERSION_MAX + 1];
	char msg[64];

	cki_store_reply_init(&rep);
	if (res->err != CK_OK) {
		rep.err = res->err;
		rep.message = res->message;
	} else {
		map_response(op->kind, res, &rep, lock_id, sizeof lock_id, version, sizeof version);
		if (rep.err != CK_OK && rep.message == NULL) {
			snprintf(msg, sizeof msg, "upstream HTTP %ld", res->status);
			rep.message = msg;
		}
	}
	if (rep.err != CK_OK) {
		op->s->n_errors++;
		if (op->kind == OP_HEALTH) {
			rep.error_type = ck_errname(rep.err);
			rep.latency_ms = -1;
		}
	}
	op->cb(op->arg, &rep);
	free(op);
}

/* ---- requests ----------------------------------------------------------------------------- */

/* Finishes an operation that never became a request, on a later turn of the loop. */
static void
fail_op(http_store *s, enum op_kind kind, ck_err err, const char *why, cki_store_cb cb, void *arg)
{
	http_op *op = calloc(1, sizeof *op);

	if (op == NULL) {
		cki_store_reply rep;

		cki_store_reply_init(&rep);
		rep.err = CK_ENOMEM;
		cb(arg, &rep); /* out of memory: the one synchronous callback */
		return;
	}
	*op = (http_op){.s = s, .kind = kind, .cb = cb, .arg = arg};
	cki_http_fail(s->http, err, why, on_done, op);
}

/* Starts kind on suffix of key's route (or of the health route). Takes body (body_len
 * bytes, malloc'd or NULL); headers is a NULL-terminated list of extra lines or NULL. */
static void
submit(http_store *s, enum op_kind kind, cki_http_method method, const char *key,
       const char *suffix, uint8_t *body, size_t body_len, const char *const *headers,
       uint64_t deadline, cki_store_cb cb, void *arg)
{
	http_op *op = NULL;
	cki_http_req *req = NULL;
	char enc[3 * CKI_KEY_MAX + 1];
	char *url = NULL;
	size_t key_len;
	ck_err err = CK_ENOMEM;
	const char *why = "out of memory";

	if (kind != OP_HEALTH) {
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
	                       kind == OP_GET ? CKI_HTTP_VALUE_BODY_MAX : CKI_HTTP_JSON_BODY_MAX);
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
	submit((http_store *)st, OP_GET, CKI_HTTP_GET, key, "", NULL, 0, NULL, deadline, cb, arg);
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
		fail_op(s, OP_PUT, CK_ETOOBIG, "value too large", cb, arg);
		return;
	}
	if (len > 0 && (copy = malloc(len)) == NULL) {
		fail_op(s, OP_PUT, CK_ENOMEM, "out of memory", cb, arg);
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
	submit(s, OP_PUT, CKI_HTTP_PUT, key, "", copy, len, headers, deadline, cb, arg);
}

static void
http_del(cki_store *st, const char *key, uint64_t deadline, cki_store_cb cb, void *arg)
{
	submit((http_store *)st, OP_DEL, CKI_HTTP_DELETE, key, "", NULL, 0, NULL, deadline, cb,
	       arg);
}

static void
http_exists(cki_store *st, const char *key, uint64_t deadline, cki_store_cb cb, void *arg)
{
	submit((http_store *)st, OP_EXISTS, CKI_HTTP_HEAD, key, "", NULL, 0, NULL, deadline, cb,
	       arg);
}

static void
http_get_ttl(cki_store *st, const char *key, uint64_t deadline, cki_store_cb cb, void *arg)
{
	submit((http_store *)st, OP_GET_TTL, CKI_HTTP_GET, key, "/ttl", NULL, 0, NULL, deadline, cb,
	       arg);
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
		fail_op((http_store *)st, OP_TOUCH, CK_ENOMEM, "out of memory", cb, arg);
		return;
	}
	submit((http_store *)st, OP_TOUCH, CKI_HTTP_PATCH, key, "/ttl", body, len, json_headers,
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
		fail_op((http_store *)st, OP_LOCK, CK_ENOMEM, "out of memory", cb, arg);
		return;
	}
	submit((http_store *)st, OP_LOCK, CKI_HTTP_POST, key, "/lock", body, len, json_headers,
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
		fail_op(s, OP_UNLOCK, CK_EINVAL, "invalid lock id", cb, arg);
		return;
	}
	snprintf(line, sizeof line, "X-CacheKit-Lock-Id: %s", lock_id);
	submit(s, OP_UNLOCK, CKI_HTTP_DELETE, key, "/lock", NULL, 0, headers, deadline, cb, arg);
}

static void
http_health(cki_store *st, uint64_t deadline, cki_store_cb cb, void *arg)
{
	submit((http_store *)st, OP_HEALTH, CKI_HTTP_GET, NULL, "", NULL, 0, NULL, deadline, cb,
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
	if (s->auth_line != NULL) {
		explicit_bzero(s->auth_line, s->auth_map_len);
		munlock(s->auth_line, s->auth_map_len);
		munmap(s->auth_line, s->auth_map_len);
	}
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
        .health = http_health,
        .stats = http_stats,
        .destroy = http_destroy,
        .url = http_url,
};

/* ---- construction ------------------------------------------------------------------------- */

static ck_err
make_auth_line(http_store *s, const uint8_t *key, size_t len, char *why, size_t why_cap)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t need = sizeof AUTH_PREFIX + len;

	if (len == 0 || len > API_KEY_MAX) {
		snprintf(why, why_cap, "API key is empty or too long");
		return CK_ECONFIG;
	}
	for (size_t i = 0; i < len; i++) {
		if (key[i] <= 0x20 || key[i] >= 0x7f) {
			/* RFC 6750: a trailing newline from a secrets file is the usual cause */
			snprintf(why, why_cap,
			         "API key contains whitespace or non-printable bytes");
			return CK_ECONFIG;
		}
	}
	s->auth_map_len = (need + (size_t)page - 1) / (size_t)page * (size_t)page;
	s->auth_line = mmap(NULL, s->auth_map_len, PROT_READ | PROT_WRITE,
	                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (s->auth_line == MAP_FAILED) {
		s->auth_line = NULL;
		return CK_ENOMEM;
	}
	if (mlock(s->auth_line, s->auth_map_len) != 0)
		cki_log_debug("http: cannot lock the API key page (RLIMIT_MEMLOCK?)");
	(void)madvise(s->auth_line, s->auth_map_len, MADV_DONTDUMP);
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
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(why, why_cap, "libcurl initialisation failed");
		return CK_EINTERNAL;
	}
	s = calloc(1, sizeof *s);
	if (s == NULL) {
		rv = CK_ENOMEM;
		goto out;
	}
	s->base.ops = &http_ops;
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
