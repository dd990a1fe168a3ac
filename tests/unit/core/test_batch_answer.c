/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Batch answers (agent/core/batch.c): items put in any order, each packed once, go out as one
 * Response whose bytes are exactly those of a Response built the ordinary way (items as
 * Response messages in request order); an item never put is CK_EINTERNAL; a MultiSet answer
 * the same.
 */
#include <stdlib.h>
#include <string.h>

#include "core/batch.h"
#include "cunit_main.h"

typedef Cachekit__Agent__V1__Response resp_t;

typedef struct capture {
	uint8_t *bytes;
	size_t len;
	int calls;
} capture;

static void
record(void *arg, const cki_reply_to *to, const cki_response *resp)
{
	capture *c = arg;
	(void)to;
	free(c->bytes);
	c->len = cachekit__agent__v1__response__get_packed_size(resp);
	c->bytes = malloc(c->len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c->bytes);
	cachekit__agent__v1__response__pack(resp, c->bytes);
	c->calls++;
}

static void
get_item(resp_t *r, Cachekit__Agent__V1__GetResult *g, const char *value, size_t len)
{
	cachekit__agent__v1__response__init(r);
	cachekit__agent__v1__get_result__init(g);
	r->result_case = CACHEKIT__AGENT__V1__RESPONSE__RESULT_GET;
	r->get = g;
	g->found = value != NULL;
	g->value.data = (uint8_t *)value;
	g->value.len = len;
	g->near_epoch = 7;
	g->near_version = 1234567;
}

static void
test_a_multi_get_answer_is_byte_for_byte_the_ordinary_one(void)
{
	static char big[5000];
	memset(big, 'b', sizeof(big));
	resp_t items[4], lost = CACHEKIT__AGENT__V1__RESPONSE__INIT, *ptrs[4];
	Cachekit__Agent__V1__GetResult gets[4];
	get_item(&items[0], &gets[0], big, sizeof(big)); /* a length prefix of two bytes */
	get_item(&items[1], &gets[1], NULL, 0);          /* a miss */
	get_item(&items[2], &gets[2], "small", 5);
	items[2].message = (char *)"x";
	lost.status = CK_EINTERNAL;
	lost.message = (char *)"item lost (out of memory)";

	cki_batch *b = cki_batch_new(4);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	items[1].id = 99; /* ignored */
	cki_batch_put(b, 2, &items[2]);
	cki_batch_put(b, 0, &items[0]);
	cki_batch_put(b, 1, &items[1]);
	/* item 3 never put */
	capture got = {0};
	cki_reply_sink sink = {.send = record, .arg = &got};
	cki_reply_to to = {.rid_len = 1};
	cki_batch_send(b, &sink, &to, 42, true);
	CU_ASSERT_EQUAL_FATAL(got.calls, 1);

	items[1].id = 0;
	ptrs[0] = &items[0];
	ptrs[1] = &items[1];
	ptrs[2] = &items[2];
	ptrs[3] = &lost;
	resp_t want = CACHEKIT__AGENT__V1__RESPONSE__INIT;
	Cachekit__Agent__V1__MultiGetResult mg = CACHEKIT__AGENT__V1__MULTI_GET_RESULT__INIT;
	want.id = 42;
	want.message = (char *)"";
	want.result_case = CACHEKIT__AGENT__V1__RESPONSE__RESULT_MULTI_GET;
	want.multi_get = &mg;
	mg.items = ptrs;
	mg.n_items = 4;
	size_t n = cachekit__agent__v1__response__get_packed_size(&want);
	uint8_t *bytes = malloc(n);
	CU_ASSERT_PTR_NOT_NULL_FATAL(bytes);
	cachekit__agent__v1__response__pack(&want, bytes);
	CU_ASSERT_EQUAL(got.len, n);
	CU_ASSERT(got.len == n && memcmp(got.bytes, bytes, n) == 0);

	/* And a decoder reads the items back, in order. */
	resp_t *back = cachekit__agent__v1__response__unpack(NULL, got.len, got.bytes);
	CU_ASSERT_PTR_NOT_NULL_FATAL(back);
	CU_ASSERT_EQUAL_FATAL(back->result_case, CACHEKIT__AGENT__V1__RESPONSE__RESULT_MULTI_GET);
	CU_ASSERT_EQUAL_FATAL(back->multi_get->n_items, 4);
	CU_ASSERT_EQUAL(back->multi_get->items[0]->get->value.len, sizeof(big));
	CU_ASSERT_FALSE(back->multi_get->items[1]->get->found);
	CU_ASSERT_EQUAL(back->multi_get->items[2]->get->near_version, 1234567);
	CU_ASSERT_EQUAL(back->multi_get->items[3]->status, CK_EINTERNAL);
	CU_ASSERT_EQUAL(back->multi_get->base.n_unknown_fields, 0);
	cachekit__agent__v1__response__free_unpacked(back, NULL);
	free(bytes);
	free(got.bytes);
}

static void
test_a_multi_set_answer_carries_each_status(void)
{
	resp_t ok = CACHEKIT__AGENT__V1__RESPONSE__INIT, bad = CACHEKIT__AGENT__V1__RESPONSE__INIT;
	bad.status = CK_EINVALKEY;
	bad.message = (char *)"empty key";
	cki_batch *b = cki_batch_new(2);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	cki_batch_put(b, 1, &bad);
	cki_batch_put(b, 0, &ok);
	capture got = {0};
	cki_reply_sink sink = {.send = record, .arg = &got};
	cki_reply_to to = {.rid_len = 1};
	cki_batch_send(b, &sink, &to, 5, false);
	resp_t *back = cachekit__agent__v1__response__unpack(NULL, got.len, got.bytes);
	CU_ASSERT_PTR_NOT_NULL_FATAL(back);
	CU_ASSERT_EQUAL(back->id, 5);
	CU_ASSERT_EQUAL_FATAL(back->result_case, CACHEKIT__AGENT__V1__RESPONSE__RESULT_MULTI_SET);
	CU_ASSERT_EQUAL_FATAL(back->multi_set->n_items, 2);
	CU_ASSERT_EQUAL(back->multi_set->items[0]->status, CK_OK);
	CU_ASSERT_EQUAL(back->multi_set->items[1]->status, CK_EINVALKEY);
	CU_ASSERT_STRING_EQUAL(back->multi_set->items[1]->message, "empty key");
	cachekit__agent__v1__response__free_unpacked(back, NULL);
	free(got.bytes);
}

static CU_TestInfo tests[] = {
        {"a multi-get answer is byte for byte the ordinary one",
         test_a_multi_get_answer_is_byte_for_byte_the_ordinary_one},
        {"a multi-set answer carries each status", test_a_multi_set_answer_carries_each_status},
        CU_TEST_INFO_NULL,
};

CK_UNIT_SUITE("batch_answer", tests)
