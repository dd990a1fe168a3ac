/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Redis store's life and its operations' life: creation from the URL (one node, or the
 * cluster seeds), routing an operation to its node, the absolute deadline of each operation
 * (a loop timer that answers CK_ETIMEDOUT whatever Redis does later), the hiredis reply
 * callback (breaker verdicts, cluster redirections) and destroy. What each operation sends
 * and how its reply reads is in store_redis_ops.c; nodes in node.c; the slot map in cluster.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "store/redis/redis_int.h"
#include "store/redis/store_redis.h"

#define DEFAULT_CONNECT_TIMEOUT_MS 5000
#define DEFAULT_MAX_INFLIGHT       65536
#define DEFAULT_BREAKER_FAILURES   5
#define DEFAULT_BREAKER_OPEN_MS    5000

static void
rop_free(rop *op)
{
	if (op->cmd != NULL)
		redisFreeCommand(op->cmd);
	free(op);
}

void
cki_rwait_push(rwaitlist *w, rop *op)
{
	op->wait = w;
	cki_list_push_back(w, &op->link);
}

void
cki_rwait_remove(rop *op)
{
	if (op->wait == NULL)
		return;
	cki_list_remove(op->wait, &op->link);
	op->wait = NULL;
}

rwaitlist
cki_rwait_take(rwaitlist *w)
{
	rwaitlist taken = *w;

	for (cki_list_link *k = taken.head; k != NULL; k = k->next)
		CKI_LIST_ITEM(k, rop, link)->wait = NULL;
	*w = (rwaitlist){0};
	return taken;
}

rop *
cki_rwait_pop(rwaitlist *w)
{
	rop *op;

	if (w->head == NULL)
		return NULL;
	op = CKI_LIST_ITEM(w->head, rop, link);
	cki_list_remove(w, &op->link);
	op->wait = NULL;
	return op;
}

void
cki_rop_answer(rop *op, cki_store_reply *r)
{
	if (op->answered)
		return;
	op->answered = true;
	if (op->timer != 0) {
		cki_loop_timer_cancel(op->s->loop, op->timer);
		op->timer = 0;
	}
	cki_rwait_remove(op);
	if (op->cb != NULL)
		op->cb(op->arg, r);
	if (!op->in_hiredis)
		rop_free(op);
}

void
cki_rop_fail(rop *op, ck_err err, const char *message)
{
	cki_store_reply r;

	cki_store_reply_init(&r);
	r.err = err;
	r.message = message;
	cki_rop_answer(op, &r);
}

static void
on_deadline(cki_loop *loop, void *arg)
{
	rop *op = arg;

	(void)loop;
	op->timer = 0;
	op->s->timeouts++;
	if (op->node != NULL && (op->in_hiredis || op->retried))
		cki_breaker_report(&op->node->breaker, false, op->probe, cki_now_ms());
	op->probe = false;
	cki_rop_fail(op, CK_ETIMEDOUT, "redis did not answer by the deadline");
}

void
cki_rop_send(rop *op)
{
	rstore *s = op->s;
	rnode *n;

	if (s->url.kind != CKI_REDIS_CLUSTER || op->pin != NULL) {
		cki_rnode_send(op->pin != NULL ? op->pin : s->nodes[0], op, false);
		return;
	}
	n = cki_rcluster_route(s, op);
	if (n != NULL)
		cki_rnode_send(n, op, false);
}

void
cki_rop_on_reply(redisAsyncContext *ac, void *r, void *privdata)
{
	rop *op = privdata;
	const redisReply *reply = r;
	rnode *n = op->node;
	rstore *s = op->s;

	(void)ac;
	op->in_hiredis = false;
	n->inflight--;
	if (op->kind == ROP_SLOTS) {
		cki_rcluster_on_slots(s, op, reply);
		rop_free(op);
		return;
	}
	if (op->answered) { /* timed out earlier; its verdict was reported then */
		rop_free(op);
		return;
	}
	if (reply == NULL) {
		if (!s->destroying && cki_rop_retry_lost(op))
			return;
		if (!s->destroying)
			cki_breaker_report(&n->breaker, false, op->probe, cki_now_ms());
		cki_rop_fail(op, s->destroying ? CK_ESHUTDOWN : CK_EUPSTREAM,
		             s->destroying ? "store closed" : "connection to redis lost");
		return;
	}
	cki_breaker_report(&n->breaker, true, op->probe, cki_now_ms());
	op->probe = false;
	if (reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "NOSCRIPT", 8) == 0 &&
	    cki_rop_retry_as_eval(op))
		return;
	if (reply->type == REDIS_REPLY_ERROR && s->url.kind == CKI_REDIS_CLUSTER &&
	    cki_rcluster_redirect(s, op, reply))
		return;
	cki_rop_complete(op, reply);
}

void
cki_rop_start(rop *op)
{
	uint64_t now = cki_now_ms();

	if (op->deadline != 0) {
		if (now >= op->deadline) {
			cki_rop_fail(op, CK_ETIMEDOUT,
			             "deadline passed before the operation started");
			return;
		}
		op->timer = cki_loop_timer(op->s->loop, op->deadline - now, on_deadline, op);
		if (op->timer == 0) {
			cki_rop_fail(op, CK_ENOMEM, NULL);
			return;
		}
	}
	cki_rop_send(op);
}

void
cki_redis_destroy(cki_store *base)
{
	rstore *s = (rstore *)base;
	rop *op;

	if (s == NULL)
		return;
	s->destroying = true;
	while ((op = cki_rwait_pop(&s->wait)) != NULL)
		cki_rop_fail(op, CK_ESHUTDOWN, "store closed");
	/* Freeing a context answers its commands (NULL replies -> CK_ESHUTDOWN). */
	for (size_t i = 0; i < s->nnodes; i++)
		cki_rnode_free(s->nodes[i]);
	cki_loop_timer_cancel(s->loop, s->refresh_timer);
	free(s->nodes);
	free(s->slots);
	free(s);
}

static ck_err
set_why(char *why, size_t cap, ck_err rv, const char *text)
{
	if (why != NULL && cap > 0)
		snprintf(why, cap, "%s", text);
	return rv;
}

ck_err
cki_store_redis_new(cki_store **out, cki_loop *loop, const cki_redis_opts *opts, char *why,
                    size_t why_cap)
{
	rstore *s = NULL;
	ck_err rv = CK_OK;

	if (out == NULL || loop == NULL || opts == NULL || opts->url == NULL)
		return set_why(why, why_cap, CK_EINVAL, "no URL");
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return set_why(why, why_cap, CK_ENOMEM, "out of memory");
	if ((rv = cki_redis_url_parse(opts->url, &s->url, why, why_cap)) != CK_OK)
		goto out;
	if (s->url.has_password) {
		rv = set_why(why, why_cap, CK_EURL,
		             "a password inside the URL is refused here; give it through "
		             "CACHEKIT_REDIS_PASSWORD (or its _FILE or credential)");
		goto out;
	}
	s->base.ops = &cki_redis_ops;
	s->loop = loop;
	s->password = opts->password;
	s->password_len = opts->password_len;
	s->connect_timeout_ms =
	        opts->connect_timeout_ms ? opts->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS;
	s->max_inflight = opts->max_inflight ? opts->max_inflight : DEFAULT_MAX_INFLIGHT;
	s->breaker_failures =
	        opts->breaker_failures ? opts->breaker_failures : DEFAULT_BREAKER_FAILURES;
	s->breaker_open_ms =
	        opts->breaker_open_ms ? opts->breaker_open_ms : DEFAULT_BREAKER_OPEN_MS;
	s->building = true;
	if (s->url.kind == CKI_REDIS_UNIX) {
		if (cki_rnode_get(s, s->url.path, 0) == NULL)
			rv = CK_ENOMEM;
	} else {
		for (size_t i = 0; i < s->url.naddrs && rv == CK_OK; i++)
			if (cki_rnode_get(s, s->url.addrs[i].host, s->url.addrs[i].port) == NULL)
				rv = CK_ENOMEM;
	}
	if (rv == CK_OK && s->url.kind == CKI_REDIS_CLUSTER) {
		s->slots = malloc(CKI_REDIS_SLOTS * sizeof(*s->slots));
		if (s->slots == NULL)
			rv = CK_ENOMEM;
		else {
			for (size_t i = 0; i < CKI_REDIS_SLOTS; i++)
				s->slots[i] = -1;
			cki_rcluster_refresh(s);
		}
	}
	s->building = false;
	if (rv != CK_OK) {
		set_why(why, why_cap, rv, "out of memory");
		goto out;
	}
	cki_log_info("store redis: %s (%zu node%s to start)", s->url.display, s->nnodes,
	             s->nnodes == 1 ? "" : "s");
	*out = &s->base;
	s = NULL;
out:
	if (s != NULL) {
		s->base.ops = &cki_redis_ops;
		cki_redis_destroy(&s->base);
	}
	return rv;
}
