/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Logging: levels and one sink (stderr, with an optional syslog copy). Lines are
 * "cachekit-agent[pid]: LEVEL: message". Never pass a secret to these functions, not even at
 * debug level: callers log key names and lengths, never key material or values.
 */
#ifndef CKI_LOG_H
#define CKI_LOG_H

#include <stdbool.h>

typedef enum cki_log_level {
	CKI_LOG_ERROR = 0,
	CKI_LOG_WARN = 1,
	CKI_LOG_INFO = 2,
	CKI_LOG_DEBUG = 3,
} cki_log_level;

void cki_log_set_level(cki_log_level level);
cki_log_level cki_log_get_level(void);
/* "error", "warn", "info", "debug" -> level; false for anything else. */
bool cki_log_parse_level(const char *s, cki_log_level *out);
/* Also send lines to syslog(3) (daemon facility). */
void cki_log_use_syslog(bool on);

typedef enum cki_log_format {
	CKI_LOG_TEXT = 0,    /* "2026-...Z cachekit-agent[pid]: level: message" */
	CKI_LOG_JSON = 1,    /* {"ts":"...","level":"info","pid":1,"msg":"..."} one per line */
	CKI_LOG_JOURNAL = 2, /* "<6>message": sd-daemon(3) priority prefixes for journald */
} cki_log_format;

/* Chooses how stderr lines look. "text", "json" -> format; false for anything else. */
bool cki_log_parse_format(const char *s, cki_log_format *out);
void cki_log_set_format(cki_log_format format);
/* True when stderr is the journal stream systemd set up ($JOURNAL_STREAM names its device and
 * inode), so text lines can carry priorities instead of time stamps journald adds anyway. */
bool cki_log_stderr_is_journal(void);

void cki_log(cki_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Per-call-site rate limit for lines a peer can cause at will (refusals, malformed input):
 * at most CKI_LOG_RL_BURST lines per CKI_LOG_RL_WINDOW_MS at one site; the rest are counted,
 * and the next line printed there (or cki_log_ratelimit_flush()) says
 * "(N similar suppressed)". The state is one static per site (use the _rl macros below).
 * Loop thread only. */
#define CKI_LOG_RL_BURST     5
#define CKI_LOG_RL_WINDOW_MS 5000

typedef struct cki_log_rl {
	unsigned long long window_start_ms;
	unsigned printed;
	unsigned long suppressed;
	cki_log_level level;
	char last[160]; /* the last suppressed message, for the flush line */
	struct cki_log_rl *next;
	bool registered;
} cki_log_rl;

void cki_log_ratelimited(cki_log_rl *rl, cki_log_level level, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* Prints one "(N similar suppressed) last: <message>" line for every site with a pending
 * count (call on a timer and at exit, so a flood that stops is still accounted for). */
void cki_log_ratelimit_flush(void);

#define cki_log_rl_(level, ...)                                     \
	do {                                                        \
		static cki_log_rl rl_site_;                         \
		cki_log_ratelimited(&rl_site_, level, __VA_ARGS__); \
	} while (0)
#define cki_log_warn_rl(...)  cki_log_rl_(CKI_LOG_WARN, __VA_ARGS__)
#define cki_log_error_rl(...) cki_log_rl_(CKI_LOG_ERROR, __VA_ARGS__)

#define cki_log_error(...) cki_log(CKI_LOG_ERROR, __VA_ARGS__)
#define cki_log_warn(...)  cki_log(CKI_LOG_WARN, __VA_ARGS__)
#define cki_log_info(...)  cki_log(CKI_LOG_INFO, __VA_ARGS__)
#define cki_log_debug(...) cki_log(CKI_LOG_DEBUG, __VA_ARGS__)

#endif
