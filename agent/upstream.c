/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The upstream and the secrets it needs, as start-up builds them: a Redis password moved out of
 * the URL into secret memory, the store picked from the upstream setting (embedded, Redis, the
 * cachekit.io API with its API key), the master keyring, and the --probe health call.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "base/log.h"
#include "base/loop.h"
#include "store/http/store_http.h"
#include "store/memory/store_memory.h"
#include "store/redis/store_redis.h"
#include "store/redis/url.h"

static void
on_sweep(cki_loop *loop, void *arg)
{
	agent *a = arg;
	cki_store_memory_sweep(a->backend);
	if (cki_loop_timer(loop, SWEEP_MS, on_sweep, a) == 0)
		cki_log_error("cannot schedule the next sweep: expired entries are reclaimed "
		              "only on write from now on");
}

/* Overwrites and unsets an environment variable. */
static void
scrub_env_var(const char *name)
{
	char *v = getenv(name);
	if (v != NULL)
		explicit_bzero(v, strlen(v));
	unsetenv(name);
}

/*
 * A password inside a Redis URL is accepted only when the URL came from the environment
 * (CACHEKIT_REDIS_URL, REDIS_URL or CACHEKIT_API_URL), as cachekit-py users write it: it moves
 * into secret memory, the variable is wiped and the URL keeps only "user@". On a flag or in the
 * config file it is refused: argv is readable by every local user and a config file is not a
 * secret store. Runs before anything prints or logs the upstream.
 */
ck_err
cki_agent_take_url_password(agent *a)
{
	static const char *const vars[] = {"CACHEKIT_API_URL", "CACHEKIT_REDIS_URL", "REDIS_URL"};
	char *url = a->cfg.upstream;
	const char *from = NULL;
	bool held[3];
	cki_redis_url u;
	char why[256] = "";

	if (!cki_redis_url_is_redis(url))
		return CK_OK;
	if (cki_redis_url_parse(url, &u, why, sizeof(why)) != CK_OK) {
		cki_log_error("upstream: %s", why);
		return CK_ECONFIG;
	}
	if (!u.has_password)
		return CK_OK;
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		const char *v = getenv(vars[i]);
		held[i] = v != NULL && strcmp(v, url) == 0;
		if (held[i])
			from = vars[i];
	}
	if (from != NULL)
		a->redis_password =
		        cki_secret_from((const uint8_t *)url + u.password_off, u.password_len);
	explicit_bzero(url + u.password_off, u.password_len);
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		if (held[i])
			scrub_env_var(vars[i]);
	if (from == NULL) {
		cki_log_error(
		        "upstream: a password inside the Redis URL is refused on the command "
		        "line and in the config file; give it through CACHEKIT_REDIS_PASSWORD, "
		        "CACHEKIT_REDIS_PASSWORD_FILE or the cachekit_redis_password "
		        "credential");
		return CK_ECONFIG;
	}
	if (a->redis_password == NULL)
		return CK_ENOMEM;
	a->cfg.upstream = strdup(u.display);
	free(url);
	return a->cfg.upstream == NULL ? CK_ENOMEM : CK_OK;
}

/* The Redis store: the password from a secret source wins over one taken from the URL. */
static ck_err
open_redis(agent *a)
{
	char why[256] = "";
	cki_secret *pw = NULL;
	ck_err rv = cki_secret_load("CACHEKIT_REDIS_PASSWORD", "cachekit_redis_password", &pw, why,
	                            sizeof(why));
	if (rv != CK_OK && rv != CK_ENOTFOUND) {
		cki_log_error("Redis password: %s", why);
		return CK_ECONFIG;
	}
	if (pw != NULL) {
		cki_secret_free(a->redis_password);
		a->redis_password = pw;
	}
	cki_redis_opts ro = {
	        .url = a->cfg.upstream,
	        .password = a->redis_password ? a->redis_password->data : NULL,
	        .password_len = a->redis_password ? a->redis_password->len : 0,
	        .connect_timeout_ms = a->cfg.timeout_ms,
	        .breaker_failures = a->cfg.breaker_failures,
	        .breaker_open_ms = a->cfg.breaker_open_ms,
	};
	rv = cki_store_redis_new(&a->store, a->loop, &ro, why, sizeof(why));
	if (rv != CK_OK) {
		cki_log_error("upstream %s: %s", a->cfg.upstream, why[0] ? why : ck_strerror(rv));
		return rv == CK_ENOMEM ? rv : CK_ECONFIG;
	}
	return CK_OK;
}

ck_err
cki_agent_open_store(agent *a)
{
	char why[256] = "";
	if (cki_redis_url_is_redis(a->cfg.upstream))
		return open_redis(a);
	if (strcmp(a->cfg.upstream, "memory:") == 0) {
		ck_err rv = cki_store_memory_new(&a->store, a->loop, a->cfg.memory_limit_bytes);
		if (rv == CK_OK && cki_loop_timer(a->loop, SWEEP_MS, on_sweep, a) == 0)
			rv = CK_ENOMEM;
		return rv;
	}
	ck_err rv = cki_secret_load("CACHEKIT_API_KEY", "cachekit_api_key", &a->api_key, why,
	                            sizeof(why));
	if (rv == CK_ENOTFOUND) {
		cki_log_error("upstream %s needs an API key: set CACHEKIT_API_KEY, "
		              "CACHEKIT_API_KEY_FILE or the cachekit_api_key credential",
		              a->cfg.upstream);
		return CK_ECONFIG;
	}
	if (rv != CK_OK) {
		cki_log_error("API key: %s", why);
		return CK_ECONFIG;
	}
	cki_http_opts ho = {
	        .url = a->cfg.upstream,
	        .api_key = a->api_key->data,
	        .api_key_len = a->api_key->len,
	        .timeout_ms = a->cfg.timeout_ms,
	        .pool_size = a->cfg.pool_size,
	        .allow_custom_host = a->cfg.allow_custom_host,
	        .ca_file = a->cfg.ca_file,
	        .resolve = a->cfg.resolve,
	        .max_attempts = a->cfg.max_attempts,
	        .breaker_failures = a->cfg.breaker_failures,
	        .breaker_open_ms = a->cfg.breaker_open_ms,
	        .l1_status = a->cfg.l1_bytes > 0 ? "miss" : "disabled",
	};
	rv = cki_store_http_new(&a->store, a->loop, &ho, why, sizeof(why));
	/* The store keeps the one copy it needs (the Authorization line, in secmem): drop ours. */
	cki_secret_free(a->api_key);
	a->api_key = NULL;
	if (rv != CK_OK) {
		/* Name the setting that would allow it (only the host list is a setting: private
		 * and local addresses are refused whatever the configuration). */
		const char *hint = rv == CK_EURL && !a->cfg.allow_custom_host &&
		                                   strcmp(why, "host not permitted") == 0
		                           ? " (set allow-custom-host / CACHEKIT_ALLOW_CUSTOM_HOST "
		                             "to allow it)"
		                           : "";
		cki_log_error("upstream %s: %s%s", rv == CK_EURL ? "URL refused" : "cannot start",
		              why[0] ? why : ck_strerror(rv), hint);
		return rv == CK_ENOMEM ? rv : CK_ECONFIG;
	}
	return CK_OK;
}

ck_err
cki_agent_load_keyring(agent *a)
{
	char why[256] = "";
	ck_err rv = cki_keyring_load(&a->keyring, a->cfg.tenant_id, why, sizeof(why));
	if (rv == CK_ENOTFOUND) {
		a->keyring = NULL;
		/* Secure intent configured without its key fails here, at start-up and in
		 * --check-config, never on the first secure call (protocol PRE-20, PRE-50). */
		if (a->cfg.secure_namespaces != NULL && a->cfg.secure_namespaces[0] != '\0') {
			cki_log_error("secure-namespaces = %s needs a master key: set "
			              "CACHEKIT_MASTER_KEY, CACHEKIT_MASTER_KEY_FILE or the "
			              "cachekit_master_key credential",
			              a->cfg.secure_namespaces);
			return CK_ECONFIG;
		}
		cki_log_warn("no master key: secure requests will be refused (CK_ENOKEY)");
		return CK_OK;
	}
	if (rv != CK_OK) {
		cki_log_error("master key: %s", why);
		return CK_ECONFIG;
	}
	cki_log_info("keyring: %zu key(s), tenant \"%s\"", cki_keyring_count(a->keyring),
	             a->cfg.tenant_id);
	return CK_OK;
}

typedef struct probe {
	cki_loop *loop;
	bool done;
	ck_err err;
	double latency_ms;
	char message[256];
} probe;

static void
on_probe(void *arg, const cki_store_reply *r)
{
	probe *p = arg;
	p->done = true;
	p->err = r->err;
	p->latency_ms = r->latency_ms;
	snprintf(p->message, sizeof(p->message), "%s", r->message ? r->message : "");
	cki_loop_stop(p->loop);
}

/* --check-config --probe: one health call with the configured API key (the API checks the
 * key on every route, health included), within the configured timeout. */
ck_err
cki_agent_probe_upstream(agent *a)
{
	probe p = {.loop = a->loop};
	a->store->ops->health(a->store, cki_now_ms() + a->cfg.timeout_ms, on_probe, &p);
	if (!p.done && cki_loop_run(a->loop) != CK_OK)
		return CK_EINTERNAL;
	if (p.err != CK_OK) {
		printf("probe: %s: %s%s%s\n", a->cfg.upstream, ck_strerror(p.err),
		       p.message[0] ? ": " : "", p.message);
		return p.err;
	}
	printf("probe: %s answered health in %.1f ms with this API key\n", a->cfg.upstream,
	       p.latency_ms);
	return CK_OK;
}
