/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A ZMTP 3.0 DEALER over a unix stream socket (zmtp.h says why). The wire format is the one
 * libzmq speaks (rfc.zeromq.org/spec/23, ZMTP 3.0, and spec/24's NULL mechanism):
 *
 *   greeting  FF 00*7 01 7F | 03 00 | "NULL" 00*16 | as-server 00 | 00*31      (64 bytes)
 *   frame     flags (01 more, 02 long size, 04 command) | size 1 or 8 bytes (big-endian) | body
 *   READY     command body 05 "READY" then properties: name-len(1) name value-len(4) value
 *
 * A new connection sends our greeting and READY (Socket-Type DEALER) in one write and waits for
 * the agent's before the first request: libzmq takes a message that arrives before it has
 * sent its own READY for a second handshake command and drops the connection. Everything read
 * from the peer goes through the three pure decoders first.
 */
#include "zmtp.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/uio.h>
#include <unistd.h>

#include "os.h"

#define SIGNATURE_LAST 0x7f
#define FLAG_MORE      0x01
#define FLAG_LONG      0x02
#define FLAG_COMMAND   0x04
#define FLAG_RESERVED  0xf8
#define LONG_HEADER    9
#define SHORT_HEADER   2
#define IN_SMALL       8192          /* the receive buffer most replies fit in */
#define KEEP_BUFFER    (1024 * 1024) /* a bigger buffer is freed once it is empty */
#define RETRY_FIRST_MS 5             /* backlog full, or no socket yet: retry soon, then */
#define RETRY_MAX_MS   1000          /* back off like libzmq's reconnect interval */

/* Our greeting and READY, sent once per connection. */
static const uint8_t HELLO[] = {
        /* signature */
        0xff, 0, 0, 0, 0, 0, 0, 0, 0x01, SIGNATURE_LAST,
        /* version 3.1 */
        3, 1,
        /* mechanism, 20 bytes */
        'N', 'U', 'L', 'L', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        /* as-server, filler (31) */
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0,
        /* READY command: flags, size 28, 05 "READY", 0B "Socket-Type", 00 00 00 06 "DEALER" */
        FLAG_COMMAND, 28, 5, 'R', 'E', 'A', 'D', 'Y', 11, 'S', 'o', 'c', 'k', 'e', 't', '-', 'T',
        'y', 'p', 'e', 0, 0, 0, 6, 'D', 'E', 'A', 'L', 'E', 'R'};

_Static_assert(sizeof(HELLO) == CKI_ZMTP_GREETING_LEN + 30, "greeting + READY frame");

/* ---- pure decoders ------------------------------------------------------------------------ */

cki_zmtp_parse
cki_zmtp_check_greeting(const uint8_t *buf, size_t len)
{
	static const uint8_t null_mech[20] = {'N', 'U', 'L', 'L'};

	/* Judge the signature as soon as its bytes are here, so a non-ZMTP peer is dropped
	 * without waiting for 64 bytes it will never send. */
	if (len >= 1 && buf[0] != 0xff)
		return CKI_ZMTP_BAD;
	if (len >= 10 && buf[9] != SIGNATURE_LAST)
		return CKI_ZMTP_BAD;
	if (len >= 11 && buf[10] < 3)
		return CKI_ZMTP_BAD; /* ZMTP 1.0/2.0: libzmq 3.x and older */
	if (len < CKI_ZMTP_GREETING_LEN)
		return CKI_ZMTP_NEED_MORE;
	if (memcmp(buf + 12, null_mech, sizeof(null_mech)) != 0)
		return CKI_ZMTP_BAD; /* CURVE or PLAIN: not what the agent's endpoint speaks */
	return CKI_ZMTP_OK;
}

cki_zmtp_parse
cki_zmtp_parse_frame(const uint8_t *buf, size_t len, uint64_t max_body, cki_zmtp_frame *out)
{
	if (len < 1)
		return CKI_ZMTP_NEED_MORE;
	uint8_t flags = buf[0];
	if ((flags & FLAG_RESERVED) != 0 ||
	    (flags & (FLAG_COMMAND | FLAG_MORE)) == (FLAG_COMMAND | FLAG_MORE))
		return CKI_ZMTP_BAD;
	out->more = (flags & FLAG_MORE) != 0;
	out->command = (flags & FLAG_COMMAND) != 0;
	if (flags & FLAG_LONG) {
		if (len < LONG_HEADER)
			return CKI_ZMTP_NEED_MORE;
		uint64_t n = 0;
		for (int i = 1; i < LONG_HEADER; i++)
			n = n << 8 | buf[i];
		out->header_len = LONG_HEADER;
		out->body_len = n;
	} else {
		if (len < SHORT_HEADER)
			return CKI_ZMTP_NEED_MORE;
		out->header_len = SHORT_HEADER;
		out->body_len = buf[1];
	}
	if (out->body_len > (out->command ? CKI_ZMTP_MAX_COMMAND : max_body))
		return CKI_ZMTP_BAD;
	return CKI_ZMTP_OK;
}

static bool
name_is(const uint8_t *p, size_t n, const char *name)
{
	return n == strlen(name) && memcmp(p, name, n) == 0;
}

/* READY's properties: the peer must say it is a ROUTER (the only type a DEALER may meet
 * that the agent uses). */
static cki_zmtp_command
check_ready(const uint8_t *p, size_t len)
{
	bool router = false;

	while (len > 0) {
		size_t name_len = p[0];
		if (name_len == 0 || len < 1 + name_len + 4)
			return CKI_ZMTP_CMD_BAD;
		const uint8_t *name = p + 1;
		const uint8_t *vl = name + name_len;
		uint32_t value_len = (uint32_t)vl[0] << 24 | (uint32_t)vl[1] << 16 |
		                     (uint32_t)vl[2] << 8 | vl[3];
		size_t used = 1 + name_len + 4;
		if (value_len > len - used)
			return CKI_ZMTP_CMD_BAD;
		if (name_len == 11 && strncasecmp((const char *)name, "Socket-Type", 11) == 0)
			router = value_len == 6 && memcmp(vl + 4, "ROUTER", 6) == 0;
		p += used + value_len;
		len -= used + value_len;
	}
	return router ? CKI_ZMTP_CMD_READY : CKI_ZMTP_CMD_BAD;
}

cki_zmtp_command
cki_zmtp_parse_command(const uint8_t *body, size_t len, char *reason, size_t cap)
{
	if (len < 1 || body[0] == 0 || (size_t)body[0] > len - 1)
		return CKI_ZMTP_CMD_BAD;
	const uint8_t *name = body + 1, *rest = body + 1 + body[0];
	size_t name_len = body[0], rest_len = len - 1 - body[0];

	if (name_is(name, name_len, "READY"))
		return check_ready(rest, rest_len);
	if (name_is(name, name_len, "ERROR")) {
		if (rest_len < 1 || (size_t)rest[0] > rest_len - 1)
			return CKI_ZMTP_CMD_BAD;
		if (cap > 0) {
			size_t n = rest[0] < cap - 1 ? rest[0] : cap - 1;
			for (size_t i = 0; i < n; i++) /* the peer's text, printable only */
				reason[i] = rest[1 + i] >= 0x20 && rest[1 + i] < 0x7f
				                    ? (char)rest[1 + i]
				                    : '?';
			reason[n] = '\0';
		}
		return CKI_ZMTP_CMD_ERROR;
	}
	if (name_is(name, name_len, "PING"))
		return rest_len >= 2 ? CKI_ZMTP_CMD_PING : CKI_ZMTP_CMD_BAD;
	return CKI_ZMTP_CMD_OTHER;
}

bool
cki_zmtp_ipc_address(const char *endpoint, struct sockaddr_un *sa, socklen_t *sa_len)
{
	static const char scheme[] = "ipc://";
	if (strncmp(endpoint, scheme, sizeof(scheme) - 1) != 0)
		return false;
	const char *path = endpoint + sizeof(scheme) - 1;
	size_t n = strlen(path);
	if (n == 0 || n >= sizeof(sa->sun_path))
		return false;
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, path, n);
	if (path[0] == '@') /* libzmq's spelling of the abstract namespace */
		sa->sun_path[0] = '\0';
	*sa_len =
	        (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (path[0] == '@' ? 0 : 1));
	return true;
}

/* ---- the connection ----------------------------------------------------------------------- */

void
cki_zmtp_init(cki_zmtp *z)
{
	memset(z, 0, sizeof(*z));
	z->fd = -1;
	z->epfd = -1;
}

/* Puts a new connection in the event set (closing a socket takes it out by itself). */
static void
watch(cki_zmtp *z)
{
	struct epoll_event ev = {.events = EPOLLIN | (z->want_write ? EPOLLOUT : 0)};
	if (z->epfd >= 0 && z->fd >= 0)
		(void)epoll_ctl(z->epfd, EPOLL_CTL_ADD, z->fd, &ev);
}

int
cki_zmtp_event_fd(cki_zmtp *z)
{
	if (z->epfd < 0) {
		z->epfd = epoll_create1(EPOLL_CLOEXEC);
		watch(z);
	}
	return z->epfd;
}

void
cki_zmtp_watch_write(cki_zmtp *z, bool on)
{
	if (z->want_write == on)
		return;
	z->want_write = on;
	struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0)};
	if (z->epfd >= 0 && z->fd >= 0)
		(void)epoll_ctl(z->epfd, EPOLL_CTL_MOD, z->fd, &ev);
}

void
cki_zmtp_disconnect(cki_zmtp *z)
{
	/* Out of the event set first: closing takes a socket out only when no other descriptor
	 * refers to it, and a child forked since holds a copy of this one; left in the set, the
	 * dead socket would keep the set readable. */
	if (z->epfd >= 0 && z->fd >= 0)
		(void)epoll_ctl(z->epfd, EPOLL_CTL_DEL, z->fd, NULL);
	if (z->fd >= 0)
		close(z->fd);
	z->fd = -1;
	z->want_write = false;
	free(z->owed);
	z->owed = NULL;
	z->owed_len = 0;
	z->hello_pending = z->greeted = z->ready = false;
	z->in_off = z->in_len = 0;
}

void
cki_zmtp_abandon(cki_zmtp *z)
{
	/* The event set is the parent's too (a forked copy of one epoll instance): this process's
	 * copy of it goes first, so closing the socket below does no epoll_ctl on it. */
	if (z->epfd >= 0)
		close(z->epfd);
	z->epfd = -1;
	cki_zmtp_close(z);
}

void
cki_zmtp_close(cki_zmtp *z)
{
	cki_zmtp_disconnect(z);
	if (z->epfd >= 0)
		close(z->epfd);
	free(z->in);
	free(z->out);
	cki_zmtp_init(z);
}

static void
say(char *message, size_t cap, const char *what, int err)
{
	if (cap > 0)
		snprintf(message, cap, "%s: %s", what, strerror(err));
}

/* Waits for events on fd until the deadline: true if they came, false at the deadline. */
static bool
wait_fd(int fd, short events, int64_t deadline_ms)
{
	for (;;) {
		int ms = cki_stub_ms_until(deadline_ms);
		if (ms == 0)
			return false;
		struct pollfd p = {.fd = fd, .events = events};
		int n = poll(&p, 1, ms);
		if (n > 0)
			return true;
		if (n < 0 && errno != EINTR)
			return true; /* let the next read or write report the error */
	}
}

ck_err
cki_zmtp_connect_nowait(cki_zmtp *z, const struct sockaddr_un *sa, socklen_t sa_len, char *message,
                        size_t cap)
{
	cki_zmtp_disconnect(z);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		say(message, cap, "socket", errno);
		return CK_ECONNECT;
	}
	if (connect(fd, (const struct sockaddr *)sa, sa_len) == 0) {
		z->fd = fd;
		z->hello_pending = true;
		watch(z);
		return CK_OK;
	}
	int err = errno;
	close(fd);
	say(message, cap, "connect", err);
	/* No socket yet, nobody listening (an agent starting or restarting), or its backlog is
	 * full: libzmq would retry in the background, so do we. */
	if (err != ENOENT && err != ECONNREFUSED && err != EAGAIN && err != EINTR)
		return CK_ECONNECT;
	return CK_ETIMEDOUT;
}

int
cki_zmtp_retry_ms(int previous_ms)
{
	if (previous_ms <= 0)
		return RETRY_FIRST_MS;
	return previous_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : previous_ms * 2;
}

ck_err
cki_zmtp_connect(cki_zmtp *z, const struct sockaddr_un *sa, socklen_t sa_len, int64_t deadline_ms,
                 char *message, size_t cap)
{
	int retry_ms = cki_zmtp_retry_ms(0);

	for (;;) {
		ck_err rv = cki_zmtp_connect_nowait(z, sa, sa_len, message, cap);
		if (rv != CK_ETIMEDOUT)
			return rv;
		int ms = cki_stub_ms_until(deadline_ms);
		if (ms == 0)
			return CK_ETIMEDOUT;
		poll(NULL, 0, retry_ms < ms ? retry_ms : ms);
		retry_ms = cki_zmtp_retry_ms(retry_ms);
	}
}

uint8_t *
cki_zmtp_stage(cki_zmtp *z, size_t len)
{
	if (len > SIZE_MAX - LONG_HEADER)
		return NULL;
	if (z->out_cap < LONG_HEADER + len || (z->out_cap > KEEP_BUFFER && len < KEEP_BUFFER / 2)) {
		size_t want = LONG_HEADER + (len < IN_SMALL ? IN_SMALL : len);
		uint8_t *p = malloc(want);
		if (p == NULL)
			return NULL;
		free(z->out);
		z->out = p;
		z->out_cap = want;
	}
	z->out_body = len;
	return z->out + LONG_HEADER;
}

/* Writes iov[0] whole by the deadline. *untouched stays true while no byte has left. */
static ck_err
write_all(cki_zmtp *z, struct iovec *iov, int64_t deadline_ms, bool *untouched, char *message,
          size_t cap)
{
	while (iov->iov_len > 0) {
		ssize_t n = send(z->fd, iov->iov_base, iov->iov_len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				if (!wait_fd(z->fd, POLLOUT, deadline_ms))
					return CK_ETIMEDOUT;
				continue;
			}
			say(message, cap, "send to the agent", errno);
			return CK_ECONNECT;
		}
		*untouched = false;
		iov->iov_base = (uint8_t *)iov->iov_base + n;
		iov->iov_len -= (size_t)n;
	}
	return CK_OK;
}

/* read_frames() stops when the peer's READY is in, not at a message. */
#define READ_UNTIL_READY 1u
/* fill() stops reading once a read found the socket empty (a short read): the event
 * descriptor is level-triggered and wakes the loop for more. */
#define READ_STOP_EMPTIED 2u

static ck_err read_frames(cki_zmtp *z, int64_t deadline_ms, uint64_t max_body, unsigned how,
                          const uint8_t **body, size_t *body_len, bool *multipart, char *message,
                          size_t cap);

/* Our greeting and READY (unless they went already), then the agent's: after this, requests
 * may go. */
static ck_err
handshake(cki_zmtp *z, int64_t deadline_ms, char *message, size_t cap)
{
	struct iovec iov = {(void *)HELLO, z->hello_pending ? sizeof(HELLO) : 0};
	bool untouched = true, multipart;
	const uint8_t *body;
	size_t len;
	ck_err rv = write_all(z, &iov, deadline_ms, &untouched, message, cap);

	if (rv != CK_OK)
		return rv;
	z->hello_pending = false;
	return read_frames(z, deadline_ms, CKI_ZMTP_MAX_COMMAND, READ_UNTIL_READY, &body, &len,
	                   &multipart, message, cap);
}

ck_err
cki_zmtp_send(cki_zmtp *z, int64_t deadline_ms, bool *untouched, char *message, size_t cap)
{
	uint8_t hdr[LONG_HEADER];
	size_t body = z->out_body, header = cki_zmtp_header(hdr, body);
	uint8_t *frame = z->out + LONG_HEADER - header;

	*untouched = true;
	memcpy(frame, hdr, header);
	if (!z->ready) {
		ck_err rv = handshake(z, deadline_ms, message, cap);
		if (rv != CK_OK)
			return rv;
	}
	if (z->owed_len > 0) {
		/* An asynchronous request given up half-written: its rest goes first. */
		struct iovec owed = {z->owed, z->owed_len};
		ck_err rv = write_all(z, &owed, deadline_ms, untouched, message, cap);
		if (rv != CK_OK)
			return rv;
		*untouched = true; /* nothing of this frame has left yet */
		free(z->owed);
		z->owed = NULL;
		z->owed_len = 0;
	}
	struct iovec iov = {frame, header + body};
	return write_all(z, &iov, deadline_ms, untouched, message, cap);
}

/* Makes room for want unparsed bytes at z->in + z->in_off. */
static bool
reserve_in(cki_zmtp *z, size_t want)
{
	size_t have = z->in_len - z->in_off;
	if (z->in_off > 0) {
		memmove(z->in, z->in + z->in_off, have);
		z->in_len = have;
		z->in_off = 0;
	}
	if (want <= z->in_cap)
		return true;
	size_t cap = want < IN_SMALL ? IN_SMALL : want;
	uint8_t *p = realloc(z->in, cap);
	if (p == NULL)
		return false;
	z->in = p;
	z->in_cap = cap;
	return true;
}

/* Reads what the socket has (at least one byte, waiting until the deadline) into z->in. */
static ck_err
fill(cki_zmtp *z, size_t need, int64_t deadline_ms, unsigned how, char *message, size_t cap)
{
	if (z->in_len - z->in_off >= need)
		return CK_OK;
	if (z->in_off + need > z->in_cap && !reserve_in(z, need)) {
		snprintf(message, cap, "out of memory for a %zu-byte reply", need);
		return CK_ENOMEM;
	}
	for (;;) {
		if ((how & READ_STOP_EMPTIED) && z->emptied)
			return CK_ETIMEDOUT; /* found empty this turn: the descriptor says when */
		size_t room = z->in_cap - z->in_len;
		ssize_t n = recv(z->fd, z->in + z->in_len, room, 0);
		if (n > 0) {
			z->in_len += (size_t)n;
			z->emptied = (size_t)n < room;
			return CK_OK;
		}
		if (n == 0) {
			snprintf(message, cap, "the agent closed the connection");
			return CK_ECONNECT;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN) {
			say(message, cap, "receive from the agent", errno);
			return CK_ECONNECT;
		}
		z->emptied = true;
		if (!wait_fd(z->fd, POLLIN, deadline_ms))
			return CK_ETIMEDOUT;
	}
}

static void
send_pong(cki_zmtp *z, const uint8_t *ping, size_t len)
{
	/* PING body after its name: TTL (2 bytes) and a context to echo, at most 16 bytes. */
	uint8_t pong[2 + 5 + 16];
	size_t ctx = len - 2 > 16 ? 16 : len - 2;
	pong[0] = FLAG_COMMAND;
	pong[1] = (uint8_t)(5 + ctx);
	memcpy(pong + 2, "\x04PONG", 5);
	memcpy(pong + 7, ping + 2, ctx);
	/* Best effort: a full socket buffer means the peer is busy, and it will ping again. */
	(void)send(z->fd, pong, 7 + ctx, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* Reads frames until a whole message (cki_zmtp_recv) or, with until_ready, until the peer's
 * READY has been seen: greeting and commands are handled on the way. */
static ck_err
read_frames(cki_zmtp *z, int64_t deadline_ms, uint64_t max_body, unsigned how, const uint8_t **body,
            size_t *body_len, bool *multipart, char *message, size_t cap)
{
	ck_err rv;

	*multipart = false;
	*body = NULL;
	*body_len = 0;
	if (z->in_off == z->in_len && z->in_cap > KEEP_BUFFER) {
		free(z->in); /* a big reply's buffer is not kept for the small ones after it */
		z->in = NULL;
		z->in_cap = z->in_off = z->in_len = 0;
	}
	while (!z->greeted) {
		cki_zmtp_parse p =
		        cki_zmtp_check_greeting(z->in + z->in_off, z->in_len - z->in_off);
		if (p == CKI_ZMTP_BAD) {
			snprintf(message, cap, "the peer is not a ZeroMQ (ZMTP 3, NULL) socket");
			return CK_ECONNECT;
		}
		if (p == CKI_ZMTP_OK) {
			z->in_off += CKI_ZMTP_GREETING_LEN;
			z->greeted = true;
			break;
		}
		if ((rv = fill(z, CKI_ZMTP_GREETING_LEN, deadline_ms, how, message, cap)) != CK_OK)
			return rv;
	}
	for (;;) {
		cki_zmtp_frame f;
		if ((how & READ_UNTIL_READY) && z->ready)
			return CK_OK;
		uint8_t *at = z->in + z->in_off;
		size_t have = z->in_len - z->in_off;
		cki_zmtp_parse p = cki_zmtp_parse_frame(at, have, max_body, &f);
		if (p == CKI_ZMTP_BAD) {
			snprintf(message, cap, "malformed or oversized frame from the agent");
			return CK_ECONNECT;
		}
		if (p == CKI_ZMTP_OK && !f.command && !z->ready) {
			snprintf(message, cap, "a message from the agent before its READY");
			return CK_ECONNECT;
		}
		if (p == CKI_ZMTP_NEED_MORE || have - f.header_len < f.body_len) {
			size_t need = p == CKI_ZMTP_NEED_MORE ? LONG_HEADER
			                                      : f.header_len + (size_t)f.body_len;
			if (p == CKI_ZMTP_NEED_MORE && have >= 1 && !(at[0] & FLAG_LONG))
				need = SHORT_HEADER;
			if ((rv = fill(z, need, deadline_ms, how, message, cap)) != CK_OK)
				return rv;
			continue;
		}
		const uint8_t *b = at + f.header_len;
		z->in_off += f.header_len + (size_t)f.body_len;
		if (f.command) {
			char reason[256] = "";
			switch (cki_zmtp_parse_command(b, (size_t)f.body_len, reason,
			                               sizeof(reason))) {
			case CKI_ZMTP_CMD_READY:
				if (z->ready)
					break; /* a second READY: harmless */
				z->ready = true;
				break;
			case CKI_ZMTP_CMD_ERROR:
				snprintf(message, cap, "the agent refused the connection: %s",
				         reason);
				return CK_ECONNECT;
			case CKI_ZMTP_CMD_PING:
				send_pong(z, b + 5, (size_t)f.body_len - 5);
				break;
			case CKI_ZMTP_CMD_OTHER:
				break;
			case CKI_ZMTP_CMD_BAD:
				snprintf(message, cap, "malformed command from the agent");
				return CK_ECONNECT;
			}
			continue;
		}
		if (f.more || *multipart) {
			*multipart = true; /* consume the parts; the message is not a reply */
			if (!f.more)
				return CK_OK;
			continue;
		}
		*body = b;
		*body_len = (size_t)f.body_len;
		return CK_OK;
	}
}

ck_err
cki_zmtp_recv(cki_zmtp *z, int64_t deadline_ms, uint64_t max_body, const uint8_t **body,
              size_t *body_len, bool *multipart, char *message, size_t cap)
{
	return read_frames(z, deadline_ms, max_body, 0, body, body_len, multipart, message, cap);
}

size_t
cki_zmtp_header(uint8_t *hdr, size_t len)
{
	if (len <= 255) {
		hdr[0] = 0;
		hdr[1] = (uint8_t)len;
		return SHORT_HEADER;
	}
	hdr[0] = FLAG_LONG;
	for (int i = 0; i < 8; i++)
		hdr[1 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
	return LONG_HEADER;
}

ssize_t
cki_zmtp_writev_nowait(cki_zmtp *z, const struct iovec *iov, int n, char *message, size_t cap)
{
	struct msghdr mh = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n};
	for (;;) {
		ssize_t w = sendmsg(z->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w >= 0)
			return w;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN)
			return 0;
		say(message, cap, "send to the agent", errno);
		return -1;
	}
}

ck_err
cki_zmtp_handshake_nowait(cki_zmtp *z, char *message, size_t cap)
{
	const uint8_t *body;
	size_t len;
	bool multipart;

	if (z->hello_pending) {
		/* 94 bytes into a new connection's empty buffer: they fit, or it is broken. */
		struct iovec iov = {(void *)HELLO, sizeof(HELLO)};
		if (cki_zmtp_writev_nowait(z, &iov, 1, message, cap) != (ssize_t)sizeof(HELLO)) {
			if (cap > 0)
				snprintf(message, cap,
				         "send to the agent: the greeting did not fit");
			return CK_ECONNECT;
		}
		z->hello_pending = false;
	}
	if (z->ready)
		return CK_OK;
	/* A deadline already past: read what is there, never wait. */
	return read_frames(z, 0, CKI_ZMTP_MAX_COMMAND, READ_UNTIL_READY, &body, &len, &multipart,
	                   message, cap);
}

bool
cki_zmtp_owe(cki_zmtp *z, const struct iovec *iov, int n, size_t skip)
{
	size_t total = 0;
	for (int i = 0; i < n; i++)
		total += iov[i].iov_len;
	uint8_t *p = malloc(z->owed_len + total - skip + 1);
	if (p == NULL) {
		cki_zmtp_disconnect(z);
		return false;
	}
	if (z->owed_len > 0)
		memcpy(p, z->owed, z->owed_len);
	size_t at = z->owed_len;
	for (int i = 0; i < n; i++) {
		size_t from = skip < iov[i].iov_len ? skip : iov[i].iov_len;
		skip -= from;
		memcpy(p + at, (const uint8_t *)iov[i].iov_base + from, iov[i].iov_len - from);
		at += iov[i].iov_len - from;
	}
	free(z->owed);
	z->owed = p;
	z->owed_len = at;
	return true;
}

int
cki_zmtp_flush_owed_nowait(cki_zmtp *z, char *message, size_t cap)
{
	while (z->owed_len > 0) {
		struct iovec iov = {z->owed, z->owed_len};
		ssize_t w = cki_zmtp_writev_nowait(z, &iov, 1, message, cap);
		if (w < 0)
			return -1;
		if (w == 0)
			return 0;
		memmove(z->owed, z->owed + w, z->owed_len - (size_t)w);
		z->owed_len -= (size_t)w;
	}
	free(z->owed);
	z->owed = NULL;
	return 1;
}

void
cki_zmtp_recv_begin(cki_zmtp *z)
{
	z->emptied = false;
}

ck_err
cki_zmtp_recv_nowait(cki_zmtp *z, uint64_t max_body, const uint8_t **body, size_t *body_len,
                     bool *multipart, char *message, size_t cap)
{
	return read_frames(z, 0, max_body, READ_STOP_EMPTIED, body, body_len, multipart, message,
	                   cap);
}
