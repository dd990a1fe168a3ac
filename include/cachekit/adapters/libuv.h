/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Header-only libuv adapter for the cachekit asynchronous API (cachekit/async.h): one uv_poll_t
 * on ck_client_fd() and one uv_timer_t for deadlines and for running ck_client_process() soon
 * after a submit. Include it in one file that links libuv.
 *
 *   ck_uv *uvc;
 *   if (ck_uv_attach(client, uv_default_loop(), &uvc) == 0) { ... ck_get_async(...) ... }
 *   ...
 *   ck_uv_detach(uvc);          // before ck_client_close(client); frees uvc once libuv closed
 *                               // the handles (run the loop once more)
 */
#ifndef CACHEKIT_ADAPTERS_LIBUV_H
#define CACHEKIT_ADAPTERS_LIBUV_H

#include <stdlib.h>
#include <uv.h>

#include "cachekit/async.h"

typedef struct ck_uv {
	ck_client *client;
	uv_poll_t poll;
	uv_timer_t timer;
	int open_handles;
} ck_uv;

static inline void
ck_uv__run(ck_uv *u)
{
	(void)ck_client_process(u->client);
}

static inline void
ck_uv__on_poll(uv_poll_t *h, int status, int events)
{
	(void)status;
	(void)events;
	ck_uv__run((ck_uv *)h->data);
}

static inline void
ck_uv__on_timer(uv_timer_t *h)
{
	ck_uv__run((ck_uv *)h->data);
}

static inline void
ck_uv__arm(void *data, int timeout_ms)
{
	ck_uv *u = (ck_uv *)data;
	if (timeout_ms < 0)
		uv_timer_stop(&u->timer);
	else
		uv_timer_start(&u->timer, ck_uv__on_timer, (uint64_t)timeout_ms, 0);
}

/* Attaches client to loop. 0 on success (*out owns the adapter), else a libuv error code or
 * UV_EINVAL when the client has no descriptor (ck_client_last_message says why). */
static inline int
ck_uv_attach(ck_client *client, uv_loop_t *loop, ck_uv **out)
{
	int fd = ck_client_fd(client);
	int rc;
	if (fd < 0)
		return UV_EINVAL;
	ck_uv *u = (ck_uv *)calloc(1, sizeof(*u));
	if (u == NULL)
		return UV_ENOMEM;
	u->client = client;
	if ((rc = uv_poll_init(loop, &u->poll, fd)) != 0) {
		free(u);
		return rc;
	}
	uv_timer_init(loop, &u->timer);
	u->poll.data = u->timer.data = u;
	u->open_handles = 2;
	uv_poll_start(&u->poll, UV_READABLE, ck_uv__on_poll);
	ck_async_hooks hooks = {u, ck_uv__arm};
	ck_client_set_hooks(client, &hooks);
	/* Anything already pending (submitted before attaching) runs now. */
	ck_uv__arm(u, 0);
	*out = u;
	return 0;
}

static inline void
ck_uv__on_close(uv_handle_t *h)
{
	ck_uv *u = (ck_uv *)h->data;
	if (--u->open_handles == 0)
		free(u);
}

/* Detaches the client (its hooks removed) and closes the handles; u is freed by libuv's close
 * callbacks. Accepts NULL. */
static inline void
ck_uv_detach(ck_uv *u)
{
	if (u == NULL)
		return;
	ck_client_set_hooks(u->client, NULL);
	uv_poll_stop(&u->poll);
	uv_timer_stop(&u->timer);
	uv_close((uv_handle_t *)&u->poll, ck_uv__on_close);
	uv_close((uv_handle_t *)&u->timer, ck_uv__on_close);
}

#endif
