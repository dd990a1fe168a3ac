/* SPDX-License-Identifier: Apache-2.0 */
/* The store decorator that keeps the L1 and the store figures in step (see storefront.h). */
#include "core/storefront.h"

#include <stdlib.h>
#include <string.h>

#include "base/keys.h"
#include "base/metrics.h"
#include "core/nearver.h"
#include "store/completion.h"

typedef struct storefront {
	cki_store base;    /* first member: cki_store * <-> storefront * */
	cki_store_ops ops; /* storefront_ops with the backend's type */
	cki_store *backend;
	cki_l1 *l1;
	cki_nearver *nearver;        /* the stubs' version table (borrowed; NULL: none) */
	cki_l1 *grace;               /* stale-if-error copies (owned; NULL when off) */
	const cki_ns_set *grace_off; /* namespaces where it is off (not owned; NULL: none) */
	uint64_t writes;       /* write completions so far: a read during which one completed fills
	                          nothing */
	cki_completions later; /* answers for calls that could not start or came too early */
} storefront;

/* What a call needs at its completion: whose callback, and which key to keep in step. */
typedef enum call_kind { CALL_READ, CALL_GET, CALL_WRITE } call_kind;

typedef struct call {
	storefront *sf;
	cki_store_cb cb;
	void *arg;
	call_kind kind;
	bool in_call; /* the backend has not returned yet: an answer now must wait for the loop */
	uint64_t writes_at_start; /* sf->writes when the call went out */
	/* a Set with stale-if-error on: what to keep once the store has it */
	uint8_t *value;
	size_t len;
	cki_put_opts put;
	char key[]; /* empty unless kind needs it */
} call;

static const cki_store_ops storefront_ops;

static storefront *
of(cki_store *s)
{
	return (storefront *)s;
}

/* Drops key from both tables: a write makes any copy suspect. */
static void
forget(storefront *sf, const char *key)
{
	if (sf->l1 != NULL)
		cki_l1_forget(sf->l1, key);
	if (sf->grace != NULL)
		cki_l1_forget(sf->grace, key);
}

/* Upstream failures that a copy within its stale window may answer (Varnish's grace);
 * refusals (auth, forbidden, bad key) are not failures of the store and are never hidden. */
static bool
upstream_failed(ck_err err)
{
	return err == CK_ETIMEDOUT || err == CK_EUNAVAILABLE || err == CK_EUPSTREAM ||
	       err == CK_ERATELIMIT || err == CK_EIO;
}

/* Keeps the value a Set stored, for as long as the entry may be read: fresh for ttl, then
 * stale for stale_ttl (no ttl: no expiry, kept until the table's LRU drops it). */
static void
keep_set(storefront *sf, const call *c)
{
	uint64_t now = cki_now_ms();
	uint64_t fresh_until = c->put.ttl_s ? now + (uint64_t)c->put.ttl_s * 1000 : 0;
	uint64_t keep_until =
	        c->put.ttl_s ? fresh_until + (uint64_t)c->put.stale_ttl_s * 1000 : UINT64_MAX;
	cki_l1_keep(sf->grace, c->key, c->value, c->len, fresh_until, keep_until);
}

/* A Get's answer: a copy of unknown stale window is kept only while it is fresh; a copy this
 * agent wrote (same bytes) keeps the window its Set gave it. */
static void
keep_get(storefront *sf, const char *key, const cki_store_reply *r)
{
	if (!r->found) {
		cki_l1_forget(sf->grace, key);
		return;
	}
	if (cki_l1_holds(sf->grace, key, r->value, r->value_len))
		return;
	if (r->freshness == CKI_STALE || r->fresh_for_ms <= 0) {
		cki_l1_forget(sf->grace, key); /* another writer's value: its window is unknown */
		return;
	}
	uint64_t fresh_until = cki_now_ms() + (uint64_t)r->fresh_for_ms;
	cki_l1_keep(sf->grace, key, r->value, r->value_len, fresh_until, fresh_until);
}

/* Stale-if-error applies to key unless its namespace ("ns:<namespace>:rest") is listed off. */
static bool
grace_on_for(const storefront *sf, const char *key)
{
	char ns[CKI_NAMESPACE_MAX + 1];
	const char *end;
	size_t n;

	if (sf->grace_off == NULL || sf->grace_off->n == 0 || strncmp(key, "ns:", 3) != 0)
		return true;
	end = strchr(key + 3, ':');
	n = end != NULL ? (size_t)(end - (key + 3)) : 0;
	if (n == 0 || n > CKI_NAMESPACE_MAX)
		return true;
	memcpy(ns, key + 3, n);
	ns[n] = '\0';
	return !cki_ns_set_match(sf->grace_off, ns);
}

static void on_done(void *arg, const cki_store_reply *r);

/* A backend that answered inside its call (against store.h) gets its answer delivered from
 * the loop here, so every caller still sees the contract. */
static void
on_done_later(void *arg, const cki_store_reply *r)
{
	call *c = arg;
	c->in_call = false;
	on_done(c, r);
}

static void
on_done(void *arg, const cki_store_reply *r)
{
	call *c = arg;
	storefront *sf = c->sf;
	if (c->in_call) {
		cki_completions_post(&sf->later, on_done_later, c, r);
		return;
	}
	cki_store_reply served;
	if (r->err != CK_OK)
		cki_metrics_inc(CKI_C_STORE_ERRORS);
	/* A write completed while this read was out: its answer may predate the write, so it
	 * fills nothing (the next read will). */
	bool raced = sf->writes != c->writes_at_start;
	if (c->kind == CALL_GET && r->err == CK_OK) {
		if (sf->l1 != NULL && !raced)
			cki_l1_put(sf->l1, c->key, r);
		if (sf->grace != NULL && !raced)
			keep_get(sf, c->key, r);
	} else if (c->kind == CALL_GET && sf->grace != NULL && upstream_failed(r->err) &&
	           grace_on_for(sf, c->key) && cki_l1_get(sf->grace, c->key, &served)) {
		served.freshness =
		        CKI_STALE; /* whatever its clock says: the store did not answer */
		served.fresh_for_ms = 0;
		cki_metrics_inc(CKI_C_STALE_IF_ERROR);
		r = &served;
	} else if (c->kind == CALL_WRITE) {
		sf->writes++;
		forget(sf, c->key); /* whatever happened, the old copy may be wrong */
		if (c->value != NULL && r->err == CK_OK)
			keep_set(sf, c);
	}
	cki_store_cb cb = c->cb;
	void *cb_arg = c->arg;
	if (cb != NULL)
		cb(cb_arg, r);
	free(c->value);
	free(c);
}

/* A call record for a store call, or NULL when out of memory (the caller then answers
 * CK_ENOMEM through the backend-independent path below). */
static call *
call_new(storefront *sf, call_kind kind, const char *key, cki_store_cb cb, void *arg)
{
	size_t klen = (kind != CALL_READ && key != NULL) ? strlen(key) : 0;
	call *c = calloc(1, sizeof(*c) + klen + 1);
	if (c == NULL)
		return NULL;
	c->sf = sf;
	c->cb = cb;
	c->arg = arg;
	c->kind = kind;
	memcpy(c->key, key != NULL ? key : "", klen);
	c->key[klen] = '\0';
	c->writes_at_start = sf->writes;
	cki_metrics_inc(CKI_C_STORE_CALLS);
	if (kind == CALL_WRITE)
		forget(sf, c->key);
	return c;
}

/* Out of memory before the store was asked: answered from the loop like any completion. */
static void
fail_oom(storefront *sf, cki_store_cb cb, void *arg)
{
	cki_store_reply r;
	cki_store_reply_init(&r);
	r.err = CK_ENOMEM;
	r.message = "agent out of memory";
	cki_metrics_inc(CKI_C_STORE_ERRORS);
	cki_completions_post(&sf->later, cb, arg, &r);
}

/* A call record, or NULL after answering CK_ENOMEM (from the loop). */
static call *
start(storefront *sf, call_kind kind, const char *key, cki_store_cb cb, void *arg)
{
	call *c = call_new(sf, kind, key, cb, arg);
	if (c == NULL)
		fail_oom(sf, cb, arg);
	return c;
}

/* What one store call carries to the backend: the operation and its arguments. */
typedef enum fwd_op {
	F_GET,
	F_PUT,
	F_DEL,
	F_EXISTS,
	F_GET_TTL,
	F_TOUCH,
	F_LOCK,
	F_UNLOCK,
	F_RENEW,
	F_HEALTH
} fwd_op;

typedef struct fwd {
	fwd_op op;
	const char *key; /* NULL for health */
	uint64_t deadline;
	const uint8_t *value; /* put */
	size_t len;
	const cki_put_opts *opts;
	uint32_t n;          /* touch: ttl_s; lock, renew: lease_ms */
	const char *lock_id; /* unlock, renew */
} fwd;

/* Every operation's one path: a call record (kind says what it does to the L1), then the
 * backend's operation answered through on_done. An answer inside the backend's call waits for
 * the loop (in_call). */
static void
forward(cki_store *s, call_kind kind, const fwd *f, cki_store_cb cb, void *arg)
{
	storefront *sf = of(s);
	cki_store *b = sf->backend;
	call *c = start(sf, kind, f->key, cb, arg);
	if (c == NULL)
		return;
	if (f->op == F_PUT && sf->grace != NULL) {
		/* Kept only once the store has it; without memory for the copy, simply not kept. */
		c->value = malloc(f->len ? f->len : 1);
		if (c->value != NULL && f->len > 0)
			memcpy(c->value, f->value, f->len);
		c->len = f->len;
		c->put = *f->opts;
	}
	c->in_call = true;
	switch (f->op) {
	case F_GET:
		b->ops->get(b, f->key, f->deadline, on_done, c);
		break;
	case F_PUT:
		b->ops->put(b, f->key, f->value, f->len, f->opts, f->deadline, on_done, c);
		break;
	case F_DEL:
		b->ops->del(b, f->key, f->deadline, on_done, c);
		break;
	case F_EXISTS:
		b->ops->exists(b, f->key, f->deadline, on_done, c);
		break;
	case F_GET_TTL:
		b->ops->get_ttl(b, f->key, f->deadline, on_done, c);
		break;
	case F_TOUCH:
		b->ops->touch(b, f->key, f->n, f->deadline, on_done, c);
		break;
	case F_LOCK:
		b->ops->lock(b, f->key, f->n, f->deadline, on_done, c);
		break;
	case F_UNLOCK:
		b->ops->unlock(b, f->key, f->lock_id, f->deadline, on_done, c);
		break;
	case F_RENEW:
		b->ops->renew_lock(b, f->key, f->lock_id, f->n, f->deadline, on_done, c);
		break;
	case F_HEALTH:
		b->ops->health(b, f->deadline, on_done, c);
		break;
	}
	c->in_call = false;
}

/* The store interface's entries: each names its operation, what it does to the L1, and its
 * arguments. A Get fills the L1 (CALL_GET) only when there is an L1 or a stale-if-error copy. */
static void
sf_get(cki_store *s, const char *key, uint64_t deadline, cki_store_cb cb, void *arg)
{
	storefront *sf = of(s);
	call_kind kind = (sf->l1 != NULL || sf->grace != NULL) ? CALL_GET : CALL_READ;
	forward(s, kind, &(fwd){.op = F_GET, .key = key, .deadline = deadline}, cb, arg);
}

static void
sf_put(cki_store *s, const char *key, const uint8_t *value, size_t len, const cki_put_opts *opts,
       uint64_t deadline, cki_store_cb cb, void *arg)
{
	forward(s, CALL_WRITE,
	        &(fwd){.op = F_PUT,
	               .key = key,
	               .deadline = deadline,
	               .value = value,
	               .len = len,
	               .opts = opts},
	        cb, arg);
}

static void
sf_del(cki_store *s, const char *key, uint64_t deadline, cki_store_cb cb, void *arg)
{
	forward(s, CALL_WRITE, &(fwd){.op = F_DEL, .key = key, .deadline = deadline}, cb, arg);
}

static void
sf_exists(cki_store *s, const char *key, uint64_t deadline, cki_store_cb cb, void *arg)
{
	forward(s, CALL_READ, &(fwd){.op = F_EXISTS, .key = key, .deadline = deadline}, cb, arg);
}

static void
sf_get_ttl(cki_store *s, const char *key, uint64_t deadline, cki_store_cb cb, void *arg)
{
	forward(s, CALL_READ, &(fwd){.op = F_GET_TTL, .key = key, .deadline = deadline}, cb, arg);
}

/* A TTL change moves the entry's Fresh-For bound: the L1 copy's bound is wrong either way. */
static void
sf_touch(cki_store *s, const char *key, uint32_t ttl_s, uint64_t deadline, cki_store_cb cb,
         void *arg)
{
	forward(s, CALL_WRITE, &(fwd){.op = F_TOUCH, .key = key, .deadline = deadline, .n = ttl_s},
	        cb, arg);
}

static void
sf_lock(cki_store *s, const char *key, uint32_t lease_ms, uint64_t deadline, cki_store_cb cb,
        void *arg)
{
	forward(s, CALL_READ, &(fwd){.op = F_LOCK, .key = key, .deadline = deadline, .n = lease_ms},
	        cb, arg);
}

static void
sf_unlock(cki_store *s, const char *key, const char *lock_id, uint64_t deadline, cki_store_cb cb,
          void *arg)
{
	forward(s, CALL_READ,
	        &(fwd){.op = F_UNLOCK, .key = key, .deadline = deadline, .lock_id = lock_id}, cb,
	        arg);
}

static void
sf_renew_lock(cki_store *s, const char *key, const char *lock_id, uint32_t lease_ms,
              uint64_t deadline, cki_store_cb cb, void *arg)
{
	fwd f = {
	        .op = F_RENEW, .key = key, .deadline = deadline, .n = lease_ms, .lock_id = lock_id};
	forward(s, CALL_READ, &f, cb, arg);
}

static void
sf_health(cki_store *s, uint64_t deadline, cki_store_cb cb, void *arg)
{
	forward(s, CALL_READ, &(fwd){.op = F_HEALTH, .deadline = deadline}, cb, arg);
}

static void
sf_stats(cki_store *s, void (*emit)(void *ctx, const char *name, double v), void *ctx)
{
	storefront *sf = of(s);
	if (sf->backend->ops->stats != NULL)
		sf->backend->ops->stats(sf->backend, emit, ctx);
}

static void
sf_destroy(cki_store *s)
{
	storefront *sf = of(s);
	if (sf == NULL)
		return;
	/* The backend answers everything it holds, through on_done, which frees each call. */
	sf->backend->ops->destroy(sf->backend);
	cki_completions_flush(&sf->later);
	cki_l1_free(sf->grace);
	free(sf);
}

static const char *
sf_url(cki_store *s)
{
	storefront *sf = of(s);
	return sf->backend->ops->url(sf->backend);
}

static const cki_store_ops storefront_ops = {
        .backend_type = NULL, /* each instance copies the table with its backend's type */
        .get = sf_get,
        .put = sf_put,
        .del = sf_del,
        .exists = sf_exists,
        .get_ttl = sf_get_ttl,
        .touch = sf_touch,
        .lock = sf_lock,
        .unlock = sf_unlock,
        .renew_lock = sf_renew_lock,
        .health = sf_health,
        .stats = sf_stats,
        .destroy = sf_destroy,
        .url = sf_url,
};

/* The backend dropped key on its own (evicted for space, or reclaimed past its eviction time):
 * for every reader it is now as if deleted. Runs inside the backend's operation, so before any
 * reply that could show the absence is delivered (those come from the loop): the stubs' slot
 * moves, the L1 copy goes, a Get already in flight fills nothing, and then the storefront's own
 * drop listener (the refresh tracker) hears of it. */
static void
on_backend_drop(void *arg, const char *key)
{
	storefront *sf = arg;
	cki_nearver_bump(sf->nearver, key);
	forget(sf, key);
	sf->writes++;
	if (sf->base.on_drop != NULL)
		sf->base.on_drop(sf->base.on_drop_arg, key);
}

ck_err
cki_storefront_new(cki_store **out, cki_store *backend, cki_loop *loop, cki_l1 *l1)
{
	storefront *sf = calloc(1, sizeof(*sf));
	if (sf == NULL)
		return CK_ENOMEM;
	sf->ops = storefront_ops;
	sf->ops.backend_type = backend->ops->backend_type;
	sf->base.ops = &sf->ops;
	sf->backend = backend;
	sf->l1 = l1;
	cki_completions_init(&sf->later, loop);
	cki_store_on_drop(backend, on_backend_drop, sf);
	*out = &sf->base;
	return CK_OK;
}

ck_err
cki_storefront_stale_if_error(cki_store *front, uint64_t max_bytes)
{
	storefront *sf = of(front);
	cki_l1 *grace = NULL;
	if (max_bytes == 0 || sf->grace != NULL)
		return CK_OK;
	/* The l1 ttl is unused: every copy is kept with its own window (cki_l1_keep). */
	ck_err rv = cki_l1_new(&grace, max_bytes, 0);
	if (rv == CK_OK)
		sf->grace = grace;
	return rv;
}

void
cki_storefront_set_nearver(cki_store *front, cki_nearver *v)
{
	of(front)->nearver = v;
}

void
cki_storefront_stale_if_error_except(cki_store *front, const cki_ns_set *off)
{
	of(front)->grace_off = off;
}
