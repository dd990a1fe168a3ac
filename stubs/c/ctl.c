/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cachekit-ctl: a command-line client of the cachekit agent, built on libcachekit-stub. It
 * reads and writes keys (binary safe, values from stdin), inspects TTLs, takes distributed
 * locks (optionally running a command while holding one), and shows the agent's health and
 * counters. Exit codes are stable so scripts can branch on them (see usage()).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "cachekit/stub.h"
#include "stub_internal.h"

enum {
	EXIT_OK = 0,
	EXIT_MISS = 1,
	EXIT_USAGE = 2,
	EXIT_ERR = 3,
	EXIT_TIMEOUT = 4,
	EXIT_CONTESTED = 5,
};

#define PROG "cachekit-ctl"

struct ctl {
	ck_client *client;
	bool json;
	bool prometheus;
	bool secure;
	uint32_t timeout_ms; /* 0: the client's default */
	bool have_ttl, have_stale, sliding, have_lease, have_wait;
	uint32_t ttl_s, stale_ttl_s, lease_ms, wait_ms;
};

static void
usage(FILE *f)
{
	fprintf(f,
	        "Usage: " PROG " [OPTIONS] COMMAND [ARGS...]\n"
	        "\n"
	        "Talks to the local cachekit agent.\n"
	        "\n"
	        "Commands:\n"
	        "  get KEY                 write the value to stdout (raw bytes, no newline "
	        "added)\n"
	        "  set KEY [VALUE|-]       store VALUE, or stdin when VALUE is omitted or \"-\"\n"
	        "                          (binary safe; use `set KEY -- VALUE` for a VALUE "
	        "starting with -)\n"
	        "  del KEY                 delete KEY\n"
	        "  exists KEY              print true or false\n"
	        "  ttl KEY                 print seconds until eviction (-1: no expiry)\n"
	        "  touch KEY TTL           give KEY a new fresh window of TTL seconds\n"
	        "  lock NAME [-- CMD ARGS...]\n"
	        "                          with CMD: run CMD while holding the lock, release it "
	        "after,\n"
	        "                          exit with CMD's status. Without CMD: acquire, print "
	        "the\n"
	        "                          handle in hex and exit (the agent releases the lock "
	        "when\n"
	        "                          this process exits; useful to test contention)\n"
	        "  unlock HANDLEHEX        release a lock by handle (only its holder may)\n"
	        "  health                  show the agent's health report\n"
	        "  stats                   show the agent's counters\n"
	        "  help                    show this help\n"
	        "\n"
	        "Options:\n"
	        "  --endpoint E            agent endpoint (default: $CACHEKIT_AGENT_ENDPOINT, "
	        "else\n"
	        "                          ipc://$XDG_RUNTIME_DIR/cachekit/agent.sock for "
	        "non-root,\n"
	        "                          else ipc:///run/cachekit/agent.sock)\n"
	        "  --timeout MS            per-call timeout in ms (default: $CACHEKIT_TIMEOUT s, "
	        "or 5000)\n"
	        "  --namespace NS          namespace for the key\n"
	        "  --json                  print results as JSON (get: value as a string when it "
	        "is\n"
	        "                          UTF-8, else base64 with \"encoding\":\"base64\")\n"
	        "  --secure                get/set: decrypt/encrypt in the agent\n"
	        "  --ttl S                 set: fresh window in seconds (0: no expiry)\n"
	        "  --stale-ttl S           set: stale window after the TTL, in seconds\n"
	        "  --sliding               set: reads extend the TTL\n"
	        "  --prometheus            stats: Prometheus text format (for a textfile "
	        "collector)\n"
	        "  --lease MS              lock: lease in ms (default 30000)\n"
	        "  --wait MS               lock: keep trying this long while contested\n"
	        "  -h, --help              show this help\n"
	        "  -V, --version           show the version\n"
	        "\n"
	        "Exit status:\n"
	        "  0  success\n"
	        "  1  miss: get/ttl/touch of an absent key, exists false, del of an absent key\n"
	        "  2  usage error\n"
	        "  3  error (message on stderr; an unhealthy health report)\n"
	        "  4  timeout (no answer from the agent in time)\n"
	        "  5  lock contested\n"
	        "  lock NAME -- CMD: CMD's exit status (128+N when killed by signal N)\n");
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, PROG ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '" PROG " --help'.\n");
	return EXIT_USAGE;
}

/* Reports a failed call: "cachekit-ctl: <what>: <error> (<agent message>)". */
static int
fail(const struct ctl *ctl, const char *what, const char *arg, ck_err rv)
{
	const char *msg = ck_client_last_message(ctl->client);

	fprintf(stderr, PROG ": %s%s%s: %s", what, arg ? " " : "", arg ? arg : "", ck_strerror(rv));
	if (msg != NULL && msg[0] != '\0')
		fprintf(stderr, " (%s)", msg);
	fputc('\n', stderr);
	if (rv == CK_ETIMEDOUT)
		return EXIT_TIMEOUT;
	if (rv == CK_EBUSY)
		return EXIT_CONTESTED;
	return EXIT_ERR;
}

static bool
parse_u32(const char *s, uint32_t *out)
{
	char *end = NULL;
	unsigned long long v;

	if (s == NULL || s[0] < '0' || s[0] > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > UINT32_MAX)
		return false;
	*out = (uint32_t)v;
	return true;
}

static const char *
freshness_name(ck_freshness f)
{
	switch (f) {
	case CK_FRESHNESS_FRESH:
		return "fresh";
	case CK_FRESHNESS_STALE:
		return "stale";
	default:
		return "unknown";
	}
}

static char *
base64(const uint8_t *data, size_t len)
{
	static const char tbl[] =
	        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out = malloc((len + 2) / 3 * 4 + 1);
	size_t i, o = 0;

	if (out == NULL)
		return NULL;
	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8 | data[i + 2];
		out[o++] = tbl[v >> 18 & 63];
		out[o++] = tbl[v >> 12 & 63];
		out[o++] = tbl[v >> 6 & 63];
		out[o++] = tbl[v & 63];
	}
	if (i < len) {
		uint32_t v =
		        (uint32_t)data[i] << 16 | (i + 1 < len ? (uint32_t)data[i + 1] << 8 : 0);
		out[o++] = tbl[v >> 18 & 63];
		out[o++] = tbl[v >> 12 & 63];
		out[o++] = i + 1 < len ? tbl[v >> 6 & 63] : '=';
		out[o++] = '=';
	}
	out[o] = '\0';
	return out;
}

/* Prints a JSON document on one line and frees it. */
static int
print_json(json_t *doc)
{
	int rc = EXIT_OK;

	if (doc == NULL || json_dumpf(doc, stdout, JSON_COMPACT | JSON_REAL_PRECISION(15)) != 0) {
		fprintf(stderr, PROG ": cannot format JSON output\n");
		rc = EXIT_ERR;
	} else {
		fputc('\n', stdout);
	}
	json_decref(doc);
	return rc;
}

/* Reads all of stdin, refusing more than the stub's value cap. */
static int
read_stdin(uint8_t **out, size_t *len)
{
	size_t cap = 65536, n = 0;
	uint8_t *buf = malloc(cap);

	if (buf == NULL)
		return EXIT_ERR;
	for (;;) {
		size_t got;
		if (n == cap) {
			uint8_t *bigger;
			if (cap > CKI_STUB_MAX_VALUE) {
				free(buf);
				fprintf(stderr, PROG ": set: %s (stdin exceeds %zu bytes)\n",
				        ck_strerror(CK_ETOOBIG), CKI_STUB_MAX_VALUE);
				return EXIT_ERR;
			}
			cap *= 2;
			if ((bigger = realloc(buf, cap)) == NULL) {
				free(buf);
				return EXIT_ERR;
			}
			buf = bigger;
		}
		got = fread(buf + n, 1, cap - n, stdin);
		n += got;
		if (got == 0) {
			if (ferror(stdin)) {
				fprintf(stderr, PROG ": set: cannot read stdin: %s\n",
				        strerror(errno));
				free(buf);
				return EXIT_ERR;
			}
			break;
		}
	}
	*out = buf;
	*len = n;
	return EXIT_OK;
}

static ck_call_opts
call_opts(const struct ctl *ctl)
{
	ck_call_opts co = CK_CALL_OPTS_INIT;
	co.timeout_ms = ctl->timeout_ms;
	return co;
}

/* ---- commands --------------------------------------------------------------------------- */

static int
cmd_get(struct ctl *ctl, const char *key)
{
	ck_get_opts go = CK_GET_OPTS_INIT;
	ck_value *v = NULL;
	ck_err rv;
	int rc = EXIT_OK;

	go.call = call_opts(ctl);
	go.secure = ctl->secure;
	rv = ck_get(ctl->client, key, &go, &v);
	if (rv == CK_ENOTFOUND) {
		if (ctl->json)
			print_json(json_pack("{s:s, s:b}", "key", key, "found", 0));
		return EXIT_MISS;
	}
	if (rv != CK_OK)
		return fail(ctl, "get", key, rv);
	if (ctl->json) {
		json_t *doc = json_pack("{s:s, s:b, s:s, s:I, s:b}", "key", key, "found", 1,
		                        "freshness", freshness_name(v->freshness), "fresh_for_ms",
		                        (json_int_t)v->fresh_for_ms, "refresh_due", v->refresh_due);
		json_t *str = json_stringn((const char *)v->data, v->len);
		if (doc != NULL && str != NULL) {
			json_object_set_new(doc, "value", str);
			json_object_set_new(doc, "encoding", json_string("utf-8"));
		} else if (doc != NULL) {
			char *b64 = base64(v->data, v->len);
			json_object_set_new(doc, "value", b64 ? json_string(b64) : json_null());
			json_object_set_new(doc, "encoding", json_string("base64"));
			free(b64);
		}
		rc = print_json(doc);
	} else if (v->len > 0 && fwrite(v->data, 1, v->len, stdout) != v->len) {
		fprintf(stderr, PROG ": get %s: cannot write stdout\n", key);
		rc = EXIT_ERR;
	}
	ck_value_free(v);
	return rc;
}

static int
cmd_set(struct ctl *ctl, const char *key, const char *value)
{
	ck_set_opts so = CK_SET_OPTS_INIT;
	uint8_t *buf = NULL;
	size_t len = 0;
	ck_err rv;
	int rc;

	if (value == NULL || strcmp(value, "-") == 0) {
		if ((rc = read_stdin(&buf, &len)) != EXIT_OK)
			return rc;
	}
	so.call = call_opts(ctl);
	so.ttl_s = ctl->ttl_s;
	so.stale_ttl_s = ctl->stale_ttl_s;
	so.sliding = ctl->sliding;
	so.secure = ctl->secure;
	if (buf != NULL)
		rv = ck_set(ctl->client, key, buf, len, &so);
	else
		rv = ck_set(ctl->client, key, value, strlen(value), &so);
	free(buf);
	if (rv != CK_OK)
		return fail(ctl, "set", key, rv);
	if (ctl->json)
		return print_json(json_pack("{s:s, s:b}", "key", key, "stored", 1));
	return EXIT_OK;
}

static int
cmd_del(struct ctl *ctl, const char *key)
{
	ck_call_opts co = call_opts(ctl);
	bool existed = false;
	ck_err rv = ck_delete(ctl->client, key, &co, &existed);

	if (rv != CK_OK)
		return fail(ctl, "del", key, rv);
	if (ctl->json)
		print_json(json_pack("{s:s, s:b}", "key", key, "existed", existed));
	return existed ? EXIT_OK : EXIT_MISS;
}

static int
cmd_exists(struct ctl *ctl, const char *key)
{
	ck_call_opts co = call_opts(ctl);
	bool exists = false;
	ck_err rv = ck_exists(ctl->client, key, &co, &exists);

	if (rv != CK_OK)
		return fail(ctl, "exists", key, rv);
	if (ctl->json)
		print_json(json_pack("{s:s, s:b}", "key", key, "exists", exists));
	else
		printf("%s\n", exists ? "true" : "false");
	return exists ? EXIT_OK : EXIT_MISS;
}

static int
cmd_ttl(struct ctl *ctl, const char *key)
{
	ck_call_opts co = call_opts(ctl);
	int64_t ttl = 0;
	ck_err rv = ck_get_ttl(ctl->client, key, &co, &ttl);

	if (rv == CK_ENOTFOUND) {
		if (ctl->json)
			print_json(json_pack("{s:s, s:b}", "key", key, "found", 0));
		return EXIT_MISS;
	}
	if (rv != CK_OK)
		return fail(ctl, "ttl", key, rv);
	if (ctl->json)
		return print_json(json_pack("{s:s, s:b, s:I}", "key", key, "found", 1, "ttl_s",
		                            (json_int_t)ttl));
	printf("%lld\n", (long long)ttl);
	return EXIT_OK;
}

static int
cmd_touch(struct ctl *ctl, const char *key, const char *ttl_arg)
{
	ck_call_opts co = call_opts(ctl);
	bool refreshed = false;
	uint32_t ttl;
	ck_err rv;

	if (!parse_u32(ttl_arg, &ttl) || ttl == 0)
		return usage_error("touch: TTL must be a positive number of seconds, not '%s'",
		                   ttl_arg);
	rv = ck_refresh_ttl(ctl->client, key, ttl, &co, &refreshed);
	if (rv != CK_OK)
		return fail(ctl, "touch", key, rv);
	if (ctl->json)
		print_json(json_pack("{s:s, s:b}", "key", key, "refreshed", refreshed));
	return refreshed ? EXIT_OK : EXIT_MISS;
}

/* The client's default timeout as the library resolves it, to extend lock calls by --wait. */
static uint32_t
base_timeout(const struct ctl *ctl)
{
	const char *env = getenv("CACHEKIT_TIMEOUT");
	double s;

	if (ctl->timeout_ms != 0)
		return ctl->timeout_ms;
	if (env != NULL && (s = strtod(env, NULL)) > 0.0 && s < 86400.0)
		return (uint32_t)(s * 1000.0);
	return 5000;
}

static int
run_locked(char **argv)
{
	struct sigaction ign, old_int, old_quit;
	pid_t pid;
	int status = 0;

	/* Like system(): a terminal ^C goes to CMD; we stay alive to release the lock. */
	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	sigemptyset(&ign.sa_mask);
	sigaction(SIGINT, &ign, &old_int);
	sigaction(SIGQUIT, &ign, &old_quit);
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		sigaction(SIGINT, &old_int, NULL);
		sigaction(SIGQUIT, &old_quit, NULL);
		execvp(argv[0], argv);
		fprintf(stderr, PROG ": lock: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	if (pid < 0) {
		fprintf(stderr, PROG ": lock: fork: %s\n", strerror(errno));
		status = -1;
	} else {
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	}
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGQUIT, &old_quit, NULL);
	if (pid < 0)
		return EXIT_ERR;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return EXIT_ERR;
}

static int
cmd_lock(struct ctl *ctl, const char *name, char **cmd)
{
	ck_lock_opts lo = CK_LOCK_OPTS_INIT;
	ck_call_opts co = call_opts(ctl);
	ck_lock *lock = NULL;
	const uint8_t *h;
	size_t hlen, i;
	ck_err rv;
	int rc;

	lo.call = co;
	lo.lease_ms = ctl->lease_ms;
	lo.wait_ms = ctl->wait_ms;
	/* The agent may spend up to wait_ms retrying; give the call that much extra time. */
	if (ctl->wait_ms > 0) {
		uint64_t t = (uint64_t)base_timeout(ctl) + ctl->wait_ms;
		lo.call.timeout_ms = t > UINT32_MAX ? UINT32_MAX : (uint32_t)t;
	}
	rv = ck_lock_acquire(ctl->client, name, &lo, &lock);
	if (rv != CK_OK)
		return fail(ctl, "lock", name, rv);
	if (cmd == NULL || cmd[0] == NULL) {
		h = cki_lock_handle(lock, &hlen);
		if (ctl->json) {
			char *hex = malloc(hlen * 2 + 1);
			for (i = 0; hex != NULL && i < hlen; i++)
				snprintf(hex + i * 2, 3, "%02x", h[i]);
			rc = print_json(json_pack("{s:s, s:s?, s:I}", "name", name, "handle", hex,
			                          "lease_ms", (json_int_t)ck_lock_lease_ms(lock)));
			free(hex);
		} else {
			for (i = 0; i < hlen; i++)
				printf("%02x", h[i]);
			printf("\n");
			rc = EXIT_OK;
		}
		ck_lock_free(lock);
		return rc;
	}
	rc = run_locked(cmd);
	rv = ck_lock_release(ctl->client, lock, &co);
	if (rv != CK_OK)
		(void)fail(ctl, "unlock", name, rv); /* CMD's status still wins */
	return rc;
}

static int
cmd_unlock(struct ctl *ctl, const char *hex)
{
	ck_call_opts co = call_opts(ctl);
	size_t n = strlen(hex), i;
	uint8_t buf[CKI_STUB_MAX_HANDLE];
	ck_lock *lock = NULL;
	ck_err rv;

	if (n == 0 || n % 2 != 0 || n / 2 > sizeof(buf))
		return usage_error("unlock: '%s' is not a lock handle in hex", hex);
	for (i = 0; i < n / 2; i++) {
		unsigned int byte;
		if (sscanf(hex + 2 * i, "%2x", &byte) != 1 ||
		    !strchr("0123456789abcdefABCDEF", hex[2 * i]) ||
		    !strchr("0123456789abcdefABCDEF", hex[2 * i + 1]))
			return usage_error("unlock: '%s' is not a lock handle in hex", hex);
		buf[i] = (uint8_t)byte;
	}
	if ((rv = cki_lock_from_handle(buf, n / 2, &lock)) != CK_OK)
		return fail(ctl, "unlock", hex, rv);
	rv = ck_lock_release(ctl->client, lock, &co);
	if (rv != CK_OK)
		return fail(ctl, "unlock", hex, rv);
	return EXIT_OK;
}

/* Counters are integers: show them without a fraction or exponent while that is exact. */
static bool
is_exact_integer(double v)
{
	return v > -9007199254740992.0 && v < 9007199254740992.0 && v == (double)(long long)v;
}

static void
print_number(double v)
{
	if (is_exact_integer(v))
		printf("%lld", (long long)v);
	else
		printf("%.17g", v);
}

static int
cmd_health(struct ctl *ctl)
{
	ck_call_opts co = call_opts(ctl);
	ck_health *h = NULL;
	ck_err rv = ck_health_check(ctl->client, &co, &h);
	int rc;

	if (rv != CK_OK)
		return fail(ctl, "health", NULL, rv);
	rc = h->healthy ? EXIT_OK : EXIT_ERR;
	if (ctl->json) {
		int prc = print_json(
		        json_pack("{s:b, s:s, s:f, s:s, s:s, s:s, s:s, s:s}", "healthy", h->healthy,
		                  "backend_type", h->backend_type, "latency_ms", h->latency_ms,
		                  "api_url", h->api_url, "version", h->version, "error", h->error,
		                  "error_type", h->error_type, "agent_version", h->agent_version));
		if (prc != EXIT_OK)
			rc = prc;
	} else {
		printf("healthy: %s\nbackend_type: %s\nlatency_ms: %.3f\napi_url: %s\n"
		       "version: %s\nagent_version: %s\n",
		       h->healthy ? "true" : "false", h->backend_type, h->latency_ms, h->api_url,
		       h->version, h->agent_version);
		if (!h->healthy)
			printf("error: %s\nerror_type: %s\n", h->error, h->error_type);
	}
	ck_health_free(h);
	return rc;
}

static int
cmd_stats(struct ctl *ctl)
{
	ck_call_opts co = call_opts(ctl);
	ck_stats *s = NULL;
	ck_err rv = ck_stats_get(ctl->client, &co, &s);
	size_t i;

	if (rv != CK_OK)
		return fail(ctl, "stats", NULL, rv);
	if (ctl->json) {
		json_t *doc = json_object();
		for (i = 0; doc != NULL && i < s->count; i++) {
			double v = s->items[i].value;
			json_object_set_new(doc, s->items[i].name,
			                    is_exact_integer(v) ? json_integer((json_int_t)v)
			                                        : json_real(v));
		}
		ck_stats_free(s);
		return print_json(doc);
	}
	for (i = 0; i < s->count; i++) {
		/* Prometheus names: the agent's are already [a-z0-9_]; add the namespace. */
		printf("%s%s ", ctl->prometheus ? "cachekit_agent_" : "", s->items[i].name);
		print_number(s->items[i].value);
		printf("\n");
	}
	ck_stats_free(s);
	return EXIT_OK;
}

/* ---- main ------------------------------------------------------------------------------- */

enum {
	OPT_ENDPOINT = 256,
	OPT_TIMEOUT,
	OPT_NAMESPACE,
	OPT_JSON,
	OPT_SECURE,
	OPT_TTL,
	OPT_STALE_TTL,
	OPT_SLIDING,
	OPT_LEASE,
	OPT_WAIT,
	OPT_PROMETHEUS,
};

static const struct option long_opts[] = {
        {"endpoint", required_argument, NULL, OPT_ENDPOINT},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"namespace", required_argument, NULL, OPT_NAMESPACE},
        {"json", no_argument, NULL, OPT_JSON},
        {"secure", no_argument, NULL, OPT_SECURE},
        {"ttl", required_argument, NULL, OPT_TTL},
        {"stale-ttl", required_argument, NULL, OPT_STALE_TTL},
        {"sliding", no_argument, NULL, OPT_SLIDING},
        {"lease", required_argument, NULL, OPT_LEASE},
        {"wait", required_argument, NULL, OPT_WAIT},
        {"prometheus", no_argument, NULL, OPT_PROMETHEUS},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
};

/* Number of positional arguments each command takes (min, max), or -1 for unknown. */
static bool
command_arity(const char *cmd, int *min, int *max)
{
	static const struct {
		const char *name;
		int min, max;
	} table[] = {
	        {"get", 1, 1},    {"set", 1, 2},   {"del", 1, 1},  {"exists", 1, 1},
	        {"ttl", 1, 1},    {"touch", 2, 2}, {"lock", 1, 1}, {"unlock", 1, 1},
	        {"health", 0, 0}, {"stats", 0, 0}, {"help", 0, 0},
	};
	size_t i;

	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		if (strcmp(cmd, table[i].name) == 0) {
			*min = table[i].min;
			*max = table[i].max;
			return true;
		}
	}
	return false;
}

int
main(int argc, char **argv)
{
	ck_client_opts copts = CK_CLIENT_OPTS_INIT;
	struct ctl ctl;
	char **rest = NULL; /* arguments after "--" */
	int nopt = argc, nrest = 0, opt, npos, min, max, i, rc;
	const char *cmd;
	char **pos;
	ck_err rv;

	memset(&ctl, 0, sizeof(ctl));
	/* Options are parsed only before "--"; what follows is a VALUE or a CMD, untouched. */
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			nopt = i;
			rest = argv + i + 1;
			nrest = argc - i - 1;
			break;
		}
	}
	opterr = 0;
	while ((opt = getopt_long(nopt, argv, ":hV", long_opts, NULL)) != -1) {
		uint32_t *num = NULL;
		bool *flag = NULL;
		switch (opt) {
		case 'h':
			usage(stdout);
			return EXIT_OK;
		case 'V':
			printf(PROG " %s\n", CK_VERSION_STRING);
			return EXIT_OK;
		case OPT_ENDPOINT:
			copts.endpoint = optarg;
			break;
		case OPT_NAMESPACE:
			copts.ns = optarg;
			break;
		case OPT_JSON:
			ctl.json = true;
			break;
		case OPT_SECURE:
			ctl.secure = true;
			break;
		case OPT_SLIDING:
			ctl.sliding = true;
			break;
		case OPT_PROMETHEUS:
			ctl.prometheus = true;
			break;
		case OPT_TIMEOUT:
			num = &ctl.timeout_ms;
			break;
		case OPT_TTL:
			num = &ctl.ttl_s, flag = &ctl.have_ttl;
			break;
		case OPT_STALE_TTL:
			num = &ctl.stale_ttl_s, flag = &ctl.have_stale;
			break;
		case OPT_LEASE:
			num = &ctl.lease_ms, flag = &ctl.have_lease;
			break;
		case OPT_WAIT:
			num = &ctl.wait_ms, flag = &ctl.have_wait;
			break;
		case ':':
			return usage_error("option '%s' needs a value", argv[optind - 1]);
		default:
			return usage_error("unknown option '%s'", argv[optind - 1]);
		}
		if (num != NULL && !parse_u32(optarg, num))
			return usage_error("'%s' is not a number", optarg);
		if (flag != NULL)
			*flag = true;
	}
	pos = argv + optind;
	npos = nopt - optind;
	if (npos < 1)
		return usage_error("%s", "no command given");
	cmd = pos[0];
	if (!command_arity(cmd, &min, &max))
		return usage_error("unknown command '%s'", cmd);
	if (strcmp(cmd, "help") == 0) {
		usage(stdout);
		return EXIT_OK;
	}
	/* "set KEY -- VALUE" and "lock NAME -- CMD...": the part after "--" is an argument. */
	if (strcmp(cmd, "set") == 0 && nrest > 0 && npos == 2) {
		if (nrest != 1)
			return usage_error("%s", "set takes one VALUE");
		pos[npos++] = rest[0]; /* the slot of the "--" itself, right after them */
		nrest = 0;
	}
	if (npos - 1 < min || npos - 1 > max)
		return usage_error("wrong number of arguments for '%s'", cmd);
	if (nrest > 0 && strcmp(cmd, "lock") != 0)
		return usage_error("unexpected arguments after '--' for '%s'", cmd);
	if (strcmp(cmd, "lock") == 0 && rest != NULL && nrest == 0)
		return usage_error("%s", "lock: no command after '--'");
	if ((ctl.have_ttl || ctl.have_stale || ctl.sliding) && strcmp(cmd, "set") != 0)
		return usage_error("--ttl, --stale-ttl and --sliding apply to set, not '%s'", cmd);
	if ((ctl.have_lease || ctl.have_wait) && strcmp(cmd, "lock") != 0)
		return usage_error("--lease and --wait apply to lock, not '%s'", cmd);
	if (ctl.secure && strcmp(cmd, "get") != 0 && strcmp(cmd, "set") != 0)
		return usage_error("--secure applies to get and set, not '%s'", cmd);

	copts.timeout_ms = ctl.timeout_ms;
	if ((rv = ck_client_open(&ctl.client, &copts)) != CK_OK) {
		fprintf(stderr, PROG ": cannot open client: %s\n", ck_strerror(rv));
		return EXIT_ERR;
	}
	if (strcmp(cmd, "get") == 0)
		rc = cmd_get(&ctl, pos[1]);
	else if (strcmp(cmd, "set") == 0)
		rc = cmd_set(&ctl, pos[1], npos > 2 ? pos[2] : NULL);
	else if (strcmp(cmd, "del") == 0)
		rc = cmd_del(&ctl, pos[1]);
	else if (strcmp(cmd, "exists") == 0)
		rc = cmd_exists(&ctl, pos[1]);
	else if (strcmp(cmd, "ttl") == 0)
		rc = cmd_ttl(&ctl, pos[1]);
	else if (strcmp(cmd, "touch") == 0)
		rc = cmd_touch(&ctl, pos[1], pos[2]);
	else if (strcmp(cmd, "lock") == 0)
		rc = cmd_lock(&ctl, pos[1], rest);
	else if (strcmp(cmd, "unlock") == 0)
		rc = cmd_unlock(&ctl, pos[1]);
	else if (strcmp(cmd, "health") == 0)
		rc = cmd_health(&ctl);
	else
		rc = cmd_stats(&ctl);
	ck_client_close(ctl.client);
	if (fflush(stdout) != 0 && rc == EXIT_OK) {
		fprintf(stderr, PROG ": cannot write stdout: %s\n", strerror(errno));
		rc = EXIT_ERR;
	}
	return rc;
}
