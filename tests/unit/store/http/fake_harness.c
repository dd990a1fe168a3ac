/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The harness the store_http tests share: one real ck-fakeapi process for the suite (TLS,
 * HTTP/2; CK_FAKEAPI = its path, CK_TEST_CERTS = the directory with ca.pem, server.pem,
 * server.key), its control endpoint (faults, clock, the recorded requests), and operations run
 * on a real cki_loop, each asserting that its callback did not run inside the call.
 */
#include "fake_harness.h"

#include "cunit_main.h"

#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

cki_loop *loop;
static pid_t server_pid = -1;
static char tmpdir[64];
char certs[512];
int api_port, control_port;
bool server_ok;

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
json_t *
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

void
faults(const char *json)
{
	json_t *j = ctl("POST", "/faults", json);

	CU_ASSERT_PTR_NOT_NULL_FATAL(j);
	json_decref(j);
}

void
reset_server(void)
{
	json_decref(ctl("POST", "/reset", NULL));
}

json_t *
requests(void)
{
	json_t *j = ctl("GET", "/requests", NULL);

	CU_ASSERT_FATAL(json_is_array(j));
	return j;
}

size_t
n_requests(void)
{
	json_t *j = requests();
	size_t n = json_array_size(j);

	json_decref(j);
	return n;
}

json_int_t
server_stat(const char *name)
{
	json_t *j = ctl("GET", "/stats", NULL);
	json_int_t v = json_integer_value(json_object_get(j, name));

	json_decref(j);
	return v;
}

/* Header `name` (lowercase) of a recorded request: headers are [[name, value], ...] (or an
 * object). Returns the n-th match, or NULL. */
const char *
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

const char *
hdr(json_t *req, const char *name)
{
	return hdr_nth(req, name, 0);
}

const char *
req_str(json_t *req, const char *field)
{
	return json_string_value(json_object_get(req, field));
}

/* ---- running operations on the loop ---------------------------------------------------------- */

int pending;
static bool guard_fired;

void
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
void
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
void
loop_for(uint64_t ms)
{
	CU_ASSERT_NOT_EQUAL(cki_loop_timer(loop, ms, on_nap, NULL), 0);
	CU_ASSERT_EQUAL(cki_loop_run(loop), CK_OK);
}

void
result_clear(struct result *r)
{
	free(r->value);
	memset(r, 0, sizeof *r);
}

uint64_t
deadline_in(uint64_t ms)
{
	return cki_now_ms() + ms;
}

static char url_buf[128], resolve_buf[128], ca_buf[600];

cki_http_opts
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

cki_store *
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

double
store_stat(cki_store *s, const char *name)
{
	struct stat_pick p = {.name = name};

	s->ops->stats(s, pick_stat, &p);
	CU_ASSERT_TRUE(p.seen);
	return p.v;
}

/* Synchronous-looking wrappers: start one operation, assert the callback did not run inside
 * the call, then run the loop until it does. */
void
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

void
do_get(cki_store *s, const char *key, struct result *r)
{
	result_clear(r);
	s->ops->get(s, key, deadline_in(10000), capture, r);
	CU_ASSERT_EQUAL(r->calls, 0);
	wait_for(1);
	CU_ASSERT_EQUAL(r->calls, 1);
}

void
do_del(cki_store *s, const char *key, struct result *r)
{
	result_clear(r);
	s->ops->del(s, key, deadline_in(10000), capture, r);
	CU_ASSERT_EQUAL(r->calls, 0);
	wait_for(1);
	CU_ASSERT_EQUAL(r->calls, 1);
}

void
do_exists(cki_store *s, const char *key, struct result *r)
{
	result_clear(r);
	s->ops->exists(s, key, deadline_in(10000), capture, r);
	CU_ASSERT_EQUAL(r->calls, 0);
	wait_for(1);
	CU_ASSERT_EQUAL(r->calls, 1);
}

void
do_get_ttl(cki_store *s, const char *key, struct result *r)
{
	result_clear(r);
	s->ops->get_ttl(s, key, deadline_in(10000), capture, r);
	CU_ASSERT_EQUAL(r->calls, 0);
	wait_for(1);
	CU_ASSERT_EQUAL(r->calls, 1);
}

void
do_touch(cki_store *s, const char *key, uint32_t ttl, struct result *r)
{
	result_clear(r);
	s->ops->touch(s, key, ttl, deadline_in(10000), capture, r);
	CU_ASSERT_EQUAL(r->calls, 0);
	wait_for(1);
}

void
do_lock(cki_store *s, const char *key, uint32_t lease, struct result *r)
{
	result_clear(r);
	s->ops->lock(s, key, lease, deadline_in(10000), capture, r);
	CU_ASSERT_EQUAL(r->calls, 0);
	wait_for(1);
}

void
do_unlock(cki_store *s, const char *key, const char *id, struct result *r)
{
	result_clear(r);
	s->ops->unlock(s, key, id, deadline_in(10000), capture, r);
	CU_ASSERT_EQUAL(r->calls, 0);
	wait_for(1);
}

void
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

int
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
	ck_tmp_template(tmpdir, sizeof tmpdir, "ck-http-test");
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
	for (int i = 0; i < 1500 && (api_port == 0 || control_port == 0); i++) { /* 30 s */
		nanosleep(&nap, NULL);
		api_port = read_port(pf);
		control_port = read_port(cpf);
	}
	server_ok = api_port > 0 && control_port > 0;
	if (!server_ok)
		fprintf(stderr, "test_store_http: ck-fakeapi did not start\n");
	return 0;
}

int
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
