/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A complete program using the C stub: store a value encrypted by the agent (secure), read it
 * back, print it and its remaining fresh time, delete it. The endpoint comes from
 * $CACHEKIT_AGENT_ENDPOINT (scripts/quickstart writes it to build/quickstart.env); the agent
 * needs a master key for secure calls. Build:
 *   cc hello.c $(pkg-config --cflags --libs cachekit-stub) -o hello
 * Exit status 0 on success, 1 on any error (printed to stderr).
 */
#include <stdio.h>
#include <string.h>

#include <cachekit/stub.h>

static int
fail(ck_client *c, const char *what, ck_err rv)
{
	fprintf(stderr, "hello: %s: %s (%s)\n", what, ck_strerror(rv),
	        c ? ck_client_last_message(c) : "");
	return 1;
}

int
main(void)
{
	ck_client *c = NULL;
	ck_value *v = NULL;
	int code = 1;
	const char *key = "example:greeting";
	const char *text = "hello from C, sealed by the agent";

	ck_client_opts o = CK_CLIENT_OPTS_INIT; /* endpoint from $CACHEKIT_AGENT_ENDPOINT */
	ck_err rv = ck_client_open(&c, &o);
	if (rv != CK_OK)
		return fail(NULL, "open", rv);

	ck_set_opts so = CK_SET_OPTS_INIT;
	so.ttl_s = 300;
	so.secure = true; /* the agent encrypts with its master key */
	rv = ck_set(c, key, text, strlen(text), &so);
	if (rv != CK_OK) {
		code = fail(c, "set", rv);
		goto out;
	}

	ck_get_opts go = CK_GET_OPTS_INIT;
	go.secure = true;
	rv = ck_get(c, key, &go, &v);
	if (rv != CK_OK) {
		code = fail(c, "get", rv);
		goto out;
	}
	printf("%s = \"%.*s\" (fresh for %lld ms)\n", key, (int)v->len, (const char *)v->data,
	       (long long)v->fresh_for_ms);

	bool existed = false;
	rv = ck_delete(c, key, NULL, &existed);
	if (rv != CK_OK) {
		code = fail(c, "delete", rv);
		goto out;
	}
	code = existed && v->len == strlen(text) && memcmp(v->data, text, v->len) == 0 ? 0 : 1;
out:
	ck_value_free(v);
	ck_client_close(c);
	return code;
}
