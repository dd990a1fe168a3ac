/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for agent/store/http/http_retry.c and how the transport applies it: which answers are
 * retried, the wait before a retry (backoff, or Retry-After in both RFC 9110 forms, capped),
 * and a wait that outlasts the deadline (it waits until the deadline, then fails), checked
 * end to end against a real ck-fakeapi.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fake_harness.h"
#include "store/http/http_retry.h"

static void
feed(cki_http_resp_headers *h, const char *value)
{
	cki_http_resp_header_value(h, "Retry-After", value, strlen(value), 1);
}

static void
test_retry_classes_and_delays(void)
{
	cki_http_resp_headers h;
	char line[80];
	struct tm tm;
	time_t at;

	CU_ASSERT_TRUE(cki_http_status_transient(429));
	CU_ASSERT_TRUE(cki_http_status_transient(408));
	CU_ASSERT_TRUE(cki_http_status_transient(503));
	CU_ASSERT_FALSE(cki_http_status_transient(404));
	CU_ASSERT_FALSE(cki_http_status_transient(409));
	CU_ASSERT_TRUE(cki_http_curl_transient(CURLE_COULDNT_CONNECT));
	CU_ASSERT_FALSE(cki_http_curl_transient(CURLE_PEER_FAILED_VERIFICATION));

	cki_http_resp_headers_init(&h);
	feed(&h, "3");
	CU_ASSERT_EQUAL(cki_http_retry_delay(&h, 429, 0), 3000);
	CU_ASSERT_EQUAL(cki_http_retry_delay(&h, 503, 0), 3000);
	/* Retry-After only counts on 429 and 503: a 500 backs off (100 ms x [0.5, 1.5)) */
	uint64_t d = cki_http_retry_delay(&h, 500, 0);
	CU_ASSERT_TRUE(d >= 50 && d < 150);
	cki_http_resp_headers_init(&h);
	feed(&h, "60");
	CU_ASSERT_EQUAL(cki_http_retry_delay(&h, 429, 0), CKI_HTTP_BACKOFF_CAP_MS);

	/* an HTTP-date 4 s ahead of the wall clock: 3-4 s (the date has whole seconds) */
	at = time(NULL) + 4;
	gmtime_r(&at, &tm);
	strftime(line, sizeof line, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	cki_http_resp_headers_init(&h);
	feed(&h, line);
	d = cki_http_retry_delay(&h, 503, 0);
	CU_ASSERT_TRUE(d >= 3000 && d <= 4000);
}

static void
test_retry_after_date_is_honoured(void)
{
	cki_http_opts o = base_opts();
	struct result r = {0};
	cki_store *s;
	uint64_t t0;

	SERVER_TEST();
	s = new_store(&o);
	/* 3 s ahead in whole seconds: the agent waits 2-3 s (1 s more would need the answer to
	 * take a second to arrive); its own backoff would be < 150 ms */
	faults("{\"fail_next\":[429],\"retry_after\":3,\"retry_after_form\":\"date\"}");
	t0 = cki_now_ms();
	do_get(s, "t:date", &r);
	CU_ASSERT_EQUAL(r.err, CK_OK);
	CU_ASSERT_FALSE(r.found);
	CU_ASSERT_EQUAL(n_requests(), 2);
	CU_ASSERT_TRUE(cki_now_ms() - t0 >= 950);
	result_clear(&r);
	s->ops->destroy(s);
}

static void
test_wait_past_the_deadline_fails_at_the_deadline(void)
{
	cki_http_opts o = base_opts();
	struct result r = {0};
	cki_store *s;
	uint64_t t0, took;

	SERVER_TEST();
	s = new_store(&o);
	faults("{\"fail_next\":[429],\"retry_after\":4}");
	t0 = cki_now_ms();
	s->ops->get(s, "t:late", t0 + 1500, capture, &r);
	CU_ASSERT_EQUAL(r.calls, 0);
	wait_for(1);
	took = cki_now_ms() - t0;
	CU_ASSERT_EQUAL(r.calls, 1);
	CU_ASSERT_EQUAL(r.err, CK_ERATELIMIT); /* the answer it had, at the deadline */
	CU_ASSERT_TRUE(took >= 1490);          /* it waited what it could, not failing at once */
	CU_ASSERT_EQUAL(n_requests(), 1);      /* and did not try again past the deadline */
	/* the same with the date form */
	reset_server();
	faults("{\"fail_next\":[503],\"retry_after\":4,\"retry_after_form\":\"date\"}");
	t0 = cki_now_ms();
	do_get(s, "t:late", &r);
	CU_ASSERT_EQUAL(n_requests(), 2); /* 3-4 s wait within the 10 s deadline: retried */
	CU_ASSERT_TRUE(cki_now_ms() - t0 >= 1900); /* the date's wait, not a 100 ms backoff */
	result_clear(&r);
	s->ops->destroy(s);
}

static CU_TestInfo tests[] = {
        {"retry classes; backoff and Retry-After delays, capped", test_retry_classes_and_delays},
        {"Retry-After as an HTTP-date is honoured", test_retry_after_date_is_honoured},
        {"a wait past the deadline fails at the deadline",
         test_wait_past_the_deadline_fails_at_the_deadline},
        CU_TEST_INFO_NULL,
};

CK_UNIT_SUITE_FULL("http_retry", tests, suite_init, suite_clean)
