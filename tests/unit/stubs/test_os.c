/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for stubs/c/os.c, the C stub's one clock and one random source: the monotonic clock
 * never goes backwards and its two units agree; cki_stub_random_bytes writes every byte it was
 * asked for and nothing past them, retries getrandom(2) after EINTR and short reads, and
 * falls back to its clock mix only when getrandom fails outright; the fork generation stays put
 * in a process and differs in a child made by fork(). The binary is linked with
 * -Wl,--wrap=getrandom so __wrap_getrandom below can script the kernel's answers; by default
 * it passes every call through to the real one.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cunit_main.h"
#include "os.h"

#define GUARD 0xa5
#define SPINS 200000

ssize_t __real_getrandom(void *buf, size_t len, unsigned flags);
ssize_t __wrap_getrandom(void *buf, size_t len, unsigned flags);

/* The script: fail the first eintr calls with EINTR, then hand out at most short_max bytes a
 * call (0: no cap) of a counting pattern, or fail for good with fail_errno. All zero: real. */
static struct {
	int eintr;
	size_t short_max;
	int fail_errno;
	size_t fail_after; /* bytes handed out before fail_errno applies */
	unsigned calls;
	unsigned flags_seen;
	uint8_t next; /* next byte of the counting pattern */
	size_t given;
} fake;

ssize_t
__wrap_getrandom(void *buf, size_t len, unsigned flags)
{
	uint8_t *p = buf;

	fake.calls++;
	fake.flags_seen |= flags;
	if (fake.eintr > 0) {
		fake.eintr--;
		errno = EINTR;
		return -1;
	}
	if (fake.fail_errno != 0 && fake.given >= fake.fail_after) {
		errno = fake.fail_errno;
		return -1;
	}
	if (fake.short_max == 0 && fake.fail_errno == 0)
		return __real_getrandom(buf, len, flags);
	if (fake.short_max != 0 && len > fake.short_max)
		len = fake.short_max;
	if (fake.fail_errno != 0 && len > fake.fail_after - fake.given)
		len = fake.fail_after - fake.given;
	for (size_t i = 0; i < len; i++)
		p[i] = fake.next++;
	fake.given += len;
	return (ssize_t)len;
}

static void
fake_reset(void)
{
	memset(&fake, 0, sizeof(fake));
}

static void
test_monotonic_clock_never_goes_back(void)
{
	int64_t prev = cki_stub_now_ns();

	CU_ASSERT_TRUE(prev > 0);
	for (int i = 0; i < SPINS; i++) {
		int64_t t = cki_stub_now_ns();
		if (t < prev) {
			CU_FAIL("cki_stub_now_ns went backwards");
			break;
		}
		prev = t;
	}
}

static void
test_milliseconds_agree_with_nanoseconds(void)
{
	int64_t prev_ms = cki_stub_now_ms();

	for (int i = 0; i < SPINS; i++) {
		int64_t before = cki_stub_now_ns();
		int64_t ms = cki_stub_now_ms();
		int64_t after = cki_stub_now_ns();
		if (ms < before / 1000000 || ms > after / 1000000 || ms < prev_ms) {
			CU_FAIL("cki_stub_now_ms is not cki_stub_now_ns / 1000000 of the same "
			        "clock");
			break;
		}
		prev_ms = ms;
	}
}

/* Every length: each byte is written (over a few fills none stays at the guard value, which
 * one fill leaves in place with chance 1/256), and the byte after the buffer never is. */
static void
test_fills_exactly_the_length_asked(void)
{
	static const size_t lens[] = {0, 1, 7, 8, 33, 4096};
	static uint8_t buf[4096 + 1];
	static uint8_t changed[4096];

	fake_reset();
	cki_stub_random_bytes(NULL, 0);
	CU_ASSERT_EQUAL(fake.calls, 0); /* nothing to fill, no system call */
	for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
		size_t len = lens[l];
		memset(changed, 0, sizeof(changed));
		for (int round = 0; round < 16; round++) {
			memset(buf, GUARD, sizeof(buf));
			cki_stub_random_bytes(buf, len);
			CU_ASSERT_EQUAL_FATAL(buf[len], GUARD);
			for (size_t i = 0; i < len; i++)
				changed[i] |= buf[i] != GUARD;
		}
		for (size_t i = 0; i < len; i++)
			CU_ASSERT_TRUE_FATAL(changed[i]);
	}
	CU_ASSERT_EQUAL(fake.flags_seen, 0); /* flags 0: the urandom pool, may block at boot */
}

static void
test_two_fills_differ_and_4096_is_not_zeros(void)
{
	static uint8_t big[4096], zeros[4096];
	uint8_t a[32], b[32];

	fake_reset();
	cki_stub_random_bytes(a, sizeof(a));
	cki_stub_random_bytes(b, sizeof(b));
	CU_ASSERT_NOT_EQUAL(memcmp(a, b, sizeof(a)), 0);
	cki_stub_random_bytes(big, sizeof(big));
	CU_ASSERT_NOT_EQUAL(memcmp(big, zeros, sizeof(big)), 0);
}

static void
test_retries_after_eintr(void)
{
	uint8_t buf[16];

	fake_reset();
	fake.eintr = 2;
	fake.short_max = sizeof(buf);
	cki_stub_random_bytes(buf, sizeof(buf));
	CU_ASSERT_EQUAL(fake.calls, 3);
	for (size_t i = 0; i < sizeof(buf); i++)
		CU_ASSERT_EQUAL(buf[i], i); /* the kernel's bytes, not the fallback's */
	fake_reset();
}

static void
test_short_reads_continue_where_they_stopped(void)
{
	uint8_t buf[33 + 1];

	fake_reset();
	fake.short_max = 5;
	memset(buf, GUARD, sizeof(buf));
	cki_stub_random_bytes(buf, 33);
	CU_ASSERT_EQUAL(fake.calls, 7); /* 6 x 5 + 3 */
	for (size_t i = 0; i < 33; i++)
		CU_ASSERT_EQUAL(buf[i], i);
	CU_ASSERT_EQUAL(buf[33], GUARD);
	fake_reset();
}

static void
test_no_getrandom_falls_back_to_the_clock_mix(void)
{
	static uint8_t zeros[64];
	uint8_t a[64 + 1], b[64];

	fake_reset();
	fake.fail_errno = ENOSYS;
	memset(a, GUARD, sizeof(a));
	cki_stub_random_bytes(a, 64);
	cki_stub_random_bytes(b, sizeof(b));
	CU_ASSERT_EQUAL(fake.calls, 2); /* one refusal each, no retry loop */
	CU_ASSERT_EQUAL(a[64], GUARD);
	CU_ASSERT_NOT_EQUAL(memcmp(a, zeros, 64), 0);
	CU_ASSERT_NOT_EQUAL(memcmp(a, b, 64), 0); /* the call counter keeps them apart */
	fake_reset();
}

static void
test_failure_midway_keeps_the_kernel_bytes(void)
{
	uint8_t buf[32], fallback_part[32 - 10];

	fake_reset();
	fake.short_max = 4;
	fake.fail_errno = EAGAIN;
	fake.fail_after = 10;
	cki_stub_random_bytes(buf, sizeof(buf));
	for (size_t i = 0; i < 10; i++)
		CU_ASSERT_EQUAL(buf[i], i);
	memset(fallback_part, 0, sizeof(fallback_part));
	CU_ASSERT_NOT_EQUAL(memcmp(buf + 10, fallback_part, sizeof(fallback_part)), 0);
	fake_reset();
}

static void
test_fork_generation_changes_only_in_a_child(void)
{
	unsigned g = cki_stub_fork_generation();
	CU_ASSERT_EQUAL(cki_stub_fork_generation(), g);
	int p[2];
	CU_ASSERT_EQUAL_FATAL(pipe(p), 0);
	pid_t pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		unsigned child = cki_stub_fork_generation();
		_exit(write(p[1], &child, sizeof(child)) == sizeof(child) ? 0 : 1);
	}
	unsigned child = g;
	CU_ASSERT_EQUAL(read(p[0], &child, sizeof(child)), (ssize_t)sizeof(child));
	int st = 0;
	CU_ASSERT_EQUAL(waitpid(pid, &st, 0), pid);
	CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CU_ASSERT_NOT_EQUAL(child, g);
	CU_ASSERT_EQUAL(cki_stub_fork_generation(), g); /* the parent's stays */
	close(p[0]);
	close(p[1]);
}

/* The time left until a deadline, as poll(2) takes it: 0 once past, clamped to INT_MAX. */
static void
test_ms_until_a_deadline_is_clamped(void)
{
	int64_t now = cki_stub_now_ms();
	CU_ASSERT_EQUAL(cki_stub_ms_until(now - 5), 0);
	CU_ASSERT_EQUAL(cki_stub_ms_until(INT64_MIN / 2), 0);
	int left = cki_stub_ms_until(now + 100000);
	CU_ASSERT(left > 0 && left <= 100000);
	CU_ASSERT_EQUAL(cki_stub_ms_until(INT64_MAX / 2), INT_MAX);
}

static CU_TestInfo tests[] = {
        {"the fork generation changes only in a child",
         test_fork_generation_changes_only_in_a_child},
        {"the monotonic clock never goes back", test_monotonic_clock_never_goes_back},
        {"milliseconds agree with nanoseconds", test_milliseconds_agree_with_nanoseconds},
        {"milliseconds until a deadline are clamped", test_ms_until_a_deadline_is_clamped},
        {"fills exactly the length asked", test_fills_exactly_the_length_asked},
        {"two fills differ, 4096 bytes are not zeros", test_two_fills_differ_and_4096_is_not_zeros},
        {"retries after EINTR", test_retries_after_eintr},
        {"short reads continue where they stopped", test_short_reads_continue_where_they_stopped},
        {"no getrandom falls back to the clock mix", test_no_getrandom_falls_back_to_the_clock_mix},
        {"a failure midway keeps the kernel's bytes", test_failure_midway_keeps_the_kernel_bytes},
        CU_TEST_INFO_NULL,
};

CK_UNIT_SUITE("stub_os", tests)
