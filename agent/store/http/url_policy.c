/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The API URL policy (spec §3.1, §13 decision 7). libcurl's URL parser splits the URL, so the
 * host we judge is the host libcurl will connect to; then string rules decide: https only, no
 * userinfo, no query or fragment, no literal private/loopback/link-local/unspecified address
 * (IPv4 ranges, IPv6 ::1, ::, fe80::/10, fc00::/7, multicast, and IPv4 embedded in mapped,
 * compatible, NAT64 or 6to4 forms, checked recursively), no localhost, and an exact allowlist
 * unless custom hosts are allowed. Messages stay generic on purpose (spec §3.1 item 6).
 */
#include "store/http/url_policy.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOST_MAX 255 /* DNS names are at most 253 characters; brackets fit too */

static const char *const allowed_hosts[] = {"api.cachekit.io", "api.staging.cachekit.io"};

static ck_err
refuse(char *why, size_t why_cap, const char *reason)
{
	if (why != NULL && why_cap > 0)
		snprintf(why, why_cap, "%s", reason);
	return CK_EURL;
}

/* True for the IPv4 ranges an API URL must never name (address in host order). */
static bool
ipv4_blocked(uint32_t a)
{
	uint32_t o1 = a >> 24, o2 = (a >> 16) & 0xff;

	if (o1 == 0 || o1 == 10 || o1 == 127) /* this network, RFC 1918, loopback */
		return true;
	if (o1 == 169 && o2 == 254) /* link-local */
		return true;
	if (o1 == 172 && o2 >= 16 && o2 <= 31) /* RFC 1918 */
		return true;
	if (o1 == 192 && o2 == 168) /* RFC 1918 */
		return true;
	if (o1 == 100 && o2 >= 64 && o2 <= 127) /* shared address space (CGNAT) */
		return true;
	if (o1 >= 224) /* multicast, reserved, broadcast */
		return true;
	return false;
}

static uint32_t
ipv4_at(const unsigned char *b)
{
	return ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3];
}

static bool
ipv6_blocked(const unsigned char a[16])
{
	static const unsigned char mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	static const unsigned char zero_prefix[12] = {0};
	static const unsigned char nat64_prefix[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};

	if (memcmp(a, zero_prefix, 12) == 0) {
		/* ::, ::1, and the deprecated IPv4-compatible ::a.b.c.d */
		if (ipv4_at(a + 12) <= 1)
			return true;
		return ipv4_blocked(ipv4_at(a + 12));
	}
	if (memcmp(a, mapped_prefix, 12) == 0 || memcmp(a, nat64_prefix, 12) == 0)
		return ipv4_blocked(ipv4_at(a + 12));
	if (a[0] == 0x20 && a[1] == 0x02) /* 6to4 carries an IPv4 address in bytes 2..5 */
		return ipv4_blocked(ipv4_at(a + 2));
	if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) /* fe80::/10 link-local */
		return true;
	if (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0) /* fec0::/10 site-local (deprecated) */
		return true;
	if ((a[0] & 0xfe) == 0xfc) /* fc00::/7 unique local */
		return true;
	if (a[0] == 0xff) /* multicast */
		return true;
	return false;
}

/* Strict dotted quad: four decimal parts 0..255 without leading zeros. */
static bool
parse_dotted_quad(const char *s, uint32_t *out)
{
	uint32_t addr = 0;
	int parts = 0;

	while (parts < 4) {
		unsigned v = 0;
		int digits = 0;

		while (isdigit((unsigned char)*s)) {
			if (digits > 0 && v == 0)
				return false; /* a leading zero reads as octal to some parsers */
			v = v * 10 + (unsigned)(*s - '0');
			if (v > 255)
				return false;
			s++;
			digits++;
		}
		if (digits == 0)
			return false;
		addr = (addr << 8) | v;
		parts++;
		if (parts < 4 && *s++ != '.')
			return false;
	}
	if (*s != '\0')
		return false;
	*out = addr;
	return true;
}

/* A name whose last label is numeric (or 0x-hex) is an address in disguise: no TLD looks
 * like that. libcurl has already normalised the forms it understands to a dotted quad. */
static bool
looks_numeric(const char *host)
{
	const char *label = strrchr(host, '.');

	label = label != NULL ? label + 1 : host;
	if (*label == '\0')
		return false;
	if (label[0] == '0' && (label[1] == 'x' || label[1] == 'X'))
		return true;
	for (; *label != '\0'; label++)
		if (!isdigit((unsigned char)*label))
			return false;
	return true;
}

static bool
is_localhost(const char *host, size_t len)
{
	if (len > 0 && host[len - 1] == '.')
		len--;
	if (len == 9 && memcmp(host, "localhost", 9) == 0)
		return true;
	/* RFC 6761: every name under localhost. is loopback too */
	return len > 10 && memcmp(host + len - 10, ".localhost", 10) == 0;
}

/* Judges the host part (lowercased, brackets kept for IPv6) by the always-on rules. */
static ck_err
check_host(const char *host, bool allow_custom_host, char *why, size_t why_cap)
{
	size_t len = strlen(host);
	uint32_t v4;

	if (len == 0)
		return refuse(why, why_cap, "URL has no host");
	if (host[0] == '[') {
		char inner[HOST_MAX + 1];
		unsigned char a6[16];

		if (len < 3 || host[len - 1] != ']' || len - 2 > HOST_MAX)
			return refuse(why, why_cap, "host not permitted");
		memcpy(inner, host + 1, len - 2);
		inner[len - 2] = '\0';
		if (inet_pton(AF_INET6, inner, a6) != 1 || ipv6_blocked(a6))
			return refuse(why, why_cap,
			              "host not permitted (private or local address)");
	} else if (parse_dotted_quad(host, &v4)) {
		if (ipv4_blocked(v4))
			return refuse(why, why_cap,
			              "host not permitted (private or local address)");
	} else if (looks_numeric(host)) {
		return refuse(why, why_cap, "host not permitted (private or local address)");
	} else if (is_localhost(host, len)) {
		return refuse(why, why_cap, "host not permitted (private or local address)");
	}
	if (allow_custom_host)
		return CK_OK;
	for (size_t i = 0; i < sizeof allowed_hosts / sizeof allowed_hosts[0]; i++)
		if (strcmp(host, allowed_hosts[i]) == 0)
			return CK_OK;
	return refuse(why, why_cap, "host not permitted");
}

static bool
has_part(CURLU *u, CURLUPart part)
{
	char *v = NULL;
	bool present = curl_url_get(u, part, &v, 0) == CURLUE_OK && v != NULL;

	curl_free(v);
	return present;
}

ck_err
cki_url_check(const char *url, bool allow_custom_host, char *why, size_t why_cap)
{
	CURLU *u = NULL;
	char *scheme = NULL, *host = NULL;
	char lower[HOST_MAX + 1];
	ck_err rv;

	if (why != NULL && why_cap > 0)
		why[0] = '\0';
	if (url == NULL || url[0] == '\0')
		return refuse(why, why_cap, "URL is empty");
	for (const char *p = url; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return refuse(why, why_cap,
			              "URL contains whitespace or control characters");
	u = curl_url();
	if (u == NULL)
		return CK_ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
		/* https-less strings ("api.cachekit.io", "http:x") land here too */
		rv = refuse(why, why_cap,
		            strncmp(url, "https://", 8) == 0 ? "URL does not parse"
		                                             : "URL must use https");
		goto out;
	}
	if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    strcmp(scheme, "https") != 0) {
		rv = refuse(why, why_cap, "URL must use https");
		goto out;
	}
	if (has_part(u, CURLUPART_USER) || has_part(u, CURLUPART_PASSWORD) ||
	    has_part(u, CURLUPART_OPTIONS) || strchr(url, '@') != NULL) {
		rv = refuse(why, why_cap, "URL must not contain credentials");
		goto out;
	}
	if (has_part(u, CURLUPART_QUERY) || has_part(u, CURLUPART_FRAGMENT)) {
		rv = refuse(why, why_cap, "URL must not have a query or fragment");
		goto out;
	}
	if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || host == NULL) {
		rv = refuse(why, why_cap, "URL has no host");
		goto out;
	}
	if (strlen(host) > HOST_MAX) {
		rv = refuse(why, why_cap, "host not permitted");
		goto out;
	}
	for (size_t i = 0;; i++) {
		lower[i] = (char)tolower((unsigned char)host[i]);
		if (host[i] == '\0')
			break;
	}
	rv = check_host(lower, allow_custom_host, why, why_cap);
out:
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return rv;
}

ck_err
cki_url_base(const char *url, char **out)
{
	CURLU *u = curl_url();
	char *full = NULL, *base = NULL;
	size_t len;
	ck_err rv = CK_EURL;

	if (u == NULL)
		return CK_ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_URL, &full, 0) != CURLUE_OK)
		goto out;
	len = strlen(full);
	while (len > 0 && full[len - 1] == '/')
		len--;
	base = strndup(full, len);
	if (base == NULL) {
		rv = CK_ENOMEM;
		goto out;
	}
	*out = base;
	rv = CK_OK;
out:
	curl_free(full);
	curl_url_cleanup(u);
	return rv;
}
