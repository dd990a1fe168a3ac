/* SPDX-License-Identifier: Apache-2.0 */
/* Chained hash map keyed by NUL-terminated strings, FNV-1a with a per-map random seed so
 * clients cannot pick keys that all land in one bucket. */
#include "strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

typedef struct node {
	struct node *next;
	uint64_t hash;
	void *value;
	char key[];
} node;

struct cki_strmap {
	node **buckets;
	size_t nbuckets; /* power of two */
	size_t count;
	uint64_t seed;
};

static uint64_t
hash_key(const cki_strmap *m, const char *key)
{
	uint64_t h = 1469598103934665603ull ^ m->seed;
	for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
		h ^= *p;
		h *= 1099511628211ull;
	}
	h ^= h >> 33; /* FNV's low bits are weak; mix before masking */
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h;
}

cki_strmap *
cki_strmap_new(void)
{
	cki_strmap *m = calloc(1, sizeof(*m));
	if (m == NULL)
		return NULL;
	m->nbuckets = 16;
	m->buckets = calloc(m->nbuckets, sizeof(*m->buckets));
	if (m->buckets == NULL) {
		free(m);
		return NULL;
	}
	if (getrandom(&m->seed, sizeof(m->seed), GRND_NONBLOCK) != sizeof(m->seed))
		m->seed = (uint64_t)(uintptr_t)m;
	return m;
}

void
cki_strmap_free(cki_strmap *m, void (*free_value)(void *))
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->nbuckets; i++) {
		for (node *n = m->buckets[i], *next; n != NULL; n = next) {
			next = n->next;
			if (free_value)
				free_value(n->value);
			free(n);
		}
	}
	free(m->buckets);
	free(m);
}

static node **
find_slot(const cki_strmap *m, const char *key, uint64_t h)
{
	node **pp = &m->buckets[h & (m->nbuckets - 1)];
	while (*pp != NULL && ((*pp)->hash != h || strcmp((*pp)->key, key) != 0))
		pp = &(*pp)->next;
	return pp;
}

void *
cki_strmap_get(const cki_strmap *m, const char *key)
{
	node *n = *find_slot(m, key, hash_key(m, key));
	return n ? n->value : NULL;
}

static void
grow(cki_strmap *m)
{
	size_t nb = m->nbuckets * 2;
	node **b = calloc(nb, sizeof(*b));
	if (b == NULL)
		return; /* stay at the current size: slower, still correct */
	for (size_t i = 0; i < m->nbuckets; i++) {
		for (node *n = m->buckets[i], *next; n != NULL; n = next) {
			next = n->next;
			n->next = b[n->hash & (nb - 1)];
			b[n->hash & (nb - 1)] = n;
		}
	}
	free(m->buckets);
	m->buckets = b;
	m->nbuckets = nb;
}

void *
cki_strmap_put(cki_strmap *m, const char *key, void *value, bool *ok)
{
	uint64_t h = hash_key(m, key);
	node **pp = find_slot(m, key, h);
	*ok = true;
	if (*pp != NULL) {
		void *old = (*pp)->value;
		(*pp)->value = value;
		return old;
	}
	size_t len = strlen(key);
	node *n = malloc(sizeof(*n) + len + 1);
	if (n == NULL) {
		*ok = false;
		return NULL;
	}
	memcpy(n->key, key, len + 1);
	n->hash = h;
	n->value = value;
	n->next = NULL;
	*pp = n;
	if (++m->count > m->nbuckets)
		grow(m);
	return NULL;
}

void *
cki_strmap_del(cki_strmap *m, const char *key)
{
	node **pp = find_slot(m, key, hash_key(m, key));
	node *n = *pp;
	if (n == NULL)
		return NULL;
	*pp = n->next;
	void *v = n->value;
	free(n);
	m->count--;
	return v;
}

size_t
cki_strmap_count(const cki_strmap *m)
{
	return m->count;
}

void
cki_strmap_sweep(cki_strmap *m, bool (*fn)(void *ctx, const char *key, void *value), void *ctx)
{
	for (size_t i = 0; i < m->nbuckets; i++) {
		node **pp = &m->buckets[i];
		while (*pp != NULL) {
			node *n = *pp;
			if (fn(ctx, n->key, n->value)) {
				*pp = n->next;
				free(n);
				m->count--;
			} else {
				pp = &n->next;
			}
		}
	}
}
