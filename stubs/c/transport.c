/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The transport of libcachekit-stub: the client handle (ck_client_open/close), its ZeroMQ
 * context and DEALER socket, and one request/response exchange. Each call encodes one protobuf
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
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#include "cachekit/agent/v1/agent.pb-c.h"
#include "near.h"
#include "stub_internal.h"

typedef Cachekit__Agent__V1__Request Request;
typedef Cachekit__Agent__V1__Response Response;

#define DEFAULT_ENDPOINT   "ipc:///run/cachekit/agent.sock"
#define DEFAULT_TIMEOUT_MS 5000u
/* Longest timeout accepted from $CACHEKIT_TIMEOUT (one day), so the ms value fits easily. */
#define MAX_ENV_TIMEOUT_S 86400.0
#define MAX_ENDPOINT      4096
#define LAST_MESSAGE_CAP  1024
/* Queued messages per direction; generous, so pipelining callers are never refused early. */
#define SOCKET_HWM           10000
#define RECONNECT_IVL_MS     50
#define RECONNECT_IVL_MAX_MS 1000

struct ck_client {
	char *endpoint;
	char *ns; /* NULL: no default namespace */
	uint32_t timeout_ms;
	uint32_t open_timeout_ms; /* what ck_client_set_timeout(c, 0) goes back to */
	void *zctx;
	void *sock;
	pid_t owner_pid;            /* the process that may use zctx and sock */
	bool reset_socket;          /* a call timed out: recreate the socket before the next one */
	uint64_t next_id;           /* request id counter, seeded randomly per process */
	uint64_t dropped_stale;     /* replies whose id matched no waiting call */
	uint64_t dropped_malformed; /* frames that were not a Response */
	char last_message[LAST_MESSAGE_CAP];
	cki_near *near;          /* NULL: near cache off */
	struct cki_async *async; /* requests in flight of the asynchronous API (async.c) */
};

static int64_t
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t
random_seed(void)
{
	uint64_t seed = 0;
	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed)) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		seed = ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^
		       ((uint64_t)getpid() << 16);
	}
	return seed;
}

static void
set_message(ck_client *c, const char *msg)
{
	snprintf(c->last_message, sizeof(c->last_message), "%s", msg ? msg : "");
}

/* ---- open / close ----------------------------------------------------------------------- */

static ck_err
resolve_endpoint(const char *given, char **out)
{
	const char *env = getenv("CACHEKIT_AGENT_ENDPOINT");
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	char buf[MAX_ENDPOINT];

	if (given != NULL && given[0] != '\0')
		snprintf(buf, sizeof(buf), "%s", given);
	else if (env != NULL && env[0] != '\0')
		snprintf(buf, sizeof(buf), "%s", env);
	else if (geteuid() != 0 && xdg != NULL && xdg[0] != '\0')
		snprintf(buf, sizeof(buf), "ipc://%s/cachekit/agent.sock", xdg);
	else
		snprintf(buf, sizeof(buf), "%s", DEFAULT_ENDPOINT);
	if (strlen(buf) >= sizeof(buf) - 1)
		return CK_EINVAL;
	*out = strdup(buf);
	return *out ? CK_OK : CK_ENOMEM;
}

static ck_err
resolve_timeout(uint32_t given, uint32_t *out)
{
	const char *env = getenv("CACHEKIT_TIMEOUT");
	char *end = NULL;
	double s;

	if (given != 0) {
		*out = given;
		return CK_OK;
	}
	if (env == NULL || env[0] == '\0') {
		*out = DEFAULT_TIMEOUT_MS;
		return CK_OK;
	}
	errno = 0;
	s = strtod(env, &end);
	/* The SDKs require a positive number of seconds; refuse anything else loudly. */
	if (errno != 0 || end == env || *end != '\0' || !(s > 0.0) || s > MAX_ENV_TIMEOUT_S)
		return CK_ECONFIG;
	*out = (uint32_t)(s * 1000.0 + 0.5);
	if (*out == 0)
		*out = 1;
	return CK_OK;
}

ck_err
ck_client_open(ck_client **out, const ck_client_opts *opts)
{
	ck_client_opts defaults = CK_CLIENT_OPTS_INIT;
	ck_client *c = NULL;
	ck_err rv;

	if (out == NULL)
		return CK_EINVAL;
	if (opts == NULL)
		opts = &defaults;
	if (opts->ns != NULL && strlen(opts->ns) > CKI_STUB_MAX_NS)
		return CK_EINVAL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return CK_ENOMEM;
	if ((rv = resolve_endpoint(opts->endpoint, &c->endpoint)) != CK_OK)
		goto out;
	if ((rv = resolve_timeout(opts->timeout_ms, &c->timeout_ms)) != CK_OK)
		goto out;
	c->open_timeout_ms = c->timeout_ms;
	if (opts->ns != NULL && opts->ns[0] != '\0' && (c->ns = strdup(opts->ns)) == NULL) {
		rv = CK_ENOMEM;
		goto out;
	}
	if (opts->near_cache_bytes > 0 &&
	    (rv = cki_near_new(&c->near, c->endpoint, opts->near_cache_bytes,
	                       opts->near_cache_max_ms)) != CK_OK)
		goto out;
	c->owner_pid = getpid();
	c->next_id = random_seed();
	*out = c;
	c = NULL;
	rv = CK_OK;
out:
	ck_client_close(c);
	return rv;
}

/* Forgets the socket and context inherited from the parent after fork(). ZeroMQ contexts are
 * not fork-safe: their I/O threads do not exist in the child, so zmq_close/zmq_ctx_term here
 * could hang or corrupt the parent's shared connection state. The memory is deliberately
 * leaked (once per fork); the parent still owns and closes the real objects. */
static void
abandon_inherited(ck_client *c)
{
	c->sock = NULL;
	c->zctx = NULL;
	c->reset_socket = false;
	cki_async_forget(c->async);
	c->owner_pid = getpid();
	c->next_id = random_seed();
}

void
ck_client_close(ck_client *c)
{
	if (c == NULL)
		return;
	if (c->owner_pid != getpid())
		abandon_inherited(c);
	cki_async_free(c); /* runs what is in flight with CK_ESHUTDOWN */
	if (c->sock != NULL)
		zmq_close(c->sock);
	if (c->zctx != NULL) {
		while (zmq_ctx_term(c->zctx) != 0 && errno == EINTR)
			;
	}
	cki_near_free(c->near);
	free(c->endpoint);
	free(c->ns);
	free(c);
}

void
ck_client_set_timeout(ck_client *c, uint32_t timeout_ms)
{
	if (c != NULL)
		c->timeout_ms = timeout_ms != 0 ? timeout_ms : c->open_timeout_ms;
}

struct cki_async **
cki_client_async(ck_client *c)
{
	return &c->async;
}

cki_near *
cki_client_near(ck_client *c)
{
	return c->near;
}

const char *
cki_client_ns(const ck_client *c)
{
	return c->ns;
}

ck_err
ck_client_near_stats(ck_client *c, ck_near_stats *out)
{
	if (c == NULL || out == NULL)
		return CK_EINVAL;
	if (c->near == NULL)
		memset(out, 0, sizeof(*out));
	else
		cki_near_stats(c->near, out);
	return CK_OK;
}

const char *
ck_client_last_message(const ck_client *c)
{
	return c != NULL ? c->last_message : "";
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
	if (c->owner_pid != getpid())
		abandon_inherited(c);
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

static int
remaining_ms(int64_t deadline)
{
	int64_t left = deadline - now_ms();
	if (left <= 0)
		return 0;
	return left > 0x7fffffff ? 0x7fffffff : (int)left;
}

/* Gives the next blocking send or receive (opt: ZMQ_SNDTIMEO or ZMQ_RCVTIMEO) the time left
 * until the deadline: one blocking call then does what a non-blocking attempt plus zmq_poll
 * did, with fewer system calls. Setting the option costs no system call. */
static ck_err
arm_timeout(ck_client *c, int opt, int64_t deadline)
{
	int left = remaining_ms(deadline);
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

/* Sends one frame, blocking no later than the deadline. */
static ck_err
send_frame(ck_client *c, const uint8_t *buf, size_t len, int64_t deadline)
{
	ck_err rv;
	for (;;) {
		if ((rv = arm_timeout(c, ZMQ_SNDTIMEO, deadline)) != CK_OK)
			return rv;
		if (zmq_send(c->sock, buf, len, 0) >= 0)
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

/* Fills in req's id, deadline and namespace and packs it into a new buffer (*buf, *len). */
static ck_err
prepare(ck_client *c, const ck_call_opts *co, Request *req, uint32_t timeout, uint8_t **buf,
        size_t *len)
{
	const char *ns = co != NULL && co->ns != NULL ? co->ns : c->ns;

	if (ns != NULL && strlen(ns) > CKI_STUB_MAX_NS)
		return CK_EINVAL;
	do
		req->id = c->next_id++;
	while (req->id == 0); /* 0 is what an absent id decodes to */
	req->deadline_ms = timeout;
	req->namespace_ = (char *)(ns != NULL ? ns : "");
	Cachekit__Agent__V1__NearStats near_report; /* near_report.c: a piggybacked report */
	if (cki_client_near(c) != NULL && cki_near_report_due(cki_client_near(c), &near_report))
		req->near = &near_report;
	*len = cachekit__agent__v1__request__get_packed_size(req);
	*buf = malloc(*len);
	if (*buf != NULL)
		cachekit__agent__v1__request__pack(req, *buf);
	req->namespace_ = NULL;
	req->near = NULL;
	return *buf != NULL ? CK_OK : CK_ENOMEM;
}

ck_err
cki_submit(ck_client *c, const ck_call_opts *co, Request *req, uint64_t *id, int64_t *deadline)
{
	uint32_t timeout = call_timeout(c, co);
	uint8_t *buf = NULL;
	size_t len;
	ck_err rv;

	c->last_message[0] = '\0';
	if ((rv = ensure_socket(c)) != CK_OK)
		return rv;
	*deadline = now_ms() + timeout;
	if ((rv = prepare(c, co, req, timeout, &buf, &len)) != CK_OK)
		return rv;
	if (zmq_send(c->sock, buf, len, ZMQ_DONTWAIT) < 0) {
		rv = errno == EAGAIN ? CK_EOVERLOAD : CK_ECONNECT;
		set_message(c, rv == CK_EOVERLOAD ? "the socket's send queue is full"
		                                  : zmq_strerror(errno));
	}
	*id = req->id;
	free(buf);
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

ck_err
cki_exchange(ck_client *c, const ck_call_opts *co, Request *req, cki_reply_kind kind,
             cki_reply *out)
{
	const char *ns = co != NULL && co->ns != NULL ? co->ns : c->ns;
	uint32_t timeout = call_timeout(c, co);
	int64_t deadline = now_ms() + timeout;
	uint8_t *buf = NULL;
	size_t len;
	bool no_reply = false;
	zmq_msg_t msg;
	ck_err rv;

	memset(out, 0, sizeof(*out));
	zmq_msg_init(&msg);
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
	if ((rv = ensure_socket(c)) != CK_OK)
		goto out;
	if ((rv = prepare(c, co, req, timeout, &buf, &len)) != CK_OK)
		goto out;
	if ((rv = send_frame(c, buf, len, deadline)) != CK_OK) {
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
		snprintf(c->last_message, sizeof(c->last_message), "no reply from %s within %u ms",
		         c->endpoint, (unsigned)timeout);
	}
	req->namespace_ = NULL;
	zmq_msg_close(&msg);
	free(buf);
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
