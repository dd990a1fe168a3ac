/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ck-fakeapi store: the cache entries (bytes + fresh_until/evict_at in whole seconds of the
 * server clock) and the lock leases (uuid v4 id + expiry in ms), each in a chained hash table
 * keyed by the decoded cache key. Expired items are dropped lazily when touched or counted.
 */
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

#include <openssl/rand.h>
#include <uuid/uuid.h>

#include "fakeapi.h"

struct node {
	char *key;
	struct node *next;
	struct fa_entry entry;  /* entries table */
	char lock_id[37];       /* locks table */
	int64_t lock_expiry_ms; /* locks table */
};

struct table {
	struct node **slots;
	size_t nslots;
	size_t count;
};

static struct table entries;
static struct table locks;

static uint64_t
hash_key(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

static void
node_free(struct node *n)
{
	if (n == NULL) {
		return;
	}
	free(n->key);
	free(n->entry.value);
	free(n);
}

static void
table_clear(struct table *t)
{
	for (size_t i = 0; i < t->nslots; i++) {
		struct node *n = t->slots[i];
		while (n != NULL) {
			struct node *next = n->next;
			node_free(n);
			n = next;
		}
	}
	free(t->slots);
	memset(t, 0, sizeof(*t));
}

static int
table_grow(struct table *t)
{
	size_t nslots = t->nslots ? t->nslots * 2 : 1024;
	struct node **slots = calloc(nslots, sizeof(*slots));
	if (slots == NULL) {
		return -1;
	}
	for (size_t i = 0; i < t->nslots; i++) {
		struct node *n = t->slots[i];
		while (n != NULL) {
			struct node *next = n->next;
			size_t s = hash_key(n->key) & (nslots - 1);
			n->next = slots[s];
			slots[s] = n;
			n = next;
		}
	}
	free(t->slots);
	t->slots = slots;
	t->nslots = nslots;
	return 0;
}

/* Find the link that points at `key`'s node (or at the NULL terminating its chain). */
static struct node **
table_link(struct table *t, const char *key)
{
	if (t->nslots == 0 && table_grow(t) != 0) {
		return NULL;
	}
	struct node **link = &t->slots[hash_key(key) & (t->nslots - 1)];
	while (*link != NULL && strcmp((*link)->key, key) != 0) {
		link = &(*link)->next;
	}
	return link;
}

static void
table_unlink(struct table *t, struct node **link)
{
	struct node *n = *link;
	*link = n->next;
	node_free(n);
	t->count--;
}

static struct node *
table_insert(struct table *t, const char *key)
{
	if (t->count + 1 > t->nslots && table_grow(t) != 0) {
		return NULL;
	}
	struct node **link = table_link(t, key);
	if (link == NULL) {
		return NULL;
	}
	if (*link != NULL) {
		return *link;
	}
	struct node *n = calloc(1, sizeof(*n));
	if (n == NULL || (n->key = strdup(key)) == NULL) {
		free(n);
		return NULL;
	}
	*link = n;
	t->count++;
	return n;
}

static int
entry_live(const struct fa_entry *e, int64_t now_ms)
{
	return !e->has_ttl || now_ms < e->evict_at * 1000;
}

static int
lock_live(const struct node *n, int64_t now_ms)
{
	return now_ms < n->lock_expiry_ms;
}

void
cki_store_init(void)
{
	memset(&entries, 0, sizeof(entries));
	memset(&locks, 0, sizeof(locks));
}

void
cki_store_clear(void)
{
	table_clear(&entries);
	table_clear(&locks);
}

struct fa_entry *
cki_store_get(const char *key)
{
	struct node **link = table_link(&entries, key);
	if (link == NULL || *link == NULL) {
		return NULL;
	}
	if (!entry_live(&(*link)->entry, cki_now_ms())) {
		table_unlink(&entries, link);
		return NULL;
	}
	return &(*link)->entry;
}

int
cki_store_put(const char *key, const unsigned char *value, size_t len, int has_ttl,
              int64_t fresh_until, int64_t evict_at)
{
	unsigned char *copy = malloc(len ? len : 1);
	if (copy == NULL) {
		return -1;
	}
	if (len) {
		memcpy(copy, value, len);
	}
	struct node *n = table_insert(&entries, key);
	if (n == NULL) {
		free(copy);
		return -1;
	}
	free(n->entry.value);
	n->entry.value = copy;
	n->entry.len = len;
	n->entry.has_ttl = has_ttl;
	n->entry.fresh_until = fresh_until;
	n->entry.evict_at = evict_at;
	return 0;
}

int
cki_store_delete(const char *key)
{
	struct node **link = table_link(&entries, key);
	if (link == NULL || *link == NULL) {
		return 0;
	}
	int live = entry_live(&(*link)->entry, cki_now_ms());
	table_unlink(&entries, link);
	return live;
}

/* Count live items, dropping the dead ones on the way. */
static size_t
table_count_live(struct table *t, int is_lock)
{
	int64_t now = cki_now_ms();
	size_t live = 0;
	for (size_t i = 0; i < t->nslots; i++) {
		struct node **link = &t->slots[i];
		while (*link != NULL) {
			int ok = is_lock ? lock_live(*link, now) : entry_live(&(*link)->entry, now);
			if (ok) {
				live++;
				link = &(*link)->next;
			} else {
				table_unlink(t, link);
			}
		}
	}
	return live;
}

size_t
cki_store_count(void)
{
	return table_count_live(&entries, 0);
}

size_t
cki_lock_count(void)
{
	return table_count_live(&locks, 1);
}

static int
uuid_v4(char out[37])
{
	uuid_t b;
	if (RAND_bytes(b, sizeof(b)) != 1) {
		return -1;
	}
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	uuid_unparse_lower(b, out); /* libuuid writes the text, as in the agent */
	return 0;
}

int
cki_lock_acquire(const char *key, uint64_t lease_ms, char id_out[37])
{
	int64_t now = cki_now_ms();
	struct node **link = table_link(&locks, key);
	if (link == NULL) {
		return -1;
	}
	if (*link != NULL && lock_live(*link, now)) {
		return 0;
	}
	struct node *n = table_insert(&locks, key);
	if (n == NULL || uuid_v4(n->lock_id) != 0) {
		return -1;
	}
	n->lock_expiry_ms = now + (int64_t)lease_ms;
	memcpy(id_out, n->lock_id, 37);
	return 1;
}

int
cki_lock_release(const char *key, const char *id)
{
	struct node **link = table_link(&locks, key);
	if (link == NULL || *link == NULL) {
		return 0;
	}
	if (!lock_live(*link, cki_now_ms())) {
		table_unlink(&locks, link);
		return 0;
	}
	if (strcmp((*link)->lock_id, id) != 0) {
		return 0;
	}
	table_unlink(&locks, link);
	return 1;
}
