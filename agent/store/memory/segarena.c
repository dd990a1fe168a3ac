/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The log-structured arena (segarena.h). A segment is one aligned 1 MiB mapping: a header,
 * then items packed one after another from `used` down to nothing, each behind a 16-byte
 * block header that says its size and whether it is live. An item's segment is its address
 * rounded down to the segment size. The segment being filled (`cur`) takes every allocation;
 * the others sit in one of NCLASS lists by how full they are, so compaction finds an emptiest
 * one in O(1) and a free moves a segment between lists in O(1).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "base/log.h"
#include "store/memory/segarena.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define POISON(p, n)   ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n)   ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define SEG    ((size_t)CKI_SEGARENA_SEGMENT)
#define HDR    ((size_t)CKI_SEGARENA_HEADER)
#define NCLASS 8 /* fullness classes: live * NCLASS / SEG */

struct segment {
	struct segment *prev, *next; /* in lists[cls], unless it is cur or being emptied */
	size_t live;                 /* bytes of live blocks, headers included */
	size_t used;                 /* offset of the first unused byte */
	int cls;                     /* its list, or -1 when on none */
};

struct block {
	uint32_t size; /* whole block, header included; a multiple of 16 */
	uint32_t live;
	uint64_t pad;
};

/* The first block starts here: the segment header rounded up to 16. */
#define FIRST (((sizeof(struct segment) + 15u) / 16u) * 16u)

struct cki_segarena {
	struct segment *lists[NCLASS];
	struct segment *cur;
	size_t segments;
	size_t live;
	cki_segarena_move_fn move;
	void *move_ctx;
};

_Static_assert(sizeof(struct block) == CKI_SEGARENA_HEADER, "block header is 16 bytes");
_Static_assert(CKI_SEGARENA_MAX_ITEM + CKI_SEGARENA_HEADER < CKI_SEGARENA_SEGMENT / 8,
               "an item fits many times in a segment");

static struct segment *
segment_of(const void *p)
{
	return (struct segment *)((uintptr_t)p & ~(uintptr_t)(SEG - 1));
}

static int
class_of(size_t live)
{
	size_t c = live * NCLASS / SEG;

	return c >= NCLASS ? NCLASS - 1 : (int)c;
}

static void
list_remove(cki_segarena *a, struct segment *s)
{
	if (s->cls < 0)
		return;
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		a->lists[s->cls] = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	s->prev = s->next = NULL;
	s->cls = -1;
}

static void
list_add(cki_segarena *a, struct segment *s)
{
	int c = class_of(s->live);

	s->cls = c;
	s->prev = NULL;
	s->next = a->lists[c];
	if (s->next != NULL)
		s->next->prev = s;
	a->lists[c] = s;
}

/* One SEG-aligned mapping of SEG bytes: map twice the size, cut off both ends. */
static struct segment *
segment_map(cki_segarena *a)
{
	uint8_t *raw, *start;
	size_t head;
	struct segment *s;

	raw = mmap(NULL, 2 * SEG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (raw == MAP_FAILED)
		return NULL;
	start = (uint8_t *)(((uintptr_t)raw + SEG - 1) & ~(uintptr_t)(SEG - 1));
	head = (size_t)(start - raw);
	if (head > 0)
		(void)munmap(raw, head);
	(void)munmap(start + SEG, SEG - head);
	s = (struct segment *)start;
	s->prev = s->next = NULL;
	s->live = 0;
	s->used = FIRST;
	s->cls = -1;
	POISON(start + FIRST, SEG - FIRST);
	a->segments++;
	return s;
}

static void
segment_unmap(cki_segarena *a, struct segment *s)
{
	UNPOISON(s, SEG);
	if (munmap(s, SEG) != 0)
		cki_log_warn("store memory: munmap of an arena segment failed");
	a->segments--;
}

ck_err
cki_segarena_new(cki_segarena **out, cki_segarena_move_fn move, void *ctx)
{
	cki_segarena *a = calloc(1, sizeof(*a));

	if (a == NULL)
		return CK_ENOMEM;
	a->move = move;
	a->move_ctx = ctx;
	*out = a;
	return CK_OK;
}

void
cki_segarena_destroy(cki_segarena *a)
{
	int c;

	if (a == NULL)
		return;
	for (c = 0; c < NCLASS; c++)
		while (a->lists[c] != NULL) {
			struct segment *s = a->lists[c];
			list_remove(a, s);
			segment_unmap(a, s);
		}
	if (a->cur != NULL)
		segment_unmap(a, a->cur);
	free(a);
}

/* Puts the full segment cur on its list (or unmaps it if nothing in it lives) and maps a new
 * one. False when the mapping fails (cur is then NULL). */
static bool
next_segment(cki_segarena *a)
{
	struct segment *s = a->cur;

	a->cur = NULL;
	if (s != NULL) {
		if (s->live == 0)
			segment_unmap(a, s);
		else
			list_add(a, s);
	}
	a->cur = segment_map(a);
	return a->cur != NULL;
}

void *
cki_segarena_alloc(cki_segarena *a, size_t size)
{
	struct block *b;
	size_t total;

	if (size == 0 || size > CKI_SEGARENA_MAX_ITEM)
		return NULL;
	total = (HDR + size + 15u) & ~(size_t)15u;
	if ((a->cur == NULL || a->cur->used + total > SEG) && !next_segment(a))
		return NULL;
	b = (struct block *)((uint8_t *)a->cur + a->cur->used);
	UNPOISON(b, total);
	b->size = (uint32_t)total;
	b->live = 1;
	b->pad = 0;
	a->cur->used += total;
	a->cur->live += total;
	a->live += total;
	return (uint8_t *)b + HDR;
}

/* Marks a block dead and takes it off its segment's count; the caller decides what happens
 * to the segment. */
static struct segment *
block_free(cki_segarena *a, struct block *b)
{
	struct segment *s = segment_of(b);

	b->live = 0;
	s->live -= b->size;
	a->live -= b->size;
	POISON((uint8_t *)b + HDR, b->size - HDR);
	return s;
}

void
cki_segarena_free(cki_segarena *a, void *item)
{
	struct segment *s;

	if (item == NULL)
		return;
	s = block_free(a, (struct block *)((uint8_t *)item - HDR));
	if (s == a->cur) {
		if (s->live == 0) { /* start it over rather than map another */
			POISON((uint8_t *)s + FIRST, s->used - FIRST);
			s->used = FIRST;
		}
		return;
	}
	if (s->cls < 0)
		return; /* being emptied by compaction: it decides */
	list_remove(a, s);
	if (s->live == 0)
		segment_unmap(a, s);
	else
		list_add(a, s);
}

static bool
over_budget(const cki_segarena *a)
{
	return a->segments * SEG > a->live + a->live / 3 + 2 * SEG;
}

/* Moves every live item out of s and unmaps it. False (s back on its list) if a new
 * segment could not be mapped. */
static bool
evacuate(cki_segarena *a, struct segment *s)
{
	size_t off = FIRST;

	list_remove(a, s);
	while (off < s->used && s->live > 0) {
		struct block *b = (struct block *)((uint8_t *)s + off);
		size_t size = b->size;
		if (b->live) {
			uint8_t *from = (uint8_t *)b + HDR;
			uint8_t *to = cki_segarena_alloc(a, size - HDR);
			if (to == NULL) {
				list_add(a, s);
				return false;
			}
			memcpy(to, from, size - HDR);
			a->move(a->move_ctx, from, to);
			(void)block_free(a, b);
		}
		off += size;
	}
	segment_unmap(a, s);
	return true;
}

void
cki_segarena_compact(cki_segarena *a)
{
	while (over_budget(a)) {
		struct segment *victim = NULL;
		int c;

		for (c = 0; c < NCLASS && victim == NULL; c++)
			victim = a->lists[c];
		if (victim == NULL || !evacuate(a, victim))
			return;
	}
}

size_t
cki_segarena_live_bytes(const cki_segarena *a)
{
	return a->live;
}

size_t
cki_segarena_mapped_bytes(const cki_segarena *a)
{
	return a->segments * SEG;
}
