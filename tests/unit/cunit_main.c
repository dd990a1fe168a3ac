/* SPDX-License-Identifier: Apache-2.0 */
/* The one main() every unit test shares: registers the file's suite, runs it verbosely and
 * exits with the number of failures (capped), so CTest sees each failure. */
#include "cunit_main.h"

#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef CK_VECTORS_DIR
#define CK_VECTORS_DIR "../shared/vectors"
#endif

const char *
ck_vector_path(const char *file)
{
	static char path[4096];
	const char *dir = getenv("CK_VECTORS_DIR");
	snprintf(path, sizeof(path), "%s/%s", dir ? dir : CK_VECTORS_DIR, file);
	return path;
}

void
ck_tmp_template(char *out, size_t cap, const char *name)
{
	const char *tmp = getenv("TMPDIR");
	int n = snprintf(out, cap, "%s/%s-XXXXXX", tmp != NULL && *tmp ? tmp : "/tmp", name);
	if (n < 0 || (size_t)n >= cap) {
		fprintf(stderr, "ck_tmp_template: TMPDIR too long for a %zu-byte buffer\n", cap);
		abort();
	}
}

char *
ck_tmp_path(const char *name)
{
	char buf[4096];
	ck_tmp_template(buf, sizeof(buf), name);
	return strdup(buf);
}

char *
ck_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *buf = malloc((size_t)n + 1);
	if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	if (buf != NULL) {
		buf[n] = '\0';
		if (len)
			*len = (size_t)n;
	}
	return buf;
}

int
ck_thread_count(void)
{
	char line[64];
	int n = -1;
	FILE *fp = fopen("/proc/self/status", "r");
	if (fp == NULL)
		return -1;
	while (fgets(line, sizeof(line), fp) != NULL)
		if (sscanf(line, "Threads: %d", &n) == 1)
			break;
	fclose(fp);
	return n;
}

unsigned char *
ck_unhex(const char *hex, size_t *len)
{
	size_t n = strlen(hex);
	if (n % 2)
		return NULL;
	unsigned char *out = malloc(n / 2 + 1);
	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < n / 2; i++) {
		unsigned v;
		if (sscanf(hex + 2 * i, "%2x", &v) != 1) {
			free(out);
			return NULL;
		}
		out[i] = (unsigned char)v;
	}
	*len = n / 2;
	return out;
}

int
main(void)
{
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	CU_SuiteInfo suites[] = {
	        {(char *)ck_unit_suite_name, ck_unit_suite_init, ck_unit_suite_clean, NULL, NULL,
	         ck_unit_suite_tests},
	        CU_SUITE_INFO_NULL,
	};
	if (CU_register_suites(suites) != CUE_SUCCESS) {
		fprintf(stderr, "cannot register suite: %s\n", CU_get_error_msg());
		return 2;
	}
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	unsigned suites_failed = CU_get_number_of_suites_failed();
	CU_cleanup_registry();
	return (failed || suites_failed) ? 1 : 0;
}
