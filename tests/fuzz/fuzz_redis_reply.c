/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for what the Redis store reads from a server beyond hiredis's own parsing
 * (agent/store/redis/reply.c): the input is first taken as an error line (a MOVED/ASK
 * redirection) and as INFO text, then fed to hiredis's reader as a RESP stream, the way the
 * store receives it, and every reply and nested element is offered to the redirection,
 * CLUSTER SLOTS and version decoders; the reader carries the store's array bound
 * (cki_redis_reader_limit), so an announced count cannot allocate gigabytes. Beyond "no crash": an
 * accepted redirection has a slot in 0..16383, a port in 1..65535 and a NUL-ended host without
 * spaces that fits; an accepted slot range has 0 <= lo <= hi <= 16383, a port in 1..65535 and a
 * host that fits; a version is NUL-ended within its buffer and has no line break.
 */
#include <hiredis/hiredis.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "store/redis/reply.h"

#define MAX_DEPTH 8

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	cki_log_set_level(CKI_LOG_ERROR);
	return 0;
}

static void
check_text(const char *s)
{
	cki_redis_redirect rd;
	char v[32];

	memset(&rd, 0x5a, sizeof(rd));
	if (cki_redis_parse_redirect(s, &rd)) {
		size_t n = strnlen(rd.host, sizeof(rd.host));
		if (rd.slot < 0 || rd.slot > 16383 || rd.port < 1 || rd.port > 65535 ||
		    n == sizeof(rd.host) || memchr(rd.host, ' ', n) != NULL)
			abort();
	}
	memset(v, 0x5a, sizeof(v));
	if (cki_redis_parse_version(s, v, sizeof(v))) {
		size_t n = strnlen(v, sizeof(v));
		if (n == sizeof(v) || strpbrk(v, "\r\n") != NULL)
			abort();
	}
}

static void
check_reply(const redisReply *r, int depth)
{
	cki_redis_range range;

	if (r == NULL || depth > MAX_DEPTH)
		return;
	switch (r->type) {
	case REDIS_REPLY_STRING:
	case REDIS_REPLY_STATUS:
	case REDIS_REPLY_ERROR:
		check_text(r->str); /* hiredis NUL-ends every string it makes */
		break;
	case REDIS_REPLY_ARRAY:
		if (cki_redis_parse_range(r, &range) &&
		    (range.lo < 0 || range.hi > 16383 || range.lo > range.hi || range.port < 1 ||
		     range.port > 65535 || range.host_len >= CKI_REDIS_HOST_MAX ||
		     (range.host_len > 0 && memchr(range.host, '\0', range.host_len) != NULL)))
			abort();
		for (size_t i = 0; i < r->elements; i++)
			check_reply(r->element[i], depth + 1);
		break;
	default:
		break;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	redisReader *rd;
	void *reply;

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	check_text(text);
	free(text);

	rd = redisReaderCreate();
	if (rd == NULL)
		return 0;
	cki_redis_reader_limit(rd); /* as the store's connections do */
	if (redisReaderFeed(rd, (const char *)data, size) == REDIS_OK) {
		while (redisReaderGetReply(rd, &reply) == REDIS_OK && reply != NULL) {
			check_reply(reply, 0);
			freeReplyObject(reply);
		}
	}
	redisReaderFree(rd);
	return 0;
}
