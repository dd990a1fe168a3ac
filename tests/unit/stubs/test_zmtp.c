/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for stubs/c/zmtp.c, the blocking calls' own ZMTP 3.0 connection. The decoders are
 * checked on hand-made bytes; the connection talks to a real libzmq ROUTER (the agent's socket
 * type) and to raw unix-socket peers that send what a ROUTER would not: another protocol, an
 * ERROR command, a PING, an oversized frame, a multi-frame message.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <zmq.h>

#include "cunit_main.h"
#include "os.h"
#include "zmtp.h"

#define DEADLINE_MS 30000 /* only a hang reaches it */
#define MAX_BODY    (64u << 20)

/* A greeting as libzmq's ROUTER sends it (ZMTP 3.1, NULL, as-server). */
static void
router_greeting(uint8_t g[CKI_ZMTP_GREETING_LEN])
{
	memset(g, 0, CKI_ZMTP_GREETING_LEN);
	g[0] = 0xff;
	g[8] = 1;
	g[9] = 0x7f;
	g[10] = 3;
	g[11] = 1;
	memcpy(g + 12, "NULL", 4);
	g[32] = 1;
}

/* READY with one property; returns the frame's length. */
static size_t
ready_frame(uint8_t *out, const char *socket_type)
{
	size_t tl = strlen(socket_type), n = 0;
	out[n++] = 0x04;
	out[n++] = (uint8_t)(6 + 12 + 4 + tl);
	memcpy(out + n, "\5READY", 6);
	n += 6;
	memcpy(out + n, "\13Socket-Type", 12);
	n += 12;
	out[n++] = 0;
	out[n++] = 0;
	out[n++] = 0;
	out[n++] = (uint8_t)tl;
	memcpy(out + n, socket_type, tl);
	return n + tl;
}

static int64_t
deadline(int ms)
{
	return cki_stub_now_ms() + ms;
}

/* ---- decoders ----------------------------------------------------------------------------- */

static void
test_greeting_is_checked(void)
{
	uint8_t g[CKI_ZMTP_GREETING_LEN];
	router_greeting(g);
	CU_ASSERT_EQUAL(cki_zmtp_check_greeting(g, sizeof(g)), CKI_ZMTP_OK);
	CU_ASSERT_EQUAL(cki_zmtp_check_greeting(g, 11), CKI_ZMTP_NEED_MORE);
	CU_ASSERT_EQUAL(cki_zmtp_check_greeting(g, 0), CKI_ZMTP_NEED_MORE);
	/* Another protocol is refused on its first byte, not after 64 it may never send. */
	CU_ASSERT_EQUAL(cki_zmtp_check_greeting((const uint8_t *)"H", 1), CKI_ZMTP_BAD);
	g[9] = 0x7e;
	CU_ASSERT_EQUAL(cki_zmtp_check_greeting(g, 10), CKI_ZMTP_BAD);
	router_greeting(g);
	g[10] = 2; /* ZMTP 2.0 */
	CU_ASSERT_EQUAL(cki_zmtp_check_greeting(g, sizeof(g)), CKI_ZMTP_BAD);
	router_greeting(g);
	memcpy(g + 12, "CURVE", 5);
	CU_ASSERT_EQUAL(cki_zmtp_check_greeting(g, sizeof(g)), CKI_ZMTP_BAD);
	router_greeting(g);
	g[16] = 'X'; /* "NULLX": not NULL */
	CU_ASSERT_EQUAL(cki_zmtp_check_greeting(g, sizeof(g)), CKI_ZMTP_BAD);
}

static void
test_frame_headers_are_parsed(void)
{
	cki_zmtp_frame f;
	uint8_t short_more[] = {0x01, 7};
	CU_ASSERT_EQUAL(cki_zmtp_parse_frame(short_more, 2, MAX_BODY, &f), CKI_ZMTP_OK);
	CU_ASSERT_EQUAL(f.header_len, 2);
	CU_ASSERT_EQUAL(f.body_len, 7);
	CU_ASSERT_TRUE(f.more);
	CU_ASSERT_FALSE(f.command);
	uint8_t long_[] = {0x02, 0, 0, 0, 0, 0, 1, 0, 1};
	CU_ASSERT_EQUAL(cki_zmtp_parse_frame(long_, 9, MAX_BODY, &f), CKI_ZMTP_OK);
	CU_ASSERT_EQUAL(f.header_len, 9);
	CU_ASSERT_EQUAL(f.body_len, 65537);
	CU_ASSERT_EQUAL(cki_zmtp_parse_frame(long_, 8, MAX_BODY, &f), CKI_ZMTP_NEED_MORE);
	CU_ASSERT_EQUAL(cki_zmtp_parse_frame(long_, 9, 65536, &f), CKI_ZMTP_BAD);
	uint8_t huge[] = {0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	CU_ASSERT_EQUAL(cki_zmtp_parse_frame(huge, 9, MAX_BODY, &f), CKI_ZMTP_BAD);
	uint8_t reserved[] = {0x08, 0};
	CU_ASSERT_EQUAL(cki_zmtp_parse_frame(reserved, 2, MAX_BODY, &f), CKI_ZMTP_BAD);
	uint8_t command_more[] = {0x05, 0};
	CU_ASSERT_EQUAL(cki_zmtp_parse_frame(command_more, 2, MAX_BODY, &f), CKI_ZMTP_BAD);
	uint8_t big_command[] = {0x06, 0, 0, 0, 0, 0, 0, 0x10, 1};
	CU_ASSERT_EQUAL(cki_zmtp_parse_frame(big_command, 9, MAX_BODY, &f), CKI_ZMTP_BAD);
	CU_ASSERT_EQUAL(cki_zmtp_parse_frame(short_more, 1, MAX_BODY, &f), CKI_ZMTP_NEED_MORE);
}

static void
test_commands_are_classified(void)
{
	uint8_t buf[128];
	char reason[32];
	size_t n = ready_frame(buf, "ROUTER");
	CU_ASSERT_EQUAL(cki_zmtp_parse_command(buf + 2, n - 2, reason, sizeof(reason)),
	                CKI_ZMTP_CMD_READY);
	/* A PUB or a second DEALER is not the agent. */
	n = ready_frame(buf, "PUB");
	CU_ASSERT_EQUAL(cki_zmtp_parse_command(buf + 2, n - 2, reason, sizeof(reason)),
	                CKI_ZMTP_CMD_BAD);
	/* A property whose value runs past the command. */
	n = ready_frame(buf, "ROUTER");
	CU_ASSERT_EQUAL(cki_zmtp_parse_command(buf + 2, n - 3, reason, sizeof(reason)),
	                CKI_ZMTP_CMD_BAD);
	/* READY without a Socket-Type. */
	CU_ASSERT_EQUAL(
	        cki_zmtp_parse_command((const uint8_t *)"\5READY", 6, reason, sizeof(reason)),
	        CKI_ZMTP_CMD_BAD);
	const uint8_t error[] = "\5ERROR\x0d"
	                        "Access\x01"
	                        "denied";
	CU_ASSERT_EQUAL(cki_zmtp_parse_command(error, sizeof(error) - 1, reason, sizeof(reason)),
	                CKI_ZMTP_CMD_ERROR);
	CU_ASSERT_STRING_EQUAL(reason, "Access?denied"); /* the peer's text, printable only */
	const uint8_t error_long[] = "\5ERROR\x09"
	                             "abc";
	CU_ASSERT_EQUAL(
	        cki_zmtp_parse_command(error_long, sizeof(error_long) - 1, reason, sizeof(reason)),
	        CKI_ZMTP_CMD_BAD);
	CU_ASSERT_EQUAL(
	        cki_zmtp_parse_command((const uint8_t *)"\4PING\0\0", 7, reason, sizeof(reason)),
	        CKI_ZMTP_CMD_PING);
	CU_ASSERT_EQUAL(
	        cki_zmtp_parse_command((const uint8_t *)"\4PING\0", 6, reason, sizeof(reason)),
	        CKI_ZMTP_CMD_BAD);
	CU_ASSERT_EQUAL(
	        cki_zmtp_parse_command((const uint8_t *)"\11SUBSCRIBE", 10, reason, sizeof(reason)),
	        CKI_ZMTP_CMD_OTHER);
	CU_ASSERT_EQUAL(cki_zmtp_parse_command((const uint8_t *)"\0", 1, reason, sizeof(reason)),
	                CKI_ZMTP_CMD_BAD);
	CU_ASSERT_EQUAL(
	        cki_zmtp_parse_command((const uint8_t *)"\7READY", 6, reason, sizeof(reason)),
	        CKI_ZMTP_CMD_BAD);
	CU_ASSERT_EQUAL(cki_zmtp_parse_command(NULL, 0, reason, sizeof(reason)), CKI_ZMTP_CMD_BAD);
}

static void
test_ipc_endpoints_become_unix_addresses(void)
{
	struct sockaddr_un sa;
	socklen_t len;
	CU_ASSERT_TRUE(cki_zmtp_ipc_address("ipc:///run/cachekit/agent.sock", &sa, &len));
	CU_ASSERT_STRING_EQUAL(sa.sun_path, "/run/cachekit/agent.sock");
	CU_ASSERT_TRUE(cki_zmtp_ipc_address("ipc://@ck-abstract", &sa, &len));
	CU_ASSERT_EQUAL(sa.sun_path[0], '\0');
	CU_ASSERT(memcmp(sa.sun_path + 1, "ck-abstract", 11) == 0);
	CU_ASSERT_EQUAL(len, offsetof(struct sockaddr_un, sun_path) + 12);
	CU_ASSERT_FALSE(cki_zmtp_ipc_address("tcp://127.0.0.1:5555", &sa, &len));
	CU_ASSERT_FALSE(cki_zmtp_ipc_address("ipc://", &sa, &len));
	char longer[200] = "ipc:///";
	memset(longer + 7, 'a', sizeof(longer) - 8);
	longer[sizeof(longer) - 1] = '\0';
	CU_ASSERT_FALSE(cki_zmtp_ipc_address(longer, &sa, &len));
}

/* ---- against a real libzmq ROUTER ----------------------------------------------------------- */

static char endpoint[108];

static void *
bind_router(void **ctx)
{
	int linger = 0;
	snprintf(endpoint, sizeof(endpoint), "ipc:///tmp/ck-test-zmtp-%d.sock", (int)getpid());
	*ctx = zmq_ctx_new();
	void *r = zmq_socket(*ctx, ZMQ_ROUTER);
	zmq_setsockopt(r, ZMQ_LINGER, &linger, sizeof(linger));
	CU_ASSERT_FATAL(zmq_bind(r, endpoint) == 0);
	return r;
}

static void
unbind_router(void *ctx, void *r)
{
	zmq_close(r);
	zmq_ctx_term(ctx);
	unlink(endpoint + strlen("ipc://"));
}

static void
connect_to(cki_zmtp *z)
{
	struct sockaddr_un sa;
	socklen_t len;
	char msg[256];
	CU_ASSERT_FATAL(cki_zmtp_ipc_address(endpoint, &sa, &len));
	cki_zmtp_init(z);
	CU_ASSERT_EQUAL_FATAL(
	        cki_zmtp_connect(z, &sa, len, deadline(DEADLINE_MS), msg, sizeof(msg)), CK_OK);
}

/* Sends body as one frame; the router must receive exactly it. Replies with reply. */
static void
round_trip(cki_zmtp *z, void *router, size_t body_len, size_t reply_len)
{
	char msg[256];
	bool untouched;
	uint8_t *body = cki_zmtp_stage(z, body_len);
	CU_ASSERT_FATAL(body != NULL);
	for (size_t i = 0; i < body_len; i++)
		body[i] = (uint8_t)(i * 7 + 1);
	CU_ASSERT_EQUAL_FATAL(cki_zmtp_send(z, deadline(DEADLINE_MS), &untouched, msg, sizeof(msg)),
	                      CK_OK);
	CU_ASSERT_FALSE(untouched);

	zmq_msg_t id, part;
	zmq_msg_init(&id);
	zmq_msg_init(&part);
	CU_ASSERT_FATAL(zmq_msg_recv(&id, router, 0) >= 0);
	CU_ASSERT_FATAL(zmq_msg_recv(&part, router, 0) >= 0);
	CU_ASSERT_FALSE(zmq_msg_more(&part)); /* one frame, no delimiter: what the agent expects */
	CU_ASSERT_EQUAL_FATAL(zmq_msg_size(&part), body_len);
	const uint8_t *got = zmq_msg_data(&part);
	size_t bad = 0;
	for (size_t i = 0; i < body_len; i++)
		bad += got[i] != (uint8_t)(i * 7 + 1);
	CU_ASSERT_EQUAL(bad, 0);

	uint8_t *reply = malloc(reply_len + 1);
	for (size_t i = 0; i < reply_len; i++)
		reply[i] = (uint8_t)(i * 13 + 5);
	zmq_msg_send(&id, router, ZMQ_SNDMORE);
	CU_ASSERT(zmq_send(router, reply, reply_len, 0) == (int)reply_len);
	zmq_msg_close(&part);

	const uint8_t *rb;
	size_t rl;
	bool multipart;
	CU_ASSERT_EQUAL_FATAL(cki_zmtp_recv(z, deadline(DEADLINE_MS), MAX_BODY, &rb, &rl,
	                                    &multipart, msg, sizeof(msg)),
	                      CK_OK);
	CU_ASSERT_FALSE(multipart);
	CU_ASSERT_EQUAL_FATAL(rl, reply_len);
	CU_ASSERT(memcmp(rb, reply, reply_len) == 0);
	free(reply);
}

static void
test_round_trips_with_a_libzmq_router(void)
{
	void *ctx, *router = bind_router(&ctx);
	cki_zmtp z;
	connect_to(&z);
	round_trip(&z, router, 27, 101);            /* short frames both ways */
	round_trip(&z, router, 300, 70000);         /* long (8-byte size) frames */
	round_trip(&z, router, 0, 0);               /* empty frames */
	round_trip(&z, router, 3u << 20, 5u << 20); /* bigger than any socket buffer */
	round_trip(&z, router, 64, 64);             /* and small again: buffers shrink */
	CU_ASSERT(z.in_cap <= 1024 * 1024);
	cki_zmtp_close(&z);
	CU_ASSERT_EQUAL(z.fd, -1);
	unbind_router(ctx, router);
}

static void
test_multipart_message_is_flagged_and_skipped(void)
{
	void *ctx, *router = bind_router(&ctx);
	cki_zmtp z;
	char msg[256];
	bool untouched, multipart;
	connect_to(&z);
	memcpy(cki_zmtp_stage(&z, 1), "x", 1);
	CU_ASSERT_EQUAL_FATAL(
	        cki_zmtp_send(&z, deadline(DEADLINE_MS), &untouched, msg, sizeof(msg)), CK_OK);
	zmq_msg_t id, part;
	zmq_msg_init(&id);
	zmq_msg_init(&part);
	CU_ASSERT_FATAL(zmq_msg_recv(&id, router, 0) >= 0);
	CU_ASSERT_FATAL(zmq_msg_recv(&part, router, 0) >= 0);
	zmq_msg_t id2;
	zmq_msg_init(&id2);
	zmq_msg_copy(&id2, &id);
	zmq_msg_send(&id, router, ZMQ_SNDMORE);
	zmq_send(router, "a", 1, ZMQ_SNDMORE);
	zmq_send(router, "b", 1, 0);
	zmq_msg_send(&id2, router, ZMQ_SNDMORE);
	zmq_send(router, "ok", 2, 0);
	zmq_msg_close(&part);

	const uint8_t *b;
	size_t l;
	CU_ASSERT_EQUAL(cki_zmtp_recv(&z, deadline(DEADLINE_MS), MAX_BODY, &b, &l, &multipart, msg,
	                              sizeof(msg)),
	                CK_OK);
	CU_ASSERT_TRUE(multipart);
	CU_ASSERT_PTR_NULL(b);
	CU_ASSERT_EQUAL(cki_zmtp_recv(&z, deadline(DEADLINE_MS), MAX_BODY, &b, &l, &multipart, msg,
	                              sizeof(msg)),
	                CK_OK);
	CU_ASSERT_FALSE(multipart);
	CU_ASSERT_EQUAL(l, 2);
	CU_ASSERT(b != NULL && memcmp(b, "ok", 2) == 0);
	cki_zmtp_close(&z);
	unbind_router(ctx, router);
}

static void
test_closed_connection_is_reported_untouched(void)
{
	void *ctx, *router = bind_router(&ctx);
	cki_zmtp z;
	char msg[256];
	bool untouched = false;
	connect_to(&z);
	round_trip(&z, router, 10, 10);
	unbind_router(ctx, router); /* the agent goes away between two calls */
	memcpy(cki_zmtp_stage(&z, 1), "x", 1);
	CU_ASSERT_EQUAL(cki_zmtp_send(&z, deadline(DEADLINE_MS), &untouched, msg, sizeof(msg)),
	                CK_ECONNECT);
	CU_ASSERT_TRUE(untouched); /* nothing left: safe to send again elsewhere */
	cki_zmtp_close(&z);
}

static void
test_connect_without_listener_times_out(void)
{
	struct sockaddr_un sa;
	socklen_t len;
	char msg[256] = "";
	cki_zmtp z;
	cki_zmtp_init(&z);
	CU_ASSERT_FATAL(cki_zmtp_ipc_address("ipc:///tmp/ck-test-zmtp-nobody.sock", &sa, &len));
	CU_ASSERT_EQUAL(cki_zmtp_connect(&z, &sa, len, deadline(100), msg, sizeof(msg)),
	                CK_ETIMEDOUT);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "No such file"));
	CU_ASSERT_EQUAL(z.fd, -1);
	/* A path that is not a directory is not going to become a socket: no retrying. */
	CU_ASSERT_FATAL(cki_zmtp_ipc_address("ipc:///dev/null/agent.sock", &sa, &len));
	CU_ASSERT_EQUAL(cki_zmtp_connect(&z, &sa, len, deadline(DEADLINE_MS), msg, sizeof(msg)),
	                CK_ECONNECT);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "Not a directory"));
}

/* ---- against raw peers ---------------------------------------------------------------------- */

/* A listening unix socket the test answers by hand, in the same thread: what it writes waits
 * in the kernel until the connection reads it. */
static int
raw_listen(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(endpoint, sizeof(endpoint), "ipc:///tmp/ck-test-zmtp-raw-%d.sock", (int)getpid());
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", endpoint + strlen("ipc://"));
	unlink(sa.sun_path);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_FATAL(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	CU_ASSERT_FATAL(listen(fd, 4) == 0);
	return fd;
}

static int
raw_accept(int lfd, cki_zmtp *z, const void *peer_bytes, size_t n)
{
	connect_to(z);
	int fd = accept(lfd, NULL, NULL);
	CU_ASSERT_FATAL(fd >= 0);
	if (n > 0)
		CU_ASSERT_FATAL(write(fd, peer_bytes, n) == (ssize_t)n);
	return fd;
}

static void
raw_done(int lfd, int fd, cki_zmtp *z)
{
	cki_zmtp_close(z);
	close(fd);
	close(lfd);
	unlink(endpoint + strlen("ipc://"));
}

/* Sends one frame through z (handshake included); returns the result. */
static ck_err
send_one(cki_zmtp *z, char *msg, size_t cap)
{
	bool untouched;
	memcpy(cki_zmtp_stage(z, 2), "hi", 2);
	return cki_zmtp_send(z, deadline(DEADLINE_MS), &untouched, msg, cap);
}

/* Reads from the raw peer's end until at least want bytes are in buf; how many came. */
static size_t
read_at_least(int fd, uint8_t *buf, size_t cap, size_t want)
{
	size_t have = 0;
	while (have < want) {
		ssize_t r = read(fd, buf + have, cap - have);
		CU_ASSERT_FATAL(r > 0);
		have += (size_t)r;
	}
	return have;
}

static void
test_another_protocol_is_refused(void)
{
	int lfd = raw_listen();
	cki_zmtp z;
	char msg[256] = "";
	const char http[] = "HTTP/1.1 400 Bad Request\r\n\r\n";
	int fd = raw_accept(lfd, &z, http, sizeof(http) - 1);
	CU_ASSERT_EQUAL(send_one(&z, msg, sizeof(msg)), CK_ECONNECT);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "not a ZeroMQ"));
	raw_done(lfd, fd, &z);
}

static void
test_error_command_is_reported(void)
{
	int lfd = raw_listen();
	cki_zmtp z;
	char msg[256] = "";
	uint8_t bytes[CKI_ZMTP_GREETING_LEN + 32];
	router_greeting(bytes);
	size_t n = CKI_ZMTP_GREETING_LEN;
	memcpy(bytes + n,
	       "\x04\x0f\x05"
	       "ERROR\x08"
	       "go away",
	       17);
	n += 17;
	int fd = raw_accept(lfd, &z, bytes, n);
	CU_ASSERT_EQUAL(send_one(&z, msg, sizeof(msg)), CK_ECONNECT);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "go away"));
	raw_done(lfd, fd, &z);
}

static void
test_ping_is_answered_and_oversized_frame_refused(void)
{
	int lfd = raw_listen();
	cki_zmtp z;
	char msg[256] = "";
	uint8_t bytes[256];
	router_greeting(bytes);
	size_t n = CKI_ZMTP_GREETING_LEN;
	n += ready_frame(bytes + n, "ROUTER");
	int fd = raw_accept(lfd, &z, bytes, n);
	CU_ASSERT_EQUAL_FATAL(send_one(&z, msg, sizeof(msg)), CK_OK);
	/* What the connection sent: our greeting, READY and the frame "hi". */
	uint8_t got[512];
	size_t have = read_at_least(fd, got, sizeof(got), CKI_ZMTP_GREETING_LEN + 30 + 4);
	CU_ASSERT_EQUAL(cki_zmtp_check_greeting(got, have), CKI_ZMTP_OK);
	CU_ASSERT_EQUAL(got[CKI_ZMTP_GREETING_LEN], 0x04);
	CU_ASSERT(memcmp(got + have - 4, "\x00\x02hi", 4) == 0);

	/* PING (TTL 0, context "ctx") then an oversized frame header. */
	const uint8_t ping_and_huge[] = {0x04, 0x0a, 0x04, 'P', 'I', 'N', 'G', 0, 0, 'c', 't',
	                                 'x',  0x02, 0x7f, 0,   0,   0,   0,   0, 0, 0};
	CU_ASSERT_FATAL(write(fd, ping_and_huge, sizeof(ping_and_huge)) ==
	                (ssize_t)sizeof(ping_and_huge));
	const uint8_t *b;
	size_t l;
	bool multipart;
	CU_ASSERT_EQUAL(cki_zmtp_recv(&z, deadline(DEADLINE_MS), MAX_BODY, &b, &l, &multipart, msg,
	                              sizeof(msg)),
	                CK_ECONNECT);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "oversized"));
	struct pollfd p = {.fd = fd, .events = POLLIN};
	CU_ASSERT_FATAL(poll(&p, 1, DEADLINE_MS) == 1);
	ssize_t r = read(fd, got, sizeof(got));
	CU_ASSERT_EQUAL(r, 10);
	CU_ASSERT(r == 10 && memcmp(got, "\x04\x08\x04PONGctx", 10) == 0);
	raw_done(lfd, fd, &z);
}

static void
test_message_before_ready_is_refused(void)
{
	int lfd = raw_listen();
	cki_zmtp z;
	char msg[256] = "";
	uint8_t bytes[CKI_ZMTP_GREETING_LEN + 4];
	router_greeting(bytes);
	memcpy(bytes + CKI_ZMTP_GREETING_LEN, "\x00\x02hi", 4);
	int fd = raw_accept(lfd, &z, bytes, sizeof(bytes));
	CU_ASSERT_EQUAL(send_one(&z, msg, sizeof(msg)), CK_ECONNECT);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "before its READY"));
	raw_done(lfd, fd, &z);
}

static void
test_silent_peer_times_out(void)
{
	int lfd = raw_listen();
	cki_zmtp z;
	char msg[256] = "";
	bool untouched;
	int fd = raw_accept(lfd, &z, NULL, 0);
	memcpy(cki_zmtp_stage(&z, 2), "hi", 2);
	CU_ASSERT_EQUAL(cki_zmtp_send(&z, deadline(100), &untouched, msg, sizeof(msg)),
	                CK_ETIMEDOUT);
	CU_ASSERT_TRUE(untouched);
	raw_done(lfd, fd, &z);
}

static bool
readable_now(int fd, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	return poll(&p, 1, ms) == 1;
}

/* The asynchronous API's side: a connect and a handshake that never wait, writes that stop
 * when the socket is full, and one epoll descriptor that says when to come back, across a
 * reconnect. */
static void
test_nonblocking_side_and_event_descriptor(void)
{
	int lfd = raw_listen();
	struct sockaddr_un sa;
	socklen_t sa_len;
	char msg[256] = "";
	cki_zmtp z;
	cki_zmtp_init(&z);
	CU_ASSERT_FATAL(cki_zmtp_ipc_address(endpoint, &sa, &sa_len));
	int epfd = cki_zmtp_event_fd(&z); /* before any connection, as ck_client_fd() may be */
	CU_ASSERT_FATAL(epfd >= 0);
	CU_ASSERT_EQUAL_FATAL(cki_zmtp_connect_nowait(&z, &sa, sa_len, msg, sizeof(msg)), CK_OK);
	int fd = accept(lfd, NULL, NULL);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_FALSE(readable_now(epfd, 0));
	CU_ASSERT_EQUAL(cki_zmtp_handshake_nowait(&z, msg, sizeof(msg)), CK_ETIMEDOUT);
	uint8_t got[CKI_ZMTP_GREETING_LEN + 30];
	CU_ASSERT_EQUAL(read(fd, got, sizeof(got)), (ssize_t)sizeof(got)); /* greeting, READY */
	CU_ASSERT_EQUAL(cki_zmtp_check_greeting(got, sizeof(got)), CKI_ZMTP_OK);
	uint8_t bytes[128];
	router_greeting(bytes);
	size_t n = CKI_ZMTP_GREETING_LEN + ready_frame(bytes + CKI_ZMTP_GREETING_LEN, "ROUTER");
	CU_ASSERT_FATAL(write(fd, bytes, n) == (ssize_t)n);
	CU_ASSERT_TRUE(readable_now(epfd, DEADLINE_MS));
	CU_ASSERT_EQUAL(cki_zmtp_handshake_nowait(&z, msg, sizeof(msg)), CK_OK);
	CU_ASSERT_FALSE(readable_now(epfd, 0)); /* level-triggered: nothing left to read */

	/* Fill the socket: a short write, then none. */
	static uint8_t chunk[65536];
	struct iovec iov = {chunk, sizeof(chunk)};
	ssize_t w;
	size_t written = 0;
	while ((w = cki_zmtp_writev_nowait(&z, &iov, 1, msg, sizeof(msg))) ==
	       (ssize_t)sizeof(chunk))
		written += (size_t)w;
	CU_ASSERT_FATAL(w >= 0);
	written += (size_t)w;
	CU_ASSERT_EQUAL(cki_zmtp_writev_nowait(&z, &iov, 1, msg, sizeof(msg)), 0);
	cki_zmtp_watch_write(&z, true);
	CU_ASSERT_FALSE(readable_now(epfd, 0));
	size_t drained = 0;
	while (drained < written) {
		ssize_t r = read(fd, chunk, sizeof(chunk));
		CU_ASSERT_FATAL(r > 0);
		drained += (size_t)r;
	}
	CU_ASSERT_TRUE(readable_now(epfd, DEADLINE_MS)); /* room again */
	cki_zmtp_watch_write(&z, false);
	CU_ASSERT_FALSE(readable_now(epfd, 0));

	/* A new connection is watched through the same descriptor. */
	CU_ASSERT_EQUAL_FATAL(cki_zmtp_connect_nowait(&z, &sa, sa_len, msg, sizeof(msg)), CK_OK);
	int fd2 = accept(lfd, NULL, NULL);
	CU_ASSERT_FATAL(fd2 >= 0);
	CU_ASSERT_FATAL(write(fd2, bytes, n) == (ssize_t)n);
	CU_ASSERT_TRUE(readable_now(epfd, DEADLINE_MS));
	CU_ASSERT_EQUAL(cki_zmtp_event_fd(&z), epfd);
	close(fd2);

	/* Nobody listening: try later; a path that cannot be a socket: fail. */
	CU_ASSERT_FATAL(cki_zmtp_ipc_address("ipc:///tmp/ck-test-zmtp-nobody.sock", &sa, &sa_len));
	CU_ASSERT_EQUAL(cki_zmtp_connect_nowait(&z, &sa, sa_len, msg, sizeof(msg)), CK_ETIMEDOUT);
	CU_ASSERT_FATAL(cki_zmtp_ipc_address("ipc:///dev/null/agent.sock", &sa, &sa_len));
	CU_ASSERT_EQUAL(cki_zmtp_connect_nowait(&z, &sa, sa_len, msg, sizeof(msg)), CK_ECONNECT);
	raw_done(lfd, fd, &z);
}

/* A frame abandoned half-written (an asynchronous request past its deadline while the socket
 * was full) leaves its rest owed: it goes before the next frame, so the stream stays whole. */
static void
test_owed_rest_goes_before_the_next_frame(void)
{
	int lfd = raw_listen();
	cki_zmtp z;
	char msg[256] = "";
	uint8_t bytes[128];
	router_greeting(bytes);
	size_t n = CKI_ZMTP_GREETING_LEN + ready_frame(bytes + CKI_ZMTP_GREETING_LEN, "ROUTER");
	int fd = raw_accept(lfd, &z, bytes, n);
	CU_ASSERT_EQUAL_FATAL(send_one(&z, msg, sizeof(msg)), CK_OK); /* handshake + "hi" */
	uint8_t got[256];
	size_t have = read_at_least(fd, got, sizeof(got), CKI_ZMTP_GREETING_LEN + 30 + 4);
	/* "\x00\x05" "hello" with its first byte written: "\x05hello" is owed ... */
	struct iovec iov[2] = {{(void *)"\x00\x05", 2}, {(void *)"hello", 5}};
	CU_ASSERT_TRUE(cki_zmtp_owe(&z, iov, 2, 1));
	CU_ASSERT_EQUAL(z.owed_len, 6);
	/* ... and a second abandoned frame, its header half written, adds its rest. */
	struct iovec iov2[2] = {{(void *)"\x00\x03", 2}, {(void *)"abc", 3}};
	CU_ASSERT_TRUE(cki_zmtp_owe(&z, iov2, 2, 1));
	CU_ASSERT_EQUAL(z.owed_len, 10);
	CU_ASSERT_EQUAL_FATAL(send_one(&z, msg, sizeof(msg)), CK_OK);
	CU_ASSERT_EQUAL(z.owed_len, 0);
	have = read_at_least(fd, got, sizeof(got), 14);
	CU_ASSERT_EQUAL(have, 14);
	CU_ASSERT(memcmp(got,
	                 "\x05hello\x03"
	                 "abc\x00\x02hi",
	                 14) == 0);
	/* Non-blocking: owed bytes leave first, and nothing is owed afterwards. */
	CU_ASSERT_TRUE(cki_zmtp_owe(&z, iov, 2, 6));
	CU_ASSERT_EQUAL(cki_zmtp_flush_owed_nowait(&z, msg, sizeof(msg)), 1);
	CU_ASSERT_EQUAL(read(fd, got, sizeof(got)), 1);
	CU_ASSERT_EQUAL(got[0], 'o');
	/* A new connection owes nothing. */
	CU_ASSERT_TRUE(cki_zmtp_owe(&z, iov, 2, 0));
	cki_zmtp_disconnect(&z);
	CU_ASSERT_EQUAL(z.owed_len, 0);
	CU_ASSERT_PTR_NULL(z.owed);
	raw_done(lfd, fd, &z);
}

/* fork() copies the socket and the event set's descriptor into the child. In the parent, a
 * connection that ends must leave the set although the child's copy keeps the socket open (or
 * the dead socket keeps the set readable: a loop that never sleeps). In the child, forgetting
 * the inherited connection must not touch the set, which is the parent's too. */
static void
test_fork_copies_leave_the_event_set_alone(void)
{
	int lfd = raw_listen();
	cki_zmtp z;
	char msg[256];
	int fd = raw_accept(lfd, &z, NULL, 0);
	int epfd = cki_zmtp_event_fd(&z);
	int gate[2], done[2];
	CU_ASSERT_FATAL(epfd >= 0 && pipe(gate) == 0 && pipe(done) == 0);

	/* The first child forgets what it inherited, says so, and waits. */
	pid_t pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		cki_zmtp_abandon(&z);
		char ch = 'a';
		close(gate[1]);
		if (write(done[1], &ch, 1) != 1)
			_exit(2);
		_exit(read(gate[0], &ch, 1) < 0 ? 1 : 0);
	}
	char ch;
	CU_ASSERT_EQUAL_FATAL(read(done[0], &ch, 1), 1); /* its abandon has run */
	close(done[0]);
	close(done[1]);
	pid_t pid2 = fork(); /* a second child that keeps every copy open, like a worker */
	CU_ASSERT_FATAL(pid2 >= 0);
	if (pid2 == 0) {
		close(gate[1]);
		_exit(read(gate[0], &ch, 1) < 0 ? 1 : 0);
	}
	/* The parent's registration survived the first child: data still wakes the set. */
	CU_ASSERT_FATAL(write(fd, "x", 1) == 1);
	CU_ASSERT_TRUE(readable_now(epfd, DEADLINE_MS));
	/* The agent's side ends; the parent sees it and disconnects. */
	close(fd);
	CU_ASSERT_TRUE(readable_now(epfd, DEADLINE_MS));
	cki_zmtp_disconnect(&z);
	CU_ASSERT_FALSE(readable_now(epfd, 0)); /* the second child's copy is not in the set */
	close(gate[0]);
	/* And a new connection is watched as before. */
	struct sockaddr_un sa;
	socklen_t sa_len;
	CU_ASSERT_FATAL(cki_zmtp_ipc_address(endpoint, &sa, &sa_len));
	CU_ASSERT_EQUAL_FATAL(cki_zmtp_connect_nowait(&z, &sa, sa_len, msg, sizeof(msg)), CK_OK);
	int fd2 = accept(lfd, NULL, NULL);
	CU_ASSERT_FATAL(fd2 >= 0 && write(fd2, "y", 1) == 1);
	CU_ASSERT_TRUE(readable_now(epfd, DEADLINE_MS));
	close(fd2);
	close(gate[1]);
	int st;
	CU_ASSERT_EQUAL(waitpid(pid, &st, 0), pid);
	CU_ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CU_ASSERT_EQUAL(waitpid(pid2, &st, 0), pid2);
	raw_done(lfd, -1, &z);
}

static CU_TestInfo tests[] = {
        {"the peer's greeting is checked", test_greeting_is_checked},
        {"frame headers are parsed and bounded", test_frame_headers_are_parsed},
        {"commands are classified", test_commands_are_classified},
        {"ipc endpoints become unix addresses", test_ipc_endpoints_become_unix_addresses},
        {"frames round-trip with a libzmq ROUTER", test_round_trips_with_a_libzmq_router},
        {"a multi-frame message is flagged and skipped",
         test_multipart_message_is_flagged_and_skipped},
        {"a closed connection is reported untouched", test_closed_connection_is_reported_untouched},
        {"connect without a listener times out", test_connect_without_listener_times_out},
        {"another protocol is refused", test_another_protocol_is_refused},
        {"an ERROR command is reported", test_error_command_is_reported},
        {"PING is answered, an oversized frame refused",
         test_ping_is_answered_and_oversized_frame_refused},
        {"a message before READY is refused", test_message_before_ready_is_refused},
        {"a silent peer times out", test_silent_peer_times_out},
        {"an owed rest goes before the next frame", test_owed_rest_goes_before_the_next_frame},
        {"fork copies leave the event set alone", test_fork_copies_leave_the_event_set_alone},
        {"the non-blocking side and its event descriptor",
         test_nonblocking_side_and_event_descriptor},
        CU_TEST_INFO_NULL,
};

CK_UNIT_SUITE("zmtp", tests)
