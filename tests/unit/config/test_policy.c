/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The typed policy (config/policy.c): id sets, namespace pattern sets, rights lists and the
 * [access.NAME] sections read through cki_config_load(), with the error line each bad input
 * gets; and the access check (core/access.c) that dispatch asks with a peer's credentials.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "config/policy.h"
#include "core/access.h"
#include "cunit_main.h"

static char *
write_ini(const char *text)
{
	char *path = ck_tmp_path("ck-policy-test");
	int fd = mkstemp(path);
	CU_ASSERT_FATAL(fd >= 0);
	size_t n = strlen(text);
	CU_ASSERT_FATAL(write(fd, text, n) == (ssize_t)n);
	close(fd);
	return path;
}

/* Loads text as the config file; *err_text gets what went to err (caller frees). */
static ck_err
load_ini(cki_config *cfg, const char *text, char **err_text)
{
	char *path = write_ini(text);
	char *argv[] = {"cachekit-agent", "--config", path, NULL};
	size_t len = 0;
	FILE *err = open_memstream(err_text, &len);
	FILE *out = fopen("/dev/null", "w");
	CU_ASSERT_FATAL(err != NULL && out != NULL);
	bool exit_now = false;
	CU_ASSERT_EQUAL_FATAL(cki_config_defaults(cfg), CK_OK);
	ck_err rv = cki_config_load(cfg, 3, argv, out, err, &exit_now);
	fclose(err);
	fclose(out);
	unlink(path);
	free(path);
	return rv;
}

static void
test_id_set_parses_sorts_and_dedups(void)
{
	cki_id_set s = {0};
	CU_ASSERT_EQUAL(cki_id_set_parse(&s, " 1002, 1001 ,1002,0", "x", false, stderr), CK_OK);
	CU_ASSERT_EQUAL(s.n, 3);
	CU_ASSERT_TRUE(s.n == 3 && s.ids[0] == 0 && s.ids[1] == 1001 && s.ids[2] == 1002);
	CU_ASSERT_TRUE(cki_id_set_has(&s, 1001));
	CU_ASSERT_TRUE(cki_id_set_has(&s, 0));
	CU_ASSERT_FALSE(cki_id_set_has(&s, 1003));
	cki_id_set_free(&s);
	/* Names resolve through the user database: root is uid 0 on every system. */
	CU_ASSERT_EQUAL(cki_id_set_parse(&s, "root", "x", false, stderr), CK_OK);
	CU_ASSERT_TRUE(cki_id_set_has(&s, 0));
	cki_id_set_free(&s);
	CU_ASSERT_EQUAL(cki_id_set_parse(&s, "", "x", false, stderr), CK_OK);
	CU_ASSERT_EQUAL(s.n, 0);
	CU_ASSERT_FALSE(cki_id_set_has(&s, 0));
}

static void
test_id_set_errors_name_the_setting(void)
{
	static const char *const bad[] = {"12x", "-1", "4294967295", "ck-no-such-user-xyz",
	                                  "99999999999999999999"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *msg = NULL;
		size_t len = 0;
		FILE *err = open_memstream(&msg, &len);
		cki_id_set s = {0};
		CU_ASSERT_EQUAL(cki_id_set_parse(&s, bad[i], "allow-uids", false, err), CK_ECONFIG);
		fclose(err);
		CU_ASSERT_PTR_NOT_NULL(strstr(msg, "allow-uids"));
		CU_ASSERT_EQUAL(s.n, 0);
		free(msg);
	}
}

static void
test_ns_set_patterns(void)
{
	cki_ns_set s = {0};
	CU_ASSERT_EQUAL(cki_ns_set_parse(&s, "alice, shared-*", "x", stderr), CK_OK);
	CU_ASSERT_EQUAL(s.n, 2);
	CU_ASSERT_TRUE(cki_ns_set_match(&s, "alice"));
	CU_ASSERT_TRUE(cki_ns_set_match(&s, "shared-"));
	CU_ASSERT_TRUE(cki_ns_set_match(&s, "shared-docs"));
	CU_ASSERT_FALSE(cki_ns_set_match(&s, "alice2"));
	CU_ASSERT_FALSE(cki_ns_set_match(&s, "shared"));
	CU_ASSERT_FALSE(cki_ns_set_match(&s, "bob"));
	cki_ns_set_free(&s);
	CU_ASSERT_EQUAL(cki_ns_set_parse(&s, "*", "x", stderr), CK_OK);
	CU_ASSERT_TRUE(cki_ns_set_match(&s, "anything"));
	CU_ASSERT_TRUE(cki_ns_set_match(&s, "default"));
	cki_ns_set_free(&s);
	/* Not namespaces: a '*' inside, a colon, a space inside, 65 characters. */
	char long_ns[80];
	memset(long_ns, 'n', 65);
	long_ns[65] = '\0';
	const char *bad[] = {"a*b", "ns:x", "a b", long_ns};
	FILE *devnull = fopen("/dev/null", "w");
	for (size_t i = 0; i < 4; i++) {
		CU_ASSERT_EQUAL(cki_ns_set_parse(&s, bad[i], "x", devnull), CK_ECONFIG);
		CU_ASSERT_EQUAL(s.n, 0);
	}
	fclose(devnull);
}

static void
test_rights_parse(void)
{
	unsigned r = 0;
	CU_ASSERT_EQUAL(cki_rights_parse("read, write", &r, "x", stderr), CK_OK);
	CU_ASSERT_EQUAL(r, CKI_RIGHT_READ | CKI_RIGHT_WRITE);
	CU_ASSERT_EQUAL(cki_rights_parse("all", &r, "x", stderr), CK_OK);
	CU_ASSERT_EQUAL(r, CKI_RIGHT_ALL);
	char buf[64];
	CU_ASSERT_STRING_EQUAL(cki_rights_name(CKI_RIGHT_ALL, buf, sizeof(buf)),
	                       "read,write,delete,lock,secure");
	char *msg = NULL;
	size_t len = 0;
	FILE *err = open_memstream(&msg, &len);
	CU_ASSERT_EQUAL(cki_rights_parse("read, admin", &r, "allow", err), CK_ECONFIG);
	fclose(err);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "\"admin\""));
	free(msg);
}

static void
test_access_sections_load_typed(void)
{
	cki_config cfg;
	char *err = NULL;
	ck_err rv = load_ini(&cfg,
	                     "memory-limit = 2097152\n"
	                     "secure-namespaces = vault, pay-*\n"
	                     "[access.alice]\n"
	                     "uid = 1001\n"
	                     "namespaces = alice, shared-*\n"
	                     "allow = read, write, delete, lock, secure\n"
	                     "[access.readers]\n"
	                     "gid = 2000, 2001\n"
	                     "namespaces = shared-*\n"
	                     "allow = read\n",
	                     &err);
	CU_ASSERT_EQUAL(rv, CK_OK);
	if (rv != CK_OK)
		fprintf(stderr, "\n%s\n", err);
	free(err);
	const cki_access *a = cfg.policy.access;
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_EQUAL_FATAL(a->n, 2);
	CU_ASSERT_STRING_EQUAL(a->rules[0].name, "alice");
	CU_ASSERT_TRUE(cki_id_set_has(&a->rules[0].uids, 1001));
	CU_ASSERT_EQUAL(a->rules[0].rights, CKI_RIGHT_ALL);
	CU_ASSERT_EQUAL(a->rules[1].gids.n, 2);
	CU_ASSERT_EQUAL(a->rules[1].rights, CKI_RIGHT_READ);
	CU_ASSERT_TRUE(cki_ns_set_match(&cfg.policy.secure_ns, "pay-eu"));
	CU_ASSERT_FALSE(cki_ns_set_match(&cfg.policy.secure_ns, "alice"));
	/* The dump shows the rules. */
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	cki_config_dump(&cfg, out);
	fclose(out);
	CU_ASSERT_PTR_NOT_NULL(strstr(text,
	                              "[access.alice] uids=1 gids=0 namespaces=alice,shared-* "
	                              "allow=read,write,delete,lock,secure\n"));
	free(text);
	cki_config_free(&cfg);
	CU_ASSERT_PTR_NULL(cfg.policy.access);
}

static void
test_access_section_errors(void)
{
	static const struct {
		const char *ini;
		const char *expect;
	} cases[] = {
	        {"[access.a]\nuid = 1\nnamespaces = x\nallow = read, fly\n",
	         "unknown right \"fly\""},
	        {"[access.a]\nuid = 1\nnamespaces = x\nallow = read\nmode = 1\n",
	         "unknown access setting \"mode\""},
	        {"[access.a]\nnamespaces = x\nallow = read\n", "[access.a] needs uid or gid"},
	        {"[access.a]\nuid = 1\nallow = read\n", "[access.a] needs namespaces"},
	        {"[access.a]\nuid = 1\nnamespaces = x\n", "[access.a] needs allow"},
	        {"[access]\nuid = 1\n", "needs a name"},
	        {"[access.a]\nuid = 1x\nnamespaces = x\nallow = read\n", "uid: \"1x\""},
	        {"[access.a]\nuid = 1\nnamespaces = a:b\nallow = read\n", "\"a:b\" is not a "},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cki_config cfg;
		char *err = NULL;
		CU_ASSERT_EQUAL(load_ini(&cfg, cases[i].ini, &err), CK_ECONFIG);
		if (strstr(err, cases[i].expect) == NULL)
			fprintf(stderr, "\ncase %zu: expected \"%s\" in: %s\n", i, cases[i].expect,
			        err);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, cases[i].expect));
		free(err);
		cki_config_free(&cfg);
	}
}

/* ---- the access check (core/access.c) ----------------------------------------------------- */

static cki_peer
peer(unsigned uid, unsigned gid)
{
	cki_peer p = {.known = true, .uid = (uid_t)uid, .gid = (gid_t)gid, .pid = 42};
	return p;
}

static void
test_no_rules_grant_everything(void)
{
	cki_peer p = peer(1, 1);
	CU_ASSERT_EQUAL(cki_access_rights(NULL, &p, "x"), CKI_RIGHT_ALL);
	cki_access empty = {0};
	CU_ASSERT_EQUAL(cki_access_rights(&empty, &p, "x"), CKI_RIGHT_ALL);
	char m[8];
	CU_ASSERT_EQUAL(cki_access_check(NULL, &p, "x", CKI_RIGHT_ALL, "read", m, sizeof(m)),
	                CK_OK);
}

static void
test_rules_grant_only_what_they_say(void)
{
	cki_config cfg;
	char *err = NULL;
	CU_ASSERT_EQUAL_FATAL(load_ini(&cfg,
	                               "[access.alice]\nuid = 1001\nnamespaces = alice, shared-*\n"
	                               "allow = all\n"
	                               "[access.bob]\nuid = 1002\nnamespaces = shared-*\n"
	                               "allow = read\n"
	                               "[access.ops]\ngid = 3000\nnamespaces = *\n"
	                               "allow = read, delete\n",
	                               &err),
	                      CK_OK);
	free(err);
	const cki_access *a = cfg.policy.access;
	cki_peer alice = peer(1001, 100), bob = peer(1002, 100), ops = peer(1003, 3000);
	cki_peer bob_ops = peer(1002, 3000), nobody = peer(1004, 100);
	cki_peer unknown = {0};
	CU_ASSERT_EQUAL(cki_access_rights(a, &alice, "alice"), CKI_RIGHT_ALL);
	CU_ASSERT_EQUAL(cki_access_rights(a, &alice, "shared-x"), CKI_RIGHT_ALL);
	CU_ASSERT_EQUAL(cki_access_rights(a, &alice, "bob"), 0);
	CU_ASSERT_EQUAL(cki_access_rights(a, &bob, "alice"), 0);
	CU_ASSERT_EQUAL(cki_access_rights(a, &bob, "shared-x"), CKI_RIGHT_READ);
	CU_ASSERT_EQUAL(cki_access_rights(a, &ops, "alice"), CKI_RIGHT_READ | CKI_RIGHT_DELETE);
	/* Rules add up: bob's uid rule and the ops gid rule. */
	CU_ASSERT_EQUAL(cki_access_rights(a, &bob_ops, "alice"), CKI_RIGHT_READ | CKI_RIGHT_DELETE);
	CU_ASSERT_EQUAL(cki_access_rights(a, &nobody, "alice"), 0);
	CU_ASSERT_EQUAL(cki_access_rights(a, &unknown, "alice"), 0);

	char m[200];
	CU_ASSERT_EQUAL(cki_access_check(a, &bob, "alice", CKI_RIGHT_WRITE, "write", m, sizeof(m)),
	                CK_EDENIED);
	CU_ASSERT_PTR_NOT_NULL(strstr(m, "uid 1002"));
	CU_ASSERT_PTR_NOT_NULL(strstr(m, "write"));
	CU_ASSERT_PTR_NOT_NULL(strstr(m, "namespace \"alice\""));
	/* Read alone is granted, read with secure intent is not. */
	CU_ASSERT_EQUAL(cki_access_check(a, &bob, "shared-x", CKI_RIGHT_READ, "read", m, sizeof(m)),
	                CK_OK);
	CU_ASSERT_EQUAL(cki_access_check(a, &bob, "shared-x", CKI_RIGHT_READ | CKI_RIGHT_SECURE,
	                                 "read with secure intent", m, sizeof(m)),
	                CK_EDENIED);
	CU_ASSERT_PTR_NOT_NULL(strstr(m, "read with secure intent"));
	CU_ASSERT_EQUAL(cki_access_check(a, &unknown, "x", CKI_RIGHT_READ, "read", m, sizeof(m)),
	                CK_EDENIED);
	CU_ASSERT_PTR_NOT_NULL(strstr(m, "without credentials"));
	cki_config_free(&cfg);
}

static CU_TestInfo tests[] = {
        {"id sets parse, sort and drop duplicates", test_id_set_parses_sorts_and_dedups},
        {"id set errors name the setting", test_id_set_errors_name_the_setting},
        {"namespace sets: names, prefix* and *", test_ns_set_patterns},
        {"rights lists", test_rights_parse},
        {"[access.NAME] sections load as typed rules", test_access_sections_load_typed},
        {"bad access sections are errors naming the problem", test_access_section_errors},
        {"no rules: every peer may do everything", test_no_rules_grant_everything},
        {"rules grant only what they say, and add up", test_rules_grant_only_what_they_say},
        CU_TEST_INFO_NULL,
};

CK_UNIT_SUITE("policy", tests)
