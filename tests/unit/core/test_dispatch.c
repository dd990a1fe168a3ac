/* SPDX-License-Identifier: Apache-2.0 */
/* Request handlers, driven in one process without ZeroMQ: each Request is encoded and decoded
 * as the front would, handed to cki_dispatch_handle() with this process's credentials, and
 * the reply is caught by a recording reply sink. Behind dispatch: the loop, the embedded
 * store, locks, the refresh scheduler, single-flight and (for secure intent) a keyring. */
#define _GNU_SOURCE /* memmem */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cachekit/version.h"
#include "cunit_main.h"
#include "loop_turn.h"
#include "core/dispatch.h"
#include "core/storefront.h"
#include "core/nearver.h"
#include "crypto/keyring.h"
#include "base/log.h"
#include "base/metrics.h"
#include "crypto/seal.h"
#include "crypto/secmem.h"
#include "store/memory/store_memory.h"

#define MASTER_HEX "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

static int
suite_init(void)
{
	cki_log_set_level(CKI_LOG_ERROR);
	return 0;
}

typedef struct fixture {
	cki_config cfg;
	cki_loop *loop;
	cki_store *store;
	cki_locks *locks;
	cki_refresh *refresh;
	cki_l1 *l1;
	cki_flight *flight;
	cki_keyring *keyring;
	cki_dispatch *dispatch;
	cki_response *resp; /* the last reply, decoded from the bytes the front would send */
	size_t replies;     /* replies recorded since the last exchange */
	uint64_t next_id;
} fixture;

/* Defaults and a temp endpoint; tweak f->cfg, then fixture_start. */
static void
fixture_init(fixture *f)
{
	memset(f, 0, sizeof(*f));
	CU_ASSERT_EQUAL_FATAL(cki_config_defaults(&f->cfg), CK_OK);
	f->cfg.memory_limit_bytes = 4u << 20;
	f->next_id = 100;
}

/* The recording reply sink: keeps the reply as the bytes a transport would carry. */
static void
record_reply(void *arg, const cki_reply_to *to, const cki_response *resp)
{
	fixture *f = arg;
	size_t n = cachekit__agent__v1__response__get_packed_size(resp);
	uint8_t *buf = malloc(n ? n : 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
	cachekit__agent__v1__response__pack(resp, buf);
	cachekit__agent__v1__response__free_unpacked(f->resp, NULL);
	f->resp = cachekit__agent__v1__response__unpack(NULL, n, buf);
	free(buf);
	f->replies++;
	cki_loop_stop(f->loop);
}

static void
fixture_start(fixture *f, bool with_keyring, uint32_t ahead_pct)
{
	CU_ASSERT_EQUAL_FATAL(cki_config_policy(&f->cfg, stderr), CK_OK); /* typed lists */
	CU_ASSERT_EQUAL_FATAL(cki_loop_new(&f->loop), CK_OK);
	cki_store *backend = NULL;
	CU_ASSERT_EQUAL_FATAL(cki_store_memory_new(&backend, f->loop, f->cfg.memory_limit_bytes),
	                      CK_OK);
	/* As main.c wires it: everything reaches the store through the storefront. */
	CU_ASSERT_EQUAL_FATAL(cki_l1_new(&f->l1, f->cfg.l1_bytes, f->cfg.l1_ttl_ms), CK_OK);
	CU_ASSERT_EQUAL_FATAL(cki_storefront_new(&f->store, backend, f->loop, f->l1), CK_OK);
	CU_ASSERT_EQUAL_FATAL(cki_locks_new(&f->locks, f->loop, f->store), CK_OK);
	cki_refresh_opts ro = {.ahead_pct = ahead_pct, .jitter_pct = 0, .claim_ms = 10000};
	CU_ASSERT_EQUAL_FATAL(cki_refresh_new(&f->refresh, f->loop, f->store, &ro), CK_OK);
	CU_ASSERT_EQUAL_FATAL(cki_flight_new(&f->flight, f->store), CK_OK);
	if (with_keyring) {
		char why[128] = "";
		cki_secret *master = cki_secret_from((const uint8_t *)MASTER_HEX, 64);
		CU_ASSERT_PTR_NOT_NULL_FATAL(master);
		ck_err rv = cki_keyring_new(&f->keyring, f->cfg.tenant_id, master, NULL, why,
		                            sizeof(why));
		cki_secret_free(master);
		CU_ASSERT_EQUAL_FATAL(rv, CK_OK);
	}
	cki_dispatch_deps deps = {.loop = f->loop,
	                          .cfg = &f->cfg,
	                          .store = f->store,
	                          .locks = f->locks,
	                          .refresh = f->refresh,
	                          .l1 = f->l1,
	                          .flight = f->flight,
	                          .keyring = f->keyring};
	CU_ASSERT_EQUAL_FATAL(cki_dispatch_new(&f->dispatch, &deps), CK_OK);
	cki_dispatch_set_reply(f->dispatch, (cki_reply_sink){.send = record_reply, .arg = f});
	cki_metrics_reset();
}

static void
fixture_done(fixture *f)
{
	cki_locks_shutdown(f->locks);
	f->store->ops->destroy(f->store);
	cki_locks_free(f->locks);
	cki_refresh_free(f->refresh);
	cki_flight_free(f->flight);
	cki_l1_free(f->l1);
	cki_dispatch_free(f->dispatch);
	cki_keyring_free(f->keyring);
	cachekit__agent__v1__response__free_unpacked(f->resp, NULL);
	cki_loop_free(f->loop);
	cki_config_free(&f->cfg);
}

static void
on_timeout(cki_loop *loop, void *arg)
{
	cki_loop_stop(loop);
}

/* Sends req (id assigned here) and returns the reply (owned by f, valid until the next). */
static const cki_response *
exchange(fixture *f, cki_request *req)
{
	req->id = ++f->next_id;
	size_t n = cachekit__agent__v1__request__get_packed_size(req);
	uint8_t *buf = malloc(n ? n : 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
	cachekit__agent__v1__request__pack(req, buf);
	cachekit__agent__v1__response__free_unpacked(f->resp, NULL);
	f->resp = NULL;
	f->replies = 0;
	/* As the front does: decode the bytes, hand over ownership with this process's
	 * credentials (locks watch the holder's pid). */
	cki_request *decoded = cki_request_unpack(buf, n);
	free(buf);
	CU_ASSERT_PTR_NOT_NULL_FATAL(decoded);
	cki_reply_to to = {.rid = {0, 1, 2, 3}, .rid_len = 4};
	cki_peer peer = {.known = true, .uid = getuid(), .gid = getgid(), .pid = getpid()};
	cki_metrics_inc(CKI_C_REQUESTS); /* the front counts every frame it receives */
	cki_dispatch_handle(f->dispatch, &to, &peer, decoded);
	if (f->replies == 0) {
		/* A generous deadline for the loop-driven completion; never hit when it works. */
		cki_timer_id t = cki_loop_timer(f->loop, 30000, on_timeout, f);
		CU_ASSERT_EQUAL(cki_loop_run(f->loop), CK_OK);
		cki_loop_timer_cancel(f->loop, t);
	}
	CU_ASSERT_EQUAL(f->replies, 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f->resp);
	CU_ASSERT_EQUAL(f->resp->id, req->id);
	return f->resp;
}

/* ---- request builders ---------------------------------------------------------------- */

typedef struct set_args {
	const char *ns;
	const void *value;
	size_t len;
	uint32_t ttl_s, stale_ttl_s;
	bool secure, sliding;
	const char *format;
} set_args;

static const cki_response *
do_set(fixture *f, const char *key, set_args a)
{
	cki_request req = CACHEKIT__AGENT__V1__REQUEST__INIT;
	Cachekit__Agent__V1__SetRequest s = CACHEKIT__AGENT__V1__SET_REQUEST__INIT;
	req.namespace_ = (char *)(a.ns ? a.ns : "");
	req.op_case = CACHEKIT__AGENT__V1__REQUEST__OP_SET;
	req.set = &s;
	s.key = (char *)key;
	s.value.data = (uint8_t *)(a.value ? a.value : "value");
	s.value.len = a.value ? a.len : 5;
	s.ttl_s = a.ttl_s;
	s.stale_ttl_s = a.stale_ttl_s;
	s.secure = a.secure;
	s.sliding = a.sliding;
	s.format = (char *)(a.format ? a.format : "");
	return exchange(f, &req);
}

static const cki_response *
do_get(fixture *f, const char *ns, const char *key, bool secure)
{
	cki_request req = CACHEKIT__AGENT__V1__REQUEST__INIT;
	Cachekit__Agent__V1__GetRequest g = CACHEKIT__AGENT__V1__GET_REQUEST__INIT;
	req.namespace_ = (char *)(ns ? ns : "");
	req.op_case = CACHEKIT__AGENT__V1__REQUEST__OP_GET;
	req.get = &g;
	g.key = (char *)key;
	g.secure = secure;
	return exchange(f, &req);
}

/* Exists, Delete and GetTtl share the one-key shape. */
static const cki_response *
do_keyed(fixture *f, Cachekit__Agent__V1__Request__OpCase op, const char *key)
{
	cki_request req = CACHEKIT__AGENT__V1__REQUEST__INIT;
	Cachekit__Agent__V1__ExistsRequest e = CACHEKIT__AGENT__V1__EXISTS_REQUEST__INIT;
	Cachekit__Agent__V1__DeleteRequest d = CACHEKIT__AGENT__V1__DELETE_REQUEST__INIT;
	Cachekit__Agent__V1__GetTtlRequest t = CACHEKIT__AGENT__V1__GET_TTL_REQUEST__INIT;
	req.op_case = op;
	e.key = d.key = t.key = (char *)key;
	if (op == CACHEKIT__AGENT__V1__REQUEST__OP_EXISTS)
		req.exists = &e;
	else if (op == CACHEKIT__AGENT__V1__REQUEST__OP_DELETE)
		req.delete_ = &d;
	else
		req.get_ttl = &t;
	return exchange(f, &req);
}

static const cki_response *
do_refresh_ttl(fixture *f, const char *key, uint32_t ttl_s)
{
	cki_request req = CACHEKIT__AGENT__V1__REQUEST__INIT;
	Cachekit__Agent__V1__RefreshTtlRequest r = CACHEKIT__AGENT__V1__REFRESH_TTL_REQUEST__INIT;
	req.op_case = CACHEKIT__AGENT__V1__REQUEST__OP_REFRESH_TTL;
	req.refresh_ttl = &r;
	r.key = (char *)key;
	r.ttl_s = ttl_s;
	return exchange(f, &req);
}

static const cki_response *
do_simple(fixture *f, Cachekit__Agent__V1__Request__OpCase op)
{
	cki_request req = CACHEKIT__AGENT__V1__REQUEST__INIT;
	Cachekit__Agent__V1__HealthRequest h = CACHEKIT__AGENT__V1__HEALTH_REQUEST__INIT;
	Cachekit__Agent__V1__StatsRequest s = CACHEKIT__AGENT__V1__STATS_REQUEST__INIT;
	req.op_case = op;
	if (op == CACHEKIT__AGENT__V1__REQUEST__OP_HEALTH)
		req.health = &h;
	else
		req.stats = &s;
	return exchange(f, &req);
}

/* The stored bytes of a storage key, read straight from the store (malloc'd copy). */
typedef struct raw {
	bool found;
	uint8_t *data;
	size_t len;
} raw;

static void
on_raw(void *arg, const cki_store_reply *r)
{
	raw *out = arg;
	out->found = r->found;
	if (r->found) {
		out->data = malloc(r->value_len ? r->value_len : 1);
		memcpy(out->data, r->value, r->value_len);
		out->len = r->value_len;
	}
}

static raw
store_read(fixture *f, const char *key)
{
	raw out = {0};
	f->store->ops->get(f->store, key, cki_now_ms() + 1000, on_raw, &out);
	ck_test_turn(f->loop);
	return out;
}

static void
on_put(void *arg, const cki_store_reply *r)
{
	*(ck_err *)arg = r->err;
}

static void
store_write(fixture *f, const char *key, const uint8_t *v, size_t len)
{
	ck_err err = CK_EINTERNAL;
	cki_put_opts po = {.ttl_s = 60};
	f->store->ops->put(f->store, key, v, len, &po, cki_now_ms() + 1000, on_put, &err);
	ck_test_turn(f->loop);
	CU_ASSERT_EQUAL(err, CK_OK);
}

#define VALUE_IS(resp, str)                                                       \
	CU_ASSERT((resp)->get != NULL && (resp)->get->value.len == strlen(str) && \
	          memcmp((resp)->get->value.data, (str), strlen(str)) == 0)

/* ---- tests ------------------------------------------------------------------------------- */

static void
test_key_value_ops_happy_path(void)
{
	fixture f;
	fixture_init(&f);
	fixture_start(&f, false, 50);
	const cki_response *r =
	        do_set(&f, "user:1", (set_args){.value = "alice", .len = 5, .ttl_s = 60});
	CU_ASSERT_EQUAL(r->status, CK_OK);
	CU_ASSERT_EQUAL(r->result_case, CACHEKIT__AGENT__V1__RESPONSE__RESULT_SET);
	r = do_get(&f, NULL, "user:1", false);
	CU_ASSERT_EQUAL(r->status, CK_OK);
	CU_ASSERT_TRUE_FATAL(r->get != NULL && r->get->found);
	VALUE_IS(r, "alice");
	CU_ASSERT_EQUAL(r->get->freshness, CACHEKIT__AGENT__V1__FRESHNESS__FRESHNESS_FRESH);
	CU_ASSERT(r->get->fresh_for_ms > 58000 && r->get->fresh_for_ms <= 60000);
	CU_ASSERT_FALSE(r->get->refresh_due);
	r = do_keyed(&f, CACHEKIT__AGENT__V1__REQUEST__OP_EXISTS, "user:1");
	CU_ASSERT_TRUE(r->exists != NULL && r->exists->exists);
	r = do_keyed(&f, CACHEKIT__AGENT__V1__REQUEST__OP_GET_TTL, "user:1");
	CU_ASSERT_TRUE_FATAL(r->get_ttl != NULL);
	CU_ASSERT_TRUE(r->get_ttl->found);
	CU_ASSERT_EQUAL(r->get_ttl->ttl_s, 60);
	r = do_refresh_ttl(&f, "user:1", 120);
	CU_ASSERT_TRUE(r->refresh_ttl != NULL && r->refresh_ttl->refreshed);
	r = do_keyed(&f, CACHEKIT__AGENT__V1__REQUEST__OP_GET_TTL, "user:1");
	CU_ASSERT_EQUAL(r->get_ttl->ttl_s, 120);
	r = do_keyed(&f, CACHEKIT__AGENT__V1__REQUEST__OP_DELETE, "user:1");
	CU_ASSERT_TRUE(r->delete_ != NULL && r->delete_->existed);
	/* Everything after the delete sees nothing. */
	r = do_get(&f, NULL, "user:1", false);
	CU_ASSERT_EQUAL(r->status, CK_OK);
	CU_ASSERT_TRUE(r->get != NULL && !r->get->found && r->get->value.len == 0);
	r = do_keyed(&f, CACHEKIT__AGENT__V1__REQUEST__OP_DELETE, "user:1");
	CU_ASSERT_TRUE(r->delete_ != NULL && !r->delete_->existed);
	r = do_keyed(&f, CACHEKIT__AGENT__V1__REQUEST__OP_EXISTS, "user:1");
	CU_ASSERT_TRUE(r->exists != NULL && !r->exists->exists);
	r = do_keyed(&f, CACHEKIT__AGENT__V1__REQUEST__OP_GET_TTL, "user:1");
	CU_ASSERT_TRUE(r->get_ttl != NULL && !r->get_ttl->found && r->get_ttl->ttl_s == -1);
	r = do_refresh_ttl(&f, "user:1", 30);
	CU_ASSERT_TRUE(r->refresh_ttl != NULL && !r->refresh_ttl->refreshed);
	CU_ASSERT_EQUAL(cki_metrics_get(CKI_C_SETS), 1);
	CU_ASSERT_EQUAL(cki_metrics_get(CKI_C_GET_HITS), 1);
	CU_ASSERT_EQUAL(cki_metrics_get(CKI_C_GET_MISSES), 1);
	fixture_done(&f);
}

static void
test_health_locks_and_stats(void)
{
	fixture f;
	fixture_init(&f);
	fixture_start(&f, false, 50);
	const cki_response *r = do_simple(&f, CACHEKIT__AGENT__V1__REQUEST__OP_HEALTH);
	CU_ASSERT_TRUE_FATAL(r->health != NULL);
	CU_ASSERT_TRUE(r->health->healthy);
	CU_ASSERT_STRING_EQUAL(r->health->backend_type, "memory");
	CU_ASSERT_STRING_EQUAL(r->health->api_url, "memory:");
	CU_ASSERT_STRING_EQUAL(r->health->agent_version, CK_VERSION_STRING);

	cki_request req = CACHEKIT__AGENT__V1__REQUEST__INIT;
	Cachekit__Agent__V1__AcquireLockRequest al =
	        CACHEKIT__AGENT__V1__ACQUIRE_LOCK_REQUEST__INIT;
	req.op_case = CACHEKIT__AGENT__V1__REQUEST__OP_ACQUIRE_LOCK;
	req.acquire_lock = &al;
	al.name = "job:1";
	al.lease_ms = 5000;
	r = exchange(&f, &req);
	CU_ASSERT_TRUE_FATAL(r->acquire_lock != NULL && r->acquire_lock->acquired);
	CU_ASSERT_EQUAL(r->acquire_lock->lease_ms, 5000);
	CU_ASSERT_EQUAL_FATAL(r->acquire_lock->handle.len, CKI_LOCK_HANDLE_LEN);
	uint8_t handle[CKI_LOCK_HANDLE_LEN];
	memcpy(handle, r->acquire_lock->handle.data, sizeof(handle));
	r = exchange(&f, &req);
	CU_ASSERT_TRUE(r->acquire_lock != NULL && !r->acquire_lock->acquired);
	CU_ASSERT_EQUAL(r->acquire_lock->handle.len, 0);

	r = do_set(&f, "k", (set_args){.ttl_s = 60});
	r = do_simple(&f, CACHEKIT__AGENT__V1__REQUEST__OP_STATS);
	CU_ASSERT_TRUE_FATAL(r->stats != NULL);
	double requests = -1, entries = -1, locks_held = -1;
	for (size_t i = 0; i < r->stats->n_stats; i++) {
		const char *name = r->stats->stats[i]->name;
		if (strcmp(name, "requests_total") == 0)
			requests = r->stats->stats[i]->value;
		if (strcmp(name, "store_entries") == 0)
			entries = r->stats->stats[i]->value;
		if (strcmp(name, "locks_held") == 0)
			locks_held = r->stats->stats[i]->value;
	}
	CU_ASSERT_DOUBLE_EQUAL(requests, 5.0, 0.0); /* health, 2 acquires, set, stats */
	CU_ASSERT_DOUBLE_EQUAL(entries, 1.0, 0.0);
	CU_ASSERT_DOUBLE_EQUAL(locks_held, 1.0, 0.0);
	for (size_t i = 1; i < r->stats->n_stats; i++)
		CU_ASSERT(strcmp(r->stats->stats[i - 1]->name, r->stats->stats[i]->name) < 0);

	Cachekit__Agent__V1__ReleaseLockRequest rl =
	        CACHEKIT__AGENT__V1__RELEASE_LOCK_REQUEST__INIT;
	cki_request rel = CACHEKIT__AGENT__V1__REQUEST__INIT;
	rel.op_case = CACHEKIT__AGENT__V1__REQUEST__OP_RELEASE_LOCK;
	rel.release_lock = &rl;
	rl.handle.data = handle;
	rl.handle.len = sizeof(handle);
	r = exchange(&f, &rel);
	CU_ASSERT_EQUAL(r->status, CK_OK);
	CU_ASSERT_TRUE(r->release_lock != NULL && r->release_lock->released);
	r = exchange(&f, &rel);
	CU_ASSERT_EQUAL(r->status, CK_EBADHANDLE);
	fixture_done(&f);
}

static void
test_invalid_keys_are_refused_with_a_reason(void)
{
	fixture f;
	fixture_init(&f);
	fixture_start(&f, false, 50);
	const cki_response *r = do_get(&f, NULL, "has space", false);
	CU_ASSERT_EQUAL(r->status, CK_EINVALKEY);
	CU_ASSERT_PTR_NOT_NULL(strstr(r->message, "invalid cache key: "));
	CU_ASSERT(strlen(r->message) > strlen("invalid cache key: "));
	r = do_set(&f, "", (set_args){0});
	CU_ASSERT_EQUAL(r->status, CK_EINVALKEY);
	r = do_keyed(&f, CACHEKIT__AGENT__V1__REQUEST__OP_DELETE, "a..b");
	CU_ASSERT_EQUAL(r->status, CK_EINVALKEY);
	r = do_get(&f, "bad ns", "k", false);
	CU_ASSERT_EQUAL(r->status, CK_EINVALKEY);
	CU_ASSERT_EQUAL(cki_metrics_get(CKI_C_ERRORS), 4);
	fixture_done(&f);
}

static void
test_namespace_prefixes_the_storage_key(void)
{
	fixture f;
	fixture_init(&f);
	fixture_start(&f, false, 50);
	const cki_response *r = do_set(&f, "k1", (set_args){.ns = "app", .value = "v1", .len = 2});
	CU_ASSERT_EQUAL(r->status, CK_OK);
	raw stored = store_read(&f, "ns:app:k1");
	CU_ASSERT_TRUE(stored.found);
	CU_ASSERT(stored.len == 2 && memcmp(stored.data, "v1", 2) == 0);
	free(stored.data);
	stored = store_read(&f, "k1");
	CU_ASSERT_FALSE(stored.found);
	r = do_get(&f, NULL, "k1", false);
	CU_ASSERT_TRUE(r->get != NULL && !r->get->found);
	r = do_get(&f, "app", "k1", false);
	CU_ASSERT_TRUE(r->get != NULL && r->get->found);
	VALUE_IS(r, "v1");
	fixture_done(&f);
}

static void
test_value_cap_and_ttl_bounds(void)
{
	fixture f;
	fixture_init(&f);
	f.cfg.max_value_bytes = 100;
	fixture_start(&f, false, 50);
	static uint8_t big[101];
	memset(big, 'b', sizeof(big));
	const cki_response *r = do_set(&f, "big", (set_args){.value = big, .len = 101});
	CU_ASSERT_EQUAL(r->status, CK_ETOOBIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(r->message, "101 bytes"));
	r = do_set(&f, "big", (set_args){.value = big, .len = 100});
	CU_ASSERT_EQUAL(r->status, CK_OK);

	r = do_set(&f, "t", (set_args){.ttl_s = 2592001});
	CU_ASSERT_EQUAL(r->status, CK_EINVAL);
	r = do_set(&f, "t", (set_args){.ttl_s = 0, .stale_ttl_s = 10});
	CU_ASSERT_EQUAL(r->status, CK_EINVAL);
	r = do_set(&f, "t", (set_args){.ttl_s = 2592000, .stale_ttl_s = 1});
	CU_ASSERT_EQUAL(r->status, CK_EINVAL);
	r = do_set(&f, "t", (set_args){.ttl_s = 2592000});
	CU_ASSERT_EQUAL(r->status, CK_OK);
	r = do_set(&f, "t", (set_args){.ttl_s = 2591000, .stale_ttl_s = 1000});
	CU_ASSERT_EQUAL(r->status, CK_OK);
	r = do_refresh_ttl(&f, "t", 0);
	CU_ASSERT_EQUAL(r->status, CK_EINVAL);
	r = do_refresh_ttl(&f, "t", 2592001);
	CU_ASSERT_EQUAL(r->status, CK_EINVAL);
	fixture_done(&f);
}

static void
test_secure_intent_policy(void)
{
	fixture f;
	fixture_init(&f);
	f.cfg.secure_namespaces = strdup("vault, other");
	fixture_start(&f, false, 50);
	const cki_response *r = do_set(&f, "k", (set_args){.secure = true});
	CU_ASSERT_EQUAL(r->status, CK_ENOKEY);
	r = do_get(&f, NULL, "k", true);
	CU_ASSERT_EQUAL(r->status, CK_ENOKEY);
	r = do_set(&f, "k", (set_args){.ns = "vault"});
	CU_ASSERT_EQUAL(r->status, CK_EDENIED);
	CU_ASSERT_PTR_NOT_NULL(strstr(r->message, "\"vault\""));
	r = do_get(&f, "vault", "k", false);
	CU_ASSERT_EQUAL(r->status, CK_EDENIED);
	r = do_set(&f, "k", (set_args){.ns = "open"}); /* other namespaces are unaffected */
	CU_ASSERT_EQUAL(r->status, CK_OK);
	fixture_done(&f);

	/* With a keyring, secure intent in the required namespace works. */
	fixture_init(&f);
	f.cfg.secure_namespaces = strdup("vault");
	fixture_start(&f, true, 50);
	r = do_set(&f, "k", (set_args){.ns = "vault", .secure = true});
	CU_ASSERT_EQUAL(r->status, CK_OK);
	r = do_get(&f, "vault", "k", true);
	CU_ASSERT_EQUAL(r->status, CK_OK);
	VALUE_IS(r, "value");
	fixture_done(&f);
}

/* ENC-5: a format label outside the registry never reaches the AAD; registered ones seal. */
static void
test_unregistered_format_label_is_refused(void)
{
	fixture f;
	fixture_init(&f);
	fixture_start(&f, true, 50);
	const cki_response *r =
	        do_set(&f, "k", (set_args){.ttl_s = 60, .secure = true, .format = "json"});
	CU_ASSERT_EQUAL(r->status, CK_EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(r->message, "msgpack, orjson or arrow"));
	CU_ASSERT_FALSE(store_read(&f, "k").found); /* nothing was stored */
	r = do_set(&f, "k", (set_args){.ttl_s = 60, .secure = true, .format = "orjson"});
	CU_ASSERT_EQUAL(r->status, CK_OK);
	r = do_set(&f, "k2", (set_args){.ttl_s = 60, .format = "json"}); /* no AAD, no check */
	CU_ASSERT_EQUAL(r->status, CK_OK);
	fixture_done(&f);
}

/* A cachekit-py auto-mode entry (CK v3 frame) is reported as one, plain or secure. */
static void
test_cachekit_py_auto_mode_entry_is_reported_as_such(void)
{
	static const char hdr[] =
	        "{\"s\": \"default\", \"m\": {\"format\": \"msgpack\"}, \"v\": \"2.0\"}";
	uint8_t frame[7 + sizeof(hdr) - 1 + 3];
	memcpy(frame, "CK\x03\0\0\0", 7);
	frame[6] = (uint8_t)(sizeof(hdr) - 1);
	memcpy(frame + 7, hdr, sizeof(hdr) - 1);
	memcpy(frame + 7 + sizeof(hdr) - 1, "\x91\x01\x02", 3);
	fixture f;
	fixture_init(&f);
	fixture_start(&f, true, 50);
	const cki_response *r =
	        do_set(&f, "py", (set_args){.value = frame, .len = sizeof(frame), .ttl_s = 60});
	CU_ASSERT_EQUAL(r->status, CK_OK);
	r = do_get(&f, NULL, "py", false);
	CU_ASSERT_EQUAL(r->status, CK_EAUTOMODE);
	CU_ASSERT_PTR_NOT_NULL(strstr(r->message, "auto mode"));
	r = do_get(&f, NULL, "py", true);
	CU_ASSERT_EQUAL(r->status, CK_EAUTOMODE);
	/* Bytes that only start with "CK" are ordinary values. */
	r = do_set(&f, "ck", (set_args){.value = "CK\x03nope", .len = 7, .ttl_s = 60});
	r = do_get(&f, NULL, "ck", false);
	CU_ASSERT_EQUAL(r->status, CK_OK);
	VALUE_IS(r, "CK\x03nope");
	fixture_done(&f);
}

/* PRE-4: a Set that names no TTL gets default-ttl; default-ttl = 0 is the explicit opt-in. */
static void
test_set_without_ttl_gets_the_default_ttl(void)
{
	fixture f;
	fixture_init(&f);
	CU_ASSERT_EQUAL(f.cfg.default_ttl_s, 3600);
	fixture_start(&f, false, 50);
	const cki_response *r = do_set(&f, "k", (set_args){0});
	CU_ASSERT_EQUAL(r->status, CK_OK);
	r = do_keyed(&f, CACHEKIT__AGENT__V1__REQUEST__OP_GET_TTL, "k");
	CU_ASSERT_TRUE_FATAL(r->get_ttl != NULL && r->get_ttl->found);
	CU_ASSERT(r->get_ttl->ttl_s > 3590 && r->get_ttl->ttl_s <= 3600);
	r = do_set(&f, "k", (set_args){.ttl_s = 20}); /* an explicit TTL wins */
	r = do_keyed(&f, CACHEKIT__AGENT__V1__REQUEST__OP_GET_TTL, "k");
	CU_ASSERT_TRUE_FATAL(r->get_ttl != NULL && r->get_ttl->found);
	CU_ASSERT(r->get_ttl->ttl_s > 10 && r->get_ttl->ttl_s <= 20);
	fixture_done(&f);

	fixture_init(&f);
	f.cfg.default_ttl_s = 0;
	fixture_start(&f, false, 50);
	r = do_set(&f, "k", (set_args){0});
	CU_ASSERT_EQUAL(r->status, CK_OK);
	r = do_keyed(&f, CACHEKIT__AGENT__V1__REQUEST__OP_GET_TTL, "k");
	CU_ASSERT_TRUE_FATAL(r->get_ttl != NULL && r->get_ttl->found);
	CU_ASSERT_EQUAL(r->get_ttl->ttl_s, -1);
	fixture_done(&f);
}

static void
test_secure_round_trip_stores_ciphertext(void)
{
	fixture f;
	fixture_init(&f);
	fixture_start(&f, true, 50);
	static const char plain[] = "card=4111111111111111";
	const size_t n = sizeof(plain) - 1;
	const cki_response *r = do_set(
	        &f, "pay:1", (set_args){.value = plain, .len = n, .ttl_s = 60, .secure = true});
	CU_ASSERT_EQUAL(r->status, CK_OK);
	CU_ASSERT_EQUAL(cki_metrics_get(CKI_C_SEALED), 1);
	raw stored = store_read(&f, "pay:1");
	CU_ASSERT_TRUE_FATAL(stored.found);
	CU_ASSERT_EQUAL(stored.len, n + CKI_SEAL_OVERHEAD);
	CU_ASSERT_PTR_NULL(memmem(stored.data, stored.len, "4111111111111111", 16));
	r = do_get(&f, NULL, "pay:1", true);
	CU_ASSERT_EQUAL(r->status, CK_OK);
	CU_ASSERT_TRUE(r->get != NULL && r->get->found);
	VALUE_IS(r, plain);
	/* Without secure intent the reader gets the stored (sealed) bytes, not the plaintext. */
	r = do_get(&f, NULL, "pay:1", false);
	CU_ASSERT_TRUE_FATAL(r->get != NULL && r->get->found);
	CU_ASSERT_EQUAL(r->get->value.len, stored.len);
	CU_ASSERT_EQUAL(memcmp(r->get->value.data, stored.data, stored.len), 0);
	free(stored.data);
	fixture_done(&f);
}

static void
test_envelope_namespace_round_trip(void)
{
	fixture f;
	fixture_init(&f);
	f.cfg.envelope_namespaces = strdup("bulk");
	fixture_start(&f, true, 50);
	static char plain[4097];
	memset(plain, 'z', 4096);
	const cki_response *r = do_set(
	        &f, "doc", (set_args){.ns = "bulk", .value = plain, .len = 4096, .secure = true});
	CU_ASSERT_EQUAL(r->status, CK_OK);
	raw stored = store_read(&f, "ns:bulk:doc");
	CU_ASSERT_TRUE_FATAL(stored.found);
	/* Compressed inside the seal: far smaller than plaintext + overhead. */
	CU_ASSERT(stored.len < 4096);
	free(stored.data);
	r = do_get(&f, "bulk", "doc", true);
	CU_ASSERT_EQUAL(r->status, CK_OK);
	CU_ASSERT_TRUE_FATAL(r->get != NULL && r->get->found);
	VALUE_IS(r, plain);
	fixture_done(&f);
}

static void
test_sealed_value_moved_to_another_key_is_a_miss(void)
{
	fixture f;
	fixture_init(&f);
	fixture_start(&f, true, 50);
	const cki_response *r =
	        do_set(&f, "a", (set_args){.value = "secret", .len = 6, .secure = true});
	CU_ASSERT_EQUAL(r->status, CK_OK);
	raw stored = store_read(&f, "a");
	CU_ASSERT_TRUE_FATAL(stored.found);
	store_write(&f, "b", stored.data, stored.len);
	free(stored.data);
	r = do_get(&f, NULL, "b", true);
	CU_ASSERT_EQUAL(r->status, CK_OK);
	CU_ASSERT_TRUE(r->get != NULL && !r->get->found && r->get->value.len == 0);
	CU_ASSERT_EQUAL(cki_metrics_get(CKI_C_UNSEAL_FAILURES), 1);
	/* Fail-closed turns the miss into an error. */
	f.cfg.encryption_fail_closed = true;
	r = do_get(&f, NULL, "b", true);
	CU_ASSERT_EQUAL(r->status, CK_ECRYPTO);
	CU_ASSERT_EQUAL(cki_metrics_get(CKI_C_UNSEAL_FAILURES), 2);
	/* The original still opens. */
	r = do_get(&f, NULL, "a", true);
	CU_ASSERT_EQUAL(r->status, CK_OK);
	VALUE_IS(r, "secret");
	fixture_done(&f);
}

static void
test_refresh_due_is_set_for_one_get(void)
{
	fixture f;
	fixture_init(&f);
	fixture_start(&f, false, 1); /* due 10 ms into a 1 s window */
	const cki_response *r = do_set(&f, "hot", (set_args){.ttl_s = 1});
	CU_ASSERT_EQUAL(r->status, CK_OK);
	r = do_get(&f, NULL, "hot", false);
	CU_ASSERT_TRUE(r->get != NULL && r->get->found && !r->get->refresh_due);
	struct timespec ts = {0, 30 * 1000000L};
	nanosleep(&ts, NULL);
	int due = 0, found = 0;
	for (int i = 0; i < 6; i++) {
		r = do_get(&f, NULL, "hot", false);
		if (r->get != NULL && r->get->found) {
			found++;
			due += r->get->refresh_due ? 1 : 0;
		}
	}
	CU_ASSERT_EQUAL(found, 6);
	CU_ASSERT_EQUAL(due, 1);
	CU_ASSERT_EQUAL(cki_metrics_get(CKI_C_REFRESH_DUE), 1);
	fixture_done(&f);
}

/* Access rules: this process (the peer of every exchange) may read namespace "open" only;
 * another uid owns "alice". Refusals are CK_EDENIED naming the operation and the namespace. */
static void
test_access_rules_refuse_what_they_do_not_grant(void)
{
	fixture f;
	fixture_init(&f);
	char uid[32], other[32];
	snprintf(uid, sizeof(uid), "%u", (unsigned)getuid());
	snprintf(other, sizeof(other), "%u", (unsigned)getuid() + 1);
	CU_ASSERT_EQUAL_FATAL(cki_access_add(&f.cfg.policy.access, "me", "uid", uid, "t", stderr),
	                      CK_OK);
	CU_ASSERT_EQUAL_FATAL(
	        cki_access_add(&f.cfg.policy.access, "me", "namespaces", "open", "t", stderr),
	        CK_OK);
	CU_ASSERT_EQUAL_FATAL(
	        cki_access_add(&f.cfg.policy.access, "me", "allow", "read", "t", stderr), CK_OK);
	CU_ASSERT_EQUAL_FATAL(
	        cki_access_add(&f.cfg.policy.access, "alice", "uid", other, "t", stderr), CK_OK);
	CU_ASSERT_EQUAL_FATAL(
	        cki_access_add(&f.cfg.policy.access, "alice", "namespaces", "alice", "t", stderr),
	        CK_OK);
	CU_ASSERT_EQUAL_FATAL(
	        cki_access_add(&f.cfg.policy.access, "alice", "allow", "all", "t", stderr), CK_OK);
	fixture_start(&f, true, 50);
	const cki_response *r = do_set(&f, "k", (set_args){.ns = "alice"});
	CU_ASSERT_EQUAL(r->status, CK_EDENIED);
	CU_ASSERT_PTR_NOT_NULL(strstr(r->message, "may not write in namespace \"alice\""));
	r = do_get(&f, "alice", "k", false);
	CU_ASSERT_EQUAL(r->status, CK_EDENIED);
	CU_ASSERT_PTR_NOT_NULL(strstr(r->message, "may not read in namespace \"alice\""));
	r = do_keyed(&f, CACHEKIT__AGENT__V1__REQUEST__OP_DELETE, "ns:alice:k");
	CU_ASSERT_EQUAL(r->status, CK_EDENIED);
	CU_ASSERT_PTR_NOT_NULL(strstr(r->message, "delete"));
	r = do_keyed(&f, CACHEKIT__AGENT__V1__REQUEST__OP_EXISTS, "ns:alice:k");
	CU_ASSERT_EQUAL(r->status, CK_EDENIED);
	r = do_keyed(&f, CACHEKIT__AGENT__V1__REQUEST__OP_GET_TTL, "ns:alice:k");
	CU_ASSERT_EQUAL(r->status, CK_EDENIED);
	r = do_refresh_ttl(&f, "ns:alice:k", 10);
	CU_ASSERT_EQUAL(r->status, CK_EDENIED);
	/* Keys without a namespace are in "default", which no rule grants. */
	r = do_get(&f, NULL, "k", false);
	CU_ASSERT_EQUAL(r->status, CK_EDENIED);
	CU_ASSERT_PTR_NOT_NULL(strstr(r->message, "\"default\""));
	/* Read is granted on "open"; write and secure intent are not. */
	r = do_get(&f, "open", "k", false);
	CU_ASSERT_EQUAL(r->status, CK_OK);
	CU_ASSERT_TRUE(r->get != NULL && !r->get->found);
	r = do_get(&f, "open", "k", true);
	CU_ASSERT_EQUAL(r->status, CK_EDENIED);
	CU_ASSERT_PTR_NOT_NULL(strstr(r->message, "read with secure intent"));
	r = do_set(&f, "k", (set_args){.ns = "open"});
	CU_ASSERT_EQUAL(r->status, CK_EDENIED);
	/* Health and stats are not namespaced: any allowed peer. */
	r = do_simple(&f, CACHEKIT__AGENT__V1__REQUEST__OP_HEALTH);
	CU_ASSERT_EQUAL(r->status, CK_OK);
	fixture_done(&f);
}

/* Get replies carry the version table's epoch and the key's slot; writes move the slot; a batch
 * answers per item, in order. */
static void
test_near_versions_and_batches(void)
{
	char dir[256], sock[300], ver[320], why[128] = "";
	ck_tmp_template(dir, sizeof(dir), "ck-dnear");
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
	snprintf(sock, sizeof(sock), "%s/a.sock", dir);
	snprintf(ver, sizeof(ver), "%s.ver", sock);
	FILE *stand_in = fopen(sock, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(stand_in);
	fclose(stand_in);
	cki_nearver *nv = NULL;
	CU_ASSERT_EQUAL_FATAL(cki_nearver_open(&nv, sock, why, sizeof(why)), CK_OK);
	fixture f;
	fixture_init(&f);
	fixture_start(&f, false, 50);
	cki_dispatch_set_nearver(f.dispatch, nv);
	CU_ASSERT_EQUAL(do_set(&f, "nv", (set_args){.ttl_s = 60})->status, CK_OK);
	const cki_response *r = do_get(&f, NULL, "nv", false);
	CU_ASSERT_EQUAL_FATAL(r->status, CK_OK);
	CU_ASSERT_EQUAL(r->get->near_epoch, cki_nearver_epoch(nv));
	uint64_t v1 = r->get->near_version;
	CU_ASSERT_EQUAL(v1, cki_nearver_read(nv, "nv"));
	CU_ASSERT_EQUAL(do_set(&f, "nv", (set_args){.ttl_s = 60})->status, CK_OK);
	CU_ASSERT_EQUAL(do_refresh_ttl(&f, "nv", 30)->status, CK_OK);
	CU_ASSERT_EQUAL(do_keyed(&f, CACHEKIT__AGENT__V1__REQUEST__OP_DELETE, "nv")->status, CK_OK);
	CU_ASSERT_EQUAL(cki_nearver_read(nv, "nv"), v1 + 3);

	/* MultiSet of two keys (one invalid), then MultiGet of three (one missing). */
	cki_request req = CACHEKIT__AGENT__V1__REQUEST__INIT;
	Cachekit__Agent__V1__MultiSetRequest ms = CACHEKIT__AGENT__V1__MULTI_SET_REQUEST__INIT;
	Cachekit__Agent__V1__SetRequest s[2] = {CACHEKIT__AGENT__V1__SET_REQUEST__INIT,
	                                        CACHEKIT__AGENT__V1__SET_REQUEST__INIT};
	Cachekit__Agent__V1__SetRequest *sp[2] = {&s[0], &s[1]};
	s[0].key = (char *)"b1";
	s[0].value.data = (uint8_t *)"one";
	s[0].value.len = 3;
	s[1].key = (char *)"bad key";
	ms.items = sp;
	ms.n_items = 2;
	req.op_case = CACHEKIT__AGENT__V1__REQUEST__OP_MULTI_SET;
	req.multi_set = &ms;
	r = exchange(&f, &req);
	CU_ASSERT_EQUAL_FATAL(r->result_case, CACHEKIT__AGENT__V1__RESPONSE__RESULT_MULTI_SET);
	CU_ASSERT_EQUAL_FATAL(r->multi_set->n_items, 2);
	CU_ASSERT_EQUAL(r->multi_set->items[0]->status, CK_OK);
	CU_ASSERT_EQUAL(r->multi_set->items[1]->status, CK_EINVALKEY);

	cki_request greq = CACHEKIT__AGENT__V1__REQUEST__INIT;
	Cachekit__Agent__V1__MultiGetRequest mg = CACHEKIT__AGENT__V1__MULTI_GET_REQUEST__INIT;
	Cachekit__Agent__V1__GetRequest g[3] = {CACHEKIT__AGENT__V1__GET_REQUEST__INIT,
	                                        CACHEKIT__AGENT__V1__GET_REQUEST__INIT,
	                                        CACHEKIT__AGENT__V1__GET_REQUEST__INIT};
	Cachekit__Agent__V1__GetRequest *gp[3] = {&g[0], &g[1], &g[2]};
	g[0].key = (char *)"missing";
	g[1].key = (char *)"b1";
	g[2].key = (char *)"b1";
	mg.items = gp;
	mg.n_items = 3;
	greq.op_case = CACHEKIT__AGENT__V1__REQUEST__OP_MULTI_GET;
	greq.multi_get = &mg;
	r = exchange(&f, &greq);
	CU_ASSERT_EQUAL_FATAL(r->result_case, CACHEKIT__AGENT__V1__RESPONSE__RESULT_MULTI_GET);
	CU_ASSERT_EQUAL_FATAL(r->multi_get->n_items, 3);
	CU_ASSERT_FALSE(r->multi_get->items[0]->get->found);
	for (int i = 1; i < 3; i++) {
		CU_ASSERT_TRUE(r->multi_get->items[i]->get->found);
		VALUE_IS(r->multi_get->items[i], "one");
		CU_ASSERT_EQUAL(r->multi_get->items[i]->get->near_epoch, cki_nearver_epoch(nv));
	}
	CU_ASSERT_EQUAL(cki_dispatch_inflight(f.dispatch), 0);
	fixture_done(&f);
	cki_nearver_close(nv);
	unlink(ver);
	unlink(sock);
	rmdir(dir);
}

static CU_TestInfo tests[] = {
        {"a format label outside the registry is refused",
         test_unregistered_format_label_is_refused},
        {"a Set without a TTL gets the default TTL", test_set_without_ttl_gets_the_default_ttl},
        {"a cachekit-py auto-mode entry is reported as such",
         test_cachekit_py_auto_mode_entry_is_reported_as_such},
        {"near versions and batches", test_near_versions_and_batches},
        {"key-value ops: happy path", test_key_value_ops_happy_path},
        {"access rules refuse what they do not grant",
         test_access_rules_refuse_what_they_do_not_grant},
        {"health, locks and stats", test_health_locks_and_stats},
        {"invalid keys are refused with a reason", test_invalid_keys_are_refused_with_a_reason},
        {"a namespace prefixes the storage key", test_namespace_prefixes_the_storage_key},
        {"value cap and ttl bounds", test_value_cap_and_ttl_bounds},
        {"secure intent policy", test_secure_intent_policy},
        {"a secure round trip stores ciphertext", test_secure_round_trip_stores_ciphertext},
        {"an envelope namespace round trip", test_envelope_namespace_round_trip},
        {"a sealed value moved to another key is a miss",
         test_sealed_value_moved_to_another_key_is_a_miss},
        {"refresh_due is set for one Get", test_refresh_due_is_set_for_one_get},
        CU_TEST_INFO_NULL,
};

CK_UNIT_SUITE_FULL("dispatch", tests, suite_init, NULL)
