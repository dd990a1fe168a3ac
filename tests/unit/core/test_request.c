/* SPDX-License-Identifier: Apache-2.0 */
/* The request arena: a decoded Request reads back exactly what was packed, whether it fits the
 * first block (a Get), carries a large value (a Set) or spills into more chunks (a batch of many
 * short keys); frames that are not Requests, and every truncation of one, give NULL. ASan
 * checks that each arena is freed whole and nothing is touched outside it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cunit_main.h"
#include "core/request.h"

typedef Cachekit__Agent__V1__GetRequest get_req;
typedef Cachekit__Agent__V1__SetRequest set_req;
typedef Cachekit__Agent__V1__MultiGetRequest mget_req;

static uint8_t *
pack(const cki_request *r, size_t *len)
{
	*len = cachekit__agent__v1__request__get_packed_size(r);
	uint8_t *buf = malloc(*len ? *len : 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
	cachekit__agent__v1__request__pack(r, buf);
	return buf;
}

static void
test_a_get_reads_back_what_was_packed(void)
{
	cki_request r = CACHEKIT__AGENT__V1__REQUEST__INIT;
	get_req g = CACHEKIT__AGENT__V1__GET_REQUEST__INIT;
	r.id = 77;
	r.deadline_ms = 1500;
	r.namespace_ = "team_a";
	g.key = "user:42";
	g.format = "msgpack";
	r.op_case = CACHEKIT__AGENT__V1__REQUEST__OP_GET;
	r.get = &g;
	size_t len;
	uint8_t *buf = pack(&r, &len);
	cki_request *d = cki_request_unpack(buf, len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	CU_ASSERT_EQUAL(d->id, 77);
	CU_ASSERT_EQUAL(d->deadline_ms, 1500);
	CU_ASSERT_STRING_EQUAL(d->namespace_, "team_a");
	CU_ASSERT_EQUAL_FATAL(d->op_case, CACHEKIT__AGENT__V1__REQUEST__OP_GET);
	CU_ASSERT_STRING_EQUAL(d->get->key, "user:42");
	CU_ASSERT_STRING_EQUAL(d->get->format, "msgpack");
	cki_request_free(d);
	free(buf);
}

static void
test_a_large_value_reads_back_intact(void)
{
	enum { N = 1 << 20 };
	uint8_t *value = malloc(N);
	CU_ASSERT_PTR_NOT_NULL_FATAL(value);
	for (size_t i = 0; i < N; i++)
		value[i] = (uint8_t)(i * 131 + 7);
	cki_request r = CACHEKIT__AGENT__V1__REQUEST__INIT;
	set_req s = CACHEKIT__AGENT__V1__SET_REQUEST__INIT;
	s.key = "big";
	s.value.data = value;
	s.value.len = N;
	s.ttl_s = 60;
	r.op_case = CACHEKIT__AGENT__V1__REQUEST__OP_SET;
	r.set = &s;
	size_t len;
	uint8_t *buf = pack(&r, &len);
	cki_request *d = cki_request_unpack(buf, len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	CU_ASSERT_EQUAL_FATAL(d->set->value.len, N);
	CU_ASSERT_EQUAL(memcmp(d->set->value.data, value, N), 0);
	CU_ASSERT_EQUAL(d->set->ttl_s, 60);
	cki_request_free(d);
	free(buf);
	free(value);
}

static void
test_a_batch_of_many_short_keys_spills_into_more_chunks(void)
{
	/* 2,000 items of ~8 key bytes: a frame of ~24 KB decodes to 2,000 structs and strings,
	 * several times the first block. */
	enum { N = 2000 };
	get_req *items = calloc(N, sizeof(*items));
	get_req **ptrs = calloc(N, sizeof(*ptrs));
	char(*keys)[16] = calloc(N, sizeof(*keys));
	CU_ASSERT_PTR_NOT_NULL_FATAL(items);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ptrs);
	CU_ASSERT_PTR_NOT_NULL_FATAL(keys);
	for (int i = 0; i < N; i++) {
		get_req g = CACHEKIT__AGENT__V1__GET_REQUEST__INIT;
		items[i] = g;
		snprintf(keys[i], sizeof(keys[i]), "k%d", i);
		items[i].key = keys[i];
		ptrs[i] = &items[i];
	}
	mget_req m = CACHEKIT__AGENT__V1__MULTI_GET_REQUEST__INIT;
	m.n_items = N;
	m.items = ptrs;
	cki_request r = CACHEKIT__AGENT__V1__REQUEST__INIT;
	r.op_case = CACHEKIT__AGENT__V1__REQUEST__OP_MULTI_GET;
	r.multi_get = &m;
	size_t len;
	uint8_t *buf = pack(&r, &len);
	cki_request *d = cki_request_unpack(buf, len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	CU_ASSERT_EQUAL_FATAL(d->multi_get->n_items, N);
	int wrong = 0;
	for (int i = 0; i < N; i++)
		wrong += strcmp(d->multi_get->items[i]->key, keys[i]) != 0;
	CU_ASSERT_EQUAL(wrong, 0);
	cki_request_free(d);
	free(buf);
	free(keys);
	free(ptrs);
	free(items);
}

static void
test_frames_that_are_not_requests_give_null(void)
{
	cki_request r = CACHEKIT__AGENT__V1__REQUEST__INIT;
	set_req s = CACHEKIT__AGENT__V1__SET_REQUEST__INIT;
	s.key = "a-key";
	s.value.data = (uint8_t *)"some value bytes";
	s.value.len = 16;
	r.id = 5;
	r.op_case = CACHEKIT__AGENT__V1__REQUEST__OP_SET;
	r.set = &s;
	size_t len;
	uint8_t *buf = pack(&r, &len);
	/* Every proper prefix cuts a field short (or leaves only the id): never a wrong Set. */
	int wrong_set = 0;
	for (size_t cut = 0; cut < len; cut++) {
		cki_request *d = cki_request_unpack(buf, cut);
		if (d != NULL && d->op_case == CACHEKIT__AGENT__V1__REQUEST__OP_SET)
			wrong_set++;
		cki_request_free(d);
	}
	CU_ASSERT_EQUAL(wrong_set, 0);
	const uint8_t junk[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01};
	CU_ASSERT_PTR_NULL(cki_request_unpack(junk, sizeof(junk)));
	cki_request_free(NULL);
	free(buf);
}

static CU_TestInfo tests[] = {
        {"a get reads back what was packed", test_a_get_reads_back_what_was_packed},
        {"a large value reads back intact", test_a_large_value_reads_back_intact},
        {"a batch of many short keys spills into more chunks",
         test_a_batch_of_many_short_keys_spills_into_more_chunks},
        {"frames that are not requests give null", test_frames_that_are_not_requests_give_null},
        CU_TEST_INFO_NULL,
};

CK_UNIT_SUITE("request", tests)
