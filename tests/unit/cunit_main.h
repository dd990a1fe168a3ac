/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared main() for the CUnit unit tests. A test file lists its tests and names its suite:
 *
 *     static CU_TestInfo tests[] = {{"rejects an empty key", test_empty}, CU_TEST_INFO_NULL};
 *     CK_UNIT_SUITE("keys", tests)
 *
 * Optional per-file setup: define CK_UNIT_SETUP / CK_UNIT_TEARDOWN functions via
 * CK_UNIT_SUITE_FULL(name, tests, init, clean). The runner exits non-zero on any failure.
 */
#ifndef CK_CUNIT_MAIN_H
#define CK_CUNIT_MAIN_H

#include <CUnit/CUnit.h>
#include <stddef.h>

extern const char *ck_unit_suite_name;
extern CU_TestInfo *ck_unit_suite_tests;
extern CU_InitializeFunc ck_unit_suite_init;
extern CU_CleanupFunc ck_unit_suite_clean;

#define CK_UNIT_SUITE_FULL(name, tests, init, clean) \
	const char *ck_unit_suite_name = name;       \
	CU_TestInfo *ck_unit_suite_tests = tests;    \
	CU_InitializeFunc ck_unit_suite_init = init; \
	CU_CleanupFunc ck_unit_suite_clean = clean;

#define CK_UNIT_SUITE(name, tests) CK_UNIT_SUITE_FULL(name, tests, NULL, NULL)

/* Path of a vector file in the shared vectors directory (static buffer). */
const char *ck_vector_path(const char *file);

/* Reads a whole file; returns a malloc'd NUL-terminated buffer or NULL. */
char *ck_read_file(const char *path, size_t *len);

/* Writes "$TMPDIR/<name>-XXXXXX" (or under /tmp when TMPDIR is unset) into out, a template for
 * mkdtemp or mkstemp. scripts/test points TMPDIR at a private directory it removes at the end,
 * so nothing a test leaves behind outlives the run. Aborts when it does not fit in cap. */
void ck_tmp_template(char *out, size_t cap, const char *name);

/* ck_tmp_template into a new malloc'd buffer (caller frees). */
char *ck_tmp_path(const char *name);

/* Threads of this process ("Threads:" of /proc/self/status); -1 if it cannot be read. */
int ck_thread_count(void);

/* Decodes hex into a malloc'd buffer; NULL on bad hex. */
unsigned char *ck_unhex(const char *hex, size_t *len);

#endif
