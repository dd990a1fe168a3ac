/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The cache key rule of the cachekit.io API (spec §2.4, §13 decision 6), shared by the agent
 * (base/keys.h, on every keyed request) and the C stub (before a request leaves the process),
 * so both refuse exactly the same keys. The numbers, reserved words and character classes
 * come from common/ck_limits.h, the table the Python stub's rule is generated from too.
 */
#ifndef CK_KEYS_H
#define CK_KEYS_H

#include <stddef.h>

#include "cachekit/errors.h"

/* CK_OK if ns is 1..CK_NAMESPACE_MAX characters of CK_NAMESPACE_CHARSET, else CK_EINVALKEY. */
CK_NODISCARD ck_err ck_namespace_check(const char *ns, size_t len);

/* CK_OK if key is one the API accepts: 1..CK_KEY_MAX characters of CK_KEY_CHARSET, no
 * CK_KEY_FORBIDDEN_RUN, not a reserved whole key, and a well-formed ns:/nsapi: prefix if it
 * has one. Otherwise CK_EINVALKEY with *why (static text) set; why may be NULL. */
CK_NODISCARD ck_err ck_key_check(const char *key, size_t len, const char **why);

/* Writes the storage key ("ns:" ns ":" key, or key when ns is empty) into out (cap bytes,
 * NUL-terminated) and checks it with ck_key_check. CK_EINVALKEY for a bad key or namespace,
 * or one that does not fit (*why set). out may be NULL with cap 0: the check alone. */
CK_NODISCARD ck_err ck_key_build(const char *ns, size_t ns_len, const char *key, size_t key_len,
                                 char *out, size_t cap, const char **why);

/* True when c is in the regular-expression bracket contents set (ranges like "a-z" and
 * single characters; a '-' first or last is itself), e.g. CK_KEY_CHARSET. */
int ck_charset_has(const char *set, unsigned char c);

#endif
