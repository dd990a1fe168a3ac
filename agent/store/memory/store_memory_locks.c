/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The embedded store's lock leases: a hash table of locks separate from the values, one
 * attempt per lock call (no waiting), random UUIDv4 lock ids compared in constant time on
 * unlock and renewal, expired leases reclaimed lazily (on lock, unlock, renewal and when a new
 * item needs room) or by the periodic sweep. Locks count against the store's memory limit like
 * entries do (key + a fixed per-lock overhead) but are never evicted for space: a new item that
 * would not fit beside the live locks is refused. The rest of the store is in store_memory.c.
 */
#include <stdlib.h>
#include <string.h>

#include "base/random.h"
#include "store/memory/store_memory_int.h"

#define UUID_LEN 36

struct lock {
	cki_memtable_node node; /* first member */
	uint64_t expires_at;
	uint64_t bytes;
	char id[UUID_LEN + 1];
	char key[];
};

/* Accounted per-lock overhead: the struct plus about two hash slots (see ENTRY_OVERHEAD). */
#define LOCK_OVERHEAD (sizeof(struct lock) + 2 * sizeof(cki_memtable_node *))

/* ---- lock table accounting ---------------------------------------------------------------- */

static void
lock_remove(struct memstore *m, struct lock *lk)
{
	cki_memtable_remove(&m->locks, &lk->node);
	m->bytes -= lk->bytes;
	m->lock_bytes -= lk->bytes;
	free(lk);
}

struct lock_sweep {
	struct memstore *m;
	uint64_t now;
};

static bool
drop_expired_lock(void *ctx, cki_memtable_node *node)
{
	struct lock_sweep *sw = ctx;
	struct lock *lk = (struct lock *)node;

	if (sw->now < lk->expires_at)
		return false;
	sw->m->bytes -= lk->bytes;
	sw->m->lock_bytes -= lk->bytes;
	free(lk);
	return true;
}

void
cki_memstore_sweep_locks(struct memstore *m, uint64_t now)
{
	struct lock_sweep sw = {m, now};

	cki_memtable_remove_if(&m->locks, drop_expired_lock, &sw);
}

bool
cki_memstore_room_beside_locks(struct memstore *m, uint64_t need, uint64_t now)
{
	if (m->lock_bytes + need <= m->limit)
		return true;
	cki_memstore_sweep_locks(m, now);
	return m->lock_bytes + need <= m->limit;
}

static bool
free_lock(void *ctx, cki_memtable_node *node)
{
	(void)ctx;
	free((struct lock *)node);
	return true;
}

void
cki_memstore_free_locks(struct memstore *m)
{
	cki_memtable_remove_if(&m->locks, free_lock, NULL);
}

/* ---- lock ids ----------------------------------------------------------------------------- */

/* A random (version 4) UUID in lowercase 8-4-4-4-12 form. */
static ck_err
make_lock_id(char out[UUID_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char b[16];
	size_t i, o = 0;
	ck_err rv;

	if ((rv = cki_random_bytes(b, sizeof(b))) != CK_OK)
		return rv;
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	for (i = 0; i < sizeof(b); i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[b[i] >> 4];
		out[o++] = hex[b[i] & 0x0f];
	}
	out[o] = '\0';
	return CK_OK;
}

static bool
blank(const char *s)
{
	for (; *s != '\0'; s++)
		if (*s != ' ' && *s != '\t')
			return false;
	return true;
}

/* Constant-time comparison of a caller's lock id with ours: the id is a capability. */
static bool
lock_id_equal(const char *ours, const char *theirs)
{
	unsigned char diff = 0;
	size_t i;

	if (strnlen(theirs, UUID_LEN + 1) != UUID_LEN)
		return false;
	for (i = 0; i < UUID_LEN; i++)
		diff |= (unsigned char)(ours[i] ^ theirs[i]);
	return diff == 0;
}

/* ---- operations --------------------------------------------------------------------------- */

void
cki_memstore_lock(cki_store *s, const char *key, uint32_t lease_ms, uint64_t deadline,
                  cki_store_cb cb, void *arg)
{
	struct memstore *m = (struct memstore *)s;
	struct lock *lk;
	cki_store_reply r;
	char id[UUID_LEN + 1]; /* the reply's copy: a callback may release the lock */
	size_t key_len;
	uint64_t now, h, need;

	cki_store_reply_init(&r);
	if (!cki_memstore_op_begin(key, deadline, &key_len, &r))
		goto out;
	if (lease_ms == 0) {
		r.err = CK_EINVAL;
		r.message = "lease must be at least 1 ms";
		goto out;
	}
	now = cki_memstore_now(m);
	h = cki_memtable_hash(&m->locks, key, key_len);
	lk = (struct lock *)cki_memtable_find(&m->locks, key, key_len, h);
	if (lk != NULL && now < lk->expires_at)
		goto out; /* contested: lock_id stays NULL */
	if ((r.err = make_lock_id(id)) != CK_OK)
		goto out;
	if (lk == NULL) {
		need = LOCK_OVERHEAD + key_len + 1;
		if (!cki_memstore_room_beside_locks(m, need, now)) {
			r.err = CK_ENOMEM;
			r.message = "memory store is full of locks";
			goto out;
		}
		lk = malloc(sizeof(*lk) + key_len + 1);
		if (lk == NULL) {
			r.err = CK_ENOMEM;
			goto out;
		}
		memcpy(lk->key, key, key_len + 1);
		cki_memtable_node_init(&lk->node, lk->key, key_len, h);
		lk->bytes = need;
		cki_memstore_make_room(m, need, now);
		cki_memtable_insert(&m->locks, &lk->node);
		m->bytes += need;
		m->lock_bytes += need;
	}
	/* A new lease, or a fresh one over an expired lease for the same key. */
	memcpy(lk->id, id, sizeof(id));
	lk->expires_at = now + lease_ms;
	r.lock_id = id;
out:
	cki_memstore_finish(m, cb, arg, &r);
}

/*
 * The start of a holder's call (unlock, renew): check the deadline, the key and the id, then
 * find the key's lock at the store's now (*now). NULL when there is nothing the id could act
 * on: a refusal (r holds it), no lock, or an expired one (reclaimed here).
 */
static struct lock *
holder_lock(struct memstore *m, const char *key, const char *lock_id, uint64_t deadline,
            cki_store_reply *r, uint64_t *now)
{
	struct lock *lk;
	size_t key_len;

	if (!cki_memstore_op_begin(key, deadline, &key_len, r))
		return NULL;
	if (lock_id == NULL || blank(lock_id)) {
		r->err = CK_EINVAL;
		r->message = "no lock id";
		return NULL;
	}
	*now = cki_memstore_now(m);
	lk = (struct lock *)cki_memtable_find(&m->locks, key, key_len,
	                                      cki_memtable_hash(&m->locks, key, key_len));
	if (lk != NULL && *now >= lk->expires_at) {
		lock_remove(m, lk); /* expired: nothing is left to release or renew */
		lk = NULL;
	}
	return lk;
}

void
cki_memstore_unlock(cki_store *s, const char *key, const char *lock_id, uint64_t deadline,
                    cki_store_cb cb, void *arg)
{
	struct memstore *m = (struct memstore *)s;
	cki_store_reply r;
	uint64_t now;
	struct lock *lk;

	cki_store_reply_init(&r);
	lk = holder_lock(m, key, lock_id, deadline, &r, &now);
	if (lk != NULL && lock_id_equal(lk->id, lock_id)) {
		lock_remove(m, lk);
		r.found = true;
	}
	cki_memstore_finish(m, cb, arg, &r);
}

void
cki_memstore_renew_lock(cki_store *s, const char *key, const char *lock_id, uint32_t lease_ms,
                        uint64_t deadline, cki_store_cb cb, void *arg)
{
	struct memstore *m = (struct memstore *)s;
	cki_store_reply r;
	uint64_t now;
	struct lock *lk;

	cki_store_reply_init(&r);
	if (lease_ms == 0) {
		r.err = CK_EINVAL;
		r.message = "lease must be at least 1 ms";
		cki_memstore_finish(m, cb, arg, &r);
		return;
	}
	lk = holder_lock(m, key, lock_id, deadline, &r, &now);
	if (lk != NULL && lock_id_equal(lk->id, lock_id)) {
		lk->expires_at = now + lease_ms;
		r.found = true;
	}
	cki_memstore_finish(m, cb, arg, &r);
}
