/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Per-client queued reply bytes. Only the loop thread adds charges and frees entries; libzmq's
 * I/O thread only subtracts, so an entry whose message count is 0 has nothing in flight and
 * can be freed by the loop thread without a race. Idle entries are swept when the table
 * doubles, so it stays proportional to the clients that have replies waiting.
 */
#include "front/peerq.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/strmap.h"

#define SWEEP_MIN 64

struct cki_peer_queue {
	_Atomic uint64_t bytes; /* charged, not released */
	_Atomic uint64_t msgs;  /* messages charged, not released */
};

struct cki_peerq {
	cki_strmap *map; /* hex routing id -> cki_peer_queue */
	size_t sweep_at;
};

typedef struct msgbuf {
	cki_peer_queue *q;
	uint64_t charge;
	uint8_t data[];
} msgbuf;

ck_err
cki_peerq_new(cki_peerq **out)
{
	cki_peerq *pq = calloc(1, sizeof(*pq));
	if (pq == NULL || (pq->map = cki_strmap_new()) == NULL) {
		free(pq);
		return CK_ENOMEM;
	}
	pq->sweep_at = SWEEP_MIN;
	*out = pq;
	return CK_OK;
}

void
cki_peerq_free(cki_peerq *pq)
{
	if (pq == NULL)
		return;
	cki_strmap_free(pq->map, free);
	free(pq);
}

static bool
idle(void *ctx, const char *key, void *value)
{
	cki_peer_queue *q = value;
	if (atomic_load_explicit(&q->msgs, memory_order_acquire) != 0)
		return false;
	free(q);
	return true;
}

cki_peer_queue *
cki_peerq_find(cki_peerq *pq, const uint8_t *rid, size_t rid_len)
{
	char key[2 * 255 + 1];
	static const char hex[] = "0123456789abcdef";
	if (rid_len > 255)
		rid_len = 255;
	for (size_t i = 0; i < rid_len; i++) {
		key[2 * i] = hex[rid[i] >> 4];
		key[2 * i + 1] = hex[rid[i] & 15];
	}
	key[2 * rid_len] = '\0';
	cki_peer_queue *q = cki_strmap_get(pq->map, key);
	if (q != NULL)
		return q;
	if (cki_strmap_count(pq->map) >= pq->sweep_at) {
		cki_strmap_sweep(pq->map, idle, NULL);
		size_t n = cki_strmap_count(pq->map);
		pq->sweep_at = n * 2 > SWEEP_MIN ? n * 2 : SWEEP_MIN;
	}
	q = calloc(1, sizeof(*q));
	if (q == NULL)
		return NULL;
	bool ok = false;
	cki_strmap_put(pq->map, key, q, &ok);
	if (!ok) {
		free(q);
		return NULL;
	}
	return q;
}

uint64_t
cki_peerq_queued(const cki_peer_queue *q)
{
	return atomic_load_explicit(&q->bytes, memory_order_relaxed);
}

uint8_t *
cki_peerq_alloc(cki_peer_queue *q, size_t n, void **hint)
{
	msgbuf *b = malloc(sizeof(*b) + (n ? n : 1));
	if (b == NULL)
		return NULL;
	b->q = q;
	b->charge = (uint64_t)n + CKI_PEERQ_MSG_OVERHEAD;
	if (q != NULL) {
		atomic_fetch_add_explicit(&q->msgs, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&q->bytes, b->charge, memory_order_relaxed);
	}
	*hint = b;
	return b->data;
}

void
cki_peerq_release(void *data, void *hint)
{
	msgbuf *b = hint;
	(void)data;
	if (b->q != NULL) {
		atomic_fetch_sub_explicit(&b->q->bytes, b->charge, memory_order_relaxed);
		/* Release: the loop thread frees the entry once it reads 0 here. */
		atomic_fetch_sub_explicit(&b->q->msgs, 1, memory_order_release);
	}
	free(b);
}
