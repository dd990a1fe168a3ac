/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Drives a hiredis async context from the agent's reactor (base/loop.h): hiredis asks for
 * read/write interest through its ev hooks and we translate that into one fd watch. No
 * threads, no timers of its own (deadlines belong to the store).
 */
#ifndef CKI_REDIS_ADAPTER_H
#define CKI_REDIS_ADAPTER_H

#include <hiredis/async.h>

#include "base/loop.h"
#include "cachekit/errors.h"

/* Attaches ac to loop. On success hiredis owns the adapter state (freed by its cleanup hook,
 * i.e. when ac is freed). CK_ENOMEM or CK_EINTERNAL on failure (ac is left unattached). */
CK_NODISCARD ck_err cki_redis_attach(redisAsyncContext *ac, cki_loop *loop);

#endif
