/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Decoders for what the cachekit.io API sends back: response header lines (freshness,
 * remaining freshness, Retry-After) and the small JSON bodies of lock, TTL and health. Bytes
 * in, values out, no I/O, so they are unit-tested and fuzzed (tests/fuzz/fuzz_http_response.c).
 * Thread-safe (no shared state).
 */
#ifndef CKI_HTTP_RESPONSE_H
#define CKI_HTTP_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cachekit/errors.h"
#include "store/store.h"

#define CKI_HTTP_JSON_BODY_MAX    (64u * 1024u)         /* lock/ttl/health/put/delete bodies */
#define CKI_HTTP_VALUE_BODY_MAX   (26u * 1024u * 1024u) /* 25 MB API limit + slack */
#define CKI_HTTP_LOCK_ID_MAX      256u                  /* longest lock id we keep */
#define CKI_HTTP_VERSION_MAX      64u                   /* longest health "version" we keep */
#define CKI_HTTP_HEADER_VALUE_MAX 40u /* longest value we keep per header (RFC 850 dates: 33) */

/* X-CacheKit-Fresh-For (spec §2.7): value (len bytes, need not be NUL-terminated) is 1-7
 * ASCII digits and at most 2,592,000 -> that number of seconds; anything else -> 0; a NULL
 * value (header absent) -> -1 (no server bound). */
int64_t cki_parse_fresh_for(const char *value, size_t len);

/* X-CacheKit-Freshness: NULL (absent) or exactly "fresh" -> CKI_FRESH; anything else ->
 * CKI_STALE. */
cki_freshness cki_parse_freshness(const char *value, size_t len);

/* Retry-After (RFC 9110 §10.2.3), either form: delta seconds (1-9 digits) -> milliseconds;
 * an HTTP-date (IMF-fixdate, RFC 850 or asctime) -> milliseconds from now_s (wall-clock
 * seconds since the epoch) to it, 0 for a date already past; anything else -> -1. */
int64_t cki_parse_retry_after(const char *value, size_t len, int64_t now_s);

/* The headers we care about, collected from a response. A header seen twice
 * is treated as its comma-combined value (RFC 9110 §5.3), which never parses as a number or
 * as "fresh". */
typedef struct cki_http_resp_headers {
	int status; /* from the last status line; 0 before one */
	unsigned freshness_seen, fresh_for_seen, retry_after_seen;
	char freshness[CKI_HTTP_HEADER_VALUE_MAX + 1];
	size_t freshness_len;
	char fresh_for[CKI_HTTP_HEADER_VALUE_MAX + 1];
	size_t fresh_for_len;
	char retry_after[CKI_HTTP_HEADER_VALUE_MAX + 1];
	size_t retry_after_len;
} cki_http_resp_headers;

void cki_http_resp_headers_init(cki_http_resp_headers *h);

/* Records the value (len bytes) of response header name, which the response carried amount
 * times (curl_easy_header()'s count). Only the three headers above are kept; names compare
 * case-insensitively; surrounding spaces and tabs are dropped. Never fails: a value longer
 * than CKI_HTTP_HEADER_VALUE_MAX is kept as an over-long marker that no parser accepts, and a
 * header seen more than once as its comma-combined value. The status is set by the caller. */
void cki_http_resp_header_value(cki_http_resp_headers *h, const char *name, const char *value,
                                size_t len, size_t amount);

/* Freshness / Fresh-For (seconds, -1 absent) / Retry-After (ms, -1 none) of what was fed. */
cki_freshness cki_http_resp_freshness(const cki_http_resp_headers *h);
int64_t cki_http_resp_fresh_for(const cki_http_resp_headers *h);
int64_t cki_http_resp_retry_after_ms(const cki_http_resp_headers *h, int64_t now_s);

/* Lock response body (spec §4.1). CK_OK and *acquired true with the id copied into lock_id
 * (cap bytes) for {"lock_id":"<id>"}; CK_OK and *acquired false for null or an absent field;
 * CK_EPROTO for a malformed body, a non-string id, or an id that is empty, longer than
 * CKI_HTTP_LOCK_ID_MAX or holds a control character (callers treat that as contested). */
CK_NODISCARD ck_err cki_parse_lock_body(const char *body, size_t len, bool *acquired, char *lock_id,
                                        size_t cap);

/* TTL body (spec §4.2): {"ttl":n} with 0 <= n <= 2^31-1 -> *ttl_s = n; {"ttl":null} -> -1.
 * CK_EPROTO otherwise. */
CK_NODISCARD ck_err cki_parse_ttl_body(const char *body, size_t len, int64_t *ttl_s);

/* Health body (spec §2.11), either shape: copies a printable string "version" into version
 * (cap bytes), else "unknown". CK_OK for any JSON object (a missing or odd version is not an
 * error); CK_EPROTO when the body is not a JSON object (version is "unknown" then too): the
 * SDKs read a 200 with such a body as unhealthy (a proxy's page, not the API). */
CK_NODISCARD ck_err cki_parse_health_body(const char *body, size_t len, char *version, size_t cap);

#endif
