/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cachekit-agent: start-up order and teardown. run() reads the configuration (its command line
 * and --help live in config/), builds the upstream and the keyring (upstream.c), wires the core
 * and the front together, installs the signal handlers (signals.c) and runs the loop until a
 * drain ends it; teardown() frees everything in the order that lets the last replies out.
 */
#include <errno.h>
#include <fcntl.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "base/log.h"
#include "base/loop.h"
#include "base/metrics.h"
#include "cachekit/version.h"
#include "core/locks.h"
#include "core/refresh.h"
#include "core/storefront.h"
#include "service.h"
#include "store/store.h"

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
	/* Fixing the mmap threshold also fixes the trim threshold at glibc's 128 KiB, so the
	 * heap's top was given back after every batch reply and faulted in again for the next
	 * (a tenth of the agent's time on a 100 x 4 KiB MultiGet). 2 MiB of free top may stay. */
	mallopt(M_TRIM_THRESHOLD, 2 * 1024 * 1024);
#endif
	cki_log_level level = CKI_LOG_INFO;
	cki_log_parse_level(a->cfg.log_level, &level);
	cki_log_set_level(level);
	cki_agent_apply_log_format(&a->cfg);
	cki_log_use_syslog(a->cfg.log_syslog);

	if (cki_secmem_init(SECURE_HEAP) != CK_OK)
		cki_log_warn("secure heap unavailable: secrets are wiped but may be swapped");
	if (cki_agent_take_url_password(a) != CK_OK)
		return EXIT_CONFIG;
	if (cki_agent_load_keyring(a) != CK_OK)
		return EXIT_CONFIG;
	if (a->cfg.check_only) {
		cki_config_dump(&a->cfg, stdout);
		printf("master-key = %s\n", a->keyring ? "configured" : "(none)");
		/* Build the upstream too, so URL and API key problems show here. */
		if (cki_loop_new(&a->loop) != CK_OK || cki_agent_open_store(a) != CK_OK)
			return EXIT_CONFIG;
		if (a->cfg.probe && cki_agent_probe_upstream(a) != CK_OK)
			return EXIT_CONFIG;
		printf("configuration ok\n");
		return 0;
	}
	if (cki_loop_new(&a->loop) != CK_OK)
		return EXIT_RUNTIME;
	ck_err rv = cki_agent_open_store(a);
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
	if (cki_server_dir_fd(a->server) >= 0 &&
	    cki_nearver_openat(&a->nearver, cki_server_dir_fd(a->server),
	                       cki_server_sock_name(a->server), why, sizeof(why)) != CK_OK)
		cki_log_warn(
		        "near-cache version table unavailable (%s): stub near caches stay empty",
		        why);
	cki_dispatch_set_nearver(a->dispatch, a->nearver);
	cki_storefront_set_nearver(a->store, a->nearver); /* evictions and expiries move slots */
	if (start_metrics(a) != CK_OK)
		return EXIT_CONFIG;

	if (cki_agent_install_signals(a) != CK_OK)
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
