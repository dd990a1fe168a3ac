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
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
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
	while (e == 0)
		if (getrandom(&e, sizeof(e), 0) != (ssize_t)sizeof(e))
			e = (uint64_t)getpid() << 32 ^ (uint64_t)time(NULL);
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
create_table(const char *path, const struct stat *sock, size_t len, cki_nearver_header **out,
             char *why, size_t why_cap)
{
	char tmp[4200];
	int fd = -1;
	ck_err rv = CK_EIO;
	void *p = MAP_FAILED;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp)) {
		snprintf(why, why_cap, "socket path too long for the version table");
		return CK_ECONFIG;
	}
	unlink(tmp);
	fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
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
	if (rename(tmp, path) != 0) {
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
		unlink(tmp);
	return rv;
}

ck_err
cki_nearver_open(cki_nearver **out, const char *socket_path, char *why, size_t why_cap)
{
	size_t len = cki_nearver_size(CKI_NEARVER_SLOTS);
	cki_nearver_header *h = NULL;
	cki_nearver *v = NULL;
	char path[4100];
	struct stat sock;
	ck_err rv;

	if ((size_t)snprintf(path, sizeof(path), "%s%s", socket_path, CKI_NEARVER_SUFFIX) >=
	    sizeof(path)) {
		snprintf(why, why_cap, "socket path too long for the version table");
		return CK_ECONFIG;
	}
	if (stat(socket_path, &sock) != 0) {
		snprintf(why, why_cap, "cannot stat %s: %s", socket_path, strerror(errno));
		return CK_EIO;
	}
	int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0) {
		h = map_existing(fd, len);
		if (h == NULL)
			retire_foreign(fd);
		else if (fchmod(fd, sock.st_mode & 0444) != 0 ||
		         fchown(fd, (uid_t)-1, sock.st_gid) != 0)
			cki_log_warn("cannot set permissions of %s: %s", path, strerror(errno));
		close(fd);
	}
	if (h == NULL && (rv = create_table(path, &sock, len, &h, why, why_cap)) != CK_OK)
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
