/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The retry policy of spec §13 decision 4, apart from the transport that applies it: which
 * statuses and transport failures are worth another attempt, and how long to wait before it
 * (jittered exponential backoff, or the server's Retry-After in either RFC 9110 form, capped
 * at 5 s). Thread-safe (the jitter reads the kernel's random source).
 */
#ifndef CKI_HTTP_RETRY_H
#define CKI_HTTP_RETRY_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>

#include "store/http/http_response.h"

#define CKI_HTTP_BACKOFF_BASE_MS 100u
#define CKI_HTTP_BACKOFF_CAP_MS  5000u

/* True for the statuses the policy retries (408, 429, 5xx). */
bool cki_http_status_transient(long status);

/* True for transport failures worth another attempt (spec §2.8 "connect/network error"). */
bool cki_http_curl_transient(CURLcode c);

/* Milliseconds to wait before retry n (0-based) after a response with status and headers
 * rh (status 0: no response): Retry-After on 429/503 when present and usable, else
 * min(100 ms × 2^n, 5 s) × U[0.5, 1.5) (spec §13 decision 4). Retry-After is capped at 5 s. */
uint64_t cki_http_retry_delay(const cki_http_resp_headers *rh, long status, unsigned n);

#endif
