/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Header-only libevent 2 adapter for the cachekit asynchronous API (cachekit/async.h): one
 * persistent read event on ck_client_fd() and one timer for deadlines and for running
 * ck_client_process() soon after a submit. Include it in one file that links libevent.
 *
 *   ck_event *ev;
 *   if (ck_event_attach(client, base, &ev) == 0) { ... ck_get_async(...) ... }
 *   ...
 *   ck_event_detach(ev);        // before ck_client_close(client)
 */
#ifndef CACHEKIT_ADAPTERS_LIBEVENT_H
#define CACHEKIT_ADAPTERS_LIBEVENT_H

#include <stdlib.h>

#include <event2/event.h>

#include "cachekit/async.h"

typedef struct ck_event {
	ck_client *client;
	struct event *read;
	struct event *timer;
} ck_event;

static inline void
ck_event__run(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)ck_client_process(((ck_event *)arg)->client);
}

static inline void
ck_event__arm(void *data, int timeout_ms)
{
	ck_event *e = (ck_event *)data;
	if (timeout_ms < 0) {
		evtimer_del(e->timer);
		return;
	}
	struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
	evtimer_add(e->timer, &tv);
}

/* Attaches client to base. 0 on success (*out owns the adapter), -1 on failure (no
 * descriptor: ck_client_last_message says why; or out of memory). */
static inline int
ck_event_attach(ck_client *client, struct event_base *base, ck_event **out)
{
	int fd = ck_client_fd(client);
	if (fd < 0)
		return -1;
	ck_event *e = (ck_event *)calloc(1, sizeof(*e));
	if (e == NULL)
		return -1;
	e->client = client;
	e->read = event_new(base, fd, EV_READ | EV_PERSIST, ck_event__run, e);
	e->timer = evtimer_new(base, ck_event__run, e);
	if (e->read == NULL || e->timer == NULL || event_add(e->read, NULL) != 0) {
		if (e->read != NULL)
			event_free(e->read);
		if (e->timer != NULL)
			event_free(e->timer);
		free(e);
		return -1;
	}
	ck_async_hooks hooks = {e, ck_event__arm};
	ck_client_set_hooks(client, &hooks);
	ck_event__arm(e, 0);
	*out = e;
	return 0;
}

/* Detaches the client (hooks removed) and frees the events and e. Accepts NULL. */
static inline void
ck_event_detach(ck_event *e)
{
	if (e == NULL)
		return;
	ck_client_set_hooks(e->client, NULL);
	event_free(e->read);
	event_free(e->timer);
	free(e);
}

#endif
