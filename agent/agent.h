/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the agent's top-level files share (main.c, signals.c, upstream.c): the one agent record
 * that owns every part of the running process, the exit codes and timings of start-up and
 * shutdown, and the steps main.c's run() calls in order. Nothing below the top layer includes
 * this header.
 */
#ifndef CKI_AGENT_H
#define CKI_AGENT_H

#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"
#include "core/dispatch.h"
#include "core/nearver.h"
#include "crypto/keyring.h"
#include "crypto/secmem.h"
#include "front/metrics_http.h"
#include "front/server.h"

enum { EXIT_RUNTIME = 1, EXIT_CONFIG = 2, EXIT_BUSY = 3 };

#define DRAIN_MAX_MS 10000 /* longest wait for requests in flight at shutdown */
#define SWEEP_MS     10000 /* embedded store: reclaim expired entries */
#define SECURE_HEAP  (256 * 1024)

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

/* signals.c: JSON or text log lines (journald priorities when stderr is the journal). */
void cki_agent_apply_log_format(const cki_config *cfg);
/* signals.c: SIGTERM/SIGINT drain and stop, SIGHUP reloads; the loop's turn acts on the flags
 * the handlers set. Also starts the rate-limited log flush. CK_ENOMEM: no timer. */
CK_NODISCARD ck_err cki_agent_install_signals(agent *a);

/* upstream.c: moves a password out of a Redis URL given in the environment (refused on a flag
 * or in the config file). CK_ECONFIG with a log line when refused. */
CK_NODISCARD ck_err cki_agent_take_url_password(agent *a);
/* upstream.c: builds a->store from the upstream setting (memory:, redis://, the API). */
CK_NODISCARD ck_err cki_agent_open_store(agent *a);
/* upstream.c: loads the master keys; CK_ECONFIG when secure namespaces need a missing key. */
CK_NODISCARD ck_err cki_agent_load_keyring(agent *a);
/* upstream.c: --check-config --probe: one health call against the upstream. */
CK_NODISCARD ck_err cki_agent_probe_upstream(agent *a);

#endif
