/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one list of cachekit error codes. It generates the C enum, ck_strerror(), the wire
 * status in agent.proto responses and the Python exception mapping. Numbers are stable and
 * never reused; new codes go at the end.
 */
#ifndef CACHEKIT_ERRORS_H
#define CACHEKIT_ERRORS_H

#include "cachekit/version.h"

#ifdef __cplusplus
extern "C" {
#endif

/* X(NAME, number, message) */
#define CK_ERRNO_MAP(X)                                                 \
	X(OK, 0, "success")                                             \
	X(EINVAL, 1, "invalid argument")                                \
	X(EINVALKEY, 2, "invalid cache key")                            \
	X(ETOOBIG, 3, "value too large")                                \
	X(ETIMEDOUT, 4, "operation timed out")                          \
	X(ENOMEM, 5, "out of memory")                                   \
	X(EPROTO, 6, "malformed message")                               \
	X(ENOTSUP, 7, "operation not supported by this store")          \
	X(EUNAVAILABLE, 8, "upstream unavailable")                      \
	X(EAUTH, 9, "upstream rejected the API key")                    \
	X(EFORBIDDEN, 10, "upstream forbids this operation")            \
	X(EUPSTREAM, 11, "upstream error")                              \
	X(ECONNECT, 12, "cannot reach the agent")                       \
	X(EDENIED, 13, "access denied by agent policy")                 \
	X(ENOTFOUND, 14, "key not found")                               \
	X(EBUSY, 15, "lock is held by another holder")                  \
	X(EBADHANDLE, 16, "unknown lock handle or not its holder")      \
	X(ECRYPTO, 17, "decryption failed")                             \
	X(ENOKEY, 18, "no master key configured")                       \
	X(ECONFLICT, 19, "entry is stale; write it again")              \
	X(ECONFIG, 20, "invalid configuration")                         \
	X(ESHUTDOWN, 21, "agent is shutting down")                      \
	X(EINTERNAL, 22, "internal error")                              \
	X(ERATELIMIT, 23, "upstream rate limit")                        \
	X(EURL, 24, "API URL refused by policy")                        \
	X(EIO, 25, "I/O error")                                         \
	X(EBUSYAGENT, 26, "another agent already serves this endpoint") \
	X(EOVERLOAD, 27, "agent overloaded")                            \
	X(EAUTOMODE, 28, "entry written by cachekit-py auto mode (CK frame), not interop mode")

typedef enum ck_err {
#define CK_ERR_ENUM_(name, num, msg) CK_##name = num,
	CK_ERRNO_MAP(CK_ERR_ENUM_)
#undef CK_ERR_ENUM_
} ck_err;

/* Static English text for an error code; never NULL ("unknown error" for unknown codes). */
CK_API const char *ck_strerror(int err);

/* The symbolic name ("CK_ETIMEDOUT"), or NULL for an unknown code. */
CK_API const char *ck_errname(int err);

#ifdef __cplusplus
}
#endif
#endif
