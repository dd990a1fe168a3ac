/* SPDX-License-Identifier: Apache-2.0 */
/* The timer heap alone: due order with creation order breaking ties, cancellation of pending,
 * fired and stale ids, the seq limit that keeps timers added during a turn for the next one,
 * and a large random workload checked against a sorted copy. */
#include <stdlib.h>

#include "cunit_main.h"
#include "base/timerheap.h"

static void
fn_a(void)
{
}

static void
test_timers_pop_in_due_then_creation_order(void)
{
	cki_timerheap h;
	cki_timerheap_init(&h);
	int tags[5] = {0, 1, 2, 3, 4};
	uint64_t due[5] = {30, 10, 20, 10, 5};
	for (int i = 0; i < 5; i++)
		CU_ASSERT_NOT_EQUAL(cki_timerheap_add(&h, due[i], fn_a, &tags[i]), 0);
	uint64_t next = 0;
	CU_ASSERT_TRUE(cki_timerheap_next_due(&h, &next));
	CU_ASSERT_EQUAL(next, 5);
	int want[5] = {4, 1, 3, 2, 0}; /* 5, 10 (first), 10 (second), 20, 30 */
	for (int i = 0; i < 5; i++) {
		cki_timerheap_fn fn = NULL;
		void *arg = NULL;
		CU_ASSERT_TRUE_FATAL(cki_timerheap_pop_due(&h, 100, h.seq, &fn, &arg));
		CU_ASSERT_PTR_EQUAL(fn, fn_a);
		CU_ASSERT_EQUAL(*(int *)arg, want[i]);
	}
	CU_ASSERT_FALSE(cki_timerheap_next_due(&h, &next));
	cki_timerheap_fini(&h);
}

static void
test_only_due_timers_within_the_seq_limit_pop(void)
{
	cki_timerheap h;
	cki_timerheap_init(&h);
	int x = 1;
	CU_ASSERT_NOT_EQUAL(cki_timerheap_add(&h, 50, fn_a, &x), 0);
	cki_timerheap_fn fn;
	void *arg;
	CU_ASSERT_FALSE(cki_timerheap_pop_due(&h, 49, h.seq, &fn, &arg)); /* not yet due */
	uint64_t limit = h.seq;
	CU_ASSERT_NOT_EQUAL(cki_timerheap_add(&h, 0, fn_a, &x), 0); /* added "during the turn" */
	CU_ASSERT_FALSE(cki_timerheap_pop_due(&h, 100, limit, &fn, &arg));
	CU_ASSERT_TRUE(cki_timerheap_pop_due(&h, 100, h.seq, &fn, &arg));
	CU_ASSERT_TRUE(cki_timerheap_pop_due(&h, 100, h.seq, &fn, &arg));
	cki_timerheap_fini(&h);
}

static void
test_cancel_ignores_fired_and_stale_ids(void)
{
	cki_timerheap h;
	cki_timerheap_init(&h);
	int a = 1, b = 2;
	uint64_t ida = cki_timerheap_add(&h, 10, fn_a, &a);
	cki_timerheap_fn fn;
	void *arg;
	CU_ASSERT_TRUE(cki_timerheap_pop_due(&h, 10, h.seq, &fn, &arg)); /* a fired */
	uint64_t idb = cki_timerheap_add(&h, 20, fn_a, &b);              /* reuses a's slot */
	CU_ASSERT_EQUAL((uint32_t)ida, (uint32_t)idb);
	cki_timerheap_cancel(&h, ida); /* stale: must not cancel b */
	cki_timerheap_cancel(&h, 0);
	cki_timerheap_cancel(&h, 12345);
	CU_ASSERT_TRUE_FATAL(cki_timerheap_pop_due(&h, 20, h.seq, &fn, &arg));
	CU_ASSERT_PTR_EQUAL(arg, &b);
	uint64_t idc = cki_timerheap_add(&h, 30, fn_a, &a);
	cki_timerheap_cancel(&h, idc);
	CU_ASSERT_FALSE(cki_timerheap_pop_due(&h, 1000, h.seq, &fn, &arg));
	cki_timerheap_fini(&h);
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void
test_random_adds_and_cancels_pop_sorted(void)
{
	enum { N = 5000 };
	cki_timerheap h;
	cki_timerheap_init(&h);
	static uint64_t ids[N], due[N], kept[N];
	unsigned seed = 12345;
	for (int i = 0; i < N; i++) {
		seed = seed * 1103515245u + 12345u;
		due[i] = (seed >> 8) % 100000;
		ids[i] = cki_timerheap_add(&h, due[i], fn_a, &due[i]);
		CU_ASSERT_NOT_EQUAL_FATAL(ids[i], 0);
	}
	size_t nkept = 0;
	for (int i = 0; i < N; i++) {
		if (i % 3 == 0)
			cki_timerheap_cancel(&h, ids[i]);
		else
			kept[nkept++] = due[i];
	}
	qsort(kept, nkept, sizeof(kept[0]), cmp_u64);
	size_t n = 0, wrong = 0;
	cki_timerheap_fn fn;
	void *arg;
	while (cki_timerheap_pop_due(&h, UINT64_MAX, h.seq, &fn, &arg)) {
		if (n >= nkept || *(uint64_t *)arg != kept[n])
			wrong++;
		n++;
	}
	CU_ASSERT_EQUAL(n, nkept);
	CU_ASSERT_EQUAL(wrong, 0);
	cki_timerheap_fini(&h);
}

static CU_TestInfo tests[] = {
        {"timers pop in due, then creation, order", test_timers_pop_in_due_then_creation_order},
        {"only due timers within the seq limit pop", test_only_due_timers_within_the_seq_limit_pop},
        {"cancel ignores fired and stale ids", test_cancel_ignores_fired_and_stale_ids},
        {"random adds and cancels pop sorted", test_random_adds_and_cancels_pop_sorted},
        CU_TEST_INFO_NULL,
};

CK_UNIT_SUITE("timerheap", tests)
