/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Every agent setting, in one table (config.c): name in the INI file, CACHEKIT_* environment
 * variable, command-line flag, type, default and help. Sources in rising priority: built-in
 * defaults, the config file, the environment, flags. The file may also hold [access.NAME]
 * sections (docs/access-rules.md); lists become typed sets at load (policy.h). Secrets (API key,
 * master keys) are not settings: keyring.c reads them from the environment, files or systemd
 * credentials.
 */
#ifndef CKI_CONFIG_H
#define CKI_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cachekit/errors.h"
#include "config/policy.h"

typedef struct cki_config {
	char *config_file; /* --config / CACHEKIT_AGENT_CONFIG */
	char *endpoint;    /* ipc://... the ROUTER binds here */
	char *upstream;    /* "memory:" or an https:// API URL (CACHEKIT_API_URL) */
	char *log_level;   /* error|warn|info|debug */
	bool log_syslog;
	uint32_t timeout_ms;         /* CACHEKIT_TIMEOUT (seconds, may be fractional) */
	uint32_t max_deadline_ms;    /* cap on a request's deadline */
	uint32_t max_inflight;       /* requests in progress before new ones get CK_EOVERLOAD */
	uint64_t max_inflight_bytes; /* Set value bytes in progress before the same */
	uint64_t max_value_bytes;    /* CACHEKIT_MAX_VALUE_SIZE, default 25 MB */
	uint64_t memory_limit_bytes; /* embedded store capacity */
	uint32_t socket_mode;        /* permissions of the ipc socket file (octal) */
	char *socket_group;          /* group owning the socket directory, or NULL */
	char *allow_uids;            /* comma list of uids allowed, or NULL = any local user */
	char *allow_gids;            /* comma list of gids allowed, or NULL */
	/* cachekit.io upstream */
	uint32_t pool_size;        /* CACHEKIT_CONNECTION_POOL_SIZE: max connections */
	bool allow_custom_host;    /* CACHEKIT_ALLOW_CUSTOM_HOST */
	char *ca_file;             /* extra trust anchor (tests) */
	char *resolve;             /* "host:port:addr" pin, like curl --resolve (tests) */
	uint32_t max_attempts;     /* per request, including the first (max 3) */
	uint32_t breaker_failures; /* consecutive failures that open the circuit */
	uint32_t breaker_open_ms;  /* how long it stays open before a half-open probe */
	/* encryption */
	char *tenant_id;             /* CACHEKIT_DEPLOYMENT_UUID / tenant, default "default" */
	bool encryption_fail_closed; /* CACHEKIT_ENCRYPTION_FAIL_CLOSED */
	char *secure_namespaces;     /* comma list of namespaces that require secure intent */
	char *envelope_namespaces; /* comma list of namespaces whose sealed values use the envelope
	                            */
	/* near cache and refresh */
	uint64_t l1_bytes;             /* 0 = L1 off */
	uint32_t l1_ttl_ms;            /* longest life of an L1 copy */
	uint64_t stale_if_error_bytes; /* last-known values for stale-if-error; 0 = off */
	uint32_t refresh_ahead_pct;    /* refresh-due point as a share of the fresh window */
	uint32_t refresh_claim_ms;     /* how long one reader's refresh-due claim holds */
	char *sliding_namespaces;      /* comma list of namespaces with sliding TTL */
	char *stale_if_error_off_ns;   /* comma list of namespaces without stale-if-error */
	uint32_t default_ttl_s;        /* TTL of a Set that names none (PRE-4); 0 = no expiry */
	char *metrics_listen;          /* HOST:PORT of the GET /metrics listener, or NULL = none */
	char *log_format;              /* text | json */
	/* set by flags only */
	bool check_only; /* --check-config */
	bool probe;      /* --probe: with --check-config, call the upstream's health route */
	/* The lists above and the [access.NAME] sections, typed (policy.h); built by
	 * cki_config_load() through cki_config_policy(). Request handlers read only this. */
	cki_policy policy;

	/* unread reply bytes per client before CK_EOVERLOAD (front/peerq) */
	uint64_t max_peer_queued_bytes;
} cki_config;

/* Fills cfg with built-in defaults. */
CK_NODISCARD ck_err cki_config_defaults(cki_config *cfg);

/* Applies, in order: the config file (from --config or CACHEKIT_AGENT_CONFIG, if any), the
 * environment, then argv flags. Prints a clear message to err and returns CK_ECONFIG on any
 * unknown or malformed setting. --help and --version print to out and set *exit_now. */
CK_NODISCARD ck_err cki_config_load(cki_config *cfg, int argc, char **argv, FILE *out, FILE *err,
                                    bool *exit_now);

/* Checks cross-setting rules (e.g. endpoint scheme). CK_ECONFIG with a message to err. */
CK_NODISCARD ck_err cki_config_validate(const cki_config *cfg, FILE *err);

/* Prints every setting and its effective value (secrets are never settings). */
void cki_config_dump(const cki_config *cfg, FILE *out);

/* Frees the strings. Accepts NULL. */
void cki_config_free(cki_config *cfg);

/* (Re)builds cfg->policy's allow lists and namespace sets from the string settings and checks
 * the access rules the config file added. cki_config_load() calls it last; call it again after
 * changing a list by hand (tests). CK_ECONFIG with one line per problem on err. */
CK_NODISCARD ck_err cki_config_policy(cki_config *cfg, FILE *err);

/* Calls changed(arg, name) for every setting whose value differs between a and b, in table
 * order (for SIGHUP: what a reload would change). */
void cki_config_each_change(const cki_config *a, const cki_config *b,
                            void (*changed)(void *arg, const char *name), void *arg);

/* Copies one setting's value from src to dst (a string is duplicated, the old one freed).
 * CK_EINVAL for an unknown name, CK_ENOMEM; dst is unchanged on failure. */
CK_NODISCARD ck_err cki_config_copy_setting(cki_config *dst, const cki_config *src,
                                            const char *name);

/* True when name appears in a comma-separated list (NULL list: false). */
bool cki_list_contains(const char *list, const char *name);

#endif
