/* SPDX-License-Identifier: Apache-2.0 */
/* Near cache: strmap for lookup + the shared LRU list (memtable.h), byte-bounded. */
#include "core/l1.h"

#include <stdlib.h>
#include <string.h>

#include "base/loop.h"
#include "base/memtable.h"
#include "base/strmap.h"

#define ENTRY_OVERHEAD 96 /* node + list links + map slot, roughly */

typedef struct l1_entry {
	cki_lru_link lru; /* first member: a link is its entry */
	uint64_t expires;
	uint64_t fresh_until; /* 0: no bound reported */
	size_t len;
	size_t cost;
	char *key;
	uint8_t value[];
} l1_entry;

struct cki_l1 {
	cki_strmap *map;
	cki_lru lru;
	uint64_t bytes, max_bytes;
	uint32_t ttl_ms;
};

ck_err
cki_l1_new(cki_l1 **out, uint64_t max_bytes, uint32_t ttl_ms)
{
	cki_l1 *l1 = calloc(1, sizeof(*l1));
	if (l1 == NULL || (l1->map = cki_strmap_new()) == NULL) {
		free(l1);
		return CK_ENOMEM;
	}
	l1->max_bytes = max_bytes;
	l1->ttl_ms = ttl_ms;
	*out = l1;
	return CK_OK;
}

static void
drop(cki_l1 *l1, l1_entry *e)
{
	cki_lru_unlink(&l1->lru, &e->lru);
	cki_strmap_del(l1->map, e->key);
	l1->bytes -= e->cost;
	free(e->key);
	free(e);
}

void
cki_l1_free(cki_l1 *l1)
{
	if (l1 == NULL)
		return;
	while (l1->lru.head)
		drop(l1, (l1_entry *)l1->lru.head);
	cki_strmap_free(l1->map, NULL);
	free(l1);
}

bool
cki_l1_get(cki_l1 *l1, const char *key, cki_store_reply *r)
{
	if (l1->max_bytes == 0)
		return false;
	l1_entry *e = cki_strmap_get(l1->map, key);
	if (e == NULL)
		return false;
	uint64_t now = cki_now_ms();
	if (now >= e->expires) {
		drop(l1, e);
		return false;
	}
	cki_lru_touch(&l1->lru, &e->lru);
	cki_store_reply_init(r);
	r->found = true;
	r->value = e->value;
	r->value_len = e->len;
	bool stale = e->fresh_until != 0 && now >= e->fresh_until;
	r->freshness = stale ? CKI_STALE : CKI_FRESH;
	r->fresh_for_ms = e->fresh_until ? (stale ? 0 : (int64_t)(e->fresh_until - now)) : -1;
	return true;
}

void
cki_l1_keep(cki_l1 *l1, const char *key, const uint8_t *value, size_t len, uint64_t fresh_until,
            uint64_t keep_until)
{
	if (l1->max_bytes == 0)
		return;
	cki_l1_forget(l1, key);
	size_t cost = len + strlen(key) + ENTRY_OVERHEAD;
	if (cost > l1->max_bytes / 4)
		return; /* one value must not flush the whole cache */
	while (l1->lru.tail && l1->bytes + cost > l1->max_bytes)
		drop(l1, (l1_entry *)l1->lru.tail);
	l1_entry *e = malloc(sizeof(*e) + len);
	if (e == NULL)
		return;
	e->key = strdup(key);
	bool ok = false;
	if (e->key != NULL)
		cki_strmap_put(l1->map, key, e, &ok);
	if (!ok) {
		free(e->key);
		free(e);
		return;
	}
	if (len > 0)
		memcpy(e->value, value, len);
	e->len = len;
	e->cost = cost;
	e->expires = keep_until;
	e->fresh_until = fresh_until;
	e->lru = (cki_lru_link){0};
	cki_lru_push_front(&l1->lru, &e->lru);
	l1->bytes += cost;
}

void
cki_l1_put(cki_l1 *l1, const char *key, const cki_store_reply *r)
{
	if (l1->max_bytes == 0 || r->err != CK_OK || !r->found || r->freshness == CKI_STALE ||
	    r->fresh_for_ms == 0)
		return;
	uint64_t now = cki_now_ms();
	uint64_t expires = now + l1->ttl_ms, fresh_until = 0;
	if (r->fresh_for_ms > 0) {
		fresh_until = now + (uint64_t)r->fresh_for_ms;
		if (fresh_until < expires)
			expires = fresh_until;
	}
	cki_l1_keep(l1, key, r->value, r->value_len, fresh_until, expires);
}

bool
cki_l1_holds(cki_l1 *l1, const char *key, const uint8_t *value, size_t len)
{
	l1_entry *e = cki_strmap_get(l1->map, key);
	return e != NULL && cki_now_ms() < e->expires && e->len == len &&
	       (len == 0 || memcmp(e->value, value, len) == 0);
}

void
cki_l1_forget(cki_l1 *l1, const char *key)
{
	l1_entry *e = cki_strmap_get(l1->map, key);
	if (e != NULL)
		drop(l1, e);
}

uint64_t
cki_l1_bytes(const cki_l1 *l1)
{
	return l1->bytes;
}

size_t
cki_l1_count(const cki_l1 *l1)
{
	return cki_strmap_count(l1->map);
}
