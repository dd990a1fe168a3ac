/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internals shared by the files of store/redis: the store, its nodes (one hiredis connection
 * each) and the operation record. Only store/redis/ includes this.
 */
#ifndef CKI_REDIS_INT_H
#define CKI_REDIS_INT_H

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/list.h"
#include "base/loop.h"
#include "store/breaker.h"
#include "store/redis/url.h"
#include "store/store.h"

#define CKI_REDIS_SLOTS        16384
#define CKI_REDIS_MAX_REDIRECT 5
#define CKI_REDIS_NSCRIPTS     5

typedef enum rop_kind {
	ROP_GET,
	ROP_PUT,
	ROP_DEL,
	ROP_EXISTS,
	ROP_TTL,
	ROP_TOUCH,
	ROP_LOCK,
	ROP_UNLOCK,
	ROP_RENEW,
	ROP_HEALTH,
	ROP_SLOTS, /* internal: CLUSTER SLOTS, no caller */
} rop_kind;

struct rstore;
struct rnode;
struct rop;

/* A FIFO of operations waiting for something (the cluster map, a node's handshake), linked
 * through rop.link. */
typedef cki_list rwaitlist;

/* One operation: one command (a script where an operation needs several steps), sent to one
 * node, answered once. It lives until it is answered and hiredis has given it back. */
typedef struct rop {
	struct rstore *s;
	rop_kind kind;
	cki_store_cb cb;
	void *arg;
	uint64_t deadline;
	cki_timer_id timer;
	char *cmd; /* the RESP command (redisFormatCommandArgv), kept for redirections */
	size_t cmd_len;
	int slot; /* -1: any node */
	int redirects;
	bool answered;
	bool in_hiredis; /* hiredis holds it and will call back exactly once */
	rwaitlist *wait; /* the list it waits on, or NULL */
	bool probe;      /* admitted as the breaker's half-open probe */
	struct rnode *node;
	cki_list_link link; /* on *wait */
	uint64_t sent_us;
	uint32_t ttl_ms;   /* touch: for the reply; lock: lease */
	char token[37];    /* lock: the random lock id */
	int script;        /* index of its Lua script (EVALSHA), -1 for none */
	bool retried;      /* lost with its connection once and sent again (retry.c) */
	struct rnode *pin; /* health: goes to this node, whatever the slot map says */
} rop;

typedef struct rnode {
	struct rstore *s;
	char name[CKI_REDIS_HOST_MAX + 8]; /* host:port or the socket path (for messages) */
	char host[CKI_REDIS_HOST_MAX];
	int port;                      /* 0 for a unix socket (host is then the path) */
	char addr[CKI_REDIS_HOST_MAX]; /* what connects: host, or its address resolved at start */
	bool unresolved;               /* a name learnt on the loop: never connected (resolve.c) */
	redisAsyncContext *ac;
	bool connected; /* the connect callback said OK */
	bool down;      /* the last attempt failed: operations fail fast */
	bool ready;     /* handshake (AUTH, SELECT, INFO) answered: commands may go out */
	ck_err refused; /* the handshake was refused: operations fail with this */
	char refused_msg[96];
	rwaitlist queue; /* operations waiting for the handshake */
	rwaitlist lost;  /* lost with the connection, waiting for the next one (retry.c) */
	uint32_t backoff_ms;
	cki_timer_id reconnect_timer;
	cki_timer_id connect_timer;
	cki_breaker breaker;
	size_t inflight;
	uint64_t reconnects;
	char version[32];
} rnode;

typedef struct rstore {
	cki_store base;
	cki_loop *loop;
	cki_redis_url url;
	const uint8_t *password;
	size_t password_len;
	uint32_t connect_timeout_ms;
	uint32_t max_inflight; /* per node */
	uint32_t breaker_failures, breaker_open_ms;
	rnode **nodes;
	size_t nnodes;
	bool destroying;
	bool building; /* inside cki_store_redis_new: host names may be resolved (resolve.c) */
	/* cluster */
	int16_t *slots; /* node index per slot, -1 unknown */
	bool map_ready;
	bool refreshing;
	uint64_t refresh_started; /* cki_now_ms() of the last CLUSTER SLOTS sent */
	size_t refresh_next;      /* node to ask next */
	cki_timer_id refresh_timer;
	rwaitlist wait;                   /* operations waiting for the first slot map */
	char sha[CKI_REDIS_NSCRIPTS][41]; /* SCRIPT LOAD results ("" until loaded) */
	/* stats */
	uint64_t redirects, timeouts, refreshes, noscript;
} rstore;

/* store_redis.c */
extern const cki_store_ops cki_redis_ops; /* store_redis_ops.c */
void cki_redis_destroy(cki_store *s);
/* Starts op: checks the deadline, arms its timer, sends. op is answered exactly once. */
void cki_rop_start(rop *op);
void cki_rop_answer(rop *op, cki_store_reply *r);
void cki_rop_fail(rop *op, ck_err err, const char *message);
void cki_rop_send(rop *op); /* routes and sends, or answers an error */
/* Wait lists: push at the tail; remove from anywhere; take moves the whole list out (w is
 * empty after, and what is pushed onto it meanwhile waits for the next take); pop takes the
 * head off a list (NULL when empty). An op on a taken list waits on nothing (wait NULL). */
void cki_rwait_push(rwaitlist *w, rop *op);
void cki_rwait_remove(rop *op);
rwaitlist cki_rwait_take(rwaitlist *w);
rop *cki_rwait_pop(rwaitlist *w);
/* hiredis reply callback of every operation (privdata = the rop). */
void cki_rop_on_reply(redisAsyncContext *ac, void *r, void *privdata);

/* store_redis_ops.c: the reply of one operation -> its answer. */
void cki_rop_complete(rop *op, const redisReply *reply);
ck_err cki_redis_error_code(const char *str);
/* Lua script i (0..CKI_REDIS_NSCRIPTS-1), loaded on every connection by the handshake. */
const char *cki_redis_script(int i);
/* NOSCRIPT (the script cache was flushed): resend op as EVAL. True when resent. */
bool cki_rop_retry_as_eval(rop *op);

/* node.c */
CK_NODISCARD ck_err cki_rnode_new(rstore *s, const char *host, int port, rnode **out);
void cki_rnode_free(rnode *n);
void cki_rnode_send(rnode *n, rop *op, bool asking);
/* The node for host:port, created (and connecting) when new; NULL when out of memory. */
rnode *cki_rnode_get(rstore *s, const char *host, int port);

/* retry.c: a command lost with its connection (NULL reply) goes once more on the node's
 * next connection when that is safe. True when op was parked for it (still unanswered). */
bool cki_rop_retry_lost(rop *op);
/* After the disconnect: the lost ops wait for the next connection's handshake. */
void cki_rnode_requeue_lost(rnode *n);

/* health.c: PING every master of the slot map (cluster with a loaded map). */
void cki_rhealth_cluster(rstore *s, uint64_t deadline, cki_store_cb cb, void *arg);

/* resolve.c: the address to connect to for host (a literal: itself) into addr. False when
 * host is a name that cannot be resolved without blocking the loop. */
bool cki_redis_resolve(rstore *s, const char *host, char *addr, size_t cap);

/* cluster.c */
uint16_t cki_redis_key_slot(const char *key, size_t len);
/* The node serving op->slot, or NULL (the op was parked until the slot map loads). */
rnode *cki_rcluster_route(rstore *s, rop *op);
/* Handles a MOVED/ASK error reply: true when the op was sent elsewhere (or parked). */
bool cki_rcluster_redirect(rstore *s, rop *op, const redisReply *reply);
void cki_rcluster_refresh(rstore *s);
void cki_rcluster_on_slots(rstore *s, rop *op, const redisReply *reply);

#endif
