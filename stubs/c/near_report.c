/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Near-cache reports (near_report.h): deltas of hits, misses and invalidations, sent when
 * enough requests or enough time went by and something moved, so an idle or quiet cache
 * adds nothing to the wire.
 */
#include "near_report.h"

bool
cki_near_report_take(cki_near_report *r, const ck_near_stats *now, int64_t now_ns,
                     Cachekit__Agent__V1__NearStats *out)
{
	if (now->hits < r->sent.hits || now->misses < r->sent.misses ||
	    now->invalidations < r->sent.invalidations)
		r->sent = (ck_near_stats){0};
	r->since++;
	if (r->last_ns != 0 && r->since < CKI_NEAR_REPORT_EVERY &&
	    now_ns - r->last_ns < CKI_NEAR_REPORT_NS)
		return false;
	if (now->hits == r->sent.hits && now->misses == r->sent.misses &&
	    now->invalidations == r->sent.invalidations)
		return false;
	cachekit__agent__v1__near_stats__init(out);
	out->hits = now->hits - r->sent.hits;
	out->misses = now->misses - r->sent.misses;
	out->invalidations = now->invalidations - r->sent.invalidations;
	r->sent = *now;
	r->last_ns = now_ns;
	r->since = 0;
	return true;
}
