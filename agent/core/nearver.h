/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The near-cache version table the agent publishes for the stubs' in-process caches: a file
 * "<socket path>.ver" (layout in common/nearver_layout.h) that the agent maps read-write and
 * every stub maps read-only. The agent increments a key's slot before it replies to any write,
 * delete or TTL change of that key, and a Get reply carries the slot's value as read before the
 * store read began; a stub serves its copy only while the slot still holds that value and the
 * table's epoch is the one the copy came with. A new agent writes a new random epoch (every
 * copy made under the old agent is dropped); a stopping agent writes epoch 0.
 *
 * Single-threaded (the agent's loop thread). Every function accepts a NULL table: reads give
 * 0 (the stubs then cache nothing) and bumps do nothing.
 */
#ifndef CKI_NEARVER_H
#define CKI_NEARVER_H

#include <stdint.h>
#include <sys/types.h>

#include "cachekit/errors.h"

typedef struct cki_nearver cki_nearver;

/* Creates (or takes over, in place, with a fresh epoch) the table "<sock_name>.ver" inside
 * the directory dir_fd, next to the socket sock_name; every step goes through dir_fd with
 * no symlink followed. The file gets the socket's group and mode & 0444. On failure *out is
 * untouched and why says why. */
CK_NODISCARD ck_err cki_nearver_openat(cki_nearver **out, int dir_fd, const char *sock_name,
                                       char *why, size_t why_cap);

/* cki_nearver_openat on socket_path's directory, opened O_DIRECTORY|O_NOFOLLOW (tests and
 * tools; the agent passes the runtime directory it has verified). */
CK_NODISCARD ck_err cki_nearver_open(cki_nearver **out, const char *socket_path, char *why,
                                     size_t why_cap);

/* Retires the table (epoch 0: every stub copy becomes a miss) and frees it. Accepts NULL. */
void cki_nearver_close(cki_nearver *v);

/* This agent's epoch (0 for a NULL table). */
uint64_t cki_nearver_epoch(const cki_nearver *v);

/* The current counter of storage_key's slot. */
uint64_t cki_nearver_read(const cki_nearver *v, const char *storage_key);

/* Increments storage_key's slot; call before the reply of a write to the key is sent. */
void cki_nearver_bump(cki_nearver *v, const char *storage_key);

#endif
