/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ck-fakeapi API semantics (spec §2.2–§2.11, §4): routing of /v1/cache/..., authentication and
 * key classes, L1-Status and write-space rules, key decoding and validation, and the handlers
 * for entries, TTL, locks and health. Fault injection is applied first, and every request is
 * recorded with the status it was answered with. Protocol-agnostic: fa_request in,
 * fa_response out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "fakeapi.h"

#define MAX_KEY_CHARS     400
#define MAX_NS_CHARS      64
#define MAX_LOCK_LEASE_MS 2592000000LL

enum key_class { KEY_SDK, KEY_API, KEY_LEGACY };
enum route { R_NONE, R_ENTRY, R_LOCK, R_TTL, R_HEALTH };

static const char *const allow_for[] = {
        [R_NONE] = "",
        [R_ENTRY] = "GET, HEAD, PUT, DELETE",
        [R_LOCK] = "POST, DELETE",
        [R_TTL] = "GET, PATCH",
        [R_HEALTH] = "GET",
};

static void
error_json(struct fa_response *resp, int status, const char *msg)
{
	char body[256];
	snprintf(body, sizeof(body), "{\"error\":\"%s\"}", msg);
	cki_resp_json(resp, status, body);
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9') {
		return c - '0';
	}
	if (c >= 'a' && c <= 'f') {
		return c - 'a' + 10;
	}
	if (c >= 'A' && c <= 'F') {
		return c - 'A' + 10;
	}
	return -1;
}

int
cki_pct_decode(const char *in, size_t len, char *out, size_t outcap, size_t *outlen)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		if (o + 1 >= outcap) {
			return -1;
		}
		if (in[i] != '%') {
			out[o++] = in[i];
			continue;
		}
		if (i + 2 >= len) {
			return -1;
		}
		int hi = hexval(in[i + 1]), lo = hexval(in[i + 2]);
		if (hi < 0 || lo < 0) {
			return -1;
		}
		out[o++] = (char)(hi * 16 + lo);
		i += 2;
	}
	out[o] = '\0';
	*outlen = o;
	return 0;
}

static int
ns_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-';
}

/* Server-side key validation (§2.4): 0 valid, -1 invalid. */
static int
key_valid(const char *key, size_t len)
{
	if (len == 0 || len > MAX_KEY_CHARS || strstr(key, "..") != NULL) {
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		char c = key[i];
		if (!ns_char(c) && c != '.' && c != ':') {
			return -1;
		}
	}
	const char *rest = NULL;
	if (strncmp(key, "ns:", 3) == 0) {
		rest = key + 3;
	} else if (strncmp(key, "nsapi:", 6) == 0) {
		rest = key + 6;
	}
	if (rest != NULL) {
		const char *colon = strchr(rest, ':');
		if (colon == NULL || colon == rest || colon - rest > MAX_NS_CHARS ||
		    colon[1] == '\0') {
			return -1;
		}
		for (const char *p = rest; p < colon; p++) {
			if (!ns_char(*p)) {
				return -1;
			}
		}
	}
	return 0;
}

/* Strict unsigned decimal, 1..10 digits; -1 if not one. */
static long long
parse_uint(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 10) {
		return -1;
	}
	long long v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9') {
			return -1;
		}
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* Authenticate: 0 ok with *cls set, -1 = 401. */
static int
authenticate(const struct fa_request *req, enum key_class *cls)
{
	const char *auth = cki_req_header(req, "authorization");
	if (auth == NULL || strncmp(auth, "Bearer ", 7) != 0) {
		return -1;
	}
	const char *key = auth + 7;
	size_t klen = strlen(key);
	int match = 0;
	for (size_t i = 0; i < cki_fa.n_api_keys; i++) {
		const char *k = cki_fa.api_keys[i];
		if (strlen(k) == klen && CRYPTO_memcmp(k, key, klen) == 0) {
			match = 1;
		}
	}
	if (!match) {
		return -1;
	}
	if (strncmp(key, "ck_sdk_", 7) == 0) {
		*cls = KEY_SDK;
	} else if (strncmp(key, "ck_api_", 7) == 0) {
		*cls = KEY_API;
	} else if (strncmp(key, "ck_live_", 8) == 0 || strncmp(key, "ck_test_", 8) == 0) {
		*cls = KEY_LEGACY;
	} else {
		return -1;
	}
	return 0;
}

static void
send_entry(struct fa_response *resp, const struct fa_entry *e, int head)
{
	int64_t now = cki_now_ms();
	char num[32];
	resp->status = 200;
	resp->head = head;
	cki_resp_header(resp, "content-type", "application/octet-stream");
	int stale = e->has_ttl && now >= e->fresh_until * 1000;
	cki_resp_header(resp, "x-cachekit-freshness", stale ? "stale" : "fresh");
	if (e->has_ttl && !head) {
		int64_t left = e->fresh_until * 1000 - now;
		snprintf(num, sizeof(num), "%lld", (long long)(left > 0 ? left / 1000 : 0));
		cki_resp_header(resp, "x-cachekit-fresh-for", num);
	}
	cki_buf_append(&resp->body, e->value, e->len);
}

static void
handle_put(const struct fa_request *req, const char *key, struct fa_response *resp)
{
	const char *ttl_h = cki_req_header(req, "x-cachekit-ttl");
	if (ttl_h == NULL) {
		ttl_h = cki_req_header(req, "x-ttl");
	}
	const char *stale_h = cki_req_header(req, "x-cachekit-stale-ttl");
	long long ttl = -1, stale = 0;
	if (ttl_h != NULL) {
		ttl = parse_uint(ttl_h);
		if (ttl < 1 || ttl > FA_MAX_TTL) {
			error_json(resp, 400, "Invalid TTL");
			return;
		}
	}
	if (stale_h != NULL) {
		stale = parse_uint(stale_h);
		if (ttl_h == NULL || stale < 0 || stale > FA_MAX_TTL - 1 ||
		    ttl + stale > FA_MAX_TTL) {
			error_json(resp, 400, "Invalid stale TTL");
			return;
		}
	}
	if (req->body_too_large || req->body_len > cki_fa.max_value) {
		error_json(resp, 413, "Value too large");
		return;
	}
	int64_t now_s = cki_now_ms() / 1000;
	int has_ttl = ttl > 0;
	int64_t fresh_until = has_ttl ? now_s + ttl : 0;
	if (cki_store_put(key, req->body.data, req->body.len, has_ttl, fresh_until,
	                  fresh_until + stale) != 0) {
		error_json(resp, 500, "Out of memory");
		return;
	}
	cki_resp_json(resp, 200, "{\"success\":true}");
}

/* A small JSON object body with one integer field; -1 if absent or malformed. */
static long long
json_int_field(const struct fa_request *req, const char *field, int *is_null)
{
	long long v = -1;
	*is_null = 0;
	if (req->body.len == 0 || req->body.len > FA_MAX_JSON_BODY) {
		return -1;
	}
	json_t *root = json_loadb((const char *)req->body.data, req->body.len, 0, NULL);
	json_t *f = json_is_object(root) ? json_object_get(root, field) : NULL;
	if (json_is_integer(f)) {
		v = json_integer_value(f);
	} else if (json_is_null(f)) {
		*is_null = 1;
	}
	json_decref(root);
	return v;
}

static void
handle_lock(const struct fa_request *req, const char *key, int post, struct fa_response *resp)
{
	char body[128];
	if (post) {
		int is_null;
		long long ms = json_int_field(req, "timeout_ms", &is_null);
		if (ms < 1 || ms > MAX_LOCK_LEASE_MS) {
			error_json(resp, 400, "Invalid timeout_ms");
			return;
		}
		char id[37];
		int got = cki_lock_acquire(key, (uint64_t)ms, id);
		if (got < 0) {
			error_json(resp, 500, "Lock failure");
		} else if (got == 0 && cki_fa.faults.lock_contested == FA_LOCK_409) {
			error_json(resp, 409, "Lock held");
		} else if (got == 0) {
			cki_resp_json(resp, 200, "{\"lock_id\":null}");
		} else {
			snprintf(body, sizeof(body), "{\"lock_id\":\"%s\"}", id);
			cki_resp_json(resp, 200, body);
		}
		return;
	}
	/* Release: header first, then the legacy ?lock_id= query; blank counts as absent. */
	char id[64] = "";
	const char *h = cki_req_header(req, "x-cachekit-lock-id");
	const char *q = strstr(req->path, "?lock_id=");
	if (q == NULL) {
		q = strstr(req->path, "&lock_id=");
	}
	const char *src = h;
	size_t n = 0;
	for (int pass = 0; pass < 2 && n == 0; pass++) {
		if (pass == 1) {
			src = q ? q + 9 : NULL;
		}
		if (src == NULL) {
			continue;
		}
		while (*src == ' ' || *src == '\t') {
			src++;
		}
		n = strcspn(src, pass == 1 ? "& \t" : " \t");
		if (n >= sizeof(id)) {
			n = sizeof(id) - 1;
		}
		memcpy(id, src, n);
		id[n] = '\0';
	}
	if (n == 0) {
		error_json(resp, 400, "Missing lock id");
		return;
	}
	if (cki_lock_release(key, id) == 1 || cki_fa.faults.unlock_wrong == FA_UNLOCK_200) {
		cki_resp_json(resp, 200, "{\"success\":true}");
	} else {
		error_json(resp, 404, "Lock not found");
	}
}

static void
handle_ttl(const struct fa_request *req, const char *key, int patch, struct fa_response *resp)
{
	char body[64];
	int64_t now_ms = cki_now_ms();
	int64_t now_s = now_ms / 1000;
	struct fa_entry *e = cki_store_get(key);
	if (!patch) {
		if (e == NULL) {
			error_json(resp, 404, "Not Found");
		} else if (!e->has_ttl) {
			cki_resp_json(resp, 200, "{\"ttl\":null}");
		} else {
			snprintf(body, sizeof(body), "{\"ttl\":%lld}",
			         cki_fa.faults.ttl_zero ? 0LL : (long long)(e->evict_at - now_s));
			cki_resp_json(resp, 200, body);
		}
		return;
	}
	int is_null;
	long long ttl = json_int_field(req, "ttl", &is_null);
	if (ttl < 1 || ttl > FA_MAX_TTL) {
		error_json(resp, 400, "Invalid TTL");
		return;
	}
	if (e == NULL) {
		cki_resp_json(resp, 200, "{\"success\":true}");
		return;
	}
	int64_t stale = e->has_ttl ? e->evict_at - e->fresh_until : 0;
	if (ttl + stale > FA_MAX_TTL) {
		error_json(resp, 400, "Invalid TTL");
		return;
	}
	if (e->has_ttl && now_ms >= e->fresh_until * 1000) {
		error_json(resp, 409, "Entry is stale");
		return;
	}
	e->has_ttl = 1;
	e->fresh_until = now_s + ttl;
	e->evict_at = e->fresh_until + stale;
	cki_resp_json(resp, 200, "{\"success\":true}");
}

static void
handle_health(struct fa_response *resp)
{
	char body[160];
	if (cki_fa.faults.health_shape == FA_HEALTH_TEXT) {
		/* 200 with a body that is not JSON (a proxy's or a load balancer's page) */
		resp->status = 200;
		cki_resp_header(resp, "content-type", "text/plain");
		cki_buf_append(&resp->body, "OK\n", 3);
		return;
	}
	if (cki_fa.faults.health_shape == FA_HEALTH_OLD) {
		cki_resp_json(resp, 200, "{\"version\":\"1.0.0\"}");
		return;
	}
	snprintf(body, sizeof(body),
	         "{\"status\":\"ok\",\"cache_entries\":%zu,\"active_locks\":%zu}",
	         cki_store_count(), cki_lock_count());
	cki_resp_json(resp, 200, body);
}

static int
method_allowed(enum route r, const char *m)
{
	switch (r) {
	case R_ENTRY:
		return !strcmp(m, "GET") || !strcmp(m, "HEAD") || !strcmp(m, "PUT") ||
		       !strcmp(m, "DELETE");
	case R_LOCK:
		return !strcmp(m, "POST") || !strcmp(m, "DELETE");
	case R_TTL:
		return !strcmp(m, "GET") || !strcmp(m, "PATCH");
	case R_HEALTH:
		return !strcmp(m, "GET");
	default:
		return 0;
	}
}

/* Split "/v1/cache/<seg1>[/<seg2>][?query]" into a route and the raw key segment. */
static enum route
route_of(const char *path, const char **seg, size_t *seglen)
{
	static const char prefix[] = "/v1/cache/";
	if (strncmp(path, prefix, sizeof(prefix) - 1) != 0) {
		return R_NONE;
	}
	const char *p = path + sizeof(prefix) - 1;
	size_t plen = strcspn(p, "?#");
	const char *slash = memchr(p, '/', plen);
	size_t l1 = slash ? (size_t)(slash - p) : plen;
	if (l1 == 0) {
		return R_NONE;
	}
	*seg = p;
	*seglen = l1;
	if (slash == NULL) {
		return (l1 == 6 && memcmp(p, "health", 6) == 0) ? R_HEALTH : R_ENTRY;
	}
	const char *s2 = slash + 1;
	size_t l2 = plen - l1 - 1;
	if (l2 == 4 && memcmp(s2, "lock", 4) == 0) {
		return R_LOCK;
	}
	if (l2 == 3 && memcmp(s2, "ttl", 3) == 0) {
		return R_TTL;
	}
	return R_NONE;
}

static void
route_request(const struct fa_request *req, struct fa_response *resp)
{
	const char *m = req->method;
	if (strcmp(m, "OPTIONS") == 0) {
		resp->status = 204;
		return;
	}
	enum key_class cls;
	if (authenticate(req, &cls) != 0) {
		error_json(resp, 401, "Unauthorized");
		return;
	}
	if (cls == KEY_SDK) {
		const char *l1 = cki_req_header(req, "x-cachekit-l1-status");
		if (l1 == NULL || (strcmp(l1, "hit") != 0 && strcmp(l1, "miss") != 0 &&
		                   strcmp(l1, "disabled") != 0)) {
			error_json(resp, 400, "Missing or invalid X-CacheKit-L1-Status");
			return;
		}
	}
	const char *seg = NULL;
	size_t seglen = 0;
	enum route r = route_of(req->path, &seg, &seglen);
	if (r == R_NONE) {
		error_json(resp, 404, "Not Found");
		return;
	}
	if (r == R_LOCK && cki_fa.faults.lock_routes != FA_LOCK_ROUTES_ON) {
		/* mode lock_routes: a server (or a proxy in front of it) without lock routes */
		error_json(resp, cki_fa.faults.lock_routes, "No lock routes");
		return;
	}
	if (!method_allowed(r, m)) {
		cki_resp_header(resp, "allow", allow_for[r]);
		error_json(resp, 405, "Method Not Allowed");
		return;
	}
	if (r == R_HEALTH) {
		handle_health(resp);
		return;
	}
	char key[FA_MAX_PATH + 1];
	size_t klen;
	if (cki_pct_decode(seg, seglen, key, sizeof(key), &klen) != 0) {
		error_json(resp, 400, "Malformed percent-encoding");
		return;
	}
	if (memchr(key, '\0', klen) != NULL || key_valid(key, klen) != 0) {
		error_json(resp, 400, "Invalid key");
		return;
	}
	int mutation = !strcmp(m, "PUT") || !strcmp(m, "DELETE") || !strcmp(m, "POST") ||
	               !strcmp(m, "PATCH");
	if (mutation && ((cls == KEY_SDK && strncmp(key, "nsapi:", 6) == 0) ||
	                 (cls == KEY_API && strncmp(key, "ns:", 3) == 0))) {
		error_json(resp, 403, "Forbidden: write-space violation");
		return;
	}
	if (r == R_LOCK) {
		handle_lock(req, key, !strcmp(m, "POST"), resp);
	} else if (r == R_TTL) {
		handle_ttl(req, key, !strcmp(m, "PATCH"), resp);
	} else if (!strcmp(m, "PUT")) {
		handle_put(req, key, resp);
	} else if (!strcmp(m, "DELETE")) {
		if (cki_store_delete(key) || cki_fa.faults.delete_missing == FA_DELETE_200) {
			cki_resp_json(resp, 200, "{\"success\": true}");
		} else {
			error_json(resp, 404, "Not Found");
		}
	} else {
		struct fa_entry *e = cki_store_get(key);
		if (e == NULL) {
			error_json(resp, 404, "Not Found");
			resp->head = !strcmp(m, "HEAD");
		} else {
			send_entry(resp, e, !strcmp(m, "HEAD"));
		}
	}
}

void
cki_api_handle(const struct fa_request *req, struct fa_response *resp)
{
	struct fa_faults *f = &cki_fa.faults;
	cki_fa.stats.requests++;
	resp->due_ms = cki_mono_ms() + f->latency_ms + f->stall_ms;
	int fault = cki_faults_pick(f);
	if (fault == 0) {
		resp->status = 0;
		cki_fa.stats.resets_injected++;
		cki_record_add(req, 0);
		return;
	}
	if (fault > 0) {
		cki_fa.stats.faults_injected++;
		error_json(resp, fault, "Injected fault");
		resp->head = !strcmp(req->method, "HEAD");
	} else {
		route_request(req, resp);
	}
	if ((resp->status == 429 || resp->status == 503) && f->retry_after > 0) {
		char ra[64];
		if (f->retry_after_form == FA_RA_DATE) {
			/* IMF-fixdate (RFC 9110 §5.6.7) on the real clock: the client compares it
			 * with its own wall clock, not with the test clock */
			time_t at = time(NULL) + (time_t)f->retry_after;
			struct tm tm;
			gmtime_r(&at, &tm);
			strftime(ra, sizeof(ra), "%a, %d %b %Y %H:%M:%S GMT", &tm);
		} else {
			snprintf(ra, sizeof(ra), "%u", f->retry_after);
		}
		cki_resp_header(resp, "retry-after", ra);
	}
	cki_resp_header(resp, "cache-control", "no-store");
	cki_resp_header(resp, "vary", "Authorization");
	cki_record_add(req, resp->status);
}
