/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cachekit-agent: start-up order, signals and shutdown. Signal handlers only set flags and
 * wake the loop; the loop's turn callback acts on them. Shutdown drains: new requests are
 * refused with CK_ESHUTDOWN, requests in flight are answered, held locks are released, then
 * the process exits 0.
 */
#include <errno.h>
#include <fcntl.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cachekit/version.h"
#include "config/config.h"
#include "core/dispatch.h"
#include "core/nearver.h"
#include "crypto/keyring.h"
#include "core/locks.h"
#include "base/log.h"
#include "base/loop.h"
#include "core/refresh.h"
#include "core/storefront.h"
#include "crypto/secmem.h"
#include "front/metrics_http.h"
#include "front/server.h"
#include "base/metrics.h"
#include "service.h"
#include "store/http/store_http.h"
#include "store/memory/store_memory.h"
#include "store/redis/store_redis.h"
#include "store/redis/url.h"

enum { EXIT_RUNTIME = 1, EXIT_CONFIG = 2, EXIT_BUSY = 3 };

#define DRAIN_MAX_MS 10000 /* longest wait for requests in flight at shutdown */
#define SWEEP_MS     10000 /* embedded store: reclaim expired entries */
#define SECURE_HEAP  (256 * 1024)

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t reload_requested;
static cki_loop *signal_loop;

typedef struct agent {
	cki_config cfg;
	cki_loop *loop;
	cki_store *store;   /* the storefront: the one way into the backend */
	cki_store *backend; /* owned by the storefront; main uses it only to sweep */
	cki_locks *locks;
	cki_refresh *refresh;
	cki_l1 *l1;
	cki_flight *flight;
	cki_dispatch *dispatch;
	cki_nearver *nearver;
	cki_server *server;
	cki_metrics_http *metrics_http; /* NULL without --metrics-listen */
	cki_keyring *keyring;
	cki_secret *api_key;
	cki_secret *redis_password;
	bool draining;
	bool locks_released; /* cki_locks_shutdown() done */
	uint64_t drain_deadline;
	int argc;
	char **argv;
} agent;

static void
on_signal(int sig)
{
	if (sig == SIGHUP)
		reload_requested = 1;
	else
		stop_requested = 1;
	if (signal_loop != NULL)
		cki_loop_wake(signal_loop);
}

/* fds 0-2 must exist, or a later open() could become "stderr" and receive log lines. */
static void
sanitise_stdio(void)
{
	for (int fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) == -1 && errno == EBADF) {
			int nfd = open("/dev/null", O_RDWR);
			if (nfd >= 0 && nfd != fd) {
				dup2(nfd, fd);
				close(nfd);
			}
		}
	}
}

static void
on_drain_tick(cki_loop *loop, void *arg)
{
	agent *a = arg;
	size_t inflight = cki_dispatch_inflight(a->dispatch);
	/* Once no request is left, give back every lock still held: once (the store answers
	 * those unlocks while we keep ticking). */
	if (inflight == 0 && !a->locks_released) {
		cki_locks_shutdown(a->locks);
		a->locks_released = true;
	}
	size_t busy = cki_locks_busy(a->locks);
	if ((inflight == 0 && busy == 0) || cki_now_ms() >= a->drain_deadline) {
		if (inflight || busy)
			cki_log_warn("shutdown: giving up on %zu requests and %zu lock operations",
			             inflight, busy);
		cki_loop_stop(loop);
		return;
	}
	if (cki_loop_timer(loop, 10, on_drain_tick, a) == 0) {
		/* No timer, no next tick: end the drain now; teardown answers what is left. */
		cki_log_error("shutdown: cannot schedule the drain; stopping at once");
		cki_loop_stop(loop);
	}
}

/* json when asked; text lines become journald priority lines when stderr is the journal. */
static void
apply_log_format(const cki_config *cfg)
{
	cki_log_format format = CKI_LOG_TEXT;
	cki_log_parse_format(cfg->log_format, &format);
	if (format == CKI_LOG_TEXT && cki_log_stderr_is_journal())
		format = CKI_LOG_JOURNAL;
	cki_log_set_format(format);
}

/* Settings a SIGHUP applies to the running agent: the core reads them from a->cfg at each
 * request, and the log level is set here. Every other changed setting is named in the log as
 * needing a restart, and keeps its running value. */
static const char *const live_settings[] = {
        "log-level",
        "syslog",
        "timeout",
        "max-deadline",
        "max-inflight",
        "max-inflight-bytes",
        "secure-namespaces",
        "envelope-namespaces",
        "sliding-namespaces",
        "stale-if-error-off-namespaces",
        "encryption-fail-closed",
        "log-format",
};

typedef struct reload_ctx {
	agent *a;
	const cki_config *next;
	size_t applied, pending;
} reload_ctx;

static void
on_setting_changed(void *arg, const char *name)
{
	reload_ctx *r = arg;
	for (size_t i = 0; i < sizeof(live_settings) / sizeof(live_settings[0]); i++) {
		if (strcmp(live_settings[i], name) != 0)
			continue;
		if (cki_config_copy_setting(&r->a->cfg, r->next, name) != CK_OK) {
			cki_log_error("reload: %s: out of memory; keeping the running value", name);
			return;
		}
		cki_log_info("reload: %s applied", name);
		r->applied++;
		return;
	}
	cki_log_warn("reload: %s changed but applies only at restart; still using the running "
	             "value",
	             name);
	r->pending++;
}

/* SIGHUP: re-read the configuration (file, environment, the same flags) and the master keys
 * from their file or credential sources (keys given in the environment were wiped at start,
 * so they stay). Requests in flight and clients are untouched. A configuration with errors
 * changes nothing. */
static void
reload(agent *a)
{
	cki_config cfg;
	bool exit_now;
	FILE *devnull = fopen("/dev/null", "w");
	ck_err rv = cki_config_defaults(&cfg);
	if (rv == CK_OK)
		rv = cki_config_load(&cfg, a->argc, a->argv, devnull, stderr, &exit_now);
	if (devnull != NULL)
		fclose(devnull);
	if (rv == CK_OK && cki_config_validate(&cfg, stderr) == CK_OK) {
		reload_ctx r = {.a = a, .next = &cfg};
		cki_config_each_change(&a->cfg, &cfg, on_setting_changed, &r);
		cki_log_level level;
		if (cki_log_parse_level(a->cfg.log_level, &level))
			cki_log_set_level(level);
		cki_log_use_syslog(a->cfg.log_syslog);
		apply_log_format(&a->cfg);
		/* The access rules are swapped whole: no request holds a pointer into them between
		 * loop turns. The namespace lists applied above become typed sets again. */
		cki_access *old = a->cfg.policy.access;
		a->cfg.policy.access = cfg.policy.access;
		cfg.policy.access = old; /* freed below with the rest of cfg */
		if (cki_config_policy(&a->cfg, stderr) != CK_OK)
			cki_log_error(
			        "reload: the namespace lists did not parse; check the log above");
		size_t n = a->cfg.policy.access ? a->cfg.policy.access->n : 0;
		cki_log_info("reload: %zu access rule(s)%s", n,
		             n ? "" : " (every allowed peer may do everything)");
		cki_log_info("reload: configuration: %zu setting(s) applied, %zu need a restart",
		             r.applied, r.pending);
	} else {
		cki_log_error("reload: configuration has errors; keeping the running one");
	}
	cki_config_free(&cfg);

	char why[256] = "";
	cki_keyring *kr = NULL;
	rv = cki_keyring_load(&kr, a->cfg.tenant_id, why, sizeof(why));
	if (rv == CK_OK) {
		cki_dispatch_set_keyring(a->dispatch, kr);
		cki_keyring_free(a->keyring);
		a->keyring = kr;
		cki_log_info("reload: keyring replaced (%zu key(s))", cki_keyring_count(kr));
	} else if (rv == CK_ENOTFOUND) {
		cki_log_info("reload: no master key file or credential; keyring unchanged");
	} else {
		cki_log_error("reload: master key: %s; keyring unchanged", why);
	}
	cki_log_info("reload: done");
}

static void
on_turn(cki_loop *loop, void *arg)
{
	agent *a = arg;
	if (reload_requested) {
		reload_requested = 0;
		if (!a->draining) {
			cki_service_reloading();
			reload(a);
			cki_service_ready(loop, "serving (reloaded)");
		}
	}
	if (!stop_requested || a->draining)
		return;
	a->draining = true;
	a->drain_deadline = cki_now_ms() + DRAIN_MAX_MS;
	cki_log_info("shutting down: draining %zu requests in flight",
	             cki_dispatch_inflight(a->dispatch));
	cki_server_set_draining(a->server, true);
	/* A client waiting for a contested lock would hold the drain open for its whole wait:
	 * answer it CK_ESHUTDOWN now. */
	cki_locks_stop_waiting(a->locks);
	char status[96];
	snprintf(status, sizeof(status), "draining %zu requests in flight",
	         cki_dispatch_inflight(a->dispatch));
	cki_service_stopping(status);
	on_drain_tick(loop, a);
}

static void
on_sweep(cki_loop *loop, void *arg)
{
	agent *a = arg;
	cki_store_memory_sweep(a->backend);
	if (cki_loop_timer(loop, SWEEP_MS, on_sweep, a) == 0)
		cki_log_error("cannot schedule the next sweep: expired entries are reclaimed "
		              "only on write from now on");
}

/* Rate-limited log sites report what they held back, so a flood that stops is still told. */
static void
on_log_flush(cki_loop *loop, void *arg)
{
	cki_log_ratelimit_flush();
	if (cki_loop_timer(loop, CKI_LOG_RL_WINDOW_MS, on_log_flush, arg) == 0)
		cki_log_error("cannot schedule the log flush: suppressed counts show at exit");
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
static ck_err
take_url_password(agent *a)
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

static ck_err
open_store(agent *a)
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

static ck_err
load_keyring(agent *a)
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
static ck_err
probe_upstream(agent *a)
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

/* The figures /metrics shows beyond base/metrics: core gauges, then the store's own. */
static void
collect_metrics(void *arg, FILE *out)
{
	agent *a = arg;
	cki_metrics_set_gauge("inflight_requests", (double)cki_dispatch_inflight(a->dispatch));
	cki_metrics_set_gauge("locks_held", (double)cki_locks_count(a->locks));
	cki_metrics_set_gauge("l1_bytes", (double)cki_l1_bytes(a->l1));
	cki_metrics_set_gauge("l1_entries", (double)cki_l1_count(a->l1));
	cki_metrics_set_gauge("refresh_tracked_keys", (double)cki_refresh_count(a->refresh));
	cki_metrics_prometheus_one(out, "draining", "gauge", "1 while the agent drains to stop",
	                           a->draining ? 1 : 0);
	if (a->store->ops->stats != NULL)
		a->store->ops->stats(a->store, cki_metrics_http_emit_stat, out);
}

static ck_err
start_metrics(agent *a)
{
	char why[512] = "";
	if (a->cfg.metrics_listen == NULL || a->cfg.metrics_listen[0] == '\0')
		return CK_OK;
	ck_err rv = cki_metrics_http_new(&a->metrics_http, a->loop, a->cfg.metrics_listen,
	                                 collect_metrics, a, why, sizeof(why));
	if (rv != CK_OK) {
		cki_log_error("%s", why[0] ? why : ck_strerror(rv));
		return rv;
	}
	cki_log_info("metrics: serving GET /metrics on %s (port %u)", a->cfg.metrics_listen,
	             (unsigned)cki_metrics_http_port(a->metrics_http));
	return CK_OK;
}

static int
run(agent *a, int argc, char **argv)
{
	bool exit_now = false;
	char why[512] = "";
	if (cki_config_defaults(&a->cfg) != CK_OK)
		return EXIT_RUNTIME;
	if (cki_config_load(&a->cfg, argc, argv, stdout, stderr, &exit_now) != CK_OK)
		return EXIT_CONFIG;
	if (exit_now)
		return 0;
	if (cki_config_validate(&a->cfg, stderr) != CK_OK)
		return EXIT_CONFIG;
#ifdef __GLIBC__
	/* The memory budget (docs/operations.md): values of 32 KiB and more get their own
	 * mappings, returned to the kernel when freed. A fixed threshold also stops glibc from
	 * raising it after each free of a large value, which let large values fragment the heap. */
	mallopt(M_MMAP_THRESHOLD, 32 * 1024);
#endif
	cki_log_level level = CKI_LOG_INFO;
	cki_log_parse_level(a->cfg.log_level, &level);
	cki_log_set_level(level);
	apply_log_format(&a->cfg);
	cki_log_use_syslog(a->cfg.log_syslog);

	if (cki_secmem_init(SECURE_HEAP) != CK_OK)
		cki_log_warn("secure heap unavailable: secrets are wiped but may be swapped");
	if (take_url_password(a) != CK_OK)
		return EXIT_CONFIG;
	if (load_keyring(a) != CK_OK)
		return EXIT_CONFIG;
	if (a->cfg.check_only) {
		cki_config_dump(&a->cfg, stdout);
		printf("master-key = %s\n", a->keyring ? "configured" : "(none)");
		/* Build the upstream too, so URL and API key problems show here. */
		if (cki_loop_new(&a->loop) != CK_OK || open_store(a) != CK_OK)
			return EXIT_CONFIG;
		if (a->cfg.probe && probe_upstream(a) != CK_OK)
			return EXIT_CONFIG;
		printf("configuration ok\n");
		return 0;
	}
	if (cki_loop_new(&a->loop) != CK_OK)
		return EXIT_RUNTIME;
	ck_err rv = open_store(a);
	if (rv != CK_OK)
		return rv == CK_ECONFIG ? EXIT_CONFIG : EXIT_RUNTIME;
	/* From here on everything reaches the backend through the storefront, which keeps the
	 * L1 in step; main keeps the backend pointer only for the embedded store's sweep. */
	cki_store *front = NULL;
	if (cki_l1_new(&a->l1, a->cfg.l1_bytes, a->cfg.l1_ttl_ms) != CK_OK ||
	    cki_storefront_new(&front, a->store, a->loop, a->l1) != CK_OK)
		return EXIT_RUNTIME;
	a->backend = a->store;
	a->store = front;
	/* The embedded store cannot fail the way an upstream does: no copies to keep for it. */
	if (strcmp(a->store->ops->backend_type, "memory") != 0 &&
	    cki_storefront_stale_if_error(a->store, a->cfg.stale_if_error_bytes) != CK_OK)
		return EXIT_RUNTIME;
	cki_storefront_stale_if_error_except(a->store, &a->cfg.policy.stale_off_ns);
	if (cki_locks_new(&a->locks, a->loop, a->store) != CK_OK)
		return EXIT_RUNTIME;
	/* The lease table gets an eighth of memory-limit too (docs/operations.md). */
	uint64_t max_leases = a->cfg.memory_limit_bytes / 8 / CKI_LOCKS_LEASE_COST;
	cki_locks_set_max(a->locks, max_leases < CKI_LOCKS_DEFAULT_MAX ? (size_t)max_leases
	                                                               : CKI_LOCKS_DEFAULT_MAX);
	/* The memory budget (docs/operations.md): the tracker gets an eighth of memory-limit,
	 * and forgets what the store drops. */
	cki_refresh_opts ro = {.ahead_pct = a->cfg.refresh_ahead_pct,
	                       .jitter_pct = 20, /* 50 % -> 40..60 %, as the SDKs */
	                       .claim_ms = a->cfg.refresh_claim_ms,
	                       .max_bytes = (size_t)(a->cfg.memory_limit_bytes / 8)};
	if (cki_refresh_new(&a->refresh, a->loop, a->store, &ro) != CK_OK)
		return EXIT_RUNTIME;
	/* The memory budget: the tracker forgets what the embedded store evicts. */
	cki_store_on_drop(a->store, cki_refresh_on_drop, a->refresh);
	if (cki_flight_new(&a->flight, a->store) != CK_OK)
		return EXIT_RUNTIME;
	cki_dispatch_deps deps = {.loop = a->loop,
	                          .cfg = &a->cfg,
	                          .store = a->store,
	                          .locks = a->locks,
	                          .refresh = a->refresh,
	                          .l1 = a->l1,
	                          .flight = a->flight,
	                          .keyring = a->keyring};
	if (cki_dispatch_new(&a->dispatch, &deps) != CK_OK)
		return EXIT_RUNTIME;
	rv = cki_server_new(&a->server, a->loop, &a->cfg, cki_dispatch_handle, a->dispatch, why,
	                    sizeof(why));
	if (rv != CK_OK) {
		cki_log_error("%s", why[0] ? why : ck_strerror(rv));
		return rv == CK_EBUSYAGENT ? EXIT_BUSY
		       : rv == CK_ECONFIG  ? EXIT_CONFIG
		                           : EXIT_RUNTIME;
	}
	cki_dispatch_set_reply(a->dispatch, cki_server_sink(a->server));
	/* The stubs' near caches stay coherent through this table; without it they keep nothing. */
	if (strncmp(a->cfg.endpoint, "ipc://", 6) == 0 &&
	    cki_nearver_open(&a->nearver, cki_endpoint_path(a->cfg.endpoint), why, sizeof(why)) !=
	            CK_OK)
		cki_log_warn(
		        "near-cache version table unavailable (%s): stub near caches stay empty",
		        why);
	cki_dispatch_set_nearver(a->dispatch, a->nearver);
	cki_storefront_set_nearver(a->store, a->nearver); /* evictions and expiries move slots */
	if (start_metrics(a) != CK_OK)
		return EXIT_CONFIG;

	signal_loop = a->loop;
	struct sigaction sa = {0};
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	cki_loop_on_turn(a->loop, on_turn, a);
	if (cki_loop_timer(a->loop, CKI_LOG_RL_WINDOW_MS, on_log_flush, a) == 0)
		return EXIT_RUNTIME;

	cki_log_info("ready: serving %s, upstream %s (version %s)", a->cfg.endpoint,
	             a->cfg.upstream, CK_VERSION_STRING);
	char status[256];
	snprintf(status, sizeof(status), "serving %s, upstream %s", a->cfg.endpoint,
	         a->cfg.upstream);
	cki_service_ready(a->loop, status);
	if (cki_loop_run(a->loop) != CK_OK)
		return EXIT_RUNTIME;
	cki_log_ratelimit_flush();
	cki_log_info("stopped");
	return 0;
}

/* Order matters: whatever the drain left (a request past the drain deadline, a lock
 * waiter inside a store call) is answered CK_ESHUTDOWN by the locks and the store while the
 * server can still send; only then does the server go (its linger lets those replies out). */
static void
teardown(agent *a)
{
	cki_metrics_http_free(a->metrics_http);
	/* Lock waiters and store operations still in flight (a drain that gave up) are answered
	 * here, through the server: free it only after them. */
	if (a->locks != NULL && !a->locks_released)
		cki_locks_shutdown(a->locks);
	if (a->store != NULL)
		a->store->ops->destroy(a->store); /* fails what is left with CK_ESHUTDOWN */
	a->store = NULL;
	cki_server_free(a->server, 1000);
	a->server = NULL;
	cki_nearver_close(a->nearver); /* epoch 0: every stub's near copy is dropped */
	cki_locks_free(a->locks);
	cki_refresh_free(a->refresh);
	cki_flight_free(a->flight);
	cki_l1_free(a->l1);
	cki_dispatch_free(a->dispatch);
	cki_keyring_free(a->keyring);
	cki_secret_free(a->api_key);
	cki_secret_free(a->redis_password);
	cki_loop_free(a->loop);
	cki_config_free(&a->cfg);
}

int
main(int argc, char **argv)
{
	agent a;
	memset(&a, 0, sizeof(a));
	/* Before anything reads a secret: no core dumps, no ptrace by other users. */
	cki_harden_process();
	sanitise_stdio();
	a.argc = argc;
	a.argv = argv;
	int code = run(&a, argc, argv);
	teardown(&a);
	return code;
}
