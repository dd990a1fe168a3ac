/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Batch calls of the C stub (ck_mget, ck_mset) against a real agent on the embedded store: 100
 * keys per round trip with hits, misses and a bad key reported per item, the batch limit, the
 * agent's L1 and the stub's near cache answering their part, and a batch of 100 Gets taking
 * one round trip (the agent's request counter moves by one).
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

#define CK_AGENT_CHILD_NAME "ck-batch"
#include "agent_child.h"

static double
agent_stat(ck_client *c, const char *name)
{
	ck_stats *st = NULL;
	double v = -1;
	if (ck_stats_get(c, NULL, &st) != CK_OK)
		return -1;
	for (size_t i = 0; i < st->count; i++)
		if (strcmp(st->items[i].name, name) == 0)
			v = st->items[i].value;
	ck_stats_free(st);
	return v;
}

static void
test_mset_then_mget(void)
{
	enum { N = 100 };
	ck_client *c = open_client(0);
	static char keys[N + 1][32], vals[N][32];
	const char *kp[N + 1];
	ck_mset_item items[N];
	ck_err errs[N + 1];
	ck_value *values[N + 1];
	for (int i = 0; i < N; i++) {
		snprintf(keys[i], sizeof(keys[i]), "batch:%d", i);
		int len = snprintf(vals[i], sizeof(vals[i]), "value-%d", i);
		items[i] = (ck_mset_item){keys[i], vals[i], (size_t)len};
		kp[i] = keys[i];
	}
	ck_set_opts so = CK_SET_OPTS_INIT;
	so.ttl_s = 300;
	CU_ASSERT_EQUAL_FATAL(ck_mset(c, items, N, &so, errs), CK_OK);
	for (int i = 0; i < N; i++)
		CU_ASSERT_EQUAL(errs[i], CK_OK);
	CU_ASSERT_EQUAL(agent_stat(c, "sets_total"), N);

	/* Every even key deleted: misses in the middle of hits. */
	for (int i = 0; i < N; i += 2)
		CU_ASSERT_EQUAL(ck_delete(c, keys[i], NULL, NULL), CK_OK);
	double before = agent_stat(c, "requests_total");
	CU_ASSERT_EQUAL_FATAL(ck_mget(c, kp, N, NULL, values, errs), CK_OK);
	/* One request for the 100 keys (plus this stats call itself). */
	CU_ASSERT_EQUAL(agent_stat(c, "requests_total") - before, 2);
	for (int i = 0; i < N; i++) {
		if (i % 2 == 0) {
			CU_ASSERT_EQUAL(errs[i], CK_ENOTFOUND);
			CU_ASSERT_PTR_NULL(values[i]);
		} else {
			CU_ASSERT_EQUAL(errs[i], CK_OK);
			CU_ASSERT(values[i] != NULL &&
			          strcmp((char *)values[i]->data, vals[i]) == 0);
		}
		ck_value_free(values[i]);
	}

	/* A bad key fails the item, not the batch (the agent checks keys). */
	strcpy(keys[N], "bad key");
	kp[N] = keys[N];
	CU_ASSERT_EQUAL_FATAL(ck_mget(c, kp + N - 1, 2, NULL, values, errs), CK_OK);
	CU_ASSERT_EQUAL(errs[0], CK_OK);
	CU_ASSERT_EQUAL(errs[1], CK_EINVALKEY);
	ck_value_free(values[0]);
	ck_value_free(values[1]);
	ck_client_close(c);
}

static void
test_limits(void)
{
	ck_client *c = open_client(0);
	static const char *kp[1001];
	static ck_value *values[1001];
	static ck_err errs[1001];
	for (int i = 0; i < 1001; i++)
		kp[i] = "batch:1";
	CU_ASSERT_EQUAL(ck_mget(c, kp, 1001, NULL, values, errs), CK_EINVAL);
	CU_ASSERT_EQUAL(ck_mget(c, kp, 0, NULL, values, errs), CK_EINVAL);
	CU_ASSERT_EQUAL_FATAL(ck_mget(c, kp, 1000, NULL, values, errs), CK_OK);
	for (int i = 0; i < 1000; i++) {
		CU_ASSERT_EQUAL(errs[i], CK_OK);
		ck_value_free(values[i]);
	}
	kp[3] = NULL;
	CU_ASSERT_EQUAL(ck_mget(c, kp, 5, NULL, values, errs), CK_EINVAL);
	CU_ASSERT_EQUAL(errs[0], CK_EINVAL);
	CU_ASSERT_PTR_NULL(values[0]);
	ck_client_close(c);
}

static void
test_near_cache_answers_its_part(void)
{
	ck_client *c = open_client(1 << 20);
	const char *kp[3] = {"batch:1", "batch:3", "batch:5"};
	ck_value *values[3];
	ck_err errs[3];
	ck_value *v = NULL;
	CU_ASSERT_EQUAL(ck_get(c, "batch:3", NULL, &v), CK_OK); /* now held locally */
	ck_value_free(v);
	CU_ASSERT_EQUAL_FATAL(ck_mget(c, kp, 3, NULL, values, errs), CK_OK);
	ck_near_stats ns;
	CU_ASSERT_EQUAL(ck_client_near_stats(c, &ns), CK_OK);
	CU_ASSERT_EQUAL(ns.hits, 1);
	CU_ASSERT_EQUAL(ns.entries, 3); /* the two from the agent were kept */
	for (int i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(errs[i], CK_OK);
		ck_value_free(values[i]);
	}
	/* All three local now: no request at all (works with the agent stopped). */
	kill(agent_pid, SIGSTOP);
	CU_ASSERT_EQUAL(ck_mget(c, kp, 3, NULL, values, errs), CK_OK);
	kill(agent_pid, SIGCONT);
	for (int i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(errs[i], CK_OK);
		ck_value_free(values[i]);
	}
	/* A write through the agent reaches the batch's copies too. */
	CU_ASSERT_EQUAL(ck_set(c, "batch:3", "new", 3, NULL), CK_OK);
	CU_ASSERT_EQUAL_FATAL(ck_mget(c, kp, 3, NULL, values, errs), CK_OK);
	CU_ASSERT(values[1] != NULL && strcmp((char *)values[1]->data, "new") == 0);
	for (int i = 0; i < 3; i++)
		ck_value_free(values[i]);
	ck_client_close(c);
}

static CU_TestInfo tests[] = {
        {"mset then mget", test_mset_then_mget},
        {"limits", test_limits},
        {"the near cache answers its part", test_near_cache_answers_its_part},
        CU_TEST_INFO_NULL,
};

CK_UNIT_SUITE_FULL("batch", tests, suite_init, suite_clean)
