/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the lease table's two files share and nothing else may use: the lease record, the
 * table, and the lease helpers locks.c (acquiring, holders, expiry, shutdown) gives
 * locks_holder.c (what a holder does with its handle: release and renew).
 */
#ifndef CKI_LOCKS_INTERNAL_H
#define CKI_LOCKS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/locks.h"

typedef struct lease {
	uint8_t handle[CKI_LOCK_HANDLE_LEN];
	char *key;
	char *lock_id; /* the store's id: never sent to a stub */
	pid_t pid;
	uid_t uid;
	cki_timer_id expiry;
	cki_locks *owner;
} lease;

typedef struct holder_proc holder_proc;
typedef struct waiter waiter;

struct cki_locks {
	cki_loop *loop;
	cki_store *store;
	lease **leases;
	size_t nleases, cap_leases;
	holder_proc *holders;
	size_t nholders, cap_holders;
	waiter *waiters;
	size_t unlocks_pending; /* fire-and-forget unlocks not yet answered */
	size_t renews_pending;  /* renewals waiting for the store */
	size_t max_leases;      /* held locks before new acquires get CK_EOVERLOAD */
	bool closing;
};

/* The lease named by handle (compared in constant time), or NULL. */
lease *cki_lease_find(cki_locks *l, const uint8_t *handle, size_t len);
/* Takes ls out of the table (its timer and holder reference go); ls itself stays. */
void cki_lease_remove(cki_locks *l, lease *ls);
void cki_lease_free(lease *ls);
/* Removes ls and unlocks it in the store without anyone waiting for the answer. */
void cki_lease_drop_and_unlock(cki_locks *l, lease *ls);
/* Restarts ls's expiry timer to end ms from now; false (old timer kept) without memory. */
bool cki_lease_rearm(cki_locks *l, lease *ls, uint32_t ms);
/* Hands a store lock no lease records back to the store, without waiting for the answer. */
void cki_locks_unlock_unrecorded(cki_locks *l, const char *key, const char *lock_id);

#endif
