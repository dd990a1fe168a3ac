/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the Redis store tests share (redis_harness.c): a real redis-server on a unix socket in
 * a temp dir, started by the suite's init and stopped by its clean (and killed, paused or
 * restarted by the resilience tests); a synchronous hiredis connection to check what Redis
 * holds; and running one store operation on the real loop to its callback.
 */
#ifndef CK_TEST_REDIS_HARNESS_H
#define CK_TEST_REDIS_HARNESS_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/loop.h"
#include "store/redis/store_redis.h"

uint16_t cki_redis_key_slot(const char *key, size_t len); /* cluster.c */

#define GUARD_MS 30000u

extern cki_loop *loop;
extern pid_t redis_pid;
extern char tmpdir[64], sock_path[128], url[160]; /* url: the running server's redis+unix:// */
extern int done_calls;

struct result {
	int calls;
	ck_err err;
	bool found;
	char *value;
	size_t value_len;
	cki_freshness freshness;
	int64_t fresh_for_ms, ttl_s;
	bool has_lock_id;
	char lock_id[64], version[64];
	double latency_ms;
	uint64_t at_ms;
};

/* A synchronous connection to the server, and one command on it (NULL on failure). */
redisContext *sync_conn(void);
redisReply *cmd(const char *fmt, ...);
long long cmd_int(const char *fmt, const char *key);
bool server_pings(void);
bool start_redis(void);
void kill_redis(int sig);
int suite_init(void);
int suite_clean(void);

/* The store's completion callback: copies the reply into the struct result at arg. */
void on_result(void *arg, const cki_store_reply *r);
/* Runs the loop until done_calls reaches total, bounded by GUARD_MS. */
void run_until(int total);
void loop_for(uint64_t ms);
void result_clear(struct result *r);
uint64_t deadline_in(uint64_t ms);
cki_store *new_store_opts(const cki_redis_opts *o);
cki_store *new_store(void);

/* One operation on result res, run to its callback. */
#define RUN(res, call)                       \
	do {                                 \
		int total_ = done_calls + 1; \
		result_clear(res);           \
		call;                        \
		run_until(total_);           \
	} while (0)

#define D deadline_in(5000)

#endif
