/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to cachekit-ctl: its exit codes, the parsed options every command reads, and the
 * seam between ctl.c (command line, usage, dispatch) and ctl_cmds.c (the commands). Each
 * command returns the process exit code and has already reported any failure on stderr.
 */
#ifndef CACHEKIT_CTL_H
#define CACHEKIT_CTL_H

#include <stdbool.h>
#include <stdint.h>

#include "cachekit/stub.h"

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

/* Prints "cachekit-ctl: <message>" and a hint to stderr; returns EXIT_USAGE. */
int cki_ctl_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Parses a decimal number that fits in 32 bits (no sign, no spaces, nothing after it). */
bool cki_ctl_parse_u32(const char *s, uint32_t *out);

/* The commands. key, name, value, hex and cmd are borrowed from argv; value NULL (or "-")
 * reads the value from stdin; cmd is the NULL-terminated CMD after "--", or NULL. */
int cki_ctl_cmd_get(struct ctl *ctl, const char *key);
int cki_ctl_cmd_set(struct ctl *ctl, const char *key, const char *value);
int cki_ctl_cmd_del(struct ctl *ctl, const char *key);
int cki_ctl_cmd_exists(struct ctl *ctl, const char *key);
int cki_ctl_cmd_ttl(struct ctl *ctl, const char *key);
int cki_ctl_cmd_touch(struct ctl *ctl, const char *key, const char *ttl_arg);
int cki_ctl_cmd_lock(struct ctl *ctl, const char *name, char **cmd);
int cki_ctl_cmd_unlock(struct ctl *ctl, const char *hex);
int cki_ctl_cmd_renew(struct ctl *ctl, const char *hex);
int cki_ctl_cmd_health(struct ctl *ctl);
int cki_ctl_cmd_stats(struct ctl *ctl);

#endif
