/* SPDX-License-Identifier: Apache-2.0 */
/* Access rules per uid/gid: see access.h. A linear walk over the rules: a host has a handful. */
#include "core/access.h"

#include <stdio.h>

unsigned
cki_access_rights(const cki_access *a, const cki_peer *peer, const char *ns)
{
	if (a == NULL || a->n == 0)
		return CKI_RIGHT_ALL;
	if (peer == NULL || !peer->known)
		return 0;
	unsigned rights = 0;
	for (size_t i = 0; i < a->n; i++) {
		const cki_access_rule *r = &a->rules[i];
		if (!cki_id_set_has(&r->uids, (uint32_t)peer->uid) &&
		    !cki_id_set_has(&r->gids, (uint32_t)peer->gid))
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
