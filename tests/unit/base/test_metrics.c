/* SPDX-License-Identifier: Apache-2.0 */
/* Counters, gauges, latency quantiles from the power-of-two histogram, the sorted listing,
 * and reset. */
#define _GNU_SOURCE /* open_memstream */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cunit_main.h"
#include "base/metrics.h"

/* Everything cki_metrics_each emitted, in order. */
typedef struct listing {
	char names[256][64];
	double values[256];
	size_t n;
} listing;

static void
collect(void *ctx, const char *name, double v)
{
	listing *l = ctx;
	if (l->n == 256)
		return;
	snprintf(l->names[l->n], sizeof(l->names[0]), "%s", name);
	l->values[l->n++] = v;
}

/* Value of name in the listing, or NAN when absent. */
static double
lookup(const listing *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->names[i], name) == 0)
			return l->values[i];
	return NAN;
}

static listing *
take_listing(void)
{
	listing *l = calloc(1, sizeof(*l));
	CU_ASSERT_PTR_NOT_NULL_FATAL(l);
	cki_metrics_each(collect, l);
	return l;
}

static void
test_counters_count(void)
{
	cki_metrics_reset();
	cki_metrics_inc(CKI_C_REQUESTS);
	cki_metrics_inc(CKI_C_REQUESTS);
	cki_metrics_add(CKI_C_REQUESTS, 40);
	cki_metrics_inc(CKI_C_GET_HITS);
	CU_ASSERT_EQUAL(cki_metrics_get(CKI_C_REQUESTS), 42);
	CU_ASSERT_EQUAL(cki_metrics_get(CKI_C_GET_HITS), 1);
	CU_ASSERT_EQUAL(cki_metrics_get(CKI_C_GET_MISSES), 0);
	listing *l = take_listing();
	CU_ASSERT_DOUBLE_EQUAL(lookup(l, "requests_total"), 42.0, 0.0);
	CU_ASSERT_DOUBLE_EQUAL(lookup(l, "get_hits_total"), 1.0, 0.0);
	CU_ASSERT_DOUBLE_EQUAL(lookup(l, "locks_released_on_holder_death_total"), 0.0, 0.0);
	free(l);
}

static void
test_gauge_is_replaced_not_added(void)
{
	cki_metrics_reset();
	cki_metrics_set_gauge("inflight_requests", 3);
	cki_metrics_set_gauge("inflight_requests", 1.5);
	listing *l = take_listing();
	CU_ASSERT_DOUBLE_EQUAL(lookup(l, "inflight_requests"), 1.5, 0.0);
	size_t seen = 0;
	for (size_t i = 0; i < l->n; i++)
		seen += strcmp(l->names[i], "inflight_requests") == 0;
	CU_ASSERT_EQUAL(seen, 1);
	free(l);
}

static double
read_counter(void *arg)
{
	return (double)*(const int *)arg;
}

static void
test_a_gauge_function_is_read_when_reported(void)
{
	cki_metrics_reset();
	int v = 7, other = 99;
	cki_metrics_gauge_fn("peers", read_counter, &v);
	listing *l = take_listing();
	CU_ASSERT_DOUBLE_EQUAL(lookup(l, "peers"), 7.0, 0.0);
	free(l);
	v = 3;
	l = take_listing();
	CU_ASSERT_DOUBLE_EQUAL(lookup(l, "peers"), 3.0, 0.0);
	free(l);
	/* Only its owner turns it off; it keeps the last value read. */
	cki_metrics_gauge_fn("peers", NULL, &other);
	v = 4;
	l = take_listing();
	CU_ASSERT_DOUBLE_EQUAL(lookup(l, "peers"), 4.0, 0.0);
	free(l);
	cki_metrics_gauge_fn("peers", NULL, &v);
	v = 5;
	l = take_listing();
	CU_ASSERT_DOUBLE_EQUAL(lookup(l, "peers"), 4.0, 0.0);
	free(l);
	cki_metrics_reset();
}

static void
test_gauges_are_capped(void)
{
	cki_metrics_reset();
	listing *before = take_listing();
	size_t base = before->n;
	free(before);
	char name[64];
	for (int i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "gauge_%02d", i);
		cki_metrics_set_gauge(name, i);
	}
	listing *l = take_listing();
	CU_ASSERT_EQUAL(l->n, base + 32);
	CU_ASSERT_DOUBLE_EQUAL(lookup(l, "gauge_31"), 31.0, 0.0);
	CU_ASSERT(isnan(lookup(l, "gauge_32")));
	/* Once full, existing gauges still update. */
	cki_metrics_set_gauge("gauge_05", 500);
	free(l);
	l = take_listing();
	CU_ASSERT_DOUBLE_EQUAL(lookup(l, "gauge_05"), 500.0, 0.0);
	free(l);

	/* A name that does not fit the table's slot is dropped, not truncated. */
	cki_metrics_reset();
	char long_name[80];
	memset(long_name, 'g', 60);
	long_name[60] = '\0';
	cki_metrics_set_gauge(long_name, 1);
	l = take_listing();
	CU_ASSERT_EQUAL(l->n, base);
	free(l);
}

static void
test_quantiles_of_a_known_distribution(void)
{
	cki_metrics_reset();
	CU_ASSERT_EQUAL(cki_metrics_quantile(CKI_OP_GET, 0.5), 0); /* no samples */
	for (int i = 0; i < 90; i++)
		cki_metrics_observe(CKI_OP_GET, 10); /* bucket (8, 16] */
	for (int i = 0; i < 10; i++)
		cki_metrics_observe(CKI_OP_GET, 1000); /* bucket (512, 1024] */
	CU_ASSERT_EQUAL(cki_metrics_quantile(CKI_OP_GET, 0.0), 16);
	CU_ASSERT_EQUAL(cki_metrics_quantile(CKI_OP_GET, 0.5), 16);
	CU_ASSERT_EQUAL(cki_metrics_quantile(CKI_OP_GET, 0.89), 16);
	CU_ASSERT_EQUAL(cki_metrics_quantile(CKI_OP_GET, 0.90), 1024);
	CU_ASSERT_EQUAL(cki_metrics_quantile(CKI_OP_GET, 0.99), 1024);
	CU_ASSERT_EQUAL(cki_metrics_quantile(CKI_OP_GET, 1.0), 1024);
	/* Other operations keep their own histogram. */
	CU_ASSERT_EQUAL(cki_metrics_quantile(CKI_OP_SET, 0.5), 0);
}

static void
test_bucket_bounds_are_powers_of_two(void)
{
	cki_metrics_reset();
	cki_metrics_observe(CKI_OP_SET, 16); /* exactly a bound: that bucket */
	CU_ASSERT_EQUAL(cki_metrics_quantile(CKI_OP_SET, 0.5), 16);
	cki_metrics_reset();
	cki_metrics_observe(CKI_OP_SET, 17);
	CU_ASSERT_EQUAL(cki_metrics_quantile(CKI_OP_SET, 0.5), 32);
	cki_metrics_reset();
	cki_metrics_observe(CKI_OP_SET, 0);
	CU_ASSERT_EQUAL(cki_metrics_quantile(CKI_OP_SET, 0.5), 1);
	cki_metrics_reset();
	cki_metrics_observe(CKI_OP_SET, UINT64_MAX); /* lands in the last bucket */
	CU_ASSERT_EQUAL(cki_metrics_quantile(CKI_OP_SET, 0.5), 1ull << 31);
}

static void
test_each_is_sorted_by_name(void)
{
	cki_metrics_reset();
	cki_metrics_set_gauge("zz_last", 1);
	cki_metrics_set_gauge("aa_first", 2);
	cki_metrics_observe(CKI_OP_HEALTH, 100);
	cki_metrics_observe(CKI_OP_ACQUIRE_LOCK, 5);
	listing *l = take_listing();
	CU_ASSERT_FATAL(l->n > 4);
	CU_ASSERT_STRING_EQUAL(l->names[0], "aa_first");
	CU_ASSERT_STRING_EQUAL(l->names[l->n - 1], "zz_last");
	size_t unordered = 0;
	for (size_t i = 1; i < l->n; i++)
		if (strcmp(l->names[i - 1], l->names[i]) >= 0)
			unordered++;
	CU_ASSERT_EQUAL(unordered, 0);
	CU_ASSERT_DOUBLE_EQUAL(lookup(l, "latency_health_count"), 1.0, 0.0);
	CU_ASSERT_DOUBLE_EQUAL(lookup(l, "latency_health_p50_us"), 128.0, 0.0);
	CU_ASSERT_DOUBLE_EQUAL(lookup(l, "latency_health_p99_us"), 128.0, 0.0);
	CU_ASSERT_DOUBLE_EQUAL(lookup(l, "latency_acquire_lock_p50_us"), 8.0, 0.0);
	/* Operations without samples report no latency lines. */
	CU_ASSERT(isnan(lookup(l, "latency_get_count")));
	free(l);
}

static void
test_reset_clears_everything(void)
{
	cki_metrics_inc(CKI_C_ERRORS);
	cki_metrics_set_gauge("temp_gauge", 9);
	cki_metrics_observe(CKI_OP_STATS, 50);
	cki_metrics_reset();
	CU_ASSERT_EQUAL(cki_metrics_get(CKI_C_ERRORS), 0);
	CU_ASSERT_EQUAL(cki_metrics_quantile(CKI_OP_STATS, 0.5), 0);
	listing *l = take_listing();
	CU_ASSERT_EQUAL(l->n, CKI_C_COUNT);
	CU_ASSERT(isnan(lookup(l, "temp_gauge")));
	CU_ASSERT(isnan(lookup(l, "latency_stats_count")));
	free(l);
}

static void
test_op_names(void)
{
	CU_ASSERT_STRING_EQUAL(cki_op_name(CKI_OP_GET), "get");
	CU_ASSERT_STRING_EQUAL(cki_op_name(CKI_OP_RELEASE_LOCK), "release_lock");
	CU_ASSERT_STRING_EQUAL(cki_op_name(CKI_OP_COUNT), "unknown");
}

/* The Prometheus text of the current metrics (caller frees). */
static char *
prometheus_text(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	cki_metrics_prometheus(f);
	fclose(f);
	return buf;
}

static void
test_prometheus_requests_by_op_and_status(void)
{
	cki_metrics_reset();
	cki_metrics_request(CKI_OP_GET, 0);
	cki_metrics_request(CKI_OP_GET, 0);
	cki_metrics_request(CKI_OP_SET, 14);   /* CK_ENOTFOUND */
	cki_metrics_request(CKI_OP_SET, 9999); /* out of range: not counted, no crash */
	cki_metrics_inc(CKI_C_REQUESTS);
	char *t = prometheus_text();
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "# TYPE cachekit_agent_requests_total counter\n"));
	CU_ASSERT_PTR_NOT_NULL(
	        strstr(t, "cachekit_agent_requests_total{op=\"get\",status=\"ok\"} 2\n"));
	CU_ASSERT_PTR_NOT_NULL(
	        strstr(t, "cachekit_agent_requests_total{op=\"set\",status=\"enotfound\"} 1\n"));
	CU_ASSERT_PTR_NULL(strstr(t, "9999"));
	/* The socket-level counter is renamed so it cannot collide with the labelled family. */
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "cachekit_agent_messages_received_total 1\n"));
	CU_ASSERT_PTR_NULL(strstr(t, "cachekit_agent_requests_total 1"));
	free(t);
}

static void
test_prometheus_histogram_is_cumulative(void)
{
	cki_metrics_reset();
	cki_metrics_observe(CKI_OP_GET, 10);      /* <= 16 us */
	cki_metrics_observe(CKI_OP_GET, 100);     /* <= 128 us, so first in le=0.000256 */
	cki_metrics_observe(CKI_OP_GET, 5000000); /* 5 s: <= 8.4 s, so le=16.777216 */
	cki_metrics_observe_upstream(2000);
	char *t = prometheus_text();
	const char *h = "cachekit_agent_request_duration_seconds";
	char line[160];
	snprintf(line, sizeof(line), "%s_bucket{op=\"get\",le=\"1.6e-05\"} 1\n", h);
	CU_ASSERT_PTR_NOT_NULL(strstr(t, line));
	snprintf(line, sizeof(line), "%s_bucket{op=\"get\",le=\"0.000256\"} 2\n", h);
	CU_ASSERT_PTR_NOT_NULL(strstr(t, line));
	snprintf(line, sizeof(line), "%s_bucket{op=\"get\",le=\"4.194304\"} 2\n", h);
	CU_ASSERT_PTR_NOT_NULL(strstr(t, line));
	snprintf(line, sizeof(line), "%s_bucket{op=\"get\",le=\"16.777216\"} 3\n", h);
	CU_ASSERT_PTR_NOT_NULL(strstr(t, line));
	snprintf(line, sizeof(line), "%s_bucket{op=\"get\",le=\"+Inf\"} 3\n", h);
	CU_ASSERT_PTR_NOT_NULL(strstr(t, line));
	snprintf(line, sizeof(line), "%s_count{op=\"get\"} 3\n", h);
	CU_ASSERT_PTR_NOT_NULL(strstr(t, line));
	snprintf(line, sizeof(line), "%s_sum{op=\"get\"} 5.00011\n", h);
	CU_ASSERT_PTR_NOT_NULL(strstr(t, line));
	/* Operations without samples have no series. */
	CU_ASSERT_PTR_NULL(strstr(t, "op=\"set\",le="));
	CU_ASSERT_PTR_NOT_NULL(
	        strstr(t, "cachekit_agent_upstream_attempt_duration_seconds_count 1\n"));
	free(t);
}

static CU_TestInfo tests[] = {
        {"counters count", test_counters_count},
        {"a gauge is replaced, not added", test_gauge_is_replaced_not_added},
        {"a gauge function is read when reported", test_a_gauge_function_is_read_when_reported},
        {"gauges are capped at 32 and long names dropped", test_gauges_are_capped},
        {"quantiles of a known distribution", test_quantiles_of_a_known_distribution},
        {"bucket bounds are powers of two", test_bucket_bounds_are_powers_of_two},
        {"each is sorted by name", test_each_is_sorted_by_name},
        {"reset clears everything", test_reset_clears_everything},
        {"operation names", test_op_names},
        {"prometheus: requests by op and status", test_prometheus_requests_by_op_and_status},
        {"prometheus: histogram buckets are cumulative", test_prometheus_histogram_is_cumulative},
        CU_TEST_INFO_NULL,
};

CK_UNIT_SUITE("metrics", tests)
