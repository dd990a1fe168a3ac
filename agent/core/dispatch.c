/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The dispatcher: its lifecycle, admission (batch size, in-flight caps), the deadline of each
 * call, routing a request to its handler (dispatch_kv.c, dispatch_admin.c), running MultiGet
 * and MultiSet items as calls of their own, and ending every call with exactly one reply.
 * Completions may arrive before the store call returns (embedded store) or later (HTTP).
 */
#include "core/dispatch.h"

#include <stdio.h>
#include <stdlib.h>

#include "base/log.h"
#include "base/metrics.h"
#include "core/batch.h"
#include "core/dispatch_internal.h"

static void batch_item_done(cki_dispatch *d, batch_call *b, size_t i, const resp_t *resp);

ck_err
cki_dispatch_new(cki_dispatch **out, const cki_dispatch_deps *deps)
{
	cki_dispatch *d = calloc(1, sizeof(*d));
	if (d == NULL)
		return CK_ENOMEM;
	d->deps = *deps;
	*out = d;
	return CK_OK;
}

void
cki_dispatch_set_reply(cki_dispatch *d, cki_reply_sink sink)
{
	d->reply = sink;
}

void
cki_dispatch_set_nearver(cki_dispatch *d, cki_nearver *v)
{
	d->nearver = v;
}

void
cki_dispatch_set_keyring(cki_dispatch *d, const cki_keyring *kr)
{
	d->deps.keyring = kr;
}

void
cki_dispatch_free(cki_dispatch *d)
{
	free(d);
}

size_t
cki_dispatch_inflight(const cki_dispatch *d)
{
	return d->inflight;
}

/* Sends resp (status/message filled by the caller) and ends the call. */
void
cki_call_finish(call *c, resp_t *resp)
{
	cki_dispatch *d = c->d;
	resp->id = c->req->id;
	if (resp->message == NULL)
		resp->message = (char *)"";
	if (resp->status != CK_OK)
		cki_metrics_inc(CKI_C_ERRORS);
	cki_metrics_observe(c->op, cki_now_us() - c->started_us);
	cki_metrics_request(c->op, (int)resp->status);
	d->inflight--;
	d->inflight_bytes -= c->held_bytes;
	if (c->batch != NULL) {
		batch_item_done(d, c->batch, c->batch_index, resp);
		free(c->req); /* a shell around the batch request's item */
	} else {
		d->reply.send(d->reply.arg, &c->to, resp);
		cki_request_free(c->req);
	}
	free(c->owned);
	free(c);
}

void
cki_call_finish_status(call *c, ck_err err, const char *message)
{
	resp_t resp = CACHEKIT__AGENT__V1__RESPONSE__INIT;
	resp.status = err;
	resp.message = (char *)(message ? message : ck_strerror(err));
	cki_call_finish(c, &resp);
}

void
cki_call_store_error(call *c, const cki_store_reply *r)
{
	cki_call_finish_status(c, r->err, r->message ? r->message : ck_strerror(r->err));
}

bool
cki_call_store_failed(call *c, const cki_store_reply *r)
{
	if (r->err == CK_OK)
		return false;
	cki_call_store_error(c, r);
	return true;
}

/* ---- batches ------------------------------------------------------------------------------ */

static void
batch_item_done(cki_dispatch *d, batch_call *b, size_t i, const resp_t *resp)
{
	if (resp != NULL)
		cki_batch_put(b->answers, i, resp);
	if (--b->remaining > 0)
		return;
	cki_batch_send(b->answers, &d->reply, &b->to, b->req->id, b->is_get);
	cki_request_free(b->req);
	free(b);
}

/* Runs each item as its own call (L1, single-flight, the store: all concurrently); the reply
 * goes out when the last one answers. */
static void
handle_batch(cki_dispatch *d, const cki_reply_to *to, const cki_peer *peer, cki_request *req)
{
	bool is_get = req->op_case == CACHEKIT__AGENT__V1__REQUEST__OP_MULTI_GET;
	size_t n = is_get ? req->multi_get->n_items : req->multi_set->n_items;
	batch_call *b = calloc(1, sizeof(*b));
	if (b == NULL || (b->answers = cki_batch_new(n)) == NULL) {
		free(b);
		cki_reply_status(&d->reply, to, req->id, CK_ENOMEM, "agent out of memory");
		cki_request_free(req);
		return;
	}
	b->to = *to;
	b->req = req;
	b->is_get = is_get;
	b->remaining = n + 1;
	const cki_config *cfg = d->deps.cfg;
	uint32_t budget = req->deadline_ms ? req->deadline_ms : cfg->timeout_ms;
	if (budget > cfg->max_deadline_ms)
		budget = cfg->max_deadline_ms;
	for (size_t i = 0; i < n; i++) {
		cki_request *shell = calloc(1, sizeof(*shell));
		call *c = shell ? calloc(1, sizeof(*c)) : NULL;
		if (c == NULL) {
			resp_t oom = CACHEKIT__AGENT__V1__RESPONSE__INIT;
			oom.status = CK_ENOMEM;
			oom.message = (char *)"agent out of memory";
			free(shell);
			batch_item_done(d, b, i, &oom);
			continue;
		}
		cachekit__agent__v1__request__init(shell);
		shell->id = req->id;
		shell->deadline_ms = req->deadline_ms;
		shell->namespace_ = req->namespace_;
		c->d = d;
		c->to = *to;
		c->peer = *peer;
		c->req = shell;
		c->batch = b;
		c->batch_index = i;
		c->started_us = cki_now_us();
		c->deadline = c->started_us / 1000 + budget;
		d->inflight++;
		if (is_get) {
			shell->op_case = CACHEKIT__AGENT__V1__REQUEST__OP_GET;
			shell->get = req->multi_get->items[i];
			c->op = CKI_OP_GET;
			cki_handle_get(c);
		} else {
			shell->op_case = CACHEKIT__AGENT__V1__REQUEST__OP_SET;
			shell->set = req->multi_set->items[i];
			c->held_bytes = shell->set->value.len;
			d->inflight_bytes += c->held_bytes;
			c->op = CKI_OP_SET;
			cki_handle_set(c);
		}
	}
	batch_item_done(d, b, n, NULL); /* every item started: drop the guard */
}

/* ---- entry -------------------------------------------------------------------------------- */

void
cki_dispatch_handle(void *arg, const cki_reply_to *to, const cki_peer *peer, cki_request *req)
{
	cki_dispatch *d = arg;
	/* Bounded memory under a flood (or a stuck upstream): refuse, do not queue. */
	uint64_t bytes =
	        req->op_case == CACHEKIT__AGENT__V1__REQUEST__OP_SET ? req->set->value.len : 0;
	size_t items = 1;
	if (req->op_case == CACHEKIT__AGENT__V1__REQUEST__OP_MULTI_GET)
		items = req->multi_get->n_items;
	if (req->op_case == CACHEKIT__AGENT__V1__REQUEST__OP_MULTI_SET) {
		items = req->multi_set->n_items;
		for (size_t i = 0; i < items; i++)
			bytes += req->multi_set->items[i]->value.len;
	}
	if (items > CKI_BATCH_MAX) {
		char m[96];
		snprintf(m, sizeof(m), "a batch holds at most %d items, not %zu", CKI_BATCH_MAX,
		         items);
		cki_reply_status(&d->reply, to, req->id, CK_EINVAL, m);
		cki_request_free(req);
		return;
	}
	if (d->inflight + items > d->deps.cfg->max_inflight ||
	    (bytes > 0 && d->inflight_bytes + bytes > d->deps.cfg->max_inflight_bytes)) {
		char m[128];
		snprintf(m, sizeof(m),
		         "agent overloaded: %zu requests (%llu value bytes) in progress",
		         d->inflight, (unsigned long long)d->inflight_bytes);
		cki_metrics_inc(CKI_C_OVERLOADED);
		cki_reply_status(&d->reply, to, req->id, CK_EOVERLOAD, m);
		cki_request_free(req);
		return;
	}
	if (req->op_case == CACHEKIT__AGENT__V1__REQUEST__OP_MULTI_GET ||
	    req->op_case == CACHEKIT__AGENT__V1__REQUEST__OP_MULTI_SET) {
		handle_batch(d, to, peer, req);
		return;
	}
	call *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		cki_reply_status(&d->reply, to, req->id, CK_ENOMEM, "agent out of memory");
		cki_request_free(req);
		return;
	}
	const cki_config *cfg = d->deps.cfg;
	uint32_t budget = req->deadline_ms ? req->deadline_ms : cfg->timeout_ms;
	if (budget > cfg->max_deadline_ms)
		budget = cfg->max_deadline_ms;
	c->d = d;
	c->to = *to;
	c->peer = *peer;
	c->req = req;
	c->started_us = cki_now_us();
	c->deadline = c->started_us / 1000 + budget;
	d->inflight++;
	c->held_bytes = bytes;
	d->inflight_bytes += bytes;
	switch (req->op_case) {
	case CACHEKIT__AGENT__V1__REQUEST__OP_GET:
		c->op = CKI_OP_GET;
		cki_handle_get(c);
		break;
	case CACHEKIT__AGENT__V1__REQUEST__OP_SET:
		c->op = CKI_OP_SET;
		cki_handle_set(c);
		break;
	case CACHEKIT__AGENT__V1__REQUEST__OP_DELETE:
		c->op = CKI_OP_DELETE;
		cki_handle_delete(c);
		break;
	case CACHEKIT__AGENT__V1__REQUEST__OP_EXISTS:
		c->op = CKI_OP_EXISTS;
		cki_handle_exists(c);
		break;
	case CACHEKIT__AGENT__V1__REQUEST__OP_GET_TTL:
		c->op = CKI_OP_GET_TTL;
		cki_handle_get_ttl(c);
		break;
	case CACHEKIT__AGENT__V1__REQUEST__OP_REFRESH_TTL:
		c->op = CKI_OP_REFRESH_TTL;
		cki_handle_refresh_ttl(c);
		break;
	case CACHEKIT__AGENT__V1__REQUEST__OP_ACQUIRE_LOCK:
		c->op = CKI_OP_ACQUIRE_LOCK;
		cki_handle_acquire_lock(c);
		break;
	case CACHEKIT__AGENT__V1__REQUEST__OP_RELEASE_LOCK:
		c->op = CKI_OP_RELEASE_LOCK;
		cki_handle_release_lock(c);
		break;
	case CACHEKIT__AGENT__V1__REQUEST__OP_RENEW_LOCK:
		c->op = CKI_OP_RENEW_LOCK;
		cki_handle_renew_lock(c);
		break;
	case CACHEKIT__AGENT__V1__REQUEST__OP_HEALTH:
		c->op = CKI_OP_HEALTH;
		cki_handle_health(c);
		break;
	case CACHEKIT__AGENT__V1__REQUEST__OP_STATS:
		c->op = CKI_OP_STATS;
		cki_handle_stats(c);
		break;
	default:
		c->op = CKI_OP_STATS;
		cki_call_finish_status(c, CK_ENOTSUP, "operation not supported by this agent");
		break;
	}
}
