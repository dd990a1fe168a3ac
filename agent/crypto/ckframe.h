/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Recognises cachekit-py's auto-mode storage container, the CK v3 frame (vectors:
 * python-frame.json): "CK" | version 0x03 | u32be header length | UTF-8 JSON header
 * {"s": serializer name, "m": metadata object, "v": ...} | payload. The agent never decodes
 * such an entry; it only tells it apart, so a Get of one is reported as what it is (a
 * cachekit-py auto-mode entry, CK_EAUTOMODE) instead of as bytes, a miss or a failed
 * decryption. Pure (bytes in, verdict out), no allocation beyond the JSON header parse.
 */
#ifndef CKI_CKFRAME_H
#define CKI_CKFRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Fixed prefix: magic (2), version (1), header length (4). */
#define CKI_CKFRAME_PREFIX 7
/* Longest header looked at (the SDK writes ~100-300 bytes). */
#define CKI_CKFRAME_HEADER_MAX 65536

typedef enum cki_ckframe_verdict {
	CKI_CKFRAME_NONE = 0,  /* does not start with the "CK" magic */
	CKI_CKFRAME_FRAME,     /* a well-formed CK v3 frame: a cachekit-py auto-mode entry */
	CKI_CKFRAME_MALFORMED, /* starts with "CK" but fails a frame check (the prefix, the
	                        * version, the header length or the JSON header) */
} cki_ckframe_verdict;

/* Classifies value[0..n). A frame has version 3, a header length within the bytes present
 * (and <= CKI_CKFRAME_HEADER_MAX), and a header that is one JSON object holding an object
 * "m". The serializer name "s" is not required: a frame without one is an entry cachekit-py
 * itself refuses, and still cachekit-py's container, never a value. Thread-safe. */
cki_ckframe_verdict cki_ckframe_classify(const uint8_t *value, size_t n);

/* cki_ckframe_classify(value, n) == CKI_CKFRAME_FRAME. */
bool cki_ckframe_is_frame(const uint8_t *value, size_t n);

#endif
