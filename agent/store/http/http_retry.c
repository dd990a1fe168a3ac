/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Retry classes and waits (spec §2.8, §13 decision 4). Retry-After is read in both forms RFC
 * 9110 allows: delta seconds, or an HTTP-date compared with the wall clock (the server's clock
 * and ours are both UTC wall clocks; the monotonic clock means nothing to the server).
 */
#include "store/http/http_retry.h"

#include <time.h>

#include "base/loop.h"
#include "base/random.h"

bool
cki_http_status_transient(long status)
{
	return status == 408 || status == 429 || (status >= 500 && status <= 599);
}

bool
cki_http_curl_transient(CURLcode c)
{
	switch (c) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_AGAIN:
		return true;
	default:
		return false;
	}
}

static double
jitter(void)
{
	return 0.5 + cki_random_unit(); /* [0.5, 1.5) */
}

uint64_t
cki_http_retry_delay(const cki_http_resp_headers *rh, long status, unsigned n)
{
	int64_t ra = -1;
	uint64_t base;

	if (status == 429 || status == 503)
		ra = cki_http_resp_retry_after_ms(rh, (int64_t)time(NULL));
	if (ra >= 0)
		return ra < CKI_HTTP_BACKOFF_CAP_MS ? (uint64_t)ra : CKI_HTTP_BACKOFF_CAP_MS;
	base = n < 6 ? (uint64_t)CKI_HTTP_BACKOFF_BASE_MS << n : CKI_HTTP_BACKOFF_CAP_MS;
	if (base > CKI_HTTP_BACKOFF_CAP_MS)
		base = CKI_HTTP_BACKOFF_CAP_MS;
	return (uint64_t)((double)base * jitter());
}
