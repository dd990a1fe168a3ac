/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Signals, reload and drain. Signal handlers only set flags and wake the loop; the loop's turn
 * callback acts on them. SIGHUP re-reads the configuration and the master keys and applies the
 * settings that may change live. SIGTERM/SIGINT drain: new requests are refused with
 * CK_ESHUTDOWN, requests in flight are answered, held locks are released, then the loop stops.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "agent.h"
#include "base/log.h"
#include "base/loop.h"
#include "core/access.h"
#include "core/locks.h"
#include "service.h"

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t reload_requested;
static cki_loop *signal_loop;

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
void
cki_agent_apply_log_format(const cki_config *cfg)
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
        "allow-uids", /* revoking a user must not need a restart */
        "allow-gids",
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
		cki_agent_apply_log_format(&a->cfg);
		/* The access rules are swapped whole: no request holds a pointer into them between
		 * loop turns. The namespace lists applied above become typed sets again. */
		cki_access_forget_groups(); /* group membership may have changed too */
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

/* Rate-limited log sites report what they held back, so a flood that stops is still told. */
static void
on_log_flush(cki_loop *loop, void *arg)
{
	cki_log_ratelimit_flush();
	if (cki_loop_timer(loop, CKI_LOG_RL_WINDOW_MS, on_log_flush, arg) == 0)
		cki_log_error("cannot schedule the log flush: suppressed counts show at exit");
}

ck_err
cki_agent_install_signals(agent *a)
{
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
		return CK_ENOMEM;
	return CK_OK;
}
