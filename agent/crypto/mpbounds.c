/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The whole-document MessagePack bounds walk. It is iterative (an explicit stack of the items
 * still owed at each open level), so a 2048-deep document costs no C stack; each header is
 * decoded with msgpuck only after its own bytes are known to be present, and each declared
 * count is added to a 64-bit running sum that must stay within n - 1 before the walk goes on.
 * Checking each header against the remaining input alone is not enough (a chain of headers
 * that each fit can still declare far more than the input backs), hence the global sum.
 */
#include "crypto/mpbounds.h"

#include <msgpuck.h>
#include <stdbool.h>

/* Bytes of an ext header after its tag: the length field width (the type byte is added). */
static size_t
ext_len_width(uint8_t tag)
{
	return (size_t)1 << (tag - 0xc7); /* c7: 1, c8: 2, c9: 4 */
}

static uint64_t
load_be(const uint8_t *p, size_t width)
{
	uint64_t v = 0;
	for (size_t i = 0; i < width; i++)
		v = (v << 8) | p[i];
	return v;
}

const char *
cki_mp_verdict_name(cki_mp_verdict v)
{
	switch (v) {
	case CKI_MP_OK:
		return "ok";
	case CKI_MP_DEPTH:
		return "depth";
	case CKI_MP_OVERCLAIM:
		return "overclaim";
	case CKI_MP_INCOMPLETE:
		return "incomplete";
	case CKI_MP_MALFORMED:
		return "malformed";
	}
	return "unknown";
}

/* Reads one item's header at *p (p < end) and advances *p past it. *declared: the slots the
 * header declares; *payload: for str/bin/ext, the bytes that follow and still have to be
 * skipped (the caller checks the slot sum first); *nested: the header opens a collection of
 * *declared element slots. */
static cki_mp_verdict
read_header(const char **p, const char *end, uint64_t *declared, uint64_t *payload, bool *nested)
{
	const uint8_t tag = (uint8_t) * *p;
	const size_t left = (size_t)(end - *p);
	uint64_t len = 0;

	*declared = 0;
	*payload = 0;
	*nested = false;
	switch (mp_typeof((char)tag)) {
	case MP_ARRAY:
		if (mp_check_array(*p, end) > 0)
			return CKI_MP_INCOMPLETE;
		*declared = mp_decode_array(p);
		*nested = true;
		return CKI_MP_OK;
	case MP_MAP:
		if (mp_check_map(*p, end) > 0)
			return CKI_MP_INCOMPLETE;
		/* A pair is two slots; 2 * (2^32 - 1) fits in 64 bits. */
		*declared = 2 * (uint64_t)mp_decode_map(p);
		*nested = true;
		return CKI_MP_OK;
	case MP_STR:
		if (mp_check_strl(*p, end) > 0)
			return CKI_MP_INCOMPLETE;
		len = mp_decode_strl(p);
		break;
	case MP_BIN:
		if (mp_check_binl(*p, end) > 0)
			return CKI_MP_INCOMPLETE;
		len = mp_decode_binl(p);
		break;
	case MP_EXT:
		if (tag == 0xc1)
			return CKI_MP_MALFORMED;
		if (tag >= 0xd4 && tag <= 0xd8) {
			/* fixext: type byte + 1..16 data bytes, declares no slots. */
			size_t size = 2 + ((size_t)1 << (tag - 0xd4));
			if (size > left)
				return CKI_MP_INCOMPLETE;
			*p += size;
			return CKI_MP_OK;
		}
		{
			size_t width = ext_len_width(tag);
			if (1 + width + 1 > left)
				return CKI_MP_INCOMPLETE;
			len = load_be((const uint8_t *)*p + 1, width);
			*p += 1 + width + 1;
		}
		break;
	case MP_UINT:
		if (mp_check_uint(*p, end) > 0)
			return CKI_MP_INCOMPLETE;
		(void)mp_decode_uint(p);
		return CKI_MP_OK;
	case MP_INT:
		if (mp_check_int(*p, end) > 0)
			return CKI_MP_INCOMPLETE;
		(void)mp_decode_int(p);
		return CKI_MP_OK;
	case MP_FLOAT:
		if (mp_check_float(*p, end) > 0)
			return CKI_MP_INCOMPLETE;
		(void)mp_decode_float(p);
		return CKI_MP_OK;
	case MP_DOUBLE:
		if (mp_check_double(*p, end) > 0)
			return CKI_MP_INCOMPLETE;
		(void)mp_decode_double(p);
		return CKI_MP_OK;
	case MP_NIL:
	case MP_BOOL:
		*p += 1;
		return CKI_MP_OK;
	}
	/* str, bin, ext: the bytes are declared slots; the caller checks the sum first. */
	*declared = len;
	*payload = len;
	return CKI_MP_OK;
}

ck_err
cki_mp_check_bounds(const uint8_t *in, size_t n, size_t *used, cki_mp_verdict *why)
{
	/* owed[d]: items still to read at open level d (level 0 holds the root). */
	uint64_t owed[CKI_MP_MAX_DEPTH + 1];
	cki_mp_verdict verdict = CKI_MP_OK;
	const char *p = (const char *)in;
	const char *end = p + n;
	uint64_t budget, slots = 0;
	size_t depth = 0;

	if (in == NULL || used == NULL)
		return CK_EINVAL;
	if (n == 0) {
		verdict = CKI_MP_INCOMPLETE;
		goto out;
	}
	budget = (uint64_t)n - 1; /* the root header is the one byte that is not an element */
	owed[0] = 1;
	for (;;) {
		while (owed[depth] == 0 && depth > 0)
			depth--;
		if (owed[depth] == 0)
			break; /* the root item is complete */
		if (p >= end) {
			verdict = CKI_MP_INCOMPLETE;
			goto out;
		}
		owed[depth]--;
		uint64_t declared, payload;
		bool nested;
		verdict = read_header(&p, end, &declared, &payload, &nested);
		if (verdict != CKI_MP_OK)
			goto out;
		/* Both terms are below 2^34, the sum never above budget + 2^34: no overflow. */
		slots += declared;
		if (slots > budget) {
			verdict = CKI_MP_OVERCLAIM;
			goto out;
		}
		if (nested) {
			if (depth + 1 > CKI_MP_MAX_DEPTH) {
				verdict = CKI_MP_DEPTH;
				goto out;
			}
			owed[++depth] = declared;
		} else if (payload > 0) {
			if (payload > (uint64_t)(end - p)) {
				verdict = CKI_MP_INCOMPLETE;
				goto out;
			}
			p += payload;
		}
	}
	*used = (size_t)(p - (const char *)in);
out:
	if (why != NULL)
		*why = verdict;
	return verdict == CKI_MP_OK ? CK_OK : CK_EPROTO;
}
