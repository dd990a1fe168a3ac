/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the embedded store's segment arena (agent/store/memory/segarena.c): items
 * are aligned and sized as asked, an emptied segment goes back at once, and compaction brings
 * an arena that frees in an order unrelated to addresses (the cache's LRU order) back within
 * 4/3 x its live bytes + 2 segments, every item moved intact and its owner told where.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cunit_main.h"
#include "store/memory/segarena.h"

#define SEG ((size_t)CKI_SEGARENA_SEGMENT)

/* The items a test holds: slot i's item starts with i, then bytes derived from i. */
struct owner {
	uint8_t **items;
	size_t *sizes;
	size_t n;
	size_t moves;
};

static void
fill(uint8_t *p, size_t size, size_t i)
{
	memcpy(p, &i, sizeof(i));
	for (size_t k = sizeof(i); k < size; k++)
		p[k] = (uint8_t)(i * 31 + k);
}

static bool
intact(const uint8_t *p, size_t size, size_t i)
{
	size_t got;

	memcpy(&got, p, sizeof(got));
	if (got != i)
		return false;
	for (size_t k = sizeof(i); k < size; k++)
		if (p[k] != (uint8_t)(i * 31 + k))
			return false;
	return true;
}

static void
moved(void *ctx, void *from, void *to)
{
	struct owner *o = ctx;
	size_t i;

	memcpy(&i, to, sizeof(i));
	CU_ASSERT_FATAL(i < o->n);
	CU_ASSERT_PTR_EQUAL(o->items[i], from);
	o->items[i] = to;
	o->moves++;
}

static size_t
bound(const cki_segarena *a)
{
	size_t live = cki_segarena_live_bytes(a);
	return live + live / 3 + 2 * SEG;
}

static void
test_items_are_aligned_and_sizes_bounded(void)
{
	struct owner o = {0};
	cki_segarena *a = NULL;
	void *p, *q;

	CU_ASSERT_FATAL(cki_segarena_new(&a, moved, &o) == CK_OK);
	CU_ASSERT_PTR_NULL(cki_segarena_alloc(a, 0));
	CU_ASSERT_PTR_NULL(cki_segarena_alloc(a, CKI_SEGARENA_MAX_ITEM + 1));
	CU_ASSERT_EQUAL(cki_segarena_mapped_bytes(a), 0);
	p = cki_segarena_alloc(a, 1);
	q = cki_segarena_alloc(a, CKI_SEGARENA_MAX_ITEM);
	CU_ASSERT_FATAL(p != NULL && q != NULL);
	CU_ASSERT_EQUAL((uintptr_t)p % 16, 0);
	CU_ASSERT_EQUAL((uintptr_t)q % 16, 0);
	memset(q, 0xab, CKI_SEGARENA_MAX_ITEM);
	CU_ASSERT_EQUAL(cki_segarena_live_bytes(a),
	                2 * CKI_SEGARENA_HEADER + 16 + CKI_SEGARENA_MAX_ITEM);
	CU_ASSERT_EQUAL(cki_segarena_mapped_bytes(a), SEG);
	cki_segarena_free(a, p);
	cki_segarena_free(a, q);
	CU_ASSERT_EQUAL(cki_segarena_live_bytes(a), 0);
	cki_segarena_destroy(a);
}

/* Fills n items of size bytes into a fresh owner. */
static void
fill_arena(cki_segarena *a, struct owner *o, size_t n, size_t size)
{
	o->items = calloc(n, sizeof(*o->items));
	o->sizes = calloc(n, sizeof(*o->sizes));
	o->n = n;
	CU_ASSERT_FATAL(o->items != NULL && o->sizes != NULL);
	for (size_t i = 0; i < n; i++) {
		o->sizes[i] = size;
		o->items[i] = cki_segarena_alloc(a, size);
		CU_ASSERT_FATAL(o->items[i] != NULL);
		fill(o->items[i], size, i);
	}
}

static void
owner_free(struct owner *o)
{
	free(o->items);
	free(o->sizes);
}

static uintptr_t
segment_of(const void *p)
{
	return (uintptr_t)p & ~(uintptr_t)(SEG - 1);
}

static void
test_an_emptied_segment_is_unmapped(void)
{
	struct owner o = {0};
	cki_segarena *a = NULL;
	size_t in_first = 0, freed = 0, before;
	uintptr_t first;

	CU_ASSERT_FATAL(cki_segarena_new(&a, moved, &o) == CK_OK);
	fill_arena(a, &o, 4 * (SEG / 528), 500); /* 528-byte blocks: four segments' worth */
	before = cki_segarena_mapped_bytes(a);
	CU_ASSERT(before >= 4 * SEG);
	first = segment_of(o.items[0]);
	for (size_t i = 0; i < o.n; i++)
		in_first += segment_of(o.items[i]) == first;
	CU_ASSERT(in_first > 1000);
	for (size_t i = 0; i < o.n && freed < in_first - 1; i++) /* all but one: it stays */
		if (segment_of(o.items[i]) == first) {
			cki_segarena_free(a, o.items[i]);
			o.items[i] = NULL;
			freed++;
		}
	CU_ASSERT_EQUAL(cki_segarena_mapped_bytes(a), before);
	for (size_t i = 0; i < o.n; i++) /* the last one: it goes */
		if (o.items[i] != NULL && segment_of(o.items[i]) == first) {
			cki_segarena_free(a, o.items[i]);
			o.items[i] = NULL;
		}
	CU_ASSERT_EQUAL(cki_segarena_mapped_bytes(a), before - SEG);
	for (size_t i = 0; i < o.n; i++)
		if (o.items[i] != NULL)
			CU_ASSERT(intact(o.items[i], 500, i));
	cki_segarena_destroy(a);
	owner_free(&o);
}

/* The cache's case: items freed in an order unrelated to their addresses leave every
 * segment part-full; no segment empties on its own, compaction brings the arena back. */
static void
test_compaction_bounds_a_scattered_arena(void)
{
	static const size_t sizes[] = {40, 500, 1100, 3000, 17000};
	struct owner o = {0};
	cki_segarena *a = NULL;
	size_t n = 40000, kept = 0;
	uint64_t x = 88172645463325252ull;

	CU_ASSERT_FATAL(cki_segarena_new(&a, moved, &o) == CK_OK);
	o.items = calloc(n, sizeof(*o.items));
	o.sizes = calloc(n, sizeof(*o.sizes));
	o.n = n;
	for (size_t i = 0; i < n; i++) {
		o.sizes[i] = sizes[i % 5];
		o.items[i] = cki_segarena_alloc(a, o.sizes[i]);
		CU_ASSERT_FATAL(o.items[i] != NULL);
		fill(o.items[i], o.sizes[i], i);
	}
	/* Free about 4 in 5, pseudo-randomly (xorshift: the same run every time). */
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		if (x % 5 != 0) {
			cki_segarena_free(a, o.items[i]);
			o.items[i] = NULL;
		} else {
			kept++;
		}
	}
	CU_ASSERT(kept > n / 8);
	/* Without compaction every segment still holds a survivor. */
	CU_ASSERT(cki_segarena_mapped_bytes(a) > 2 * bound(a));
	cki_segarena_compact(a);
	CU_ASSERT(cki_segarena_mapped_bytes(a) <= bound(a));
	CU_ASSERT(o.moves > 0);
	for (size_t i = 0; i < n; i++)
		if (o.items[i] != NULL)
			CU_ASSERT_FATAL(intact(o.items[i], o.sizes[i], i));
	/* Moved items free like any other, and the arena keeps working. */
	for (size_t i = 0; i < n; i += 2)
		if (o.items[i] != NULL) {
			cki_segarena_free(a, o.items[i]);
			o.items[i] = NULL;
		}
	cki_segarena_compact(a);
	CU_ASSERT(cki_segarena_mapped_bytes(a) <= bound(a));
	for (size_t i = 1; i < n; i += 2)
		if (o.items[i] != NULL)
			CU_ASSERT_FATAL(intact(o.items[i], o.sizes[i], i));
	cki_segarena_destroy(a);
	owner_free(&o);
}

static void
test_compaction_within_the_bound_moves_nothing(void)
{
	struct owner o = {0};
	cki_segarena *a = NULL;

	CU_ASSERT_FATAL(cki_segarena_new(&a, moved, &o) == CK_OK);
	fill_arena(a, &o, 10000, 700);
	for (size_t i = 0; i < o.n; i += 10) {
		cki_segarena_free(a, o.items[i]);
		o.items[i] = NULL;
	}
	cki_segarena_compact(a);
	CU_ASSERT_EQUAL(o.moves, 0);
	cki_segarena_destroy(a);
	owner_free(&o);
}

static CU_TestInfo tests[] = {
        {"items are aligned and sizes bounded", test_items_are_aligned_and_sizes_bounded},
        {"an emptied segment is unmapped", test_an_emptied_segment_is_unmapped},
        {"compaction bounds a scattered arena", test_compaction_bounds_a_scattered_arena},
        {"compaction within the bound moves nothing",
         test_compaction_within_the_bound_moves_nothing},
        CU_TEST_INFO_NULL,
};

CK_UNIT_SUITE("segarena", tests)
