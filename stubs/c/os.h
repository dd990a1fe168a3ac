/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The stub's one clock, one random source and one fork detector. Deadlines, near-cache lifetimes
 * and report intervals all read cki_stub_now_ns()/cki_stub_now_ms(); the request-id seed and the
 * near cache's SipHash key both come from cki_stub_random_bytes(). Nothing else in stubs/c calls
 * clock_gettime() or getrandom() itself. All three are thread-safe.
 */
#ifndef CKI_STUB_OS_H
#define CKI_STUB_OS_H

#include <stddef.h>
#include <stdint.h>

/* CLOCK_MONOTONIC in nanoseconds. clock_gettime() of this clock is a vDSO call on Linux (no
 * system call), which is what lets a near-cache hit check a copy's lifetime for free. */
int64_t cki_stub_now_ns(void);

/* The same clock in milliseconds: cki_stub_now_ns() / 1000000. */
int64_t cki_stub_now_ms(void);

/* Milliseconds from now until deadline_ms (a cki_stub_now_ms() time): 0 once it has passed,
 * at most INT_MAX, ready for poll(2) or a ZeroMQ timeout option. */
int cki_stub_ms_until(int64_t deadline_ms);

/* A number that changes in a child process after fork() (a pthread_atfork child handler,
 * registered by the first call): comparing it with the value read when an object was made
 * says whether this process made it, without getpid()'s system call on every request. */
unsigned cki_stub_fork_generation(void);

/* Fills buf with len bytes from getrandom(2), retrying on EINTR and short reads. Only if the
 * kernel refuses outright (no getrandom, a seccomp filter) are the missing bytes mixed from
 * the clocks, the pid and buf's address instead (see os.c): unpredictable to other processes
 * but not a CSPRNG. Never fails, so callers need no error path. For the request-id seed and
 * the near-cache SipHash key; the stub holds no secret that would need more. */
void cki_stub_random_bytes(void *buf, size_t len);

#endif
