/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The upstream circuit breaker shared by the network stores (store_http per API, store_redis
 * per node): after `threshold` consecutive transient failures
 * (each counted once an operation has used up its retries) the circuit opens and every
 * operation fails fast; after `open_ms` exactly one half-open probe is let through; its
 * success closes the circuit, its failure opens it again. Pure state, no I/O, no clock of its
 * own (the caller passes cki_now_ms()). Not thread-safe: one breaker per store, loop thread.
 */
#ifndef CKI_BREAKER_H
#define CKI_BREAKER_H

#include <stdbool.h>
#include <stdint.h>

typedef enum cki_breaker_state {
	CKI_BREAKER_CLOSED = 0,
	CKI_BREAKER_OPEN = 1,
	CKI_BREAKER_HALF_OPEN = 2,
} cki_breaker_state;

typedef enum cki_breaker_admission {
	CKI_ADMIT_PASS,   /* normal operation */
	CKI_ADMIT_PROBE,  /* the one half-open probe: report its outcome with probe = true */
	CKI_ADMIT_REJECT, /* circuit open: fail fast */
} cki_breaker_admission;

typedef struct cki_breaker {
	uint32_t threshold; /* consecutive failures that open the circuit; >= 1 */
	uint32_t open_ms;   /* how long it stays open before a probe */
	cki_breaker_state state;
	uint32_t failures;  /* consecutive, while closed */
	uint64_t opened_at; /* cki_now_ms() when it last opened */
	uint64_t opens;     /* times it has opened (stats) */
} cki_breaker;

void cki_breaker_init(cki_breaker *b, uint32_t threshold, uint32_t open_ms);

/* Decides whether an operation starting at `now` may go upstream. */
cki_breaker_admission cki_breaker_admit(cki_breaker *b, uint64_t now);

/* Reports an operation's outcome: reached = the API answered with a non-transient result
 * (any 2xx, 404, or a permanent 4xx), so the upstream is up; otherwise it failed transiently
 * after its retries. probe = it was admitted with CKI_ADMIT_PROBE. */
void cki_breaker_report(cki_breaker *b, bool reached, bool probe, uint64_t now);

/* The probe ended without a verdict (cancelled): let the next operation probe instead. */
void cki_breaker_probe_abandoned(cki_breaker *b, uint64_t now);

#endif
