/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Every row of wire-format.json through the agent's envelope decoder (agent/crypto/envelope.c),
 * for each revision we hold: the shared one (../shared/vectors, 1.1.0) and the vendored
 * upstream one (tests/vectors, 1.4.0, sha256-pinned). Groups: "vectors" (decode to input_hex),
 * "constructed_vectors" (envelope and input built from their segment lists, the 4 MiB one
 * too), "reject_vectors" (must be refused), "payload_reject_vectors" (the envelope decodes; the
 * payload must then fail the decode-bounds pre-scan cki_mp_check_bounds with the row's reason)
 * and "temporal_sentinel_vectors" (skipped by the rule in test_temporal_sentinels, counted).
 * Rows are iterated, never counted against a fixed number.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cunit_main.h"
#include "crypto/envelope.h"
#include "crypto/mpbounds.h"

/* The shared revision first, then the vendored newer one: the old rows must keep passing. */
static const char *const files[] = {CK_VECTORS_DIR "/wire-format.json",
                                    CK_LOCAL_VECTORS_DIR "/wire-format.json"};
#define NFILES (sizeof(files) / sizeof(files[0]))

/* JSON_DECODE_INT_AS_REAL: 1.4.0 holds original_size 2^63 + 16, beyond json_int_t. */
static json_t *
load(const char *path)
{
	json_error_t err;
	json_t *root = json_load_file(path, JSON_DECODE_INT_AS_REAL, &err);
	if (root == NULL)
		fprintf(stderr, "cannot load %s: %s\n", path, err.text);
	return root;
}

static uint8_t *
unhex_or_empty(const char *hex, size_t *len)
{
	if (hex == NULL)
		return NULL;
	if (hex[0] == '\0') {
		*len = 0;
		return calloc(1, 1);
	}
	return ck_unhex(hex, len);
}

/* Concatenates each segment's hex repeated count times; NULL on a bad segment. */
static uint8_t *
construct(json_t *segments, size_t *len)
{
	size_t i, total = 0;
	json_t *s;
	json_array_foreach(segments, i, s)
	{
		const char *hex = json_string_value(json_object_get(s, "hex"));
		json_int_t count = (json_int_t)json_number_value(json_object_get(s, "count"));
		if (hex == NULL || count < 0)
			return NULL;
		total += strlen(hex) / 2 * (size_t)count;
	}
	uint8_t *buf = malloc(total ? total : 1), *p = buf;
	if (buf == NULL)
		return NULL;
	json_array_foreach(segments, i, s)
	{
		size_t n = 0;
		uint8_t *one = ck_unhex(json_string_value(json_object_get(s, "hex")), &n);
		json_int_t count = (json_int_t)json_number_value(json_object_get(s, "count"));
		if (one == NULL) {
			free(buf);
			return NULL;
		}
		for (json_int_t k = 0; k < count; k++, p += n)
			memcpy(p, one, n);
		free(one);
	}
	*len = total;
	return buf;
}

/* Decodes env and compares with want; returns 1 when it matched. */
static int
decodes_to(const char *file, const char *name, const uint8_t *env, size_t env_len,
           const uint8_t *want, size_t want_len)
{
	uint8_t *out = NULL;
	size_t out_len = 0;
	ck_err rv = cki_envelope_decode(env, env_len, &out, &out_len);
	int ok = rv == CK_OK && out_len == want_len && memcmp(out, want, want_len) == 0;
	if (!ok)
		fprintf(stderr, "%s: %s: rv %d, %zu bytes (want %zu)\n", file, name, rv, out_len,
		        want_len);
	free(out);
	return ok;
}

static void
test_vectors(void)
{
	for (size_t f = 0; f < NFILES; f++) {
		json_t *root = load(files[f]);
		CU_ASSERT_FATAL(root != NULL);
		size_t i, rows = 0;
		json_t *row;
		json_array_foreach(json_object_get(root, "vectors"), i, row)
		{
			const char *name = json_string_value(json_object_get(row, "name"));
			size_t env_len = 0, in_len = 0;
			uint8_t *env = unhex_or_empty(
			        json_string_value(json_object_get(row, "envelope_hex")), &env_len);
			uint8_t *in = unhex_or_empty(
			        json_string_value(json_object_get(row, "input_hex")), &in_len);
			CU_ASSERT_FATAL(env != NULL && in != NULL);
			CU_ASSERT_EQUAL(env_len, (size_t)(json_int_t)json_number_value(
			                                 json_object_get(row, "envelope_size")));
			CU_ASSERT(decodes_to(files[f], name, env, env_len, in, in_len));
			free(env);
			free(in);
			rows++;
		}
		printf("\n  %s: %zu vectors decoded\n", files[f], rows);
		CU_ASSERT(rows > 0);
		json_decref(root);
	}
}

static void
test_constructed(void)
{
	for (size_t f = 0; f < NFILES; f++) {
		json_t *root = load(files[f]);
		CU_ASSERT_FATAL(root != NULL);
		size_t i, rows = 0;
		json_t *row;
		json_array_foreach(json_object_get(root, "constructed_vectors"), i, row)
		{
			const char *name = json_string_value(json_object_get(row, "name"));
			size_t env_len = 0, in_len = 0;
			uint8_t *env =
			        construct(json_object_get(row, "envelope_construction"), &env_len);
			uint8_t *in =
			        construct(json_object_get(row, "input_construction"), &in_len);
			CU_ASSERT_FATAL(env != NULL && in != NULL);
			CU_ASSERT_EQUAL(env_len, (size_t)(json_int_t)json_number_value(
			                                 json_object_get(row, "envelope_size")));
			CU_ASSERT_EQUAL(in_len, (size_t)(json_int_t)json_number_value(
			                                json_object_get(row, "original_size")));
			CU_ASSERT(decodes_to(files[f], name, env, env_len, in, in_len));
			free(env);
			free(in);
			rows++;
		}
		printf("\n  %s: %zu constructed envelopes decoded\n", files[f], rows);
		CU_ASSERT(f == 0 || rows > 0); /* the vendored 1.4.0 has them */
		json_decref(root);
	}
}

static void
test_rejects(void)
{
	for (size_t f = 0; f < NFILES; f++) {
		json_t *root = load(files[f]);
		CU_ASSERT_FATAL(root != NULL);
		size_t i, rows = 0;
		json_t *row;
		json_array_foreach(json_object_get(root, "reject_vectors"), i, row)
		{
			const char *name = json_string_value(json_object_get(row, "name"));
			size_t env_len = 0;
			uint8_t *env = unhex_or_empty(
			        json_string_value(json_object_get(row, "envelope_hex")), &env_len);
			CU_ASSERT_FATAL(env != NULL);
			CU_ASSERT_EQUAL(env_len, (size_t)(json_int_t)json_number_value(
			                                 json_object_get(row, "envelope_size")));
			uint8_t *out = NULL;
			size_t out_len = 0;
			ck_err rv = cki_envelope_decode(env, env_len, &out, &out_len);
			if (rv != CK_EPROTO)
				fprintf(stderr, "%s: reject %s: rv %d\n", files[f], name, rv);
			CU_ASSERT_EQUAL(rv, CK_EPROTO);
			CU_ASSERT(out == NULL);
			free(out);
			free(env);
			rows++;
		}
		printf("\n  %s: %zu reject vectors refused\n", files[f], rows);
		CU_ASSERT(f == 0 || rows > 0);
		json_decref(root);
	}
}

static void
test_payload_rejects(void)
{
	for (size_t f = 0; f < NFILES; f++) {
		json_t *root = load(files[f]);
		CU_ASSERT_FATAL(root != NULL);
		size_t i, rows = 0;
		json_t *row;
		json_array_foreach(json_object_get(root, "payload_reject_vectors"), i, row)
		{
			const char *name = json_string_value(json_object_get(row, "name"));
			size_t env_len = 0, in_len = 0;
			uint8_t *env = unhex_or_empty(
			        json_string_value(json_object_get(row, "envelope_hex")), &env_len);
			uint8_t *in = unhex_or_empty(
			        json_string_value(json_object_get(row, "input_hex")), &in_len);
			CU_ASSERT_FATAL(env != NULL && in != NULL);
			/* Every Retrieve Flow check accepts the envelope ... */
			CU_ASSERT(decodes_to(files[f], name, env, env_len, in, in_len));
			/* ... and the payload pre-scan refuses it, for the row's (first) reason. */
			size_t used = 0;
			cki_mp_verdict why = CKI_MP_OK;
			CU_ASSERT_EQUAL(cki_mp_check_bounds(in, in_len, &used, &why), CK_EPROTO);
			const char *reason = json_string_value(
			        json_array_get(json_object_get(row, "reject_reasons"), 0));
			CU_ASSERT_PTR_NOT_NULL(reason);
			if (reason != NULL)
				CU_ASSERT_STRING_EQUAL(cki_mp_verdict_name(why), reason);
			free(env);
			free(in);
			rows++;
		}
		printf("\n  %s: %zu payload reject vectors refused by the pre-scan\n", files[f],
		       rows);
		CU_ASSERT(f == 0 || rows > 0);
		json_decref(root);
	}
}

/*
 * Skip rule: the agent never deserializes a value into language types. Values are opaque
 * bytes it stores and returns (the stubs' callers decode them), so reviving a temporal
 * sentinel as a date/time type does not apply to it. What does apply, and is checked: each
 * payload is one well-formed MessagePack document inside the decode bounds, so the agent
 * passes it through untouched. Skipped rows are counted and printed.
 */
static void
test_temporal_sentinels(void)
{
	for (size_t f = 0; f < NFILES; f++) {
		json_t *root = load(files[f]);
		CU_ASSERT_FATAL(root != NULL);
		size_t i, skipped = 0;
		json_t *row;
		json_array_foreach(json_object_get(root, "temporal_sentinel_vectors"), i, row)
		{
			size_t n = 0, used = 0;
			uint8_t *p = unhex_or_empty(
			        json_string_value(json_object_get(row, "payload_hex")), &n);
			CU_ASSERT_FATAL(p != NULL);
			CU_ASSERT_EQUAL(cki_mp_check_bounds(p, n, &used, NULL), CK_OK);
			CU_ASSERT_EQUAL(used, n);
			free(p);
			skipped++;
		}
		printf("\n  %s: %zu temporal sentinel vectors skipped (agent does not revive "
		       "values; payloads checked well-formed)\n",
		       files[f], skipped);
		json_decref(root);
	}
}

static CU_TestInfo tests[] = {
        {"every vectors row decodes (shared and vendored)", test_vectors},
        {"every constructed envelope decodes (bin16 max, bin32 min, 4 MiB)", test_constructed},
        {"every reject vector is refused", test_rejects},
        {"payload reject vectors: envelope ok, payload pre-scan refuses", test_payload_rejects},
        {"temporal sentinel vectors: skipped by rule, counted", test_temporal_sentinels},
        CU_TEST_INFO_NULL,
};

CK_UNIT_SUITE("envelope_vectors", tests)
