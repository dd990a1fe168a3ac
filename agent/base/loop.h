/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's reactor: one thread, one epoll set over ZeroMQ sockets and plain fds, plus a
 * timer heap. Every module that waits (server, store_http via libcurl, locks via pidfds,
 * refresh) registers here; nothing else blocks. Not thread-safe: use from the loop thread.
 */
#ifndef CKI_LOOP_H
#define CKI_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "cachekit/errors.h"

typedef struct cki_loop cki_loop;

enum {
	CKI_EV_READ = 1,
	CKI_EV_WRITE = 2,
	CKI_EV_ERROR = 4,
};

/* Called with the events that are ready (CKI_EV_*). For a ZeroMQ socket, fd is -1. */
typedef void (*cki_io_cb)(cki_loop *loop, int fd, unsigned events, void *arg);
typedef void (*cki_timer_cb)(cki_loop *loop, void *arg);

/* 0 is never a valid timer id. */
typedef uint64_t cki_timer_id;

/* Monotonic milliseconds and microseconds (CLOCK_MONOTONIC, the same clock). */
uint64_t cki_now_ms(void);
uint64_t cki_now_us(void);

CK_NODISCARD ck_err cki_loop_new(cki_loop **out);
/* Frees the loop; watchers and timers are dropped without being called. Accepts NULL. */
void cki_loop_free(cki_loop *loop);

/* Watches fd for events (CKI_EV_READ|CKI_EV_WRITE). Calling again for the same fd replaces
 * the events and callback. events == 0 removes the watch. */
CK_NODISCARD ck_err cki_loop_watch_fd(cki_loop *loop, int fd, unsigned events, cki_io_cb cb,
                                      void *arg);
void cki_loop_unwatch_fd(cki_loop *loop, int fd);

/* Watches a ZeroMQ socket for ZMQ_POLLIN. The callback must drain the socket (read until
 * EAGAIN): ZeroMQ readiness is edge-like. */
CK_NODISCARD ck_err cki_loop_watch_zsock(cki_loop *loop, void *zsock, cki_io_cb cb, void *arg);
void cki_loop_unwatch_zsock(cki_loop *loop, void *zsock);
/* Any operation on a watched ZeroMQ socket other than its callback's drain (a send from
 * elsewhere, a drain cut short) may take the fd's signal while a message waits, and the loop
 * would then sleep past it: say so here, and at the end of the turn the loop asks the socket
 * (ZMQ_EVENTS) whether a message waits. A socket nobody touched since its callback drained it
 * is not asked (each ZMQ_EVENTS costs a poll(2) and a getpid(2) inside libzmq). */
void cki_loop_zsock_used(cki_loop *loop, void *zsock);
/* How many end-of-turn ZMQ_EVENTS checks the loop has made (for tests). */
uint64_t cki_loop_zsock_checks(const cki_loop *loop);

/* Runs cb once, delay_ms from now (0 = on the next turn of the loop, after I/O).
 * Returns the id, or 0 when out of memory: callers must handle 0 (a lease that never
 * expires or a waiter never answered is worse than an error). */
CK_NODISCARD cki_timer_id cki_loop_timer(cki_loop *loop, uint64_t delay_ms, cki_timer_cb cb,
                                         void *arg);
/* Cancels a pending timer. Unknown or fired ids (and 0) are ignored. */
void cki_loop_timer_cancel(cki_loop *loop, cki_timer_id id);

/* Runs fn(loop, arg) once on the next turn of the loop (after I/O, before timers), in the
 * order the calls were deferred. Calls deferred while the queue runs wait for the turn after,
 * so a callback that defers again cannot starve I/O. There is no cancel: fn must cope with
 * whatever arg has become (owners keep arg alive until fn runs). The queue keeps room for 64
 * calls from the start, so deferring fails only past that and when memory is exhausted.
 * Pending calls are dropped without being called by cki_loop_free().
 * Returns CK_OK, or CK_ENOMEM (fn will not run). */
CK_NODISCARD ck_err cki_loop_defer(cki_loop *loop, void (*fn)(cki_loop *loop, void *arg),
                                   void *arg);

/* Runs until cki_loop_stop(). Returns CK_OK, or an error if polling itself failed. */
CK_NODISCARD ck_err cki_loop_run(cki_loop *loop);
/* Makes cki_loop_run() return after the current turn. Safe from callbacks. */
void cki_loop_stop(cki_loop *loop);

/* Async-signal-safe: wakes the loop from a signal handler (writes to a self-pipe). */
void cki_loop_wake(cki_loop *loop);

/* Called at the start of every turn, after waking (used for signal flags). */
void cki_loop_on_turn(cki_loop *loop, void (*cb)(cki_loop *, void *), void *arg);

#endif
