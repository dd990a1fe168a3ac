/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for agent/store/http/http_reply.c: how each route's answer becomes a store reply.
 * First the mapping alone, on hand-made results; then the same rows end to end against a real
 * ck-fakeapi in the modes that make a server answer them (issue 14: no lock routes, a health
 * page that is not JSON, {"ttl":0}, a release of an expired lock).
 */
#include <stdlib.h>
#include <string.h>

#include "fake_harness.h"
#include "store/http/http_reply.h"

static cki_http_result
answer(long status, const char *body)
{
	static cki_http_resp_headers none;
	cki_http_result res = {.err = CK_OK, .status = status, .headers = &none};

	cki_http_resp_headers_init(&none);
	res.body = (const uint8_t *)body;
	res.body_len = strlen(body);
	return res;
}

static void
test_mapping_of_lock_statuses(void)
{
	cki_store_reply rep;
	cki_http_reply_bufs bufs;
	cki_http_result res;
	static const long unsupported[] = {404, 405};

	for (size_t i = 0; i < 2; i++) {
		res = answer(unsupported[i], "{\"error\":\"Not Found\"}");
		cki_http_reply_map(CKI_OP_LOCK, &res, &rep, &bufs);
		CU_ASSERT_EQUAL(rep.err, CK_ENOTSUP);
		CU_ASSERT_PTR_NOT_NULL_FATAL(rep.message);
		CU_ASSERT_PTR_NOT_NULL(strstr(rep.message, "no lock route"));
		CU_ASSERT_PTR_NOT_NULL(strstr(rep.message, unsupported[i] == 404 ? "404" : "405"));
		CU_ASSERT_PTR_NULL(rep.lock_id);
	}
	res = answer(400, "{}");
	cki_http_reply_map(CKI_OP_LOCK, &res, &rep, &bufs);
	CU_ASSERT_EQUAL(rep.err, CK_EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(rep.message, "HTTP 400"));
	/* 409 stays the legacy "contested", not an error */
	res = answer(409, "{}");
	cki_http_reply_map(CKI_OP_LOCK, &res, &rep, &bufs);
	CU_ASSERT_EQUAL(rep.err, CK_OK);
	CU_ASSERT_PTR_NULL(rep.lock_id);
	res = answer(200, "{\"lock_id\":\"abc\"}");
	cki_http_reply_map(CKI_OP_LOCK, &res, &rep, &bufs);
	CU_ASSERT_EQUAL(rep.err, CK_OK);
	CU_ASSERT_STRING_EQUAL(rep.lock_id, "abc");
	/* 5xx: transient, the lock waiter keeps polling */
	res = answer(503, "");
	cki_http_reply_map(CKI_OP_LOCK, &res, &rep, &bufs);
	CU_ASSERT_EQUAL(rep.err, CK_EUPSTREAM);
}

static void
test_mapping_of_ttl_health_and_unlock(void)
{
	cki_store_reply rep;
	cki_http_reply_bufs bufs;
	cki_http_result res;

	res = answer(200, "{\"ttl\":0}");
	cki_http_reply_map(CKI_OP_GET_TTL, &res, &rep, &bufs);
	CU_ASSERT_EQUAL(rep.err, CK_OK);
	CU_ASSERT_FALSE(rep.found); /* at its end: gone, never "0 = no expiry" */
	CU_ASSERT_EQUAL(rep.ttl_s, -1);
	res = answer(200, "{\"ttl\":null}");
	cki_http_reply_map(CKI_OP_GET_TTL, &res, &rep, &bufs);
	CU_ASSERT_TRUE(rep.found);
	CU_ASSERT_EQUAL(rep.ttl_s, -1); /* present, no expiry (API-71) */
	res = answer(200, "{\"ttl\":1}");
	cki_http_reply_map(CKI_OP_GET_TTL, &res, &rep, &bufs);
	CU_ASSERT_TRUE(rep.found);
	CU_ASSERT_EQUAL(rep.ttl_s, 1);

	res = answer(200, "<html>maintenance</html>");
	cki_http_reply_map(CKI_OP_HEALTH, &res, &rep, &bufs);
	CU_ASSERT_EQUAL(rep.err, CK_EUPSTREAM);
	CU_ASSERT_STRING_EQUAL(rep.error_type, "CK_EUPSTREAM");
	CU_ASSERT_EQUAL(rep.latency_ms, -1);
	res = answer(200, "{\"status\":\"ok\"}");
	cki_http_reply_map(CKI_OP_HEALTH, &res, &rep, &bufs);
	CU_ASSERT_EQUAL(rep.err, CK_OK);
	CU_ASSERT_TRUE(rep.found);

	res = answer(404, "{\"error\":\"Lock not found\"}");
	cki_http_reply_map(CKI_OP_UNLOCK, &res, &rep, &bufs);
	CU_ASSERT_EQUAL(rep.err, CK_OK);
	CU_ASSERT_FALSE(rep.found);
	res = answer(200, "{\"success\":true}");
	cki_http_reply_map(CKI_OP_UNLOCK, &res, &rep, &bufs);
	CU_ASSERT_TRUE(rep.found);
}

/* ---- the same against the fake API ---------------------------------------------------------- */

static void
test_lock_routes_missing_is_an_error_not_contested(void)
{
	static const char *const modes[] = {"404", "405", "400"};
	static const ck_err want[] = {CK_ENOTSUP, CK_ENOTSUP, CK_EINVAL};
	cki_http_opts o = base_opts();
	struct result r = {0};
	char body[64];
	cki_store *s;

	SERVER_TEST();
	s = new_store(&o);
	for (size_t i = 0; i < 3; i++) {
		reset_server();
		snprintf(body, sizeof body, "{\"lock_routes\":\"%s\"}", modes[i]);
		faults(body);
		do_lock(s, "t:nolock", 30000, &r);
		CU_ASSERT_EQUAL(r.err, want[i]);
		CU_ASSERT_PTR_NOT_NULL(strstr(r.message, modes[i]));
		CU_ASSERT_FALSE(r.has_lock_id);
		CU_ASSERT_EQUAL(n_requests(), 1); /* a permanent answer: not retried */
	}
	/* 409 is still "contested" */
	reset_server();
	faults("{\"lock_contested\":\"409\"}");
	do_lock(s, "t:held", 30000, &r);
	CU_ASSERT_TRUE(r.has_lock_id);
	do_lock(s, "t:held", 30000, &r);
	CU_ASSERT_EQUAL(r.err, CK_OK);
	CU_ASSERT_FALSE(r.has_lock_id);
	result_clear(&r);
	s->ops->destroy(s);
}

static void
test_health_page_that_is_not_json_is_unhealthy(void)
{
	cki_http_opts o = base_opts();
	struct result r = {0};
	cki_store *s;

	SERVER_TEST();
	s = new_store(&o);
	faults("{\"health_shape\":\"text\"}");
	do_health(s, &r);
	CU_ASSERT_EQUAL(r.err, CK_EUPSTREAM);
	CU_ASSERT_STRING_EQUAL(r.message, "health answer is not JSON");
	CU_ASSERT_STRING_EQUAL(r.error_type, "CK_EUPSTREAM");
	CU_ASSERT_EQUAL(n_requests(), 1);
	faults("{\"health_shape\":\"new\"}");
	do_health(s, &r);
	CU_ASSERT_EQUAL(r.err, CK_OK);
	result_clear(&r);
	s->ops->destroy(s);
}

static void
test_ttl_zero_reads_as_gone(void)
{
	cki_http_opts o = base_opts();
	struct result r = {0};
	cki_store *s;

	SERVER_TEST();
	s = new_store(&o);
	do_put(s, "t:z", "v", 60, 0, &r);
	CU_ASSERT_EQUAL(r.err, CK_OK);
	do_get_ttl(s, "t:z", &r);
	CU_ASSERT_TRUE(r.found);
	CU_ASSERT_TRUE(r.ttl_s == 59 || r.ttl_s == 60); /* a second may tick over in between */
	faults("{\"ttl_zero\":true}");
	do_get_ttl(s, "t:z", &r);
	CU_ASSERT_EQUAL(r.err, CK_OK);
	CU_ASSERT_FALSE(r.found);
	CU_ASSERT_EQUAL(r.ttl_s, -1);
	/* a no-expiry entry is present with ttl -1 (null on the wire), never 0 */
	do_put(s, "t:forever", "v", 0, 0, &r);
	do_get_ttl(s, "t:forever", &r);
	CU_ASSERT_TRUE(r.found);
	CU_ASSERT_EQUAL(r.ttl_s, -1);
	result_clear(&r);
	s->ops->destroy(s);
}

static void
test_release_of_an_expired_lock_is_not_released(void)
{
	cki_http_opts o = base_opts();
	struct result r = {0};
	char id[300];
	cki_store *s;

	SERVER_TEST();
	s = new_store(&o);
	faults("{\"unlock_wrong\":\"404\"}");
	do_lock(s, "t:exp", 1000, &r);
	CU_ASSERT_TRUE_FATAL(r.has_lock_id);
	snprintf(id, sizeof id, "%s", r.lock_id);
	json_decref(ctl("POST", "/clock", "{\"advance_s\":5}")); /* the lease runs out */
	do_unlock(s, "t:exp", id, &r);
	CU_ASSERT_EQUAL(r.err, CK_OK);
	CU_ASSERT_FALSE(r.found);
	do_lock(s, "t:exp", 30000, &r);
	CU_ASSERT_TRUE_FATAL(r.has_lock_id);
	snprintf(id, sizeof id, "%s", r.lock_id);
	do_unlock(s, "t:exp", id, &r);
	CU_ASSERT_EQUAL(r.err, CK_OK);
	CU_ASSERT_TRUE(r.found);
	result_clear(&r);
	s->ops->destroy(s);
}

/* The API has no renewal route (spec §4.1): CK_ENOTSUP from the loop, nothing on the wire,
 * and the lock stays as it was. */
static void
test_renewal_is_unsupported_and_sends_nothing(void)
{
	cki_http_opts o = base_opts();
	struct result r = {0};
	char id[300];
	cki_store *s;

	SERVER_TEST();
	s = new_store(&o);
	do_lock(s, "t:renew", 30000, &r);
	CU_ASSERT_TRUE_FATAL(r.has_lock_id);
	snprintf(id, sizeof id, "%s", r.lock_id);
	CU_ASSERT_EQUAL(n_requests(), 1);
	result_clear(&r);
	s->ops->renew_lock(s, "t:renew", id, 60000, deadline_in(10000), capture, &r);
	CU_ASSERT_EQUAL(r.calls, 0); /* answered from the loop, not inside the call */
	wait_for(1);
	CU_ASSERT_EQUAL(r.err, CK_ENOTSUP);
	STR_EQ(r.message, "the cachekit.io API has no lock renewal");
	CU_ASSERT_FALSE(r.found);
	CU_ASSERT_EQUAL(n_requests(), 1); /* only the lock's POST */
	do_unlock(s, "t:renew", id, &r);  /* still held: the holder releases it */
	CU_ASSERT_EQUAL(r.err, CK_OK);
	CU_ASSERT_TRUE(r.found);
	CU_ASSERT_EQUAL(n_requests(), 2);
	result_clear(&r);
	s->ops->destroy(s);
}

static CU_TestInfo tests[] = {
        {"lock 400/404/405/409 map to errors and contested", test_mapping_of_lock_statuses},
        {"ttl 0 and null, health pages, unlock 404", test_mapping_of_ttl_health_and_unlock},
        {"a server without lock routes: an error, not contested",
         test_lock_routes_missing_is_an_error_not_contested},
        {"a health 200 that is not JSON is unhealthy",
         test_health_page_that_is_not_json_is_unhealthy},
        {"{\"ttl\":0} reads as gone, null as no expiry", test_ttl_zero_reads_as_gone},
        {"releasing an expired lock reads released=false",
         test_release_of_an_expired_lock_is_not_released},
        {"renewal is CK_ENOTSUP and sends no request",
         test_renewal_is_unsupported_and_sends_nothing},
        CU_TEST_INFO_NULL,
};

CK_UNIT_SUITE_FULL("http_reply", tests, suite_init, suite_clean)
