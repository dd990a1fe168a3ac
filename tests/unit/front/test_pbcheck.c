/* SPDX-License-Identifier: Apache-2.0 */
/* The NUL-in-string check beside protobuf-c's decoder. */
#include <string.h>

#include "cachekit/agent/v1/agent.pb-c.h"
#include "cunit_main.h"
#include "front/pbcheck.h"

static const ProtobufCMessageDescriptor *req = &cachekit__agent__v1__request__descriptor;

static void
test_finds_nul_in_a_nested_key(void)
{
	/* Request{id 1, set{key "a\0b"}}: field 11 (0x5a) holds field 1 (0x0a). */
	const uint8_t msg[] = {0x08, 0x01, 0x5a, 0x05, 0x0a, 0x03, 'a', 0x00, 'b'};
	const char *f = cki_pb_nul_string_field(req, msg, sizeof(msg));
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT_STRING_EQUAL(f, "key");
}

static void
test_finds_nul_in_a_top_level_string(void)
{
	const uint8_t msg[] = {0x08, 0x01, 0x1a, 0x02, 'n', 0x00}; /* namespace "n\0" */
	const char *f = cki_pb_nul_string_field(req, msg, sizeof(msg));
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT_STRING_EQUAL(f, "namespace");
}

static void
test_bytes_fields_may_hold_nul(void)
{
	/* set{key "k", value "\0\0"}: value is bytes, so NULs are data. */
	const uint8_t msg[] = {0x08, 0x01, 0x5a, 0x07, 0x0a, 0x01, 'k', 0x12, 0x02, 0x00, 0x00};
	CU_ASSERT_PTR_NULL(cki_pb_nul_string_field(req, msg, sizeof(msg)));
}

static void
test_clean_and_malformed_input_report_nothing(void)
{
	Cachekit__Agent__V1__Request r = CACHEKIT__AGENT__V1__REQUEST__INIT;
	Cachekit__Agent__V1__GetRequest g = CACHEKIT__AGENT__V1__GET_REQUEST__INIT;
	g.key = "user:1";
	r.op_case = CACHEKIT__AGENT__V1__REQUEST__OP_GET;
	r.get = &g;
	r.namespace_ = "app";
	uint8_t buf[64];
	size_t n = cachekit__agent__v1__request__pack(&r, buf);
	CU_ASSERT_PTR_NULL(cki_pb_nul_string_field(req, buf, n));
	const uint8_t truncated[] = {0x08, 0x01, 0x5a, 0x09, 0x0a, 0x03, 'a', 0x00};
	CU_ASSERT_PTR_NULL(cki_pb_nul_string_field(req, truncated, sizeof(truncated)));
	const uint8_t endless_varint[] = {0x08, 0xff, 0xff, 0xff};
	CU_ASSERT_PTR_NULL(cki_pb_nul_string_field(req, endless_varint, sizeof(endless_varint)));
}

static CU_TestInfo tests[] = {
        {"finds a NUL in a nested key", test_finds_nul_in_a_nested_key},
        {"finds a NUL in a top-level string", test_finds_nul_in_a_top_level_string},
        {"bytes fields may hold NUL", test_bytes_fields_may_hold_nul},
        {"clean and malformed input report nothing", test_clean_and_malformed_input_report_nothing},
        CU_TEST_INFO_NULL,
};

CK_UNIT_SUITE("pbcheck", tests)
