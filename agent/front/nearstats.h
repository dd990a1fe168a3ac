/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Near-cache reports from stubs (Request.near, docs/writing-a-stub.md): deltas a stub sends
 * piggybacked on an ordinary request, added to the agent's stub_near_* counters for /metrics
 * and the X-CacheKit-L1-* headers. Loop thread only.
 */
#ifndef CKI_NEARSTATS_H
#define CKI_NEARSTATS_H

#include "core/request.h"

/* Largest value of one field of one report that is counted; larger ones count as this. A
 * stub reports at most every 100 requests or about once a second, so honest deltas stay far
 * below it. */
#define CKI_NEARSTATS_DELTA_MAX 10000000u

/* Adds req's near-cache report, if it carries one, to the counters (saturating, each field
 * capped at CKI_NEARSTATS_DELTA_MAX). A peer can only make the counters grow: the figures are
 * the peers' word, never used for any decision about a request. */
void cki_nearstats_absorb(const cki_request *req);

#endif
