/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Redis store tests' harness (redis_harness.h): the redis-server the suite runs, a
 * synchronous hiredis connection to inspect it, and the loop runner that takes one store
 * operation to its callback with a generous guard.
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

#include "redis_harness.h"

cki_loop *loop;
pid_t redis_pid = -1;
char tmpdir[64], sock_path[128], url[160];

/* ---- the server ---------------------------------------------------------------------------- */

redisContext *
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
redisReply *
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

long long
cmd_int(const char *fmt, const char *key)
{
	redisReply *r = cmd(fmt, key);
	long long v = r != NULL && r->type == REDIS_REPLY_INTEGER ? r->integer : -999;

	freeReplyObject(r);
	return v;
}

bool
server_pings(void)
{
	redisReply *r = cmd("PING");
	bool ok = r != NULL && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;

	freeReplyObject(r);
	return ok;
}

bool
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

void
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

int
suite_init(void)
{
	if (cki_loop_new(&loop) != CK_OK)
		return 1;
	ck_tmp_template(tmpdir, sizeof tmpdir, "ck-redis-test");
	if (mkdtemp(tmpdir) == NULL)
		return 1;
	snprintf(sock_path, sizeof sock_path, "%s/redis.sock", tmpdir);
	snprintf(url, sizeof url, "redis+unix://%s", sock_path);
	if (!start_redis())
		fprintf(stderr, "test_store_redis: redis-server did not start\n");
	return 0;
}

int
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

int done_calls;
static int target_calls;
static bool guard_fired;

void
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
void
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

cki_store *
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

cki_store *
new_store(void)
{
	cki_redis_opts o = {.url = url, .breaker_failures = 1000};
	return new_store_opts(&o);
}
