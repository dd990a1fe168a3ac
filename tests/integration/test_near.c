/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The C stub's near cache against real agent processes on the embedded store: hits stay in the
 * process, a writer and a reader process with near caches never read a value older than the
 * last write that returned (10,000 rounds, with deletes and TTL changes), the same across an
 * agent restart (clean stop and SIGKILL) and a fork, the Fresh-For and configured time bounds,
 * the byte bound, and namespaces kept apart.
 */
#include <errno.h>
#include <string.h>

#define ROUNDS 10000

#define CK_AGENT_CHILD_NAME "ck-near"
#include "agent_child.h"

static void
pause_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
	nanosleep(&ts, NULL);
}

static void
stop_agent(int sig)
{
	int st;
	kill(agent_pid, sig);
	waitpid(agent_pid, &st, 0);
}

static ck_client *
open_near(size_t bytes, uint32_t max_ms)
{
	ck_client *c = NULL;
	ck_client_opts o = CK_CLIENT_OPTS_INIT;
	o.endpoint = endpoint;
	o.timeout_ms = 5000;
	o.near_cache_bytes = bytes;
	o.near_cache_max_ms = max_ms;
	if (ck_client_open(&c, &o) != CK_OK)
		return NULL;
	return c;
}

static ck_near_stats
stats_of(ck_client *c)
{
	ck_near_stats s;
	memset(&s, 0, sizeof(s));
	if (ck_client_near_stats(c, &s) != CK_OK)
		s.hits = UINT64_MAX;
	return s;
}

/* Reads key as an unsigned number; 0 for a miss, UINT64_MAX for an error. */
static uint64_t
read_num(ck_client *c, const char *key)
{
	ck_value *v = NULL;
	ck_err rv = ck_get(c, key, NULL, &v);
	if (rv == CK_ENOTFOUND)
		return 0;
	if (rv != CK_OK)
		return UINT64_MAX;
	uint64_t n = strtoull((const char *)v->data, NULL, 10);
	ck_value_free(v);
	return n;
}

static bool
write_num(ck_client *c, const char *key, uint64_t n, uint32_t ttl_s)
{
	char buf[32];
	ck_set_opts so = CK_SET_OPTS_INIT;
	so.ttl_s = ttl_s;
	int len = snprintf(buf, sizeof(buf), "%llu", (unsigned long long)n);
	return ck_set(c, key, buf, (size_t)len, &so) == CK_OK;
}

static bool
full_read(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;
	while (len > 0) {
		ssize_t r = read(fd, p, len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		p += r;
		len -= (size_t)r;
	}
	return true;
}

static bool
full_write(int fd, const void *buf, size_t len)
{
	return write(fd, buf, len) == (ssize_t)len;
}

static void
test_hit_stays_in_process(void)
{
	ck_client *c = open_near(1 << 20, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_TRUE(write_num(c, "near:local", 42, 100));
	CU_ASSERT_EQUAL(read_num(c, "near:local"), 42); /* from the agent, kept */
	/* With the agent stopped, the copy still answers: nothing left the process. */
	kill(agent_pid, SIGSTOP);
	ck_value *v = NULL;
	CU_ASSERT_EQUAL(ck_get(c, "near:local", NULL, &v), CK_OK);
	kill(agent_pid, SIGCONT);
	if (v != NULL) {
		CU_ASSERT_STRING_EQUAL((const char *)v->data, "42");
		CU_ASSERT_EQUAL(v->freshness, CK_FRESHNESS_FRESH);
		CU_ASSERT(v->fresh_for_ms > 0 && v->fresh_for_ms <= 100000);
	}
	ck_value_free(v);
	ck_near_stats s = stats_of(c);
	CU_ASSERT_EQUAL(s.hits, 1);
	CU_ASSERT_EQUAL(s.misses, 1);
	CU_ASSERT_EQUAL(s.entries, 1);
	CU_ASSERT(s.bytes > 2);
	/* A client without a near cache reports zeros. */
	ck_client *plain = open_near(0, 0);
	CU_ASSERT_EQUAL(stats_of(plain).misses, 0);
	CU_ASSERT_EQUAL(read_num(plain, "near:local"), 42);
	CU_ASSERT_EQUAL(stats_of(plain).hits, 0);
	ck_client_close(plain);
	ck_client_close(c);
}

/* What the reader process reports at the end. */
typedef struct reader_report {
	uint64_t stale, errors, rounds;
	ck_near_stats near;
} reader_report;

/*
 * The reader: each round reads the key (normally a near hit), tells the writer, waits for the
 * value the writer's completed write left (0: deleted; UINT64_MAX: stop), reads again and
 * counts a stale read when the answer differs.
 */
static void
reader(int from_writer, int to_writer, const char *key)
{
	reader_report rep;
	memset(&rep, 0, sizeof(rep));
	ck_client *c = open_near(1 << 20, 0);
	for (;;) {
		uint64_t expect;
		(void)read_num(c, key);
		if (!full_write(to_writer, "r", 1) || !full_read(from_writer, &expect, 8))
			break;
		if (expect == UINT64_MAX)
			break;
		uint64_t got = read_num(c, key);
		if (got == UINT64_MAX)
			rep.errors++;
		else if (got != expect)
			rep.stale++;
		rep.rounds++;
	}
	rep.near = stats_of(c);
	full_write(to_writer, &rep, sizeof(rep));
	ck_client_close(c);
	_exit(0);
}

/* Runs `rounds` rounds of read -> write -> read against a reader process; the writer keeps a
 * near cache too and checks its own reads. restart_at: the round before which the agent is
 * replaced (0: never), by restart_sig. */
static void
run_rounds(const char *key, int rounds, int restart_at, int restart_sig, reader_report *rep,
           uint64_t *writer_stale)
{
	int to_reader[2], to_writer[2];
	CU_ASSERT_FATAL(pipe(to_reader) == 0 && pipe(to_writer) == 0);
	pid_t pid = fork();
	if (pid == 0) {
		close(to_reader[1]);
		close(to_writer[0]);
		reader(to_reader[0], to_writer[1], key);
	}
	close(to_reader[0]);
	close(to_writer[1]);
	ck_client *w = open_near(1 << 20, 0);
	uint64_t value = 0;
	*writer_stale = 0;
	for (int i = 1; i <= rounds; i++) {
		char ready;
		if (!full_read(to_writer[0], &ready, 1))
			break;
		if (i == restart_at) {
			stop_agent(restart_sig);
			CU_ASSERT_FATAL(start_agent());
			value = 0; /* the embedded store starts empty */
		}
		bool ok;
		if (i % 10 == 0) {
			bool existed;
			ok = ck_delete(w, key, NULL, &existed) == CK_OK;
			value = 0;
		} else if (i % 10 == 5) {
			/* A TTL change alone also invalidates the copies (their bound moved). */
			bool refreshed = false;
			ok = ck_refresh_ttl(w, key, 200, NULL, &refreshed) == CK_OK;
		} else {
			value = (uint64_t)i;
			ok = write_num(w, key, value, 300);
		}
		CU_ASSERT(ok);
		if (read_num(w, key) != value)
			(*writer_stale)++;
		if (!full_write(to_reader[1], &value, 8))
			break;
	}
	uint64_t stop = UINT64_MAX;
	char ready;
	full_read(to_writer[0], &ready, 1);
	full_write(to_reader[1], &stop, 8);
	memset(rep, 0, sizeof(*rep));
	CU_ASSERT(full_read(to_writer[0], rep, sizeof(*rep)));
	int st;
	waitpid(pid, &st, 0);
	close(to_reader[1]);
	close(to_writer[0]);
	ck_client_close(w);
}

static void
test_writer_and_reader_never_see_an_old_value(void)
{
	reader_report rep;
	uint64_t writer_stale;
	run_rounds("near:coherent", ROUNDS, 0, 0, &rep, &writer_stale);
	CU_ASSERT_EQUAL(rep.rounds, ROUNDS);
	CU_ASSERT_EQUAL(rep.stale, 0);
	CU_ASSERT_EQUAL(rep.errors, 0);
	CU_ASSERT_EQUAL(writer_stale, 0);
	/* The first read of a round is served locally (except after deletes: nothing to keep),
	 * and every write made the copy stale. */
	CU_ASSERT(rep.near.hits >= ROUNDS / 2);
	CU_ASSERT(rep.near.invalidations >= ROUNDS / 2);
	printf("\n  reader: %llu hits, %llu misses, %llu invalidations\n",
	       (unsigned long long)rep.near.hits, (unsigned long long)rep.near.misses,
	       (unsigned long long)rep.near.invalidations);
}

static void
test_coherent_across_agent_restart(void)
{
	const int sigs[] = {SIGTERM, SIGKILL};
	for (size_t s = 0; s < 2; s++) {
		reader_report rep;
		uint64_t writer_stale;
		run_rounds(s == 0 ? "near:restart-term" : "near:restart-kill", 400, 201, sigs[s],
		           &rep, &writer_stale);
		CU_ASSERT_EQUAL(rep.rounds, 400);
		CU_ASSERT_EQUAL(rep.stale, 0);
		CU_ASSERT_EQUAL(rep.errors, 0);
		CU_ASSERT_EQUAL(writer_stale, 0);
	}
	/* A copy made under the old agent is not served by the new one, even without a write:
	 * the new agent's store does not have the key. */
	ck_client *c = open_near(1 << 20, 0);
	CU_ASSERT_TRUE(write_num(c, "near:epoch", 7, 300));
	CU_ASSERT_EQUAL(read_num(c, "near:epoch"), 7);
	CU_ASSERT_EQUAL(read_num(c, "near:epoch"), 7);
	CU_ASSERT_EQUAL(stats_of(c).hits, 1);
	stop_agent(SIGTERM);
	/* A stopped agent retired its table: the copy is no answer, the call times out. */
	ck_value *v = NULL;
	ck_get_opts go = CK_GET_OPTS_INIT;
	go.call.timeout_ms = 100;
	CU_ASSERT_EQUAL(ck_get(c, "near:epoch", &go, &v), CK_ETIMEDOUT);
	CU_ASSERT_TRUE_FATAL(start_agent());
	CU_ASSERT_EQUAL(read_num(c, "near:epoch"), 0);
	CU_ASSERT_TRUE(write_num(c, "near:epoch", 8, 300));
	CU_ASSERT_EQUAL(read_num(c, "near:epoch"), 8);
	CU_ASSERT_EQUAL(read_num(c, "near:epoch"), 8);
	stop_agent(SIGKILL); /* no retirement: the next agent's new epoch must do it */
	CU_ASSERT_TRUE_FATAL(start_agent());
	CU_ASSERT_EQUAL(read_num(c, "near:epoch"), 0);
	CU_ASSERT_EQUAL(stats_of(c).hits, 2);
	ck_client_close(c);
}

static void
test_forked_child_starts_empty(void)
{
	ck_client *c = open_near(1 << 20, 0);
	CU_ASSERT_TRUE(write_num(c, "near:fork", 1, 300));
	CU_ASSERT_EQUAL(read_num(c, "near:fork"), 1);
	CU_ASSERT_EQUAL(read_num(c, "near:fork"), 1);
	CU_ASSERT_EQUAL(stats_of(c).hits, 1);
	int go[2], done[2];
	CU_ASSERT_FATAL(pipe(go) == 0 && pipe(done) == 0);
	pid_t pid = fork();
	if (pid == 0) {
		char b;
		/* The child's cache is empty: its first read goes to the agent. */
		ck_near_stats s0 = stats_of(c);
		bool ok = s0.entries == 0 && s0.hits == 0 && read_num(c, "near:fork") == 1 &&
		          stats_of(c).misses == 1 && read_num(c, "near:fork") == 1 &&
		          stats_of(c).hits == 1;
		/* The parent's write reaches the child's copy too. */
		full_write(done[1], "r", 1);
		ok = ok && full_read(go[0], &b, 1) && read_num(c, "near:fork") == 2;
		full_write(done[1], ok ? "y" : "n", 1);
		_exit(0);
	}
	char verdict = 0;
	CU_ASSERT(full_read(done[0], &verdict, 1)); /* the child read and kept its copy */
	CU_ASSERT_TRUE(write_num(c, "near:fork", 2, 300));
	CU_ASSERT_EQUAL(read_num(c, "near:fork"), 2);
	full_write(go[1], "w", 1);
	CU_ASSERT(full_read(done[0], &verdict, 1));
	CU_ASSERT_EQUAL(verdict, 'y');
	int st;
	waitpid(pid, &st, 0);
	close(go[0]);
	close(go[1]);
	close(done[0]);
	close(done[1]);
	ck_client_close(c);
}

/* Reads key until it is a miss (30 s at most); every answer that came back must have been
 * asked for before limit_ms. Returns when the key read as absent. */
static bool
read_until_gone(ck_client *c, const char *key, int64_t limit_ms)
{
	for (int64_t end = now_ms() + 30000; now_ms() < end;) {
		int64_t asked = now_ms();
		uint64_t n = read_num(c, key);
		if (n == 0)
			return true;
		CU_ASSERT(asked <= limit_ms);
		pause_ms(1);
	}
	return false;
}

static void
test_copy_ends_with_its_fresh_for(void)
{
	ck_client *c = open_near(1 << 20, 0);
	CU_ASSERT_TRUE(write_num(c, "near:ttl", 5, 1));
	ck_value *v = NULL;
	CU_ASSERT_EQUAL_FATAL(ck_get(c, "near:ttl", NULL, &v), CK_OK);
	int64_t kept_until = now_ms() + v->fresh_for_ms;
	CU_ASSERT(v->fresh_for_ms > 0 && v->fresh_for_ms <= 1000);
	ck_value_free(v);
	CU_ASSERT_TRUE(read_until_gone(c, "near:ttl", kept_until));
	ck_near_stats s = stats_of(c);
	CU_ASSERT(s.hits >= 1);
	CU_ASSERT_EQUAL(s.expirations, 1);
	ck_client_close(c);
}

static void
test_copy_ends_with_the_configured_maximum(void)
{
	ck_client *c = open_near(1 << 20, 300);
	CU_ASSERT_TRUE(write_num(c, "near:max", 9, 1000));
	CU_ASSERT_EQUAL(read_num(c, "near:max"), 9);
	int64_t kept_until = now_ms() + 300;
	for (int64_t end = now_ms() + 30000; stats_of(c).expirations == 0 && now_ms() < end;) {
		int64_t asked = now_ms();
		uint64_t before = stats_of(c).hits;
		CU_ASSERT_EQUAL(read_num(c, "near:max"), 9);
		if (stats_of(c).hits > before)
			CU_ASSERT(asked <= kept_until);
		pause_ms(1);
	}
	ck_near_stats s = stats_of(c);
	CU_ASSERT_EQUAL(s.expirations, 1);
	CU_ASSERT(s.hits >= 1);
	CU_ASSERT_EQUAL(s.entries, 1); /* the value read again from the agent was kept again */
	ck_client_close(c);
}

static void
test_bytes_bound(void)
{
	enum { CAP = 64 * 1024, N = 100, SIZE = 4096 };
	ck_client *c = open_near(CAP, 0);
	static char value[SIZE];
	char key[64];
	memset(value, 'v', sizeof(value));
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "near:bytes-%d", i);
		CU_ASSERT_EQUAL(ck_set(c, key, value, sizeof(value), NULL), CK_OK);
		ck_value *v = NULL;
		CU_ASSERT_EQUAL(ck_get(c, key, NULL, &v), CK_OK);
		ck_value_free(v);
		CU_ASSERT(stats_of(c).bytes <= CAP);
	}
	ck_near_stats s = stats_of(c);
	CU_ASSERT(s.entries >= CAP / (2 * SIZE) && s.entries < N);
	CU_ASSERT(s.evictions >= N - s.entries);
	/* The most recent key is still local; the first one was evicted. */
	uint64_t hits = s.hits;
	ck_value *v = NULL;
	CU_ASSERT_EQUAL(ck_get(c, key, NULL, &v), CK_OK);
	ck_value_free(v);
	CU_ASSERT_EQUAL(stats_of(c).hits, hits + 1);
	CU_ASSERT_EQUAL(ck_get(c, "near:bytes-0", NULL, &v), CK_OK);
	ck_value_free(v);
	CU_ASSERT_EQUAL(stats_of(c).hits, hits + 1);
	/* A value larger than a quarter of the cache is never kept. */
	static char big[CAP / 2];
	CU_ASSERT_EQUAL(ck_set(c, "near:big", big, sizeof(big), NULL), CK_OK);
	CU_ASSERT_EQUAL(ck_get(c, "near:big", NULL, &v), CK_OK);
	ck_value_free(v);
	CU_ASSERT_EQUAL(ck_get(c, "near:big", NULL, &v), CK_OK);
	ck_value_free(v);
	CU_ASSERT_EQUAL(stats_of(c).hits, hits + 1);
	ck_client_close(c);
}

static void
test_namespaces_and_intent_kept_apart(void)
{
	ck_client *c = open_near(1 << 20, 0);
	ck_set_opts so = CK_SET_OPTS_INIT;
	so.call.ns = "one";
	CU_ASSERT_EQUAL(ck_set(c, "k", "1", 1, &so), CK_OK);
	so.call.ns = "two";
	CU_ASSERT_EQUAL(ck_set(c, "k", "2", 1, &so), CK_OK);
	for (int round = 0; round < 2; round++) {
		ck_get_opts go = CK_GET_OPTS_INIT;
		ck_value *v = NULL;
		go.call.ns = "one";
		CU_ASSERT_EQUAL(ck_get(c, "k", &go, &v), CK_OK);
		CU_ASSERT(v != NULL && v->data[0] == '1');
		ck_value_free(v);
		go.call.ns = "two";
		CU_ASSERT_EQUAL(ck_get(c, "k", &go, &v), CK_OK);
		CU_ASSERT(v != NULL && v->data[0] == '2');
		ck_value_free(v);
		/* Another format label is another lookup (the agent decides what it returns). */
		go.format = "json";
		CU_ASSERT_EQUAL(ck_get(c, "k", &go, &v), CK_OK);
		ck_value_free(v);
	}
	CU_ASSERT_EQUAL(stats_of(c).hits, 3);
	CU_ASSERT_EQUAL(stats_of(c).misses, 3);
	ck_client_close(c);
}

/* The agent's figure name, or -1 when the stats call fails or lacks it. */
static double
agent_stat(ck_client *c, const char *name)
{
	ck_stats *st = NULL;
	double v = -1;
	if (ck_stats_get(c, NULL, &st) != CK_OK)
		return -1;
	for (size_t i = 0; i < st->count; i++)
		if (strcmp(st->items[i].name, name) == 0)
			v = st->items[i].value;
	ck_stats_free(st);
	return v;
}

/* The near cache's figures reach the agent (Request.near), piggybacked on later requests. */
static void
test_figures_reach_the_agent(void)
{
	ck_client *c = open_near(1 << 20, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	double hits0 = agent_stat(c, "stub_near_hits_total");
	double misses0 = agent_stat(c, "stub_near_misses_total");
	CU_ASSERT(hits0 >= 0 && misses0 >= 0);
	CU_ASSERT_TRUE(write_num(c, "near:report", 7, 100));
	CU_ASSERT_EQUAL(read_num(c, "near:report"), 7); /* a miss */
	for (int i = 0; i < 4; i++)
		CU_ASSERT_EQUAL(read_num(c, "near:report"), 7); /* hits, in the process */
	CU_ASSERT_EQUAL(stats_of(c).hits, 4);
	double hits = hits0;
	for (int64_t end = now_ms() + 30000; hits < hits0 + 4 && now_ms() < end;) {
		hits = agent_stat(c, "stub_near_hits_total"); /* each call may carry the report */
		if (hits < hits0 + 4) {
			struct timespec ts = {0, 50 * 1000 * 1000};
			nanosleep(&ts, NULL);
		}
	}
	CU_ASSERT_EQUAL(hits - hits0, 4);
	CU_ASSERT_EQUAL(agent_stat(c, "stub_near_misses_total") - misses0, 1);
	ck_client_close(c);
}

static CU_TestInfo tests[] = {
        {"a hit stays in the process", test_hit_stays_in_process},
        {"writer and reader never see an old value", test_writer_and_reader_never_see_an_old_value},
        {"coherent across an agent restart", test_coherent_across_agent_restart},
        {"a forked child starts empty", test_forked_child_starts_empty},
        {"a copy ends with its Fresh-For", test_copy_ends_with_its_fresh_for},
        {"a copy ends with the configured maximum", test_copy_ends_with_the_configured_maximum},
        {"bytes bound", test_bytes_bound},
        {"namespaces and intent kept apart", test_namespaces_and_intent_kept_apart},
        {"the near cache's figures reach the agent", test_figures_reach_the_agent},
        CU_TEST_INFO_NULL,
};

CK_UNIT_SUITE_FULL("near", tests, suite_init, suite_clean)
