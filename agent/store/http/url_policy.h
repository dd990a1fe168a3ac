/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The API URL policy (spec §3.1, §13 decision 7): https only, no userinfo, no literal private,
 * loopback or link-local address and no localhost (always), and an exact hostname allowlist
 * unless custom hosts are allowed. Pure string checks on the parsed URL: no DNS.
 */
#ifndef CKI_URL_POLICY_H
#define CKI_URL_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "cachekit/errors.h"

/* CK_OK if url may be used as the API base URL. Otherwise CK_EURL with a short, generic
 * reason copied into why (why_cap bytes, NUL-terminated; why may be NULL). The reason never
 * names the allowlist or how to bypass it. Parsing uses libcurl's URL API, so the host is
 * checked in the form libcurl will connect to (numeric IPv4 forms such as 0x7f.1 or
 * 2130706433 are normalised first). A query or fragment is refused too: routes are appended
 * to the base URL. Thread-safe. */
CK_NODISCARD ck_err cki_url_check(const char *url, bool allow_custom_host, char *why,
                                  size_t why_cap);

/* Writes the normalised base URL of an already checked url into *out: libcurl's rendering of
 * it with every trailing '/' removed, any path prefix kept ("https://h/p/" -> "https://h/p").
 * *out is malloc'd and owned by the caller; set only on success. CK_EURL if url does not
 * parse, CK_ENOMEM. */
CK_NODISCARD ck_err cki_url_base(const char *url, char **out);

#endif
