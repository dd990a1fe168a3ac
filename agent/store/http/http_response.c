/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Decoders for cachekit.io API responses: header values (X-CacheKit-Freshness,
 * X-CacheKit-Fresh-For, Retry-After, as libcurl's curl_easy_header() hands them over) and the lock,
 * TTL and health JSON bodies (jansson). Every input is peer bytes: lengths are checked before
 * anything is copied, and nothing here allocates beyond what jansson needs for a body the caller
 * has already capped.
 */
#include "store/http/http_response.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define FRESH_FOR_MAX_S        2592000 /* 30 days, the API's TTL ceiling */
#define FRESH_FOR_MAX_DIGITS   7
#define RETRY_AFTER_MAX_DIGITS 9
#define HTTP_DATE_MIN_LEN      24 /* "Sun Nov  6 08:49:37 1994" (asctime), the shortest form */
#define TTL_MAX_S              2147483647

int64_t
cki_parse_fresh_for(const char *value, size_t len)
{
	int64_t v = 0;

	if (value == NULL)
		return -1;
	/* length first, so no digit string can overflow back into range */
	if (len < 1 || len > FRESH_FOR_MAX_DIGITS)
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (value[i] < '0' || value[i] > '9')
			return 0;
		v = v * 10 + (value[i] - '0');
	}
	return v <= FRESH_FOR_MAX_S ? v : 0;
}

cki_freshness
cki_parse_freshness(const char *value, size_t len)
{
	if (value == NULL)
		return CKI_FRESH;
	return len == 5 && memcmp(value, "fresh", 5) == 0 ? CKI_FRESH : CKI_STALE;
}

/* An HTTP-date (RFC 9110 §5.6.7: IMF-fixdate, or the obsolete RFC 850 and asctime forms a
 * recipient must accept) -> seconds since the epoch, or -1. libcurl's date parser reads all
 * three; the length and a letter up front keep it from taking a bare number or a fragment. */
static int64_t
parse_http_date(const char *value, size_t len)
{
	char buf[CKI_HTTP_HEADER_VALUE_MAX + 1];
	time_t t;

	if (len < HTTP_DATE_MIN_LEN || len > CKI_HTTP_HEADER_VALUE_MAX ||
	    !((value[0] >= 'A' && value[0] <= 'Z') || (value[0] >= 'a' && value[0] <= 'z')))
		return -1;
	memcpy(buf, value, len);
	buf[len] = '\0';
	if (memchr(buf, '\0', len) != NULL)
		return -1;
	t = curl_getdate(buf, NULL);
	return t < 0 ? -1 : (int64_t)t;
}

int64_t
cki_parse_retry_after(const char *value, size_t len, int64_t now_s)
{
	int64_t v = 0;

	if (value == NULL || len < 1)
		return -1;
	if (value[0] < '0' || value[0] > '9') {
		v = parse_http_date(value, len);
		if (v < 0)
			return -1;
		return v > now_s ? (v - now_s) * 1000 : 0; /* a date gone by: retry now */
	}
	if (len > RETRY_AFTER_MAX_DIGITS)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (value[i] < '0' || value[i] > '9')
			return -1;
		v = v * 10 + (value[i] - '0');
	}
	return v * 1000;
}

void
cki_http_resp_headers_init(cki_http_resp_headers *h)
{
	memset(h, 0, sizeof *h);
}

static void
keep_value(char *dst, size_t *dst_len, unsigned *seen, const char *v, size_t len, size_t amount)
{
	*seen += amount > 1 ? (unsigned)2 : (unsigned)1; /* > 1: a comma-combined value */
	while (len > 0 && (v[0] == ' ' || v[0] == '\t')) {
		v++;
		len--;
	}
	while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
		len--;
	if (len > CKI_HTTP_HEADER_VALUE_MAX) {
		*dst_len = CKI_HTTP_HEADER_VALUE_MAX + 1; /* over-long marker */
		dst[0] = '\0';
		return;
	}
	memcpy(dst, v, len);
	dst[len] = '\0';
	*dst_len = len;
}

void
cki_http_resp_header_value(cki_http_resp_headers *h, const char *name, const char *value,
                           size_t len, size_t amount)
{
	if (name == NULL || value == NULL || amount == 0)
		return;
	if (strcasecmp(name, "x-cachekit-freshness") == 0)
		keep_value(h->freshness, &h->freshness_len, &h->freshness_seen, value, len, amount);
	else if (strcasecmp(name, "x-cachekit-fresh-for") == 0)
		keep_value(h->fresh_for, &h->fresh_for_len, &h->fresh_for_seen, value, len, amount);
	else if (strcasecmp(name, "retry-after") == 0)
		keep_value(h->retry_after, &h->retry_after_len, &h->retry_after_seen, value, len,
		           amount);
}

cki_freshness
cki_http_resp_freshness(const cki_http_resp_headers *h)
{
	if (h->freshness_seen == 0)
		return CKI_FRESH;
	if (h->freshness_seen > 1 || h->freshness_len > CKI_HTTP_HEADER_VALUE_MAX)
		return CKI_STALE;
	return cki_parse_freshness(h->freshness, h->freshness_len);
}

int64_t
cki_http_resp_fresh_for(const cki_http_resp_headers *h)
{
	if (h->fresh_for_seen == 0)
		return -1;
	if (h->fresh_for_seen > 1 || h->fresh_for_len > CKI_HTTP_HEADER_VALUE_MAX)
		return 0;
	return cki_parse_fresh_for(h->fresh_for, h->fresh_for_len);
}

int64_t
cki_http_resp_retry_after_ms(const cki_http_resp_headers *h, int64_t now_s)
{
	if (h->retry_after_seen != 1 || h->retry_after_len > CKI_HTTP_HEADER_VALUE_MAX)
		return -1;
	return cki_parse_retry_after(h->retry_after, h->retry_after_len, now_s);
}

static json_t *
load_object(const char *body, size_t len)
{
	json_error_t jerr;
	json_t *root;

	if (body == NULL || len > CKI_HTTP_JSON_BODY_MAX)
		return NULL;
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root != NULL && !json_is_object(root)) {
		json_decref(root);
		return NULL;
	}
	return root;
}

ck_err
cki_parse_lock_body(const char *body, size_t len, bool *acquired, char *lock_id, size_t cap)
{
	json_t *root = load_object(body, len);
	json_t *id;
	const char *s;
	size_t n;
	ck_err rv = CK_EPROTO;

	*acquired = false;
	if (cap > 0)
		lock_id[0] = '\0';
	if (root == NULL)
		goto out;
	id = json_object_get(root, "lock_id");
	if (id == NULL || json_is_null(id)) {
		rv = CK_OK; /* contested */
		goto out;
	}
	if (!json_is_string(id))
		goto out;
	s = json_string_value(id);
	n = json_string_length(id);
	if (n == 0 || n > CKI_HTTP_LOCK_ID_MAX || n + 1 > cap)
		goto out;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			goto out; /* it goes back into a header line: no CR, LF or NUL */
	memcpy(lock_id, s, n + 1);
	*acquired = true;
	rv = CK_OK;
out:
	json_decref(root);
	return rv;
}

ck_err
cki_parse_ttl_body(const char *body, size_t len, int64_t *ttl_s)
{
	json_t *root = load_object(body, len);
	json_t *ttl;
	json_int_t v;
	ck_err rv = CK_EPROTO;

	if (root == NULL)
		goto out;
	ttl = json_object_get(root, "ttl");
	if (ttl == NULL)
		goto out;
	if (json_is_null(ttl)) {
		*ttl_s = -1;
		rv = CK_OK;
		goto out;
	}
	if (!json_is_integer(ttl))
		goto out;
	v = json_integer_value(ttl);
	if (v < 0 || v > TTL_MAX_S)
		goto out;
	*ttl_s = (int64_t)v;
	rv = CK_OK;
out:
	json_decref(root);
	return rv;
}

ck_err
cki_parse_health_body(const char *body, size_t len, char *version, size_t cap)
{
	json_t *root = load_object(body, len);
	json_t *v = root != NULL ? json_object_get(root, "version") : NULL;
	bool ok = false;
	ck_err rv = root != NULL ? CK_OK : CK_EPROTO;

	if (cap == 0)
		goto out;
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		size_t n = json_string_length(v);

		ok = n > 0 && n <= CKI_HTTP_VERSION_MAX && n < cap;
		for (size_t i = 0; ok && i < n; i++)
			ok = (unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x7f;
		if (ok)
			memcpy(version, s, n + 1);
	}
	if (!ok)
		snprintf(version, cap, "%s", "unknown");
out:
	json_decref(root);
	return rv;
}
