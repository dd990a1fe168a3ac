/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The embedded store ("memory:"): a hash table of value entries threaded on an LRU list, plus
 * a second hash table of lock leases (both structures live in memtable.c). It gives the agent the
 * cachekit.io API's visible behaviour without a network: TTL with a stale window, freshness
 * and fresh-for on get, seconds-to-eviction rounded up, the PATCH-ttl rules (absent = no-op,
 * stale = conflict, no-expiry = becomes bounded), and one-attempt lock leases with random
 * UUIDv4 ids. Memory is bounded by accounted bytes (keys + values + a fixed per-entry
 * overhead, and the same for locks); a put evicts least-recently-used entries until it fits,
 * dropping expired entries first where that is cheap. Every operation calls its callback once,
 * as the last thing it does with the store, so callbacks may call back in (even destroy).
 * Replies are copied by the completion queue, so nothing outside the store points into an
 * entry. An entry (header, key, value) is one allocation: from the segment arena
 * (segarena.h) when it is small, which compaction may move, or its own malloc'd (and, above
 * the agent's 32 KiB mmap threshold, mapped) block when it is large. Either way the memory an
 * evicted entry held goes back to the kernel, so RSS follows the accounted bytes.
 * The lock operations live in store_memory_locks.c; the two files share struct memstore
 * through store_memory_int.h.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <time.h>

#include "base/log.h"
#include "base/random.h"
#include "base/loop.h"
#include "base/memtable.h"
#include "store/memory/store_memory.h"
#include "store/memory/store_memory_int.h"

#define NEVER    UINT64_MAX /* fresh_until / evict_at of a no-expiry entry */
#define MS_PER_S 1000u
/* How many least-recently-used entries a put inspects for expired ones before evicting. */
#define RECLAIM_SCAN 32

struct entry {
	cki_memtable_node node; /* first member: the table stores &entry->node */
	cki_lru_link lru;
	uint64_t fresh_until; /* ms on the store clock; NEVER for no expiry */
	uint64_t evict_at;    /* fresh_until + stale window; NEVER for no expiry */
	uint64_t bytes;       /* accounted size */
	size_t value_len;
	bool in_arena; /* from m->arena (may move), else malloc */
	char key[];    /* node.key_len + 1 bytes, then value_len bytes of value */
};

/* Accounted per-entry overhead: the struct and its allocation header plus about two hash
 * slots (load factor <= 3/4, doubling, so there are between 1.33 and 2.67 buckets per item).
 * Locks count the same way (LOCK_OVERHEAD in store_memory_locks.c). */
#define ENTRY_OVERHEAD \
	(sizeof(struct entry) + CKI_SEGARENA_HEADER + 2 * sizeof(cki_memtable_node *))

static const cki_store_ops memory_ops;

/* ---- entries, LRU ------------------------------------------------------------------------ */

static uint8_t *
entry_value(struct entry *e)
{
	return (uint8_t *)e->key + e->node.key_len + 1;
}

static void
entry_free(struct memstore *m, struct entry *e)
{
	if (e != NULL && e->in_arena)
		cki_segarena_free(m->arena, e);
	else
		free(e);
}

/* The arena moved an entry (compaction): the table and the LRU list point at the copy. */
static void
entry_moved(void *ctx, void *from, void *to)
{
	struct memstore *m = ctx;
	struct entry *old = from, *e = to;

	e->node.key = e->key;
	cki_memtable_moved(&m->entries, &old->node, &e->node);
	cki_lru_moved(&m->lru, &e->lru);
}

/* The entry whose lru link this is, or NULL for NULL. */
static struct entry *
entry_of(cki_lru_link *link)
{
	return link == NULL ? NULL : (struct entry *)((char *)link - offsetof(struct entry, lru));
}

static bool
entry_expired(const struct entry *e, uint64_t now)
{
	return e->evict_at != NEVER && now >= e->evict_at;
}

static void
entry_remove(struct memstore *m, struct entry *e)
{
	cki_memtable_remove(&m->entries, &e->node);
	cki_lru_unlink(&m->lru, &e->lru);
	m->bytes -= e->bytes;
	m->freed_since_trim += e->bytes;
	entry_free(m, e);
}

/*
 * Gives memory back after entries went: the arena compacts when it maps more than 4/3 of its
 * live bytes (O(1) when it does not), and once a 32nd of the limit has been freed the heap's
 * free pages go back too (malloc_trim(0) releases them anywhere in the heap, not just at its
 * top; O(free chunks), hence the rate). What the heap still holds for the store is the hash
 * table's buckets and the lock leases.
 */
static void
give_back(struct memstore *m)
{
	cki_segarena_compact(m->arena);
	if (m->freed_since_trim < m->limit / 32)
		return;
	m->freed_since_trim = 0;
#ifdef __GLIBC__
	malloc_trim(0);
#endif
}

/* Removes an entry the store drops on its own (space or expiry), counts it, and tells the drop
 * listener (store.h) so that tracking kept beside the store goes too. */
static void
entry_drop(struct memstore *m, struct entry *e, uint64_t now)
{
	if (entry_expired(e, now))
		m->expired++;
	else
		m->evictions++;
	if (m->base.on_drop != NULL)
		m->base.on_drop(m->base.on_drop_arg, e->key);
	entry_remove(m, e);
}

/* The entry for key if it is present and not past evict_at; an expired one is reclaimed. */
static struct entry *
entry_find_live(struct memstore *m, const char *key, size_t key_len, uint64_t now)
{
	uint64_t h = cki_memtable_hash(&m->entries, key, key_len);
	struct entry *e = (struct entry *)cki_memtable_find(&m->entries, key, key_len, h);

	if (e != NULL && entry_expired(e, now)) {
		entry_drop(m, e, now);
		e = NULL;
	}
	return e;
}

/*
 * Frees accounted bytes until need more fit under the limit. The caller has checked that
 * lock_bytes + need <= limit, so evicting every entry is always enough. Expired entries among
 * the least recently used few go first; then the LRU tail, expired or not.
 */
void
cki_memstore_make_room(struct memstore *m, uint64_t need, uint64_t now)
{
	struct entry *e, *prev;
	int scanned = 0;

	if (m->bytes + need <= m->limit)
		return;
	for (e = entry_of(m->lru.tail); e != NULL && scanned < RECLAIM_SCAN; e = prev, scanned++) {
		prev = entry_of(e->lru.prev);
		if (entry_expired(e, now)) {
			entry_drop(m, e, now);
			if (m->bytes + need <= m->limit)
				return;
		}
	}
	while (m->bytes + need > m->limit && m->lru.tail != NULL)
		entry_drop(m, entry_of(m->lru.tail), now);
}

/* ---- common checks ------------------------------------------------------------------------ */

static uint64_t
default_clock(void *ctx)
{
	(void)ctx;
	return cki_now_ms();
}

/* Checks the deadline and the key; fills r on failure. */
bool
cki_memstore_op_begin(const char *key, uint64_t deadline, size_t *key_len, cki_store_reply *r)
{
	size_t n;

	if (deadline != 0 && cki_now_ms() > deadline) {
		r->err = CK_ETIMEDOUT;
		r->message = "deadline passed before the operation started";
		return false;
	}
	if (key == NULL) {
		r->err = CK_EINVALKEY;
		r->message = "no key";
		return false;
	}
	n = strnlen(key, CKI_STORE_MEMORY_MAX_KEY + 1);
	if (n == 0 || n > CKI_STORE_MEMORY_MAX_KEY) {
		r->err = CK_EINVALKEY;
		r->message = n == 0 ? "empty key" : "key longer than the memory store accepts";
		return false;
	}
	*key_len = n;
	return true;
}

/* ---- operations --------------------------------------------------------------------------- */

/* Fills r from the live entry e of a keyed read, at the store's now. */
typedef void entry_answer(struct memstore *m, struct entry *e, uint64_t now, cki_store_reply *r);

/*
 * Every keyed read (get, del, exists, get_ttl): check the deadline and the key, find the live
 * entry at the store's now, let answer fill r from it (r.found is set; a refusal or a miss
 * skips answer), and complete. answer may be NULL when presence is the whole answer.
 */
static void
keyed_read(cki_store *s, const char *key, uint64_t deadline, entry_answer *answer, cki_store_cb cb,
           void *arg)
{
	struct memstore *m = (struct memstore *)s;
	cki_store_reply r;
	size_t key_len;

	cki_store_reply_init(&r);
	if (cki_memstore_op_begin(key, deadline, &key_len, &r)) {
		uint64_t now = cki_memstore_now(m);
		struct entry *e = entry_find_live(m, key, key_len, now);
		if (e != NULL) {
			r.found = true;
			if (answer != NULL)
				answer(m, e, now, &r);
		}
	}
	cki_memstore_finish(m, cb, arg, &r);
}

static void
answer_get(struct memstore *m, struct entry *e, uint64_t now, cki_store_reply *r)
{
	cki_lru_touch(&m->lru, &e->lru);
	r->value = entry_value(e); /* the completion queue copies it */
	r->value_len = e->value_len;
	if (e->fresh_until == NEVER) {
		r->freshness = CKI_FRESH;
		r->fresh_for_ms = -1;
	} else if (now < e->fresh_until) {
		r->freshness = CKI_FRESH;
		r->fresh_for_ms = (int64_t)(e->fresh_until - now);
	} else {
		r->freshness = CKI_STALE;
		r->fresh_for_ms = 0;
	}
}

static void
mem_get(cki_store *s, const char *key, uint64_t deadline, cki_store_cb cb, void *arg)
{
	keyed_read(s, key, deadline, answer_get, cb, arg);
}

static ck_err
check_put_ttl(const cki_put_opts *opts, const char **message)
{
	if (opts == NULL)
		return CK_OK;
	if (opts->ttl_s > CKI_STORE_MEMORY_MAX_TTL_S) {
		*message = "ttl above 2592000 seconds";
		return CK_EINVAL;
	}
	if (opts->stale_ttl_s != 0 && opts->ttl_s == 0) {
		*message = "a stale window requires a ttl";
		return CK_EINVAL;
	}
	if ((uint64_t)opts->ttl_s + opts->stale_ttl_s > CKI_STORE_MEMORY_MAX_TTL_S) {
		*message = "ttl + stale window above 2592000 seconds";
		return CK_EINVAL;
	}
	return CK_OK;
}

static void
mem_put(cki_store *s, const char *key, const uint8_t *value, size_t len, const cki_put_opts *opts,
        uint64_t deadline, cki_store_cb cb, void *arg)
{
	struct memstore *m = (struct memstore *)s;
	struct entry *e = NULL, *old;
	cki_store_reply r;
	size_t key_len, size;
	uint64_t need, now, h;

	cki_store_reply_init(&r);
	if (!cki_memstore_op_begin(key, deadline, &key_len, &r))
		goto out;
	if ((r.err = check_put_ttl(opts, &r.message)) != CK_OK)
		goto out;
	if (value == NULL && len > 0) {
		r.err = CK_EINVAL;
		r.message = "no value bytes";
		goto out;
	}
	/* Compare len alone first so the sums below cannot overflow. */
	if (len > m->limit || len > SIZE_MAX - sizeof(struct entry) - key_len - 1 ||
	    ENTRY_OVERHEAD + key_len + 1 + (uint64_t)len > m->limit) {
		r.err = CK_ETOOBIG;
		r.message = "value larger than the memory store's limit";
		goto out;
	}
	need = ENTRY_OVERHEAD + key_len + 1 + (uint64_t)len;
	now = cki_memstore_now(m);
	if (!cki_memstore_room_beside_locks(m, need, now)) {
		r.err = CK_ENOMEM;
		r.message = "memory store is full of locks";
		goto out;
	}
	size = sizeof(*e) + key_len + 1 + len;
	e = size <= CKI_SEGARENA_MAX_ITEM ? cki_segarena_alloc(m->arena, size) : NULL;
	if (e != NULL) {
		e->in_arena = true;
	} else if ((e = malloc(size)) != NULL) {
		e->in_arena = false;
	} else {
		r.err = CK_ENOMEM;
		goto out;
	}
	memcpy(e->key, key, key_len + 1);
	h = cki_memtable_hash(&m->entries, key, key_len);
	cki_memtable_node_init(&e->node, e->key, key_len, h);
	e->lru.prev = e->lru.next = NULL;
	e->value_len = len;
	if (len > 0)
		memcpy(entry_value(e), value, len);
	e->bytes = need;
	if (opts == NULL || opts->ttl_s == 0) {
		e->fresh_until = e->evict_at = NEVER;
	} else {
		e->fresh_until = now + (uint64_t)opts->ttl_s * MS_PER_S;
		e->evict_at = e->fresh_until + (uint64_t)opts->stale_ttl_s * MS_PER_S;
	}

	/* Every put replaces value and both windows: drop the old entry, then make room. */
	old = (struct entry *)cki_memtable_find(&m->entries, key, key_len, h);
	if (old != NULL) {
		if (entry_expired(old, now))
			m->expired++;
		entry_remove(m, old);
	}
	cki_memstore_make_room(m, need, now);
	cki_memtable_insert(&m->entries, &e->node);
	cki_lru_push_front(&m->lru, &e->lru);
	m->bytes += need;
	give_back(m);
out:
	cki_memstore_finish(m, cb, arg, &r);
}

static void
answer_del(struct memstore *m, struct entry *e, uint64_t now, cki_store_reply *r)
{
	(void)now;
	(void)r;
	entry_remove(m, e);
}

static void
mem_del(cki_store *s, const char *key, uint64_t deadline, cki_store_cb cb, void *arg)
{
	keyed_read(s, key, deadline, answer_del, cb, arg);
}

/* Like HEAD: a stale entry is present. */
static void
mem_exists(cki_store *s, const char *key, uint64_t deadline, cki_store_cb cb, void *arg)
{
	keyed_read(s, key, deadline, NULL, cb, arg);
}

static void
answer_ttl(struct memstore *m, struct entry *e, uint64_t now, cki_store_reply *r)
{
	(void)m;
	/* Rounded up, so a present key never reads 0 (spec §4.2). */
	r->ttl_s = e->evict_at == NEVER ? -1
	                                : (int64_t)((e->evict_at - now + MS_PER_S - 1) / MS_PER_S);
}

static void
mem_get_ttl(cki_store *s, const char *key, uint64_t deadline, cki_store_cb cb, void *arg)
{
	keyed_read(s, key, deadline, answer_ttl, cb, arg);
}

static void
mem_touch(cki_store *s, const char *key, uint32_t ttl_s, uint64_t deadline, cki_store_cb cb,
          void *arg)
{
	struct memstore *m = (struct memstore *)s;
	struct entry *e;
	cki_store_reply r;
	size_t key_len;
	uint64_t now, stale_ms;

	cki_store_reply_init(&r);
	if (!cki_memstore_op_begin(key, deadline, &key_len, &r))
		goto out;
	if (ttl_s == 0 || ttl_s > CKI_STORE_MEMORY_MAX_TTL_S) {
		r.err = CK_EINVAL;
		r.message = "ttl must be 1..2592000 seconds";
		goto out;
	}
	now = cki_memstore_now(m);
	e = entry_find_live(m, key, key_len, now);
	if (e == NULL)
		goto out; /* the API answers 200 for an absent key: a no-op */
	stale_ms = e->fresh_until == NEVER ? 0 : e->evict_at - e->fresh_until;
	if ((uint64_t)ttl_s * MS_PER_S + stale_ms >
	    (uint64_t)CKI_STORE_MEMORY_MAX_TTL_S * MS_PER_S) {
		r.err = CK_EINVAL;
		r.message = "ttl + stored stale window above 2592000 seconds";
		goto out;
	}
	if (e->fresh_until != NEVER && now >= e->fresh_until) {
		r.err = CK_ECONFLICT;
		r.message = "entry is past its fresh window; write it again";
		goto out;
	}
	e->fresh_until = now + (uint64_t)ttl_s * MS_PER_S;
	e->evict_at = e->fresh_until + stale_ms;
	cki_lru_touch(&m->lru, &e->lru);
	r.found = true;
out:
	cki_memstore_finish(m, cb, arg, &r);
}

static void
mem_health(cki_store *s, uint64_t deadline, cki_store_cb cb, void *arg)
{
	struct memstore *m = (struct memstore *)s;
	static const char probe[] = "health";
	cki_store_reply r;
	uint64_t start_us;

	cki_store_reply_init(&r);
	if (deadline != 0 && cki_now_ms() > deadline) {
		r.err = CK_ETIMEDOUT;
		r.message = "deadline passed before the operation started";
		goto out;
	}
	/* The trivial operation: one lookup of a key that is never stored (keys.c rejects it). */
	start_us = cki_now_us();
	(void)cki_memtable_find(&m->entries, probe, sizeof(probe) - 1,
	                        cki_memtable_hash(&m->entries, probe, sizeof(probe) - 1));
	r.latency_ms = (double)(cki_now_us() - start_us) / 1e3;
	r.found = true;
	r.version = CK_VERSION_STRING;
out:
	cki_memstore_finish(m, cb, arg, &r);
}

static void
mem_stats(cki_store *s, void (*emit)(void *ctx, const char *name, double v), void *ctx)
{
	struct memstore *m = (struct memstore *)s;

	emit(ctx, "store_entries", (double)m->entries.count);
	emit(ctx, "store_bytes", (double)m->bytes);
	emit(ctx, "store_evictions", (double)m->evictions);
	emit(ctx, "store_expired", (double)m->expired);
	emit(ctx, "store_locks", (double)m->locks.count);
	emit(ctx, "store_arena_bytes", (double)cki_segarena_mapped_bytes(m->arena));
}

static void
mem_destroy(cki_store *s)
{
	struct memstore *m = (struct memstore *)s;
	struct entry *e, *next;

	if (m == NULL)
		return;
	cki_completions_flush(&m->done); /* answer what is queued before the loop can go */
	for (e = entry_of(m->lru.head); e != NULL; e = next) {
		next = entry_of(e->lru.next);
		if (!e->in_arena)
			free(e);
	}
	cki_segarena_destroy(m->arena); /* the arena's entries go with it */
	cki_memstore_free_locks(m);
	cki_memtable_fini(&m->entries);
	cki_memtable_fini(&m->locks);
	free(m);
}

static const char *
mem_url(cki_store *s)
{
	(void)s;
	return "memory:";
}

static const cki_store_ops memory_ops = {
        .backend_type = "memory",
        .get = mem_get,
        .put = mem_put,
        .del = mem_del,
        .exists = mem_exists,
        .get_ttl = mem_get_ttl,
        .touch = mem_touch,
        .lock = cki_memstore_lock,
        .unlock = cki_memstore_unlock,
        .renew_lock = cki_memstore_renew_lock,
        .health = mem_health,
        .stats = mem_stats,
        .destroy = mem_destroy,
        .url = mem_url,
};

/* ---- public ------------------------------------------------------------------------------- */

ck_err
cki_store_memory_new(cki_store **out, cki_loop *loop, uint64_t memory_limit_bytes)
{
	struct memstore *m = NULL;
	uint64_t seed[2];
	ck_err rv;

	if (out == NULL || loop == NULL || memory_limit_bytes == 0) {
		cki_log_error("store memory: the memory limit must be above 0 bytes");
		rv = CK_EINVAL;
		goto out;
	}
	if ((rv = cki_random_bytes(seed, sizeof(seed))) != CK_OK)
		goto out;
	m = calloc(1, sizeof(*m));
	if (m == NULL) {
		rv = CK_ENOMEM;
		goto out;
	}
	m->base.ops = &memory_ops;
	m->limit = memory_limit_bytes;
	m->now_ms = default_clock;
	cki_completions_init(&m->done, loop);
	if ((rv = cki_segarena_new(&m->arena, entry_moved, m)) != CK_OK ||
	    (rv = cki_memtable_init(&m->entries, seed[0], seed[1])) != CK_OK ||
	    (rv = cki_memtable_init(&m->locks, seed[0], seed[1])) != CK_OK)
		goto out;
	*out = &m->base;
	m = NULL;
out:
	if (m != NULL)
		mem_destroy(&m->base);
	return rv;
}

void
cki_store_memory_set_clock(cki_store *s, uint64_t (*now_ms)(void *ctx), void *ctx)
{
	struct memstore *m = (struct memstore *)s;

	if (s == NULL || s->ops != &memory_ops)
		return;
	m->now_ms = now_ms != NULL ? now_ms : default_clock;
	m->now_ctx = now_ms != NULL ? ctx : NULL;
}

void
cki_store_memory_sweep(cki_store *s)
{
	struct memstore *m = (struct memstore *)s;
	struct entry *e, *prev;
	uint64_t now;

	if (s == NULL || s->ops != &memory_ops)
		return;
	now = cki_memstore_now(m);
	for (e = entry_of(m->lru.tail); e != NULL; e = prev) {
		prev = entry_of(e->lru.prev);
		if (entry_expired(e, now))
			entry_drop(m, e, now);
	}
	cki_memstore_sweep_locks(m, now);
	give_back(m);
}
