/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Counters, a few named gauges and per-operation latency histograms with power-of-two
 * microsecond buckets (1 us .. ~35 min): cheap to record on the hot path, exact enough for
 * p50/p99 in Stats. Process-wide state; the agent is single-threaded.
 */
#include "base/metrics.h"

#include <stdlib.h>
#include <string.h>

#include "cachekit/errors.h"

#define NBUCKETS   32
#define MAX_GAUGES 32
#define NSTATUS    64 /* wire statuses counted by number; larger ones are not counted */
#define PREFIX     "cachekit_agent_"

static const char *const counter_names[] = {
#define CKI_COUNTER_NAME_(id, name, help) name,
        CKI_COUNTERS(CKI_COUNTER_NAME_)
#undef CKI_COUNTER_NAME_
};

static const char *const op_names[CKI_OP_COUNT] = {
        "get",          "set",          "delete", "exists", "get_ttl",    "refresh_ttl",
        "acquire_lock", "release_lock", "health", "stats",  "renew_lock",
};

static uint64_t counters[CKI_C_COUNT];
static uint64_t hist[CKI_OP_COUNT][NBUCKETS];
static uint64_t hist_count[CKI_OP_COUNT];
static uint64_t hist_sum_us[CKI_OP_COUNT];
static uint64_t up_hist[NBUCKETS];
static uint64_t up_count;
static uint64_t up_sum_us;
static uint64_t by_status[CKI_OP_COUNT][NSTATUS];

static const char *const counter_help[] = {
#define CKI_COUNTER_HELP_(id, name, help) help,
        CKI_COUNTERS(CKI_COUNTER_HELP_)
#undef CKI_COUNTER_HELP_
};
static struct {
	char name[48];
	double value;
	double (*fn)(void *arg); /* NULL: value is set by cki_metrics_set_gauge */
	void *arg;
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

void
cki_metrics_add_sat(cki_counter c, uint64_t n)
{
	counters[c] = n > UINT64_MAX - counters[c] ? UINT64_MAX : counters[c] + n;
}

uint64_t
cki_metrics_get(cki_counter c)
{
	return counters[c];
}

/* The slot of gauge name, added when missing; MAX_GAUGES when the table is full. */
static size_t
gauge_slot(const char *name)
{
	for (size_t i = 0; i < ngauges; i++)
		if (strcmp(gauges[i].name, name) == 0)
			return i;
	if (ngauges == MAX_GAUGES || strlen(name) >= sizeof(gauges[0].name))
		return MAX_GAUGES;
	strcpy(gauges[ngauges].name, name);
	gauges[ngauges].value = 0;
	gauges[ngauges].fn = NULL;
	return ngauges++;
}

void
cki_metrics_set_gauge(const char *name, double v)
{
	size_t i = gauge_slot(name);
	if (i < MAX_GAUGES)
		gauges[i].value = v;
}

void
cki_metrics_gauge_fn(const char *name, double (*fn)(void *arg), void *arg)
{
	size_t i = gauge_slot(name);
	if (i == MAX_GAUGES)
		return;
	if (fn == NULL && gauges[i].arg != arg)
		return; /* someone else's by now */
	if (fn == NULL && gauges[i].fn != NULL)
		gauges[i].value = gauges[i].fn(gauges[i].arg);
	gauges[i].fn = fn;
	gauges[i].arg = arg;
}

/* Reads the gauges that are functions. */
static void
refresh_gauges(void)
{
	for (size_t i = 0; i < ngauges; i++)
		if (gauges[i].fn != NULL)
			gauges[i].value = gauges[i].fn(gauges[i].arg);
}

static unsigned
bucket_of(uint64_t micros)
{
	unsigned b = 0;
	while (b + 1 < NBUCKETS && (1ull << b) < micros)
		b++;
	return b;
}

void
cki_metrics_observe(cki_op op, uint64_t micros)
{
	hist[op][bucket_of(micros)]++;
	hist_count[op]++;
	hist_sum_us[op] += micros;
}

void
cki_metrics_request(cki_op op, int status)
{
	if (op < CKI_OP_COUNT && status >= 0 && status < NSTATUS)
		by_status[op][status]++;
}

void
cki_metrics_observe_upstream(uint64_t micros)
{
	up_hist[bucket_of(micros)]++;
	up_count++;
	up_sum_us += micros;
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
	refresh_gauges();
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
	memset(hist_sum_us, 0, sizeof(hist_sum_us));
	memset(up_hist, 0, sizeof(up_hist));
	up_count = up_sum_us = 0;
	memset(by_status, 0, sizeof(by_status));
	ngauges = 0;
}

/* ---- Prometheus text format ------------------------------------------------------------- */

void
cki_metrics_prometheus_one(FILE *out, const char *name, const char *type, const char *help,
                           double v)
{
	fprintf(out, "# HELP " PREFIX "%s %s\n# TYPE " PREFIX "%s %s\n" PREFIX "%s %.17g\n", name,
	        help, name, type, name, v);
}

static const char *
gauge_help(const char *name)
{
	static const char *const helps[][2] = {
	        {"inflight_requests", "requests in progress"},
	        {"inflight_bytes", "value bytes of Sets in progress"},
	        {"locks_held", "locks the agent holds for its clients"},
	        {"l1_bytes", "bytes in the agent near cache"},
	        {"l1_entries", "entries in the agent near cache"},
	        {"refresh_tracked_keys", "keys tracked by the TTL refresh scheduler"},
	        {"peers", "clients connected to the agent socket"},
	        {"peer_queued_bytes", "reply bytes queued to clients and not yet taken by them"},
	        {"peer_queues", "per-client reply queues the agent keeps (connected clients with "
	                        "replies, and clients that left while libzmq still drops theirs)"},
	        {"reply_spare_bytes", "released large-reply buffers kept resident for reuse"},
	};
	for (size_t i = 0; i < sizeof(helps) / sizeof(helps[0]); i++)
		if (strcmp(helps[i][0], name) == 0)
			return helps[i][1];
	return "agent gauge";
}

/* "ok", "enotfound"...: ck_errname without "CK_", lower case. */
static void
status_label(int status, char *buf, size_t cap)
{
	const char *n = ck_errname(status);
	if (n == NULL) {
		snprintf(buf, cap, "%d", status);
		return;
	}
	if (strncmp(n, "CK_", 3) == 0)
		n += 3;
	size_t i = 0;
	for (; n[i] != '\0' && i + 1 < cap; i++)
		buf[i] = (char)(n[i] >= 'A' && n[i] <= 'Z' ? n[i] - 'A' + 'a' : n[i]);
	buf[i] = '\0';
}

/* Buckets as le = 2^b microseconds for b = 4, 6, ... 24 (16 us .. 16.8 s), then +Inf: the
 * power-of-two histogram is exact at these bounds. */
static void
write_buckets(FILE *out, const char *name, const char *labels, const uint64_t *h, uint64_t count,
              uint64_t sum_us)
{
	uint64_t cum = 0;
	unsigned b = 0;
	for (unsigned bound = 4; bound <= 24; bound += 2) {
		for (; b <= bound; b++)
			cum += h[b];
		fprintf(out, PREFIX "%s_bucket{%s%sle=\"%.9g\"} %llu\n", name, labels,
		        labels[0] ? "," : "", (double)(1ull << bound) / 1e6,
		        (unsigned long long)cum);
	}
	fprintf(out, PREFIX "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, labels[0] ? "," : "",
	        (unsigned long long)count);
	fprintf(out, PREFIX "%s_sum%s%s%s %.9g\n", name, labels[0] ? "{" : "", labels,
	        labels[0] ? "}" : "", (double)sum_us / 1e6);
	fprintf(out, PREFIX "%s_count%s%s%s %llu\n", name, labels[0] ? "{" : "", labels,
	        labels[0] ? "}" : "", (unsigned long long)count);
}

void
cki_metrics_prometheus(FILE *out)
{
	for (size_t i = 0; i < CKI_C_COUNT; i++) {
		/* The plain socket count would collide with requests_total{op,status}. */
		const char *name =
		        i == CKI_C_REQUESTS ? "messages_received_total" : counter_names[i];
		cki_metrics_prometheus_one(out, name, "counter", counter_help[i],
		                           (double)counters[i]);
	}
	refresh_gauges();
	for (size_t i = 0; i < ngauges; i++)
		cki_metrics_prometheus_one(out, gauges[i].name, "gauge", gauge_help(gauges[i].name),
		                           gauges[i].value);

	fprintf(out, "# HELP " PREFIX "requests_total requests answered, by operation and status\n"
	             "# TYPE " PREFIX "requests_total counter\n");
	for (int op = 0; op < CKI_OP_COUNT; op++)
		for (int st = 0; st < NSTATUS; st++) {
			if (by_status[op][st] == 0)
				continue;
			char label[32];
			status_label(st, label, sizeof(label));
			fprintf(out, PREFIX "requests_total{op=\"%s\",status=\"%s\"} %llu\n",
			        op_names[op], label, (unsigned long long)by_status[op][st]);
		}

	fprintf(out, "# HELP " PREFIX "request_duration_seconds time from request received to "
	             "reply sent, by operation\n"
	             "# TYPE " PREFIX "request_duration_seconds histogram\n");
	for (int op = 0; op < CKI_OP_COUNT; op++) {
		if (hist_count[op] == 0)
			continue;
		char labels[32];
		snprintf(labels, sizeof(labels), "op=\"%s\"", op_names[op]);
		write_buckets(out, "request_duration_seconds", labels, hist[op], hist_count[op],
		              hist_sum_us[op]);
	}
	fprintf(out, "# HELP " PREFIX "upstream_attempt_duration_seconds one HTTP attempt to the "
	             "upstream API, retries counted separately\n"
	             "# TYPE " PREFIX "upstream_attempt_duration_seconds histogram\n");
	write_buckets(out, "upstream_attempt_duration_seconds", "", up_hist, up_count, up_sum_us);
}
