/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What a lock holder does with its handle: release it, or renew its lease. Both answer only
 * the process that acquired the lock (the lease's pid; a lease taken without peer credentials
 * is anyone's), and both are the store's compare-and-act on the lock id (compare-and-delete,
 * compare-and-extend), so a lease that ran out and was taken by someone else is never
 * touched. A renewal moves the lease's expiry timer too, so the table's bookkeeping
 * (expiry, release on holder death) follows the store's lease.
 */
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/metrics.h"
#include "core/locks.h"
#include "core/locks_internal.h"

/* The lease named by handle when who may use it; else NULL and *why says which refusal. */
static lease *
holders_lease(cki_locks *l, const uint8_t *handle, size_t handle_len, const cki_peer *who,
              const char **why)
{
	lease *ls = cki_lease_find(l, handle, handle_len);
	if (ls == NULL) {
		*why = "unknown lock handle (expired, released, or never granted)";
		return NULL;
	}
	if (ls->pid > 0 && (!who->known || who->pid != ls->pid)) {
		*why = "lock handle belongs to another process";
		return NULL;
	}
	return ls;
}

const char *
cki_locks_holder_key(cki_locks *l, const uint8_t *handle, size_t handle_len, const cki_peer *who)
{
	const char *why;
	lease *ls = holders_lease(l, handle, handle_len, who, &why);
	return ls != NULL ? ls->key : NULL;
}

/* ---- releasing ---------------------------------------------------------------------------- */

typedef struct release_op {
	cki_lock_cb cb;
	void *arg;
} release_op;

static void
on_unlock_reply(void *arg, const cki_store_reply *r)
{
	release_op *op = arg;
	cki_lock_result res = {.err = r->err, .message = r->message, .acquired = false};
	/* The store said whether it held the lock: an expired or unknown lock id (the API's
	 * 404) was not released by this call (cachekit-rs maps it to false too). */
	res.released = r->err == CK_OK && r->found;
	if (res.released)
		cki_metrics_inc(CKI_C_LOCKS_RELEASED);
	op->cb(op->arg, &res);
	free(op);
}

void
cki_locks_release(cki_locks *l, const uint8_t *handle, size_t handle_len, const cki_peer *who,
                  uint64_t deadline, cki_lock_cb cb, void *arg)
{
	cki_lock_result res = {.err = CK_EBADHANDLE};
	lease *ls = holders_lease(l, handle, handle_len, who, &res.message);
	if (ls == NULL) {
		cb(arg, &res);
		return;
	}
	release_op *op = malloc(sizeof(*op));
	if (op == NULL) {
		res.err = CK_ENOMEM;
		cb(arg, &res);
		return;
	}
	op->cb = cb;
	op->arg = arg;
	cki_lease_remove(l, ls);
	/* The store copies what it needs before the lease memory goes. */
	l->store->ops->unlock(l->store, ls->key, ls->lock_id, deadline, on_unlock_reply, op);
	cki_lease_free(ls);
}

/* ---- renewing ----------------------------------------------------------------------------- */

/* One renewal in the store. The lease may go meanwhile (released, expired, holder died), so
 * the reply finds it again by handle, and the op keeps its own copies of key and lock id. */
typedef struct renew_op {
	cki_locks *l;
	uint8_t handle[CKI_LOCK_HANDLE_LEN];
	uint32_t lease_ms;
	cki_lock_cb cb;
	void *arg;
	char *key;
	char *lock_id;
} renew_op;

static void
on_renew_reply(void *arg, const cki_store_reply *r)
{
	renew_op *op = arg;
	cki_locks *l = op->l;
	cki_lock_result res = {.err = r->err, .message = r->message};
	lease *ls = cki_lease_find(l, op->handle, sizeof(op->handle));

	l->renews_pending--;
	/* No answer about the lock (or no renewal in this store): the lease stays as it was. */
	if (r->err != CK_OK)
		goto out;
	if (!r->found) {
		/* The store no longer knew this lock id: whatever the table thought, it is over. */
		if (ls != NULL) {
			cki_lease_remove(l, ls);
			cki_lease_free(ls);
		}
		goto out;
	}
	if (ls == NULL) {
		/* Renewed in the store, but the lease ended here meanwhile (released, expired, its
		 * holder died, shutdown): give the lock back rather than leave it held. */
		cki_locks_unlock_unrecorded(l, op->key, op->lock_id);
		goto out;
	}
	if (!cki_lease_rearm(l, ls, op->lease_ms)) {
		/* A lease whose timer ends before the store's would be freed too early: drop it. */
		cki_lease_drop_and_unlock(l, ls);
		res.err = CK_ENOMEM;
		res.message = "out of memory renewing the lease";
		goto out;
	}
	res.renewed = true;
	res.lease_ms = op->lease_ms;
	cki_metrics_inc(CKI_C_LOCKS_RENEWED);
out:
	op->cb(op->arg, &res);
	free(op->key);
	free(op->lock_id);
	free(op);
}

void
cki_locks_renew(cki_locks *l, const uint8_t *handle, size_t handle_len, uint32_t lease_ms,
                const cki_peer *who, uint64_t deadline, cki_lock_cb cb, void *arg)
{
	cki_lock_result res = {.err = CK_EBADHANDLE};
	lease *ls = holders_lease(l, handle, handle_len, who, &res.message);
	if (ls == NULL) {
		cb(arg, &res);
		return;
	}
	if (l->closing || l->store->ops->renew_lock == NULL) {
		res.err = l->closing ? CK_ESHUTDOWN : CK_ENOTSUP;
		res.message =
		        l->closing ? "agent is shutting down" : "this store has no lock renewal";
		cb(arg, &res);
		return;
	}
	renew_op *op = calloc(1, sizeof(*op));
	if (op == NULL || (op->key = strdup(ls->key)) == NULL ||
	    (op->lock_id = strdup(ls->lock_id)) == NULL) {
		if (op != NULL)
			free(op->key);
		free(op);
		res.err = CK_ENOMEM;
		res.message = "out of memory renewing the lease";
		cb(arg, &res);
		return;
	}
	op->l = l;
	memcpy(op->handle, ls->handle, sizeof(op->handle));
	op->lease_ms = lease_ms ? lease_ms : CKI_LOCK_DEFAULT_LEASE_MS;
	op->cb = cb;
	op->arg = arg;
	l->renews_pending++;
	l->store->ops->renew_lock(l->store, op->key, op->lock_id, op->lease_ms, deadline,
	                          on_renew_reply, op);
}
