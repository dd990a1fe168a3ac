/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The settings table. Each row names a setting once: its INI key, its CACHEKIT_* variable, its
 * flag, its type, its default and its help line; --help, the INI parser, the environment
 * reader and --check-config all walk this one table. Also the typed access to a cki_config
 * through it: parsing a value, defaults, the --check-config dump, freeing, and the per-setting
 * compare and copy a reload uses.
 */
#include "config/config_internal.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define OFF(f) offsetof(cki_config, f)

const opt_row cki_config_rows[] = {
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

const size_t cki_config_nrows = sizeof(cki_config_rows) / sizeof(cki_config_rows[0]);

const opt_row *
cki_config_find_row(const char *name)
{
	for (size_t i = 0; i < cki_config_nrows; i++)
		if (strcmp(cki_config_rows[i].name, name) == 0)
			return &cki_config_rows[i];
	/* INI files may spell keys with underscores. */
	char alt[64];
	size_t n = strlen(name);
	if (n >= sizeof(alt))
		return NULL;
	for (size_t i = 0; i <= n; i++)
		alt[i] = name[i] == '_' ? '-' : name[i];
	for (size_t i = 0; i < cki_config_nrows; i++)
		if (strcmp(cki_config_rows[i].name, alt) == 0)
			return &cki_config_rows[i];
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

ck_err
cki_config_set_value(cki_config *cfg, const opt_row *row, const char *value, const char *source,
                     FILE *err)
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
	case T_OCTAL: /* the same 32-bit field, written in base 8 */
		if (parse_u64(value, row->type == T_OCTAL ? 8 : 10,
		              row->max ? row->max : UINT32_MAX, &u)) {
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
	for (size_t i = 0; i < cki_config_nrows; i++) {
		if (cki_config_rows[i].def == NULL)
			continue;
		if (cki_config_set_value(cfg, &cki_config_rows[i], cki_config_rows[i].def,
		                         "default", stderr) != CK_OK)
			return CK_EINTERNAL;
	}
	cfg->endpoint = default_endpoint();
	return cfg->endpoint ? CK_OK : CK_ENOMEM;
}

void
cki_config_dump(const cki_config *cfg, FILE *out)
{
	fprintf(out, "config-file = %s\n", cfg->config_file ? cfg->config_file : "(none)");
	for (size_t i = 0; i < cki_config_nrows; i++) {
		const opt_row *row = &cki_config_rows[i];
		const void *field = (const char *)cfg + row->offset;
		/* Each type only says how its value reads; the line around it is the same. */
		char num[32] = "";
		const char *text = num;
		switch (row->type) {
		case T_STR:
			text = *(char *const *)field ? *(char *const *)field : "";
			break;
		case T_BOOL:
			text = *(const bool *)field ? "true" : "false";
			break;
		case T_U32:
			snprintf(num, sizeof(num), "%u", *(const uint32_t *)field);
			break;
		case T_OCTAL:
			snprintf(num, sizeof(num), "%04o", *(const uint32_t *)field);
			break;
		case T_U64:
			snprintf(num, sizeof(num), "%llu",
			         (unsigned long long)*(const uint64_t *)field);
			break;
		case T_SECONDS_MS:
			snprintf(num, sizeof(num), "%.3f", *(const uint32_t *)field / 1000.0);
			break;
		}
		fprintf(out, "%s = %s\n", row->name, text);
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
	for (size_t i = 0; i < cki_config_nrows; i++)
		if (cki_config_rows[i].type == T_STR) {
			char **field = (char **)((char *)cfg + cki_config_rows[i].offset);
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
	for (size_t i = 0; i < cki_config_nrows; i++) {
		const char *fa = (const char *)a + cki_config_rows[i].offset;
		const char *fb = (const char *)b + cki_config_rows[i].offset;
		bool same;
		if (cki_config_rows[i].type == T_STR) {
			const char *sa = *(char *const *)fa, *sb = *(char *const *)fb;
			same = (sa == NULL && sb == NULL) ||
			       (sa != NULL && sb != NULL && strcmp(sa, sb) == 0);
		} else {
			same = memcmp(fa, fb, setting_size(cki_config_rows[i].type)) == 0;
		}
		if (!same)
			changed(arg, cki_config_rows[i].name);
	}
}

ck_err
cki_config_copy_setting(cki_config *dst, const cki_config *src, const char *name)
{
	const opt_row *row = cki_config_find_row(name);
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
