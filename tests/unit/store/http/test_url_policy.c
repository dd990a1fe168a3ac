/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for agent/url_policy.c: the API URL accept/reject tables of spec §3.1 and §13
 * decision 7 (scheme, userinfo, every private range and its edges, IPv6 forms, mapped
 * addresses, localhost, the exact allowlist with and without the custom-host bypass), the
 * generic wording of the reasons, and the normalised base URL.
 */
#include <stdlib.h>
#include <string.h>

#include "cunit_main.h"
#include "store/http/url_policy.h"

struct row {
	const char *url;
	bool custom;
	ck_err want;
};

static void
run_rows(const struct row *rows, size_t n)
{
	char why[128];

	for (size_t i = 0; i < n; i++) {
		ck_err got = cki_url_check(rows[i].url, rows[i].custom, why, sizeof why);

		if (got != rows[i].want)
			fprintf(stderr, "\n  %s (custom=%d): got %d want %d (%s)\n", rows[i].url,
			        rows[i].custom, got, rows[i].want, why);
		CU_ASSERT_EQUAL(got, rows[i].want);
		if (got == CK_OK) {
			CU_ASSERT_STRING_EQUAL(why, "");
		} else {
			CU_ASSERT(why[0] != '\0');
		}
	}
}

#define RUN(rows) run_rows(rows, sizeof rows / sizeof rows[0])

static void
test_allowlist_exact(void)
{
	static const struct row rows[] = {
	        {"https://api.cachekit.io", false, CK_OK},
	        {"https://api.cachekit.io/", false, CK_OK},
	        {"https://api.staging.cachekit.io", false, CK_OK},
	        {"https://API.CacheKit.IO", false, CK_OK},
	        {"https://api.cachekit.io:8443/prefix/", false, CK_OK},
	        {"https://api.dev.cachekit.io", false, CK_EURL},
	        {"https://evil.api.cachekit.io", false, CK_EURL},
	        {"https://api.cachekit.io.evil.com", false, CK_EURL},
	        {"https://cachekit.io", false, CK_EURL},
	        {"https://xapi.cachekit.io", false, CK_EURL},
	        {"https://api.cachekit.io.", false, CK_EURL},
	        {"https://example.com", false, CK_EURL},
	};
	RUN(rows);
}

static void
test_custom_host_bypass(void)
{
	static const struct row rows[] = {
	        {"https://fake.cachekit.test:4443", true, CK_OK},
	        {"https://api.dev.cachekit.io", true, CK_OK},
	        {"https://evil.api.cachekit.io", true, CK_OK},
	        {"https://8.8.8.8", true, CK_OK},
	        {"https://[2001:db8::1]:443", true, CK_OK},
	        /* the private block applies whatever the bypass says */
	        {"https://127.0.0.1", true, CK_EURL},
	        {"https://127.0.0.1:8443", true, CK_EURL},
	        {"https://localhost", true, CK_EURL},
	        {"https://[::1]", true, CK_EURL},
	        {"https://10.1.2.3", true, CK_EURL},
	        {"http://fake.cachekit.test", true, CK_EURL},
	};
	RUN(rows);
}

static void
test_scheme_and_userinfo(void)
{
	static const struct row rows[] = {
	        {"http://api.cachekit.io", false, CK_EURL},
	        {"ftp://api.cachekit.io", false, CK_EURL},
	        {"api.cachekit.io", false, CK_EURL},
	        {"//api.cachekit.io", false, CK_EURL},
	        {"HTTPS://api.cachekit.io", false, CK_OK},
	        {"https://user:pass@api.cachekit.io", false, CK_EURL},
	        {"https://user@api.cachekit.io", false, CK_EURL},
	        {"https://@api.cachekit.io", false, CK_EURL},
	        {"https://:pw@api.cachekit.io", true, CK_EURL},
	        {"https://api.cachekit.io/?q=1", false, CK_EURL},
	        {"https://api.cachekit.io/#frag", false, CK_EURL},
	        {"https://api.cachekit.io /", false, CK_EURL},
	        {"https://api.cachekit.io\n", false, CK_EURL},
	        {"", false, CK_EURL},
	};
	RUN(rows);
}

static void
test_ipv4_ranges(void)
{
	static const struct row rows[] = {
	        {"https://0.0.0.0", true, CK_EURL},
	        {"https://0.1.2.3", true, CK_EURL},
	        {"https://1.0.0.0", true, CK_OK},
	        {"https://9.255.255.255", true, CK_OK},
	        {"https://10.0.0.0", true, CK_EURL},
	        {"https://10.255.255.255", true, CK_EURL},
	        {"https://11.0.0.0", true, CK_OK},
	        {"https://126.255.255.255", true, CK_OK},
	        {"https://127.0.0.1", true, CK_EURL},
	        {"https://127.255.255.254", true, CK_EURL},
	        {"https://128.0.0.0", true, CK_OK},
	        {"https://169.253.255.255", true, CK_OK},
	        {"https://169.254.0.0", true, CK_EURL},
	        {"https://169.254.169.254", true, CK_EURL},
	        {"https://169.255.0.0", true, CK_OK},
	        {"https://172.15.255.255", true, CK_OK},
	        {"https://172.16.0.0", true, CK_EURL},
	        {"https://172.20.1.1", true, CK_EURL},
	        {"https://172.31.255.255", true, CK_EURL},
	        {"https://172.32.0.0", true, CK_OK},
	        {"https://192.167.255.255", true, CK_OK},
	        {"https://192.168.0.0", true, CK_EURL},
	        {"https://192.168.255.255", true, CK_EURL},
	        {"https://192.169.0.0", true, CK_OK},
	        /* numeric spellings libcurl turns into 127.0.0.1 */
	        {"https://2130706433", true, CK_EURL},
	        {"https://0x7f.1", true, CK_EURL},
	        {"https://0177.0.0.1", true, CK_EURL},
	        {"https://127.1", true, CK_EURL},
	        /* numeric-looking names that are no address are refused too */
	        {"https://1.2.3.4.5", true, CK_EURL},
	        /* a literal never matches the allowlist */
	        {"https://8.8.8.8", false, CK_EURL},
	};
	RUN(rows);
}

static void
test_ipv6_forms(void)
{
	static const struct row rows[] = {
	        {"https://[::1]", true, CK_EURL},
	        {"https://[0:0:0:0:0:0:0:1]", true, CK_EURL},
	        {"https://[::]", true, CK_EURL},
	        {"https://[fe80::1]", true, CK_EURL},
	        {"https://[FE80::abcd]", true, CK_EURL},
	        {"https://[febf::1]", true, CK_EURL},
	        {"https://[fe80::1%25eth0]", true, CK_EURL},
	        {"https://[fc00::1]", true, CK_EURL},
	        {"https://[fd12:3456::1]", true, CK_EURL},
	        {"https://[fbff::1]", true, CK_OK},
	        {"https://[2606:4700::1111]", true, CK_OK},
	        /* IPv4-mapped: the embedded address decides */
	        {"https://[::ffff:127.0.0.1]", true, CK_EURL},
	        {"https://[::ffff:7f00:1]", true, CK_EURL},
	        {"https://[::FFFF:10.0.0.1]", true, CK_EURL},
	        {"https://[::ffff:192.168.1.1]", true, CK_EURL},
	        {"https://[::ffff:172.16.0.1]", true, CK_EURL},
	        {"https://[::ffff:169.254.1.1]", true, CK_EURL},
	        {"https://[::ffff:8.8.8.8]", true, CK_OK},
	        {"https://[::ffff:172.32.0.1]", true, CK_OK},
	        {"https://[::127.0.0.1]", true, CK_EURL},
	};
	RUN(rows);
}

static void
test_localhost_variants(void)
{
	static const struct row rows[] = {
	        {"https://localhost", true, CK_EURL},
	        {"https://localhost.", true, CK_EURL},
	        {"https://LOCALHOST", true, CK_EURL},
	        {"https://localhost:8443/x", true, CK_EURL},
	        {"https://api.localhost", true, CK_EURL},
	        {"https://%6cocalhost", true, CK_EURL},
	        {"https://localhost", false, CK_EURL},
	        {"https://notlocalhost", true, CK_OK},
	        {"https://localhost.example.com", true, CK_OK},
	};
	RUN(rows);
}

static void
test_messages_generic(void)
{
	static const char *const urls[] = {"https://evil.com", "https://127.0.0.1",
	                                   "https://api.cachekit.io.evil.com", "http://x"};
	char why[128];

	for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) {
		CU_ASSERT_EQUAL(cki_url_check(urls[i], false, why, sizeof why), CK_EURL);
		CU_ASSERT_PTR_NULL(strstr(why, "cachekit.io"));
		CU_ASSERT_PTR_NULL(strstr(why, "staging"));
		CU_ASSERT_PTR_NULL(strstr(why, "ALLOW"));
		CU_ASSERT_PTR_NULL(strstr(why, "allow"));
		CU_ASSERT_PTR_NULL(strstr(why, "custom"));
	}
	CU_ASSERT_EQUAL(cki_url_check("https://evil.com", false, why, sizeof why), CK_EURL);
	CU_ASSERT_STRING_EQUAL(why, "host not permitted");
	/* a NULL or tiny why buffer is fine */
	CU_ASSERT_EQUAL(cki_url_check("https://evil.com", false, NULL, 0), CK_EURL);
	CU_ASSERT_EQUAL(cki_url_check("https://evil.com", false, why, 1), CK_EURL);
	CU_ASSERT_STRING_EQUAL(why, "");
}

static void
test_base_url(void)
{
	char *base = NULL;

	CU_ASSERT_EQUAL(cki_url_base("https://api.cachekit.io", &base), CK_OK);
	CU_ASSERT_STRING_EQUAL(base, "https://api.cachekit.io");
	free(base);
	base = NULL;
	CU_ASSERT_EQUAL(cki_url_base("https://api.cachekit.io///", &base), CK_OK);
	CU_ASSERT_STRING_EQUAL(base, "https://api.cachekit.io");
	free(base);
	base = NULL;
	CU_ASSERT_EQUAL(cki_url_base("https://API.cachekit.io:8443/edge/v2/", &base), CK_OK);
	CU_ASSERT_STRING_EQUAL(base, "https://API.cachekit.io:8443/edge/v2");
	free(base);
	base = NULL;
	CU_ASSERT_EQUAL(cki_url_base("not a url", &base), CK_EURL);
	CU_ASSERT_PTR_NULL(base);
}

static CU_TestInfo tests[] = {
        {"allowlist is an exact match", test_allowlist_exact},
        {"custom-host bypass keeps the private block", test_custom_host_bypass},
        {"https only and no userinfo", test_scheme_and_userinfo},
        {"IPv4 private ranges and their edges", test_ipv4_ranges},
        {"IPv6 loopback, link-local, ULA and mapped forms", test_ipv6_forms},
        {"localhost in every spelling", test_localhost_variants},
        {"reasons never reveal the allowlist or the bypass", test_messages_generic},
        {"base URL drops trailing slashes and keeps the prefix", test_base_url},
        CU_TEST_INFO_NULL,
};

CK_UNIT_SUITE("url_policy", tests)
