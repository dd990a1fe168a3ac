/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Example: drive the cachekit agent from a libuv loop. Stores a value, reads it back and
 * reads a missing key, all three in flight at once, then stops.
 *   async_libuv [endpoint]
 */
#include <stdio.h>

#include "cachekit/adapters/libuv.h"

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
	ck_client *c;
	ck_uv *u;
	o.endpoint = argc > 1 ? argv[1] : NULL;
	if (ck_client_open(&c, &o) != CK_OK || ck_uv_attach(c, uv_default_loop(), &u) != 0) {
		fprintf(stderr, "cannot open the client\n");
		return 1;
	}
	/* Requests on one socket are answered in order: the get sees the set. */
	if (ck_set_async(c, "example:greeting", "hello", 5, NULL, on_reply, "set") != CK_OK ||
	    ck_get_async(c, "example:greeting", NULL, on_reply, "get") != CK_OK ||
	    ck_get_async(c, "example:missing", NULL, on_reply, "get missing") != CK_OK)
		return 1;
	while (remaining > 0)
		uv_run(uv_default_loop(), UV_RUN_ONCE);
	ck_uv_detach(u);
	uv_run(uv_default_loop(), UV_RUN_DEFAULT);
	ck_client_close(c);
	return 0;
}
