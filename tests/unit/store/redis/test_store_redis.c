/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for the Redis store (agent/store/redis/): the URL parser and the key -> slot function
 * as pure code, then the data operations on a real cki_loop against a real redis-server on a
 * unix socket in a temp dir (redis_harness.h); connection, scripts and failures are in
 * test_store_redis_conn.c. What the store wrote is checked with a separate synchronous hiredis
 * connection, so the assertions are about what Redis holds: cachekit-py's layout (the key,
 * the value bytes, SETEX), the stale marker, the lock key.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cunit_main.h"
#include "redis_harness.h"
#include "store/redis/url.h"

/* ---- pure code ---------------------------------------------------------------------------- */

static void
test_url_forms(void)
{
	cki_redis_url u;
	char why[200];

	CU_ASSERT_EQUAL(cki_redis_url_parse("redis://cache.local:6380/3", &u, why, sizeof why),
	                CK_OK);
	CU_ASSERT_EQUAL(u.kind, CKI_REDIS_TCP);
	CU_ASSERT_STRING_EQUAL(u.addrs[0].host, "cache.local");
	CU_ASSERT_EQUAL(u.addrs[0].port, 6380);
	CU_ASSERT_EQUAL(u.db, 3);
	CU_ASSERT_FALSE(u.has_password);

	const char *with_pw = "redis://app:s3cret@10.0.0.1:6379";
	CU_ASSERT_EQUAL(cki_redis_url_parse(with_pw, &u, why, sizeof why), CK_OK);
	CU_ASSERT_TRUE(u.has_password);
	CU_ASSERT_STRING_EQUAL(u.user, "app");
	CU_ASSERT_EQUAL(u.password_len, 6);
	CU_ASSERT_EQUAL(memcmp(with_pw + u.password_off, "s3cret", 6), 0);
	CU_ASSERT_STRING_EQUAL(u.display, "redis://app@10.0.0.1:6379");
	CU_ASSERT_PTR_NULL(strstr(u.display, "s3cret"));

	CU_ASSERT_EQUAL(
	        cki_redis_url_parse("redis+unix:///run/redis.sock?db=2", &u, why, sizeof why),
	        CK_OK);
	CU_ASSERT_EQUAL(u.kind, CKI_REDIS_UNIX);
	CU_ASSERT_STRING_EQUAL(u.path, "/run/redis.sock");
	CU_ASSERT_EQUAL(u.db, 2);

	CU_ASSERT_EQUAL(cki_redis_url_parse("redis+cluster://127.0.0.1:7000,[::1]:7001,h:7002", &u,
	                                    why, sizeof why),
	                CK_OK);
	CU_ASSERT_EQUAL(u.kind, CKI_REDIS_CLUSTER);
	CU_ASSERT_EQUAL(u.naddrs, 3);
	CU_ASSERT_STRING_EQUAL(u.addrs[1].host, "::1");
	CU_ASSERT_EQUAL(u.addrs[2].port, 7002);

	static const char *const bad[] = {
	        "redis://",
	        "redis://host",
	        "redis://host:0",
	        "redis://host:70000",
	        "redis://h:1/16",
	        "redis://h:1,h:2",
	        "redis+unix://relative.sock",
	        "redis+unix:///x.sock?foo=1",
	        "redis+cluster://h:1/2",
	        "rediss://h:1",
	        "redis://bad host:1",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CU_ASSERT_EQUAL(cki_redis_url_parse(bad[i], &u, why, sizeof why), CK_EURL);
}

static void
test_key_slots(void)
{
	/* Reference values from the Redis Cluster specification and CLUSTER KEYSLOT. */
	CU_ASSERT_EQUAL(cki_redis_key_slot("123456789", 9), 0x31C3 & 16383);
	CU_ASSERT_EQUAL(cki_redis_key_slot("foo", 3), 12182);
	CU_ASSERT_EQUAL(cki_redis_key_slot("{user1000}.following", 20),
	                cki_redis_key_slot("user1000", 8));
	CU_ASSERT_EQUAL(cki_redis_key_slot("ck:stale:{ns:a:k}", 17),
	                cki_redis_key_slot("ns:a:k", 6));
	CU_ASSERT_EQUAL(cki_redis_key_slot("foo{}{bar}", 10),
	                cki_redis_key_slot("foo{}{bar}", 10)); /* empty tag: whole key */
	CU_ASSERT_NOT_EQUAL(cki_redis_key_slot("foo{}{bar}", 10), cki_redis_key_slot("bar", 3));
	CU_ASSERT_EQUAL(cki_redis_key_slot("foo{{bar}}zap", 13), cki_redis_key_slot("{bar", 4));
	/* and what the live server says */
	redisReply *r = cmd("CLUSTER KEYSLOT %s", "ns:app:user:42");
	(void)r; /* a non-cluster server refuses CLUSTER: the reference values above suffice */
	freeReplyObject(r);
}

static void
test_constructor_rejects(void)
{
	cki_store *s = NULL;
	char why[200] = "";
	cki_redis_opts o = {.url = "redis://user:pw@127.0.0.1:6379"};

	CU_ASSERT_EQUAL(cki_store_redis_new(&s, loop, &o, why, sizeof why), CK_EURL);
	CU_ASSERT_PTR_NULL(s);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "password"));
	CU_ASSERT_PTR_NULL(strstr(why, "pw@"));
	o.url = "https://api.cachekit.io";
	CU_ASSERT_EQUAL(cki_store_redis_new(&s, loop, &o, why, sizeof why), CK_EURL);
	CU_ASSERT_PTR_NULL(s);
}

/* ---- against the server ------------------------------------------------------------------- */

static void
test_put_get_round_trip(void)
{
	cki_store *s = new_store();
	struct result r = {0};
	static const uint8_t value[] = {'v', 0, 1, 2, 0xff, '\r', '\n', 'z'};
	cki_put_opts o = {.ttl_s = 60};
	redisReply *raw;

	CU_ASSERT_STRING_EQUAL(s->ops->backend_type, "redis");
	CU_ASSERT_STRING_EQUAL(s->ops->url(s), url);
	RUN(&r, s->ops->put(s, "ns:t:bin", value, sizeof value, &o, D, on_result, &r));
	CU_ASSERT_EQUAL(r.err, CK_OK);
	RUN(&r, s->ops->get(s, "ns:t:bin", D, on_result, &r));
	CU_ASSERT_EQUAL(r.err, CK_OK);
	CU_ASSERT_TRUE(r.found);
	CU_ASSERT_EQUAL(r.value_len, sizeof value);
	CU_ASSERT_EQUAL(memcmp(r.value, value, sizeof value), 0);
	CU_ASSERT_EQUAL(r.freshness, CKI_FRESH);
	CU_ASSERT_TRUE(r.fresh_for_ms > 55000 && r.fresh_for_ms <= 60000);
	/* cachekit-py's layout: the key itself, the bytes as given, a plain expiry, no marker */
	raw = cmd("GET %s", "ns:t:bin");
	CU_ASSERT_FATAL(raw != NULL && raw->type == REDIS_REPLY_STRING);
	CU_ASSERT_EQUAL(raw->len, sizeof value);
	CU_ASSERT_EQUAL(memcmp(raw->str, value, sizeof value), 0);
	freeReplyObject(raw);
	CU_ASSERT_TRUE(cmd_int("TTL %s", "ns:t:bin") > 55);
	CU_ASSERT_EQUAL(cmd_int("EXISTS %s", "ck:stale:{ns:t:bin}"), 0);
	/* no TTL: no expiry */
	RUN(&r, s->ops->put(s, "ns:t:forever", (const uint8_t *)"x", 1, NULL, D, on_result, &r));
	CU_ASSERT_EQUAL(r.err, CK_OK);
	CU_ASSERT_EQUAL(cmd_int("TTL %s", "ns:t:forever"), -1);
	RUN(&r, s->ops->get(s, "ns:t:forever", D, on_result, &r));
	CU_ASSERT_TRUE(r.found);
	CU_ASSERT_EQUAL(r.fresh_for_ms, -1);
	/* empty value */
	RUN(&r, s->ops->put(s, "ns:t:empty", NULL, 0, &o, D, on_result, &r));
	CU_ASSERT_EQUAL(r.err, CK_OK);
	RUN(&r, s->ops->get(s, "ns:t:empty", D, on_result, &r));
	CU_ASSERT_TRUE(r.found);
	CU_ASSERT_EQUAL(r.value_len, 0);
	/* miss */
	RUN(&r, s->ops->get(s, "ns:t:missing", D, on_result, &r));
	CU_ASSERT_EQUAL(r.err, CK_OK);
	CU_ASSERT_FALSE(r.found);
	result_clear(&r);
	s->ops->destroy(s);
}

static void
test_reads_what_cachekit_py_wrote(void)
{
	cki_store *s = new_store();
	struct result r = {0};

	freeReplyObject(cmd("SETEX %s %d %b", "ns:py:k", 120, "from-python\0!", (size_t)13));
	RUN(&r, s->ops->get(s, "ns:py:k", D, on_result, &r));
	CU_ASSERT_TRUE(r.found);
	CU_ASSERT_EQUAL(r.value_len, 13);
	CU_ASSERT_EQUAL(memcmp(r.value, "from-python\0!", 13), 0);
	CU_ASSERT_EQUAL(r.freshness, CKI_FRESH);
	CU_ASSERT_TRUE(r.fresh_for_ms > 110000);
	/* a stale marker left behind, then a plain SETEX by someone else: the marker no longer
	 * matches the entry's expiry and is ignored */
	freeReplyObject(cmd("SETEX %s %d %s", "ck:stale:{ns:py:k}", 500, "400000"));
	RUN(&r, s->ops->get(s, "ns:py:k", D, on_result, &r));
	CU_ASSERT_EQUAL(r.freshness, CKI_FRESH);
	CU_ASSERT_TRUE(r.fresh_for_ms > 110000);
	result_clear(&r);
	s->ops->destroy(s);
}

static void
test_stale_window(void)
{
	cki_store *s = new_store();
	struct result r = {0};
	cki_put_opts o = {.ttl_s = 100, .stale_ttl_s = 50};

	RUN(&r, s->ops->put(s, "ns:t:stale", (const uint8_t *)"old", 3, &o, D, on_result, &r));
	CU_ASSERT_EQUAL(r.err, CK_OK);
	/* the entry lives ttl + stale; the marker holds the window and expires with it */
	CU_ASSERT_TRUE(cmd_int("TTL %s", "ns:t:stale") > 140);
	CU_ASSERT_TRUE(cmd_int("TTL %s", "ck:stale:{ns:t:stale}") > 140);
	RUN(&r, s->ops->get(s, "ns:t:stale", D, on_result, &r));
	CU_ASSERT_EQUAL(r.freshness, CKI_FRESH);
	CU_ASSERT_TRUE(r.fresh_for_ms > 95000 && r.fresh_for_ms <= 100000);
	RUN(&r, s->ops->get_ttl(s, "ns:t:stale", D, on_result, &r));
	CU_ASSERT_TRUE(r.ttl_s > 140 && r.ttl_s <= 150);
	/* move both expiries inside the stale window (as time would) */
	freeReplyObject(cmd("EVAL %s 2 %s %s",
	                    "redis.call('PEXPIRE', KEYS[1], 20000) "
	                    "return redis.call('PEXPIRE', KEYS[2], 20000)",
	                    "ns:t:stale", "ck:stale:{ns:t:stale}"));
	RUN(&r, s->ops->get(s, "ns:t:stale", D, on_result, &r));
	CU_ASSERT_TRUE(r.found);
	CU_ASSERT_STRING_EQUAL(r.value, "old");
	CU_ASSERT_EQUAL(r.freshness, CKI_STALE);
	CU_ASSERT_EQUAL(r.fresh_for_ms, 0);
	/* exists still sees it; touch refuses a stale entry */
	RUN(&r, s->ops->exists(s, "ns:t:stale", D, on_result, &r));
	CU_ASSERT_TRUE(r.found);
	RUN(&r, s->ops->touch(s, "ns:t:stale", 30, D, on_result, &r));
	CU_ASSERT_EQUAL(r.err, CK_ECONFLICT);
	/* a rewrite without a window drops the marker */
	o.stale_ttl_s = 0;
	RUN(&r, s->ops->put(s, "ns:t:stale", (const uint8_t *)"new", 3, &o, D, on_result, &r));
	CU_ASSERT_EQUAL(cmd_int("EXISTS %s", "ck:stale:{ns:t:stale}"), 0);
	/* a stale window needs a ttl */
	o.ttl_s = 0;
	o.stale_ttl_s = 5;
	RUN(&r, s->ops->put(s, "ns:t:stale", (const uint8_t *)"x", 1, &o, D, on_result, &r));
	CU_ASSERT_EQUAL(r.err, CK_EINVAL);
	result_clear(&r);
	s->ops->destroy(s);
}

static void
test_exists_del_ttl_touch(void)
{
	cki_store *s = new_store();
	struct result r = {0};
	cki_put_opts o = {.ttl_s = 10, .stale_ttl_s = 5};

	RUN(&r, s->ops->put(s, "ns:t:k", (const uint8_t *)"v", 1, &o, D, on_result, &r));
	RUN(&r, s->ops->exists(s, "ns:t:k", D, on_result, &r));
	CU_ASSERT_TRUE(r.found);
	RUN(&r, s->ops->get_ttl(s, "ns:t:k", D, on_result, &r));
	CU_ASSERT_TRUE(r.found);
	CU_ASSERT_TRUE(r.ttl_s >= 14 && r.ttl_s <= 15);
	/* touch: a new fresh window, the stale window kept */
	RUN(&r, s->ops->touch(s, "ns:t:k", 100, D, on_result, &r));
	CU_ASSERT_EQUAL(r.err, CK_OK);
	CU_ASSERT_TRUE(r.found);
	RUN(&r, s->ops->get_ttl(s, "ns:t:k", D, on_result, &r));
	CU_ASSERT_TRUE(r.ttl_s >= 104 && r.ttl_s <= 105);
	RUN(&r, s->ops->get(s, "ns:t:k", D, on_result, &r));
	CU_ASSERT_TRUE(r.fresh_for_ms > 95000 && r.fresh_for_ms <= 100000);
	CU_ASSERT_TRUE(cmd_int("TTL %s", "ck:stale:{ns:t:k}") >= 104);
	/* delete removes entry and marker */
	RUN(&r, s->ops->del(s, "ns:t:k", D, on_result, &r));
	CU_ASSERT_TRUE(r.found);
	CU_ASSERT_EQUAL(cmd_int("EXISTS %s", "ck:stale:{ns:t:k}"), 0);
	RUN(&r, s->ops->del(s, "ns:t:k", D, on_result, &r));
	CU_ASSERT_EQUAL(r.err, CK_OK);
	CU_ASSERT_FALSE(r.found);
	RUN(&r, s->ops->exists(s, "ns:t:k", D, on_result, &r));
	CU_ASSERT_FALSE(r.found);
	RUN(&r, s->ops->get_ttl(s, "ns:t:k", D, on_result, &r));
	CU_ASSERT_FALSE(r.found);
	/* touch of an absent key is a no-op; of a no-expiry key makes it bounded */
	RUN(&r, s->ops->touch(s, "ns:t:k", 100, D, on_result, &r));
	CU_ASSERT_EQUAL(r.err, CK_OK);
	CU_ASSERT_FALSE(r.found);
	RUN(&r, s->ops->put(s, "ns:t:k", (const uint8_t *)"v", 1, NULL, D, on_result, &r));
	RUN(&r, s->ops->get_ttl(s, "ns:t:k", D, on_result, &r));
	CU_ASSERT_EQUAL(r.ttl_s, -1);
	RUN(&r, s->ops->touch(s, "ns:t:k", 30, D, on_result, &r));
	CU_ASSERT_TRUE(r.found);
	RUN(&r, s->ops->get_ttl(s, "ns:t:k", D, on_result, &r));
	CU_ASSERT_TRUE(r.ttl_s >= 29 && r.ttl_s <= 30);
	/* bad input fails without a command */
	RUN(&r, s->ops->touch(s, "ns:t:k", 0, D, on_result, &r));
	CU_ASSERT_EQUAL(r.err, CK_EINVAL);
	RUN(&r, s->ops->get(s, "bad{key}", D, on_result, &r));
	CU_ASSERT_EQUAL(r.err, CK_EINVALKEY);
	RUN(&r, s->ops->get(s, "", D, on_result, &r));
	CU_ASSERT_EQUAL(r.err, CK_EINVALKEY);
	result_clear(&r);
	s->ops->destroy(s);
}

static void
test_locks(void)
{
	cki_store *s = new_store();
	struct result r = {0};
	char id[64];
	redisReply *raw;

	RUN(&r, s->ops->lock(s, "ns:t:job", 30000, D, on_result, &r));
	CU_ASSERT_EQUAL(r.err, CK_OK);
	CU_ASSERT_TRUE_FATAL(r.has_lock_id);
	CU_ASSERT_EQUAL(strlen(r.lock_id), 36);
	snprintf(id, sizeof id, "%s", r.lock_id);
	raw = cmd("GET %s", "ck:lock:{ns:t:job}");
	CU_ASSERT_FATAL(raw != NULL && raw->type == REDIS_REPLY_STRING);
	CU_ASSERT_STRING_EQUAL(raw->str, id);
	freeReplyObject(raw);
	CU_ASSERT_TRUE(cmd_int("PTTL %s", "ck:lock:{ns:t:job}") > 25000);
	/* contested */
	RUN(&r, s->ops->lock(s, "ns:t:job", 30000, D, on_result, &r));
	CU_ASSERT_EQUAL(r.err, CK_OK);
	CU_ASSERT_FALSE(r.has_lock_id);
	/* only the holder releases */
	RUN(&r, s->ops->unlock(s, "ns:t:job", "00000000-0000-4000-8000-000000000000", D, on_result,
	                       &r));
	CU_ASSERT_EQUAL(r.err, CK_OK);
	CU_ASSERT_FALSE(r.found);
	CU_ASSERT_EQUAL(cmd_int("EXISTS %s", "ck:lock:{ns:t:job}"), 1);
	RUN(&r, s->ops->unlock(s, "ns:t:job", id, D, on_result, &r));
	CU_ASSERT_TRUE(r.found);
	CU_ASSERT_EQUAL(cmd_int("EXISTS %s", "ck:lock:{ns:t:job}"), 0);
	RUN(&r, s->ops->unlock(s, "ns:t:job", id, D, on_result, &r));
	CU_ASSERT_FALSE(r.found);
	/* a lease that lapses frees the lock for the next caller */
	RUN(&r, s->ops->lock(s, "ns:t:job", 30000, D, on_result, &r));
	CU_ASSERT_TRUE(r.has_lock_id);
	CU_ASSERT_STRING_NOT_EQUAL(r.lock_id, id);
	freeReplyObject(cmd("DEL %s", "ck:lock:{ns:t:job}")); /* as the expiry would */
	RUN(&r, s->ops->lock(s, "ns:t:job", 30000, D, on_result, &r));
	CU_ASSERT_TRUE(r.has_lock_id);
	result_clear(&r);
	s->ops->destroy(s);
}

static void
test_lock_renewal(void)
{
	cki_store *s = new_store();
	struct result r = {0};
	char id[64];
	const char *lk = "ck:lock:{ns:t:renew}";

	RUN(&r, s->ops->lock(s, "ns:t:renew", 2000, D, on_result, &r));
	CU_ASSERT_TRUE_FATAL(r.has_lock_id);
	snprintf(id, sizeof id, "%s", r.lock_id);
	CU_ASSERT_TRUE(cmd_int("PTTL %s", lk) <= 2000);
	/* the holder renews: the lease is now the new one, from now */
	RUN(&r, s->ops->renew_lock(s, "ns:t:renew", id, 60000, D, on_result, &r));
	CU_ASSERT_EQUAL(r.err, CK_OK);
	CU_ASSERT_TRUE(r.found);
	CU_ASSERT_TRUE(cmd_int("PTTL %s", lk) > 55000);
	/* a wrong token renews nothing and leaves the lease as it is */
	RUN(&r, s->ops->renew_lock(s, "ns:t:renew", "00000000-0000-4000-8000-000000000000", 600000,
	                           D, on_result, &r));
	CU_ASSERT_EQUAL(r.err, CK_OK);
	CU_ASSERT_FALSE(r.found);
	CU_ASSERT_TRUE(cmd_int("PTTL %s", lk) <= 60000);
	/* after a flushed script cache (NOSCRIPT) the renewal still runs, as EVAL */
	freeReplyObject(cmd("SCRIPT FLUSH"));
	RUN(&r, s->ops->renew_lock(s, "ns:t:renew", id, 90000, D, on_result, &r));
	CU_ASSERT_EQUAL(r.err, CK_OK);
	CU_ASSERT_TRUE(r.found);
	CU_ASSERT_TRUE(cmd_int("PTTL %s", lk) > 85000);
	/* someone else holds it now (the lease lapsed and was taken): the old token renews nothing
	 */
	freeReplyObject(cmd("SET %s someone-else PX 30000", lk));
	RUN(&r, s->ops->renew_lock(s, "ns:t:renew", id, 90000, D, on_result, &r));
	CU_ASSERT_FALSE(r.found);
	CU_ASSERT_TRUE(cmd_int("PTTL %s", lk) <= 30000);
	/* gone altogether: nothing to renew, and no key is created */
	freeReplyObject(cmd("DEL %s", lk));
	RUN(&r, s->ops->renew_lock(s, "ns:t:renew", id, 90000, D, on_result, &r));
	CU_ASSERT_EQUAL(r.err, CK_OK);
	CU_ASSERT_FALSE(r.found);
	CU_ASSERT_EQUAL(cmd_int("EXISTS %s", lk), 0);
	/* refused before anything is sent */
	RUN(&r, s->ops->renew_lock(s, "ns:t:renew", id, 0, D, on_result, &r));
	CU_ASSERT_EQUAL(r.err, CK_EINVAL);
	RUN(&r, s->ops->renew_lock(s, "ns:t:renew", "", 1000, D, on_result, &r));
	CU_ASSERT_EQUAL(r.err, CK_EINVAL);
	result_clear(&r);
	s->ops->destroy(s);
}

static void
test_health(void)
{
	cki_store *s = new_store();
	struct result r = {0};
	redisReply *info = cmd("INFO server");
	char expect[64] = "";

	CU_ASSERT_FATAL(info != NULL && info->type == REDIS_REPLY_STRING);
	sscanf(strstr(info->str, "redis_version:") + 14, "%63[^\r\n]", expect);
	freeReplyObject(info);
	RUN(&r, s->ops->health(s, D, on_result, &r));
	CU_ASSERT_EQUAL(r.err, CK_OK);
	CU_ASSERT_TRUE(r.found);
	CU_ASSERT_TRUE(r.latency_ms >= 0 && r.latency_ms < GUARD_MS);
	CU_ASSERT_STRING_EQUAL(r.version, expect);
	result_clear(&r);
	s->ops->destroy(s);
}

static CU_TestInfo tests[] = {
        {"URL forms, password span and refusals", test_url_forms},
        {"key slots follow CRC16 and hash tags", test_key_slots},
        {"constructor refuses a password in the URL", test_constructor_rejects},
        {"put then get: bytes, SETEX layout, no expiry, empty, miss", test_put_get_round_trip},
        {"reads what cachekit-py wrote (plain SETEX)", test_reads_what_cachekit_py_wrote},
        {"stale window: marker, stale read, conflict on touch", test_stale_window},
        {"exists, delete, ttl and touch", test_exists_del_ttl_touch},
        {"locks: NX token, contested, holder-only release", test_locks},
        {"lock renewal: holder extends (PTTL), wrong token and lapsed lease do not",
         test_lock_renewal},
        {"health: PING latency and INFO version", test_health},
        CU_TEST_INFO_NULL,
};

CK_UNIT_SUITE_FULL("store_redis", tests, suite_init, suite_clean)
