/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the C stub's reply decoding (stubs/c/transport.c, cki_reply_decode() in
 * stub_internal.h): the bytes a waiting ck_* call receives from its socket. Each input is
 * one frame, decoded as the reply to call id 42 for every result kind a call can expect.
 * Beyond "no crash, no leak", it checks that the verdict (stale / malformed / done) does not
 * depend on the expected kind, that a frame is never the reply of two different calls, that
 * every result code is a known one, that outputs exist exactly when the call succeeded, and
 * that what the stub hands its caller keeps the stub's own promises (NUL after a value, caps
 * on values and handles, stats sorted by name).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cachekit/errors.h"
#include "cachekit/stub.h"
#include "stub_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CALL_ID     42u
#define MESSAGE_CAP 256

static void
fail(const char *what, int kind)
{
	fprintf(stderr, "fuzz_response: kind %d: %s\n", kind, what);
	abort();
}

static void
check_outputs(int kind, ck_err rv, const cki_reply *out)
{
	bool any = out->value || out->lock || out->health || out->stats;
	if (rv != CK_OK) {
		if (any)
			fail("outputs left behind by a failed call", kind);
		return;
	}
	switch (kind) {
	case CKI_REPLY_GET:
		if (out->flag != (out->value != NULL))
			fail("found without a value, or a value without found", kind);
		if (out->value != NULL &&
		    (out->value->len > CKI_STUB_MAX_VALUE || out->value->data == NULL ||
		     out->value->data[out->value->len] != '\0'))
			fail("value over the cap or not NUL-terminated", kind);
		if (out->value != NULL && out->value->freshness != CK_FRESHNESS_FRESH &&
		    out->value->freshness != CK_FRESHNESS_STALE &&
		    out->value->freshness != CK_FRESHNESS_UNKNOWN)
			fail("freshness outside the public enum", kind);
		break;
	case CKI_REPLY_ACQUIRE_LOCK:
		if (out->flag != (out->lock != NULL))
			fail("acquired without a lock, or a lock without acquired", kind);
		if (out->lock != NULL) {
			size_t hl = 0;
			if (cki_lock_handle(out->lock, &hl) == NULL || hl == 0 ||
			    hl > CKI_STUB_MAX_HANDLE)
				fail("lock handle empty or over the cap", kind);
		}
		break;
	case CKI_REPLY_HEALTH: {
		const ck_health *h = out->health;
		if (h == NULL || !h->backend_type || !h->api_url || !h->version || !h->error ||
		    !h->error_type || !h->agent_version)
			fail("health report missing or with a NULL string", kind);
		break;
	}
	case CKI_REPLY_STATS:
		if (out->stats == NULL || (out->stats->count > 0 && out->stats->items == NULL))
			fail("stats missing", kind);
		for (size_t i = 0; i < out->stats->count; i++) {
			if (out->stats->items[i].name == NULL)
				fail("stat without a name", kind);
			if (i > 0 &&
			    strcmp(out->stats->items[i - 1].name, out->stats->items[i].name) > 0)
				fail("stats not sorted by name", kind);
		}
		break;
	default:
		if (any)
			fail("outputs for a kind that has none", kind);
		break;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int first_verdict = -1;
	ck_err failed_status = CK_OK;
	bool have_failed_status = false;

	for (int kind = CKI_REPLY_GET; kind <= CKI_REPLY_RENEW_LOCK; kind++) {
		if (kind == CKI_REPLY_MULTI_GET || kind == CKI_REPLY_MULTI_SET)
			continue; /* batches are not single calls */
		cki_reply out;
		ck_err rv = CK_OK;
		char message[MESSAGE_CAP];
		memset(message, 'x', sizeof(message));
		message[sizeof(message) - 1] = '\0';

		cki_reply_verdict v = cki_reply_decode(data, size, CALL_ID, (cki_reply_kind)kind,
		                                       &rv, &out, message, sizeof(message));
		if (v != CKI_REPLY_STALE && v != CKI_REPLY_MALFORMED && v != CKI_REPLY_DONE)
			fail("verdict out of range", kind);
		if (first_verdict < 0)
			first_verdict = (int)v;
		else if ((int)v != first_verdict)
			fail("the verdict depends on the kind the call expects", kind);
		if (v != CKI_REPLY_DONE) {
			if (out.value || out.lock || out.health || out.stats || out.flag)
				fail("outputs from a frame that was not this call's reply", kind);
			cki_reply_clear(&out);
			continue;
		}
		if (ck_errname(rv) == NULL)
			fail("result code unknown to errors.h", kind);
		if (strlen(message) >= sizeof(message))
			fail("message not terminated", kind);
		check_outputs(kind, rv, &out);
		cki_reply_clear(&out);
		/* The agent's failure status is the same whatever the call expected; only success
		 * depends on the kind (wrong result: CK_EPROTO). */
		if (rv != CK_OK && rv != CK_EPROTO && rv != CK_EBADHANDLE && rv != CK_ENOMEM) {
			if (have_failed_status && rv != failed_status)
				fail("failure status depends on the expected kind", kind);
			failed_status = rv;
			have_failed_status = true;
		}
	}

	/* A frame is the reply of at most one call. */
	if (first_verdict == CKI_REPLY_DONE) {
		cki_reply out;
		ck_err rv = CK_OK;
		char message[MESSAGE_CAP];
		if (cki_reply_decode(data, size, CALL_ID + 1, CKI_REPLY_SET, &rv, &out, message,
		                     sizeof(message)) == CKI_REPLY_DONE)
			fail("one frame taken as the reply of two calls", CKI_REPLY_SET);
		cki_reply_clear(&out);
	}
	return 0;
}
