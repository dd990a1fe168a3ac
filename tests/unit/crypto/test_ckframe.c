/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for agent/crypto/ckframe.c against every row of python-frame.json: each frame and
 * each encrypted-read frame is recognised as a cachekit-py auto-mode entry; each error frame
 * refused by the prefix, version or header-length check is malformed (never a frame), one
 * without the magic is not a frame at all; a frame fed to the wrong reader, or one whose
 * serializer name cachekit-py refuses, is still cachekit-py's container. Rows are iterated.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/ckframe.h"
#include "cunit_main.h"

static json_t *
load_frames(void)
{
	json_error_t err;
	json_t *root = json_load_file(ck_vector_path("python-frame.json"), 0, &err);
	if (root == NULL)
		fprintf(stderr, "cannot load python-frame.json: %s\n", err.text);
	return root;
}

static cki_ckframe_verdict
classify_row(const json_t *row)
{
	size_t n = 0;
	uint8_t *frame = ck_unhex(json_string_value(json_object_get(row, "frame_hex")), &n);
	CU_ASSERT_FATAL(frame != NULL);
	cki_ckframe_verdict v = cki_ckframe_classify(frame, n);
	free(frame);
	return v;
}

static size_t
expect_all(json_t *rows, cki_ckframe_verdict want)
{
	size_t i, count = 0;
	json_t *row;
	json_array_foreach(rows, i, row)
	{
		cki_ckframe_verdict got = classify_row(row);
		if (got != want)
			fprintf(stderr, "row %s: verdict %d, want %d\n",
			        json_string_value(json_object_get(row, "name")), got, want);
		CU_ASSERT_EQUAL(got, want);
		count++;
	}
	return count;
}

static void
test_frames_are_recognised(void)
{
	json_t *root = load_frames();
	CU_ASSERT_FATAL(root != NULL);
	CU_ASSERT(expect_all(json_object_get(root, "frame_vectors"), CKI_CKFRAME_FRAME) > 0);
	CU_ASSERT(expect_all(json_object_get(root, "encrypted_read_vectors"), CKI_CKFRAME_FRAME) >
	          0);
	json_decref(root);
}

static void
test_error_frames_are_never_frames(void)
{
	json_t *root = load_frames();
	CU_ASSERT_FATAL(root != NULL);
	size_t i, rows = 0;
	json_t *row;
	json_array_foreach(json_object_get(root, "error_vectors"), i, row)
	{
		const char *by = json_string_value(json_object_get(row, "rejected_by"));
		const char *name = json_string_value(json_object_get(row, "name"));
		cki_ckframe_verdict got = classify_row(row);
		cki_ckframe_verdict want;
		if (by == NULL || strcmp(by, "serializer_name") == 0)
			want = CKI_CKFRAME_FRAME; /* cachekit-py's container, refused by its reader
			                           */
		else if (strcmp(by, "magic") == 0)
			want = CKI_CKFRAME_NONE;
		else
			want = CKI_CKFRAME_MALFORMED; /* prefix, version, header length, name */
		if (got != want)
			fprintf(stderr, "error row %s (%s): verdict %d, want %d\n", name,
			        by ? by : "-", got, want);
		CU_ASSERT_EQUAL(got, want);
		rows++;
	}
	CU_ASSERT(rows > 0);
	json_decref(root);
}

static void
test_ordinary_values_are_not_frames(void)
{
	static const uint8_t text[] = "CKEDITOR settings";
	static const uint8_t msgpack[] = {0x82, 0xa3, 'a', 'g', 'e', 0x1e};
	static const uint8_t no_json[] = {'C', 'K', 3, 0, 0, 0, 2, 'h', 'i', 'x'};
	CU_ASSERT_EQUAL(cki_ckframe_classify(msgpack, sizeof(msgpack)), CKI_CKFRAME_NONE);
	CU_ASSERT_EQUAL(cki_ckframe_classify(text, sizeof(text) - 1), CKI_CKFRAME_MALFORMED);
	CU_ASSERT_EQUAL(cki_ckframe_classify(no_json, sizeof(no_json)), CKI_CKFRAME_MALFORMED);
	CU_ASSERT_EQUAL(cki_ckframe_classify(NULL, 0), CKI_CKFRAME_NONE);
	CU_ASSERT_FALSE(cki_ckframe_is_frame(text, sizeof(text) - 1));
}

static CU_TestInfo tests[] = {
        {"every python-frame.json frame is a cachekit-py auto-mode entry",
         test_frames_are_recognised},
        {"every python-frame.json error frame is refused or not a frame",
         test_error_frames_are_never_frames},
        {"ordinary values are not frames", test_ordinary_values_are_not_frames},
        CU_TEST_INFO_NULL};

CK_UNIT_SUITE("ckframe", tests)
