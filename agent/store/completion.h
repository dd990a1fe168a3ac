/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The store contract's one rule about time: a completion callback never runs inside the call
 * that started the operation; it runs later, from the loop. A backend that knows its answer
 * at once (the embedded store; an error before any I/O) queues a copy of the reply here, and
 * the queue delivers it on the loop's next turn, in the order queued. Callers therefore see one
 * behaviour from every store, and their state is settled before a reply arrives.
 *
 * The copy owns the reply's value and strings, so the store may change or evict the entry
 * before the reply is delivered. Not thread-safe: use from the loop thread.
 */
#ifndef CKI_STORE_COMPLETION_H
#define CKI_STORE_COMPLETION_H

#include <stddef.h>

#include "base/loop.h"
#include "store/store.h"

typedef struct cki_completion cki_completion;

typedef struct cki_completions {
	cki_loop *loop;
	cki_completion *head, *tail;
	size_t queued;
	cki_timer_id timer; /* 0 when no delivery is scheduled */
} cki_completions;

/* Starts an empty queue delivering from loop (borrowed; must outlive the queue). */
void cki_completions_init(cki_completions *q, cki_loop *loop);

/*
 * Queues cb(arg, copy of r) for the loop's next turn. cb may be NULL (nothing is queued). If
 * memory for the copy or the loop timer runs out, the reply is CK_ENOMEM (still delivered from
 * the loop when a timer exists; as a last resort inline, logged).
 */
void cki_completions_post(cki_completions *q, cki_store_cb cb, void *arg, const cki_store_reply *r);

/* Delivers everything still queued now, in order (a store's destroy calls this first, so no
 * caller waits for a reply that a freed loop would never deliver). */
void cki_completions_flush(cki_completions *q);

#endif
