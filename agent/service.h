/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's side of the systemd service protocol (sd_notify(3)): READY=1 once the socket
 * serves, RELOADING=1 with MONOTONIC_USEC= before a SIGHUP reload and READY=1 after it,
 * STOPPING=1 when draining starts, STATUS= lines, and WATCHDOG=1 from a loop timer when the
 * unit sets WatchdogSec=. Every call is a no-op when $NOTIFY_SOCKET is unset (not under
 * systemd). Loop thread only.
 */
#ifndef CKI_SERVICE_H
#define CKI_SERVICE_H

#include "base/loop.h"

/* READY=1 plus a STATUS= line; starts the watchdog timer when systemd asked for one. */
void cki_service_ready(cki_loop *loop, const char *status);
/* RELOADING=1 and MONOTONIC_USEC=<now> (CLOCK_MONOTONIC, as systemd expects). */
void cki_service_reloading(void);
/* STOPPING=1 plus a STATUS= line. */
void cki_service_stopping(const char *status);
/* A STATUS= line alone. */
void cki_service_status(const char *status);

#endif
