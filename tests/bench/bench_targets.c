/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Benchmark targets: the agent through the C stub, and the baselines measured beside it in
 * the same run (a raw ZeroMQ DEALER/ROUTER echo with the same payload, Redis GET over a unix
 * socket through hiredis, and each process calling the API directly with its own libcurl
 * HTTP/2 connection, which is what an in-process SDK does).
 */
#include <curl/curl.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "bench.h"
#include "cachekit/async.h"
#include "cachekit/stub.h"

/* ---- agent through the C stub ------------------------------------------------------------ */

static void
bench_key(const bench_args *a, char *out, size_t cap)
{
	snprintf(out, cap, "bench:v%zu", a->value_size);
}

static void *
agent_open(const bench_args *a)
{
	ck_client_opts o = CK_CLIENT_OPTS_INIT;
	o.endpoint = a->endpoint;
	o.timeout_ms = 5000;
	ck_client *c;
	return ck_client_open(&c, &o) == CK_OK ? c : NULL;
}

static void
agent_close(void *ctx)
{
	ck_client_close(ctx);
}

static int
agent_set_value(const bench_args *a, bool secure)
{
	ck_client *c = agent_open(a);
	if (c == NULL)
		return -1;
	char key[64];
	bench_key(a, key, sizeof(key));
	uint8_t *v = malloc(a->value_size + 1);
	for (size_t i = 0; i < a->value_size; i++)
		v[i] = (uint8_t)(i * 31 + 7);
	ck_set_opts so = CK_SET_OPTS_INIT;
	so.secure = secure;
	ck_err rv = ck_set(c, key, v, a->value_size, &so);
	if (rv != CK_OK)
		fprintf(stderr, "ck-bench: set: %s (%s)\n", ck_strerror(rv),
		        ck_client_last_message(c));
	free(v);
	ck_client_close(c);
	return rv == CK_OK ? 0 : -1;
}

static int
agent_prepare(const bench_args *a)
{
	return agent_set_value(a, false);
}

static int
agent_prepare_secure(const bench_args *a)
{
	return agent_set_value(a, true);
}

static int
agent_get_with(void *ctx, const bench_args *a, bool secure)
{
	char key[64];
	bench_key(a, key, sizeof(key));
	ck_get_opts go = CK_GET_OPTS_INIT;
	go.secure = secure;
	ck_value *v = NULL;
	ck_err rv = ck_get(ctx, key, &go, &v);
	int ok = rv == CK_OK && v->len == a->value_size;
	ck_value_free(v);
	return ok ? 0 : -1;
}

static int
agent_get(void *ctx, const bench_args *a, int i)
{
	return agent_get_with(ctx, a, false);
}

static int
agent_get_secure(void *ctx, const bench_args *a, int i)
{
	return agent_get_with(ctx, a, true);
}

typedef struct set_ctx {
	ck_client *c;
	uint8_t *value;
	bool secure;
} set_ctx;

static void *
set_open_with(const bench_args *a, bool secure)
{
	set_ctx *s = calloc(1, sizeof(*s));
	s->c = agent_open(a);
	s->value = malloc(a->value_size + 1);
	memset(s->value, 'v', a->value_size);
	s->secure = secure;
	return s->c ? s : NULL;
}

static void *
set_open(const bench_args *a)
{
	return set_open_with(a, false);
}

static void *
set_open_secure(const bench_args *a)
{
	return set_open_with(a, true);
}

static int
agent_set(void *ctx, const bench_args *a, int i)
{
	set_ctx *s = ctx;
	char key[64];
	/* Rotate over at most 64 MiB of values: 1000 keys of 1 MiB would fill the store and
	 * measure first-touch page faults and eviction instead of the Set. */
	size_t keys = ((size_t)64 << 20) / (a->value_size ? a->value_size : 1);
	keys = keys < 1 ? 1 : keys > 1000 ? 1000 : keys;
	snprintf(key, sizeof(key), "bench:set:%zu", (size_t)i % keys);
	ck_set_opts so = CK_SET_OPTS_INIT;
	so.secure = s->secure;
	so.ttl_s = 300;
	return ck_set(s->c, key, s->value, a->value_size, &so) == CK_OK ? 0 : -1;
}

static void
set_close(void *ctx)
{
	set_ctx *s = ctx;
	ck_client_close(s->c);
	free(s->value);
	free(s);
}

/* ---- raw ZeroMQ echo: the floor for any DEALER/ROUTER round trip -------------------------- */

typedef struct zmq_ctx_ {
	void *ctx, *sock;
	uint8_t *buf;
} zmq_ctx_;

static void *
zmq_open(const bench_args *a)
{
	zmq_ctx_ *z = calloc(1, sizeof(*z));
	z->ctx = zmq_ctx_new();
	z->sock = zmq_socket(z->ctx, ZMQ_DEALER);
	z->buf = malloc(a->value_size + 64);
	memset(z->buf, 'e', a->value_size + 64);
	if (zmq_connect(z->sock, a->endpoint) != 0)
		return NULL;
	return z;
}

static int
zmq_op(void *ctx, const bench_args *a, int i)
{
	zmq_ctx_ *z = ctx;
	/* Same payload size as the agent's Get reply, so the comparison is like for like. */
	if (zmq_send(z->sock, z->buf, a->value_size + 16, 0) < 0)
		return -1;
	return zmq_recv(z->sock, z->buf, a->value_size + 64, 0) < 0 ? -1 : 0;
}

static void
zmq_close_(void *ctx)
{
	zmq_ctx_ *z = ctx;
	zmq_close(z->sock);
	zmq_ctx_term(z->ctx);
	free(z->buf);
	free(z);
}

/* ---- Redis GET over a unix socket ----------------------------------------------------------- */

static void *
redis_open(const bench_args *a)
{
	redisContext *r = redisConnectUnix(a->endpoint);
	if (r == NULL || r->err)
		return NULL;
	return r;
}

static int
redis_prepare(const bench_args *a)
{
	redisContext *r = redis_open(a);
	if (r == NULL)
		return -1;
	char key[64];
	bench_key(a, key, sizeof(key));
	char *v = malloc(a->value_size + 1);
	memset(v, 'r', a->value_size);
	redisReply *rep = redisCommand(r, "SET %s %b", key, v, a->value_size);
	int ok = rep && rep->type == REDIS_REPLY_STATUS;
	freeReplyObject(rep);
	free(v);
	redisFree(r);
	return ok ? 0 : -1;
}

static int
redis_get(void *ctx, const bench_args *a, int i)
{
	char key[64];
	bench_key(a, key, sizeof(key));
	redisReply *rep = redisCommand(ctx, "GET %s", key);
	int ok = rep && rep->type == REDIS_REPLY_STRING && rep->len == a->value_size;
	freeReplyObject(rep);
	return ok ? 0 : -1;
}

static void
redis_close(void *ctx)
{
	redisFree(ctx);
}

/* ---- one request per connection: a short-lived process (the process spawn not counted) ---- */

static void *
once_open(const bench_args *a)
{
	return (void *)a;
}

static void
once_close(void *ctx)
{
	(void)ctx;
}

static int
agent_get_once(void *ctx, const bench_args *a, int i)
{
	ck_client *c = agent_open(a);
	int rv;

	(void)ctx;
	if (c == NULL)
		return -1;
	rv = agent_get_with(c, a, false);
	ck_client_close(c);
	return rv;
}

static int
redis_get_once(void *ctx, const bench_args *a, int i)
{
	redisContext *r = redis_open(a);
	int rv;

	(void)ctx;
	if (r == NULL)
		return -1;
	rv = redis_get(r, a, i);
	redisFree(r);
	return rv;
}

/* ---- direct libcurl per process: the in-process SDK model --------------------------------------
 */
/* endpoint = API base URL; CK_BENCH_CA, CK_BENCH_RESOLVE, CK_BENCH_API_KEY from the environment. */

typedef struct curl_ctx {
	CURL *h;
	struct curl_slist *hdrs, *resolve;
	char url[512];
	size_t got;
} curl_ctx;

static size_t
count_body(char *p, size_t sz, size_t n, void *arg)
{
	((curl_ctx *)arg)->got += sz * n;
	return sz * n;
}

static void *
curl_open(const bench_args *a)
{
	curl_ctx *c = calloc(1, sizeof(*c));
	char auth[256], key[64];
	bench_key(a, key, sizeof(key));
	snprintf(c->url, sizeof(c->url), "%s/v1/cache/%s", a->endpoint, key);
	for (char *p = c->url + strlen(a->endpoint) + 10; *p; p++)
		if (*p == ':') { /* percent-encode ':' in the key segment */
			memmove(p + 3, p + 1, strlen(p + 1) + 1);
			memcpy(p, "%3A", 3);
		}
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
	         getenv("CK_BENCH_API_KEY") ? getenv("CK_BENCH_API_KEY") : "");
	c->hdrs = curl_slist_append(NULL, auth);
	c->hdrs = curl_slist_append(c->hdrs, "X-CacheKit-L1-Status: disabled");
	if (getenv("CK_BENCH_RESOLVE"))
		c->resolve = curl_slist_append(NULL, getenv("CK_BENCH_RESOLVE"));
	c->h = curl_easy_init();
	curl_easy_setopt(c->h, CURLOPT_URL, c->url);
	curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, c->hdrs);
	curl_easy_setopt(c->h, CURLOPT_RESOLVE, c->resolve);
	curl_easy_setopt(c->h, CURLOPT_CAINFO, getenv("CK_BENCH_CA"));
	curl_easy_setopt(c->h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, count_body);
	curl_easy_setopt(c->h, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(c->h, CURLOPT_NOSIGNAL, 1L);
	return c->h ? c : NULL;
}

static int
curl_get(void *ctx, const bench_args *a, int i)
{
	curl_ctx *c = ctx;
	long code = 0;
	c->got = 0;
	if (curl_easy_perform(c->h) != CURLE_OK)
		return -1;
	curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &code);
	return code == 200 && c->got == a->value_size ? 0 : -1;
}

static void curl_close_(void *ctx);

/* A one-request process on the direct path: a new libcurl handle (connection, TLS and HTTP/2
 * set-up included), one GET, close. */
static int
curl_get_once(void *ctx, const bench_args *a, int i)
{
	(void)ctx;
	curl_ctx *c = curl_open(a);
	if (c == NULL)
		return -1;
	int rv = curl_get(c, a, i);
	curl_close_(c);
	return rv;
}

static int
curl_prepare(const bench_args *a)
{
	curl_ctx *c = curl_open(a);
	if (c == NULL)
		return -1;
	char *v = malloc(a->value_size + 1);
	memset(v, 'c', a->value_size);
	c->hdrs = curl_slist_append(c->hdrs, "Content-Type: application/octet-stream");
	curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, c->hdrs);
	curl_easy_setopt(c->h, CURLOPT_CUSTOMREQUEST, "PUT");
	curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, v);
	curl_easy_setopt(c->h, CURLOPT_POSTFIELDSIZE, (long)a->value_size);
	long code = 0;
	CURLcode rc = curl_easy_perform(c->h);
	curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &code);
	free(v);
	curl_easy_cleanup(c->h);
	curl_slist_free_all(c->hdrs);
	curl_slist_free_all(c->resolve);
	free(c);
	return rc == CURLE_OK && code == 200 ? 0 : -1;
}

static void
curl_close_(void *ctx)
{
	curl_ctx *c = ctx;
	curl_easy_cleanup(c->h);
	curl_slist_free_all(c->hdrs);
	curl_slist_free_all(c->resolve);
	free(c);
}

/* ---- near cache, batches, async pipelining ----------------------------------------------- */

#define BATCH  100
#define WINDOW 16

static void *
near_open(const bench_args *a)
{
	ck_client_opts o = CK_CLIENT_OPTS_INIT;
	o.endpoint = a->endpoint;
	o.timeout_ms = 5000;
	o.near_cache_bytes = 64u << 20;
	ck_client *c;
	return ck_client_open(&c, &o) == CK_OK ? c : NULL;
}

static int
batch_prepare(const bench_args *a)
{
	ck_client *c = agent_open(a);
	if (c == NULL)
		return -1;
	uint8_t *v = calloc(1, a->value_size + 1);
	int bad = 0;
	for (int i = 0; i < BATCH; i++) {
		char key[64];
		snprintf(key, sizeof(key), "bench:b%zu:%d", a->value_size, i);
		bad |= ck_set(c, key, v, a->value_size, NULL) != CK_OK;
	}
	free(v);
	ck_client_close(c);
	return bad ? -1 : 0;
}

static int
agent_mget100(void *ctx, const bench_args *a, int i)
{
	static char keys[BATCH][64];
	const char *kp[BATCH];
	ck_value *values[BATCH];
	ck_err errs[BATCH];
	for (int k = 0; k < BATCH; k++) {
		snprintf(keys[k], sizeof(keys[k]), "bench:b%zu:%d", a->value_size, k);
		kp[k] = keys[k];
	}
	int bad = ck_mget(ctx, kp, BATCH, NULL, values, errs) != CK_OK;
	for (int k = 0; k < BATCH; k++) {
		bad |= errs[k] != CK_OK;
		ck_value_free(values[k]);
	}
	return bad ? -1 : 0;
}

static int
agent_get100(void *ctx, const bench_args *a, int i)
{
	for (int k = 0; k < BATCH; k++) {
		char key[64];
		ck_value *v = NULL;
		snprintf(key, sizeof(key), "bench:b%zu:%d", a->value_size, k);
		if (ck_get(ctx, key, NULL, &v) != CK_OK)
			return -1;
		ck_value_free(v);
	}
	return 0;
}

static void
on_async(ck_client *c, ck_result *r, void *arg)
{
	int *left = arg;
	(void)c;
	if (r->err != CK_OK)
		*left += 1000000; /* marks a failure */
	ck_value_free(r->value);
	(*left)--;
}

/* WINDOW Gets in flight at once through the async API, driven by poll() on its fd. */
static int
async_get16(void *ctx, const bench_args *a, int i)
{
	char key[64];
	int left = WINDOW;
	bench_key(a, key, sizeof(key));
	for (int k = 0; k < WINDOW; k++)
		if (ck_get_async(ctx, key, NULL, on_async, &left) != CK_OK)
			return -1;
	zmq_pollitem_t item = {NULL, ck_client_fd(ctx), ZMQ_POLLIN, 0};
	while (left > 0 && left < 1000000) {
		if (ck_client_process(ctx) != CK_OK)
			return -1;
		if (left > 0 && left < 1000000)
			zmq_poll(&item, 1, 1);
	}
	return left == 0 ? 0 : -1;
}

/* The same window through a raw DEALER: WINDOW sends, then WINDOW receives. */
static int
zmq_op16(void *ctx, const bench_args *a, int i)
{
	zmq_ctx_ *z = ctx;
	for (int k = 0; k < WINDOW; k++)
		if (zmq_send(z->sock, z->buf, a->value_size + 16, 0) < 0)
			return -1;
	for (int k = 0; k < WINDOW; k++)
		if (zmq_recv(z->sock, z->buf, a->value_size + 64, 0) < 0)
			return -1;
	return 0;
}

const bench_target bench_targets[] = {
        {"near-get", "Get served by the stub's near cache (coherent)", agent_prepare, near_open,
         agent_get, agent_close},
        {"agent-mget100", "one batch Get of 100 keys", batch_prepare, agent_open, agent_mget100,
         agent_close},
        {"agent-get100", "100 single Gets", batch_prepare, agent_open, agent_get100, agent_close},
        {"async-get16", "16 Gets in flight through the async API", agent_prepare, agent_open,
         async_get16, agent_close},
        {"zmq-echo16", "raw ZeroMQ echo, 16 in flight, same payload", NULL, zmq_open, zmq_op16,
         zmq_close_},
        {"curl-direct-get", "each process its own libcurl HTTP/2 connection to the API",
         curl_prepare, curl_open, curl_get, curl_close_},
        {"agent-get", "Get through the C stub and the agent", agent_prepare, agent_open, agent_get,
         agent_close},
        {"agent-set", "Set (ttl 300 s) through the C stub and the agent", NULL, set_open, agent_set,
         set_close},
        {"agent-get-secure", "Get with secure intent (agent decrypts)", agent_prepare_secure,
         agent_open, agent_get_secure, agent_close},
        {"agent-set-secure", "Set with secure intent (agent encrypts)", NULL, set_open_secure,
         agent_set, set_close},
        {"zmq-echo", "raw ZeroMQ DEALER->ROUTER echo, same payload", NULL, zmq_open, zmq_op,
         zmq_close_},
        {"redis-get", "Redis GET over a unix socket (hiredis)", redis_prepare, redis_open,
         redis_get, redis_close},
        {"agent-get-once", "open the stub, one Get, close (a one-request process)", agent_prepare,
         once_open, agent_get_once, once_close},
        {"redis-get-once", "connect to Redis, one GET, disconnect (a one-request process)",
         redis_prepare, once_open, redis_get_once, once_close},
        {"curl-direct-get-once", "new libcurl connection, one GET, close (a one-request process)",
         curl_prepare, once_open, curl_get_once, once_close},
};
const size_t bench_ntargets = sizeof(bench_targets) / sizeof(bench_targets[0]);
