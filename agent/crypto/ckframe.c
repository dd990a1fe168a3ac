/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CK v3 frame check. Each step mirrors a check python-frame.json's error vectors name
 * (prefix_length, version, header_length); the JSON header is parsed with
 * jansson, bounded by the declared header length, which is itself bounded by the input.
 */
#include "crypto/ckframe.h"

#include <jansson.h>

cki_ckframe_verdict
cki_ckframe_classify(const uint8_t *value, size_t n)
{
	if (value == NULL || n < 2 || value[0] != 'C' || value[1] != 'K')
		return CKI_CKFRAME_NONE;
	if (n < CKI_CKFRAME_PREFIX || value[2] != 0x03)
		return CKI_CKFRAME_MALFORMED;
	uint64_t hdr_len = ((uint64_t)value[3] << 24) | ((uint64_t)value[4] << 16) |
	                   ((uint64_t)value[5] << 8) | value[6];
	if (hdr_len == 0 || hdr_len > n - CKI_CKFRAME_PREFIX || hdr_len > CKI_CKFRAME_HEADER_MAX)
		return CKI_CKFRAME_MALFORMED;
	json_error_t err;
	json_t *hdr = json_loadb((const char *)value + CKI_CKFRAME_PREFIX, (size_t)hdr_len,
	                         JSON_REJECT_DUPLICATES, &err);
	if (hdr == NULL)
		return CKI_CKFRAME_MALFORMED;
	/* The serializer name ("s") is cachekit-py's own read check (a frame without one is an
	 * entry it refuses); for the agent such a frame is still cachekit-py's container. */
	bool ok = json_is_object(hdr) && json_is_object(json_object_get(hdr, "m"));
	json_decref(hdr);
	return ok ? CKI_CKFRAME_FRAME : CKI_CKFRAME_MALFORMED;
}

bool
cki_ckframe_is_frame(const uint8_t *value, size_t n)
{
	return cki_ckframe_classify(value, n) == CKI_CKFRAME_FRAME;
}
