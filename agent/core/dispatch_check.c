/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Request checks shared by the dispatch handlers: the cache key rule (with the request's
 * namespace), the per-peer access rules and the secure-intent policy. A check that fails ends
 * the call with the error reply and returns false, so a handler simply returns.
 */
#include "core/dispatch_internal.h"

#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "base/metrics.h"
#include "core/access.h"
#include "crypto/seal.h"

/* Validates key (with the request's namespace) into c->key. */
bool
cki_call_take_key(call *c, const char *key)
{
	const char *ns = c->req->namespace_ ? c->req->namespace_ : "";
	const char *why = NULL;
	if (cki_key_build(ns, strlen(ns), key ? key : "", key ? strlen(key) : 0, c->key,
	                  sizeof(c->key), &why) != CK_OK) {
		char m[160];
		snprintf(m, sizeof(m), "invalid cache key: %s", why ? why : "rejected");
		cki_call_finish_status(c, CK_EINVALKEY, m);
		return false;
	}
	cki_key_namespace(c->key, c->ns, sizeof(c->ns));
	return true;
}

/* Access rules (docs/access-rules.md): does the peer hold need on the key's namespace? Refused
 * calls end here with CK_EDENIED naming the operation and the namespace. */
bool
cki_call_check_access(call *c, unsigned need, const char *op)
{
	char m[200];
	if (cki_access_check(c->d->deps.cfg->policy.access, &c->peer, c->ns, need, op, m,
	                     sizeof(m)) == CK_OK)
		return true;
	cki_metrics_inc(CKI_C_DENIED);
	cki_log_warn("%s (pid %d)", m, c->peer.known ? (int)c->peer.pid : -1);
	cki_call_finish_status(c, CK_EDENIED, m);
	return false;
}

/* check_access for a read or write that may carry secure intent. */
bool
cki_call_check_rw(call *c, unsigned right, bool secure)
{
	bool read = right == CKI_RIGHT_READ;
	return cki_call_check_access(
	        c, right | (secure ? CKI_RIGHT_SECURE : 0u),
	        secure ? (read ? "read with secure intent" : "write with secure intent")
	               : (read ? "read" : "write"));
}

/* Policy for secure intent: a namespace may require it; it needs a keyring. */
bool
cki_call_check_secure(call *c, bool secure, const char *format)
{
	const cki_config *cfg = c->d->deps.cfg;
	if (!secure && cki_ns_set_match(&cfg->policy.secure_ns, c->ns)) {
		char m[160];
		snprintf(m, sizeof(m), "namespace \"%s\" requires secure intent", c->ns);
		cki_call_finish_status(c, CK_EDENIED, m);
		return false;
	}
	if (secure && c->d->deps.keyring == NULL) {
		cki_call_finish_status(c, CK_ENOKEY,
		                       "secure intent needs a master key (CACHEKIT_MASTER_KEY)");
		return false;
	}
	if (secure && !cki_format_registered(format)) {
		cki_call_finish_status(
		        c, CK_EINVAL,
		        "format must be a registered token: msgpack, orjson or arrow");
		return false;
	}
	return true;
}

cki_store *
cki_call_keyed(call *c, const char *key, unsigned need, const char *op)
{
	if (!cki_call_take_key(c, key) || !cki_call_check_access(c, need, op))
		return NULL;
	return c->d->deps.store;
}
