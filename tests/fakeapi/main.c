/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ck-fakeapi: a local TLS server implementing the cachekit.io cache API (spec §2, §4) for the
 * agent's integration tests and benchmarks, with fault injection, a test clock, request
 * recording and a plain-HTTP control endpoint. This file: command line, listeners, port files,
 * signals (flags only) and the single-threaded epoll loop.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fakeapi.h"

#define MAX_EVENTS 64

struct fa_server cki_fa;
static volatile sig_atomic_t stop_requested;

static void
on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void
usage(FILE *f)
{
	fputs("usage: ck-fakeapi --cert FILE --key FILE [options]\n"
	      "  --port N             API (TLS) port, 0 = ephemeral (default 0)\n"
	      "  --bind ADDR          API bind address (default 127.0.0.1)\n"
	      "  --port-file FILE     write the API port here (atomically)\n"
	      "  --control-port N     plain HTTP control port on 127.0.0.1 (default 0)\n"
	      "  --control-port-file FILE\n"
	      "  --api-key K          accepted API key (repeatable; default ck_sdk_test)\n"
	      "  --max-value BYTES    largest value accepted by PUT (default 25000000)\n"
	      "  --max-records N      request records kept (default 100000; 0 = none)\n"
	      "  --seed N             seed for random fault choices\n"
	      "  --latency-ms N       delay added before every API response\n"
	      "  --stall-ms N         hold every API response this long\n"
	      "  --error-rate X       share (0..1) of API requests answered with --error-statuses\n"
	      "  --error-statuses L   comma list of statuses for --error-rate (default 503)\n"
	      "  --retry-after S      Retry-After seconds on 429/503 when > 0\n"
	      "  --reset-rate X       share (0..1) of API requests answered by a TCP reset\n"
	      "  --fail-next L        comma list of statuses for the next requests (0 = reset)\n"
	      "  --delete-missing 404|200   DELETE of a missing key (default 404)\n"
	      "  --lock-contested null|409  contested lock POST (default null)\n"
	      "  --unlock-wrong 200|404     lock DELETE with a wrong/expired id (default 200)\n"
	      "  --health-shape new|old     health body (default new)\n"
	      "  --quiet              no log lines\n"
	      "  --help\n",
	      f);
}

static int
parse_rate(const char *s, double *out)
{
	char *end;
	double v = strtod(s, &end);
	if (*s == '\0' || *end != '\0' || !(v >= 0.0 && v <= 1.0)) {
		return -1;
	}
	*out = v;
	return 0;
}

static int
parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	if (*s < '0' || *s > '9') {
		return -1;
	}
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > max) {
		return -1;
	}
	*out = v;
	return 0;
}

static int
choice(const char *s, const char *a, const char *b, int *out)
{
	if (strcmp(s, a) == 0) {
		*out = 0;
	} else if (strcmp(s, b) == 0) {
		*out = 1;
	} else {
		return -1;
	}
	return 0;
}

static int
listen_on(const char *addr, uint64_t port, enum fa_conn_kind kind, struct fa_conn *l)
{
	struct sockaddr_storage ss = {0};
	socklen_t sl;
	struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, addr, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
		sl = sizeof(*v4);
	} else if (inet_pton(AF_INET6, addr, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		sl = sizeof(*v6);
	} else {
		cki_log("bad bind address: %s", addr);
		return -1;
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, 512) != 0) {
		cki_log("listen %s:%llu: %s", addr, (unsigned long long)port, strerror(errno));
		if (fd >= 0) {
			close(fd);
		}
		return -1;
	}
	memset(l, 0, sizeof(*l));
	l->fd = fd;
	l->kind = kind;
	l->listening = 1;
	struct epoll_event e = {.events = EPOLLIN, .data.ptr = l};
	if (epoll_ctl(cki_fa.epfd, EPOLL_CTL_ADD, fd, &e) != 0) {
		close(fd);
		return -1;
	}
	return 0;
}

static int
bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
		return -1;
	}
	if (ss.ss_family == AF_INET6) {
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	}
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* Write "PORT\n" to a temp file and rename it over `path`, so readers never see half. */
static int
write_port_file(const char *path, int port)
{
	char tmp[4096];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp)) {
		return -1;
	}
	FILE *f = fopen(tmp, "w");
	if (f == NULL) {
		return -1;
	}
	int ok = fprintf(f, "%d\n", port) > 0;
	ok = fclose(f) == 0 && ok;
	if (!ok || rename(tmp, path) != 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

enum {
	OPT_CERT = 256,
	OPT_KEY,
	OPT_PORT,
	OPT_BIND,
	OPT_PORT_FILE,
	OPT_CPORT,
	OPT_CPORT_FILE,
	OPT_API_KEY,
	OPT_MAX_VALUE,
	OPT_MAX_RECORDS,
	OPT_SEED,
	OPT_LATENCY,
	OPT_STALL,
	OPT_ERROR_RATE,
	OPT_ERROR_STATUSES,
	OPT_RETRY_AFTER,
	OPT_RESET_RATE,
	OPT_FAIL_NEXT,
	OPT_DELETE_MISSING,
	OPT_LOCK_CONTESTED,
	OPT_UNLOCK_WRONG,
	OPT_HEALTH_SHAPE,
	OPT_QUIET,
	OPT_HELP,
};

static const struct option long_opts[] = {
        {"cert", 1, NULL, OPT_CERT},
        {"key", 1, NULL, OPT_KEY},
        {"port", 1, NULL, OPT_PORT},
        {"bind", 1, NULL, OPT_BIND},
        {"port-file", 1, NULL, OPT_PORT_FILE},
        {"control-port", 1, NULL, OPT_CPORT},
        {"control-port-file", 1, NULL, OPT_CPORT_FILE},
        {"api-key", 1, NULL, OPT_API_KEY},
        {"max-value", 1, NULL, OPT_MAX_VALUE},
        {"max-records", 1, NULL, OPT_MAX_RECORDS},
        {"seed", 1, NULL, OPT_SEED},
        {"latency-ms", 1, NULL, OPT_LATENCY},
        {"stall-ms", 1, NULL, OPT_STALL},
        {"error-rate", 1, NULL, OPT_ERROR_RATE},
        {"error-statuses", 1, NULL, OPT_ERROR_STATUSES},
        {"retry-after", 1, NULL, OPT_RETRY_AFTER},
        {"reset-rate", 1, NULL, OPT_RESET_RATE},
        {"fail-next", 1, NULL, OPT_FAIL_NEXT},
        {"delete-missing", 1, NULL, OPT_DELETE_MISSING},
        {"lock-contested", 1, NULL, OPT_LOCK_CONTESTED},
        {"unlock-wrong", 1, NULL, OPT_UNLOCK_WRONG},
        {"health-shape", 1, NULL, OPT_HEALTH_SHAPE},
        {"quiet", 0, NULL, OPT_QUIET},
        {"help", 0, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
};

struct cli {
	const char *cert, *key, *bind, *port_file, *cport_file;
	uint64_t port, cport, max_records;
};

static int
parse_args(int argc, char **argv, struct cli *cli)
{
	struct fa_faults *f = &cki_fa.start_faults;
	uint64_t u = 0;
	int opt, c;
	while ((opt = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
		int bad = 0;
		switch (opt) {
		case OPT_CERT:
			cli->cert = optarg;
			break;
		case OPT_KEY:
			cli->key = optarg;
			break;
		case OPT_BIND:
			cli->bind = optarg;
			break;
		case OPT_PORT_FILE:
			cli->port_file = optarg;
			break;
		case OPT_CPORT_FILE:
			cli->cport_file = optarg;
			break;
		case OPT_PORT:
			bad = parse_u64(optarg, 65535, &cli->port);
			break;
		case OPT_CPORT:
			bad = parse_u64(optarg, 65535, &cli->cport);
			break;
		case OPT_MAX_RECORDS:
			bad = parse_u64(optarg, 100000000, &cli->max_records);
			break;
		case OPT_MAX_VALUE:
			bad = parse_u64(optarg, 1ULL << 32, &cki_fa.max_value);
			break;
		case OPT_API_KEY:
			bad = cki_fa.n_api_keys >= FA_MAX_API_KEYS;
			if (!bad) {
				cki_fa.api_keys[cki_fa.n_api_keys++] = optarg;
			}
			break;
		case OPT_SEED:
			bad = parse_u64(optarg, UINT64_MAX, &u);
			cki_rng_seed(u);
			break;
		case OPT_LATENCY:
			bad = parse_u64(optarg, 600000, &f->latency_ms);
			break;
		case OPT_STALL:
			bad = parse_u64(optarg, 600000, &f->stall_ms);
			break;
		case OPT_RETRY_AFTER:
			bad = parse_u64(optarg, 86400, &u);
			f->retry_after = (unsigned)u;
			break;
		case OPT_ERROR_RATE:
			bad = parse_rate(optarg, &f->error_rate);
			break;
		case OPT_RESET_RATE:
			bad = parse_rate(optarg, &f->reset_rate);
			break;
		case OPT_ERROR_STATUSES:
			bad = cki_faults_parse_list(f->error_statuses, &f->n_error_statuses,
			                            FA_MAX_ERR_STATUSES, optarg) != 0 ||
			      f->n_error_statuses == 0;
			break;
		case OPT_FAIL_NEXT:
			bad = cki_faults_parse_list(f->fail_next, &f->n_fail_next, FA_MAX_FAIL_NEXT,
			                            optarg);
			break;
		case OPT_DELETE_MISSING:
			bad = choice(optarg, "404", "200", &c);
			f->delete_missing = c ? FA_DELETE_200 : FA_DELETE_404;
			break;
		case OPT_LOCK_CONTESTED:
			bad = choice(optarg, "null", "409", &c);
			f->lock_contested = c ? FA_LOCK_409 : FA_LOCK_NULL;
			break;
		case OPT_UNLOCK_WRONG:
			bad = choice(optarg, "200", "404", &c);
			f->unlock_wrong = c ? FA_UNLOCK_404 : FA_UNLOCK_200;
			break;
		case OPT_HEALTH_SHAPE:
			bad = choice(optarg, "new", "old", &c);
			f->health_shape = c ? FA_HEALTH_OLD : FA_HEALTH_NEW;
			break;
		case OPT_QUIET:
			cki_fa.quiet = 1;
			break;
		case OPT_HELP:
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
		if (bad) {
			fprintf(stderr, "ck-fakeapi: bad value for --%s: %s\n",
			        long_opts[opt - OPT_CERT].name, optarg);
			return -1;
		}
	}
	if (optind != argc || cli->cert == NULL || cli->key == NULL) {
		usage(stderr);
		return -1;
	}
	if (cki_fa.n_api_keys == 0) {
		cki_fa.api_keys[cki_fa.n_api_keys++] = "ck_sdk_test";
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct cli cli = {.bind = "127.0.0.1", .max_records = 100000};
	struct fa_conn api_l, ctl_l;
	int rv = 1;
	cki_fa.max_value = FA_DEFAULT_MAX_VAL;
	cki_faults_defaults(&cki_fa.start_faults);
	cki_fa.epfd = -1;
	if (parse_args(argc, argv, &cli) != 0) {
		return 2;
	}
	cki_fa.faults = cki_fa.start_faults;
	cki_store_init();
	cki_record_init((size_t)cli.max_records);

	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigset_t block, orig;
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &orig);

	cki_fa.tls = cki_tls_ctx(cli.cert, cli.key);
	cki_fa.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (cki_fa.tls == NULL || cki_fa.epfd < 0 ||
	    listen_on(cli.bind, cli.port, FA_CONN_API, &api_l) != 0 ||
	    listen_on("127.0.0.1", cli.cport, FA_CONN_CONTROL, &ctl_l) != 0) {
		goto out;
	}
	int port = bound_port(api_l.fd), cport = bound_port(ctl_l.fd);
	if ((cli.port_file && write_port_file(cli.port_file, port) != 0) ||
	    (cli.cport_file && write_port_file(cli.cport_file, cport) != 0)) {
		cki_log("cannot write port files");
		goto out;
	}
	cki_log("api https://%s:%d control http://127.0.0.1:%d", cli.bind, port, cport);

	struct epoll_event events[MAX_EVENTS];
	while (!stop_requested) {
		int n = epoll_pwait(cki_fa.epfd, events, MAX_EVENTS, cki_conn_next_timeout(),
		                    &orig);
		if (n < 0 && errno != EINTR) {
			cki_log("epoll_wait: %s", strerror(errno));
			goto out;
		}
		for (int i = 0; i < n; i++) {
			cki_conn_event(events[i].data.ptr, events[i].events);
		}
		cki_conn_timers();
		cki_conn_reap(0);
	}
	rv = 0;
out:
	cki_conn_reap(1);
	cki_store_clear();
	cki_record_clear();
	SSL_CTX_free(cki_fa.tls);
	if (cki_fa.epfd >= 0) {
		close(cki_fa.epfd);
	}
	return rv;
}
