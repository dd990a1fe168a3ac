/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The client handle's insides, shared by handle.c (open, close, settings, accessors) and
 * transport.c (socket and exchange). Private to the stub library.
 */
#ifndef CKI_STUB_HANDLE_H
#define CKI_STUB_HANDLE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cachekit/stub.h"
#include "near.h"
#include "zmtp.h"

#define LAST_MESSAGE_CAP 1024

struct ck_client {
	char *endpoint;
	char *ns; /* NULL: no default namespace */
	uint32_t timeout_ms;
	uint32_t open_timeout_ms; /* what ck_client_set_timeout(c, 0) goes back to */
	void *zctx;
	void *sock;      /* libzmq DEALER, when the endpoint is not ipc:// or
	                    CACHEKIT_STUB_TRANSPORT=libzmq */
	cki_zmtp direct; /* the own connection to an ipc:// endpoint (zmtp.h), for the blocking
	                    and the asynchronous calls alike */
	bool use_direct; /* direct_addr holds the endpoint's unix address */
	struct sockaddr_un direct_addr;
	socklen_t direct_addr_len;
	int64_t direct_retry_at; /* the asynchronous API's next connect attempt (after a failure) */
	int direct_retry_ms;
	unsigned fork_gen;          /* cki_stub_fork_generation() of the process that may use
	                               zctx and sock */
	bool reset_socket;          /* a call timed out: recreate the socket before the next one */
	uint64_t next_id;           /* request id counter, seeded randomly per process */
	uint64_t dropped_stale;     /* replies whose id matched no waiting call */
	uint64_t dropped_malformed; /* frames that were not a Response */
	char last_message[LAST_MESSAGE_CAP];
	cki_near *near;          /* NULL: near cache off */
	struct cki_async *async; /* requests in flight of the asynchronous API (async.c) */
};

/* After fork(): forgets the parent's libzmq socket and context (never closes them), closes its
 * copy of the direct connection's descriptor (the parent's stays open) and reseeds the request
 * ids, so the child builds its own connection on its next call. */
void cki_client_abandon_inherited(ck_client *c);

#endif
