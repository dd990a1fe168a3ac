/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The sources of the settings, lowest priority first: the INI file, the CACHEKIT_* environment
 * and the command line (with --help, printed from the settings table in settings.c); then the
 * typed policy sets built once at load and the checks of values no single row can judge.
 */
#include "config/config.h"

#include <errno.h>
#include <getopt.h>
#include <ini.h>
#include <stdlib.h>
#include <string.h>

#include "cachekit/version.h"
#include "config/config_internal.h"

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
	const opt_row *row = cki_config_find_row(name);
	if (row == NULL) {
		fprintf(ctx->err, "cachekit-agent: %s: unknown setting \"%s\"\n", where, name);
		ctx->rv = CK_ECONFIG;
		return 1; /* keep going: report every problem at once */
	}
	if (cki_config_set_value(ctx->cfg, row, value, where, ctx->err) != CK_OK)
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
	for (size_t i = 0; i < cki_config_nrows; i++) {
		char flag[80];
		snprintf(flag, sizeof(flag), "--%s %s", cki_config_rows[i].name,
		         cki_config_rows[i].type == T_BOOL ? "BOOL" : "VALUE");
		fprintf(out, "  %-24s %s\n", flag, cki_config_rows[i].help);
		fprintf(out, "  %-24s [env %s%s%s]\n", "",
		        cki_config_rows[i].env ? cki_config_rows[i].env : "-",
		        cki_config_rows[i].def ? ", default " : "",
		        cki_config_rows[i].def ? cki_config_rows[i].def : "");
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
		if (cki_config_set_value(cfg, cki_config_find_row("upstream"), redis_url,
		                         redis_vars[i], err) != CK_OK)
			return CK_ECONFIG;
		break;
	}
	for (size_t i = 0; i < cki_config_nrows; i++) {
		const char *v = cki_config_rows[i].env ? getenv(cki_config_rows[i].env) : NULL;
		if (v == NULL || v[0] == '\0')
			continue;
		if (cki_config_set_value(cfg, &cki_config_rows[i], v, cki_config_rows[i].env,
		                         err) != CK_OK)
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
		const opt_row *row = cki_config_find_row(name);
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
		if (cki_config_set_value(cfg, row, value, source, err) != CK_OK)
			return CK_ECONFIG;
	}
	return cki_config_policy(cfg, err);
}

ck_err
cki_config_policy(cki_config *cfg, FILE *err)
{
	cki_policy *p = &cfg->policy;
	cki_policy_free_sets(p);
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
