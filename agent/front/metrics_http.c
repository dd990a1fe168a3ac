/* SPDX-License-Identifier: Apache-2.0 */
/*
 * GET /metrics for Prometheus on a loopback TCP port, served by libmicrohttpd in its
 * "external polling" mode with epoll: no MHD thread exists. The loop watches MHD's epoll fd
 * and a timer set from MHD_get_timeout(); each wake-up calls MHD_run(), which accepts, reads,
 * answers and closes connections without blocking. The body is rendered on the loop thread at
 * request time from base/metrics plus a collect callback (core gauges, store statistics).
 * Only GET and HEAD of /metrics are served; request bodies are refused.
 */
#include "front/metrics_http.h"

#include <microhttpd.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "base/log.h"
#include "base/metrics.h"

#define MAX_CONNECTIONS    32
#define CONNECTION_TIMEOUT 10 /* seconds */
#define PROMETHEUS_TYPE    "text/plain; version=0.0.4; charset=utf-8"
#define MAX_LISTEN_TEXT    300

struct cki_metrics_http {
	struct MHD_Daemon *daemon;
	cki_loop *loop;
	int epoll_fd;
	uint16_t port;
	cki_timer_id timer;
	cki_metrics_collect_fn collect;
	void *collect_arg;
};

static void schedule(cki_metrics_http *m);

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[256];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	size_t n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	cki_log_warn("metrics listener: %s", msg);
}

static enum MHD_Result
reply_text(struct MHD_Connection *conn, unsigned code, const char *text)
{
	struct MHD_Response *r =
	        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	if (code == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	enum MHD_Result rv = MHD_queue_response(conn, code, r);
	MHD_destroy_response(r);
	return rv;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
           const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	cki_metrics_http *m = cls;
	if (*upload_data_size != 0)
		return MHD_NO; /* a body on GET: drop the connection */
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET /metrics\n");
	if (strcmp(url, "/metrics") != 0)
		return reply_text(conn, MHD_HTTP_NOT_FOUND, "not found: try /metrics\n");

	char *body = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&body, &len);
	if (out == NULL)
		return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	if (m->collect != NULL)
		m->collect(m->collect_arg, out);
	cki_metrics_prometheus(out);
	if (fclose(out) != 0 || body == NULL) {
		free(body);
		return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	}
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (r == NULL) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, PROMETHEUS_TYPE);
	enum MHD_Result rv = MHD_queue_response(conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return rv;
}

static void
run_daemon(cki_metrics_http *m)
{
	if (MHD_run(m->daemon) != MHD_YES)
		cki_log_debug("metrics listener: MHD_run reported an error");
	schedule(m);
}

static void
on_timer(cki_loop *loop, void *arg)
{
	cki_metrics_http *m = arg;
	m->timer = 0;
	run_daemon(m);
}

static void
on_epoll(cki_loop *loop, int fd, unsigned events, void *arg)
{
	run_daemon(arg);
}

/* MHD's own deadlines (idle connections, work it has queued) come back as a timeout. */
static void
schedule(cki_metrics_http *m)
{
	MHD_UNSIGNED_LONG_LONG ms = 0;
	cki_loop_timer_cancel(m->loop, m->timer);
	m->timer = 0;
	if (MHD_get_timeout(m->daemon, &ms) == MHD_YES)
		m->timer = cki_loop_timer(m->loop, ms, on_timer, m);
}

/* "HOST:PORT", "[V6]:PORT", ":PORT", "PORT" -> host (default 127.0.0.1) and port text. */
static bool
split_listen(const char *listen, char *host, size_t host_cap, char *port, size_t port_cap)
{
	const char *colon;
	if (listen[0] == '[') {
		const char *close = strchr(listen, ']');
		if (close == NULL || close[1] != ':')
			return false;
		snprintf(host, host_cap, "%.*s", (int)(close - listen - 1), listen + 1);
		colon = close + 1;
	} else if ((colon = strrchr(listen, ':')) != NULL) {
		if (strchr(listen, ':') != colon)
			return false; /* a bare IPv6 address needs brackets */
		snprintf(host, host_cap, "%.*s", (int)(colon - listen), listen);
	} else {
		host[0] = '\0';
		colon = listen - 1;
	}
	if (host[0] == '\0')
		snprintf(host, host_cap, "127.0.0.1");
	const char *p = colon + 1;
	if (*p == '\0' || strlen(p) >= port_cap || strspn(p, "0123456789") != strlen(p))
		return false;
	snprintf(port, port_cap, "%s", p);
	return atol(port) <= 65535;
}

ck_err
cki_metrics_http_new(cki_metrics_http **out, cki_loop *loop, const char *listen,
                     cki_metrics_collect_fn collect, void *arg, char *why, size_t why_cap)
{
	char host[MAX_LISTEN_TEXT], port[8];
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
	struct addrinfo *ai = NULL;
	cki_metrics_http *m = NULL;
	ck_err rv = CK_OK;

	if (listen == NULL || strlen(listen) >= MAX_LISTEN_TEXT ||
	    !split_listen(listen, host, sizeof(host), port, sizeof(port))) {
		snprintf(why, why_cap,
		         "metrics-listen must be HOST:PORT, [IPV6]:PORT or PORT, not \"%s\"",
		         listen ? listen : "");
		return CK_ECONFIG;
	}
	int gai = getaddrinfo(host, port, &hints, &ai);
	if (gai != 0) {
		snprintf(why, why_cap, "metrics-listen %s: %s", listen, gai_strerror(gai));
		return CK_ECONFIG;
	}
	m = calloc(1, sizeof(*m));
	if (m == NULL) {
		rv = CK_ENOMEM;
		goto out;
	}
	m->loop = loop;
	m->collect = collect;
	m->collect_arg = arg;
	unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
	if (ai->ai_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	/* The logger goes first, or MHD warns through its own logger. */
	m->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, m,
	                             MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
	                             MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_CONNECTION_LIMIT,
	                             (unsigned)MAX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT,
	                             (unsigned)CONNECTION_TIMEOUT, MHD_OPTION_END);
	if (m->daemon == NULL) {
		snprintf(why, why_cap, "metrics-listen %s: cannot listen (address in use?)",
		         listen);
		rv = CK_EIO;
		goto out;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(m->daemon, MHD_DAEMON_INFO_EPOLL_FD);
	const union MHD_DaemonInfo *pinfo =
	        MHD_get_daemon_info(m->daemon, MHD_DAEMON_INFO_BIND_PORT);
	if (info == NULL || pinfo == NULL) {
		snprintf(why, why_cap, "metrics-listen: libmicrohttpd lacks epoll support");
		rv = CK_EIO;
		goto out;
	}
	m->epoll_fd = info->epoll_fd;
	m->port = pinfo->port;
	rv = cki_loop_watch_fd(loop, m->epoll_fd, CKI_EV_READ, on_epoll, m);
	if (rv != CK_OK) {
		snprintf(why, why_cap, "metrics-listen: cannot watch the listener");
		goto out;
	}
	schedule(m);
	*out = m;
	m = NULL;
out:
	if (m != NULL && m->daemon != NULL)
		MHD_stop_daemon(m->daemon);
	free(m);
	freeaddrinfo(ai);
	return rv;
}

uint16_t
cki_metrics_http_port(const cki_metrics_http *m)
{
	return m ? m->port : 0;
}

void
cki_metrics_http_free(cki_metrics_http *m)
{
	if (m == NULL)
		return;
	cki_loop_timer_cancel(m->loop, m->timer);
	cki_loop_unwatch_fd(m->loop, m->epoll_fd);
	MHD_stop_daemon(m->daemon);
	free(m);
}

/* Store statistics under Prometheus names and types; unknown names become gauges. */
static const struct {
	const char *store_name;
	const char *name;
	const char *type;
	const char *help;
} stat_names[] = {
        {"http_requests", "upstream_requests_total", "counter", "requests sent to the API"},
        {"http_retries", "upstream_retries_total", "counter", "API attempts that were retries"},
        {"http_errors", "upstream_errors_total", "counter", "API requests that failed"},
        {"breaker_state", "upstream_breaker_state", "gauge",
         "circuit breaker: 0 closed, 1 open, 2 half-open"},
        {"breaker_opens", "upstream_breaker_opens_total", "counter", "times the breaker opened"},
        {"connections", "upstream_connections_total", "counter", "connections made to the API"},
        {"inflight", "upstream_inflight_requests", "gauge", "API requests in progress"},
        {"store_entries", "store_entries", "gauge", "entries in the embedded store"},
        {"store_bytes", "store_bytes", "gauge", "bytes held by the embedded store"},
        {"store_evictions", "store_evictions_total", "counter",
         "entries evicted by the memory limit"},
        {"store_expired", "store_expired_total", "counter", "entries removed at expiry"},
        {"store_locks", "store_locks", "gauge", "locks held in the embedded store"},
        {"store_arena_bytes", "store_arena_bytes", "gauge",
         "bytes mapped for the embedded store's small entries"},
};

void
cki_metrics_http_emit_stat(void *ctx, const char *name, double v)
{
	FILE *out = ctx;
	for (size_t i = 0; i < sizeof(stat_names) / sizeof(stat_names[0]); i++)
		if (strcmp(stat_names[i].store_name, name) == 0) {
			cki_metrics_prometheus_one(out, stat_names[i].name, stat_names[i].type,
			                           stat_names[i].help, v);
			return;
		}
	char safe[64];
	size_t n = 0;
	for (; name[n] != '\0' && n + 1 < sizeof(safe); n++) {
		char ch = name[n];
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_';
		safe[n] = ok ? ch : '_';
	}
	safe[n] = '\0';
	cki_metrics_prometheus_one(out, safe, "gauge", "store statistic", v);
}
