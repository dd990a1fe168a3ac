/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The answers of one batch request (MultiGet, MultiSet) while its items complete in any order:
 * each item's Response is copied as it arrives (the handler's buffers do not outlive its
 * reply), and once all are in, one Response carrying them in request order is sent.
 */
#ifndef CKI_BATCH_H
#define CKI_BATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "core/request.h"

typedef struct cki_batch cki_batch;

/* The largest batch accepted. */
#define CKI_BATCH_MAX 1000

/* n items; NULL when out of memory. */
cki_batch *cki_batch_new(size_t n);

/* Records item i's Response (copied; its id is ignored). Out of memory records CK_ENOMEM. */
void cki_batch_put(cki_batch *b, size_t i, const cki_response *item);

/* Sends the batch's Response (status 0, result multi_get or multi_set, items in order, id) to
 * `to`, then frees b. Items never put are reported as CK_EINTERNAL. */
void cki_batch_send(cki_batch *b, const cki_reply_sink *sink, const cki_reply_to *to, uint64_t id,
                    bool is_get);

#endif
