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
#include "front/server.h"
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

/* SIGHUP: re-read the configuration for the log level and the access rules
 * (docs/access-rules.md), and the master keys from their file or credential sources (keys given
 * in the environment were wiped at start, so they stay). Other settings need a restart; the
 * log says so. A failed reload keeps everything as it was. The access rules are swapped whole:
 * no request holds a pointer into them between loop turns. */
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
		cki_log_level level;
		if (cki_log_parse_level(cfg.log_level, &level)) {
			cki_log_set_level(level);
			cki_log_info("reload: log level %s", cfg.log_level);
		}
		cki_access *old = a->cfg.policy.access;
		a->cfg.policy.access = cfg.policy.access;
		cfg.policy.access = old; /* freed below with the rest of cfg */
		size_t n = a->cfg.policy.access ? a->cfg.policy.access->n : 0;
		cki_log_info("reload: %zu access rule(s)%s", n,
		             n ? "" : " (every allowed peer may do everything)");
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
	cki_log_info("reload: done; other settings apply at restart");
}

static void
on_turn(cki_loop *loop, void *arg)
{
	agent *a = arg;
	if (reload_requested) {
		reload_requested = 0;
		if (!a->draining)
			reload(a);
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
		cki_log_error("upstream %s: %s", rv == CK_EURL ? "URL refused" : "cannot start",
		              why[0] ? why : ck_strerror(rv));
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
	cki_store_on_drop(a->backend, cki_refresh_on_drop, a->refresh);
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
	/* Everyone is answered first (the store's destroy answers what it still holds, through
	 * the server), then the server goes, giving those replies a linger to leave. */
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
