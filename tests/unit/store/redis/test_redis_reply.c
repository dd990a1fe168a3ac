/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the Redis reply decoders (agent/store/redis/reply.c): redirections, CLUSTER
 * SLOTS entries and INFO's version line, well-formed and not. Replies are built by hiredis's
 * own reader from RESP bytes, as the store receives them; no server is needed.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cunit_main.h"
#include "store/redis/reply.h"

/* The reply hiredis's reader makes of resp (one whole reply), or NULL. */
static redisReply *
read_reply(const char *resp)
{
	redisReader *rd = redisReaderCreate();
	void *reply = NULL;

	CU_ASSERT_FATAL(rd != NULL);
	CU_ASSERT_EQUAL_FATAL(redisReaderFeed(rd, resp, strlen(resp)), REDIS_OK);
	CU_ASSERT_EQUAL(redisReaderGetReply(rd, &reply), REDIS_OK);
	redisReaderFree(rd);
	CU_ASSERT_FATAL(reply != NULL);
	return reply;
}

static void
test_redirections_are_read(void)
{
	cki_redis_redirect r;

	CU_ASSERT_TRUE(cki_redis_parse_redirect("MOVED 3999 127.0.0.1:6381", &r));
	CU_ASSERT_FALSE(r.ask);
	CU_ASSERT_EQUAL(r.slot, 3999);
	CU_ASSERT_STRING_EQUAL(r.host, "127.0.0.1");
	CU_ASSERT_EQUAL(r.port, 6381);
	CU_ASSERT_TRUE(cki_redis_parse_redirect("ASK 0 redis-2.example:7000", &r));
	CU_ASSERT_TRUE(r.ask);
	CU_ASSERT_EQUAL(r.slot, 0);
	CU_ASSERT_STRING_EQUAL(r.host, "redis-2.example");
	CU_ASSERT_TRUE(cki_redis_parse_redirect("MOVED 16383 ::1:7001", &r));
	CU_ASSERT_STRING_EQUAL(r.host, "::1");
	CU_ASSERT_EQUAL(r.port, 7001);
	CU_ASSERT_TRUE(cki_redis_parse_redirect("MOVED 12 :6380", &r)); /* the node asked */
	CU_ASSERT_STRING_EQUAL(r.host, "");
}

static void
test_malformed_redirections_are_refused(void)
{
	static const char *const bad[] = {
	        "ERR unknown command",
	        "MOVED",
	        "MOVED 3999",
	        "MOVED 3999 127.0.0.1",
	        "MOVED 16384 127.0.0.1:6379",
	        "MOVED -1 127.0.0.1:6379",
	        "MOVED 99999999999999999999999 127.0.0.1:6379",
	        "MOVED 12 127.0.0.1:0",
	        "MOVED 12 127.0.0.1:65536",
	        "MOVED 12 127.0.0.1:99999999999999999999",
	        "MOVED 12 127.0.0.1:6379 trailing",
	        "MOVED 12 127.0.0.1:6379x",
	        "MOVED 12 127.0.0.1:",
	        "MOVED x 127.0.0.1:6379",
	        "ASK 12  127.0.0.1:6379",
	};
	char long_host[400];
	cki_redis_redirect r;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (cki_redis_parse_redirect(bad[i], &r)) {
			fprintf(stderr, "accepted: %s\n", bad[i]);
			CU_FAIL("a malformed redirection was accepted");
		}
	snprintf(long_host, sizeof(long_host), "MOVED 1 %0300d:6379", 0);
	CU_ASSERT_FALSE(cki_redis_parse_redirect(long_host, &r));
}

static void
test_cluster_slots_entries_are_read(void)
{
	redisReply *rep =
	        read_reply("*2\r\n"
	                   "*4\r\n:0\r\n:5460\r\n*3\r\n$9\r\n127.0.0.1\r\n:7000\r\n$4\r\nid-a\r\n"
	                   "*3\r\n$9\r\n127.0.0.1\r\n:7003\r\n$4\r\nid-d\r\n"
	                   "*3\r\n:5461\r\n:10922\r\n*2\r\n$0\r\n\r\n:7001\r\n");
	cki_redis_range r;

	CU_ASSERT_EQUAL_FATAL(rep->elements, 2);
	CU_ASSERT_TRUE(cki_redis_parse_range(rep->element[0], &r));
	CU_ASSERT_EQUAL(r.lo, 0);
	CU_ASSERT_EQUAL(r.hi, 5460);
	CU_ASSERT_EQUAL(r.host_len, 9);
	CU_ASSERT_EQUAL(memcmp(r.host, "127.0.0.1", 9), 0);
	CU_ASSERT_EQUAL(r.port, 7000);
	CU_ASSERT_TRUE(cki_redis_parse_range(rep->element[1], &r));
	CU_ASSERT_EQUAL(r.host_len, 0);
	CU_ASSERT_EQUAL(r.port, 7001);
	freeReplyObject(rep);
}

static void
test_malformed_cluster_slots_entries_are_refused(void)
{
	static const char *const bad[] = {
	        ":1\r\n",
	        "*2\r\n:0\r\n:1\r\n",
	        "*3\r\n:0\r\n:16384\r\n*2\r\n$1\r\nh\r\n:7000\r\n",
	        "*3\r\n:-1\r\n:10\r\n*2\r\n$1\r\nh\r\n:7000\r\n",
	        "*3\r\n:10\r\n:9\r\n*2\r\n$1\r\nh\r\n:7000\r\n",
	        "*3\r\n:0\r\n:10\r\n*2\r\n$1\r\nh\r\n:0\r\n",
	        "*3\r\n:0\r\n:10\r\n*2\r\n$1\r\nh\r\n:65536\r\n",
	        "*3\r\n:0\r\n:10\r\n*1\r\n$1\r\nh\r\n",
	        "*3\r\n:0\r\n:10\r\n*2\r\n:1\r\n:7000\r\n",
	        "*3\r\n$1\r\n0\r\n:10\r\n*2\r\n$1\r\nh\r\n:7000\r\n",
	};
	/* A host with a NUL inside: strlen would stop there, so it goes with its size. */
	static const char nul_host[] = "*3\r\n:0\r\n:10\r\n*2\r\n$3\r\na\0b\r\n:7000\r\n";
	cki_redis_range r;

	for (size_t i = 0; i <= sizeof(bad) / sizeof(bad[0]); i++) {
		bool last = i == sizeof(bad) / sizeof(bad[0]);
		redisReader *rd = redisReaderCreate();
		void *rep = NULL;
		CU_ASSERT_EQUAL_FATAL(redisReaderFeed(rd, last ? nul_host : bad[i],
		                                      last ? sizeof(nul_host) - 1 : strlen(bad[i])),
		                      REDIS_OK);
		CU_ASSERT_EQUAL_FATAL(redisReaderGetReply(rd, &rep), REDIS_OK);
		CU_ASSERT_FATAL(rep != NULL);
		if (cki_redis_parse_range(rep, &r)) {
			fprintf(stderr, "accepted entry %zu\n", i);
			CU_FAIL("a malformed CLUSTER SLOTS entry was accepted");
		}
		freeReplyObject(rep);
		redisReaderFree(rd);
	}
	CU_ASSERT_FALSE(cki_redis_parse_range(NULL, &r));
}

static void
test_info_version_is_read(void)
{
	char v[8] = "keep";

	CU_ASSERT_FALSE(
	        cki_redis_parse_version("# Server\r\nredis_mode:cluster\r\n", v, sizeof(v)));
	CU_ASSERT_STRING_EQUAL(v, "keep");
	CU_ASSERT_TRUE(cki_redis_parse_version("# Server\r\nredis_version:7.0.15\r\nx:1\r\n", v,
	                                       sizeof(v)));
	CU_ASSERT_STRING_EQUAL(v, "7.0.15");
	CU_ASSERT_TRUE(cki_redis_parse_version("redis_version:123456789012", v, sizeof(v)));
	CU_ASSERT_STRING_EQUAL(v, "1234567"); /* truncated to fit */
}

/* hiredis 0.14 allocates an array's element table from the announced count alone: 13 bytes
 * could cost gigabytes. The store's readers refuse such a count; ordinary arrays still read. */
static void
test_a_huge_array_count_is_refused(void)
{
	static const char huge[] = "*254604604\r\n";
	static const char fine[] = "*3\r\n:1\r\n*1\r\n$2\r\nok\r\n:3\r\n";
	redisReader *rd = redisReaderCreate();
	redisReply *rep = NULL;

	CU_ASSERT_FATAL(rd != NULL);
	cki_redis_reader_limit(rd);
	cki_redis_reader_limit(rd); /* twice is harmless */
	CU_ASSERT_EQUAL_FATAL(redisReaderFeed(rd, fine, sizeof(fine) - 1), REDIS_OK);
	CU_ASSERT_EQUAL_FATAL(redisReaderGetReply(rd, (void **)&rep), REDIS_OK);
	CU_ASSERT_FATAL(rep != NULL);
	CU_ASSERT_EQUAL(rep->elements, 3);
	CU_ASSERT_EQUAL(rep->element[1]->element[0]->len, 2);
	freeReplyObject(rep);
	rep = NULL;
	CU_ASSERT_EQUAL_FATAL(redisReaderFeed(rd, huge, sizeof(huge) - 1), REDIS_OK);
	CU_ASSERT_EQUAL(redisReaderGetReply(rd, (void **)&rep), REDIS_ERR);
	CU_ASSERT_PTR_NULL(rep);
	CU_ASSERT_EQUAL(rd->err, REDIS_ERR_OOM);
	redisReaderFree(rd);
}

static CU_TestInfo tests[] = {
        {"a huge array count is refused", test_a_huge_array_count_is_refused},
        {"redirections are read", test_redirections_are_read},
        {"malformed redirections are refused", test_malformed_redirections_are_refused},
        {"CLUSTER SLOTS entries are read", test_cluster_slots_entries_are_read},
        {"malformed CLUSTER SLOTS entries are refused",
         test_malformed_cluster_slots_entries_are_refused},
        {"INFO's version is read", test_info_version_is_read},
        CU_TEST_INFO_NULL,
};

CK_UNIT_SUITE("redis_reply", tests)
