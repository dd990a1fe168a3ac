/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Access rules per uid/gid: see access.h. A linear walk over the rules: a host has a handful.
 * A rule's gids match the peer's primary gid (SO_PEERCRED) or any group the user database
 * gives the peer's user (getgrouplist), looked up once per (uid, gid) and kept in a small
 * cache until the rule set changes or cki_access_forget_groups() (a reload). The front's
 * allow-gids check asks the same cache. Loop thread only.
 */
#define _GNU_SOURCE
#include "core/access.h"

#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>

#include "base/log.h"

#define CACHE_SLOTS 64
#define MAX_GROUPS  256

typedef struct groups_entry {
	uint64_t epoch; /* groups_epoch when looked up; 0: empty slot */
	uid_t uid;
	gid_t gid;
	int n;
	gid_t g[MAX_GROUPS];
} groups_entry;

static groups_entry cache[CACHE_SLOTS];
static size_t next_slot;
static uint64_t groups_epoch = 1; /* bumped to forget every cached lookup */
static uint64_t rules_seen;       /* serial of the rule set last consulted */

void
cki_access_forget_groups(void)
{
	groups_epoch++;
}

static bool
any_gid_rule(const cki_access *a)
{
	for (size_t i = 0; i < a->n; i++)
		if (a->rules[i].gids.n > 0)
			return true;
	return false;
}

/* The groups of the peer's user in the user database, primary gid included. */
static const groups_entry *
groups_of(const cki_peer *peer)
{
	for (size_t i = 0; i < CACHE_SLOTS; i++) {
		const groups_entry *e = &cache[i];
		if (e->epoch == groups_epoch && e->uid == peer->uid && e->gid == peer->gid)
			return e;
	}
	groups_entry *e = &cache[next_slot++ % CACHE_SLOTS];
	e->epoch = groups_epoch;
	e->uid = peer->uid;
	e->gid = peer->gid;
	e->n = 0;
	struct passwd pw, *found = NULL;
	char buf[4096];
	if (getpwuid_r(peer->uid, &pw, buf, sizeof(buf), &found) != 0 || found == NULL)
		return e; /* no user: the primary gid only */
	int n = MAX_GROUPS;
	if (getgrouplist(found->pw_name, peer->gid, e->g, &n) < 0) {
		cki_log_warn_rl("user %s is in more than %d groups: access rules see the first %d",
		                found->pw_name, MAX_GROUPS, MAX_GROUPS);
		n = MAX_GROUPS;
	}
	e->n = n;
	return e;
}

static bool
gid_matches(const cki_id_set *gids, const cki_peer *peer, const groups_entry *groups)
{
	if (cki_id_set_has(gids, (uint32_t)peer->gid))
		return true;
	for (int i = 0; groups != NULL && i < groups->n; i++)
		if (cki_id_set_has(gids, (uint32_t)groups->g[i]))
			return true;
	return false;
}

bool
cki_peer_in_gids(const cki_id_set *gids, const cki_peer *peer)
{
	if (gids->n == 0 || peer == NULL || !peer->known)
		return false;
	return gid_matches(gids, peer, groups_of(peer));
}

unsigned
cki_access_rights(const cki_access *a, const cki_peer *peer, const char *ns)
{
	if (a == NULL || a->n == 0)
		return CKI_RIGHT_ALL;
	if (peer == NULL || !peer->known)
		return 0;
	if (a->serial != rules_seen) { /* a new rule set: look every user's groups up again */
		rules_seen = a->serial;
		cki_access_forget_groups();
	}
	const groups_entry *groups = any_gid_rule(a) ? groups_of(peer) : NULL;
	unsigned rights = 0;
	for (size_t i = 0; i < a->n; i++) {
		const cki_access_rule *r = &a->rules[i];
		if (!cki_id_set_has(&r->uids, (uint32_t)peer->uid) &&
		    !gid_matches(&r->gids, peer, groups))
			continue;
		if (cki_ns_set_match(&r->namespaces, ns))
			rights |= r->rights;
	}
	return rights;
}

ck_err
cki_access_check(const cki_access *a, const cki_peer *peer, const char *ns, unsigned need,
                 const char *op, char *message, size_t cap)
{
	unsigned have = cki_access_rights(a, peer, ns);
	if ((have & need) == need)
		return CK_OK;
	if (cap > 0) {
		if (peer != NULL && peer->known)
			snprintf(message, cap,
			         "access denied: uid %u gid %u may not %s in namespace \"%s\"",
			         (unsigned)peer->uid, (unsigned)peer->gid, op, ns);
		else
			snprintf(message, cap,
			         "access denied: a peer without credentials may not %s in "
			         "namespace \"%s\"",
			         op, ns);
	}
	return CK_EDENIED;
}
