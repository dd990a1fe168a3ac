/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ck-fakeapi internals: the shared types of the local cachekit.io test server. One process,
 * one thread, one epoll loop; all state hangs off the single `cki_fa` server object. A request
 * from either protocol (h2 or HTTP/1.1) is turned into a `fa_request`, answered by the API
 * module as a `fa_response`, and the protocol module serialises it (possibly after a delay).
 */
#ifndef CK_FAKEAPI_H
#define CK_FAKEAPI_H

#include <stddef.h>
#include <stdint.h>

#include <http_parser.h>
#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>

/* Caps on everything a peer sends us. */
#define FA_MAX_HEADERS      100         /* header fields per request */
#define FA_MAX_HEADER_BYTES (16 * 1024) /* whole header block */
#define FA_MAX_PATH         8192        /* request target */
#define FA_MAX_STREAMS      256         /* h2 concurrent streams per connection */
#define FA_CONTROL_MAX_BODY (64 * 1024) /* control endpoint request body */
#define FA_MAX_JSON_BODY    4096        /* lock / ttl JSON bodies */
#define FA_MAX_RESP_HEADERS 16
#define FA_MAX_FAIL_NEXT    256
#define FA_MAX_ERR_STATUSES 16
#define FA_MAX_API_KEYS     16
#define FA_MAX_TTL          2592000 /* 30 days, spec 2.6 */
#define FA_DEFAULT_MAX_VAL  25000000

struct fa_buf {
	unsigned char *data;
	size_t len;
	size_t cap;
};

int cki_buf_append(struct fa_buf *b, const void *p, size_t n);
int cki_buf_printf(struct fa_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cki_buf_consume(struct fa_buf *b, size_t n);
void cki_buf_free(struct fa_buf *b);

struct fa_header {
	char *name; /* lowercased */
	char *value;
	size_t value_len;
};

struct fa_request {
	uint64_t conn_id;
	const char *proto; /* "h2" | "http/1.1" (static) */
	char *method;
	char *path;
	char *authority;
	struct fa_header headers[FA_MAX_HEADERS];
	size_t nheaders;
	size_t header_bytes;
	struct fa_buf body; /* at most max_value + 1 bytes kept */
	uint64_t body_len;  /* bytes the peer sent (or declared) */
	int body_too_large;
};

/* First header value named `name` (lowercase), or NULL. */
const char *cki_req_header(const struct fa_request *req, const char *name);
int cki_req_add_header(struct fa_request *req, const char *name, size_t nlen, const char *value,
                       size_t vlen);
void cki_req_free(struct fa_request *req);

struct fa_response {
	int status; /* 0 = abort the connection (injected reset) */
	struct fa_header headers[FA_MAX_RESP_HEADERS];
	size_t nheaders;
	struct fa_buf body;
	int head;        /* HEAD: send headers (with content-length) but no body */
	uint64_t due_ms; /* monotonic time at which to send */
	int close_after; /* HTTP/1.1: close the connection after this response */
};

void cki_resp_header(struct fa_response *resp, const char *name, const char *value);
void cki_resp_json(struct fa_response *resp, int status, const char *json);
void cki_resp_free(struct fa_response *resp);

/* ---- time ---- */
uint64_t cki_mono_ms(void);
int64_t cki_now_ms(void); /* server clock: realtime + test offset */

/* ---- store.c: entries and locks ---- */
struct fa_entry {
	unsigned char *value;
	size_t len;
	int has_ttl;
	int64_t fresh_until; /* whole seconds, server clock */
	int64_t evict_at;
};

void cki_store_init(void);
void cki_store_clear(void);
/* Live entry (not past evict_at) or NULL; the pointer is valid until the next store call. */
struct fa_entry *cki_store_get(const char *key);
int cki_store_put(const char *key, const unsigned char *value, size_t len, int has_ttl,
                  int64_t fresh_until, int64_t evict_at);
int cki_store_delete(const char *key); /* 1 if a live entry was removed */
size_t cki_store_count(void);
/* Lock: 1 acquired (id written, 37 bytes incl. NUL), 0 held by someone, -1 error. */
int cki_lock_acquire(const char *key, uint64_t lease_ms, char id_out[37]);
int cki_lock_release(const char *key, const char *id); /* 1 released, 0 wrong/expired */
size_t cki_lock_count(void);

/* ---- faults.c ---- */
enum fa_mode_delete { FA_DELETE_404, FA_DELETE_200 };
enum fa_mode_lock { FA_LOCK_NULL, FA_LOCK_409 };
enum fa_mode_unlock { FA_UNLOCK_200, FA_UNLOCK_404 };
enum fa_mode_health { FA_HEALTH_NEW, FA_HEALTH_OLD, FA_HEALTH_TEXT };
/* lock_routes: served, or answered with this status as a server without them would */
enum fa_mode_lock_routes { FA_LOCK_ROUTES_ON = 0 };
enum fa_mode_retry_after { FA_RA_SECONDS, FA_RA_DATE };

struct fa_faults {
	uint64_t latency_ms;
	uint64_t stall_ms;
	double error_rate;
	double reset_rate;
	int error_statuses[FA_MAX_ERR_STATUSES];
	size_t n_error_statuses;
	unsigned retry_after;
	int fail_next[FA_MAX_FAIL_NEXT];
	size_t n_fail_next;
	enum fa_mode_delete delete_missing;
	enum fa_mode_lock lock_contested;
	enum fa_mode_unlock unlock_wrong;
	enum fa_mode_health health_shape;
	int lock_routes; /* FA_LOCK_ROUTES_ON, or 400, 404 or 405 */
	enum fa_mode_retry_after retry_after_form;
	int ttl_zero; /* GET .../ttl of an entry with a TTL answers {"ttl":0} */
};

void cki_faults_defaults(struct fa_faults *f);
/* Merge a JSON object of settings into `f`; 0 ok, -1 with a message in err. */
int cki_faults_merge_json(struct fa_faults *f, const char *json, size_t len, char *err,
                          size_t errlen);
/* Parse "503,503" into the fail_next queue; 0 ok, -1 bad list. */
int cki_faults_parse_list(int *out, size_t *n, size_t cap, const char *s);
char *cki_faults_to_json(const struct fa_faults *f); /* malloc'd */
/* Decide the fault for one request: -1 none, 0 reset, else a status to answer with. */
int cki_faults_pick(struct fa_faults *f);
void cki_rng_seed(uint64_t seed);
uint64_t cki_rng_next(void);

/* ---- record.c ---- */
struct fa_stats {
	uint64_t tls_handshakes;
	uint64_t connections_accepted;
	uint64_t requests;
	uint64_t max_concurrent_streams;
	uint64_t h2_connections;
	uint64_t h1_connections;
	uint64_t faults_injected;
	uint64_t resets_injected;
	uint64_t records_dropped;
};

void cki_record_init(size_t max_records);
void cki_record_clear(void);
void cki_record_add(const struct fa_request *req, int status);
char *cki_record_json(uint64_t since); /* malloc'd JSON array */

/* ---- api.c ---- */
/* Answer one API request: fills resp (status 0 = reset), records it, counts it. */
void cki_api_handle(const struct fa_request *req, struct fa_response *resp);
int cki_pct_decode(const char *in, size_t len, char *out, size_t outcap, size_t *outlen);

/* ---- control.c ---- */
void cki_control_handle(const struct fa_request *req, struct fa_response *resp);

/* ---- connections (conn.c, tls.c, h2.c, http1.c) ---- */
enum fa_conn_kind { FA_CONN_API, FA_CONN_CONTROL };
enum fa_proto { FA_PROTO_NONE, FA_PROTO_H1, FA_PROTO_H2 };

struct fa_stream; /* h2: one request/response exchange (h2.c) */

struct fa_h1 {
	http_parser parser; /* paused at the end of each request */
	int parser_ready;
	struct fa_request req;
	struct fa_buf url, field, value; /* head pieces, gathered across reads */
	int in_value;                    /* the last header piece was a value */
	int value_open;                  /* ... and it ran to the end of the bytes fed */
	const char *feed, *feed_end;     /* the bytes of the http_parser_execute() running */
	int version_seen;
	int fail_status; /* a callback refused the request: answer this, then close */
	int io_error;    /* queueing an answer failed: close */
	int answered;    /* answered at the head (body too large); the body is dropped */
	int close_after; /* HTTP/1.0 or Connection: close */
	int expect100;
	int have_clen;
	uint64_t clen; /* Content-Length */
	int busy;      /* a response is pending (delayed); stay paused */
	struct fa_response pending;
	int has_pending;
};

struct fa_conn {
	int fd;
	uint64_t id;
	enum fa_conn_kind kind;
	enum fa_proto proto;
	SSL *ssl;
	int handshake_done;
	int hs_want_write; /* the TLS handshake waits for POLLOUT */
	int listening;     /* a listener, not a connection */
	int rst;           /* close with SO_LINGER 0 (injected reset) */
	int want_close;    /* close once `out` is flushed */
	int dead;
	unsigned events;  /* current epoll interest */
	size_t write_len; /* length of an SSL_write to repeat after WANT_WRITE */
	struct fa_buf in;
	struct fa_buf out;
	nghttp2_session *h2;
	size_t open_streams;
	struct fa_stream *streams;
	struct fa_h1 h1;
	struct fa_conn *next;
};

/* conn.c */
void cki_conn_abort(struct fa_conn *c); /* mark for an RST close */
void cki_conn_accept(struct fa_conn *listener);
void cki_conn_event(struct fa_conn *c, unsigned events);
void cki_conn_timers(void);      /* send due delayed responses */
int cki_conn_next_timeout(void); /* ms for epoll_wait, -1 none */
void cki_conn_reap(int all);     /* free dead connections (all: every connection) */

/* tls.c */
SSL_CTX *cki_tls_ctx(const char *cert, const char *key);
/* Step the handshake: 1 done, 0 needs I/O, -1 failed. */
int cki_tls_handshake(struct fa_conn *c);
/* Read up to n bytes: >0 bytes, 0 would block, -1 EOF/error. */
long cki_io_read(struct fa_conn *c, void *buf, size_t n);
/* Write: >0 bytes written, 0 would block, -1 error. */
long cki_io_write(struct fa_conn *c, const void *buf, size_t n);

/* h2.c */
int cki_h2_start(struct fa_conn *c);
int cki_h2_input(struct fa_conn *c, const unsigned char *data, size_t len);
int cki_h2_fill(struct fa_conn *c); /* move nghttp2 output into c->out */
void cki_h2_timers(struct fa_conn *c, uint64_t now);
uint64_t cki_h2_next_due(const struct fa_conn *c);
void cki_h2_free(struct fa_conn *c);

/* http1.c */
int cki_h1_input(struct fa_conn *c); /* parse c->in; -1 = close */
void cki_h1_timers(struct fa_conn *c, uint64_t now);
void cki_h1_free(struct fa_conn *c);

/* ---- the server ---- */
struct fa_server {
	const char *api_keys[FA_MAX_API_KEYS];
	size_t n_api_keys;
	uint64_t max_value;
	int quiet;
	struct fa_faults faults;
	struct fa_faults start_faults; /* restored by POST /reset */
	int64_t clock_offset_ms;
	int64_t clock_frozen_ms; /* > 0: the server clock stands at this wall time (+ offset) */
	struct fa_stats stats;
	int epfd;
	SSL_CTX *tls;
	struct fa_conn *conns;
	uint64_t next_conn_id;
};

extern struct fa_server cki_fa;

void cki_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
