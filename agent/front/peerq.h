/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Bytes of replies queued to each client (by ZeroMQ routing id) and not yet taken by the
 * client. A reply's buffer carries its charge; libzmq calls cki_peerq_release() when it is
 * done with the buffer (written to the client's socket, or dropped because the client went
 * away), possibly from its I/O thread, so the counters are atomics. Everything else (the
 * table, charging, forgetting a client that left) runs on the loop thread. Each entry knows
 * the connection (fd) its client's messages came in on, so that when the server's socket
 * monitor reports that connection closed, the entry leaves the table at once and is freed
 * when libzmq has dropped the last reply it still held for it.
 */
#ifndef CKI_PEERQ_H
#define CKI_PEERQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cachekit/errors.h"
#include "core/request.h"

typedef struct cki_peerq cki_peerq;
typedef struct cki_peer_queue cki_peer_queue;

CK_NODISCARD ck_err cki_peerq_new(cki_peerq **out);
/* Frees the table. Call after the ZeroMQ context is terminated (no release can follow);
 * entries still charged are freed too. Accepts NULL. */
void cki_peerq_free(cki_peerq *pq);

/* The entry of routing id rid, made when missing; NULL when out of memory. Valid until the
 * next cki_peerq_find(), cki_peerq_gone(), cki_peerq_forget() or cki_peerq_free() (a sweep
 * may drop idle entries). */
CK_NODISCARD cki_peer_queue *cki_peerq_find(cki_peerq *pq, const uint8_t *rid, size_t rid_len);
/* Records the connection (socket fd, libzmq's ZMQ_SRCFD) the client of q speaks on. */
void cki_peerq_set_fd(cki_peer_queue *q, int fd);
/* Credentials of a connection, read once per connection instead of once per message (a
 * socket's peer credentials are fixed when it connects). cki_peerq_cred_get() is true and
 * fills *out when q holds credentials read from connection fd; cki_peerq_cred_set() keeps
 * known credentials of fd >= 0 (an entry that leaves with its connection takes them along). */
bool cki_peerq_cred_get(const cki_peer_queue *q, int fd, cki_peer *out);
void cki_peerq_cred_set(cki_peer_queue *q, int fd, const cki_peer *cred);
/* The connection fd closed: every entry on it leaves the table now and is freed when its last
 * queued reply is released. Returns how many left. */
size_t cki_peerq_gone(cki_peerq *pq, int fd);
/* Drops the entry of rid when nothing is queued to it (a reply to a client that left). */
void cki_peerq_forget(cki_peerq *pq, const uint8_t *rid, size_t rid_len);

/* Bytes charged to q and not yet released. */
uint64_t cki_peerq_queued(const cki_peer_queue *q);
/* Bytes of released reply mappings kept for reuse (at most CKI_PEERQ_SPARE_BYTES). */
uint64_t cki_peerq_spare_bytes(const cki_peerq *pq);
/* Bytes charged to every client and not yet released (clients that left included). */
uint64_t cki_peerq_total(const cki_peerq *pq);
/* Entries alive: in the table, or gone and still holding queued replies. */
uint64_t cki_peerq_entries(const cki_peerq *pq);

/* A reply buffer of n bytes charged to q (q may be NULL: not charged). Returns the data
 * pointer and sets *hint for zmq_msg_init_data(..., cki_peerq_release, *hint); NULL when out
 * of memory. Buffers of CKI_PEERQ_MAP_MIN bytes or more are mapped pages of their own (a heap
 * chunk could stay in the process whatever was freed around it); when libzmq releases one it
 * is kept for the next large reply if the spares have room (CKI_PEERQ_SPARE_BYTES), else it
 * goes back to the system at once. */
CK_NODISCARD uint8_t *cki_peerq_alloc(cki_peerq *pq, cki_peer_queue *q, size_t n, void **hint);
/* zmq_free_fn: uncharges and frees a buffer from cki_peerq_alloc(). Any thread. */
void cki_peerq_release(void *data, void *hint);

/* What one queued message costs beyond its bytes (message, routing frame, pipe slot):
 * charged too, so a flood of tiny replies is bounded as well. */
#define CKI_PEERQ_MSG_OVERHEAD 256u
/* Reply buffers at least this big get pages of their own. */
#define CKI_PEERQ_MAP_MIN (64u * 1024u)
/* Released reply mappings kept resident for reuse: at most this many, and this many bytes. */
#define CKI_PEERQ_SPARE_SLOTS 8u
#define CKI_PEERQ_SPARE_BYTES (4u * 1024u * 1024u)

#endif
