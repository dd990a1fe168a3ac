/* SPDX-License-Identifier: Apache-2.0 */
/* Logging: the per-site rate limiter keeps a flood of peer-caused lines to a few lines plus
 * an exact "(N similar suppressed)" count. stderr is redirected to a temporary file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "cunit_main.h"

typedef struct captured {
	int saved_fd;
	FILE *f;
} captured;

static void
capture_start(captured *c)
{
	c->f = tmpfile();
	CU_ASSERT_PTR_NOT_NULL_FATAL(c->f);
	fflush(stderr);
	c->saved_fd = dup(STDERR_FILENO);
	CU_ASSERT_FATAL(c->saved_fd >= 0);
	CU_ASSERT_FATAL(dup2(fileno(c->f), STDERR_FILENO) >= 0);
}

/* Stops capturing; counts the lines printed for calls containing needle (not the flush
 * lines) and sums every suppressed count. */
static unsigned
capture_end(captured *c, const char *needle, unsigned long *suppressed)
{
	dup2(c->saved_fd, STDERR_FILENO);
	close(c->saved_fd);
	rewind(c->f);
	char line[1200];
	unsigned n = 0;
	*suppressed = 0;
	while (fgets(line, sizeof(line), c->f) != NULL) {
		if (strstr(line, needle) == NULL)
			continue;
		const char *p = strstr(line, "similar suppressed)");
		if (p == NULL) {
			n++;
			continue;
		}
		while (p > line && *p != '(')
			p--;
		unsigned long k;
		if (sscanf(p, "(%lu similar suppressed)", &k) == 1)
			*suppressed += k;
		if (strstr(line, "suppressed) last: ") == NULL)
			n++; /* a line for a call, carrying the count before it */
	}
	fclose(c->f);
	return n;
}

static void
flood(unsigned times)
{
	for (unsigned i = 0; i < times; i++)
		cki_log_warn_rl("refused request %u from pid 7", i);
}

static void
test_flood_gives_a_burst_and_an_exact_suppressed_count(void)
{
	captured c;
	capture_start(&c);
	flood(20000);
	cki_log_ratelimit_flush();
	unsigned long suppressed;
	unsigned lines = capture_end(&c, "refused request", &suppressed);
	/* The burst (more if a slow machine crosses windows); every call is a line or counted. */
	CU_ASSERT(lines >= CKI_LOG_RL_BURST);
	CU_ASSERT(lines <= 4 * CKI_LOG_RL_BURST);
	CU_ASSERT_EQUAL(suppressed + lines, 20000);
}

static void
test_flush_without_suppressed_lines_prints_nothing(void)
{
	captured c;
	capture_start(&c);
	cki_log_ratelimit_flush();
	cki_log_warn_rl("one quiet line");
	cki_log_ratelimit_flush();
	unsigned long suppressed;
	CU_ASSERT_EQUAL(capture_end(&c, "quiet line", &suppressed), 1);
	CU_ASSERT_EQUAL(suppressed, 0);
}

static void
test_lines_below_the_level_are_not_counted(void)
{
	captured c;
	capture_start(&c);
	cki_log_set_level(CKI_LOG_ERROR);
	flood(100);
	cki_log_ratelimit_flush();
	cki_log_set_level(CKI_LOG_INFO);
	unsigned long suppressed;
	CU_ASSERT_EQUAL(capture_end(&c, "refused request", &suppressed), 0);
}

static CU_TestInfo tests[] = {
        {"a flood gives a burst and an exact suppressed count",
         test_flood_gives_a_burst_and_an_exact_suppressed_count},
        {"flush without suppressed lines prints nothing",
         test_flush_without_suppressed_lines_prints_nothing},
        {"lines below the level are not counted", test_lines_below_the_level_are_not_counted},
        CU_TEST_INFO_NULL,
};

CK_UNIT_SUITE("log", tests)
