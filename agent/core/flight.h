/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Single-flight for reads: while a Get of a key is on its way to the store, further Gets of
 * the same key from any process join it instead of sending their own request, and every
 * caller gets the one answer. Turns a stampede of N misses into one upstream request.
 */
#ifndef CKI_FLIGHT_H
#define CKI_FLIGHT_H

#include "store/store.h"

typedef struct cki_flight cki_flight;

CK_NODISCARD ck_err cki_flight_new(cki_flight **out, cki_store *store);
/* Frees the table. The store must be destroyed first (its callbacks complete every flight).
 * Accepts NULL. */
void cki_flight_free(cki_flight *f);

/* Gets key from the store, or joins the Get already in flight. cb runs exactly once with the
 * store's reply (possibly before this returns). A joiner inherits the first caller's
 * deadline. */
void cki_flight_get(cki_flight *f, const char *key, uint64_t deadline, cki_store_cb cb, void *arg);

/* Takes key's flight (if any) out of the table: its waiters still get its reply, but later
 * Gets start a new store read. Called when a write to key completes, so no Get that begins
 * after the write can join a read that began before it. */
void cki_flight_forget(cki_flight *f, const char *key);
/* Flights in progress. */
size_t cki_flight_count(const cki_flight *f);

#endif
