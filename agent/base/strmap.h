/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A string-keyed map on the shared hash table (memtable.h). Keys are copied;
 * values are caller-owned pointers. Used by the refresh table, the near cache and the
 * single-flight table, all keyed by storage key.
 */
#ifndef CKI_STRMAP_H
#define CKI_STRMAP_H

#include <stdbool.h>
#include <stddef.h>

#include "cachekit/errors.h"

typedef struct cki_strmap cki_strmap;

CK_NODISCARD cki_strmap *cki_strmap_new(void);
/* Frees the map; calls free_value(v) on each value if not NULL. Accepts NULL. */
void cki_strmap_free(cki_strmap *m, void (*free_value)(void *));

void *cki_strmap_get(const cki_strmap *m, const char *key);
/* Inserts or replaces; returns the previous value (or NULL). *ok false when out of memory. */
void *cki_strmap_put(cki_strmap *m, const char *key, void *value, bool *ok);
/* Removes and returns the value (NULL if absent). */
void *cki_strmap_del(cki_strmap *m, const char *key);
size_t cki_strmap_count(const cki_strmap *m);

/* Calls fn for each entry; if fn returns true the entry is removed (fn frees the value). */
void cki_strmap_sweep(cki_strmap *m, bool (*fn)(void *ctx, const char *key, void *value),
                      void *ctx);

#endif
