/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Socket monitor of the ROUTER: see conns.h. An event is two frames: 6 bytes (uint16 event,
 * uint32 value, native byte order; the value is the fd for both events we ask for), then the
 * endpoint. The set of open fds (one byte per fd) makes the count immune to a repeated event.
 * An fd is reused only after libzmq closed it, and libzmq reports the disconnection before
 * closing, so the events of one fd number arrive in order.
 */
#define _GNU_SOURCE
#include "front/conns.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "base/log.h"
#include "base/metrics.h"

/* fds beyond this are counted but not remembered (a sanity cap on the set, 1 MiB). */
#define FD_CAP (1u << 20)

struct cki_conns {
	cki_loop *loop;
	void *router;
	void *pair;
	cki_peerq *pq;
	uint8_t *open; /* by fd: 1 while that connection is open */
	size_t cap;
	uint64_t n;
};

static double
gauge_peers(void *arg)
{
	return (double)((cki_conns *)arg)->n;
}

static double
gauge_queued(void *arg)
{
	return (double)cki_peerq_total(((cki_conns *)arg)->pq);
}

static double
gauge_spare(void *arg)
{
	return (double)cki_peerq_spare_bytes(((cki_conns *)arg)->pq);
}

static double
gauge_queues(void *arg)
{
	return (double)cki_peerq_entries(((cki_conns *)arg)->pq);
}

static void
accepted(cki_conns *c, int fd)
{
	if (fd < 0 || (size_t)fd >= FD_CAP) {
		c->n++;
		return;
	}
	if ((size_t)fd >= c->cap) {
		size_t cap = c->cap ? c->cap : 256;
		while (cap <= (size_t)fd)
			cap *= 2;
		uint8_t *grown = realloc(c->open, cap);
		if (grown == NULL) {
			cki_log_warn("out of memory tracking connection %d", fd);
			c->n++;
			return;
		}
		memset(grown + c->cap, 0, cap - c->cap);
		c->open = grown;
		c->cap = cap;
	}
	if (!c->open[fd]) {
		c->open[fd] = 1;
		c->n++;
	}
}

static void
disconnected(cki_conns *c, int fd)
{
	if (fd >= 0 && (size_t)fd < c->cap) {
		if (c->open[fd]) {
			c->open[fd] = 0;
			c->n--;
		}
	} else if (c->n > 0) {
		c->n--;
	}
	size_t left = cki_peerq_gone(c->pq, fd);
	cki_log_debug("connection %d closed: %zu reply queue(s) forgotten", fd, left);
}

/* Reads every queued event: ZeroMQ readiness is edge-like. */
static void
on_event(cki_loop *loop, int fd_unused, unsigned events, void *arg)
{
	cki_conns *c = arg;
	(void)loop;
	(void)fd_unused;
	(void)events;
	for (;;) {
		zmq_msg_t head, addr;
		zmq_msg_init(&head);
		if (zmq_msg_recv(&head, c->pair, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&head);
			return;
		}
		bool more = zmq_msg_more(&head);
		uint16_t ev = 0;
		uint32_t value = 0;
		bool ok = zmq_msg_size(&head) == 6;
		if (ok) {
			memcpy(&ev, zmq_msg_data(&head), 2);
			memcpy(&value, (const uint8_t *)zmq_msg_data(&head) + 2, 4);
		}
		zmq_msg_close(&head);
		while (more) { /* the endpoint, unused */
			zmq_msg_init(&addr);
			if (zmq_msg_recv(&addr, c->pair, ZMQ_DONTWAIT) < 0) {
				zmq_msg_close(&addr);
				break;
			}
			more = zmq_msg_more(&addr);
			zmq_msg_close(&addr);
		}
		if (!ok)
			continue;
		if (ev == ZMQ_EVENT_ACCEPTED)
			accepted(c, (int)value);
		else if (ev == ZMQ_EVENT_DISCONNECTED)
			disconnected(c, (int)value);
	}
}

ck_err
cki_conns_start(cki_conns **out, cki_loop *loop, void *ctx, void *router, cki_peerq *pq, char *why,
                size_t why_cap)
{
	ck_err rv = CK_OK;
	cki_conns *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return CK_ENOMEM;
	c->loop = loop;
	c->pq = pq;
	char addr[64];
	snprintf(addr, sizeof(addr), "inproc://cki-conns-%p", (void *)c);
	if (zmq_socket_monitor(router, addr, ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED) != 0) {
		snprintf(why, why_cap, "cannot monitor the ROUTER socket: %s", zmq_strerror(errno));
		rv = CK_EIO;
		goto out;
	}
	c->router = router;
	int linger = 0;
	c->pair = zmq_socket(ctx, ZMQ_PAIR);
	if (c->pair == NULL || zmq_setsockopt(c->pair, ZMQ_LINGER, &linger, sizeof(linger)) != 0 ||
	    zmq_connect(c->pair, addr) != 0) {
		snprintf(why, why_cap, "cannot read the ROUTER's monitor: %s", zmq_strerror(errno));
		rv = CK_EIO;
		goto out;
	}
	rv = cki_loop_watch_zsock(loop, c->pair, on_event, c);
	if (rv != CK_OK) {
		snprintf(why, why_cap, "cannot watch the ROUTER's monitor");
		goto out;
	}
	cki_metrics_gauge_fn("peers", gauge_peers, c);
	cki_metrics_gauge_fn("peer_queued_bytes", gauge_queued, c);
	cki_metrics_gauge_fn("peer_queues", gauge_queues, c);
	cki_metrics_gauge_fn("reply_spare_bytes", gauge_spare, c);
	*out = c;
	c = NULL;
out:
	cki_conns_stop(c);
	return rv;
}

void
cki_conns_stop(cki_conns *c)
{
	if (c == NULL)
		return;
	cki_metrics_gauge_fn("peers", NULL, c);
	cki_metrics_gauge_fn("peer_queued_bytes", NULL, c);
	cki_metrics_gauge_fn("peer_queues", NULL, c);
	cki_metrics_gauge_fn("reply_spare_bytes", NULL, c);
	if (c->router != NULL && zmq_socket_monitor(c->router, NULL, 0) != 0)
		cki_log_debug("cannot stop the ROUTER's monitor: %s", zmq_strerror(errno));
	if (c->pair != NULL) {
		cki_loop_unwatch_zsock(c->loop, c->pair);
		zmq_close(c->pair);
	}
	free(c->open);
	free(c);
}

uint64_t
cki_conns_open(const cki_conns *c)
{
	return c->n;
}
