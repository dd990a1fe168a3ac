/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The asynchronous API of libcachekit-stub (cachekit/async.h): requests submitted with a
 * callback wait in a table by request id and in a min-heap by deadline; ck_client_process()
 * sends what was submitted since it last ran, drains every reply that has arrived (ZeroMQ's
 * fd is edge-like: always drain to EAGAIN), runs the callbacks of answered requests and of
 * requests past their deadline, and tells the loop adapter when it must run again.
 *
 * Why submit only packs: sent one by one as they were submitted, 16 requests left in about 7
 * writes (libzmq's I/O thread woke between them), and every write meant a wake-up on the
 * agent's side and more on the way back; sent together from ck_client_process() they leave in
 * one, as from a raw ZeroMQ client that sends 16 frames in a row. It is what hiredis's async
 * API does too (commands are buffered and written when the loop says the socket is writable).
 * Near-cache hits wait in a ready list and complete at the next ck_client_process(). The submit
 * calls themselves are in async_ops.c (single operations) and batch.c (batches).
 */
#include "cachekit/async.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include <zmq.h>

#include "async_int.h"
#include "os.h"
#include "wire.h"
#include "zmtp.h"

#define MESSAGE_CAP 256
/* Requests written per sendmsg() on the direct connection (two iovecs each). */
#define FLUSH_BATCH 64

typedef struct pend {
	uint64_t id;
	int64_t deadline;
	cki_reply_kind kind;
	ck_callback cb;
	void *arg;
	bool has_near;
	cki_near_key nk;
	ck_value *ready; /* near hit waiting for ck_client_process() */
	bool unsent;     /* packed in out and waiting in the outbox */
	zmq_msg_t out;
	struct pend *out_prev, *out_next;
	ck_value **values; /* a batch: the caller's result arrays, n_items each (values: mget) */
	ck_err *errs;
	size_t n_items;
	struct pend *chain;
	size_t heap_at;
} pend;

typedef struct cki_async {
	pend **buckets;
	size_t nbuckets, count;
	pend **heap;
	size_t heap_n, heap_cap;
	pend *ready_head, **ready_tail;
	size_t ready_n;
	pend *out_head, *out_tail; /* submitted, not yet sent, in order */
	size_t out_n;              /* how many */
	size_t written;            /* frames flush_direct() finished writing, in all */
	size_t out_off;     /* direct connection: bytes of out_head's frame already written */
	struct cki_zmtp *z; /* that connection (the client's), once flush_direct() has used it */
	bool blocked;       /* the outbox waits for the descriptor (socket full, handshake) */
	int64_t retry_at;   /* ... or for this time (the next connect attempt); 0: none */
	ck_async_hooks hooks;
} cki_async;

static cki_async *
get_async(ck_client *c)
{
	cki_async **slot = cki_client_async(c);
	if (*slot == NULL) {
		cki_async *a = calloc(1, sizeof(*a));
		if (a == NULL)
			return NULL;
		a->nbuckets = 64;
		if ((a->buckets = calloc(a->nbuckets, sizeof(*a->buckets))) == NULL) {
			free(a);
			return NULL;
		}
		a->ready_tail = &a->ready_head;
		*slot = a;
	}
	return *slot;
}

/* ---- the deadline heap ------------------------------------------------------------------ */

static void
heap_set(cki_async *a, size_t i, pend *p)
{
	a->heap[i] = p;
	p->heap_at = i;
}

static void
heap_up(cki_async *a, size_t i)
{
	pend *p = a->heap[i];
	while (i > 0 && a->heap[(i - 1) / 2]->deadline > p->deadline) {
		heap_set(a, i, a->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	heap_set(a, i, p);
}

static void
heap_down(cki_async *a, size_t i)
{
	pend *p = a->heap[i];
	for (;;) {
		size_t l = 2 * i + 1, m = i;
		int64_t best = p->deadline;
		if (l < a->heap_n && a->heap[l]->deadline < best)
			m = l, best = a->heap[l]->deadline;
		if (l + 1 < a->heap_n && a->heap[l + 1]->deadline < best)
			m = l + 1;
		if (m == i)
			break;
		heap_set(a, i, a->heap[m]);
		i = m;
	}
	heap_set(a, i, p);
}

static void
heap_remove(cki_async *a, pend *p)
{
	size_t i = p->heap_at;
	pend *last = a->heap[--a->heap_n];
	if (last == p)
		return;
	heap_set(a, i, last);
	heap_up(a, i);
	heap_down(a, last->heap_at);
}

/* ---- the id table ----------------------------------------------------------------------- */

static void
grow(cki_async *a)
{
	size_t nb = a->nbuckets * 2;
	pend **b = calloc(nb, sizeof(*b));
	if (b == NULL)
		return;
	for (size_t i = 0; i < a->nbuckets; i++)
		for (pend *p = a->buckets[i], *next; p != NULL; p = next) {
			next = p->chain;
			p->chain = b[p->id & (nb - 1)];
			b[p->id & (nb - 1)] = p;
		}
	free(a->buckets);
	a->buckets = b;
	a->nbuckets = nb;
}

/* Room for one more request in the heap. */
static bool
reserve(cki_async *a)
{
	if (a->heap_n < a->heap_cap)
		return true;
	size_t cap = a->heap_cap ? a->heap_cap * 2 : 64;
	pend **h = realloc(a->heap, cap * sizeof(*h));
	if (h == NULL)
		return false;
	a->heap = h;
	a->heap_cap = cap;
	return true;
}

/* Adds p (its id and deadline set) to the table and the heap; reserve() came first. */
static void
track(cki_async *a, pend *p)
{
	if (a->count >= a->nbuckets)
		grow(a);
	p->chain = a->buckets[p->id & (a->nbuckets - 1)];
	a->buckets[p->id & (a->nbuckets - 1)] = p;
	a->count++;
	heap_set(a, a->heap_n++, p);
	heap_up(a, a->heap_n - 1);
}

/* ---- the outbox ------------------------------------------------------------------------- */

static void
outbox_add(cki_async *a, pend *p)
{
	p->unsent = true;
	a->out_n++;
	p->out_next = NULL;
	p->out_prev = a->out_tail;
	if (a->out_tail != NULL)
		a->out_tail->out_next = p;
	else
		a->out_head = p;
	a->out_tail = p;
}

/* Takes p out of the outbox; its message is closed unless it was sent (then it is libzmq's).
 * A frame partly written on the direct connection leaves its rest with the connection, to be
 * written before the next one (the agent answers it late; the reply is dropped). */
static void
outbox_remove(cki_async *a, pend *p)
{
	if (!p->unsent)
		return;
	if (p == a->out_head && a->out_off > 0 && a->z != NULL) {
		uint8_t hdr[9];
		size_t len = zmq_msg_size(&p->out);
		struct iovec iov[2] = {{hdr, cki_zmtp_header(hdr, len)},
		                       {zmq_msg_data(&p->out), len}};
		(void)cki_zmtp_owe(a->z, iov, 2, a->out_off);
		a->out_off = 0;
	}
	p->unsent = false;
	a->out_n--;
	if (p->out_prev != NULL)
		p->out_prev->out_next = p->out_next;
	else
		a->out_head = p->out_next;
	if (p->out_next != NULL)
		p->out_next->out_prev = p->out_prev;
	else
		a->out_tail = p->out_prev;
	zmq_msg_close(&p->out);
}

/* Takes the request with id out of the table, the heap and the outbox; NULL when unknown (a
 * late reply). */
static pend *
untrack_id(cki_async *a, uint64_t id)
{
	pend **link = &a->buckets[id & (a->nbuckets - 1)];
	while (*link != NULL && (*link)->id != id)
		link = &(*link)->chain;
	pend *p = *link;
	if (p == NULL)
		return NULL;
	*link = p->chain;
	a->count--;
	heap_remove(a, p);
	outbox_remove(a, p);
	return p;
}

/* ---- completion ------------------------------------------------------------------------- */

/* A batch failed as a whole: every item says so (as the blocking calls do). */
static void
fail_items(pend *p, ck_err err)
{
	for (size_t i = 0; p->errs != NULL && i < p->n_items; i++) {
		p->errs[i] = err;
		if (p->values != NULL)
			p->values[i] = NULL;
	}
}

/* Fills the caller's arrays from a batch reply (or with the batch's failure). */
static void
batch_results(pend *p, ck_result *r, cki_reply *reply)
{
	if (r->err == CK_OK && (reply == NULL || reply->n_items != p->n_items))
		r->err = CK_EPROTO;
	if (r->err != CK_OK) {
		fail_items(p, r->err);
		return;
	}
	for (size_t i = 0; i < p->n_items; i++) {
		p->errs[i] = reply->item_errs[i];
		if (p->values == NULL)
			continue;
		p->values[i] = p->errs[i] == CK_OK ? reply->items[i].value : NULL;
		reply->items[i].value = NULL;
	}
}

static void
complete(ck_client *c, pend *p, ck_err err, cki_reply *reply, const char *message)
{
	ck_result r = {.err = err, .message = message ? message : ""};
	if (p->errs != NULL) {
		batch_results(p, &r, reply);
	} else if (reply != NULL && err == CK_OK) {
		r.err = cki_req_outcome(p->kind, err, reply);
		r.flag = reply->flag;
		r.ttl_s = reply->ttl_s;
		if (p->kind == CKI_REPLY_GET && r.err == CK_OK) {
			cki_near *near = cki_client_near(c);
			if (p->has_near && near != NULL)
				cki_near_put(near, &p->nk, reply->value, reply->near_epoch,
				             reply->near_version);
		}
		if (r.err == CK_OK) {
			/* Handed to the callback, which owns them. */
			r.value = reply->value;
			r.lock = reply->lock;
			r.health = reply->health;
			r.stats = reply->stats;
			reply->value = NULL;
			reply->lock = NULL;
			reply->health = NULL;
			reply->stats = NULL;
		}
	}
	ck_callback cb = p->cb;
	void *arg = p->arg;
	free(p);
	cb(c, &r, arg);
}

static void
arm(ck_client *c, cki_async *a)
{
	if (a->hooks.arm != NULL)
		a->hooks.arm(a->hooks.data, ck_client_timeout_ms(c));
}

/* Packs req into the outbox and tracks p (kind, callback and any batch arrays set) for its
 * reply; p is freed when nothing was submitted. Shared by every submit call. */
static ck_err
submit_pend(ck_client *c, const ck_call_opts *co, Cachekit__Agent__V1__Request *req, pend *p)
{
	cki_async *a = get_async(c);
	ck_err rv = CK_ENOMEM;

	/* Room in the heap first, so a packed request is always tracked. */
	if (a == NULL || !reserve(a)) {
		free(p);
		return rv;
	}
	if ((rv = cki_submit(c, co, req, &p->id, &p->deadline, &p->out)) != CK_OK) {
		zmq_msg_close(&p->out);
		free(p);
		return rv;
	}
	track(a, p);
	outbox_add(a, p);
	if (a->hooks.arm != NULL)
		a->hooks.arm(a->hooks.data, 0);
	return CK_OK;
}

ck_err
cki_async_submit_req(ck_client *c, cki_req *r, const cki_near_key *nk, ck_callback cb, void *arg)
{
	pend *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return CK_ENOMEM;
	p->kind = r->kind;
	p->cb = cb;
	p->arg = arg;
	if (nk != NULL) {
		p->has_near = true;
		p->nk = *nk;
	}
	return submit_pend(c, r->call, &r->req, p);
}

ck_err
cki_async_submit_batch(ck_client *c, const ck_call_opts *co, Cachekit__Agent__V1__Request *req,
                       cki_reply_kind kind, ck_value **values, ck_err *errs, size_t n,
                       ck_callback cb, void *arg)
{
	pend *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return CK_ENOMEM;
	p->kind = kind;
	p->cb = cb;
	p->arg = arg;
	p->values = values;
	p->errs = errs;
	p->n_items = n;
	return submit_pend(c, co, req, p);
}

/* A near-cache hit completes at the next ck_client_process(), without a round trip. */
ck_err
cki_async_ready_hit(ck_client *c, ck_value *hit, ck_callback cb, void *arg)
{
	cki_async *a = get_async(c);
	pend *p = a != NULL ? calloc(1, sizeof(*p)) : NULL;
	if (p == NULL) {
		ck_value_free(hit);
		return CK_ENOMEM;
	}
	p->kind = CKI_REPLY_GET;
	p->cb = cb;
	p->arg = arg;
	p->ready = hit;
	*a->ready_tail = p;
	a->ready_tail = &p->chain;
	a->ready_n++;
	if (a->hooks.arm != NULL)
		a->hooks.arm(a->hooks.data, 0);
	return CK_OK;
}

/* ---- the loop side ---------------------------------------------------------------------- */

int
ck_client_fd(ck_client *c)
{
	cki_zmtp *z = c != NULL ? cki_client_direct(c) : NULL;
	if (z != NULL)
		return cki_zmtp_event_fd(z); /* connects on the first ck_client_process() */
	void *sock = c != NULL ? cki_client_socket(c) : NULL;
	int fd = -1;
	size_t len = sizeof(fd);
	if (sock == NULL || zmq_getsockopt(sock, ZMQ_FD, &fd, &len) != 0)
		return -1;
	return fd;
}

size_t
ck_client_pending(const ck_client *c)
{
	return c != NULL ? cki_async_pending(*cki_client_async((ck_client *)c)) : 0;
}

int
ck_client_timeout_ms(const ck_client *c)
{
	const cki_async *a = c != NULL ? *cki_client_async((ck_client *)c) : NULL;
	if (a == NULL || (a->heap_n == 0 && a->ready_n == 0))
		return -1;
	if (a->ready_n > 0 || (a->out_head != NULL && !a->blocked))
		return 0;
	int64_t until = a->heap[0]->deadline; /* heap_n > 0: no ready hits, yet something pends */
	if (a->out_head != NULL && a->blocked && a->retry_at > 0 && a->retry_at < until)
		until = a->retry_at;
	return cki_stub_ms_until(until);
}

void
ck_client_set_hooks(ck_client *c, const ck_async_hooks *hooks)
{
	cki_async *a = c != NULL ? get_async(c) : NULL;
	if (a == NULL)
		return;
	if (hooks != NULL)
		a->hooks = *hooks;
	else
		memset(&a->hooks, 0, sizeof(a->hooks));
}

/* Handles one received frame: the reply of a request in flight, or a late one (dropped). */
static void
on_frame(ck_client *c, cki_async *a, const uint8_t *data, size_t size)
{
	char message[MESSAGE_CAP] = "";
	uint64_t id;
	cki_reply reply;
	ck_err rv;

	if (!cki_wire_peek_id(data, size, &id))
		return; /* not a Response we can match: malformed */
	pend *p = untrack_id(a, id);
	if (p == NULL)
		return; /* its request timed out already */
	if (cki_reply_decode(data, size, id, p->kind, &rv, &reply, message, sizeof(message)) !=
	    CKI_REPLY_DONE)
		rv = CK_EPROTO;
	complete(c, p, rv, &reply, message);
	cki_reply_clear(&reply);
}

/* The connection is gone: requests already written will not be answered on it and fail with
 * CK_ECONNECT at once; those still in the outbox go on the next connection (a frame written in
 * part goes again whole: the agent never had all of it). */
static void
lost(ck_client *c, cki_async *a, cki_zmtp *z, const char *why)
{
	char message[MESSAGE_CAP];
	snprintf(message, sizeof(message), "%s", why);
	cki_zmtp_disconnect(z);
	a->out_off = 0;
	size_t n = 0;
	uint64_t *ids = a->count > 0 ? malloc(a->count * sizeof(*ids)) : NULL;
	for (size_t i = 0; ids != NULL && i < a->heap_n; i++)
		if (!a->heap[i]->unsent)
			ids[n++] = a->heap[i]->id;
	for (size_t i = 0; i < n; i++) {
		pend *p = untrack_id(a, ids[i]);
		if (p != NULL)
			complete(c, p, CK_ECONNECT, NULL, message);
	}
	free(ids);
}

/* The outbox on the direct connection: frames written together, FLUSH_BATCH per sendmsg(). A
 * full socket leaves the rest (and where the head's frame stopped) for when the descriptor
 * says there is room; a connection still being made holds them all. */
static void
flush_direct(ck_client *c, cki_async *a, cki_zmtp *z)
{
	size_t cap;
	char *message = cki_client_message_buf(c, &cap);
	int64_t retry_at;

	a->blocked = false;
	a->retry_at = 0;
	a->z = z;
	if (a->out_head == NULL && z->fd < 0)
		return;
	ck_err rv = cki_client_direct_ready(c, &retry_at);
	if (rv == CK_ETIMEDOUT) {
		a->blocked = true;
		a->retry_at = retry_at;
		return;
	}
	if (rv != CK_OK) {
		/* The path cannot be connected to: fail what waits for it (not what the callbacks
		 * submit meanwhile, which waits for the next call). */
		for (size_t n = a->out_n; n > 0 && a->out_head != NULL; n--) {
			pend *p = untrack_id(a, a->out_head->id);
			complete(c, p, rv, NULL, message);
		}
		return;
	}
	int owed = cki_zmtp_flush_owed_nowait(z, message, cap);
	if (owed < 0) {
		lost(c, a, z, message);
		return;
	}
	if (owed == 0) {
		a->blocked = true;
		cki_zmtp_watch_write(z, true);
		return;
	}
	while (a->out_head != NULL) {
		struct iovec iov[2 * FLUSH_BATCH];
		uint8_t hdr[FLUSH_BATCH][9];
		size_t total = 0, skip = a->out_off;
		int n = 0, first = 0;
		for (pend *p = a->out_head; p != NULL && n < 2 * FLUSH_BATCH; p = p->out_next) {
			size_t len = zmq_msg_size(&p->out);
			iov[n].iov_base = hdr[n / 2];
			iov[n].iov_len = cki_zmtp_header(hdr[n / 2], len);
			iov[n + 1].iov_base = zmq_msg_data(&p->out);
			iov[n + 1].iov_len = len;
			total += iov[n].iov_len + len;
			n += 2;
		}
		total -= skip;
		while (skip > 0 && skip >= iov[first].iov_len)
			skip -= iov[first++].iov_len;
		iov[first].iov_base = (uint8_t *)iov[first].iov_base + skip;
		iov[first].iov_len -= skip;
		ssize_t w = cki_zmtp_writev_nowait(z, iov + first, n - first, message, cap);
		if (w < 0) {
			lost(c, a, z, message);
			return;
		}
		size_t done = a->out_off + (size_t)w;
		a->out_off = 0; /* whole frames leave the outbox as written, not as abandoned */
		while (a->out_head != NULL) {
			uint8_t h[9];
			size_t len = zmq_msg_size(&a->out_head->out);
			size_t frame = cki_zmtp_header(h, len) + len;
			if (done < frame)
				break;
			done -= frame;
			outbox_remove(a, a->out_head); /* written: now it waits for its reply */
			a->written++;
		}
		a->out_off = done;
		if ((size_t)w < total) {
			a->blocked = true;
			cki_zmtp_watch_write(z, true);
			return;
		}
	}
	cki_zmtp_watch_write(z, false);
}

/* Sends the outbox in order. A full send queue keeps the rest for the next call (libzmq's fd
 * signals when the queue drains, and their deadlines still hold); a broken connection fails
 * the request it could not send. */
static void
flush(ck_client *c, cki_async *a)
{
	cki_zmtp *z = cki_client_direct(c);
	if (z != NULL) {
		flush_direct(c, a, z);
		return;
	}
	a->blocked = false;
	while (a->out_head != NULL) {
		pend *p = a->out_head;
		ck_err rv = cki_send_nowait(c, &p->out);
		if (rv == CK_EOVERLOAD) {
			a->blocked = true;
			return;
		}
		if (rv == CK_OK) {
			/* zmq_msg_send emptied the message: closing it is a no-op */
			outbox_remove(a, p);
			continue;
		}
		p = untrack_id(a, p->id);
		complete(c, p, rv, NULL, "could not send the request to the agent");
	}
}

ck_err
ck_client_process(ck_client *c)
{
	cki_async *a = c != NULL ? *cki_client_async(c) : NULL;
	ck_err rv = CK_OK;

	if (a == NULL)
		return CK_OK;
	/* Before anything is sent: in a child after fork() this forgets the parent's requests. The
	 * drain below is for what was in flight before this call; requests submitted by the
	 * callbacks here leave with the last flush and cannot be answered yet. */
	cki_zmtp *z = cki_client_direct(c);
	void *sock = z == NULL && a->count > 0 ? cki_client_socket(c) : NULL;
	size_t sent_before = a->count - a->out_n, written_before = a->written;
	flush(c, a);
	/* Nothing was written before this call and some is now: no reply can be due yet, so the
	 * read is left to the next call, which the descriptor (level-triggered) brings when one
	 * arrives. Every other call reads, so late replies and the end of a stream are seen. */
	bool read_direct = z != NULL && !(sent_before == 0 && a->written != written_before);
	/* Near hits submitted before this call; ones submitted by callbacks wait for the next. */
	pend *ready = a->ready_head;
	a->ready_head = NULL;
	a->ready_tail = &a->ready_head;
	while (ready != NULL) {
		pend *next = ready->chain;
		cki_reply hit = {.flag = true, .value = ready->ready};
		ready->has_near = false;
		a->ready_n--;
		complete(c, ready, CK_OK, &hit, NULL);
		ready = next;
	}
	while (sock != NULL) {
		zmq_msg_t msg;
		zmq_msg_init(&msg);
		if (zmq_msg_recv(&msg, sock, ZMQ_DONTWAIT) < 0) {
			if (errno != EAGAIN && errno != EINTR) {
				cki_client_set_message(c, zmq_strerror(errno));
				rv = CK_ECONNECT;
			}
			zmq_msg_close(&msg);
			break;
		}
		bool multipart = zmq_msg_more(&msg);
		if (!multipart)
			on_frame(c, a, zmq_msg_data(&msg), zmq_msg_size(&msg));
		zmq_msg_close(&msg);
	}
	/* The direct connection is read whatever is in flight: a late reply, or the end of the
	 * stream, would otherwise keep its descriptor readable. */
	if (read_direct)
		cki_zmtp_recv_begin(z);
	while (read_direct && z->fd >= 0 && z->ready) {
		size_t cap;
		char *message = cki_client_message_buf(c, &cap);
		const uint8_t *body;
		size_t len;
		bool multipart;
		ck_err r = cki_zmtp_recv_nowait(z, CKI_STUB_MAX_VALUE + CKI_STUB_MAX_OVERHEAD,
		                                &body, &len, &multipart, message, cap);
		if (r == CK_ETIMEDOUT)
			break; /* nothing more whole yet */
		if (r != CK_OK) {
			lost(c, a, z, message);
			rv = CK_ECONNECT;
			break;
		}
		if (!multipart)
			on_frame(c, a, body, len);
	}
	for (int64_t now = cki_stub_now_ms(); a->heap_n > 0 && a->heap[0]->deadline <= now;) {
		pend *p = untrack_id(a, a->heap[0]->id);
		complete(c, p, CK_ETIMEDOUT, NULL, "no reply within the request's deadline");
	}
	flush(c, a); /* what the callbacks submitted leaves now, not at the next turn */
	arm(c, a);
	return rv;
}

/* ---- transport.c's side ----------------------------------------------------------------- */

size_t
cki_async_pending(const cki_async *a)
{
	return a != NULL ? a->count + a->ready_n : 0;
}

static void
drop_all(cki_async *a, ck_client *c)
{
	pend *ready = a->ready_head;
	a->ready_head = NULL;
	a->ready_tail = &a->ready_head;
	a->ready_n = 0;
	while (ready != NULL) {
		pend *next = ready->chain;
		if (c != NULL) {
			ck_result r = {.err = CK_ESHUTDOWN, .message = "client closed"};
			ready->cb(c, &r, ready->arg);
		}
		ck_value_free(ready->ready);
		free(ready);
		ready = next;
	}
	while (a->heap_n > 0) {
		pend *p = untrack_id(a, a->heap[0]->id);
		if (c != NULL) {
			ck_result r = {.err = CK_ESHUTDOWN, .message = "client closed"};
			fail_items(p, CK_ESHUTDOWN);
			p->cb(c, &r, p->arg);
		}
		free(p);
	}
}

void
cki_async_forget(cki_async *a)
{
	if (a != NULL)
		drop_all(a, NULL);
}

void
cki_async_free(ck_client *c)
{
	cki_async **slot = cki_client_async(c);
	cki_async *a = *slot;
	if (a == NULL)
		return;
	drop_all(a, c);
	free(a->heap);
	free(a->buckets);
	free(a);
	*slot = NULL;
}
