/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Access rules per uid/gid (docs/access-rules.md): may this peer do this kind of operation on
 * this namespace? Asks the typed rules that config built (config/policy.h); never parses text.
 * No I/O but the user-database lookup of a peer's groups (once per uid and rule set).
 */
#ifndef CKI_ACCESS_H
#define CKI_ACCESS_H

#include <stdbool.h>
#include <stddef.h>

#include "cachekit/errors.h"
#include "config/policy.h"
#include "core/request.h"

/* The rights peer holds on namespace ns: every right when a has no rules (the default);
 * otherwise the union of the rights of every rule whose uid set holds the peer's uid or whose
 * gid set holds its primary gid or a supplementary group of its user (getgrouplist, cached
 * until the rule set changes or a reload), and whose namespaces match ns; none for a peer without
 * credentials. */
unsigned cki_access_rights(const cki_access *a, const cki_peer *peer, const char *ns);

/* Whether peer's primary gid, or a supplementary group of its user in the user database, is
 * in gids (the allow-gids check). Lookups are cached like the rules' (above). */
bool cki_peer_in_gids(const cki_id_set *gids, const cki_peer *peer);

/* Forgets every cached group lookup (a reload: group membership may have changed). */
void cki_access_forget_groups(void);

/* CK_OK when peer holds every right in need on ns. Otherwise CK_EDENIED and message (cap
 * bytes, always NUL-terminated) names the operation (op, e.g. "read") and the namespace. */
CK_NODISCARD ck_err cki_access_check(const cki_access *a, const cki_peer *peer, const char *ns,
                                     unsigned need, const char *op, char *message, size_t cap);

#endif
