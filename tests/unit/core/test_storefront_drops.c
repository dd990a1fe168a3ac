/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the storefront (agent/core/storefront.c) does when the embedded store drops a key on its
 * own: an eviction for space or a reclaim past the eviction time moves the key's slot in the
 * stubs' version table (core/nearver.c) and drops its L1 copy inside the store operation that
 * dropped it, so before any reply can show the key gone; and the storefront's own drop listener
 * (the refresh tracker in the agent) still hears of it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/nearver.h"
#include "core/storefront.h"
#include "cunit_main.h"
#include "loop_turn.h"
#include "store/memory/store_memory.h"

typedef struct fixture {
	char dir[64], sock[96], ver[112];
	cki_loop *loop;
	cki_l1 *l1;
	cki_store *backend; /* owned by store */
	cki_store *store;
	cki_nearver *nv;
	uint64_t now; /* the store clock */
	int drops;    /* heard by the storefront's own listener */
	char last_drop[64];
} fixture;

typedef struct answer {
	int calls;
	ck_err err;
	bool found;
	uint64_t slot_at_answer; /* the victim's slot when the answer ran */
	fixture *f;
	const char *watch;
} answer;

static uint64_t
test_clock(void *ctx)
{
	return ((fixture *)ctx)->now;
}

static void
on_drop(void *arg, const char *key)
{
	fixture *f = arg;
	f->drops++;
	snprintf(f->last_drop, sizeof(f->last_drop), "%s", key);
}

static void
on_answer(void *arg, const cki_store_reply *r)
{
	answer *a = arg;
	a->calls++;
	a->err = r->err;
	a->found = r->found;
	if (a->watch != NULL)
		a->slot_at_answer = cki_nearver_read(a->f->nv, a->watch);
}

static void
fixture_init(fixture *f, uint64_t limit)
{
	char why[128] = "";
	memset(f, 0, sizeof(*f));
	ck_tmp_template(f->dir, sizeof(f->dir), "ck-sfdrop");
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(f->dir));
	snprintf(f->sock, sizeof(f->sock), "%s/a.sock", f->dir);
	snprintf(f->ver, sizeof(f->ver), "%s.ver", f->sock);
	FILE *stand_in = fopen(f->sock, "w"); /* the table takes the socket's mode and group */
	CU_ASSERT_PTR_NOT_NULL_FATAL(stand_in);
	fclose(stand_in);
	CU_ASSERT_EQUAL_FATAL(cki_nearver_open(&f->nv, f->sock, why, sizeof(why)), CK_OK);
	f->now = 1000000;
	CU_ASSERT_EQUAL_FATAL(cki_loop_new(&f->loop), CK_OK);
	CU_ASSERT_EQUAL_FATAL(cki_store_memory_new(&f->backend, f->loop, limit), CK_OK);
	cki_store_memory_set_clock(f->backend, test_clock, f);
	CU_ASSERT_EQUAL_FATAL(cki_l1_new(&f->l1, 1u << 20, 60000), CK_OK);
	CU_ASSERT_EQUAL_FATAL(cki_storefront_new(&f->store, f->backend, f->loop, f->l1), CK_OK);
	cki_storefront_set_nearver(f->store, f->nv);
	cki_store_on_drop(f->store, on_drop, f);
}

static void
fixture_done(fixture *f)
{
	f->store->ops->destroy(f->store);
	cki_l1_free(f->l1);
	cki_loop_free(f->loop);
	cki_nearver_close(f->nv);
	unlink(f->ver);
	unlink(f->sock);
	rmdir(f->dir);
}

static void
put(fixture *f, const char *key, size_t len, uint32_t ttl_s, answer *a)
{
	uint8_t *value = calloc(1, len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(value);
	cki_put_opts po = {.ttl_s = ttl_s};
	f->store->ops->put(f->store, key, value, len, &po, cki_now_ms() + 5000, on_answer, a);
	free(value);
}

static void
plant_in_l1(fixture *f, const char *key)
{
	cki_store_reply r;
	cki_store_reply_init(&r);
	r.found = true;
	r.value = (const uint8_t *)"old";
	r.value_len = 3;
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
test_an_eviction_moves_the_slot_before_any_reply(void)
{
	fixture f;
	fixture_init(&f, 64 * 1024);
	answer first = {0};
	put(&f, "victim", 4096, 60, &first); /* as big as each filler: one eviction makes room */
	ck_test_turn(f.loop);
	CU_ASSERT_EQUAL_FATAL(first.err, CK_OK);
	plant_in_l1(&f, "victim");
	uint64_t before = cki_nearver_read(f.nv, "victim");

	/* Fill past the byte limit: the least recently used key (victim) goes first. */
	char key[32];
	int i;
	answer a = {.f = &f, .watch = "victim"};
	for (i = 0; i < 32 && f.drops == 0; i++) {
		snprintf(key, sizeof(key), "filler-%d", i);
		put(&f, key, 4096, 60, &a);
	}
	CU_ASSERT_EQUAL_FATAL(f.drops, 1);
	CU_ASSERT_STRING_EQUAL(f.last_drop, "victim");
	/* Inside the put that evicted it, before that put (or anything later) answered. */
	CU_ASSERT_EQUAL(cki_nearver_read(f.nv, "victim"), before + 1);
	CU_ASSERT_FALSE(in_l1(&f, "victim"));
	CU_ASSERT_EQUAL(a.calls, 0); /* no put has answered yet */
	ck_test_turn(f.loop);
	CU_ASSERT_EQUAL(a.calls, i);
	CU_ASSERT_EQUAL(a.slot_at_answer, before + 1);

	/* A Get of the victim now is a miss, and the slot stays where the eviction put it. */
	answer g = {0};
	f.store->ops->get(f.store, "victim", cki_now_ms() + 5000, on_answer, &g);
	ck_test_turn(f.loop);
	CU_ASSERT_EQUAL(g.calls, 1);
	CU_ASSERT_FALSE(g.found);
	CU_ASSERT_EQUAL(cki_nearver_read(f.nv, "victim"), before + 1);
	fixture_done(&f);
}

static void
test_an_expiry_moves_the_slot_before_the_miss_is_answered(void)
{
	fixture f;
	fixture_init(&f, 1u << 20);
	answer first = {0};
	put(&f, "victim", 100, 1, &first); /* 1 s ttl, no stale window */
	ck_test_turn(f.loop);
	CU_ASSERT_EQUAL_FATAL(first.err, CK_OK);
	plant_in_l1(&f, "victim");
	uint64_t before = cki_nearver_read(f.nv, "victim");
	f.now += 1001;

	answer g = {.f = &f, .watch = "victim"};
	f.store->ops->get(f.store, "victim", cki_now_ms() + 5000, on_answer, &g);
	CU_ASSERT_EQUAL(g.calls, 0);
	CU_ASSERT_EQUAL(f.drops, 1);
	CU_ASSERT_EQUAL(cki_nearver_read(f.nv, "victim"), before + 1);
	CU_ASSERT_FALSE(in_l1(&f, "victim"));
	ck_test_turn(f.loop);
	CU_ASSERT_EQUAL(g.calls, 1);
	CU_ASSERT_FALSE(g.found);
	CU_ASSERT_EQUAL(g.slot_at_answer, before + 1);

	/* The sweep reclaims expired keys the same way. */
	put(&f, "second", 100, 1, &first);
	ck_test_turn(f.loop);
	uint64_t second_before = cki_nearver_read(f.nv, "second");
	f.now += 1001;
	cki_store_memory_sweep(f.backend);
	CU_ASSERT_EQUAL(f.drops, 2);
	CU_ASSERT_STRING_EQUAL(f.last_drop, "second");
	CU_ASSERT_EQUAL(cki_nearver_read(f.nv, "second"), second_before + 1);
	fixture_done(&f);
}

static void
test_deletes_and_overwrites_are_not_drops(void)
{
	fixture f;
	fixture_init(&f, 1u << 20);
	answer a = {0};
	put(&f, "k", 100, 60, &a);
	put(&f, "k", 100, 60, &a);
	f.store->ops->del(f.store, "k", cki_now_ms() + 5000, on_answer, &a);
	ck_test_turn(f.loop);
	CU_ASSERT_EQUAL(a.calls, 3);
	CU_ASSERT_EQUAL(f.drops, 0);
	fixture_done(&f);
}

static CU_TestInfo tests[] = {
        {"an eviction moves the slot before any reply",
         test_an_eviction_moves_the_slot_before_any_reply},
        {"an expiry moves the slot before the miss is answered",
         test_an_expiry_moves_the_slot_before_the_miss_is_answered},
        {"deletes and overwrites are not drops", test_deletes_and_overwrites_are_not_drops},
        CU_TEST_INFO_NULL,
};

CK_UNIT_SUITE("storefront_drops", tests)
