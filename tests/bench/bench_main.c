/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Runs one target with N client processes and prints one table row: ops/s over the whole
 * run and the latency percentiles of every timed call. Children start together (a pipe is
 * the starting gun) and write their samples into one shared mapping.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

static uint64_t
now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: ck-bench --target NAME [--endpoint E] [--size BYTES] [--procs N] "
	           "[--ops N] [--warmup N] [--header]\n\ntargets:\n");
	for (size_t i = 0; i < bench_ntargets; i++)
		fprintf(f, "  %-18s %s\n", bench_targets[i].name, bench_targets[i].what);
}

#define MAX_PROCS 256 /* 200 one-request processes, 100 on a hot key */

typedef struct shared {
	uint64_t start_ns[MAX_PROCS], end_ns[MAX_PROCS];
	int failures[MAX_PROCS];
	uint32_t samples[]; /* procs * ops, microseconds x 10 (0.1 us resolution) */
} shared;

int
main(int argc, char **argv)
{
	bench_args a = {.value_size = 64, .procs = 1, .ops = 20000, .warmup = 500};
	int header = 0;
	for (int i = 1; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(argv[i], "--target") == 0 && v)
			a.target = argv[++i];
		else if (strcmp(argv[i], "--endpoint") == 0 && v)
			a.endpoint = argv[++i];
		else if (strcmp(argv[i], "--size") == 0 && v)
			a.value_size = strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--procs") == 0 && v)
			a.procs = atoi(argv[++i]);
		else if (strcmp(argv[i], "--ops") == 0 && v)
			a.ops = atoi(argv[++i]);
		else if (strcmp(argv[i], "--warmup") == 0 && v)
			a.warmup = atoi(argv[++i]);
		else if (strcmp(argv[i], "--header") == 0)
			header = 1;
		else if (strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (header) {
		printf("| target | value | procs | ops/s | p50 us | p99 us | max us |\n");
		printf("|---|---:|---:|---:|---:|---:|---:|\n");
		if (a.target == NULL)
			return 0;
	}
	const bench_target *t = NULL;
	for (size_t i = 0; a.target && i < bench_ntargets; i++)
		if (strcmp(bench_targets[i].name, a.target) == 0)
			t = &bench_targets[i];
	if (t == NULL || a.procs < 1 || a.procs > MAX_PROCS || a.ops < 1) {
		usage(stderr);
		return 2;
	}
	if (t->prepare && t->prepare(&a) != 0) {
		fprintf(stderr, "ck-bench: %s: prepare failed\n", t->name);
		return 1;
	}
	size_t nsamples = (size_t)a.procs * (size_t)a.ops;
	size_t maplen = sizeof(shared) + nsamples * sizeof(uint32_t);
	shared *sh = mmap(NULL, maplen, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		return 1;
	int gun[2];
	if (pipe(gun) != 0)
		return 1;
	for (int p = 0; p < a.procs; p++) {
		pid_t pid = fork();
		if (pid < 0)
			return 1;
		if (pid > 0)
			continue;
		close(gun[1]);
		void *ctx = t->open(&a);
		if (ctx == NULL)
			_exit(3);
		for (int i = 0; i < a.warmup; i++)
			t->op(ctx, &a, i);
		char c;
		if (read(gun[0], &c, 1) < 0)
			_exit(4);
		uint32_t *mine = sh->samples + (size_t)p * a.ops;
		sh->start_ns[p] = now_ns();
		for (int i = 0; i < a.ops; i++) {
			uint64_t t0 = now_ns();
			if (t->op(ctx, &a, i) != 0)
				sh->failures[p]++;
			uint64_t dt = (now_ns() - t0) / 100;
			mine[i] = dt > UINT32_MAX ? UINT32_MAX : (uint32_t)dt;
		}
		sh->end_ns[p] = now_ns();
		t->close(ctx);
		_exit(0);
	}
	close(gun[0]);
	usleep(300000); /* let every client connect and warm up */
	close(gun[1]);  /* EOF releases all readers at once */
	int bad = 0;
	for (int p = 0; p < a.procs; p++) {
		int st;
		if (wait(&st) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			bad++;
	}
	uint64_t first = UINT64_MAX, last = 0;
	int failures = 0;
	for (int p = 0; p < a.procs; p++) {
		if (sh->start_ns[p] && sh->start_ns[p] < first)
			first = sh->start_ns[p];
		if (sh->end_ns[p] > last)
			last = sh->end_ns[p];
		failures += sh->failures[p];
	}
	if (bad || last <= first) {
		fprintf(stderr, "ck-bench: %s: %d client(s) failed\n", t->name, bad);
		return 1;
	}
	qsort(sh->samples, nsamples, sizeof(uint32_t), cmp_u32);
	double secs = (double)(last - first) / 1e9;
	char size[32];
	if (a.value_size >= 1 << 20)
		snprintf(size, sizeof(size), "%zu MiB", a.value_size >> 20);
	else if (a.value_size >= 1024)
		snprintf(size, sizeof(size), "%zu KiB", a.value_size >> 10);
	else
		snprintf(size, sizeof(size), "%zu B", a.value_size);
	printf("| %s | %s | %d | %.0f | %.1f | %.1f | %.1f |\n", t->name, size, a.procs,
	       (double)nsamples / secs, sh->samples[nsamples / 2] / 10.0,
	       sh->samples[(size_t)((double)nsamples * 0.99)] / 10.0,
	       sh->samples[nsamples - 1] / 10.0);
	if (failures) {
		fprintf(stderr, "ck-bench: %s: %d operations failed\n", t->name, failures);
		return 1;
	}
	return 0;
}
