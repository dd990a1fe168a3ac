/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for the Redis store (agent/store/redis/): the URL parser and the key -> slot function
 * as pure code, then the store on a real cki_loop against a real redis-server on a unix
 * socket in a temp dir, started and stopped by the suite (and killed, paused and restarted by
 * the resilience tests). What the store wrote is checked with a separate synchronous hiredis
 * connection, so the assertions are about what Redis holds: cachekit-py's layout (the key,
 * the value bytes, SETEX), the stale marker, the lock key.
 */
#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cunit_main.h"
#include "base/loop.h"
#include "store/redis/store_redis.h"
#include "store/redis/url.h"

uint16_t cki_redis_key_slot(const char *key, size_t len); /* cluster.c */

#define GUARD_MS 30000u

static cki_loop *loop;
static pid_t redis_pid = -1;
static char tmpdir[64], sock_path[128], url[160];

/* ---- the server ---------------------------------------------------------------------------- */

static redisContext *
sync_conn(void)
{
	struct timeval tv = {2, 0};
	redisContext *c = redisConnectUnixWithTimeout(sock_path, tv);

	if (c != NULL && c->err) {
		redisFree(c);
		return NULL;
	}
	return c;
}

/* Runs a command on a fresh synchronous connection; the caller frees the reply. */
static redisReply *
cmd(const char *fmt, ...)
{
	redisContext *c = sync_conn();
	redisReply *r = NULL;
	va_list ap;

	if (c == NULL)
		return NULL;
	va_start(ap, fmt);
	r = redisvCommand(c, fmt, ap);
	va_end(ap);
	redisFree(c);
	return r;
}

static long long
cmd_int(const char *fmt, const char *key)
{
	redisReply *r = cmd(fmt, key);
	long long v = r != NULL && r->type == REDIS_REPLY_INTEGER ? r->integer : -999;

	freeReplyObject(r);
	return v;
}

static bool
server_pings(void)
{
	redisReply *r = cmd("PING");
	bool ok = r != NULL && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;

	freeReplyObject(r);
	return ok;
}

static bool
start_redis(void)
{
	struct timespec nap = {0, 20 * 1000 * 1000};

	redis_pid = fork();
	if (redis_pid < 0)
		return false;
	if (redis_pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execlp("redis-server", "redis-server", "--port", "0", "--unixsocket", sock_path,
		       "--save", "", "--appendonly", "no", "--dir", tmpdir, "--logfile",
		       "/dev/null", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 1500; i++) { /* poll PING for up to 30 s */
		if (server_pings())
			return true;
		nanosleep(&nap, NULL);
	}
	return false;
}

static void
kill_redis(int sig)
{
	if (redis_pid <= 0)
		return;
	kill(redis_pid, sig);
	if (sig == SIGKILL || sig == SIGTERM) {
		waitpid(redis_pid, NULL, 0);
		redis_pid = -1;
		unlink(sock_path);
	}
}

static int
suite_init(void)
{
	if (cki_loop_new(&loop) != CK_OK)
		return 1;
	snprintf(tmpdir, sizeof tmpdir, "/tmp/ck-redis-test-XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return 1;
	snprintf(sock_path, sizeof sock_path, "%s/redis.sock", tmpdir);
	snprintf(url, sizeof url, "redis+unix://%s", sock_path);
	if (!start_redis())
		fprintf(stderr, "test_store_redis: redis-server did not start\n");
	return 0;
}

static int
suite_clean(void)
{
	kill_redis(SIGCONT);
	kill_redis(SIGTERM);
	unlink(sock_path);
	rmdir(tmpdir);
	cki_loop_free(loop);
	return 0;
}

/* ---- running the store --------------------------------------------------------------------- */

struct result {
	int calls;
	ck_err err;
	bool found;
	char *value;
	size_t value_len;
	cki_freshness freshness;
	int64_t fresh_for_ms, ttl_s;
	bool has_lock_id;
	char lock_id[64], version[64];
	double latency_ms;
	uint64_t at_ms;
};

static int done_calls, target_calls;
static bool guard_fired;

static void
on_result(void *arg, const cki_store_reply *r)
{
	struct result *out = arg;

	out->calls++;
	out->err = r->err;
	out->found = r->found;
	free(out->value);
	out->value = NULL;
	out->value_len = r->value_len;
	if (r->value != NULL) {
		out->value = malloc(r->value_len + 1);
		memcpy(out->value, r->value, r->value_len);
		out->value[r->value_len] = '\0';
	}
	out->freshness = r->freshness;
	out->fresh_for_ms = r->fresh_for_ms;
	out->ttl_s = r->ttl_s;
	out->has_lock_id = r->lock_id != NULL;
	snprintf(out->lock_id, sizeof out->lock_id, "%s", r->lock_id ? r->lock_id : "");
	snprintf(out->version, sizeof out->version, "%s", r->version ? r->version : "");
	out->latency_ms = r->latency_ms;
	out->at_ms = cki_now_ms();
	done_calls++;
	if (target_calls > 0 && done_calls >= target_calls)
		cki_loop_stop(loop);
}

static void
on_guard(cki_loop *l, void *arg)
{
	(void)arg;
	guard_fired = true;
	cki_loop_stop(l);
}

/* Runs the loop until done_calls reaches total (callbacks may have fired inside the call). */
static void
run_until(int total)
{
	cki_timer_id guard;

	if (done_calls >= total)
		return;
	target_calls = total;
	guard_fired = false;
	guard = cki_loop_timer(loop, GUARD_MS, on_guard, NULL);
	CU_ASSERT_EQUAL(cki_loop_run(loop), CK_OK);
	cki_loop_timer_cancel(loop, guard);
	CU_ASSERT_FALSE(guard_fired);
	target_calls = 0;
}

static void
on_nap(cki_loop *l, void *arg)
{
	(void)arg;
	cki_loop_stop(l);
}

/* Lets the loop turn for ms (used only to let reconnect timers run while polling). */
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

static cki_store *
new_store_opts(const cki_redis_opts *o)
{
	cki_store *s = NULL;
	char why[200] = "";
	ck_err rv = cki_store_redis_new(&s, loop, o, why, sizeof why);

	if (rv != CK_OK)
		fprintf(stderr, "\n  store_redis_new: %s (%s)\n", ck_strerror(rv), why);
	CU_ASSERT_EQUAL_FATAL(rv, CK_OK);
	return s;
}

static cki_store *
new_store(void)
{
	cki_redis_opts o = {.url = url, .breaker_failures = 1000};
	return new_store_opts(&o);
}

/* One operation on result res, run to its callback. */
#define RUN(res, call)                       \
	do {                                 \
		int total_ = done_calls + 1; \
		result_clear(res);           \
		call;                        \
		run_until(total_);           \
	} while (0)

#define D deadline_in(5000)

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
        {"URL forms, password span and refusals", test_url_forms},
        {"key slots follow CRC16 and hash tags", test_key_slots},
        {"constructor refuses a password in the URL", test_constructor_rejects},
        {"put then get: bytes, SETEX layout, no expiry, empty, miss", test_put_get_round_trip},
        {"reads what cachekit-py wrote (plain SETEX)", test_reads_what_cachekit_py_wrote},
        {"stale window: marker, stale read, conflict on touch", test_stale_window},
        {"exists, delete, ttl and touch", test_exists_del_ttl_touch},
        {"locks: NX token, contested, holder-only release", test_locks},
        {"health: PING latency and INFO version", test_health},
        {"AUTH: right, wrong and missing password", test_password},
        {"db selection; a refused SELECT writes nothing", test_database_selection},
        {"EVALSHA, and EVAL after SCRIPT FLUSH", test_script_cache_flush},
        {"200 pipelined puts and gets", test_pipelined_operations},
        {"deadline, full queue and destroy on a paused server", test_deadline_overload_and_destroy},
        {"kill -9, breaker, restart and reconnect", test_kill_restart_and_breaker},
        CU_TEST_INFO_NULL,
};

CK_UNIT_SUITE_FULL("store_redis", tests, suite_init, suite_clean)
