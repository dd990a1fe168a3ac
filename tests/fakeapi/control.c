/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ck-fakeapi control endpoint (plain HTTP/1.1 on 127.0.0.1, never counted as API traffic):
 * GET /requests[?since=SEQ], GET /stats, POST /reset, GET|POST /faults, GET|POST /clock and
 * GET /entries/<key>, so tests can steer faults and the clock and inspect what the server
 * received and stored.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fakeapi.h"

static void
take_json(struct fa_response *resp, int status, char *json)
{
	cki_resp_json(resp, status, json ? json : "null");
	free(json);
}

static void
control_error(struct fa_response *resp, int status, const char *msg)
{
	json_t *o = json_pack("{ss}", "error", msg);
	take_json(resp, status, json_dumps(o, JSON_COMPACT));
	json_decref(o);
}

static char *
stats_json(void)
{
	const struct fa_stats *s = &cki_fa.stats;
	json_t *o = json_pack(
	        "{sIsIsIsIsIsIsIsIsIsIsIsI}", "tls_handshakes", (json_int_t)s->tls_handshakes,
	        "connections_accepted", (json_int_t)s->connections_accepted, "requests",
	        (json_int_t)s->requests, "max_concurrent_streams",
	        (json_int_t)s->max_concurrent_streams, "h2_connections",
	        (json_int_t)s->h2_connections, "h1_connections", (json_int_t)s->h1_connections,
	        "faults_injected", (json_int_t)s->faults_injected, "resets_injected",
	        (json_int_t)s->resets_injected, "records_dropped", (json_int_t)s->records_dropped,
	        "cache_entries", (json_int_t)cki_store_count(), "active_locks",
	        (json_int_t)cki_lock_count(), "clock_offset_ms",
	        (json_int_t)cki_fa.clock_offset_ms);
	char *str = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return str;
}

static void
clock_json(struct fa_response *resp)
{
	int64_t now = cki_now_ms();
	json_t *o =
	        json_pack("{sIsIsIsb}", "now_ms", (json_int_t)now, "now_s",
	                  (json_int_t)(now / 1000), "offset_ms", (json_int_t)cki_fa.clock_offset_ms,
	                  "frozen", cki_fa.clock_frozen_ms > 0);
	take_json(resp, 200, json_dumps(o, JSON_COMPACT));
	json_decref(o);
}

static void
post_clock(const struct fa_request *req, struct fa_response *resp)
{
	json_t *root = json_loadb((const char *)req->body.data, req->body.len, 0, NULL);
	json_t *adv = json_is_object(root) ? json_object_get(root, "advance_s") : NULL;
	json_t *adv_ms = json_is_object(root) ? json_object_get(root, "advance_ms") : NULL;
	json_t *freeze = json_is_object(root) ? json_object_get(root, "freeze") : NULL;
	int64_t delta = 0;
	if (json_is_boolean(freeze)) {
		/* Stop (or restart) the server clock: TTLs read back exactly what was written. */
		int64_t now = cki_now_ms() - cki_fa.clock_offset_ms;
		cki_fa.clock_frozen_ms = json_is_true(freeze) ? now : 0;
		if (adv == NULL && adv_ms == NULL) {
			json_decref(root);
			clock_json(resp);
			return;
		}
	}
	if (json_is_number(adv)) {
		delta = (int64_t)(json_number_value(adv) * 1000.0);
	} else if (json_is_integer(adv_ms)) {
		delta = (int64_t)json_integer_value(adv_ms);
	} else {
		json_decref(root);
		control_error(resp, 400, "want {\"advance_s\": N} or {\"freeze\": true|false}");
		return;
	}
	json_decref(root);
	if (delta < 0 || delta > (int64_t)FA_MAX_TTL * 1000 * 100) {
		control_error(resp, 400, "advance must be >= 0 and sane");
		return;
	}
	cki_fa.clock_offset_ms += delta;
	clock_json(resp);
}

static void
get_entry(const char *raw, struct fa_response *resp)
{
	char key[FA_MAX_PATH + 1];
	size_t klen;
	if (cki_pct_decode(raw, strcspn(raw, "?"), key, sizeof(key), &klen) != 0) {
		control_error(resp, 400, "bad key escape");
		return;
	}
	struct fa_entry *e = cki_store_get(key);
	if (e == NULL) {
		control_error(resp, 404, "absent");
		return;
	}
	char num[32];
	resp->status = 200;
	cki_resp_header(resp, "content-type", "application/octet-stream");
	if (e->has_ttl) {
		snprintf(num, sizeof(num), "%lld", (long long)e->fresh_until);
		cki_resp_header(resp, "x-fake-fresh-until", num);
		snprintf(num, sizeof(num), "%lld", (long long)e->evict_at);
		cki_resp_header(resp, "x-fake-evict-at", num);
	}
	cki_buf_append(&resp->body, e->value, e->len);
}

void
cki_control_handle(const struct fa_request *req, struct fa_response *resp)
{
	const char *m = req->method;
	const char *p = req->path;
	int get = strcmp(m, "GET") == 0, post = strcmp(m, "POST") == 0;
	size_t plen = strcspn(p, "?");
	char err[160];

	if (plen == 9 && strncmp(p, "/requests", 9) == 0 && get) {
		uint64_t since = 0;
		const char *q = strstr(p, "since=");
		if (q != NULL) {
			since = strtoull(q + 6, NULL, 10);
		}
		take_json(resp, 200, cki_record_json(since));
	} else if (plen == 6 && strncmp(p, "/stats", 6) == 0 && get) {
		take_json(resp, 200, stats_json());
	} else if (plen == 6 && strncmp(p, "/reset", 6) == 0 && post) {
		cki_store_clear();
		cki_record_clear();
		memset(&cki_fa.stats, 0, sizeof(cki_fa.stats));
		cki_fa.faults = cki_fa.start_faults;
		cki_fa.clock_offset_ms = 0;
		cki_fa.clock_frozen_ms = 0;
		cki_resp_json(resp, 200, "{\"ok\":true}");
	} else if (plen == 7 && strncmp(p, "/faults", 7) == 0 && (get || post)) {
		if (post && cki_faults_merge_json(&cki_fa.faults, (const char *)req->body.data,
		                                  req->body.len, err, sizeof(err)) != 0) {
			control_error(resp, 400, err);
			return;
		}
		take_json(resp, 200, cki_faults_to_json(&cki_fa.faults));
	} else if (plen == 6 && strncmp(p, "/clock", 6) == 0 && (get || post)) {
		if (post) {
			post_clock(req, resp);
		} else {
			clock_json(resp);
		}
	} else if (plen > 9 && strncmp(p, "/entries/", 9) == 0 && get) {
		get_entry(p + 9, resp);
	} else {
		control_error(resp, 404, "no such control route");
	}
}
