/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Cache keys: validation by the API's rules (spec §2.4, §13 decision 6; the rule itself is
 * common/keys.c), namespacing and percent-encoding of a key into one URL path segment (vectors:
 * path-encoding.json).
 */
#ifndef CKI_KEYS_H
#define CKI_KEYS_H

#include <stddef.h>

#include "cachekit/errors.h"
#include "ck_keys.h"
#include "ck_limits.h"

/* The shared table (common/ck_limits.h), under the agent's names. */
#define CKI_KEY_MAX       CK_KEY_MAX /* decoded characters, per the API */
#define CKI_NAMESPACE_MAX CK_NAMESPACE_MAX

/* The key rule (common/ck_keys.h: the agent and the C stub refuse the same keys), under the
 * agent's names. */
static inline CK_NODISCARD ck_err
cki_key_validate(const char *key, size_t len, const char **why)
{
	return ck_key_check(key, len, why);
}

static inline CK_NODISCARD ck_err
cki_namespace_validate(const char *ns, size_t len)
{
	return ck_namespace_check(ns, len);
}

/* Writes the storage key ("ns:" ns ":" key, or key when ns is empty) into out (cap bytes,
 * NUL-terminated) and validates it. CK_EINVALKEY for a bad key or namespace (*why set). */
static inline CK_NODISCARD ck_err
cki_key_build(const char *ns, size_t ns_len, const char *key, size_t key_len, char *out, size_t cap,
              const char **why)
{
	return ck_key_build(ns, ns_len, key, key_len, out, cap, why);
}

/* The namespace a storage key belongs to: the {namespace} of "ns:{namespace}:" or
 * "nsapi:{namespace}:", else "default". Copies at most cap-1 bytes into out. */
void cki_key_namespace(const char *key, char *out, size_t cap);

/* Percent-encodes len bytes of key: everything but A-Z a-z 0-9 - . _ ~ becomes %HH
 * (uppercase). out needs 3*len+1 bytes. Returns the encoded length. */
size_t cki_key_encode(const char *key, size_t len, char *out);

#endif
