/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The transport of libcachekit-stub: the client's connection to the agent (the handle itself is
 * handle.c's) and one request/response exchange. An ipc:// endpoint gets the stub's own ZMTP
 * connection (zmtp.h: no libzmq context or threads for blocking calls); anything else, and
 * CACHEKIT_STUB_TRANSPORT=libzmq, a libzmq DEALER socket. Each call encodes one protobuf
 * Request with a fresh id, sends it as one frame and waits, bounded by the call's deadline, for
 * the Response that carries the same id. Replies with other ids (late answers to calls that
 * gave up) and malformed frames are dropped. After a timeout the socket is recreated on the
 * next call, and after fork() the child builds its own context and socket and never touches
 * the parent's. What a reply's result becomes is results.c's job; the calls are in client.c.
 */
#include "cachekit/stub.h"
#include "wire.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zmq.h>

#include "cachekit/agent/v1/agent.pb-c.h"
#include "near.h"
#include "os.h"
#include "handle.h"
#include "ck_keys.h"
#include "zmtp.h"
#include "stub_internal.h"

typedef Cachekit__Agent__V1__Request Request;
typedef Cachekit__Agent__V1__Response Response;

/* Queued messages per direction; generous, so pipelining callers are never refused early. */
#define SOCKET_HWM           10000
#define RECONNECT_IVL_MS     50
#define RECONNECT_IVL_MAX_MS 1000

static void
set_message(ck_client *c, const char *msg)
{
	snprintf(c->last_message, sizeof(c->last_message), "%s", msg ? msg : "");
}

/* ---- transport -------------------------------------------------------------------------- */

static ck_err
open_socket(ck_client *c)
{
	int linger = 0, hwm = SOCKET_HWM, ivl = RECONNECT_IVL_MS, ivl_max = RECONNECT_IVL_MAX_MS;
	int64_t max_msg = (int64_t)(CKI_STUB_MAX_VALUE + CKI_STUB_MAX_OVERHEAD);
	void *sock = NULL;
	char msg[LAST_MESSAGE_CAP];
	ck_err rv;

	if (c->zctx == NULL && (c->zctx = zmq_ctx_new()) == NULL) {
		snprintf(msg, sizeof(msg), "zmq_ctx_new: %s", zmq_strerror(errno));
		set_message(c, msg);
		return CK_ECONNECT;
	}
	sock = zmq_socket(c->zctx, ZMQ_DEALER);
	if (sock == NULL) {
		snprintf(msg, sizeof(msg), "zmq_socket: %s", zmq_strerror(errno));
		rv = CK_ECONNECT;
		goto out;
	}
	/* No ZMQ_IMMEDIATE: a request to an agent that is not up yet queues until its deadline.
	 * Short reconnect intervals pick up a restarted agent by themselves. MAXMSGSIZE makes
	 * the peer's oversized frame a disconnect instead of an allocation. */
	if (zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof(linger)) != 0 ||
	    zmq_setsockopt(sock, ZMQ_SNDHWM, &hwm, sizeof(hwm)) != 0 ||
	    zmq_setsockopt(sock, ZMQ_RCVHWM, &hwm, sizeof(hwm)) != 0 ||
	    zmq_setsockopt(sock, ZMQ_RECONNECT_IVL, &ivl, sizeof(ivl)) != 0 ||
	    zmq_setsockopt(sock, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof(ivl_max)) != 0 ||
	    zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &max_msg, sizeof(max_msg)) != 0) {
		snprintf(msg, sizeof(msg), "zmq_setsockopt: %s", zmq_strerror(errno));
		rv = CK_ECONNECT;
		goto out;
	}
	if (zmq_connect(sock, c->endpoint) != 0) {
		snprintf(msg, sizeof(msg), "connect %s: %s", c->endpoint, zmq_strerror(errno));
		rv = CK_ECONNECT;
		goto out;
	}
	c->sock = sock;
	sock = NULL;
	rv = CK_OK;
out:
	if (sock != NULL) {
		set_message(c, msg);
		zmq_close(sock);
	}
	return rv;
}

static ck_err
ensure_socket(ck_client *c)
{
	if (c->fork_gen != cki_stub_fork_generation())
		cki_client_abandon_inherited(c);
	if (c->sock != NULL && c->reset_socket) {
		/* Drops any stale queued request (LINGER 0) and starts a fresh connection. */
		zmq_close(c->sock);
		c->sock = NULL;
	}
	c->reset_socket = false;
	if (c->sock != NULL)
		return CK_OK;
	return open_socket(c);
}

/* Gives the next blocking send or receive (opt: ZMQ_SNDTIMEO or ZMQ_RCVTIMEO) the time left
 * until the deadline: one blocking call then does what a non-blocking attempt plus zmq_poll
 * did, with fewer system calls. Setting the option costs no system call. */
static ck_err
arm_timeout(ck_client *c, int opt, int64_t deadline)
{
	int left = cki_stub_ms_until(deadline);
	if (left == 0)
		return CK_ETIMEDOUT;
	if (zmq_setsockopt(c->sock, opt, &left, sizeof(left)) != 0) {
		set_message(c, zmq_strerror(errno));
		return CK_ECONNECT;
	}
	return CK_OK;
}

/* After a blocking send or receive failed: EAGAIN is its timeout (try again while time is
 * left), EINTR a signal; anything else is a broken connection. */
static ck_err
retry_or_fail(ck_client *c)
{
	if (errno == EAGAIN || errno == EINTR)
		return CK_OK;
	set_message(c, zmq_strerror(errno));
	return CK_ECONNECT;
}

/* Sends one frame (the message is libzmq's once sent), blocking no later than the deadline. */
static ck_err
send_frame(ck_client *c, zmq_msg_t *msg, int64_t deadline)
{
	ck_err rv;
	for (;;) {
		if ((rv = arm_timeout(c, ZMQ_SNDTIMEO, deadline)) != CK_OK)
			return rv;
		if (zmq_msg_send(msg, c->sock, 0) >= 0)
			return CK_OK;
		if ((rv = retry_or_fail(c)) != CK_OK)
			return rv;
	}
}

/* Receives the next whole message before the deadline. A multi-part message is never a
 * Response: it is drained and reported as CK_EPROTO so the caller can count and skip it. */
static ck_err
recv_frame(ck_client *c, int64_t deadline, zmq_msg_t *msg)
{
	ck_err rv;
	for (;;) {
		if ((rv = arm_timeout(c, ZMQ_RCVTIMEO, deadline)) != CK_OK)
			return rv;
		if (zmq_msg_recv(msg, c->sock, 0) >= 0)
			break;
		if ((rv = retry_or_fail(c)) != CK_OK)
			return rv;
	}
	if (!zmq_msg_more(msg))
		return CK_OK;
	while (zmq_msg_more(msg) && zmq_msg_recv(msg, c->sock, ZMQ_DONTWAIT) >= 0)
		;
	return CK_EPROTO;
}

ck_err
cki_map_status(int32_t status)
{
	switch (status) {
#define CK_STATUS_CASE_(name, num, msg) \
	case num:                       \
		return CK_##name;
		CK_ERRNO_MAP(CK_STATUS_CASE_)
#undef CK_STATUS_CASE_
	}
	return CK_EPROTO;
}

static uint32_t
call_timeout(const ck_client *c, const ck_call_opts *co)
{
	return co != NULL && co->timeout_ms != 0 ? co->timeout_ms : c->timeout_ms;
}

/*
 * Decodes one frame received by the call waiting for id (the pure part of cki_exchange(), also
 * reached by cki_reply_decode() and the fuzz target): another id is STALE, a frame that is
 * not a Response is MALFORMED; the call's own reply is DONE with *rv = its status, or
 * CK_EPROTO for a success without the expected result, or what cki_reply_result() returns
 * when it copies that result into out. A failed status copies the agent's message into
 * message.
 */
static cki_reply_verdict
decode_reply(const uint8_t *data, size_t size, uint64_t id, cki_reply_kind kind, ck_err *rv,
             cki_reply *out, char *message, size_t message_cap)
{
	uint64_t peeked;
	Response *rsp;

	if (cki_wire_peek_id(data, size, &peeked) && peeked != id)
		return CKI_REPLY_STALE;
	if (size > CKI_STUB_MAX_VALUE + CKI_STUB_MAX_OVERHEAD ||
	    (rsp = cachekit__agent__v1__response__unpack(NULL, size, data)) == NULL)
		return CKI_REPLY_MALFORMED;
	if (rsp->id != id) {
		cachekit__agent__v1__response__free_unpacked(rsp, NULL);
		return CKI_REPLY_STALE;
	}
	*rv = cki_map_status(rsp->status);
	if (*rv != CK_OK)
		snprintf(message, message_cap, "%s", rsp->message ? rsp->message : "");
	else if ((int)rsp->result_case != (int)kind || rsp->get == NULL)
		*rv = CK_EPROTO;
	else
		*rv = cki_reply_result(rsp, kind, out);
	cachekit__agent__v1__response__free_unpacked(rsp, NULL);
	return CKI_REPLY_DONE;
}

/* The key a keyed request names; NULL for the others and for batches (whose keys the agent
 * answers one by one). */
static const char *
request_key(const Request *req)
{
	switch (req->op_case) {
	case CACHEKIT__AGENT__V1__REQUEST__OP_GET:
		return req->get->key;
	case CACHEKIT__AGENT__V1__REQUEST__OP_SET:
		return req->set->key;
	case CACHEKIT__AGENT__V1__REQUEST__OP_DELETE:
		return req->delete_->key;
	case CACHEKIT__AGENT__V1__REQUEST__OP_EXISTS:
		return req->exists->key;
	case CACHEKIT__AGENT__V1__REQUEST__OP_GET_TTL:
		return req->get_ttl->key;
	case CACHEKIT__AGENT__V1__REQUEST__OP_REFRESH_TTL:
		return req->refresh_ttl->key;
	case CACHEKIT__AGENT__V1__REQUEST__OP_ACQUIRE_LOCK:
		return req->acquire_lock->name;
	default:
		return NULL;
	}
}

/* Fills in req's id, deadline and namespace and packs it straight into msg, an empty message
 * (zmq_msg_init) that becomes one of the packed size: no buffer of ours to copy from and free.
 * msg stays a valid message whatever the result; the caller closes it. msg NULL: packs into the
 * direct connection's staged frame instead. A key the agent would refuse
 * (the shared rule, common/ck_keys.h, with the call's namespace) is refused here, without a round
 * trip, with the agent's code and reason. */
static ck_err
prepare(ck_client *c, const ck_call_opts *co, Request *req, uint32_t timeout, zmq_msg_t *msg)
{
	const char *ns = co != NULL && co->ns != NULL ? co->ns : c->ns;
	const char *key = request_key(req), *why = NULL;

	if (ns != NULL && strlen(ns) > CKI_STUB_MAX_NS)
		return CK_EINVAL;
	if (key != NULL && ck_key_build(ns != NULL ? ns : "", ns != NULL ? strlen(ns) : 0, key,
	                                strlen(key), NULL, 0, &why) != CK_OK) {
		char m[160];
		snprintf(m, sizeof(m), "invalid cache key: %s", why != NULL ? why : "rejected");
		set_message(c, m);
		return CK_EINVALKEY;
	}
	do
		req->id = c->next_id++;
	while (req->id == 0); /* 0 is what an absent id decodes to */
	req->deadline_ms = timeout;
	req->namespace_ = (char *)(ns != NULL ? ns : "");
	Cachekit__Agent__V1__NearStats near_report; /* near_report.c: a piggybacked report */
	if (cki_client_near(c) != NULL && cki_near_report_due(cki_client_near(c), &near_report))
		req->near = &near_report;
	ck_err rv = CK_ENOMEM;
	size_t size = cachekit__agent__v1__request__get_packed_size(req);
	uint8_t *staged;
	if (msg == NULL) {
		if ((staged = cki_zmtp_stage(&c->direct, size)) != NULL) {
			cachekit__agent__v1__request__pack(req, staged);
			rv = CK_OK;
		}
	} else if (zmq_msg_init_size(msg, size) == 0) {
		cachekit__agent__v1__request__pack(req, zmq_msg_data(msg));
		rv = CK_OK;
	} else {
		zmq_msg_init(msg);
	}
	req->namespace_ = NULL;
	req->near = NULL;
	return rv;
}

ck_err
cki_submit(ck_client *c, const ck_call_opts *co, Request *req, uint64_t *id, int64_t *deadline,
           zmq_msg_t *msg)
{
	uint32_t timeout = call_timeout(c, co);
	ck_err rv;

	c->last_message[0] = '\0';
	zmq_msg_init(msg);
	/* On the direct connection the message only carries the packed request (async.c frames it
	 * and writes it); on libzmq it is sent as it is. */
	if (c->use_direct)
		(void)cki_client_direct(c); /* the fork check */
	else if ((rv = ensure_socket(c)) != CK_OK)
		return rv;
	*deadline = cki_stub_now_ms() + timeout;
	if ((rv = prepare(c, co, req, timeout, msg)) != CK_OK)
		return rv;
	*id = req->id;
	return CK_OK;
}

ck_err
cki_send_nowait(ck_client *c, zmq_msg_t *msg)
{
	if (c->sock == NULL)
		return CK_ECONNECT; /* reopening the socket failed (ck_client_last_message says why)
		                     */
	if (zmq_msg_send(msg, c->sock, ZMQ_DONTWAIT) >= 0)
		return CK_OK;
	if (errno == EAGAIN)
		return CK_EOVERLOAD;
	set_message(c, zmq_strerror(errno));
	return CK_ECONNECT;
}

cki_zmtp *
cki_client_direct(ck_client *c)
{
	if (!c->use_direct)
		return NULL;
	if (c->fork_gen != cki_stub_fork_generation())
		cki_client_abandon_inherited(c);
	return &c->direct;
}

/* The next connect attempt after a failed one (cki_zmtp_retry_ms). */
static int64_t
back_off(ck_client *c)
{
	c->direct_retry_ms = cki_zmtp_retry_ms(c->direct_retry_ms);
	c->direct_retry_at = cki_stub_now_ms() + c->direct_retry_ms;
	return c->direct_retry_at;
}

/* The client's direct connection for a call now: after fork() the child's own, and after a
 * blocking call that gave up, a new one (its late reply, or its half-sent frame, must go
 * nowhere). */
static cki_zmtp *
direct_now(ck_client *c)
{
	cki_zmtp *z = cki_client_direct(c);
	if (c->reset_socket)
		cki_zmtp_disconnect(z);
	c->reset_socket = false;
	return z;
}

ck_err
cki_client_direct_ready(ck_client *c, int64_t *retry_at)
{
	cki_zmtp *z = direct_now(c);
	char *m = c->last_message;
	size_t cap = sizeof(c->last_message);
	ck_err rv;

	*retry_at = 0;
	if (z->fd < 0) {
		if (cki_stub_now_ms() < c->direct_retry_at) {
			*retry_at = c->direct_retry_at;
			return CK_ETIMEDOUT;
		}
		rv = cki_zmtp_connect_nowait(z, &c->direct_addr, c->direct_addr_len, m, cap);
		if (rv == CK_ETIMEDOUT)
			*retry_at = back_off(c);
		if (rv != CK_OK)
			return rv;
	}
	rv = cki_zmtp_handshake_nowait(z, m, cap);
	if (rv == CK_OK) {
		c->direct_retry_ms = 0;
	} else if (rv == CK_ECONNECT) {
		/* Closed during the handshake (an agent restarting): try again later. */
		cki_zmtp_disconnect(z);
		*retry_at = back_off(c);
		rv = CK_ETIMEDOUT;
	}
	return rv;
}

void *
cki_client_socket(ck_client *c)
{
	if (ensure_socket(c) != CK_OK)
		return NULL;
	return c->sock;
}

void
cki_client_set_message(ck_client *c, const char *msg)
{
	set_message(c, msg);
}

char *
cki_client_message_buf(ck_client *c, size_t *cap)
{
	*cap = sizeof(c->last_message);
	return c->last_message;
}

/* cki_exchange() on the direct connection (zmtp.h). A connection the agent closed since the
 * last call (a restart) shows when the send finds it gone before a byte left: then the request
 * goes once more, on a new connection. After that, a closed connection ends the call with
 * CK_ECONNECT at once: the request may or may not have been carried out. */
static ck_err
exchange_direct(ck_client *c, const ck_call_opts *co, Request *req, cki_reply_kind kind,
                cki_reply *out, uint32_t timeout, int64_t deadline, bool *no_reply)
{
	cki_zmtp *z = direct_now(c);
	char *m = c->last_message;
	size_t cap = sizeof(c->last_message);
	ck_err rv;

	if ((rv = prepare(c, co, req, timeout, NULL)) != CK_OK)
		return rv;
	for (int attempt = 0;; attempt++) {
		bool untouched = false;
		if (z->fd < 0 && (rv = cki_zmtp_connect(z, &c->direct_addr, c->direct_addr_len,
		                                        deadline, m, cap)) != CK_OK)
			break;
		if ((rv = cki_zmtp_send(z, deadline, &untouched, m, cap)) == CK_OK)
			break;
		cki_zmtp_disconnect(z);
		if (rv != CK_ECONNECT || !untouched || attempt > 0)
			break;
	}
	if (rv != CK_OK) {
		*no_reply = true;
		return rv;
	}
	m[0] = '\0';
	for (;;) {
		const uint8_t *body;
		size_t len;
		bool multipart;

		rv = cki_zmtp_recv(z, deadline, CKI_STUB_MAX_VALUE + CKI_STUB_MAX_OVERHEAD, &body,
		                   &len, &multipart, m, cap);
		if (rv != CK_OK) {
			cki_zmtp_disconnect(z);
			*no_reply = true;
			return rv;
		}
		if (multipart) {
			c->dropped_malformed++;
			continue;
		}
		switch (decode_reply(body, len, req->id, kind, &rv, out, m, cap)) {
		case CKI_REPLY_STALE:
			c->dropped_stale++;
			continue;
		case CKI_REPLY_MALFORMED:
			c->dropped_malformed++;
			continue;
		case CKI_REPLY_DONE:
			return rv;
		}
	}
}

ck_err
cki_exchange(ck_client *c, const ck_call_opts *co, Request *req, cki_reply_kind kind,
             cki_reply *out)
{
	const char *ns = co != NULL && co->ns != NULL ? co->ns : c->ns;
	uint32_t timeout = call_timeout(c, co);
	int64_t deadline = cki_stub_now_ms() + timeout;
	bool no_reply = false;
	zmq_msg_t msg, out_msg;
	ck_err rv;

	memset(out, 0, sizeof(*out));
	zmq_msg_init(&msg);
	zmq_msg_init(&out_msg);
	c->last_message[0] = '\0';
	if (cki_async_pending(c->async) > 0) {
		set_message(c, "asynchronous requests are in flight on this client");
		rv = CK_EBUSY;
		goto out;
	}
	if (ns != NULL && strlen(ns) > CKI_STUB_MAX_NS) {
		rv = CK_EINVAL;
		goto out;
	}
	if (c->use_direct) {
		rv = exchange_direct(c, co, req, kind, out, timeout, deadline, &no_reply);
		goto out;
	}
	if ((rv = ensure_socket(c)) != CK_OK)
		goto out;
	if ((rv = prepare(c, co, req, timeout, &out_msg)) != CK_OK)
		goto out;
	if ((rv = send_frame(c, &out_msg, deadline)) != CK_OK) {
		no_reply = true;
		goto out;
	}

	for (;;) {
		cki_reply_verdict verdict;

		rv = recv_frame(c, deadline, &msg);
		if (rv == CK_EPROTO) {
			c->dropped_malformed++;
			continue;
		}
		if (rv != CK_OK) {
			no_reply = true;
			goto out;
		}
		verdict = decode_reply(zmq_msg_data(&msg), zmq_msg_size(&msg), req->id, kind, &rv,
		                       out, c->last_message, sizeof(c->last_message));
		if (verdict == CKI_REPLY_STALE) {
			c->dropped_stale++;
			continue;
		}
		if (verdict == CKI_REPLY_MALFORMED) {
			c->dropped_malformed++;
			continue;
		}
		break;
	}
out:
	if (no_reply) {
		/* The agent may still answer; recreate the socket so that the stale request and
		 * its reply go nowhere, and a restarted agent gets a fresh connection. */
		c->reset_socket = true;
	}
	if (rv == CK_ETIMEDOUT && no_reply) {
		/* A connect that kept failing says why: a wrong path is then easy to spot. */
		char why[LAST_MESSAGE_CAP / 2];
		size_t n = strnlen(c->last_message, sizeof(why) - 1);
		memcpy(why, c->last_message, n);
		why[n] = '\0';
		snprintf(c->last_message, sizeof(c->last_message),
		         "no reply from %s within %u ms%s%s%s", c->endpoint, (unsigned)timeout,
		         why[0] ? " (" : "", why, why[0] ? ")" : "");
	}
	req->namespace_ = NULL;
	zmq_msg_close(&msg);
	zmq_msg_close(&out_msg);
	return rv;
}

/* ---- reply decoding, by expected result (stub_internal.h) -------------------------------- */

cki_reply_verdict
cki_reply_decode(const uint8_t *frame, size_t len, uint64_t id, cki_reply_kind kind, ck_err *rv,
                 cki_reply *out, char *message, size_t message_cap)
{
	memset(out, 0, sizeof(*out));
	*rv = CK_EPROTO;
	switch (kind) {
	case CKI_REPLY_GET:
	case CKI_REPLY_SET:
	case CKI_REPLY_DELETE:
	case CKI_REPLY_EXISTS:
	case CKI_REPLY_GET_TTL:
	case CKI_REPLY_REFRESH_TTL:
	case CKI_REPLY_ACQUIRE_LOCK:
	case CKI_REPLY_RELEASE_LOCK:
	case CKI_REPLY_RENEW_LOCK:
	case CKI_REPLY_HEALTH:
	case CKI_REPLY_STATS:
	case CKI_REPLY_MULTI_GET:
	case CKI_REPLY_MULTI_SET:
		break;
	default:
		return CKI_REPLY_MALFORMED;
	}
	return decode_reply(frame, len, id, kind, rv, out, message, message_cap);
}
