/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Parser for the Redis upstream URLs (url.h). Accepts only what the three forms need: no
 * query parameters but db= for unix sockets, ports 1..65535, db 0..15 (Redis' default
 * database count; a cluster has only db 0). Bad input is CK_EURL with a reason.
 */
#include "store/redis/url.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DB_MAX 15

static ck_err
fail(char *why, size_t cap, const char *fmt, ...)
{
	va_list ap;

	if (why != NULL && cap > 0) {
		va_start(ap, fmt);
		vsnprintf(why, cap, fmt, ap);
		va_end(ap);
	}
	return CK_EURL;
}

bool
cki_redis_url_is_redis(const char *url)
{
	return url != NULL &&
	       (strncmp(url, "redis://", 8) == 0 || strncmp(url, "redis+unix://", 13) == 0 ||
	        strncmp(url, "redis+cluster://", 16) == 0);
}

/* Parses a decimal in [lo, hi] from s[0..n). */
static bool
parse_int(const char *s, size_t n, long lo, long hi, int *out)
{
	long v = 0;

	if (n == 0 || n > 6)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	if (v < lo || v > hi)
		return false;
	*out = (int)v;
	return true;
}

/* host:port from s[0..n); IPv6 as [addr]:port. */
static bool
parse_addr(const char *s, size_t n, cki_redis_addr *a)
{
	const char *colon;
	size_t hlen;

	if (n > 0 && s[0] == '[') {
		const char *close = memchr(s, ']', n);
		if (close == NULL || (size_t)(close - s) + 1 >= n || close[1] != ':')
			return false;
		hlen = (size_t)(close - s) - 1;
		if (hlen == 0 || hlen >= sizeof(a->host))
			return false;
		memcpy(a->host, s + 1, hlen);
		a->host[hlen] = '\0';
		colon = close + 1;
	} else {
		colon = NULL;
		for (size_t i = n; i > 0; i--)
			if (s[i - 1] == ':') {
				colon = s + i - 1;
				break;
			}
		if (colon == NULL)
			return false;
		hlen = (size_t)(colon - s);
		if (hlen == 0 || hlen >= sizeof(a->host))
			return false;
		memcpy(a->host, s, hlen);
		a->host[hlen] = '\0';
		for (size_t i = 0; i < hlen; i++) {
			char c = a->host[i];
			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			      (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_'))
				return false;
		}
	}
	return parse_int(colon + 1, n - (size_t)(colon + 1 - s), 1, 65535, &a->port);
}

static ck_err
parse_unix(const char *url, const char *rest, cki_redis_url *out, char *why, size_t cap)
{
	const char *q = strchr(rest, '?');
	size_t plen = q ? (size_t)(q - rest) : strlen(rest);

	(void)url;
	if (plen == 0 || rest[0] != '/')
		return fail(why, cap, "redis+unix:// needs an absolute socket path");
	if (plen >= sizeof(out->path))
		return fail(why, cap, "redis+unix:// socket path longer than 107 bytes");
	memcpy(out->path, rest, plen);
	out->path[plen] = '\0';
	if (q != NULL) {
		if (strncmp(q, "?db=", 4) != 0 ||
		    !parse_int(q + 4, strlen(q + 4), 0, DB_MAX, &out->db))
			return fail(why, cap, "redis+unix:// accepts only ?db=0..%d", DB_MAX);
	}
	snprintf(out->display, sizeof(out->display), "%s", url);
	return CK_OK;
}

ck_err
cki_redis_url_parse(const char *url, cki_redis_url *out, char *why, size_t cap)
{
	const char *rest, *at, *hosts, *slash, *end;
	size_t scheme_len;

	if (!cki_redis_url_is_redis(url))
		return fail(why, cap, "not a redis://, redis+unix:// or redis+cluster:// URL");
	memset(out, 0, sizeof(*out));
	if (strncmp(url, "redis+unix://", 13) == 0) {
		out->kind = CKI_REDIS_UNIX;
		return parse_unix(url, url + 13, out, why, cap);
	}
	out->kind = strncmp(url, "redis://", 8) == 0 ? CKI_REDIS_TCP : CKI_REDIS_CLUSTER;
	scheme_len = out->kind == CKI_REDIS_TCP ? 8 : 16;
	rest = url + scheme_len;
	end = rest + strlen(rest);
	slash = strchr(rest, '/');
	at = memchr(rest, '@', (size_t)((slash ? slash : end) - rest));
	hosts = rest;
	if (at != NULL) {
		const char *colon = memchr(rest, ':', (size_t)(at - rest));
		size_t ulen = (size_t)((colon ? colon : at) - rest);
		if (ulen >= sizeof(out->user))
			return fail(why, cap, "user name in the URL is too long");
		memcpy(out->user, rest, ulen);
		out->user[ulen] = '\0';
		if (colon != NULL && colon + 1 < at) {
			out->has_password = true;
			out->password_off = (size_t)(colon + 1 - url);
			out->password_len = (size_t)(at - colon - 1);
		}
		hosts = at + 1;
	}
	if (slash != NULL) {
		if (out->kind == CKI_REDIS_CLUSTER && slash[1] != '\0')
			return fail(why, cap,
			            "a cluster URL takes no database (a cluster has db 0)");
		if (slash[1] != '\0' &&
		    !parse_int(slash + 1, strlen(slash + 1), 0, DB_MAX, &out->db))
			return fail(why, cap, "database must be 0..%d", DB_MAX);
	}
	for (const char *p = hosts; p < (slash ? slash : end);) {
		const char *comma = memchr(p, ',', (size_t)((slash ? slash : end) - p));
		const char *stop = comma ? comma : (slash ? slash : end);
		if (out->naddrs == CKI_REDIS_MAX_SEEDS)
			return fail(why, cap, "more than %d addresses", CKI_REDIS_MAX_SEEDS);
		if (!parse_addr(p, (size_t)(stop - p), &out->addrs[out->naddrs]))
			return fail(why, cap, "expected host:port in the URL");
		out->naddrs++;
		p = comma ? comma + 1 : stop;
	}
	if (out->naddrs == 0)
		return fail(why, cap, "no host:port in the URL");
	if (out->kind == CKI_REDIS_TCP && out->naddrs > 1)
		return fail(why, cap,
		            "redis:// takes one host:port; use redis+cluster:// for more");
	/* display: the URL with "user@" kept and the password dropped */
	snprintf(out->display, sizeof(out->display), "%.*s%s%s%s", (int)scheme_len, url, out->user,
	         out->user[0] ? "@" : "", hosts);
	return CK_OK;
}
