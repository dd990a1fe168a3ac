/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to libcachekit-stub and cachekit-ctl: size caps of the client, the two lock
 * handle accessors the CLI needs to print and re-read a handle, the reply decoder (for the
 * fuzz target), and the seams between the library's three files: client.c (the calls),
 * transport.c (the handle, its socket and one exchange) and results.c (the result types).
 * None of this is exported from the shared library (hidden visibility); cachekit-ctl links
 * the static library to use it.
 */
#ifndef CACHEKIT_STUB_INTERNAL_H
#define CACHEKIT_STUB_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <zmq.h>

#include "cachekit/stub.h"

/* Hard cap on one value the stub will frame (the agent applies its own, smaller cap). */
#define CKI_STUB_MAX_VALUE ((size_t)64 * 1024 * 1024)
/* Room for everything in a Response besides the value bytes. */
#define CKI_STUB_MAX_OVERHEAD ((size_t)1024 * 1024)
/* Longest key or lock name the stub will frame; the agent's own limit is far lower (400). */
#define CKI_STUB_MAX_KEY 4096
/* Longest namespace the stub will frame; the agent's own limit is 64. */
#define CKI_STUB_MAX_NS 256
/* Longest lock handle accepted from the agent or from a caller. */
#define CKI_STUB_MAX_HANDLE 1024

/* The opaque handle bytes of a lock; *len receives their length. Owned by the lock. */
const uint8_t *cki_lock_handle(const ck_lock *lock, size_t *len);
/* Records the lease the agent granted on a renewal. */
void cki_lock_set_lease(ck_lock *lock, int64_t lease_ms);

/* Builds a lock handle from bytes printed earlier (lease unknown: 0). CK_EINVAL for an empty
 * or oversized handle. On success *out owns the handle (ck_lock_free / ck_lock_release). */
CK_NODISCARD ck_err cki_lock_from_handle(const uint8_t *handle, size_t len, ck_lock **out);

/* ---- reply decoding: cki_exchange()'s pure part (transport.c), for tests/fuzz/fuzz_response.c */

/* What a waiting call does with one frame received on its socket. */
typedef enum cki_reply_verdict {
	CKI_REPLY_STALE,     /* the reply of another (abandoned) call: keep waiting */
	CKI_REPLY_MALFORMED, /* oversized, or not a Response: keep waiting */
	CKI_REPLY_DONE,      /* this call's reply: its result code is in *rv */
} cki_reply_verdict;

/* The result a call expects: the Response oneof's field numbers (agent.proto). */
typedef enum cki_reply_kind {
	CKI_REPLY_GET = 10,
	CKI_REPLY_SET = 11,
	CKI_REPLY_DELETE = 12,
	CKI_REPLY_EXISTS = 13,
	CKI_REPLY_GET_TTL = 14,
	CKI_REPLY_REFRESH_TTL = 15,
	CKI_REPLY_ACQUIRE_LOCK = 16,
	CKI_REPLY_RELEASE_LOCK = 17,
	CKI_REPLY_HEALTH = 18,
	CKI_REPLY_STATS = 19,
	CKI_REPLY_MULTI_GET = 20,
	CKI_REPLY_MULTI_SET = 21,
	CKI_REPLY_RENEW_LOCK = 22,
} cki_reply_kind;

/* Most items in one batch (the agent's limit too). */
#define CKI_STUB_MAX_BATCH 1000

/* What a DONE reply gave the call. flag: found (get, get_ttl), existed (delete), exists,
 * refreshed (refresh_ttl) or acquired (acquire_lock). The pointers are owned by the caller
 * (cki_reply_clear frees them) and are only set for their kind when *rv is CK_OK. */
typedef struct cki_reply {
	bool flag;
	int64_t ttl_s;
	ck_value *value;
	ck_lock *lock;
	ck_health *health;
	ck_stats *stats;
	uint64_t near_epoch;     /* get: the reply's version-table epoch (0: keep no copy) */
	uint64_t near_version;   /* get: the key's slot counter before the agent's read */
	struct cki_reply *items; /* multi_get / multi_set: one per item */
	ck_err *item_errs;       /* each item's status */
	size_t n_items;
} cki_reply;

/* Decodes frame as the reply to the call with request id `id` that expects `kind`, exactly as
 * a waiting ck_* call does. On DONE, *rv is the call's result (before the per-call mapping
 * such as a get_ttl miss becoming CK_ENOTFOUND) and a failed status's message is copied into
 * message. An unknown kind is MALFORMED. Always clear out with cki_reply_clear(). */
cki_reply_verdict cki_reply_decode(const uint8_t *frame, size_t len, uint64_t id,
                                   cki_reply_kind kind, ck_err *rv, cki_reply *out, char *message,
                                   size_t message_cap);
void cki_reply_clear(cki_reply *out);

/* ---- inside the library: what client.c, transport.c and results.c use of each other ---- */

/* The generated protobuf types (agent.pb-c.h), which only the library's own files include. */
struct Cachekit__Agent__V1__Request;
struct Cachekit__Agent__V1__Response;

/* transport.c: one request/response exchange on c's socket, connected lazily (and afresh after
 * a fork or a call that got no reply). Fills in req's id, deadline and namespace (co's, else
 * c's default), sends req and waits until co's (else c's) timeout for the Response with the
 * same id; other ids and malformed frames are counted and dropped. A reply whose status is OK
 * and whose result is `kind` is copied into out by cki_reply_result(). Returns the reply's
 * status as a ck_err, or CK_EPROTO, CK_ETIMEDOUT, CK_ECONNECT, CK_ENOMEM, CK_EINVAL (namespace
 * too long); ck_client_last_message() says why. out is always initialised first: clear it
 * with cki_reply_clear(). req stays the caller's. One call at a time per client. */
CK_NODISCARD ck_err cki_exchange(ck_client *c, const ck_call_opts *co,
                                 struct Cachekit__Agent__V1__Request *req, cki_reply_kind kind,
                                 cki_reply *out);

/* transport.c, for async.c: packs req (id, deadline and namespace filled in as cki_exchange
 * does) into msg, to be sent by cki_send_nowait(); *id and *deadline (CLOCK_MONOTONIC ms) say
 * what to wait for. msg is initialised whatever the result (the caller closes it). CK_ECONNECT,
 * CK_EINVAL, CK_EINVALKEY, CK_ENOMEM. */
CK_NODISCARD ck_err cki_submit(ck_client *c, const ck_call_opts *co,
                               struct Cachekit__Agent__V1__Request *req, uint64_t *id,
                               int64_t *deadline, zmq_msg_t *msg);
/* Sends a message from cki_submit() without blocking (then it is libzmq's). CK_EOVERLOAD when
 * the socket's send queue is full (msg stays the caller's, to send later), CK_ECONNECT. */
CK_NODISCARD ck_err cki_send_nowait(ck_client *c, zmq_msg_t *msg);
/* async.c, for batch.c: sends a built MultiGet/MultiSet req like cki_submit and runs cb from
 * ck_client_process() once values[0..n) (MultiGet; NULL for MultiSet) and errs[0..n) hold the
 * items' results (or every errs[i] the batch's failure). The arrays stay the caller's and must
 * live until cb has run. Nothing submitted (and cb never runs) unless CK_OK. */
struct ck_result;
CK_NODISCARD ck_err cki_async_submit_batch(ck_client *c, const ck_call_opts *co,
                                           struct Cachekit__Agent__V1__Request *req,
                                           cki_reply_kind kind, ck_value **values, ck_err *errs,
                                           size_t n,
                                           void (*cb)(ck_client *c, struct ck_result *r, void *arg),
                                           void *arg);

/* The connected socket (opened if needed), or NULL (ck_client_last_message says why). */
void *cki_client_socket(ck_client *c);
/* The client's direct ZMTP connection (zmtp.h) when its endpoint has one, else NULL (use
 * cki_client_socket). In a child after fork() it first forgets the parent's. */
struct cki_zmtp;
struct cki_zmtp *cki_client_direct(ck_client *c);
/* Moves the direct connection on without waiting: connects (after a failure, not before the
 * back-off allows) and handshakes. CK_OK: requests may be written. CK_ETIMEDOUT: not yet; try
 * again when its descriptor wakes or at *retry_at (CLOCK_MONOTONIC ms; 0: the descriptor
 * will). CK_ECONNECT: the endpoint cannot be connected to (ck_client_last_message says why). */
CK_NODISCARD ck_err cki_client_direct_ready(ck_client *c, int64_t *retry_at);
void cki_client_set_message(ck_client *c, const char *msg);
/* The buffer behind ck_client_last_message() and its size, to write a reason into. */
char *cki_client_message_buf(ck_client *c, size_t *cap);
/* Where the client's async state lives (async.c owns what it points to). */
struct cki_async **cki_client_async(ck_client *c);

/* async.c, for transport.c: requests in flight (0 for NULL); forgetting them without callbacks
 * (the child after fork); running them with CK_ESHUTDOWN and freeing the state (close). */
size_t cki_async_pending(const struct cki_async *a);
void cki_async_forget(struct cki_async *a);
void cki_async_free(ck_client *c);

/* transport.c: the client's near cache (NULL when off) and default namespace (NULL: none). */
struct cki_near *cki_client_near(ck_client *c);
const char *cki_client_ns(const ck_client *c);

/* transport.c: a wire status as a ck_err (unknown numbers: CK_EPROTO). */
ck_err cki_map_status(int32_t status);

/* results.c: copies the `kind` result of rsp, an OK Response whose result is that kind, into
 * out (see cki_reply for which fields). CK_EPROTO for a result the stub refuses (oversized
 * value or handle), CK_EBADHANDLE for a lock release or renewal the agent did not do (a
 * renewal's granted lease is then in out->ttl_s), CK_ENOMEM. */
CK_NODISCARD ck_err cki_reply_result(const struct Cachekit__Agent__V1__Response *rsp,
                                     cki_reply_kind kind, cki_reply *out);

#endif
