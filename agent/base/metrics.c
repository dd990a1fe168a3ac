/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Counters, a few named gauges and per-operation latency histograms with power-of-two
 * microsecond buckets (1 us .. ~35 min): cheap to record on the hot path, exact enough for
 * p50/p99 in Stats. Process-wide state; the agent is single-threaded.
 */
#include "base/metrics.h"

#include <stdlib.h>
#include <string.h>

#define NBUCKETS   32
#define MAX_GAUGES 32

static const char *const counter_names[] = {
#define CKI_COUNTER_NAME_(id, name) name,
        CKI_COUNTERS(CKI_COUNTER_NAME_)
#undef CKI_COUNTER_NAME_
};

static const char *const op_names[CKI_OP_COUNT] = {
        "get",         "set",          "delete",       "exists", "get_ttl",
        "refresh_ttl", "acquire_lock", "release_lock", "health", "stats",
};

static uint64_t counters[CKI_C_COUNT];
static uint64_t hist[CKI_OP_COUNT][NBUCKETS];
static uint64_t hist_count[CKI_OP_COUNT];
static struct {
	char name[48];
	double value;
} gauges[MAX_GAUGES];
static size_t ngauges;

const char *
cki_op_name(cki_op op)
{
	return op < CKI_OP_COUNT ? op_names[op] : "unknown";
}

void
cki_metrics_inc(cki_counter c)
{
	counters[c]++;
}

void
cki_metrics_add(cki_counter c, uint64_t n)
{
	counters[c] += n;
}

uint64_t
cki_metrics_get(cki_counter c)
{
	return counters[c];
}

void
cki_metrics_set_gauge(const char *name, double v)
{
	for (size_t i = 0; i < ngauges; i++)
		if (strcmp(gauges[i].name, name) == 0) {
			gauges[i].value = v;
			return;
		}
	if (ngauges == MAX_GAUGES || strlen(name) >= sizeof(gauges[0].name))
		return;
	strcpy(gauges[ngauges].name, name);
	gauges[ngauges++].value = v;
}

void
cki_metrics_observe(cki_op op, uint64_t micros)
{
	unsigned b = 0;
	while (b + 1 < NBUCKETS && (1ull << b) < micros)
		b++;
	hist[op][b]++;
	hist_count[op]++;
}

uint64_t
cki_metrics_quantile(cki_op op, double q)
{
	if (hist_count[op] == 0)
		return 0;
	uint64_t rank = (uint64_t)(q * (double)hist_count[op]);
	if (rank >= hist_count[op])
		rank = hist_count[op] - 1;
	uint64_t seen = 0;
	for (unsigned b = 0; b < NBUCKETS; b++) {
		seen += hist[op][b];
		if (seen > rank)
			return 1ull << b;
	}
	return 1ull << (NBUCKETS - 1);
}

typedef struct named {
	char name[64];
	double value;
} named;

static int
cmp_named(const void *a, const void *b)
{
	return strcmp(((const named *)a)->name, ((const named *)b)->name);
}

void
cki_metrics_each(void (*emit)(void *ctx, const char *name, double v), void *ctx)
{
	named all[CKI_C_COUNT + MAX_GAUGES + CKI_OP_COUNT * 3];
	size_t n = 0;
	for (size_t i = 0; i < CKI_C_COUNT; i++) {
		snprintf(all[n].name, sizeof(all[n].name), "%.63s", counter_names[i]);
		all[n++].value = (double)counters[i];
	}
	for (size_t i = 0; i < ngauges; i++) {
		snprintf(all[n].name, sizeof(all[n].name), "%.47s", gauges[i].name);
		all[n++].value = gauges[i].value;
	}
	for (int op = 0; op < CKI_OP_COUNT; op++) {
		if (hist_count[op] == 0)
			continue;
		snprintf(all[n].name, sizeof(all[n].name), "latency_%s_count", op_names[op]);
		all[n++].value = (double)hist_count[op];
		snprintf(all[n].name, sizeof(all[n].name), "latency_%s_p50_us", op_names[op]);
		all[n++].value = (double)cki_metrics_quantile((cki_op)op, 0.50);
		snprintf(all[n].name, sizeof(all[n].name), "latency_%s_p99_us", op_names[op]);
		all[n++].value = (double)cki_metrics_quantile((cki_op)op, 0.99);
	}
	qsort(all, n, sizeof(all[0]), cmp_named);
	for (size_t i = 0; i < n; i++)
		emit(ctx, all[i].name, all[i].value);
}

void
cki_metrics_reset(void)
{
	memset(counters, 0, sizeof(counters));
	memset(hist, 0, sizeof(hist));
	memset(hist_count, 0, sizeof(hist_count));
	ngauges = 0;
}
