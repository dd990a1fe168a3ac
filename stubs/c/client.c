/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libcachekit-stub: the C client of the cachekit agent (include/cachekit/stub.h). Each call
 * encodes one protobuf Request with a fresh id, sends it as one frame on a ZeroMQ DEALER
 * socket and waits, bounded by the call's deadline, for the Response that carries the same id.
 * Replies with other ids (late answers to calls that gave up) and malformed frames are
 * dropped. After a timeout the socket is recreated on the next call, and after fork() the
 * child builds its own context and socket and never touches the parent's.
 */
#include "cachekit/stub.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#include "cachekit/agent/v1/agent.pb-c.h"
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
};

struct ck_lock {
	uint8_t *handle;
	size_t len;
	int64_t lease_ms;
};

/* Copies what a call needs out of a decoded Response; the Response is freed after it. */
typedef ck_err (*reply_fn)(const Response *rsp, void *arg);

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

static char *
dup_string(const char *s)
{
	return strdup(s ? s : "");
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
	if (c->sock != NULL)
		zmq_close(c->sock);
	if (c->zctx != NULL) {
		while (zmq_ctx_term(c->zctx) != 0 && errno == EINTR)
			;
	}
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

/* After a non-blocking send or receive failed: waits for the socket to allow `events`, or for
 * the deadline. Any error other than EAGAIN/EINTR is a broken connection. */
static ck_err
wait_socket(ck_client *c, short events, int64_t deadline)
{
	zmq_pollitem_t item = {c->sock, 0, events, 0};
	int left;

	if (errno != EAGAIN && errno != EINTR) {
		set_message(c, zmq_strerror(errno));
		return CK_ECONNECT;
	}
	if ((left = remaining_ms(deadline)) == 0)
		return CK_ETIMEDOUT;
	if (zmq_poll(&item, 1, left) < 0 && errno != EINTR) {
		set_message(c, zmq_strerror(errno));
		return CK_ECONNECT;
	}
	return CK_OK;
}

/* Sends one frame without blocking past the deadline. */
static ck_err
send_frame(ck_client *c, const uint8_t *buf, size_t len, int64_t deadline)
{
	ck_err rv;
	while (zmq_send(c->sock, buf, len, ZMQ_DONTWAIT) < 0)
		if ((rv = wait_socket(c, ZMQ_POLLOUT, deadline)) != CK_OK)
			return rv;
	return CK_OK;
}

/* Receives the next whole message before the deadline. A multi-part message is never a
 * Response: it is drained and reported as CK_EPROTO so the caller can count and skip it. */
static ck_err
recv_frame(ck_client *c, int64_t deadline, zmq_msg_t *msg)
{
	ck_err rv;
	while (zmq_msg_recv(msg, c->sock, ZMQ_DONTWAIT) < 0)
		if ((rv = wait_socket(c, ZMQ_POLLIN, deadline)) != CK_OK)
			return rv;
	if (!zmq_msg_more(msg))
		return CK_OK;
	while (zmq_msg_more(msg) && zmq_msg_recv(msg, c->sock, ZMQ_DONTWAIT) >= 0)
		;
	return CK_EPROTO;
}

/* Reads the id of a Response that starts with field 1 (as the agent encodes it), without
 * decoding the rest: a late reply carrying a large value is dropped without a copy.
 * Returns false when the frame does not start that way (then a full decode decides). */
static bool
peek_id(const uint8_t *buf, size_t len, uint64_t *id)
{
	uint64_t v = 0;
	size_t i;

	if (len < 2 || buf[0] != 0x08) /* field 1, varint */
		return false;
	for (i = 1; i < len && i <= 10; i++) {
		v |= (uint64_t)(buf[i] & 0x7f) << (7 * (i - 1));
		if ((buf[i] & 0x80) == 0) {
			*id = v;
			return true;
		}
	}
	return false;
}

static ck_err
map_status(int32_t status)
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
 * Decodes one frame received by the call waiting for id (the pure part of exchange(), also
 * reached by cki_reply_decode() and the fuzz target): another id is STALE, a frame that is
 * not a Response is MALFORMED; the call's own reply is DONE with *rv = its status, or
 * CK_EPROTO for a success without the expected result, or what fn returns. A failed status
 * copies the agent's message into message.
 */
static cki_reply_verdict
decode_reply(const uint8_t *data, size_t size, uint64_t id,
             Cachekit__Agent__V1__Response__ResultCase expect, reply_fn fn, void *arg, ck_err *rv,
             char *message, size_t message_cap)
{
	uint64_t peeked;
	Response *rsp;

	if (peek_id(data, size, &peeked) && peeked != id)
		return CKI_REPLY_STALE;
	if (size > CKI_STUB_MAX_VALUE + CKI_STUB_MAX_OVERHEAD ||
	    (rsp = cachekit__agent__v1__response__unpack(NULL, size, data)) == NULL)
		return CKI_REPLY_MALFORMED;
	if (rsp->id != id) {
		cachekit__agent__v1__response__free_unpacked(rsp, NULL);
		return CKI_REPLY_STALE;
	}
	*rv = map_status(rsp->status);
	if (*rv != CK_OK)
		snprintf(message, message_cap, "%s", rsp->message ? rsp->message : "");
	else if (rsp->result_case != expect || rsp->get == NULL)
		*rv = CK_EPROTO;
	else
		*rv = fn(rsp, arg);
	cachekit__agent__v1__response__free_unpacked(rsp, NULL);
	return CKI_REPLY_DONE;
}

/*
 * One request/response exchange. Fills in id, deadline and namespace, sends req, waits for
 * the Response with the same id and hands it to fn when its status is OK and its result is
 * the expected one. Other ids and malformed frames are dropped until the deadline.
 */
static ck_err
exchange(ck_client *c, const ck_call_opts *co, Request *req,
         Cachekit__Agent__V1__Response__ResultCase expect, reply_fn fn, void *arg)
{
	const char *ns = co != NULL && co->ns != NULL ? co->ns : c->ns;
	uint32_t timeout = call_timeout(c, co);
	int64_t deadline = now_ms() + timeout;
	uint8_t *buf = NULL;
	size_t len;
	bool no_reply = false;
	zmq_msg_t msg;
	ck_err rv;

	zmq_msg_init(&msg);
	c->last_message[0] = '\0';
	if (ns != NULL && strlen(ns) > CKI_STUB_MAX_NS) {
		rv = CK_EINVAL;
		goto out;
	}
	if ((rv = ensure_socket(c)) != CK_OK)
		goto out;
	do
		req->id = c->next_id++;
	while (req->id == 0); /* 0 is what an absent id decodes to */
	req->deadline_ms = timeout;
	req->namespace_ = (char *)(ns != NULL ? ns : "");

	len = cachekit__agent__v1__request__get_packed_size(req);
	if ((buf = malloc(len)) == NULL) {
		rv = CK_ENOMEM;
		goto out;
	}
	cachekit__agent__v1__request__pack(req, buf);
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
		verdict = decode_reply(zmq_msg_data(&msg), zmq_msg_size(&msg), req->id, expect, fn,
		                       arg, &rv, c->last_message, sizeof(c->last_message));
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

static ck_err
check_key(const char *key)
{
	if (key == NULL)
		return CK_EINVAL;
	if (strlen(key) > CKI_STUB_MAX_KEY)
		return CK_EINVALKEY;
	return CK_OK;
}

/* ---- values ----------------------------------------------------------------------------- */

void
ck_value_free(ck_value *v)
{
	if (v == NULL)
		return;
	free(v->data);
	free(v);
}

struct get_reply {
	bool found;
	ck_value *value;
};

static ck_err
get_reply(const Response *rsp, void *arg)
{
	const Cachekit__Agent__V1__GetResult *r = rsp->get;
	struct get_reply *out = arg;
	ck_value *v;

	out->found = r->found;
	if (!r->found)
		return CK_OK;
	if (r->value.len > CKI_STUB_MAX_VALUE)
		return CK_EPROTO;
	if ((v = calloc(1, sizeof(*v))) == NULL)
		return CK_ENOMEM;
	if ((v->data = malloc(r->value.len + 1)) == NULL) {
		free(v);
		return CK_ENOMEM;
	}
	if (r->value.len > 0)
		memcpy(v->data, r->value.data, r->value.len);
	v->data[r->value.len] = '\0';
	v->len = r->value.len;
	switch (r->freshness) {
	case CACHEKIT__AGENT__V1__FRESHNESS__FRESHNESS_FRESH:
		v->freshness = CK_FRESHNESS_FRESH;
		break;
	case CACHEKIT__AGENT__V1__FRESHNESS__FRESHNESS_STALE:
		v->freshness = CK_FRESHNESS_STALE;
		break;
	default:
		v->freshness = CK_FRESHNESS_UNKNOWN;
		break;
	}
	v->fresh_for_ms = r->fresh_for_ms;
	v->refresh_due = r->refresh_due;
	out->value = v;
	return CK_OK;
}

ck_err
ck_get(ck_client *c, const char *key, const ck_get_opts *opts, ck_value **out)
{
	Request req = CACHEKIT__AGENT__V1__REQUEST__INIT;
	Cachekit__Agent__V1__GetRequest get = CACHEKIT__AGENT__V1__GET_REQUEST__INIT;
	struct get_reply reply = {false, NULL};
	ck_err rv;

	if (c == NULL || out == NULL)
		return CK_EINVAL;
	if ((rv = check_key(key)) != CK_OK)
		return rv;
	if (opts != NULL && opts->format != NULL && strlen(opts->format) > CKI_STUB_MAX_KEY)
		return CK_EINVAL;
	get.key = (char *)key;
	get.secure = opts != NULL && opts->secure;
	if (opts != NULL && opts->format != NULL)
		get.format = (char *)opts->format;
	req.op_case = CACHEKIT__AGENT__V1__REQUEST__OP_GET;
	req.get = &get;
	rv = exchange(c, opts ? &opts->call : NULL, &req, CACHEKIT__AGENT__V1__RESPONSE__RESULT_GET,
	              get_reply, &reply);
	if (rv == CK_OK && !reply.found)
		rv = CK_ENOTFOUND;
	if (rv == CK_OK) {
		*out = reply.value;
		reply.value = NULL;
	}
	ck_value_free(reply.value);
	return rv;
}

static ck_err
ignore_reply(const Response *rsp, void *arg)
{
	return CK_OK;
}

ck_err
ck_set(ck_client *c, const char *key, const void *value, size_t len, const ck_set_opts *opts)
{
	Request req = CACHEKIT__AGENT__V1__REQUEST__INIT;
	Cachekit__Agent__V1__SetRequest set = CACHEKIT__AGENT__V1__SET_REQUEST__INIT;
	ck_err rv;

	if (c == NULL || (value == NULL && len > 0))
		return CK_EINVAL;
	if ((rv = check_key(key)) != CK_OK)
		return rv;
	if (len > CKI_STUB_MAX_VALUE)
		return CK_ETOOBIG;
	if (opts != NULL && opts->format != NULL && strlen(opts->format) > CKI_STUB_MAX_KEY)
		return CK_EINVAL;
	set.key = (char *)key;
	set.value.data = (uint8_t *)value;
	set.value.len = len;
	if (opts != NULL) {
		set.ttl_s = opts->ttl_s;
		set.stale_ttl_s = opts->stale_ttl_s;
		set.secure = opts->secure;
		set.sliding = opts->sliding;
		if (opts->format != NULL)
			set.format = (char *)opts->format;
	}
	req.op_case = CACHEKIT__AGENT__V1__REQUEST__OP_SET;
	req.set = &set;
	return exchange(c, opts ? &opts->call : NULL, &req,
	                CACHEKIT__AGENT__V1__RESPONSE__RESULT_SET, ignore_reply, NULL);
}

static ck_err
delete_reply(const Response *rsp, void *arg)
{
	*(bool *)arg = rsp->delete_->existed;
	return CK_OK;
}

ck_err
ck_delete(ck_client *c, const char *key, const ck_call_opts *opts, bool *existed)
{
	Request req = CACHEKIT__AGENT__V1__REQUEST__INIT;
	Cachekit__Agent__V1__DeleteRequest del = CACHEKIT__AGENT__V1__DELETE_REQUEST__INIT;
	bool flag = false;
	ck_err rv;

	if (c == NULL)
		return CK_EINVAL;
	if ((rv = check_key(key)) != CK_OK)
		return rv;
	del.key = (char *)key;
	req.op_case = CACHEKIT__AGENT__V1__REQUEST__OP_DELETE;
	req.delete_ = &del;
	rv = exchange(c, opts, &req, CACHEKIT__AGENT__V1__RESPONSE__RESULT_DELETE, delete_reply,
	              &flag);
	if (rv == CK_OK && existed != NULL)
		*existed = flag;
	return rv;
}

static ck_err
exists_reply(const Response *rsp, void *arg)
{
	*(bool *)arg = rsp->exists->exists;
	return CK_OK;
}

ck_err
ck_exists(ck_client *c, const char *key, const ck_call_opts *opts, bool *exists)
{
	Request req = CACHEKIT__AGENT__V1__REQUEST__INIT;
	Cachekit__Agent__V1__ExistsRequest ex = CACHEKIT__AGENT__V1__EXISTS_REQUEST__INIT;
	bool flag = false;
	ck_err rv;

	if (c == NULL || exists == NULL)
		return CK_EINVAL;
	if ((rv = check_key(key)) != CK_OK)
		return rv;
	ex.key = (char *)key;
	req.op_case = CACHEKIT__AGENT__V1__REQUEST__OP_EXISTS;
	req.exists = &ex;
	rv = exchange(c, opts, &req, CACHEKIT__AGENT__V1__RESPONSE__RESULT_EXISTS, exists_reply,
	              &flag);
	if (rv == CK_OK)
		*exists = flag;
	return rv;
}

struct ttl_reply {
	bool found;
	int64_t ttl_s;
};

static ck_err
ttl_reply(const Response *rsp, void *arg)
{
	struct ttl_reply *out = arg;
	out->found = rsp->get_ttl->found;
	out->ttl_s = rsp->get_ttl->ttl_s;
	return CK_OK;
}

ck_err
ck_get_ttl(ck_client *c, const char *key, const ck_call_opts *opts, int64_t *ttl_s)
{
	Request req = CACHEKIT__AGENT__V1__REQUEST__INIT;
	Cachekit__Agent__V1__GetTtlRequest gt = CACHEKIT__AGENT__V1__GET_TTL_REQUEST__INIT;
	struct ttl_reply reply = {false, 0};
	ck_err rv;

	if (c == NULL || ttl_s == NULL)
		return CK_EINVAL;
	if ((rv = check_key(key)) != CK_OK)
		return rv;
	gt.key = (char *)key;
	req.op_case = CACHEKIT__AGENT__V1__REQUEST__OP_GET_TTL;
	req.get_ttl = &gt;
	rv = exchange(c, opts, &req, CACHEKIT__AGENT__V1__RESPONSE__RESULT_GET_TTL, ttl_reply,
	              &reply);
	if (rv == CK_OK && !reply.found)
		rv = CK_ENOTFOUND;
	if (rv == CK_OK)
		*ttl_s = reply.ttl_s;
	return rv;
}

static ck_err
refresh_reply(const Response *rsp, void *arg)
{
	*(bool *)arg = rsp->refresh_ttl->refreshed;
	return CK_OK;
}

ck_err
ck_refresh_ttl(ck_client *c, const char *key, uint32_t ttl_s, const ck_call_opts *opts,
               bool *refreshed)
{
	Request req = CACHEKIT__AGENT__V1__REQUEST__INIT;
	Cachekit__Agent__V1__RefreshTtlRequest rt = CACHEKIT__AGENT__V1__REFRESH_TTL_REQUEST__INIT;
	bool flag = false;
	ck_err rv;

	if (c == NULL)
		return CK_EINVAL;
	if ((rv = check_key(key)) != CK_OK)
		return rv;
	rt.key = (char *)key;
	rt.ttl_s = ttl_s;
	req.op_case = CACHEKIT__AGENT__V1__REQUEST__OP_REFRESH_TTL;
	req.refresh_ttl = &rt;
	rv = exchange(c, opts, &req, CACHEKIT__AGENT__V1__RESPONSE__RESULT_REFRESH_TTL,
	              refresh_reply, &flag);
	if (rv == CK_OK && refreshed != NULL)
		*refreshed = flag;
	return rv;
}

/* ---- locks ------------------------------------------------------------------------------ */

void
ck_lock_free(ck_lock *lock)
{
	if (lock == NULL)
		return;
	free(lock->handle);
	free(lock);
}

int64_t
ck_lock_lease_ms(const ck_lock *lock)
{
	return lock != NULL ? lock->lease_ms : 0;
}

const uint8_t *
cki_lock_handle(const ck_lock *lock, size_t *len)
{
	*len = lock->len;
	return lock->handle;
}

ck_err
cki_lock_from_handle(const uint8_t *handle, size_t len, ck_lock **out)
{
	ck_lock *lock;

	if (handle == NULL || len == 0 || len > CKI_STUB_MAX_HANDLE || out == NULL)
		return CK_EINVAL;
	if ((lock = calloc(1, sizeof(*lock))) == NULL)
		return CK_ENOMEM;
	if ((lock->handle = malloc(len)) == NULL) {
		free(lock);
		return CK_ENOMEM;
	}
	memcpy(lock->handle, handle, len);
	lock->len = len;
	*out = lock;
	return CK_OK;
}

struct lock_reply {
	bool acquired;
	ck_lock *lock;
};

static ck_err
lock_reply(const Response *rsp, void *arg)
{
	const Cachekit__Agent__V1__AcquireLockResult *r = rsp->acquire_lock;
	struct lock_reply *out = arg;
	ck_err rv;

	out->acquired = r->acquired;
	if (!r->acquired)
		return CK_OK;
	if (r->handle.len == 0 || r->handle.len > CKI_STUB_MAX_HANDLE)
		return CK_EPROTO;
	if ((rv = cki_lock_from_handle(r->handle.data, r->handle.len, &out->lock)) != CK_OK)
		return rv;
	out->lock->lease_ms = r->lease_ms;
	return CK_OK;
}

ck_err
ck_lock_acquire(ck_client *c, const char *name, const ck_lock_opts *opts, ck_lock **out)
{
	Request req = CACHEKIT__AGENT__V1__REQUEST__INIT;
	Cachekit__Agent__V1__AcquireLockRequest al =
	        CACHEKIT__AGENT__V1__ACQUIRE_LOCK_REQUEST__INIT;
	struct lock_reply reply = {false, NULL};
	ck_err rv;

	if (c == NULL || out == NULL)
		return CK_EINVAL;
	if ((rv = check_key(name)) != CK_OK)
		return rv;
	al.name = (char *)name;
	if (opts != NULL) {
		al.lease_ms = opts->lease_ms;
		al.wait_ms = opts->wait_ms;
	}
	req.op_case = CACHEKIT__AGENT__V1__REQUEST__OP_ACQUIRE_LOCK;
	req.acquire_lock = &al;
	rv = exchange(c, opts ? &opts->call : NULL, &req,
	              CACHEKIT__AGENT__V1__RESPONSE__RESULT_ACQUIRE_LOCK, lock_reply, &reply);
	if (rv == CK_OK && !reply.acquired)
		rv = CK_EBUSY;
	if (rv == CK_OK) {
		*out = reply.lock;
		reply.lock = NULL;
	}
	ck_lock_free(reply.lock);
	return rv;
}

static ck_err
release_reply(const Response *rsp, void *arg)
{
	return rsp->release_lock->released ? CK_OK : CK_EBADHANDLE;
}

ck_err
ck_lock_release(ck_client *c, ck_lock *lock, const ck_call_opts *opts)
{
	Request req = CACHEKIT__AGENT__V1__REQUEST__INIT;
	Cachekit__Agent__V1__ReleaseLockRequest rl =
	        CACHEKIT__AGENT__V1__RELEASE_LOCK_REQUEST__INIT;
	ck_err rv;

	if (c == NULL || lock == NULL) {
		rv = CK_EINVAL;
		goto out;
	}
	rl.handle.data = lock->handle;
	rl.handle.len = lock->len;
	req.op_case = CACHEKIT__AGENT__V1__REQUEST__OP_RELEASE_LOCK;
	req.release_lock = &rl;
	rv = exchange(c, opts, &req, CACHEKIT__AGENT__V1__RESPONSE__RESULT_RELEASE_LOCK,
	              release_reply, NULL);
out:
	ck_lock_free(lock);
	return rv;
}

/* ---- health and stats ------------------------------------------------------------------- */

void
ck_health_free(ck_health *h)
{
	if (h == NULL)
		return;
	free(h->backend_type);
	free(h->api_url);
	free(h->version);
	free(h->error);
	free(h->error_type);
	free(h->agent_version);
	free(h);
}

static ck_err
health_reply(const Response *rsp, void *arg)
{
	const Cachekit__Agent__V1__HealthResult *r = rsp->health;
	ck_health *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return CK_ENOMEM;
	h->healthy = r->healthy;
	h->latency_ms = r->latency_ms;
	h->backend_type = dup_string(r->backend_type);
	h->api_url = dup_string(r->api_url);
	h->version = dup_string(r->version);
	h->error = dup_string(r->error);
	h->error_type = dup_string(r->error_type);
	h->agent_version = dup_string(r->agent_version);
	if (!h->backend_type || !h->api_url || !h->version || !h->error || !h->error_type ||
	    !h->agent_version) {
		ck_health_free(h);
		return CK_ENOMEM;
	}
	*(ck_health **)arg = h;
	return CK_OK;
}

ck_err
ck_health_check(ck_client *c, const ck_call_opts *opts, ck_health **out)
{
	Request req = CACHEKIT__AGENT__V1__REQUEST__INIT;
	Cachekit__Agent__V1__HealthRequest hr = CACHEKIT__AGENT__V1__HEALTH_REQUEST__INIT;
	ck_health *h = NULL;
	ck_err rv;

	if (c == NULL || out == NULL)
		return CK_EINVAL;
	req.op_case = CACHEKIT__AGENT__V1__REQUEST__OP_HEALTH;
	req.health = &hr;
	rv = exchange(c, opts, &req, CACHEKIT__AGENT__V1__RESPONSE__RESULT_HEALTH, health_reply,
	              &h);
	if (rv == CK_OK)
		*out = h;
	return rv;
}

void
ck_stats_free(ck_stats *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->count; i++)
		free(s->items[i].name);
	free(s->items);
	free(s);
}

static int
stat_cmp(const void *a, const void *b)
{
	return strcmp(((const ck_stat *)a)->name, ((const ck_stat *)b)->name);
}

static ck_err
stats_reply(const Response *rsp, void *arg)
{
	const Cachekit__Agent__V1__StatsResult *r = rsp->stats;
	ck_stats *s = calloc(1, sizeof(*s));
	size_t i;

	if (s == NULL)
		return CK_ENOMEM;
	if (r->n_stats > 0 && (s->items = calloc(r->n_stats, sizeof(*s->items))) == NULL) {
		free(s);
		return CK_ENOMEM;
	}
	for (i = 0; i < r->n_stats; i++) {
		const Cachekit__Agent__V1__Stat *st = r->stats[i];
		if ((s->items[i].name = dup_string(st ? st->name : "")) == NULL) {
			ck_stats_free(s);
			return CK_ENOMEM;
		}
		s->items[i].value = st ? st->value : 0.0;
		s->count = i + 1;
	}
	/* The contract says sorted; sorting here makes it true whatever the agent sends. */
	if (s->count > 1)
		qsort(s->items, s->count, sizeof(*s->items), stat_cmp);
	*(ck_stats **)arg = s;
	return CK_OK;
}

ck_err
ck_stats_get(ck_client *c, const ck_call_opts *opts, ck_stats **out)
{
	Request req = CACHEKIT__AGENT__V1__REQUEST__INIT;
	Cachekit__Agent__V1__StatsRequest sr = CACHEKIT__AGENT__V1__STATS_REQUEST__INIT;
	ck_stats *s = NULL;
	ck_err rv;

	if (c == NULL || out == NULL)
		return CK_EINVAL;
	req.op_case = CACHEKIT__AGENT__V1__REQUEST__OP_STATS;
	req.stats = &sr;
	rv = exchange(c, opts, &req, CACHEKIT__AGENT__V1__RESPONSE__RESULT_STATS, stats_reply, &s);
	if (rv == CK_OK)
		*out = s;
	return rv;
}

/* ---- reply decoding, by expected result (stub_internal.h) -------------------------------- */

cki_reply_verdict
cki_reply_decode(const uint8_t *frame, size_t len, uint64_t id, cki_reply_kind kind, ck_err *rv,
                 cki_reply *out, char *message, size_t message_cap)
{
	struct get_reply get = {false, NULL};
	struct ttl_reply ttl = {false, 0};
	struct lock_reply lock = {false, NULL};
	reply_fn fn = ignore_reply;
	void *arg = NULL;
	cki_reply_verdict v;

	memset(out, 0, sizeof(*out));
	*rv = CK_EPROTO;
	switch (kind) {
	case CKI_REPLY_GET:
		fn = get_reply;
		arg = &get;
		break;
	case CKI_REPLY_SET:
		break;
	case CKI_REPLY_DELETE:
		fn = delete_reply;
		arg = &out->flag;
		break;
	case CKI_REPLY_EXISTS:
		fn = exists_reply;
		arg = &out->flag;
		break;
	case CKI_REPLY_GET_TTL:
		fn = ttl_reply;
		arg = &ttl;
		break;
	case CKI_REPLY_REFRESH_TTL:
		fn = refresh_reply;
		arg = &out->flag;
		break;
	case CKI_REPLY_ACQUIRE_LOCK:
		fn = lock_reply;
		arg = &lock;
		break;
	case CKI_REPLY_RELEASE_LOCK:
		fn = release_reply;
		break;
	case CKI_REPLY_HEALTH:
		fn = health_reply;
		arg = &out->health;
		break;
	case CKI_REPLY_STATS:
		fn = stats_reply;
		arg = &out->stats;
		break;
	default:
		return CKI_REPLY_MALFORMED;
	}
	v = decode_reply(frame, len, id, (Cachekit__Agent__V1__Response__ResultCase)kind, fn, arg,
	                 rv, message, message_cap);
	if (kind == CKI_REPLY_GET) {
		out->flag = get.found;
		out->value = get.value;
	} else if (kind == CKI_REPLY_GET_TTL) {
		out->flag = ttl.found;
		out->ttl_s = ttl.ttl_s;
	} else if (kind == CKI_REPLY_ACQUIRE_LOCK) {
		out->flag = lock.acquired;
		out->lock = lock.lock;
	}
	return v;
}

void
cki_reply_clear(cki_reply *out)
{
	ck_value_free(out->value);
	ck_lock_free(out->lock);
	ck_health_free(out->health);
	ck_stats_free(out->stats);
	memset(out, 0, sizeof(*out));
}
