/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the embedded store's index structures (agent/memtable.c): SipHash-2-4 against
 * the reference vectors, the hash table's insert/find/remove/remove_if, growth of the bucket
 * array, chains of colliding keys (hashes are forced through cki_memtable_node_init()), and
 * the LRU list's order after push, touch and unlink.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cunit_main.h"
#include "base/memtable.h"

/* The SipHash paper's key 00 01 .. 0f as two little-endian words. */
#define REF_K0 0x0706050403020100ULL
#define REF_K1 0x0f0e0d0c0b0a0908ULL

struct item {
	cki_memtable_node node; /* first member */
	cki_lru_link lru;
	int tag;
	char key[32];
};

static void
item_set(struct item *it, const cki_memtable *t, const char *key, int tag)
{
	memset(it, 0, sizeof(*it));
	snprintf(it->key, sizeof(it->key), "%s", key);
	it->tag = tag;
	cki_memtable_node_init(&it->node, it->key, strlen(it->key),
	                       cki_memtable_hash(t, it->key, strlen(it->key)));
}

static struct item *
lookup(const cki_memtable *t, const char *key)
{
	return (struct item *)cki_memtable_find(t, key, strlen(key),
	                                        cki_memtable_hash(t, key, strlen(key)));
}

/* ---- SipHash ------------------------------------------------------------------------------ */

static void
test_siphash_matches_the_reference_vectors(void)
{
	unsigned char msg[15];
	size_t i;

	for (i = 0; i < sizeof(msg); i++)
		msg[i] = (unsigned char)i;
	/* The empty message and the paper's 15-byte example (Appendix A). */
	CU_ASSERT_EQUAL(cki_siphash24(REF_K0, REF_K1, msg, 0), 0x726fdb47dd0e0e31ULL);
	CU_ASSERT_EQUAL(cki_siphash24(REF_K0, REF_K1, msg, 15), 0xa129ca6149be45e5ULL);
}

static void
test_hash_depends_on_the_table_key(void)
{
	cki_memtable a, b;

	CU_ASSERT_EQUAL_FATAL(cki_memtable_init(&a, 1, 2), CK_OK);
	CU_ASSERT_EQUAL_FATAL(cki_memtable_init(&b, 3, 4), CK_OK);
	CU_ASSERT_EQUAL(cki_memtable_hash(&a, "key", 3), cki_siphash24(1, 2, "key", 3));
	CU_ASSERT_EQUAL(cki_memtable_hash(&b, "key", 3), cki_siphash24(3, 4, "key", 3));
	CU_ASSERT_NOT_EQUAL(cki_memtable_hash(&a, "key", 3), cki_memtable_hash(&b, "key", 3));
	cki_memtable_fini(&a);
	cki_memtable_fini(&b);
}

/* ---- the table ---------------------------------------------------------------------------- */

static void
test_a_new_table_is_empty(void)
{
	cki_memtable t;

	CU_ASSERT_EQUAL_FATAL(cki_memtable_init(&t, 1, 2), CK_OK);
	CU_ASSERT_EQUAL(t.count, 0);
	CU_ASSERT_EQUAL(t.nbuckets, CKI_MEMTABLE_MIN_BUCKETS);
	CU_ASSERT_PTR_NULL(lookup(&t, "absent"));
	cki_memtable_fini(&t);
	CU_ASSERT_PTR_NULL(t.buckets);
	CU_ASSERT_EQUAL(t.nbuckets, 0);
}

static void
test_insert_then_find_returns_the_same_node(void)
{
	cki_memtable t;
	struct item a, b;

	CU_ASSERT_EQUAL_FATAL(cki_memtable_init(&t, 1, 2), CK_OK);
	item_set(&a, &t, "alpha", 1);
	item_set(&b, &t, "beta", 2);
	cki_memtable_insert(&t, &a.node);
	cki_memtable_insert(&t, &b.node);
	CU_ASSERT_EQUAL(t.count, 2);
	CU_ASSERT_PTR_EQUAL(lookup(&t, "alpha"), &a);
	CU_ASSERT_PTR_EQUAL(lookup(&t, "beta"), &b);
	CU_ASSERT_PTR_NULL(lookup(&t, "alph"));
	CU_ASSERT_PTR_NULL(lookup(&t, "alphaa"));
	CU_ASSERT_PTR_NULL(lookup(&t, "gamma"));
	cki_memtable_fini(&t);
}

static void
test_remove_unlinks_only_that_node(void)
{
	cki_memtable t;
	struct item a, b;

	CU_ASSERT_EQUAL_FATAL(cki_memtable_init(&t, 1, 2), CK_OK);
	item_set(&a, &t, "alpha", 1);
	item_set(&b, &t, "beta", 2);
	cki_memtable_insert(&t, &a.node);
	cki_memtable_insert(&t, &b.node);
	cki_memtable_remove(&t, &a.node);
	CU_ASSERT_EQUAL(t.count, 1);
	CU_ASSERT_PTR_NULL(lookup(&t, "alpha"));
	CU_ASSERT_PTR_EQUAL(lookup(&t, "beta"), &b);
	/* Removing it again is a no-op. */
	cki_memtable_remove(&t, &a.node);
	CU_ASSERT_EQUAL(t.count, 1);
	CU_ASSERT_PTR_EQUAL(lookup(&t, "beta"), &b);
	cki_memtable_fini(&t);
}

static void
test_remove_of_an_unlinked_node_with_a_linked_key_does_nothing(void)
{
	cki_memtable t;
	struct item linked, stranger;

	CU_ASSERT_EQUAL_FATAL(cki_memtable_init(&t, 1, 2), CK_OK);
	item_set(&linked, &t, "same", 1);
	item_set(&stranger, &t, "same", 2);
	cki_memtable_insert(&t, &linked.node);
	cki_memtable_remove(&t, &stranger.node);
	CU_ASSERT_EQUAL(t.count, 1);
	CU_ASSERT_PTR_EQUAL(lookup(&t, "same"), &linked);
	cki_memtable_fini(&t);
}

static void
test_the_table_grows_past_three_quarters_and_keeps_every_key(void)
{
	enum { N = 1000 };
	struct item *items = calloc(N, sizeof(*items));
	cki_memtable t;
	char key[32];
	int i, missing = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(items);
	CU_ASSERT_EQUAL_FATAL(cki_memtable_init(&t, 5, 6), CK_OK);
	for (i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "key-%d", i);
		item_set(&items[i], &t, key, i);
		cki_memtable_insert(&t, &items[i].node);
		/* The load factor never passes 3/4. */
		CU_ASSERT_FATAL(t.count * 4 <= t.nbuckets * 3);
	}
	CU_ASSERT_EQUAL(t.count, N);
	/* 64 doubled until 1000 items fit at 3/4: 2048 (1024 * 3/4 = 768 is too few). */
	CU_ASSERT_EQUAL(t.nbuckets, 2048);
	for (i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "key-%d", i);
		if (lookup(&t, key) != &items[i])
			missing++;
	}
	CU_ASSERT_EQUAL(missing, 0);
	cki_memtable_fini(&t);
	free(items);
}

static void
test_colliding_hashes_are_told_apart_by_key(void)
{
	static const char *keys[] = {"ab", "abc", "abd", "zz"};
	const uint64_t same = 0x1234;
	struct item items[4];
	cki_memtable t;
	size_t i;

	CU_ASSERT_EQUAL_FATAL(cki_memtable_init(&t, 1, 2), CK_OK);
	for (i = 0; i < 4; i++) {
		memset(&items[i], 0, sizeof(items[i]));
		snprintf(items[i].key, sizeof(items[i].key), "%s", keys[i]);
		cki_memtable_node_init(&items[i].node, items[i].key, strlen(keys[i]), same);
		cki_memtable_insert(&t, &items[i].node);
	}
	for (i = 0; i < 4; i++)
		CU_ASSERT_PTR_EQUAL(cki_memtable_find(&t, keys[i], strlen(keys[i]), same),
		                    &items[i].node);
	CU_ASSERT_PTR_NULL(cki_memtable_find(&t, "a", 1, same));
	/* The same key under another hash is a different key as far as the table is concerned. */
	CU_ASSERT_PTR_NULL(cki_memtable_find(&t, "ab", 2, same + 1));

	/* Removing one from the middle of the chain leaves the rest findable. */
	cki_memtable_remove(&t, &items[1].node);
	CU_ASSERT_EQUAL(t.count, 3);
	CU_ASSERT_PTR_NULL(cki_memtable_find(&t, "abc", 3, same));
	CU_ASSERT_PTR_EQUAL(cki_memtable_find(&t, "ab", 2, same), &items[0].node);
	CU_ASSERT_PTR_EQUAL(cki_memtable_find(&t, "abd", 3, same), &items[2].node);
	CU_ASSERT_PTR_EQUAL(cki_memtable_find(&t, "zz", 2, same), &items[3].node);
	cki_memtable_fini(&t);
}

static void
test_hashes_sharing_a_bucket_survive_growth(void)
{
	enum { N = 100 };
	struct item items[N];
	cki_memtable t;
	int i, found = 0;

	CU_ASSERT_EQUAL_FATAL(cki_memtable_init(&t, 1, 2), CK_OK);
	/* i * 64 all land in bucket 0 of 64 buckets, and spread out as the table doubles. */
	for (i = 0; i < N; i++) {
		memset(&items[i], 0, sizeof(items[i]));
		snprintf(items[i].key, sizeof(items[i].key), "k%d", i);
		cki_memtable_node_init(&items[i].node, items[i].key, strlen(items[i].key),
		                       (uint64_t)i * CKI_MEMTABLE_MIN_BUCKETS);
		cki_memtable_insert(&t, &items[i].node);
	}
	CU_ASSERT_EQUAL(t.nbuckets, 256);
	for (i = 0; i < N; i++)
		if (cki_memtable_find(&t, items[i].key, strlen(items[i].key),
		                      (uint64_t)i * CKI_MEMTABLE_MIN_BUCKETS) == &items[i].node)
			found++;
	CU_ASSERT_EQUAL(found, N);
	cki_memtable_fini(&t);
}

static bool
drop_odd_and_free(void *ctx, cki_memtable_node *node)
{
	struct item *it = (struct item *)node;
	int *visits = ctx;

	(*visits)++;
	if (it->tag % 2 == 0)
		return false;
	free(it);
	return true;
}

static void
test_remove_if_unlinks_and_may_free_what_it_drops(void)
{
	enum { N = 200 };
	struct item *items[N];
	cki_memtable t;
	char key[32];
	int i, visits = 0, right = 0;

	CU_ASSERT_EQUAL_FATAL(cki_memtable_init(&t, 7, 8), CK_OK);
	for (i = 0; i < N; i++) {
		items[i] = malloc(sizeof(*items[i]));
		CU_ASSERT_PTR_NOT_NULL_FATAL(items[i]);
		snprintf(key, sizeof(key), "item-%d", i);
		item_set(items[i], &t, key, i);
		cki_memtable_insert(&t, &items[i]->node);
	}
	cki_memtable_remove_if(&t, drop_odd_and_free, &visits);
	CU_ASSERT_EQUAL(visits, N);
	CU_ASSERT_EQUAL(t.count, N / 2);
	for (i = 0; i < N; i++) {
		struct item *it;
		snprintf(key, sizeof(key), "item-%d", i);
		it = lookup(&t, key);
		if (i % 2 == 0 ? it == items[i] : it == NULL)
			right++;
	}
	CU_ASSERT_EQUAL(right, N);
	for (i = 0; i < N; i += 2)
		free(items[i]);
	cki_memtable_fini(&t);
}

static void
test_remove_if_on_a_zeroed_table_visits_nothing(void)
{
	cki_memtable t;
	int visits = 0;

	memset(&t, 0, sizeof(t));
	cki_memtable_remove_if(&t, drop_odd_and_free, &visits);
	CU_ASSERT_EQUAL(visits, 0);
	cki_memtable_fini(&t);
	CU_ASSERT_EQUAL(t.count, 0);
}

/* ---- the LRU list ------------------------------------------------------------------------- */

/* Writes the tags from head to tail into out (at most n); returns how many there were. */
static size_t
lru_order(const cki_lru *l, int *out, size_t n)
{
	const cki_lru_link *k;
	size_t i = 0;

	for (k = l->head; k != NULL; k = k->next, i++)
		if (i < n)
			out[i] = ((const struct item *)((const char *)k -
			                                offsetof(struct item, lru)))
			                 ->tag;
	return i;
}

static void
test_lru_keeps_most_recent_first(void)
{
	struct item it[3];
	cki_lru l = {0};
	int order[3];
	int i;

	for (i = 0; i < 3; i++) {
		memset(&it[i], 0, sizeof(it[i]));
		it[i].tag = i;
		cki_lru_push_front(&l, &it[i].lru);
	}
	CU_ASSERT_EQUAL_FATAL(lru_order(&l, order, 3), 3);
	CU_ASSERT(order[0] == 2 && order[1] == 1 && order[2] == 0);
	CU_ASSERT_PTR_EQUAL(l.tail, &it[0].lru);

	cki_lru_touch(&l, &it[0].lru); /* the tail becomes the head */
	CU_ASSERT_EQUAL_FATAL(lru_order(&l, order, 3), 3);
	CU_ASSERT(order[0] == 0 && order[1] == 2 && order[2] == 1);
	CU_ASSERT_PTR_EQUAL(l.tail, &it[1].lru);
	CU_ASSERT_PTR_NULL(l.head->prev);
	CU_ASSERT_PTR_NULL(l.tail->next);

	cki_lru_touch(&l, &it[0].lru); /* already the head: no change */
	CU_ASSERT_EQUAL_FATAL(lru_order(&l, order, 3), 3);
	CU_ASSERT(order[0] == 0 && order[1] == 2 && order[2] == 1);
}

static void
test_lru_unlink_from_head_middle_and_tail(void)
{
	struct item it[4];
	cki_lru l = {0};
	int order[4];
	int i;

	for (i = 0; i < 4; i++) {
		memset(&it[i], 0, sizeof(it[i]));
		it[i].tag = i;
		cki_lru_push_front(&l, &it[i].lru);
	}                               /* 3 2 1 0 */
	cki_lru_unlink(&l, &it[2].lru); /* middle */
	CU_ASSERT_PTR_NULL(it[2].lru.prev);
	CU_ASSERT_PTR_NULL(it[2].lru.next);
	CU_ASSERT_EQUAL_FATAL(lru_order(&l, order, 4), 3);
	CU_ASSERT(order[0] == 3 && order[1] == 1 && order[2] == 0);

	cki_lru_unlink(&l, &it[3].lru); /* head */
	CU_ASSERT_PTR_EQUAL(l.head, &it[1].lru);
	cki_lru_unlink(&l, &it[0].lru); /* tail */
	CU_ASSERT_PTR_EQUAL(l.tail, &it[1].lru);
	CU_ASSERT_EQUAL(lru_order(&l, order, 4), 1);

	cki_lru_unlink(&l, &it[1].lru); /* the last one */
	CU_ASSERT_PTR_NULL(l.head);
	CU_ASSERT_PTR_NULL(l.tail);
}

/* A moving allocator copies an item: the table and the list then lead to the copy, in the
 * same bucket chain and list position, and the original is no longer reachable. */
static void
test_a_moved_item_is_found_at_its_new_place(void)
{
	cki_memtable t;
	cki_lru l = {0};
	struct item a, b, c, moved;

	CU_ASSERT_FATAL(cki_memtable_init(&t, 1, 2) == CK_OK);
	item_set(&a, &t, "a", 1);
	item_set(&b, &t, "b", 2);
	item_set(&c, &t, "c", 3);
	cki_memtable_insert(&t, &a.node);
	cki_memtable_insert(&t, &b.node);
	cki_memtable_insert(&t, &c.node);
	cki_lru_push_front(&l, &c.lru);
	cki_lru_push_front(&l, &b.lru);
	cki_lru_push_front(&l, &a.lru); /* a, b, c */
	for (int round = 0; round < 2; round++) {
		struct item *from = round == 0 ? &b : &c; /* the middle, then the tail */
		memcpy(&moved, from, sizeof(moved));
		moved.node.key = moved.key;
		cki_memtable_moved(&t, &from->node, &moved.node);
		cki_lru_moved(&l, &moved.lru);
		memset(from, 0xee, sizeof(*from)); /* the original is gone */
		CU_ASSERT_PTR_EQUAL(lookup(&t, round == 0 ? "b" : "c"), &moved);
		if (round == 0) {
			memcpy(&b, &moved, sizeof(b)); /* move it back home for round 1 */
			b.node.key = b.key;
			cki_memtable_moved(&t, &moved.node, &b.node);
			cki_lru_moved(&l, &b.lru);
			CU_ASSERT_PTR_EQUAL(lookup(&t, "b"), &b);
		}
	}
	CU_ASSERT_PTR_EQUAL(lookup(&t, "a"), &a);
	CU_ASSERT_EQUAL(t.count, 3);
	CU_ASSERT_PTR_EQUAL(l.head, &a.lru);
	CU_ASSERT_PTR_EQUAL(a.lru.next, &b.lru);
	CU_ASSERT_PTR_EQUAL(b.lru.next, &moved.lru);
	CU_ASSERT_PTR_EQUAL(moved.lru.prev, &b.lru);
	CU_ASSERT_PTR_EQUAL(l.tail, &moved.lru);
	cki_memtable_fini(&t);
}

static CU_TestInfo tests[] = {
        {"a moved item is found at its new place", test_a_moved_item_is_found_at_its_new_place},
        {"siphash matches the reference vectors", test_siphash_matches_the_reference_vectors},
        {"hash depends on the table key", test_hash_depends_on_the_table_key},
        {"a new table is empty", test_a_new_table_is_empty},
        {"insert then find returns the same node", test_insert_then_find_returns_the_same_node},
        {"remove unlinks only that node", test_remove_unlinks_only_that_node},
        {"remove of an unlinked node with a linked key does nothing",
         test_remove_of_an_unlinked_node_with_a_linked_key_does_nothing},
        {"the table grows past three quarters and keeps every key",
         test_the_table_grows_past_three_quarters_and_keeps_every_key},
        {"colliding hashes are told apart by key", test_colliding_hashes_are_told_apart_by_key},
        {"hashes sharing a bucket survive growth", test_hashes_sharing_a_bucket_survive_growth},
        {"remove_if unlinks and may free what it drops",
         test_remove_if_unlinks_and_may_free_what_it_drops},
        {"remove_if on a zeroed table visits nothing",
         test_remove_if_on_a_zeroed_table_visits_nothing},
        {"lru keeps most recent first", test_lru_keeps_most_recent_first},
        {"lru unlink from head, middle and tail", test_lru_unlink_from_head_middle_and_tail},
        CU_TEST_INFO_NULL,
};

CK_UNIT_SUITE("memtable", tests)
