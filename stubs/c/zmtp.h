/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The client's own ZeroMQ connection: a DEALER peer that speaks ZMTP 3.0 (NULL security)
 * itself over a unix stream socket, for ipc:// endpoints. The agent's ROUTER sees an ordinary
 * ZeroMQ peer. Why not libzmq here: a libzmq context costs a one-request process about 2.5 ms
 * of CPU (pgm_init, sodium_init, an I/O thread and a reaper thread, their teardown) and every
 * call a hop through the I/O thread; this connection costs a socket and a write and a read
 * per call, on the caller's thread. The asynchronous API uses it without waiting (the
 * *_nowait calls, and an epoll set as its stable descriptor); tcp:// endpoints and
 * CACHEKIT_STUB_TRANSPORT=libzmq use libzmq.
 *
 * The decoders of peer bytes are pure functions (fuzzed by tests/fuzz/fuzz_zmtp.c).
 */
#ifndef CKI_STUB_ZMTP_H
#define CKI_STUB_ZMTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/un.h>

#include "cachekit/errors.h"

#define CKI_ZMTP_GREETING_LEN 64
/* A command (READY, ERROR, PING) is small; a bigger one is a broken or hostile peer. */
#define CKI_ZMTP_MAX_COMMAND 4096

typedef enum cki_zmtp_parse {
	CKI_ZMTP_NEED_MORE, /* not enough bytes yet */
	CKI_ZMTP_OK,
	CKI_ZMTP_BAD, /* not ZMTP 3.x with NULL security from a ROUTER: drop the connection */
} cki_zmtp_parse;

typedef struct cki_zmtp_frame {
	size_t header_len; /* flags byte and size field: 2 or 9 */
	uint64_t body_len;
	bool more;    /* another frame of the same message follows */
	bool command; /* a command (READY, ERROR, PING, ...), not message data */
} cki_zmtp_frame;

typedef enum cki_zmtp_command {
	CKI_ZMTP_CMD_READY, /* READY from a ROUTER */
	CKI_ZMTP_CMD_ERROR, /* the peer refused us; reason holds its text */
	CKI_ZMTP_CMD_PING,  /* answer with PONG (cki_zmtp_pong_len bytes of the body's context) */
	CKI_ZMTP_CMD_OTHER, /* a command we have no use for: ignored */
	CKI_ZMTP_CMD_BAD,   /* malformed, or READY from a socket type a DEALER cannot talk to */
} cki_zmtp_command;

/* Checks the peer's 64-byte greeting: the signature, version 3 or later, mechanism NULL. */
cki_zmtp_parse cki_zmtp_check_greeting(const uint8_t *buf, size_t len);

/* Reads a frame header from buf. Bodies over max_body (commands over CKI_ZMTP_MAX_COMMAND),
 * reserved flag bits and multi-frame commands are BAD. */
cki_zmtp_parse cki_zmtp_parse_frame(const uint8_t *buf, size_t len, uint64_t max_body,
                                    cki_zmtp_frame *out);

/* Classifies a command body. reason (cap bytes, NUL-terminated) receives an ERROR's text. */
cki_zmtp_command cki_zmtp_parse_command(const uint8_t *body, size_t len, char *reason, size_t cap);

/* ipc://path (or ipc://@name, the abstract namespace) as a unix address; false for any other
 * transport or a path too long for sun_path. */
bool cki_zmtp_ipc_address(const char *endpoint, struct sockaddr_un *sa, socklen_t *sa_len);

/* One connection. fd -1: not connected (the next cki_zmtp_connect makes one). */
typedef struct cki_zmtp {
	int fd;
	bool hello_pending; /* our greeting and READY go out with the first frame */
	bool greeted;       /* the peer's greeting was checked */
	bool ready;         /* the peer's READY was checked: message frames follow */
	uint8_t *in;        /* received bytes; [in_off, in_len) not parsed yet */
	size_t in_off, in_len, in_cap;
	uint8_t *out; /* the staged frame: header right-aligned before the body at out + 9 */
	size_t out_cap, out_body;
	uint8_t *owed;   /* the rest of a frame written in part and then abandoned: it must go */
	size_t owed_len; /* before any other, or the stream would be torn */
	int epfd; /* -1, or the asynchronous API's stable descriptor: an epoll set holding fd */
	bool want_write; /* fd is watched for writability too (a send found the socket full) */
	bool emptied;    /* the last read found the socket empty (a short read) */
} cki_zmtp;

void cki_zmtp_init(cki_zmtp *z);

/* The wait before the next connect attempt after one of previous_ms (0: the first failure):
 * 5 ms, doubling to 1 s, like libzmq's reconnect interval. */
int cki_zmtp_retry_ms(int previous_ms);

/* Disconnects, then connects to sa, retrying a missing or refusing socket (an agent not up yet, or
 * restarting) at growing intervals until deadline_ms (cki_stub_now_ms() time): CK_ETIMEDOUT
 * then. Other failures (permission denied, not a socket) are CK_ECONNECT at once. message gets
 * the reason either way. */
ck_err cki_zmtp_connect(cki_zmtp *z, const struct sockaddr_un *sa, socklen_t sa_len,
                        int64_t deadline_ms, char *message, size_t cap);

/* The non-blocking side, for the asynchronous API. One connect attempt: CK_OK, CK_ETIMEDOUT
 * when it may work later (no socket yet, nobody listening, backlog full), CK_ECONNECT. */
ck_err cki_zmtp_connect_nowait(cki_zmtp *z, const struct sockaddr_un *sa, socklen_t sa_len,
                               char *message, size_t cap);

/* Moves a connected z's handshake on without waiting: CK_OK once the peer's READY is in,
 * CK_ETIMEDOUT while it is not yet, CK_ECONNECT (close it) on failure. */
ck_err cki_zmtp_handshake_nowait(cki_zmtp *z, char *message, size_t cap);

/* A ZMTP frame header for a final frame of len bytes into hdr (9 bytes room); its length. */
size_t cki_zmtp_header(uint8_t *hdr, size_t len);

/* Writes what fits of iov[0..n) without waiting: the bytes written (0 when the socket is full),
 * or -1 with message set (close the connection). */
ssize_t cki_zmtp_writev_nowait(cki_zmtp *z, const struct iovec *iov, int n, char *message,
                               size_t cap);

/* Keeps the unwritten rest of a frame whose request was given up after part of it was
 * written: skip bytes of iov[0..n) went already. Written before anything else by the next
 * cki_zmtp_send() or cki_zmtp_flush_owed_nowait(); dropped with the connection. false: out of
 * memory (then the connection is closed: a torn frame must not be followed by another). */
bool cki_zmtp_owe(cki_zmtp *z, const struct iovec *iov, int n, size_t skip);

/* Writes what is owed without waiting: 1 when nothing is left owed, 0 when the socket is
 * full, -1 on failure (message set; close the connection). */
int cki_zmtp_flush_owed_nowait(cki_zmtp *z, char *message, size_t cap);

/* A descriptor that is readable while the connection has something to read (or, after
 * cki_zmtp_watch_write(z, true), room to write): an epoll set that follows z across
 * reconnects, so a loop can watch one descriptor for the client's lifetime. -1 on failure. */
int cki_zmtp_event_fd(cki_zmtp *z);
void cki_zmtp_watch_write(cki_zmtp *z, bool on);

/* Space for one frame body of len bytes, to be filled by the caller before cki_zmtp_send();
 * NULL when out of memory. */
uint8_t *cki_zmtp_stage(cki_zmtp *z, size_t len);

/* Sends the staged frame (after the greeting and READY on a new connection) by the deadline.
 * CK_ECONNECT with *untouched set: the peer had gone before a byte of it left (send again on
 * a new connection). Any other failure leaves the connection unusable: close it. */
ck_err cki_zmtp_send(cki_zmtp *z, int64_t deadline_ms, bool *untouched, char *message, size_t cap);

/* Receives the next message by the deadline: its only frame in *body (valid until the next
 * call). A multi-frame message is consumed whole and reported with *multipart set and no body.
 * CK_ETIMEDOUT: nothing whole by the deadline. CK_ECONNECT: closed by the agent, or it broke
 * the protocol (message says which). */
ck_err cki_zmtp_recv(cki_zmtp *z, int64_t deadline_ms, uint64_t max_body, const uint8_t **body,
                     size_t *body_len, bool *multipart, char *message, size_t cap);

/* cki_zmtp_recv() for an event loop: never waits, and stops reading the socket once a read
 * has found it empty (returned less than asked) since cki_zmtp_recv_begin(), instead of
 * reading on to EAGAIN: the event descriptor is level-triggered and wakes the loop for more.
 * CK_ETIMEDOUT: no whole message now. */
void cki_zmtp_recv_begin(cki_zmtp *z);
ck_err cki_zmtp_recv_nowait(cki_zmtp *z, uint64_t max_body, const uint8_t **body, size_t *body_len,
                            bool *multipart, char *message, size_t cap);

/* Closes the socket and forgets what was received; the staged frame stays for a new
 * connection to send. */
void cki_zmtp_disconnect(cki_zmtp *z);

/* In a child after fork(): closes this process's copies of the socket and of the event
 * descriptor without touching the event set (the parent's as well) and frees the buffers; the
 * parent's connection stays up. z can connect again. */
void cki_zmtp_abandon(cki_zmtp *z);

/* Closes the socket, the event descriptor and frees the buffers; z can connect again. */
void cki_zmtp_close(cki_zmtp *z);

#endif
