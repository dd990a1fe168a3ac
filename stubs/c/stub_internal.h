/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to libcachekit-stub and cachekit-ctl: size caps of the client and the two lock
 * handle accessors the CLI needs to print and re-read a handle. None of this is exported from
 * the shared library (hidden visibility); cachekit-ctl links the static library to use it.
 */
#ifndef CACHEKIT_STUB_INTERNAL_H
#define CACHEKIT_STUB_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "cachekit/stub.h"

/* Hard cap on one value the stub will frame (the agent applies its own, smaller cap). */
#define CKI_STUB_MAX_VALUE ((size_t)64 * 1024 * 1024)
/* Room for everything in a Response besides the value bytes. */
#define CKI_STUB_MAX_OVERHEAD ((size_t)1024 * 1024)
/* Longest key or lock name the stub will frame; the agent's own limit is far lower (400). */
#define CKI_STUB_MAX_KEY 4096
/* Longest namespace the stub will frame; the agent's own limit is 64. */
#define CKI_STUB_MAX_NS 256
/* Longest lock handle accepted from the agent or from a caller. */
#define CKI_STUB_MAX_HANDLE 1024

/* The opaque handle bytes of a lock; *len receives their length. Owned by the lock. */
const uint8_t *cki_lock_handle(const ck_lock *lock, size_t *len);

/* Builds a lock handle from bytes printed earlier (lease unknown: 0). CK_EINVAL for an empty
 * or oversized handle. On success *out owns the handle (ck_lock_free / ck_lock_release). */
CK_NODISCARD ck_err cki_lock_from_handle(const uint8_t *handle, size_t len, ck_lock **out);

#endif
