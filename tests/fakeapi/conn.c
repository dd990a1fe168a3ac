/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ck-fakeapi connections: accept (TCP_NODELAY, non-blocking), the TLS handshake and ALPN
 * dispatch to h2 or HTTP/1.1, reading and writing with back-pressure, epoll interest, delayed
 * responses (latency/stall) driven by the loop's timeout, and teardown, including the abrupt
 * RST close used for injected connection resets. Connections are freed only between events.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fakeapi.h"

#define READ_CHUNK  16384
#define H1_IN_LIMIT (64 * 1024) /* stop reading while this much HTTP/1.1 input waits */
#define H2_OUT_HIGH (256 * 1024)

void
cki_conn_abort(struct fa_conn *c)
{
	c->rst = 1;
	c->dead = 1;
}

static void
set_events(struct fa_conn *c)
{
	if (c->dead) {
		return;
	}
	unsigned ev = 0;
	if (!c->handshake_done && c->ssl != NULL) {
		ev = c->hs_want_write ? EPOLLOUT : EPOLLIN;
	} else {
		int h1_full = c->proto != FA_PROTO_H2 && c->in.len >= H1_IN_LIMIT;
		if (!h1_full && !c->want_close) {
			ev |= EPOLLIN;
		}
		if (c->out.len > 0 || c->write_len > 0) {
			ev |= EPOLLOUT;
		}
	}
	if (ev != c->events) {
		struct epoll_event e = {.events = ev, .data.ptr = c};
		epoll_ctl(cki_fa.epfd, EPOLL_CTL_MOD, c->fd, &e);
		c->events = ev;
	}
}

/* Write out as much of c->out as the socket takes; -1 on a dead socket. */
static int
flush(struct fa_conn *c)
{
	for (;;) {
		if (c->proto == FA_PROTO_H2 && c->out.len < H2_OUT_HIGH) {
			if (cki_h2_fill(c) != 0) {
				return -1;
			}
		}
		if (c->out.len == 0) {
			return 0;
		}
		long n = cki_io_write(c, c->out.data, c->out.len);
		if (n < 0) {
			return -1;
		}
		if (n == 0) {
			return 0;
		}
		cki_buf_consume(&c->out, (size_t)n);
	}
}

static void
finish(struct fa_conn *c)
{
	if (c->dead) {
		return;
	}
	if (flush(c) != 0) {
		c->dead = 1;
		return;
	}
	if (c->proto == FA_PROTO_H2 && c->out.len == 0 && !nghttp2_session_want_read(c->h2) &&
	    !nghttp2_session_want_write(c->h2)) {
		c->dead = 1;
		return;
	}
	if (c->want_close && c->out.len == 0) {
		if (c->ssl != NULL) {
			SSL_shutdown(c->ssl);
		}
		shutdown(c->fd, SHUT_WR);
		c->dead = 1;
		return;
	}
	set_events(c);
}

static int
start_protocol(struct fa_conn *c)
{
	c->handshake_done = 1;
	cki_fa.stats.tls_handshakes++;
	const unsigned char *alpn = NULL;
	unsigned int alen = 0;
	SSL_get0_alpn_selected(c->ssl, &alpn, &alen);
	if (alen == 2 && memcmp(alpn, "h2", 2) == 0) {
		c->proto = FA_PROTO_H2;
		cki_fa.stats.h2_connections++;
		return cki_h2_start(c);
	}
	c->proto = FA_PROTO_H1;
	cki_fa.stats.h1_connections++;
	return 0;
}

/* Read what is available and feed the protocol. */
static void
service(struct fa_conn *c)
{
	unsigned char buf[READ_CHUNK];
	if (c->ssl != NULL && !c->handshake_done) {
		int r = cki_tls_handshake(c);
		if (r < 0) {
			c->dead = 1;
			return;
		}
		if (r == 0) {
			set_events(c);
			return;
		}
		if (start_protocol(c) != 0) {
			c->dead = 1;
			return;
		}
	}
	while (!c->dead && !c->want_close) {
		if (c->proto != FA_PROTO_H2 && c->in.len >= H1_IN_LIMIT) {
			break;
		}
		long n = cki_io_read(c, buf, sizeof(buf));
		if (n < 0) {
			c->dead = 1;
			return;
		}
		if (n == 0) {
			break;
		}
		if (c->proto == FA_PROTO_H2) {
			if (cki_h2_input(c, buf, (size_t)n) != 0) {
				c->dead = 1;
			}
		} else {
			if (cki_buf_append(&c->in, buf, (size_t)n) != 0 || cki_h1_input(c) != 0) {
				c->dead = 1;
			}
		}
	}
	finish(c);
}

void
cki_conn_accept(struct fa_conn *l)
{
	for (;;) {
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
				cki_log("accept: %s", strerror(errno));
			}
			return;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		struct fa_conn *c = calloc(1, sizeof(*c));
		if (c == NULL) {
			close(fd);
			return;
		}
		c->fd = fd;
		c->kind = l->kind;
		c->id = ++cki_fa.next_conn_id;
		if (l->kind == FA_CONN_API) {
			cki_fa.stats.connections_accepted++;
			c->ssl = SSL_new(cki_fa.tls);
			if (c->ssl == NULL || SSL_set_fd(c->ssl, fd) != 1) {
				SSL_free(c->ssl);
				free(c);
				close(fd);
				return;
			}
			SSL_set_accept_state(c->ssl);
		} else {
			c->proto = FA_PROTO_H1;
			c->handshake_done = 1;
		}
		c->events = EPOLLIN;
		struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};
		if (epoll_ctl(cki_fa.epfd, EPOLL_CTL_ADD, fd, &e) != 0) {
			SSL_free(c->ssl);
			free(c);
			close(fd);
			return;
		}
		c->next = cki_fa.conns;
		cki_fa.conns = c;
	}
}

void
cki_conn_event(struct fa_conn *c, unsigned events)
{
	if (c->dead) {
		return;
	}
	if (c->listening) {
		cki_conn_accept(c);
		return;
	}
	if (events & (EPOLLERR | EPOLLHUP)) {
		if (!(events & EPOLLIN)) {
			c->dead = 1;
			return;
		}
	}
	service(c);
}

void
cki_conn_timers(void)
{
	uint64_t now = cki_mono_ms();
	for (struct fa_conn *c = cki_fa.conns; c != NULL; c = c->next) {
		if (c->dead || !c->handshake_done) {
			continue;
		}
		if (c->proto == FA_PROTO_H2) {
			cki_h2_timers(c, now);
			finish(c);
		} else if (c->h1.has_pending && c->h1.pending.due_ms <= now) {
			cki_h1_timers(c, now);
			/* the response is out: parse whatever was pipelined behind it */
			if (!c->dead && cki_h1_input(c) != 0) {
				c->dead = 1;
			}
			if (!c->dead) {
				service(c);
			}
		}
	}
}

int
cki_conn_next_timeout(void)
{
	uint64_t now = cki_mono_ms();
	uint64_t best = UINT64_MAX;
	for (struct fa_conn *c = cki_fa.conns; c != NULL; c = c->next) {
		if (c->dead || !c->handshake_done) {
			continue;
		}
		uint64_t due = UINT64_MAX;
		if (c->proto == FA_PROTO_H2) {
			due = cki_h2_next_due(c);
		} else if (c->h1.has_pending) {
			due = c->h1.pending.due_ms;
		}
		if (due < best) {
			best = due;
		}
	}
	if (best == UINT64_MAX) {
		return -1;
	}
	return best <= now ? 0 : (int)(best - now > 60000 ? 60000 : best - now);
}

static void
conn_free(struct fa_conn *c)
{
	epoll_ctl(cki_fa.epfd, EPOLL_CTL_DEL, c->fd, NULL);
	if (c->rst) {
		struct linger lg = {.l_onoff = 1, .l_linger = 0};
		setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	cki_h2_free(c);
	cki_h1_free(c);
	SSL_free(c->ssl);
	close(c->fd);
	cki_buf_free(&c->in);
	cki_buf_free(&c->out);
	free(c);
}

void
cki_conn_reap(int all)
{
	struct fa_conn **link = &cki_fa.conns;
	while (*link != NULL) {
		struct fa_conn *c = *link;
		if (c->dead || all) {
			*link = c->next;
			conn_free(c);
		} else {
			link = &c->next;
		}
	}
}
