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

#include "base/loop.h"
#include "config/config.h"
#include "core/request.h"

typedef struct cki_server cki_server;

/* Binds the endpoint of cfg. cfg (its typed allow lists, cfg->policy) is borrowed and must
 * outlive the server. CK_EBUSYAGENT when another agent holds the endpoint's lock
 * file; CK_EIO/CK_ECONFIG with a message in why otherwise. */
CK_NODISCARD ck_err cki_server_new(cki_server **out, cki_loop *loop, const cki_config *cfg,
                                   cki_request_handler handler, void *arg, char *why,
                                   size_t why_cap);

/* Unbinds, removes the socket file and the lock, frees. Pending replies get linger_ms to
 * leave. Accepts NULL. */
void cki_server_free(cki_server *s, int linger_ms);

/* A cki_reply_fn: pass the server as arg. Sends resp to to. Failures (peer gone, queue
 * full) are logged and dropped. */
void cki_server_reply(void *server, const cki_reply_to *to, const cki_response *resp);

/* The reply sink that sends through s, for the core. */
cki_reply_sink cki_server_sink(cki_server *s);

/* Convenience: a reply with only id, status and message. */
void cki_server_reply_status(cki_server *s, const cki_reply_to *to, uint64_t id, ck_err status,
                             const char *message);

/* While draining, new requests are answered CK_ESHUTDOWN without reaching the handler. */
void cki_server_set_draining(cki_server *s, bool draining);

/* The verified runtime directory (an O_DIRECTORY fd; -1 for a non-ipc endpoint) and the
 * socket's name inside it, for files that live beside the socket: open them through this fd,
 * never by path. Valid until cki_server_free. */
int cki_server_dir_fd(const cki_server *s);
const char *cki_server_sock_name(const cki_server *s);

/* Parses "...:uid:gid:pid" (libzmq's Peer-Address for ipc peers). false if malformed. */
bool cki_peer_parse(const char *peer_address, cki_peer *out);

/* Reads the id (field 1) from the start of an encoded Request without decoding the rest;
 * 0 when absent or malformed. */
uint64_t cki_request_peek_id(const uint8_t *buf, size_t len);

/* The socket file path of an ipc:// endpoint (points into endpoint). */
const char *cki_endpoint_path(const char *endpoint);

#endif
