/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for agent/crypto/mpbounds.c and the envelope decoder that runs it first: every row of
 * decode-bounds.json (IOP-31, IOP-32). Each reject row is refused for one of the reasons the
 * row lists (depth, overclaim, incomplete) by the bounds walk, and by cki_envelope_decode with
 * CK_EPROTO, whether it stands alone or sits inside an envelope's compressed_data position;
 * each accept row passes the walk and uses exactly its input. The rows are iterated, never
 * counted, so a newer file with more rows runs them all.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/envelope.h"
#include "crypto/mpbounds.h"
#include "cunit_main.h"

static json_t *
load_bounds(void)
{
	json_error_t err;
	json_t *root = json_load_file(ck_vector_path("decode-bounds.json"), 0, &err);
	if (root == NULL)
		fprintf(stderr, "cannot load decode-bounds.json: %s\n", err.text);
	return root;
}

/* The row's input, built from its construction and checked against input_hex/input_len. */
static uint8_t *
row_input(json_t *row, size_t *len)
{
	json_t *c = json_object_get(row, "construction");
	size_t rep_len = 0, suf_len = 0, hex_len = 0;
	uint8_t *rep = ck_unhex(json_string_value(json_object_get(c, "repeat_hex")), &rep_len);
	const char *suf_hex = json_string_value(json_object_get(c, "suffix_hex"));
	uint8_t *suf = suf_hex[0] != '\0' ? ck_unhex(suf_hex, &suf_len) : calloc(1, 1);
	uint8_t *hex = ck_unhex(json_string_value(json_object_get(row, "input_hex")), &hex_len);
	size_t count = (size_t)json_integer_value(json_object_get(c, "count"));
	CU_ASSERT_FATAL(rep != NULL && suf != NULL && hex != NULL);
	size_t n = rep_len * count + suf_len;
	uint8_t *in = malloc(n + 1);
	CU_ASSERT_FATAL(in != NULL);
	for (size_t i = 0; i < count; i++)
		memcpy(in + i * rep_len, rep, rep_len);
	memcpy(in + rep_len * count, suf, suf_len);
	CU_ASSERT_EQUAL(n, (size_t)json_integer_value(json_object_get(row, "input_len")));
	CU_ASSERT(hex_len == n && memcmp(hex, in, n) == 0);
	free(rep);
	free(suf);
	free(hex);
	*len = n;
	return in;
}

static bool
reason_listed(json_t *row, cki_mp_verdict v)
{
	size_t i;
	json_t *r;
	json_array_foreach(json_object_get(row, "reject_reasons"), i, r)
	{
		if (strcmp(json_string_value(r), cki_mp_verdict_name(v)) == 0)
			return true;
	}
	return false;
}

static ck_err
envelope_decode(const uint8_t *in, size_t n)
{
	uint8_t *out = NULL;
	size_t out_len = 0;
	ck_err rv = cki_envelope_decode(in, n, &out, &out_len);
	free(out);
	return rv;
}

/* [doc, [0]*8, 1, "msgpack"]: the row's document where an envelope holds compressed_data. */
static uint8_t *
inside_envelope(const uint8_t *doc, size_t n, size_t *len)
{
	static const uint8_t tail[] = {0x98, 0,    0,   0,   0,   0,   0,   0,   0,
	                               0x01, 0xa7, 'm', 's', 'g', 'p', 'a', 'c', 'k'};
	uint8_t *env = malloc(1 + n + sizeof(tail));
	CU_ASSERT_FATAL(env != NULL);
	env[0] = 0x94;
	memcpy(env + 1, doc, n);
	memcpy(env + 1 + n, tail, sizeof(tail));
	*len = 1 + n + sizeof(tail);
	return env;
}

static void
test_reject_rows(void)
{
	json_t *root = load_bounds();
	CU_ASSERT_FATAL(root != NULL);
	size_t i, rows = 0;
	json_t *row;
	json_array_foreach(json_object_get(root, "reject_vectors"), i, row)
	{
		const char *name = json_string_value(json_object_get(row, "name"));
		size_t n, env_len, used = 12345;
		uint8_t *in = row_input(row, &n);
		cki_mp_verdict why = CKI_MP_OK;
		ck_err rv = cki_mp_check_bounds(in, n, &used, &why);
		if (rv != CK_EPROTO || !reason_listed(row, why))
			fprintf(stderr, "reject row %s: rv %d, verdict %s\n", name, rv,
			        cki_mp_verdict_name(why));
		CU_ASSERT_EQUAL(rv, CK_EPROTO);
		CU_ASSERT(reason_listed(row, why));
		CU_ASSERT_EQUAL(used, 12345); /* not written on failure */
		CU_ASSERT_EQUAL(envelope_decode(in, n), CK_EPROTO);
		uint8_t *env = inside_envelope(in, n, &env_len);
		CU_ASSERT_EQUAL(envelope_decode(env, env_len), CK_EPROTO);
		free(env);
		free(in);
		rows++;
	}
	CU_ASSERT(rows > 0);
	json_decref(root);
}

static void
test_accept_rows(void)
{
	json_t *root = load_bounds();
	CU_ASSERT_FATAL(root != NULL);
	size_t i, rows = 0;
	json_t *row;
	json_array_foreach(json_object_get(root, "accept_vectors"), i, row)
	{
		const char *name = json_string_value(json_object_get(row, "name"));
		size_t n, used = 0;
		uint8_t *in = row_input(row, &n);
		cki_mp_verdict why = CKI_MP_DEPTH;
		ck_err rv = cki_mp_check_bounds(in, n, &used, &why);
		if (rv != CK_OK)
			fprintf(stderr, "accept row %s: verdict %s\n", name,
			        cki_mp_verdict_name(why));
		CU_ASSERT_EQUAL(rv, CK_OK);
		CU_ASSERT_EQUAL(why, CKI_MP_OK);
		CU_ASSERT_EQUAL(used, n);
		/* Not an envelope, so the envelope decoder still refuses it (as a shape error). */
		CU_ASSERT_EQUAL(envelope_decode(in, n), CK_EPROTO);
		free(in);
		rows++;
	}
	CU_ASSERT(rows > 0);
	json_decref(root);
}

/* The bound is 1024 levels: 1024 passes, 1025 is refused for depth alone. */
static void
test_depth_limit_is_1024(void)
{
	uint8_t doc[CKI_MP_MAX_DEPTH + 2];
	size_t used = 0;
	cki_mp_verdict why;
	memset(doc, 0x91, CKI_MP_MAX_DEPTH);
	doc[CKI_MP_MAX_DEPTH] = 0xc0;
	CU_ASSERT_EQUAL(cki_mp_check_bounds(doc, CKI_MP_MAX_DEPTH + 1, &used, &why), CK_OK);
	CU_ASSERT_EQUAL(used, CKI_MP_MAX_DEPTH + 1);
	memset(doc, 0x91, CKI_MP_MAX_DEPTH + 1);
	doc[CKI_MP_MAX_DEPTH + 1] = 0xc0;
	CU_ASSERT_EQUAL(cki_mp_check_bounds(doc, sizeof(doc), &used, &why), CK_EPROTO);
	CU_ASSERT_EQUAL(why, CKI_MP_DEPTH);
}

/* Scalars, ext and trailing bytes: the walk reports the first item's length. */
static void
test_scalars_ext_and_trailing_bytes(void)
{
	/* [1, -1, 1.5f, 2.5, true, nil, fixext1, ext8(2), "ab"] then one trailing byte. */
	static const uint8_t doc[] = {0x99, 0x01, 0xff, 0xca, 0x3f, 0xc0, 0x00, 0x00,
	                              0xcb, 0x40, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00,
	                              0x00, 0xc3, 0xc0, 0xd4, 0x05, 0x07, 0xc7, 0x02,
	                              0x05, 0x08, 0x09, 0xa2, 'a',  'b',  0xc0};
	size_t used = 0;
	cki_mp_verdict why;
	CU_ASSERT_EQUAL(cki_mp_check_bounds(doc, sizeof(doc), &used, &why), CK_OK);
	CU_ASSERT_EQUAL(used, sizeof(doc) - 1);
	/* Cut anywhere inside, it is incomplete or overclaims, never accepted. */
	for (size_t cut = 0; cut < sizeof(doc) - 1; cut++) {
		CU_ASSERT_EQUAL(cki_mp_check_bounds(doc, cut, &used, &why), CK_EPROTO);
		CU_ASSERT(why == CKI_MP_INCOMPLETE || why == CKI_MP_OVERCLAIM);
	}
	static const uint8_t reserved[] = {0xc1};
	CU_ASSERT_EQUAL(cki_mp_check_bounds(reserved, 1, &used, &why), CK_EPROTO);
	CU_ASSERT_EQUAL(why, CKI_MP_MALFORMED);
}

static CU_TestInfo tests[] = {
        {"every decode-bounds.json reject row is refused for a listed reason", test_reject_rows},
        {"every decode-bounds.json accept row passes the bounds", test_accept_rows},
        {"nesting is bounded at exactly 1024 levels", test_depth_limit_is_1024},
        {"scalars, ext and a cut anywhere are walked exactly", test_scalars_ext_and_trailing_bytes},
        CU_TEST_INFO_NULL};

CK_UNIT_SUITE("mpbounds", tests)
