/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the agent's config file reader (agent/config.c over inih): each input
 * is written to a temporary file and loaded with `--config <file>` on top of the built-in
 * defaults, as the daemon starts. The file is written by the operator, not by a peer, so this
 * guards against crashes and leaks on typos and odd encodings rather than against attackers.
 * The load must end in CK_OK or CK_ECONFIG; a loaded config must pass or fail validation
 * cleanly, print, and keep every bounded number within the bound its table row declares.
 * CACHEKIT_* variables are removed first so that only the file is under test.
 */
#define _GNU_SOURCE /* environ */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cachekit/errors.h"
#include "config/config.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

extern char **environ;

static char path[256];
static FILE *sink;

static void
fail(const char *what)
{
	fprintf(stderr, "fuzz_config: %s\n", what);
	abort();
}

static void
cleanup(void)
{
	if (path[0] != '\0')
		unlink(path);
	if (sink != NULL)
		fclose(sink);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* Unset every CACHEKIT_* variable (restart the scan after each removal). */
	for (bool again = true; again;) {
		again = false;
		for (char **e = environ; e != NULL && *e != NULL; e++) {
			if (strncmp(*e, "CACHEKIT_", 9) == 0) {
				char name[256];
				size_t n = strcspn(*e, "=");
				if (n >= sizeof(name))
					fail("absurd environment variable name");
				memcpy(name, *e, n);
				name[n] = '\0';
				unsetenv(name);
				again = true;
				break;
			}
		}
	}
	const char *tmp = getenv("TMPDIR");
	snprintf(path, sizeof(path), "%s/ck-fuzz-config-XXXXXX",
	         tmp != NULL && *tmp ? tmp : "/tmp");
	int fd = mkstemp(path);
	if (fd < 0)
		fail("mkstemp");
	close(fd);
	sink = fopen("/dev/null", "w");
	if (sink == NULL)
		fail("cannot open /dev/null");
	atexit(cleanup);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cki_config cfg;
	bool exit_now = false;
	char *argv[] = {(char *)"cachekit-agent", (char *)"--config", path, NULL};

	FILE *f = fopen(path, "wb");
	if (f == NULL || fwrite(data, 1, size, f) != size || fclose(f) != 0)
		fail("cannot write the config file");
	if (cki_config_defaults(&cfg) != CK_OK)
		fail("cki_config_defaults");
	ck_err rv = cki_config_load(&cfg, 3, argv, sink, sink, &exit_now);
	if (rv != CK_OK && rv != CK_ECONFIG)
		fail("load returned neither CK_OK nor CK_ECONFIG");
	if (exit_now)
		fail("a config file asked the agent to exit");
	if (rv == CK_OK) {
		ck_err vr = cki_config_validate(&cfg, sink);
		if (vr != CK_OK && vr != CK_ECONFIG)
			fail("validate returned neither CK_OK nor CK_ECONFIG");
		cki_config_dump(&cfg, sink);
		/* The bounds of config.c's table rows. */
		if (cfg.timeout_ms > 600000 || cfg.max_deadline_ms > 3600000 ||
		    cfg.max_value_bytes > (512ull << 20) || cfg.socket_mode > 0777 ||
		    cfg.pool_size > 1000 || cfg.max_attempts > 3 || cfg.breaker_open_ms > 3600000)
			fail("a setting escaped its declared bound");
		if (cfg.config_file == NULL || strcmp(cfg.config_file, path) != 0)
			fail("config_file does not name the file that was loaded");
	}
	cki_config_free(&cfg);
	return 0;
}
