/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The storefront (agent/core/storefront.c), the one way into the store: over the embedded
 * store it keeps the L1 in step with writes (before the call and at its completion), fills it
 * from Gets, counts calls and errors, passes the backend's identity through, and keeps the
 * store contract (completions from the loop, exactly once; destroy answers what is pending).
 */
#include <stdlib.h>
#include <string.h>

#include "base/metrics.h"
#include "core/storefront.h"
#include "cunit_main.h"
#include "loop_turn.h"
#include "store/memory/store_memory.h"

typedef struct fixture {
	cki_loop *loop;
	cki_l1 *l1;
	cki_store *store;
} fixture;

typedef struct answer {
	int calls;
	ck_err err;
	bool found;
} answer;

static void
on_answer(void *arg, const cki_store_reply *r)
{
	answer *a = arg;
	a->calls++;
	a->err = r->err;
	a->found = r->found;
}

static void
fixture_init(fixture *f)
{
	memset(f, 0, sizeof(*f));
	cki_store *backend = NULL;
	CU_ASSERT_EQUAL_FATAL(cki_loop_new(&f->loop), CK_OK);
	CU_ASSERT_EQUAL_FATAL(cki_store_memory_new(&backend, f->loop, 1u << 20), CK_OK);
	CU_ASSERT_EQUAL_FATAL(cki_l1_new(&f->l1, 1u << 20, 60000), CK_OK);
	CU_ASSERT_EQUAL_FATAL(cki_storefront_new(&f->store, backend, f->loop, f->l1), CK_OK);
	cki_metrics_reset();
}

static void
fixture_done(fixture *f)
{
	f->store->ops->destroy(f->store);
	cki_l1_free(f->l1);
	cki_loop_free(f->loop);
}

static void
put(fixture *f, const char *key, const char *value)
{
	answer a = {0};
	cki_put_opts po = {.ttl_s = 60};
	f->store->ops->put(f->store, key, (const uint8_t *)value, strlen(value), &po,
	                   cki_now_ms() + 5000, on_answer, &a);
	CU_ASSERT_EQUAL(a.calls, 0); /* never inside the call */
	ck_test_turn(f->loop);
	CU_ASSERT_EQUAL(a.calls, 1);
	CU_ASSERT_EQUAL(a.err, CK_OK);
}

/* A fresh copy in the L1, as a Get that completed would leave it. */
static void
plant_in_l1(fixture *f, const char *key, const char *value)
{
	cki_store_reply r;
	cki_store_reply_init(&r);
	r.found = true;
	r.value = (const uint8_t *)value;
	r.value_len = strlen(value);
	r.freshness = CKI_FRESH;
	r.fresh_for_ms = 60000;
	cki_l1_put(f->l1, key, &r);
}

static bool
in_l1(fixture *f, const char *key)
{
	cki_store_reply r;
	return cki_l1_get(f->l1, key, &r);
}

static void
test_a_get_fills_the_l1(void)
{
	fixture f;
	fixture_init(&f);
	put(&f, "k", "v1");
	CU_ASSERT_FALSE(in_l1(&f, "k"));
	answer a = {0};
	f.store->ops->get(f.store, "k", cki_now_ms() + 5000, on_answer, &a);
	CU_ASSERT_EQUAL(a.calls, 0);
	ck_test_turn(f.loop);
	CU_ASSERT_EQUAL(a.calls, 1);
	CU_ASSERT_TRUE(a.found);
	CU_ASSERT_TRUE(in_l1(&f, "k"));
	fixture_done(&f);
}

static void
test_writes_drop_the_l1_copy_before_and_after(void)
{
	fixture f;
	fixture_init(&f);
	put(&f, "k", "v1");
	plant_in_l1(&f, "k", "v1");

	/* Before: the call itself drops the copy. */
	answer a = {0};
	cki_put_opts po = {.ttl_s = 60};
	f.store->ops->put(f.store, "k", (const uint8_t *)"v2", 2, &po, cki_now_ms() + 5000,
	                  on_answer, &a);
	CU_ASSERT_FALSE(in_l1(&f, "k"));
	/* A Get racing the write refills the old value; the completion drops it again. */
	plant_in_l1(&f, "k", "v1");
	ck_test_turn(f.loop);
	CU_ASSERT_EQUAL(a.calls, 1);
	CU_ASSERT_FALSE(in_l1(&f, "k"));

	/* Delete and TTL changes too. */
	plant_in_l1(&f, "k", "v2");
	answer d = {0};
	f.store->ops->del(f.store, "k", cki_now_ms() + 5000, on_answer, &d);
	CU_ASSERT_FALSE(in_l1(&f, "k"));
	plant_in_l1(&f, "k", "v2");
	ck_test_turn(f.loop);
	CU_ASSERT_TRUE(d.found);
	CU_ASSERT_FALSE(in_l1(&f, "k"));

	put(&f, "t", "v");
	plant_in_l1(&f, "t", "v");
	answer t = {0};
	f.store->ops->touch(f.store, "t", 30, cki_now_ms() + 5000, on_answer, &t);
	plant_in_l1(&f, "t", "v");
	ck_test_turn(f.loop);
	CU_ASSERT_TRUE(t.found);
	CU_ASSERT_FALSE(in_l1(&f, "t"));
	fixture_done(&f);
}

static void
test_reads_leave_the_l1_alone(void)
{
	fixture f;
	fixture_init(&f);
	put(&f, "k", "v1");
	plant_in_l1(&f, "k", "v1");
	answer e = {0}, t = {0};
	f.store->ops->exists(f.store, "k", cki_now_ms() + 5000, on_answer, &e);
	f.store->ops->get_ttl(f.store, "k", cki_now_ms() + 5000, on_answer, &t);
	ck_test_turn(f.loop);
	CU_ASSERT_TRUE(e.found);
	CU_ASSERT_TRUE(t.found);
	CU_ASSERT_TRUE(in_l1(&f, "k"));
	fixture_done(&f);
}

static void
test_calls_and_errors_are_counted(void)
{
	fixture f;
	fixture_init(&f);
	put(&f, "k", "v");
	answer a = {0};
	f.store->ops->get(f.store, "", cki_now_ms() + 5000, on_answer, &a); /* invalid key */
	ck_test_turn(f.loop);
	CU_ASSERT_NOT_EQUAL(a.err, CK_OK);
	CU_ASSERT_EQUAL(cki_metrics_get(CKI_C_STORE_CALLS), 2);
	CU_ASSERT_EQUAL(cki_metrics_get(CKI_C_STORE_ERRORS), 1);
	fixture_done(&f);
}

static void
test_the_backend_identity_passes_through(void)
{
	fixture f;
	fixture_init(&f);
	CU_ASSERT_STRING_EQUAL(f.store->ops->backend_type, "memory");
	CU_ASSERT_STRING_EQUAL(f.store->ops->url(f.store), "memory:");
	fixture_done(&f);
}

static void
test_destroy_answers_what_is_pending(void)
{
	fixture f;
	fixture_init(&f);
	answer a = {0};
	f.store->ops->exists(f.store, "k", cki_now_ms() + 5000, on_answer, &a);
	CU_ASSERT_EQUAL(a.calls, 0);
	f.store->ops->destroy(f.store);
	CU_ASSERT_EQUAL(a.calls, 1);
	cki_l1_free(f.l1);
	cki_loop_free(f.loop);
}

static CU_TestInfo tests[] = {
        {"a get fills the l1", test_a_get_fills_the_l1},
        {"writes drop the l1 copy before the call and at completion",
         test_writes_drop_the_l1_copy_before_and_after},
        {"reads leave the l1 alone", test_reads_leave_the_l1_alone},
        {"calls and errors are counted", test_calls_and_errors_are_counted},
        {"the backend's identity passes through", test_the_backend_identity_passes_through},
        {"destroy answers what is pending", test_destroy_answers_what_is_pending},
        CU_TEST_INFO_NULL,
};

CK_UNIT_SUITE("storefront", tests)
