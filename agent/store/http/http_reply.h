/* SPDX-License-Identifier: Apache-2.0 */
/*
 * From a finished API request to a cki_store_reply: the status and body of each route mapped
 * to what the store interface promises (store_http.h lists the table). Pure: no I/O, no
 * state, so every row is unit-tested without a server. Thread-safe.
 */
#ifndef CKI_HTTP_REPLY_H
#define CKI_HTTP_REPLY_H

#include "store/http/http_response.h"
#include "store/http/http_transport.h"
#include "store/store.h"

/* The store operations, one per route and method. */
typedef enum cki_http_op {
	CKI_OP_GET,
	CKI_OP_EXISTS,
	CKI_OP_PUT,
	CKI_OP_DEL,
	CKI_OP_GET_TTL,
	CKI_OP_TOUCH,
	CKI_OP_LOCK,
	CKI_OP_UNLOCK,
	CKI_OP_HEALTH,
} cki_http_op;

/* Room for the strings a reply borrows (lock id, health version, error message). */
typedef struct cki_http_reply_bufs {
	char lock_id[CKI_HTTP_LOCK_ID_MAX + 1];
	char version[CKI_HTTP_VERSION_MAX + 1];
	char message[96];
} cki_http_reply_bufs;

/* Fills rep (initialised here) from res for an operation of kind op. Pointers in rep point
 * into res and bufs: valid while both are. */
void cki_http_reply_map(cki_http_op op, const cki_http_result *res, cki_store_reply *rep,
                        cki_http_reply_bufs *bufs);

/* Fills rep for an operation that failed without a response (err, message why). */
void cki_http_reply_fail(cki_http_op op, ck_err err, const char *why, cki_store_reply *rep);

#endif
