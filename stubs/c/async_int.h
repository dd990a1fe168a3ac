/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to libcachekit-stub: what async.c (the request table, deadlines and
 * ck_client_process) offers the files holding the asynchronous submit calls (async_ops.c;
 * batch.c uses cki_async_submit_batch from stub_internal.h). Not thread-safe, like the client.
 */
#ifndef CKI_STUB_ASYNC_INT_H
#define CKI_STUB_ASYNC_INT_H

#include "cachekit/async.h"
#include "requests.h"

/* Sends the built request r and tracks it; cb runs once from ck_client_process(). With nk,
 * a get's answer is kept in the near cache under nk. Nothing submitted unless CK_OK. */
CK_NODISCARD ck_err cki_async_submit_req(ck_client *c, cki_req *r, const cki_near_key *nk,
                                         ck_callback cb, void *arg);

/* Queues a near-cache hit (owned from now on, freed on failure) to complete at the next
 * ck_client_process(). CK_ENOMEM. */
CK_NODISCARD ck_err cki_async_ready_hit(ck_client *c, ck_value *hit, ck_callback cb, void *arg);

#endif
