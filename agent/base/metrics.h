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

#define CKI_COUNTERS(X)                                                                       \
	X(REQUESTS, "requests_total",                                                         \
	  "messages received on the agent socket, refused ones included")                     \
	X(ERRORS, "errors_total", "requests answered with a non-zero status")                 \
	X(DENIED, "denied_total", "requests refused by the peer allow lists")                 \
	X(MALFORMED, "malformed_total", "requests refused as malformed")                      \
	X(OVERSIZED, "oversized_total", "requests refused for exceeding the frame size cap")  \
	X(GET_HITS, "get_hits_total", "Get requests that found a value")                      \
	X(GET_MISSES, "get_misses_total", "Get requests that found no value")                 \
	X(GET_STALE, "get_stale_total", "Get requests answered with a stale value")           \
	X(SETS, "sets_total", "Set requests")                                                 \
	X(DELETES, "deletes_total", "Delete requests")                                        \
	X(SEALED, "sealed_total", "values encrypted for secure namespaces")                   \
	X(UNSEAL_FAILURES, "unseal_failures_total", "stored values that failed to decrypt")   \
	X(LOCKS_ACQUIRED, "locks_acquired_total", "locks acquired")                           \
	X(LOCKS_CONTESTED, "locks_contested_total", "lock attempts that found the lock held") \
	X(LOCKS_RELEASED, "locks_released_total", "locks released by their holder")           \
	X(LOCKS_RELEASED_ON_DEATH, "locks_released_on_holder_death_total",                    \
	  "locks released because the holder process died")                                   \
	X(LOCKS_EXPIRED, "locks_expired_total", "lock leases that expired")                   \
	X(LOCKS_RENEWED, "locks_renewed_total", "lock leases renewed by their holder")        \
	X(REFRESH_DUE, "refresh_due_flags_total", "reads told to refresh ahead of expiry")    \
	X(SLIDING_REFRESHES, "sliding_refreshes_total",                                       \
	  "TTL extensions made by sliding namespaces")                                        \
	X(L1_HITS, "l1_hits_total", "Gets answered by the agent near cache")                  \
	X(L1_MISSES, "l1_misses_total", "Gets the agent near cache could not answer")         \
	X(FLIGHT_COALESCED, "flight_coalesced_total",                                         \
	  "Gets that joined a miss already in flight (single-flight)")                        \
	X(OVERLOADED, "overloaded_total",                                                     \
	  "requests refused by max-inflight or max-inflight-bytes")                           \
	X(SHUTDOWN_REFUSED, "shutdown_refused_total",                                         \
	  "requests refused because the agent was draining")                                  \
	X(PEER_OVERLOADED, "peer_queue_refusals_total",                                       \
	  "requests refused because the client has too many unread replies")                  \
	X(PEER_DROPPED, "peer_queue_drops_total",                                             \
	  "requests dropped from a client far past its unread-reply limit")                   \
	X(REFRESH_UNTRACKED, "refresh_untracked_total",                                       \
	  "keys not tracked for refresh because the tracker was full")                        \
	X(STORE_CALLS, "store_calls_total", "calls through the storefront to the store")      \
	X(STORE_ERRORS, "store_errors_total", "store calls that failed")                      \
	X(STALE_IF_ERROR, "stale_if_error_total",                                             \
	  "failed upstream Gets answered with a stale copy")                                  \
	X(NEAR_REPORTS, "stub_near_reports_total", "near-cache reports received from stubs")  \
	X(NEAR_HITS, "stub_near_hits_total",                                                  \
	  "Gets answered inside client processes (stub near caches)")                         \
	X(NEAR_MISSES, "stub_near_misses_total", "Gets stub near caches sent to the agent")   \
	X(NEAR_INVALIDATIONS, "stub_near_invalidations_total",                                \
	  "stub near-cache copies found stale")                                               \
	X(UPSTREAM_HITS, "upstream_get_hits_total", "upstream Gets that found a value")       \
	X(UPSTREAM_MISSES, "upstream_get_misses_total", "upstream Gets that found no value")

typedef enum cki_counter {
#define CKI_COUNTER_ENUM_(id, name, help) CKI_C_##id,
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
	CKI_OP_RENEW_LOCK,
	CKI_OP_COUNT
} cki_op;

const char *cki_op_name(cki_op op);

void cki_metrics_inc(cki_counter c);
void cki_metrics_add(cki_counter c, uint64_t n);
/* Adds n, stopping at UINT64_MAX instead of wrapping (for figures a peer reports). */
void cki_metrics_add_sat(cki_counter c, uint64_t n);
uint64_t cki_metrics_get(cki_counter c);
/* Gauges reported with the counters (in-flight requests, store size...). */
void cki_metrics_set_gauge(const char *name, double v);
/* A gauge whose value is fn(arg), read each time the metrics are reported (Stats, /metrics):
 * for figures another thread changes (the front's queued reply bytes). fn NULL (with the same
 * arg) turns it back into a plain gauge with its last value; call that before arg goes away. */
void cki_metrics_gauge_fn(const char *name, double (*fn)(void *arg), void *arg);
/* Records one latency sample in microseconds. */
void cki_metrics_observe(cki_op op, uint64_t micros);
/* The q-quantile (0..1) of op's latency in microseconds, from the histogram (upper bound of
 * the bucket). 0 when there are no samples. */
uint64_t cki_metrics_quantile(cki_op op, double q);

/* One answered request of op with wire status (a ck_err number), for
 * cachekit_agent_requests_total{op,status}. Also records no latency: see observe. */
void cki_metrics_request(cki_op op, int status);
/* One upstream (HTTP) attempt's duration in microseconds. */
void cki_metrics_observe_upstream(uint64_t micros);

/* Writes every counter, gauge, request count and latency histogram in the Prometheus text
 * exposition format (0.0.4), names prefixed "cachekit_agent_", with HELP and TYPE lines. */
void cki_metrics_prometheus(FILE *out);
/* Writes one sample with its HELP/TYPE lines; type is "counter" or "gauge". name is the
 * family's full name (counters end in _total). */
void cki_metrics_prometheus_one(FILE *out, const char *name, const char *type, const char *help,
                                double v);

/* Calls emit for every counter, gauge and latency summary ("latency_get_p50_us"...),
 * sorted by name. */
void cki_metrics_each(void (*emit)(void *ctx, const char *name, double v), void *ctx);

/* Clears everything (tests). */
void cki_metrics_reset(void);

#endif
