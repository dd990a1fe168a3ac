/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The near-cache version table (see nearver.h). The file is created under a temporary name and
 * renamed into place, so a stub never maps a half-initialised table; an existing table of the
 * right shape is reused in place (stubs that mapped it under the previous agent see the new
 * epoch at once), and one of another shape is retired (epoch 0) before it is replaced.
 */
#include "core/nearver.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/random.h"
#include "nearver_layout.h"

struct cki_nearver {
	cki_nearver_header *hdr;
	uint64_t *slots;
	size_t map_len;
	uint64_t mask;
	uint64_t epoch;
};

static uint64_t
new_epoch(void)
{
	uint64_t e = 0;
	while (e == 0) /* 0 means "retired" to the stubs */
		e = cki_random_u64();
	return e;
}

/* Maps fd's table read-write if it has our shape; NULL otherwise. */
static cki_nearver_header *
map_existing(int fd, size_t len)
{
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    (size_t)st.st_size != len)
		return NULL;
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return NULL;
	cki_nearver_header *h = p;
	if (h->magic != CKI_NEARVER_MAGIC || h->nslots != CKI_NEARVER_SLOTS) {
		munmap(p, len);
		return NULL;
	}
	return h;
}

/* Writes epoch 0 into an old table of any shape that we can map, so stubs stop trusting it. */
static void
retire_foreign(int fd)
{
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (size_t)st.st_size < sizeof(cki_nearver_header))
		return;
	void *p = mmap(NULL, sizeof(cki_nearver_header), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return;
	__atomic_store_n(&((cki_nearver_header *)p)->epoch, 0, __ATOMIC_SEQ_CST);
	munmap(p, sizeof(cki_nearver_header));
}

static ck_err
create_table(int dir_fd, const char *name, const struct stat *sock, size_t len,
             cki_nearver_header **out, char *why, size_t why_cap)
{
	char tmp[4200];
	int fd = -1;
	ck_err rv = CK_EIO;
	void *p = MAP_FAILED;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", name) >= sizeof(tmp)) {
		snprintf(why, why_cap, "socket path too long for the version table");
		return CK_ECONFIG;
	}
	unlinkat(dir_fd, tmp, 0);
	fd = openat(dir_fd, tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(why, why_cap, "cannot create %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (ftruncate(fd, (off_t)len) != 0) {
		snprintf(why, why_cap, "cannot size %s: %s", tmp, strerror(errno));
		goto out;
	}
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		snprintf(why, why_cap, "cannot map %s: %s", tmp, strerror(errno));
		goto out;
	}
	cki_nearver_header *h = p;
	h->magic = CKI_NEARVER_MAGIC;
	h->nslots = CKI_NEARVER_SLOTS;
	/* Readable by whoever may use the socket, never writable by them. */
	if (fchmod(fd, sock->st_mode & 0444) != 0 || fchown(fd, (uid_t)-1, sock->st_gid) != 0)
		cki_log_warn("cannot set permissions of %s: %s", tmp, strerror(errno));
	if (renameat(dir_fd, tmp, dir_fd, name) != 0) {
		snprintf(why, why_cap, "cannot rename %s: %s", tmp, strerror(errno));
		goto out;
	}
	*out = h;
	p = MAP_FAILED;
	rv = CK_OK;
out:
	if (p != MAP_FAILED)
		munmap(p, len);
	if (fd >= 0)
		close(fd);
	if (rv != CK_OK)
		unlinkat(dir_fd, tmp, 0);
	return rv;
}

ck_err
cki_nearver_openat(cki_nearver **out, int dir_fd, const char *sock_name, char *why, size_t why_cap)
{
	size_t len = cki_nearver_size(CKI_NEARVER_SLOTS);
	cki_nearver_header *h = NULL;
	cki_nearver *v = NULL;
	char name[4100];
	struct stat sock;
	ck_err rv;

	if ((size_t)snprintf(name, sizeof(name), "%s%s", sock_name, CKI_NEARVER_SUFFIX) >=
	    sizeof(name)) {
		snprintf(why, why_cap, "socket path too long for the version table");
		return CK_ECONFIG;
	}
	/* Everything goes through the verified directory's fd, never a path another user could
	 * swap for a symlink between our check and our use. */
	if (fstatat(dir_fd, sock_name, &sock, AT_SYMLINK_NOFOLLOW) != 0) {
		snprintf(why, why_cap, "cannot stat %s: %s", sock_name, strerror(errno));
		return CK_EIO;
	}
	int fd = openat(dir_fd, name, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0) {
		h = map_existing(fd, len);
		if (h == NULL)
			retire_foreign(fd);
		else if (fchmod(fd, sock.st_mode & 0444) != 0 ||
		         fchown(fd, (uid_t)-1, sock.st_gid) != 0)
			cki_log_warn("cannot set permissions of %s: %s", name, strerror(errno));
		close(fd);
	}
	if (h == NULL && (rv = create_table(dir_fd, name, &sock, len, &h, why, why_cap)) != CK_OK)
		return rv;
	if ((v = calloc(1, sizeof(*v))) == NULL) {
		munmap(h, len);
		return CK_ENOMEM;
	}
	v->hdr = h;
	v->slots = (uint64_t *)((uint8_t *)h + CKI_NEARVER_HEADER);
	v->map_len = len;
	v->mask = CKI_NEARVER_SLOTS - 1;
	v->epoch = new_epoch();
	/* Every copy a stub made under an earlier agent carries another epoch: all are dropped. */
	__atomic_store_n(&h->epoch, v->epoch, __ATOMIC_SEQ_CST);
	*out = v;
	return CK_OK;
}

ck_err
cki_nearver_open(cki_nearver **out, const char *socket_path, char *why, size_t why_cap)
{
	const char *slash = strrchr(socket_path, '/');
	char dir[4096];
	size_t dlen = slash == NULL ? 1 : slash == socket_path ? 1 : (size_t)(slash - socket_path);
	if (dlen >= sizeof(dir)) {
		snprintf(why, why_cap, "socket path too long for the version table");
		return CK_ECONFIG;
	}
	memcpy(dir, slash == NULL ? "." : slash == socket_path ? "/" : socket_path, dlen);
	dir[dlen] = '\0';
	int dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dir_fd < 0) {
		snprintf(why, why_cap, "cannot open %s: %s", dir, strerror(errno));
		return CK_EIO;
	}
	ck_err rv = cki_nearver_openat(out, dir_fd, slash == NULL ? socket_path : slash + 1, why,
	                               why_cap);
	close(dir_fd);
	return rv;
}

void
cki_nearver_close(cki_nearver *v)
{
	if (v == NULL)
		return;
	__atomic_store_n(&v->hdr->epoch, 0, __ATOMIC_SEQ_CST);
	munmap(v->hdr, v->map_len);
	free(v);
}

uint64_t
cki_nearver_epoch(const cki_nearver *v)
{
	return v != NULL ? v->epoch : 0;
}

static uint64_t *
slot_of(const cki_nearver *v, const char *storage_key)
{
	return &v->slots[cki_nearver_hash(storage_key, strlen(storage_key)) & v->mask];
}

uint64_t
cki_nearver_read(const cki_nearver *v, const char *storage_key)
{
	if (v == NULL)
		return 0;
	return __atomic_load_n(slot_of(v, storage_key), __ATOMIC_ACQUIRE);
}

void
cki_nearver_bump(cki_nearver *v, const char *storage_key)
{
	if (v == NULL)
		return;
	/* Sequentially consistent, and before the reply's send system call: a process that saw
	 * the reply (or anything caused by it) loads the new value. */
	__atomic_fetch_add(slot_of(v, storage_key), 1, __ATOMIC_SEQ_CST);
}
