/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Counters and latency histograms of the agent, reported by the Stats request (sorted by
 * name; `cachekit-ctl stats --prometheus` prints them for Prometheus). Single-threaded like
 * the rest of the agent.
 */
#ifndef CKI_METRICS_H
#define CKI_METRICS_H

#include <stdint.h>
#include <stdio.h>

#define CKI_COUNTERS(X)                                                    \
	X(REQUESTS, "requests_total")                                      \
	X(ERRORS, "errors_total")                                          \
	X(DENIED, "denied_total")                                          \
	X(MALFORMED, "malformed_total")                                    \
	X(OVERSIZED, "oversized_total")                                    \
	X(PEER_OVERLOADED, "peer_queue_refusals_total")                    \
	X(PEER_DROPPED, "peer_queue_drops_total")                          \
	X(GET_HITS, "get_hits_total")                                      \
	X(GET_MISSES, "get_misses_total")                                  \
	X(GET_STALE, "get_stale_total")                                    \
	X(SETS, "sets_total")                                              \
	X(DELETES, "deletes_total")                                        \
	X(SEALED, "sealed_total")                                          \
	X(UNSEAL_FAILURES, "unseal_failures_total")                        \
	X(LOCKS_ACQUIRED, "locks_acquired_total")                          \
	X(LOCKS_CONTESTED, "locks_contested_total")                        \
	X(LOCKS_RELEASED, "locks_released_total")                          \
	X(LOCKS_RELEASED_ON_DEATH, "locks_released_on_holder_death_total") \
	X(LOCKS_EXPIRED, "locks_expired_total")                            \
	X(REFRESH_DUE, "refresh_due_flags_total")                          \
	X(REFRESH_UNTRACKED, "refresh_untracked_total")                    \
	X(SLIDING_REFRESHES, "sliding_refreshes_total")                    \
	X(L1_HITS, "l1_hits_total")                                        \
	X(L1_MISSES, "l1_misses_total")                                    \
	X(FLIGHT_COALESCED, "flight_coalesced_total")                      \
	X(STORE_CALLS, "store_calls_total")                                \
	X(STORE_ERRORS, "store_errors_total")                              \
	X(STALE_IF_ERROR, "stale_if_error_total")

typedef enum cki_counter {
#define CKI_COUNTER_ENUM_(id, name) CKI_C_##id,
	CKI_COUNTERS(CKI_COUNTER_ENUM_)
#undef CKI_COUNTER_ENUM_
	        CKI_C_COUNT
} cki_counter;

/* Operations with a latency histogram (request received -> reply sent). */
typedef enum cki_op {
	CKI_OP_GET,
	CKI_OP_SET,
	CKI_OP_DELETE,
	CKI_OP_EXISTS,
	CKI_OP_GET_TTL,
	CKI_OP_REFRESH_TTL,
	CKI_OP_ACQUIRE_LOCK,
	CKI_OP_RELEASE_LOCK,
	CKI_OP_HEALTH,
	CKI_OP_STATS,
	CKI_OP_COUNT
} cki_op;

const char *cki_op_name(cki_op op);

void cki_metrics_inc(cki_counter c);
void cki_metrics_add(cki_counter c, uint64_t n);
uint64_t cki_metrics_get(cki_counter c);
/* Gauges reported with the counters (in-flight requests, store size...). */
void cki_metrics_set_gauge(const char *name, double v);
/* Records one latency sample in microseconds. */
void cki_metrics_observe(cki_op op, uint64_t micros);
/* The q-quantile (0..1) of op's latency in microseconds, from the histogram (upper bound of
 * the bucket). 0 when there are no samples. */
uint64_t cki_metrics_quantile(cki_op op, double q);

/* Calls emit for every counter, gauge and latency summary ("latency_get_p50_us"...),
 * sorted by name. */
void cki_metrics_each(void (*emit)(void *ctx, const char *name, double v), void *ctx);

/* Clears everything (tests). */
void cki_metrics_reset(void);

#endif
