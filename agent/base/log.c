/* SPDX-License-Identifier: Apache-2.0 */
/* Levelled logging to stderr and optionally syslog. One line per call, written with one
 * write(2) so lines from concurrent processes sharing stderr do not interleave. Lines a peer
 * can trigger at will go through a per-site rate limiter with a suppressed count. */
#include "base/log.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static cki_log_level log_level = CKI_LOG_INFO;
static cki_log_format log_format = CKI_LOG_TEXT;
static bool log_syslog;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void
cki_log_set_level(cki_log_level level)
{
	log_level = level;
}

cki_log_level
cki_log_get_level(void)
{
	return log_level;
}

bool
cki_log_parse_level(const char *s, cki_log_level *out)
{
	for (int i = 0; i <= CKI_LOG_DEBUG; i++) {
		if (s != NULL && strcmp(s, level_names[i]) == 0) {
			*out = (cki_log_level)i;
			return true;
		}
	}
	if (s != NULL && strcmp(s, "warning") == 0) {
		*out = CKI_LOG_WARN;
		return true;
	}
	return false;
}

void
cki_log_use_syslog(bool on)
{
	if (on && !log_syslog)
		openlog("cachekit-agent", LOG_PID, LOG_DAEMON);
	log_syslog = on;
}

static cki_log_rl *rl_sites; /* every site that ever suppressed a line */

static void emit(cki_log_level level, char *msg);

bool
cki_log_parse_format(const char *s, cki_log_format *out)
{
	if (s != NULL && strcmp(s, "text") == 0) {
		*out = CKI_LOG_TEXT;
		return true;
	}
	if (s != NULL && strcmp(s, "json") == 0) {
		*out = CKI_LOG_JSON;
		return true;
	}
	return false;
}

void
cki_log_set_format(cki_log_format format)
{
	log_format = format;
}

bool
cki_log_stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	if (js == NULL || sscanf(js, "%llu:%llu", &dev, &ino) != 2 ||
	    fstat(STDERR_FILENO, &st) != 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

/* msg has no control characters left; quote and backslash need escaping. */
static int
format_json(char *line, size_t cap, const char *ts, cki_log_level level, const char *msg)
{
	char esc[2 * 900];
	size_t n = 0;
	for (const char *p = msg; *p && n + 2 < sizeof(esc); p++) {
		if (*p == '"' || *p == '\\')
			esc[n++] = '\\';
		esc[n++] = *p;
	}
	esc[n] = '\0';
	return snprintf(line, cap, "{\"ts\":\"%s\",\"level\":\"%s\",\"pid\":%d,\"msg\":\"%s\"}\n",
	                ts, level_names[level], (int)getpid(), esc);
}

void
cki_log(cki_log_level level, const char *fmt, ...)
{
	char msg[900];
	va_list ap;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	emit(level, msg);
}

static unsigned long long
mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000u + (unsigned long long)ts.tv_nsec / 1000000u;
}

void
cki_log_ratelimited(cki_log_rl *rl, cki_log_level level, const char *fmt, ...)
{
	char msg[900];
	va_list ap;

	if (level > log_level)
		return;
	unsigned long long now = mono_ms();
	if (rl->printed == 0 || now - rl->window_start_ms >= CKI_LOG_RL_WINDOW_MS) {
		rl->window_start_ms = now;
		rl->printed = 0;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (rl->printed >= CKI_LOG_RL_BURST) {
		rl->suppressed++;
		rl->level = level;
		size_t n = strnlen(msg, sizeof(rl->last) - 1);
		memcpy(rl->last, msg, n); /* cut at the buffer, like any log line */
		rl->last[n] = '\0';
		if (!rl->registered) {
			rl->registered = true;
			rl->next = rl_sites;
			rl_sites = rl;
		}
		return;
	}
	rl->printed++;
	if (rl->suppressed > 0) {
		size_t n = strlen(msg);
		snprintf(msg + n, sizeof(msg) - n, " (%lu similar suppressed)", rl->suppressed);
		rl->suppressed = 0;
	}
	emit(level, msg);
}

void
cki_log_ratelimit_flush(void)
{
	for (cki_log_rl *rl = rl_sites; rl != NULL; rl = rl->next) {
		if (rl->suppressed == 0)
			continue;
		char msg[900];
		snprintf(msg, sizeof(msg), "(%lu similar suppressed) last: %s", rl->suppressed,
		         rl->last);
		rl->suppressed = 0;
		if (rl->level <= log_level)
			emit(rl->level, msg);
	}
}

static void
emit(cki_log_level level, char *msg)
{
	static const int syslog_prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
	char line[2048]; /* a JSON line may double the message with escapes */
	char stamp[64];
	/* Strip control characters so peer-supplied text cannot forge log lines. */
	for (char *p = msg; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';

	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(stamp, sizeof(stamp), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
	         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
	int n;
	if (log_format == CKI_LOG_JSON)
		n = format_json(line, sizeof(line), stamp, level, msg);
	else if (log_format == CKI_LOG_JOURNAL)
		n = snprintf(line, sizeof(line), "<%d>%s: %s\n", syslog_prio[level],
		             level_names[level], msg);
	else
		n = snprintf(line, sizeof(line), "%s cachekit-agent[%d]: %s: %s\n", stamp,
		             (int)getpid(), level_names[level], msg);
	if (n > (int)sizeof(line) - 1)
		n = (int)sizeof(line) - 1;
	if (write(STDERR_FILENO, line, (size_t)n) < 0) {
		/* Nowhere left to report it. */
	}
	if (log_syslog)
		syslog(syslog_prio[level], "%s", msg);
}
