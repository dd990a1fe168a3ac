/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The stubs' near caches stay coherent with what the agent's embedded store drops on its own:
 * a real agent runs with a 1 MiB memory limit; one stub process holds a key in its near cache,
 * another process fills the store past the limit so the key is evicted in the agent, and the
 * first process's next read must not return its old copy (it goes to the agent and misses).
 * The same for a key whose TTL ends while a near copy is still within its configured time.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#define CK_AGENT_CHILD_NAME "ck-nevict"
#include "agent_child.h"

enum { LIMIT = 1 << 20, FILL_SIZE = 16 * 1024, FILL_COUNT = 2 * LIMIT / FILL_SIZE };

static int
init_small_store(void)
{
	/* The agent reads its settings from the environment too (docs/configuration.md). */
	if (setenv("CACHEKIT_MEMORY_LIMIT", "1048576", 1) != 0)
		return -1;
	return suite_init();
}

static ck_near_stats
stats_of(ck_client *c)
{
	ck_near_stats s;
	memset(&s, 0, sizeof(s));
	CU_ASSERT_EQUAL(ck_client_near_stats(c, &s), CK_OK);
	return s;
}

/* A second stub process (its own client: a forked near cache starts empty anyway) writes
 * FILL_COUNT values of FILL_SIZE bytes: twice the store's limit. */
static bool
fill_from_another_process(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		static char value[FILL_SIZE];
		char key[64];
		ck_client *w = NULL;
		ck_client_opts o = CK_CLIENT_OPTS_INIT;
		o.endpoint = endpoint;
		o.timeout_ms = 10000;
		o.near_cache_bytes = 1 << 20;
		if (ck_client_open(&w, &o) != CK_OK)
			_exit(2);
		memset(value, 'f', sizeof(value));
		for (int i = 0; i < FILL_COUNT; i++) {
			snprintf(key, sizeof(key), "evict:fill-%d", i);
			if (ck_set(w, key, value, sizeof(value), NULL) != CK_OK)
				_exit(3);
		}
		ck_client_close(w);
		_exit(0);
	}
	int st = 0;
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return false;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static void
test_an_evicted_key_is_not_served_from_a_near_cache(void)
{
	ck_client *c = open_client(1 << 20);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	ck_set_opts so = CK_SET_OPTS_INIT;
	so.ttl_s = 600;
	CU_ASSERT_EQUAL_FATAL(ck_set(c, "evict:victim", "old", 3, &so), CK_OK);
	ck_value *v = NULL;
	CU_ASSERT_EQUAL_FATAL(ck_get(c, "evict:victim", NULL, &v), CK_OK);
	ck_value_free(v);
	v = NULL;
	/* Now a local copy: the second read is a near hit. */
	uint64_t hits = stats_of(c).hits;
	CU_ASSERT_EQUAL_FATAL(ck_get(c, "evict:victim", NULL, &v), CK_OK);
	CU_ASSERT(v != NULL && v->len == 3 && memcmp(v->data, "old", 3) == 0);
	ck_value_free(v);
	v = NULL;
	CU_ASSERT_EQUAL_FATAL(stats_of(c).hits, hits + 1);

	CU_ASSERT_TRUE_FATAL(fill_from_another_process());

	ck_near_stats before = stats_of(c);
	CU_ASSERT_EQUAL(before.entries, 1);
	CU_ASSERT_EQUAL(ck_get(c, "evict:victim", NULL, &v), CK_ENOTFOUND);
	CU_ASSERT_PTR_NULL(v);
	ck_value_free(v);
	ck_near_stats after = stats_of(c);
	CU_ASSERT_EQUAL(after.hits, before.hits);
	CU_ASSERT_EQUAL(after.invalidations, before.invalidations + 1);
	CU_ASSERT_EQUAL(after.misses, before.misses + 1);
	ck_client_close(c);
}

static void
test_an_expired_key_is_not_served_from_a_near_cache(void)
{
	/* The key lives 1 s with no stale window; the agent reclaims it when a Get finds it past
	 * its time. The near copy is bounded by the reply's Fresh-For as well, so this checks
	 * that both ends agree on the end of the value, whichever moves first. */
	ck_client *c = open_client(1 << 20);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	ck_set_opts so = CK_SET_OPTS_INIT;
	so.ttl_s = 1;
	CU_ASSERT_EQUAL_FATAL(ck_set(c, "evict:short", "old", 3, &so), CK_OK);
	ck_value *v = NULL;
	CU_ASSERT_EQUAL_FATAL(ck_get(c, "evict:short", NULL, &v), CK_OK);
	ck_value_free(v);
	v = NULL;
	/* Wait for the expiry itself: the agent answers a miss (a near hit would be "old"). */
	ck_client *plain = open_client(0);
	ck_err rv = CK_OK;
	for (int64_t end = now_ms() + 30000; rv == CK_OK && now_ms() < end;) {
		rv = ck_get(plain, "evict:short", NULL, &v);
		ck_value_free(v);
		v = NULL;
	}
	CU_ASSERT_EQUAL(rv, CK_ENOTFOUND);
	CU_ASSERT_EQUAL(ck_get(c, "evict:short", NULL, &v), CK_ENOTFOUND);
	ck_value_free(v);
	ck_client_close(plain);
	ck_client_close(c);
}

static CU_TestInfo tests[] = {
        {"an evicted key is not served from a near cache",
         test_an_evicted_key_is_not_served_from_a_near_cache},
        {"an expired key is not served from a near cache",
         test_an_expired_key_is_not_served_from_a_near_cache},
        CU_TEST_INFO_NULL,
};

CK_UNIT_SUITE_FULL("near_evict", tests, init_small_store, suite_clean)
