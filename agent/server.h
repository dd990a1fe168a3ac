/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's front door: a ZeroMQ ROUTER bound to an ipc:// endpoint. It owns the socket
 * directory and the lock file that keeps a second agent off the same endpoint, checks every
 * message's peer credentials (SO_PEERCRED, which libzmq exposes as the Peer-Address
 * property) against the allow lists, refuses oversized and malformed frames with a clear
 * status, and hands decoded requests to a handler. Replies go back by routing id.
 */
#ifndef CKI_SERVER_H
#define CKI_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cachekit/agent/v1/agent.pb-c.h"
#include "config.h"
#include "loop.h"

typedef Cachekit__Agent__V1__Request cki_request;
typedef Cachekit__Agent__V1__Response cki_response;

typedef struct cki_server cki_server;

/* Who sent a request, from the kernel (not from the request). */
typedef struct cki_peer {
	bool known; /* false when the transport gave no credentials */
	uid_t uid;
	gid_t gid;
	pid_t pid;
} cki_peer;

/* Where a reply goes: the ROUTER routing id of the sender. */
typedef struct cki_reply_to {
	uint8_t rid[256];
	uint8_t rid_len;
} cki_reply_to;

/* Called for every accepted request. The handler takes ownership of req and frees it with
 * cki_request_free() once its reply is sent (values stay zero-copy until then). */
typedef void (*cki_request_handler)(void *arg, const cki_reply_to *to, const cki_peer *peer,
                                    cki_request *req);

/* Binds the endpoint of cfg. CK_EBUSYAGENT when another agent holds the endpoint's lock
 * file; CK_EIO/CK_ECONFIG with a message in why otherwise. */
CK_NODISCARD ck_err cki_server_new(cki_server **out, cki_loop *loop, const cki_config *cfg,
                                   cki_request_handler handler, void *arg, char *why,
                                   size_t why_cap);

/* Unbinds, removes the socket file and the lock, frees. Pending replies get linger_ms to
 * leave. Accepts NULL. */
void cki_server_free(cki_server *s, int linger_ms);

/* Sends resp to to. Failures (peer gone, queue full) are logged and dropped. */
void cki_server_reply(cki_server *s, const cki_reply_to *to, const cki_response *resp);

/* Convenience: a reply with only id, status and message. */
void cki_server_reply_status(cki_server *s, const cki_reply_to *to, uint64_t id, ck_err status,
                             const char *message);

/* While draining, new requests are answered CK_ESHUTDOWN without reaching the handler. */
void cki_server_set_draining(cki_server *s, bool draining);

void cki_request_free(cki_request *req);

/* Parses "...:uid:gid:pid" (libzmq's Peer-Address for ipc peers). false if malformed. */
bool cki_peer_parse(const char *peer_address, cki_peer *out);

/* Reads the id (field 1) from the start of an encoded Request without decoding the rest;
 * 0 when absent or malformed. */
uint64_t cki_request_peek_id(const uint8_t *buf, size_t len);

/* The socket file path of an ipc:// endpoint (points into endpoint). */
const char *cki_endpoint_path(const char *endpoint);

#endif
