/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The embedded store's allocator for its small items: a log-structured arena of 1 MiB
 * segments that keeps its footprint within a fixed factor of its live bytes.
 *
 * Why not malloc: a cache frees in LRU order, which has nothing to do with the addresses
 * malloc handed out, so a store that switches from small values to large ones keeps most of
 * the small values' heap pages resident (each page holds a survivor) beside the new values:
 * 2x the memory limit measured for 512 B -> 200 KB values. Here items are bump-allocated into
 * the newest segment; a segment whose items are all freed is unmapped at once; and
 * cki_segarena_compact() moves the live items of the emptiest segments into the newest one,
 * the owner fixing its pointers in a move callback, until the arena maps at most
 * 4/3 x its live bytes + 2 segments. Each segment it empties was at most about 3/4 full, so the
 * bytes it copies are at most 3x the bytes freed since the last call (amortised O(1)).
 *
 * Items are 16-byte aligned; each carries a 16-byte header. Not thread-safe (the store's loop).
 */
#ifndef CKI_SEGARENA_H
#define CKI_SEGARENA_H

#include <stddef.h>

#include "cachekit/errors.h"

#define CKI_SEGARENA_SEGMENT  (1u << 20)  /* bytes per segment, mapped and aligned as a unit */
#define CKI_SEGARENA_MAX_ITEM (32u << 10) /* larger items: the caller uses malloc */
#define CKI_SEGARENA_HEADER   16u         /* bytes an item costs besides its own */

typedef struct cki_segarena cki_segarena;

/*
 * Called by compaction after it copied an item's bytes from `from` to `to`: the owner points
 * whatever pointed at from (or into it) at to instead. from stays readable during the call
 * and is freed after it. It must not call back into the arena.
 */
typedef void (*cki_segarena_move_fn)(void *ctx, void *from, void *to);

/* A new, empty arena (no segment mapped yet). CK_OK or CK_ENOMEM. */
CK_NODISCARD ck_err cki_segarena_new(cki_segarena **out, cki_segarena_move_fn move, void *ctx);

/* Unmaps every segment, live items included, and frees the arena. Accepts NULL. */
void cki_segarena_destroy(cki_segarena *a);

/* size bytes for a new item, or NULL when size is 0 or above CKI_SEGARENA_MAX_ITEM or no
 * segment could be mapped. */
void *cki_segarena_alloc(cki_segarena *a, size_t size);

/* Frees an item from cki_segarena_alloc; its segment is unmapped when it was the last. */
void cki_segarena_free(cki_segarena *a, void *item);

/* Moves live items out of the emptiest segments until the arena maps at most
 * 4/3 x live bytes + 2 segments (or no segment can be emptied). Cheap when within it. */
void cki_segarena_compact(cki_segarena *a);

/* Bytes of live items, headers included. */
size_t cki_segarena_live_bytes(const cki_segarena *a);

/* Bytes of mapped segments. */
size_t cki_segarena_mapped_bytes(const cki_segarena *a);

#endif
