/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Decode bounds for untrusted MessagePack (protocol interop-mode.md "decode bounds", vectors:
 * decode-bounds.json). One pass over the whole document, before anything is materialised:
 * nesting depth at most CKI_MP_MAX_DEPTH, the declared slots of every header (collection
 * elements, a map pair counting two, str/bin/ext bytes) summed in 64 bits over the whole
 * document at most n - 1, and a root item that is complete within the input. Headers are read
 * with msgpuck; nothing is allocated. Pure and thread-safe.
 */
#ifndef CKI_MPBOUNDS_H
#define CKI_MPBOUNDS_H

#include <stddef.h>
#include <stdint.h>

#include "cachekit/errors.h"

/* Deepest nesting accepted (the protocol allows 32..1024). */
#define CKI_MP_MAX_DEPTH 1024

/* Why a document was refused (CKI_MP_OK when it was not). */
typedef enum cki_mp_verdict {
	CKI_MP_OK = 0,
	CKI_MP_DEPTH,      /* nested deeper than CKI_MP_MAX_DEPTH */
	CKI_MP_OVERCLAIM,  /* declared slots summed over the document exceed n - 1 */
	CKI_MP_INCOMPLETE, /* the root item does not end within the input */
	CKI_MP_MALFORMED,  /* the reserved tag 0xc1 */
} cki_mp_verdict;

/* A short name for a verdict ("depth", "overclaim", "incomplete", ...; never NULL). */
const char *cki_mp_verdict_name(cki_mp_verdict v);

/*
 * Checks the first MessagePack item of in[0..n). On CK_OK *used is that item's length in bytes
 * (the caller decides whether trailing bytes are allowed) and *why is CKI_MP_OK. Otherwise
 * CK_EPROTO with the reason in *why (when why is not NULL); *used is then not written.
 * CK_EINVAL for NULL arguments.
 */
CK_NODISCARD ck_err cki_mp_check_bounds(const uint8_t *in, size_t n, size_t *used,
                                        cki_mp_verdict *why);

#endif
