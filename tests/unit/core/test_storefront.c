/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The storefront (agent/core/storefront.c), the one way into the store: over the embedded
 * store it keeps the L1 in step with writes (before the call and at its completion), fills it
 * from Gets, counts calls and errors, passes the backend's identity through, and keeps the
 * store contract (completions from the loop, exactly once; destroy answers what is pending).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/metrics.h"
#include "core/storefront.h"
#include "cunit_main.h"
#include "loop_turn.h"
#include "store/completion.h"
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

/* ---- stale-if-error ----------------------------------------------------------------------
 * A backend double that fails Gets on demand (as an upstream does) and otherwise is the
 * embedded store. */
typedef struct flaky {
	cki_store base;
	cki_store_ops ops;
	cki_store *inner;
	cki_completions done;
	ck_err fail_gets;    /* CK_OK: pass through */
	bool inline_answers; /* answer inside the call, against the contract */
} flaky;

static void
flaky_get(cki_store *s, const char *key, uint64_t deadline, cki_store_cb cb, void *arg)
{
	flaky *f = (flaky *)s;
	if (f->fail_gets == CK_OK) {
		f->inner->ops->get(f->inner, key, deadline, cb, arg);
		return;
	}
	cki_store_reply r;
	cki_store_reply_init(&r);
	r.err = f->fail_gets;
	r.message = "upstream said no";
	if (f->inline_answers)
		cb(arg, &r);
	else
		cki_completions_post(&f->done, cb, arg, &r);
}

static void
flaky_put(cki_store *s, const char *key, const uint8_t *value, size_t len, const cki_put_opts *o,
          uint64_t deadline, cki_store_cb cb, void *arg)
{
	flaky *f = (flaky *)s;
	f->inner->ops->put(f->inner, key, value, len, o, deadline, cb, arg);
}

static void
flaky_del(cki_store *s, const char *key, uint64_t deadline, cki_store_cb cb, void *arg)
{
	flaky *f = (flaky *)s;
	f->inner->ops->del(f->inner, key, deadline, cb, arg);
}

static void
flaky_destroy(cki_store *s)
{
	flaky *f = (flaky *)s;
	f->inner->ops->destroy(f->inner);
	cki_completions_flush(&f->done);
	free(f);
}

static flaky *
flaky_fixture(fixture *f, uint64_t grace_bytes)
{
	memset(f, 0, sizeof(*f));
	flaky *fl = calloc(1, sizeof(*fl));
	CU_ASSERT_PTR_NOT_NULL_FATAL(fl);
	CU_ASSERT_EQUAL_FATAL(cki_loop_new(&f->loop), CK_OK);
	CU_ASSERT_EQUAL_FATAL(cki_store_memory_new(&fl->inner, f->loop, 1u << 20), CK_OK);
	fl->ops = *fl->inner->ops;
	fl->ops.get = flaky_get;
	fl->ops.put = flaky_put;
	fl->ops.del = flaky_del;
	fl->ops.destroy = flaky_destroy;
	fl->base.ops = &fl->ops;
	cki_completions_init(&fl->done, f->loop);
	CU_ASSERT_EQUAL_FATAL(cki_l1_new(&f->l1, 0, 0), CK_OK); /* L1 off: only grace serves */
	CU_ASSERT_EQUAL_FATAL(cki_storefront_new(&f->store, &fl->base, f->loop, f->l1), CK_OK);
	CU_ASSERT_EQUAL_FATAL(cki_storefront_stale_if_error(f->store, grace_bytes), CK_OK);
	cki_metrics_reset();
	return fl;
}

typedef struct got {
	int calls;
	ck_err err;
	bool found;
	cki_freshness freshness;
	char value[32];
} got;

static void
on_got(void *arg, const cki_store_reply *r)
{
	got *g = arg;
	g->calls++;
	g->err = r->err;
	g->found = r->found;
	g->freshness = r->freshness;
	snprintf(g->value, sizeof(g->value), "%.*s", (int)(r->value ? r->value_len : 0),
	         r->value ? (const char *)r->value : "");
}

static got
get_now(fixture *f, const char *key)
{
	got g = {0};
	f->store->ops->get(f->store, key, cki_now_ms() + 5000, on_got, &g);
	ck_test_turn(f->loop);
	CU_ASSERT_EQUAL(g.calls, 1);
	return g;
}

static void
put_ttl(fixture *f, const char *key, const char *value, uint32_t ttl, uint32_t stale)
{
	answer a = {0};
	cki_put_opts po = {.ttl_s = ttl, .stale_ttl_s = stale};
	f->store->ops->put(f->store, key, (const uint8_t *)value, strlen(value), &po,
	                   cki_now_ms() + 5000, on_answer, &a);
	ck_test_turn(f->loop);
	CU_ASSERT_EQUAL(a.err, CK_OK);
}

static void
test_a_failing_upstream_is_answered_with_the_last_value_marked_stale(void)
{
	fixture f;
	flaky *fl = flaky_fixture(&f, 1u << 20);
	put_ttl(&f, "k", "kept", 60, 600);
	fl->fail_gets = CK_EUNAVAILABLE;
	got g = get_now(&f, "k");
	CU_ASSERT_EQUAL(g.err, CK_OK);
	CU_ASSERT_TRUE(g.found);
	CU_ASSERT_EQUAL(g.freshness, CKI_STALE);
	CU_ASSERT_STRING_EQUAL(g.value, "kept");
	CU_ASSERT_EQUAL(cki_metrics_get(CKI_C_STALE_IF_ERROR), 1);
	/* Every upstream failure kind; a refusal is never hidden. */
	ck_err failures[] = {CK_ETIMEDOUT, CK_EUPSTREAM, CK_ERATELIMIT, CK_EIO};
	for (size_t i = 0; i < sizeof(failures) / sizeof(failures[0]); i++) {
		fl->fail_gets = failures[i];
		CU_ASSERT_STRING_EQUAL(get_now(&f, "k").value, "kept");
	}
	fl->fail_gets = CK_EAUTH;
	CU_ASSERT_EQUAL(get_now(&f, "k").err, CK_EAUTH);
	fixture_done(&f);
}

static void
test_no_stale_answer_after_a_delete_or_for_an_unknown_key(void)
{
	fixture f;
	flaky *fl = flaky_fixture(&f, 1u << 20);
	put_ttl(&f, "gone", "old", 60, 600);
	answer d = {0};
	f.store->ops->del(f.store, "gone", cki_now_ms() + 5000, on_answer, &d);
	ck_test_turn(f.loop);
	fl->fail_gets = CK_EUNAVAILABLE;
	CU_ASSERT_EQUAL(get_now(&f, "gone").err, CK_EUNAVAILABLE);
	CU_ASSERT_EQUAL(get_now(&f, "never").err, CK_EUNAVAILABLE);
	CU_ASSERT_EQUAL(cki_metrics_get(CKI_C_STALE_IF_ERROR), 0);
	fixture_done(&f);
}

static void
test_a_value_read_from_another_writer_is_kept_only_while_fresh(void)
{
	fixture f;
	flaky *fl = flaky_fixture(&f, 1u << 20);
	/* Written behind the storefront's back, as another host would: its window is unknown. */
	answer a = {0};
	cki_put_opts po = {.ttl_s = 60, .stale_ttl_s = 600};
	fl->inner->ops->put(fl->inner, "theirs", (const uint8_t *)"t", 1, &po, cki_now_ms() + 5000,
	                    on_answer, &a);
	ck_test_turn(f.loop);
	CU_ASSERT_STRING_EQUAL(get_now(&f, "theirs").value, "t"); /* fresh: kept while fresh */
	fl->fail_gets = CK_EUNAVAILABLE;
	got g = get_now(&f, "theirs");
	CU_ASSERT_TRUE(g.found);
	CU_ASSERT_EQUAL(g.freshness, CKI_STALE);
	fixture_done(&f);
}

/* A backend that breaks the contract (answers inside the call, as an error path might) is
 * still seen by every caller through the contract: the answer arrives from the loop. */
static void
test_an_inline_answer_is_delivered_from_the_loop(void)
{
	fixture f;
	flaky *fl = flaky_fixture(&f, 0);
	fl->fail_gets = CK_EUNAVAILABLE;
	fl->inline_answers = true;
	got g = {0};
	f.store->ops->get(f.store, "k", cki_now_ms() + 5000, on_got, &g);
	CU_ASSERT_EQUAL(g.calls, 0);
	ck_test_turn(f.loop);
	CU_ASSERT_EQUAL(g.calls, 1);
	CU_ASSERT_EQUAL(g.err, CK_EUNAVAILABLE);
	fixture_done(&f);
}

static CU_TestInfo tests[] = {
        {"an inline answer is delivered from the loop",
         test_an_inline_answer_is_delivered_from_the_loop},
        {"a failing upstream is answered with the last value, marked stale",
         test_a_failing_upstream_is_answered_with_the_last_value_marked_stale},
        {"no stale answer after a delete or for an unknown key",
         test_no_stale_answer_after_a_delete_or_for_an_unknown_key},
        {"a value read from another writer is kept only while fresh",
         test_a_value_read_from_another_writer_is_kept_only_while_fresh},
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
