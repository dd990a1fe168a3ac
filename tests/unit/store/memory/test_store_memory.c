/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the embedded store (agent/store_memory.c): every operation of store.h with
 * the cachekit.io API's semantics (TTL, stale window, fresh-for, rounded-up ttl, PATCH-ttl
 * rules, lock leases), the byte bound and LRU eviction, and the callback contract: every
 * operation takes effect at once and completes from the loop, never inside the call. Time is
 * an injected fake clock, so no test sleeps.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cunit_main.h"
#include "store/memory/segarena.h"
#include "store/memory/store_memory.h"

#define START_MS  1000000u
#define BIG_LIMIT (64u * 1024 * 1024)

struct fake_clock {
	uint64_t now;
};

static uint64_t
fake_now(void *ctx)
{
	return ((struct fake_clock *)ctx)->now;
}

/* A copy of the last reply, and how many times the callback ran. */
struct result {
	int calls;
	ck_err err;
	bool has_message;
	bool found;
	uint8_t *value;
	size_t value_len;
	bool has_value;
	cki_freshness freshness;
	int64_t fresh_for_ms;
	int64_t ttl_s;
	char lock_id[64];
	bool has_lock_id;
	double latency_ms;
	char version[32];
};

static cki_loop *loop;
static cki_store *st;
static struct fake_clock clk;
static struct result res;

static void
capture(void *arg, const cki_store_reply *r)
{
	struct result *out = arg;

	out->calls++;
	out->err = r->err;
	out->has_message = r->message != NULL;
	out->found = r->found;
	free(out->value);
	out->value = NULL;
	out->has_value = r->value != NULL;
	out->value_len = r->value_len;
	if (r->value != NULL) {
		out->value = malloc(r->value_len + 1);
		memcpy(out->value, r->value, r->value_len);
	}
	out->freshness = r->freshness;
	out->fresh_for_ms = r->fresh_for_ms;
	out->ttl_s = r->ttl_s;
	out->has_lock_id = r->lock_id != NULL;
	snprintf(out->lock_id, sizeof(out->lock_id), "%s", r->lock_id ? r->lock_id : "");
	out->latency_ms = r->latency_ms;
	snprintf(out->version, sizeof(out->version), "%s", r->version ? r->version : "");
}

static void
reset(void)
{
	free(res.value);
	memset(&res, 0, sizeof(res));
}

static void
open_store(uint64_t limit)
{
	st = NULL;
	clk.now = START_MS;
	reset();
	if (loop == NULL)
		CU_ASSERT_FATAL(cki_loop_new(&loop) == CK_OK);
	CU_ASSERT_FATAL(cki_store_memory_new(&st, loop, limit) == CK_OK);
	CU_ASSERT_FATAL(st != NULL);
	cki_store_memory_set_clock(st, fake_now, &clk);
}

static void
close_store(void)
{
	if (st != NULL)
		st->ops->destroy(st);
	st = NULL;
	reset();
}

static void
stop_loop(cki_loop *l, void *arg)
{
	cki_loop_stop(l);
}

/* Runs the loop for one turn: everything queued before it is delivered. */
static void
turn(void)
{
	CU_ASSERT_FATAL(cki_loop_timer(loop, 0, stop_loop, NULL) != 0);
	CU_ASSERT_EQUAL(cki_loop_run(loop), CK_OK);
}

/* The contract: nothing completes inside the call; the loop's next turn delivers it, once. */
static void
settle(void)
{
	CU_ASSERT_EQUAL(res.calls, 0);
	turn();
}

/* Each wrapper runs one operation and checks the callback ran exactly once, from the loop. */
static struct result *
put_bytes(const char *key, const void *data, size_t len, uint32_t ttl, uint32_t stale)
{
	cki_put_opts o = {.ttl_s = ttl, .stale_ttl_s = stale};
	reset();
	st->ops->put(st, key, data, len, &o, 0, capture, &res);
	settle();
	CU_ASSERT_EQUAL(res.calls, 1);
	return &res;
}

static ck_err
put(const char *key, const char *value, uint32_t ttl, uint32_t stale)
{
	return put_bytes(key, value, strlen(value), ttl, stale)->err;
}

static struct result *
get(const char *key)
{
	reset();
	st->ops->get(st, key, 0, capture, &res);
	settle();
	CU_ASSERT_EQUAL(res.calls, 1);
	return &res;
}

/* True when key holds exactly the string value. */
static bool
holds(const char *key, const char *value)
{
	struct result *r = get(key);
	return r->err == CK_OK && r->found && r->value_len == strlen(value) &&
	       memcmp(r->value, value, r->value_len) == 0;
}

static struct result *
del(const char *key)
{
	reset();
	st->ops->del(st, key, 0, capture, &res);
	settle();
	CU_ASSERT_EQUAL(res.calls, 1);
	return &res;
}

static struct result *
exists(const char *key)
{
	reset();
	st->ops->exists(st, key, 0, capture, &res);
	settle();
	CU_ASSERT_EQUAL(res.calls, 1);
	return &res;
}

static struct result *
get_ttl(const char *key)
{
	reset();
	st->ops->get_ttl(st, key, 0, capture, &res);
	settle();
	CU_ASSERT_EQUAL(res.calls, 1);
	return &res;
}

static struct result *
touch(const char *key, uint32_t ttl)
{
	reset();
	st->ops->touch(st, key, ttl, 0, capture, &res);
	settle();
	CU_ASSERT_EQUAL(res.calls, 1);
	return &res;
}

static struct result *
lock(const char *key, uint32_t lease_ms)
{
	reset();
	st->ops->lock(st, key, lease_ms, 0, capture, &res);
	settle();
	CU_ASSERT_EQUAL(res.calls, 1);
	return &res;
}

static struct result *
unlock(const char *key, const char *id)
{
	reset();
	st->ops->unlock(st, key, id, 0, capture, &res);
	settle();
	CU_ASSERT_EQUAL(res.calls, 1);
	return &res;
}

struct stat_query {
	const char *name;
	double value;
	int seen;
};

static void
stat_emit(void *ctx, const char *name, double v)
{
	struct stat_query *q = ctx;
	if (strcmp(name, q->name) == 0) {
		q->value = v;
		q->seen++;
	}
}

static double
stat(const char *name)
{
	struct stat_query q = {name, -1, 0};
	st->ops->stats(st, stat_emit, &q);
	CU_ASSERT_EQUAL(q.seen, 1);
	return q.value;
}

/* Accounted bytes of one entry with this key and value length, measured on a scratch store. */
static uint64_t
entry_size(const char *key, size_t value_len)
{
	cki_store *scratch = NULL;
	struct stat_query q = {"store_bytes", -1, 0};
	char *v = calloc(1, value_len + 1);
	cki_put_opts o = {0, 0};

	if (loop == NULL)
		CU_ASSERT_FATAL(cki_loop_new(&loop) == CK_OK);
	CU_ASSERT_FATAL(cki_store_memory_new(&scratch, loop, BIG_LIMIT) == CK_OK);
	scratch->ops->put(scratch, key, (const uint8_t *)v, value_len, &o, 0, NULL, NULL);
	scratch->ops->stats(scratch, stat_emit, &q);
	scratch->ops->destroy(scratch);
	free(v);
	return (uint64_t)q.value;
}

/* ---- construction ------------------------------------------------------------------------- */

static void
test_zero_limit_is_refused(void)
{
	cki_store *s = NULL;
	CU_ASSERT_EQUAL(cki_store_memory_new(&s, loop, 0), CK_EINVAL);
	CU_ASSERT_PTR_NULL(s);
}

static void
test_reports_memory_url_and_backend_type(void)
{
	open_store(BIG_LIMIT);
	CU_ASSERT_STRING_EQUAL(st->ops->url(st), "memory:");
	CU_ASSERT_STRING_EQUAL(st->ops->backend_type, "memory");
	close_store();
}

/* ---- get / put ---------------------------------------------------------------------------- */

static void
test_get_returns_the_stored_value_fresh(void)
{
	open_store(BIG_LIMIT);
	CU_ASSERT_EQUAL(put("k", "hello", 60, 0), CK_OK);
	struct result *r = get("k");
	CU_ASSERT_EQUAL(r->err, CK_OK);
	CU_ASSERT_TRUE(r->found);
	CU_ASSERT_EQUAL(r->value_len, 5);
	CU_ASSERT_NSTRING_EQUAL(r->value, "hello", 5);
	CU_ASSERT_EQUAL(r->freshness, CKI_FRESH);
	CU_ASSERT_EQUAL(r->fresh_for_ms, 60000);
	close_store();
}

static void
test_get_of_absent_key_is_a_miss(void)
{
	open_store(BIG_LIMIT);
	struct result *r = get("nothing");
	CU_ASSERT_EQUAL(r->err, CK_OK);
	CU_ASSERT_FALSE(r->found);
	CU_ASSERT_FALSE(r->has_value);
	close_store();
}

static void
test_binary_values_with_nul_bytes_round_trip(void)
{
	static const uint8_t bin[] = {0x00, 0x01, 0x00, 0xff, 0x00, 0x7f, 0x00};
	open_store(BIG_LIMIT);
	CU_ASSERT_EQUAL(put_bytes("bin", bin, sizeof(bin), 0, 0)->err, CK_OK);
	struct result *r = get("bin");
	CU_ASSERT_TRUE(r->found);
	CU_ASSERT_EQUAL(r->value_len, sizeof(bin));
	CU_ASSERT_EQUAL(memcmp(r->value, bin, sizeof(bin)), 0);

	CU_ASSERT_EQUAL(put_bytes("empty", NULL, 0, 0, 0)->err, CK_OK);
	r = get("empty");
	CU_ASSERT_TRUE(r->found);
	CU_ASSERT_EQUAL(r->value_len, 0);
	close_store();
}

static void
test_put_replaces_value_and_both_windows(void)
{
	open_store(BIG_LIMIT);
	CU_ASSERT_EQUAL(put("k", "first", 10, 20), CK_OK);
	CU_ASSERT_EQUAL(put("k", "second", 0, 0), CK_OK);
	CU_ASSERT_TRUE(holds("k", "second"));
	CU_ASSERT_EQUAL(get("k")->fresh_for_ms, -1);
	CU_ASSERT_EQUAL(get_ttl("k")->ttl_s, -1);

	CU_ASSERT_EQUAL(put("k", "third", 5, 0), CK_OK);
	CU_ASSERT_EQUAL(get_ttl("k")->ttl_s, 5);
	clk.now += 5000; /* the old 20 s stale window is gone too */
	CU_ASSERT_FALSE(get("k")->found);
	CU_ASSERT_EQUAL(stat("store_entries"), 0);
	close_store();
}

static void
test_entry_without_ttl_never_expires(void)
{
	open_store(BIG_LIMIT);
	CU_ASSERT_EQUAL(put("k", "v", 0, 0), CK_OK);
	clk.now += 100ull * 24 * 3600 * 1000;
	struct result *r = get("k");
	CU_ASSERT_TRUE(r->found);
	CU_ASSERT_EQUAL(r->freshness, CKI_FRESH);
	CU_ASSERT_EQUAL(r->fresh_for_ms, -1);
	close_store();
}

static void
test_fresh_for_counts_down_to_fresh_until(void)
{
	open_store(BIG_LIMIT);
	CU_ASSERT_EQUAL(put("k", "v", 10, 0), CK_OK);
	clk.now += 2500;
	CU_ASSERT_EQUAL(get("k")->fresh_for_ms, 7500);
	clk.now += 7499;
	CU_ASSERT_EQUAL(get("k")->fresh_for_ms, 1);
	close_store();
}

static void
test_entry_is_stale_after_fresh_until_and_gone_at_evict_at(void)
{
	open_store(BIG_LIMIT);
	CU_ASSERT_EQUAL(put("k", "v", 10, 5), CK_OK);
	clk.now = START_MS + 9999;
	CU_ASSERT_EQUAL(get("k")->freshness, CKI_FRESH);

	clk.now = START_MS + 10000;
	struct result *r = get("k");
	CU_ASSERT_TRUE(r->found);
	CU_ASSERT_EQUAL(r->freshness, CKI_STALE);
	CU_ASSERT_EQUAL(r->fresh_for_ms, 0);
	CU_ASSERT_NSTRING_EQUAL(r->value, "v", 1);

	clk.now = START_MS + 14999;
	CU_ASSERT_EQUAL(get("k")->freshness, CKI_STALE);
	clk.now = START_MS + 15000;
	CU_ASSERT_FALSE(get("k")->found);
	CU_ASSERT_EQUAL(stat("store_expired"), 1);
	close_store();
}

static void
test_entry_without_stale_window_is_gone_at_fresh_until(void)
{
	open_store(BIG_LIMIT);
	CU_ASSERT_EQUAL(put("k", "v", 3, 0), CK_OK);
	clk.now += 2999;
	CU_ASSERT_TRUE(get("k")->found);
	clk.now += 1;
	CU_ASSERT_FALSE(get("k")->found);
	close_store();
}

static void
test_stale_window_without_ttl_is_invalid(void)
{
	open_store(BIG_LIMIT);
	struct result *r = put_bytes("k", "v", 1, 0, 30);
	CU_ASSERT_EQUAL(r->err, CK_EINVAL);
	CU_ASSERT_TRUE(r->has_message);
	CU_ASSERT_FALSE(get("k")->found);
	close_store();
}

static void
test_put_ttl_bounds(void)
{
	open_store(BIG_LIMIT);
	CU_ASSERT_EQUAL(put("a", "v", CKI_STORE_MEMORY_MAX_TTL_S, 0), CK_OK);
	CU_ASSERT_EQUAL(put("b", "v", CKI_STORE_MEMORY_MAX_TTL_S + 1, 0), CK_EINVAL);
	CU_ASSERT_EQUAL(put("c", "v", 1, CKI_STORE_MEMORY_MAX_TTL_S - 1), CK_OK);
	CU_ASSERT_EQUAL(put("d", "v", 2, CKI_STORE_MEMORY_MAX_TTL_S - 1), CK_EINVAL);
	CU_ASSERT_EQUAL(put("e", "v", CKI_STORE_MEMORY_MAX_TTL_S, 1), CK_EINVAL);
	CU_ASSERT_EQUAL(put("f", "v", 1, UINT32_MAX), CK_EINVAL);
	CU_ASSERT_TRUE(get("a")->found);
	CU_ASSERT_FALSE(get("b")->found);
	CU_ASSERT_EQUAL(get_ttl("c")->ttl_s, CKI_STORE_MEMORY_MAX_TTL_S);
	CU_ASSERT_FALSE(get("d")->found);
	CU_ASSERT_FALSE(get("e")->found);
	close_store();
}

static void
test_refused_put_keeps_the_old_value(void)
{
	open_store(BIG_LIMIT);
	CU_ASSERT_EQUAL(put("k", "old", 0, 0), CK_OK);
	CU_ASSERT_EQUAL(put("k", "new", 0, 5), CK_EINVAL);
	CU_ASSERT_TRUE(holds("k", "old"));
	close_store();
}

static void
test_invalid_keys_are_refused(void)
{
	char long_key[CKI_STORE_MEMORY_MAX_KEY + 2];
	open_store(BIG_LIMIT);
	memset(long_key, 'a', sizeof(long_key) - 1);
	long_key[sizeof(long_key) - 1] = '\0';
	CU_ASSERT_EQUAL(put(long_key, "v", 0, 0), CK_EINVALKEY);
	long_key[CKI_STORE_MEMORY_MAX_KEY] = '\0';
	CU_ASSERT_EQUAL(put(long_key, "v", 0, 0), CK_OK);
	CU_ASSERT_EQUAL(put("", "v", 0, 0), CK_EINVALKEY);
	CU_ASSERT_EQUAL(get(NULL)->err, CK_EINVALKEY);
	close_store();
}

/* ---- delete / exists ---------------------------------------------------------------------- */

static void
test_delete_reports_whether_the_key_existed(void)
{
	open_store(BIG_LIMIT);
	CU_ASSERT_EQUAL(put("k", "v", 0, 0), CK_OK);
	struct result *r = del("k");
	CU_ASSERT_EQUAL(r->err, CK_OK);
	CU_ASSERT_TRUE(r->found);
	CU_ASSERT_FALSE(get("k")->found);
	r = del("k");
	CU_ASSERT_EQUAL(r->err, CK_OK);
	CU_ASSERT_FALSE(r->found);
	CU_ASSERT_EQUAL(stat("store_entries"), 0);
	CU_ASSERT_EQUAL(stat("store_bytes"), 0);
	close_store();
}

static void
test_delete_of_an_expired_entry_reports_absent(void)
{
	open_store(BIG_LIMIT);
	CU_ASSERT_EQUAL(put("k", "v", 1, 0), CK_OK);
	clk.now += 1000;
	CU_ASSERT_FALSE(del("k")->found);
	close_store();
}

static void
test_exists_counts_a_stale_entry_as_present(void)
{
	open_store(BIG_LIMIT);
	CU_ASSERT_FALSE(exists("k")->found);
	CU_ASSERT_EQUAL(put("k", "v", 1, 1), CK_OK);
	CU_ASSERT_TRUE(exists("k")->found);
	clk.now += 1500; /* stale */
	CU_ASSERT_TRUE(exists("k")->found);
	clk.now += 500; /* past evict_at */
	CU_ASSERT_FALSE(exists("k")->found);
	close_store();
}

/* ---- ttl ---------------------------------------------------------------------------------- */

static void
test_get_ttl_rounds_up_to_whole_seconds(void)
{
	open_store(BIG_LIMIT);
	CU_ASSERT_EQUAL(put("k", "v", 10, 0), CK_OK);
	CU_ASSERT_EQUAL(get_ttl("k")->ttl_s, 10);
	clk.now = START_MS + 1;
	CU_ASSERT_EQUAL(get_ttl("k")->ttl_s, 10);
	clk.now = START_MS + 1000;
	CU_ASSERT_EQUAL(get_ttl("k")->ttl_s, 9);
	clk.now = START_MS + 9001;
	CU_ASSERT_EQUAL(get_ttl("k")->ttl_s, 1);
	clk.now = START_MS + 9999;
	struct result *r = get_ttl("k");
	CU_ASSERT_TRUE(r->found);
	CU_ASSERT_EQUAL(r->ttl_s, 1);
	clk.now = START_MS + 10000;
	CU_ASSERT_FALSE(get_ttl("k")->found);
	close_store();
}

static void
test_get_ttl_counts_to_eviction_including_stale_window(void)
{
	open_store(BIG_LIMIT);
	CU_ASSERT_EQUAL(put("k", "v", 10, 5), CK_OK);
	CU_ASSERT_EQUAL(get_ttl("k")->ttl_s, 15);
	clk.now += 12000;
	CU_ASSERT_EQUAL(get_ttl("k")->ttl_s, 3);
	close_store();
}

static void
test_get_ttl_of_no_expiry_entry_is_minus_one(void)
{
	open_store(BIG_LIMIT);
	CU_ASSERT_EQUAL(put("k", "v", 0, 0), CK_OK);
	struct result *r = get_ttl("k");
	CU_ASSERT_TRUE(r->found);
	CU_ASSERT_EQUAL(r->ttl_s, -1);
	close_store();
}

static void
test_get_ttl_of_absent_key_is_not_found(void)
{
	open_store(BIG_LIMIT);
	struct result *r = get_ttl("k");
	CU_ASSERT_EQUAL(r->err, CK_OK);
	CU_ASSERT_FALSE(r->found);
	close_store();
}

/* ---- touch (PATCH ttl) -------------------------------------------------------------------- */

static void
test_touch_of_absent_key_is_a_successful_no_op(void)
{
	open_store(BIG_LIMIT);
	struct result *r = touch("k", 30);
	CU_ASSERT_EQUAL(r->err, CK_OK);
	CU_ASSERT_FALSE(r->found);
	CU_ASSERT_FALSE(get("k")->found);
	close_store();
}

static void
test_touch_of_stale_entry_is_a_conflict(void)
{
	open_store(BIG_LIMIT);
	CU_ASSERT_EQUAL(put("k", "v", 10, 10), CK_OK);
	clk.now += 10000;
	struct result *r = touch("k", 60);
	CU_ASSERT_EQUAL(r->err, CK_ECONFLICT);
	CU_ASSERT_FALSE(r->found);
	CU_ASSERT_EQUAL(get_ttl("k")->ttl_s, 10); /* unchanged */
	CU_ASSERT_EQUAL(get("k")->freshness, CKI_STALE);
	close_store();
}

static void
test_touch_bounds_a_no_expiry_entry(void)
{
	open_store(BIG_LIMIT);
	CU_ASSERT_EQUAL(put("k", "v", 0, 0), CK_OK);
	struct result *r = touch("k", 30);
	CU_ASSERT_EQUAL(r->err, CK_OK);
	CU_ASSERT_TRUE(r->found);
	CU_ASSERT_EQUAL(get_ttl("k")->ttl_s, 30);
	CU_ASSERT_EQUAL(get("k")->fresh_for_ms, 30000);
	clk.now += 30000;
	CU_ASSERT_FALSE(get("k")->found);
	close_store();
}

static void
test_touch_of_fresh_entry_extends_and_keeps_stale_window(void)
{
	open_store(BIG_LIMIT);
	CU_ASSERT_EQUAL(put("k", "v", 10, 20), CK_OK);
	clk.now += 5000;
	struct result *r = touch("k", 100);
	CU_ASSERT_EQUAL(r->err, CK_OK);
	CU_ASSERT_TRUE(r->found);
	CU_ASSERT_EQUAL(get_ttl("k")->ttl_s, 120);
	CU_ASSERT_EQUAL(get("k")->fresh_for_ms, 100000);
	clk.now += 100000;
	CU_ASSERT_EQUAL(get("k")->freshness, CKI_STALE);
	clk.now += 20000;
	CU_ASSERT_FALSE(get("k")->found);
	close_store();
}

static void
test_touch_ttl_bounds(void)
{
	open_store(BIG_LIMIT);
	CU_ASSERT_EQUAL(put("plain", "v", 10, 0), CK_OK);
	CU_ASSERT_EQUAL(put("swr", "v", 10, 100), CK_OK);
	CU_ASSERT_EQUAL(touch("plain", 0)->err, CK_EINVAL);
	CU_ASSERT_EQUAL(touch("plain", CKI_STORE_MEMORY_MAX_TTL_S + 1)->err, CK_EINVAL);
	CU_ASSERT_EQUAL(touch("absent", 0)->err, CK_EINVAL);
	CU_ASSERT_EQUAL(touch("plain", CKI_STORE_MEMORY_MAX_TTL_S)->err, CK_OK);
	CU_ASSERT_EQUAL(get_ttl("plain")->ttl_s, CKI_STORE_MEMORY_MAX_TTL_S);

	struct result *r = touch("swr", CKI_STORE_MEMORY_MAX_TTL_S - 99);
	CU_ASSERT_EQUAL(r->err, CK_EINVAL);
	CU_ASSERT_TRUE(r->has_message);
	CU_ASSERT_EQUAL(get_ttl("swr")->ttl_s, 110);
	CU_ASSERT_EQUAL(touch("swr", CKI_STORE_MEMORY_MAX_TTL_S - 100)->err, CK_OK);
	CU_ASSERT_EQUAL(get_ttl("swr")->ttl_s, CKI_STORE_MEMORY_MAX_TTL_S);
	close_store();
}

/* ---- locks -------------------------------------------------------------------------------- */

static bool
is_uuid_v4(const char *s)
{
	size_t i;

	if (strlen(s) != 36)
		return false;
	for (i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
		} else if (!strchr("0123456789abcdef", s[i]) || s[i] == '\0') {
			return false;
		}
	}
	return s[14] == '4' && strchr("89ab", s[19]) != NULL;
}

static void
test_lock_grants_a_uuid_v4_id(void)
{
	open_store(BIG_LIMIT);
	struct result *r = lock("k", 30000);
	CU_ASSERT_EQUAL(r->err, CK_OK);
	CU_ASSERT_TRUE(r->has_lock_id);
	CU_ASSERT_TRUE(is_uuid_v4(r->lock_id));
	CU_ASSERT_EQUAL(stat("store_locks"), 1);
	close_store();
}

static void
test_lock_is_contested_while_held(void)
{
	open_store(BIG_LIMIT);
	CU_ASSERT_TRUE(lock("k", 30000)->has_lock_id);
	clk.now += 29999;
	struct result *r = lock("k", 30000);
	CU_ASSERT_EQUAL(r->err, CK_OK);
	CU_ASSERT_FALSE(r->has_lock_id);
	close_store();
}

static void
test_lock_ids_differ_between_grants(void)
{
	char first[64];
	open_store(BIG_LIMIT);
	snprintf(first, sizeof(first), "%s", lock("a", 1000)->lock_id);
	CU_ASSERT_TRUE(lock("b", 1000)->has_lock_id);
	CU_ASSERT_STRING_NOT_EQUAL(first, res.lock_id);
	close_store();
}

static void
test_lock_is_granted_again_after_the_lease_expires(void)
{
	char first[64];
	open_store(BIG_LIMIT);
	snprintf(first, sizeof(first), "%s", lock("k", 500)->lock_id);
	clk.now += 499;
	CU_ASSERT_FALSE(lock("k", 500)->has_lock_id);
	clk.now += 1;
	struct result *r = lock("k", 500);
	CU_ASSERT_TRUE(r->has_lock_id);
	CU_ASSERT_STRING_NOT_EQUAL(first, r->lock_id);
	CU_ASSERT_FALSE(unlock("k", first)->found); /* the old holder's id no longer releases */
	CU_ASSERT_FALSE(lock("k", 500)->has_lock_id);
	close_store();
}

static void
test_unlock_with_the_right_id_releases(void)
{
	char id[64];
	open_store(BIG_LIMIT);
	snprintf(id, sizeof(id), "%s", lock("k", 30000)->lock_id);
	struct result *r = unlock("k", id);
	CU_ASSERT_EQUAL(r->err, CK_OK);
	CU_ASSERT_TRUE(r->found);
	CU_ASSERT_EQUAL(stat("store_locks"), 0);
	CU_ASSERT_TRUE(lock("k", 30000)->has_lock_id);
	close_store();
}

static void
test_unlock_with_a_wrong_id_keeps_the_lock(void)
{
	char id[64];
	open_store(BIG_LIMIT);
	snprintf(id, sizeof(id), "%s", lock("k", 30000)->lock_id);
	id[0] = id[0] == 'a' ? 'b' : 'a';
	struct result *r = unlock("k", id);
	CU_ASSERT_EQUAL(r->err, CK_OK);
	CU_ASSERT_FALSE(r->found);
	CU_ASSERT_FALSE(unlock("k", "not-a-uuid")->found);
	CU_ASSERT_FALSE(lock("k", 30000)->has_lock_id);
	close_store();
}

static void
test_unlock_of_expired_or_absent_lock_is_not_found(void)
{
	char id[64];
	open_store(BIG_LIMIT);
	CU_ASSERT_FALSE(unlock("never", "00000000-0000-4000-8000-000000000000")->found);
	snprintf(id, sizeof(id), "%s", lock("k", 100)->lock_id);
	clk.now += 100;
	struct result *r = unlock("k", id);
	CU_ASSERT_EQUAL(r->err, CK_OK);
	CU_ASSERT_FALSE(r->found);
	CU_ASSERT_EQUAL(stat("store_locks"), 0);
	close_store();
}

static void
test_unlock_without_an_id_is_invalid(void)
{
	open_store(BIG_LIMIT);
	CU_ASSERT_TRUE(lock("k", 1000)->has_lock_id);
	CU_ASSERT_EQUAL(unlock("k", NULL)->err, CK_EINVAL);
	CU_ASSERT_EQUAL(unlock("k", "")->err, CK_EINVAL);
	CU_ASSERT_EQUAL(unlock("k", " \t ")->err, CK_EINVAL);
	CU_ASSERT_FALSE(lock("k", 1000)->has_lock_id);
	close_store();
}

static void
test_lock_with_zero_lease_is_invalid(void)
{
	open_store(BIG_LIMIT);
	struct result *r = lock("k", 0);
	CU_ASSERT_EQUAL(r->err, CK_EINVAL);
	CU_ASSERT_FALSE(r->has_lock_id);
	close_store();
}

static void
test_locks_and_values_are_separate(void)
{
	char id[64];
	open_store(BIG_LIMIT);
	snprintf(id, sizeof(id), "%s", lock("k", 30000)->lock_id);
	CU_ASSERT_FALSE(get("k")->found);
	CU_ASSERT_FALSE(exists("k")->found);
	CU_ASSERT_EQUAL(stat("store_entries"), 0);
	CU_ASSERT_EQUAL(put("k", "v", 0, 0), CK_OK);
	CU_ASSERT_TRUE(del("k")->found);
	CU_ASSERT_FALSE(lock("k", 30000)->has_lock_id); /* still held */
	CU_ASSERT_EQUAL(put("k", "v", 0, 0), CK_OK);
	CU_ASSERT_TRUE(unlock("k", id)->found);
	CU_ASSERT_TRUE(holds("k", "v"));
	close_store();
}

static void
test_locks_cannot_fill_memory_beyond_the_limit(void)
{
	uint64_t one = entry_size("v0", 8);
	char key[32];
	int i, granted = 0;

	open_store(one * 4);
	CU_ASSERT_EQUAL(put("v0", "12345678", 0, 0), CK_OK);
	for (i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "lock%d", i);
		struct result *r = lock(key, 1000);
		if (r->err != CK_OK) {
			CU_ASSERT_EQUAL(r->err, CK_ENOMEM);
			break;
		}
		CU_ASSERT_TRUE(r->has_lock_id);
		granted++;
		CU_ASSERT(stat("store_bytes") <= (double)(one * 4));
	}
	CU_ASSERT(granted > 0 && granted < 1000);
	CU_ASSERT_FALSE(get("v0")->found); /* the value was evicted to make room for locks */
	CU_ASSERT_EQUAL(put("v0", "12345678", 0, 0), CK_ENOMEM);
	clk.now += 1000; /* leases expire: their room comes back */
	CU_ASSERT_EQUAL(put("v0", "12345678", 0, 0), CK_OK);
	CU_ASSERT_EQUAL(stat("store_locks"), 0);
	close_store();
}

/* ---- memory bound and LRU ----------------------------------------------------------------- */

static void
test_lru_evicts_the_least_recently_used_entry(void)
{
	uint64_t one = entry_size("a", 1);
	open_store(one * 3 + one / 2);
	CU_ASSERT_EQUAL(put("a", "1", 0, 0), CK_OK);
	CU_ASSERT_EQUAL(put("b", "2", 0, 0), CK_OK);
	CU_ASSERT_EQUAL(put("c", "3", 0, 0), CK_OK);
	CU_ASSERT_EQUAL(stat("store_bytes"), one * 3);
	CU_ASSERT_TRUE(get("a")->found); /* a is now the most recent; b the least */
	CU_ASSERT_EQUAL(put("d", "4", 0, 0), CK_OK);
	CU_ASSERT_FALSE(exists("b")->found);
	CU_ASSERT_TRUE(exists("a")->found);
	CU_ASSERT_TRUE(exists("c")->found);
	CU_ASSERT_TRUE(exists("d")->found);
	CU_ASSERT_EQUAL(stat("store_evictions"), 1);
	/* order now (most recent first): d a c; exists does not refresh recency */
	CU_ASSERT_EQUAL(put("e", "5", 0, 0), CK_OK);
	CU_ASSERT_FALSE(exists("c")->found);
	CU_ASSERT_TRUE(exists("a")->found);
	CU_ASSERT_EQUAL(stat("store_evictions"), 2);
	close_store();
}

static void
test_put_refreshes_recency(void)
{
	uint64_t one = entry_size("a", 1);
	open_store(one * 3);
	CU_ASSERT_EQUAL(put("a", "1", 0, 0), CK_OK);
	CU_ASSERT_EQUAL(put("b", "2", 0, 0), CK_OK);
	CU_ASSERT_EQUAL(put("c", "3", 0, 0), CK_OK);
	CU_ASSERT_EQUAL(put("a", "9", 0, 0), CK_OK); /* replace: no eviction, a becomes recent */
	CU_ASSERT_EQUAL(stat("store_evictions"), 0);
	CU_ASSERT_EQUAL(put("d", "4", 0, 0), CK_OK);
	CU_ASSERT_FALSE(exists("b")->found);
	CU_ASSERT_TRUE(holds("a", "9"));
	close_store();
}

static void
test_byte_bound_is_never_exceeded(void)
{
	const uint64_t limit = 64 * 1024;
	static uint8_t buf[5000];
	char key[32];
	unsigned seed = 12345;
	int i;

	open_store(limit);
	for (i = 0; i < 5000; i++) {
		seed = seed * 1103515245u + 12345u;
		size_t len = (seed >> 8) % sizeof(buf);
		snprintf(key, sizeof(key), "key:%u", (seed >> 4) % 700);
		memset(buf, i & 0xff, len);
		CU_ASSERT_EQUAL_FATAL(put_bytes(key, buf, len, i % 3 ? 0 : 60, 0)->err, CK_OK);
		CU_ASSERT_FATAL(stat("store_bytes") <= (double)limit);
		struct result *r = get(key);
		CU_ASSERT_TRUE(r->found);
		CU_ASSERT_EQUAL(r->value_len, len);
		if (len > 0)
			CU_ASSERT_EQUAL(r->value[len - 1], (uint8_t)(i & 0xff));
		clk.now += 7;
	}
	CU_ASSERT(stat("store_evictions") > 0);
	close_store();
}

static void
test_value_larger_than_the_limit_is_too_big(void)
{
	static uint8_t buf[5000];
	open_store(4096);
	struct result *r = put_bytes("big", buf, sizeof(buf), 0, 0);
	CU_ASSERT_EQUAL(r->err, CK_ETOOBIG);
	CU_ASSERT_TRUE(r->has_message);
	CU_ASSERT_EQUAL(put_bytes("big", buf, 4096, 0, 0)->err, CK_ETOOBIG);
	CU_ASSERT_EQUAL(stat("store_entries"), 0);
	CU_ASSERT_EQUAL(put_bytes("small", buf, 1000, 0, 0)->err, CK_OK);
	CU_ASSERT_EQUAL(put_bytes("small", buf, 4096, 0, 0)->err, CK_ETOOBIG);
	CU_ASSERT_EQUAL(get("small")->value_len, 1000);
	close_store();
}

static void
test_expired_entries_are_reclaimed_before_live_ones(void)
{
	uint64_t one = entry_size("a", 1);
	open_store(one * 3);
	CU_ASSERT_EQUAL(put("b", "2", 0, 0), CK_OK);
	CU_ASSERT_EQUAL(put("c", "3", 0, 0), CK_OK);
	CU_ASSERT_EQUAL(put("a", "1", 1, 0), CK_OK); /* most recent, but short-lived */
	clk.now += 1000;
	CU_ASSERT_EQUAL(put("d", "4", 0, 0), CK_OK);
	CU_ASSERT_TRUE(exists("b")->found);
	CU_ASSERT_TRUE(exists("c")->found);
	CU_ASSERT_TRUE(exists("d")->found);
	CU_ASSERT_EQUAL(stat("store_evictions"), 0);
	CU_ASSERT_EQUAL(stat("store_expired"), 1);
	close_store();
}

static void
test_sweep_reclaims_expired_entries_and_locks(void)
{
	char key[32];
	int i;
	uint64_t one = entry_size("live0", 4);

	open_store(BIG_LIMIT);
	for (i = 0; i < 10; i++) {
		snprintf(key, sizeof(key), "dead%d", i);
		CU_ASSERT_EQUAL(put(key, "gone", 1, 1), CK_OK);
	}
	for (i = 0; i < 5; i++) {
		snprintf(key, sizeof(key), "live%d", i);
		CU_ASSERT_EQUAL(put(key, "here", 0, 0), CK_OK);
	}
	CU_ASSERT_TRUE(lock("held", 60000)->has_lock_id);
	CU_ASSERT_TRUE(lock("lapsed", 100)->has_lock_id);
	CU_ASSERT_EQUAL(stat("store_locks"), 2);

	clk.now += 1999; /* still stale, not evictable */
	cki_store_memory_sweep(st);
	CU_ASSERT_EQUAL(stat("store_entries"), 15);
	CU_ASSERT_EQUAL(stat("store_locks"), 1);

	clk.now += 1;
	cki_store_memory_sweep(st);
	CU_ASSERT_EQUAL(stat("store_entries"), 5);
	CU_ASSERT_EQUAL(stat("store_expired"), 10);
	CU_ASSERT_EQUAL(stat("store_locks"), 1);
	/* what remains: five live entries and the held lock */
	CU_ASSERT(stat("store_bytes") > (double)(5 * one));
	CU_ASSERT(stat("store_bytes") < (double)(6 * one));
	close_store();
}

/* Small entries live in the segment arena: when large values push them out in an order
 * unrelated to their addresses (every third one was read, so it outlives its neighbours), the
 * arena compacts to 4/3 of what the survivors need (+ 2 segments) and every survivor, moved
 * or not, still holds its own value. */
static void
test_small_entries_survive_compaction_intact(void)
{
	enum { SMALL = 500, BIG = 100000, NBIG = 70 };
	const uint64_t limit = 8u * 1024 * 1024;
	uint64_t small_size = entry_size("s:000000", SMALL), big_size = entry_size("b:00", BIG);
	int n = (int)(limit / small_size), i, kept = 0, bad = 0;
	char key[32], val[SMALL + 1];
	uint8_t *big = calloc(1, BIG);
	double arena_full, small_bytes;

	open_store(limit);
	for (i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "s:%06d", i);
		memset(val, 'a' + i % 26, SMALL);
		snprintf(val, sizeof(val), "%06d", i);
		val[6] = '-';
		val[SMALL] = '\0';
		CU_ASSERT_EQUAL_FATAL(put(key, val, 0, 0), CK_OK);
	}
	for (i = 0; i < n; i += 3) {
		snprintf(key, sizeof(key), "s:%06d", i);
		CU_ASSERT_FATAL(get(key)->found);
	}
	arena_full = stat("store_arena_bytes");
	CU_ASSERT(arena_full >= (double)limit * 0.9);
	for (i = 0; i < NBIG; i++) {
		snprintf(key, sizeof(key), "b:%02d", i);
		CU_ASSERT_EQUAL_FATAL(put_bytes(key, big, BIG, 0, 0)->err, CK_OK);
	}
	small_bytes = stat("store_bytes") - NBIG * (double)big_size;
	CU_ASSERT(small_bytes > 0);
	CU_ASSERT(stat("store_arena_bytes") <= small_bytes * 4 / 3 + 2 * CKI_SEGARENA_SEGMENT);
	for (i = 0; i < n; i++) {
		struct result *r;
		snprintf(key, sizeof(key), "s:%06d", i);
		r = get(key);
		if (!r->found)
			continue;
		kept++;
		memset(val, 'a' + i % 26, SMALL);
		snprintf(val, sizeof(val), "%06d", i);
		val[6] = '-';
		if (r->value_len != SMALL || memcmp(r->value, val, SMALL) != 0)
			bad++;
	}
	CU_ASSERT(kept > 0);
	CU_ASSERT_EQUAL(bad, 0);
	free(big);
	close_store();
}

static void
test_many_keys_survive_hash_table_growth(void)
{
	enum { N = 100000 };
	char key[32], val[32];
	int i, bad = 0;

	open_store(1024u * 1024 * 1024);
	for (i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "ns:key:%d", i);
		snprintf(val, sizeof(val), "value-%d", i * 7);
		if (put(key, val, 0, 0) != CK_OK)
			bad++;
	}
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(stat("store_entries"), N);
	CU_ASSERT_EQUAL(stat("store_evictions"), 0);
	for (i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "ns:key:%d", i);
		snprintf(val, sizeof(val), "value-%d", i * 7);
		if (!holds(key, val))
			bad++;
	}
	CU_ASSERT_EQUAL(bad, 0);
	for (i = 0; i < N; i += 2) {
		snprintf(key, sizeof(key), "ns:key:%d", i);
		if (!del(key)->found)
			bad++;
	}
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(stat("store_entries"), N / 2);
	CU_ASSERT_FALSE(exists("ns:key:0")->found);
	CU_ASSERT_TRUE(exists("ns:key:1")->found);
	close_store();
}

/* ---- callback contract, deadline, health, stats ------------------------------------------- */

static void
count_calls(void *arg, const cki_store_reply *r)
{
	(void)r;
	(*(int *)arg)++;
}

static void
test_callback_runs_exactly_once_per_operation(void)
{
	cki_put_opts ok = {60, 0}, bad = {0, 5};
	int n = 0;

	open_store(BIG_LIMIT);
	st->ops->put(st, "k", (const uint8_t *)"v", 1, &ok, 0, count_calls, &n);
	CU_ASSERT_EQUAL(n, 0); /* not inside the call */
	turn();
	CU_ASSERT_EQUAL(n, 1);
	st->ops->put(st, "k", (const uint8_t *)"v", 1, &bad, 0, count_calls, &n);
	CU_ASSERT_EQUAL(n, 1); /* not inside the call */
	turn();
	CU_ASSERT_EQUAL(n, 2);
	st->ops->get(st, "k", 0, count_calls, &n);
	CU_ASSERT_EQUAL(n, 2); /* not inside the call */
	turn();
	CU_ASSERT_EQUAL(n, 3);
	st->ops->get(st, "absent", 0, count_calls, &n);
	CU_ASSERT_EQUAL(n, 3); /* not inside the call */
	turn();
	CU_ASSERT_EQUAL(n, 4);
	st->ops->exists(st, "k", 0, count_calls, &n);
	CU_ASSERT_EQUAL(n, 4); /* not inside the call */
	turn();
	CU_ASSERT_EQUAL(n, 5);
	st->ops->get_ttl(st, "k", 0, count_calls, &n);
	CU_ASSERT_EQUAL(n, 5); /* not inside the call */
	turn();
	CU_ASSERT_EQUAL(n, 6);
	st->ops->touch(st, "k", 0, 0, count_calls, &n);
	CU_ASSERT_EQUAL(n, 6); /* not inside the call */
	turn();
	CU_ASSERT_EQUAL(n, 7);
	st->ops->touch(st, "k", 30, 0, count_calls, &n);
	CU_ASSERT_EQUAL(n, 7); /* not inside the call */
	turn();
	CU_ASSERT_EQUAL(n, 8);
	st->ops->lock(st, "k", 1000, 0, count_calls, &n);
	CU_ASSERT_EQUAL(n, 8); /* not inside the call */
	turn();
	CU_ASSERT_EQUAL(n, 9);
	st->ops->lock(st, "k", 1000, 0, count_calls, &n); /* contested */
	CU_ASSERT_EQUAL(n, 9);                            /* not inside the call */
	turn();
	CU_ASSERT_EQUAL(n, 10);
	st->ops->unlock(st, "k", "wrong", 0, count_calls, &n);
	CU_ASSERT_EQUAL(n, 10); /* not inside the call */
	turn();
	CU_ASSERT_EQUAL(n, 11);
	st->ops->del(st, "k", 0, count_calls, &n);
	CU_ASSERT_EQUAL(n, 11); /* not inside the call */
	turn();
	CU_ASSERT_EQUAL(n, 12);
	st->ops->health(st, 0, count_calls, &n);
	CU_ASSERT_EQUAL(n, 12); /* not inside the call */
	turn();
	CU_ASSERT_EQUAL(n, 13);
	st->ops->get(st, "", 0, count_calls, &n); /* invalid key */
	CU_ASSERT_EQUAL(n, 13);                   /* not inside the call */
	turn();
	CU_ASSERT_EQUAL(n, 14);
	st->ops->get(st, "k", 1, count_calls, &n); /* deadline passed */
	CU_ASSERT_EQUAL(n, 14);                    /* not inside the call */
	turn();
	CU_ASSERT_EQUAL(n, 15);
	close_store();
}

static void
test_passed_deadline_times_out(void)
{
	cki_put_opts o = {0, 0};
	open_store(BIG_LIMIT);
	reset();
	st->ops->put(st, "k", (const uint8_t *)"v", 1, &o, 1, capture, &res);
	settle();
	CU_ASSERT_EQUAL(res.calls, 1);
	CU_ASSERT_EQUAL(res.err, CK_ETIMEDOUT);
	CU_ASSERT_FALSE(get("k")->found);
	reset();
	st->ops->health(st, 1, capture, &res);
	settle();
	CU_ASSERT_EQUAL(res.err, CK_ETIMEDOUT);
	close_store();
}

static void
test_health_reports_version_and_latency(void)
{
	open_store(BIG_LIMIT);
	reset();
	st->ops->health(st, 0, capture, &res);
	settle();
	CU_ASSERT_EQUAL(res.calls, 1);
	CU_ASSERT_EQUAL(res.err, CK_OK);
	CU_ASSERT_STRING_EQUAL(res.version, CK_VERSION_STRING);
	CU_ASSERT(res.latency_ms >= 0);
	close_store();
}

static void
test_stats_count_entries_and_bytes(void)
{
	uint64_t one = entry_size("k1", 3);
	open_store(BIG_LIMIT);
	CU_ASSERT_EQUAL(stat("store_entries"), 0);
	CU_ASSERT_EQUAL(stat("store_bytes"), 0);
	CU_ASSERT_EQUAL(stat("store_evictions"), 0);
	CU_ASSERT_EQUAL(stat("store_expired"), 0);
	CU_ASSERT_EQUAL(stat("store_locks"), 0);
	CU_ASSERT_EQUAL(put("k1", "abc", 0, 0), CK_OK);
	CU_ASSERT_EQUAL(put("k2", "abc", 0, 0), CK_OK);
	CU_ASSERT_EQUAL(stat("store_entries"), 2);
	CU_ASSERT_EQUAL(stat("store_bytes"), 2 * one);
	CU_ASSERT(one > 2 + 3); /* key and value plus a per-entry overhead */
	close_store();
}

struct reenter {
	int calls;
	bool same;
};

static void
delete_inside_callback(void *arg, const cki_store_reply *r)
{
	struct reenter *x = arg;
	cki_put_opts o = {0, 0};

	x->calls++;
	st->ops->del(st, "k", 0, NULL, NULL);
	st->ops->put(st, "k", (const uint8_t *)"zzzzzzzz", 8, &o, 0, NULL, NULL);
	x->same = r->found && r->value_len == 8 && memcmp(r->value, "original", 8) == 0;
}

static void
test_value_stays_valid_when_the_callback_rewrites_the_key(void)
{
	struct reenter x = {0, false};
	open_store(BIG_LIMIT);
	CU_ASSERT_EQUAL(put("k", "original", 0, 0), CK_OK);
	st->ops->get(st, "k", 0, delete_inside_callback, &x);
	CU_ASSERT_EQUAL(x.calls, 0);
	turn();
	CU_ASSERT_EQUAL(x.calls, 1);
	CU_ASSERT_TRUE(x.same);
	CU_ASSERT_TRUE(holds("k", "zzzzzzzz"));
	close_store();
}

static void
destroy_inside_callback(void *arg, const cki_store_reply *r)
{
	struct reenter *x = arg;
	x->calls++;
	st->ops->destroy(st);
	st = NULL;
	x->same = r->found && r->value_len == 8 && memcmp(r->value, "original", 8) == 0;
}

static void
test_destroy_inside_a_callback_is_safe(void)
{
	struct reenter x = {0, false};
	open_store(BIG_LIMIT);
	CU_ASSERT_EQUAL(put("k", "original", 0, 0), CK_OK);
	st->ops->get(st, "k", 0, destroy_inside_callback, &x);
	CU_ASSERT_EQUAL(x.calls, 0);
	turn();
	CU_ASSERT_EQUAL(x.calls, 1);
	CU_ASSERT_TRUE(x.same);
	CU_ASSERT_PTR_NULL(st);
	close_store();
}

/* The drop listener (store.h) hears of entries the store drops on its own: evicted for space
 * and reclaimed after expiry; not of deletes or overwrites the caller asked for. */
struct drops {
	int n;
	char last[64];
};

static void
on_drop(void *arg, const char *key)
{
	struct drops *d = arg;
	d->n++;
	snprintf(d->last, sizeof(d->last), "%s", key);
}

static void
test_drop_listener_hears_evictions_and_expiries(void)
{
	static uint8_t big[600];
	struct drops d = {0};
	uint64_t one = entry_size("e1", sizeof(big));
	open_store(2 * one + one / 2); /* room for two */
	cki_store_on_drop(st, on_drop, &d);
	CU_ASSERT_EQUAL(put_bytes("e1", big, sizeof(big), 0, 0)->err, CK_OK);
	CU_ASSERT_EQUAL(put_bytes("e2", big, sizeof(big), 0, 0)->err, CK_OK);
	CU_ASSERT_EQUAL(put_bytes("e2", big, sizeof(big), 0, 0)->err, CK_OK); /* overwrite */
	CU_ASSERT_EQUAL(d.n, 0);
	CU_ASSERT_EQUAL(put_bytes("e3", big, sizeof(big), 0, 0)->err, CK_OK); /* evicts e1 */
	CU_ASSERT_EQUAL(d.n, 1);
	CU_ASSERT_STRING_EQUAL(d.last, "e1");
	CU_ASSERT_TRUE(del("e2")->found);
	CU_ASSERT_EQUAL(d.n, 1); /* a delete is the caller's own */
	CU_ASSERT_EQUAL(put_bytes("e4", big, sizeof(big), 1, 0)->err, CK_OK);
	clk.now += 2000;
	cki_store_memory_sweep(st);
	CU_ASSERT_EQUAL(d.n, 2);
	CU_ASSERT_STRING_EQUAL(d.last, "e4");
	cki_store_on_drop(st, NULL, NULL);
	close_store();
}

static CU_TestInfo tests[] = {
        {"a zero memory limit is refused", test_zero_limit_is_refused},
        {"the drop listener hears evictions and expiries",
         test_drop_listener_hears_evictions_and_expiries},
        {"reports url memory: and backend type memory", test_reports_memory_url_and_backend_type},
        {"get returns the stored value, fresh", test_get_returns_the_stored_value_fresh},
        {"get of an absent key is a miss", test_get_of_absent_key_is_a_miss},
        {"binary values with NUL bytes round-trip", test_binary_values_with_nul_bytes_round_trip},
        {"put replaces the value and both windows", test_put_replaces_value_and_both_windows},
        {"an entry without ttl never expires", test_entry_without_ttl_never_expires},
        {"fresh_for counts down to fresh_until", test_fresh_for_counts_down_to_fresh_until},
        {"an entry is stale after fresh_until and gone at evict_at",
         test_entry_is_stale_after_fresh_until_and_gone_at_evict_at},
        {"an entry without stale window is gone at fresh_until",
         test_entry_without_stale_window_is_gone_at_fresh_until},
        {"a stale window without ttl is invalid", test_stale_window_without_ttl_is_invalid},
        {"put ttl bounds", test_put_ttl_bounds},
        {"a refused put keeps the old value", test_refused_put_keeps_the_old_value},
        {"invalid keys are refused", test_invalid_keys_are_refused},
        {"delete reports whether the key existed", test_delete_reports_whether_the_key_existed},
        {"delete of an expired entry reports absent",
         test_delete_of_an_expired_entry_reports_absent},
        {"exists counts a stale entry as present", test_exists_counts_a_stale_entry_as_present},
        {"get_ttl rounds up to whole seconds", test_get_ttl_rounds_up_to_whole_seconds},
        {"get_ttl counts to eviction including the stale window",
         test_get_ttl_counts_to_eviction_including_stale_window},
        {"get_ttl of a no-expiry entry is -1", test_get_ttl_of_no_expiry_entry_is_minus_one},
        {"get_ttl of an absent key is not found", test_get_ttl_of_absent_key_is_not_found},
        {"touch of an absent key is a successful no-op",
         test_touch_of_absent_key_is_a_successful_no_op},
        {"touch of a stale entry is a conflict", test_touch_of_stale_entry_is_a_conflict},
        {"touch bounds a no-expiry entry", test_touch_bounds_a_no_expiry_entry},
        {"touch of a fresh entry extends it and keeps the stale window",
         test_touch_of_fresh_entry_extends_and_keeps_stale_window},
        {"touch ttl bounds", test_touch_ttl_bounds},
        {"lock grants a UUIDv4 id", test_lock_grants_a_uuid_v4_id},
        {"lock is contested while held", test_lock_is_contested_while_held},
        {"lock ids differ between grants", test_lock_ids_differ_between_grants},
        {"lock is granted again after the lease expires",
         test_lock_is_granted_again_after_the_lease_expires},
        {"unlock with the right id releases", test_unlock_with_the_right_id_releases},
        {"unlock with a wrong id keeps the lock", test_unlock_with_a_wrong_id_keeps_the_lock},
        {"unlock of an expired or absent lock is not found",
         test_unlock_of_expired_or_absent_lock_is_not_found},
        {"unlock without an id is invalid", test_unlock_without_an_id_is_invalid},
        {"lock with a zero lease is invalid", test_lock_with_zero_lease_is_invalid},
        {"locks and values are separate", test_locks_and_values_are_separate},
        {"locks cannot fill memory beyond the limit",
         test_locks_cannot_fill_memory_beyond_the_limit},
        {"LRU evicts the least recently used entry", test_lru_evicts_the_least_recently_used_entry},
        {"put refreshes recency", test_put_refreshes_recency},
        {"the byte bound is never exceeded", test_byte_bound_is_never_exceeded},
        {"a value larger than the limit is too big", test_value_larger_than_the_limit_is_too_big},
        {"expired entries are reclaimed before live ones",
         test_expired_entries_are_reclaimed_before_live_ones},
        {"sweep reclaims expired entries and locks", test_sweep_reclaims_expired_entries_and_locks},
        {"many keys survive hash table growth", test_many_keys_survive_hash_table_growth},
        {"small entries survive compaction intact", test_small_entries_survive_compaction_intact},
        {"the callback runs exactly once per operation",
         test_callback_runs_exactly_once_per_operation},
        {"a passed deadline times out", test_passed_deadline_times_out},
        {"health reports version and latency", test_health_reports_version_and_latency},
        {"stats count entries and bytes", test_stats_count_entries_and_bytes},
        {"the value stays valid when the callback rewrites the key",
         test_value_stays_valid_when_the_callback_rewrites_the_key},
        {"destroy inside a callback is safe", test_destroy_inside_a_callback_is_safe},
        CU_TEST_INFO_NULL,
};

static int
suite_clean(void)
{
	cki_loop_free(loop);
	loop = NULL;
	return 0;
}

CK_UNIT_SUITE_FULL("store_memory", tests, NULL, suite_clean)
