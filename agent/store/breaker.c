/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Circuit breaker state machine (closed -> open -> half-open -> closed|open) for store_http.
 * While half-open the probe is in flight and everything else is still rejected, so a dead
 * upstream sees one request per open period, not a burst.
 */
#include "store/breaker.h"

void
cki_breaker_init(cki_breaker *b, uint32_t threshold, uint32_t open_ms)
{
	b->threshold = threshold > 0 ? threshold : 1;
	b->open_ms = open_ms;
	b->state = CKI_BREAKER_CLOSED;
	b->failures = 0;
	b->opened_at = 0;
	b->opens = 0;
}

static void
trip(cki_breaker *b, uint64_t now)
{
	b->state = CKI_BREAKER_OPEN;
	b->opened_at = now;
	b->failures = 0;
	b->opens++;
}

cki_breaker_admission
cki_breaker_admit(cki_breaker *b, uint64_t now)
{
	switch (b->state) {
	case CKI_BREAKER_CLOSED:
		return CKI_ADMIT_PASS;
	case CKI_BREAKER_OPEN:
		if (now - b->opened_at < b->open_ms)
			return CKI_ADMIT_REJECT;
		b->state = CKI_BREAKER_HALF_OPEN;
		return CKI_ADMIT_PROBE;
	case CKI_BREAKER_HALF_OPEN:
	default:
		return CKI_ADMIT_REJECT;
	}
}

void
cki_breaker_report(cki_breaker *b, bool reached, bool probe, uint64_t now)
{
	if (probe) {
		if (reached) {
			b->state = CKI_BREAKER_CLOSED;
			b->failures = 0;
		} else {
			trip(b, now);
		}
		return;
	}
	/* outcomes of operations admitted before the circuit opened do not move it */
	if (b->state != CKI_BREAKER_CLOSED)
		return;
	if (reached) {
		b->failures = 0;
		return;
	}
	if (++b->failures >= b->threshold)
		trip(b, now);
}

void
cki_breaker_probe_abandoned(cki_breaker *b, uint64_t now)
{
	if (b->state == CKI_BREAKER_HALF_OPEN) {
		/* reopen as if the open period had just ended, so the next op probes */
		b->state = CKI_BREAKER_OPEN;
		b->opened_at = now >= b->open_ms ? now - b->open_ms : 0;
	}
}
