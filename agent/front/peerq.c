/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Per-client queued reply bytes. An entry is reference counted: one reference while it is in
 * the table, one per reply charged to it and not yet released. Only the loop thread adds
 * references (charging, the table); libzmq's I/O thread only drops them, so an entry whose
 * count is 1 is held by the table alone and can be freed by the loop thread without a race,
 * and an entry taken out of the table (its client left) is freed by whichever thread drops
 * its last reference. Idle entries are also swept when the table doubles, so it stays
 * proportional to the clients that have replies waiting.
 */
#define _GNU_SOURCE
#include "front/peerq.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "base/strmap.h"

#define SWEEP_MIN 64
/* Mappings are made in multiples of this, so that replies of nearby sizes reuse each other's. */
#define SPARE_ROUND (64u * 1024u)

struct cki_peer_queue {
	cki_peerq *pq;
	_Atomic uint64_t bytes; /* charged, not released */
	_Atomic uint64_t refs;  /* 1 for the table + 1 per message charged, not released */
	int fd;                 /* the connection it speaks on; -1 unknown */
	int cred_fd;            /* the connection cred was read from; -1 none cached */
	cki_peer cred;          /* the kernel's credentials of that connection */
};

struct cki_peerq {
	cki_strmap *map; /* hex routing id -> cki_peer_queue */
	size_t sweep_at;
	_Atomic uint64_t total;   /* bytes charged to every entry, not released */
	_Atomic uint64_t entries; /* entries not yet freed */
	/* The entry found last, so a request and its reply, or a client's run of requests,
	 * skip hashing the routing id; cleared whenever an entry may leave the table. */
	cki_peer_queue *last;
	size_t last_rid_len;
	uint8_t last_rid[255];
	/* Released mappings kept for the next large reply (see cki_peerq_alloc); taken by the loop
	 * thread, given back by whichever thread releases, hence the lock. */
	pthread_mutex_t spare_lock;
	void *spare[CKI_PEERQ_SPARE_SLOTS];
	size_t spare_len[CKI_PEERQ_SPARE_SLOTS];
	_Atomic uint64_t spare_bytes;
};

typedef struct msgbuf {
	cki_peerq *pq;
	cki_peer_queue *q;
	uint64_t charge;
	size_t mapped; /* length of the mapping; 0: malloc'd */
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
	pthread_mutex_init(&pq->spare_lock, NULL);
	pq->sweep_at = SWEEP_MIN;
	*out = pq;
	return CK_OK;
}

static void
entry_free(cki_peer_queue *q)
{
	atomic_fetch_sub_explicit(&q->pq->entries, 1, memory_order_relaxed);
	free(q);
}

/* Drops one reference; the last one frees. Any thread. */
static void
entry_unref(cki_peer_queue *q)
{
	if (atomic_fetch_sub_explicit(&q->refs, 1, memory_order_acq_rel) == 1)
		entry_free(q);
}

static void
free_value(void *v)
{
	entry_free(v);
}

void
cki_peerq_free(cki_peerq *pq)
{
	if (pq == NULL)
		return;
	cki_strmap_free(pq->map, free_value);
	for (size_t i = 0; i < CKI_PEERQ_SPARE_SLOTS; i++)
		if (pq->spare[i] != NULL)
			munmap(pq->spare[i], pq->spare_len[i]);
	pthread_mutex_destroy(&pq->spare_lock);
	free(pq);
}

static bool
idle(void *ctx, const char *key, void *value)
{
	cki_peer_queue *q = value;
	(void)ctx;
	(void)key;
	if (atomic_load_explicit(&q->refs, memory_order_acquire) != 1)
		return false;
	entry_free(q);
	return true;
}

static void
hex_key(char key[2 * 255 + 1], const uint8_t *rid, size_t rid_len)
{
	static const char hex[] = "0123456789abcdef";
	if (rid_len > 255)
		rid_len = 255;
	for (size_t i = 0; i < rid_len; i++) {
		key[2 * i] = hex[rid[i] >> 4];
		key[2 * i + 1] = hex[rid[i] & 15];
	}
	key[2 * rid_len] = '\0';
}

static cki_peer_queue *
remember(cki_peerq *pq, const uint8_t *rid, size_t rid_len, cki_peer_queue *q)
{
	memcpy(pq->last_rid, rid, rid_len);
	pq->last_rid_len = rid_len;
	pq->last = q;
	return q;
}

cki_peer_queue *
cki_peerq_find(cki_peerq *pq, const uint8_t *rid, size_t rid_len)
{
	if (rid_len > sizeof(pq->last_rid))
		rid_len = sizeof(pq->last_rid); /* as hex_key() does */
	if (pq->last != NULL && pq->last_rid_len == rid_len &&
	    memcmp(pq->last_rid, rid, rid_len) == 0)
		return pq->last;
	char key[2 * 255 + 1];
	hex_key(key, rid, rid_len);
	cki_peer_queue *q = cki_strmap_get(pq->map, key);
	if (q != NULL)
		return remember(pq, rid, rid_len, q);
	if (cki_strmap_count(pq->map) >= pq->sweep_at) {
		pq->last = NULL;
		cki_strmap_sweep(pq->map, idle, NULL);
		size_t n = cki_strmap_count(pq->map);
		pq->sweep_at = n * 2 > SWEEP_MIN ? n * 2 : SWEEP_MIN;
	}
	q = calloc(1, sizeof(*q));
	if (q == NULL)
		return NULL;
	q->pq = pq;
	q->fd = -1;
	q->cred_fd = -1;
	atomic_init(&q->refs, 1);
	bool ok = false;
	cki_strmap_put(pq->map, key, q, &ok);
	if (!ok) {
		free(q);
		return NULL;
	}
	atomic_fetch_add_explicit(&pq->entries, 1, memory_order_relaxed);
	return remember(pq, rid, rid_len, q);
}

void
cki_peerq_set_fd(cki_peer_queue *q, int fd)
{
	q->fd = fd;
}

bool
cki_peerq_cred_get(const cki_peer_queue *q, int fd, cki_peer *out)
{
	if (fd < 0 || q->cred_fd != fd)
		return false;
	*out = q->cred;
	return true;
}

void
cki_peerq_cred_set(cki_peer_queue *q, int fd, const cki_peer *cred)
{
	if (fd < 0 || !cred->known)
		return;
	q->cred = *cred;
	q->cred_fd = fd;
}

static bool
on_fd(void *ctx, const char *key, void *value)
{
	cki_peer_queue *q = value;
	(void)key;
	if (q->fd != *(const int *)ctx)
		return false;
	entry_unref(q); /* the table's reference; queued replies keep it until released */
	return true;
}

size_t
cki_peerq_gone(cki_peerq *pq, int fd)
{
	size_t before = cki_strmap_count(pq->map);
	pq->last = NULL;
	if (fd >= 0)
		cki_strmap_sweep(pq->map, on_fd, &fd);
	return before - cki_strmap_count(pq->map);
}

void
cki_peerq_forget(cki_peerq *pq, const uint8_t *rid, size_t rid_len)
{
	char key[2 * 255 + 1];
	hex_key(key, rid, rid_len);
	cki_peer_queue *q = cki_strmap_get(pq->map, key);
	if (q != NULL && atomic_load_explicit(&q->refs, memory_order_acquire) == 1) {
		pq->last = NULL;
		cki_strmap_del(pq->map, key);
		entry_free(q);
	}
}

uint64_t
cki_peerq_queued(const cki_peer_queue *q)
{
	return atomic_load_explicit(&q->bytes, memory_order_relaxed);
}

uint64_t
cki_peerq_total(const cki_peerq *pq)
{
	return atomic_load_explicit(&pq->total, memory_order_relaxed);
}

uint64_t
cki_peerq_entries(const cki_peerq *pq)
{
	return atomic_load_explicit(&pq->entries, memory_order_relaxed);
}

/* The smallest kept mapping of at least size bytes and at most twice that (a small reply does
 * not take the mapping a large one will want), taken out of the spares; NULL when none. */
static void *
spare_take(cki_peerq *pq, size_t size, size_t *len)
{
	size_t best = CKI_PEERQ_SPARE_SLOTS;
	pthread_mutex_lock(&pq->spare_lock);
	for (size_t i = 0; i < CKI_PEERQ_SPARE_SLOTS; i++) {
		size_t l = pq->spare_len[i];
		if (pq->spare[i] != NULL && l >= size && l / 2 <= size &&
		    (best == CKI_PEERQ_SPARE_SLOTS || l < pq->spare_len[best]))
			best = i;
	}
	void *p = NULL;
	if (best < CKI_PEERQ_SPARE_SLOTS) {
		p = pq->spare[best];
		*len = pq->spare_len[best];
		pq->spare[best] = NULL;
		atomic_fetch_sub_explicit(&pq->spare_bytes, *len, memory_order_relaxed);
	}
	pthread_mutex_unlock(&pq->spare_lock);
	return p;
}

/* Keeps a released mapping when there is room within CKI_PEERQ_SPARE_BYTES; unmaps it else. */
static void
spare_give(cki_peerq *pq, void *p, size_t len)
{
	bool kept = false;
	pthread_mutex_lock(&pq->spare_lock);
	if (atomic_load_explicit(&pq->spare_bytes, memory_order_relaxed) + len <=
	    CKI_PEERQ_SPARE_BYTES) {
		for (size_t i = 0; i < CKI_PEERQ_SPARE_SLOTS && !kept; i++) {
			if (pq->spare[i] == NULL) {
				pq->spare[i] = p;
				pq->spare_len[i] = len;
				atomic_fetch_add_explicit(&pq->spare_bytes, len,
				                          memory_order_relaxed);
				kept = true;
			}
		}
	}
	pthread_mutex_unlock(&pq->spare_lock);
	if (!kept)
		munmap(p, len);
}

uint64_t
cki_peerq_spare_bytes(const cki_peerq *pq)
{
	return atomic_load_explicit(&pq->spare_bytes, memory_order_relaxed);
}

/*
 * A reply of CKI_PEERQ_MAP_MIN bytes or more gets a mapping of its own, so that its memory
 * leaves the process with it. The pages of a fresh mapping are faulted in one by one while the
 * reply is packed and torn down again (with a TLB shootdown) when libzmq releases it; under a
 * hypervisor a fault costs more than copying its page, and a 400 KiB batch reply spent a fifth
 * of the agent's time there. So released mappings are kept, resident, for the next large reply:
 * at most CKI_PEERQ_SPARE_SLOTS of them and CKI_PEERQ_SPARE_BYTES in all.
 */
uint8_t *
cki_peerq_alloc(cki_peerq *pq, cki_peer_queue *q, size_t n, void **hint)
{
	size_t size = sizeof(msgbuf) + (n ? n : 1);
	msgbuf *b;
	size_t mapped = 0;
	if (n >= CKI_PEERQ_MAP_MIN) {
		size = (size + SPARE_ROUND - 1) / SPARE_ROUND * SPARE_ROUND;
		b = spare_take(pq, size, &mapped);
		if (b == NULL) {
			void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
			               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			b = p == MAP_FAILED ? NULL : p;
			mapped = size;
		}
	} else {
		b = malloc(size);
	}
	if (b == NULL)
		return NULL;
	b->pq = pq;
	b->q = q;
	b->mapped = mapped;
	b->charge = (uint64_t)n + CKI_PEERQ_MSG_OVERHEAD;
	atomic_fetch_add_explicit(&pq->total, b->charge, memory_order_relaxed);
	if (q != NULL) {
		atomic_fetch_add_explicit(&q->refs, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&q->bytes, b->charge, memory_order_relaxed);
	}
	*hint = b;
	return b->data;
}

void
cki_peerq_release(void *data, void *hint)
{
	msgbuf *b = hint;
	cki_peerq *pq = b->pq;
	(void)data;
	atomic_fetch_sub_explicit(&pq->total, b->charge, memory_order_relaxed);
	if (b->q != NULL) {
		atomic_fetch_sub_explicit(&b->q->bytes, b->charge, memory_order_relaxed);
		entry_unref(b->q);
	}
	if (b->mapped != 0)
		spare_give(pq, b, b->mapped);
	else
		free(b);
}
