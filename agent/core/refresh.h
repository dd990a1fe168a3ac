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
 * Entries are dropped when they are evicted upstream, deleted through the agent, or by a
 * periodic sweep.
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
	uint32_t claim_ms;  /* how long a "refresh due" claim holds before another reader gets it */
	size_t max_entries; /* cap on remembered keys */
} cki_refresh_opts;

CK_NODISCARD ck_err cki_refresh_new(cki_refresh **out, cki_loop *loop, cki_store *store,
                                    const cki_refresh_opts *opts);
void cki_refresh_free(cki_refresh *r);

/* A Set of key succeeded: remember its windows; any refresh claim is satisfied. */
void cki_refresh_on_set(cki_refresh *r, const char *key, uint32_t ttl_s, uint32_t stale_ttl_s,
                        bool sliding);
/* key was deleted or its TTL replaced (touch): forget or update. */
void cki_refresh_on_delete(cki_refresh *r, const char *key);
void cki_refresh_on_touch(cki_refresh *r, const char *key, uint32_t ttl_s);

/* A read found key. Returns true when this reader is the one that should refresh it.
 * sliding_ns: the key's namespace has sliding TTL. May start a background TTL PATCH. */
bool cki_refresh_on_hit(cki_refresh *r, const char *key, cki_freshness fr, int64_t fresh_for_ms,
                        bool sliding_ns);

size_t cki_refresh_count(const cki_refresh *r);

#endif
