/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The near-cache version table: the file next to the socket (shape, permissions), bumps and
 * reads by storage key, a new epoch for each agent with the file reused in place, a stopping
 * agent's epoch 0, and a table of another shape retired before it is replaced.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/nearver.h"
#include "cunit_main.h"
#include "nearver_layout.h"

static char dir[256];
static char sock[300], ver[300];

static int
suite_init(void)
{
	ck_tmp_template(dir, sizeof(dir), "ck-nearver");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(sock, sizeof(sock), "%s/agent.sock", dir);
	snprintf(ver, sizeof(ver), "%s/agent.sock.ver", dir);
	/* Stands in for the socket: only its mode and group are read. */
	int fd = open(sock, O_CREAT | O_WRONLY, 0660);
	if (fd < 0)
		return -1;
	close(fd);
	return chmod(sock, 0660);
}

static int
suite_clean(void)
{
	unlink(ver);
	unlink(sock);
	return rmdir(dir);
}

/* Maps the table read-only, as a stub does. */
static const cki_nearver_header *
map_ro(size_t *len)
{
	struct stat st;
	int fd = open(ver, O_RDONLY);
	if (fd < 0 || fstat(fd, &st) != 0)
		return NULL;
	void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	*len = (size_t)st.st_size;
	return p == MAP_FAILED ? NULL : p;
}

static void
test_table_shape_and_bumps(void)
{
	char why[256] = "";
	cki_nearver *v = NULL;
	CU_ASSERT_EQUAL_FATAL(cki_nearver_open(&v, sock, why, sizeof(why)), CK_OK);
	struct stat st;
	CU_ASSERT_EQUAL_FATAL(stat(ver, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0440); /* the socket's read bits, never write */
	CU_ASSERT_EQUAL((size_t)st.st_size, cki_nearver_size(CKI_NEARVER_SLOTS));
	size_t len;
	const cki_nearver_header *h = map_ro(&len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(h);
	CU_ASSERT_EQUAL(h->magic, CKI_NEARVER_MAGIC);
	CU_ASSERT_EQUAL(h->nslots, CKI_NEARVER_SLOTS);
	CU_ASSERT_NOT_EQUAL(h->epoch, 0);
	CU_ASSERT_EQUAL(h->epoch, cki_nearver_epoch(v));

	const uint64_t *slots = (const uint64_t *)((const uint8_t *)h + CKI_NEARVER_HEADER);
	const char *key = "ns:app:user:1";
	uint64_t slot = cki_nearver_hash(key, strlen(key)) & (CKI_NEARVER_SLOTS - 1);
	uint64_t before = cki_nearver_read(v, key);
	CU_ASSERT_EQUAL(slots[slot], before);
	cki_nearver_bump(v, key);
	cki_nearver_bump(v, key);
	CU_ASSERT_EQUAL(cki_nearver_read(v, key), before + 2);
	CU_ASSERT_EQUAL(slots[slot], before + 2); /* what a stub's mapping sees */
	/* The streaming hash a stub uses for "ns:" + ns + ":" + key is the same hash. */
	uint64_t hs = CKI_NEARVER_HASH_INIT;
	hs = cki_nearver_hash_update(hs, "ns:", 3);
	hs = cki_nearver_hash_update(hs, "app", 3);
	hs = cki_nearver_hash_update(hs, ":user:1", 7);
	CU_ASSERT_EQUAL(cki_nearver_hash_final(hs), cki_nearver_hash(key, strlen(key)));

	/* A new agent reuses the file in place: same mapping, new epoch, counters kept. */
	uint64_t old_epoch = cki_nearver_epoch(v);
	cki_nearver_close(v);
	CU_ASSERT_EQUAL(h->epoch, 0); /* stopped: every stub copy is dropped */
	CU_ASSERT_EQUAL_FATAL(cki_nearver_open(&v, sock, why, sizeof(why)), CK_OK);
	CU_ASSERT_NOT_EQUAL(h->epoch, 0);
	CU_ASSERT_NOT_EQUAL(h->epoch, old_epoch);
	CU_ASSERT_EQUAL(slots[slot], before + 2);
	cki_nearver_close(v);
	munmap((void *)h, len);

	/* NULL table: reads 0, bumps nothing, epoch 0. */
	CU_ASSERT_EQUAL(cki_nearver_read(NULL, key), 0);
	cki_nearver_bump(NULL, key);
	CU_ASSERT_EQUAL(cki_nearver_epoch(NULL), 0);
}

static void
test_a_table_of_another_shape_is_retired_and_replaced(void)
{
	unlink(ver);
	int fd = open(ver, O_CREAT | O_RDWR, 0600);
	CU_ASSERT_FATAL(fd >= 0);
	cki_nearver_header old = {.magic = CKI_NEARVER_MAGIC, .epoch = 1234, .nslots = 16};
	CU_ASSERT_EQUAL(write(fd, &old, sizeof(old)), (ssize_t)sizeof(old));
	CU_ASSERT_EQUAL(ftruncate(fd, (off_t)cki_nearver_size(16)), 0);
	cki_nearver_header *h = mmap(NULL, sizeof(*h), PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	CU_ASSERT_FATAL(h != MAP_FAILED);

	char why[256] = "";
	cki_nearver *v = NULL;
	CU_ASSERT_EQUAL_FATAL(cki_nearver_open(&v, sock, why, sizeof(why)), CK_OK);
	CU_ASSERT_EQUAL(h->epoch, 0); /* stubs still mapping the old file stop trusting it */
	struct stat st;
	CU_ASSERT_EQUAL(stat(ver, &st), 0);
	CU_ASSERT_EQUAL((size_t)st.st_size, cki_nearver_size(CKI_NEARVER_SLOTS));
	munmap(h, sizeof(*h));
	cki_nearver_close(v);
}

static void
test_no_socket_no_table(void)
{
	char why[256] = "";
	cki_nearver *v = NULL;
	char missing[320];
	snprintf(missing, sizeof(missing), "%s/none.sock", dir);
	CU_ASSERT_NOT_EQUAL(cki_nearver_open(&v, missing, why, sizeof(why)), CK_OK);
	CU_ASSERT_PTR_NULL(v);
	CU_ASSERT(strstr(why, "none.sock") != NULL);
}

/* Someone who could plant "<socket>.ver" as a symlink (the directory is verified, so only in
 * an older layout) must not get the agent to write through it: the link is replaced by a
 * fresh table and its target keeps its bytes. */
static void
test_a_symlinked_table_is_replaced_not_followed(void)
{
	char victim[320];
	snprintf(victim, sizeof(victim), "%s/victim", dir);
	FILE *f = fopen(victim, "w");
	CU_ASSERT_FATAL(f != NULL);
	fputs("precious", f);
	fclose(f);
	unlink(ver);
	CU_ASSERT_EQUAL_FATAL(symlink(victim, ver), 0);

	char why[256] = "";
	cki_nearver *v = NULL;
	CU_ASSERT_EQUAL_FATAL(cki_nearver_open(&v, sock, why, sizeof(why)), CK_OK);
	struct stat st;
	CU_ASSERT_EQUAL(lstat(ver, &st), 0);
	CU_ASSERT(S_ISREG(st.st_mode));
	CU_ASSERT_EQUAL((size_t)st.st_size, cki_nearver_size(CKI_NEARVER_SLOTS));
	char buf[32] = "";
	f = fopen(victim, "r");
	CU_ASSERT_FATAL(f != NULL);
	CU_ASSERT_PTR_NOT_NULL(fgets(buf, sizeof(buf), f));
	fclose(f);
	CU_ASSERT_STRING_EQUAL(buf, "precious");
	CU_ASSERT_EQUAL(stat(victim, &st), 0);
	CU_ASSERT_EQUAL(st.st_size, 8);
	cki_nearver_close(v);
	unlink(victim);
}

/* The agent verifies its runtime directory once and then works through that directory's fd:
 * if the path is swapped afterwards (the directory moved away and a symlink to another one
 * put in its place), the table still goes into the verified directory and the other one is
 * never touched. */
static void
test_the_table_goes_through_the_directory_fd(void)
{
	char moved[320], other[320], path_other_ver[400], path_moved_ver[400];
	snprintf(moved, sizeof(moved), "%s/verified", dir);
	snprintf(other, sizeof(other), "%s/other", dir);
	CU_ASSERT_EQUAL_FATAL(mkdir(moved, 0700), 0);
	CU_ASSERT_EQUAL_FATAL(mkdir(other, 0700), 0);
	char s1[400];
	snprintf(s1, sizeof(s1), "%s/agent.sock", moved);
	int fd = open(s1, O_CREAT | O_WRONLY, 0600);
	CU_ASSERT_FATAL(fd >= 0);
	close(fd);
	int dir_fd = open(moved, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
	CU_ASSERT_FATAL(dir_fd >= 0);

	char swapped[320];
	snprintf(swapped, sizeof(swapped), "%s/verified-elsewhere", dir);
	CU_ASSERT_EQUAL_FATAL(rename(moved, swapped), 0);
	CU_ASSERT_EQUAL_FATAL(symlink(other, moved), 0);

	char why[256] = "";
	cki_nearver *v = NULL;
	CU_ASSERT_EQUAL_FATAL(cki_nearver_openat(&v, dir_fd, "agent.sock", why, sizeof(why)),
	                      CK_OK);
	struct stat st;
	snprintf(path_moved_ver, sizeof(path_moved_ver), "%s/agent.sock.ver", swapped);
	snprintf(path_other_ver, sizeof(path_other_ver), "%s/agent.sock.ver", other);
	CU_ASSERT_EQUAL(stat(path_moved_ver, &st), 0);
	CU_ASSERT_NOT_EQUAL(stat(path_other_ver, &st), 0);
	cki_nearver_close(v);
	close(dir_fd);

	unlink(path_moved_ver);
	snprintf(s1, sizeof(s1), "%s/agent.sock", swapped);
	unlink(s1);
	rmdir(swapped);
	unlink(moved);
	rmdir(other);
}

static CU_TestInfo tests[] = {
        {"table shape and bumps", test_table_shape_and_bumps},
        {"a table of another shape is retired and replaced",
         test_a_table_of_another_shape_is_retired_and_replaced},
        {"no socket, no table", test_no_socket_no_table},
        {"the table goes through the directory fd", test_the_table_goes_through_the_directory_fd},
        {"a symlinked table is replaced, not followed",
         test_a_symlinked_table_is_replaced_not_followed},
        CU_TEST_INFO_NULL,
};

CK_UNIT_SUITE_FULL("nearver", tests, suite_init, suite_clean)
