/* SPDX-License-Identifier: Apache-2.0 */
/*
 * When and what a stub tells the agent about its near cache (Request.near,
 * docs/writing-a-stub.md): the counters' growth since the last report, piggybacked on an
 * ordinary request at most every CKI_NEAR_REPORT_EVERY requests or CKI_NEAR_REPORT_NS.
 * Same thread rules as the near cache (one client, one thread at a time).
 */
#ifndef CKI_NEAR_REPORT_H
#define CKI_NEAR_REPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "cachekit/agent/v1/agent.pb-c.h"
#include "cachekit/stub.h"

#define CKI_NEAR_REPORT_EVERY 100u
#define CKI_NEAR_REPORT_NS    INT64_C(1000000000) /* 1 s */

typedef struct cki_near_report {
	ck_near_stats sent; /* the counters as of the last report */
	int64_t last_ns;    /* CLOCK_MONOTONIC of the last report; 0: none yet */
	uint32_t since;     /* requests since the last report */
} cki_near_report;

/* Counts one outgoing request; when a report is due and the counters moved, fills *out
 * (initialised here) with the deltas from r->sent to now, remembers now and returns true.
 * Counters that went backwards (a fork emptied the cache) restart the baseline at 0. */
bool cki_near_report_take(cki_near_report *r, const ck_near_stats *now, int64_t now_ns,
                          Cachekit__Agent__V1__NearStats *out);

#endif
