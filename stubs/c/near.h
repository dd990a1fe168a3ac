/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The stub's in-process near cache (docs/near-cache.md): Get results the agent returned, kept
 * by a keyed 128-bit hash of (namespace, key, secure, format) and never by the key itself,
 * bounded in bytes (LRU) and in time (min(Fresh-For, the client's maximum)). A copy is served
 * only while the agent's version table (mapped read-only) still shows the epoch and the slot
 * counter the Get reply carried; a hit is one hash, one table probe and two atomic loads, with
 * no system call. After fork() the child starts empty (a pthread_atfork generation counter).
 * One thread at a time, like the client that owns it.
 */
#ifndef CKI_NEAR_H
#define CKI_NEAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cachekit/agent/v1/agent.pb-c.h"
#include "cachekit/stub.h"

typedef struct cki_near cki_near;

/* What one lookup is about: the keyed hash (lookup key) and the version-table slot. */
typedef struct cki_near_key {
	uint64_t h[2];
	uint64_t slot_hash; /* the public slot hash of the storage key */
} cki_near_key;

/* endpoint: the agent's ("ipc://path"); other schemes get a cache that never holds anything.
 * max_bytes > 0. max_ms: longest life of a copy. */
CK_NODISCARD ck_err cki_near_new(cki_near **out, const char *endpoint, size_t max_bytes,
                                 uint32_t max_ms);
void cki_near_free(cki_near *n);

/* Computes k for key in namespace ns ("" or NULL: none) with the Get's secure and format. */
void cki_near_key_of(cki_near *n, const char *ns, const char *key, bool secure, const char *format,
                     cki_near_key *k);

/* A valid local copy: *out owns a fresh ck_value and true is returned. Otherwise false
 * (counted as a miss; a copy found stale is dropped and counted as an invalidation). */
bool cki_near_get(cki_near *n, const cki_near_key *k, ck_value **out);

/* Offers the agent's Get result v (not kept by the cache: the bytes are copied) with the
 * reply's near_epoch and near_version. Stale, refresh-due, Fresh-For 0 and epoch-0 results,
 * and values larger than a quarter of the cache, are not kept. */
void cki_near_put(cki_near *n, const cki_near_key *k, const ck_value *v, uint64_t epoch,
                  uint64_t version);

void cki_near_stats(cki_near *n, ck_near_stats *out);
/* Counts one outgoing request and fills *out with a report when one is due (near_report.h). */
bool cki_near_report_due(cki_near *n, Cachekit__Agent__V1__NearStats *out);

#endif
