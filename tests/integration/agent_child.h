/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A real agent process for the C integration tests of the stub (async, batch, near): started
 * on the embedded store in the test's temporary directory, waited for with a health check (30 s
 * at most, never a fixed sleep), stopped with SIGTERM and its directory removed. Include it
 * once, after defining CK_AGENT_CHILD_NAME (the directory's prefix under $TMPDIR).
 */
#ifndef CK_TEST_AGENT_CHILD_H
#define CK_TEST_AGENT_CHILD_H

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cachekit/stub.h"
#include "cunit_main.h"

static char dir[256];
static char endpoint[320];
static pid_t agent_pid;

static int64_t
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool
start_agent(void)
{
	agent_pid = fork();
	if (agent_pid == 0) {
		char log[320];
		snprintf(log, sizeof(log), "%s/agent.log", dir);
		if (freopen(log, "a", stderr) == NULL)
			_exit(126);
		execl(getenv("CK_AGENT_BIN"), "cachekit-agent", "--endpoint", endpoint,
		      (char *)NULL);
		_exit(127);
	}
	ck_client *c;
	ck_client_opts o = CK_CLIENT_OPTS_INIT;
	o.endpoint = endpoint;
	o.timeout_ms = 200;
	if (ck_client_open(&c, &o) != CK_OK)
		return false;
	bool up = false;
	for (int64_t end = now_ms() + 30000; !up && now_ms() < end;) {
		ck_health *h = NULL;
		up = ck_health_check(c, NULL, &h) == CK_OK;
		ck_health_free(h);
	}
	ck_client_close(c);
	return up;
}

static int
suite_init(void)
{
	ck_tmp_template(dir, sizeof(dir), CK_AGENT_CHILD_NAME);
	if (getenv("CK_AGENT_BIN") == NULL || mkdtemp(dir) == NULL)
		return -1;
	snprintf(endpoint, sizeof(endpoint), "ipc://%s/agent.sock", dir);
	return start_agent() ? 0 : -1;
}

static int
suite_clean(void)
{
	int st;
	kill(agent_pid, SIGTERM);
	waitpid(agent_pid, &st, 0);
	char cmd[320];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Unused by a test that opens its clients its own way (test_near.c). */
__attribute__((unused)) static ck_client *
open_client(size_t near_bytes)
{
	ck_client *c = NULL;
	ck_client_opts o = CK_CLIENT_OPTS_INIT;
	o.endpoint = endpoint;
	o.timeout_ms = 10000;
	o.near_cache_bytes = near_bytes;
	CU_ASSERT_EQUAL(ck_client_open(&c, &o), CK_OK);
	return c;
}

#endif
