/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the core knows of a request's transport: who sent it (kernel credentials), where its
 * reply goes (an opaque address), and the one callback that sends a reply. The front (the
 * ZeroMQ server) fills these in and provides the callback; the core never includes the front.
 * Tests give dispatch a recording sink instead of a socket.
 */
#ifndef CKI_REQUEST_H
#define CKI_REQUEST_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cachekit/agent/v1/agent.pb-c.h"
#include "cachekit/errors.h"

typedef Cachekit__Agent__V1__Request cki_request;
typedef Cachekit__Agent__V1__Response cki_response;

/* Who sent a request, from the kernel (not from the request). */
typedef struct cki_peer {
	bool known; /* false when the transport gave no credentials */
	uid_t uid;
	gid_t gid;
	pid_t pid;
} cki_peer;

/* Where a reply goes: the transport's address of the sender (a ROUTER routing id). */
typedef struct cki_reply_to {
	uint8_t rid[256];
	uint8_t rid_len;
} cki_reply_to;

/* Sends resp to to. Must not fail loudly: a peer that left is the transport's to log. */
typedef void (*cki_reply_fn)(void *arg, const cki_reply_to *to, const cki_response *resp);

typedef struct cki_reply_sink {
	cki_reply_fn send;
	void *arg;
} cki_reply_sink;

/* Called for every accepted request. The handler takes ownership of req and frees it with
 * cki_request_free() once its reply is sent (values stay zero-copy until then). */
typedef void (*cki_request_handler)(void *arg, const cki_reply_to *to, const cki_peer *peer,
                                    cki_request *req);

/* Sends a reply with only id, status and message through sink; counts errors. */
void cki_reply_status(const cki_reply_sink *sink, const cki_reply_to *to, uint64_t id,
                      ck_err status, const char *message);

/* Decodes a Request frame into one arena: one allocation for the message, its sub-messages,
 * strings and bytes (protobuf-c alone makes one per field, and frees each). NULL when the
 * frame is not a valid Request or memory is short. */
cki_request *cki_request_unpack(const uint8_t *data, size_t len);

/* Frees a request from cki_request_unpack(). Accepts NULL. */
void cki_request_free(cki_request *req);

#endif
