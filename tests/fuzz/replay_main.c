/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Corpus replay for builds without libFuzzer: links with one fuzz target's
 * LLVMFuzzerTestOneInput and runs it once on every file named on the command line, or found
 * (not recursively, in name order) in a directory named there. A target aborts on anything
 * its decoder's contract forbids, so this turns each committed corpus into a regression test
 * that also runs under the ASan preset. Exits 1 when no input was found at all, so a missing
 * corpus fails instead of passing vacuously; a directory that does not exist is skipped.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Largest input replayed; the fuzzers run with -max_len=65536, this leaves room. */
#define REPLAY_MAX_INPUT (1024u * 1024u)
#define REPLAY_MAX_PATH  4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional in a target: resolved to NULL when the target does not define it. */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int
replay_file(const char *path, size_t *count)
{
	int rv = 1;
	uint8_t *buf = NULL;
	FILE *f = fopen(path, "rb");
	struct stat st;

	if (f == NULL || fstat(fileno(f), &st) != 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		goto out;
	}
	if (st.st_size < 0 || (uint64_t)st.st_size > REPLAY_MAX_INPUT) {
		fprintf(stderr, "replay: %s: larger than %u bytes\n", path, REPLAY_MAX_INPUT);
		goto out;
	}
	size_t len = (size_t)st.st_size;
	/* An exact-size heap copy, so ASan sees any read past the input's end. */
	buf = malloc(len ? len : 1);
	if (buf == NULL || fread(buf, 1, len, f) != len) {
		fprintf(stderr, "replay: %s: cannot read\n", path);
		goto out;
	}
	printf("replay: %s (%zu bytes)\n", path, len);
	fflush(stdout);
	LLVMFuzzerTestOneInput(buf, len);
	(*count)++;
	rv = 0;
out:
	free(buf);
	if (f != NULL)
		fclose(f);
	return rv;
}

static int
by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int
replay_dir(const char *dir, size_t *count)
{
	struct dirent **names = NULL;
	int n = scandir(dir, &names, NULL, by_name);
	int rv = 0;

	if (n < 0) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	for (int i = 0; i < n; i++) {
		char path[REPLAY_MAX_PATH];
		struct stat st;
		int w = snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		if (w < 0 || (size_t)w >= sizeof(path)) {
			fprintf(stderr, "replay: path too long in %s\n", dir);
			rv = 1;
		} else if (names[i]->d_name[0] != '.' && stat(path, &st) == 0 &&
		           S_ISREG(st.st_mode)) {
			rv |= replay_file(path, count);
		}
		free(names[i]);
	}
	free(names);
	return rv;
}

int
main(int argc, char **argv)
{
	size_t count = 0;
	int rv = 0;

	if (LLVMFuzzerInitialize != NULL)
		LLVMFuzzerInitialize(&argc, &argv);
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) != 0) {
			printf("replay: %s does not exist, skipped\n", argv[i]);
			continue;
		}
		rv |= S_ISDIR(st.st_mode) ? replay_dir(argv[i], &count)
		                          : replay_file(argv[i], &count);
	}
	if (count == 0) {
		fprintf(stderr, "replay: no inputs found\n");
		return 1;
	}
	printf("replay: %zu inputs, all accepted or rejected cleanly\n", count);
	return rv;
}
