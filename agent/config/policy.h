/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's policy in typed form, parsed once when the configuration loads: the allow lists
 * (uid and gid sets), the namespace lists (secure, envelope, sliding) as pattern sets, and the
 * per-uid/gid access rules from [access.NAME] sections of the config file. Request handlers
 * only ask these structures questions; nothing re-parses a comma string per request.
 * Not thread-safe: built by config, read from the loop thread; a reload builds a new one.
 */
#ifndef CKI_POLICY_H
#define CKI_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cachekit/errors.h"

/* Most ids in one allow list or rule, and most patterns in one namespace list. */
#define CKI_POLICY_MAX_IDS      64
#define CKI_POLICY_MAX_PATTERNS 64
/* Most [access.NAME] sections. */
#define CKI_POLICY_MAX_RULES 256

/* A set of numeric uids or gids (sorted, no duplicates). Zero-filled is the empty set. */
typedef struct cki_id_set {
	uint32_t *ids;
	size_t n;
} cki_id_set;

/* Namespace patterns: an exact name, "prefix*" (names starting with prefix) or "*" (all).
 * Zero-filled is the empty set, which matches nothing. */
typedef struct cki_ns_set {
	char **patterns;
	size_t n;
} cki_ns_set;

/* What an access rule may grant, as bits. */
typedef enum cki_right {
	CKI_RIGHT_READ = 1u << 0,   /* Get, Exists, GetTtl */
	CKI_RIGHT_WRITE = 1u << 1,  /* Set, RefreshTtl */
	CKI_RIGHT_DELETE = 1u << 2, /* Delete */
	CKI_RIGHT_LOCK = 1u << 3,   /* AcquireLock (ReleaseLock needs the handle) */
	CKI_RIGHT_SECURE = 1u << 4, /* secure intent (encrypt/decrypt) on top of read/write */
	CKI_RIGHT_ALL = (1u << 5) - 1,
} cki_right;

/* One [access.NAME] section: peers whose uid is in uids or whose gid is in gids get rights on
 * the namespaces that match. */
typedef struct cki_access_rule {
	char *name; /* NAME of the section, for log lines */
	cki_id_set uids;
	cki_id_set gids;
	cki_ns_set namespaces;
	unsigned rights; /* cki_right bits */
} cki_access_rule;

/* Every access rule. NULL or no rules: every allowed peer may do everything. */
typedef struct cki_access {
	cki_access_rule *rules;
	size_t n;
	uint64_t serial; /* unique per load: what core/access caches per rule set is keyed by it */
} cki_access;

/* The typed policy a cki_config carries (config.h). */
typedef struct cki_policy {
	cki_id_set allow_uids; /* both empty: any peer that reaches the socket */
	cki_id_set allow_gids;
	cki_ns_set secure_ns;    /* namespaces that require secure intent */
	cki_ns_set envelope_ns;  /* namespaces whose sealed values are envelopes */
	cki_ns_set sliding_ns;   /* namespaces whose reads extend the TTL */
	cki_ns_set stale_off_ns; /* namespaces whose failed Gets are never answered stale */
	cki_access *access;      /* owned; a reload swaps it whole */
} cki_policy;

/* Parses "1000, 1001" (or user/group names when names is "user"/"group") into *out, which
 * must be empty. Returns CK_OK, CK_ENOMEM, or CK_ECONFIG with a line naming what to err. */
CK_NODISCARD ck_err cki_id_set_parse(cki_id_set *out, const char *list, const char *what,
                                     bool groups, FILE *err);
bool cki_id_set_has(const cki_id_set *s, uint32_t id);
void cki_id_set_free(cki_id_set *s);

/* Parses "alice, shared-*" into *out, which must be empty. Patterns are 1..64 characters of
 * the namespace alphabet with an optional trailing '*'. CK_ECONFIG with a message to err. */
CK_NODISCARD ck_err cki_ns_set_parse(cki_ns_set *out, const char *list, const char *what,
                                     FILE *err);
bool cki_ns_set_match(const cki_ns_set *s, const char *ns);
void cki_ns_set_free(cki_ns_set *s);

/* Parses "read, write, delete, lock, secure" (or "all") into cki_right bits. */
CK_NODISCARD ck_err cki_rights_parse(const char *list, unsigned *out, const char *what, FILE *err);
/* "read,write" etc. for log lines; buf is always NUL-terminated. */
const char *cki_rights_name(unsigned rights, char *buf, size_t cap);

/* One key = value line of section [access.NAME] (rule_name is NAME). Creates the rule on
 * first sight. *a is created when NULL. where prefixes error lines. */
CK_NODISCARD ck_err cki_access_add(cki_access **a, const char *rule_name, const char *key,
                                   const char *value, const char *where, FILE *err);
/* Checks that every rule names at least one uid or gid, namespaces and rights. */
CK_NODISCARD ck_err cki_access_validate(const cki_access *a, FILE *err);
void cki_access_free(cki_access *a);

/* Frees the uid/gid and namespace sets, not the access rules (a re-parse keeps those). */
void cki_policy_free_sets(cki_policy *p);
/* Frees every set and the access rules; leaves *p zero-filled. Accepts NULL. */
void cki_policy_free(cki_policy *p);

#endif
