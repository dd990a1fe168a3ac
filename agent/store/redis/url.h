/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Redis upstream URLs: redis://[user[:pass]@]host:port[/db], redis+unix:///path.sock[?db=N]
 * and redis+cluster://host:port[,host:port...]. Parsing only, no I/O. A password found in the
 * URL is reported as a span of the input (so the caller can move it into secret memory and
 * wipe it); the parsed result never holds it, and `display` is the URL without it.
 */
#ifndef CKI_REDIS_URL_H
#define CKI_REDIS_URL_H

#include <stdbool.h>
#include <stddef.h>

#include "cachekit/errors.h"

#define CKI_REDIS_MAX_SEEDS 16
#define CKI_REDIS_HOST_MAX  256

typedef enum cki_redis_kind {
	CKI_REDIS_TCP = 0,
	CKI_REDIS_UNIX = 1,
	CKI_REDIS_CLUSTER = 2,
} cki_redis_kind;

typedef struct cki_redis_addr {
	char host[CKI_REDIS_HOST_MAX];
	int port;
} cki_redis_addr;

typedef struct cki_redis_url {
	cki_redis_kind kind;
	char user[128]; /* "" for none */
	bool has_password;
	size_t password_off; /* span of the password inside the parsed string */
	size_t password_len;
	char path[108]; /* unix socket path */
	cki_redis_addr addrs[CKI_REDIS_MAX_SEEDS];
	size_t naddrs;
	int db;
	char display[512]; /* the URL without its password (safe to log) */
} cki_redis_url;

/* True when url starts with one of the three Redis schemes. */
bool cki_redis_url_is_redis(const char *url);

/* Parses url into *out. CK_OK, or CK_EURL with a one-line reason (never the password) in why. */
CK_NODISCARD ck_err cki_redis_url_parse(const char *url, cki_redis_url *out, char *why,
                                        size_t why_cap);

#endif
