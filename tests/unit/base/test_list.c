/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for agent/base/list.h: appends keep order and count, removing the head, the tail, a
 * middle item or the only item relinks its neighbours and clears its links, and CKI_LIST_ITEM
 * gives back the embedding item.
 */
#include <stddef.h>

#include "base/list.h"
#include "cunit_main.h"

typedef struct item {
	int id;
	cki_list_link link;
} item;

/* Writes the ids from head to tail into ids, checks the back links agree, returns the count. */
static size_t
walk(const cki_list *l, int *ids, size_t cap)
{
	size_t n = 0;
	const cki_list_link *prev = NULL;
	for (cki_list_link *k = l->head; k != NULL && n < cap; k = k->next) {
		CU_ASSERT_PTR_EQUAL(k->prev, prev);
		ids[n++] = CKI_LIST_ITEM(k, item, link)->id;
		prev = k;
	}
	CU_ASSERT_PTR_EQUAL(l->tail, prev);
	CU_ASSERT_EQUAL(l->n, n);
	return n;
}

static void
test_push_back_keeps_order(void)
{
	cki_list l = {0};
	item it[3] = {{.id = 1}, {.id = 2}, {.id = 3}};
	for (int i = 0; i < 3; i++)
		cki_list_push_back(&l, &it[i].link);
	int ids[4];
	CU_ASSERT_EQUAL_FATAL(walk(&l, ids, 4), 3);
	CU_ASSERT_EQUAL(ids[0], 1);
	CU_ASSERT_EQUAL(ids[1], 2);
	CU_ASSERT_EQUAL(ids[2], 3);
	CU_ASSERT_PTR_EQUAL(CKI_LIST_ITEM(l.tail, item, link), &it[2]);
}

static void
test_remove_anywhere_relinks(void)
{
	cki_list l = {0};
	item it[4] = {{.id = 1}, {.id = 2}, {.id = 3}, {.id = 4}};
	for (int i = 0; i < 4; i++)
		cki_list_push_back(&l, &it[i].link);
	int ids[4];

	cki_list_remove(&l, &it[1].link); /* middle */
	CU_ASSERT_PTR_NULL(it[1].link.prev);
	CU_ASSERT_PTR_NULL(it[1].link.next);
	CU_ASSERT_EQUAL_FATAL(walk(&l, ids, 4), 3);
	CU_ASSERT(ids[0] == 1 && ids[1] == 3 && ids[2] == 4);

	cki_list_remove(&l, &it[0].link); /* head */
	CU_ASSERT_EQUAL_FATAL(walk(&l, ids, 4), 2);
	CU_ASSERT(ids[0] == 3 && ids[1] == 4);

	cki_list_remove(&l, &it[3].link); /* tail */
	CU_ASSERT_EQUAL_FATAL(walk(&l, ids, 4), 1);
	CU_ASSERT_EQUAL(ids[0], 3);

	cki_list_remove(&l, &it[2].link); /* the only one */
	CU_ASSERT_PTR_NULL(l.head);
	CU_ASSERT_PTR_NULL(l.tail);
	CU_ASSERT_EQUAL(l.n, 0);

	cki_list_push_back(&l, &it[1].link); /* a removed item can go on again */
	CU_ASSERT_EQUAL_FATAL(walk(&l, ids, 4), 1);
	CU_ASSERT_EQUAL(ids[0], 2);
}

static CU_TestInfo tests[] = {
        {"push back keeps order and count", test_push_back_keeps_order},
        {"remove anywhere relinks the neighbours", test_remove_anywhere_relinks},
        CU_TEST_INFO_NULL};

CK_UNIT_SUITE("list", tests)
