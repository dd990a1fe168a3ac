/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The TTL refresh scheduler. It remembers the windows of entries written through this agent
 * and, on every read hit:
 *  - refresh-ahead: once an entry is past its refresh point (a share of its fresh window,
 *    jittered), or stale, exactly one reader on the host is told "refresh due" until it
 *    writes the key again or a claim timeout passes; every other reader just gets the value.
 *  - sliding TTL: for keys written with sliding = true (or in a sliding namespace), reads
 *    extend the TTL with at most one TTL PATCH per key per quarter TTL, sent after the reply
 *    (off the request path).
 * Entries are dropped when the store drops the key (cki_refresh_on_drop, wired to the store's
 * drop listener), when it is deleted through the agent, or by a periodic sweep past its
 * eviction time. The tracker is bounded: at most max_bytes of accounted memory (key +
 * CKI_REFRESH_KEY_OVERHEAD per key); once full, newly written keys get no refresh hints until
 * room frees up (counted in refresh_untracked_total).
 */
#ifndef CKI_REFRESH_H
#define CKI_REFRESH_H

#include <stdbool.h>
#include <stdint.h>

#include "base/loop.h"
#include "store/store.h"

typedef struct cki_refresh cki_refresh;

typedef struct cki_refresh_opts {
	uint32_t ahead_pct;  /* refresh point as % of the fresh window (0 = only when stale) */
	uint32_t jitter_pct; /* +/- this % of the refresh point, so keys written together spread */
	uint32_t claim_ms; /* how long a "refresh due" claim holds before another reader gets it */
	size_t max_bytes;  /* cap on accounted bytes (0: CKI_REFRESH_DEFAULT_MAX_BYTES) */
} cki_refresh_opts;

/* Accounted bytes per tracked key beyond the key itself: the entry, the map node, two hash
 * slots and the allocator's headers (measured on glibc x86-64: about 150). */
#define CKI_REFRESH_KEY_OVERHEAD      160u
#define CKI_REFRESH_DEFAULT_MAX_BYTES (32u << 20)

CK_NODISCARD ck_err cki_refresh_new(cki_refresh **out, cki_loop *loop, cki_store *store,
                                    const cki_refresh_opts *opts);
void cki_refresh_free(cki_refresh *r);

/* A Set of key succeeded: remember its windows; any refresh claim is satisfied. */
void cki_refresh_on_set(cki_refresh *r, const char *key, uint32_t ttl_s, uint32_t stale_ttl_s,
                        bool sliding);
/* key was deleted or its TTL replaced (touch): forget or update. */
void cki_refresh_on_delete(cki_refresh *r, const char *key);
void cki_refresh_on_touch(cki_refresh *r, const char *key, uint32_t ttl_s);
/* The store dropped key on its own (eviction, expiry): a cki_store_drop_fn, arg is r. */
void cki_refresh_on_drop(void *r, const char *key);

/* A read found key. Returns true when this reader is the one that should refresh it.
 * sliding_ns: the key's namespace has sliding TTL. May start a background TTL PATCH. */
bool cki_refresh_on_hit(cki_refresh *r, const char *key, cki_freshness fr, int64_t fresh_for_ms,
                        bool sliding_ns);

size_t cki_refresh_count(const cki_refresh *r);
/* Accounted bytes of the tracked keys (never above opts.max_bytes). */
uint64_t cki_refresh_bytes(const cki_refresh *r);

#endif
