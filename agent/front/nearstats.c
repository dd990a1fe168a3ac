/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Near-cache reports from stubs (nearstats.h): one report is three deltas, each capped and
 * added without wrapping, so a misbehaving peer can inflate the figures but never wrap them
 * to small numbers, lower them, or make the agent do more than three additions per request.
 */
#include "front/nearstats.h"

#include "base/metrics.h"

static uint64_t
capped(uint64_t v)
{
	return v > CKI_NEARSTATS_DELTA_MAX ? CKI_NEARSTATS_DELTA_MAX : v;
}

void
cki_nearstats_absorb(const cki_request *req)
{
	const Cachekit__Agent__V1__NearStats *n = req != NULL ? req->near : NULL;

	if (n == NULL)
		return;
	cki_metrics_add_sat(CKI_C_NEAR_REPORTS, 1);
	cki_metrics_add_sat(CKI_C_NEAR_HITS, capped(n->hits));
	cki_metrics_add_sat(CKI_C_NEAR_MISSES, capped(n->misses));
	cki_metrics_add_sat(CKI_C_NEAR_INVALIDATIONS, capped(n->invalidations));
}
