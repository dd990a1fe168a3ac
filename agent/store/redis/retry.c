/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One more attempt for a command lost with its connection (hiredis answers it with a NULL
 * reply when the connection drops): it waits in its node's "lost" list until the disconnect
 * callback has run, then in the node's handshake queue, and goes out once on the next
 * connection, within its own deadline (its deadline timer keeps running). The wait before it
 * is the node's reconnect backoff (50 ms doubling to 2 s); a failed reconnect fails it.
 * Breaker rules are store/http's: the half-open probe gets one attempt; the outcome is
 * reported once, after the retry. Every operation is safe to send twice when re-sent whole:
 * reads, SETEX/SET (the put script), DEL, touch (PEXPIRE from now), the holder's
 * compare-and-delete and compare-and-extend (PEXPIRE from now); a lock acquire (SET NX) is not, so
 * its retry is a script that first checks for its own token: if the first attempt took the lock,
 * the retry keeps it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "store/redis/redis_int.h"

/* KEYS[1] lock key; ARGV token, lease ms. Ours already (the lost attempt was applied): renew
 * the lease from now; else the acquire as first sent. */
static const char lock_retry_script[] =
        "if redis.call('GET', KEYS[1]) == ARGV[1] then "
        "redis.call('PEXPIRE', KEYS[1], ARGV[2]) return redis.status_reply('OK') end "
        "return redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])";

/* Reads bulk string number idx (0-based) of a RESP command array: *N\r\n$len\r\nbytes\r\n... */
static bool
resp_arg(const char *cmd, size_t len, int idx, const char **out, size_t *out_len)
{
	const char *p = memchr(cmd, '\n', len), *end = cmd + len;

	if (p == NULL)
		return false;
	p++;
	for (int i = 0; i <= idx; i++) {
		char *nl;
		long n;
		if (p >= end || *p != '$')
			return false;
		n = strtol(p + 1, &nl, 10);
		if (n < 0 || nl + 2 > end || nl[0] != '\r' || nl[1] != '\n')
			return false;
		p = nl + 2;
		if (end - p < n + 2)
			return false;
		if (i == idx) {
			*out = p;
			*out_len = (size_t)n;
			return true;
		}
		p += n + 2;
	}
	return false;
}

/* SET lockkey token NX PX lease -> EVAL lock_retry_script 1 lockkey token lease. */
static bool
lock_as_script(rop *op)
{
	const char *argv[6];
	size_t argvlen[6];
	char *cmd = NULL;
	int len;

	argv[0] = "EVAL";
	argvlen[0] = 4;
	argv[1] = lock_retry_script;
	argvlen[1] = sizeof(lock_retry_script) - 1;
	argv[2] = "1";
	argvlen[2] = 1;
	if (!resp_arg(op->cmd, op->cmd_len, 1, &argv[3], &argvlen[3]) ||
	    !resp_arg(op->cmd, op->cmd_len, 2, &argv[4], &argvlen[4]) ||
	    !resp_arg(op->cmd, op->cmd_len, 5, &argv[5], &argvlen[5]))
		return false;
	len = redisFormatCommandArgv(&cmd, 6, argv, argvlen);
	if (len < 0)
		return false;
	redisFreeCommand(op->cmd);
	op->cmd = cmd;
	op->cmd_len = (size_t)len;
	op->script = -1;
	return true;
}

bool
cki_rop_retry_lost(rop *op)
{
	rnode *n = op->node;

	if (op->retried || op->probe || op->kind == ROP_SLOTS || n == NULL)
		return false;
	if (op->deadline != 0 && cki_now_ms() >= op->deadline)
		return false;
	if (op->kind == ROP_LOCK && !lock_as_script(op))
		return false;
	op->retried = true;
	cki_rwait_push(&n->lost, op);
	cki_log_debug("store redis: a command to %s lost with its connection: retrying once",
	              n->name);
	return true;
}

void
cki_rnode_requeue_lost(rnode *n)
{
	rwaitlist list = cki_rwait_take(&n->lost);
	rop *op;

	while ((op = cki_rwait_pop(&list)) != NULL)
		cki_rwait_push(&n->queue, op);
}
