/* SPDX-License-Identifier: Apache-2.0 */
/* The reactor's timer heap (see timerheap.h). */
#include "base/timerheap.h"

#include <stdlib.h>
#include <string.h>

#define NO_SLOT UINT32_MAX

struct cki_timerheap_slot {
	uint32_t gen;
	int32_t heap_pos; /* -1 when free */
	uint64_t due;
	uint64_t seq; /* tie-break: equal due times fire in creation order */
	cki_timerheap_fn fn;
	void *arg;
	uint32_t next_free;
};

void
cki_timerheap_init(cki_timerheap *h)
{
	memset(h, 0, sizeof(*h));
	h->free_head = NO_SLOT;
}

void
cki_timerheap_fini(cki_timerheap *h)
{
	free(h->slots);
	free(h->heap);
	cki_timerheap_init(h);
}

static bool
before(const cki_timerheap *h, uint32_t a, uint32_t b)
{
	const cki_timerheap_slot *ta = &h->slots[a], *tb = &h->slots[b];
	return ta->due < tb->due || (ta->due == tb->due && ta->seq < tb->seq);
}

static void
heap_set(cki_timerheap *h, uint32_t pos, uint32_t slot)
{
	h->heap[pos] = slot;
	h->slots[slot].heap_pos = (int32_t)pos;
}

static void
heap_up(cki_timerheap *h, uint32_t pos)
{
	uint32_t slot = h->heap[pos];
	while (pos > 0) {
		uint32_t parent = (pos - 1) / 2;
		if (!before(h, slot, h->heap[parent]))
			break;
		heap_set(h, pos, h->heap[parent]);
		pos = parent;
	}
	heap_set(h, pos, slot);
}

static void
heap_down(cki_timerheap *h, uint32_t pos)
{
	uint32_t slot = h->heap[pos];
	for (;;) {
		uint32_t child = 2 * pos + 1;
		if (child >= h->len)
			break;
		if (child + 1 < h->len && before(h, h->heap[child + 1], h->heap[child]))
			child++;
		if (!before(h, h->heap[child], slot))
			break;
		heap_set(h, pos, h->heap[child]);
		pos = child;
	}
	heap_set(h, pos, slot);
}

/* Takes slot out of the heap and puts it on the free list, a generation older. */
static void
remove_slot(cki_timerheap *h, uint32_t slot)
{
	uint32_t pos = (uint32_t)h->slots[slot].heap_pos;
	uint32_t last = h->heap[--h->len];
	if (pos != h->len) {
		heap_set(h, pos, last);
		heap_down(h, pos);
		heap_up(h, (uint32_t)h->slots[last].heap_pos);
	}
	cki_timerheap_slot *t = &h->slots[slot];
	t->gen++;
	t->heap_pos = -1;
	t->fn = NULL;
	t->next_free = h->free_head;
	h->free_head = slot;
}

uint64_t
cki_timerheap_add(cki_timerheap *h, uint64_t due, cki_timerheap_fn fn, void *arg)
{
	uint32_t slot;
	if (h->free_head != NO_SLOT) {
		slot = h->free_head;
		h->free_head = h->slots[slot].next_free;
	} else {
		if (h->nslots == h->cap_slots) {
			/* Doubling: a burst of timers costs O(log n) reallocations, not n. */
			if (h->cap_slots >= (NO_SLOT - 1) / 2)
				return 0;
			uint32_t n = h->cap_slots ? h->cap_slots * 2 : 64;
			cki_timerheap_slot *ns = realloc(h->slots, n * sizeof(*ns));
			if (ns == NULL)
				return 0;
			h->slots = ns;
			uint32_t *nh = realloc(h->heap, n * sizeof(*nh));
			if (nh == NULL)
				return 0;
			h->heap = nh;
			h->cap_slots = n;
		}
		slot = h->nslots++;
		h->slots[slot].gen = 1;
	}
	cki_timerheap_slot *t = &h->slots[slot];
	t->due = due;
	t->seq = ++h->seq;
	t->fn = fn;
	t->arg = arg;
	h->heap[h->len] = slot;
	t->heap_pos = (int32_t)h->len++;
	heap_up(h, (uint32_t)t->heap_pos);
	return ((uint64_t)t->gen << 32) | slot;
}

void
cki_timerheap_cancel(cki_timerheap *h, uint64_t id)
{
	uint32_t slot = (uint32_t)id;
	uint32_t gen = (uint32_t)(id >> 32);
	if (id == 0 || slot >= h->nslots)
		return;
	const cki_timerheap_slot *t = &h->slots[slot];
	if (t->gen != gen || t->heap_pos < 0)
		return;
	remove_slot(h, slot);
}

bool
cki_timerheap_next_due(const cki_timerheap *h, uint64_t *due)
{
	if (h->len == 0)
		return false;
	*due = h->slots[h->heap[0]].due;
	return true;
}

bool
cki_timerheap_pop_due(cki_timerheap *h, uint64_t now, uint64_t seq_limit, cki_timerheap_fn *fn,
                      void **arg)
{
	if (h->len == 0)
		return false;
	uint32_t slot = h->heap[0];
	const cki_timerheap_slot *t = &h->slots[slot];
	if (t->due > now || t->seq > seq_limit)
		return false;
	*fn = t->fn;
	*arg = t->arg;
	remove_slot(h, slot);
	return true;
}
