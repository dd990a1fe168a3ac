/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for agent/secmem.c: secret memory, constant-time comparison, process hardening (in a
 * child process) and cki_secret_load's sources, their order, the file permission check,
 * newline trimming and the scrubbing of the environment.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cunit_main.h"
#include "crypto/secmem.h"

#define ENV      "CKT_SECRET"
#define ENV_FILE "CKT_SECRET_FILE"
#define CRED     "ckt_secret"

static char dir[64];
static char why[512];

static int
setup(void)
{
	if (cki_secmem_init(64 * 1024) != CK_OK)
		return 1;
	ck_tmp_template(dir, sizeof(dir), "ck-secmem");
	return mkdtemp(dir) == NULL;
}

static void
remove_in_dir(const char *name)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unlink(path);
	rmdir(path);
}

static int
teardown(void)
{
	const char *names[] = {"s", "cred", "big", "sub", NULL};
	for (size_t i = 0; names[i] != NULL; i++)
		remove_in_dir(names[i]);
	char path[256];
	snprintf(path, sizeof(path), "%s/cred/%s", dir, CRED);
	unlink(path);
	remove_in_dir("cred");
	rmdir(dir);
	return 0;
}

static void
clear_env(void)
{
	unsetenv("CREDENTIALS_DIRECTORY");
	unsetenv(ENV);
	unsetenv(ENV_FILE);
}

/* Writes content to <dir>/<name> with the given mode; returns the path (static buffer). */
static const char *
write_file(const char *name, const char *content, size_t len, mode_t mode)
{
	static char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unlink(path);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_FATAL(write(fd, content, len) == (ssize_t)len);
	close(fd);
	CU_ASSERT_FATAL(chmod(path, mode) == 0);
	return path;
}

static bool
secret_is(const cki_secret *s, const char *want)
{
	return s != NULL && s->len == strlen(want) && memcmp(s->data, want, s->len) == 0 &&
	       s->data[s->len] == '\0';
}

static void
test_alloc_is_zeroed(void)
{
	uint8_t *p = cki_secmem_alloc(100);
	CU_ASSERT_FATAL(p != NULL);
	uint8_t zero[100] = {0};
	CU_ASSERT_EQUAL(memcmp(p, zero, sizeof(zero)), 0);
	memset(p, 0xa5, 100);
	cki_secmem_free(p, 100);
	cki_secmem_free(NULL, 10);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p = cki_secmem_alloc(0));
	cki_secmem_free(p, 0);
	CU_ASSERT_EQUAL(cki_secmem_init(((size_t)1 << 30) + 1), CK_EINVAL);
}

static void
test_secret_equal(void)
{
	cki_secret *s = cki_secret_from((const uint8_t *)"abcdef", 6);
	CU_ASSERT_FATAL(s != NULL);
	CU_ASSERT_TRUE(cki_secret_equal(s, (const uint8_t *)"abcdef", 6));
	CU_ASSERT_FALSE(cki_secret_equal(s, (const uint8_t *)"abcdeg", 6));
	CU_ASSERT_FALSE(cki_secret_equal(s, (const uint8_t *)"abcde", 5));
	CU_ASSERT_FALSE(cki_secret_equal(NULL, (const uint8_t *)"abcdef", 6));
	cki_secret_free(s);
	cki_secret_free(NULL);
}

static void
test_group_readable_file_refused(void)
{
	const mode_t modes[] = {0644, 0640, 0604, 0620, 0602};
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		clear_env();
		setenv(ENV_FILE, write_file("s", "hunter2-secret\n", 15, modes[i]), 1);
		cki_secret *s = NULL;
		CU_ASSERT_EQUAL(cki_secret_load(ENV, CRED, &s, why, sizeof(why)), CK_ECONFIG);
		CU_ASSERT_PTR_NULL(s);
		CU_ASSERT_PTR_NOT_NULL(strstr(why, "group or others"));
		CU_ASSERT_PTR_NULL(strstr(why, "hunter2"));
	}
}

static void
test_owner_only_file_accepted_and_trimmed(void)
{
	const struct {
		const char *content;
		const char *want;
		mode_t mode;
	} rows[] = {
	        {"value\n", "value", 0600},     {"value\r\n", "value", 0400},
	        {"value", "value", 0600},       {"value\n\n", "value\n", 0600},
	        {"va lue \n", "va lue ", 0600}, {"\n", "", 0600},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		clear_env();
		setenv(ENV_FILE,
		       write_file("s", rows[i].content, strlen(rows[i].content), rows[i].mode), 1);
		cki_secret *s = NULL;
		CU_ASSERT_EQUAL(cki_secret_load(ENV, CRED, &s, why, sizeof(why)), CK_OK);
		CU_ASSERT(secret_is(s, rows[i].want));
		cki_secret_free(s);
	}
}

static void
test_env_is_scrubbed(void)
{
	clear_env();
	setenv(ENV, "env-secret", 1);
	char *value = getenv(ENV);
	cki_secret *s = NULL;
	CU_ASSERT_EQUAL(cki_secret_load(ENV, CRED, &s, why, sizeof(why)), CK_OK);
	CU_ASSERT(secret_is(s, "env-secret"));
	CU_ASSERT_PTR_NULL(getenv(ENV));
	/* glibc never frees setenv() strings, so the old value is still readable: zeros. */
	static const char zeros[10];
	CU_ASSERT_EQUAL(memcmp(value, zeros, sizeof(zeros)), 0);
	cki_secret_free(s);
}

static void
test_env_value_is_taken_exactly(void)
{
	clear_env();
	setenv(ENV, "env-secret\n", 1);
	cki_secret *s = NULL;
	CU_ASSERT_EQUAL(cki_secret_load(ENV, CRED, &s, why, sizeof(why)), CK_OK);
	/* not trimmed: the consumer (the API key check) refuses it with a clear message */
	CU_ASSERT(secret_is(s, "env-secret\n"));
	cki_secret_free(s);
}

static void
test_credentials_directory_wins(void)
{
	char cred_dir[128], file_path[256];
	clear_env();
	snprintf(cred_dir, sizeof(cred_dir), "%s/cred", dir);
	mkdir(cred_dir, 0700);
	write_file("cred/" CRED, "from-credential\n", 16, 0400);
	snprintf(file_path, sizeof(file_path), "%s", write_file("s", "from-file", 9, 0600));
	setenv("CREDENTIALS_DIRECTORY", cred_dir, 1);
	setenv(ENV_FILE, file_path, 1);
	setenv(ENV, "from-env", 1);

	cki_secret *s = NULL;
	CU_ASSERT_EQUAL(cki_secret_load(ENV, CRED, &s, why, sizeof(why)), CK_OK);
	CU_ASSERT(secret_is(s, "from-credential"));
	cki_secret_free(s);
	s = NULL;
	/* The environment copy is scrubbed even though it was not used. */
	CU_ASSERT_PTR_NULL(getenv(ENV));

	/* A credential the directory does not hold falls through to the _FILE source. */
	CU_ASSERT_EQUAL(cki_secret_load(ENV, "other_credential", &s, why, sizeof(why)), CK_OK);
	CU_ASSERT(secret_is(s, "from-file"));
	cki_secret_free(s);
	s = NULL;

	/* Group bits on a credential are how stat shows systemd's ACL grant: accepted... */
	write_file("cred/" CRED, "from-credential\n", 16, 0440);
	CU_ASSERT_EQUAL(cki_secret_load(ENV, CRED, &s, why, sizeof(why)), CK_OK);
	cki_secret_free(s);
	s = NULL;
	/* ...but a world-readable credential is refused. */
	write_file("cred/" CRED, "from-credential\n", 16, 0444);
	CU_ASSERT_EQUAL(cki_secret_load(ENV, CRED, &s, why, sizeof(why)), CK_ECONFIG);
	CU_ASSERT_PTR_NULL(s);
	clear_env();
}

static void
test_file_source_beats_env(void)
{
	clear_env();
	setenv(ENV_FILE, write_file("s", "from-file", 9, 0600), 1);
	setenv(ENV, "from-env", 1);
	cki_secret *s = NULL;
	CU_ASSERT_EQUAL(cki_secret_load(ENV, CRED, &s, why, sizeof(why)), CK_OK);
	CU_ASSERT(secret_is(s, "from-file"));
	CU_ASSERT_PTR_NULL(getenv(ENV));
	cki_secret_free(s);
}

static void
test_bad_file_sources_refused(void)
{
	char path[256];
	cki_secret *s = NULL;

	clear_env();
	snprintf(path, sizeof(path), "%s/missing", dir);
	setenv(ENV_FILE, path, 1);
	CU_ASSERT_EQUAL(cki_secret_load(ENV, CRED, &s, why, sizeof(why)), CK_ECONFIG);

	snprintf(path, sizeof(path), "%s/sub", dir);
	mkdir(path, 0700);
	setenv(ENV_FILE, path, 1);
	CU_ASSERT_EQUAL(cki_secret_load(ENV, CRED, &s, why, sizeof(why)), CK_ECONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "not a regular file"));

	char *big = malloc(CKI_SECRET_MAX + 1);
	memset(big, 'k', CKI_SECRET_MAX + 1);
	setenv(ENV_FILE, write_file("big", big, CKI_SECRET_MAX + 1, 0600), 1);
	CU_ASSERT_EQUAL(cki_secret_load(ENV, CRED, &s, why, sizeof(why)), CK_ECONFIG);
	/* Exactly the cap is fine. */
	setenv(ENV_FILE, write_file("big", big, CKI_SECRET_MAX, 0600), 1);
	CU_ASSERT_EQUAL(cki_secret_load(ENV, CRED, &s, why, sizeof(why)), CK_OK);
	CU_ASSERT(s != NULL && s->len == CKI_SECRET_MAX);
	cki_secret_free(s);
	free(big);
	clear_env();
}

static void
test_not_found(void)
{
	clear_env();
	cki_secret *s = NULL;
	CU_ASSERT_EQUAL(cki_secret_load(ENV, CRED, &s, why, sizeof(why)), CK_ENOTFOUND);
	CU_ASSERT_PTR_NULL(s);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, ENV));
	/* An empty variable counts as unset, and is removed. */
	setenv(ENV, "", 1);
	CU_ASSERT_EQUAL(cki_secret_load(ENV, CRED, &s, why, sizeof(why)), CK_ENOTFOUND);
	CU_ASSERT_PTR_NULL(getenv(ENV));
	CU_ASSERT_EQUAL(cki_secret_load(NULL, CRED, &s, why, sizeof(why)), CK_EINVAL);
}

/* Hardening changes the process for good, so it runs in a child. */
static void
test_harden_process(void)
{
	pid_t pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		cki_harden_process();
		struct rlimit rl;
		int ok = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0 &&
		         getrlimit(RLIMIT_CORE, &rl) == 0 && rl.rlim_cur == 0 && rl.rlim_max == 0;
		_exit(ok ? 0 : 1);
	}
	int status = 0;
	CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
	CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static CU_TestInfo tests[] = {
        {"an environment value is taken exactly, newline and all", test_env_value_is_taken_exactly},
        {"secret memory is zeroed; free accepts NULL", test_alloc_is_zeroed},
        {"secret comparison", test_secret_equal},
        {"group- or world-accessible file is refused", test_group_readable_file_refused},
        {"owner-only file is read, one newline trimmed", test_owner_only_file_accepted_and_trimmed},
        {"environment value is read, wiped and unset", test_env_is_scrubbed},
        {"CREDENTIALS_DIRECTORY wins over file and env", test_credentials_directory_wins},
        {"_FILE source wins over env", test_file_source_beats_env},
        {"missing, non-regular and oversize files are refused", test_bad_file_sources_refused},
        {"no source: not found", test_not_found},
        {"hardening: not dumpable, no core files", test_harden_process},
        CU_TEST_INFO_NULL,
};

CK_UNIT_SUITE_FULL("secmem", tests, setup, teardown)
