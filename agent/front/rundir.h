/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The runtime directory that holds the agent's socket and its single-instance lock file,
 * made and checked the way OpenSSH and systemd do it: created with mkdir under a restrictive
 * umask, or, when it already exists, opened with O_DIRECTORY|O_NOFOLLOW and refused unless
 * it is owned by the agent's uid (or root) and writable by nobody else. Every later step (the
 * lock file, the socket's checks and group, removal at exit) goes through the directory's fd,
 * never through a path another user could swap. Not thread-safe (start-up and exit only).
 */
#ifndef CKI_RUNDIR_H
#define CKI_RUNDIR_H

#include <stdbool.h>
#include <sys/types.h>

#include "cachekit/errors.h"

typedef struct cki_rundir {
	int dir_fd;      /* the socket directory, O_DIRECTORY|O_NOFOLLOW; -1 when closed */
	int lock_fd;     /* the lock file, flock()ed; -1 when not held */
	char *dir_path;  /* for messages */
	char *sock_name; /* the socket's name inside dir_fd */
	char *lock_name; /* sock_name + ".lock" */
	bool bound;      /* the socket file is ours to remove */
} cki_rundir;

#define CKI_RUNDIR_INIT                     \
	{                                   \
		.dir_fd = -1, .lock_fd = -1 \
	}

/* Opens (creating when missing) the directory of socket_path with mode dir_mode (0700, or
 * 0750 with a socket group) and group gid ((gid_t)-1 for none). Refuses, with a message
 * naming the directory in why, a symlink, a non-directory, a directory owned by another
 * non-root user, or one writable by group or others; and any directory above it (from /)
 * owned by another non-root user or writable by group or others without the sticky bit
 * (the immediate parent is only warned about: a Kubernetes emptyDir's root is 0777).
 * CK_ECONFIG (refused) or CK_EIO. */
CK_NODISCARD ck_err cki_rundir_open(cki_rundir *rd, const char *socket_path, mode_t dir_mode,
                                    gid_t gid, char *why, size_t why_cap);

/* Takes the single-instance lock: "<socket>.lock" opened through the directory fd with
 * O_NOFOLLOW, must be a regular file of ours with one link; writes our pid into it.
 * CK_EBUSYAGENT when another agent holds it (why names its pid); CK_ECONFIG/CK_EIO. */
CK_NODISCARD ck_err cki_rundir_lock(cki_rundir *rd, const char *endpoint, char *why,
                                    size_t why_cap);

/* The umask to hold around zmq_bind so the socket is born with mode socket_mode. */
mode_t cki_rundir_socket_umask(mode_t socket_mode);

/* After bind: checks through the directory fd (no symlink followed) that the socket file is a
 * socket owned by us with mode socket_mode, and gives it group gid when one is set.
 * CK_EIO with a message otherwise. Marks the socket ours to remove. */
CK_NODISCARD ck_err cki_rundir_check_socket(cki_rundir *rd, mode_t socket_mode, gid_t gid,
                                            char *why, size_t why_cap);

/* Removes the socket (if bound) and the lock file (if held) through the directory fd, closes
 * everything, frees the names. Leaves the directory itself. Accepts a closed rundir. */
void cki_rundir_close(cki_rundir *rd);

#endif
