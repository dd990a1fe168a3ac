/* SPDX-License-Identifier: Apache-2.0 */
/* Settings: defaults, the INI file, CACHEKIT_* environment variables and flags, their
 * priority, --help/--version/--check-config, cross-setting validation and comma lists. */
#define _GNU_SOURCE /* open_memstream */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cachekit/version.h"
#include "config/config.h"
#include "cunit_main.h"

extern char **environ;

/* Removes every CACHEKIT_* variable so the caller's environment cannot leak in. */
static void
clear_cachekit_env(void)
{
	unsetenv("REDIS_URL"); /* cachekit-py's fallback Redis setting selects an upstream too */
	for (;;) {
		char name[256] = "";
		for (char **e = environ; *e != NULL; e++) {
			if (strncmp(*e, "CACHEKIT_", 9) == 0) {
				size_t n = strcspn(*e, "=");
				if (n < sizeof(name)) {
					memcpy(name, *e, n);
					name[n] = '\0';
				}
				break;
			}
		}
		if (name[0] == '\0')
			return;
		unsetenv(name);
	}
}

static int
suite_init(void)
{
	clear_cachekit_env();
	return 0;
}

/* Writes text to a new temp file; returns its malloc'd path. */
static char *
write_ini(const char *text)
{
	char *path = ck_tmp_path("ck-config-test");
	int fd = mkstemp(path);
	CU_ASSERT_FATAL(fd >= 0);
	size_t n = strlen(text);
	CU_ASSERT_FATAL(write(fd, text, n) == (ssize_t)n);
	close(fd);
	return path;
}

/* Output captured from one load. */
typedef struct capture {
	char *out_text, *err_text;
	size_t out_len, err_len;
	FILE *out, *err;
} capture;

static void
capture_open(capture *c)
{
	memset(c, 0, sizeof(*c));
	c->out = open_memstream(&c->out_text, &c->out_len);
	c->err = open_memstream(&c->err_text, &c->err_len);
	CU_ASSERT_FATAL(c->out != NULL && c->err != NULL);
}

static void
capture_close(capture *c)
{
	fclose(c->out);
	fclose(c->err);
}

static void
capture_free(capture *c)
{
	free(c->out_text);
	free(c->err_text);
}

/* defaults + load(argv); leaves the captured output in cap (closed). */
static ck_err
load(cki_config *cfg, capture *cap, bool *exit_now, int argc, char **argv)
{
	CU_ASSERT_EQUAL_FATAL(cki_config_defaults(cfg), CK_OK);
	capture_open(cap);
	ck_err rv = cki_config_load(cfg, argc, argv, cap->out, cap->err, exit_now);
	capture_close(cap);
	return rv;
}

static void
release(cki_config *cfg, capture *cap)
{
	cki_config_free(cfg);
	capture_free(cap);
}

#define ARGV(...) ((char *[]){"cachekit-agent", __VA_ARGS__, NULL})
#define ARGC(...) ((int)(sizeof((char *[]){"cachekit-agent", __VA_ARGS__}) / sizeof(char *)))

static void
test_defaults(void)
{
	clear_cachekit_env();
	cki_config cfg;
	CU_ASSERT_EQUAL_FATAL(cki_config_defaults(&cfg), CK_OK);
	CU_ASSERT_STRING_EQUAL(cfg.upstream, "memory:");
	CU_ASSERT_STRING_EQUAL(cfg.log_level, "info");
	CU_ASSERT_STRING_EQUAL(cfg.tenant_id, "default");
	CU_ASSERT_FALSE(cfg.log_syslog);
	CU_ASSERT_FALSE(cfg.allow_custom_host);
	CU_ASSERT_FALSE(cfg.encryption_fail_closed);
	CU_ASSERT_FALSE(cfg.check_only);
	CU_ASSERT_EQUAL(cfg.timeout_ms, 5000);
	CU_ASSERT_EQUAL(cfg.max_deadline_ms, 60000);
	CU_ASSERT_EQUAL(cfg.max_value_bytes, 25000000);
	CU_ASSERT_EQUAL(cfg.memory_limit_bytes, 268435456);
	CU_ASSERT_EQUAL(cfg.socket_mode, 0660);
	CU_ASSERT_EQUAL(cfg.pool_size, 10);
	CU_ASSERT_EQUAL(cfg.max_attempts, 3);
	CU_ASSERT_EQUAL(cfg.breaker_failures, 5);
	CU_ASSERT_EQUAL(cfg.breaker_open_ms, 5000);
	CU_ASSERT_EQUAL(cfg.l1_bytes, 0);
	CU_ASSERT_EQUAL(cfg.refresh_ahead_pct, 50);
	CU_ASSERT_EQUAL(cfg.refresh_claim_ms, 10000);
	CU_ASSERT_PTR_NULL(cfg.socket_group);
	CU_ASSERT_PTR_NULL(cfg.allow_uids);
	CU_ASSERT_PTR_NULL(cfg.secure_namespaces);
	CU_ASSERT_PTR_NULL(cfg.config_file);
	CU_ASSERT_EQUAL(cki_config_validate(&cfg, stderr), CK_OK);
	cki_config_free(&cfg);
}

static void
test_default_endpoint_follows_xdg_runtime_dir(void)
{
	char *saved = getenv("XDG_RUNTIME_DIR") ? strdup(getenv("XDG_RUNTIME_DIR")) : NULL;
	cki_config cfg;
	setenv("XDG_RUNTIME_DIR", "/tmp/ck-xdg", 1);
	CU_ASSERT_EQUAL_FATAL(cki_config_defaults(&cfg), CK_OK);
	/* root always uses /run: XDG_RUNTIME_DIR is a per-user setting. */
	const char *expect = geteuid() != 0 ? "ipc:///tmp/ck-xdg/cachekit/agent.sock"
	                                    : "ipc:///run/cachekit/agent.sock";
	CU_ASSERT_STRING_EQUAL(cfg.endpoint, expect);
	cki_config_free(&cfg);
	unsetenv("XDG_RUNTIME_DIR");
	CU_ASSERT_EQUAL_FATAL(cki_config_defaults(&cfg), CK_OK);
	CU_ASSERT_STRING_EQUAL(cfg.endpoint, "ipc:///run/cachekit/agent.sock");
	cki_config_free(&cfg);
	if (saved != NULL)
		setenv("XDG_RUNTIME_DIR", saved, 1);
	free(saved);
}

static void
test_ini_file_sets_values(void)
{
	clear_cachekit_env();
	char *path = write_ini("; comment\n"
	                       "[agent]\n"
	                       "upstream = https://api.cachekit.io\n"
	                       "log-level = debug\n"
	                       "syslog = yes\n"
	                       "timeout = 0.25\n"
	                       "socket-mode = 0600\n"
	                       "secure-namespaces = billing, secrets\n");
	cki_config cfg;
	capture cap;
	bool exit_now = true;
	CU_ASSERT_EQUAL(load(&cfg, &cap, &exit_now, ARGC("--config", path), ARGV("--config", path)),
	                CK_OK);
	CU_ASSERT_FALSE(exit_now);
	CU_ASSERT_STRING_EQUAL(cfg.upstream, "https://api.cachekit.io");
	CU_ASSERT_STRING_EQUAL(cfg.log_level, "debug");
	CU_ASSERT_TRUE(cfg.log_syslog);
	CU_ASSERT_EQUAL(cfg.timeout_ms, 250);
	CU_ASSERT_EQUAL(cfg.socket_mode, 0600);
	CU_ASSERT_STRING_EQUAL(cfg.secure_namespaces, "billing, secrets");
	CU_ASSERT_STRING_EQUAL(cfg.config_file, path);
	CU_ASSERT_EQUAL(cap.err_len, 0);
	release(&cfg, &cap);
	unlink(path);
	free(path);
}

static void
test_ini_keys_may_use_underscores(void)
{
	clear_cachekit_env();
	char *path = write_ini("max_value_size = 1000\n"
	                       "encryption_fail_closed = on\n"
	                       "refresh_claim = 2\n");
	cki_config cfg;
	capture cap;
	bool exit_now;
	char arg[256];
	snprintf(arg, sizeof(arg), "--config=%s", path);
	CU_ASSERT_EQUAL(load(&cfg, &cap, &exit_now, ARGC(arg), ARGV(arg)), CK_OK);
	CU_ASSERT_EQUAL(cfg.max_value_bytes, 1000);
	CU_ASSERT_TRUE(cfg.encryption_fail_closed);
	CU_ASSERT_EQUAL(cfg.refresh_claim_ms, 2000);
	release(&cfg, &cap);
	unlink(path);
	free(path);
}

static void
test_missing_config_file_is_an_error(void)
{
	clear_cachekit_env();
	cki_config cfg;
	capture cap;
	bool exit_now;
	CU_ASSERT_EQUAL(load(&cfg, &cap, &exit_now, ARGC("--config=/nonexistent/ck.ini"),
	                     ARGV("--config=/nonexistent/ck.ini")),
	                CK_ECONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(cap.err_text, "cannot open config file /nonexistent/ck.ini"));
	release(&cfg, &cap);
}

static void
test_ini_unknown_setting_is_an_error_naming_the_file(void)
{
	clear_cachekit_env();
	char *path = write_ini("[agent]\nbogus = 1\npool-size = 7\nalso-bogus = 2\n");
	cki_config cfg;
	capture cap;
	bool exit_now;
	CU_ASSERT_EQUAL(load(&cfg, &cap, &exit_now, ARGC("--config", path), ARGV("--config", path)),
	                CK_ECONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(cap.err_text, path));
	CU_ASSERT_PTR_NOT_NULL(strstr(cap.err_text, "[agent]"));
	CU_ASSERT_PTR_NOT_NULL(strstr(cap.err_text, "unknown setting \"bogus\""));
	/* Every problem is reported at once. */
	CU_ASSERT_PTR_NOT_NULL(strstr(cap.err_text, "unknown setting \"also-bogus\""));
	release(&cfg, &cap);
	unlink(path);
	free(path);
}

static void
test_ini_syntax_error_names_the_line(void)
{
	clear_cachekit_env();
	char *path = write_ini("pool-size = 7\nthis line has no equals sign\n");
	cki_config cfg;
	capture cap;
	bool exit_now;
	CU_ASSERT_EQUAL(load(&cfg, &cap, &exit_now, ARGC("--config", path), ARGV("--config", path)),
	                CK_ECONFIG);
	char expect[300];
	snprintf(expect, sizeof(expect), "%s:2: syntax error", path);
	CU_ASSERT_PTR_NOT_NULL(strstr(cap.err_text, expect));
	release(&cfg, &cap);
	unlink(path);
	free(path);
}

/* Loads a one-line file and checks the error message. */
static void
expect_file_error(const char *line, const char *message)
{
	char *path = write_ini(line);
	cki_config cfg;
	capture cap;
	bool exit_now;
	CU_ASSERT_EQUAL(load(&cfg, &cap, &exit_now, ARGC("--config", path), ARGV("--config", path)),
	                CK_ECONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(cap.err_text, path));
	if (strstr(cap.err_text, message) == NULL) {
		fprintf(stderr, "\nexpected \"%s\" in: %s", message, cap.err_text);
		CU_FAIL("message not found");
	}
	release(&cfg, &cap);
	unlink(path);
	free(path);
}

static void
test_ini_bad_values_are_errors(void)
{
	clear_cachekit_env();
	expect_file_error("syslog = maybe\n", "syslog must be true or false, not \"maybe\"");
	expect_file_error("pool-size = many\n",
	                  "pool-size must be a whole number from 0 to 1000, not \"many\"");
	expect_file_error("pool-size = 1001\n", "pool-size must be a whole number from 0 to 1000");
	expect_file_error("pool-size = -3\n", "pool-size must be a whole number");
	expect_file_error("memory-limit = 12MB\n",
	                  "memory-limit must be a whole number, not \"12MB\"");
	expect_file_error("timeout = soon\n",
	                  "timeout must be a positive number of seconds, not \"soon\"");
	expect_file_error("socket-mode = 0999\n", "socket-mode must be a whole number");
	expect_file_error("max-value-size = 1e3\n", "max-value-size must be a whole number");
}

static void
test_env_timeout_takes_fractional_seconds(void)
{
	clear_cachekit_env();
	cki_config cfg;
	capture cap;
	bool exit_now;
	setenv("CACHEKIT_TIMEOUT", "0.5", 1);
	CU_ASSERT_EQUAL(load(&cfg, &cap, &exit_now, 1, ARGV(NULL)), CK_OK);
	CU_ASSERT_EQUAL(cfg.timeout_ms, 500);
	release(&cfg, &cap);

	setenv("CACHEKIT_TIMEOUT", "2", 1);
	CU_ASSERT_EQUAL(load(&cfg, &cap, &exit_now, 1, ARGV(NULL)), CK_OK);
	CU_ASSERT_EQUAL(cfg.timeout_ms, 2000);
	release(&cfg, &cap);

	static const char *const bad[] = {"0", "-1", "abc", "0.0", "nan", "inf", "1s", "601"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv("CACHEKIT_TIMEOUT", bad[i], 1);
		CU_ASSERT_EQUAL(load(&cfg, &cap, &exit_now, 1, ARGV(NULL)), CK_ECONFIG);
		CU_ASSERT_PTR_NOT_NULL(strstr(cap.err_text, "CACHEKIT_TIMEOUT"));
		CU_ASSERT_PTR_NOT_NULL(strstr(cap.err_text, bad[i]));
		release(&cfg, &cap);
	}
	unsetenv("CACHEKIT_TIMEOUT");
}

static void
test_env_sets_values_and_errors_name_the_variable(void)
{
	clear_cachekit_env();
	cki_config cfg;
	capture cap;
	bool exit_now;
	setenv("CACHEKIT_API_URL", "https://api.cachekit.io", 1);
	setenv("CACHEKIT_CONNECTION_POOL_SIZE", "4", 1);
	setenv("CACHEKIT_ALLOW_CUSTOM_HOST", "TRUE", 1);
	setenv("CACHEKIT_LOG_LEVEL", "", 1); /* empty counts as unset */
	CU_ASSERT_EQUAL(load(&cfg, &cap, &exit_now, 1, ARGV(NULL)), CK_OK);
	CU_ASSERT_STRING_EQUAL(cfg.upstream, "https://api.cachekit.io");
	CU_ASSERT_EQUAL(cfg.pool_size, 4);
	CU_ASSERT_TRUE(cfg.allow_custom_host);
	CU_ASSERT_STRING_EQUAL(cfg.log_level, "info");
	release(&cfg, &cap);

	setenv("CACHEKIT_ALLOW_CUSTOM_HOST", "sometimes", 1);
	CU_ASSERT_EQUAL(load(&cfg, &cap, &exit_now, 1, ARGV(NULL)), CK_ECONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(
	        cap.err_text, "CACHEKIT_ALLOW_CUSTOM_HOST: allow-custom-host must be true or "
	                      "false, not \"sometimes\""));
	release(&cfg, &cap);
	clear_cachekit_env();
}

static void
test_env_negative_number_after_space_is_refused(void)
{
	clear_cachekit_env();
	cki_config cfg;
	capture cap;
	bool exit_now;
	setenv("CACHEKIT_MEMORY_LIMIT", " -1", 1);
	CU_ASSERT_EQUAL(load(&cfg, &cap, &exit_now, 1, ARGV(NULL)), CK_ECONFIG);
	release(&cfg, &cap);
	unsetenv("CACHEKIT_MEMORY_LIMIT");
}

static void
test_config_file_from_environment(void)
{
	clear_cachekit_env();
	char *path = write_ini("tenant-id = acme\n");
	setenv("CACHEKIT_AGENT_CONFIG", path, 1);
	cki_config cfg;
	capture cap;
	bool exit_now;
	CU_ASSERT_EQUAL(load(&cfg, &cap, &exit_now, 1, ARGV(NULL)), CK_OK);
	CU_ASSERT_STRING_EQUAL(cfg.tenant_id, "acme");
	CU_ASSERT_STRING_EQUAL(cfg.config_file, path);
	release(&cfg, &cap);
	unsetenv("CACHEKIT_AGENT_CONFIG");
	unlink(path);
	free(path);
}

static void
test_flags_in_every_form(void)
{
	clear_cachekit_env();
	cki_config cfg;
	capture cap;
	bool exit_now;
	CU_ASSERT_EQUAL(load(&cfg, &cap, &exit_now,
	                     ARGC("--pool-size", "20", "--tenant-id=t1", "--syslog",
	                          "--timeout=1.5", "--allow-custom-host"),
	                     ARGV("--pool-size", "20", "--tenant-id=t1", "--syslog",
	                          "--timeout=1.5", "--allow-custom-host")),
	                CK_OK);
	CU_ASSERT_EQUAL(cfg.pool_size, 20);
	CU_ASSERT_STRING_EQUAL(cfg.tenant_id, "t1");
	CU_ASSERT_TRUE(cfg.log_syslog);        /* bare, followed by another flag */
	CU_ASSERT_TRUE(cfg.allow_custom_host); /* bare, last */
	CU_ASSERT_EQUAL(cfg.timeout_ms, 1500);
	release(&cfg, &cap);

	/* A boolean may also take a value, separate or after "=". */
	CU_ASSERT_EQUAL(load(&cfg, &cap, &exit_now,
	                     ARGC("--syslog", "false", "--allow-custom-host=no"),
	                     ARGV("--syslog", "false", "--allow-custom-host=no")),
	                CK_OK);
	CU_ASSERT_FALSE(cfg.log_syslog);
	CU_ASSERT_FALSE(cfg.allow_custom_host);
	release(&cfg, &cap);
}

static void
test_flag_errors(void)
{
	clear_cachekit_env();
	cki_config cfg;
	capture cap;
	bool exit_now;
	CU_ASSERT_EQUAL(load(&cfg, &cap, &exit_now, ARGC("--no-such-flag"), ARGV("--no-such-flag")),
	                CK_ECONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(cap.err_text, "unknown option \"--no-such-flag\""));
	release(&cfg, &cap);

	CU_ASSERT_EQUAL(load(&cfg, &cap, &exit_now, ARGC("stray"), ARGV("stray")), CK_ECONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(cap.err_text, "unexpected argument \"stray\""));
	release(&cfg, &cap);

	CU_ASSERT_EQUAL(load(&cfg, &cap, &exit_now, ARGC("--pool-size"), ARGV("--pool-size")),
	                CK_ECONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(cap.err_text, "option --pool-size needs a value"));
	release(&cfg, &cap);

	CU_ASSERT_EQUAL(load(&cfg, &cap, &exit_now, ARGC("--pool-size=x"), ARGV("--pool-size=x")),
	                CK_ECONFIG);
	CU_ASSERT_PTR_NOT_NULL(
	        strstr(cap.err_text, "--pool-size: pool-size must be a whole number"));
	release(&cfg, &cap);
}

/* pool-size from file 11, env 12, flag 13, each source switched on or off. */
static uint32_t
pool_size_with(const char *path, bool env, bool flag)
{
	if (env)
		setenv("CACHEKIT_CONNECTION_POOL_SIZE", "12", 1);
	else
		unsetenv("CACHEKIT_CONNECTION_POOL_SIZE");
	char *argv[] = {"cachekit-agent", "--config", (char *)path, "--pool-size", "13", NULL};
	cki_config cfg;
	capture cap;
	bool exit_now;
	uint32_t got = 0;
	if (load(&cfg, &cap, &exit_now, flag ? 5 : 3, argv) == CK_OK)
		got = cfg.pool_size;
	release(&cfg, &cap);
	return got;
}

static void
test_priority_file_then_env_then_flags(void)
{
	clear_cachekit_env();
	char *path = write_ini("pool-size = 11\n");
	CU_ASSERT_EQUAL(pool_size_with(path, false, false), 11);
	CU_ASSERT_EQUAL(pool_size_with(path, true, false), 12);
	CU_ASSERT_EQUAL(pool_size_with(path, false, true), 13);
	CU_ASSERT_EQUAL(pool_size_with(path, true, true), 13);
	unsetenv("CACHEKIT_CONNECTION_POOL_SIZE");
	unlink(path);
	free(path);
}

static void
test_help_and_version_print_and_exit(void)
{
	clear_cachekit_env();
	cki_config cfg;
	capture cap;
	bool exit_now = false;
	/* --help wins even over a later bad flag. */
	CU_ASSERT_EQUAL(
	        load(&cfg, &cap, &exit_now, ARGC("--help", "--bogus"), ARGV("--help", "--bogus")),
	        CK_OK);
	CU_ASSERT_TRUE(exit_now);
	CU_ASSERT_PTR_NOT_NULL(strstr(cap.out_text, "Usage: cachekit-agent"));
	CU_ASSERT_PTR_NOT_NULL(strstr(cap.out_text, "--pool-size"));
	CU_ASSERT_PTR_NOT_NULL(strstr(cap.out_text, "CACHEKIT_CONNECTION_POOL_SIZE"));
	CU_ASSERT_PTR_NOT_NULL(strstr(cap.out_text, "--check-config"));
	CU_ASSERT_EQUAL(cap.err_len, 0);
	release(&cfg, &cap);

	exit_now = false;
	CU_ASSERT_EQUAL(load(&cfg, &cap, &exit_now, ARGC("--version"), ARGV("--version")), CK_OK);
	CU_ASSERT_TRUE(exit_now);
	char expect[64];
	snprintf(expect, sizeof(expect), "cachekit-agent %s\n", CK_VERSION_STRING);
	CU_ASSERT_STRING_EQUAL(cap.out_text, expect);
	release(&cfg, &cap);
}

static void
test_check_config_flag(void)
{
	clear_cachekit_env();
	cki_config cfg;
	capture cap;
	bool exit_now = true;
	CU_ASSERT_EQUAL(load(&cfg, &cap, &exit_now, ARGC("--check-config"), ARGV("--check-config")),
	                CK_OK);
	CU_ASSERT_TRUE(cfg.check_only);
	CU_ASSERT_FALSE(exit_now);
	release(&cfg, &cap);
}

/* Validates cfg with one field changed by the caller; returns the result and the message. */
static ck_err
validate(const cki_config *cfg, char *msg, size_t cap)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	ck_err rv = cki_config_validate(cfg, f);
	fclose(f);
	snprintf(msg, cap, "%s", text ? text : "");
	free(text);
	return rv;
}

static void
replace(char **field, const char *value)
{
	free(*field);
	*field = strdup(value);
}

static void
test_validate_endpoint(void)
{
	cki_config cfg;
	char msg[512];
	CU_ASSERT_EQUAL_FATAL(cki_config_defaults(&cfg), CK_OK);
	replace(&cfg.endpoint, "tcp://127.0.0.1:5555");
	CU_ASSERT_EQUAL(validate(&cfg, msg, sizeof(msg)), CK_ECONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "endpoint must be an ipc:// path"));
	replace(&cfg.endpoint, "ipc://");
	CU_ASSERT_EQUAL(validate(&cfg, msg, sizeof(msg)), CK_ECONFIG);

	char ep[200] = "ipc:///";
	memset(ep + 7, 'p', 105); /* path of 106 characters */
	ep[7 + 105] = '\0';
	replace(&cfg.endpoint, ep);
	CU_ASSERT_EQUAL(validate(&cfg, msg, sizeof(msg)), CK_OK);
	memset(ep + 7, 'p', 107); /* path of 108 characters: no room for the NUL */
	ep[7 + 107] = '\0';
	replace(&cfg.endpoint, ep);
	CU_ASSERT_EQUAL(validate(&cfg, msg, sizeof(msg)), CK_ECONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "too long"));
	memset(ep + 7, 'p', 106);
	ep[7 + 106] = '\0';
	replace(&cfg.endpoint, ep);
	CU_ASSERT_EQUAL(validate(&cfg, msg, sizeof(msg)), CK_OK);
	cki_config_free(&cfg);
}

static void
test_redis_url_variables_select_the_upstream(void)
{
	clear_cachekit_env();
	cki_config cfg;
	capture cap;
	bool exit_now;
	char msg[512];
	setenv("REDIS_URL", "redis://fallback:6379", 1);
	CU_ASSERT_EQUAL(load(&cfg, &cap, &exit_now, 1, ARGV(NULL)), CK_OK);
	CU_ASSERT_STRING_EQUAL(cfg.upstream, "redis://fallback:6379");
	CU_ASSERT_EQUAL(validate(&cfg, msg, sizeof(msg)), CK_OK);
	release(&cfg, &cap);
	setenv("CACHEKIT_REDIS_URL", "redis+cluster://a:7000,b:7001", 1);
	CU_ASSERT_EQUAL(load(&cfg, &cap, &exit_now, 1, ARGV(NULL)), CK_OK);
	CU_ASSERT_STRING_EQUAL(cfg.upstream, "redis+cluster://a:7000,b:7001");
	CU_ASSERT_EQUAL(validate(&cfg, msg, sizeof(msg)), CK_OK);
	release(&cfg, &cap);
	setenv("CACHEKIT_API_URL", "https://api.cachekit.io", 1);
	CU_ASSERT_EQUAL(load(&cfg, &cap, &exit_now, 1, ARGV(NULL)), CK_OK);
	CU_ASSERT_STRING_EQUAL(cfg.upstream, "https://api.cachekit.io");
	release(&cfg, &cap);
	CU_ASSERT_EQUAL(load(&cfg, &cap, &exit_now, 3, ARGV("--upstream", "redis+unix:///r.sock")),
	                CK_OK);
	CU_ASSERT_STRING_EQUAL(cfg.upstream, "redis+unix:///r.sock");
	CU_ASSERT_EQUAL(validate(&cfg, msg, sizeof(msg)), CK_OK);
	release(&cfg, &cap);
	clear_cachekit_env();
}

static void
test_validate_upstream_level_and_limits(void)
{
	cki_config cfg;
	char msg[512];
	CU_ASSERT_EQUAL_FATAL(cki_config_defaults(&cfg), CK_OK);
	replace(&cfg.upstream, "http://api.cachekit.io");
	CU_ASSERT_EQUAL(validate(&cfg, msg, sizeof(msg)), CK_ECONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "upstream must be memory: or an https:// URL"));
	replace(&cfg.upstream, "https://api.cachekit.io");
	CU_ASSERT_EQUAL(validate(&cfg, msg, sizeof(msg)), CK_OK);

	replace(&cfg.log_level, "verbose");
	CU_ASSERT_EQUAL(validate(&cfg, msg, sizeof(msg)), CK_ECONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "log-level must be"));
	replace(&cfg.log_level, "warning");
	CU_ASSERT_EQUAL(validate(&cfg, msg, sizeof(msg)), CK_OK);

	cfg.max_attempts = 0;
	CU_ASSERT_EQUAL(validate(&cfg, msg, sizeof(msg)), CK_ECONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "max-attempts"));
	cfg.max_attempts = 1;
	cfg.memory_limit_bytes = 1000;
	CU_ASSERT_EQUAL(validate(&cfg, msg, sizeof(msg)), CK_ECONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "memory-limit"));
	cfg.memory_limit_bytes = 1u << 20;
	cfg.pool_size = 0;
	cfg.max_value_bytes = 0;
	CU_ASSERT_EQUAL(validate(&cfg, msg, sizeof(msg)), CK_ECONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "pool-size"));
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "max-value-size")); /* both reported */
	cki_config_free(&cfg);
}

static void
test_dump_prints_every_setting(void)
{
	cki_config cfg;
	CU_ASSERT_EQUAL_FATAL(cki_config_defaults(&cfg), CK_OK);
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	cki_config_dump(&cfg, f);
	fclose(f);
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "config-file = (none)\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "upstream = memory:\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "timeout = 5.000\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "socket-mode = 0660\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "max-value-size = 25000000\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "syslog = false\n"));
	free(text);
	cki_config_free(&cfg);
	cki_config_free(NULL);
}

/* Namespace lists become typed sets at load (policy.h); the old comma-list edge cases hold. */
static bool
list_contains(const char *list, const char *name)
{
	cki_ns_set set = {0};
	FILE *devnull = fopen("/dev/null", "w");
	CU_ASSERT_FATAL(devnull != NULL);
	ck_err rv = cki_ns_set_parse(&set, list, "test", devnull);
	fclose(devnull);
	CU_ASSERT_EQUAL_FATAL(rv, CK_OK);
	bool found = cki_ns_set_match(&set, name);
	cki_ns_set_free(&set);
	return found;
}

static void
test_list_contains(void)
{
	CU_ASSERT_TRUE(list_contains("a,b,c", "b"));
	CU_ASSERT_TRUE(list_contains("a,b,c", "a"));
	CU_ASSERT_TRUE(list_contains("a,b,c", "c"));
	CU_ASSERT_TRUE(list_contains(" billing , secrets ", "billing"));
	CU_ASSERT_TRUE(list_contains(" billing , secrets ", "secrets"));
	CU_ASSERT_TRUE(list_contains("a,,b", "b"));
	CU_ASSERT_TRUE(list_contains(",,only,", "only"));
	CU_ASSERT_FALSE(list_contains("a,,b", ""));
	CU_ASSERT_FALSE(list_contains("abc,d", "ab"));
	CU_ASSERT_FALSE(list_contains("ab,c", "abc"));
	CU_ASSERT_FALSE(list_contains("", "a"));
	CU_ASSERT_FALSE(list_contains(" , ", "a"));
	CU_ASSERT_FALSE(list_contains(NULL, "a"));
	CU_ASSERT_FALSE(list_contains("a", NULL));
	CU_ASSERT_FALSE(list_contains("Billing", "billing")); /* case matters */
}

static CU_TestInfo tests[] = {
        {"defaults", test_defaults},
        {"CACHEKIT_REDIS_URL and REDIS_URL select a Redis upstream",
         test_redis_url_variables_select_the_upstream},
        {"default endpoint follows XDG_RUNTIME_DIR", test_default_endpoint_follows_xdg_runtime_dir},
        {"an INI file sets values", test_ini_file_sets_values},
        {"INI keys may use underscores", test_ini_keys_may_use_underscores},
        {"a missing config file is an error", test_missing_config_file_is_an_error},
        {"an unknown INI setting is an error naming the file",
         test_ini_unknown_setting_is_an_error_naming_the_file},
        {"an INI syntax error names the line", test_ini_syntax_error_names_the_line},
        {"bad INI values are errors naming the setting", test_ini_bad_values_are_errors},
        {"CACHEKIT_TIMEOUT takes fractional seconds", test_env_timeout_takes_fractional_seconds},
        {"environment sets values; errors name the variable",
         test_env_sets_values_and_errors_name_the_variable},
        {"a negative number after a space is refused",
         test_env_negative_number_after_space_is_refused},
        {"CACHEKIT_AGENT_CONFIG names the config file", test_config_file_from_environment},
        {"flags in every form", test_flags_in_every_form},
        {"flag errors", test_flag_errors},
        {"priority: file < environment < flags", test_priority_file_then_env_then_flags},
        {"--help and --version print and exit", test_help_and_version_print_and_exit},
        {"--check-config sets check_only", test_check_config_flag},
        {"validate: endpoint scheme and length", test_validate_endpoint},
        {"validate: upstream, log level and limits", test_validate_upstream_level_and_limits},
        {"dump prints every setting", test_dump_prints_every_setting},
        {"list_contains edge cases", test_list_contains},
        CU_TEST_INFO_NULL,
};

CK_UNIT_SUITE_FULL("config", tests, suite_init, NULL)
