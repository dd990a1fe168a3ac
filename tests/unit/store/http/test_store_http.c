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

#include "cunit_main.h"
#include "base/keys.h"
#include "base/loop.h"
#include "store/http/store_http.h"

#define API_KEY  "ck_sdk_test"
#define GUARD_MS 30000u /* a test that waits longer than this has failed */

static cki_loop *loop;
static pid_t server_pid = -1;
static char tmpdir[64];
static char certs[512];
static int api_port, control_port;
static bool server_ok;

/* ---- control endpoint (blocking libcurl; fine in a test) ---------------------------------- */

struct buf {
	char *p;
	size_t n;
};

static size_t
buf_write(char *d, size_t sz, size_t nm, void *u)
{
	struct buf *b = u;
	char *p = realloc(b->p, b->n + sz * nm + 1);

	if (p == NULL)
		return 0;
	memcpy(p + b->n, d, sz * nm);
	b->n += sz * nm;
	p[b->n] = '\0';
	b->p = p;
	return sz * nm;
}

/* Calls the control endpoint; returns the parsed JSON reply (caller decrefs) or NULL. */
static json_t *
ctl(const char *method, const char *path, const char *body)
{
	CURL *e = curl_easy_init();
	struct buf b = {0};
	char url[256];
	json_t *j = NULL;

	snprintf(url, sizeof url, "http://127.0.0.1:%d%s", control_port, path);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PROXY, "");
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	if (body != NULL)
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, buf_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 10000L);
	if (curl_easy_perform(e) == CURLE_OK && b.p != NULL)
		j = json_loadb(b.p, b.n, 0, NULL);
	curl_easy_cleanup(e);
	free(b.p);
	return j;
}

static void
faults(const char *json)
{
	json_t *j = ctl("POST", "/faults", json);

	CU_ASSERT_PTR_NOT_NULL_FATAL(j);
	json_decref(j);
}

static void
reset_server(void)
{
	json_decref(ctl("POST", "/reset", NULL));
}

static json_t *
requests(void)
{
	json_t *j = ctl("GET", "/requests", NULL);

	CU_ASSERT_FATAL(json_is_array(j));
	return j;
}

static size_t
n_requests(void)
{
	json_t *j = requests();
	size_t n = json_array_size(j);

	json_decref(j);
	return n;
}

static json_int_t
server_stat(const char *name)
{
	json_t *j = ctl("GET", "/stats", NULL);
	json_int_t v = json_integer_value(json_object_get(j, name));

	json_decref(j);
	return v;
}

/* Header `name` (lowercase) of a recorded request: headers are [[name, value], ...] (or an
 * object). Returns the n-th match, or NULL. */
static const char *
hdr_nth(json_t *req, const char *name, size_t nth)
{
	json_t *h = json_object_get(req, "headers");
	size_t i, seen = 0;
	json_t *pair;

	if (json_is_object(h))
		return nth == 0 ? json_string_value(json_object_get(h, name)) : NULL;
	json_array_foreach(h, i, pair)
	{
		if (strcmp(json_string_value(json_array_get(pair, 0)), name) == 0 && seen++ == nth)
			return json_string_value(json_array_get(pair, 1));
	}
	return NULL;
}

/* CU_ASSERT_STRING_EQUAL that fails (instead of crashing) when the server lacks the value. */
#define STR_EQ(got, want)                                                                        \
	do {                                                                                     \
		const char *got_ = (got);                                                        \
		if (got_ == NULL || strcmp(got_, (want)) != 0)                                   \
			fprintf(stderr, "\n  got \"%s\", want \"%s\"\n", got_ ? got_ : "(null)", \
			        (want));                                                         \
		CU_ASSERT_TRUE(got_ != NULL && strcmp(got_, (want)) == 0);                       \
	} while (0)

static const char *
hdr(json_t *req, const char *name)
{
	return hdr_nth(req, name, 0);
}

static const char *
req_str(json_t *req, const char *field)
{
	return json_string_value(json_object_get(req, field));
}

/* ---- running operations on the loop ---------------------------------------------------------- */

struct result {
	int calls;
	ck_err err;
	char message[200];
	bool found;
	uint8_t *value;
	size_t value_len;
	cki_freshness freshness;
	int64_t fresh_for_ms;
	int64_t ttl_s;
	bool has_lock_id;
	char lock_id[300];
	char version[80];
	char error_type[40];
	double latency_ms;
};

static int pending;
static bool guard_fired;

static void
capture(void *arg, const cki_store_reply *r)
{
	struct result *out = arg;

	out->calls++;
	out->err = r->err;
	snprintf(out->message, sizeof out->message, "%s", r->message ? r->message : "");
	out->found = r->found;
	free(out->value);
	out->value = NULL;
	out->value_len = r->value_len;
	if (r->value != NULL) {
		out->value = malloc(r->value_len + 1);
		memcpy(out->value, r->value, r->value_len);
	}
	out->freshness = r->freshness;
	out->fresh_for_ms = r->fresh_for_ms;
	out->ttl_s = r->ttl_s;
	out->has_lock_id = r->lock_id != NULL;
	snprintf(out->lock_id, sizeof out->lock_id, "%s", r->lock_id ? r->lock_id : "");
	snprintf(out->version, sizeof out->version, "%s", r->version ? r->version : "");
	snprintf(out->error_type, sizeof out->error_type, "%s", r->error_type ? r->error_type : "");
	out->latency_ms = r->latency_ms;
	if (--pending == 0)
		cki_loop_stop(loop);
}

static void
on_guard(cki_loop *l, void *arg)
{
	guard_fired = true;
	cki_loop_stop(l);
}

/* Runs the loop until n callbacks (started before) have fired. */
static void
wait_for(int n)
{
	cki_timer_id guard;

	pending += n;
	if (pending <= 0)
		return;
	guard_fired = false;
	guard = cki_loop_timer(loop, GUARD_MS, on_guard, NULL);
	CU_ASSERT_EQUAL(cki_loop_run(loop), CK_OK);
	cki_loop_timer_cancel(loop, guard);
	CU_ASSERT_FALSE(guard_fired);
	pending = 0;
}

static void
on_nap(cki_loop *l, void *arg)
{
	cki_loop_stop(l);
}

/* Lets the loop run for ms (the store keeps working meanwhile). */
static void
loop_for(uint64_t ms)
{
	CU_ASSERT_NOT_EQUAL(cki_loop_timer(loop, ms, on_nap, NULL), 0);
	CU_ASSERT_EQUAL(cki_loop_run(loop), CK_OK);
}

static void
result_clear(struct result *r)
{
	free(r->value);
	memset(r, 0, sizeof *r);
}

static uint64_t
deadline_in(uint64_t ms)
{
	return cki_now_ms() + ms;
}

static char url_buf[128], resolve_buf[128], ca_buf[600];

static cki_http_opts
base_opts(void)
{
	cki_http_opts o = {0};

	snprintf(url_buf, sizeof url_buf, "https://api.cachekit.io:%d", api_port);
	snprintf(resolve_buf, sizeof resolve_buf, "api.cachekit.io:%d:127.0.0.1", api_port);
	snprintf(ca_buf, sizeof ca_buf, "%s/ca.pem", certs);
	o.url = url_buf;
	o.resolve = resolve_buf;
	o.ca_file = ca_buf;
	o.api_key = (const uint8_t *)API_KEY;
	o.api_key_len = strlen(API_KEY);
	o.timeout_ms = 5000;
	o.breaker_failures = 100;
	return o;
}

static cki_store *
new_store(const cki_http_opts *o)
{
	cki_store *s = NULL;
	char why[200] = "";
	ck_err rv = cki_store_http_new(&s, loop, o, why, sizeof why);

	if (rv != CK_OK)
		fprintf(stderr, "\n  store_http_new: %s (%s)\n", ck_strerror(rv), why);
	CU_ASSERT_EQUAL_FATAL(rv, CK_OK);
	return s;
}

struct stat_pick {
	const char *name;
	double v;
	bool seen;
};

static void
pick_stat(void *ctx, const char *name, double v)
{
	struct stat_pick *p = ctx;

	if (strcmp(name, p->name) == 0) {
		p->v = v;
		p->seen = true;
	}
}

static double
store_stat(cki_store *s, const char *name)
{
	struct stat_pick p = {.name = name};

	s->ops->stats(s, pick_stat, &p);
	CU_ASSERT_TRUE(p.seen);
	return p.v;
}

/* Synchronous-looking wrappers: start one operation, assert the callback did not run inside
 * the call, then run the loop until it does. */
static void
do_put(cki_store *s, const char *key, const char *value, uint32_t ttl, uint32_t stale,
       struct result *r)
{
	cki_put_opts po = {.ttl_s = ttl, .stale_ttl_s = stale};

	result_clear(r);
	s->ops->put(s, key, (const uint8_t *)value, strlen(value), &po, deadline_in(10000), capture,
	            r);
	CU_ASSERT_EQUAL(r->calls, 0);
	wait_for(1);
	CU_ASSERT_EQUAL(r->calls, 1);
}

#define DO_KEYED(opname)                                                         \
	static void do_##opname(cki_store *s, const char *key, struct result *r) \
	{                                                                        \
		result_clear(r);                                                 \
		s->ops->opname(s, key, deadline_in(10000), capture, r);          \
		CU_ASSERT_EQUAL(r->calls, 0);                                    \
		wait_for(1);                                                     \
		CU_ASSERT_EQUAL(r->calls, 1);                                    \
	}
DO_KEYED(get)
DO_KEYED(del)
DO_KEYED(exists)
DO_KEYED(get_ttl)

static void
do_touch(cki_store *s, const char *key, uint32_t ttl, struct result *r)
{
	result_clear(r);
	s->ops->touch(s, key, ttl, deadline_in(10000), capture, r);
	CU_ASSERT_EQUAL(r->calls, 0);
	wait_for(1);
}

static void
do_lock(cki_store *s, const char *key, uint32_t lease, struct result *r)
{
	result_clear(r);
	s->ops->lock(s, key, lease, deadline_in(10000), capture, r);
	CU_ASSERT_EQUAL(r->calls, 0);
	wait_for(1);
}

static void
do_unlock(cki_store *s, const char *key, const char *id, struct result *r)
{
	result_clear(r);
	s->ops->unlock(s, key, id, deadline_in(10000), capture, r);
	CU_ASSERT_EQUAL(r->calls, 0);
	wait_for(1);
}

static void
do_health(cki_store *s, struct result *r)
{
	result_clear(r);
	s->ops->health(s, deadline_in(10000), capture, r);
	CU_ASSERT_EQUAL(r->calls, 0);
	wait_for(1);
}

/* ---- suite setup: one ck-fakeapi for all tests ------------------------------------------------
 */

static int
read_port(const char *path)
{
	FILE *f = fopen(path, "r");
	int port = 0;

	if (f == NULL)
		return 0;
	if (fscanf(f, "%d", &port) != 1)
		port = 0;
	fclose(f);
	return port;
}

static int
suite_init(void)
{
	const char *bin = getenv("CK_FAKEAPI");
	const char *cdir = getenv("CK_TEST_CERTS");
	char pf[128], cpf[128], cert[600], key[600];
	struct timespec nap = {0, 20 * 1000 * 1000};

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || cki_loop_new(&loop) != CK_OK)
		return 1;
	if (bin == NULL || cdir == NULL) {
		fprintf(stderr, "test_store_http: set CK_FAKEAPI and CK_TEST_CERTS\n");
		return 0; /* the server tests then fail on server_ok */
	}
	snprintf(certs, sizeof certs, "%s", cdir);
	snprintf(tmpdir, sizeof tmpdir, "/tmp/ck-http-test-XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return 1;
	snprintf(pf, sizeof pf, "%s/port", tmpdir);
	snprintf(cpf, sizeof cpf, "%s/cport", tmpdir);
	snprintf(cert, sizeof cert, "%s/server.pem", cdir);
	snprintf(key, sizeof key, "%s/server.key", cdir);
	server_pid = fork();
	if (server_pid < 0)
		return 1;
	if (server_pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlive a crashed test */
		execl(bin, bin, "--cert", cert, "--key", key, "--port", "0", "--port-file", pf,
		      "--control-port", "0", "--control-port-file", cpf, "--api-key", API_KEY,
		      "--quiet", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500 && (api_port == 0 || control_port == 0); i++) {
		nanosleep(&nap, NULL);
		api_port = read_port(pf);
		control_port = read_port(cpf);
	}
	server_ok = api_port > 0 && control_port > 0;
	if (!server_ok)
		fprintf(stderr, "test_store_http: ck-fakeapi did not start\n");
	return 0;
}

static int
suite_clean(void)
{
	char path[128];

	if (server_pid > 0) {
		kill(server_pid, SIGTERM);
		waitpid(server_pid, NULL, 0);
	}
	if (tmpdir[0] != '\0') {
		snprintf(path, sizeof path, "%s/port", tmpdir);
		unlink(path);
		snprintf(path, sizeof path, "%s/cport", tmpdir);
		unlink(path);
		rmdir(tmpdir);
	}
	cki_loop_free(loop);
	curl_global_cleanup();
	return 0;
}

/* Every server test starts from an empty server with no faults. */
#define SERVER_TEST()                            \
	do {                                     \
		CU_ASSERT_TRUE_FATAL(server_ok); \
		reset_server();                  \
	} while (0)

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

static void
feed(cki_http_resp_headers *h, const char *line)
{
	cki_http_resp_header_line(h, line, strlen(line));
}

static void
test_header_lines(void)
{
	cki_http_resp_headers h;

	cki_http_resp_headers_init(&h);
	CU_ASSERT_EQUAL(cki_http_resp_freshness(&h), CKI_FRESH);
	CU_ASSERT_EQUAL(cki_http_resp_fresh_for(&h), -1);
	CU_ASSERT_EQUAL(cki_http_resp_retry_after_ms(&h), -1);

	/* an interim response is forgotten at the next status line */
	feed(&h, "HTTP/1.1 100 Continue\r\n");
	feed(&h, "X-CacheKit-Freshness: stale\r\n");
	feed(&h, "HTTP/2 200\r\n");
	CU_ASSERT_EQUAL(h.status, 200);
	feed(&h, "x-cachekit-freshness: \tfresh \r\n");
	feed(&h, "X-CACHEKIT-FRESH-FOR:42\r\n");
	feed(&h, "retry-after: 3\r\n");
	feed(&h, "x-cachekit-fresh-forx: 7\r\n");
	feed(&h, "no colon here\r\n");
	feed(&h, ": empty name\r\n");
	CU_ASSERT_EQUAL(cki_http_resp_freshness(&h), CKI_FRESH);
	CU_ASSERT_EQUAL(cki_http_resp_fresh_for(&h), 42);
	CU_ASSERT_EQUAL(cki_http_resp_retry_after_ms(&h), 3000);

	/* a repeated header is its comma-combined value: never fresh, never a number */
	feed(&h, "x-cachekit-freshness: fresh\r\n");
	feed(&h, "x-cachekit-fresh-for: 42\r\n");
	CU_ASSERT_EQUAL(cki_http_resp_freshness(&h), CKI_STALE);
	CU_ASSERT_EQUAL(cki_http_resp_fresh_for(&h), 0);

	/* over-long values are kept as unparseable */
	feed(&h, "HTTP/2 503\r\n");
	feed(&h, "retry-after: 00000000000000000000000000000000000000000000000000001\r\n");
	feed(&h, "x-cachekit-fresh-for: 1111111111111111111111111111111111111111111111111\r\n");
	CU_ASSERT_EQUAL(h.status, 503);
	CU_ASSERT_EQUAL(cki_http_resp_retry_after_ms(&h), -1);
	CU_ASSERT_EQUAL(cki_http_resp_fresh_for(&h), 0);

	CU_ASSERT_EQUAL(cki_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 29), -1);
	CU_ASSERT_EQUAL(cki_parse_retry_after("120", 3), 120000);
	CU_ASSERT_EQUAL(cki_parse_retry_after("", 0), -1);
	CU_ASSERT_EQUAL(cki_parse_retry_after("-1", 2), -1);
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

	cki_parse_health_body("{\"version\":\"1.0.0\"}", 19, ver, sizeof ver);
	CU_ASSERT_STRING_EQUAL(ver, "1.0.0");
	cki_parse_health_body("{\"status\":\"ok\",\"cache_entries\":3,\"active_locks\":0}", 49, ver,
	                      sizeof ver);
	CU_ASSERT_STRING_EQUAL(ver, "unknown");
	cki_parse_health_body("{\"version\":\"1\\n2\"}", 18, ver, sizeof ver);
	CU_ASSERT_STRING_EQUAL(ver, "unknown");
	cki_parse_health_body("<html>", 6, ver, sizeof ver);
	CU_ASSERT_STRING_EQUAL(ver, "unknown");
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
	s = new_store(&o);
	CU_ASSERT_FATAL(json_array_size(rows) > 20);
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
	faults("{\"stall_ms\":3000}");
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
	faults("{\"stall_ms\":5000}");
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

static CU_TestInfo tests[] = {
        {"Fresh-For parser matches freshness-headers.json", test_fresh_for_vectors},
        {"Freshness parser matches freshness-headers.json", test_freshness_vectors},
        {"header lines: interim responses, repeats, over-long values", test_header_lines},
        {"lock, ttl and health bodies", test_json_bodies},
        {"constructor rejects bad keys, URLs and options", test_constructor_rejects},
        {"put then get: route, headers, value, freshness", test_put_get_round_trip},
        {"put without TTL sends no TTL headers; ttl is null", test_put_without_ttl},
        {"get miss, stale read and PATCH conflict", test_get_miss_and_stale},
        {"exists, delete, ttl and touch map statuses", test_exists_del_ttl_touch},
        {"lock, contested lock, unlock with the id header", test_lock_unlock},
        {"bad lock id or key fails without a request", test_bad_input_fails_without_request},
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
