/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sd_notify glue for Type=notify units. libsystemd formats and sends the datagrams to
 * $NOTIFY_SOCKET; without it every call returns 0 and nothing happens, so the agent runs the
 * same by hand, in a container or under systemd. The watchdog is kept by a loop timer at half
 * the interval systemd gives: if the loop stalls, the pings stop and systemd restarts the
 * agent, which is the point.
 */
#include "service.h"

#include <inttypes.h>
#include <stdio.h>
#include <systemd/sd-daemon.h>

#include "base/log.h"

static uint64_t watchdog_ms;

static void
notify(const char *what)
{
	int rv = sd_notify(0, what);
	if (rv < 0)
		cki_log_debug("sd_notify failed (%d)", rv);
}

static void
notify_status(const char *state, const char *status)
{
	char msg[512];
	snprintf(msg, sizeof(msg), "%s%sSTATUS=%s", state ? state : "", state ? "\n" : "", status);
	notify(msg);
}

static void
on_watchdog(cki_loop *loop, void *arg)
{
	notify("WATCHDOG=1");
	if (cki_loop_timer(loop, watchdog_ms, on_watchdog, arg) == 0)
		cki_log_error(
		        "cannot schedule the next watchdog ping: systemd will restart the agent");
}

void
cki_service_ready(cki_loop *loop, const char *status)
{
	notify_status("READY=1", status);
	uint64_t usec = 0;
	if (watchdog_ms == 0 && sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
		watchdog_ms = usec / 2000 ? usec / 2000 : 1;
		cki_log_info("systemd watchdog: pinging every %" PRIu64 " ms", watchdog_ms);
		notify("WATCHDOG=1");
		if (cki_loop_timer(loop, watchdog_ms, on_watchdog, NULL) == 0)
			cki_log_error("cannot schedule the watchdog ping: systemd will restart the "
			              "agent");
	}
}

void
cki_service_reloading(void)
{
	char msg[96];
	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%" PRIu64 "\nSTATUS=reloading",
	         cki_now_us());
	notify(msg);
}

void
cki_service_stopping(const char *status)
{
	notify_status("STOPPING=1", status);
}

void
cki_service_status(const char *status)
{
	notify_status(NULL, status);
}
