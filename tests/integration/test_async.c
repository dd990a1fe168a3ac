/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The C stub's asynchronous API against a real agent, driven by a real libuv loop and a real
 * libevent loop through the shipped adapters: 1,000 requests in flight, per-request deadlines
 * (completed in deadline order while the agent is stopped) with their late replies dropped,
 * more requests than the socket holds (delayed in the client, none lost), near-cache hits
 * without a round trip, blocking calls refused while requests are in flight, callbacks run with
 * CK_ESHUTDOWN when the client is closed, no threads of libzmq's in the caller, and an agent
 * killed under requests in flight: CK_ECONNECT at once, then the same descriptor serves the
 * restarted agent.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cachekit/adapters/libevent.h"
#include "cachekit/adapters/libuv.h"
#include "cachekit/async.h"
#include "cunit_main.h"

#define IN_FLIGHT 1000

#define CK_AGENT_CHILD_NAME "ck-async"
#include "agent_child.h"

/* ---- completion bookkeeping shared by both loops ---------------------------------------- */

typedef struct tally {
	int done, expect;
	int ok, notfound, timedout, shutdown, connect, wrong;
	int order[8]; /* tags in completion order */
	uv_loop_t *uv;
	struct event_base *eb;
} tally;

typedef struct slot {
	tally *t;
	int tag;
} slot;

static void
stop_if_done(tally *t)
{
	if (t->done < t->expect)
		return;
	if (t->uv != NULL)
		uv_stop(t->uv);
	if (t->eb != NULL)
		event_base_loopbreak(t->eb);
}

static void
on_done(ck_client *c, ck_result *r, void *arg)
{
	slot *s = arg;
	tally *t = s->t;
	(void)c;
	if (t->done < 8)
		t->order[t->done] = s->tag;
	t->done++;
	switch (r->err) {
	case CK_OK:
		t->ok++;
		if (r->value != NULL) {
			char want[32];
			snprintf(want, sizeof(want), "v%d", s->tag);
			if (strcmp((const char *)r->value->data, want) != 0)
				t->wrong++;
		}
		break;
	case CK_ENOTFOUND:
		t->notfound++;
		break;
	case CK_ETIMEDOUT:
		t->timedout++;
		break;
	case CK_ESHUTDOWN:
		t->shutdown++;
		break;
	case CK_ECONNECT:
		t->connect++;
		break;
	default:
		t->wrong++;
		break;
	}
	ck_value_free(r->value);
	stop_if_done(t);
}

/* Runs a libuv loop until t is complete or ms passed. */
static void
run_uv_for(tally *t, int64_t ms)
{
	int64_t end = now_ms() + ms;
	while (t->done < t->expect && now_ms() < end)
		uv_run(t->uv, UV_RUN_ONCE);
}

/* Runs a libuv loop until t is complete or 30 s passed. */
static void
run_uv(tally *t)
{
	int64_t end = now_ms() + 30000;
	while (t->done < t->expect && now_ms() < end)
		uv_run(t->uv, UV_RUN_ONCE);
}

static void
run_event(tally *t)
{
	int64_t end = now_ms() + 30000;
	while (t->done < t->expect && now_ms() < end)
		event_base_loop(t->eb, EVLOOP_ONCE);
}

/* 1,000 Sets then 1,000 Gets in flight on one client; run(t) drives the loop. */
static void
thousand_in_flight(ck_client *c, tally *t, void (*run)(tally *), const char *prefix)
{
	static slot slots[IN_FLIGHT];
	char key[64], value[32];
	t->expect = IN_FLIGHT;
	for (int i = 0; i < IN_FLIGHT; i++) {
		slots[i] = (slot){t, i};
		snprintf(key, sizeof(key), "%s:%d", prefix, i);
		int n = snprintf(value, sizeof(value), "v%d", i);
		CU_ASSERT_EQUAL(ck_set_async(c, key, value, (size_t)n, NULL, on_done, &slots[i]),
		                CK_OK);
	}
	CU_ASSERT_EQUAL(ck_client_pending(c), IN_FLIGHT);
	run(t);
	CU_ASSERT_EQUAL(t->done, IN_FLIGHT);
	CU_ASSERT_EQUAL(t->ok, IN_FLIGHT);
	CU_ASSERT_EQUAL(ck_client_pending(c), 0);
	memset(&t->done, 0, sizeof(int) * 8);
	t->expect = IN_FLIGHT;
	for (int i = 0; i < IN_FLIGHT; i++) {
		snprintf(key, sizeof(key), "%s:%d", prefix, i);
		CU_ASSERT_EQUAL(ck_get_async(c, key, NULL, on_done, &slots[i]), CK_OK);
	}
	run(t);
	CU_ASSERT_EQUAL(t->done, IN_FLIGHT);
	CU_ASSERT_EQUAL(t->ok, IN_FLIGHT);
	CU_ASSERT_EQUAL(t->wrong, 0);
}

static void
test_libuv_thousand_in_flight(void)
{
	ck_client *c = open_client(0);
	uv_loop_t loop;
	uv_loop_init(&loop);
	ck_uv *u = NULL;
	CU_ASSERT_EQUAL_FATAL(ck_uv_attach(c, &loop, &u), 0);
	tally t = {.uv = &loop};
	thousand_in_flight(c, &t, run_uv, "uv");
	ck_uv_detach(u);
	uv_run(&loop, UV_RUN_DEFAULT); /* closes the handles */
	CU_ASSERT_EQUAL(uv_loop_close(&loop), 0);
	ck_client_close(c);
}

static void
test_libevent_thousand_in_flight(void)
{
	ck_client *c = open_client(0);
	struct event_base *base = event_base_new();
	ck_event *e = NULL;
	CU_ASSERT_EQUAL_FATAL(ck_event_attach(c, base, &e), 0);
	tally t = {.eb = base};
	thousand_in_flight(c, &t, run_event, "ev");
	ck_event_detach(e);
	event_base_free(base);
	ck_client_close(c);
}

static void
test_deadlines_and_late_replies(void)
{
	ck_client *c = open_client(0);
	uv_loop_t loop;
	uv_loop_init(&loop);
	ck_uv *u = NULL;
	CU_ASSERT_EQUAL_FATAL(ck_uv_attach(c, &loop, &u), 0);
	tally t = {.uv = &loop, .expect = 2};
	slot late = {&t, 300}, early = {&t, 100}, after = {&t, 7};
	ck_get_opts slow = CK_GET_OPTS_INIT, fast = CK_GET_OPTS_INIT;
	slow.call.timeout_ms = 300;
	fast.call.timeout_ms = 100;
	kill(agent_pid, SIGSTOP);
	int64_t t0 = now_ms();
	CU_ASSERT_EQUAL(ck_get_async(c, "async:late", &slow, on_done, &late), CK_OK);
	CU_ASSERT_EQUAL(ck_get_async(c, "async:late", &fast, on_done, &early), CK_OK);
	/* Packed, not yet sent: the loop is asked to run the client at once. Sent by the next
	 * ck_client_process(), after which the earlier deadline is what it waits for. */
	CU_ASSERT_EQUAL(ck_client_timeout_ms(c), 0);
	CU_ASSERT_EQUAL(ck_client_process(c), CK_OK);
	CU_ASSERT(ck_client_timeout_ms(c) > 0 && ck_client_timeout_ms(c) <= 100);
	run_uv(&t);
	int64_t elapsed = now_ms() - t0;
	kill(agent_pid, SIGCONT);
	CU_ASSERT_EQUAL(t.timedout, 2);
	CU_ASSERT_EQUAL(t.order[0], 100); /* each by its own deadline */
	CU_ASSERT_EQUAL(t.order[1], 300);
	CU_ASSERT(elapsed >= 300);
	CU_ASSERT_EQUAL(ck_client_timeout_ms(c), -1);
	/* The two abandoned requests never left (the agent was stopped before it could answer the
	 * connection's greeting); this one goes once it does: exactly one more callback runs. */
	t.expect = 3;
	CU_ASSERT_EQUAL(ck_get_async(c, "async:late", NULL, on_done, &after), CK_OK);
	run_uv(&t);
	CU_ASSERT_EQUAL(t.done, 3);
	CU_ASSERT_EQUAL(t.notfound, 1);
	CU_ASSERT_EQUAL(t.order[2], 7);
	ck_uv_detach(u);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	ck_client_close(c);
}

/* More requests than the socket holds, submitted on a live connection while the agent is
 * stopped: every submit is accepted, those the socket's buffer takes are written (the rest wait
 * in the client, the first of them possibly written in part), and every callback runs exactly
 * once, at its deadline. Then the agent reads the abandoned ones and answers a new request. */
#define FLOOD 30000

static void
test_a_full_send_queue_delays_and_loses_nothing(void)
{
	ck_client *c = open_client(0);
	uv_loop_t loop;
	uv_loop_init(&loop);
	ck_uv *u = NULL;
	CU_ASSERT_EQUAL_FATAL(ck_uv_attach(c, &loop, &u), 0);
	tally t = {.uv = &loop, .expect = 1};
	slot s = {&t, 9}, after = {&t, 10};
	CU_ASSERT_EQUAL(ck_get_async(c, "async:flood", NULL, on_done, &s), CK_OK);
	run_uv(&t); /* the connection is up and handshaken */
	CU_ASSERT_EQUAL_FATAL(t.notfound, 1);
	memset(&t.done, 0, sizeof(int) * 8);
	t.expect = FLOOD;
	ck_get_opts o = CK_GET_OPTS_INIT;
	o.call.timeout_ms = 500;
	int refused = 0;
	kill(agent_pid, SIGSTOP);
	for (int i = 0; i < FLOOD; i++)
		refused += ck_get_async(c, "async:flood", &o, on_done, &s) != CK_OK;
	CU_ASSERT_EQUAL(refused, 0);
	CU_ASSERT_EQUAL(ck_client_pending(c), FLOOD);
	run_uv_for(&t, 300000); /* 30,000 callbacks: generous on a loaded machine */
	kill(agent_pid, SIGCONT);
	CU_ASSERT_EQUAL(t.done, FLOOD);
	CU_ASSERT_EQUAL(t.timedout, FLOOD);
	CU_ASSERT_EQUAL(ck_client_pending(c), 0);
	/* The client still works once the agent is back. Its answer comes after those to the
	 * thousands of abandoned requests that reached the agent, which on a loaded machine can
	 * take more than the client's default 10 s: a deadline that only a hang would reach. */
	t.expect = FLOOD + 1;
	ck_get_opts patient = CK_GET_OPTS_INIT;
	patient.call.timeout_ms = 300000;
	CU_ASSERT_EQUAL(ck_get_async(c, "async:flood", &patient, on_done, &after), CK_OK);
	run_uv_for(&t, 300000);
	CU_ASSERT_EQUAL(t.done, FLOOD + 1);
	CU_ASSERT_EQUAL(t.notfound, 1);
	ck_uv_detach(u);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	ck_client_close(c);
}

static void
test_near_hit_completes_without_a_round_trip(void)
{
	ck_client *c = open_client(1 << 20);
	CU_ASSERT_EQUAL(ck_set(c, "async:near", "v5", 2, NULL), CK_OK);
	tally t = {.expect = 1};
	slot s = {&t, 5};
	/* First from the agent (driven by hand, as an epoll program would), then locally. */
	CU_ASSERT_EQUAL(ck_get_async(c, "async:near", NULL, on_done, &s), CK_OK);
	for (int64_t end = now_ms() + 30000; t.done < 1 && now_ms() < end;)
		CU_ASSERT_EQUAL(ck_client_process(c), CK_OK);
	CU_ASSERT_EQUAL(ck_get_async(c, "async:near", NULL, on_done, &s), CK_OK);
	CU_ASSERT_EQUAL(t.done, 1); /* never inside the submit call */
	CU_ASSERT_EQUAL(ck_client_timeout_ms(c), 0);
	kill(agent_pid, SIGSTOP);
	CU_ASSERT_EQUAL(ck_client_process(c), CK_OK);
	kill(agent_pid, SIGCONT);
	CU_ASSERT_EQUAL(t.done, 2);
	CU_ASSERT_EQUAL(t.ok, 2);
	CU_ASSERT_EQUAL(t.wrong, 0);
	ck_near_stats ns;
	CU_ASSERT_EQUAL(ck_client_near_stats(c, &ns), CK_OK);
	CU_ASSERT_EQUAL(ns.hits, 1);
	ck_client_close(c);
}

static void
test_blocking_refused_and_close_cancels(void)
{
	ck_client *c = open_client(0);
	tally t = {.expect = 3};
	slot s[3] = {{&t, 0}, {&t, 1}, {&t, 2}};
	for (int i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(ck_delete_async(c, "async:gone", NULL, on_done, &s[i]), CK_OK);
	ck_value *v = NULL;
	CU_ASSERT_EQUAL(ck_get(c, "async:gone", NULL, &v), CK_EBUSY);
	CU_ASSERT_EQUAL(ck_get_async(c, NULL, NULL, on_done, &s[0]), CK_EINVAL);
	CU_ASSERT_EQUAL(ck_client_pending(c), 3);
	ck_client_close(c); /* before any process(): every callback runs with CK_ESHUTDOWN */
	CU_ASSERT_EQUAL(t.done, 3);
	CU_ASSERT_EQUAL(t.shutdown, 3);
}

/* The asynchronous API on an ipc:// agent is the stub's own ZMTP connection: no libzmq context,
 * so the caller's process gains no thread. */
static void
test_async_calls_start_no_threads(void)
{
	int before = ck_thread_count();
	ck_client *c = open_client(0);
	tally t = {.expect = 1};
	slot s = {&t, 1};
	CU_ASSERT_FATAL(before > 0);
	CU_ASSERT(ck_client_fd(c) >= 0);
	CU_ASSERT_EQUAL(ck_get_async(c, "async:threads", NULL, on_done, &s), CK_OK);
	for (int64_t end = now_ms() + 30000; t.done < 1 && now_ms() < end;)
		CU_ASSERT_EQUAL(ck_client_process(c), CK_OK);
	CU_ASSERT_EQUAL(t.notfound, 1);
	CU_ASSERT_EQUAL(ck_thread_count(), before);
	ck_client_close(c);
}

/* Requests written to an agent that then dies fail with CK_ECONNECT as soon as the connection
 * ends, not at their (here 300 s) deadlines; the descriptor the loop watches stays the same,
 * and the next request reaches the restarted agent. */
static void
test_agent_killed_under_requests(void)
{
	ck_client *c = open_client(0);
	uv_loop_t loop;
	uv_loop_init(&loop);
	ck_uv *u = NULL;
	CU_ASSERT_EQUAL_FATAL(ck_uv_attach(c, &loop, &u), 0);
	int fd = ck_client_fd(c);
	tally t = {.uv = &loop, .expect = 1};
	slot s = {&t, 1};
	ck_get_opts patient = CK_GET_OPTS_INIT;
	patient.call.timeout_ms = 300000;
	CU_ASSERT_EQUAL(ck_set_async(c, "async:kill", "v1", 2, NULL, on_done, &s), CK_OK);
	run_uv(&t);
	CU_ASSERT_EQUAL_FATAL(t.ok, 1);

	kill(agent_pid, SIGSTOP);
	memset(&t.done, 0, sizeof(int) * 8);
	t.expect = 3;
	for (int i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(ck_get_async(c, "async:kill", &patient, on_done, &s), CK_OK);
	CU_ASSERT_EQUAL(ck_client_process(c), CK_OK); /* written: the socket has room */
	CU_ASSERT_EQUAL(t.done, 0);
	kill(agent_pid, SIGKILL);
	int st;
	waitpid(agent_pid, &st, 0);
	run_uv_for(&t, 300000);
	CU_ASSERT_EQUAL(t.done, 3);
	CU_ASSERT_EQUAL(t.connect, 3);

	CU_ASSERT_FATAL(start_agent());
	memset(&t.done, 0, sizeof(int) * 8);
	t.expect = 1;
	CU_ASSERT_EQUAL(ck_get_async(c, "async:kill", &patient, on_done, &s), CK_OK);
	run_uv_for(&t, 300000);
	CU_ASSERT_EQUAL(t.notfound, 1); /* the restarted agent's store is empty */
	CU_ASSERT_EQUAL(ck_client_fd(c), fd);
	ck_uv_detach(u);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	ck_client_close(c);
}

/* A path that can never become a socket fails what was submitted at the next process, with
 * the reason, instead of waiting out the deadlines. */
static void
test_an_impossible_endpoint_fails_at_once(void)
{
	ck_client *c = NULL;
	ck_client_opts o = CK_CLIENT_OPTS_INIT;
	o.endpoint = "ipc:///dev/null/agent.sock";
	o.timeout_ms = 300000;
	CU_ASSERT_EQUAL_FATAL(ck_client_open(&c, &o), CK_OK);
	tally t = {.expect = 2};
	slot s = {&t, 1};
	CU_ASSERT(ck_client_fd(c) >= 0);
	CU_ASSERT_EQUAL(ck_get_async(c, "async:nowhere", NULL, on_done, &s), CK_OK);
	CU_ASSERT_EQUAL(ck_exists_async(c, "async:nowhere", NULL, on_done, &s), CK_OK);
	CU_ASSERT_EQUAL(ck_client_process(c), CK_OK);
	CU_ASSERT_EQUAL(t.done, 2);
	CU_ASSERT_EQUAL(t.connect, 2);
	CU_ASSERT_PTR_NOT_NULL(strstr(ck_client_last_message(c), "Not a directory"));
	CU_ASSERT_EQUAL(ck_client_pending(c), 0);
	ck_client_close(c);
}

static CU_TestInfo tests[] = {
        {"libuv: 1,000 in flight", test_libuv_thousand_in_flight},
        {"libevent: 1,000 in flight", test_libevent_thousand_in_flight},
        {"deadlines and late replies", test_deadlines_and_late_replies},
        {"a full send queue delays and loses nothing",
         test_a_full_send_queue_delays_and_loses_nothing},
        {"a near hit completes without a round trip", test_near_hit_completes_without_a_round_trip},
        {"blocking calls refused, close cancels", test_blocking_refused_and_close_cancels},
        {"async calls start no threads", test_async_calls_start_no_threads},
        {"an agent killed under requests in flight", test_agent_killed_under_requests},
        {"an impossible endpoint fails at once", test_an_impossible_endpoint_fails_at_once},
        CU_TEST_INFO_NULL,
};

CK_UNIT_SUITE_FULL("async", tests, suite_init, suite_clean)
