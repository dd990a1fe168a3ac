/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for the cachekit.io store (agent/store_http.c, http_transport.c, http_response.c,
 * breaker.c). The response decoders are checked against freshness-headers.json and hand-made
 * bodies; the store itself runs on a real cki_loop against a real ck-fakeapi process (TLS,
 * HTTP/2), started once for the suite (CK_FAKEAPI = its path, CK_TEST_CERTS = the directory
 * with ca.pem, server.pem, server.key). Faults and the server clock are steered through the
 * control endpoint; every request the server saw is read back from GET /requests, so the
 * assertions are about the exact wire: methods, paths, headers, attempt counts.
 */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/keys.h"
#include "fake_harness.h"

/* ck_vector_path() of cunit_main.c is compiled without the CK_VECTORS_DIR definition of the
 * test targets, so resolve the path here, where it is defined. */
static const char *
vector_path(const char *file)
{
	static char path[1024];
	const char *dir = getenv("CK_VECTORS_DIR");

	snprintf(path, sizeof path, "%s/%s", dir != NULL && dir[0] != '\0' ? dir : CK_VECTORS_DIR,
	         file);
	return path;
}

/* ---- decoders ------------------------------------------------------------------------------ */

/* The vectors model header bytes as code points U+0000..U+00FF: turn UTF-8 back into bytes. */
static size_t
latin1_bytes(const char *s, size_t n, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0xc0 && i + 1 < n) {
			out[o++] = (char)(((c & 0x1f) << 6) | ((unsigned char)s[i + 1] & 0x3f));
			i++;
		} else {
			out[o++] = (char)c;
		}
	}
	return o;
}

static void
test_fresh_for_vectors(void)
{
	json_t *root = json_load_file(vector_path("freshness-headers.json"), 0, NULL);
	json_t *rows = json_object_get(root, "fresh_for_vectors"), *row;
	size_t i;

	CU_ASSERT_FATAL(json_array_size(rows) > 20);
	json_array_foreach(rows, i, row)
	{
		json_t *v = json_object_get(row, "value"),
		       *want = json_object_get(row, "fresh_for");
		int64_t got;

		if (json_is_null(v)) {
			got = cki_parse_fresh_for(NULL, 0);
			CU_ASSERT_TRUE(json_is_null(want));
			CU_ASSERT_EQUAL(got, -1);
		} else {
			char *bytes = malloc(json_string_length(v) + 1);
			size_t n = latin1_bytes(json_string_value(v), json_string_length(v), bytes);

			got = cki_parse_fresh_for(bytes, n);
			CU_ASSERT_EQUAL(got, (int64_t)json_integer_value(want));
			free(bytes);
		}
	}
	json_decref(root);
}

static void
test_freshness_vectors(void)
{
	json_t *root = json_load_file(vector_path("freshness-headers.json"), 0, NULL);
	json_t *rows = json_object_get(root, "freshness_vectors"), *row;
	size_t i;

	CU_ASSERT_FATAL(json_array_size(rows) > 5);
	json_array_foreach(rows, i, row)
	{
		json_t *v = json_object_get(row, "value");
		bool stale = json_is_true(json_object_get(row, "stale"));
		cki_freshness got;

		if (json_is_null(v)) {
			got = cki_parse_freshness(NULL, 0);
		} else {
			char *bytes = malloc(json_string_length(v) + 1);
			size_t n = latin1_bytes(json_string_value(v), json_string_length(v), bytes);

			got = cki_parse_freshness(bytes, n);
			free(bytes);
		}
		CU_ASSERT_EQUAL(got, stale ? CKI_STALE : CKI_FRESH);
	}
	json_decref(root);
}

/* One header as curl_easy_header() reports it: the first value and how many there were. */
static void
feed(cki_http_resp_headers *h, const char *name, const char *value, size_t amount)
{
	cki_http_resp_header_value(h, name, value, strlen(value), amount);
}

static void
test_header_values(void)
{
	cki_http_resp_headers h;

	cki_http_resp_headers_init(&h);
	CU_ASSERT_EQUAL(cki_http_resp_freshness(&h), CKI_FRESH);
	CU_ASSERT_EQUAL(cki_http_resp_fresh_for(&h), -1);
	CU_ASSERT_EQUAL(cki_http_resp_retry_after_ms(&h, 0), -1);

	feed(&h, "x-cachekit-freshness", " \tfresh ", 1);
	feed(&h, "X-CACHEKIT-FRESH-FOR", "42", 1);
	feed(&h, "Retry-After", "3", 1);
	feed(&h, "x-cachekit-fresh-forx", "7", 1);
	feed(&h, "", "1", 1);
	CU_ASSERT_EQUAL(cki_http_resp_freshness(&h), CKI_FRESH);
	CU_ASSERT_EQUAL(cki_http_resp_fresh_for(&h), 42);
	CU_ASSERT_EQUAL(cki_http_resp_retry_after_ms(&h, 0), 3000);

	/* a repeated header is its comma-combined value: never fresh, never a number */
	cki_http_resp_headers_init(&h);
	feed(&h, "x-cachekit-freshness", "fresh", 2);
	feed(&h, "x-cachekit-fresh-for", "42", 2);
	feed(&h, "retry-after", "3", 2);
	CU_ASSERT_EQUAL(cki_http_resp_freshness(&h), CKI_STALE);
	CU_ASSERT_EQUAL(cki_http_resp_fresh_for(&h), 0);
	CU_ASSERT_EQUAL(cki_http_resp_retry_after_ms(&h, 0), -1);

	/* over-long values are kept as unparseable */
	cki_http_resp_headers_init(&h);
	feed(&h, "retry-after", "00000000000000000000000000000000000000000000000000001", 1);
	feed(&h, "x-cachekit-fresh-for", "1111111111111111111111111111111111111111111111111", 1);
	CU_ASSERT_EQUAL(cki_http_resp_retry_after_ms(&h, 0), -1);
	CU_ASSERT_EQUAL(cki_http_resp_fresh_for(&h), 0);

	/* RFC 9110 §10.2.3: delay-seconds or an HTTP-date (all three date forms), relative to
	 * the wall clock given; a date gone by means now */
	const int64_t now = 1445412480; /* Wed, 21 Oct 2015 07:28:00 GMT */
	CU_ASSERT_EQUAL(cki_parse_retry_after("Wed, 21 Oct 2015 07:28:07 GMT", 29, now), 7000);
	CU_ASSERT_EQUAL(cki_parse_retry_after("Wednesday, 21-Oct-15 07:28:07 GMT", 33, now), 7000);
	CU_ASSERT_EQUAL(cki_parse_retry_after("Wed Oct 21 07:28:07 2015", 24, now), 7000);
	CU_ASSERT_EQUAL(cki_parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", 29, now), 0);
	CU_ASSERT_EQUAL(cki_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 29, now), 0);
	CU_ASSERT_EQUAL(cki_parse_retry_after("Wed, 99 Foo 2015 07:28:00 GMT", 29, now), -1);
	CU_ASSERT_EQUAL(cki_parse_retry_after("soon", 4, now), -1);
	CU_ASSERT_EQUAL(cki_parse_retry_after("120", 3, now), 120000);
	CU_ASSERT_EQUAL(cki_parse_retry_after("", 0, now), -1);
	CU_ASSERT_EQUAL(cki_parse_retry_after("-1", 2, now), -1);
	CU_ASSERT_EQUAL(cki_parse_retry_after("12s", 3, now), -1);
	cki_http_resp_headers_init(&h);
	feed(&h, "Retry-After", "Wed, 21 Oct 2015 07:28:03 GMT", 1);
	CU_ASSERT_EQUAL(cki_http_resp_retry_after_ms(&h, now), 3000);
}

static void
test_json_bodies(void)
{
	char id[CKI_HTTP_LOCK_ID_MAX + 1], ver[CKI_HTTP_VERSION_MAX + 1];
	bool acq = true;
	int64_t ttl = 0;
	char big[CKI_HTTP_LOCK_ID_MAX + 32];

#define LOCK(s) cki_parse_lock_body(s, strlen(s), &acq, id, sizeof id)
	CU_ASSERT_EQUAL(LOCK("{\"lock_id\":\"0b6c-11\"}"), CK_OK);
	CU_ASSERT_TRUE(acq);
	CU_ASSERT_STRING_EQUAL(id, "0b6c-11");
	CU_ASSERT_EQUAL(LOCK("{\"lock_id\":null}"), CK_OK);
	CU_ASSERT_FALSE(acq);
	CU_ASSERT_EQUAL(LOCK("{}"), CK_OK);
	CU_ASSERT_FALSE(acq);
	CU_ASSERT_EQUAL(LOCK("{\"lock_id\":7}"), CK_EPROTO);
	CU_ASSERT_FALSE(acq);
	CU_ASSERT_EQUAL(LOCK("{\"lock_id\":\"\"}"), CK_EPROTO);
	CU_ASSERT_EQUAL(LOCK("{\"lock_id\":\"a\\r\\nX-Evil: 1\"}"), CK_EPROTO);
	CU_ASSERT_EQUAL(LOCK("{\"lock_id\":\"a\\u0000b\"}"), CK_EPROTO);
	CU_ASSERT_EQUAL(LOCK("[\"lock_id\"]"), CK_EPROTO);
	CU_ASSERT_EQUAL(LOCK("not json"), CK_EPROTO);
	CU_ASSERT_EQUAL(LOCK("{\"lock_id\":\"a\",\"lock_id\":\"b\"}"), CK_EPROTO);
	memset(big, 'a', sizeof big);
	memcpy(big, "{\"lock_id\":\"", 12);
	memcpy(big + sizeof big - 3, "\"}", 3);
	CU_ASSERT_EQUAL(LOCK(big), CK_EPROTO);
#undef LOCK

#define TTL(s) cki_parse_ttl_body(s, strlen(s), &ttl)
	CU_ASSERT_EQUAL(TTL("{\"ttl\": 90}"), CK_OK);
	CU_ASSERT_EQUAL(ttl, 90);
	CU_ASSERT_EQUAL(TTL("{\"ttl\":null}"), CK_OK);
	CU_ASSERT_EQUAL(ttl, -1);
	CU_ASSERT_EQUAL(TTL("{\"ttl\":-5}"), CK_EPROTO);
	CU_ASSERT_EQUAL(TTL("{\"ttl\":1.5}"), CK_EPROTO);
	CU_ASSERT_EQUAL(TTL("{\"ttl\":\"5\"}"), CK_EPROTO);
	CU_ASSERT_EQUAL(TTL("{\"ttl\":99999999999}"), CK_EPROTO);
	CU_ASSERT_EQUAL(TTL("{}"), CK_EPROTO);
	CU_ASSERT_EQUAL(TTL(""), CK_EPROTO);
#undef TTL

	CU_ASSERT_EQUAL(cki_parse_health_body("{\"version\":\"1.0.0\"}", 19, ver, sizeof ver),
	                CK_OK);
	CU_ASSERT_STRING_EQUAL(ver, "1.0.0");
	CU_ASSERT_EQUAL(
	        cki_parse_health_body("{\"status\":\"ok\",\"cache_entries\":3,\"active_locks\":0}",
	                              50, ver, sizeof ver),
	        CK_OK);
	CU_ASSERT_STRING_EQUAL(ver, "unknown");
	CU_ASSERT_EQUAL(cki_parse_health_body("{\"version\":\"1\\n2\"}", 18, ver, sizeof ver),
	                CK_OK);
	CU_ASSERT_STRING_EQUAL(ver, "unknown");
	/* not JSON, or JSON but not an object: not the API's answer */
	CU_ASSERT_EQUAL(cki_parse_health_body("<html>", 6, ver, sizeof ver), CK_EPROTO);
	CU_ASSERT_STRING_EQUAL(ver, "unknown");
	CU_ASSERT_EQUAL(cki_parse_health_body("OK\n", 3, ver, sizeof ver), CK_EPROTO);
	CU_ASSERT_EQUAL(cki_parse_health_body("[1]", 3, ver, sizeof ver), CK_EPROTO);
	CU_ASSERT_EQUAL(cki_parse_health_body("", 0, ver, sizeof ver), CK_EPROTO);
}

/* ---- construction ---------------------------------------------------------------------------- */

static void
test_constructor_rejects(void)
{
	cki_http_opts o = base_opts();
	cki_store *s = NULL;
	char why[200];
	static const char *const bad_keys[] = {"", "ck_sdk_test\n", "ck sdk", "ck_sdk\t", "\r"};

	for (size_t i = 0; i < sizeof bad_keys / sizeof bad_keys[0]; i++) {
		o = base_opts();
		o.api_key = (const uint8_t *)bad_keys[i];
		o.api_key_len = strlen(bad_keys[i]);
		CU_ASSERT_EQUAL(cki_store_http_new(&s, loop, &o, why, sizeof why), CK_ECONFIG);
		CU_ASSERT_PTR_NULL(s);
		CU_ASSERT_PTR_NULL(strstr(why, "ck_sdk"));
	}
	o = base_opts();
	o.url = "http://api.cachekit.io";
	CU_ASSERT_EQUAL(cki_store_http_new(&s, loop, &o, why, sizeof why), CK_EURL);
	o.url = "https://fake.cachekit.test";
	CU_ASSERT_EQUAL(cki_store_http_new(&s, loop, &o, why, sizeof why), CK_EURL);
	CU_ASSERT_STRING_EQUAL(why, "host not permitted");
	o.url = "https://127.0.0.1:4443";
	o.allow_custom_host = true;
	CU_ASSERT_EQUAL(cki_store_http_new(&s, loop, &o, why, sizeof why), CK_EURL);
	o = base_opts();
	o.l1_status = "enabled";
	CU_ASSERT_EQUAL(cki_store_http_new(&s, loop, &o, why, sizeof why), CK_ECONFIG);
	o = base_opts();
	o.max_attempts = 4;
	CU_ASSERT_EQUAL(cki_store_http_new(&s, loop, &o, why, sizeof why), CK_ECONFIG);
	o = base_opts();
	o.resolve = "api.cachekit.io:1:127.0.0.1\r\nX: y";
	CU_ASSERT_EQUAL(cki_store_http_new(&s, loop, &o, why, sizeof why), CK_ECONFIG);
	CU_ASSERT_PTR_NULL(s);

	o = base_opts();
	o.url = "https://api.cachekit.io/prefix//";
	s = new_store(&o);
	CU_ASSERT_STRING_EQUAL(s->ops->url(s), "https://api.cachekit.io/prefix");
	CU_ASSERT_STRING_EQUAL(s->ops->backend_type, "cachekitio");
	s->ops->destroy(s);
}

/* ---- routes, headers and result mapping --------------------------------------------------------
 */

static bool
is_uuid_v4(const char *s)
{
	if (s == NULL || strlen(s) != 36)
		return false;
	for (int i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
		} else if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
			return false;
		}
	}
	return s[14] == '4' && strchr("89ab", s[19]) != NULL;
}

/* Headers every request carries. */
static void
check_common_headers(json_t *req, const char *l1)
{
	const char *ua = hdr(req, "user-agent");
	const char *start = hdr(req, "x-cachekit-session-start");
	char want_ua[64];

	STR_EQ(hdr(req, "authorization"), "Bearer " API_KEY);
	CU_ASSERT_PTR_NULL(hdr_nth(req, "authorization", 1));
	STR_EQ(hdr(req, "x-cachekit-l1-status"), l1);
	CU_ASSERT_TRUE(is_uuid_v4(hdr(req, "x-cachekit-session-id")));
	CU_ASSERT_TRUE(start != NULL && strspn(start, "0123456789") == strlen(start) &&
	               strlen(start) >= 13);
	snprintf(want_ua, sizeof want_ua, "cachekit-agent/%s libcurl/", CK_VERSION_STRING);
	CU_ASSERT_TRUE(ua != NULL && strncmp(ua, want_ua, strlen(want_ua)) == 0);
	CU_ASSERT_PTR_NULL(hdr(req, "expect"));
	CU_ASSERT_PTR_NULL(hdr(req, "x-ttl"));
	CU_ASSERT_PTR_NULL(hdr(req, "accept-encoding"));
	STR_EQ(req_str(req, "proto"), "h2");
}

static void
test_put_get_round_trip(void)
{
	cki_http_opts o;
	cki_store *s;
	struct result r = {0};
	json_t *reqs, *put, *get;

	SERVER_TEST();
	o = base_opts();
	s = new_store(&o);
	do_put(s, "t:round", "hello bytes", 60, 30, &r);
	CU_ASSERT_EQUAL(r.err, CK_OK);
	do_get(s, "t:round", &r);
	CU_ASSERT_EQUAL(r.err, CK_OK);
	CU_ASSERT_TRUE(r.found);
	CU_ASSERT_EQUAL(r.value_len, 11);
	CU_ASSERT_TRUE(r.value != NULL && memcmp(r.value, "hello bytes", 11) == 0);
	CU_ASSERT_EQUAL(r.freshness, CKI_FRESH);
	CU_ASSERT_TRUE(r.fresh_for_ms >= 59000 && r.fresh_for_ms <= 60000);

	reqs = requests();
	CU_ASSERT_EQUAL_FATAL(json_array_size(reqs), 2);
	put = json_array_get(reqs, 0);
	get = json_array_get(reqs, 1);
	STR_EQ(req_str(put, "method"), "PUT");
	STR_EQ(req_str(put, "path"), "/v1/cache/t%3Around");
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(put, "body_len")), 11);
	STR_EQ(hdr(put, "content-type"), "application/octet-stream");
	STR_EQ(hdr(put, "x-cachekit-ttl"), "60");
	STR_EQ(hdr(put, "x-cachekit-stale-ttl"), "30");
	check_common_headers(put, "disabled");
	STR_EQ(req_str(get, "method"), "GET");
	STR_EQ(req_str(get, "path"), "/v1/cache/t%3Around");
	CU_ASSERT_PTR_NULL(hdr(get, "content-type"));
	CU_ASSERT_PTR_NULL(hdr(get, "x-cachekit-ttl"));
	check_common_headers(get, "disabled");
	/* one session per store */
	STR_EQ(hdr(put, "x-cachekit-session-id"), hdr(get, "x-cachekit-session-id"));
	json_decref(reqs);
	result_clear(&r);
	s->ops->destroy(s);
}

static void
test_put_without_ttl(void)
{
	cki_http_opts o = base_opts();
	cki_store *s;
	struct result r = {0};
	json_t *reqs, *put;

	SERVER_TEST();
	o.l1_status = "miss";
	s = new_store(&o);
	/* a stale window without a TTL is not sent: the API needs both */
	do_put(s, "t:forever", "", 0, 30, &r);
	CU_ASSERT_EQUAL(r.err, CK_OK);
	do_get(s, "t:forever", &r);
	CU_ASSERT_TRUE(r.found);
	CU_ASSERT_EQUAL(r.value_len, 0);
	CU_ASSERT_EQUAL(r.freshness, CKI_FRESH);
	CU_ASSERT_EQUAL(r.fresh_for_ms, -1);
	do_get_ttl(s, "t:forever", &r);
	CU_ASSERT_EQUAL(r.err, CK_OK);
	CU_ASSERT_TRUE(r.found);
	CU_ASSERT_EQUAL(r.ttl_s, -1);
	reqs = requests();
	put = json_array_get(reqs, 0);
	STR_EQ(req_str(put, "method"), "PUT");
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(put, "body_len")), 0);
	CU_ASSERT_PTR_NULL(hdr(put, "x-cachekit-ttl"));
	CU_ASSERT_PTR_NULL(hdr(put, "x-cachekit-stale-ttl"));
	check_common_headers(put, "miss");
	check_common_headers(json_array_get(reqs, 2), "miss");
	STR_EQ(req_str(json_array_get(reqs, 2), "path"), "/v1/cache/t%3Aforever/ttl");
	json_decref(reqs);
	result_clear(&r);
	s->ops->destroy(s);
}

static void
test_get_miss_and_stale(void)
{
	cki_http_opts o = base_opts();
	cki_store *s;
	struct result r = {0};

	SERVER_TEST();
	s = new_store(&o);
	do_get(s, "t:absent", &r);
	CU_ASSERT_EQUAL(r.err, CK_OK);
	CU_ASSERT_FALSE(r.found);
	CU_ASSERT_PTR_NULL(r.value);

	do_put(s, "t:swr", "old", 10, 100, &r);
	CU_ASSERT_EQUAL(r.err, CK_OK);
	json_decref(ctl("POST", "/clock", "{\"advance_s\":20}"));
	do_get(s, "t:swr", &r);
	CU_ASSERT_TRUE(r.found);
	CU_ASSERT_EQUAL(r.freshness, CKI_STALE);
	CU_ASSERT_EQUAL(r.fresh_for_ms, 0);
	/* PATCH on a stale entry: must re-PUT */
	do_touch(s, "t:swr", 60, &r);
	CU_ASSERT_EQUAL(r.err, CK_ECONFLICT);
	result_clear(&r);
	s->ops->destroy(s);
}

static void
test_exists_del_ttl_touch(void)
{
	cki_http_opts o = base_opts();
	cki_store *s;
	struct result r = {0};
	json_t *reqs, *patch;

	SERVER_TEST();
	s = new_store(&o);
	do_put(s, "t:e", "v", 60, 30, &r);
	do_exists(s, "t:e", &r);
	CU_ASSERT_EQUAL(r.err, CK_OK);
	CU_ASSERT_TRUE(r.found);
	do_exists(s, "t:nope", &r);
	CU_ASSERT_EQUAL(r.err, CK_OK);
	CU_ASSERT_FALSE(r.found);
	do_get_ttl(s, "t:e", &r);
	CU_ASSERT_TRUE(r.found);
	CU_ASSERT_TRUE(r.ttl_s >= 89 && r.ttl_s <= 90);
	do_get_ttl(s, "t:nope", &r);
	CU_ASSERT_EQUAL(r.err, CK_OK);
	CU_ASSERT_FALSE(r.found);
	do_touch(s, "t:e", 120, &r);
	CU_ASSERT_EQUAL(r.err, CK_OK);
	CU_ASSERT_TRUE(r.found);
	do_get_ttl(s, "t:e", &r);
	CU_ASSERT_TRUE(r.ttl_s >= 149 && r.ttl_s <= 150);
	do_del(s, "t:e", &r);
	CU_ASSERT_EQUAL(r.err, CK_OK);
	CU_ASSERT_TRUE(r.found);
	do_del(s, "t:e", &r);
	CU_ASSERT_EQUAL(r.err, CK_OK);
	CU_ASSERT_FALSE(r.found);
	faults("{\"delete_missing\":\"200\"}");
	do_del(s, "t:e", &r);
	CU_ASSERT_EQUAL(r.err, CK_OK);
	CU_ASSERT_TRUE(r.found);

	reqs = requests();
	STR_EQ(req_str(json_array_get(reqs, 1), "method"), "HEAD");
	CU_ASSERT_PTR_NULL(hdr(json_array_get(reqs, 1), "content-type"));
	patch = json_array_get(reqs, 5);
	STR_EQ(req_str(patch, "method"), "PATCH");
	STR_EQ(req_str(patch, "path"), "/v1/cache/t%3Ae/ttl");
	STR_EQ(hdr(patch, "content-type"), "application/json");
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(patch, "body_len")),
	                (json_int_t)strlen("{\"ttl\":120}"));
	STR_EQ(req_str(json_array_get(reqs, 7), "method"), "DELETE");
	CU_ASSERT_PTR_NULL(hdr(json_array_get(reqs, 7), "content-type"));
	json_decref(reqs);
	result_clear(&r);
	s->ops->destroy(s);
}

static void
test_lock_unlock(void)
{
	cki_http_opts o = base_opts();
	cki_store *s;
	struct result r = {0};
	char id[300];
	json_t *reqs, *post, *rel;

	SERVER_TEST();
	s = new_store(&o);
	do_lock(s, "t:l", 30000, &r);
	CU_ASSERT_EQUAL(r.err, CK_OK);
	CU_ASSERT_TRUE_FATAL(r.has_lock_id);
	CU_ASSERT_TRUE(r.found);
	snprintf(id, sizeof id, "%s", r.lock_id);
	do_lock(s, "t:l", 30000, &r);
	CU_ASSERT_EQUAL(r.err, CK_OK);
	CU_ASSERT_FALSE(r.has_lock_id);
	faults("{\"lock_contested\":\"409\"}");
	do_lock(s, "t:l", 30000, &r);
	CU_ASSERT_EQUAL(r.err, CK_OK);
	CU_ASSERT_FALSE(r.has_lock_id);
	do_unlock(s, "t:l", id, &r);
	CU_ASSERT_EQUAL(r.err, CK_OK);
	do_lock(s, "t:l", 30000, &r);
	CU_ASSERT_EQUAL(r.err, CK_OK);
	CU_ASSERT_TRUE(r.has_lock_id);
	/* a wrong id is still "OK" (best effort; the lease expires anyway) */
	do_unlock(s, "t:l", "not-the-id", &r);
	CU_ASSERT_EQUAL(r.err, CK_OK);

	reqs = requests();
	post = json_array_get(reqs, 0);
	STR_EQ(req_str(post, "method"), "POST");
	STR_EQ(req_str(post, "path"), "/v1/cache/t%3Al/lock");
	STR_EQ(hdr(post, "content-type"), "application/json");
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(post, "body_len")),
	                (json_int_t)strlen("{\"timeout_ms\":30000}"));
	check_common_headers(post, "disabled");
	rel = json_array_get(reqs, 3);
	STR_EQ(req_str(rel, "method"), "DELETE");
	STR_EQ(req_str(rel, "path"), "/v1/cache/t%3Al/lock");
	STR_EQ(hdr(rel, "x-cachekit-lock-id"), id);
	CU_ASSERT_PTR_NULL(strstr(req_str(rel, "path"), id));
	CU_ASSERT_PTR_NULL(strchr(req_str(rel, "path"), '?'));
	CU_ASSERT_PTR_NULL(hdr(rel, "content-type"));
	json_decref(reqs);
	result_clear(&r);
	s->ops->destroy(s);
}

static void
test_bad_input_fails_without_request(void)
{
	cki_http_opts o = base_opts();
	cki_store *s;
	struct result r = {0};

	SERVER_TEST();
	s = new_store(&o);
	do_unlock(s, "t:l", "abc\r\nX-Evil: 1", &r);
	CU_ASSERT_EQUAL(r.err, CK_EINVAL);
	do_unlock(s, "t:l", "", &r);
	CU_ASSERT_EQUAL(r.err, CK_EINVAL);
	do_get(s, "", &r);
	CU_ASSERT_EQUAL(r.err, CK_EINVALKEY);
	CU_ASSERT_EQUAL(n_requests(), 0);
	result_clear(&r);
	s->ops->destroy(s);
}

static void
test_health_shapes(void)
{
	cki_http_opts o = base_opts();
	cki_store *s;
	struct result r = {0};
	json_t *reqs;

	SERVER_TEST();
	s = new_store(&o);
	do_health(s, &r);
	CU_ASSERT_EQUAL(r.err, CK_OK);
	CU_ASSERT_STRING_EQUAL(r.version, "unknown");
	CU_ASSERT_TRUE(r.latency_ms >= 0);
	faults("{\"health_shape\":\"old\"}");
	do_health(s, &r);
	CU_ASSERT_EQUAL(r.err, CK_OK);
	CU_ASSERT_STRING_EQUAL(r.version, "1.0.0");
	faults("{\"fail_next\":[401]}");
	do_health(s, &r);
	CU_ASSERT_EQUAL(r.err, CK_EAUTH);
	CU_ASSERT_STRING_EQUAL(r.error_type, "CK_EAUTH");
	reqs = requests();
	STR_EQ(req_str(json_array_get(reqs, 0), "path"), "/v1/cache/health");
	STR_EQ(req_str(json_array_get(reqs, 0), "method"), "GET");
	check_common_headers(json_array_get(reqs, 0), "disabled");
	json_decref(reqs);
	result_clear(&r);
	s->ops->destroy(s);
}

static void
test_path_encoding_vectors(void)
{
	json_t *root = json_load_file(vector_path("path-encoding.json"), JSON_ALLOW_NUL, NULL);
	json_t *rows = json_object_get(root, "vectors"), *row, *reqs;
	cki_http_opts o = base_opts();
	cki_store *s;
	struct result r = {0};
	size_t i, sent = 0;
	char want[1400], entry[1400];

	SERVER_TEST();
	CU_ASSERT_FATAL(json_array_size(rows) > 20); /* before the store: a fatal stop leaks none */
	s = new_store(&o);
	json_array_foreach(rows, i, row)
	{
		const char *key = json_string_value(json_object_get(row, "key"));
		const char *enc = json_string_value(json_object_get(row, "encoded"));
		const char *why = NULL;
		json_t *got;

		size_t klen = json_string_length(json_object_get(row, "key"));

		if (key == NULL || enc == NULL || cki_key_validate(key, klen, &why) != CK_OK)
			continue; /* the request path never sends these (§13 decision 6) */
		do_put(s, key, "v", 60, 0, &r);
		CU_ASSERT_EQUAL(r.err, CK_OK);
		reqs = requests();
		got = json_array_get(reqs, json_array_size(reqs) - 1);
		snprintf(want, sizeof want, "/v1/cache/%s", enc);
		STR_EQ(req_str(got, "path"), want);
		json_decref(reqs);
		/* the server decoded it back to the key: the entry is there */
		snprintf(entry, sizeof entry, "/entries/%s", enc);
		got = ctl("GET", entry, NULL);
		CU_ASSERT_PTR_NULL(json_object_get(got, "error"));
		json_decref(got);
		sent++;
	}
	CU_ASSERT_TRUE(sent >= 2);
	json_decref(root);
	result_clear(&r);
	s->ops->destroy(s);
}

/* ---- retries, errors, breaker ---------------------------------------------------------------- */

static void
test_retry_then_success(void)
{
	cki_http_opts o = base_opts();
	cki_store *s;
	struct result r = {0};
	json_t *reqs;

	SERVER_TEST();
	s = new_store(&o);
	faults("{\"fail_next\":[503,503]}");
	do_put(s, "t:retry", "v", 60, 0, &r);
	CU_ASSERT_EQUAL(r.err, CK_OK);
	reqs = requests();
	CU_ASSERT_EQUAL(json_array_size(reqs), 3);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_array_get(reqs, 0), "status")),
	                503);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_array_get(reqs, 2), "status")),
	                200);
	for (size_t i = 0; i < json_array_size(reqs); i++)
		STR_EQ(req_str(json_array_get(reqs, i), "method"), "PUT");
	json_decref(reqs);
	CU_ASSERT_EQUAL(store_stat(s, "http_requests"), 3);
	CU_ASSERT_EQUAL(store_stat(s, "http_retries"), 2);
	CU_ASSERT_EQUAL(store_stat(s, "http_errors"), 0);
	CU_ASSERT_EQUAL(store_stat(s, "inflight"), 0);
	/* a connection reset is transient too */
	faults("{\"fail_next\":[0]}");
	do_get(s, "t:retry", &r);
	CU_ASSERT_EQUAL(r.err, CK_OK);
	CU_ASSERT_TRUE(r.found);
	/* (libcurl may itself retry a request on a connection that died; no count here) */
	result_clear(&r);
	s->ops->destroy(s);
}

static void
test_permanent_errors_not_retried(void)
{
	static const struct {
		int status;
		ck_err err;
	} rows[] = {{400, CK_EUPSTREAM}, {401, CK_EAUTH},   {403, CK_EFORBIDDEN},
	            {405, CK_EUPSTREAM}, {413, CK_ETOOBIG}, {409, CK_EUPSTREAM}};
	cki_http_opts o = base_opts();
	cki_store *s;
	struct result r = {0};
	char f[64], num[8];

	SERVER_TEST();
	s = new_store(&o);
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		reset_server();
		snprintf(f, sizeof f, "{\"fail_next\":[%d]}", rows[i].status);
		faults(f);
		do_put(s, "t:perm", "v", 60, 0, &r);
		CU_ASSERT_EQUAL(r.err, rows[i].err);
		CU_ASSERT_EQUAL(n_requests(), 1);
		snprintf(num, sizeof num, "%d", rows[i].status);
		if (rows[i].status == 413) {
			CU_ASSERT_STRING_EQUAL(r.message, "value too large");
		} else {
			CU_ASSERT_PTR_NOT_NULL(strstr(r.message, num));
		}
	}
	CU_ASSERT_EQUAL(store_stat(s, "http_retries"), 0);
	CU_ASSERT_EQUAL(store_stat(s, "http_errors"), 6);
	result_clear(&r);
	s->ops->destroy(s);
}

static void
test_wrong_key_is_auth_error(void)
{
	cki_http_opts o = base_opts();
	cki_store *s;
	struct result r = {0};

	SERVER_TEST();
	o.api_key = (const uint8_t *)"ck_sdk_wrong";
	o.api_key_len = 12;
	s = new_store(&o);
	do_get(s, "t:x", &r);
	CU_ASSERT_EQUAL(r.err, CK_EAUTH);
	CU_ASSERT_EQUAL(n_requests(), 1);
	result_clear(&r);
	s->ops->destroy(s);
}

static void
test_rate_limit_retry_after(void)
{
	cki_http_opts o = base_opts();
	cki_store *s;
	struct result r = {0};
	uint64_t t0;

	SERVER_TEST();
	s = new_store(&o);
	faults("{\"fail_next\":[429],\"retry_after\":1}");
	t0 = cki_now_ms();
	do_get(s, "t:rl", &r);
	CU_ASSERT_EQUAL(r.err, CK_OK);
	CU_ASSERT_FALSE(r.found);
	CU_ASSERT_EQUAL(n_requests(), 2);
	/* the wait was Retry-After's 1 s, not the 100 ms backoff (a lower bound only) */
	CU_ASSERT_TRUE(cki_now_ms() - t0 >= 950);

	reset_server();
	faults("{\"fail_next\":[429,429,429]}");
	do_get(s, "t:rl", &r);
	CU_ASSERT_EQUAL(r.err, CK_ERATELIMIT);
	CU_ASSERT_EQUAL(n_requests(), 3);
	result_clear(&r);
	s->ops->destroy(s);
}

static void
test_attempts_exhausted(void)
{
	cki_http_opts o = base_opts();
	cki_store *s;
	struct result r = {0};

	SERVER_TEST();
	s = new_store(&o);
	faults("{\"fail_next\":[503,502,500]}");
	do_get(s, "t:x", &r);
	CU_ASSERT_EQUAL(r.err, CK_EUPSTREAM);
	CU_ASSERT_STRING_EQUAL(r.message, "upstream HTTP 500");
	CU_ASSERT_EQUAL(n_requests(), 3);
	s->ops->destroy(s);

	reset_server();
	o.max_attempts = 1;
	s = new_store(&o);
	faults("{\"fail_next\":[503]}");
	do_get(s, "t:x", &r);
	CU_ASSERT_EQUAL(r.err, CK_EUPSTREAM);
	CU_ASSERT_STRING_EQUAL(r.message, "upstream HTTP 503");
	CU_ASSERT_EQUAL(n_requests(), 1);
	result_clear(&r);
	s->ops->destroy(s);
}

static void
test_breaker(void)
{
	cki_http_opts o = base_opts();
	cki_store *s;
	struct result r = {0};

	SERVER_TEST();
	o.max_attempts = 1;
	o.breaker_failures = 2;
	o.breaker_open_ms = 300;
	s = new_store(&o);
	CU_ASSERT_EQUAL(store_stat(s, "breaker_state"), 0);
	faults("{\"fail_next\":[503,503,503]}");
	do_get(s, "t:b", &r);
	CU_ASSERT_EQUAL(r.err, CK_EUPSTREAM);
	CU_ASSERT_EQUAL(store_stat(s, "breaker_state"), 0);
	do_get(s, "t:b", &r);
	CU_ASSERT_EQUAL(r.err, CK_EUPSTREAM);
	CU_ASSERT_EQUAL(store_stat(s, "breaker_state"), 1);
	CU_ASSERT_EQUAL(store_stat(s, "breaker_opens"), 1);
	/* open: fail fast, nothing sent */
	do_get(s, "t:b", &r);
	CU_ASSERT_EQUAL(r.err, CK_EUNAVAILABLE);
	CU_ASSERT_STRING_EQUAL(r.message, "circuit open");
	do_health(s, &r);
	CU_ASSERT_EQUAL(r.err, CK_EUNAVAILABLE);
	CU_ASSERT_EQUAL(n_requests(), 2);
	/* the half-open probe fails (third 503): open again */
	loop_for(350);
	do_get(s, "t:b", &r);
	CU_ASSERT_EQUAL(r.err, CK_EUPSTREAM);
	CU_ASSERT_EQUAL(n_requests(), 3);
	CU_ASSERT_EQUAL(store_stat(s, "breaker_state"), 1);
	CU_ASSERT_EQUAL(store_stat(s, "breaker_opens"), 2);
	do_get(s, "t:b", &r);
	CU_ASSERT_EQUAL(r.err, CK_EUNAVAILABLE);
	CU_ASSERT_EQUAL(n_requests(), 3);
	/* the next probe succeeds: closed */
	loop_for(350);
	do_get(s, "t:b", &r);
	CU_ASSERT_EQUAL(r.err, CK_OK);
	CU_ASSERT_EQUAL(store_stat(s, "breaker_state"), 0);
	do_get(s, "t:b", &r);
	CU_ASSERT_EQUAL(r.err, CK_OK);
	CU_ASSERT_EQUAL(n_requests(), 5);
	result_clear(&r);
	s->ops->destroy(s);
}

static void
test_timeouts(void)
{
	cki_http_opts o = base_opts();
	cki_store *s;
	struct result r = {0};

	SERVER_TEST();
	o.timeout_ms = 300;
	o.max_attempts = 1;
	s = new_store(&o);
	faults("{\"stall_ms\":30000}");
	do_get(s, "t:slow", &r);
	CU_ASSERT_EQUAL(r.err, CK_ETIMEDOUT);
	s->ops->destroy(s);

	/* the op deadline bounds the attempt too, and retries stop at it */
	o.timeout_ms = 5000;
	o.max_attempts = 3;
	s = new_store(&o);
	result_clear(&r);
	s->ops->get(s, "t:slow", deadline_in(400), capture, &r);
	wait_for(1);
	CU_ASSERT_EQUAL(r.err, CK_ETIMEDOUT);
	/* a deadline already past: nothing is sent */
	reset_server();
	result_clear(&r);
	s->ops->get(s, "t:slow", cki_now_ms(), capture, &r);
	CU_ASSERT_EQUAL(r.calls, 0);
	wait_for(1);
	CU_ASSERT_EQUAL(r.err, CK_ETIMEDOUT);
	CU_ASSERT_EQUAL(n_requests(), 0);
	result_clear(&r);
	s->ops->destroy(s);
}

static void
test_concurrent_ops_share_one_connection(void)
{
	cki_http_opts o = base_opts();
	cki_store *s;
	struct result r[8];
	char key[16];
	json_t *reqs;

	SERVER_TEST();
	memset(r, 0, sizeof r);
	s = new_store(&o);
	for (int i = 0; i < 8; i++) {
		snprintf(key, sizeof key, "t:c%d", i);
		s->ops->get(s, key, deadline_in(10000), capture, &r[i]);
	}
	CU_ASSERT_EQUAL(store_stat(s, "inflight"), 8);
	wait_for(8);
	for (int i = 0; i < 8; i++) {
		CU_ASSERT_EQUAL(r[i].calls, 1);
		CU_ASSERT_EQUAL(r[i].err, CK_OK);
		result_clear(&r[i]);
	}
	CU_ASSERT_EQUAL(server_stat("tls_handshakes"), 1);
	CU_ASSERT_EQUAL(server_stat("connections_accepted"), 1);
	CU_ASSERT_EQUAL(store_stat(s, "connections"), 1);
	reqs = requests();
	CU_ASSERT_EQUAL(json_array_size(reqs), 8);
	for (size_t i = 0; i < json_array_size(reqs); i++)
		STR_EQ(req_str(json_array_get(reqs, i), "proto"), "h2");
	json_decref(reqs);
	s->ops->destroy(s);
}

static void
test_destroy_fails_inflight(void)
{
	cki_http_opts o = base_opts();
	cki_store *s;
	struct result a = {0}, b = {0};

	SERVER_TEST();
	o.breaker_failures = 1;
	o.max_attempts = 3;
	s = new_store(&o);
	faults("{\"stall_ms\":30000}");
	s->ops->get(s, "t:a", deadline_in(10000), capture, &a);
	s->ops->put(s, "t:b", (const uint8_t *)"x", 1, NULL, deadline_in(10000), capture, &b);
	loop_for(200);
	CU_ASSERT_EQUAL(a.calls, 0);
	CU_ASSERT_EQUAL(b.calls, 0);
	pending = 2; /* the callbacks run inside destroy */
	s->ops->destroy(s);
	pending = 0;
	CU_ASSERT_EQUAL(a.calls, 1);
	CU_ASSERT_EQUAL(a.err, CK_ESHUTDOWN);
	CU_ASSERT_EQUAL(b.calls, 1);
	CU_ASSERT_EQUAL(b.err, CK_ESHUTDOWN);
	result_clear(&a);
	result_clear(&b);
}

/* ---- every operation completes from the loop, never inside the call (store.h contract) ---- */

/* Starts every operation on key with the given deadline; none may have completed when its
 * call returns. Returns how many were started (their callbacks run later). */
static int
start_all(cki_store *s, const char *key, uint64_t deadline, struct result *r)
{
	static const uint8_t v[] = "v";
	int n = 0;

	s->ops->get(s, key, deadline, capture, &r[n++]);
	s->ops->put(s, key, v, 1, NULL, deadline, capture, &r[n++]);
	s->ops->del(s, key, deadline, capture, &r[n++]);
	s->ops->exists(s, key, deadline, capture, &r[n++]);
	s->ops->get_ttl(s, key, deadline, capture, &r[n++]);
	s->ops->touch(s, key, 60, deadline, capture, &r[n++]);
	s->ops->lock(s, key, 1000, deadline, capture, &r[n++]);
	s->ops->unlock(s, key, "id", deadline, capture, &r[n++]);
	s->ops->health(s, deadline, capture, &r[n++]);
	for (int i = 0; i < n; i++)
		CU_ASSERT_EQUAL(r[i].calls, 0);
	return n;
}

struct nested {
	cki_store *s;
	struct result first, second;
	int second_calls_on_return; /* the second op's callbacks when its call returned */
};

/* The first op's callback (inside destroy) starts another op on the dying store. */
static void
start_during_destroy(void *arg, const cki_store_reply *r)
{
	struct nested *n = arg;

	capture(&n->first, r);
	n->s->ops->get(n->s, "t:again", deadline_in(10000), capture, &n->second);
	n->second_calls_on_return = n->second.calls;
}

static void
test_no_operation_completes_inside_the_call(void)
{
	cki_http_opts o = base_opts();
	struct result r[12];
	struct nested nest = {0};
	char long_key[CKI_KEY_MAX + 2];
	uint8_t *big;
	cki_store *s;
	int n;

	SERVER_TEST();
	o.breaker_failures = 1;
	o.max_attempts = 1;
	s = new_store(&o);
	memset(r, 0, sizeof r);
	/* success paths */
	n = start_all(s, "t:contract", deadline_in(10000), r);
	wait_for(n);
	for (int i = 0; i < n; i++)
		CU_ASSERT_EQUAL(r[i].calls, 1);
	/* refused before any request: bad key, key too long, deadline gone */
	memset(long_key, 'k', sizeof long_key - 1);
	long_key[sizeof long_key - 1] = '\0';
	for (size_t k = 0; k < 3; k++) {
		const char *key = k == 0 ? "" : k == 1 ? long_key : "t:ok";
		uint64_t deadline = k == 2 ? cki_now_ms() - 1 : deadline_in(10000);

		for (int i = 0; i < 12; i++)
			result_clear(&r[i]);
		n = start_all(s, key, deadline, r);
		wait_for(n);
		for (int i = 0; i < n; i++) {
			CU_ASSERT_EQUAL(r[i].calls, 1);
			if (i < n - 1) /* health has no key */
				CU_ASSERT_EQUAL(r[i].err, k == 2 ? CK_ETIMEDOUT : CK_EINVALKEY);
		}
	}
	/* a value over the cap, a bad lock id */
	big = calloc(1, CKI_HTTP_VALUE_BODY_MAX + 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(big);
	result_clear(&r[0]);
	result_clear(&r[1]);
	s->ops->put(s, "t:big", big, CKI_HTTP_VALUE_BODY_MAX + 1, NULL, deadline_in(10000), capture,
	            &r[0]);
	s->ops->unlock(s, "t:l", "a\nb", deadline_in(10000), capture, &r[1]);
	CU_ASSERT_EQUAL(r[0].calls + r[1].calls, 0);
	free(big);
	wait_for(2);
	CU_ASSERT_EQUAL(r[0].err, CK_ETOOBIG);
	CU_ASSERT_EQUAL(r[1].err, CK_EINVAL);
	/* the circuit open: failed at once, still from the loop */
	faults("{\"fail_next\":[503]}");
	do_get(s, "t:open", &r[0]);
	CU_ASSERT_EQUAL(r[0].err, CK_EUPSTREAM);
	for (int i = 0; i < 12; i++)
		result_clear(&r[i]);
	n = start_all(s, "t:open", deadline_in(10000), r);
	wait_for(n);
	for (int i = 0; i < n; i++)
		CU_ASSERT_EQUAL(r[i].err, CK_EUNAVAILABLE);
	s->ops->destroy(s);

	/* an operation started while the store is being destroyed */
	o.breaker_failures = 100;
	s = new_store(&o);
	reset_server();
	faults("{\"stall_ms\":5000}");
	nest.s = s;
	s->ops->get(s, "t:first", deadline_in(10000), start_during_destroy, &nest);
	loop_for(100);
	pending = 2;
	s->ops->destroy(s);
	pending = 0;
	CU_ASSERT_EQUAL(nest.first.calls, 1);
	CU_ASSERT_EQUAL(nest.first.err, CK_ESHUTDOWN);
	CU_ASSERT_EQUAL(nest.second_calls_on_return, 0);
	CU_ASSERT_EQUAL(nest.second.calls, 1);
	CU_ASSERT_EQUAL(nest.second.err, CK_ESHUTDOWN);
	loop_for(10); /* runs the deferred call that frees the orphaned request */
	result_clear(&nest.first);
	result_clear(&nest.second);
	for (int i = 0; i < 12; i++)
		result_clear(&r[i]);
}

static CU_TestInfo tests[] = {
        {"Fresh-For parser matches freshness-headers.json", test_fresh_for_vectors},
        {"Freshness parser matches freshness-headers.json", test_freshness_vectors},
        {"header values: names, repeats, over-long values, dates", test_header_values},
        {"lock, ttl and health bodies", test_json_bodies},
        {"constructor rejects bad keys, URLs and options", test_constructor_rejects},
        {"put then get: route, headers, value, freshness", test_put_get_round_trip},
        {"put without TTL sends no TTL headers; ttl is null", test_put_without_ttl},
        {"get miss, stale read and PATCH conflict", test_get_miss_and_stale},
        {"exists, delete, ttl and touch map statuses", test_exists_del_ttl_touch},
        {"lock, contested lock, unlock with the id header", test_lock_unlock},
        {"bad lock id or key fails without a request", test_bad_input_fails_without_request},
        {"no operation completes inside the call, on any path",
         test_no_operation_completes_inside_the_call},
        {"health in both body shapes", test_health_shapes},
        {"server-valid path-encoding.json keys arrive encoded", test_path_encoding_vectors},
        {"503, 503 then success: three requests", test_retry_then_success},
        {"400/401/403/405/409/413 are not retried", test_permanent_errors_not_retried},
        {"an unknown API key is an auth error", test_wrong_key_is_auth_error},
        {"429 honours Retry-After, then gives up", test_rate_limit_retry_after},
        {"max_attempts exhausted returns the last error", test_attempts_exhausted},
        {"breaker opens, fails fast, probes, closes", test_breaker},
        {"stalled responses time out within the deadline", test_timeouts},
        {"8 concurrent operations share one TLS connection",
         test_concurrent_ops_share_one_connection},
        {"destroy fails operations in flight", test_destroy_fails_inflight},
        CU_TEST_INFO_NULL,
};

CK_UNIT_SUITE_FULL("store_http", tests, suite_init, suite_clean)
