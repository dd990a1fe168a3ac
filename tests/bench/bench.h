/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ck-bench: round-trip latency and throughput of one operation, from N client processes at
 * once. A target is a pair of functions: open (per client process) and op (one timed call).
 * Every target is measured the same way, so the agent and its baselines share one table.
 */
#ifndef CK_BENCH_H
#define CK_BENCH_H

#include <stddef.h>
#include <stdint.h>

typedef struct bench_args {
	const char *target;
	const char *endpoint; /* agent endpoint, or the baseline's address */
	size_t value_size;
	int procs;
	int ops; /* per process */
	int warmup;
} bench_args;

typedef struct bench_target {
	const char *name;
	const char *what; /* one line for the table */
	/* Once, in the parent, before the clients start (e.g. store the value read back). */
	int (*prepare)(const bench_args *a);
	/* In each client process: returns a context, or NULL on failure. */
	void *(*open)(const bench_args *a);
	/* One timed operation; 0 on success. */
	int (*op)(void *ctx, const bench_args *a, int i);
	void (*close)(void *ctx);
} bench_target;

extern const bench_target bench_targets[];
extern const size_t bench_ntargets;

#endif
