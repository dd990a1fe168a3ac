/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The hiredis <-> cki_loop adapter. hiredis (0.14) calls addRead/delRead/addWrite/delWrite as
 * its interest changes and cleanup when the context goes away; we keep the wanted mask and
 * re-register the fd with the loop. hiredis may free the context from inside
 * redisAsyncHandleRead (a disconnect), which runs cleanup while we are still in our io
 * callback: the adapter then only marks itself dead and is freed when the callback unwinds.
 * A new context is only known to be connected after its first write event, so attach asks
 * for write interest at once.
 */
#include "store/redis/adapter.h"

#include <stdbool.h>
#include <stdlib.h>

#include "base/log.h"

typedef struct adapter {
	cki_loop *loop;
	redisAsyncContext *ac;
	int fd;
	unsigned mask;
	bool in_callback;
	bool dead;
} adapter;

static void on_io(cki_loop *loop, int fd, unsigned events, void *arg);

static void
apply(adapter *a, unsigned mask)
{
	if (a->dead || mask == a->mask)
		return;
	a->mask = mask;
	if (mask == 0) {
		cki_loop_unwatch_fd(a->loop, a->fd);
		return;
	}
	if (cki_loop_watch_fd(a->loop, a->fd, mask, on_io, a) != CK_OK)
		cki_log_error("store redis: cannot watch fd %d", a->fd);
}

static void
add_read(void *p)
{
	adapter *a = p;
	apply(a, a->mask | CKI_EV_READ);
}

static void
del_read(void *p)
{
	adapter *a = p;
	apply(a, a->mask & ~(unsigned)CKI_EV_READ);
}

static void
add_write(void *p)
{
	adapter *a = p;
	apply(a, a->mask | CKI_EV_WRITE);
}

static void
del_write(void *p)
{
	adapter *a = p;
	apply(a, a->mask & ~(unsigned)CKI_EV_WRITE);
}

static void
cleanup(void *p)
{
	adapter *a = p;

	if (a == NULL)
		return;
	if (a->mask != 0)
		cki_loop_unwatch_fd(a->loop, a->fd);
	a->mask = 0;
	a->dead = true;
	a->ac = NULL;
	if (!a->in_callback)
		free(a);
}

static void
on_io(cki_loop *loop, int fd, unsigned events, void *arg)
{
	adapter *a = arg;

	(void)loop;
	(void)fd;
	a->in_callback = true;
	/* An error or hang-up is reported through read (hiredis sees EOF or the error). */
	if (!a->dead && (events & (CKI_EV_READ | CKI_EV_ERROR)))
		redisAsyncHandleRead(a->ac);
	if (!a->dead && (events & CKI_EV_WRITE))
		redisAsyncHandleWrite(a->ac);
	a->in_callback = false;
	if (a->dead)
		free(a);
}

ck_err
cki_redis_attach(redisAsyncContext *ac, cki_loop *loop)
{
	adapter *a;

	if (ac->ev.data != NULL)
		return CK_EINTERNAL;
	a = calloc(1, sizeof(*a));
	if (a == NULL)
		return CK_ENOMEM;
	a->loop = loop;
	a->ac = ac;
	a->fd = ac->c.fd;
	ac->ev.addRead = add_read;
	ac->ev.delRead = del_read;
	ac->ev.addWrite = add_write;
	ac->ev.delWrite = del_write;
	ac->ev.cleanup = cleanup;
	ac->ev.data = a;
	add_write(a);
	return CK_OK;
}
