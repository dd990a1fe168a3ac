/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The key and TTL rules, in one table shared by the agent (base/keys.c, core/dispatch.c), the
 * C stub (client.c) and the Python stub (stubs/python/gen_limits.py turns this file into
 * cachekit_stub/_limits.py at build time, as gen_errors.py does for errors.h). Change a rule
 * here and every side follows. The rules are the cachekit.io API's (spec §2.4, §2.6) and the
 * interop/v1 segment grammar (spec §5.2).
 */
#ifndef CK_LIMITS_H
#define CK_LIMITS_H

/* X(NAME, value, meaning): numeric limits. */
#define CK_LIMITS_MAP(X)                                                                      \
	X(KEY_MAX, 400, "longest key, in decoded characters")                                 \
	X(NAMESPACE_MAX, 64, "longest namespace of an ns:/nsapi: key, in characters")         \
	X(TTL_MAX, 2592000, "longest TTL, and longest TTL + stale TTL, in seconds (30 days)") \
	X(SEGMENT_MAX, 64, "longest interop namespace or operation segment, in characters")

/* X(word): whole keys the API reserves (its route tokens and dot segments). */
#define CK_RESERVED_KEYS_MAP(X) X("") X(".") X("..") X("health") X("ttl") X("lock")

/* X(word): key prefixes the API reads as its namespace grammar ("ns:{namespace}:{rest}"), so
 * an interop namespace may not be one of these words. */
#define CK_RESERVED_NAMESPACES_MAP(X) X("ns") X("nsapi")

/* X(name, characters): character classes, as regular-expression bracket contents. */
#define CK_CHARSETS_MAP(X)                  \
	X(KEY_CHARSET, "A-Za-z0-9_.:-")     \
	X(NAMESPACE_CHARSET, "A-Za-z0-9_-") \
	X(SEGMENT_FIRST_CHARSET, "a-z0-9")  \
	X(SEGMENT_CHARSET, "a-z0-9._-")

/* A key never contains this (the API's traversal rule; also inside interop segments). */
#define CK_KEY_FORBIDDEN_RUN ".."

#define CK_LIMIT_ENUM_(name, value, meaning) CK_##name = value,
enum { CK_LIMITS_MAP(CK_LIMIT_ENUM_) };
#undef CK_LIMIT_ENUM_

#endif
