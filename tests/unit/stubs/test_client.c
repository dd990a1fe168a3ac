/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of libcachekit-stub (stubs/c/client.c, transport.c, results.c) against a fake agent
 * that lives in this file: a ZeroMQ ROUTER on a private ipc:// path, served from a thread, that
 * decodes each Request, records it, and answers as the test's script says (echo store, silence,
 * late or foreign ids, malformed frames, chosen statuses). Nothing here measures time: timeouts are
 * asserted by their result code only.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <zmq.h>

#include "cachekit/agent/v1/agent.pb-c.h"
#include "cachekit/stub.h"
#include "cunit_main.h"

typedef Cachekit__Agent__V1__Request Request;
typedef Cachekit__Agent__V1__Response Response;

#define MAX_RECORDED     16
#define IDENT_CAP        256
#define OK_TIMEOUT_MS    5000
#define SHORT_TIMEOUT_MS 200
/* Mirrors the stub's hard value cap (64 MiB). */
#define STUB_MAX_VALUE ((size_t)64 * 1024 * 1024)

struct fake;
typedef void (*fake_script)(struct fake *f, const Request *req);

struct fake {
	char endpoint[128];
	void *ctx;
	void *router;
	pthread_t thread;
	atomic_int stop;
	fake_script script;

	/* Written by the fake thread, read by the test under mu. */
	pthread_mutex_t mu;
	int nreq;
	uint8_t *last_req;
	size_t last_req_len;
	uint8_t ident[MAX_RECORDED][IDENT_CAP];
	size_t ident_len[MAX_RECORDED];

	/* Fake thread only. */
	uint8_t cur_ident[IDENT_CAP];
	size_t cur_ident_len;
	uint64_t held_id;
	int32_t status;       /* script_status: status to answer with */
	char message[128];    /* script_status: message to answer with */
	bool wrong_result;    /* script_status: answer with a result of another kind */
	char stored_key[256]; /* the echo store: one entry */
	uint8_t *stored;
	size_t stored_len;
	bool have_stored;
};

static int endpoint_seq;

/* ---- the fake agent --------------------------------------------------------------------- */

static void
send_raw(struct fake *f, const void *buf, size_t len)
{
	zmq_send(f->router, f->cur_ident, f->cur_ident_len, ZMQ_SNDMORE);
	zmq_send(f->router, buf, len, 0);
}

static void
send_response(struct fake *f, const Response *rsp)
{
	size_t len = cachekit__agent__v1__response__get_packed_size(rsp);
	uint8_t *buf = malloc(len + 1);

	cachekit__agent__v1__response__pack(rsp, buf);
	send_raw(f, buf, len);
	free(buf);
}

static const char handle_bytes[] = {1, 2, 0, 3};

/* Answers req as a one-entry store would, with the given id, status and message. */
static void
answer(struct fake *f, const Request *req, uint64_t id, int32_t status, const char *message)
{
	Response rsp = CACHEKIT__AGENT__V1__RESPONSE__INIT;
	Cachekit__Agent__V1__GetResult get = CACHEKIT__AGENT__V1__GET_RESULT__INIT;
	Cachekit__Agent__V1__SetResult set = CACHEKIT__AGENT__V1__SET_RESULT__INIT;
	Cachekit__Agent__V1__DeleteResult del = CACHEKIT__AGENT__V1__DELETE_RESULT__INIT;
	Cachekit__Agent__V1__ExistsResult ex = CACHEKIT__AGENT__V1__EXISTS_RESULT__INIT;
	Cachekit__Agent__V1__GetTtlResult gt = CACHEKIT__AGENT__V1__GET_TTL_RESULT__INIT;
	Cachekit__Agent__V1__RefreshTtlResult rt = CACHEKIT__AGENT__V1__REFRESH_TTL_RESULT__INIT;
	Cachekit__Agent__V1__AcquireLockResult al = CACHEKIT__AGENT__V1__ACQUIRE_LOCK_RESULT__INIT;
	Cachekit__Agent__V1__ReleaseLockResult rl = CACHEKIT__AGENT__V1__RELEASE_LOCK_RESULT__INIT;
	Cachekit__Agent__V1__HealthResult h = CACHEKIT__AGENT__V1__HEALTH_RESULT__INIT;
	Cachekit__Agent__V1__StatsResult st = CACHEKIT__AGENT__V1__STATS_RESULT__INIT;
	Cachekit__Agent__V1__Stat s1 = CACHEKIT__AGENT__V1__STAT__INIT;
	Cachekit__Agent__V1__Stat s2 = CACHEKIT__AGENT__V1__STAT__INIT;
	Cachekit__Agent__V1__Stat s3 = CACHEKIT__AGENT__V1__STAT__INIT;
	Cachekit__Agent__V1__Stat *stats[3] = {&s1, &s2, &s3};
	bool hit;

	rsp.id = id;
	rsp.status = status;
	rsp.message = (char *)(message ? message : "");
	switch (req->op_case) {
	case CACHEKIT__AGENT__V1__REQUEST__OP_GET:
		hit = f->have_stored && strcmp(f->stored_key, req->get->key) == 0;
		get.found = hit;
		if (hit) {
			get.value.data = f->stored;
			get.value.len = f->stored_len;
			get.freshness = CACHEKIT__AGENT__V1__FRESHNESS__FRESHNESS_STALE;
			get.fresh_for_ms = 1500;
			get.refresh_due = true;
		}
		rsp.result_case = CACHEKIT__AGENT__V1__RESPONSE__RESULT_GET;
		rsp.get = &get;
		break;
	case CACHEKIT__AGENT__V1__REQUEST__OP_SET:
		free(f->stored);
		f->stored = malloc(req->set->value.len + 1);
		if (req->set->value.len > 0)
			memcpy(f->stored, req->set->value.data, req->set->value.len);
		f->stored_len = req->set->value.len;
		snprintf(f->stored_key, sizeof(f->stored_key), "%s", req->set->key);
		f->have_stored = true;
		rsp.result_case = CACHEKIT__AGENT__V1__RESPONSE__RESULT_SET;
		rsp.set = &set;
		break;
	case CACHEKIT__AGENT__V1__REQUEST__OP_DELETE:
		del.existed = f->have_stored && strcmp(f->stored_key, req->delete_->key) == 0;
		if (del.existed)
			f->have_stored = false;
		rsp.result_case = CACHEKIT__AGENT__V1__RESPONSE__RESULT_DELETE;
		rsp.delete_ = &del;
		break;
	case CACHEKIT__AGENT__V1__REQUEST__OP_EXISTS:
		ex.exists = f->have_stored && strcmp(f->stored_key, req->exists->key) == 0;
		rsp.result_case = CACHEKIT__AGENT__V1__RESPONSE__RESULT_EXISTS;
		rsp.exists = &ex;
		break;
	case CACHEKIT__AGENT__V1__REQUEST__OP_GET_TTL:
		gt.found = f->have_stored && strcmp(f->stored_key, req->get_ttl->key) == 0;
		gt.ttl_s = gt.found ? 42 : 0;
		rsp.result_case = CACHEKIT__AGENT__V1__RESPONSE__RESULT_GET_TTL;
		rsp.get_ttl = &gt;
		break;
	case CACHEKIT__AGENT__V1__REQUEST__OP_REFRESH_TTL:
		rt.refreshed = f->have_stored && strcmp(f->stored_key, req->refresh_ttl->key) == 0;
		rsp.result_case = CACHEKIT__AGENT__V1__RESPONSE__RESULT_REFRESH_TTL;
		rsp.refresh_ttl = &rt;
		break;
	case CACHEKIT__AGENT__V1__REQUEST__OP_ACQUIRE_LOCK:
		al.acquired = strcmp(req->acquire_lock->name, "busy") != 0;
		if (al.acquired) {
			al.handle.data = (uint8_t *)handle_bytes;
			al.handle.len = sizeof(handle_bytes);
			al.lease_ms = 1234;
		}
		rsp.result_case = CACHEKIT__AGENT__V1__RESPONSE__RESULT_ACQUIRE_LOCK;
		rsp.acquire_lock = &al;
		break;
	case CACHEKIT__AGENT__V1__REQUEST__OP_RELEASE_LOCK:
		rl.released = req->release_lock->handle.len == sizeof(handle_bytes) &&
		              memcmp(req->release_lock->handle.data, handle_bytes,
		                     sizeof(handle_bytes)) == 0;
		rsp.result_case = CACHEKIT__AGENT__V1__RESPONSE__RESULT_RELEASE_LOCK;
		rsp.release_lock = &rl;
		break;
	case CACHEKIT__AGENT__V1__REQUEST__OP_HEALTH:
		h.healthy = true;
		h.backend_type = "memory";
		h.latency_ms = 0.25;
		h.api_url = "memory:";
		h.version = "unknown";
		h.agent_version = "9.9.9";
		rsp.result_case = CACHEKIT__AGENT__V1__RESPONSE__RESULT_HEALTH;
		rsp.health = &h;
		break;
	case CACHEKIT__AGENT__V1__REQUEST__OP_STATS:
		s1.name = "zeta";
		s1.value = 3;
		s2.name = "alpha";
		s2.value = 1;
		s3.name = "mid";
		s3.value = 2.5;
		st.n_stats = 3;
		st.stats = stats;
		rsp.result_case = CACHEKIT__AGENT__V1__RESPONSE__RESULT_STATS;
		rsp.stats = &st;
		break;
	default:
		break;
	}
	send_response(f, &rsp);
}

static void
script_echo(struct fake *f, const Request *req)
{
	answer(f, req, req->id, 0, NULL);
}

static void
script_silent(struct fake *f, const Request *req)
{
}

static void
script_status(struct fake *f, const Request *req)
{
	if (f->wrong_result) {
		Response rsp = CACHEKIT__AGENT__V1__RESPONSE__INIT;
		Cachekit__Agent__V1__SetResult set = CACHEKIT__AGENT__V1__SET_RESULT__INIT;
		rsp.id = req->id;
		rsp.result_case = CACHEKIT__AGENT__V1__RESPONSE__RESULT_SET;
		rsp.set = &set;
		send_response(f, &rsp);
		return;
	}
	answer(f, req, req->id, f->status, f->message);
}

/* First request: silence (the caller times out). Later ones: first the answer to the
 * abandoned request (old id, value "stale"), then the real one. */
static void
script_late(struct fake *f, const Request *req)
{
	static const char late[] = "stale";
	if (f->held_id == 0) {
		f->held_id = req->id;
		return;
	}
	free(f->stored);
	f->stored = malloc(sizeof(late));
	memcpy(f->stored, late, sizeof(late) - 1);
	f->stored_len = sizeof(late) - 1;
	snprintf(f->stored_key, sizeof(f->stored_key), "%s", req->get->key);
	f->have_stored = true;
	answer(f, req, f->held_id, 0, NULL);
	f->stored[0] = 'S'; /* the right reply says "Stale" */
	answer(f, req, req->id, 0, NULL);
}

static void
script_foreign_ids(struct fake *f, const Request *req)
{
	answer(f, req, req->id + 1000, CK_EINTERNAL, "not yours");
	answer(f, req, 0, CK_EINTERNAL, "not yours either");
	answer(f, req, req->id, 0, NULL);
}

static void
script_malformed(struct fake *f, const Request *req)
{
	static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff};
	uint8_t right_id_then_garbage[16];
	size_t n = 0;
	uint64_t id = req->id;

	send_raw(f, garbage, sizeof(garbage));
	/* Starts like the right reply (field 1 = the id) but the next field is truncated. */
	right_id_then_garbage[n++] = 0x08;
	do {
		right_id_then_garbage[n++] = (uint8_t)((id & 0x7f) | (id > 0x7f ? 0x80 : 0));
		id >>= 7;
	} while (id != 0);
	right_id_then_garbage[n++] = 0x1a; /* field 3, length-delimited */
	right_id_then_garbage[n++] = 0x7f; /* claims 127 bytes; none follow */
	send_raw(f, right_id_then_garbage, n);
	/* A two-part message is never a Response. */
	zmq_send(f->router, f->cur_ident, f->cur_ident_len, ZMQ_SNDMORE);
	zmq_send(f->router, "a", 1, ZMQ_SNDMORE);
	zmq_send(f->router, "b", 1, 0);
	send_raw(f, "", 0);
	answer(f, req, req->id, 0, NULL);
}

static void *
fake_main(void *arg)
{
	struct fake *f = arg;

	while (!atomic_load(&f->stop)) {
		zmq_pollitem_t item = {f->router, 0, ZMQ_POLLIN, 0};
		zmq_msg_t part;
		Request *req;
		int more;

		if (zmq_poll(&item, 1, 20) <= 0)
			continue;
		int n = zmq_recv(f->router, f->cur_ident, sizeof(f->cur_ident), ZMQ_DONTWAIT);
		if (n < 0)
			continue;
		f->cur_ident_len = (size_t)n;
		zmq_msg_init(&part);
		if (zmq_msg_recv(&part, f->router, 0) < 0) {
			zmq_msg_close(&part);
			continue;
		}
		more = zmq_msg_more(&part);
		pthread_mutex_lock(&f->mu);
		free(f->last_req);
		f->last_req_len = zmq_msg_size(&part);
		f->last_req = malloc(f->last_req_len + 1);
		memcpy(f->last_req, zmq_msg_data(&part), f->last_req_len);
		if (f->nreq < MAX_RECORDED) {
			memcpy(f->ident[f->nreq], f->cur_ident, f->cur_ident_len);
			f->ident_len[f->nreq] = f->cur_ident_len;
		}
		f->nreq++;
		pthread_mutex_unlock(&f->mu);
		req = more ? NULL
		           : cachekit__agent__v1__request__unpack(NULL, zmq_msg_size(&part),
		                                                  zmq_msg_data(&part));
		zmq_msg_close(&part);
		if (req != NULL) {
			f->script(f, req);
			cachekit__agent__v1__request__free_unpacked(req, NULL);
		}
	}
	return NULL;
}

static void
fake_bind(struct fake *f, fake_script script)
{
	int linger = 0;

	f->script = script;
	atomic_store(&f->stop, 0);
	f->ctx = zmq_ctx_new();
	f->router = zmq_socket(f->ctx, ZMQ_ROUTER);
	zmq_setsockopt(f->router, ZMQ_LINGER, &linger, sizeof(linger));
	CU_ASSERT_FATAL(zmq_bind(f->router, f->endpoint) == 0);
	CU_ASSERT_FATAL(pthread_create(&f->thread, NULL, fake_main, f) == 0);
}

static void
fake_unbind(struct fake *f)
{
	atomic_store(&f->stop, 1);
	pthread_join(f->thread, NULL);
	zmq_close(f->router);
	zmq_ctx_term(f->ctx);
	f->router = NULL;
	f->ctx = NULL;
	unlink(f->endpoint + strlen("ipc://")); /* libzmq leaves the socket file behind */
}

static struct fake *
fake_start(fake_script script)
{
	struct fake *f = calloc(1, sizeof(*f));

	snprintf(f->endpoint, sizeof(f->endpoint), "ipc:///tmp/ck-test-client-%d-%d.sock",
	         (int)getpid(), endpoint_seq++);
	pthread_mutex_init(&f->mu, NULL);
	fake_bind(f, script);
	return f;
}

static void
fake_stop(struct fake *f)
{
	fake_unbind(f);
	pthread_mutex_destroy(&f->mu);
	free(f->last_req);
	free(f->stored);
	free(f);
}

static int
fake_nreq(struct fake *f)
{
	int n;
	pthread_mutex_lock(&f->mu);
	n = f->nreq;
	pthread_mutex_unlock(&f->mu);
	return n;
}

/* The last request the fake received, decoded; free with free_request(). */
static Request *
last_request(struct fake *f)
{
	Request *req;
	pthread_mutex_lock(&f->mu);
	req = f->last_req ? cachekit__agent__v1__request__unpack(NULL, f->last_req_len, f->last_req)
	                  : NULL;
	pthread_mutex_unlock(&f->mu);
	return req;
}

static void
free_request(Request *req)
{
	if (req != NULL)
		cachekit__agent__v1__request__free_unpacked(req, NULL);
}

static ck_client *
open_client(const struct fake *f, const char *ns, uint32_t timeout_ms)
{
	ck_client_opts o = CK_CLIENT_OPTS_INIT;
	ck_client *c = NULL;

	o.endpoint = f ? f->endpoint : "ipc:///tmp/ck-test-client-nobody.sock";
	o.ns = ns;
	o.timeout_ms = timeout_ms;
	CU_ASSERT_FATAL(ck_client_open(&c, &o) == CK_OK);
	CU_ASSERT_FATAL(c != NULL);
	return c;
}

/* ---- encoding ----------------------------------------------------------------------------- */

static void
test_get_encodes_key_secure_namespace_and_deadline(void)
{
	struct fake *f = fake_start(script_echo);
	ck_client *c = open_client(f, "team", OK_TIMEOUT_MS);
	ck_get_opts go = CK_GET_OPTS_INIT;
	ck_value *v = NULL;
	Request *req;

	go.secure = true;
	CU_ASSERT_EQUAL(ck_get(c, "user:1", &go, &v), CK_ENOTFOUND);
	CU_ASSERT_PTR_NULL(v);
	req = last_request(f);
	CU_ASSERT_FATAL(req != NULL);
	CU_ASSERT_EQUAL(req->op_case, CACHEKIT__AGENT__V1__REQUEST__OP_GET);
	CU_ASSERT_STRING_EQUAL(req->get->key, "user:1");
	CU_ASSERT_TRUE(req->get->secure);
	CU_ASSERT_STRING_EQUAL(req->namespace_, "team");
	CU_ASSERT_EQUAL(req->deadline_ms, OK_TIMEOUT_MS);
	CU_ASSERT_NOT_EQUAL(req->id, 0);
	free_request(req);

	/* Per-call overrides: another namespace and timeout; then "" for no namespace. */
	go.secure = false;
	go.call.ns = "other";
	go.call.timeout_ms = 4321;
	CU_ASSERT_EQUAL(ck_get(c, "k", &go, &v), CK_ENOTFOUND);
	req = last_request(f);
	CU_ASSERT_FATAL(req != NULL);
	CU_ASSERT_STRING_EQUAL(req->namespace_, "other");
	CU_ASSERT_EQUAL(req->deadline_ms, 4321);
	CU_ASSERT_FALSE(req->get->secure);
	free_request(req);

	go.call.ns = "";
	CU_ASSERT_EQUAL(ck_get(c, "k", &go, &v), CK_ENOTFOUND);
	req = last_request(f);
	CU_ASSERT_FATAL(req != NULL);
	CU_ASSERT_STRING_EQUAL(req->namespace_, "");
	free_request(req);

	ck_client_close(c);
	fake_stop(f);
}

static void
test_set_encodes_value_and_every_option(void)
{
	struct fake *f = fake_start(script_echo);
	ck_client *c = open_client(f, NULL, OK_TIMEOUT_MS);
	ck_set_opts so = CK_SET_OPTS_INIT;
	Request *req;

	so.ttl_s = 60;
	so.stale_ttl_s = 30;
	so.secure = true;
	so.sliding = true;
	so.format = "json";
	CU_ASSERT_EQUAL(ck_set(c, "k1", "hello", 5, &so), CK_OK);
	req = last_request(f);
	CU_ASSERT_FATAL(req != NULL);
	CU_ASSERT_EQUAL(req->op_case, CACHEKIT__AGENT__V1__REQUEST__OP_SET);
	CU_ASSERT_STRING_EQUAL(req->set->key, "k1");
	CU_ASSERT_EQUAL(req->set->value.len, 5);
	CU_ASSERT_EQUAL(memcmp(req->set->value.data, "hello", 5), 0);
	CU_ASSERT_EQUAL(req->set->ttl_s, 60);
	CU_ASSERT_EQUAL(req->set->stale_ttl_s, 30);
	CU_ASSERT_TRUE(req->set->secure);
	CU_ASSERT_TRUE(req->set->sliding);
	CU_ASSERT_STRING_EQUAL(req->set->format, "json");
	CU_ASSERT_STRING_EQUAL(req->namespace_, "");
	free_request(req);

	/* Defaults: no options at all. */
	CU_ASSERT_EQUAL(ck_set(c, "k2", "", 0, NULL), CK_OK);
	req = last_request(f);
	CU_ASSERT_FATAL(req != NULL);
	CU_ASSERT_EQUAL(req->set->value.len, 0);
	CU_ASSERT_EQUAL(req->set->ttl_s, 0);
	CU_ASSERT_FALSE(req->set->secure);
	CU_ASSERT_STRING_EQUAL(req->set->format, "");
	free_request(req);

	ck_client_close(c);
	fake_stop(f);
}

static void
test_request_ids_are_fresh_and_nonzero(void)
{
	struct fake *f = fake_start(script_echo);
	ck_client *c = open_client(f, NULL, OK_TIMEOUT_MS);
	uint64_t ids[4];
	bool exists;
	Request *req;
	int i, j;

	for (i = 0; i < 4; i++) {
		CU_ASSERT_EQUAL(ck_exists(c, "k", NULL, &exists), CK_OK);
		req = last_request(f);
		CU_ASSERT_FATAL(req != NULL);
		ids[i] = req->id;
		CU_ASSERT_NOT_EQUAL(ids[i], 0);
		free_request(req);
	}
	for (i = 0; i < 4; i++)
		for (j = i + 1; j < 4; j++)
			CU_ASSERT_NOT_EQUAL(ids[i], ids[j]);
	ck_client_close(c);
	fake_stop(f);
}

/* ---- operations ------------------------------------------------------------------------- */

static void
test_binary_value_with_nul_bytes_round_trips(void)
{
	static const uint8_t value[] = {'a', 0, 'b', 0, 0, 0xff, 0x80, 'z'};
	struct fake *f = fake_start(script_echo);
	ck_client *c = open_client(f, NULL, OK_TIMEOUT_MS);
	ck_value *v = NULL;

	CU_ASSERT_EQUAL(ck_set(c, "bin", value, sizeof(value), NULL), CK_OK);
	CU_ASSERT_EQUAL_FATAL(ck_get(c, "bin", NULL, &v), CK_OK);
	CU_ASSERT_FATAL(v != NULL);
	CU_ASSERT_EQUAL(v->len, sizeof(value));
	CU_ASSERT_EQUAL(memcmp(v->data, value, sizeof(value)), 0);
	CU_ASSERT_EQUAL(v->data[v->len], 0);
	CU_ASSERT_EQUAL(v->freshness, CK_FRESHNESS_STALE);
	CU_ASSERT_EQUAL(v->fresh_for_ms, 1500);
	CU_ASSERT_TRUE(v->refresh_due);
	ck_value_free(v);
	ck_client_close(c);
	fake_stop(f);
}

static void
test_delete_exists_ttl_and_touch_report_results(void)
{
	struct fake *f = fake_start(script_echo);
	ck_client *c = open_client(f, NULL, OK_TIMEOUT_MS);
	bool flag = true;
	int64_t ttl = 0;
	Request *req;

	CU_ASSERT_EQUAL(ck_exists(c, "k", NULL, &flag), CK_OK);
	CU_ASSERT_FALSE(flag);
	CU_ASSERT_EQUAL(ck_get_ttl(c, "k", NULL, &ttl), CK_ENOTFOUND);
	flag = true;
	CU_ASSERT_EQUAL(ck_refresh_ttl(c, "k", 10, NULL, &flag), CK_OK);
	CU_ASSERT_FALSE(flag);

	CU_ASSERT_EQUAL(ck_set(c, "k", "v", 1, NULL), CK_OK);
	CU_ASSERT_EQUAL(ck_exists(c, "k", NULL, &flag), CK_OK);
	CU_ASSERT_TRUE(flag);
	CU_ASSERT_EQUAL(ck_get_ttl(c, "k", NULL, &ttl), CK_OK);
	CU_ASSERT_EQUAL(ttl, 42);
	CU_ASSERT_EQUAL(ck_refresh_ttl(c, "k", 77, NULL, &flag), CK_OK);
	CU_ASSERT_TRUE(flag);
	req = last_request(f);
	CU_ASSERT_FATAL(req != NULL);
	CU_ASSERT_EQUAL(req->op_case, CACHEKIT__AGENT__V1__REQUEST__OP_REFRESH_TTL);
	CU_ASSERT_STRING_EQUAL(req->refresh_ttl->key, "k");
	CU_ASSERT_EQUAL(req->refresh_ttl->ttl_s, 77);
	free_request(req);

	CU_ASSERT_EQUAL(ck_delete(c, "k", NULL, &flag), CK_OK);
	CU_ASSERT_TRUE(flag);
	req = last_request(f);
	CU_ASSERT_FATAL(req != NULL);
	CU_ASSERT_EQUAL(req->op_case, CACHEKIT__AGENT__V1__REQUEST__OP_DELETE);
	CU_ASSERT_STRING_EQUAL(req->delete_->key, "k");
	free_request(req);
	CU_ASSERT_EQUAL(ck_delete(c, "k", NULL, &flag), CK_OK);
	CU_ASSERT_FALSE(flag);
	CU_ASSERT_EQUAL(ck_delete(c, "k", NULL, NULL), CK_OK);

	ck_client_close(c);
	fake_stop(f);
}

static void
test_lock_acquire_and_release_carry_the_handle(void)
{
	struct fake *f = fake_start(script_echo);
	ck_client *c = open_client(f, NULL, OK_TIMEOUT_MS);
	ck_lock_opts lo = CK_LOCK_OPTS_INIT;
	ck_lock *lock = NULL;
	Request *req;

	lo.lease_ms = 9000;
	lo.wait_ms = 100;
	CU_ASSERT_EQUAL_FATAL(ck_lock_acquire(c, "job", &lo, &lock), CK_OK);
	CU_ASSERT_FATAL(lock != NULL);
	CU_ASSERT_EQUAL(ck_lock_lease_ms(lock), 1234);
	req = last_request(f);
	CU_ASSERT_FATAL(req != NULL);
	CU_ASSERT_EQUAL(req->op_case, CACHEKIT__AGENT__V1__REQUEST__OP_ACQUIRE_LOCK);
	CU_ASSERT_STRING_EQUAL(req->acquire_lock->name, "job");
	CU_ASSERT_EQUAL(req->acquire_lock->lease_ms, 9000);
	CU_ASSERT_EQUAL(req->acquire_lock->wait_ms, 100);
	free_request(req);

	/* The fake releases only when the exact handle bytes (with their NUL) come back. */
	CU_ASSERT_EQUAL(ck_lock_release(c, lock, NULL), CK_OK);
	req = last_request(f);
	CU_ASSERT_FATAL(req != NULL);
	CU_ASSERT_EQUAL(req->op_case, CACHEKIT__AGENT__V1__REQUEST__OP_RELEASE_LOCK);
	CU_ASSERT_EQUAL(req->release_lock->handle.len, sizeof(handle_bytes));
	free_request(req);

	lock = NULL;
	CU_ASSERT_EQUAL(ck_lock_acquire(c, "busy", NULL, &lock), CK_EBUSY);
	CU_ASSERT_PTR_NULL(lock);
	ck_client_close(c);
	fake_stop(f);
}

static void
test_health_and_stats_are_copied_and_stats_sorted(void)
{
	struct fake *f = fake_start(script_echo);
	ck_client *c = open_client(f, NULL, OK_TIMEOUT_MS);
	ck_health *h = NULL;
	ck_stats *s = NULL;

	CU_ASSERT_EQUAL_FATAL(ck_health_check(c, NULL, &h), CK_OK);
	CU_ASSERT_TRUE(h->healthy);
	CU_ASSERT_STRING_EQUAL(h->backend_type, "memory");
	CU_ASSERT_STRING_EQUAL(h->api_url, "memory:");
	CU_ASSERT_STRING_EQUAL(h->agent_version, "9.9.9");
	CU_ASSERT_STRING_EQUAL(h->error, "");
	CU_ASSERT_DOUBLE_EQUAL(h->latency_ms, 0.25, 1e-9);
	ck_health_free(h);

	CU_ASSERT_EQUAL_FATAL(ck_stats_get(c, NULL, &s), CK_OK);
	CU_ASSERT_EQUAL_FATAL(s->count, 3);
	CU_ASSERT_STRING_EQUAL(s->items[0].name, "alpha");
	CU_ASSERT_STRING_EQUAL(s->items[1].name, "mid");
	CU_ASSERT_STRING_EQUAL(s->items[2].name, "zeta");
	CU_ASSERT_DOUBLE_EQUAL(s->items[1].value, 2.5, 1e-9);
	ck_stats_free(s);
	ck_client_close(c);
	fake_stop(f);
}

/* ---- errors ------------------------------------------------------------------------------ */

static void
test_status_numbers_map_to_error_codes(void)
{
	struct fake *f = fake_start(script_status);
	ck_client *c = open_client(f, NULL, OK_TIMEOUT_MS);
	ck_value *v = NULL;
	bool flag;

	f->status = CK_EINVALKEY;
	CU_ASSERT_EQUAL(ck_get(c, "bad key", NULL, &v), CK_EINVALKEY);
	f->status = CK_ETOOBIG;
	CU_ASSERT_EQUAL(ck_set(c, "k", "v", 1, NULL), CK_ETOOBIG);
	f->status = CK_ECONFLICT;
	CU_ASSERT_EQUAL(ck_refresh_ttl(c, "k", 5, NULL, &flag), CK_ECONFLICT);
	f->status = CK_EOVERLOAD;
	CU_ASSERT_EQUAL(ck_exists(c, "k", NULL, &flag), CK_EOVERLOAD);
	f->status = 999;
	CU_ASSERT_EQUAL(ck_exists(c, "k", NULL, &flag), CK_EPROTO);
	f->status = -1;
	CU_ASSERT_EQUAL(ck_exists(c, "k", NULL, &flag), CK_EPROTO);
	/* Status OK but the result of another operation. */
	f->status = 0;
	f->wrong_result = true;
	CU_ASSERT_EQUAL(ck_get(c, "k", NULL, &v), CK_EPROTO);
	CU_ASSERT_PTR_NULL(v);
	ck_client_close(c);
	fake_stop(f);
}

static void
test_last_message_holds_agent_text_until_next_call(void)
{
	struct fake *f = fake_start(script_status);
	ck_client *c = open_client(f, NULL, OK_TIMEOUT_MS);
	bool flag;

	CU_ASSERT_STRING_EQUAL(ck_client_last_message(c), "");
	f->status = CK_EDENIED;
	snprintf(f->message, sizeof(f->message), "uid 1000 may not use namespace x");
	CU_ASSERT_EQUAL(ck_exists(c, "k", NULL, &flag), CK_EDENIED);
	CU_ASSERT_STRING_EQUAL(ck_client_last_message(c), "uid 1000 may not use namespace x");
	f->status = 0;
	f->message[0] = '\0';
	CU_ASSERT_EQUAL(ck_exists(c, "k", NULL, &flag), CK_OK);
	CU_ASSERT_STRING_EQUAL(ck_client_last_message(c), "");
	ck_client_close(c);
	fake_stop(f);
}

static void
test_client_side_checks_send_nothing(void)
{
	static const char small[1] = {0};
	struct fake *f = fake_start(script_echo);
	ck_client *c = open_client(f, NULL, OK_TIMEOUT_MS);
	ck_value *v = NULL;
	bool flag;

	CU_ASSERT_EQUAL(ck_get(c, NULL, NULL, &v), CK_EINVAL);
	CU_ASSERT_EQUAL(ck_set(c, NULL, "v", 1, NULL), CK_EINVAL);
	CU_ASSERT_EQUAL(ck_set(c, "k", NULL, 3, NULL), CK_EINVAL);
	CU_ASSERT_EQUAL(ck_exists(c, NULL, NULL, &flag), CK_EINVAL);
	/* The length is checked before the bytes are read, so a short buffer is safe here. */
	CU_ASSERT_EQUAL(ck_set(c, "k", small, STUB_MAX_VALUE + 1, NULL), CK_ETOOBIG);
	CU_ASSERT_EQUAL(ck_lock_acquire(c, NULL, NULL, NULL), CK_EINVAL);
	CU_ASSERT_EQUAL(fake_nreq(f), 0);
	ck_client_close(c);
	fake_stop(f);
}

static void
test_open_reads_environment(void)
{
	struct fake *f = fake_start(script_echo);
	ck_client *c = NULL;
	bool flag = true;
	Request *req;

	setenv("CACHEKIT_AGENT_ENDPOINT", f->endpoint, 1);
	setenv("CACHEKIT_TIMEOUT", "2.5", 1);
	CU_ASSERT_EQUAL_FATAL(ck_client_open(&c, NULL), CK_OK);
	CU_ASSERT_EQUAL(ck_exists(c, "k", NULL, &flag), CK_OK);
	CU_ASSERT_FALSE(flag);
	req = last_request(f);
	CU_ASSERT_FATAL(req != NULL);
	CU_ASSERT_EQUAL(req->deadline_ms, 2500);
	free_request(req);
	/* set_timeout applies to later calls; 0 restores the open-time default. */
	ck_client_set_timeout(c, 1234);
	CU_ASSERT_EQUAL(ck_exists(c, "k", NULL, &flag), CK_OK);
	req = last_request(f);
	CU_ASSERT_FATAL(req != NULL);
	CU_ASSERT_EQUAL(req->deadline_ms, 1234);
	free_request(req);
	ck_client_set_timeout(c, 0);
	CU_ASSERT_EQUAL(ck_exists(c, "k", NULL, &flag), CK_OK);
	req = last_request(f);
	CU_ASSERT_FATAL(req != NULL);
	CU_ASSERT_EQUAL(req->deadline_ms, 2500);
	free_request(req);
	ck_client_close(c);

	c = NULL;
	setenv("CACHEKIT_TIMEOUT", "soon", 1);
	CU_ASSERT_EQUAL(ck_client_open(&c, NULL), CK_ECONFIG);
	CU_ASSERT_PTR_NULL(c);
	unsetenv("CACHEKIT_TIMEOUT");
	unsetenv("CACHEKIT_AGENT_ENDPOINT");
	fake_stop(f);
}

/* ---- deadlines, stale replies, restarts, fork ------------------------------------------- */

static void
test_call_without_answer_times_out(void)
{
	struct fake *f = fake_start(script_silent);
	ck_client *c = open_client(f, NULL, SHORT_TIMEOUT_MS);
	ck_value *v = NULL;

	CU_ASSERT_EQUAL(ck_get(c, "k", NULL, &v), CK_ETIMEDOUT);
	CU_ASSERT_PTR_NULL(v);
	CU_ASSERT_EQUAL(fake_nreq(f), 1);
	/* A local timeout names the endpoint, so a wrong or dead agent path is easy to spot. */
	CU_ASSERT_PTR_NOT_NULL(strstr(ck_client_last_message(c), f->endpoint));
	ck_client_close(c);
	fake_stop(f);
}

static void
test_call_without_agent_times_out(void)
{
	ck_client *c = open_client(NULL, NULL, SHORT_TIMEOUT_MS);
	bool flag;

	CU_ASSERT_EQUAL(ck_exists(c, "k", NULL, &flag), CK_ETIMEDOUT);
	CU_ASSERT_EQUAL(ck_exists(c, "k", NULL, &flag), CK_ETIMEDOUT);
	ck_client_close(c);
}

static void
test_late_reply_is_not_returned_to_next_call(void)
{
	struct fake *f = fake_start(script_late);
	ck_client *c = open_client(f, NULL, OK_TIMEOUT_MS);
	ck_get_opts go = CK_GET_OPTS_INIT;
	ck_value *v = NULL;

	go.call.timeout_ms = SHORT_TIMEOUT_MS;
	CU_ASSERT_EQUAL(ck_get(c, "k", &go, &v), CK_ETIMEDOUT);
	CU_ASSERT_EQUAL_FATAL(ck_get(c, "k", NULL, &v), CK_OK);
	CU_ASSERT_FATAL(v != NULL);
	CU_ASSERT_EQUAL(v->len, 5);
	CU_ASSERT_STRING_EQUAL((const char *)v->data, "Stale");
	ck_value_free(v);
	CU_ASSERT_EQUAL(fake_nreq(f), 2);
	ck_client_close(c);
	fake_stop(f);
}

static void
test_replies_with_unknown_ids_are_dropped(void)
{
	struct fake *f = fake_start(script_foreign_ids);
	ck_client *c = open_client(f, NULL, OK_TIMEOUT_MS);
	bool flag = true;

	CU_ASSERT_EQUAL(ck_exists(c, "k", NULL, &flag), CK_OK);
	CU_ASSERT_FALSE(flag);
	CU_ASSERT_STRING_EQUAL(ck_client_last_message(c), "");
	ck_client_close(c);
	fake_stop(f);
}

static void
test_malformed_reply_frames_are_ignored(void)
{
	struct fake *f = fake_start(script_malformed);
	ck_client *c = open_client(f, NULL, OK_TIMEOUT_MS);
	int64_t ttl = 0;

	CU_ASSERT_EQUAL(ck_get_ttl(c, "k", NULL, &ttl), CK_ENOTFOUND);
	CU_ASSERT_EQUAL(ck_set(c, "k", "v", 1, NULL), CK_OK);
	CU_ASSERT_EQUAL(ck_get_ttl(c, "k", NULL, &ttl), CK_OK);
	CU_ASSERT_EQUAL(ttl, 42);
	ck_client_close(c);
	fake_stop(f);
}

static void
test_agent_restart_is_picked_up_without_reopening(void)
{
	struct fake *f = fake_start(script_echo);
	ck_client *c = open_client(f, NULL, OK_TIMEOUT_MS);
	bool flag = false;

	CU_ASSERT_EQUAL(ck_set(c, "k", "v", 1, NULL), CK_OK);
	CU_ASSERT_EQUAL(ck_exists(c, "k", NULL, &flag), CK_OK);
	CU_ASSERT_TRUE(flag);
	/* Restart: the new agent has an empty store, so "false" proves it answered. */
	fake_unbind(f);
	f->have_stored = false;
	fake_bind(f, script_echo);
	CU_ASSERT_EQUAL(ck_exists(c, "k", NULL, &flag), CK_OK);
	CU_ASSERT_FALSE(flag);
	ck_client_close(c);
	fake_stop(f);
}

static void
test_agent_restart_after_a_timeout(void)
{
	struct fake *f = fake_start(script_silent);
	ck_client *c = open_client(f, NULL, OK_TIMEOUT_MS);
	ck_call_opts co = CK_CALL_OPTS_INIT;
	bool flag = true;

	co.timeout_ms = SHORT_TIMEOUT_MS;
	CU_ASSERT_EQUAL(ck_exists(c, "k", &co, &flag), CK_ETIMEDOUT);
	fake_unbind(f);
	fake_bind(f, script_echo);
	CU_ASSERT_EQUAL(ck_exists(c, "k", NULL, &flag), CK_OK);
	CU_ASSERT_FALSE(flag);
	ck_client_close(c);
	fake_stop(f);
}

static bool
same_ident(struct fake *f, int a, int b)
{
	bool same;
	pthread_mutex_lock(&f->mu);
	same = f->ident_len[a] == f->ident_len[b] &&
	       memcmp(f->ident[a], f->ident[b], f->ident_len[a]) == 0;
	pthread_mutex_unlock(&f->mu);
	return same;
}

static void
test_forked_child_uses_its_own_connection(void)
{
	struct fake *f = fake_start(script_echo);
	ck_client *c = open_client(f, NULL, OK_TIMEOUT_MS);
	ck_value *v = NULL;
	int status = -1;
	pid_t pid;

	CU_ASSERT_EQUAL(ck_set(c, "k", "parent", 6, NULL),
	                CK_OK); /* the parent's socket now exists */
	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		ck_err rv = ck_get(c, "k", NULL, &v);
		int code = rv == CK_OK ? (v->len == 6 && memcmp(v->data, "parent", 6) == 0 ? 0 : 99)
		                       : 10 + (int)rv;
		/* _exit: the child must not run the parent's atexit handlers or test runner. */
		_exit(code);
	}
	CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
	CU_ASSERT_TRUE(WIFEXITED(status));
	CU_ASSERT_EQUAL(WEXITSTATUS(status), 0);

	CU_ASSERT_EQUAL_FATAL(ck_get(c, "k", NULL, &v), CK_OK);
	CU_ASSERT_EQUAL(v->len, 6);
	ck_value_free(v);
	CU_ASSERT_EQUAL_FATAL(fake_nreq(f), 3);
	/* Request 1 came from the child on a connection of its own; 0 and 2 share the parent's. */
	CU_ASSERT_FALSE(same_ident(f, 0, 1));
	CU_ASSERT_TRUE(same_ident(f, 0, 2));
	ck_client_close(c);
	fake_stop(f);
}

/* Blocking calls to an ipc:// agent speak ZMTP themselves (stubs/c/zmtp.c): no libzmq context,
 * so no I/O or reaper thread in the caller's process. CACHEKIT_STUB_TRANSPORT=libzmq brings
 * libzmq back (two threads) with the same results; any other value is a configuration error. */
static void
test_blocking_calls_start_no_threads(void)
{
	struct fake *f = fake_start(script_echo);
	int before = ck_thread_count();
	ck_client *c = open_client(f, NULL, OK_TIMEOUT_MS);
	bool flag = true;

	CU_ASSERT_FATAL(before > 0);
	CU_ASSERT_EQUAL(ck_set(c, "k", "v", 1, NULL), CK_OK);
	CU_ASSERT_EQUAL(ck_exists(c, "k", NULL, &flag), CK_OK);
	CU_ASSERT_TRUE(flag);
	CU_ASSERT_EQUAL(ck_thread_count(), before);
	ck_client_close(c);

	setenv("CACHEKIT_STUB_TRANSPORT", "libzmq", 1);
	c = open_client(f, NULL, OK_TIMEOUT_MS);
	flag = false;
	CU_ASSERT_EQUAL(ck_exists(c, "k", NULL, &flag), CK_OK);
	CU_ASSERT_TRUE(flag);
	CU_ASSERT_EQUAL(ck_thread_count(), before + 2);
	ck_client_close(c);

	setenv("CACHEKIT_STUB_TRANSPORT", "zeromq", 1);
	c = NULL;
	ck_client_opts o = CK_CLIENT_OPTS_INIT;
	o.endpoint = f->endpoint;
	CU_ASSERT_EQUAL(ck_client_open(&c, &o), CK_ECONFIG);
	CU_ASSERT_PTR_NULL(c);
	unsetenv("CACHEKIT_STUB_TRANSPORT");
	fake_stop(f);
}

static void *
unbind_after_first_request(void *arg)
{
	struct fake *f = arg;
	/* Waits for the event, not for a time: the request has reached the fake. The bound is
	 * only there so a broken stub cannot hang the suite. */
	for (int i = 0; i < 600000 && fake_nreq(f) < 1; i++)
		usleep(100);
	fake_unbind(f);
	return NULL;
}

/* An agent that goes away while a call waits ends the call at once with CK_ECONNECT, not at
 * its deadline (here 120 s; on libzmq the call sat out the whole deadline). */
static void
test_agent_gone_mid_call_fails_fast(void)
{
	struct fake *f = fake_start(script_silent);
	ck_client *c = open_client(f, NULL, 120000);
	pthread_t t;
	bool flag;

	CU_ASSERT_FATAL(pthread_create(&t, NULL, unbind_after_first_request, f) == 0);
	CU_ASSERT_EQUAL(ck_exists(c, "k", NULL, &flag), CK_ECONNECT);
	CU_ASSERT_PTR_NOT_NULL(strstr(ck_client_last_message(c), "closed"));
	pthread_join(t, NULL);
	/* The next call connects again. */
	fake_bind(f, script_echo);
	CU_ASSERT_EQUAL(ck_exists(c, "k", NULL, &flag), CK_OK);
	CU_ASSERT_FALSE(flag);
	ck_client_close(c);
	fake_stop(f);
}

static void
test_close_and_free_accept_null(void)
{
	ck_client_close(NULL);
	ck_value_free(NULL);
	ck_lock_free(NULL);
	ck_health_free(NULL);
	ck_stats_free(NULL);
	CU_ASSERT_EQUAL(ck_client_open(NULL, NULL), CK_EINVAL);
}

/* The shared TTL cap (common/ck_limits.h, 30 days) is applied before a round trip: the fake
 * agent would accept anything, so CK_EINVAL can only come from the stub. */
static void
test_ttl_beyond_the_shared_cap_is_refused_locally(void)
{
	struct fake *f = fake_start(script_echo);
	ck_client *c = open_client(f, NULL, OK_TIMEOUT_MS);
	bool flag = false;
	ck_set_opts so = {0};
	so.ttl_s = 2592001;
	CU_ASSERT_EQUAL(ck_set(c, "k", "v", 1, &so), CK_EINVAL);
	so.ttl_s = 2592000;
	so.stale_ttl_s = 1;
	CU_ASSERT_EQUAL(ck_set(c, "k", "v", 1, &so), CK_EINVAL);
	so.ttl_s = 2591999;
	CU_ASSERT_EQUAL(ck_set(c, "k", "v", 1, &so), CK_OK);
	CU_ASSERT_EQUAL(ck_refresh_ttl(c, "k", 2592001, NULL, &flag), CK_EINVAL);
	CU_ASSERT_EQUAL(ck_refresh_ttl(c, "k", 0, NULL, &flag), CK_EINVAL);
	CU_ASSERT_EQUAL(ck_refresh_ttl(c, "k", 2592000, NULL, &flag), CK_OK);
	ck_client_close(c);
	fake_stop(f);
}

static CU_TestInfo tests[] = {
        {"a TTL beyond the shared cap is refused locally",
         test_ttl_beyond_the_shared_cap_is_refused_locally},
        {"get encodes key, secure flag, namespace and deadline",
         test_get_encodes_key_secure_namespace_and_deadline},
        {"set encodes the value and every option", test_set_encodes_value_and_every_option},
        {"request ids are fresh and non-zero", test_request_ids_are_fresh_and_nonzero},
        {"binary value with NUL bytes round-trips", test_binary_value_with_nul_bytes_round_trips},
        {"delete, exists, ttl and touch report results",
         test_delete_exists_ttl_and_touch_report_results},
        {"lock acquire and release carry the handle",
         test_lock_acquire_and_release_carry_the_handle},
        {"health and stats are copied; stats sorted",
         test_health_and_stats_are_copied_and_stats_sorted},
        {"status numbers map to error codes", test_status_numbers_map_to_error_codes},
        {"last message holds the agent's text until the next call",
         test_last_message_holds_agent_text_until_next_call},
        {"client-side checks send nothing", test_client_side_checks_send_nothing},
        {"open reads CACHEKIT_AGENT_ENDPOINT and CACHEKIT_TIMEOUT", test_open_reads_environment},
        {"a call without an answer times out", test_call_without_answer_times_out},
        {"a call without an agent times out", test_call_without_agent_times_out},
        {"a late reply is not returned to the next call",
         test_late_reply_is_not_returned_to_next_call},
        {"replies with unknown ids are dropped", test_replies_with_unknown_ids_are_dropped},
        {"malformed reply frames are ignored", test_malformed_reply_frames_are_ignored},
        {"an agent restart is picked up without reopening",
         test_agent_restart_is_picked_up_without_reopening},
        {"an agent restart after a timeout is picked up", test_agent_restart_after_a_timeout},
        {"a forked child uses its own connection", test_forked_child_uses_its_own_connection},
        {"blocking calls start no threads", test_blocking_calls_start_no_threads},
        {"an agent gone mid-call fails the call at once", test_agent_gone_mid_call_fails_fast},
        {"close and free accept NULL", test_close_and_free_accept_null},
        CU_TEST_INFO_NULL,
};

CK_UNIT_SUITE("client", tests)
