/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The embedded store's index structures: a chained hash table keyed with SipHash-2-4 under a
 * per-table random key (so clients cannot choose keys that collide), and an intrusive
 * doubly linked recency (LRU) list. Both are intrusive: the caller embeds a cki_memtable_node
 * or cki_lru_link in its own item and keeps ownership of the item and of the key bytes the
 * node points at; this module never allocates or frees items, only the table's bucket array.
 * The key must stay valid and unchanged while its node is in a table. Not thread-safe: a
 * table or list is used from one thread at a time (the store's loop thread).
 */
#ifndef CKI_MEMTABLE_H
#define CKI_MEMTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/list.h"
#include "cachekit/errors.h"

/* Buckets of a new table; the table doubles when it passes a load factor of 3/4. */
#define CKI_MEMTABLE_MIN_BUCKETS 64u

/* Embedded in each item stored in a table. Fields belong to the table while it is linked. */
typedef struct cki_memtable_node {
	struct cki_memtable_node *next;
	uint64_t hash;
	const char *key; /* borrowed; usually points into the containing item */
	size_t key_len;
} cki_memtable_node;

/* A table. Fields are private to memtable.c except count (items linked), which may be read. */
typedef struct cki_memtable {
	cki_memtable_node **buckets;
	size_t nbuckets; /* a power of two */
	size_t count;
	uint64_t sip_k0, sip_k1;
} cki_memtable;

/* SipHash-2-4 of data under the 128-bit key (k0, k1); k0 holds key bytes 0..7 little-endian. */
uint64_t cki_siphash24(uint64_t k0, uint64_t k1, const void *data, size_t len);

/*
 * Makes *t an empty table whose hash key is (k0, k1). Returns CK_OK or CK_ENOMEM (then *t
 * holds no memory and cki_memtable_fini() on it is harmless). A zero-filled table may be
 * passed to cki_memtable_fini() and cki_memtable_remove_if() (which visits nothing) but to
 * nothing else.
 */
CK_NODISCARD ck_err cki_memtable_init(cki_memtable *t, uint64_t k0, uint64_t k1);

/* Frees the bucket array (not the items; unlink or free them first) and zeroes *t. */
void cki_memtable_fini(cki_memtable *t);

/* The hash of key under this table's key; pass it to the calls below. */
uint64_t cki_memtable_hash(const cki_memtable *t, const char *key, size_t key_len);

/* Fills a node before insertion. key is borrowed and must outlive the node's membership. */
void cki_memtable_node_init(cki_memtable_node *n, const char *key, size_t key_len, uint64_t hash);

/* The node whose key equals key (hash as from cki_memtable_hash()), or NULL. */
cki_memtable_node *cki_memtable_find(const cki_memtable *t, const char *key, size_t key_len,
                                     uint64_t hash);

/*
 * Links node, whose key must not be in the table already. Grows the bucket array when the load
 * factor passes 3/4; if that allocation fails the table keeps working with longer chains (a
 * warning is logged), so insertion itself cannot fail.
 */
void cki_memtable_insert(cki_memtable *t, cki_memtable_node *node);

/* The item holding `from` was copied to one holding `to` (a moving allocator): the table
 * links to instead. to's fields are from's, except key, which points into the copy; from must
 * still be readable. */
void cki_memtable_moved(cki_memtable *t, cki_memtable_node *from, cki_memtable_node *to);

/* Unlinks node if it is in the table; otherwise does nothing. The caller still owns it. */
void cki_memtable_remove(cki_memtable *t, cki_memtable_node *node);

/*
 * Visits every node once and unlinks each one for which drop(ctx, node) returns true. drop may
 * free a node it returns true for (the table does not touch it afterwards) but must not call
 * any other function on this table.
 */
void cki_memtable_remove_if(cki_memtable *t, bool (*drop)(void *ctx, cki_memtable_node *node),
                            void *ctx);

/* ---- recency list ------------------------------------------------------------------------- */

/* The recency list is a cki_list (base/list.h): head = most recently used, tail = least; prev
 * points to more recently used. Zero-filled is empty; a link is NULL-NULL while off the list. */
typedef cki_list cki_lru;
typedef cki_list_link cki_lru_link;

/* Puts link, which must not be on a list, at the head (most recently used). */
void cki_lru_push_front(cki_lru *l, cki_lru_link *link);

/* Takes link, which must be on l, off the list and clears its pointers. */
void cki_lru_unlink(cki_lru *l, cki_lru_link *link);

/* The item holding a link on l was copied, link included, to the one holding link: its
 * neighbours (or the list's ends) point at the copy. */
void cki_lru_moved(cki_lru *l, cki_lru_link *link);

/* Moves link, which must be on l, to the head. */
void cki_lru_touch(cki_lru *l, cki_lru_link *link);

#endif
