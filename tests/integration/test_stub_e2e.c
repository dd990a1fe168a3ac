/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The C stub against a real agent process on the embedded store: every operation, binary
 * values, per-call timeouts with a stopped agent (and the late reply dropped), an agent
 * restart under a live client, fork safety, and mutual exclusion of 8 processes.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cachekit/stub.h"
#include "cunit_main.h"

static char dir[200]; /* $TMPDIR/ck-e2e-XXXXXX */
static char endpoint[256];
static pid_t agent_pid;

static void
start_agent(void)
{
	agent_pid = fork();
	if (agent_pid == 0) {
		char log[300];
		snprintf(log, sizeof(log), "%s/agent.log", dir);
		freopen(log, "a", stderr);
		execl(getenv("CK_AGENT_BIN"), "cachekit-agent", "--endpoint", endpoint,
		      (char *)NULL);
		_exit(127);
	}
	/* Ready when a health check answers. */
	ck_client *c;
	ck_client_opts o = CK_CLIENT_OPTS_INIT;
	o.endpoint = endpoint;
	o.timeout_ms = 200;
	if (ck_client_open(&c, &o) != CK_OK)
		return;
	struct timespec t0, now;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do { /* a generous deadline for a busy machine */
		ck_health *h = NULL;
		if (ck_health_check(c, NULL, &h) == CK_OK) {
			ck_health_free(h);
			break;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while (now.tv_sec - t0.tv_sec < 30);
	ck_client_close(c);
}

static void
stop_agent(int sig)
{
	int st;
	kill(agent_pid, sig);
	waitpid(agent_pid, &st, 0);
}

static int
suite_init(void)
{
	ck_tmp_template(dir, sizeof(dir), "ck-e2e");
	if (getenv("CK_AGENT_BIN") == NULL || mkdtemp(dir) == NULL)
		return -1;
	snprintf(endpoint, sizeof(endpoint), "ipc://%s/agent.sock", dir);
	start_agent();
	return 0;
}

static int
suite_clean(void)
{
	stop_agent(SIGTERM);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static ck_client *
open_client(uint32_t timeout_ms)
{
	ck_client *c = NULL;
	ck_client_opts o = CK_CLIENT_OPTS_INIT;
	o.endpoint = endpoint;
	o.timeout_ms = timeout_ms;
	CU_ASSERT_EQUAL(ck_client_open(&c, &o), CK_OK);
	return c;
}

static void
test_every_operation(void)
{
	ck_client *c = open_client(30000);
	const uint8_t value[] = {'a', 0, 'b', 0xff};
	ck_set_opts so = CK_SET_OPTS_INIT;
	so.ttl_s = 100;
	CU_ASSERT_EQUAL(ck_set(c, "e2e:k", value, sizeof(value), &so), CK_OK);
	ck_value *v = NULL;
	CU_ASSERT_EQUAL_FATAL(ck_get(c, "e2e:k", NULL, &v), CK_OK);
	CU_ASSERT_EQUAL(v->len, sizeof(value));
	CU_ASSERT(memcmp(v->data, value, sizeof(value)) == 0);
	CU_ASSERT_EQUAL(v->freshness, CK_FRESHNESS_FRESH);
	CU_ASSERT(v->fresh_for_ms > 90000 && v->fresh_for_ms <= 100000); /* 10 s for a slow host */
	ck_value_free(v);

	bool b = false;
	CU_ASSERT_EQUAL(ck_exists(c, "e2e:k", NULL, &b), CK_OK);
	CU_ASSERT_TRUE(b);
	int64_t ttl = 0;
	CU_ASSERT_EQUAL(ck_get_ttl(c, "e2e:k", NULL, &ttl), CK_OK);
	CU_ASSERT_EQUAL(ttl, 100);
	CU_ASSERT_EQUAL(ck_refresh_ttl(c, "e2e:k", 300, NULL, &b), CK_OK);
	CU_ASSERT_TRUE(b);
	CU_ASSERT_EQUAL(ck_get_ttl(c, "e2e:k", NULL, &ttl), CK_OK);
	CU_ASSERT_EQUAL(ttl, 300);
	CU_ASSERT_EQUAL(ck_delete(c, "e2e:k", NULL, &b), CK_OK);
	CU_ASSERT_TRUE(b);
	CU_ASSERT_EQUAL(ck_delete(c, "e2e:k", NULL, &b), CK_OK);
	CU_ASSERT_FALSE(b);
	CU_ASSERT_EQUAL(ck_get(c, "e2e:k", NULL, &v), CK_ENOTFOUND);
	CU_ASSERT_EQUAL(ck_get_ttl(c, "e2e:k", NULL, &ttl), CK_ENOTFOUND);
	CU_ASSERT_EQUAL(ck_set(c, "bad key", "x", 1, NULL), CK_EINVALKEY);
	CU_ASSERT(strstr(ck_client_last_message(c), "invalid cache key") != NULL);

	ck_health *h = NULL;
	CU_ASSERT_EQUAL_FATAL(ck_health_check(c, NULL, &h), CK_OK);
	CU_ASSERT_TRUE(h->healthy);
	CU_ASSERT_STRING_EQUAL(h->backend_type, "memory");
	CU_ASSERT_STRING_EQUAL(h->api_url, "memory:");
	CU_ASSERT_STRING_EQUAL(h->agent_version, CK_VERSION_STRING);
	ck_health_free(h);

	ck_stats *st = NULL;
	CU_ASSERT_EQUAL_FATAL(ck_stats_get(c, NULL, &st), CK_OK);
	bool saw_sets = false;
	for (size_t i = 0; i < st->count; i++)
		if (strcmp(st->items[i].name, "sets_total") == 0)
			saw_sets = st->items[i].value >= 1;
	CU_ASSERT_TRUE(saw_sets);
	ck_stats_free(st);
	ck_client_close(c);
}

static void
test_large_binary_value(void)
{
	ck_client *c = open_client(30000);
	size_t n = 8u << 20;
	uint8_t *big = malloc(n);
	for (size_t i = 0; i < n; i++)
		big[i] = (uint8_t)(i * 2654435761u >> 13);
	CU_ASSERT_EQUAL(ck_set(c, "e2e:big", big, n, NULL), CK_OK);
	ck_value *v = NULL;
	CU_ASSERT_EQUAL_FATAL(ck_get(c, "e2e:big", NULL, &v), CK_OK);
	CU_ASSERT_EQUAL(v->len, n);
	CU_ASSERT(memcmp(v->data, big, n) == 0);
	ck_value_free(v);
	free(big);
	ck_client_close(c);
}

static void
test_timeout_then_late_reply_is_dropped(void)
{
	ck_client *c = open_client(60000);
	CU_ASSERT_EQUAL(ck_set(c, "e2e:a", "A", 1, NULL), CK_OK);
	CU_ASSERT_EQUAL(ck_set(c, "e2e:b", "B", 1, NULL), CK_OK);
	kill(agent_pid, SIGSTOP);
	ck_get_opts go = CK_GET_OPTS_INIT;
	go.call.timeout_ms = 200;
	ck_value *v = NULL;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CU_ASSERT_EQUAL(ck_get(c, "e2e:a", &go, &v), CK_ETIMEDOUT);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	CU_ASSERT(t1.tv_sec - t0.tv_sec < 30); /* returned by its deadline, not the default 60 s */
	kill(agent_pid, SIGCONT);
	/* The agent now answers the abandoned Get of "a" too; this call must see "B". */
	CU_ASSERT_EQUAL_FATAL(ck_get(c, "e2e:b", NULL, &v), CK_OK);
	CU_ASSERT_EQUAL(v->len, 1);
	CU_ASSERT_EQUAL(v->data[0], 'B');
	ck_value_free(v);
	ck_client_close(c);
}

static void
test_agent_restart_without_reopening(void)
{
	ck_client *c = open_client(30000);
	CU_ASSERT_EQUAL(ck_set(c, "e2e:r", "1", 1, NULL), CK_OK);
	stop_agent(SIGKILL);
	start_agent();
	ck_value *v = NULL;
	/* The embedded store restarted empty: a miss, not an error. */
	CU_ASSERT_EQUAL(ck_get(c, "e2e:r", NULL, &v), CK_ENOTFOUND);
	CU_ASSERT_EQUAL(ck_set(c, "e2e:r", "2", 1, NULL), CK_OK);
	CU_ASSERT_EQUAL_FATAL(ck_get(c, "e2e:r", NULL, &v), CK_OK);
	CU_ASSERT_EQUAL(v->data[0], '2');
	ck_value_free(v);
	ck_client_close(c);
}

static void
test_forked_child_uses_its_own_connection(void)
{
	ck_client *c = open_client(55000);
	CU_ASSERT_EQUAL(ck_set(c, "e2e:f", "P", 1, NULL), CK_OK);
	pid_t pid = fork();
	if (pid == 0) {
		/* The child's lock holder is the child: if it borrowed the parent's socket the
		 * agent would see the parent's pid. */
		ck_lock *l = NULL;
		ck_value *v = NULL;
		int ok = ck_get(c, "e2e:f", NULL, &v) == CK_OK && v->data[0] == 'P';
		ck_value_free(v);
		ck_lock_opts held = CK_LOCK_OPTS_INIT;
		held.lease_ms = 120000; /* far longer than the parent's wait below */
		ok = ok && ck_lock_acquire(c, "e2e:fork-lock", &held, &l) == CK_OK;
		_exit(ok ? 0 : 1);
	}
	int st;
	waitpid(pid, &st, 0);
	CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* The child exited holding the lock: the agent released it on its death. */
	ck_lock_opts lo = CK_LOCK_OPTS_INIT;
	lo.wait_ms = 50000;
	ck_lock *l = NULL;
	CU_ASSERT_EQUAL(ck_lock_acquire(c, "e2e:fork-lock", &lo, &l), CK_OK);
	CU_ASSERT_EQUAL(ck_lock_release(c, l, NULL), CK_OK);
	ck_value *v = NULL;
	CU_ASSERT_EQUAL(ck_get(c, "e2e:f", NULL, &v), CK_OK); /* parent still works */
	ck_value_free(v);
	ck_client_close(c);
}

static void
test_eight_processes_never_race_under_the_lock(void)
{
	enum { PROCS = 8, ROUNDS = 25 };
	ck_client *c = open_client(30000);
	CU_ASSERT_EQUAL(ck_set(c, "e2e:counter", "0", 1, NULL), CK_OK);
	ck_client_close(c);
	pid_t kids[PROCS];
	for (int p = 0; p < PROCS; p++) {
		kids[p] = fork();
		if (kids[p] != 0)
			continue;
		ck_client *cc = open_client(55000);
		for (int r = 0; r < ROUNDS; r++) {
			ck_lock_opts lo = CK_LOCK_OPTS_INIT;
			lo.wait_ms = 50000;
			lo.lease_ms = 60000; /* never runs out while a starved holder works */
			ck_lock *l = NULL;
			if (ck_lock_acquire(cc, "e2e:counter-lock", &lo, &l) != CK_OK)
				_exit(2);
			ck_value *v = NULL;
			if (ck_get(cc, "e2e:counter", NULL, &v) != CK_OK)
				_exit(3);
			char buf[32];
			int n = snprintf(buf, sizeof(buf), "%ld",
			                 strtol((char *)v->data, NULL, 10) + 1);
			ck_value_free(v);
			usleep(200); /* widen the window a race would need */
			if (ck_set(cc, "e2e:counter", buf, (size_t)n, NULL) != CK_OK)
				_exit(4);
			if (ck_lock_release(cc, l, NULL) != CK_OK)
				_exit(5);
		}
		ck_client_close(cc);
		_exit(0);
	}
	for (int p = 0; p < PROCS; p++) {
		int st;
		waitpid(kids[p], &st, 0);
		CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	c = open_client(30000);
	ck_value *v = NULL;
	CU_ASSERT_EQUAL_FATAL(ck_get(c, "e2e:counter", NULL, &v), CK_OK);
	CU_ASSERT_EQUAL(strtol((char *)v->data, NULL, 10), PROCS * ROUNDS);
	ck_value_free(v);
	ck_client_close(c);
}

static CU_TestInfo tests[] = {
        {"every operation works end to end", test_every_operation},
        {"an 8 MiB binary value round-trips", test_large_binary_value},
        {"a timed-out call's late reply is dropped", test_timeout_then_late_reply_is_dropped},
        {"agent restart needs no reopen", test_agent_restart_without_reopening},
        {"a forked child uses its own connection", test_forked_child_uses_its_own_connection},
        {"8 processes never race under the lock", test_eight_processes_never_race_under_the_lock},
        CU_TEST_INFO_NULL,
};

CK_UNIT_SUITE_FULL("stub_e2e", tests, suite_init, suite_clean)
