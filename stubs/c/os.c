/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The stub's one clock, one random source and one fork detector (see os.h): CLOCK_MONOTONIC for
 * every deadline and lifetime, a pthread_atfork generation for "am I the process that made
 * this", getrandom(2) for every random byte, and the last-resort mix used only when the
 * kernel will not give random bytes at all.
 */
#include "os.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sys/random.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

int64_t
cki_stub_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts); /* vDSO: no system call */
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t
cki_stub_now_ms(void)
{
	return cki_stub_now_ns() / 1000000;
}

int
cki_stub_ms_until(int64_t deadline_ms)
{
	int64_t left = deadline_ms - cki_stub_now_ms();
	if (left <= 0)
		return 0;
	return left > INT_MAX ? INT_MAX : (int)left;
}

static unsigned fork_generation;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void
on_fork_child(void)
{
	__atomic_add_fetch(&fork_generation, 1, __ATOMIC_RELAXED);
}

static void
register_atfork(void)
{
	pthread_atfork(NULL, NULL, on_fork_child);
}

unsigned
cki_stub_fork_generation(void)
{
	pthread_once(&atfork_once, register_atfork);
	return __atomic_load_n(&fork_generation, __ATOMIC_RELAXED);
}

/* splitmix64's output function: every input bit reaches every output bit. */
static uint64_t
mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/*
 * The last resort, for a kernel without getrandom (before 3.17) or a sandbox that denies it.
 * Its two users need values nobody outside this process can predict, not secrets: the
 * request-id seed only has to make ids unlikely to repeat, and the near cache's SipHash key
 * only has to stop whoever picks the cache keys from aiming them all at one hash bucket,
 * which takes knowing the key (a full 128-bit collision is out of reach either way). Clocks
 * read to the nanosecond, the pid and an ASLR'd address are not guessable from outside to
 * that degree; the counter keeps two fills within one clock tick apart.
 */
static void
fallback_fill(unsigned char *p, size_t len)
{
	static uint64_t calls;
	struct timespec rt;
	uint64_t s, x;

	clock_gettime(CLOCK_REALTIME, &rt);
	s = mix64((uint64_t)cki_stub_now_ns());
	s = mix64(s ^ ((uint64_t)rt.tv_sec * 1000000000 + (uint64_t)rt.tv_nsec));
	s = mix64(s ^ (uint64_t)getpid());
	s = mix64(s ^ (uint64_t)(uintptr_t)p);
	s = mix64(s ^ __atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED));
	while (len > 0) {
		size_t n = len < sizeof(x) ? len : sizeof(x);
		s += UINT64_C(0x9e3779b97f4a7c15); /* splitmix64's step */
		x = mix64(s);
		for (size_t i = 0; i < n; i++)
			p[i] = (unsigned char)(x >> (8 * i));
		p += n;
		len -= n;
	}
}

void
cki_stub_random_bytes(void *buf, size_t len)
{
	unsigned char *p = buf;

	/* flags 0: the urandom pool, which only blocks until the kernel first seeds it at boot. */
	while (len > 0) {
		ssize_t n = getrandom(p, len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		p += n;
		len -= (size_t)n;
	}
	if (len > 0)
		fallback_fill(p, len);
}
