/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to the embedded store: the store's struct and the helpers shared between
 * store_memory.c (value entries, LRU, memory accounting, the store_ops table) and
 * store_memory_locks.c (lock leases: lock/unlock, lock ids, the lock-table sweep, the locks'
 * share of the accounted bytes). Nothing outside those two files includes this header. Not
 * thread-safe, like the store itself.
 */
#ifndef CKI_STORE_MEMORY_INT_H
#define CKI_STORE_MEMORY_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cachekit/errors.h"
#include "base/memtable.h"
#include "store/completion.h"
#include "store/memory/segarena.h"
#include "store/store.h"

struct memstore {
	cki_store base; /* first member: cki_store * <-> struct memstore * */
	uint64_t limit;
	uint64_t bytes;       /* accounted bytes of entries and locks */
	uint64_t lock_bytes;  /* the locks' share of bytes */
	cki_memtable entries; /* both tables hash with the same per-store random key */
	cki_memtable locks;
	cki_lru lru;               /* the entries, most recently used first */
	cki_segarena *arena;       /* the small entries (store_memory.c) */
	uint64_t evictions;        /* live entries dropped for space */
	uint64_t expired;          /* entries reclaimed after evict_at */
	uint64_t freed_since_trim; /* accounted bytes dropped since memory was last given back */
	uint64_t (*now_ms)(void *ctx);
	void *now_ctx;
	cki_completions done; /* replies, delivered from the loop (store contract) */
};

/* The store clock, in ms (cki_now_ms() unless a test replaced it). */
static inline uint64_t
cki_memstore_now(const struct memstore *m)
{
	return m->now_ms(m->now_ctx);
}

/* Queues r for cb (when there is one), delivered from the loop: the last thing every
 * operation does with the store. The store's state has already changed. */
static inline void
cki_memstore_finish(struct memstore *m, cki_store_cb cb, void *arg, const cki_store_reply *r)
{
	cki_completions_post(&m->done, cb, arg, r);
}

/*
 * Checks the deadline and the key (present, 1..CKI_STORE_MEMORY_MAX_KEY bytes). Returns true
 * and sets *key_len, or returns false with r->err and r->message filled.
 */
bool cki_memstore_op_begin(const char *key, uint64_t deadline, size_t *key_len, cki_store_reply *r);

/*
 * Evicts value entries (expired ones among the least recently used first) until need more
 * bytes fit under the limit. The caller has checked cki_memstore_room_beside_locks().
 */
void cki_memstore_make_room(struct memstore *m, uint64_t need, uint64_t now);

/* ---- store_memory_locks.c ----------------------------------------------------------------- */

/*
 * Locks cannot be evicted: true when need bytes fit beside the live locks (expired locks are
 * swept first if they do not), false when the store is full of locks.
 */
bool cki_memstore_room_beside_locks(struct memstore *m, uint64_t need, uint64_t now);

/* Frees every lock whose lease has ended by now. */
void cki_memstore_sweep_locks(struct memstore *m, uint64_t now);

/* Frees every lock, live or not, without touching the byte counts; for destroy only. */
void cki_memstore_free_locks(struct memstore *m);

/* The store_ops lock, unlock and renew_lock operations (store.h). */
void cki_memstore_lock(cki_store *s, const char *key, uint32_t lease_ms, uint64_t deadline,
                       cki_store_cb cb, void *arg);
void cki_memstore_unlock(cki_store *s, const char *key, const char *lock_id, uint64_t deadline,
                         cki_store_cb cb, void *arg);
void cki_memstore_renew_lock(cki_store *s, const char *key, const char *lock_id, uint32_t lease_ms,
                             uint64_t deadline, cki_store_cb cb, void *arg);

#endif
