/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Lease table, lock waiting and release on holder death. Leases live in a small array
 * (hundreds at most on one host); holders are tracked per pid with one pidfd each. What a
 * holder does with its handle (release, renew) is in locks_holder.c.
 */
#define _GNU_SOURCE
#include "core/locks.h"
#include "core/locks_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "base/log.h"
#include "base/random.h"
#include "base/metrics.h"

#define POLL_FIRST_MS 50
#define POLL_MAX_MS   500

struct holder_proc {
	pid_t pid;
	int pidfd;
	unsigned leases;
};

/* One acquire in progress: between store attempts it waits on a timer. */
struct waiter {
	cki_locks *l;
	char *key;
	uint32_t lease_ms;
	uint64_t give_up; /* min(wait end, deadline) */
	uint64_t deadline;
	uint32_t delay_ms;
	cki_peer holder;
	cki_lock_cb cb;
	void *arg;
	cki_timer_id timer;
	bool in_store; /* a store attempt is outstanding */
	struct waiter *next;
};

static int
pidfd_open_(pid_t pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	errno = ENOSYS;
	return -1;
#endif
}

ck_err
cki_locks_new(cki_locks **out, cki_loop *loop, cki_store *store)
{
	cki_locks *l = calloc(1, sizeof(*l));
	if (l == NULL)
		return CK_ENOMEM;
	l->loop = loop;
	l->store = store;
	l->max_leases = CKI_LOCKS_DEFAULT_MAX;
	*out = l;
	return CK_OK;
}

void
cki_locks_set_max(cki_locks *l, size_t max_leases)
{
	l->max_leases = max_leases > 0 ? max_leases : 1;
}

size_t
cki_locks_count(const cki_locks *l)
{
	return l->nleases;
}

/* ---- holders -------------------------------------------------------------------------- */

static void release_holder_leases(cki_locks *l, pid_t pid);

static void
on_holder_exit(cki_loop *loop, int fd, unsigned events, void *arg)
{
	cki_locks *l = arg;
	for (size_t i = 0; i < l->nholders; i++) {
		if (l->holders[i].pidfd == fd) {
			pid_t pid = l->holders[i].pid;
			cki_log_info("lock holder pid %d exited: releasing its locks", (int)pid);
			release_holder_leases(l, pid);
			return;
		}
	}
	cki_loop_unwatch_fd(loop, fd);
}

static holder_proc *
find_holder(cki_locks *l, pid_t pid)
{
	for (size_t i = 0; i < l->nholders; i++)
		if (l->holders[i].pid == pid)
			return &l->holders[i];
	return NULL;
}

/* Returns false when the holder is already dead (its lock must be released at once). */
static bool
holder_ref(cki_locks *l, pid_t pid)
{
	holder_proc *h = find_holder(l, pid);
	if (h != NULL) {
		h->leases++;
		return true;
	}
	int fd = pidfd_open_(pid);
	if (fd < 0) {
		if (errno == ESRCH)
			return false;
		/* No pidfd (old kernel, seccomp): the lease still expires on its own. */
		cki_log_warn("pidfd_open(%d) failed: %s; lock freed only at lease expiry", (int)pid,
		             strerror(errno));
		return true;
	}
	if (l->nholders == l->cap_holders) {
		size_t ncap = l->cap_holders ? l->cap_holders * 2 : 8;
		holder_proc *nh = realloc(l->holders, ncap * sizeof(*nh));
		if (nh == NULL) {
			close(fd);
			return true;
		}
		l->holders = nh;
		l->cap_holders = ncap;
	}
	l->holders[l->nholders++] = (holder_proc){pid, fd, 1};
	if (cki_loop_watch_fd(l->loop, fd, CKI_EV_READ, on_holder_exit, l) != CK_OK)
		cki_log_warn("cannot watch holder pid %d", (int)pid);
	return true;
}

static void
holder_unref(cki_locks *l, pid_t pid)
{
	holder_proc *h = find_holder(l, pid);
	if (h == NULL || --h->leases > 0)
		return;
	cki_loop_unwatch_fd(l->loop, h->pidfd);
	close(h->pidfd);
	*h = l->holders[--l->nholders];
}

/* ---- leases ----------------------------------------------------------------------------- */

void
cki_lease_free(lease *ls)
{
	free(ls->key);
	free(ls->lock_id);
	free(ls);
}

void
cki_lease_remove(cki_locks *l, lease *ls)
{
	for (size_t i = 0; i < l->nleases; i++) {
		if (l->leases[i] == ls) {
			l->leases[i] = l->leases[--l->nleases];
			break;
		}
	}
	cki_loop_timer_cancel(l->loop, ls->expiry);
	if (ls->pid > 0)
		holder_unref(l, ls->pid);
}

static void
on_unlock_logged(void *arg, const cki_store_reply *r)
{
	lease *ls = arg;
	if (r->err != CK_OK)
		cki_log_warn("releasing lock on %s failed: %s", ls->key, ck_strerror(r->err));
	ls->owner->unlocks_pending--;
	cki_lease_free(ls);
}

static void
on_unlock_unrecorded(void *arg, const cki_store_reply *r)
{
	cki_locks *l = arg;
	if (r->err != CK_OK)
		cki_log_warn("returning an unrecorded lock failed: %s", ck_strerror(r->err));
	l->unlocks_pending--;
}

/* Drops a lease and tells the store, without anyone waiting for the answer. */
void
cki_lease_drop_and_unlock(cki_locks *l, lease *ls)
{
	cki_lease_remove(l, ls);
	l->unlocks_pending++;
	l->store->ops->unlock(l->store, ls->key, ls->lock_id, cki_now_ms() + 5000, on_unlock_logged,
	                      ls);
}

static void
release_holder_leases(cki_locks *l, pid_t pid)
{
	for (size_t i = l->nleases; i-- > 0;) {
		if (i < l->nleases && l->leases[i]->pid == pid) {
			cki_metrics_inc(CKI_C_LOCKS_RELEASED_ON_DEATH);
			cki_lease_drop_and_unlock(l, l->leases[i]);
		}
	}
	holder_proc *h = find_holder(l, pid);
	if (h != NULL) { /* no leases left but still watched: stop watching */
		cki_loop_unwatch_fd(l->loop, h->pidfd);
		close(h->pidfd);
		*h = l->holders[--l->nholders];
	}
}

static void
on_lease_expired(cki_loop *loop, void *arg)
{
	lease *ls = arg;
	cki_locks *l = ls->owner;
	ls->expiry = 0;
	cki_metrics_inc(CKI_C_LOCKS_EXPIRED);
	/* The store's lease ended by itself at the same moment: nothing to unlock. */
	cki_lease_remove(l, ls);
	cki_lease_free(ls);
}

bool
cki_lease_rearm(cki_locks *l, lease *ls, uint32_t ms)
{
	cki_timer_id t = cki_loop_timer(l->loop, ms, on_lease_expired, ls);
	if (t == 0)
		return false;
	cki_loop_timer_cancel(l->loop, ls->expiry);
	ls->expiry = t;
	return true;
}

void
cki_locks_unlock_unrecorded(cki_locks *l, const char *key, const char *lock_id)
{
	l->unlocks_pending++;
	l->store->ops->unlock(l->store, key, lock_id, cki_now_ms() + 5000, on_unlock_unrecorded, l);
}

lease *
cki_lease_find(cki_locks *l, const uint8_t *handle, size_t len)
{
	if (len != CKI_LOCK_HANDLE_LEN)
		return NULL;
	for (size_t i = 0; i < l->nleases; i++)
		/* Constant time: a handle is a bearer secret; timing must not reveal prefixes. */
		if (CRYPTO_memcmp(l->leases[i]->handle, handle, CKI_LOCK_HANDLE_LEN) == 0)
			return l->leases[i];
	return NULL;
}

static ck_err
lease_add(cki_locks *l, waiter *w, const char *lock_id, lease **out)
{
	lease *ls = calloc(1, sizeof(*ls));
	if (ls == NULL)
		return CK_ENOMEM;
	ls->owner = l;
	ls->key = strdup(w->key);
	ls->lock_id = strdup(lock_id);
	ls->pid = w->holder.known ? w->holder.pid : 0;
	ls->uid = w->holder.uid;
	if (ls->key == NULL || ls->lock_id == NULL ||
	    cki_random_bytes(ls->handle, sizeof(ls->handle)) != CK_OK) {
		cki_lease_free(ls);
		return CK_ENOMEM;
	}
	if (l->nleases == l->cap_leases) {
		size_t ncap = l->cap_leases ? l->cap_leases * 2 : 16;
		lease **nl = realloc(l->leases, ncap * sizeof(*nl));
		if (nl == NULL) {
			cki_lease_free(ls);
			return CK_ENOMEM;
		}
		l->leases = nl;
		l->cap_leases = ncap;
	}
	/* A lease without an expiry timer would outlive its store lease: refuse it. */
	ls->expiry = cki_loop_timer(l->loop, w->lease_ms, on_lease_expired, ls);
	if (ls->expiry == 0) {
		cki_lease_free(ls);
		return CK_ENOMEM;
	}
	l->leases[l->nleases++] = ls;
	*out = ls;
	return CK_OK;
}

/* ---- acquiring ---------------------------------------------------------------------------- */

static void try_acquire(waiter *w);

static void
waiter_finish(waiter *w, const cki_lock_result *r)
{
	cki_locks *l = w->l;
	for (waiter **pp = &l->waiters; *pp; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	cki_loop_timer_cancel(l->loop, w->timer);
	w->cb(w->arg, r);
	free(w->key);
	free(w);
}

static void
on_retry_timer(cki_loop *loop, void *arg)
{
	waiter *w = arg;
	w->timer = 0;
	try_acquire(w);
}

static uint32_t
jittered(uint32_t ms)
{
	uint16_t r = (uint16_t)cki_random_u64();
	/* U[0.5, 1.0) like the SDKs: waiters spread out instead of polling in step. */
	return ms / 2 + (uint32_t)((uint64_t)ms * r / 131072u);
}

static void
on_lock_reply(void *arg, const cki_store_reply *r)
{
	waiter *w = arg;
	cki_locks *l = w->l;
	cki_lock_result res = {.err = r->err, .message = r->message};
	w->in_store = false;
	if (l->closing) {
		lease *ls;
		/* Granted while shutting down: hand it straight back to the store. */
		if (r->err == CK_OK && r->lock_id != NULL) {
			if (lease_add(l, w, r->lock_id, &ls) == CK_OK) {
				cki_lease_drop_and_unlock(l, ls);
			} else {
				l->unlocks_pending++;
				l->store->ops->unlock(l->store, w->key, r->lock_id,
				                      cki_now_ms() + 5000, on_unlock_unrecorded, l);
			}
		}
		res.err = CK_ESHUTDOWN;
		res.message = "agent is shutting down";
		waiter_finish(w, &res);
		return;
	}
	if (r->err == CK_OK && r->lock_id != NULL) {
		lease *ls;
		res.err = lease_add(l, w, r->lock_id, &ls);
		if (res.err != CK_OK) {
			/* Granted by the store but not recorded: give it straight back. */
			res.message = "out of memory recording the lease";
			l->unlocks_pending++;
			l->store->ops->unlock(l->store, w->key, r->lock_id, cki_now_ms() + 5000,
			                      on_unlock_unrecorded, l);
		} else {
			if (ls->pid > 0 && !holder_ref(l, ls->pid)) {
				/* The holder died while waiting: give the lock straight back. */
				ls->pid = 0;
				cki_lease_drop_and_unlock(l, ls);
				res.err = CK_ESHUTDOWN;
				res.message = "lock holder exited before the lock was granted";
			} else {
				res.acquired = true;
				memcpy(res.handle, ls->handle, sizeof(res.handle));
				res.lease_ms = w->lease_ms;
				cki_metrics_inc(CKI_C_LOCKS_ACQUIRED);
			}
		}
		waiter_finish(w, &res);
		return;
	}
	/* Contested, or a transient failure (treated as held, as the SDKs do). */
	bool transient = r->err == CK_EUPSTREAM || r->err == CK_ETIMEDOUT ||
	                 r->err == CK_ERATELIMIT || r->err == CK_EUNAVAILABLE;
	if (r->err != CK_OK && !transient) {
		waiter_finish(w, &res);
		return;
	}
	/* Poll until the wait is over, the last time exactly when it ends: a wait of N ms
	 * waits N ms, not just until the next jittered delay would pass the end. */
	uint64_t now = cki_now_ms();
	uint32_t delay = jittered(w->delay_ms);
	if (now + delay > w->give_up && now < w->give_up)
		delay = (uint32_t)(w->give_up - now);
	if (now >= w->give_up) {
		cki_metrics_inc(CKI_C_LOCKS_CONTESTED);
		res.err = CK_OK;
		res.acquired = false;
		waiter_finish(w, &res);
		return;
	}
	w->delay_ms = w->delay_ms * 2 > POLL_MAX_MS ? POLL_MAX_MS : w->delay_ms * 2;
	w->timer = cki_loop_timer(l->loop, delay, on_retry_timer, w);
	if (w->timer == 0) {
		/* No timer, no retry: answer now rather than leave the waiter hanging. */
		res.err = CK_ENOMEM;
		res.message = "out of memory scheduling the lock retry";
		waiter_finish(w, &res);
	}
}

static void
try_acquire(waiter *w)
{
	w->in_store = true;
	w->l->store->ops->lock(w->l->store, w->key, w->lease_ms, w->deadline, on_lock_reply, w);
}

void
cki_locks_acquire(cki_locks *l, const char *key, uint32_t lease_ms, uint32_t wait_ms,
                  uint64_t deadline, const cki_peer *holder, cki_lock_cb cb, void *arg)
{
	cki_lock_result res = {.err = CK_ENOMEM};
	if (l->nleases >= l->max_leases) {
		/* The lease table is inside the memory budget: refuse rather than grow. */
		res.err = CK_EOVERLOAD;
		res.message = "too many locks held in this agent; release some first";
		cb(arg, &res);
		return;
	}
	waiter *w = calloc(1, sizeof(*w));
	if (w == NULL || (w->key = strdup(key)) == NULL) {
		free(w);
		cb(arg, &res);
		return;
	}
	uint64_t now = cki_now_ms();
	w->l = l;
	w->lease_ms = lease_ms ? lease_ms : CKI_LOCK_DEFAULT_LEASE_MS;
	w->deadline = deadline;
	w->give_up = now + wait_ms < deadline ? now + wait_ms : deadline;
	w->delay_ms = POLL_FIRST_MS;
	w->holder = *holder;
	w->cb = cb;
	w->arg = arg;
	w->next = l->waiters;
	l->waiters = w;
	try_acquire(w);
}

void
cki_locks_stop_waiting(cki_locks *l)
{
	l->closing = true;
	/* Waiters parked on a timer finish now; those inside a store call finish when it
	 * answers (on_lock_reply sees closing). */
	for (waiter *w = l->waiters, *next; w != NULL; w = next) {
		next = w->next;
		if (!w->in_store) {
			cki_lock_result res = {.err = CK_ESHUTDOWN,
			                       .message = "agent is shutting down"};
			waiter_finish(w, &res);
		}
	}
}

void
cki_locks_shutdown(cki_locks *l)
{
	while (l->nleases > 0)
		cki_lease_drop_and_unlock(l, l->leases[l->nleases - 1]);
	cki_locks_stop_waiting(l);
}

size_t
cki_locks_busy(const cki_locks *l)
{
	size_t n = l->unlocks_pending + l->renews_pending;
	for (const waiter *w = l->waiters; w != NULL; w = w->next)
		n++;
	return n;
}

void
cki_locks_free(cki_locks *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->nleases; i++) {
		cki_loop_timer_cancel(l->loop, l->leases[i]->expiry);
		cki_lease_free(l->leases[i]);
	}
	while (l->nholders > 0) {
		cki_loop_unwatch_fd(l->loop, l->holders[l->nholders - 1].pidfd);
		close(l->holders[--l->nholders].pidfd);
	}
	free(l->leases);
	free(l->holders);
	free(l);
}
