/* SPDX-License-Identifier: Apache-2.0 */
/* The string-keyed hash map: put/get/replace/delete, growth past many keys, sweeping a
 * subset, and the entry count. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cunit_main.h"
#include "base/strmap.h"

static int values[4] = {10, 20, 30, 40};

static void
test_put_then_get_returns_the_value(void)
{
	cki_strmap *m = cki_strmap_new();
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	bool ok = false;
	CU_ASSERT_PTR_NULL(cki_strmap_put(m, "alpha", &values[0], &ok));
	CU_ASSERT_TRUE(ok);
	CU_ASSERT_PTR_NULL(cki_strmap_put(m, "beta", &values[1], &ok));
	CU_ASSERT_PTR_EQUAL(cki_strmap_get(m, "alpha"), &values[0]);
	CU_ASSERT_PTR_EQUAL(cki_strmap_get(m, "beta"), &values[1]);
	CU_ASSERT_PTR_NULL(cki_strmap_get(m, "gamma"));
	CU_ASSERT_PTR_NULL(cki_strmap_get(m, "alph"));
	CU_ASSERT_PTR_NULL(cki_strmap_get(m, ""));
	CU_ASSERT_EQUAL(cki_strmap_count(m), 2);
	cki_strmap_free(m, NULL);
}

static void
test_put_copies_the_key(void)
{
	cki_strmap *m = cki_strmap_new();
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	char key[16];
	snprintf(key, sizeof(key), "volatile");
	bool ok;
	cki_strmap_put(m, key, &values[0], &ok);
	memset(key, 'x', sizeof(key) - 1);
	CU_ASSERT_PTR_EQUAL(cki_strmap_get(m, "volatile"), &values[0]);
	cki_strmap_free(m, NULL);
}

static void
test_put_replaces_and_returns_previous(void)
{
	cki_strmap *m = cki_strmap_new();
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	bool ok;
	cki_strmap_put(m, "k", &values[0], &ok);
	CU_ASSERT_PTR_EQUAL(cki_strmap_put(m, "k", &values[2], &ok), &values[0]);
	CU_ASSERT_TRUE(ok);
	CU_ASSERT_PTR_EQUAL(cki_strmap_get(m, "k"), &values[2]);
	CU_ASSERT_EQUAL(cki_strmap_count(m), 1);
	cki_strmap_free(m, NULL);
}

static void
test_del_removes_and_returns_value(void)
{
	cki_strmap *m = cki_strmap_new();
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	bool ok;
	cki_strmap_put(m, "a", &values[0], &ok);
	cki_strmap_put(m, "b", &values[1], &ok);
	CU_ASSERT_PTR_EQUAL(cki_strmap_del(m, "a"), &values[0]);
	CU_ASSERT_PTR_NULL(cki_strmap_get(m, "a"));
	CU_ASSERT_PTR_EQUAL(cki_strmap_get(m, "b"), &values[1]);
	CU_ASSERT_EQUAL(cki_strmap_count(m), 1);
	CU_ASSERT_PTR_NULL(cki_strmap_del(m, "a")); /* already gone */
	CU_ASSERT_PTR_NULL(cki_strmap_del(m, "never"));
	CU_ASSERT_EQUAL(cki_strmap_count(m), 1);
	cki_strmap_free(m, NULL);
}

static void
test_many_keys_survive_growth(void)
{
	enum { N = 5000 };
	cki_strmap *m = cki_strmap_new();
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	static intptr_t tags[N];
	char key[32];
	bool ok;
	for (int i = 0; i < N; i++) {
		tags[i] = i;
		snprintf(key, sizeof(key), "key:%d", i);
		CU_ASSERT_PTR_NULL(cki_strmap_put(m, key, &tags[i], &ok));
		CU_ASSERT_TRUE(ok);
	}
	CU_ASSERT_EQUAL(cki_strmap_count(m), N);
	int found = 0;
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "key:%d", i);
		intptr_t *v = cki_strmap_get(m, key);
		if (v != NULL && *v == i)
			found++;
	}
	CU_ASSERT_EQUAL(found, N);
	snprintf(key, sizeof(key), "key:%d", N);
	CU_ASSERT_PTR_NULL(cki_strmap_get(m, key));
	cki_strmap_free(m, NULL);
}

static bool
remove_even(void *ctx, const char *key, void *value)
{
	int *visited = ctx;
	(*visited)++;
	int v = *(int *)value;
	if (v % 2 == 0) {
		free(value);
		return true;
	}
	return false;
}

static void
test_sweep_removes_the_chosen_subset(void)
{
	enum { N = 100 };
	cki_strmap *m = cki_strmap_new();
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	char key[32];
	bool ok;
	for (int i = 0; i < N; i++) {
		int *v = malloc(sizeof(*v));
		CU_ASSERT_PTR_NOT_NULL_FATAL(v);
		*v = i;
		snprintf(key, sizeof(key), "n%d", i);
		cki_strmap_put(m, key, v, &ok);
	}
	int visited = 0;
	cki_strmap_sweep(m, remove_even, &visited);
	CU_ASSERT_EQUAL(visited, N);
	CU_ASSERT_EQUAL(cki_strmap_count(m), N / 2);
	int odd_left = 0, even_left = 0;
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "n%d", i);
		int *v = cki_strmap_get(m, key);
		if (v == NULL)
			continue;
		CU_ASSERT_EQUAL(*v, i);
		if (i % 2)
			odd_left++;
		else
			even_left++;
	}
	CU_ASSERT_EQUAL(odd_left, N / 2);
	CU_ASSERT_EQUAL(even_left, 0);
	/* A second sweep visits only what is left. */
	visited = 0;
	cki_strmap_sweep(m, remove_even, &visited);
	CU_ASSERT_EQUAL(visited, N / 2);
	cki_strmap_free(m, free);
}

static int freed_values;

static void
count_free(void *v)
{
	freed_values++;
	free(v);
}

static void
test_free_calls_free_value_for_each_entry(void)
{
	cki_strmap *m = cki_strmap_new();
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	bool ok;
	cki_strmap_put(m, "x", malloc(4), &ok);
	cki_strmap_put(m, "y", malloc(4), &ok);
	cki_strmap_put(m, "z", malloc(4), &ok);
	free(cki_strmap_del(m, "y"));
	freed_values = 0;
	cki_strmap_free(m, count_free);
	CU_ASSERT_EQUAL(freed_values, 2);
	cki_strmap_free(NULL, count_free); /* accepted */
	CU_ASSERT_EQUAL(freed_values, 2);
}

static CU_TestInfo tests[] = {
        {"put then get returns the value", test_put_then_get_returns_the_value},
        {"put copies the key", test_put_copies_the_key},
        {"put replaces and returns the previous value", test_put_replaces_and_returns_previous},
        {"del removes and returns the value", test_del_removes_and_returns_value},
        {"many keys survive growth", test_many_keys_survive_growth},
        {"sweep removes the chosen subset", test_sweep_removes_the_chosen_subset},
        {"free calls free_value for each entry", test_free_calls_free_value_for_each_entry},
        CU_TEST_INFO_NULL,
};

CK_UNIT_SUITE("strmap", tests)
