/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The shared cache key rule (ck_keys.h). The two character tests are written out for speed
 * (they run on every byte of every key); tests/unit/common/test_keys.c checks them against
 * the table's charsets for all 256 bytes, so they cannot drift from it.
 */
#include "ck_keys.h"

#include <stdbool.h>
#include <string.h>

#include "ck_limits.h"

static bool
key_char_ok(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.' || c == ':' || c == '-';
}

static bool
ns_char_ok(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-';
}

int
ck_charset_has(const char *set, unsigned char c)
{
	size_t n = strlen(set);

	for (size_t i = 0; i < n; i++) {
		if (i + 2 < n && set[i + 1] == '-') {
			if (c >= (unsigned char)set[i] && c <= (unsigned char)set[i + 2])
				return 1;
			i += 2;
		} else if ((unsigned char)set[i] == c) {
			return 1;
		}
	}
	return 0;
}

/* Exposed for the drift test only (declared there). */
int ck_keys_char_ok_(int ns, unsigned char c);
int
ck_keys_char_ok_(int ns, unsigned char c)
{
	return ns ? ns_char_ok(c) : key_char_ok(c);
}

#define RESERVED_KEY_(word) word,

static bool
is_reserved(const char *key, size_t len)
{
	static const char *const reserved[] = {CK_RESERVED_KEYS_MAP(RESERVED_KEY_)};
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (strlen(reserved[i]) == len && memcmp(reserved[i], key, len) == 0)
			return true;
	return false;
}

ck_err
ck_namespace_check(const char *ns, size_t len)
{
	if (len == 0 || len > CK_NAMESPACE_MAX)
		return CK_EINVALKEY;
	for (size_t i = 0; i < len; i++)
		if (!ns_char_ok((unsigned char)ns[i]))
			return CK_EINVALKEY;
	return CK_OK;
}

/* For keys starting "ns:" or "nsapi:": the rest must be {namespace}:{non-empty rest}. */
static ck_err
check_namespace_prefix(const char *key, size_t len, const char **why)
{
	size_t plen;
	if (len >= 3 && memcmp(key, "ns:", 3) == 0)
		plen = 3;
	else if (len >= 6 && memcmp(key, "nsapi:", 6) == 0)
		plen = 6;
	else
		return CK_OK;
	const char *ns = key + plen;
	const char *colon = memchr(ns, ':', len - plen);
	if (colon == NULL) {
		*why = "namespaced key needs ns:{namespace}:{key}";
		return CK_EINVALKEY;
	}
	if (ck_namespace_check(ns, (size_t)(colon - ns)) != CK_OK) {
		*why = "namespace must be 1-64 characters of [A-Za-z0-9_-]";
		return CK_EINVALKEY;
	}
	if ((size_t)(colon - key) + 1 == len) {
		*why = "namespaced key has an empty key part";
		return CK_EINVALKEY;
	}
	return CK_OK;
}

ck_err
ck_key_check(const char *key, size_t len, const char **why)
{
	const char *dummy;
	if (why == NULL)
		why = &dummy;
	if (key == NULL || len == 0) {
		*why = "key is empty";
		return CK_EINVALKEY;
	}
	if (len > CK_KEY_MAX) {
		*why = "key is longer than 400 characters";
		return CK_EINVALKEY;
	}
	if (is_reserved(key, len)) {
		*why = "key is a reserved word";
		return CK_EINVALKEY;
	}
	for (size_t i = 0; i < len; i++) {
		if (!key_char_ok((unsigned char)key[i])) {
			*why = "key has a character outside [A-Za-z0-9_.:-]";
			return CK_EINVALKEY;
		}
		if (key[i] == CK_KEY_FORBIDDEN_RUN[0] && i + 1 < len &&
		    key[i + 1] == CK_KEY_FORBIDDEN_RUN[1]) {
			*why = "key contains \"..\"";
			return CK_EINVALKEY;
		}
	}
	return check_namespace_prefix(key, len, why);
}

ck_err
ck_key_build(const char *ns, size_t ns_len, const char *key, size_t key_len, char *out, size_t cap,
             const char **why)
{
	char local[CK_KEY_MAX + 1];
	const char *dummy;
	size_t need = key_len + 1, off = 0;

	if (why == NULL)
		why = &dummy;
	if (out == NULL) { /* the check alone */
		out = local;
		cap = sizeof(local);
	}
	if (ns_len > 0) {
		if (ck_namespace_check(ns, ns_len) != CK_OK) {
			*why = "namespace must be 1-64 characters of [A-Za-z0-9_-]";
			return CK_EINVALKEY;
		}
		need += 3 + ns_len + 1;
	}
	if (need > cap || need - 1 > CK_KEY_MAX) {
		*why = "key is longer than 400 characters";
		return CK_EINVALKEY;
	}
	if (ns_len > 0) {
		memcpy(out, "ns:", 3);
		memcpy(out + 3, ns, ns_len);
		out[3 + ns_len] = ':';
		off = 4 + ns_len;
	}
	memcpy(out + off, key, key_len);
	out[off + key_len] = '\0';
	if (ns_len > 0 && key_len == 0) {
		*why = "key is empty";
		return CK_EINVALKEY;
	}
	return ck_key_check(out, off + key_len, why);
}
