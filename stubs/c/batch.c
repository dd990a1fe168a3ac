/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Batch calls of libcachekit-stub (ck_mget, ck_mset): one MultiGet or MultiSet request for many
 * keys, one reply with an item per key. ck_mget answers what it can from the near cache first
 * and sends only the rest; the agent's answers are kept in the near cache as ck_get keeps them.
 * Their asynchronous forms (ck_mget_async, ck_mset_async) build the same requests and hand
 * them to async.c; ck_mget_async sends every key (it neither reads nor fills the near cache).
 */
#include "cachekit/async.h"

#include <stdlib.h>
#include <string.h>

#include "cachekit/agent/v1/agent.pb-c.h"
#include "near.h"
#include "requests.h"
#include "stub_internal.h"

typedef Cachekit__Agent__V1__Request Request;

static void
fail_all(ck_value **values, ck_err *errs, size_t n, ck_err rv)
{
	for (size_t i = 0; i < n; i++) {
		if (values != NULL) {
			ck_value_free(values[i]);
			values[i] = NULL;
		}
		errs[i] = rv;
	}
}

ck_err
ck_mget(ck_client *c, const char *const *keys, size_t n, const ck_get_opts *opts, ck_value **values,
        ck_err *errs)
{
	Request req = CACHEKIT__AGENT__V1__REQUEST__INIT;
	Cachekit__Agent__V1__MultiGetRequest mg = CACHEKIT__AGENT__V1__MULTI_GET_REQUEST__INIT;
	Cachekit__Agent__V1__GetRequest *gets = NULL, **ptrs = NULL;
	cki_near_key *nks = NULL;
	size_t *sent = NULL, n_sent = 0;
	cki_reply reply;
	ck_err rv;

	memset(&reply, 0, sizeof(reply));
	if (c == NULL || keys == NULL || values == NULL || errs == NULL || n == 0 ||
	    n > CKI_STUB_MAX_BATCH)
		return CK_EINVAL;
	for (size_t i = 0; i < n; i++)
		values[i] = NULL;
	for (size_t i = 0; i < n; i++) {
		if ((rv = cki_req_check_key(keys[i])) != CK_OK) {
			fail_all(values, errs, n, rv);
			return rv;
		}
	}
	if (opts != NULL && cki_req_format_too_long(opts->format))
		return CK_EINVAL;
	cki_near *near = cki_client_near(c);
	const char *ns = opts != NULL && opts->call.ns != NULL ? opts->call.ns : cki_client_ns(c);
	if (ns != NULL && strlen(ns) > CKI_STUB_MAX_NS)
		near = NULL;
	gets = calloc(n, sizeof(*gets));
	ptrs = calloc(n, sizeof(*ptrs));
	sent = calloc(n, sizeof(*sent));
	nks = near != NULL ? calloc(n, sizeof(*nks)) : NULL;
	if (gets == NULL || ptrs == NULL || sent == NULL || (near != NULL && nks == NULL)) {
		rv = CK_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (near != NULL) {
			cki_near_key_of(near, ns, keys[i], opts != NULL && opts->secure,
			                opts != NULL ? opts->format : NULL, &nks[i]);
			if (cki_near_get(near, &nks[i], &values[i])) {
				errs[i] = CK_OK;
				continue;
			}
		}
		cki_req_fill_get(&gets[n_sent], keys[i], opts);
		ptrs[n_sent] = &gets[n_sent];
		sent[n_sent++] = i;
	}
	rv = CK_OK;
	if (n_sent == 0)
		goto out;
	mg.items = ptrs;
	mg.n_items = n_sent;
	req.op_case = CACHEKIT__AGENT__V1__REQUEST__OP_MULTI_GET;
	req.multi_get = &mg;
	rv = cki_exchange(c, opts ? &opts->call : NULL, &req, CKI_REPLY_MULTI_GET, &reply);
	if (rv == CK_OK && reply.n_items != n_sent)
		rv = CK_EPROTO;
	if (rv != CK_OK)
		goto out;
	for (size_t j = 0; j < n_sent; j++) {
		size_t i = sent[j];
		cki_reply *item = &reply.items[j];
		errs[i] = reply.item_errs[j];
		if (errs[i] != CK_OK)
			continue;
		if (near != NULL)
			cki_near_put(near, &nks[i], item->value, item->near_epoch,
			             item->near_version);
		values[i] = item->value;
		item->value = NULL;
	}
out:
	if (rv != CK_OK)
		fail_all(values, errs, n, rv);
	cki_reply_clear(&reply);
	free(gets);
	free(ptrs);
	free(sent);
	free(nks);
	return rv;
}

/* ck_mset's argument checks, shared with ck_mset_async. */
static ck_err
check_mset(const ck_mset_item *items, size_t n, const ck_set_opts *opts)
{
	size_t total = 0;
	ck_err rv;

	if (items == NULL || n == 0 || n > CKI_STUB_MAX_BATCH)
		return CK_EINVAL;
	if (opts != NULL && cki_req_format_too_long(opts->format))
		return CK_EINVAL;
	for (size_t i = 0; i < n; i++) {
		rv = cki_req_check_key(items[i].key);
		if (rv == CK_OK && items[i].value == NULL && items[i].len > 0)
			rv = CK_EINVAL;
		total += items[i].len;
		if (rv == CK_OK &&
		    (items[i].len > CKI_STUB_MAX_VALUE || total > CKI_STUB_MAX_VALUE))
			rv = CK_ETOOBIG;
		if (rv != CK_OK)
			return rv;
	}
	return CK_OK;
}

/* A MultiSet of checked items into req/ms; *sets and *ptrs are the caller's to free. */
static ck_err
build_mset(Request *req, Cachekit__Agent__V1__MultiSetRequest *ms, const ck_mset_item *items,
           size_t n, const ck_set_opts *opts, Cachekit__Agent__V1__SetRequest **sets,
           Cachekit__Agent__V1__SetRequest ***ptrs)
{
	*sets = calloc(n, sizeof(**sets));
	*ptrs = calloc(n, sizeof(**ptrs));
	if (*sets == NULL || *ptrs == NULL)
		return CK_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		cki_req_fill_set(&(*sets)[i], items[i].key, items[i].value, items[i].len, opts);
		(*ptrs)[i] = &(*sets)[i];
	}
	ms->items = *ptrs;
	ms->n_items = n;
	req->op_case = CACHEKIT__AGENT__V1__REQUEST__OP_MULTI_SET;
	req->multi_set = ms;
	return CK_OK;
}

ck_err
ck_mset(ck_client *c, const ck_mset_item *items, size_t n, const ck_set_opts *opts, ck_err *errs)
{
	Request req = CACHEKIT__AGENT__V1__REQUEST__INIT;
	Cachekit__Agent__V1__MultiSetRequest ms = CACHEKIT__AGENT__V1__MULTI_SET_REQUEST__INIT;
	Cachekit__Agent__V1__SetRequest *sets = NULL, **ptrs = NULL;
	cki_reply reply;
	ck_err rv;

	memset(&reply, 0, sizeof(reply));
	if (c == NULL || items == NULL || errs == NULL || n == 0 || n > CKI_STUB_MAX_BATCH)
		return CK_EINVAL;
	if ((rv = check_mset(items, n, opts)) != CK_OK) {
		fail_all(NULL, errs, n, rv);
		return rv;
	}
	if ((rv = build_mset(&req, &ms, items, n, opts, &sets, &ptrs)) != CK_OK)
		goto out;
	rv = cki_exchange(c, opts ? &opts->call : NULL, &req, CKI_REPLY_MULTI_SET, &reply);
	if (rv == CK_OK && reply.n_items != n)
		rv = CK_EPROTO;
	for (size_t i = 0; rv == CK_OK && i < n; i++)
		errs[i] = reply.item_errs[i];
out:
	if (rv != CK_OK)
		fail_all(NULL, errs, n, rv);
	cki_reply_clear(&reply);
	free(sets);
	free(ptrs);
	return rv;
}

ck_err
ck_mset_async(ck_client *c, const ck_mset_item *items, size_t n, const ck_set_opts *opts,
              ck_err *errs, ck_callback cb, void *arg)
{
	Request req = CACHEKIT__AGENT__V1__REQUEST__INIT;
	Cachekit__Agent__V1__MultiSetRequest ms = CACHEKIT__AGENT__V1__MULTI_SET_REQUEST__INIT;
	Cachekit__Agent__V1__SetRequest *sets = NULL, **ptrs = NULL;
	ck_err rv;

	if (c == NULL || cb == NULL || errs == NULL)
		return CK_EINVAL;
	if ((rv = check_mset(items, n, opts)) != CK_OK)
		return rv;
	rv = build_mset(&req, &ms, items, n, opts, &sets, &ptrs);
	if (rv == CK_OK) /* the frame is packed before this returns: the arrays may go */
		rv = cki_async_submit_batch(c, opts ? &opts->call : NULL, &req, CKI_REPLY_MULTI_SET,
		                            NULL, errs, n, cb, arg);
	free(sets);
	free(ptrs);
	return rv;
}

ck_err
ck_mget_async(ck_client *c, const char *const *keys, size_t n, const ck_get_opts *opts,
              ck_value **values, ck_err *errs, ck_callback cb, void *arg)
{
	Request req = CACHEKIT__AGENT__V1__REQUEST__INIT;
	Cachekit__Agent__V1__MultiGetRequest mg = CACHEKIT__AGENT__V1__MULTI_GET_REQUEST__INIT;
	Cachekit__Agent__V1__GetRequest *gets = NULL, **ptrs = NULL;
	ck_err rv;

	if (c == NULL || cb == NULL || keys == NULL || values == NULL || errs == NULL || n == 0 ||
	    n > CKI_STUB_MAX_BATCH)
		return CK_EINVAL;
	if (opts != NULL && cki_req_format_too_long(opts->format))
		return CK_EINVAL;
	for (size_t i = 0; i < n; i++)
		if ((rv = cki_req_check_key(keys[i])) != CK_OK)
			return rv;
	gets = calloc(n, sizeof(*gets));
	ptrs = calloc(n, sizeof(*ptrs));
	rv = CK_ENOMEM;
	if (gets != NULL && ptrs != NULL) {
		for (size_t i = 0; i < n; i++) {
			cki_req_fill_get(&gets[i], keys[i], opts);
			ptrs[i] = &gets[i];
			values[i] = NULL;
		}
		mg.items = ptrs;
		mg.n_items = n;
		req.op_case = CACHEKIT__AGENT__V1__REQUEST__OP_MULTI_GET;
		req.multi_get = &mg;
		rv = cki_async_submit_batch(c, opts ? &opts->call : NULL, &req, CKI_REPLY_MULTI_GET,
		                            values, errs, n, cb, arg);
	}
	free(gets);
	free(ptrs);
	return rv;
}
