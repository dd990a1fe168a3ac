/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Resilience of the Redis store (agent/store/redis/retry.c) against a real redis-server on a
 * unix socket: a command lost with its connection is sent once more on a fresh connection
 * within its deadline. The server is paused (SIGSTOP) so the commands are surely in flight,
 * killed with SIGKILL and restarted on the same socket (with the data seeded again) before
 * the loop runs, so the store notices the loss only when the new server already listens:
 * every operation must then get the right answer, a lock acquire included (its retry checks
 * for its own token). With no server coming back, they fail by their deadline, never wrongly.
 */
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cunit_main.h"
#include "base/loop.h"
#include "store/redis/store_redis.h"

#include "redis_harness.h"

#define NOPS 40

static int
res_suite_init(void)
{
	signal(SIGPIPE, SIG_IGN); /* as the agent: a write to a dead server is EPIPE */
	return suite_init();
}

/* The value a result holds is want (false for no value, where strcmp would crash). */
static bool
value_is(const struct result *r, const char *want)
{
	return r->value != NULL && strcmp(r->value, want) == 0;
}

struct want_stat {
	const char *name;
	double v;
};

static void
emit_stat(void *ctx, const char *n, double v)
{
	struct want_stat *want = ctx;

	if (strcmp(want->name, n) == 0)
		want->v = v;
}

static double
stat_of(cki_store *s, const char *name)
{
	struct want_stat want = {name, -1};

	s->ops->stats(s, emit_stat, &want);
	return want.v;
}

static void
seed(int i)
{
	freeReplyObject(cmd("SETEX res:%d 600 value-%d", i, i));
}

/* Waits until the store has a ready connection (a PING-like get answers). */
static void
warm_up(cki_store *s)
{
	struct result r = {0};
	ck_err err;

	RUN(&r, s->ops->get(s, "res:warm", cki_now_ms() + 5000, on_result, &r));
	err = r.err;
	result_clear(&r);
	CU_ASSERT_EQUAL_FATAL(err, CK_OK);
}

/* ---- tests --------------------------------------------------------------------------------- */

/* Reads, a write, a delete and a lock in flight when the server dies; it is back (same socket,
 * data seeded again) before the store notices: every one is answered right, once. */
static void
test_lost_commands_retried_on_fresh_connection(void)
{
	cki_store *s = new_store();
	struct result gets[NOPS], put = {0}, del = {0}, lock = {0}, after = {0};
	cki_put_opts po = {.ttl_s = 600};
	uint64_t deadline = cki_now_ms() + 20000;
	int total;
	redisReply *rr;

	for (int i = 0; i < NOPS; i++)
		seed(i);
	warm_up(s);
	kill_redis(SIGSTOP); /* the commands below go to hiredis; no answer comes */
	memset(gets, 0, sizeof gets);
	total = done_calls + NOPS + 3;
	for (int i = 0; i < NOPS; i++) {
		char key[32];
		snprintf(key, sizeof key, "res:%d", i);
		s->ops->get(s, key, deadline, on_result, &gets[i]);
	}
	s->ops->put(s, "res:put", (const uint8_t *)"written", 7, &po, deadline, on_result, &put);
	s->ops->del(s, "res:0", deadline, on_result, &del);
	s->ops->lock(s, "res:job", 10000, deadline, on_result, &lock);
	CU_ASSERT_EQUAL(stat_of(s, "redis_inflight"), NOPS + 3);
	kill_redis(SIGKILL);
	CU_ASSERT_FATAL(start_redis());
	for (int i = 0; i < NOPS; i++)
		seed(i);
	run_until(total);
	for (int i = 0; i < NOPS; i++) {
		char want[32];
		snprintf(want, sizeof want, "value-%d", i);
		CU_ASSERT_EQUAL(gets[i].calls, 1);
		/* res:0 may be read before or after the delete: its own value or a miss */
		if (i == 0 && gets[i].err == CK_OK && !gets[i].found)
			continue;
		CU_ASSERT_EQUAL(gets[i].err, CK_OK);
		CU_ASSERT_TRUE(gets[i].found);
		CU_ASSERT_TRUE(value_is(&gets[i], want));
	}
	CU_ASSERT_EQUAL(put.err, CK_OK);
	CU_ASSERT_EQUAL(del.err, CK_OK);
	CU_ASSERT_EQUAL(lock.err, CK_OK);
	CU_ASSERT_EQUAL(strlen(lock.lock_id), 36);
	rr = cmd("GET ck:lock:{res:job}");
	CU_ASSERT_TRUE(rr != NULL && rr->type == REDIS_REPLY_STRING &&
	               strcmp(rr->str, lock.lock_id) == 0);
	freeReplyObject(rr);
	rr = cmd("PTTL ck:lock:{res:job}");
	CU_ASSERT_TRUE(rr != NULL && rr->type == REDIS_REPLY_INTEGER && rr->integer > 0 &&
	               rr->integer <= 10000);
	freeReplyObject(rr);
	rr = cmd("GET res:put");
	CU_ASSERT_TRUE(rr != NULL && rr->type == REDIS_REPLY_STRING &&
	               strcmp(rr->str, "written") == 0);
	freeReplyObject(rr);
	rr = cmd("EXISTS res:0");
	CU_ASSERT_TRUE(rr != NULL && rr->type == REDIS_REPLY_INTEGER && rr->integer == 0);
	freeReplyObject(rr);
	CU_ASSERT_TRUE(stat_of(s, "redis_reconnects") >= 1);
	/* the released lock goes through the compare-and-delete as usual */
	RUN(&after,
	    s->ops->unlock(s, "res:job", lock.lock_id, cki_now_ms() + 5000, on_result, &after));
	CU_ASSERT_EQUAL(after.err, CK_OK);
	CU_ASSERT_TRUE(after.found);
	for (int i = 0; i < NOPS; i++)
		result_clear(&gets[i]);
	result_clear(&put);
	result_clear(&del);
	result_clear(&lock);
	result_clear(&after);
	s->ops->destroy(s);
}

/* A lock retry checks the token: it never takes a lock someone else holds by now. */
static void
test_lock_retry_keeps_own_token(void)
{
	cki_store *s = new_store();
	struct result lock = {0};
	uint64_t deadline = cki_now_ms() + 20000;
	redisReply *rr;
	int total;

	warm_up(s);
	kill_redis(SIGSTOP);
	total = done_calls + 1;
	s->ops->lock(s, "res:mine", 10000, deadline, on_result, &lock);
	kill_redis(SIGKILL);
	CU_ASSERT_FATAL(start_redis());
	/* another holder took the lock while the connection was down: the retry is contested */
	freeReplyObject(cmd("SET ck:lock:{res:mine} someone-else PX 10000"));
	run_until(total);
	CU_ASSERT_EQUAL(lock.err, CK_OK);
	CU_ASSERT_EQUAL(lock.lock_id[0], '\0');
	rr = cmd("GET ck:lock:{res:mine}");
	CU_ASSERT_TRUE(rr != NULL && rr->type == REDIS_REPLY_STRING &&
	               strcmp(rr->str, "someone-else") == 0);
	freeReplyObject(rr);
	result_clear(&lock);
	s->ops->destroy(s);
}

/* Killed and not back: the lost commands fail by their deadline with an error (the retry's
 * reconnect fails), never with a value; then the store recovers on its own. */
static void
test_lost_commands_without_server_fail_cleanly(void)
{
	cki_store *s = new_store();
	struct result gets[NOPS];
	uint64_t deadline = cki_now_ms() + 3000;
	int total;
	bool back = false;

	for (int i = 0; i < NOPS; i++)
		seed(i);
	warm_up(s);
	kill_redis(SIGSTOP);
	memset(gets, 0, sizeof gets);
	total = done_calls + NOPS;
	for (int i = 0; i < NOPS; i++) {
		char key[32];
		snprintf(key, sizeof key, "res:%d", i);
		s->ops->get(s, key, deadline, on_result, &gets[i]);
	}
	kill_redis(SIGKILL);
	run_until(total);
	for (int i = 0; i < NOPS; i++) {
		CU_ASSERT_EQUAL(gets[i].calls, 1);
		CU_ASSERT_TRUE(gets[i].err == CK_EUPSTREAM || gets[i].err == CK_ETIMEDOUT ||
		               gets[i].err == CK_EUNAVAILABLE);
		CU_ASSERT_FALSE(gets[i].found);
		CU_ASSERT_TRUE(gets[i].at_ms <= deadline + 100);
	}
	CU_ASSERT_FATAL(start_redis());
	seed(1);
	for (int i = 0; i < 3000 && !back; i++) {
		struct result r = {0};
		RUN(&r, s->ops->get(s, "res:1", cki_now_ms() + 2000, on_result, &r));
		back = r.err == CK_OK;
		CU_ASSERT_TRUE(!back || value_is(&r, "value-1"));
		result_clear(&r);
		if (!back)
			loop_for(10);
	}
	CU_ASSERT_TRUE(back);
	for (int i = 0; i < NOPS; i++)
		result_clear(&gets[i]);
	s->ops->destroy(s);
}

/* A free loopback TCP port (bind port 0, read it back, close). */
static int
free_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof sa;
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
		port = ntohs(sa.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static pid_t
start_tcp_redis(int port)
{
	char portstr[16];
	pid_t pid;
	struct timespec nap = {0, 20 * 1000 * 1000};
	struct timeval tv = {2, 0};

	snprintf(portstr, sizeof portstr, "%d", port);
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execlp("redis-server", "redis-server", "--port", portstr, "--bind", "127.0.0.1",
		       "--save", "", "--appendonly", "no", "--dir", tmpdir, "--logfile",
		       "/dev/null", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; pid > 0 && i < 1500; i++) {
		redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
		redisReply *r = c != NULL && !c->err ? redisCommand(c, "PING") : NULL;
		bool up = r != NULL && r->type == REDIS_REPLY_STATUS;
		freeReplyObject(r);
		redisFree(c);
		if (up)
			return pid;
		nanosleep(&nap, NULL);
	}
	return -1;
}

static void
stop_pid(pid_t pid)
{
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
}

/* redis://localhost:PORT: the name is resolved once while the store is built; connections,
 * the reconnect after a kill -9 included, go to that address. */
static void
test_host_name_resolved_at_start(void)
{
	int port = free_port();
	pid_t pid = start_tcp_redis(port);
	char tcp_url[64];
	cki_redis_opts o = {.url = tcp_url, .breaker_failures = 1000};
	cki_store *s = NULL;
	struct result r = {0};
	cki_put_opts po = {.ttl_s = 60};
	bool back = false;

	CU_ASSERT_FATAL(pid > 0);
	snprintf(tcp_url, sizeof tcp_url, "redis://localhost:%d", port);
	s = new_store_opts(&o);
	CU_ASSERT_STRING_EQUAL(s->ops->url(s), tcp_url);
	RUN(&r, s->ops->put(s, "res:name", (const uint8_t *)"by-name", 7, &po, cki_now_ms() + 5000,
	                    on_result, &r));
	CU_ASSERT_EQUAL(r.err, CK_OK);
	stop_pid(pid);
	pid = start_tcp_redis(port);
	CU_ASSERT_FATAL(pid > 0);
	for (int i = 0; i < 3000 && !back; i++) {
		RUN(&r, s->ops->put(s, "res:name", (const uint8_t *)"again", 5, &po,
		                    cki_now_ms() + 2000, on_result, &r));
		back = r.err == CK_OK;
		if (!back)
			loop_for(10);
	}
	CU_ASSERT_TRUE(back);
	CU_ASSERT_TRUE(stat_of(s, "redis_reconnects") >= 1);
	result_clear(&r);
	s->ops->destroy(s);
	stop_pid(pid);
}

static CU_TestInfo tests[] = {
        {"commands lost with the connection are retried on a fresh one",
         test_lost_commands_retried_on_fresh_connection},
        {"a lock retry takes no lock held by another", test_lock_retry_keeps_own_token},
        {"lost commands with no server back fail by their deadline",
         test_lost_commands_without_server_fail_cleanly},
        {"a host name is resolved once at start, reconnects reuse it",
         test_host_name_resolved_at_start},
        CU_TEST_INFO_NULL,
};

CK_UNIT_SUITE_FULL("store_redis_resilience", tests, res_suite_init, suite_clean)
