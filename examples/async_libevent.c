/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Example: drive the cachekit agent from a libevent loop. Stores a value, reads it back and
 * reads a missing key, all three in flight at once, then stops.
 *   async_libevent [endpoint]
 */
#include <stdio.h>

#include "cachekit/adapters/libevent.h"

static int remaining = 3;

static void
on_reply(ck_client *c, ck_result *r, void *arg)
{
	(void)c;
	if (r->err == CK_OK && r->value != NULL)
		printf("%s: %.*s\n", (const char *)arg, (int)r->value->len, r->value->data);
	else
		printf("%s: %s\n", (const char *)arg, ck_strerror(r->err));
	ck_value_free(r->value);
	remaining--;
}

int
main(int argc, char **argv)
{
	ck_client_opts o = CK_CLIENT_OPTS_INIT;
	struct event_base *base = event_base_new();
	ck_client *c;
	ck_event *e;
	o.endpoint = argc > 1 ? argv[1] : NULL;
	if (ck_client_open(&c, &o) != CK_OK || ck_event_attach(c, base, &e) != 0) {
		fprintf(stderr, "cannot open the client\n");
		return 1;
	}
	/* Requests on one socket are answered in order: the get sees the set. */
	if (ck_set_async(c, "example:greeting", "hello", 5, NULL, on_reply, "set") != CK_OK ||
	    ck_get_async(c, "example:greeting", NULL, on_reply, "get") != CK_OK ||
	    ck_get_async(c, "example:missing", NULL, on_reply, "get missing") != CK_OK)
		return 1;
	while (remaining > 0)
		event_base_loop(base, EVLOOP_ONCE);
	ck_event_detach(e);
	ck_client_close(c);
	event_base_free(base);
	return 0;
}
