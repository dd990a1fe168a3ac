/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One handler per request type. Turns a decoded Request into store / lock calls, applies the
 * agent's policy (key rules, value cap, deadlines, encryption intent) and builds the
 * Response. Every request gets exactly one reply.
 */
#ifndef CKI_DISPATCH_H
#define CKI_DISPATCH_H

#include "config/config.h"
#include "core/flight.h"
#include "core/l1.h"
#include "core/locks.h"
#include "core/refresh.h"
#include "core/request.h"
#include "store/store.h"

typedef struct cki_keyring cki_keyring;
typedef struct cki_dispatch cki_dispatch;

/* Every member is required except keyring (see main.c for the wiring). */
typedef struct cki_dispatch_deps {
	cki_loop *loop;
	const cki_config *cfg;
	cki_store *store;
	cki_locks *locks;
	cki_refresh *refresh;
	cki_l1 *l1;                 /* near cache (disabled when its size is 0) */
	cki_flight *flight;         /* single-flight for Gets */
	const cki_keyring *keyring; /* NULL: no master key, secure intent fails closed */
} cki_dispatch_deps;

CK_NODISCARD ck_err cki_dispatch_new(cki_dispatch **out, const cki_dispatch_deps *deps);
/* Where replies go (the front's sink, once the front exists; a recording sink in tests). */
void cki_dispatch_set_reply(cki_dispatch *d, cki_reply_sink sink);
void cki_dispatch_free(cki_dispatch *d);
/* The near-cache version table Get replies report and writes bump (NULL: none). Borrowed. */
typedef struct cki_nearver cki_nearver;
void cki_dispatch_set_nearver(cki_dispatch *d, cki_nearver *v);
/* Replaces the keyring (hot reload). Calls in flight use the new one from their next step. */
void cki_dispatch_set_keyring(cki_dispatch *d, const cki_keyring *kr);

/* A cki_request_handler: pass d as its arg. */
void cki_dispatch_handle(void *d, const cki_reply_to *to, const cki_peer *peer, cki_request *req);

/* Requests accepted and not yet answered. */
size_t cki_dispatch_inflight(const cki_dispatch *d);

#endif
