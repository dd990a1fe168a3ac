/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The settings table and its three sources. Each row names a setting once: its INI key, its
 * CACHEKIT_* variable, its flag, its type, its default and its help line; --help, the INI
 * parser, the environment reader and --check-config all walk this one table.
 */
#include "config/config.h"

#include <errno.h>
#include <getopt.h>
#include <ini.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cachekit/version.h"

typedef enum opt_type { T_STR, T_BOOL, T_U32, T_U64, T_SECONDS_MS, T_OCTAL } opt_type;

typedef struct opt_row {
	const char *name; /* INI key and --flag */
	const char *env;  /* CACHEKIT_* variable, or NULL */
	opt_type type;
	size_t offset;
	const char *def; /* default as text, or NULL */
	uint64_t max;    /* for integers: inclusive upper bound (0 = none) */
	const char *help;
} opt_row;

#define OFF(f) offsetof(cki_config, f)

static const opt_row rows[] = {
        {"endpoint", "CACHEKIT_AGENT_ENDPOINT", T_STR, OFF(endpoint), NULL, 0,
         "ZeroMQ endpoint to serve (default ipc:///run/cachekit/agent.sock, or "
         "ipc://$XDG_RUNTIME_DIR/cachekit/agent.sock for non-root)"},
        {"upstream", "CACHEKIT_API_URL", T_STR, OFF(upstream), "memory:", 0,
         "where values live: memory: (embedded store), the https:// API URL, or "
         "redis://, redis+unix://, redis+cluster:// (also CACHEKIT_REDIS_URL, REDIS_URL)"},
        {"log-level", "CACHEKIT_LOG_LEVEL", T_STR, OFF(log_level), "info", 0,
         "error | warn | info | debug"},
        {"syslog", "CACHEKIT_SYSLOG", T_BOOL, OFF(log_syslog), "false", 0, "also log to syslog"},
        {"timeout", "CACHEKIT_TIMEOUT", T_SECONDS_MS, OFF(timeout_ms), "5", 600000,
         "default request deadline and upstream timeout, seconds"},
        {"max-deadline", "CACHEKIT_MAX_DEADLINE", T_SECONDS_MS, OFF(max_deadline_ms), "60", 3600000,
         "longest deadline a client may ask for, seconds"},
        {"max-inflight", "CACHEKIT_MAX_INFLIGHT", T_U32, OFF(max_inflight), "65536", 10000000,
         "requests in progress at once; more are refused with CK_EOVERLOAD"},
        {"max-inflight-bytes", "CACHEKIT_MAX_INFLIGHT_BYTES", T_U64, OFF(max_inflight_bytes),
         "1073741824", 0, "value bytes of Sets in progress at once; more are refused the same way"},
        {"max-peer-queued-bytes", "CACHEKIT_MAX_PEER_QUEUED_BYTES", T_U64,
         OFF(max_peer_queued_bytes), "67108864", 0,
         "unread reply bytes per client before its requests get CK_EOVERLOAD; 1 MiB past "
         "it they are dropped until it reads (docs/security.md)"},
        {"max-value-size", "CACHEKIT_MAX_VALUE_SIZE", T_U64, OFF(max_value_bytes), "25000000",
         512ull << 20, "largest value accepted, bytes"},
        {"memory-limit", "CACHEKIT_MEMORY_LIMIT", T_U64, OFF(memory_limit_bytes), "268435456", 0,
         "embedded store capacity in bytes (least recently used entries are evicted)"},
        {"socket-mode", "CACHEKIT_SOCKET_MODE", T_OCTAL, OFF(socket_mode), "0660", 0777,
         "permissions of the ipc socket"},
        {"socket-group", "CACHEKIT_SOCKET_GROUP", T_STR, OFF(socket_group), NULL, 0,
         "group that may reach the socket (owns the socket directory)"},
        {"allow-uids", "CACHEKIT_ALLOW_UIDS", T_STR, OFF(allow_uids), NULL, 0,
         "comma list of uids allowed to use the agent (default: any that can reach the socket)"},
        {"allow-gids", "CACHEKIT_ALLOW_GIDS", T_STR, OFF(allow_gids), NULL, 0,
         "comma list of gids allowed to use the agent"},
        {"pool-size", "CACHEKIT_CONNECTION_POOL_SIZE", T_U32, OFF(pool_size), "10", 1000,
         "most HTTP/2 connections to the API"},
        {"allow-custom-host", "CACHEKIT_ALLOW_CUSTOM_HOST", T_BOOL, OFF(allow_custom_host), "false",
         0, "allow an API host outside the built-in list"},
        {"ca-file", "CACHEKIT_CA_FILE", T_STR, OFF(ca_file), NULL, 0,
         "extra CA certificate file to trust (tests)"},
        {"resolve", "CACHEKIT_RESOLVE", T_STR, OFF(resolve), NULL, 0,
         "pin host:port:address like curl --resolve (tests)"},
        {"max-attempts", "CACHEKIT_MAX_ATTEMPTS", T_U32, OFF(max_attempts), "3", 3,
         "attempts per upstream request, first included (1-3)"},
        {"breaker-failures", "CACHEKIT_BREAKER_FAILURES", T_U32, OFF(breaker_failures), "5", 0,
         "consecutive upstream failures that open the circuit breaker"},
        {"breaker-open", "CACHEKIT_BREAKER_OPEN", T_SECONDS_MS, OFF(breaker_open_ms), "5", 3600000,
         "seconds the breaker stays open before a probe"},
        {"tenant-id", "CACHEKIT_DEPLOYMENT_UUID", T_STR, OFF(tenant_id), "default", 0,
         "tenant id bound into encryption keys and AAD"},
        {"encryption-fail-closed", "CACHEKIT_ENCRYPTION_FAIL_CLOSED", T_BOOL,
         OFF(encryption_fail_closed), "false", 0,
         "a value that fails to decrypt is an error instead of a miss"},
        {"secure-namespaces", "CACHEKIT_SECURE_NAMESPACES", T_STR, OFF(secure_namespaces), NULL, 0,
         "comma list of namespaces that require secure (encrypted) access"},
        {"envelope-namespaces", "CACHEKIT_ENVELOPE_NAMESPACES", T_STR, OFF(envelope_namespaces),
         NULL, 0, "comma list of namespaces whose sealed values are LZ4 envelopes"},
        {"l1-size", "CACHEKIT_L1_SIZE", T_U64, OFF(l1_bytes), "0", 0,
         "bytes of the shared near cache (0 = off)"},
        {"l1-ttl", "CACHEKIT_L1_TTL", T_SECONDS_MS, OFF(l1_ttl_ms), "5", 3600000,
         "longest life of a near-cache copy, seconds (also bounded by the API's Fresh-For)"},
        {"stale-if-error-size", "CACHEKIT_STALE_IF_ERROR_SIZE", T_U64, OFF(stale_if_error_bytes),
         "16777216", 0,
         "bytes of last-known values kept to answer a Get, marked stale, when the upstream fails "
         "(timeout, 5xx, breaker open) while the entry is within its stale window (0 = off)"},
        {"refresh-ahead", "CACHEKIT_REFRESH_AHEAD", T_U32, OFF(refresh_ahead_pct), "50", 100,
         "percent of the fresh window after which one reader is told to refresh"},
        {"refresh-claim", "CACHEKIT_REFRESH_CLAIM", T_SECONDS_MS, OFF(refresh_claim_ms), "10",
         3600000, "seconds one reader's refresh-due claim holds before another reader gets it"},
        /* No environment variable: the protocol reserves CACHEKIT_DEFAULT_TTL and forbids a
         * process-wide override in SDKs; this is the operator's preset, in the file or a flag. */
        {"default-ttl", NULL, T_U32, OFF(default_ttl_s), "3600", 2592000,
         "seconds of freshness for a Set that names no TTL (0 = such entries never expire)"},
        {"sliding-namespaces", "CACHEKIT_SLIDING_NAMESPACES", T_STR, OFF(sliding_namespaces), NULL,
         0, "comma list of namespaces whose reads extend the TTL"},
        {"stale-if-error-off-namespaces", "CACHEKIT_STALE_IF_ERROR_OFF_NAMESPACES", T_STR,
         OFF(stale_if_error_off_ns), NULL, 0,
         "comma list of namespaces whose failed Gets get the error, never a stale copy"},
        {"metrics-listen", "CACHEKIT_METRICS_LISTEN", T_STR, OFF(metrics_listen), NULL, 0,
         "serve GET /metrics (Prometheus text) on HOST:PORT, e.g. 127.0.0.1:9464 (default: "
         "off; host 127.0.0.1 when only a port is given)"},
        {"log-format", "CACHEKIT_LOG_FORMAT", T_STR, OFF(log_format), "text", 0,
         "text | json (one object per line); text under systemd's journal carries priorities"},
};

#define NROWS (sizeof(rows) / sizeof(rows[0]))

static const opt_row *
find_row(const char *name)
{
	for (size_t i = 0; i < NROWS; i++)
		if (strcmp(rows[i].name, name) == 0)
			return &rows[i];
	/* INI files may spell keys with underscores. */
	char alt[64];
	size_t n = strlen(name);
	if (n >= sizeof(alt))
		return NULL;
	for (size_t i = 0; i <= n; i++)
		alt[i] = name[i] == '_' ? '-' : name[i];
	for (size_t i = 0; i < NROWS; i++)
		if (strcmp(rows[i].name, alt) == 0)
			return &rows[i];
	return NULL;
}

static bool
parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"1", "true", "yes", "on"};
	static const char *const no[] = {"0", "false", "no", "off"};
	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}

static bool
parse_u64(const char *s, int base, uint64_t max, uint64_t *out)
{
	char *end;
	if (*s < '0' || *s > '9') /* strtoull would skip spaces and accept a sign */
		return false;
	errno = 0;
	unsigned long long v = strtoull(s, &end, base);
	if (errno != 0 || *end != '\0' || (max && v > max))
		return false;
	*out = v;
	return true;
}

/* Seconds, possibly fractional ("0.5"), as in CACHEKIT_TIMEOUT; must be > 0. */
static bool
parse_seconds_ms(const char *s, uint64_t max_ms, uint32_t *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v <= 0)
		return false;
	double ms = ceil(v * 1000.0);
	if (ms > (double)max_ms)
		return false;
	*out = (uint32_t)ms;
	return true;
}

static ck_err
set_value(cki_config *cfg, const opt_row *row, const char *value, const char *source, FILE *err)
{
	void *field = (char *)cfg + row->offset;
	uint64_t u;
	switch (row->type) {
	case T_STR: {
		char *copy = strdup(value);
		if (copy == NULL)
			return CK_ENOMEM;
		free(*(char **)field);
		*(char **)field = copy;
		return CK_OK;
	}
	case T_BOOL:
		if (parse_bool(value, (bool *)field))
			return CK_OK;
		fprintf(err, "cachekit-agent: %s: %s must be true or false, not \"%s\"\n", source,
		        row->name, value);
		return CK_ECONFIG;
	case T_U32:
		if (parse_u64(value, 10, row->max ? row->max : UINT32_MAX, &u)) {
			*(uint32_t *)field = (uint32_t)u;
			return CK_OK;
		}
		break;
	case T_U64:
		if (parse_u64(value, 10, row->max, &u)) {
			*(uint64_t *)field = u;
			return CK_OK;
		}
		break;
	case T_OCTAL:
		if (parse_u64(value, 8, row->max, &u)) {
			*(uint32_t *)field = (uint32_t)u;
			return CK_OK;
		}
		break;
	case T_SECONDS_MS:
		if (parse_seconds_ms(value, row->max, (uint32_t *)field))
			return CK_OK;
		fprintf(err,
		        "cachekit-agent: %s: %s must be a positive number of seconds, not \"%s\"\n",
		        source, row->name, value);
		return CK_ECONFIG;
	}
	if (row->max)
		fprintf(err,
		        "cachekit-agent: %s: %s must be a whole number from 0 to %llu, not "
		        "\"%s\"\n",
		        source, row->name, (unsigned long long)row->max, value);
	else
		fprintf(err, "cachekit-agent: %s: %s must be a whole number, not \"%s\"\n", source,
		        row->name, value);
	return CK_ECONFIG;
}

static char *
default_endpoint(void)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	char buf[4096];
	if (geteuid() != 0 && xdg != NULL && xdg[0] == '/')
		snprintf(buf, sizeof(buf), "ipc://%s/cachekit/agent.sock", xdg);
	else
		snprintf(buf, sizeof(buf), "ipc:///run/cachekit/agent.sock");
	return strdup(buf);
}

ck_err
cki_config_defaults(cki_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < NROWS; i++) {
		if (rows[i].def == NULL)
			continue;
		if (set_value(cfg, &rows[i], rows[i].def, "default", stderr) != CK_OK)
			return CK_EINTERNAL;
	}
	cfg->endpoint = default_endpoint();
	return cfg->endpoint ? CK_OK : CK_ENOMEM;
}

typedef struct ini_ctx {
	cki_config *cfg;
	FILE *err;
	const char *path;
	ck_err rv;
} ini_ctx;

static int
on_ini(void *user, const char *section, const char *name, const char *value)
{
	ini_ctx *ctx = user;
	char where[4200];
	snprintf(where, sizeof(where), "%s [%s]", ctx->path, section);
	if (strncmp(section, "access.", 7) == 0 || strcmp(section, "access") == 0) {
		ck_err rv = cki_access_add(&ctx->cfg->policy.access, section[6] ? section + 7 : "",
		                           name, value, where, ctx->err);
		if (rv != CK_OK)
			ctx->rv = rv == CK_ENOMEM ? CK_ENOMEM : CK_ECONFIG;
		return 1;
	}
	const opt_row *row = find_row(name);
	if (row == NULL) {
		fprintf(ctx->err, "cachekit-agent: %s: unknown setting \"%s\"\n", where, name);
		ctx->rv = CK_ECONFIG;
		return 1; /* keep going: report every problem at once */
	}
	if (set_value(ctx->cfg, row, value, where, ctx->err) != CK_OK)
		ctx->rv = CK_ECONFIG;
	return 1;
}

static ck_err
load_file(cki_config *cfg, const char *path, FILE *err)
{
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		fprintf(err, "cachekit-agent: cannot open config file %s: %s\n", path,
		        strerror(errno));
		return CK_ECONFIG;
	}
	ini_ctx ctx = {cfg, err, path, CK_OK};
	int line = ini_parse_file(f, on_ini, &ctx);
	fclose(f);
	if (line > 0) {
		fprintf(err, "cachekit-agent: %s:%d: syntax error\n", path, line);
		return CK_ECONFIG;
	}
	return ctx.rv;
}

static void
print_help(FILE *out)
{
	fprintf(out,
	        "Usage: cachekit-agent [OPTIONS]\n"
	        "\n"
	        "The cachekit agent: one process per host that holds the cachekit.io API key, the\n"
	        "encryption keys and one shared HTTP/2 connection pool, and serves cache requests\n"
	        "from local processes over a ZeroMQ ipc:// socket.\n"
	        "\n"
	        "Options (each also settable in the config file as NAME = VALUE, and by the\n"
	        "environment variable shown; flags win over the environment, which wins over the "
	        "file):\n"
	        "  --config FILE            INI config file (env CACHEKIT_AGENT_CONFIG)\n");
	for (size_t i = 0; i < NROWS; i++) {
		char flag[80];
		snprintf(flag, sizeof(flag), "--%s %s", rows[i].name,
		         rows[i].type == T_BOOL ? "BOOL" : "VALUE");
		fprintf(out, "  %-24s %s\n", flag, rows[i].help);
		fprintf(out, "  %-24s [env %s%s%s]\n", "", rows[i].env ? rows[i].env : "-",
		        rows[i].def ? ", default " : "", rows[i].def ? rows[i].def : "");
	}
	fprintf(out,
	        "  --check-config           validate settings and secrets, print them, and exit\n"
	        "  --probe                  with --check-config: also call the upstream's health\n"
	        "                           route with the API key, and fail if it is refused\n"
	        "  --help                   this text\n"
	        "  --version                version\n"
	        "\n"
	        "Secrets are never flags or config-file values. They come from the environment\n"
	        "(CACHEKIT_API_KEY, CACHEKIT_MASTER_KEY, CACHEKIT_PREVIOUS_MASTER_KEYS,\n"
	        "CACHEKIT_REDIS_PASSWORD), from "
	        "files\n"
	        "named by the same variables with a _FILE suffix (refused if group/world "
	        "readable),\n"
	        "or from systemd credentials ($CREDENTIALS_DIRECTORY/cachekit_api_key, ...).\n"
	        "\n"
	        "Exit status: 0 after a clean shutdown (SIGTERM/SIGINT), 1 on a runtime failure,\n"
	        "2 on bad configuration, 3 when another agent already serves the endpoint.\n");
}

ck_err
cki_config_load(cki_config *cfg, int argc, char **argv, FILE *out, FILE *err, bool *exit_now)
{
	*exit_now = false;
	/* Pass 1: --config, --help, --version (the file must load before env and flags). */
	const char *file = getenv("CACHEKIT_AGENT_CONFIG");
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			print_help(out);
			*exit_now = true;
			return CK_OK;
		}
		if (strcmp(argv[i], "--version") == 0) {
			fprintf(out, "cachekit-agent %s\n", CK_VERSION_STRING);
			*exit_now = true;
			return CK_OK;
		}
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			file = argv[++i];
		else if (strncmp(argv[i], "--config=", 9) == 0)
			file = argv[i] + 9;
	}
	if (file != NULL && file[0] != '\0') {
		free(cfg->config_file);
		cfg->config_file = strdup(file);
		ck_err rv = load_file(cfg, file, err);
		if (rv != CK_OK)
			return rv;
	}
	/* Environment. As cachekit-py, CACHEKIT_REDIS_URL, else REDIS_URL, selects a Redis
	 * upstream; CACHEKIT_API_URL, read in the loop below, wins over both. */
	static const char *const redis_vars[] = {"CACHEKIT_REDIS_URL", "REDIS_URL"};
	for (size_t i = 0; i < 2; i++) {
		const char *redis_url = getenv(redis_vars[i]);
		if (redis_url == NULL || redis_url[0] == '\0')
			continue;
		if (set_value(cfg, find_row("upstream"), redis_url, redis_vars[i], err) != CK_OK)
			return CK_ECONFIG;
		break;
	}
	for (size_t i = 0; i < NROWS; i++) {
		const char *v = rows[i].env ? getenv(rows[i].env) : NULL;
		if (v == NULL || v[0] == '\0')
			continue;
		if (set_value(cfg, &rows[i], v, rows[i].env, err) != CK_OK)
			return CK_ECONFIG;
	}
	/* Flags: --name VALUE or --name=VALUE; booleans may stand alone. */
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		if (strcmp(arg, "--config") == 0) {
			i++;
			continue;
		}
		if (strncmp(arg, "--config=", 9) == 0)
			continue;
		if (strcmp(arg, "--check-config") == 0) {
			cfg->check_only = true;
			continue;
		}
		if (strcmp(arg, "--probe") == 0) {
			cfg->probe = true;
			continue;
		}
		if (strncmp(arg, "--", 2) != 0) {
			fprintf(err, "cachekit-agent: unexpected argument \"%s\" (try --help)\n",
			        arg);
			return CK_ECONFIG;
		}
		char name[64];
		const char *eq = strchr(arg + 2, '=');
		size_t nlen = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
		if (nlen >= sizeof(name)) {
			fprintf(err, "cachekit-agent: unknown option \"%s\" (try --help)\n", arg);
			return CK_ECONFIG;
		}
		memcpy(name, arg + 2, nlen);
		name[nlen] = '\0';
		const opt_row *row = find_row(name);
		if (row == NULL) {
			fprintf(err, "cachekit-agent: unknown option \"%s\" (try --help)\n", arg);
			return CK_ECONFIG;
		}
		const char *value = eq ? eq + 1 : NULL;
		if (value == NULL) {
			if (row->type == T_BOOL &&
			    (i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0))
				value = "true";
			else if (i + 1 < argc)
				value = argv[++i];
			else {
				fprintf(err, "cachekit-agent: option --%s needs a value\n",
				        row->name);
				return CK_ECONFIG;
			}
		}
		char source[80];
		snprintf(source, sizeof(source), "--%s", row->name);
		if (set_value(cfg, row, value, source, err) != CK_OK)
			return CK_ECONFIG;
	}
	return cki_config_policy(cfg, err);
}

ck_err
cki_config_policy(cki_config *cfg, FILE *err)
{
	cki_policy *p = &cfg->policy;
	cki_id_set_free(&p->allow_uids);
	cki_id_set_free(&p->allow_gids);
	cki_ns_set_free(&p->secure_ns);
	cki_ns_set_free(&p->envelope_ns);
	cki_ns_set_free(&p->sliding_ns);
	cki_ns_set_free(&p->stale_off_ns);
	ck_err rv = cki_id_set_parse(&p->allow_uids, cfg->allow_uids, "allow-uids", false, err);
	if (rv == CK_OK)
		rv = cki_id_set_parse(&p->allow_gids, cfg->allow_gids, "allow-gids", true, err);
	if (rv == CK_OK)
		rv = cki_ns_set_parse(&p->secure_ns, cfg->secure_namespaces, "secure-namespaces",
		                      err);
	if (rv == CK_OK)
		rv = cki_ns_set_parse(&p->envelope_ns, cfg->envelope_namespaces,
		                      "envelope-namespaces", err);
	if (rv == CK_OK)
		rv = cki_ns_set_parse(&p->sliding_ns, cfg->sliding_namespaces, "sliding-namespaces",
		                      err);
	if (rv == CK_OK)
		rv = cki_ns_set_parse(&p->stale_off_ns, cfg->stale_if_error_off_ns,
		                      "stale-if-error-off-namespaces", err);
	if (rv == CK_OK)
		rv = cki_access_validate(p->access, err);
	return rv == CK_ENOMEM ? CK_ENOMEM : rv == CK_OK ? CK_OK : CK_ECONFIG;
}

ck_err
cki_config_validate(const cki_config *cfg, FILE *err)
{
	ck_err rv = CK_OK;
	if (cfg->endpoint == NULL || strncmp(cfg->endpoint, "ipc://", 6) != 0 ||
	    strlen(cfg->endpoint) < 8) {
		fprintf(err, "cachekit-agent: endpoint must be an ipc:// path, not \"%s\"\n",
		        cfg->endpoint ? cfg->endpoint : "");
		rv = CK_ECONFIG;
	} else if (strlen(cfg->endpoint) - 6 >= 108) { /* sun_path: 107 + NUL */
		fprintf(err,
		        "cachekit-agent: endpoint path is too long for a unix socket (max 107)\n");
		rv = CK_ECONFIG;
	}
	if (strcmp(cfg->upstream, "memory:") != 0 && strncmp(cfg->upstream, "https://", 8) != 0 &&
	    strncmp(cfg->upstream, "redis://", 8) != 0 &&
	    strncmp(cfg->upstream, "redis+unix://", 13) != 0 &&
	    strncmp(cfg->upstream, "redis+cluster://", 16) != 0) {
		fprintf(err, "cachekit-agent: upstream must be memory: or an https:// URL "
		             "(or redis://, redis+unix://, redis+cluster://)\n");
		rv = CK_ECONFIG;
	}
	if (cfg->max_attempts < 1) {
		fprintf(err, "cachekit-agent: max-attempts must be 1, 2 or 3\n");
		rv = CK_ECONFIG;
	}
	if (cfg->pool_size < 1) {
		fprintf(err, "cachekit-agent: pool-size must be at least 1\n");
		rv = CK_ECONFIG;
	}
	if (cfg->memory_limit_bytes < (1u << 20)) {
		fprintf(err, "cachekit-agent: memory-limit must be at least 1048576 bytes\n");
		rv = CK_ECONFIG;
	}
	if (cfg->max_value_bytes < 1) {
		fprintf(err, "cachekit-agent: max-value-size must be at least 1\n");
		rv = CK_ECONFIG;
	}
	if (cfg->max_peer_queued_bytes < 65536) {
		fprintf(err, "cachekit-agent: max-peer-queued-bytes must be at least 65536\n");
		rv = CK_ECONFIG;
	}
	if (strcmp(cfg->log_format, "text") != 0 && strcmp(cfg->log_format, "json") != 0) {
		fprintf(err, "cachekit-agent: log-format must be text or json\n");
		rv = CK_ECONFIG;
	}
	const char *level = cfg->log_level;
	static const char *const levels[] = {"error", "warn", "warning", "info", "debug"};
	bool ok = false;
	for (size_t i = 0; i < 5; i++)
		ok = ok || strcmp(level, levels[i]) == 0;
	if (!ok) {
		fprintf(err, "cachekit-agent: log-level must be error, warn, info or debug\n");
		rv = CK_ECONFIG;
	}
	return rv;
}

void
cki_config_dump(const cki_config *cfg, FILE *out)
{
	fprintf(out, "config-file = %s\n", cfg->config_file ? cfg->config_file : "(none)");
	for (size_t i = 0; i < NROWS; i++) {
		const void *field = (const char *)cfg + rows[i].offset;
		switch (rows[i].type) {
		case T_STR: {
			const char *s = *(char *const *)field;
			fprintf(out, "%s = %s\n", rows[i].name, s ? s : "");
			break;
		}
		case T_BOOL:
			fprintf(out, "%s = %s\n", rows[i].name,
			        *(const bool *)field ? "true" : "false");
			break;
		case T_U32:
			fprintf(out, "%s = %u\n", rows[i].name, *(const uint32_t *)field);
			break;
		case T_OCTAL:
			fprintf(out, "%s = %04o\n", rows[i].name, *(const uint32_t *)field);
			break;
		case T_U64:
			fprintf(out, "%s = %llu\n", rows[i].name,
			        (unsigned long long)*(const uint64_t *)field);
			break;
		case T_SECONDS_MS:
			fprintf(out, "%s = %.3f\n", rows[i].name,
			        *(const uint32_t *)field / 1000.0);
			break;
		}
	}
	const cki_access *a = cfg->policy.access;
	for (size_t i = 0; a != NULL && i < a->n; i++) {
		const cki_access_rule *r = &a->rules[i];
		char rights[64];
		fprintf(out, "[access.%s] uids=%zu gids=%zu namespaces=", r->name, r->uids.n,
		        r->gids.n);
		for (size_t j = 0; j < r->namespaces.n; j++)
			fprintf(out, "%s%s", j ? "," : "", r->namespaces.patterns[j]);
		fprintf(out, " allow=%s\n", cki_rights_name(r->rights, rights, sizeof(rights)));
	}
	if (a == NULL || a->n == 0)
		fprintf(out, "access = (no rules: every allowed peer may do everything)\n");
}

void
cki_config_free(cki_config *cfg)
{
	if (cfg == NULL)
		return;
	free(cfg->config_file);
	for (size_t i = 0; i < NROWS; i++)
		if (rows[i].type == T_STR) {
			char **field = (char **)((char *)cfg + rows[i].offset);
			free(*field);
			*field = NULL;
		}
	cfg->config_file = NULL;
	cki_policy_free(&cfg->policy);
}

static size_t
setting_size(opt_type type)
{
	switch (type) {
	case T_STR:
		return sizeof(char *);
	case T_BOOL:
		return sizeof(bool);
	case T_U64:
		return sizeof(uint64_t);
	case T_U32:
	case T_SECONDS_MS:
	case T_OCTAL:
		break;
	}
	return sizeof(uint32_t);
}

void
cki_config_each_change(const cki_config *a, const cki_config *b,
                       void (*changed)(void *arg, const char *name), void *arg)
{
	for (size_t i = 0; i < NROWS; i++) {
		const char *fa = (const char *)a + rows[i].offset;
		const char *fb = (const char *)b + rows[i].offset;
		bool same;
		if (rows[i].type == T_STR) {
			const char *sa = *(char *const *)fa, *sb = *(char *const *)fb;
			same = (sa == NULL && sb == NULL) ||
			       (sa != NULL && sb != NULL && strcmp(sa, sb) == 0);
		} else {
			same = memcmp(fa, fb, setting_size(rows[i].type)) == 0;
		}
		if (!same)
			changed(arg, rows[i].name);
	}
}

ck_err
cki_config_copy_setting(cki_config *dst, const cki_config *src, const char *name)
{
	const opt_row *row = find_row(name);
	if (row == NULL)
		return CK_EINVAL;
	char *fd = (char *)dst + row->offset;
	const char *fs = (const char *)src + row->offset;
	if (row->type == T_STR) {
		const char *s = *(char *const *)fs;
		char *copy = s ? strdup(s) : NULL;
		if (s != NULL && copy == NULL)
			return CK_ENOMEM;
		free(*(char **)fd);
		*(char **)fd = copy;
		return CK_OK;
	}
	memcpy(fd, fs, setting_size(row->type));
	return CK_OK;
}

bool
cki_list_contains(const char *list, const char *name)
{
	if (list == NULL || name == NULL)
		return false;
	size_t n = strlen(name);
	const char *p = list;
	while (*p) {
		while (*p == ' ' || *p == ',')
			p++;
		const char *end = p;
		while (*end && *end != ',')
			end++;
		const char *tail = end;
		while (tail > p && tail[-1] == ' ')
			tail--;
		if ((size_t)(tail - p) == n && memcmp(p, name, n) == 0)
			return true;
		p = end;
	}
	return false;
}
