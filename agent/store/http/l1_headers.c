/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The L1 metrics headers (spec §2.5, l1_headers.h): their totals come from the agent's
 * counters table (base/metrics), which the core (agent near cache), the front (stub reports)
 * and this store (upstream Gets) feed. Formatting is integer arithmetic so that the rate's
 * three decimals never depend on floating-point rounding.
 */
#include "store/http/l1_headers.h"

#include <inttypes.h>
#include <stdio.h>

#include "base/metrics.h"

void
cki_l1_headers_format(cki_l1_header_lines lines, uint64_t l1_hits, uint64_t l2_hits,
                      uint64_t misses)
{
	unsigned __int128 total = (unsigned __int128)l1_hits + l2_hits + misses;
	unsigned milli = 0;

	if (total > 0)
		milli = (unsigned)(((unsigned __int128)l1_hits * 1000u + total / 2u) / total);
	snprintf(lines[0], CKI_L1_HEADER_CAP, "X-CacheKit-L1-Hits: %" PRIu64, l1_hits);
	snprintf(lines[1], CKI_L1_HEADER_CAP, "X-CacheKit-L2-Hits: %" PRIu64, l2_hits);
	snprintf(lines[2], CKI_L1_HEADER_CAP, "X-CacheKit-Misses: %" PRIu64, misses);
	snprintf(lines[3], CKI_L1_HEADER_CAP, "X-CacheKit-L1-Hit-Rate: %u.%03u", milli / 1000u,
	         milli % 1000u);
}

size_t
cki_l1_headers_current(cki_l1_header_lines lines, bool agent_l1)
{
	uint64_t l1 = cki_metrics_get(CKI_C_L1_HITS), near = cki_metrics_get(CKI_C_NEAR_HITS);

	if (!agent_l1 && cki_metrics_get(CKI_C_NEAR_REPORTS) == 0)
		return 0;
	cki_l1_headers_format(lines, near > UINT64_MAX - l1 ? UINT64_MAX : l1 + near,
	                      cki_metrics_get(CKI_C_UPSTREAM_HITS),
	                      cki_metrics_get(CKI_C_UPSTREAM_MISSES));
	return CKI_L1_HEADER_LINES;
}

void
cki_l1_headers_count_get(bool found)
{
	cki_metrics_inc(found ? CKI_C_UPSTREAM_HITS : CKI_C_UPSTREAM_MISSES);
}
