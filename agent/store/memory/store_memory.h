/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The embedded store (upstream "memory:"): a bytes-bounded, LRU-evicting key/value table with
 * the cachekit.io API's semantics (spec §2.5-§2.7, §4): TTL and stale window, freshness and
 * fresh-for on get, seconds-to-eviction rounded up, PATCH-ttl rules, and lock leases in a
 * table separate from the values. It implements store.h; every operation takes effect when
 * called and completes (calls its callback exactly once) from the loop, never inside the call. Time
 * is kept in milliseconds internally (the API stamps whole seconds); TTLs given in seconds become
 * exact multiples of 1000 ms, so the visible results (fresh/stale/absent, rounded-up ttl) match the
 * API's. Not thread-safe: use from the loop thread.
 */
#ifndef CKI_STORE_MEMORY_H
#define CKI_STORE_MEMORY_H

#include <stdint.h>

#include "cachekit/errors.h"
#include "base/loop.h"
#include "store/store.h"

/* Longest key accepted, in bytes (keys.c already limits storage keys to 400 characters). */
#define CKI_STORE_MEMORY_MAX_KEY 1024u
/* The API's TTL cap: ttl and ttl + stale window are at most 30 days (spec §2.6, §2.7). */
#define CKI_STORE_MEMORY_MAX_TTL_S 2592000u

/*
 * Creates an empty store, delivering completions from loop (borrowed), bounded to
 * memory_limit_bytes of accounted memory: each value entry counts its key, its value and a fixed
 * per-entry overhead (the entry struct plus its hash slots); each lock counts its key and its own
 * fixed overhead. Allocator slack is not counted. Returns CK_EINVAL for a zero limit, CK_ENOMEM or
 * CK_EINTERNAL (no randomness for the hash seed). On success *out owns the store; free it with
 * (*out)->ops->destroy(*out). On failure *out is untouched.
 */
CK_NODISCARD ck_err cki_store_memory_new(cki_store **out, cki_loop *loop,
                                         uint64_t memory_limit_bytes);

/*
 * Replaces the clock used for TTLs and leases (default: cki_now_ms()). now_ms must be
 * monotonic. For tests; ctx is borrowed and must outlive the store. The deadline argument of
 * each operation is still compared against cki_now_ms(). Ignored for a store of another type.
 */
void cki_store_memory_set_clock(cki_store *s, uint64_t (*now_ms)(void *ctx), void *ctx);

/*
 * Frees every value entry past its eviction time and every expired lock. O(entries + locks);
 * meant for a periodic timer. Expired entries are also reclaimed lazily when touched and
 * before live entries are evicted for space. Ignored for a store of another type.
 */
void cki_store_memory_sweep(cki_store *s);

#endif
