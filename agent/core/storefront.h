/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one way into the store. A storefront is itself a cki_store (store.h) wrapped around the
 * backend main.c chose; dispatch, flight, locks and refresh hold only the storefront, so every
 * call that can change what a key reads passes here, and here alone the agent keeps its own
 * caches and figures in step with the store:
 *  - a write, delete or TTL change drops the key from the near cache (L1) before the call and
 *    again when it completes (a Get that raced it may have refilled the old value meanwhile);
 *  - a key the backend drops on its own (eviction, expiry) is, for every reader, deleted: its
 *    L1 copy goes and its slot in the stubs' version table moves before any later reply;
 *  - a Get that completes fills the L1 (only fresh answers; l1.c decides);
 *  - every call is counted (store_calls_total, store_errors_total);
 *  - stale-if-error (when on): the last value of a key is kept, bounded by bytes, for as long
 *    as the store itself may serve it (the Set's ttl + stale window; a value another writer
 *    stored only while its Fresh-For lasts), and a Get the store fails (timeout, 5xx, breaker
 *    open, rate limit) is answered with it, marked stale (stale_if_error_total). Never past
 *    that window, never for a refusal (auth, bad key), never after a write or delete of the
 *    key through this agent.
 * It adds no waiting and no copies of values; completions keep the store contract (from the
 * loop, exactly once). Not thread-safe: use from the loop thread.
 */
#ifndef CKI_STOREFRONT_H
#define CKI_STOREFRONT_H

#include "base/loop.h"
#include "config/policy.h"
#include "core/l1.h"
#include "core/nearver.h"
#include "store/store.h"

/*
 * Wraps backend (owned from now on: destroying the storefront destroys it), answering from
 * loop (borrowed), keeping l1 in step (borrowed; may be NULL; both must outlive it). On success
 * *out is a cki_store to use everywhere; on failure (CK_ENOMEM) *out is untouched and backend is
 * still the caller's.
 */
CK_NODISCARD ck_err cki_storefront_new(cki_store **out, cki_store *backend, cki_loop *loop,
                                       cki_l1 *l1);

/* Turns stale-if-error on with a table of max_bytes (0 = leave it off). CK_ENOMEM. */
CK_NODISCARD ck_err cki_storefront_stale_if_error(cki_store *front, uint64_t max_bytes);
/* Namespaces (of keys "ns:<namespace>:...") whose failed Gets get the error, never a copy:
 * the setting stale-if-error-off-namespaces. off is read at each failure (a reload may
 * re-parse it in place) and must outlive the storefront; NULL: on for every namespace. */
void cki_storefront_stale_if_error_except(cki_store *front, const cki_ns_set *off);

/*
 * Keeps the stubs' version table v (borrowed; NULL: none) in step with what the backend drops
 * on its own: each eviction or expiry of a key moves the key's slot before any later reply can
 * show the key gone (docs/near-cache.md). The storefront listens to the backend's drops itself;
 * listeners that want them too (the refresh tracker) go on the storefront (cki_store_on_drop).
 */
void cki_storefront_set_nearver(cki_store *front, cki_nearver *v);

#endif
