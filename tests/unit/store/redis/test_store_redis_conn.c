/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for the Redis store's connection and resilience (agent/store/redis/), against a real
 * redis-server (redis_harness.h): AUTH, database selection, the script cache, pipelining,
 * deadlines and a full queue on a paused server, and kill -9 / breaker / restart / reconnect.
 * What the store wrote is checked with a separate synchronous hiredis connection.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cunit_main.h"
#include "redis_harness.h"
#include "store/redis/url.h"

static void
test_password(void)
{
	cki_redis_opts o = {.url = url,
	                    .password = (const uint8_t *)"right-pass",
	                    .password_len = 10,
	                    .breaker_failures = 1000};
	struct result r = {0};
	cki_store *s;

	freeReplyObject(cmd("CONFIG SET requirepass %s", "right-pass"));
	s = new_store_opts(&o);
	RUN(&r, s->ops->put(s, "ns:t:auth", (const uint8_t *)"v", 1, NULL, D, on_result, &r));
	CU_ASSERT_EQUAL(r.err, CK_OK);
	s->ops->destroy(s);
	o.password = (const uint8_t *)"wrong-pass";
	s = new_store_opts(&o);
	RUN(&r, s->ops->get(s, "ns:t:auth", D, on_result, &r));
	CU_ASSERT_EQUAL(r.err, CK_EAUTH);
	s->ops->destroy(s);
	o.password = NULL;
	o.password_len = 0;
	s = new_store_opts(&o);
	RUN(&r, s->ops->get(s, "ns:t:auth", D, on_result, &r));
	CU_ASSERT_EQUAL(r.err, CK_EAUTH);
	s->ops->destroy(s);
	/* back to no password (the synchronous helper cannot authenticate) */
	{
		redisContext *c = sync_conn();
		CU_ASSERT_PTR_NOT_NULL_FATAL(c);
		freeReplyObject(redisCommand(c, "AUTH %s", "right-pass"));
		freeReplyObject(redisCommand(c, "CONFIG SET requirepass %s", ""));
		redisFree(c);
	}
	CU_ASSERT_TRUE(server_pings());
	result_clear(&r);
}

/* ?db=N selects the database; a refused SELECT fails operations and writes nothing to db 0. */
static void
test_database_selection(void)
{
	char db_url[200];
	cki_redis_opts o = {.url = db_url, .breaker_failures = 1000};
	struct result r = {0};
	redisContext *c;
	redisReply *raw;
	cki_store *s;

	snprintf(db_url, sizeof db_url, "%s?db=3", url);
	s = new_store_opts(&o);
	RUN(&r, s->ops->put(s, "ns:t:db", (const uint8_t *)"in-3", 4, NULL, D, on_result, &r));
	CU_ASSERT_EQUAL(r.err, CK_OK);
	s->ops->destroy(s);
	CU_ASSERT_EQUAL(cmd_int("EXISTS %s", "ns:t:db"), 0); /* not in db 0 */
	c = sync_conn();
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	freeReplyObject(redisCommand(c, "SELECT 3"));
	raw = redisCommand(c, "GET %s", "ns:t:db");
	CU_ASSERT(raw != NULL && raw->type == REDIS_REPLY_STRING && strcmp(raw->str, "in-3") == 0);
	freeReplyObject(raw);
	freeReplyObject(redisCommand(c, "DEL %s", "ns:t:db"));
	redisFree(c);

	freeReplyObject(cmd("ACL SETUSER default -select"));
	s = new_store_opts(&o);
	RUN(&r, s->ops->put(s, "ns:t:db", (const uint8_t *)"lost", 4, NULL, D, on_result, &r));
	CU_ASSERT_EQUAL(r.err, CK_EUPSTREAM);
	RUN(&r, s->ops->get(s, "ns:t:db", D, on_result, &r));
	CU_ASSERT_EQUAL(r.err, CK_EUPSTREAM);
	s->ops->destroy(s);
	freeReplyObject(cmd("ACL SETUSER default +select"));
	CU_ASSERT_EQUAL(cmd_int("EXISTS %s", "ns:t:db"), 0); /* nothing reached db 0 */
	result_clear(&r);
}

static double stat_value;
static const char *stat_name;

static void
on_stat(void *ctx, const char *name, double v)
{
	(void)ctx;
	if (strcmp(name, stat_name) == 0)
		stat_value = v;
}

static double
store_stat(cki_store *s, const char *name)
{
	stat_name = name;
	stat_value = -1;
	s->ops->stats(s, on_stat, NULL);
	return stat_value;
}

/* Scripts go as EVALSHA once loaded; a flushed script cache is survived with one EVAL. */
static void
test_script_cache_flush(void)
{
	cki_store *s = new_store();
	struct result r = {0};
	cki_put_opts o = {.ttl_s = 60, .stale_ttl_s = 10};

	RUN(&r, s->ops->health(s, D, on_result, &r)); /* handshake done: scripts loaded */
	RUN(&r, s->ops->put(s, "ns:t:sha", (const uint8_t *)"v1", 2, &o, D, on_result, &r));
	CU_ASSERT_EQUAL(r.err, CK_OK);
	CU_ASSERT_EQUAL(store_stat(s, "redis_noscript_retries"), 0);
	freeReplyObject(cmd("SCRIPT FLUSH"));
	RUN(&r, s->ops->get(s, "ns:t:sha", D, on_result, &r));
	CU_ASSERT_EQUAL(r.err, CK_OK);
	CU_ASSERT_TRUE(r.found);
	CU_ASSERT_STRING_EQUAL(r.value, "v1");
	CU_ASSERT_EQUAL(r.freshness, CKI_FRESH);
	CU_ASSERT_EQUAL(store_stat(s, "redis_noscript_retries"), 1);
	RUN(&r, s->ops->lock(s, "ns:t:sha", 5000, D, on_result, &r));
	CU_ASSERT_TRUE_FATAL(r.has_lock_id);
	char id[64];
	snprintf(id, sizeof id, "%s", r.lock_id);
	RUN(&r, s->ops->unlock(s, "ns:t:sha", id, D, on_result, &r));
	CU_ASSERT_EQUAL(r.err, CK_OK);
	CU_ASSERT_TRUE(r.found);
	CU_ASSERT_EQUAL(store_stat(s, "redis_noscript_retries"), 2);
	result_clear(&r);
	s->ops->destroy(s);
}

static void
test_pipelined_operations(void)
{
	cki_store *s = new_store();
	enum { N = 200 };
	static struct result rs[N];
	char key[32];
	int start = done_calls;
	cki_put_opts o = {.ttl_s = 60};

	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof key, "ns:t:p%d", i);
		s->ops->put(s, key, (const uint8_t *)key, strlen(key), &o, D, on_result, &rs[i]);
	}
	run_until(start + N);
	start = done_calls;
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof key, "ns:t:p%d", i);
		result_clear(&rs[i]);
		s->ops->get(s, key, D, on_result, &rs[i]);
	}
	run_until(start + N);
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof key, "ns:t:p%d", i);
		CU_ASSERT_TRUE(rs[i].found);
		CU_ASSERT_TRUE(rs[i].value != NULL && strcmp(rs[i].value, key) == 0);
		result_clear(&rs[i]);
	}
	s->ops->destroy(s);
}

/* A paused server: answers come at the deadline, a full queue refuses, destroy fails what is
 * in flight. */
static void
test_deadline_overload_and_destroy(void)
{
	cki_redis_opts o = {.url = url, .max_inflight = 2, .breaker_failures = 1000};
	cki_store *s = new_store_opts(&o);
	struct result r = {0}, a = {0}, b = {0}, c = {0};
	uint64_t deadline;
	int start;

	RUN(&r, s->ops->health(s, D, on_result, &r)); /* connected */
	CU_ASSERT_EQUAL(r.err, CK_OK);
	kill_redis(SIGSTOP);
	deadline = deadline_in(300);
	RUN(&r, s->ops->get(s, "ns:t:slow", deadline, on_result, &r));
	CU_ASSERT_EQUAL(r.err, CK_ETIMEDOUT);
	CU_ASSERT_TRUE(r.at_ms >= deadline);
	/* the timed-out GET still sits in hiredis: one slot is left */
	start = done_calls;
	s->ops->get(s, "ns:t:a", deadline_in(GUARD_MS), on_result, &a);
	s->ops->get(s, "ns:t:b", deadline_in(GUARD_MS), on_result, &b);
	CU_ASSERT_EQUAL(b.calls, 1);
	CU_ASSERT_EQUAL(b.err, CK_EOVERLOAD);
	CU_ASSERT_EQUAL(a.calls, 0);
	s->ops->destroy(s);
	CU_ASSERT_EQUAL(a.calls, 1);
	CU_ASSERT_EQUAL(a.err, CK_ESHUTDOWN);
	CU_ASSERT_EQUAL(done_calls, start + 2);
	kill_redis(SIGCONT);
	CU_ASSERT_TRUE(server_pings());
	result_clear(&r);
	result_clear(&a);
	result_clear(&b);
	result_clear(&c);
}

/* kill -9 of the server: clear errors (never a wrong value), the breaker opens, and after a
 * restart the store reconnects by itself. */
static void
test_kill_restart_and_breaker(void)
{
	cki_redis_opts o = {.url = url, .breaker_failures = 3, .breaker_open_ms = 200};
	cki_store *s = new_store_opts(&o);
	struct result r = {0};
	cki_put_opts po = {.ttl_s = 600};
	bool back = false;

	RUN(&r, s->ops->put(s, "ns:t:kill", (const uint8_t *)"before", 6, &po, D, on_result, &r));
	CU_ASSERT_EQUAL(r.err, CK_OK);
	kill_redis(SIGKILL);
	for (int i = 0; i < 6; i++) {
		RUN(&r, s->ops->get(s, "ns:t:kill", D, on_result, &r));
		CU_ASSERT_TRUE(r.err == CK_EUPSTREAM || r.err == CK_EUNAVAILABLE ||
		               r.err == CK_ETIMEDOUT);
		CU_ASSERT_FALSE(r.found);
	}
	CU_ASSERT_EQUAL(r.err, CK_EUNAVAILABLE); /* 3 failures opened the breaker */
	CU_ASSERT_FATAL(start_redis());
	/* the data is gone (no persistence); the store must come back by itself */
	for (int i = 0; i < 3000 && !back; i++) {
		RUN(&r, s->ops->get(s, "ns:t:kill", D, on_result, &r));
		back = r.err == CK_OK;
		if (!back)
			loop_for(10);
	}
	CU_ASSERT_TRUE(back);
	CU_ASSERT_FALSE(r.found);
	RUN(&r, s->ops->put(s, "ns:t:kill", (const uint8_t *)"after", 5, &po, D, on_result, &r));
	CU_ASSERT_EQUAL(r.err, CK_OK);
	RUN(&r, s->ops->get(s, "ns:t:kill", D, on_result, &r));
	CU_ASSERT_TRUE(r.found);
	CU_ASSERT_STRING_EQUAL(r.value, "after");
	result_clear(&r);
	s->ops->destroy(s);
}

static CU_TestInfo tests[] = {
        {"AUTH: right, wrong and missing password", test_password},
        {"db selection; a refused SELECT writes nothing", test_database_selection},
        {"EVALSHA, and EVAL after SCRIPT FLUSH", test_script_cache_flush},
        {"200 pipelined puts and gets", test_pipelined_operations},
        {"deadline, full queue and destroy on a paused server", test_deadline_overload_and_destroy},
        {"kill -9, breaker, restart and reconnect", test_kill_restart_and_breaker},
        CU_TEST_INFO_NULL,
};

CK_UNIT_SUITE_FULL("store_redis_conn", tests, suite_init, suite_clean)
