/* SPDX-License-Identifier: Apache-2.0 */
/* Single-flight table: storage key -> the callers waiting on one store Get. */
#include "core/flight.h"

#include <stdlib.h>
#include <string.h>

#include "base/metrics.h"
#include "base/strmap.h"

typedef struct waiter {
	cki_store_cb cb;
	void *arg;
} waiter;

typedef struct flight {
	cki_flight *owner;
	bool detached; /* out of the table (a write overtook it); still answers its waiters */
	waiter *waiters;
	size_t n, cap;
	char key[];
} flight;

struct cki_flight {
	cki_store *store;
	cki_strmap *map;
};

ck_err
cki_flight_new(cki_flight **out, cki_store *store)
{
	cki_flight *f = calloc(1, sizeof(*f));
	if (f == NULL || (f->map = cki_strmap_new()) == NULL) {
		free(f);
		return CK_ENOMEM;
	}
	f->store = store;
	*out = f;
	return CK_OK;
}

void
cki_flight_free(cki_flight *f)
{
	if (f == NULL)
		return;
	cki_strmap_free(f->map, NULL); /* flights free themselves when the store answers */
	free(f);
}

size_t
cki_flight_count(const cki_flight *f)
{
	return cki_strmap_count(f->map);
}

static bool
add_waiter(flight *fl, cki_store_cb cb, void *arg)
{
	if (fl->n == fl->cap) {
		size_t ncap = fl->cap ? fl->cap * 2 : 4;
		waiter *nw = realloc(fl->waiters, ncap * sizeof(*nw));
		if (nw == NULL)
			return false;
		fl->waiters = nw;
		fl->cap = ncap;
	}
	fl->waiters[fl->n++] = (waiter){cb, arg};
	return true;
}

static void
on_store_reply(void *arg, const cki_store_reply *r)
{
	flight *fl = arg;
	/* Out of the table first: a waiter's callback may start a new Get of the same key. */
	if (!fl->detached)
		cki_strmap_del(fl->owner->map, fl->key);
	for (size_t i = 0; i < fl->n; i++)
		fl->waiters[i].cb(fl->waiters[i].arg, r);
	free(fl->waiters);
	free(fl);
}

void
cki_flight_get(cki_flight *f, const char *key, uint64_t deadline, cki_store_cb cb, void *arg)
{
	flight *fl = cki_strmap_get(f->map, key);
	if (fl != NULL && add_waiter(fl, cb, arg)) {
		cki_metrics_inc(CKI_C_FLIGHT_COALESCED);
		return;
	}
	size_t len = strlen(key);
	fl = calloc(1, sizeof(*fl) + len + 1);
	bool ok = false;
	if (fl != NULL && add_waiter(fl, cb, arg)) {
		memcpy(fl->key, key, len + 1);
		fl->owner = f;
		cki_strmap_put(f->map, key, fl, &ok);
	}
	if (!ok) {
		if (fl != NULL)
			free(fl->waiters);
		free(fl);
		/* No table entry (out of memory): go to the store alone. */
		f->store->ops->get(f->store, key, deadline, cb, arg);
		return;
	}
	f->store->ops->get(f->store, key, deadline, on_store_reply, fl);
}

void
cki_flight_forget(cki_flight *f, const char *key)
{
	flight *fl = cki_strmap_del(f->map, key);
	if (fl != NULL)
		fl->detached = true;
}
