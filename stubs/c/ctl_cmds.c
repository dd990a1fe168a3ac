/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The commands of cachekit-ctl: each makes its calls through libcachekit-stub, prints the
 * result as plain text or, with --json, as one line of JSON (values that are not UTF-8 as
 * base64), reports failures on stderr, and returns the command's exit code (ctl.h).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "cachekit/stub.h"
#include "ctl.h"
#include "stub_internal.h"

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

/* A get or ttl that found nothing: {"key": KEY, "found": false} with --json, then EXIT_MISS. */
static int
not_found(const struct ctl *ctl, const char *key)
{
	if (ctl->json)
		print_json(json_pack("{s:s, s:b}", "key", key, "found", 0));
	return EXIT_MISS;
}

/* The end of a command whose answer is one flag (del, exists, touch): a failure reported, else
 * {"key": KEY, "<name>": FLAG} with --json (without it, "true"/"false" if text), and EXIT_OK
 * when the flag is set, EXIT_MISS when not. */
static int
flag_result(const struct ctl *ctl, const char *what, const char *key, ck_err rv, const char *name,
            bool flag, bool text)
{
	if (rv != CK_OK)
		return fail(ctl, what, key, rv);
	if (ctl->json)
		print_json(json_pack("{s:s, s:b}", "key", key, name, flag));
	else if (text)
		printf("%s\n", flag ? "true" : "false");
	return flag ? EXIT_OK : EXIT_MISS;
}

/* ---- commands --------------------------------------------------------------------------- */

int
cki_ctl_cmd_get(struct ctl *ctl, const char *key)
{
	ck_get_opts go = CK_GET_OPTS_INIT;
	ck_value *v = NULL;
	ck_err rv;
	int rc = EXIT_OK;

	go.call = call_opts(ctl);
	go.secure = ctl->secure;
	rv = ck_get(ctl->client, key, &go, &v);
	if (rv == CK_ENOTFOUND)
		return not_found(ctl, key);
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

int
cki_ctl_cmd_set(struct ctl *ctl, const char *key, const char *value)
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

/* del and exists: one call on key whose answer is a flag, ended by flag_result(). */
static int
key_flag_cmd(const struct ctl *ctl, const char *what, const char *key,
             ck_err (*call)(ck_client *, const char *, const ck_call_opts *, bool *),
             const char *name, bool text)
{
	ck_call_opts co = call_opts(ctl);
	bool flag = false;
	ck_err rv = call(ctl->client, key, &co, &flag);

	return flag_result(ctl, what, key, rv, name, flag, text);
}

int
cki_ctl_cmd_del(struct ctl *ctl, const char *key)
{
	return key_flag_cmd(ctl, "del", key, ck_delete, "existed", false);
}

int
cki_ctl_cmd_exists(struct ctl *ctl, const char *key)
{
	return key_flag_cmd(ctl, "exists", key, ck_exists, "exists", true);
}

int
cki_ctl_cmd_ttl(struct ctl *ctl, const char *key)
{
	ck_call_opts co = call_opts(ctl);
	int64_t ttl = 0;
	ck_err rv = ck_get_ttl(ctl->client, key, &co, &ttl);

	if (rv == CK_ENOTFOUND)
		return not_found(ctl, key);
	if (rv != CK_OK)
		return fail(ctl, "ttl", key, rv);
	if (ctl->json)
		return print_json(json_pack("{s:s, s:b, s:I}", "key", key, "found", 1, "ttl_s",
		                            (json_int_t)ttl));
	printf("%lld\n", (long long)ttl);
	return EXIT_OK;
}

int
cki_ctl_cmd_touch(struct ctl *ctl, const char *key, const char *ttl_arg)
{
	ck_call_opts co = call_opts(ctl);
	bool refreshed = false;
	uint32_t ttl;
	ck_err rv;

	if (!cki_ctl_parse_u32(ttl_arg, &ttl) || ttl == 0)
		return cki_ctl_usage_error(
		        "touch: TTL must be a positive number of seconds, not '%s'", ttl_arg);
	rv = ck_refresh_ttl(ctl->client, key, ttl, &co, &refreshed);
	return flag_result(ctl, "touch", key, rv, "refreshed", refreshed, false);
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

/* Releases lock (freed either way); a refusal is reported as "unlock ARG" and is the exit
 * status. */
static int
release(const struct ctl *ctl, ck_lock *lock, const char *arg)
{
	ck_call_opts co = call_opts(ctl);
	ck_err rv = ck_lock_release(ctl->client, lock, &co);

	return rv == CK_OK ? EXIT_OK : fail(ctl, "unlock", arg, rv);
}

int
cki_ctl_cmd_lock(struct ctl *ctl, const char *name, char **cmd)
{
	ck_lock_opts lo = CK_LOCK_OPTS_INIT;
	ck_lock *lock = NULL;
	const uint8_t *h;
	size_t hlen, i;
	ck_err rv;
	int rc;

	lo.call = call_opts(ctl);
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
	(void)release(ctl, lock, name); /* CMD's status still wins */
	return rc;
}

/* A lock handle from its hex form into *out; EXIT_OK, or the exit status of the refusal. */
static int
handle_from_hex(const struct ctl *ctl, const char *what, const char *hex, ck_lock **out)
{
	size_t n = strlen(hex), i;
	uint8_t buf[CKI_STUB_MAX_HANDLE];
	ck_err rv;

	if (n == 0 || n % 2 != 0 || n / 2 > sizeof(buf))
		return cki_ctl_usage_error("%s: '%s' is not a lock handle in hex", what, hex);
	for (i = 0; i < n / 2; i++) {
		unsigned int byte;
		if (sscanf(hex + 2 * i, "%2x", &byte) != 1 ||
		    !strchr("0123456789abcdefABCDEF", hex[2 * i]) ||
		    !strchr("0123456789abcdefABCDEF", hex[2 * i + 1]))
			return cki_ctl_usage_error("%s: '%s' is not a lock handle in hex", what,
			                           hex);
		buf[i] = (uint8_t)byte;
	}
	if ((rv = cki_lock_from_handle(buf, n / 2, out)) != CK_OK)
		return fail(ctl, what, hex, rv);
	return EXIT_OK;
}

int
cki_ctl_cmd_unlock(struct ctl *ctl, const char *hex)
{
	ck_lock *lock = NULL;
	int rc = handle_from_hex(ctl, "unlock", hex, &lock);

	return rc == EXIT_OK ? release(ctl, lock, hex) : rc;
}

int
cki_ctl_cmd_renew(struct ctl *ctl, const char *hex)
{
	ck_call_opts co = call_opts(ctl);
	ck_lock *lock = NULL;
	int rc = handle_from_hex(ctl, "renew", hex, &lock);
	ck_err rv;

	if (rc != EXIT_OK)
		return rc;
	rv = ck_lock_renew(ctl->client, lock, ctl->lease_ms, &co);
	if (rv == CK_OK) {
		rc = ctl->json ? print_json(json_pack("{s:b, s:I}", "renewed", 1, "lease_ms",
		                                      (json_int_t)ck_lock_lease_ms(lock)))
		               : EXIT_OK;
	} else if (rv == CK_EBADHANDLE) {
		/* Not held any more: a miss, not a failure (as exists false). */
		(void)fail(ctl, "renew", hex, rv);
		rc = ctl->json ? print_json(json_pack("{s:b}", "renewed", 0)) : EXIT_OK;
		if (rc == EXIT_OK)
			rc = EXIT_MISS;
	} else {
		rc = fail(ctl, "renew", hex, rv);
	}
	ck_lock_free(lock);
	return rc;
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

int
cki_ctl_cmd_health(struct ctl *ctl)
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

int
cki_ctl_cmd_stats(struct ctl *ctl)
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
