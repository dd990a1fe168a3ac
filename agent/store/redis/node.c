/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One Redis node: one hiredis async connection with its handshake (AUTH, SELECT, INFO for the
 * version), reconnect with capped exponential backoff, a connect timeout, a circuit breaker
 * and a bound on commands in flight. Commands are pipelined: they are handed to hiredis as
 * they come. Until the handshake has been answered they wait in the node's queue (bounded),
 * so no command runs before AUTH and SELECT have succeeded (a refused SELECT must not send
 * writes to db 0). A refused handshake fails the node's operations with its error; a node
 * whose last attempt failed is "down": its operations fail fast instead of queueing.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "store/redis/adapter.h"
#include "store/redis/redis_int.h"
#include "store/redis/reply.h"

#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 2000

static void node_connect(rnode *n);

static void
on_reconnect_timer(cki_loop *loop, void *arg)
{
	rnode *n = arg;

	(void)loop;
	n->reconnect_timer = 0;
	node_connect(n);
}

static void
schedule_reconnect(rnode *n)
{
	if (n->s->destroying || n->reconnect_timer != 0)
		return;
	n->down = true;
	n->connected = false;
	n->reconnect_timer = cki_loop_timer(n->s->loop, n->backoff_ms, on_reconnect_timer, n);
	n->backoff_ms = n->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : n->backoff_ms * 2;
}

/* Answers every operation waiting for the handshake. */
static void
fail_queue(rnode *n, ck_err err, const char *why)
{
	char msg[CKI_REDIS_HOST_MAX + 96];
	rwaitlist list = cki_rwait_take(&n->queue);
	rop *op;

	snprintf(msg, sizeof(msg), "%s: redis node %s", why, n->name);
	while ((op = cki_rwait_pop(&list)) != NULL) {
		if (op->retried) /* its second attempt failed too: the node failed it */
			cki_breaker_report(&n->breaker, false, false, cki_now_ms());
		cki_rop_fail(op, err, msg);
	}
}

/* The handshake is answered: send what waited (through the checks of cki_rnode_send). */
static void
flush_queue(rnode *n)
{
	rwaitlist list = cki_rwait_take(&n->queue);
	rop *op;

	while ((op = cki_rwait_pop(&list)) != NULL)
		cki_rnode_send(n, op, false);
}

static void
on_connect(const redisAsyncContext *ac, int status)
{
	rnode *n = ac->data;

	if (n->connect_timer != 0) {
		cki_loop_timer_cancel(n->s->loop, n->connect_timer);
		n->connect_timer = 0;
	}
	if (status != REDIS_OK) {
		/* hiredis frees the context after this callback. */
		cki_log_warn("store redis: cannot connect to %s: %s", n->name,
		             ac->errstr[0] ? ac->errstr : "error");
		n->ac = NULL;
		schedule_reconnect(n);
		fail_queue(n, CK_EUPSTREAM, "cannot connect");
		return;
	}
	n->connected = true;
	n->down = false;
	n->backoff_ms = BACKOFF_MIN_MS;
	cki_log_info("store redis: connected to %s", n->name);
}

static void
on_disconnect(const redisAsyncContext *ac, int status)
{
	rnode *n = ac->data;

	n->ac = NULL;
	n->connected = false;
	n->ready = false;
	if (n->s->destroying)
		return;
	if (status != REDIS_OK)
		cki_log_warn("store redis: connection to %s lost: %s", n->name,
		             ac->errstr[0] ? ac->errstr : "closed");
	n->reconnects++;
	schedule_reconnect(n);
	fail_queue(n, CK_EUPSTREAM, "connection lost during the handshake");
	cki_rnode_requeue_lost(n);
	/* A master gone may mean a failover: reload the slot map from another node. */
	if (n->s->url.kind == CKI_REDIS_CLUSTER)
		cki_rcluster_refresh(n->s);
}

/* The connection attempt took too long: drop it (its commands fail) and try again later. */
static void
on_connect_timeout(cki_loop *loop, void *arg)
{
	rnode *n = arg;
	redisAsyncContext *ac = n->ac;

	(void)loop;
	n->connect_timer = 0;
	if (ac == NULL || n->connected)
		return;
	cki_log_warn("store redis: connecting to %s timed out", n->name);
	n->ac = NULL;
	redisAsyncFree(ac); /* not connected: no disconnect callback, replies get NULL */
	schedule_reconnect(n);
	fail_queue(n, CK_EUPSTREAM, "connecting timed out");
}

static void
on_handshake(redisAsyncContext *ac, void *r, void *privdata)
{
	rnode *n = ac->data;
	const redisReply *reply = r;
	const char *what = privdata;
	bool last = strcmp(what, "INFO") == 0;

	if (reply == NULL) /* connection gone: the disconnect path answers the queue */
		return;
	if (reply->type == REDIS_REPLY_ERROR && n->refused == CK_OK) {
		/* The reply text is Redis's, never the password. */
		cki_log_error("store redis: %s on %s refused: %.200s", what, n->name, reply->str);
		n->refused = strcmp(what, "SELECT") == 0 ? CK_EUPSTREAM
		                                         : cki_redis_error_code(reply->str);
		snprintf(n->refused_msg, sizeof(n->refused_msg), "redis refused %s", what);
	}
	if (last && reply->type == REDIS_REPLY_STRING)
		(void)cki_redis_parse_version(reply->str, n->version, sizeof(n->version));
	if (last) {
		n->ready = true;
		flush_queue(n);
	}
}

/* SCRIPT LOAD answered: later operations may use EVALSHA (an error leaves EVAL in use). */
static void
on_script_loaded(redisAsyncContext *ac, void *r, void *privdata)
{
	rnode *n = ac->data;
	const redisReply *reply = r;
	int i = (int)(intptr_t)privdata;

	if (reply != NULL && reply->type == REDIS_REPLY_STRING && reply->len == 40)
		memcpy(n->s->sha[i], reply->str, 41);
}

static void
handshake(rnode *n)
{
	rstore *s = n->s;
	const char *argv[3];
	size_t argvlen[3];
	int argc = 0;

	if (s->password != NULL) {
		argv[argc] = "AUTH";
		argvlen[argc++] = 4;
		if (s->url.user[0] != '\0') {
			argv[argc] = s->url.user;
			argvlen[argc++] = strlen(s->url.user);
		}
		argv[argc] = (const char *)s->password;
		argvlen[argc++] = s->password_len;
		(void)redisAsyncCommandArgv(n->ac, on_handshake, "AUTH", argc, argv, argvlen);
	}
	if (s->url.db != 0)
		(void)redisAsyncCommand(n->ac, on_handshake, "SELECT", "SELECT %d", s->url.db);
	for (int i = 0; i < CKI_REDIS_NSCRIPTS; i++)
		(void)redisAsyncCommand(n->ac, on_script_loaded, (void *)(intptr_t)i,
		                        "SCRIPT LOAD %s", cki_redis_script(i));
	(void)redisAsyncCommand(n->ac, on_handshake, "INFO", "INFO server");
}

static void
node_connect(rnode *n)
{
	redisAsyncContext *ac;

	if (n->unresolved) { /* resolve.c: never resolved on the loop */
		schedule_reconnect(n);
		return;
	}
	/* n->addr is a literal address (resolve.c), so hiredis does no blocking lookup. */
	ac = n->port == 0 ? redisAsyncConnectUnix(n->host) : redisAsyncConnect(n->addr, n->port);
	if (ac == NULL || ac->err) {
		cki_log_warn("store redis: cannot connect to %s: %s", n->name,
		             ac != NULL ? ac->errstr : "out of memory");
		if (ac != NULL)
			redisAsyncFree(ac);
		schedule_reconnect(n);
		return;
	}
	ac->data = n;
	cki_redis_reader_limit(ac->c.reader);
	if (cki_redis_attach(ac, n->s->loop) != CK_OK) {
		redisAsyncFree(ac);
		schedule_reconnect(n);
		return;
	}
	(void)redisAsyncSetConnectCallback(ac, on_connect);
	(void)redisAsyncSetDisconnectCallback(ac, on_disconnect);
	n->ac = ac;
	n->connected = false;
	n->ready = false;
	n->refused = CK_OK;
	n->connect_timer =
	        cki_loop_timer(n->s->loop, n->s->connect_timeout_ms, on_connect_timeout, n);
	handshake(n);
}

ck_err
cki_rnode_new(rstore *s, const char *host, int port, rnode **out)
{
	rnode *n = calloc(1, sizeof(*n));

	if (n == NULL)
		return CK_ENOMEM;
	n->s = s;
	snprintf(n->host, sizeof(n->host), "%s", host);
	n->port = port;
	if (port == 0)
		snprintf(n->name, sizeof(n->name), "%s", host);
	else
		snprintf(n->name, sizeof(n->name), strchr(host, ':') ? "[%s]:%d" : "%s:%d", host,
		         port);
	n->backoff_ms = BACKOFF_MIN_MS;
	if (port != 0)
		n->unresolved = !cki_redis_resolve(s, host, n->addr, sizeof(n->addr));
	snprintf(n->version, sizeof(n->version), "unknown");
	cki_breaker_init(&n->breaker, s->breaker_failures, s->breaker_open_ms);
	node_connect(n);
	*out = n;
	return CK_OK;
}

rnode *
cki_rnode_get(rstore *s, const char *host, int port)
{
	rnode *n, **grown;

	for (size_t i = 0; i < s->nnodes; i++)
		if (s->nodes[i]->port == port && strcmp(s->nodes[i]->host, host) == 0)
			return s->nodes[i];
	if (s->nnodes >= INT16_MAX)
		return NULL;
	grown = realloc(s->nodes, (s->nnodes + 1) * sizeof(*grown));
	if (grown == NULL)
		return NULL;
	s->nodes = grown;
	if (cki_rnode_new(s, host, port, &n) != CK_OK)
		return NULL;
	s->nodes[s->nnodes++] = n;
	return n;
}

/* Frees the node; its commands in hiredis are answered (NULL reply) before it goes. */
void
cki_rnode_free(rnode *n)
{
	if (n == NULL)
		return;
	cki_loop_timer_cancel(n->s->loop, n->reconnect_timer);
	cki_loop_timer_cancel(n->s->loop, n->connect_timer);
	fail_queue(n, CK_ESHUTDOWN, "store closed");
	if (n->ac != NULL) {
		redisAsyncContext *ac = n->ac;
		n->ac = NULL;
		redisAsyncFree(ac);
	}
	cki_rnode_requeue_lost(n);
	fail_queue(n, CK_ESHUTDOWN, "store closed");
	free(n);
}

void
cki_rnode_send(rnode *n, rop *op, bool asking)
{
	char msg[CKI_REDIS_HOST_MAX + 96];
	cki_breaker_admission adm;

	adm = cki_breaker_admit(&n->breaker, cki_now_ms());
	if (adm == CKI_ADMIT_REJECT) {
		snprintf(msg, sizeof(msg), "circuit open for redis node %s", n->name);
		cki_rop_fail(op, CK_EUNAVAILABLE, msg);
		return;
	}
	if (n->ac == NULL) {
		snprintf(msg, sizeof(msg), "redis node %s is unreachable", n->name);
		cki_breaker_report(&n->breaker, false, adm == CKI_ADMIT_PROBE, cki_now_ms());
		cki_rop_fail(op, CK_EUPSTREAM, msg);
		return;
	}
	if (n->ready && n->refused != CK_OK) {
		cki_breaker_report(&n->breaker, true, adm == CKI_ADMIT_PROBE, cki_now_ms());
		cki_rop_fail(op, n->refused, n->refused_msg);
		return;
	}
	if (n->inflight + n->queue.n >= n->s->max_inflight) {
		if (adm == CKI_ADMIT_PROBE)
			cki_breaker_probe_abandoned(&n->breaker, cki_now_ms());
		snprintf(msg, sizeof(msg), "too many commands queued for redis node %s", n->name);
		cki_rop_fail(op, CK_EOVERLOAD, msg);
		return;
	}
	if (!n->ready) {
		/* Waits for the handshake; a probe is not spent on a queued op. */
		if (adm == CKI_ADMIT_PROBE)
			cki_breaker_probe_abandoned(&n->breaker, cki_now_ms());
		op->node = n;
		cki_rwait_push(&n->queue, op);
		return;
	}
	if (asking)
		(void)redisAsyncCommand(n->ac, NULL, NULL, "ASKING");
	op->probe = adm == CKI_ADMIT_PROBE;
	op->node = n;
	op->sent_us = cki_now_us();
	op->in_hiredis = true;
	n->inflight++;
	if (redisAsyncFormattedCommand(n->ac, cki_rop_on_reply, op, op->cmd, op->cmd_len) !=
	    REDIS_OK) {
		op->in_hiredis = false;
		n->inflight--;
		if (op->probe)
			cki_breaker_probe_abandoned(&n->breaker, cki_now_ms());
		cki_rop_fail(op, CK_EUPSTREAM, "redis connection is closing");
	}
}
