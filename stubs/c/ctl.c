/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cachekit-ctl: a command-line client of the cachekit agent, built on libcachekit-stub. It
 * reads and writes keys (binary safe, values from stdin), inspects TTLs, takes distributed
 * locks (optionally running a command while holding one), and shows the agent's health and
 * counters. Exit codes are stable so scripts can branch on them (see usage()). This file
 * parses the command line and dispatches; the commands themselves are in ctl_cmds.c.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cachekit/stub.h"
#include "ctl.h"

static void
usage(FILE *f)
{
	fprintf(f,
	        "Usage: " PROG " [OPTIONS] COMMAND [ARGS...]\n"
	        "\n"
	        "Talks to the local cachekit agent.\n"
	        "\n"
	        "Commands:\n"
	        "  get KEY                 write the value to stdout (raw bytes, no newline "
	        "added)\n"
	        "  set KEY [VALUE|-]       store VALUE, or stdin when VALUE is omitted or \"-\"\n"
	        "                          (binary safe; use `set KEY -- VALUE` for a VALUE "
	        "starting with -)\n"
	        "  del KEY                 delete KEY\n"
	        "  exists KEY              print true or false\n"
	        "  ttl KEY                 print seconds until eviction (-1: no expiry)\n"
	        "  touch KEY TTL           give KEY a new fresh window of TTL seconds\n"
	        "  lock NAME [-- CMD ARGS...]\n"
	        "                          with CMD: run CMD while holding the lock, release it "
	        "after,\n"
	        "                          exit with CMD's status. Without CMD: acquire, print "
	        "the\n"
	        "                          handle in hex and exit (the agent releases the lock "
	        "when\n"
	        "                          this process exits; useful to test contention)\n"
	        "  unlock HANDLEHEX        release a lock by handle (only its holder may)\n"
	        "  renew HANDLEHEX         renew a lock's lease by handle (only its holder may;\n"
	        "                          not over the cachekit.io API)\n"
	        "  health                  show the agent's health report\n"
	        "  stats                   show the agent's counters\n"
	        "  help                    show this help\n"
	        "\n"
	        "Options:\n"
	        "  --endpoint E            agent endpoint (default: $CACHEKIT_AGENT_ENDPOINT, "
	        "else\n"
	        "                          ipc://$XDG_RUNTIME_DIR/cachekit/agent.sock for "
	        "non-root,\n"
	        "                          else ipc:///run/cachekit/agent.sock)\n"
	        "  --timeout MS            per-call timeout in ms (default: $CACHEKIT_TIMEOUT s, "
	        "or 5000)\n"
	        "  --namespace NS          namespace for the key\n"
	        "  --json                  print results as JSON (get: value as a string when it "
	        "is\n"
	        "                          UTF-8, else base64 with \"encoding\":\"base64\")\n"
	        "  --secure                get/set: decrypt/encrypt in the agent\n"
	        "  --ttl S                 set: fresh window in seconds (0: the agent's "
	        "default-ttl)\n"
	        "  --stale-ttl S           set: stale window after the TTL, in seconds\n"
	        "  --sliding               set: reads extend the TTL\n"
	        "  --prometheus            stats: Prometheus text format (for a textfile "
	        "collector)\n"
	        "  --lease MS              lock, renew: lease in ms (default 30000)\n"
	        "  --wait MS               lock: keep trying this long while contested\n"
	        "  -h, --help              show this help\n"
	        "  -V, --version           show the version\n"
	        "\n"
	        "Exit status:\n"
	        "  0  success\n"
	        "  1  miss: get/ttl/touch of an absent key, exists false, del of an absent key,\n"
	        "     renew of a lock no longer held\n"
	        "  2  usage error\n"
	        "  3  error (message on stderr; an unhealthy health report)\n"
	        "  4  timeout (no answer from the agent in time)\n"
	        "  5  lock contested\n"
	        "  lock NAME -- CMD: CMD's exit status (128+N when killed by signal N)\n");
}

int
cki_ctl_usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, PROG ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '" PROG " --help'.\n");
	return EXIT_USAGE;
}

bool
cki_ctl_parse_u32(const char *s, uint32_t *out)
{
	char *end = NULL;
	unsigned long long v;

	if (s == NULL || s[0] < '0' || s[0] > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > UINT32_MAX)
		return false;
	*out = (uint32_t)v;
	return true;
}

/* ---- main ------------------------------------------------------------------------------- */

enum {
	OPT_ENDPOINT = 256,
	OPT_TIMEOUT,
	OPT_NAMESPACE,
	OPT_JSON,
	OPT_SECURE,
	OPT_TTL,
	OPT_STALE_TTL,
	OPT_SLIDING,
	OPT_LEASE,
	OPT_WAIT,
	OPT_PROMETHEUS,
};

static const struct option long_opts[] = {
        {"endpoint", required_argument, NULL, OPT_ENDPOINT},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"namespace", required_argument, NULL, OPT_NAMESPACE},
        {"json", no_argument, NULL, OPT_JSON},
        {"secure", no_argument, NULL, OPT_SECURE},
        {"ttl", required_argument, NULL, OPT_TTL},
        {"stale-ttl", required_argument, NULL, OPT_STALE_TTL},
        {"sliding", no_argument, NULL, OPT_SLIDING},
        {"lease", required_argument, NULL, OPT_LEASE},
        {"wait", required_argument, NULL, OPT_WAIT},
        {"prometheus", no_argument, NULL, OPT_PROMETHEUS},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
};

/* Number of positional arguments each command takes (min, max), or -1 for unknown. */
static bool
command_arity(const char *cmd, int *min, int *max)
{
	static const struct {
		const char *name;
		int min, max;
	} table[] = {
	        {"get", 1, 1},   {"set", 1, 2},    {"del", 1, 1},   {"exists", 1, 1},
	        {"ttl", 1, 1},   {"touch", 2, 2},  {"lock", 1, 1},  {"unlock", 1, 1},
	        {"renew", 1, 1}, {"health", 0, 0}, {"stats", 0, 0}, {"help", 0, 0},
	};
	size_t i;

	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		if (strcmp(cmd, table[i].name) == 0) {
			*min = table[i].min;
			*max = table[i].max;
			return true;
		}
	}
	return false;
}

int
main(int argc, char **argv)
{
	ck_client_opts copts = CK_CLIENT_OPTS_INIT;
	struct ctl ctl;
	char **rest = NULL; /* arguments after "--" */
	int nopt = argc, nrest = 0, opt, npos, min, max, i, rc;
	const char *cmd;
	char **pos;
	ck_err rv;

	memset(&ctl, 0, sizeof(ctl));
	/* Options are parsed only before "--"; what follows is a VALUE or a CMD, untouched. */
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			nopt = i;
			rest = argv + i + 1;
			nrest = argc - i - 1;
			break;
		}
	}
	opterr = 0;
	while ((opt = getopt_long(nopt, argv, ":hV", long_opts, NULL)) != -1) {
		uint32_t *num = NULL;
		bool *flag = NULL;
		switch (opt) {
		case 'h':
			usage(stdout);
			return EXIT_OK;
		case 'V':
			printf(PROG " %s\n", CK_VERSION_STRING);
			return EXIT_OK;
		case OPT_ENDPOINT:
			copts.endpoint = optarg;
			break;
		case OPT_NAMESPACE:
			copts.ns = optarg;
			break;
		case OPT_JSON:
			ctl.json = true;
			break;
		case OPT_SECURE:
			ctl.secure = true;
			break;
		case OPT_SLIDING:
			ctl.sliding = true;
			break;
		case OPT_PROMETHEUS:
			ctl.prometheus = true;
			break;
		case OPT_TIMEOUT:
			num = &ctl.timeout_ms;
			break;
		case OPT_TTL:
			num = &ctl.ttl_s, flag = &ctl.have_ttl;
			break;
		case OPT_STALE_TTL:
			num = &ctl.stale_ttl_s, flag = &ctl.have_stale;
			break;
		case OPT_LEASE:
			num = &ctl.lease_ms, flag = &ctl.have_lease;
			break;
		case OPT_WAIT:
			num = &ctl.wait_ms, flag = &ctl.have_wait;
			break;
		case ':':
			return cki_ctl_usage_error("option '%s' needs a value", argv[optind - 1]);
		default:
			return cki_ctl_usage_error("unknown option '%s'", argv[optind - 1]);
		}
		if (num != NULL && !cki_ctl_parse_u32(optarg, num))
			return cki_ctl_usage_error("'%s' is not a number", optarg);
		if (flag != NULL)
			*flag = true;
	}
	pos = argv + optind;
	npos = nopt - optind;
	if (npos < 1)
		return cki_ctl_usage_error("%s", "no command given");
	cmd = pos[0];
	if (!command_arity(cmd, &min, &max))
		return cki_ctl_usage_error("unknown command '%s'", cmd);
	if (strcmp(cmd, "help") == 0) {
		usage(stdout);
		return EXIT_OK;
	}
	/* "set KEY -- VALUE" and "lock NAME -- CMD...": the part after "--" is an argument. */
	if (strcmp(cmd, "set") == 0 && nrest > 0 && npos == 2) {
		if (nrest != 1)
			return cki_ctl_usage_error("%s", "set takes one VALUE");
		pos[npos++] = rest[0]; /* the slot of the "--" itself, right after them */
		nrest = 0;
	}
	if (npos - 1 < min || npos - 1 > max)
		return cki_ctl_usage_error("wrong number of arguments for '%s'", cmd);
	if (nrest > 0 && strcmp(cmd, "lock") != 0)
		return cki_ctl_usage_error("unexpected arguments after '--' for '%s'", cmd);
	if (strcmp(cmd, "lock") == 0 && rest != NULL && nrest == 0)
		return cki_ctl_usage_error("%s", "lock: no command after '--'");
	if ((ctl.have_ttl || ctl.have_stale || ctl.sliding) && strcmp(cmd, "set") != 0)
		return cki_ctl_usage_error(
		        "--ttl, --stale-ttl and --sliding apply to set, not '%s'", cmd);
	if (ctl.have_lease && strcmp(cmd, "lock") != 0 && strcmp(cmd, "renew") != 0)
		return cki_ctl_usage_error("--lease applies to lock and renew, not '%s'", cmd);
	if (ctl.have_wait && strcmp(cmd, "lock") != 0)
		return cki_ctl_usage_error("--wait applies to lock, not '%s'", cmd);
	if (ctl.secure && strcmp(cmd, "get") != 0 && strcmp(cmd, "set") != 0)
		return cki_ctl_usage_error("--secure applies to get and set, not '%s'", cmd);

	copts.timeout_ms = ctl.timeout_ms;
	if ((rv = ck_client_open(&ctl.client, &copts)) != CK_OK) {
		fprintf(stderr, PROG ": cannot open client: %s\n", ck_strerror(rv));
		return EXIT_ERR;
	}
	if (strcmp(cmd, "get") == 0)
		rc = cki_ctl_cmd_get(&ctl, pos[1]);
	else if (strcmp(cmd, "set") == 0)
		rc = cki_ctl_cmd_set(&ctl, pos[1], npos > 2 ? pos[2] : NULL);
	else if (strcmp(cmd, "del") == 0)
		rc = cki_ctl_cmd_del(&ctl, pos[1]);
	else if (strcmp(cmd, "exists") == 0)
		rc = cki_ctl_cmd_exists(&ctl, pos[1]);
	else if (strcmp(cmd, "ttl") == 0)
		rc = cki_ctl_cmd_ttl(&ctl, pos[1]);
	else if (strcmp(cmd, "touch") == 0)
		rc = cki_ctl_cmd_touch(&ctl, pos[1], pos[2]);
	else if (strcmp(cmd, "lock") == 0)
		rc = cki_ctl_cmd_lock(&ctl, pos[1], rest);
	else if (strcmp(cmd, "unlock") == 0)
		rc = cki_ctl_cmd_unlock(&ctl, pos[1]);
	else if (strcmp(cmd, "renew") == 0)
		rc = cki_ctl_cmd_renew(&ctl, pos[1]);
	else if (strcmp(cmd, "health") == 0)
		rc = cki_ctl_cmd_health(&ctl);
	else
		rc = cki_ctl_cmd_stats(&ctl);
	ck_client_close(ctl.client);
	if (fflush(stdout) != 0 && rc == EXIT_OK) {
		fprintf(stderr, PROG ": cannot write stdout: %s\n", strerror(errno));
		rc = EXIT_ERR;
	}
	return rc;
}
