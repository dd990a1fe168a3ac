/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The optional metrics listener: GET /metrics over plain HTTP in the Prometheus text format
 * (libmicrohttpd), for --metrics-listen HOST:PORT. libmicrohttpd runs without a thread of its
 * own: its epoll fd is watched by the agent's loop and MHD_run() is called from there, so the
 * metrics are read on the loop thread like every other piece of state (no locks, no copies).
 * It keeps answering while the agent drains, until the loop stops. Not thread-safe.
 */
#ifndef CKI_METRICS_HTTP_H
#define CKI_METRICS_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/loop.h"
#include "cachekit/errors.h"

typedef struct cki_metrics_http cki_metrics_http;

/* Writes the figures that live outside base/metrics (gauges of the core, store statistics)
 * to out, before the base metrics are written. */
typedef void (*cki_metrics_collect_fn)(void *arg, FILE *out);

/* Parses "HOST:PORT", "[IPV6]:PORT", ":PORT" or "PORT" (host 127.0.0.1 when omitted), binds
 * it and serves from loop. On failure returns CK_ECONFIG (bad address) or CK_EIO (cannot
 * bind) with a reason in why; *out is written only on success. */
CK_NODISCARD ck_err cki_metrics_http_new(cki_metrics_http **out, cki_loop *loop, const char *listen,
                                         cki_metrics_collect_fn collect, void *arg, char *why,
                                         size_t why_cap);

/* The bound TCP port (useful with port 0). */
uint16_t cki_metrics_http_port(const cki_metrics_http *m);

/* Stops listening and closes connections. Accepts NULL. */
void cki_metrics_http_free(cki_metrics_http *m);

/* A store stats emitter (see cki_store_ops.stats) writing to the FILE * in ctx: names the
 * store uses are mapped to Prometheus names ("http_retries" -> upstream_retries_total). */
void cki_metrics_http_emit_stat(void *ctx, const char *name, double v);

#endif
