/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The client handle of libcachekit-stub: ck_client_open() resolves the endpoint, the timeout
 * (argument, $CACHEKIT_TIMEOUT, default) and the default namespace, and sets up the near cache;
 * ck_client_close() ends what is in flight and frees the ZeroMQ context (never the one a
 * forked child inherited). Also the handle's small accessors. The socket is transport.c's.
 */
#include "cachekit/stub.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zmq.h>

#include "handle.h"
#include "near.h"
#include "os.h"
#include "stub_internal.h"

#define DEFAULT_ENDPOINT   "ipc:///run/cachekit/agent.sock"
#define DEFAULT_TIMEOUT_MS 5000u
/* Longest timeout accepted from $CACHEKIT_TIMEOUT (one day), so the ms value fits easily. */
#define MAX_ENV_TIMEOUT_S 86400.0
#define MAX_ENDPOINT      4096

/* ---- open / close ----------------------------------------------------------------------- */

static ck_err
resolve_endpoint(const char *given, char **out)
{
	const char *env = getenv("CACHEKIT_AGENT_ENDPOINT");
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	char buf[MAX_ENDPOINT];

	if (given != NULL && given[0] != '\0')
		snprintf(buf, sizeof(buf), "%s", given);
	else if (env != NULL && env[0] != '\0')
		snprintf(buf, sizeof(buf), "%s", env);
	else if (geteuid() != 0 && xdg != NULL && xdg[0] != '\0')
		snprintf(buf, sizeof(buf), "ipc://%s/cachekit/agent.sock", xdg);
	else
		snprintf(buf, sizeof(buf), "%s", DEFAULT_ENDPOINT);
	if (strlen(buf) >= sizeof(buf) - 1)
		return CK_EINVAL;
	*out = strdup(buf);
	return *out ? CK_OK : CK_ENOMEM;
}

static ck_err
resolve_timeout(uint32_t given, uint32_t *out)
{
	const char *env = getenv("CACHEKIT_TIMEOUT");
	char *end = NULL;
	double s;

	if (given != 0) {
		*out = given;
		return CK_OK;
	}
	if (env == NULL || env[0] == '\0') {
		*out = DEFAULT_TIMEOUT_MS;
		return CK_OK;
	}
	errno = 0;
	s = strtod(env, &end);
	/* The SDKs require a positive number of seconds; refuse anything else loudly. */
	if (errno != 0 || end == env || *end != '\0' || !(s > 0.0) || s > MAX_ENV_TIMEOUT_S)
		return CK_ECONFIG;
	*out = (uint32_t)(s * 1000.0 + 0.5);
	if (*out == 0)
		*out = 1;
	return CK_OK;
}

/* Blocking calls to an ipc:// endpoint use the stub's own ZMTP connection (zmtp.h);
 * CACHEKIT_STUB_TRANSPORT=libzmq keeps them on libzmq (a way to rule the stub's ZMTP code out
 * when chasing a problem). */
static ck_err
choose_transport(ck_client *c)
{
	const char *env = getenv("CACHEKIT_STUB_TRANSPORT");

	if (env != NULL && env[0] != '\0' && strcmp(env, "direct") != 0 &&
	    strcmp(env, "libzmq") != 0)
		return CK_ECONFIG;
	c->use_direct = (env == NULL || strcmp(env, "libzmq") != 0) &&
	                cki_zmtp_ipc_address(c->endpoint, &c->direct_addr, &c->direct_addr_len);
	return CK_OK;
}

ck_err
ck_client_open(ck_client **out, const ck_client_opts *opts)
{
	ck_client_opts defaults = CK_CLIENT_OPTS_INIT;
	ck_client *c = NULL;
	ck_err rv;

	if (out == NULL)
		return CK_EINVAL;
	if (opts == NULL)
		opts = &defaults;
	if (opts->ns != NULL && strlen(opts->ns) > CKI_STUB_MAX_NS)
		return CK_EINVAL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return CK_ENOMEM;
	cki_zmtp_init(&c->direct); /* fd -1 before anything can fail and close it */
	if ((rv = resolve_endpoint(opts->endpoint, &c->endpoint)) != CK_OK)
		goto out;
	if ((rv = resolve_timeout(opts->timeout_ms, &c->timeout_ms)) != CK_OK)
		goto out;
	c->open_timeout_ms = c->timeout_ms;
	if (opts->ns != NULL && opts->ns[0] != '\0' && (c->ns = strdup(opts->ns)) == NULL) {
		rv = CK_ENOMEM;
		goto out;
	}
	if (opts->near_cache_bytes > 0 &&
	    (rv = cki_near_new(&c->near, c->endpoint, opts->near_cache_bytes,
	                       opts->near_cache_max_ms)) != CK_OK)
		goto out;
	if ((rv = choose_transport(c)) != CK_OK)
		goto out;
	c->fork_gen = cki_stub_fork_generation();
	cki_stub_random_bytes(&c->next_id, sizeof(c->next_id));
	*out = c;
	c = NULL;
	rv = CK_OK;
out:
	ck_client_close(c);
	return rv;
}

/* Forgets the socket and context inherited from the parent after fork(). ZeroMQ contexts are
 * not fork-safe: their I/O threads do not exist in the child, so zmq_close/zmq_ctx_term here
 * could hang or corrupt the parent's shared connection state. The memory is deliberately
 * leaked (once per fork); the parent still owns and closes the real objects. */
void
cki_client_abandon_inherited(ck_client *c)
{
	c->sock = NULL;
	c->zctx = NULL;
	cki_zmtp_abandon(&c->direct);
	c->reset_socket = false;
	cki_async_forget(c->async);
	c->fork_gen = cki_stub_fork_generation();
	cki_stub_random_bytes(&c->next_id, sizeof(c->next_id));
}

void
ck_client_close(ck_client *c)
{
	if (c == NULL)
		return;
	if (c->fork_gen != cki_stub_fork_generation())
		cki_client_abandon_inherited(c);
	cki_async_free(c); /* runs what is in flight with CK_ESHUTDOWN */
	cki_zmtp_close(&c->direct);
	if (c->sock != NULL)
		zmq_close(c->sock);
	if (c->zctx != NULL) {
		while (zmq_ctx_term(c->zctx) != 0 && errno == EINTR)
			;
	}
	cki_near_free(c->near);
	free(c->endpoint);
	free(c->ns);
	free(c);
}

void
ck_client_set_timeout(ck_client *c, uint32_t timeout_ms)
{
	if (c != NULL)
		c->timeout_ms = timeout_ms != 0 ? timeout_ms : c->open_timeout_ms;
}

struct cki_async **
cki_client_async(ck_client *c)
{
	return &c->async;
}

cki_near *
cki_client_near(ck_client *c)
{
	return c->near;
}

const char *
cki_client_ns(const ck_client *c)
{
	return c->ns;
}

ck_err
ck_client_near_stats(ck_client *c, ck_near_stats *out)
{
	if (c == NULL || out == NULL)
		return CK_EINVAL;
	if (c->near == NULL)
		memset(out, 0, sizeof(*out));
	else
		cki_near_stats(c->near, out);
	return CK_OK;
}

const char *
ck_client_last_message(const ck_client *c)
{
	return c != NULL ? c->last_message : "";
}
