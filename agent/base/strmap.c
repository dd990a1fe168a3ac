/* SPDX-License-Identifier: Apache-2.0 */
/* A string -> pointer map on the shared hash table (memtable.c: SipHash with a per-map random
 * key, so clients cannot pick keys that all land in one bucket). */
#include "base/strmap.h"

#include <stdlib.h>
#include <string.h>

#include "base/memtable.h"
#include "base/random.h"

typedef struct node {
	cki_memtable_node link;
	void *value;
	char key[];
} node;

struct cki_strmap {
	cki_memtable table;
};

cki_strmap *
cki_strmap_new(void)
{
	uint64_t seed[2] = {(uint64_t)(uintptr_t)&seed, 0x9e3779b97f4a7c15u};
	cki_strmap *m = calloc(1, sizeof(*m));
	if (m == NULL)
		return NULL;
	seed[0] ^= cki_random_u64();
	seed[1] ^= cki_random_u64();
	if (cki_memtable_init(&m->table, seed[0], seed[1]) != CK_OK) {
		free(m);
		return NULL;
	}
	return m;
}

typedef struct free_ctx {
	void (*free_value)(void *);
} free_ctx;

static bool
drop_all(void *ctx, cki_memtable_node *link)
{
	node *n = (node *)link;
	free_ctx *fc = ctx;
	if (fc->free_value)
		fc->free_value(n->value);
	free(n);
	return true;
}

void
cki_strmap_free(cki_strmap *m, void (*free_value)(void *))
{
	if (m == NULL)
		return;
	free_ctx fc = {free_value};
	cki_memtable_remove_if(&m->table, drop_all, &fc);
	cki_memtable_fini(&m->table);
	free(m);
}

static node *
find(const cki_strmap *m, const char *key, size_t len, uint64_t *hash)
{
	*hash = cki_memtable_hash(&m->table, key, len);
	return (node *)cki_memtable_find(&m->table, key, len, *hash);
}

void *
cki_strmap_get(const cki_strmap *m, const char *key)
{
	uint64_t h;
	node *n = find(m, key, strlen(key), &h);
	return n ? n->value : NULL;
}

void *
cki_strmap_put(cki_strmap *m, const char *key, void *value, bool *ok)
{
	size_t len = strlen(key);
	uint64_t h;
	node *n = find(m, key, len, &h);
	*ok = true;
	if (n != NULL) {
		void *old = n->value;
		n->value = value;
		return old;
	}
	n = malloc(sizeof(*n) + len + 1);
	if (n == NULL) {
		*ok = false;
		return NULL;
	}
	memcpy(n->key, key, len + 1);
	n->value = value;
	cki_memtable_node_init(&n->link, n->key, len, h);
	cki_memtable_insert(&m->table, &n->link);
	return NULL;
}

void *
cki_strmap_del(cki_strmap *m, const char *key)
{
	uint64_t h;
	node *n = find(m, key, strlen(key), &h);
	if (n == NULL)
		return NULL;
	cki_memtable_remove(&m->table, &n->link);
	void *v = n->value;
	free(n);
	return v;
}

size_t
cki_strmap_count(const cki_strmap *m)
{
	return m->table.count;
}

typedef struct sweep_ctx {
	bool (*fn)(void *ctx, const char *key, void *value);
	void *ctx;
} sweep_ctx;

static bool
sweep_node(void *ctx, cki_memtable_node *link)
{
	sweep_ctx *sc = ctx;
	node *n = (node *)link;
	if (!sc->fn(sc->ctx, n->key, n->value))
		return false;
	free(n);
	return true;
}

void
cki_strmap_sweep(cki_strmap *m, bool (*fn)(void *ctx, const char *key, void *value), void *ctx)
{
	sweep_ctx sc = {fn, ctx};
	cki_memtable_remove_if(&m->table, sweep_node, &sc);
}
