/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Key-value request handlers: Get (near cache, single-flight, unsealing), Set (limits, TTL
 * rules, sealing, refresh tracking), Delete, Exists, GetTtl and RefreshTtl. Each handle_<op>()
 * starts the store operation with its call record; the matching done_<op>() builds the reply
 * when the store answers.
 */
#include "core/dispatch_internal.h"

#include <stdio.h>
#include <stdlib.h>

#include <openssl/crypto.h>

#include "base/log.h"
#include "base/metrics.h"
#include "crypto/ckframe.h"
#include "crypto/seal.h"
#include "core/nearver.h"

/* A write, delete or TTL change of c->key has completed (or failed, and may have happened):
 * later Gets must not join a read that began before it, and every stub's near copy of the key
 * becomes stale. Runs before the reply is sent. */
void
cki_call_key_written(call *c)
{
	cki_flight_forget(c->d->deps.flight, c->key);
	cki_nearver_bump(c->d->nearver, c->key);
}

/* Sealed values in envelope namespaces are LZ4 envelopes inside (AAD flag "True"). */
bool
cki_call_uses_envelope(const call *c)
{
	return cki_ns_set_match(&c->d->deps.cfg->policy.envelope_ns, c->ns);
}

/* ---- get ---------------------------------------------------------------------------------- */

static void
done_get(void *arg, const cki_store_reply *r)
{
	call *c = arg;
	if (cki_call_store_failed(c, r))
		return;
	/* cachekit-py's auto-mode container is neither our bytes nor ciphertext: say what it is
	 * rather than hand it out as a value, a miss or a failed decryption (python-frame.json). */
	if (r->found && cki_ckframe_is_frame(r->value, r->value_len)) {
		cki_call_finish_status(
		        c, CK_EAUTOMODE,
		        "entry was written by cachekit-py in auto mode (CK frame v3): read it "
		        "with cachekit-py, or run that writer in interop mode "
		        "(docs/mixed-deployments.md)");
		return;
	}
	Cachekit__Agent__V1__GetResult res = CACHEKIT__AGENT__V1__GET_RESULT__INIT;
	res.found = r->found;
	res.fresh_for_ms = -1;
	uint8_t *plain = NULL;
	if (r->found && c->req->get->secure) {
		ck_err err = cki_unseal_value(c->d->deps.keyring, c->key, c->req->get->format,
		                              cki_call_uses_envelope(c), r->value, r->value_len,
		                              &plain, &res.value.len);
		if (err != CK_OK) {
			cki_metrics_inc(CKI_C_UNSEAL_FAILURES);
			cki_log_warn("value of %s failed to decrypt (%s)", c->key,
			             ck_strerror(err));
			if (c->d->deps.cfg->encryption_fail_closed) {
				cki_call_finish_status(
				        c, CK_ECRYPTO,
				        "stored value failed authentication (wrong key, tampered, "
				        "or written without secure intent)");
				return;
			}
			res.found = false; /* never wrong bytes: a value we cannot open is a miss */
		} else {
			res.value.data = plain;
		}
	} else if (r->found) {
		res.value.data = (uint8_t *)r->value;
		res.value.len = r->value_len;
	}
	if (res.found) {
		res.near_epoch = cki_nearver_epoch(c->d->nearver);
		res.near_version = c->near_ver;
		cki_metrics_inc(CKI_C_GET_HITS);
		res.freshness = (Cachekit__Agent__V1__Freshness)r->freshness;
		res.fresh_for_ms = r->fresh_for_ms;
		if (r->freshness == CKI_STALE)
			cki_metrics_inc(CKI_C_GET_STALE);
		bool sliding_ns = cki_ns_set_match(&c->d->deps.cfg->policy.sliding_ns, c->ns);
		res.refresh_due = cki_refresh_on_hit(c->d->deps.refresh, c->key, r->freshness,
		                                     r->fresh_for_ms, sliding_ns);
	} else {
		res.value.len = 0;
		cki_metrics_inc(CKI_C_GET_MISSES);
	}
	CKI_CALL_FINISH_RESULT(c, GET, get, &res);
	if (plain != NULL) {
		OPENSSL_cleanse(plain, res.value.len);
		free(plain);
	}
}

/* A store answer (possibly shared by several callers through single-flight). The storefront
 * has filled the L1 with it; a write of the key that completed during the read may have been
 * missed by it, so then the copy goes again. */
static void
done_get_from_store(void *arg, const cki_store_reply *r)
{
	call *c = arg;
	if (cki_nearver_read(c->d->nearver, c->key) != c->near_ver)
		cki_l1_forget(c->d->deps.l1, c->key);
	done_get(c, r);
}

void
cki_handle_get(call *c)
{
	Cachekit__Agent__V1__GetRequest *g = c->req->get;
	if (!cki_call_take_key(c, g->key) || !cki_call_check_rw(c, CKI_RIGHT_READ, g->secure))
		return;
	if (!cki_call_check_secure(c, g->secure, g->format))
		return;
	cki_dispatch_deps *deps = &c->d->deps;
	cki_store_reply hit;
	/* Before the read: a write that completes after this point moves the slot past it. */
	c->near_ver = cki_nearver_read(c->d->nearver, c->key);
	if (cki_l1_get(deps->l1, c->key, &hit)) {
		cki_metrics_inc(CKI_C_L1_HITS);
		done_get(c, &hit);
		return;
	}
	if (deps->cfg->l1_bytes > 0)
		cki_metrics_inc(CKI_C_L1_MISSES);
	cki_flight_get(deps->flight, c->key, c->deadline, done_get_from_store, c);
}

/* ---- set ---------------------------------------------------------------------------------- */

static void
done_set(void *arg, const cki_store_reply *r)
{
	call *c = arg;
	cki_call_key_written(c);
	if (r->err != CK_OK) {
		/* Tracked when the call went out; the store did not take it. */
		cki_refresh_on_delete(c->d->deps.refresh, c->key);
		cki_call_store_error(c, r);
		return;
	}
	cki_metrics_inc(CKI_C_SETS);
	Cachekit__Agent__V1__SetResult res = CACHEKIT__AGENT__V1__SET_RESULT__INIT;
	CKI_CALL_FINISH_RESULT(c, SET, set, &res);
}

#define TTL_MAX ((uint32_t)CK_TTL_MAX) /* the shared table, common/ck_limits.h */

void
cki_handle_set(call *c)
{
	Cachekit__Agent__V1__SetRequest *st = c->req->set;
	const cki_config *cfg = c->d->deps.cfg;
	if (!cki_call_take_key(c, st->key) || !cki_call_check_rw(c, CKI_RIGHT_WRITE, st->secure))
		return;
	if (st->value.len > cfg->max_value_bytes) {
		char m[128];
		snprintf(m, sizeof(m), "value of %zu bytes exceeds the limit of %llu bytes",
		         st->value.len, (unsigned long long)cfg->max_value_bytes);
		cki_call_finish_status(c, CK_ETOOBIG, m);
		return;
	}
	if (st->ttl_s > TTL_MAX || st->stale_ttl_s > TTL_MAX - 1 ||
	    (st->stale_ttl_s > 0 && st->ttl_s == 0) ||
	    (uint64_t)st->ttl_s + st->stale_ttl_s > TTL_MAX) {
		cki_call_finish_status(
		        c, CK_EINVAL,
		        "ttl must be 0..2592000 s; stale ttl needs a ttl and ttl + stale ttl "
		        "<= 2592000 s");
		return;
	}
	if (!cki_call_check_secure(c, st->secure, st->format))
		return;
	/* A Set that names no TTL gets the configured default (protocol PRE-4: never-expire is
	 * an explicit opt-in, here the operator's default-ttl = 0). */
	if (st->ttl_s == 0)
		st->ttl_s = cfg->default_ttl_s;
	const uint8_t *value = st->value.data;
	size_t len = st->value.len;
	if (st->secure) {
		ck_err err = cki_seal_value(c->d->deps.keyring, c->key, st->format,
		                            cki_call_uses_envelope(c), value, len, &c->owned, &len);
		if (err != CK_OK) {
			cki_call_finish_status(c, err, "cannot encrypt the value");
			return;
		}
		value = c->owned;
		cki_metrics_inc(CKI_C_SEALED);
	}
	cki_put_opts po = {.ttl_s = st->ttl_s, .stale_ttl_s = st->stale_ttl_s};
	cki_store *s = c->d->deps.store;
	/* Tracked before the call, in the order the store applies writes: an embedded store that
	 * evicts this key for a later Set tells the tracker after this (and a failed Set forgets
	 * it in done_set). */
	bool sliding = st->sliding || cki_ns_set_match(&c->d->deps.cfg->policy.sliding_ns, c->ns);
	cki_refresh_on_set(c->d->deps.refresh, c->key, st->ttl_s, st->stale_ttl_s, sliding);
	s->ops->put(s, c->key, value, len, &po, c->deadline, done_set, c);
}

/* ---- delete, exists ------------------------------------------------------------------------ */

static void
done_delete(void *arg, const cki_store_reply *r)
{
	call *c = arg;
	cki_call_key_written(c);
	if (cki_call_store_failed(c, r))
		return;
	cki_metrics_inc(CKI_C_DELETES);
	cki_refresh_on_delete(c->d->deps.refresh, c->key);
	Cachekit__Agent__V1__DeleteResult res = CACHEKIT__AGENT__V1__DELETE_RESULT__INIT;
	res.existed = r->found;
	CKI_CALL_FINISH_RESULT(c, DELETE, delete_, &res);
}

void
cki_handle_delete(call *c)
{
	cki_store *s = cki_call_keyed(c, c->req->delete_->key, CKI_RIGHT_DELETE, "delete");
	if (s != NULL)
		s->ops->del(s, c->key, c->deadline, done_delete, c);
}

static void
done_exists(void *arg, const cki_store_reply *r)
{
	call *c = arg;
	if (cki_call_store_failed(c, r))
		return;
	Cachekit__Agent__V1__ExistsResult res = CACHEKIT__AGENT__V1__EXISTS_RESULT__INIT;
	res.exists = r->found;
	CKI_CALL_FINISH_RESULT(c, EXISTS, exists, &res);
}

void
cki_handle_exists(call *c)
{
	cki_store *s = cki_call_keyed(c, c->req->exists->key, CKI_RIGHT_READ, "read");
	if (s != NULL)
		s->ops->exists(s, c->key, c->deadline, done_exists, c);
}

/* ---- ttl ------------------------------------------------------------------------------------ */

static void
done_get_ttl(void *arg, const cki_store_reply *r)
{
	call *c = arg;
	if (cki_call_store_failed(c, r))
		return;
	Cachekit__Agent__V1__GetTtlResult res = CACHEKIT__AGENT__V1__GET_TTL_RESULT__INIT;
	res.found = r->found;
	res.ttl_s = r->found ? r->ttl_s : -1;
	CKI_CALL_FINISH_RESULT(c, GET_TTL, get_ttl, &res);
}

void
cki_handle_get_ttl(call *c)
{
	cki_store *s = cki_call_keyed(c, c->req->get_ttl->key, CKI_RIGHT_READ, "read");
	if (s != NULL)
		s->ops->get_ttl(s, c->key, c->deadline, done_get_ttl, c);
}

static void
done_refresh_ttl(void *arg, const cki_store_reply *r)
{
	call *c = arg;
	cki_call_key_written(c);
	if (cki_call_store_failed(c, r))
		return;
	Cachekit__Agent__V1__RefreshTtlResult res = CACHEKIT__AGENT__V1__REFRESH_TTL_RESULT__INIT;
	res.refreshed = r->found;
	if (r->found)
		cki_refresh_on_touch(c->d->deps.refresh, c->key, c->req->refresh_ttl->ttl_s);
	CKI_CALL_FINISH_RESULT(c, REFRESH_TTL, refresh_ttl, &res);
}

void
cki_handle_refresh_ttl(call *c)
{
	Cachekit__Agent__V1__RefreshTtlRequest *rt = c->req->refresh_ttl;
	cki_store *s = cki_call_keyed(c, rt->key, CKI_RIGHT_WRITE, "write");
	if (s == NULL)
		return;
	if (rt->ttl_s < 1 || rt->ttl_s > TTL_MAX) {
		cki_call_finish_status(c, CK_EINVAL, "ttl must be 1..2592000 seconds");
		return;
	}
	s->ops->touch(s, c->key, rt->ttl_s, c->deadline, done_refresh_ttl, c);
}
