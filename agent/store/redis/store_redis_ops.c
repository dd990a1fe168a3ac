/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What each store operation sends to Redis and how its reply reads (store_redis.h gives the
 * storage layout). Operations that need several steps are one Lua script (EVAL; Redis caches
 * the compiled script by its SHA1) so they are atomic and cost one round trip; every key a
 * script touches shares the entry's hash slot ("{key}" tags), so they also run on a cluster.
 * Replies of an unexpected shape are CK_EUPSTREAM with a log line, never a crash.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/random.h"
#include "store/redis/redis_int.h"

#define MAX_TTL_S    2592000u /* the API's bound (30 days) */
#define KEY_MAX      1024     /* longer keys are refused before anything is sent */
#define STALE_PREFIX "ck:stale:{"
#define LOCK_PREFIX  "ck:lock:{"
/* The stale marker belongs to the entry when both expire together (written by one script);
 * an entry rewritten by someone else (a plain SETEX) leaves a marker whose PTTL differs. */
#define MARKER_SLACK_MS 50

/* KEYS[1] entry, KEYS[2] stale marker -> nil, or {value, pttl, marker or false, marker pttl} */
static const char get_script[] =
        "local v = redis.call('GET', KEYS[1]) "
        "if not v then return false end "
        "return {v, redis.call('PTTL', KEYS[1]), redis.call('GET', KEYS[2]) or false, "
        "redis.call('PTTL', KEYS[2])}";
/* ARGV value, ttl_s, stale_s. No stale window: exactly cachekit-py's SETEX (or SET). */
static const char put_script[] =
        "local ttl = tonumber(ARGV[2]) local stale = tonumber(ARGV[3]) "
        "if ttl == 0 then redis.call('SET', KEYS[1], ARGV[1]) redis.call('DEL', KEYS[2]) "
        "elseif stale == 0 then redis.call('SETEX', KEYS[1], ARGV[2], ARGV[1]) "
        "redis.call('DEL', KEYS[2]) "
        "else redis.call('SETEX', KEYS[1], ttl + stale, ARGV[1]) "
        "redis.call('SETEX', KEYS[2], ttl + stale, stale * 1000) end "
        "return 1";
/* ARGV ttl_s -> 0 absent, -1 stale (conflict), 1 refreshed. The stale window is kept. */
static const char touch_script[] =
        "local p = redis.call('PTTL', KEYS[1]) "
        "if p == -2 then return 0 end "
        "local stale = 0 "
        "if p >= 0 then local m = redis.call('GET', KEYS[2]) "
        "if m and math.abs(redis.call('PTTL', KEYS[2]) - p) <= tonumber(ARGV[2]) then "
        "stale = tonumber(m) or 0 end "
        "if p <= stale then return -1 end end "
        "local ms = tonumber(ARGV[1]) * 1000 + stale "
        "redis.call('PEXPIRE', KEYS[1], ms) "
        "if stale > 0 then redis.call('PEXPIRE', KEYS[2], ms) else redis.call('DEL', KEYS[2]) end "
        "return 1";
/* The holder's compare-and-delete. */
static const char unlock_script[] =
        "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end "
        "return 0";
/* The holder's compare-and-extend: ARGV token, lease ms -> 1 renewed, 0 not the holder. */
static const char renew_script[] = "if redis.call('GET', KEYS[1]) == ARGV[1] then "
                                   "return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end "
                                   "return 0";

enum { SCRIPT_GET, SCRIPT_PUT, SCRIPT_TOUCH, SCRIPT_UNLOCK, SCRIPT_RENEW };

static const char *const scripts[CKI_REDIS_NSCRIPTS] = {get_script, put_script, touch_script,
                                                        unlock_script, renew_script};

const char *
cki_redis_script(int i)
{
	return i >= 0 && i < CKI_REDIS_NSCRIPTS ? scripts[i] : NULL;
}

/* argv[0..1] = EVALSHA sha when the script is loaded, else EVAL and its text. */
static void
script_head(rstore *s, int i, const char **argv, size_t *argvlen)
{
	if (s->sha[i][0] != '\0') {
		argv[0] = "EVALSHA";
		argvlen[0] = 7;
		argv[1] = s->sha[i];
		argvlen[1] = 40;
	} else {
		argv[0] = "EVAL";
		argvlen[0] = 4;
		argv[1] = scripts[i];
		argvlen[1] = strlen(scripts[i]);
	}
}

bool
cki_rop_retry_as_eval(rop *op)
{
	static const char evalsha[] = "$7\r\nEVALSHA\r\n$40\r\n";
	const char *script = cki_redis_script(op->script);
	const char *first = op->cmd ? memchr(op->cmd, '\n', op->cmd_len) : NULL;
	size_t head, skip, slen, cap, n;
	char *cmd;

	if (script == NULL || first == NULL || op->redirects >= CKI_REDIS_MAX_REDIRECT)
		return false;
	head = (size_t)(first + 1 - op->cmd);
	skip = sizeof(evalsha) - 1 + 40 + 2;
	if (op->cmd_len < head + skip || memcmp(op->cmd + head, evalsha, sizeof(evalsha) - 1) != 0)
		return false;
	slen = strlen(script);
	cap = op->cmd_len - skip + slen + 64;
	cmd = malloc(cap);
	if (cmd == NULL)
		return false;
	memcpy(cmd, op->cmd, head);
	n = head + (size_t)snprintf(cmd + head, cap - head, "$4\r\nEVAL\r\n$%zu\r\n", slen);
	memcpy(cmd + n, script, slen);
	memcpy(cmd + n + slen, "\r\n", 2);
	n += slen + 2;
	memcpy(cmd + n, op->cmd + head + skip, op->cmd_len - head - skip);
	n += op->cmd_len - head - skip;
	redisFreeCommand(op->cmd);
	op->cmd = cmd;
	op->cmd_len = n;
	op->redirects++;
	op->s->noscript++;
	op->s->sha[op->script][0] = '\0'; /* EVAL until a handshake loads it again */
	cki_rnode_send(op->node, op, false);
	return true;
}

ck_err
cki_redis_error_code(const char *str)
{
	if (strncmp(str, "NOAUTH", 6) == 0 || strncmp(str, "WRONGPASS", 9) == 0 ||
	    strncmp(str, "NOPERM", 6) == 0)
		return CK_EAUTH;
	return CK_EUPSTREAM;
}

/* "prefix" key "}" into buf (cap bytes). */
static size_t
tagged(char *buf, size_t cap, const char *prefix, const char *key)
{
	int n = snprintf(buf, cap, "%s%s}", prefix, key);
	return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

/* A new op for key (NULL for none) with its command; answers and returns NULL on failure. */
static rop *
op_new(cki_store *base, rop_kind kind, const char *key, uint64_t deadline, cki_store_cb cb,
       void *arg, int argc, const char **argv, const size_t *argvlen)
{
	rstore *s = (rstore *)base;
	cki_store_reply r;
	rop *op;
	int len;

	cki_store_reply_init(&r);
	op = calloc(1, sizeof(*op));
	if (op == NULL) {
		r.err = CK_ENOMEM;
		cb(arg, &r);
		return NULL;
	}
	op->s = s;
	op->kind = kind;
	op->cb = cb;
	op->arg = arg;
	op->deadline = deadline;
	op->script = -1;
	op->slot = key == NULL ? -1 : (int)cki_redis_key_slot(key, strlen(key));
	len = redisFormatCommandArgv(&op->cmd, argc, argv, argvlen);
	if (len < 0) {
		cki_rop_fail(op, CK_ENOMEM, NULL);
		return NULL;
	}
	op->cmd_len = (size_t)len;
	return op;
}

static bool
key_ok(const char *key, cki_store_cb cb, void *arg)
{
	size_t n = key == NULL ? 0 : strnlen(key, KEY_MAX + 1);
	cki_store_reply r;

	if (n > 0 && n <= KEY_MAX && strpbrk(key, "{}") == NULL)
		return true;
	cki_store_reply_init(&r);
	r.err = CK_EINVALKEY;
	r.message = n == 0 ? "empty key" : "key too long or with braces for the redis store";
	cb(arg, &r);
	return false;
}

static void
bad_reply(rop *op, const char *what)
{
	cki_log_warn("store redis: unexpected reply to %s from %s", what, op->node->name);
	cki_rop_fail(op, CK_EUPSTREAM, "unexpected reply from redis");
}

static void
complete_get(rop *op, const redisReply *reply, cki_store_reply *r)
{
	const redisReply *const *e;
	long long pttl, stale_ms = 0;

	if (reply->type == REDIS_REPLY_NIL) {
		cki_rop_answer(op, r);
		return;
	}
	if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 4) {
		bad_reply(op, "get");
		return;
	}
	e = (const redisReply *const *)reply->element;
	if (e[0]->type != REDIS_REPLY_STRING || e[1]->type != REDIS_REPLY_INTEGER ||
	    e[3]->type != REDIS_REPLY_INTEGER) {
		bad_reply(op, "get");
		return;
	}
	r->found = true;
	r->value = (const uint8_t *)e[0]->str;
	r->value_len = e[0]->len;
	pttl = e[1]->integer;
	if (e[2]->type == REDIS_REPLY_STRING && pttl >= 0 &&
	    llabs(e[3]->integer - pttl) <= MARKER_SLACK_MS)
		stale_ms = strtoll(e[2]->str, NULL, 10);
	if (pttl < 0) {
		r->freshness = CKI_FRESH;
		r->fresh_for_ms = -1;
	} else if (pttl > stale_ms) {
		r->freshness = CKI_FRESH;
		r->fresh_for_ms = pttl - stale_ms;
	} else {
		r->freshness = CKI_STALE;
		r->fresh_for_ms = 0;
	}
	cki_rop_answer(op, r);
}

void
cki_rop_complete(rop *op, const redisReply *reply)
{
	cki_store_reply r;
	static const char *const names[] = {"get",  "put",    "delete", "exists", "ttl",  "touch",
	                                    "lock", "unlock", "renew",  "ping",   "slots"};

	cki_store_reply_init(&r);
	if (reply->type == REDIS_REPLY_ERROR) {
		cki_log_warn("store redis: %s on %s: %.200s", names[op->kind], op->node->name,
		             reply->str);
		cki_rop_fail(op, cki_redis_error_code(reply->str), "redis answered with an error");
		return;
	}
	switch (op->kind) {
	case ROP_GET:
		complete_get(op, reply, &r);
		return;
	case ROP_PUT:
		break;
	case ROP_DEL:
	case ROP_EXISTS:
	case ROP_UNLOCK:
	case ROP_RENEW:
		if (reply->type != REDIS_REPLY_INTEGER)
			goto bad;
		r.found = reply->integer > 0;
		break;
	case ROP_TTL:
		if (reply->type != REDIS_REPLY_INTEGER)
			goto bad;
		r.found = reply->integer != -2;
		if (reply->integer >= 0)
			r.ttl_s = (reply->integer + 999) / 1000; /* rounded up (spec §4.2) */
		if (r.found && r.ttl_s == 0)
			r.ttl_s = 1;
		break;
	case ROP_TOUCH:
		if (reply->type != REDIS_REPLY_INTEGER)
			goto bad;
		if (reply->integer < 0) {
			r.err = CK_ECONFLICT;
			r.message = "entry is past its fresh window; write it again";
		}
		r.found = reply->integer != 0;
		break;
	case ROP_LOCK:
		if (reply->type == REDIS_REPLY_STATUS)
			r.lock_id = op->token;
		else if (reply->type != REDIS_REPLY_NIL)
			goto bad;
		break;
	case ROP_HEALTH:
		r.found = true;
		r.latency_ms = (double)(cki_now_us() - op->sent_us) / 1000.0;
		r.version = op->node->version;
		break;
	case ROP_SLOTS:
		goto bad;
	}
	cki_rop_answer(op, &r);
	return;
bad:
	bad_reply(op, names[op->kind]);
}

/* ---- operations --------------------------------------------------------------------------- */

static void
run_script(cki_store *s, rop_kind kind, int script, const char *key, int nargs, const char **args,
           const size_t *arglens, uint64_t deadline, cki_store_cb cb, void *arg)
{
	char marker[KEY_MAX + 16];
	const char *argv[8];
	size_t argvlen[8];
	int argc = 2;
	rop *op;

	script_head((rstore *)s, script, argv, argvlen);
	argv[argc] = "2";
	argvlen[argc++] = 1;
	argv[argc] = key;
	argvlen[argc++] = strlen(key);
	argv[argc] = marker;
	argvlen[argc++] = tagged(marker, sizeof(marker), STALE_PREFIX, key);
	for (int i = 0; i < nargs; i++) {
		argv[argc] = args[i];
		argvlen[argc++] = arglens[i];
	}
	op = op_new(s, kind, key, deadline, cb, arg, argc, argv, argvlen);
	if (op == NULL)
		return;
	op->script = script;
	cki_rop_start(op);
}

static void
redis_get(cki_store *s, const char *key, uint64_t deadline, cki_store_cb cb, void *arg)
{
	if (key_ok(key, cb, arg))
		run_script(s, ROP_GET, SCRIPT_GET, key, 0, NULL, NULL, deadline, cb, arg);
}

static void
redis_put(cki_store *s, const char *key, const uint8_t *value, size_t len, const cki_put_opts *opts,
          uint64_t deadline, cki_store_cb cb, void *arg)
{
	char ttl[16], stale[16];
	const char *args[3];
	size_t lens[3];
	uint32_t ttl_s = opts ? opts->ttl_s : 0, stale_s = opts ? opts->stale_ttl_s : 0;
	cki_store_reply r;

	if (!key_ok(key, cb, arg))
		return;
	cki_store_reply_init(&r);
	r.err = CK_EINVAL;
	if (ttl_s > MAX_TTL_S || (uint64_t)ttl_s + stale_s > MAX_TTL_S) {
		r.message = "ttl + stale window above 2592000 seconds";
		cb(arg, &r);
		return;
	}
	if ((stale_s != 0 && ttl_s == 0) || (value == NULL && len > 0)) {
		r.message = stale_s != 0 ? "a stale window requires a ttl" : "no value bytes";
		cb(arg, &r);
		return;
	}
	args[0] = value != NULL ? (const char *)value : "";
	lens[0] = len;
	lens[1] = (size_t)snprintf(ttl, sizeof(ttl), "%u", ttl_s);
	args[1] = ttl;
	lens[2] = (size_t)snprintf(stale, sizeof(stale), "%u", stale_s);
	args[2] = stale;
	run_script(s, ROP_PUT, SCRIPT_PUT, key, 3, args, lens, deadline, cb, arg);
}

static void
simple(cki_store *s, rop_kind kind, const char *cmd, const char *key, uint64_t deadline,
       cki_store_cb cb, void *arg)
{
	char marker[KEY_MAX + 16];
	const char *argv[3] = {cmd, key, marker};
	size_t argvlen[3] = {strlen(cmd), strlen(key), 0};
	rop *op;

	argvlen[2] = tagged(marker, sizeof(marker), STALE_PREFIX, key);
	/* DEL removes the marker too; EXISTS and PTTL look at the entry only. */
	op = op_new(s, kind, key, deadline, cb, arg, kind == ROP_DEL ? 3 : 2, argv, argvlen);
	if (op != NULL)
		cki_rop_start(op);
}

static void
redis_del(cki_store *s, const char *key, uint64_t deadline, cki_store_cb cb, void *arg)
{
	if (key_ok(key, cb, arg))
		simple(s, ROP_DEL, "DEL", key, deadline, cb, arg);
}

static void
redis_exists(cki_store *s, const char *key, uint64_t deadline, cki_store_cb cb, void *arg)
{
	if (key_ok(key, cb, arg))
		simple(s, ROP_EXISTS, "EXISTS", key, deadline, cb, arg);
}

static void
redis_get_ttl(cki_store *s, const char *key, uint64_t deadline, cki_store_cb cb, void *arg)
{
	if (key_ok(key, cb, arg))
		simple(s, ROP_TTL, "PTTL", key, deadline, cb, arg);
}

static void
redis_touch(cki_store *s, const char *key, uint32_t ttl_s, uint64_t deadline, cki_store_cb cb,
            void *arg)
{
	char ttl[16], slack[16];
	const char *args[2] = {ttl, slack};
	size_t lens[2];
	cki_store_reply r;

	if (!key_ok(key, cb, arg))
		return;
	if (ttl_s == 0 || ttl_s > MAX_TTL_S) {
		cki_store_reply_init(&r);
		r.err = CK_EINVAL;
		r.message = "ttl must be 1..2592000 seconds";
		cb(arg, &r);
		return;
	}
	lens[0] = (size_t)snprintf(ttl, sizeof(ttl), "%u", ttl_s);
	lens[1] = (size_t)snprintf(slack, sizeof(slack), "%d", MARKER_SLACK_MS);
	run_script(s, ROP_TOUCH, SCRIPT_TOUCH, key, 2, args, lens, deadline, cb, arg);
}

static void
redis_lock(cki_store *s, const char *key, uint32_t lease_ms, uint64_t deadline, cki_store_cb cb,
           void *arg)
{
	char lock_key[KEY_MAX + 16], token[37], px[16];
	const char *argv[6] = {"SET", lock_key, token, "NX", "PX", px};
	size_t argvlen[6] = {3, 0, 36, 2, 2, 0};
	cki_store_reply r;
	rop *op;

	if (!key_ok(key, cb, arg))
		return;
	cki_store_reply_init(&r);
	if (lease_ms == 0 || cki_uuid_v4(token) != CK_OK) {
		r.err = lease_ms == 0 ? CK_EINVAL : CK_EINTERNAL;
		r.message = lease_ms == 0 ? "lease must be above 0 ms" : "no randomness";
		cb(arg, &r);
		return;
	}
	argvlen[1] = tagged(lock_key, sizeof(lock_key), LOCK_PREFIX, key);
	argvlen[5] = (size_t)snprintf(px, sizeof(px), "%u", lease_ms);
	op = op_new(s, ROP_LOCK, key, deadline, cb, arg, 6, argv, argvlen);
	if (op == NULL)
		return;
	memcpy(op->token, token, sizeof(token));
	cki_rop_start(op);
}

/* The holder's scripts (unlock, renew): KEYS[1] the lock key, ARGV the token and extra. */
static void
holder_script(cki_store *s, rop_kind kind, int script, const char *key, const char *lock_id,
              const char *extra, uint64_t deadline, cki_store_cb cb, void *arg)
{
	char lock_key[KEY_MAX + 16];
	const char *argv[6] = {NULL, NULL, "1", lock_key, lock_id, extra};
	size_t argvlen[6] = {0, 0, 1, 0, 0, extra ? strlen(extra) : 0};
	cki_store_reply r;
	rop *op;

	if (!key_ok(key, cb, arg))
		return;
	if (lock_id == NULL || lock_id[0] == '\0' || strlen(lock_id) > 64) {
		cki_store_reply_init(&r);
		r.err = CK_EINVAL;
		r.message = "bad lock id";
		cb(arg, &r);
		return;
	}
	argvlen[3] = tagged(lock_key, sizeof(lock_key), LOCK_PREFIX, key);
	argvlen[4] = strlen(lock_id);
	script_head((rstore *)s, script, argv, argvlen);
	op = op_new(s, kind, key, deadline, cb, arg, extra ? 6 : 5, argv, argvlen);
	if (op == NULL)
		return;
	op->script = script;
	cki_rop_start(op);
}

static void
redis_unlock(cki_store *s, const char *key, const char *lock_id, uint64_t deadline, cki_store_cb cb,
             void *arg)
{
	holder_script(s, ROP_UNLOCK, SCRIPT_UNLOCK, key, lock_id, NULL, deadline, cb, arg);
}

static void
redis_renew_lock(cki_store *s, const char *key, const char *lock_id, uint32_t lease_ms,
                 uint64_t deadline, cki_store_cb cb, void *arg)
{
	char px[16];
	cki_store_reply r;

	if (lease_ms == 0) {
		cki_store_reply_init(&r);
		r.err = CK_EINVAL;
		r.message = "lease must be above 0 ms";
		cb(arg, &r);
		return;
	}
	(void)snprintf(px, sizeof(px), "%u", lease_ms);
	holder_script(s, ROP_RENEW, SCRIPT_RENEW, key, lock_id, px, deadline, cb, arg);
}

static void
redis_health(cki_store *s, uint64_t deadline, cki_store_cb cb, void *arg)
{
	const char *argv[1] = {"PING"};
	size_t argvlen[1] = {4};
	rstore *rs = (rstore *)s;
	rop *op;

	if (rs->url.kind == CKI_REDIS_CLUSTER && rs->map_ready) {
		cki_rhealth_cluster(rs, deadline, cb, arg);
		return;
	}
	op = op_new(s, ROP_HEALTH, NULL, deadline, cb, arg, 1, argv, argvlen);
	if (op != NULL)
		cki_rop_start(op);
}

static void
redis_stats(cki_store *base, void (*emit)(void *ctx, const char *name, double v), void *ctx)
{
	rstore *s = (rstore *)base;
	double inflight = 0, down = 0, opens = 0, reconnects = 0;

	for (size_t i = 0; i < s->nnodes; i++) {
		inflight += (double)s->nodes[i]->inflight;
		down += s->nodes[i]->ac == NULL ? 1 : 0;
		opens += (double)s->nodes[i]->breaker.opens;
		reconnects += (double)s->nodes[i]->reconnects;
	}
	emit(ctx, "redis_nodes", (double)s->nnodes);
	emit(ctx, "redis_nodes_down", down);
	emit(ctx, "redis_inflight", inflight);
	emit(ctx, "redis_reconnects", reconnects);
	emit(ctx, "redis_breaker_opens", opens);
	emit(ctx, "redis_redirects", (double)s->redirects);
	emit(ctx, "redis_timeouts", (double)s->timeouts);
	emit(ctx, "redis_slot_refreshes", (double)s->refreshes);
	emit(ctx, "redis_noscript_retries", (double)s->noscript);
}

static const char *
redis_url(cki_store *base)
{
	return ((rstore *)base)->url.display;
}

const cki_store_ops cki_redis_ops = {
        .backend_type = "redis",
        .get = redis_get,
        .put = redis_put,
        .del = redis_del,
        .exists = redis_exists,
        .get_ttl = redis_get_ttl,
        .touch = redis_touch,
        .lock = redis_lock,
        .unlock = redis_unlock,
        .renew_lock = redis_renew_lock,
        .health = redis_health,
        .stats = redis_stats,
        .destroy = cki_redis_destroy,
        .url = redis_url,
};
