/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The connections of the agent's ROUTER socket, learnt from libzmq's socket monitor
 * (ZMQ_EVENT_ACCEPTED / ZMQ_EVENT_DISCONNECTED, each carrying the connection's fd) on an
 * inproc PAIR the loop watches. A ROUTER drops a departed client's pipe without telling the
 * application; this is how the agent notices: when a connection closes, the per-client reply
 * queues on that fd (peerq.h) leave the table and are freed once libzmq has dropped the
 * replies it still held. Also reports the gauges peers (open connections), peer_queued_bytes
 * and peer_queues. (ZMQ_ROUTER_NOTIFY would say the same in-band, but it is a draft option
 * Debian's libzmq 4.3.4 is built without.) Loop thread only.
 */
#ifndef CKI_CONNS_H
#define CKI_CONNS_H

#include <stddef.h>
#include <stdint.h>

#include "base/loop.h"
#include "cachekit/errors.h"
#include "front/peerq.h"

typedef struct cki_conns cki_conns;

/* Monitors router (a socket of ctx) and watches the events on loop. Start it before the
 * router binds, so that no connection is missed. pq is borrowed and must outlive the
 * monitor. CK_EIO with a message in why when libzmq refuses. */
CK_NODISCARD ck_err cki_conns_start(cki_conns **out, cki_loop *loop, void *ctx, void *router,
                                    cki_peerq *pq, char *why, size_t why_cap);
/* Stops monitoring and frees; call before the router closes. Accepts NULL. */
void cki_conns_stop(cki_conns *c);
/* Connections open now (as far as the events read so far tell). */
uint64_t cki_conns_open(const cki_conns *c);

#endif
