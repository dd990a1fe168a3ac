/* SPDX-License-Identifier: Apache-2.0 */
/* The reactor: timer order and cancellation, fd readiness, ZeroMQ sockets, wake-ups, deferred
 * calls. */
#define _GNU_SOURCE /* pipe2 */
#include <stdbool.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <zmq.h>

#include "cunit_main.h"
#include "base/loop.h"

typedef struct record {
	int order[16];
	int n;
	cki_loop *loop;
	int stop_after;
} record;

typedef struct tarm {
	record *rec;
	int tag;
} tarm;

static void
on_timer(cki_loop *loop, void *arg)
{
	tarm *t = arg;
	t->rec->order[t->rec->n++] = t->tag;
	if (t->rec->n == t->rec->stop_after)
		cki_loop_stop(loop);
}

static void
test_timers_fire_in_due_order(void)
{
	cki_loop *loop;
	CU_ASSERT_EQUAL_FATAL(cki_loop_new(&loop), CK_OK);
	record rec = {.stop_after = 4};
	tarm a = {&rec, 30}, b = {&rec, 10}, c = {&rec, 20}, d = {&rec, 11};
	CU_ASSERT(cki_loop_timer(loop, 30, on_timer, &a) != 0);
	CU_ASSERT(cki_loop_timer(loop, 10, on_timer, &b) != 0);
	CU_ASSERT(cki_loop_timer(loop, 20, on_timer, &c) != 0);
	CU_ASSERT(cki_loop_timer(loop, 10, on_timer, &d) != 0);
	CU_ASSERT_EQUAL(cki_loop_run(loop), CK_OK);
	CU_ASSERT_EQUAL(rec.n, 4);
	CU_ASSERT_EQUAL(rec.order[0], 10);
	CU_ASSERT_EQUAL(rec.order[1], 11); /* same due time: creation order */
	CU_ASSERT_EQUAL(rec.order[2], 20);
	CU_ASSERT_EQUAL(rec.order[3], 30);
	cki_loop_free(loop);
}

static void
test_cancelled_timer_never_fires(void)
{
	cki_loop *loop;
	CU_ASSERT_EQUAL_FATAL(cki_loop_new(&loop), CK_OK);
	record rec = {.stop_after = 2};
	tarm a = {&rec, 1}, b = {&rec, 2}, c = {&rec, 3};
	cki_timer_id ia = cki_loop_timer(loop, 5, on_timer, &a);
	CU_ASSERT_NOT_EQUAL(cki_loop_timer(loop, 10, on_timer, &b), 0);
	CU_ASSERT_NOT_EQUAL(cki_loop_timer(loop, 15, on_timer, &c), 0);
	cki_loop_timer_cancel(loop, ia);
	cki_loop_timer_cancel(loop, ia); /* twice: harmless */
	cki_loop_timer_cancel(loop, 0);
	CU_ASSERT_EQUAL(cki_loop_run(loop), CK_OK);
	CU_ASSERT_EQUAL(rec.n, 2);
	CU_ASSERT_EQUAL(rec.order[0], 2);
	CU_ASSERT_EQUAL(rec.order[1], 3);
	cki_loop_free(loop);
}

static void
test_stale_id_does_not_cancel_reused_slot(void)
{
	cki_loop *loop;
	CU_ASSERT_EQUAL_FATAL(cki_loop_new(&loop), CK_OK);
	record rec = {.stop_after = 1};
	tarm a = {&rec, 1}, b = {&rec, 2};
	cki_timer_id ia = cki_loop_timer(loop, 1, on_timer, &a);
	cki_loop_timer_cancel(loop, ia);
	cki_timer_id ib = cki_loop_timer(loop, 1, on_timer, &b); /* reuses the slot */
	CU_ASSERT_NOT_EQUAL(ia, ib);
	cki_loop_timer_cancel(loop, ia); /* old id: must not hit b */
	CU_ASSERT_EQUAL(cki_loop_run(loop), CK_OK);
	CU_ASSERT_EQUAL(rec.n, 1);
	CU_ASSERT_EQUAL(rec.order[0], 2);
	cki_loop_free(loop);
}

static void
test_many_timers_keep_heap_order(void)
{
	cki_loop *loop;
	CU_ASSERT_EQUAL_FATAL(cki_loop_new(&loop), CK_OK);
	enum { N = 200 };
	static tarm arms[N];
	record rec = {.stop_after = 16};
	/* Pseudo-random delays; cancel every third; the first 16 fired must be non-decreasing. */
	cki_timer_id ids[N];
	for (int i = 0; i < N; i++) {
		arms[i] = (tarm){&rec, (i * 37) % 50};
		/* 10 ms apart, so the time it takes to create 200 timers (slow under ASan)
		 * cannot reorder distinct delays. */
		ids[i] = cki_loop_timer(loop, (uint64_t)arms[i].tag * 10, on_timer, &arms[i]);
	}
	for (int i = 0; i < N; i += 3)
		cki_loop_timer_cancel(loop, ids[i]);
	CU_ASSERT_EQUAL(cki_loop_run(loop), CK_OK);
	for (int i = 1; i < 16; i++)
		CU_ASSERT(rec.order[i - 1] <= rec.order[i]);
	cki_loop_free(loop);
}

static void
on_readable(cki_loop *loop, int fd, unsigned ev, void *arg)
{
	char buf[8];
	int *got = arg;
	CU_ASSERT(ev & CKI_EV_READ);
	*got = (int)read(fd, buf, sizeof(buf));
	cki_loop_unwatch_fd(loop, fd);
	cki_loop_stop(loop);
}

static void
test_fd_watch_reports_readable(void)
{
	cki_loop *loop;
	int p[2];
	CU_ASSERT_EQUAL_FATAL(cki_loop_new(&loop), CK_OK);
	CU_ASSERT_EQUAL_FATAL(pipe(p), 0);
	int got = -1;
	CU_ASSERT_EQUAL(cki_loop_watch_fd(loop, p[0], CKI_EV_READ, on_readable, &got), CK_OK);
	CU_ASSERT_EQUAL(write(p[1], "abc", 3), 3);
	CU_ASSERT_EQUAL(cki_loop_run(loop), CK_OK);
	CU_ASSERT_EQUAL(got, 3);
	close(p[0]);
	close(p[1]);
	cki_loop_free(loop);
}

static void
on_zsock(cki_loop *loop, int fd, unsigned ev, void *arg)
{
	char buf[16];
	int n = zmq_recv(arg, buf, sizeof(buf), ZMQ_DONTWAIT);
	CU_ASSERT_EQUAL(n, 5);
	CU_ASSERT_EQUAL(fd, -1);
	cki_loop_stop(loop);
}

static void
test_zmq_socket_watch_reports_messages(void)
{
	cki_loop *loop;
	CU_ASSERT_EQUAL_FATAL(cki_loop_new(&loop), CK_OK);
	void *ctx = zmq_ctx_new();
	void *rx = zmq_socket(ctx, ZMQ_PAIR), *tx = zmq_socket(ctx, ZMQ_PAIR);
	CU_ASSERT_EQUAL(zmq_bind(rx, "inproc://loop-test"), 0);
	CU_ASSERT_EQUAL(zmq_connect(tx, "inproc://loop-test"), 0);
	CU_ASSERT_EQUAL(cki_loop_watch_zsock(loop, rx, on_zsock, rx), CK_OK);
	CU_ASSERT_EQUAL(zmq_send(tx, "hello", 5, 0), 5);
	CU_ASSERT_EQUAL(cki_loop_run(loop), CK_OK);
	zmq_close(rx);
	zmq_close(tx);
	zmq_ctx_term(ctx);
	cki_loop_free(loop);
}

/* A message whose fd signal was taken by another call on the socket (any send, receive or
 * ZMQ_EVENTS processes the socket's commands) must still be delivered: told that the socket was
 * used, the loop asks it at the end of the turn instead of sleeping on a fd that will not fire
 * again. */
typedef struct strand {
	void *rx, *tx;
	int received, turns;
} strand;

static void
strand_recv(cki_loop *loop, int fd, unsigned ev, void *arg)
{
	strand *st = arg;
	char buf[16];
	(void)fd;
	(void)ev;
	while (zmq_recv(st->rx, buf, sizeof(buf), ZMQ_DONTWAIT) >= 0)
		st->received++;
	if (st->received > 0)
		cki_loop_stop(loop);
}

static void
strand_send_and_touch(cki_loop *loop, void *arg)
{
	strand *st = arg;
	int zev = 0;
	size_t len = sizeof(zev);
	CU_ASSERT_EQUAL(zmq_send(st->tx, "hello", 5, 0), 5);
	CU_ASSERT_EQUAL(zmq_getsockopt(st->rx, ZMQ_EVENTS, &zev, &len), 0);
	CU_ASSERT(zev & ZMQ_POLLIN); /* the message waits; its fd signal is gone */
	cki_loop_zsock_used(loop, st->rx);
}

static void
strand_turn(cki_loop *loop, void *arg)
{
	strand *st = arg;
	/* Without the end-of-turn check the loop only idles here (once a second, forever). */
	if (++st->turns > 6)
		cki_loop_stop(loop);
}

static void
test_message_whose_signal_was_taken_is_delivered(void)
{
	cki_loop *loop;
	strand st = {0};
	CU_ASSERT_EQUAL_FATAL(cki_loop_new(&loop), CK_OK);
	void *ctx = zmq_ctx_new();
	st.rx = zmq_socket(ctx, ZMQ_PAIR);
	st.tx = zmq_socket(ctx, ZMQ_PAIR);
	CU_ASSERT_EQUAL(zmq_bind(st.rx, "inproc://loop-strand"), 0);
	CU_ASSERT_EQUAL(zmq_connect(st.tx, "inproc://loop-strand"), 0);
	CU_ASSERT_EQUAL(cki_loop_watch_zsock(loop, st.rx, strand_recv, &st), CK_OK);
	cki_loop_on_turn(loop, strand_turn, &st);
	CU_ASSERT_NOT_EQUAL(cki_loop_timer(loop, 0, strand_send_and_touch, &st), 0);
	CU_ASSERT_EQUAL(cki_loop_run(loop), CK_OK);
	CU_ASSERT_EQUAL(st.received, 1);
	CU_ASSERT(st.turns <= 3);
	zmq_close(st.rx);
	zmq_close(st.tx);
	zmq_ctx_term(ctx);
	cki_loop_free(loop);
}

/* A socket only its own callback touches is never asked at the end of a turn (each ask is a
 * poll(2) and a getpid(2) inside libzmq): its messages still arrive, by its fd alone. */
typedef struct quiet {
	void *rx, *tx;
	int received, sent;
} quiet;

static void
quiet_recv(cki_loop *loop, int fd, unsigned ev, void *arg)
{
	quiet *q = arg;
	char buf[16];
	(void)fd;
	(void)ev;
	while (zmq_recv(q->rx, buf, sizeof(buf), ZMQ_DONTWAIT) >= 0)
		q->received++;
	if (q->received == 3)
		cki_loop_stop(loop);
}

static void
quiet_send(cki_loop *loop, void *arg)
{
	quiet *q = arg;
	CU_ASSERT_EQUAL(zmq_send(q->tx, "x", 1, 0), 1);
	if (++q->sent < 3)
		CU_ASSERT_NOT_EQUAL(cki_loop_timer(loop, 1, quiet_send, q), 0);
}

static void
stop_now(cki_loop *loop, void *arg)
{
	(void)arg;
	cki_loop_stop(loop);
}

static void
test_an_untouched_socket_is_not_asked(void)
{
	cki_loop *loop;
	quiet q = {0};
	CU_ASSERT_EQUAL_FATAL(cki_loop_new(&loop), CK_OK);
	void *ctx = zmq_ctx_new();
	q.rx = zmq_socket(ctx, ZMQ_PAIR);
	q.tx = zmq_socket(ctx, ZMQ_PAIR);
	CU_ASSERT_EQUAL(zmq_bind(q.rx, "inproc://loop-quiet"), 0);
	CU_ASSERT_EQUAL(zmq_connect(q.tx, "inproc://loop-quiet"), 0);
	CU_ASSERT_EQUAL(cki_loop_watch_zsock(loop, q.rx, quiet_recv, &q), CK_OK);
	CU_ASSERT_NOT_EQUAL(cki_loop_timer(loop, 0, quiet_send, &q), 0);
	CU_ASSERT_EQUAL(cki_loop_run(loop), CK_OK);
	CU_ASSERT_EQUAL(q.received, 3);
	CU_ASSERT_EQUAL(cki_loop_zsock_checks(loop), 0);
	/* Used outside its callback: asked once, at the end of that turn. */
	cki_loop_zsock_used(loop, q.rx);
	cki_loop_wake(loop);
	CU_ASSERT_NOT_EQUAL(cki_loop_timer(loop, 0, stop_now, NULL), 0);
	CU_ASSERT_EQUAL(cki_loop_run(loop), CK_OK);
	CU_ASSERT_EQUAL(cki_loop_zsock_checks(loop), 1);
	zmq_close(q.rx);
	zmq_close(q.tx);
	zmq_ctx_term(ctx);
	cki_loop_free(loop);
}

static int turns_seen;

static void
on_turn(cki_loop *loop, void *arg)
{
	turns_seen++;
	if (*(int *)arg)
		cki_loop_stop(loop);
}

static void
test_wake_runs_turn_callback(void)
{
	cki_loop *loop;
	CU_ASSERT_EQUAL_FATAL(cki_loop_new(&loop), CK_OK);
	int stop = 1;
	turns_seen = 0;
	cki_loop_on_turn(loop, on_turn, &stop);
	cki_loop_wake(loop);
	uint64_t t0 = cki_now_ms();
	CU_ASSERT_EQUAL(cki_loop_run(loop), CK_OK);
	CU_ASSERT(turns_seen >= 1);
	CU_ASSERT(cki_now_ms() - t0 < 900); /* woke from the pipe, not the idle tick */
	cki_loop_free(loop);
}

static void
test_loop_runs_again_after_stopping(void)
{
	/* Regression: the ready list was freed when a run ended, and the next run with a
	 * ready fd wrote through NULL. */
	cki_loop *loop;
	int p[2];
	CU_ASSERT_EQUAL_FATAL(cki_loop_new(&loop), CK_OK);
	CU_ASSERT_EQUAL_FATAL(pipe(p), 0);
	for (int round = 0; round < 3; round++) {
		int got = -1;
		CU_ASSERT_EQUAL(cki_loop_watch_fd(loop, p[0], CKI_EV_READ, on_readable, &got),
		                CK_OK);
		CU_ASSERT_EQUAL(write(p[1], "xy", 2), 2);
		CU_ASSERT_EQUAL(cki_loop_run(loop), CK_OK);
		CU_ASSERT_EQUAL(got, 2);
	}
	close(p[0]);
	close(p[1]);
	cki_loop_free(loop);
}

/* Many plain fds: removing watches from the middle keeps every other fd's callback and
 * argument (the O(1) fd -> watcher index follows the moves). */
#define NPIPES 64
typedef struct pipe_seen {
	int fd;
	int calls;
	bool wrong;
} pipe_seen;

static void
on_pipe(cki_loop *loop, int fd, unsigned ev, void *arg)
{
	pipe_seen *p = arg;
	p->calls++;
	if (fd != p->fd || !(ev & CKI_EV_READ))
		p->wrong = true;
	char b;
	while (read(fd, &b, 1) > 0) {
	}
	static int total;
	if (++total % (NPIPES / 2) == 0)
		cki_loop_stop(loop);
}

static void
test_many_fds_keep_their_watchers_through_removals(void)
{
	cki_loop *loop = NULL;
	CU_ASSERT_EQUAL_FATAL(cki_loop_new(&loop), CK_OK);
	int fds[NPIPES][2];
	pipe_seen seen[NPIPES];
	for (int i = 0; i < NPIPES; i++) {
		CU_ASSERT_EQUAL_FATAL(pipe2(fds[i], O_NONBLOCK), 0);
		seen[i] = (pipe_seen){.fd = fds[i][0]};
		CU_ASSERT_EQUAL(cki_loop_watch_fd(loop, fds[i][0], CKI_EV_READ, on_pipe, &seen[i]),
		                CK_OK);
	}
	/* Drop every even pipe's watch, from the front, so the last ones move into holes. */
	for (int i = 0; i < NPIPES; i += 2)
		cki_loop_unwatch_fd(loop, fds[i][0]);
	for (int i = 0; i < NPIPES; i++)
		CU_ASSERT_EQUAL(write(fds[i][1], "x", 1), 1);
	CU_ASSERT_EQUAL(cki_loop_run(loop), CK_OK);
	for (int i = 0; i < NPIPES; i++) {
		CU_ASSERT_EQUAL(seen[i].calls, i % 2 == 0 ? 0 : 1);
		CU_ASSERT_FALSE(seen[i].wrong);
		close(fds[i][0]);
		close(fds[i][1]);
	}
	cki_loop_free(loop);
}

/* ---- deferred calls ---------------------------------------------------------------------- */

typedef struct defer_rec {
	int order[300];
	int n;
	int turn_of[300]; /* the turn each call ran in */
	int turns;
	cki_loop *loop;
	int stop_after;
	bool defer_again; /* the first call defers one more */
} defer_rec;

typedef struct darm {
	defer_rec *rec;
	int tag;
} darm;

static darm again_arm;

static void
on_deferred(cki_loop *loop, void *arg)
{
	darm *d = arg;
	defer_rec *rec = d->rec;
	rec->turn_of[rec->n] = rec->turns;
	rec->order[rec->n++] = d->tag;
	if (rec->defer_again) {
		rec->defer_again = false;
		again_arm = (darm){rec, -1};
		CU_ASSERT_EQUAL(cki_loop_defer(loop, on_deferred, &again_arm), CK_OK);
	}
	if (rec->n == rec->stop_after)
		cki_loop_stop(loop);
}

static void
count_turn(cki_loop *loop, void *arg)
{
	((defer_rec *)arg)->turns++;
}

static void
test_deferred_calls_run_later_in_order(void)
{
	cki_loop *loop;
	CU_ASSERT_EQUAL_FATAL(cki_loop_new(&loop), CK_OK);
	static darm arms[200];
	static defer_rec rec;
	memset(&rec, 0, sizeof(rec));
	rec.stop_after = 201;
	rec.defer_again = true;
	cki_loop_on_turn(loop, count_turn, &rec);
	/* more than the ring's first room, so it has to grow while keeping the order */
	for (int i = 0; i < 200; i++) {
		arms[i] = (darm){&rec, i};
		CU_ASSERT_EQUAL(cki_loop_defer(loop, on_deferred, &arms[i]), CK_OK);
	}
	CU_ASSERT_EQUAL(rec.n, 0); /* nothing runs inside the call */
	CU_ASSERT_EQUAL(cki_loop_defer(loop, NULL, NULL), CK_EINVAL);
	CU_ASSERT_EQUAL(cki_loop_run(loop), CK_OK);
	CU_ASSERT_EQUAL(rec.n, 201);
	for (int i = 0; i < 200; i++) {
		CU_ASSERT_EQUAL(rec.order[i], i);
		CU_ASSERT_EQUAL(rec.turn_of[i], 1);
	}
	/* deferred from inside a deferred call: the turn after, not the same one */
	CU_ASSERT_EQUAL(rec.order[200], -1);
	CU_ASSERT_EQUAL(rec.turn_of[200], 2);
	cki_loop_free(loop);
}

static void
test_deferred_calls_and_timers_share_the_loop(void)
{
	cki_loop *loop;
	CU_ASSERT_EQUAL_FATAL(cki_loop_new(&loop), CK_OK);
	record rec = {.stop_after = 2};
	tarm t = {&rec, 1};
	static defer_rec drec;
	memset(&drec, 0, sizeof(drec));
	darm d = {&drec, 7};
	CU_ASSERT(cki_loop_timer(loop, 0, on_timer, &t) != 0);
	CU_ASSERT_EQUAL(cki_loop_defer(loop, on_deferred, &d), CK_OK);
	tarm t2 = {&rec, 2};
	CU_ASSERT(cki_loop_timer(loop, 5, on_timer, &t2) != 0);
	CU_ASSERT_EQUAL(cki_loop_run(loop), CK_OK);
	CU_ASSERT_EQUAL(drec.n, 1);
	CU_ASSERT_EQUAL(drec.order[0], 7);
	CU_ASSERT_EQUAL(rec.n, 2);
	cki_loop_free(loop);
}

static void
test_pending_deferred_calls_are_dropped_by_free(void)
{
	cki_loop *loop;
	CU_ASSERT_EQUAL_FATAL(cki_loop_new(&loop), CK_OK);
	static defer_rec rec;
	memset(&rec, 0, sizeof(rec));
	darm d = {&rec, 1};
	CU_ASSERT_EQUAL(cki_loop_defer(loop, on_deferred, &d), CK_OK);
	cki_loop_free(loop); /* must neither call it nor leak (ASan) */
	CU_ASSERT_EQUAL(rec.n, 0);
}

static CU_TestInfo tests[] = {
        {"deferred calls run later, in order, growing the ring",
         test_deferred_calls_run_later_in_order},
        {"deferred calls and timers both run", test_deferred_calls_and_timers_share_the_loop},
        {"pending deferred calls are dropped by free",
         test_pending_deferred_calls_are_dropped_by_free},
        {"many fds keep their watchers through removals",
         test_many_fds_keep_their_watchers_through_removals},
        {"the loop runs again after stopping", test_loop_runs_again_after_stopping},
        {"timers fire in due order", test_timers_fire_in_due_order},
        {"a cancelled timer never fires", test_cancelled_timer_never_fires},
        {"a stale id does not cancel a reused slot", test_stale_id_does_not_cancel_reused_slot},
        {"many timers keep heap order", test_many_timers_keep_heap_order},
        {"fd watch reports readable", test_fd_watch_reports_readable},
        {"zmq socket watch reports messages", test_zmq_socket_watch_reports_messages},
        {"a message whose fd signal was taken is delivered",
         test_message_whose_signal_was_taken_is_delivered},
        {"an untouched socket is not asked", test_an_untouched_socket_is_not_asked},
        {"wake runs the turn callback", test_wake_runs_turn_callback},
        CU_TEST_INFO_NULL,
};

CK_UNIT_SUITE("loop", tests)
