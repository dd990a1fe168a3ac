/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The embedded store's index structures (see memtable.h): SipHash-2-4, a chained hash table of
 * intrusive nodes that doubles its bucket array at a load factor of 3/4, and an intrusive
 * doubly linked LRU list. Nothing here knows about values, TTLs or memory accounting; that is
 * store_memory.c's job.
 */
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/memtable.h"

/* ---- SipHash-2-4 -------------------------------------------------------------------------- */

static inline uint64_t
rotl64(uint64_t x, int b)
{
	return (x << b) | (x >> (64 - b));
}

#define SIPROUND(v0, v1, v2, v3)     \
	do {                         \
		v0 += v1;            \
		v1 = rotl64(v1, 13); \
		v1 ^= v0;            \
		v0 = rotl64(v0, 32); \
		v2 += v3;            \
		v3 = rotl64(v3, 16); \
		v3 ^= v2;            \
		v0 += v3;            \
		v3 = rotl64(v3, 21); \
		v3 ^= v0;            \
		v2 += v1;            \
		v1 = rotl64(v1, 17); \
		v1 ^= v2;            \
		v2 = rotl64(v2, 32); \
	} while (0)

uint64_t
cki_siphash24(uint64_t k0, uint64_t k1, const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t v0 = k0 ^ 0x736f6d6570736575ULL;
	uint64_t v1 = k1 ^ 0x646f72616e646f6dULL;
	uint64_t v2 = k0 ^ 0x6c7967656e657261ULL;
	uint64_t v3 = k1 ^ 0x7465646279746573ULL;
	uint64_t m;
	size_t i, left = len;

	for (; left >= 8; left -= 8, p += 8) {
		m = 0;
		for (i = 0; i < 8; i++)
			m |= (uint64_t)p[i] << (8 * i);
		v3 ^= m;
		SIPROUND(v0, v1, v2, v3);
		SIPROUND(v0, v1, v2, v3);
		v0 ^= m;
	}
	m = (uint64_t)(len & 0xff) << 56;
	for (i = 0; i < left; i++)
		m |= (uint64_t)p[i] << (8 * i);
	v3 ^= m;
	SIPROUND(v0, v1, v2, v3);
	SIPROUND(v0, v1, v2, v3);
	v0 ^= m;
	v2 ^= 0xff;
	for (i = 0; i < 4; i++)
		SIPROUND(v0, v1, v2, v3);
	return v0 ^ v1 ^ v2 ^ v3;
}

/* ---- the hash table ----------------------------------------------------------------------- */

ck_err
cki_memtable_init(cki_memtable *t, uint64_t k0, uint64_t k1)
{
	memset(t, 0, sizeof(*t));
	t->buckets = calloc(CKI_MEMTABLE_MIN_BUCKETS, sizeof(*t->buckets));
	if (t->buckets == NULL)
		return CK_ENOMEM;
	t->nbuckets = CKI_MEMTABLE_MIN_BUCKETS;
	t->sip_k0 = k0;
	t->sip_k1 = k1;
	return CK_OK;
}

void
cki_memtable_fini(cki_memtable *t)
{
	free(t->buckets);
	memset(t, 0, sizeof(*t));
}

uint64_t
cki_memtable_hash(const cki_memtable *t, const char *key, size_t key_len)
{
	return cki_siphash24(t->sip_k0, t->sip_k1, key, key_len);
}

void
cki_memtable_node_init(cki_memtable_node *n, const char *key, size_t key_len, uint64_t hash)
{
	n->next = NULL;
	n->hash = hash;
	n->key = key;
	n->key_len = key_len;
}

/* The link that points at the node for key, or the NULL link ending its chain. */
static cki_memtable_node **
slot(const cki_memtable *t, const char *key, size_t key_len, uint64_t hash)
{
	cki_memtable_node **pp = &t->buckets[hash & (t->nbuckets - 1)];

	for (; *pp != NULL; pp = &(*pp)->next) {
		cki_memtable_node *n = *pp;
		if (n->hash == hash && n->key_len == key_len && memcmp(n->key, key, key_len) == 0)
			break;
	}
	return pp;
}

cki_memtable_node *
cki_memtable_find(const cki_memtable *t, const char *key, size_t key_len, uint64_t hash)
{
	return *slot(t, key, key_len, hash);
}

/* Doubles the bucket array. On allocation failure the table keeps working with longer chains. */
static void
grow(cki_memtable *t)
{
	size_t n = t->nbuckets * 2, i;
	cki_memtable_node **nb;

	if (n > SIZE_MAX / sizeof(*nb))
		return;
	nb = calloc(n, sizeof(*nb));
	if (nb == NULL) {
		cki_log_warn("store memory: cannot grow hash table to %zu buckets", n);
		return;
	}
	for (i = 0; i < t->nbuckets; i++) {
		cki_memtable_node *node = t->buckets[i], *next;
		for (; node != NULL; node = next) {
			next = node->next;
			node->next = nb[node->hash & (n - 1)];
			nb[node->hash & (n - 1)] = node;
		}
	}
	free(t->buckets);
	t->buckets = nb;
	t->nbuckets = n;
}

void
cki_memtable_insert(cki_memtable *t, cki_memtable_node *node)
{
	cki_memtable_node **head;

	if ((t->count + 1) * 4 > t->nbuckets * 3)
		grow(t);
	head = &t->buckets[node->hash & (t->nbuckets - 1)];
	node->next = *head;
	*head = node;
	t->count++;
}

void
cki_memtable_remove(cki_memtable *t, cki_memtable_node *node)
{
	cki_memtable_node **pp = slot(t, node->key, node->key_len, node->hash);

	if (*pp == node) {
		*pp = node->next;
		t->count--;
	}
}

void
cki_memtable_moved(cki_memtable *t, cki_memtable_node *from, cki_memtable_node *to)
{
	cki_memtable_node **pp = slot(t, from->key, from->key_len, from->hash);

	if (*pp == from)
		*pp = to;
}

void
cki_memtable_remove_if(cki_memtable *t, bool (*drop)(void *ctx, cki_memtable_node *node), void *ctx)
{
	size_t i;

	for (i = 0; i < t->nbuckets; i++) {
		cki_memtable_node **pp = &t->buckets[i];
		while (*pp != NULL) {
			cki_memtable_node *n = *pp;
			/* Read the successor first: drop may free n. */
			cki_memtable_node *next = n->next;
			if (drop(ctx, n)) {
				*pp = next;
				t->count--;
			} else {
				pp = &n->next;
			}
		}
	}
}

/* ---- the LRU list ------------------------------------------------------------------------- */

void
cki_lru_unlink(cki_lru *l, cki_lru_link *link)
{
	cki_list_remove(l, link);
}

void
cki_lru_moved(cki_lru *l, cki_lru_link *link)
{
	if (link->prev != NULL)
		link->prev->next = link;
	else
		l->head = link;
	if (link->next != NULL)
		link->next->prev = link;
	else
		l->tail = link;
}

void
cki_lru_push_front(cki_lru *l, cki_lru_link *link)
{
	link->prev = NULL;
	link->next = l->head;
	if (l->head != NULL)
		l->head->prev = link;
	else
		l->tail = link;
	l->head = link;
	l->n++;
}

void
cki_lru_touch(cki_lru *l, cki_lru_link *link)
{
	if (l->head != link) {
		cki_lru_unlink(l, link);
		cki_lru_push_front(l, link);
	}
}
