/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Decoders of what a Redis server sends that the store reads beyond hiredis's own parsing:
 * a MOVED/ASK redirection, one range of a CLUSTER SLOTS answer, and the version line of INFO;
 * and a bound on what hiredis's own reader allocates for an array.
 * Pure functions of the reply (no store, no I/O), so fuzz/fuzz_redis_reply.c can feed them
 * whatever hiredis's reader makes of arbitrary bytes. Every one refuses what it cannot use
 * instead of guessing: the caller then fails the operation or skips the entry, with a log line.
 */
#ifndef CKI_REDIS_REPLY_H
#define CKI_REDIS_REPLY_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>

#include "store/redis/url.h"

/* The most elements an array in a reply may announce. hiredis 0.14 allocates an array's
 * element table as soon as it reads the count, so "*254604604\r\n" (13 bytes) would cost 2 GB;
 * no reply the store asks for comes near this (CLUSTER SLOTS: at most 16,384 ranges). */
#define CKI_REDIS_MAX_ELEMENTS (1 << 20)

/* Makes reader refuse an array announcing more than CKI_REDIS_MAX_ELEMENTS elements: the
 * reader fails with an out-of-memory error (the connection is dropped, its operations fail)
 * and a warning says why. Everything else is hiredis's own reply objects. */
void cki_redis_reader_limit(redisReader *reader);

/* "MOVED <slot> <host>:<port>" or "ASK <slot> <host>:<port>". host is "" when the server
 * left it empty (meaning: the node that answered). */
typedef struct cki_redis_redirect {
	bool ask;
	int slot;
	char host[CKI_REDIS_HOST_MAX];
	int port;
} cki_redis_redirect;

/* One CLUSTER SLOTS entry: [lo, hi, [host, port, ...], replicas...]. host points into the
 * reply (host_len 0: the node asked). */
typedef struct cki_redis_range {
	int lo, hi;
	const char *host;
	size_t host_len;
	int port;
} cki_redis_range;

/* True when msg (an error reply's text) is a well-formed redirection; out filled. False
 * for any other error text, a slot outside 0..16383, a port outside 1..65535, a host that
 * does not fit, or trailing bytes. */
bool cki_redis_parse_redirect(const char *msg, cki_redis_redirect *out);

/* True when e is a well-formed CLUSTER SLOTS entry; out filled. */
bool cki_redis_parse_range(const redisReply *e, cki_redis_range *out);

/* The value of INFO's "redis_version:" line into out (cap bytes, truncated, NUL-ended);
 * false (out untouched) when info has none. */
bool cki_redis_parse_version(const char *info, char *out, size_t cap);

#endif
