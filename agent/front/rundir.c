/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Runtime directory, lock file and socket checks, all through one directory fd. The policy
 * (docs/security.md has the reasons):
 * - the socket directory must be a real directory (never a symlink), owned by the agent's
 *   uid or by root, with no write bit for group or others; a directory of ours gets the
 *   configured mode and group; one of root's that we cannot fix is used as it is;
 * - every directory above it, from / down (the resolved path), must be owned by root or by
 *   us (whoever owns one can rename what is below and put theirs in its place) and must not
 *   be writable by group or others unless it has the sticky bit (/tmp); the one exception is
 *   the immediate parent, accepted with a warning when writable without the sticky bit (a
 *   Kubernetes emptyDir's root, deploy/container); each is opened with O_NOFOLLOW through the
 *   one before, and the parent's fd is the one we create through;
 * - the lock file is opened with O_NOFOLLOW through the directory fd and must be a regular
 *   file of ours with a single link; the socket is born with its mode (umask around bind),
 *   then checked with fstatat(AT_SYMLINK_NOFOLLOW) and given its group with fchownat.
 */
#define _GNU_SOURCE
#include "front/rundir.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"

static bool
owner_ok(uid_t owner)
{
	return owner == geteuid() || owner == 0;
}

/* mkdir -p for the parents of the socket directory (0755, ours). Existing ones are left. */
static ck_err
make_parents(const char *dir, char *why, size_t why_cap)
{
	struct stat st;
	if (stat(dir, &st) == 0)
		return CK_OK;
	char buf[PATH_MAX];
	snprintf(buf, sizeof(buf), "%s", dir);
	char *parent = dirname(buf);
	if (strcmp(parent, dir) != 0 && strcmp(parent, "/") != 0 && strcmp(parent, ".") != 0) {
		ck_err rv = make_parents(parent, why, why_cap);
		if (rv != CK_OK)
			return rv;
	}
	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		snprintf(why, why_cap, "cannot create directory %s: %s", dir, strerror(errno));
		return CK_EIO;
	}
	return CK_OK;
}

/* One directory on the way to the socket directory (fd open on it, path for messages). The
 * rule of OpenSSH's safe_path, with /tmp's case made explicit: owned by root or the agent,
 * and not writable by group or others unless the sticky bit is set (in a sticky directory
 * nobody but an entry's owner, the directory's owner and root can rename or remove it, and
 * both of those are trusted here). The immediate parent is only warned about when writable
 * without the sticky bit (a Kubernetes emptyDir's root, deploy/container). */
static ck_err
check_ancestor(int fd, const char *path, bool parent, char *why, size_t why_cap)
{
	struct stat st;
	const char *what = parent ? "parent" : "ancestor";
	if (fstat(fd, &st) != 0) {
		snprintf(why, why_cap, "cannot stat %s: %s", path, strerror(errno));
		return CK_EIO;
	}
	if (!owner_ok(st.st_uid)) {
		snprintf(why, why_cap,
		         "refusing socket directory %s %s: owned by uid %d, not by the agent "
		         "(uid %d) or root; its owner could swap the socket directory",
		         what, path, (int)st.st_uid, (int)geteuid());
		return CK_ECONFIG;
	}
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 && (st.st_mode & S_ISVTX) == 0 && parent) {
		/* The one exception: a Kubernetes emptyDir's root is 0777 and cannot be given the
		 * sticky bit, and the sidecar puts its socket directory right in it. */
		cki_log_warn("%s is writable by group or others without the sticky bit: anyone who "
		             "can write it can rename the socket directory",
		             path);
		return CK_OK;
	}
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 && (st.st_mode & S_ISVTX) == 0) {
		snprintf(
		        why, why_cap,
		        "refusing socket directory %s %s: mode %04o is writable by group or others "
		        "without the sticky bit; they could swap the socket directory",
		        what, path, (unsigned)(st.st_mode & 07777));
		return CK_ECONFIG;
	}
	return CK_OK;
}

/* Opens dir (absolute, no symlinks: a realpath) one component at a time from /, each with
 * O_NOFOLLOW through the one before, checking each with check_ancestor(). Returns the fd of
 * dir in *out. A component turned into a symlink meanwhile is refused (ELOOP). */
static ck_err
open_checked_path(const char *dir, int *out, char *why, size_t why_cap)
{
	ck_err rv = CK_OK;
	char walked[PATH_MAX] = "/";
	size_t wlen = 1;
	int fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, why_cap, "cannot open /: %s", strerror(errno));
		return CK_EIO;
	}
	const char *p = dir;
	for (;;) {
		while (*p == '/')
			p++;
		size_t n = strcspn(p, "/");
		rv = check_ancestor(fd, walked, n == 0, why, why_cap);
		if (rv != CK_OK || n == 0)
			break;
		if (wlen + n + 2 >= sizeof(walked)) {
			snprintf(why, why_cap, "path %s too long", dir);
			rv = CK_ECONFIG;
			break;
		}
		if (wlen > 1)
			walked[wlen++] = '/';
		memcpy(walked + wlen, p, n);
		wlen += n;
		walked[wlen] = '\0';
		char name[NAME_MAX + 1];
		snprintf(name, sizeof(name), "%.*s", (int)n, p);
		int next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0) {
			int e = errno;
			snprintf(why, why_cap, "refusing socket directory ancestor %s: %s", walked,
			         e == ELOOP || e == ENOTDIR
			                 ? "it is not a plain directory (symbolic "
			                   "link swapped in?)"
			                 : strerror(e));
			rv = e == ELOOP || e == ENOTDIR ? CK_ECONFIG : CK_EIO;
			break;
		}
		close(fd);
		fd = next;
		p += n;
	}
	if (rv != CK_OK) {
		close(fd);
		return rv;
	}
	*out = fd;
	return CK_OK;
}

/* The socket directory itself, opened through its parent. */
static ck_err
open_socket_dir(cki_rundir *rd, int parent_fd, const char *name, mode_t mode, gid_t gid, char *why,
                size_t why_cap)
{
	/* Born with exactly mode (no window where it is wider), whatever our umask is. */
	mode_t old = umask(0777 & ~mode);
	int mrc = mkdirat(parent_fd, name, mode);
	int merr = errno;
	umask(old);
	bool created = mrc == 0;
	if (!created && merr != EEXIST) {
		snprintf(why, why_cap, "cannot create socket directory %s: %s", rd->dir_path,
		         strerror(merr));
		return CK_EIO;
	}
	rd->dir_fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (rd->dir_fd < 0) {
		int e = errno;
		struct stat lst;
		/* With O_DIRECTORY a symlink fails as ENOTDIR: say which it was. */
		if (e == ENOTDIR && fstatat(parent_fd, name, &lst, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISLNK(lst.st_mode))
			e = ELOOP;
		snprintf(why, why_cap, "refusing socket directory %s: %s", rd->dir_path,
		         e == ELOOP     ? "it is a symbolic link"
		         : e == ENOTDIR ? "it is not a directory"
		                        : strerror(e));
		return e == ELOOP || e == ENOTDIR ? CK_ECONFIG : CK_EIO;
	}
	struct stat st;
	if (fstat(rd->dir_fd, &st) != 0) {
		snprintf(why, why_cap, "cannot stat %s: %s", rd->dir_path, strerror(errno));
		return CK_EIO;
	}
	if (!owner_ok(st.st_uid)) {
		snprintf(why, why_cap,
		         "refusing socket directory %s: owned by uid %d, not by the agent (uid %d) "
		         "or root",
		         rd->dir_path, (int)st.st_uid, (int)geteuid());
		return CK_ECONFIG;
	}
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		snprintf(why, why_cap,
		         "refusing socket directory %s: mode %04o is writable by group or others",
		         rd->dir_path, (unsigned)(st.st_mode & 07777));
		return CK_ECONFIG;
	}
	if (st.st_uid != geteuid()) {
		/* root's directory, and we are not root: use it as it is (systemd made it). */
		return CK_OK;
	}
	/* Ours (made now, or by systemd's RuntimeDirectory= for our user): give it the mode
	 * and group the configuration asks for, through the fd. */
	if (gid != (gid_t)-1 && st.st_gid != gid && fchown(rd->dir_fd, (uid_t)-1, gid) != 0) {
		snprintf(why, why_cap, "cannot give %s to the socket group: %s", rd->dir_path,
		         strerror(errno));
		return CK_EIO;
	}
	if ((st.st_mode & 07777) != mode && fchmod(rd->dir_fd, mode) != 0) {
		snprintf(why, why_cap, "cannot set the mode of %s: %s", rd->dir_path,
		         strerror(errno));
		return CK_EIO;
	}
	return CK_OK;
}

ck_err
cki_rundir_open(cki_rundir *rd, const char *socket_path, mode_t dir_mode, gid_t gid, char *why,
                size_t why_cap)
{
	ck_err rv = CK_OK;
	int parent_fd = -1;
	char dbuf[PATH_MAX], nbuf[PATH_MAX], pbuf[PATH_MAX];

	if (strlen(socket_path) >= sizeof(dbuf) - 8) {
		snprintf(why, why_cap, "socket path too long");
		return CK_ECONFIG;
	}
	snprintf(dbuf, sizeof(dbuf), "%s", socket_path);
	snprintf(nbuf, sizeof(nbuf), "%s", socket_path);
	const char *dir = dirname(dbuf);
	const char *sock = basename(nbuf);
	rd->dir_path = strdup(dir);
	rd->sock_name = strdup(sock);
	if (rd->dir_path == NULL || rd->sock_name == NULL ||
	    asprintf(&rd->lock_name, "%s.lock", sock) < 0) {
		rd->lock_name = NULL;
		return CK_ENOMEM;
	}
	if (strcmp(sock, "/") == 0 || strcmp(sock, ".") == 0 || strcmp(sock, "..") == 0) {
		snprintf(why, why_cap, "socket path %s names no file", socket_path);
		return CK_ECONFIG;
	}

	snprintf(pbuf, sizeof(pbuf), "%s", dir);
	char *parent = dirname(pbuf);
	snprintf(nbuf, sizeof(nbuf), "%s", dir);
	const char *dir_name = basename(nbuf);
	if (strcmp(dir, "/") == 0 || strcmp(dir_name, ".") == 0 || strcmp(dir_name, "..") == 0) {
		/* "/x.sock", "./x.sock", "../x.sock": the directory has no name of its own to
		 * open through a parent; open it directly, with the same checks. */
		parent = NULL;
	}
	if (parent != NULL) {
		rv = make_parents(parent, why, why_cap);
		if (rv != CK_OK)
			goto out;
		/* The parent path may cross symlinks an administrator made (/var/run -> /run);
		 * the checks apply to every directory of the path it resolves to. */
		char real[PATH_MAX];
		if (realpath(parent, real) == NULL) {
			snprintf(why, why_cap, "cannot resolve %s: %s", parent, strerror(errno));
			rv = CK_EIO;
			goto out;
		}
		rv = open_checked_path(real, &parent_fd, why, why_cap);
		if (rv != CK_OK)
			goto out;
		rv = open_socket_dir(rd, parent_fd, dir_name, dir_mode, gid, why, why_cap);
	} else {
		/* "/x.sock", "./x.sock": the directories above are checked all the same. */
		char real[PATH_MAX];
		if (strcmp(dir, "/") != 0 && realpath(dir, real) != NULL &&
		    strcmp(real, "/") != 0) {
			rv = open_checked_path(dirname(real), &parent_fd, why, why_cap);
			if (rv != CK_OK)
				goto out;
		}
		rv = open_socket_dir(rd, AT_FDCWD, dir, dir_mode, gid, why, why_cap);
	}
out:
	if (parent_fd >= 0)
		close(parent_fd);
	return rv;
}

ck_err
cki_rundir_lock(cki_rundir *rd, const char *endpoint, char *why, size_t why_cap)
{
	int fd = openat(rd->dir_fd, rd->lock_name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		int e = errno;
		snprintf(why, why_cap, "refusing lock file %s/%s: %s", rd->dir_path, rd->lock_name,
		         e == ELOOP ? "it is a symbolic link" : strerror(e));
		return e == ELOOP ? CK_ECONFIG : CK_EIO;
	}
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    st.st_nlink != 1) {
		snprintf(why, why_cap,
		         "refusing lock file %s/%s: not a regular file of ours with a single link",
		         rd->dir_path, rd->lock_name);
		close(fd);
		return CK_ECONFIG;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		char pid[32] = "";
		ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
		if (n > 0) {
			pid[n] = '\0';
			pid[strcspn(pid, "\n")] = '\0';
		}
		snprintf(why, why_cap, "another agent%s%s%s already serves %s (lock %s/%s)",
		         pid[0] ? " (pid " : "", pid, pid[0] ? ")" : "", endpoint, rd->dir_path,
		         rd->lock_name);
		close(fd);
		return CK_EBUSYAGENT;
	}
	rd->lock_fd = fd;
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, (size_t)n, 0) != n)
		cki_log_warn("cannot write pid to %s/%s: %s", rd->dir_path, rd->lock_name,
		             strerror(errno));
	return CK_OK;
}

mode_t
cki_rundir_socket_umask(mode_t socket_mode)
{
	return 0777 & ~socket_mode;
}

ck_err
cki_rundir_check_socket(cki_rundir *rd, mode_t socket_mode, gid_t gid, char *why, size_t why_cap)
{
	struct stat st;
	if (fstatat(rd->dir_fd, rd->sock_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		snprintf(why, why_cap, "socket %s/%s vanished after bind: %s", rd->dir_path,
		         rd->sock_name, strerror(errno));
		return CK_EIO;
	}
	if (!S_ISSOCK(st.st_mode) || st.st_uid != geteuid()) {
		snprintf(why, why_cap, "%s/%s is not the socket we bound (someone replaced it)",
		         rd->dir_path, rd->sock_name);
		return CK_EIO;
	}
	rd->bound = true;
	if (gid != (gid_t)-1 && st.st_gid != gid &&
	    fchownat(rd->dir_fd, rd->sock_name, (uid_t)-1, gid, AT_SYMLINK_NOFOLLOW) != 0) {
		snprintf(why, why_cap, "cannot give socket %s/%s to the socket group: %s",
		         rd->dir_path, rd->sock_name, strerror(errno));
		return CK_EIO;
	}
	if ((st.st_mode & 0777) != (socket_mode & 0777)) {
		/* Born under our umask, so this only happens if socket_mode has bits a umask
		 * cannot give (none today). No chmod by name: report it. */
		snprintf(why, why_cap, "socket %s/%s has mode %04o, expected %04o", rd->dir_path,
		         rd->sock_name, (unsigned)(st.st_mode & 0777), (unsigned)socket_mode);
		return CK_EIO;
	}
	return CK_OK;
}

void
cki_rundir_close(cki_rundir *rd)
{
	if (rd->dir_fd >= 0) {
		if (rd->bound)
			unlinkat(rd->dir_fd, rd->sock_name, 0);
		if (rd->lock_fd >= 0)
			unlinkat(rd->dir_fd, rd->lock_name, 0);
		close(rd->dir_fd);
	}
	if (rd->lock_fd >= 0)
		close(rd->lock_fd);
	free(rd->dir_path);
	free(rd->sock_name);
	free(rd->lock_name);
	*rd = (cki_rundir)CKI_RUNDIR_INIT;
}
