/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The near cache (L1) shared by every process on the host: recent Get results in their
 * stored form (ciphertext stays ciphertext), bounded in bytes (LRU) and in time: an entry
 * lives at most min(l1 ttl, the upstream's Fresh-For), and stale or no-bound answers are not
 * kept past the l1 ttl. Writes, deletes and TTL changes made through this agent drop the key.
 */
#ifndef CKI_L1_H
#define CKI_L1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

typedef struct cki_l1 cki_l1;

/* max_bytes 0 = disabled (every lookup misses, nothing is stored). */
CK_NODISCARD ck_err cki_l1_new(cki_l1 **out, uint64_t max_bytes, uint32_t ttl_ms);
void cki_l1_free(cki_l1 *l1);

/* On a hit fills r (value borrowed until the next L1 call) and returns true. The answer is
 * CKI_STALE once past the copy's fresh_until (only copies kept with cki_l1_keep() live so long). */
bool cki_l1_get(cki_l1 *l1, const char *key, cki_store_reply *r);
/* Remembers a found, fresh reply. Stale replies and Fresh-For 0 are not kept. */
void cki_l1_put(cki_l1 *l1, const char *key, const cki_store_reply *r);
/*
 * Remembers value until keep_until (cki_now_ms() time), fresh until fresh_until (0 = no bound),
 * whatever the l1 ttl: for a table whose lifetime rule is the caller's (the storefront's
 * stale-if-error copies). Replaces any copy of key.
 */
void cki_l1_keep(cki_l1 *l1, const char *key, const uint8_t *value, size_t len,
                 uint64_t fresh_until, uint64_t keep_until);
/* True when key's copy holds exactly these bytes (and has not expired). */
bool cki_l1_holds(cki_l1 *l1, const char *key, const uint8_t *value, size_t len);
void cki_l1_forget(cki_l1 *l1, const char *key);

uint64_t cki_l1_bytes(const cki_l1 *l1);
size_t cki_l1_count(const cki_l1 *l1);

#endif
