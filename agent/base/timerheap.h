/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The reactor's timers: a binary min-heap ordered by due time, ties broken by creation order.
 * Ids are generational slot indices (slot | generation << 32), so cancelling a fired or unknown
 * id is a cheap no-op and a stale id never cancels the timer that reused its slot. Storage
 * grows by doubling. Knows nothing of the loop: the callback is an opaque function pointer
 * (the loop stores its cki_timer_cb and converts it back before calling).
 */
#ifndef CKI_TIMERHEAP_H
#define CKI_TIMERHEAP_H

#include <stdbool.h>
#include <stdint.h>

typedef void (*cki_timerheap_fn)(void);

typedef struct cki_timerheap_slot cki_timerheap_slot;

typedef struct cki_timerheap {
	cki_timerheap_slot *slots;
	uint32_t nslots, cap_slots, free_head;
	uint32_t *heap; /* slot indices */
	uint32_t len;
	uint64_t seq; /* of the newest timer */
} cki_timerheap;

void cki_timerheap_init(cki_timerheap *h);
void cki_timerheap_fini(cki_timerheap *h);

/* Adds a timer due at `due`; returns its id, or 0 when out of memory. */
uint64_t cki_timerheap_add(cki_timerheap *h, uint64_t due, cki_timerheap_fn fn, void *arg);

/* Removes a pending timer; unknown or fired ids (and 0) are ignored. */
void cki_timerheap_cancel(cki_timerheap *h, uint64_t id);

/* The earliest due time; false when no timer is pending. */
bool cki_timerheap_next_due(const cki_timerheap *h, uint64_t *due);

/* Takes out the earliest timer if it is due by now and was added no later than seq_limit
 * (a timer added while timers run waits for the next turn). */
bool cki_timerheap_pop_due(cki_timerheap *h, uint64_t now, uint64_t seq_limit, cki_timerheap_fn *fn,
                           void **arg);

#endif
