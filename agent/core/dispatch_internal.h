/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the dispatch files share and nothing outside core/dispatch*.c may use: the dispatcher's
 * state, the call record that carries one request from arrival to reply, the checks every
 * handler runs before it touches the store, and the per-op handlers that cki_dispatch_handle()
 * and the batch runner start. Every handler ends its call exactly once through
 * cki_call_finish() or cki_call_finish_status().
 */
#ifndef CKI_DISPATCH_INTERNAL_H
#define CKI_DISPATCH_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/keys.h"
#include "base/metrics.h"
#include "core/batch.h"
#include "core/dispatch.h"

typedef Cachekit__Agent__V1__Response resp_t;

struct cki_dispatch {
	cki_dispatch_deps deps;
	cki_reply_sink reply;
	cki_nearver *nearver; /* NULL: no version table, stubs keep no near copies */
	size_t inflight;
	uint64_t inflight_bytes; /* Set values held by calls in progress */
};

/* One request between its arrival and its reply. */
typedef struct call {
	cki_dispatch *d;
	cki_reply_to to;
	cki_peer peer;
	cki_request *req;
	cki_op op;
	uint64_t started_us;
	uint64_t deadline;
	char key[CKI_KEY_MAX + 1];
	char ns[CKI_NAMESPACE_MAX + 1]; /* namespace of key ("default" when none) */
	uint8_t *owned;                 /* sealed value handed to the store; freed at the end */
	uint64_t held_bytes;            /* counted in inflight_bytes until the reply */
	uint64_t near_ver;              /* Get: key's version-table slot before the read began */
	struct batch_call *batch;       /* an item of this batch (req is then a borrowed shell) */
	size_t batch_index;
} call;

/* A MultiGet or MultiSet between its arrival and its reply: its items run as calls. */
typedef struct batch_call {
	cki_reply_to to;
	cki_request *req;
	cki_batch *answers;
	size_t remaining; /* items not yet answered, plus one while items are being started */
	bool is_get;
} batch_call;

/* Reply building and the end of a call (dispatch.c). */
void cki_call_finish(call *c, resp_t *resp);
void cki_call_finish_status(call *c, ck_err err, const char *message);
void cki_call_store_error(call *c, const cki_store_reply *r);
/* True after it has ended the call with r's error; false when r succeeded. */
bool cki_call_store_failed(call *c, const cki_store_reply *r);
/* Ends c with success and the result res (a pointer to the op's *Result message) in the
 * Response oneof: CASE names the oneof case (GET, EXISTS, ...), member its field. A macro
 * because each case has its own typed field; it keeps the envelope in one place. */
#define CKI_CALL_FINISH_RESULT(c, CASE, member, res)                              \
	do {                                                                      \
		resp_t resp_ = CACHEKIT__AGENT__V1__RESPONSE__INIT;               \
		resp_.result_case = CACHEKIT__AGENT__V1__RESPONSE__RESULT_##CASE; \
		resp_.member = (res);                                             \
		cki_call_finish((c), &resp_);                                     \
	} while (0)

/* Checks (dispatch_check.c): each returns false after it has ended the call with an error. */
bool cki_call_take_key(call *c, const char *key);
bool cki_call_check_access(call *c, unsigned need, const char *op);
bool cki_call_check_rw(call *c, unsigned right, bool secure);
bool cki_call_check_secure(call *c, bool secure, const char *format);
/* Takes key and checks the peer's `need` right for op: the store to call, or NULL after it
 * has ended the call with an error. */
cki_store *cki_call_keyed(call *c, const char *key, unsigned need, const char *op);

/* Key-value handlers (dispatch_kv.c). */
void cki_call_key_written(call *c);
bool cki_call_uses_envelope(const call *c);
void cki_handle_get(call *c);
void cki_handle_set(call *c);
void cki_handle_delete(call *c);
void cki_handle_exists(call *c);
void cki_handle_get_ttl(call *c);
void cki_handle_refresh_ttl(call *c);

/* Locks, health and stats (dispatch_admin.c). */
void cki_handle_acquire_lock(call *c);
void cki_handle_release_lock(call *c);
void cki_handle_renew_lock(call *c);
void cki_handle_health(call *c);
void cki_handle_stats(call *c);

#endif
