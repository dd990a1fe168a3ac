/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ByteStorage envelope encode/decode (spec §6.2, bounds of §6.6). MessagePack is read and
 * written with msgpuck (libmsgpuck-dev), which allocates nothing. Before any field is read,
 * the whole document passes the protocol's decode bounds (mpbounds.c: declared sizes summed
 * over the document, depth, completeness), so a lying header costs nothing; the only
 * allocations are the compressed bytes of the legacy form (at most the input size) and the
 * output (at most 1000x the compressed size, and never above 512 MiB).
 */
#include "crypto/envelope.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <lz4.h>
#include <msgpuck.h>
#include <xxhash.h>

#include "base/log.h"
#include "crypto/mpbounds.h"

#define CHECKSUM_LEN    8
#define ENVELOPE_FIELDS 4

/* A non-negative integer in any MessagePack integer encoding (signed ones when >= 0). The
 * document has passed the bounds walk, so the bytes are there; only the type is checked. */
static bool
rd_uint(const char **p, uint64_t *v)
{
	switch (mp_typeof(**p)) {
	case MP_UINT:
		*v = mp_decode_uint(p);
		return true;
	case MP_INT: {
		int64_t s = mp_decode_int(p);
		*v = (uint64_t)s;
		return s >= 0;
	}
	default:
		return false;
	}
}

static bool
rd_byte_value(const char **p, uint8_t *b)
{
	uint64_t v;
	if (!rd_uint(p, &v) || v > 0xff)
		return false;
	*b = (uint8_t)v;
	return true;
}

static bool
rd_array(const char **p, uint64_t *count)
{
	if (mp_typeof(**p) != MP_ARRAY)
		return false;
	*count = mp_decode_array(p);
	return true;
}

static ck_err
reject(const char *why)
{
	cki_log_debug("envelope rejected: %s", why);
	return CK_EPROTO;
}

ck_err
cki_envelope_decode_ex(const uint8_t *in, size_t n, uint8_t **out, size_t *out_len, char *format,
                       size_t format_cap)
{
	ck_err rv;
	const char *r = (const char *)in;
	const char *legacy = NULL;
	const char *compressed = NULL;
	uint8_t *legacy_bytes = NULL;
	uint8_t *plain = NULL;
	uint64_t compressed_len, count, original_size;
	uint32_t len32, format_len;
	uint8_t checksum[CHECKSUM_LEN];
	const char *format_bytes;
	size_t used;
	cki_mp_verdict why;

	if ((in == NULL && n > 0) || out == NULL || out_len == NULL ||
	    (format != NULL && format_cap < CKI_ENVELOPE_FORMAT_MAX + 1))
		return CK_EINVAL;
	if (n > CKI_ENVELOPE_MAX)
		return reject("envelope larger than 512 MiB");
	if (n == 0)
		return reject("empty input");

	/* Whole-document bounds before reading any field (WIRE-5, WIRE-9, decode-bounds.json):
	 * every length is backed by the input, the declared slots sum to at most n - 1, the
	 * nesting is at most 1024 deep, the root item is complete. */
	if (cki_mp_check_bounds(in, n, &used, &why) != CK_OK) {
		cki_log_debug("envelope rejected: MessagePack bounds (%s)",
		              cki_mp_verdict_name(why));
		return CK_EPROTO;
	}
	if (used != n)
		return reject("trailing bytes after the envelope");

	if (!rd_array(&r, &count) || count != ENVELOPE_FIELDS)
		return reject("not an array of 4");

	/* 0: compressed_data, bin (protocol 1.1) or legacy array of byte-valued integers. */
	if (mp_typeof(*r) == MP_BIN) {
		compressed = mp_decode_bin(&r, &len32);
		compressed_len = len32;
	} else {
		if (!rd_array(&r, &compressed_len))
			return reject("compressed_data is neither bin nor an array");
		/* Validate now, copy later: no allocation before every header check passed. */
		legacy = r;
		for (uint64_t i = 0; i < compressed_len; i++) {
			uint8_t b;
			if (!rd_byte_value(&r, &b))
				return reject("compressed_data array holds a non-byte");
		}
	}
	if (compressed_len > CKI_ENVELOPE_MAX_COMPRESSED)
		return reject("compressed_data larger than 512 MiB");

	/* 1: checksum, always an array of 8 byte-valued integers. */
	if (!rd_array(&r, &count) || count != CHECKSUM_LEN)
		return reject("checksum is not an array of 8");
	for (size_t i = 0; i < CHECKSUM_LEN; i++)
		if (!rd_byte_value(&r, &checksum[i]))
			return reject("checksum holds a non-byte");

	/* 2: original_size. */
	if (!rd_uint(&r, &original_size))
		return reject("original_size is not an unsigned integer");
	if (original_size > CKI_ENVELOPE_MAX_UNCOMPRESSED)
		return reject("original_size larger than 512 MiB");

	/* 3: format. */
	if (mp_typeof(*r) != MP_STR)
		return reject("format is not a string");
	format_bytes = mp_decode_str(&r, &format_len);
	if (format_len > CKI_ENVELOPE_FORMAT_MAX)
		return reject("format is not a short string");

	/* Decompression-bomb check, integer math (compressed_len <= 2^29, so no overflow). */
	if (compressed_len == 0)
		return reject("empty compressed_data");
	if (compressed_len > UINT64_MAX / CKI_ENVELOPE_MAX_RATIO ||
	    original_size > CKI_ENVELOPE_MAX_RATIO * compressed_len)
		return reject("compression ratio above 1000");

	if (legacy != NULL) {
		legacy_bytes = malloc((size_t)compressed_len);
		if (legacy_bytes == NULL) {
			rv = CK_ENOMEM;
			goto out;
		}
		for (uint64_t i = 0; i < compressed_len; i++)
			(void)rd_byte_value(&legacy, &legacy_bytes[i]);
		compressed = (const char *)legacy_bytes;
	}

	plain = malloc(original_size > 0 ? (size_t)original_size : 1);
	if (plain == NULL) {
		rv = CK_ENOMEM;
		goto out;
	}
	int got = LZ4_decompress_safe(compressed, (char *)plain, (int)compressed_len,
	                              (int)original_size);
	if (got < 0 || (uint64_t)got != original_size) {
		rv = reject("LZ4 block does not decompress to original_size");
		goto out;
	}
	uint64_t sum = XXH3_64bits(plain, (size_t)original_size);
	for (size_t i = 0; i < CHECKSUM_LEN; i++) {
		if (checksum[i] != (uint8_t)(sum >> (8 * (CHECKSUM_LEN - 1 - i)))) {
			rv = reject("xxh3_64 checksum mismatch");
			goto out;
		}
	}
	if (format != NULL) {
		memcpy(format, format_bytes, (size_t)format_len);
		format[format_len] = '\0';
	}
	*out = plain;
	*out_len = (size_t)original_size;
	plain = NULL;
	rv = CK_OK;
out:
	free(plain);
	free(legacy_bytes);
	return rv;
}

ck_err
cki_envelope_decode(const uint8_t *in, size_t n, uint8_t **out, size_t *out_len)
{
	return cki_envelope_decode_ex(in, n, out, out_len, NULL, 0);
}

ck_err
cki_envelope_encode(const uint8_t *in, size_t n, uint8_t **out, size_t *out_len)
{
	ck_err rv;
	char *compressed = NULL;
	uint8_t *env = NULL;
	static const uint8_t empty[1];
	const size_t fmt_len = sizeof(CKI_ENVELOPE_FORMAT) - 1;

	if ((in == NULL && n > 0) || out == NULL || out_len == NULL)
		return CK_EINVAL;
	if (n > CKI_ENVELOPE_MAX_UNCOMPRESSED)
		return CK_ETOOBIG;
	if (in == NULL)
		in = empty;

	int bound = LZ4_compressBound((int)n);
	if (bound <= 0)
		return CK_ETOOBIG;
	compressed = malloc((size_t)bound);
	if (compressed == NULL) {
		rv = CK_ENOMEM;
		goto out;
	}
	int clen = LZ4_compress_default((const char *)in, compressed, (int)n, bound);
	if (clen <= 0) {
		cki_log_error("LZ4 compression failed");
		rv = CK_EINTERNAL;
		goto out;
	}
	if ((size_t)clen > CKI_ENVELOPE_MAX_COMPRESSED) {
		rv = CK_ETOOBIG;
		goto out;
	}
	uint64_t sum = XXH3_64bits(in, n);

	/* msgpuck writes the shortest forms: fixarray, bin8/16/32, fixint or uint8, fixstr. */
	size_t cap = mp_sizeof_array(ENVELOPE_FIELDS) + mp_sizeof_bin((uint32_t)clen) +
	             mp_sizeof_array(CHECKSUM_LEN) + CHECKSUM_LEN * mp_sizeof_uint(0xff) +
	             mp_sizeof_uint(n) + mp_sizeof_str((uint32_t)fmt_len);
	env = malloc(cap);
	if (env == NULL) {
		rv = CK_ENOMEM;
		goto out;
	}
	char *p = (char *)env;
	p = mp_encode_array(p, ENVELOPE_FIELDS);
	p = mp_encode_bin(p, compressed, (uint32_t)clen);
	p = mp_encode_array(p, CHECKSUM_LEN);
	for (size_t i = 0; i < CHECKSUM_LEN; i++)
		p = mp_encode_uint(p, (uint8_t)(sum >> (8 * (CHECKSUM_LEN - 1 - i))));
	p = mp_encode_uint(p, n);
	p = mp_encode_str(p, CKI_ENVELOPE_FORMAT, (uint32_t)fmt_len);

	size_t len = (size_t)(p - (char *)env);
	if (len > CKI_ENVELOPE_MAX) {
		rv = CK_ETOOBIG;
		goto out;
	}
	*out = env;
	*out_len = len;
	env = NULL;
	rv = CK_OK;
out:
	free(env);
	free(compressed);
	return rv;
}
