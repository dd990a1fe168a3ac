/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ByteStorage envelope encode/decode (spec §6.2, bounds of §6.6) with a small hand-written
 * MessagePack reader/writer that knows only the types the envelope uses. The reader checks
 * every declared length against the bytes that remain before touching or allocating
 * anything, so a lying header costs nothing; the only allocations are the compressed bytes
 * of the legacy form (at most the input size) and the output (at most 1000x the compressed
 * size, and never above 512 MiB).
 */
#include "crypto/envelope.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <lz4.h>
#include <xxhash.h>

#include "base/log.h"

#define CHECKSUM_LEN    8
#define ENVELOPE_FIELDS 4

/* A bounded cursor over untrusted bytes. */
typedef struct reader {
	const uint8_t *p;
	size_t left;
} reader;

static bool
rd_take(reader *r, size_t n, const uint8_t **bytes)
{
	if (n > r->left)
		return false;
	if (bytes != NULL)
		*bytes = r->p;
	r->p += n;
	r->left -= n;
	return true;
}

static bool
rd_be(reader *r, size_t n, uint64_t *v)
{
	const uint8_t *b;
	if (!rd_take(r, n, &b))
		return false;
	*v = 0;
	for (size_t i = 0; i < n; i++)
		*v = (*v << 8) | b[i];
	return true;
}

static bool
rd_peek(const reader *r, uint8_t *tag)
{
	if (r->left == 0)
		return false;
	*tag = r->p[0];
	return true;
}

/* A non-negative integer in any MessagePack integer encoding. */
static bool
rd_uint(reader *r, uint64_t *v)
{
	const uint8_t *b;
	if (!rd_take(r, 1, &b))
		return false;
	uint8_t tag = b[0];
	if (tag <= 0x7f) {
		*v = tag;
		return true;
	}
	switch (tag) {
	case 0xcc:
		return rd_be(r, 1, v);
	case 0xcd:
		return rd_be(r, 2, v);
	case 0xce:
		return rd_be(r, 4, v);
	case 0xcf:
		return rd_be(r, 8, v);
	case 0xd0:
	case 0xd1:
	case 0xd2:
	case 0xd3: {
		/* Signed encodings: accepted when the value is non-negative (sign bit clear). */
		size_t width = (size_t)1 << (tag - 0xd0);
		if (!rd_be(r, width, v))
			return false;
		return (*v >> (8 * width - 1)) == 0;
	}
	default:
		return false;
	}
}

static bool
rd_byte_value(reader *r, uint8_t *b)
{
	uint64_t v;
	if (!rd_uint(r, &v) || v > 0xff)
		return false;
	*b = (uint8_t)v;
	return true;
}

/* Array header; the count is checked against the remaining input (each element >= 1 byte). */
static bool
rd_array(reader *r, uint64_t *count)
{
	uint8_t tag;
	if (!rd_peek(r, &tag))
		return false;
	if (tag >= 0x90 && tag <= 0x9f) {
		*count = tag & 0x0f;
		rd_take(r, 1, NULL);
	} else if (tag == 0xdc || tag == 0xdd) {
		rd_take(r, 1, NULL);
		if (!rd_be(r, tag == 0xdc ? 2 : 4, count))
			return false;
	} else {
		return false;
	}
	return *count <= r->left;
}

/* bin8/16/32 header; the length is checked against the remaining input. */
static bool
rd_bin(reader *r, uint64_t *len)
{
	uint8_t tag;
	if (!rd_peek(r, &tag) || tag < 0xc4 || tag > 0xc6)
		return false;
	rd_take(r, 1, NULL);
	if (!rd_be(r, (size_t)1 << (tag - 0xc4), len))
		return false;
	return *len <= r->left;
}

/* fixstr/str8/16/32 header; the length is checked against the remaining input. */
static bool
rd_str(reader *r, uint64_t *len)
{
	uint8_t tag;
	if (!rd_peek(r, &tag))
		return false;
	rd_take(r, 1, NULL);
	if (tag >= 0xa0 && tag <= 0xbf)
		*len = tag & 0x1f;
	else if (tag >= 0xd9 && tag <= 0xdb) {
		if (!rd_be(r, (size_t)1 << (tag - 0xd9), len))
			return false;
	} else
		return false;
	return *len <= r->left;
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
	reader r = {in, n};
	reader legacy = {NULL, 0};
	const uint8_t *compressed = NULL;
	uint8_t *legacy_bytes = NULL;
	uint8_t *plain = NULL;
	uint64_t compressed_len, count, original_size, format_len;
	uint8_t checksum[CHECKSUM_LEN];
	const uint8_t *format_bytes;
	uint8_t tag;

	if ((in == NULL && n > 0) || out == NULL || out_len == NULL ||
	    (format != NULL && format_cap < CKI_ENVELOPE_FORMAT_MAX + 1))
		return CK_EINVAL;
	if (n > CKI_ENVELOPE_MAX)
		return reject("envelope larger than 512 MiB");

	if (!rd_array(&r, &count) || count != ENVELOPE_FIELDS)
		return reject("not an array of 4");

	/* 0: compressed_data, bin (protocol 1.1) or legacy array of byte-valued integers. */
	if (!rd_peek(&r, &tag))
		return reject("truncated");
	if (tag >= 0xc4 && tag <= 0xc6) {
		if (!rd_bin(&r, &compressed_len))
			return reject("compressed_data overruns the input");
		rd_take(&r, (size_t)compressed_len, &compressed);
	} else {
		if (!rd_array(&r, &compressed_len))
			return reject("compressed_data is neither bin nor a fitting array");
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
	if (!rd_str(&r, &format_len) || format_len > CKI_ENVELOPE_FORMAT_MAX)
		return reject("format is not a short string");
	rd_take(&r, (size_t)format_len, &format_bytes);

	if (r.left != 0)
		return reject("trailing bytes after the envelope");

	/* Decompression-bomb check, integer math (compressed_len <= 2^29, so no overflow). */
	if (compressed_len == 0)
		return reject("empty compressed_data");
	if (compressed_len > UINT64_MAX / CKI_ENVELOPE_MAX_RATIO ||
	    original_size > CKI_ENVELOPE_MAX_RATIO * compressed_len)
		return reject("compression ratio above 1000");

	if (legacy.p != NULL) {
		legacy_bytes = malloc((size_t)compressed_len);
		if (legacy_bytes == NULL) {
			rv = CK_ENOMEM;
			goto out;
		}
		for (uint64_t i = 0; i < compressed_len; i++)
			rd_byte_value(&legacy, &legacy_bytes[i]);
		compressed = legacy_bytes;
	}

	plain = malloc(original_size > 0 ? (size_t)original_size : 1);
	if (plain == NULL) {
		rv = CK_ENOMEM;
		goto out;
	}
	int got = LZ4_decompress_safe((const char *)compressed, (char *)plain, (int)compressed_len,
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

static uint8_t *
put_be(uint8_t *p, uint64_t v, size_t width)
{
	for (size_t i = 0; i < width; i++)
		p[i] = (uint8_t)(v >> (8 * (width - 1 - i)));
	return p + width;
}

/* Shortest unsigned integer encoding. */
static uint8_t *
put_uint(uint8_t *p, uint64_t v)
{
	if (v <= 0x7f) {
		*p++ = (uint8_t)v;
		return p;
	}
	if (v <= 0xff) {
		*p++ = 0xcc;
		return put_be(p, v, 1);
	}
	if (v <= 0xffff) {
		*p++ = 0xcd;
		return put_be(p, v, 2);
	}
	if (v <= 0xffffffff) {
		*p++ = 0xce;
		return put_be(p, v, 4);
	}
	*p++ = 0xcf;
	return put_be(p, v, 8);
}

/* Shortest bin header. */
static uint8_t *
put_bin_header(uint8_t *p, size_t len)
{
	if (len <= 0xff) {
		*p++ = 0xc4;
		return put_be(p, len, 1);
	}
	if (len <= 0xffff) {
		*p++ = 0xc5;
		return put_be(p, len, 2);
	}
	*p++ = 0xc6;
	return put_be(p, len, 4);
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

	/* fixarray + bin header + data + array(8) of up to 2 bytes each + uint + fixstr. */
	size_t cap = 1 + 5 + (size_t)clen + 1 + 2 * CHECKSUM_LEN + 9 + 1 + fmt_len;
	env = malloc(cap);
	if (env == NULL) {
		rv = CK_ENOMEM;
		goto out;
	}
	uint8_t *p = env;
	*p++ = 0x90 | ENVELOPE_FIELDS;
	p = put_bin_header(p, (size_t)clen);
	memcpy(p, compressed, (size_t)clen);
	p += clen;
	*p++ = 0x90 | CHECKSUM_LEN;
	for (size_t i = 0; i < CHECKSUM_LEN; i++)
		p = put_uint(p, (uint8_t)(sum >> (8 * (CHECKSUM_LEN - 1 - i))));
	p = put_uint(p, n);
	*p++ = (uint8_t)(0xa0 | fmt_len);
	memcpy(p, CKI_ENVELOPE_FORMAT, fmt_len);
	p += fmt_len;

	size_t len = (size_t)(p - env);
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
