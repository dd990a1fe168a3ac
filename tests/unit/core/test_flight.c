/* SPDX-License-Identifier: Apache-2.0 */
/* Single-flight: concurrent Gets of one key share one store request and its answer. */
#include <stdlib.h>
#include <string.h>

#include "cunit_main.h"
#include "core/flight.h"
#include "base/loop.h"

/* A store whose Gets answer later, from a loop timer, and count themselves. */
typedef struct slow_store {
	cki_store base;
	cki_loop *loop;
	int gets;
} slow_store;

typedef struct pending {
	cki_store_cb cb;
	void *arg;
	char key[64];
} pending;

static void
answer(cki_loop *loop, void *arg)
{
	pending *p = arg;
	cki_store_reply r;
	cki_store_reply_init(&r);
	r.found = strcmp(p->key, "missing") != 0;
	r.value = (const uint8_t *)p->key;
	r.value_len = strlen(p->key);
	p->cb(p->arg, &r);
	free(p);
}

static void
slow_get(cki_store *s, const char *key, uint64_t deadline, cki_store_cb cb, void *arg)
{
	slow_store *ss = (slow_store *)s;
	pending *p = calloc(1, sizeof(*p));
	ss->gets++;
	p->cb = cb;
	p->arg = arg;
	snprintf(p->key, sizeof(p->key), "%s", key);
	CU_ASSERT_NOT_EQUAL(cki_loop_timer(ss->loop, 20, answer, p), 0);
}

static const cki_store_ops slow_ops = {.backend_type = "slow", .get = slow_get};

typedef struct result {
	int calls;
	bool found;
	char value[64];
	cki_loop *loop;
	int *remaining;
} result;

static void
on_done(void *arg, const cki_store_reply *r)
{
	result *res = arg;
	res->calls++;
	res->found = r->found;
	snprintf(res->value, sizeof(res->value), "%.*s", (int)r->value_len, (const char *)r->value);
	if (--*res->remaining == 0)
		cki_loop_stop(res->loop);
}

static void
test_concurrent_gets_share_one_store_request(void)
{
	cki_loop *loop;
	CU_ASSERT_EQUAL_FATAL(cki_loop_new(&loop), CK_OK);
	slow_store ss = {.base = {&slow_ops}, .loop = loop};
	cki_flight *f;
	CU_ASSERT_EQUAL_FATAL(cki_flight_new(&f, &ss.base), CK_OK);
	int remaining = 6;
	result res[6] = {0};
	for (int i = 0; i < 6; i++) {
		res[i].loop = loop;
		res[i].remaining = &remaining;
		cki_flight_get(f, i < 5 ? "hot" : "cold", cki_now_ms() + 1000, on_done, &res[i]);
	}
	CU_ASSERT_EQUAL(cki_flight_count(f), 2);
	CU_ASSERT_EQUAL(cki_loop_run(loop), CK_OK);
	CU_ASSERT_EQUAL(ss.gets, 2); /* one per key, not six */
	for (int i = 0; i < 5; i++) {
		CU_ASSERT_EQUAL(res[i].calls, 1);
		CU_ASSERT_STRING_EQUAL(res[i].value, "hot");
	}
	CU_ASSERT_STRING_EQUAL(res[5].value, "cold");
	CU_ASSERT_EQUAL(cki_flight_count(f), 0);
	cki_flight_free(f);
	cki_loop_free(loop);
}

static void
test_a_get_after_the_answer_starts_a_new_flight(void)
{
	cki_loop *loop;
	CU_ASSERT_EQUAL_FATAL(cki_loop_new(&loop), CK_OK);
	slow_store ss = {.base = {&slow_ops}, .loop = loop};
	cki_flight *f;
	CU_ASSERT_EQUAL_FATAL(cki_flight_new(&f, &ss.base), CK_OK);
	int remaining = 1;
	result a = {.loop = loop, .remaining = &remaining}, b = {.loop = loop};
	cki_flight_get(f, "missing", cki_now_ms() + 1000, on_done, &a);
	CU_ASSERT_EQUAL(cki_loop_run(loop), CK_OK);
	CU_ASSERT_FALSE(a.found);
	remaining = 1;
	b.remaining = &remaining;
	cki_flight_get(f, "missing", cki_now_ms() + 1000, on_done, &b);
	CU_ASSERT_EQUAL(cki_loop_run(loop), CK_OK);
	CU_ASSERT_EQUAL(ss.gets, 2);
	CU_ASSERT_EQUAL(b.calls, 1);
	cki_flight_free(f);
	cki_loop_free(loop);
}

static void
test_a_forgotten_flight_answers_its_waiters_and_a_new_get_starts_another(void)
{
	cki_loop *loop;
	CU_ASSERT_EQUAL_FATAL(cki_loop_new(&loop), CK_OK);
	slow_store ss = {.base = {&slow_ops}, .loop = loop};
	cki_flight *f;
	CU_ASSERT_EQUAL_FATAL(cki_flight_new(&f, &ss.base), CK_OK);
	int remaining = 3;
	result a = {.loop = loop, .remaining = &remaining};
	result b = a, c = a;
	cki_flight_get(f, "hot", cki_now_ms() + 1000, on_done, &a);
	cki_flight_forget(f, "hot");  /* a write to "hot" completed */
	cki_flight_forget(f, "cold"); /* no flight: nothing happens */
	CU_ASSERT_EQUAL(cki_flight_count(f), 0);
	cki_flight_get(f, "hot", cki_now_ms() + 1000, on_done, &b);
	cki_flight_get(f, "hot", cki_now_ms() + 1000, on_done, &c); /* joins b's flight */
	CU_ASSERT_EQUAL(cki_flight_count(f), 1);
	CU_ASSERT_EQUAL(cki_loop_run(loop), CK_OK);
	CU_ASSERT_EQUAL(ss.gets, 2);
	CU_ASSERT_EQUAL(a.calls, 1);
	CU_ASSERT_EQUAL(b.calls, 1);
	CU_ASSERT_EQUAL(c.calls, 1);
	/* The detached flight's answer did not remove the new flight's entry early. */
	CU_ASSERT_EQUAL(cki_flight_count(f), 0);
	cki_flight_free(f);
	cki_loop_free(loop);
}

static CU_TestInfo tests[] = {
        {"a forgotten flight answers its waiters and a new get starts another",
         test_a_forgotten_flight_answers_its_waiters_and_a_new_get_starts_another},
        {"concurrent gets share one store request", test_concurrent_gets_share_one_store_request},
        {"a get after the answer starts a new flight",
         test_a_get_after_the_answer_starts_a_new_flight},
        CU_TEST_INFO_NULL,
};

CK_UNIT_SUITE("flight", tests)
