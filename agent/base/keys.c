/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Cache key rules of the cachekit.io API (spec §2.4, §13 decision 6). The agent rejects every
 * key the server would reject, before anything is stored or sent, so the embedded store and
 * the API accept exactly the same keys.
 */
#include "base/keys.h"

#include <stdbool.h>
#include <string.h>

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
cki_namespace_validate(const char *ns, size_t len)
{
	if (len == 0 || len > CKI_NAMESPACE_MAX)
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
	if (cki_namespace_validate(ns, (size_t)(colon - ns)) != CK_OK) {
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
cki_key_validate(const char *key, size_t len, const char **why)
{
	const char *dummy;
	if (why == NULL)
		why = &dummy;
	if (key == NULL || len == 0) {
		*why = "key is empty";
		return CK_EINVALKEY;
	}
	if (len > CKI_KEY_MAX) {
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
cki_key_build(const char *ns, size_t ns_len, const char *key, size_t key_len, char *out, size_t cap,
              const char **why)
{
	const char *dummy;
	if (why == NULL)
		why = &dummy;
	size_t need = key_len + 1;
	if (ns_len > 0) {
		if (cki_namespace_validate(ns, ns_len) != CK_OK) {
			*why = "namespace must be 1-64 characters of [A-Za-z0-9_-]";
			return CK_EINVALKEY;
		}
		need += 3 + ns_len + 1;
	}
	if (need > cap || need - 1 > CKI_KEY_MAX) {
		*why = "key is longer than 400 characters";
		return CK_EINVALKEY;
	}
	size_t off = 0;
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
	return cki_key_validate(out, off + key_len, why);
}

void
cki_key_namespace(const char *key, char *out, size_t cap)
{
	size_t plen = 0;
	if (strncmp(key, "ns:", 3) == 0)
		plen = 3;
	else if (strncmp(key, "nsapi:", 6) == 0)
		plen = 6;
	const char *colon = plen ? strchr(key + plen, ':') : NULL;
	const char *ns = "default";
	size_t len = 7;
	if (colon != NULL) {
		ns = key + plen;
		len = (size_t)(colon - ns);
	}
	if (cap == 0)
		return;
	if (len > cap - 1)
		len = cap - 1;
	memcpy(out, ns, len);
	out[len] = '\0';
}

size_t
cki_key_encode(const char *key, size_t len, char *out)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)key[i];
		bool raw = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		           (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
		if (raw) {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
	return o;
}
