/* SPDX-License-Identifier: Apache-2.0 */
/* The runtime directory: made private, an existing one of ours tightened through its fd, and
 * symlinks, group-writable directories and symlinked lock files refused with a message that
 * names them. (Directories of other users: tests/integration/test_security.py, as root.) */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cunit_main.h"
#include "front/rundir.h"

typedef struct fixture {
	char base[64];
	char run[96];
	char sock[128];
	char victim[96];
} fixture;

static void
setup(fixture *f)
{
	ck_tmp_template(f->base, sizeof(f->base), "ck-rundir");
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(f->base));
	snprintf(f->run, sizeof(f->run), "%s/run", f->base);
	snprintf(f->sock, sizeof(f->sock), "%s/agent.sock", f->run);
	snprintf(f->victim, sizeof(f->victim), "%s/victim", f->base);
	FILE *v = fopen(f->victim, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(v);
	fputs("data\n", v);
	fclose(v);
	chmod(f->victim, 0600);
}

static void
teardown(fixture *f)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->base);
	CU_ASSERT_EQUAL(system(cmd), 0);
}

static void
assert_victim_untouched(const fixture *f)
{
	struct stat st;
	CU_ASSERT_EQUAL_FATAL(stat(f->victim, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 07777, 0600);
	CU_ASSERT_EQUAL(st.st_size, 5);
}

static void
test_creates_a_private_directory_and_takes_the_lock(void)
{
	fixture f;
	setup(&f);
	char why[256] = "";
	cki_rundir rd = CKI_RUNDIR_INIT;
	mode_t old = umask(0); /* a careless umask must not widen the directory */
	CU_ASSERT_EQUAL(cki_rundir_open(&rd, f.sock, 0700, (gid_t)-1, why, sizeof(why)), CK_OK);
	umask(old);
	struct stat st;
	CU_ASSERT_EQUAL_FATAL(lstat(f.run, &st), 0);
	CU_ASSERT(S_ISDIR(st.st_mode));
	CU_ASSERT_EQUAL(st.st_mode & 07777, 0700);
	CU_ASSERT_EQUAL(cki_rundir_lock(&rd, "ipc://x", why, sizeof(why)), CK_OK);
	char lock[160];
	snprintf(lock, sizeof(lock), "%s.lock", f.sock);
	CU_ASSERT_EQUAL(lstat(lock, &st), 0);
	CU_ASSERT(S_ISREG(st.st_mode));
	/* A second holder is told who has it. */
	cki_rundir rd2 = CKI_RUNDIR_INIT;
	CU_ASSERT_EQUAL(cki_rundir_open(&rd2, f.sock, 0700, (gid_t)-1, why, sizeof(why)), CK_OK);
	CU_ASSERT_EQUAL(cki_rundir_lock(&rd2, "ipc://x", why, sizeof(why)), CK_EBUSYAGENT);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "another agent (pid "));
	cki_rundir_close(&rd2);
	CU_ASSERT_EQUAL(lstat(lock, &st), 0); /* the loser removed nothing */
	cki_rundir_close(&rd);
	CU_ASSERT_NOT_EQUAL(lstat(lock, &st), 0); /* the holder removed its lock */
	teardown(&f);
}

static void
test_an_existing_directory_of_ours_is_tightened(void)
{
	fixture f;
	setup(&f);
	CU_ASSERT_EQUAL_FATAL(mkdir(f.run, 0755), 0);
	chmod(f.run, 0755);
	char why[256] = "";
	cki_rundir rd = CKI_RUNDIR_INIT;
	CU_ASSERT_EQUAL(cki_rundir_open(&rd, f.sock, 0700, (gid_t)-1, why, sizeof(why)), CK_OK);
	struct stat st;
	CU_ASSERT_EQUAL(stat(f.run, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 07777, 0700);
	cki_rundir_close(&rd);
	teardown(&f);
}

static void
test_a_symlinked_directory_is_refused(void)
{
	fixture f;
	setup(&f);
	char target[96];
	snprintf(target, sizeof(target), "%s/elsewhere", f.base);
	CU_ASSERT_EQUAL_FATAL(mkdir(target, 0700), 0);
	CU_ASSERT_EQUAL_FATAL(symlink(target, f.run), 0);
	char why[256] = "";
	cki_rundir rd = CKI_RUNDIR_INIT;
	CU_ASSERT_EQUAL(cki_rundir_open(&rd, f.sock, 0700, (gid_t)-1, why, sizeof(why)),
	                CK_ECONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, f.run));
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "symbolic link"));
	cki_rundir_close(&rd);
	teardown(&f);
}

static void
test_a_group_writable_directory_is_refused(void)
{
	fixture f;
	setup(&f);
	CU_ASSERT_EQUAL_FATAL(mkdir(f.run, 0700), 0);
	CU_ASSERT_EQUAL_FATAL(chmod(f.run, 0770), 0);
	char why[256] = "";
	cki_rundir rd = CKI_RUNDIR_INIT;
	CU_ASSERT_EQUAL(cki_rundir_open(&rd, f.sock, 0700, (gid_t)-1, why, sizeof(why)),
	                CK_ECONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "writable by group or others"));
	cki_rundir_close(&rd);
	teardown(&f);
}

static void
test_a_symlinked_lock_file_is_refused_and_its_target_untouched(void)
{
	fixture f;
	setup(&f);
	CU_ASSERT_EQUAL_FATAL(mkdir(f.run, 0700), 0);
	char lock[160];
	snprintf(lock, sizeof(lock), "%s.lock", f.sock);
	CU_ASSERT_EQUAL_FATAL(symlink(f.victim, lock), 0);
	char why[256] = "";
	cki_rundir rd = CKI_RUNDIR_INIT;
	CU_ASSERT_EQUAL(cki_rundir_open(&rd, f.sock, 0700, (gid_t)-1, why, sizeof(why)), CK_OK);
	CU_ASSERT_EQUAL(cki_rundir_lock(&rd, "ipc://x", why, sizeof(why)), CK_ECONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "symbolic link"));
	cki_rundir_close(&rd);
	assert_victim_untouched(&f);
	struct stat st;
	CU_ASSERT_EQUAL(lstat(lock, &st), 0); /* not ours: left alone */
	CU_ASSERT(S_ISLNK(st.st_mode));
	teardown(&f);
}

static void
test_a_socket_replaced_by_a_file_is_reported(void)
{
	fixture f;
	setup(&f);
	char why[256] = "";
	cki_rundir rd = CKI_RUNDIR_INIT;
	CU_ASSERT_EQUAL_FATAL(cki_rundir_open(&rd, f.sock, 0700, (gid_t)-1, why, sizeof(why)),
	                      CK_OK);
	CU_ASSERT_EQUAL_FATAL(symlink(f.victim, f.sock), 0);
	CU_ASSERT_EQUAL(cki_rundir_check_socket(&rd, 0660, (gid_t)-1, why, sizeof(why)), CK_EIO);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "not the socket we bound"));
	cki_rundir_close(&rd);
	assert_victim_untouched(&f);
	teardown(&f);
}

static CU_TestInfo tests[] = {
        {"creates a private directory and takes the lock",
         test_creates_a_private_directory_and_takes_the_lock},
        {"an existing directory of ours is tightened",
         test_an_existing_directory_of_ours_is_tightened},
        {"a symlinked directory is refused", test_a_symlinked_directory_is_refused},
        {"a group-writable directory is refused", test_a_group_writable_directory_is_refused},
        {"a symlinked lock file is refused and its target untouched",
         test_a_symlinked_lock_file_is_refused_and_its_target_untouched},
        {"a socket replaced by a file is reported", test_a_socket_replaced_by_a_file_is_reported},
        CU_TEST_INFO_NULL,
};

CK_UNIT_SUITE("rundir", tests)
