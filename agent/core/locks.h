/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The lease table. Stubs get opaque random handles; the store's lock ids (the API's lock ids)
 * never leave the agent. Each lease remembers its holder (uid, pid from peer credentials); a
 * pidfd per holder process is watched by the loop, so when a holder exits or crashes its
 * locks are released at once, and pid reuse cannot fool it. Waiting for a contested lock is
 * done here (poll 50 ms doubling to 500 ms, jittered), so a stub blocks on one request.
 */
#ifndef CKI_LOCKS_H
#define CKI_LOCKS_H

#include <stdbool.h>
#include <stdint.h>

#include "base/loop.h"
#include "core/request.h"
#include "store/store.h"

#define CKI_LOCK_HANDLE_LEN       16
#define CKI_LOCK_DEFAULT_LEASE_MS 30000u

typedef struct cki_locks cki_locks;

/* Held locks a table allows by default (cki_locks_set_max to change). */
#define CKI_LOCKS_DEFAULT_MAX 65536u
/* Accounted bytes per held lock for the memory budget: the lease, its key, the store's lock
 * id, the holder's pidfd entry and the timer (a key of 400 bytes at most). */
#define CKI_LOCKS_LEASE_COST 1024u

CK_NODISCARD ck_err cki_locks_new(cki_locks **out, cki_loop *loop, cki_store *store);

/* Caps the held locks: past max_leases, acquires fail at once with CK_EOVERLOAD (no wait).
 * At least 1. */
void cki_locks_set_max(cki_locks *l, size_t max_leases);

/* Shutdown, step 0 (at the start of the drain): every acquire still waiting for a contested
 * lock is answered CK_ESHUTDOWN now (those inside a store call when the store answers), so a
 * waiter never holds the drain open. Held leases stay until cki_locks_shutdown(). */
void cki_locks_stop_waiting(cki_locks *l);
/* Shutdown, step 1: releases every held lock in the store (asynchronously) and fails
 * waiting acquires with CK_ESHUTDOWN. Run the loop until cki_locks_busy() is 0 (or a
 * grace period passes), destroy the store, then cki_locks_free(). */
void cki_locks_shutdown(cki_locks *l);
/* Unlocks and acquires still waiting for the store. */
size_t cki_locks_busy(const cki_locks *l);
/* Frees the table. The store must be destroyed first (so no callback is pending).
 * Accepts NULL. */
void cki_locks_free(cki_locks *l);

typedef struct cki_lock_result {
	ck_err err;
	const char *message;
	bool acquired;
	bool released; /* release: the store held the lock and let it go */
	bool renewed;  /* renew: the store held the lock and extended its lease */
	uint8_t handle[CKI_LOCK_HANDLE_LEN];
	int64_t lease_ms;
} cki_lock_result;

typedef void (*cki_lock_cb)(void *arg, const cki_lock_result *r);

/* Tries to take the lock on key for holder, retrying until wait_ms or deadline. The
 * callback runs exactly once (possibly before this returns). */
void cki_locks_acquire(cki_locks *l, const char *key, uint32_t lease_ms, uint32_t wait_ms,
                       uint64_t deadline, const cki_peer *holder, cki_lock_cb cb, void *arg);

/* Releases the lease named by handle. CK_EBADHANDLE for an unknown handle or one held by
 * another process. released=true once the store confirmed it held the lock; false when the
 * store no longer knew the lock id (expired on the server, the API's 404). */
void cki_locks_release(cki_locks *l, const uint8_t *handle, size_t handle_len, const cki_peer *who,
                       uint64_t deadline, cki_lock_cb cb, void *arg);

/* Extends the lease named by handle to lease_ms (0: the acquire default) from now, in the
 * store (compare-and-extend) and in the table (its expiry timer follows). CK_EBADHANDLE as for
 * release. renewed=false when the store no longer knew the lock id (expired, taken by another
 * holder): the lease is then forgotten. A store without renewal answers CK_ENOTSUP and the
 * lease is kept as it was. */
void cki_locks_renew(cki_locks *l, const uint8_t *handle, size_t handle_len, uint32_t lease_ms,
                     const cki_peer *who, uint64_t deadline, cki_lock_cb cb, void *arg);

/* The key the lease named by handle guards, when who may use it (the same holder rule as
 * release and renew), else NULL. Valid until the next call into the table. */
const char *cki_locks_holder_key(cki_locks *l, const uint8_t *handle, size_t handle_len,
                                 const cki_peer *who);

/* Number of leases held now. */
size_t cki_locks_count(const cki_locks *l);

#endif
