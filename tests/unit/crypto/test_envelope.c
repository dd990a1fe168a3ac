/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for agent/envelope.c: every wire-format.json envelope (legacy and bin) decodes and
 * verifies; our encoder round-trips (liblz4 bytes are not compared with lz4_flex's, spec
 * §6.2); and every decode bound rejects with CK_EPROTO before allocating. The test binary is
 * linked with -Wl,--wrap=malloc so __wrap_malloc below sees the decoder's allocations and
 * the tests can assert that lying headers never cause a large one.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cunit_main.h"
#include "crypto/envelope.h"

void *__real_malloc(size_t n);
void *__wrap_malloc(size_t n);

static size_t largest_malloc;

/* ck_vector_path() in cunit_main.c is compiled without CK_VECTORS_DIR (only test_<module>.c
 * gets the definition), so it falls back to a cwd-relative path that breaks under ctest.
 * Resolve the vectors here instead. */
static const char *
vector_path(const char *file)
{
	static char path[4096];
	const char *dir = getenv("CK_VECTORS_DIR");
	snprintf(path, sizeof(path), "%s/%s", dir != NULL ? dir : CK_VECTORS_DIR, file);
	return path;
}

void *
__wrap_malloc(size_t n)
{
	if (n > largest_malloc)
		largest_malloc = n;
	return __real_malloc(n);
}

/* The hello envelope of spec §6.2 (simple_string_bin), built by hand. */
static const uint8_t hello_env[] = {
        0x94, 0xc4, 0x12, 0xf0, 0x01, 'h',  'e',  'l',  'l',  'o',  ',',  ' ',  'c',  'a',
        'c',  'h',  'e',  'k',  'i',  't',  '!',  0x98, 0x6d, 0xcc, 0x8a, 0x34, 0xcc, 0xb6,
        0x3a, 0x3c, 0x52, 0xcc, 0xd3, 0x10, 0xa7, 'm',  's',  'g',  'p',  'a',  'c',  'k',
};
#define HELLO_SIZE_AT     33
#define HELLO_CHECKSUM_AT 21

static ck_err
decode(const uint8_t *in, size_t n)
{
	uint8_t *out = NULL;
	size_t out_len = 0;
	ck_err rv = cki_envelope_decode(in, n, &out, &out_len);
	free(out);
	return rv;
}

/* Decodes and reports the largest allocation made meanwhile. */
static ck_err
decode_counting(const uint8_t *in, size_t n, size_t *largest)
{
	largest_malloc = 0;
	ck_err rv = decode(in, n);
	*largest = largest_malloc;
	return rv;
}

static void
test_vectors_decode(void)
{
	json_error_t err;
	json_t *root = json_load_file(vector_path("wire-format.json"), 0, &err);
	if (root == NULL)
		fprintf(stderr, "cannot load %s: %s\n", vector_path("wire-format.json"), err.text);
	CU_ASSERT_FATAL(root != NULL);
	json_t *limits = json_object_get(root, "limits");
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(limits, "max_compressed_size")),
	                (json_int_t)CKI_ENVELOPE_MAX_COMPRESSED);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(limits, "max_uncompressed_size")),
	                (json_int_t)CKI_ENVELOPE_MAX_UNCOMPRESSED);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(limits, "max_compression_ratio")),
	                CKI_ENVELOPE_MAX_RATIO);
	size_t i, rows = 0;
	json_t *row;
	json_array_foreach(json_object_get(root, "vectors"), i, row)
	{
		const char *name = json_string_value(json_object_get(row, "name"));
		const char *env_hex = json_string_value(json_object_get(row, "envelope_hex"));
		const char *in_hex = json_string_value(json_object_get(row, "input_hex"));
		size_t env_len = 0, in_len = 0;
		uint8_t *env = ck_unhex(env_hex, &env_len);
		uint8_t *want = in_hex[0] ? ck_unhex(in_hex, &in_len) : calloc(1, 1);
		CU_ASSERT_FATAL(env != NULL && want != NULL);
		CU_ASSERT_EQUAL(env_len,
		                (size_t)json_integer_value(json_object_get(row, "envelope_size")));
		uint8_t *out = NULL;
		size_t out_len = 0;
		char format[CKI_ENVELOPE_FORMAT_MAX + 1];
		ck_err rv = cki_envelope_decode_ex(env, env_len, &out, &out_len, format,
		                                   sizeof(format));
		if (rv != CK_OK || out_len != in_len || memcmp(out, want, in_len) != 0)
			fprintf(stderr, "vector %s: rv %d, %zu bytes\n", name, rv, out_len);
		CU_ASSERT_EQUAL(rv, CK_OK);
		CU_ASSERT(out_len == in_len && out != NULL && memcmp(out, want, in_len) == 0);
		CU_ASSERT_STRING_EQUAL(format, json_string_value(json_object_get(row, "format")));

		/* Our encoder round-trips the same input (bytes may differ from lz4_flex). */
		uint8_t *ours = NULL, *back = NULL;
		size_t ours_len = 0, back_len = 0;
		CU_ASSERT_EQUAL(cki_envelope_encode(want, in_len, &ours, &ours_len), CK_OK);
		CU_ASSERT_EQUAL(cki_envelope_decode(ours, ours_len, &back, &back_len), CK_OK);
		CU_ASSERT(back_len == in_len && back != NULL && memcmp(back, want, in_len) == 0);
		/* The LZ4 block of empty input is always 00, so that envelope is byte-exact. */
		if (strcmp(name, "empty_bin") == 0)
			CU_ASSERT(ours_len == env_len && memcmp(ours, env, env_len) == 0);
		free(ours);
		free(back);
		free(out);
		free(env);
		free(want);
		rows++;
	}
	CU_ASSERT(rows > 0);
	json_decref(root);
}

static void
test_encoder_layout(void)
{
	uint8_t *env = NULL;
	size_t len = 0;
	const uint8_t in[] = "hello, cachekit!";
	CU_ASSERT_EQUAL_FATAL(cki_envelope_encode(in, 16, &env, &len), CK_OK);
	/* Same bytes as the spec example: liblz4 leaves 16 literals alone too. */
	CU_ASSERT(len == sizeof(hello_env) && memcmp(env, hello_env, len) == 0);
	free(env);
}

static void
test_encoder_large_round_trip(void)
{
	/* Sizes that need bin16 and bin32 headers and uint16/uint32 sizes. */
	const size_t sizes[] = {300, 70000, 1 << 20};
	for (size_t s = 0; s < 3; s++) {
		size_t n = sizes[s];
		uint8_t *in = malloc(n);
		uint32_t x = 2463534242u;
		for (size_t i = 0; i < n; i++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			in[i] = (i % 3 == 0) ? (uint8_t)x : (uint8_t)(i >> 4);
		}
		uint8_t *env = NULL, *back = NULL;
		size_t env_len = 0, back_len = 0;
		CU_ASSERT_EQUAL(cki_envelope_encode(in, n, &env, &env_len), CK_OK);
		CU_ASSERT_EQUAL(cki_envelope_decode(env, env_len, &back, &back_len), CK_OK);
		CU_ASSERT(back_len == n && back != NULL && memcmp(back, in, n) == 0);
		free(in);
		free(env);
		free(back);
	}
}

static void
test_truncated_input_rejected(void)
{
	for (size_t n = 0; n < sizeof(hello_env); n++)
		CU_ASSERT_EQUAL(decode(hello_env, n), CK_EPROTO);
	CU_ASSERT_EQUAL(decode(hello_env, sizeof(hello_env)), CK_OK);
}

static void
test_trailing_bytes_rejected(void)
{
	uint8_t buf[sizeof(hello_env) + 1];
	memcpy(buf, hello_env, sizeof(hello_env));
	buf[sizeof(hello_env)] = 0xc0;
	CU_ASSERT_EQUAL(decode(buf, sizeof(buf)), CK_EPROTO);
}

static void
test_lying_size_rejected(void)
{
	uint8_t buf[sizeof(hello_env)];
	memcpy(buf, hello_env, sizeof(buf));
	buf[HELLO_SIZE_AT] = 0x11; /* 17: the block holds 16 */
	CU_ASSERT_EQUAL(decode(buf, sizeof(buf)), CK_EPROTO);
	buf[HELLO_SIZE_AT] = 0x0f; /* 15 */
	CU_ASSERT_EQUAL(decode(buf, sizeof(buf)), CK_EPROTO);
	buf[HELLO_SIZE_AT] = 0x00;
	CU_ASSERT_EQUAL(decode(buf, sizeof(buf)), CK_EPROTO);
}

static void
test_bad_checksum_rejected(void)
{
	uint8_t buf[sizeof(hello_env)];
	memcpy(buf, hello_env, sizeof(buf));
	buf[HELLO_CHECKSUM_AT + 1] ^= 0x01; /* 6d -> 6c */
	CU_ASSERT_EQUAL(decode(buf, sizeof(buf)), CK_EPROTO);
	memcpy(buf, hello_env, sizeof(buf));
	buf[sizeof(buf) - 8 - 1 - 1 - 1] ^= 0x01; /* last checksum byte d3 -> d2 */
	CU_ASSERT_EQUAL(decode(buf, sizeof(buf)), CK_EPROTO);
}

/* Changed payload, unchanged checksum: the xxh3 check catches it. */
static void
test_payload_corruption_rejected(void)
{
	uint8_t buf[sizeof(hello_env)];
	memcpy(buf, hello_env, sizeof(buf));
	buf[5] = 'H';
	CU_ASSERT_EQUAL(decode(buf, sizeof(buf)), CK_EPROTO);
}

/* [bin(len) block, checksum, size, "msgpack"] with a 1-byte block "00" and a chosen size. */
static size_t
build_claim(uint8_t *buf, uint8_t size_tag, uint32_t size)
{
	size_t p = 0;
	buf[p++] = 0x94;
	buf[p++] = 0xc4;
	buf[p++] = 0x01;
	buf[p++] = 0x00;
	buf[p++] = 0x98;
	for (int i = 0; i < 8; i++)
		buf[p++] = 0x00;
	buf[p++] = size_tag;
	if (size_tag == 0xcd) {
		buf[p++] = (uint8_t)(size >> 8);
		buf[p++] = (uint8_t)size;
	} else {
		for (int i = 3; i >= 0; i--)
			buf[p++] = (uint8_t)(size >> (8 * i));
	}
	memcpy(buf + p, "\xa7msgpack", 8);
	return p + 8;
}

static void
test_ratio_bound(void)
{
	uint8_t buf[64];
	size_t largest;
	/* 1001:1 is refused before the output buffer is allocated. */
	size_t n = build_claim(buf, 0xcd, 1001);
	CU_ASSERT_EQUAL(decode_counting(buf, n, &largest), CK_EPROTO);
	CU_ASSERT(largest < 1001);
	/* Exactly 1000:1 passes the ratio gate (the output is allocated), then the block,
	 * which does not decompress to 1000 bytes, is refused. */
	n = build_claim(buf, 0xcd, 1000);
	CU_ASSERT_EQUAL(decode_counting(buf, n, &largest), CK_EPROTO);
	CU_ASSERT_EQUAL(largest, 1000);
}

static void
test_oversize_claims_rejected_without_allocating(void)
{
	uint8_t buf[64];
	size_t largest;
	/* original_size of 512 MiB + 1, and of 4 GiB - 1. */
	size_t n = build_claim(buf, 0xce, 0x20000001);
	CU_ASSERT_EQUAL(decode_counting(buf, n, &largest), CK_EPROTO);
	CU_ASSERT(largest < 1024);
	n = build_claim(buf, 0xce, 0xffffffff);
	CU_ASSERT_EQUAL(decode_counting(buf, n, &largest), CK_EPROTO);
	CU_ASSERT(largest < 1024);

	/* bin32 claiming 4 GiB - 1 bytes in a 10-byte input. */
	const uint8_t bin32[] = {0x94, 0xc6, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00};
	CU_ASSERT_EQUAL(decode_counting(bin32, sizeof(bin32), &largest), CK_EPROTO);
	CU_ASSERT(largest < 1024);

	/* Legacy array32 claiming 4 G elements. */
	const uint8_t arr32[] = {0x94, 0xdd, 0xff, 0xff, 0xff, 0xff, 0x00, 0x01};
	CU_ASSERT_EQUAL(decode_counting(arr32, sizeof(arr32), &largest), CK_EPROTO);
	CU_ASSERT(largest < 1024);

	/* uint64 original_size. */
	uint8_t big[64];
	size_t p = 0;
	memcpy(big, "\x94\xc4\x01\x00\x98\x00\x00\x00\x00\x00\x00\x00\x00\xcf", 14);
	p = 14;
	memcpy(big + p, "\x00\x00\x00\x01\x00\x00\x00\x00", 8);
	p += 8;
	memcpy(big + p, "\xa7msgpack", 8);
	p += 8;
	CU_ASSERT_EQUAL(decode_counting(big, p, &largest), CK_EPROTO);
	CU_ASSERT(largest < 1024);

	/* An input over 512 MiB is refused on its length alone, before it is read. */
	CU_ASSERT_EQUAL(decode(hello_env, CKI_ENVELOPE_MAX + 1), CK_EPROTO);
}

static void
test_malformed_structure_rejected(void)
{
	uint8_t buf[sizeof(hello_env) + 8];

	/* Not an array of 4. */
	memcpy(buf, hello_env, sizeof(hello_env));
	buf[0] = 0x93;
	CU_ASSERT_EQUAL(decode(buf, sizeof(hello_env)), CK_EPROTO);
	buf[0] = 0x95;
	CU_ASSERT_EQUAL(decode(buf, sizeof(hello_env)), CK_EPROTO);
	buf[0] = 0x84; /* a map */
	CU_ASSERT_EQUAL(decode(buf, sizeof(hello_env)), CK_EPROTO);

	/* Checksum with 7 or 9 elements. */
	memcpy(buf, hello_env, sizeof(hello_env));
	buf[HELLO_CHECKSUM_AT] = 0x97;
	CU_ASSERT_EQUAL(decode(buf, sizeof(hello_env)), CK_EPROTO);
	buf[HELLO_CHECKSUM_AT] = 0x99;
	CU_ASSERT_EQUAL(decode(buf, sizeof(hello_env)), CK_EPROTO);

	/* Format that is not a string (bin). */
	memcpy(buf, hello_env, sizeof(hello_env));
	buf[34] = 0xc4;
	buf[35] = 0x06;
	CU_ASSERT_EQUAL(decode(buf, sizeof(hello_env)), CK_EPROTO);

	/* Negative original_size (negative fixint, int8 -1). */
	memcpy(buf, hello_env, sizeof(hello_env));
	buf[HELLO_SIZE_AT] = 0xff;
	CU_ASSERT_EQUAL(decode(buf, sizeof(hello_env)), CK_EPROTO);

	/* Zero-length compressed data, even with original_size 0. */
	const uint8_t empty_block[] = {0x94, 0xc4, 0x00, 0x98, 0x2d, 0x06, 0xcc, 0x80, 0x05,
	                               0x38, 0xcc, 0xd3, 0xcc, 0x94, 0xcc, 0xc2, 0x00, 0xa7,
	                               'm',  's',  'g',  'p',  'a',  'c',  'k'};
	CU_ASSERT_EQUAL(decode(empty_block, sizeof(empty_block)), CK_EPROTO);

	/* Legacy array with an element above 255 (cd 0100). */
	const uint8_t legacy_big[] = {0x94, 0x91, 0xcd, 0x01, 0x00, 0x98, 0x2d, 0x06, 0xcc,
	                              0x80, 0x05, 0x38, 0xcc, 0xd3, 0xcc, 0x94, 0xcc, 0xc2,
	                              0x00, 0xa7, 'm',  's',  'g',  'p',  'a',  'c',  'k'};
	CU_ASSERT_EQUAL(decode(legacy_big, sizeof(legacy_big)), CK_EPROTO);
	/* The same envelope with element 0 (the vector "empty") decodes. */
	const uint8_t legacy_ok[] = {0x94, 0x91, 0x00, 0x98, 0x2d, 0x06, 0xcc, 0x80, 0x05,
	                             0x38, 0xcc, 0xd3, 0xcc, 0x94, 0xcc, 0xc2, 0x00, 0xa7,
	                             'm',  's',  'g',  'p',  'a',  'c',  'k'};
	CU_ASSERT_EQUAL(decode(legacy_ok, sizeof(legacy_ok)), CK_OK);

	/* Checksum as bin8 (never valid). */
	const uint8_t checksum_bin[] = {0x94, 0xc4, 0x01, 0x00, 0xc4, 0x08, 0x2d, 0x06,
	                                0x80, 0x05, 0x38, 0xd3, 0x94, 0xc2, 0x00, 0xa7,
	                                'm',  's',  'g',  'p',  'a',  'c',  'k'};
	CU_ASSERT_EQUAL(decode(checksum_bin, sizeof(checksum_bin)), CK_EPROTO);
}

static void
test_decode_arguments(void)
{
	uint8_t *out = NULL;
	size_t out_len = 0;
	char small[4];
	CU_ASSERT_EQUAL(cki_envelope_decode(NULL, 3, &out, &out_len), CK_EINVAL);
	CU_ASSERT_EQUAL(cki_envelope_decode(hello_env, sizeof(hello_env), NULL, &out_len),
	                CK_EINVAL);
	CU_ASSERT_EQUAL(cki_envelope_decode_ex(hello_env, sizeof(hello_env), &out, &out_len, small,
	                                       sizeof(small)),
	                CK_EINVAL);
	CU_ASSERT_EQUAL(cki_envelope_decode(NULL, 0, &out, &out_len), CK_EPROTO);
	CU_ASSERT_PTR_NULL(out);
	CU_ASSERT_EQUAL(cki_envelope_encode(NULL, 1, &out, &out_len), CK_EINVAL);
	CU_ASSERT_EQUAL(
	        cki_envelope_encode(hello_env, CKI_ENVELOPE_MAX_UNCOMPRESSED + 1, &out, &out_len),
	        CK_ETOOBIG);
	CU_ASSERT_PTR_NULL(out);
}

static CU_TestInfo tests[] = {
        {"every wire-format.json envelope decodes and round-trips", test_vectors_decode},
        {"encoder writes the spec's hello envelope", test_encoder_layout},
        {"encoder round-trips bin16/bin32 sizes", test_encoder_large_round_trip},
        {"every truncation is rejected", test_truncated_input_rejected},
        {"trailing bytes are rejected", test_trailing_bytes_rejected},
        {"original_size that lies is rejected", test_lying_size_rejected},
        {"checksum mismatch is rejected", test_bad_checksum_rejected},
        {"payload corruption is rejected", test_payload_corruption_rejected},
        {"ratio above 1000 refused before allocating; 1000 passes", test_ratio_bound},
        {"oversize claims rejected without allocating",
         test_oversize_claims_rejected_without_allocating},
        {"malformed structure is rejected", test_malformed_structure_rejected},
        {"bad arguments", test_decode_arguments},
        CU_TEST_INFO_NULL,
};

CK_UNIT_SUITE("envelope", tests)
