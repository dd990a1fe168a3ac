/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The result types of libcachekit-stub (ck_value, ck_lock, ck_health, ck_stats) and their free
 * functions, and cki_reply_result(): the copy of an agent's Response result into what a call
 * hands its caller, with every length checked against the stub's caps before allocating.
 * Nothing here does I/O; transport.c calls it for the reply a call was waiting for.
 */
#include "cachekit/stub.h"

#include <stdlib.h>
#include <string.h>

#include "cachekit/agent/v1/agent.pb-c.h"
#include "stub_internal.h"

typedef Cachekit__Agent__V1__Response Response;

struct ck_lock {
	uint8_t *handle;
	size_t len;
	int64_t lease_ms;
};

static char *
dup_string(const char *s)
{
	return strdup(s ? s : "");
}

/* ---- values ----------------------------------------------------------------------------- */

void
ck_value_free(ck_value *v)
{
	if (v == NULL)
		return;
	free(v->data);
	free(v);
}

static ck_err
get_result(const Cachekit__Agent__V1__GetResult *r, cki_reply *out)
{
	ck_value *v;

	out->flag = r->found;
	if (!r->found)
		return CK_OK;
	out->near_epoch = r->near_epoch;
	out->near_version = r->near_version;
	if (r->value.len > CKI_STUB_MAX_VALUE)
		return CK_EPROTO;
	if ((v = calloc(1, sizeof(*v))) == NULL)
		return CK_ENOMEM;
	if ((v->data = malloc(r->value.len + 1)) == NULL) {
		free(v);
		return CK_ENOMEM;
	}
	if (r->value.len > 0)
		memcpy(v->data, r->value.data, r->value.len);
	v->data[r->value.len] = '\0';
	v->len = r->value.len;
	switch (r->freshness) {
	case CACHEKIT__AGENT__V1__FRESHNESS__FRESHNESS_FRESH:
		v->freshness = CK_FRESHNESS_FRESH;
		break;
	case CACHEKIT__AGENT__V1__FRESHNESS__FRESHNESS_STALE:
		v->freshness = CK_FRESHNESS_STALE;
		break;
	default:
		v->freshness = CK_FRESHNESS_UNKNOWN;
		break;
	}
	v->fresh_for_ms = r->fresh_for_ms;
	v->refresh_due = r->refresh_due;
	out->value = v;
	return CK_OK;
}

/* ---- locks ------------------------------------------------------------------------------ */

void
ck_lock_free(ck_lock *lock)
{
	if (lock == NULL)
		return;
	free(lock->handle);
	free(lock);
}

void
cki_lock_set_lease(ck_lock *lock, int64_t lease_ms)
{
	if (lock != NULL)
		lock->lease_ms = lease_ms;
}

int64_t
ck_lock_lease_ms(const ck_lock *lock)
{
	return lock != NULL ? lock->lease_ms : 0;
}

const uint8_t *
cki_lock_handle(const ck_lock *lock, size_t *len)
{
	*len = lock->len;
	return lock->handle;
}

ck_err
cki_lock_from_handle(const uint8_t *handle, size_t len, ck_lock **out)
{
	ck_lock *lock;

	if (handle == NULL || len == 0 || len > CKI_STUB_MAX_HANDLE || out == NULL)
		return CK_EINVAL;
	if ((lock = calloc(1, sizeof(*lock))) == NULL)
		return CK_ENOMEM;
	if ((lock->handle = malloc(len)) == NULL) {
		free(lock);
		return CK_ENOMEM;
	}
	memcpy(lock->handle, handle, len);
	lock->len = len;
	*out = lock;
	return CK_OK;
}

static ck_err
lock_result(const Cachekit__Agent__V1__AcquireLockResult *r, cki_reply *out)
{
	ck_err rv;

	out->flag = r->acquired;
	if (!r->acquired)
		return CK_OK;
	if (r->handle.len == 0 || r->handle.len > CKI_STUB_MAX_HANDLE)
		return CK_EPROTO;
	if ((rv = cki_lock_from_handle(r->handle.data, r->handle.len, &out->lock)) != CK_OK)
		return rv;
	out->lock->lease_ms = r->lease_ms;
	return CK_OK;
}

/* ---- health and stats ------------------------------------------------------------------- */

void
ck_health_free(ck_health *h)
{
	if (h == NULL)
		return;
	free(h->backend_type);
	free(h->api_url);
	free(h->version);
	free(h->error);
	free(h->error_type);
	free(h->agent_version);
	free(h);
}

static ck_err
health_result(const Cachekit__Agent__V1__HealthResult *r, cki_reply *out)
{
	ck_health *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return CK_ENOMEM;
	h->healthy = r->healthy;
	h->latency_ms = r->latency_ms;
	h->backend_type = dup_string(r->backend_type);
	h->api_url = dup_string(r->api_url);
	h->version = dup_string(r->version);
	h->error = dup_string(r->error);
	h->error_type = dup_string(r->error_type);
	h->agent_version = dup_string(r->agent_version);
	if (!h->backend_type || !h->api_url || !h->version || !h->error || !h->error_type ||
	    !h->agent_version) {
		ck_health_free(h);
		return CK_ENOMEM;
	}
	out->health = h;
	return CK_OK;
}

void
ck_stats_free(ck_stats *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->count; i++)
		free(s->items[i].name);
	free(s->items);
	free(s);
}

static int
stat_cmp(const void *a, const void *b)
{
	return strcmp(((const ck_stat *)a)->name, ((const ck_stat *)b)->name);
}

static ck_err
stats_result(const Cachekit__Agent__V1__StatsResult *r, cki_reply *out)
{
	ck_stats *s = calloc(1, sizeof(*s));
	size_t i;

	if (s == NULL)
		return CK_ENOMEM;
	if (r->n_stats > 0 && (s->items = calloc(r->n_stats, sizeof(*s->items))) == NULL) {
		free(s);
		return CK_ENOMEM;
	}
	for (i = 0; i < r->n_stats; i++) {
		const Cachekit__Agent__V1__Stat *st = r->stats[i];
		if ((s->items[i].name = dup_string(st ? st->name : "")) == NULL) {
			ck_stats_free(s);
			return CK_ENOMEM;
		}
		s->items[i].value = st ? st->value : 0.0;
		s->count = i + 1;
	}
	/* The contract says sorted; sorting here makes it true whatever the agent sends. */
	if (s->count > 1)
		qsort(s->items, s->count, sizeof(*s->items), stat_cmp);
	out->stats = s;
	return CK_OK;
}

/* ---- by expected result (stub_internal.h) ------------------------------------------------ */

/* The items of a batch reply: each one's status, and a Get's value when it found one. */
static ck_err
multi_result(Response *const *items, size_t n, bool is_get, cki_reply *out)
{
	if (n > CKI_STUB_MAX_BATCH)
		return CK_EPROTO;
	out->items = calloc(n ? n : 1, sizeof(*out->items));
	out->item_errs = calloc(n ? n : 1, sizeof(*out->item_errs));
	if (out->items == NULL || out->item_errs == NULL)
		return CK_ENOMEM;
	out->n_items = n;
	for (size_t i = 0; i < n; i++) {
		ck_err rv = cki_map_status(items[i]->status);
		if (rv == CK_OK && is_get) {
			if (items[i]->result_case != CACHEKIT__AGENT__V1__RESPONSE__RESULT_GET)
				rv = CK_EPROTO;
			else if ((rv = get_result(items[i]->get, &out->items[i])) == CK_OK &&
			         !out->items[i].flag)
				rv = CK_ENOTFOUND;
		}
		out->item_errs[i] = rv;
	}
	return CK_OK;
}

ck_err
cki_reply_result(const Response *rsp, cki_reply_kind kind, cki_reply *out)
{
	switch (kind) {
	case CKI_REPLY_MULTI_GET:
		return multi_result(rsp->multi_get->items, rsp->multi_get->n_items, true, out);
	case CKI_REPLY_MULTI_SET:
		return multi_result(rsp->multi_set->items, rsp->multi_set->n_items, false, out);
	case CKI_REPLY_GET:
		return get_result(rsp->get, out);
	case CKI_REPLY_SET:
		return CK_OK;
	case CKI_REPLY_DELETE:
		out->flag = rsp->delete_->existed;
		return CK_OK;
	case CKI_REPLY_EXISTS:
		out->flag = rsp->exists->exists;
		return CK_OK;
	case CKI_REPLY_GET_TTL:
		out->flag = rsp->get_ttl->found;
		out->ttl_s = rsp->get_ttl->ttl_s;
		return CK_OK;
	case CKI_REPLY_REFRESH_TTL:
		out->flag = rsp->refresh_ttl->refreshed;
		return CK_OK;
	case CKI_REPLY_ACQUIRE_LOCK:
		return lock_result(rsp->acquire_lock, out);
	case CKI_REPLY_RELEASE_LOCK:
		return rsp->release_lock->released ? CK_OK : CK_EBADHANDLE;
	case CKI_REPLY_RENEW_LOCK:
		out->flag = rsp->renew_lock->renewed;
		out->ttl_s = rsp->renew_lock->lease_ms; /* the lease granted, in ms */
		return rsp->renew_lock->renewed ? CK_OK : CK_EBADHANDLE;
	case CKI_REPLY_HEALTH:
		return health_result(rsp->health, out);
	case CKI_REPLY_STATS:
		return stats_result(rsp->stats, out);
	}
	return CK_EPROTO;
}

void
cki_reply_clear(cki_reply *out)
{
	ck_value_free(out->value);
	ck_lock_free(out->lock);
	ck_health_free(out->health);
	ck_stats_free(out->stats);
	for (size_t i = 0; out->items != NULL && i < out->n_items; i++)
		cki_reply_clear(&out->items[i]);
	free(out->items);
	free(out->item_errs);
	memset(out, 0, sizeof(*out));
}
