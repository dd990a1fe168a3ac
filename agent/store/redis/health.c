/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Health of a Redis Cluster: one PING to every master of the slot map, in parallel, each on
 * its own node with the request's deadline. Healthy only when every master answered and the
 * map covers all 16384 slots; latency is the slowest master's. Otherwise the reply is an
 * error whose error_type is "degraded" (some masters answer) and whose message names the
 * unreachable masters and the slots nobody serves. A single node, or a cluster before its
 * first map, pings one node (store_redis_ops.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/redis/redis_int.h"

#define DETAIL_MAX 480

typedef struct rhealth {
	rstore *s;
	cki_store_cb cb;
	void *arg;
	size_t pending; /* children not answered, + 1 while they are being started */
	size_t asked, ok;
	double max_latency_ms;
	const char *version;
	ck_err first_err;
	char down[DETAIL_MAX]; /* names of the masters that failed */
} rhealth;

static void
finish(rhealth *h)
{
	cki_store_reply r;
	char msg[DETAIL_MAX + 128];
	size_t covered = 0;

	for (size_t i = 0; i < CKI_REDIS_SLOTS; i++)
		covered += h->s->slots[i] >= 0;
	cki_store_reply_init(&r);
	r.version = h->version;
	if (h->ok == h->asked && covered == CKI_REDIS_SLOTS) {
		r.found = true;
		r.latency_ms = h->max_latency_ms;
	} else {
		r.err = h->first_err != CK_OK ? h->first_err : CK_EUPSTREAM;
		r.error_type = h->ok > 0 ? "degraded" : NULL;
		snprintf(msg, sizeof(msg),
		         "%s: %zu of %zu redis masters answer (unreachable: %s); %zu of %d slots "
		         "have no master",
		         h->ok > 0 ? "degraded" : "down", h->ok, h->asked,
		         h->down[0] ? h->down : "none", (size_t)CKI_REDIS_SLOTS - covered,
		         CKI_REDIS_SLOTS);
		r.message = msg;
	}
	h->cb(h->arg, &r);
	free(h);
}

/* One master's PING: whom it asked, for the detail. */
typedef struct rhealth_child {
	rhealth *h;
	const rnode *n;
} rhealth_child;

static void
on_ping(void *arg, const cki_store_reply *r)
{
	rhealth_child *c = arg;
	rhealth *h = c->h;
	size_t used = strlen(h->down);

	if (r->err == CK_OK) {
		h->ok++;
		if (r->latency_ms > h->max_latency_ms)
			h->max_latency_ms = r->latency_ms;
		if (h->version == NULL || strcmp(h->version, "unknown") == 0)
			h->version = r->version;
	} else {
		if (h->first_err == CK_OK)
			h->first_err = r->err;
		if (used < sizeof(h->down) - 1)
			snprintf(h->down + used, sizeof(h->down) - used, "%s%s", used ? ", " : "",
			         c->n->name);
	}
	free(c);
	if (--h->pending == 0)
		finish(h);
}

/* A PING pinned to node n (not routed by slot). */
static void
ping(rhealth *h, rnode *n, uint64_t deadline)
{
	static const char cmd[] = "*1\r\n$4\r\nPING\r\n";
	rhealth_child *c = calloc(1, sizeof(*c));
	rop *op = calloc(1, sizeof(*op));

	h->asked++;
	if (op != NULL && c != NULL)
		op->cmd = malloc(sizeof(cmd));
	if (op == NULL || c == NULL || op->cmd == NULL) {
		free(op);
		free(c);
		if (h->first_err == CK_OK)
			h->first_err = CK_ENOMEM;
		return;
	}
	c->h = h;
	c->n = n;
	h->pending++;
	memcpy(op->cmd, cmd, sizeof(cmd));
	op->cmd_len = sizeof(cmd) - 1;
	op->s = h->s;
	op->kind = ROP_HEALTH;
	op->cb = on_ping;
	op->arg = c;
	op->deadline = deadline;
	op->slot = -1;
	op->script = -1;
	op->pin = n;
	cki_rop_start(op);
}

void
cki_rhealth_cluster(rstore *s, uint64_t deadline, cki_store_cb cb, void *arg)
{
	rhealth *h = calloc(1, sizeof(*h));
	bool *master = calloc(s->nnodes ? s->nnodes : 1, sizeof(*master));
	cki_store_reply r;

	if (h == NULL || master == NULL) {
		free(h);
		free(master);
		cki_store_reply_init(&r);
		r.err = CK_ENOMEM;
		cb(arg, &r);
		return;
	}
	h->s = s;
	h->cb = cb;
	h->arg = arg;
	h->pending = 1;
	for (size_t i = 0; i < CKI_REDIS_SLOTS; i++)
		if (s->slots[i] >= 0 && (size_t)s->slots[i] < s->nnodes)
			master[s->slots[i]] = true;
	for (size_t i = 0; i < s->nnodes; i++)
		if (master[i])
			ping(h, s->nodes[i], deadline);
	free(master);
	if (--h->pending == 0)
		finish(h);
}
