/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the cachekit.io API response decoders (agent/http_response.c): header
 * lines as libcurl delivers them (status lines, X-CacheKit-Freshness, X-CacheKit-Fresh-For,
 * Retry-After) and the lock, TTL and health JSON bodies. The first input byte picks the
 * decoder; the rest is the peer's bytes. Beyond "no crash": every result stays within its
 * documented range (fresh-for -1..2,592,000; Retry-After -1 or whole seconds; a lock id only
 * with CK_OK, non-empty, capped and free of control bytes; a health version printable and
 * capped; a TTL -1..2^31-1), and outputs are set exactly when the decoder says so.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/http/http_response.h"
#include "base/log.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	cki_log_set_level(CKI_LOG_ERROR);
	return 0;
}

static void
check_value_parsers(const char *p, size_t n)
{
	int64_t ff = cki_parse_fresh_for(p, n);
	int64_t ra = cki_parse_retry_after(p, n, 1700000000);
	cki_freshness fr = cki_parse_freshness(p, n);

	if (ff < 0 || ff > 2592000)
		abort();
	if (ra < -1 || (ra >= 0 && ra % 1000 != 0)) /* both forms are whole seconds */
		abort();
	if (fr != CKI_FRESH && fr != CKI_STALE)
		abort();
	if (fr == CKI_FRESH && !(n == 5 && memcmp(p, "fresh", 5) == 0))
		abort();
}

static void
check_headers(const char *p, size_t n)
{
	cki_http_resp_headers h;
	size_t start = 0;
	int64_t ff, ra;

	cki_http_resp_headers_init(&h);
	/* "name:value" lines, as curl_easy_header() would hand them over (one byte of each line
	 * before the colon picks the count, so repeats are covered too) */
	for (size_t i = 0; i <= n; i++) {
		if (i == n || p[i] == '\n') {
			const char *line = p + start, *colon = memchr(line, ':', i - start);
			char name[64];
			size_t nlen = colon != NULL ? (size_t)(colon - line) : 0;

			if (colon != NULL && nlen < sizeof name) {
				memcpy(name, line, nlen);
				name[nlen] = '\0';
				cki_http_resp_header_value(
				        &h, name, colon + 1, (size_t)(p + i - colon - 1),
				        nlen > 0 ? 1 + (size_t)(name[0] & 1) : 1);
			}
			start = i + 1;
		}
	}
	ff = cki_http_resp_fresh_for(&h);
	ra = cki_http_resp_retry_after_ms(&h, 1700000000);
	if (ff < -1 || ff > 2592000 || (ff == -1 && h.fresh_for_seen != 0))
		abort();
	if (ra < -1 || (ra >= 0 && h.retry_after_seen != 1))
		abort();
	if (cki_http_resp_freshness(&h) == CKI_STALE && h.freshness_seen == 0)
		abort();
}

static void
check_lock(const char *p, size_t n)
{
	char id[CKI_HTTP_LOCK_ID_MAX + 1];
	bool acquired = true;
	ck_err rv = cki_parse_lock_body(p, n, &acquired, id, sizeof id);
	size_t len;

	if (rv != CK_OK && rv != CK_EPROTO)
		abort();
	if (!acquired) {
		if (id[0] != '\0')
			abort();
		return;
	}
	if (rv != CK_OK)
		abort();
	len = strlen(id);
	if (len == 0 || len > CKI_HTTP_LOCK_ID_MAX)
		abort();
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)id[i] < 0x20 || id[i] == 0x7f)
			abort();
}

static void
check_ttl(const char *p, size_t n)
{
	int64_t ttl = -7;
	ck_err rv = cki_parse_ttl_body(p, n, &ttl);

	if (rv == CK_OK && (ttl < -1 || ttl > 2147483647))
		abort();
	if (rv != CK_OK && (rv != CK_EPROTO || ttl != -7))
		abort();
}

static void
check_health(const char *p, size_t n)
{
	char version[CKI_HTTP_VERSION_MAX + 1];
	size_t len;

	memset(version, 'x', sizeof version);
	ck_err err = cki_parse_health_body(p, n, version, sizeof version);
	if (err != CK_OK && err != CK_EPROTO)
		abort();
	if (err == CK_EPROTO && strcmp(version, "unknown") != 0)
		abort();
	len = strnlen(version, sizeof version);
	if (len == 0 || len > CKI_HTTP_VERSION_MAX)
		abort();
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)version[i] < 0x20 || (unsigned char)version[i] >= 0x7f)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p;
	size_t n;

	if (size == 0 || size > CKI_HTTP_JSON_BODY_MAX + 1)
		return 0;
	p = (const char *)data + 1;
	n = size - 1;
	check_value_parsers(p, n);
	switch (data[0] % 4) {
	case 0:
		check_headers(p, n);
		break;
	case 1:
		check_lock(p, n);
		break;
	case 2:
		check_ttl(p, n);
		break;
	default:
		check_health(p, n);
		break;
	}
	return 0;
}
