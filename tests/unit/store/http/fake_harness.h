/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared by the store_http tests (test_store_http.c, test_http_reply.c): a real ck-fakeapi
 * process, its control endpoint, and operations run on a real loop. See fake_harness.c.
 */
#ifndef CK_TEST_FAKE_HARNESS_H
#define CK_TEST_FAKE_HARNESS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "base/loop.h"
#include "cunit_main.h"
#include "store/http/store_http.h"

#define API_KEY  "ck_sdk_test"
#define GUARD_MS 30000u /* a test that waits longer than this has failed */

struct result {
	int calls;
	ck_err err;
	char message[200];
	bool found;
	uint8_t *value;
	size_t value_len;
	cki_freshness freshness;
	int64_t fresh_for_ms;
	int64_t ttl_s;
	bool has_lock_id;
	char lock_id[300];
	char version[80];
	char error_type[40];
	double latency_ms;
};

extern cki_loop *loop;
extern char certs[512];
extern int api_port, control_port;
extern bool server_ok;
extern int pending;

/* Control endpoint: the parsed JSON reply (caller decrefs) or NULL. */
json_t *ctl(const char *method, const char *path, const char *body);
void faults(const char *json); /* POST /faults, asserting it was taken */
void reset_server(void);
json_t *requests(void); /* the recorded requests (caller decrefs) */
size_t n_requests(void);
json_int_t server_stat(const char *name);
/* Header `name` (lowercase) of a recorded request, the nth match, or NULL. */
const char *hdr_nth(json_t *req, const char *name, size_t nth);
const char *hdr(json_t *req, const char *name);
const char *req_str(json_t *req, const char *field);

/* CU_ASSERT_STRING_EQUAL that fails (instead of crashing) when the server lacks the value. */
#define STR_EQ(got, want)                                                                        \
	do {                                                                                     \
		const char *got_ = (got);                                                        \
		if (got_ == NULL || strcmp(got_, (want)) != 0)                                   \
			fprintf(stderr, "\n  got \"%s\", want \"%s\"\n", got_ ? got_ : "(null)", \
			        (want));                                                         \
		CU_ASSERT_TRUE(got_ != NULL && strcmp(got_, (want)) == 0);                       \
	} while (0)

/* The store callback: records the reply into the struct result arg. */
void capture(void *arg, const cki_store_reply *r);
/* Runs the loop until n callbacks (started before) have fired (GUARD_MS at most). */
void wait_for(int n);
/* Lets the loop run for ms (the store keeps working meanwhile). */
void loop_for(uint64_t ms);
void result_clear(struct result *r);
uint64_t deadline_in(uint64_t ms);
cki_http_opts base_opts(void); /* the fake's URL, CA, resolve pin and key */
cki_store *new_store(const cki_http_opts *o);
double store_stat(cki_store *s, const char *name);

/* One operation: starts it, asserts the callback did not run inside the call, runs the loop
 * until it did. */
void do_put(cki_store *s, const char *key, const char *value, uint32_t ttl, uint32_t stale,
            struct result *r);
void do_get(cki_store *s, const char *key, struct result *r);
void do_del(cki_store *s, const char *key, struct result *r);
void do_exists(cki_store *s, const char *key, struct result *r);
void do_get_ttl(cki_store *s, const char *key, struct result *r);
void do_touch(cki_store *s, const char *key, uint32_t ttl, struct result *r);
void do_lock(cki_store *s, const char *key, uint32_t lease, struct result *r);
void do_unlock(cki_store *s, const char *key, const char *id, struct result *r);
void do_health(cki_store *s, struct result *r);

/* Suite setup and teardown: start and stop the one ck-fakeapi. */
int suite_init(void);
int suite_clean(void);

/* Every server test starts from an empty server with no faults. */
#define SERVER_TEST()                            \
	do {                                     \
		CU_ASSERT_TRUE_FATAL(server_ok); \
		reset_server();                  \
	} while (0)

#endif
