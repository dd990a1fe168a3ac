/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The reactor: one epoll set over plain fds and the notification fds of ZeroMQ sockets, timers
 * (base/timerheap.c) and deferred calls. zmq_poll would cost two poll(2) calls and two ZMQ_EVENTS
 * checks per ZeroMQ socket on every turn (each a poll(2) and a getpid(2) inside libzmq); on the hit
 * path that was 10.7 poll(2) calls per Get. A ZeroMQ socket's fd only says "look at
 * ZMQ_EVENTS", and any send or receive on the socket may consume that signal while a message
 * waits, so at the end of a turn the loop asks each socket that was used outside its drain
 * (cki_loop_zsock_used) whether a message is pending, and if so does not sleep.
 * Deferred calls sit in a FIFO ring that grows geometrically. Watchers
 * may be added or removed from inside callbacks: each turn first snapshots what was ready, then
 * looks every watcher up again before calling it.
 */
#define _GNU_SOURCE /* pipe2 */
#include "base/loop.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "base/log.h"
#include "base/timerheap.h"

typedef struct watcher {
	int fd;       /* for a ZeroMQ socket, its ZMQ_FD */
	void *zsock;  /* NULL for a plain fd */
	bool pending; /* ZeroMQ: a message waited at the end of the last turn */
	bool used;    /* ZeroMQ: touched since its callback last drained it */
	unsigned events;
	cki_io_cb cb;
	void *arg;
} watcher;

typedef struct ready {
	int fd;
	unsigned events;
} ready;

typedef struct deferred {
	void (*fn)(cki_loop *loop, void *arg);
	void *arg;
} deferred;

struct cki_loop {
	watcher *watchers;
	size_t nwatchers, cap_watchers;
	/* fd -> 1 + index in watchers (0: not watched), so finding the watcher of a ready fd is
	 * O(1); libcurl changes its socket watches on every transfer. A ZeroMQ socket is listed
	 * under its ZMQ_FD, and found by a scan when asked for by socket (a handful). */
	uint32_t *fd_slot;
	size_t cap_fd_slot;
	int epfd;
	struct epoll_event *events;
	struct ready *readies; /* same capacity as events */
	size_t cap_events;
	bool zsock_pending; /* a watched ZeroMQ socket had a message at the end of the turn */
	uint64_t zsock_checks;

	cki_timerheap timers;

	deferred *defers; /* ring: defer_len calls from defer_head */
	size_t defer_cap, defer_head, defer_len;

	int wake_pipe[2];
	volatile int stop;
	void (*turn_cb)(cki_loop *, void *);
	void *turn_arg;
};

#define DEFER_FIRST_CAP 64u
#define EVENTS_CAP      256u /* ready fds taken per epoll_wait; more wait for the next turn */

uint64_t
cki_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t
cki_now_ms(void)
{
	return cki_now_us() / 1000u;
}

ck_err
cki_loop_new(cki_loop **out)
{
	cki_loop *loop = calloc(1, sizeof(*loop));
	if (loop == NULL)
		return CK_ENOMEM;
	cki_timerheap_init(&loop->timers);
	loop->defers = calloc(DEFER_FIRST_CAP, sizeof(*loop->defers));
	loop->defer_cap = DEFER_FIRST_CAP;
	loop->wake_pipe[0] = loop->wake_pipe[1] = -1;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	loop->cap_events = EVENTS_CAP;
	loop->events = calloc(EVENTS_CAP, sizeof(*loop->events));
	loop->readies = calloc(EVENTS_CAP, sizeof(*loop->readies));
	struct epoll_event wake = {.events = EPOLLIN};
	if (loop->defers == NULL || loop->events == NULL || loop->readies == NULL ||
	    loop->epfd < 0 || pipe2(loop->wake_pipe, O_NONBLOCK | O_CLOEXEC) != 0 ||
	    (wake.data.fd = loop->wake_pipe[0],
	     epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->wake_pipe[0], &wake) != 0)) {
		cki_loop_free(loop);
		return CK_EIO;
	}
	*out = loop;
	return CK_OK;
}

void
cki_loop_free(cki_loop *loop)
{
	if (loop == NULL)
		return;
	if (loop->wake_pipe[0] >= 0) {
		close(loop->wake_pipe[0]);
		close(loop->wake_pipe[1]);
	}
	if (loop->epfd >= 0)
		close(loop->epfd);
	free(loop->watchers);
	free(loop->fd_slot);
	free(loop->events);
	free(loop->readies);
	cki_timerheap_fini(&loop->timers);
	free(loop->defers);
	free(loop);
}

/* ---- watchers ------------------------------------------------------------------------- */

/* The watcher of fd (a plain fd or a ZeroMQ socket's ZMQ_FD). */
static watcher *
watcher_of_fd(cki_loop *loop, int fd)
{
	if (fd < 0 || (size_t)fd >= loop->cap_fd_slot || loop->fd_slot[fd] == 0)
		return NULL;
	return &loop->watchers[loop->fd_slot[fd] - 1];
}

static watcher *
find_watcher(cki_loop *loop, int fd, void *zsock)
{
	if (zsock == NULL) {
		watcher *w = watcher_of_fd(loop, fd);
		return w != NULL && w->zsock == NULL ? w : NULL;
	}
	for (size_t i = 0; i < loop->nwatchers; i++)
		if (loop->watchers[i].zsock == zsock)
			return &loop->watchers[i];
	return NULL;
}

/* Level-triggered, like poll(2). An fd closed before it was unwatched has already left the
 * epoll set (ENOENT, EBADF): nothing to undo, and a new fd with its number is added afresh. */
static int
epoll_set(cki_loop *loop, int fd, unsigned events)
{
	struct epoll_event ev = {.data.fd = fd};
	if (events & CKI_EV_READ)
		ev.events |= EPOLLIN;
	if (events & CKI_EV_WRITE)
		ev.events |= EPOLLOUT;
	if (events == 0)
		return epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, &ev) != 0 && errno != ENOENT &&
		                       errno != EBADF
		               ? -1
		               : 0;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) == 0)
		return 0;
	if (errno != ENOENT)
		return -1;
	return epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev);
}

/* Makes room in fd_slot for fd (doubling). */
static ck_err
grow_fd_slot(cki_loop *loop, int fd)
{
	if ((size_t)fd < loop->cap_fd_slot)
		return CK_OK;
	size_t ncap = loop->cap_fd_slot ? loop->cap_fd_slot : 64;
	while (ncap <= (size_t)fd)
		ncap *= 2;
	uint32_t *n = realloc(loop->fd_slot, ncap * sizeof(*n));
	if (n == NULL)
		return CK_ENOMEM;
	memset(n + loop->cap_fd_slot, 0, (ncap - loop->cap_fd_slot) * sizeof(*n));
	loop->fd_slot = n;
	loop->cap_fd_slot = ncap;
	return CK_OK;
}

static void
remove_watcher(cki_loop *loop, int fd, void *zsock)
{
	watcher *w = find_watcher(loop, fd, zsock);
	if (w == NULL)
		return;
	if (epoll_set(loop, w->fd, 0) != 0)
		cki_log_debug("epoll_ctl(DEL, %d): %s", w->fd, strerror(errno));
	loop->fd_slot[w->fd] = 0;
	*w = loop->watchers[--loop->nwatchers];
	/* The last watcher moved into the hole: its fd now points here. */
	if (w != &loop->watchers[loop->nwatchers])
		loop->fd_slot[w->fd] = (uint32_t)(w - loop->watchers) + 1;
}

static ck_err
set_watcher(cki_loop *loop, int fd, void *zsock, unsigned events, cki_io_cb cb, void *arg)
{
	if (events == 0) {
		remove_watcher(loop, fd, zsock);
		return CK_OK;
	}
	watcher *w = find_watcher(loop, fd, zsock);
	if (w == NULL) {
		if (fd < 0 || watcher_of_fd(loop, fd) != NULL)
			return CK_EINVAL; /* a ZeroMQ socket's fd is not for plain watching */
		if (grow_fd_slot(loop, fd) != CK_OK)
			return CK_ENOMEM;
		if (loop->nwatchers == loop->cap_watchers) {
			size_t ncap = loop->cap_watchers ? loop->cap_watchers * 2 : 16;
			watcher *nw = realloc(loop->watchers, ncap * sizeof(*nw));
			if (nw == NULL)
				return CK_ENOMEM;
			loop->watchers = nw;
			loop->cap_watchers = ncap;
		}
		if (epoll_set(loop, fd, events) != 0) {
			cki_log_error("epoll_ctl(ADD, %d): %s", fd, strerror(errno));
			return CK_EIO;
		}
		w = &loop->watchers[loop->nwatchers++];
		loop->fd_slot[fd] = (uint32_t)loop->nwatchers;
		w->pending = false;
		w->used = false;
	} else if (w->events != events && epoll_set(loop, fd, events) != 0) {
		cki_log_error("epoll_ctl(MOD, %d): %s", fd, strerror(errno));
		return CK_EIO;
	}
	w->fd = fd;
	w->zsock = zsock;
	w->events = events;
	w->cb = cb;
	w->arg = arg;
	return CK_OK;
}

ck_err
cki_loop_watch_fd(cki_loop *loop, int fd, unsigned events, cki_io_cb cb, void *arg)
{
	if (fd < 0)
		return CK_EINVAL;
	return set_watcher(loop, fd, NULL, events, cb, arg);
}

void
cki_loop_unwatch_fd(cki_loop *loop, int fd)
{
	remove_watcher(loop, fd, NULL);
}

ck_err
cki_loop_watch_zsock(cki_loop *loop, void *zsock, cki_io_cb cb, void *arg)
{
	int fd = -1;
	size_t len = sizeof(fd);
	if (zsock == NULL)
		return CK_EINVAL;
	watcher *w = find_watcher(loop, -1, zsock);
	if (w != NULL)
		fd = w->fd;
	else if (zmq_getsockopt(zsock, ZMQ_FD, &fd, &len) != 0)
		return CK_EINVAL;
	ck_err rv = set_watcher(loop, fd, zsock, CKI_EV_READ, cb, arg);
	if (rv == CK_OK) {
		/* A message may already wait, its signal taken before the watch began. */
		find_watcher(loop, -1, zsock)->pending = true;
		loop->zsock_pending = true;
	}
	return rv;
}

void
cki_loop_unwatch_zsock(cki_loop *loop, void *zsock)
{
	remove_watcher(loop, -1, zsock);
}

void
cki_loop_zsock_used(cki_loop *loop, void *zsock)
{
	watcher *w = find_watcher(loop, -1, zsock);
	if (w != NULL)
		w->used = true;
}

uint64_t
cki_loop_zsock_checks(const cki_loop *loop)
{
	return loop->zsock_checks;
}

/* ---- timers (base/timerheap.c) ----------------------------------------------------------- */

cki_timer_id
cki_loop_timer(cki_loop *loop, uint64_t delay_ms, cki_timer_cb cb, void *arg)
{
	return cki_timerheap_add(&loop->timers, cki_now_ms() + delay_ms, (cki_timerheap_fn)cb, arg);
}

void
cki_loop_timer_cancel(cki_loop *loop, cki_timer_id id)
{
	if (id == 0)
		return; /* nothing armed; callers tearing down may pass no loop with it */
	cki_timerheap_cancel(&loop->timers, id);
}

/* Fires every timer due by now. Timers added by callbacks with delay 0 wait for the next turn
 * (their seq is newer than this turn's limit), so a callback cannot starve I/O. */
static void
run_timers(cki_loop *loop)
{
	uint64_t now = cki_now_ms();
	uint64_t seq_limit = loop->timers.seq;
	cki_timerheap_fn fn;
	void *arg;
	while (!loop->stop && cki_timerheap_pop_due(&loop->timers, now, seq_limit, &fn, &arg))
		((cki_timer_cb)fn)(loop, arg);
}

/* ---- deferred calls -------------------------------------------------------------------- */

ck_err
cki_loop_defer(cki_loop *loop, void (*fn)(cki_loop *loop, void *arg), void *arg)
{
	if (fn == NULL)
		return CK_EINVAL;
	if (loop->defer_len == loop->defer_cap) {
		size_t ncap = loop->defer_cap * 2;
		deferred *nd = malloc(ncap * sizeof(*nd));
		if (nd == NULL)
			return CK_ENOMEM;
		for (size_t i = 0; i < loop->defer_len; i++)
			nd[i] = loop->defers[(loop->defer_head + i) % loop->defer_cap];
		free(loop->defers);
		loop->defers = nd;
		loop->defer_cap = ncap;
		loop->defer_head = 0;
	}
	loop->defers[(loop->defer_head + loop->defer_len) % loop->defer_cap] =
	        (deferred){.fn = fn, .arg = arg};
	loop->defer_len++;
	return CK_OK;
}

/* Runs the calls deferred before this turn; those they defer wait for the next turn. */
static void
run_deferred(cki_loop *loop)
{
	for (size_t n = loop->defer_len; n > 0 && !loop->stop; n--) {
		deferred d = loop->defers[loop->defer_head];
		loop->defer_head = (loop->defer_head + 1) % loop->defer_cap;
		loop->defer_len--;
		d.fn(loop, d.arg);
	}
}

static long
poll_timeout(const cki_loop *loop)
{
	if (loop->defer_len > 0)
		return 0;
	uint64_t due;
	if (!cki_timerheap_next_due(&loop->timers, &due))
		return 1000; /* nothing scheduled: wake now and then anyway */
	uint64_t now = cki_now_ms();
	if (due <= now)
		return 0;
	return (long)(due - now > 1000 ? 1000 : due - now);
}

/* ---- running ------------------------------------------------------------------------------ */

void
cki_loop_on_turn(cki_loop *loop, void (*cb)(cki_loop *, void *), void *arg)
{
	loop->turn_cb = cb;
	loop->turn_arg = arg;
}

void
cki_loop_wake(cki_loop *loop)
{
	char b = 1;
	ssize_t r = write(loop->wake_pipe[1], &b, 1);
	(void)r; /* a full pipe already means "wake up" */
}

void
cki_loop_stop(cki_loop *loop)
{
	loop->stop = 1;
}

/* Takes what epoll reported into loop->readies; returns how many. */
static size_t
take_ready(cki_loop *loop, int n)
{
	size_t nready = 0;
	for (int i = 0; i < n; i++) {
		const struct epoll_event *e = &loop->events[i];
		if (e->data.fd == loop->wake_pipe[0]) {
			char buf[64];
			while (read(loop->wake_pipe[0], buf, sizeof(buf)) > 0) {
			}
			continue;
		}
		unsigned ev = 0;
		if (e->events & EPOLLIN)
			ev |= CKI_EV_READ;
		if (e->events & EPOLLOUT)
			ev |= CKI_EV_WRITE;
		if (e->events & ~(uint32_t)(EPOLLIN | EPOLLOUT))
			ev |= CKI_EV_ERROR; /* EPOLLERR, EPOLLHUP: as zmq_poll reported them */
		loop->readies[nready++] = (ready){e->data.fd, ev};
	}
	return nready;
}

/* Calls the watcher of each ready fd, looked up again: an earlier callback may have removed
 * or replaced it. A ZeroMQ socket's callback runs for any event on its fd (it drains). */
static void
call_ready(cki_loop *loop, size_t nready)
{
	for (size_t i = 0; i < nready && !loop->stop; i++) {
		watcher *w = watcher_of_fd(loop, loop->readies[i].fd);
		if (w == NULL)
			continue;
		if (w->zsock != NULL) {
			w->pending = false;
			w->used = false; /* the callback drains it; it says so if it does more */
			w->cb(loop, -1, CKI_EV_READ, w->arg);
			continue;
		}
		unsigned ev = loop->readies[i].events & (w->events | CKI_EV_ERROR);
		if (ev)
			w->cb(loop, w->fd, ev, w->arg);
	}
	/* Sockets whose message was found by the last end-of-turn check, not by their fd. */
	for (size_t i = 0; loop->zsock_pending && i < loop->nwatchers && !loop->stop; i++) {
		watcher *w = &loop->watchers[i];
		if (w->zsock != NULL && w->pending) {
			w->pending = false;
			w->used = false;
			w->cb(loop, -1, CKI_EV_READ, w->arg);
		}
	}
}

/* Asks each ZeroMQ socket used outside its drain whether a message waits (one ZMQ_EVENTS
 * each): that use may have consumed the fd's signal, and sleeping then would strand it. */
static void
check_zsocks(cki_loop *loop)
{
	loop->zsock_pending = false;
	for (size_t i = 0; i < loop->nwatchers; i++) {
		watcher *w = &loop->watchers[i];
		int zev = 0;
		size_t len = sizeof(zev);
		if (w->zsock == NULL || !w->used) {
			loop->zsock_pending |= w->zsock != NULL && w->pending;
			continue;
		}
		w->used = false;
		loop->zsock_checks++;
		if (zmq_getsockopt(w->zsock, ZMQ_EVENTS, &zev, &len) != 0)
			zev = ZMQ_POLLIN; /* let the callback meet the error */
		w->pending = (zev & ZMQ_POLLIN) != 0;
		loop->zsock_pending |= w->pending;
	}
}

ck_err
cki_loop_run(cki_loop *loop)
{
	loop->stop = 0;
	while (!loop->stop) {
		int n = epoll_wait(loop->epfd, loop->events, (int)loop->cap_events,
		                   loop->zsock_pending ? 0 : (int)poll_timeout(loop));
		if (n < 0 && errno != EINTR) {
			cki_log_error("epoll_wait failed: %s", strerror(errno));
			return CK_EIO;
		}
		size_t nready = take_ready(loop, n < 0 ? 0 : n);
		if (loop->turn_cb)
			loop->turn_cb(loop, loop->turn_arg);
		call_ready(loop, nready);
		run_deferred(loop);
		run_timers(loop);
		check_zsocks(loop);
	}
	return CK_OK;
}
