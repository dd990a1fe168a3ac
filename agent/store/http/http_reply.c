/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Maps API responses to store replies (spec §2.5, §2.8, §4; decisions in store_http.h). The
 * places where a status means something else on one route live here: 404 is a result (not
 * found, not released) except on the lock and health routes; 409 is "contested" on a lock and
 * a conflict on a TTL PATCH; a lock route answered 400, 404 or 405 is a permanent error (the
 * server, or a proxy in front of it, has no lock routes), never "held by another holder".
 */
#include "store/http/http_reply.h"

#include <stdio.h>

#include "base/log.h"

static void
map_error_status(long status, cki_store_reply *rep)
{
	switch (status) {
	case 401:
		rep->err = CK_EAUTH;
		break;
	case 403:
		rep->err = CK_EFORBIDDEN;
		break;
	case 413:
		rep->err = CK_ETOOBIG;
		rep->message = "value too large";
		break;
	case 429:
		rep->err = CK_ERATELIMIT;
		break;
	default:
		rep->err = CK_EUPSTREAM; /* 400, 405, other 4xx, 408, 5xx, 1xx/3xx */
		break;
	}
}

/* A lock request the server cannot serve at all: polling again would only repeat it. */
static bool
lock_route_refused(long status, cki_store_reply *rep, cki_http_reply_bufs *bufs)
{
	if (status == 404 || status == 405) {
		rep->err = CK_ENOTSUP;
		snprintf(bufs->message, sizeof bufs->message,
		         "upstream has no lock route (HTTP %ld)", status);
	} else if (status == 400) {
		rep->err = CK_EINVAL;
		snprintf(bufs->message, sizeof bufs->message,
		         "upstream refused the lock request (HTTP 400)");
	} else {
		return false;
	}
	rep->message = bufs->message;
	return true;
}

static void
map_ok(cki_http_op op, const cki_http_result *res, cki_store_reply *rep, cki_http_reply_bufs *bufs)
{
	bool acquired;
	ck_err err;

	switch (op) {
	case CKI_OP_GET:
		rep->found = true;
		rep->value = res->body;
		rep->value_len = res->body_len;
		rep->freshness = cki_http_resp_freshness(res->headers);
		rep->fresh_for_ms = cki_http_resp_fresh_for(res->headers);
		if (rep->fresh_for_ms > 0)
			rep->fresh_for_ms *= 1000;
		break;
	case CKI_OP_GET_TTL:
		err = cki_parse_ttl_body((const char *)res->body, res->body_len, &rep->ttl_s);
		if (err != CK_OK) {
			rep->err = CK_EUPSTREAM;
			rep->message = "malformed TTL response";
			rep->ttl_s = -1;
			return;
		}
		/* The TTL counts to eviction rounded up, so a present key never reads 0 (§4.2):
		 * 0 means the entry is at its end, as good as gone. Passing 0 on would read as
		 * "no expiry" to callers that treat 0 so (cachekit-py's TTL conventions). */
		rep->found = rep->ttl_s != 0;
		if (rep->ttl_s == 0)
			rep->ttl_s = -1;
		break;
	case CKI_OP_LOCK:
		err = cki_parse_lock_body((const char *)res->body, res->body_len, &acquired,
		                          bufs->lock_id, sizeof bufs->lock_id);
		if (err != CK_OK)
			cki_log_warn(
			        "http: malformed lock response (%zu bytes): treated as contested",
			        res->body_len);
		rep->found = err == CK_OK && acquired;
		rep->lock_id = rep->found ? bufs->lock_id : NULL;
		break;
	case CKI_OP_HEALTH:
		err = cki_parse_health_body((const char *)res->body, res->body_len, bufs->version,
		                            sizeof bufs->version);
		rep->version = bufs->version;
		if (err != CK_OK) {
			/* a 200 that is not the API's JSON: a proxy or a captive portal answered */
			rep->err = CK_EUPSTREAM;
			rep->message = "health answer is not JSON";
			return;
		}
		rep->found = true;
		break;
	default: /* exists, put, del, touch, unlock */
		rep->found = true;
		break;
	}
}

static void
map_response(cki_http_op op, const cki_http_result *res, cki_store_reply *rep,
             cki_http_reply_bufs *bufs)
{
	long st = res->status;

	if (op == CKI_OP_HEALTH)
		rep->latency_ms = res->total_ms;
	if (op == CKI_OP_LOCK && lock_route_refused(st, rep, bufs))
		return;
	if (st == 404 && op != CKI_OP_LOCK && op != CKI_OP_HEALTH) {
		rep->found = false; /* unlock: not released (cachekit-rs maps 404 to false) */
		return;
	}
	if (st == 409 && op == CKI_OP_LOCK) {
		rep->lock_id = NULL; /* legacy "contested" */
		return;
	}
	if (st == 409 && op == CKI_OP_TOUCH) {
		rep->err = CK_ECONFLICT;
		return;
	}
	if (st < 200 || st > 299) {
		map_error_status(st, rep);
		return;
	}
	map_ok(op, res, rep, bufs);
}

static void
mark_health_error(cki_http_op op, cki_store_reply *rep)
{
	if (op == CKI_OP_HEALTH && rep->err != CK_OK) {
		rep->error_type = ck_errname(rep->err);
		rep->latency_ms = -1;
	}
}

void
cki_http_reply_map(cki_http_op op, const cki_http_result *res, cki_store_reply *rep,
                   cki_http_reply_bufs *bufs)
{
	cki_store_reply_init(rep);
	if (res->err != CK_OK) {
		rep->err = res->err;
		rep->message = res->message;
	} else {
		map_response(op, res, rep, bufs);
		if (rep->err != CK_OK && rep->message == NULL) {
			snprintf(bufs->message, sizeof bufs->message, "upstream HTTP %ld",
			         res->status);
			rep->message = bufs->message;
		}
	}
	mark_health_error(op, rep);
}

void
cki_http_reply_fail(cki_http_op op, ck_err err, const char *why, cki_store_reply *rep)
{
	cki_store_reply_init(rep);
	rep->err = err;
	rep->message = why;
	mark_health_error(op, rep);
}
