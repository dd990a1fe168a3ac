/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Redis Cluster routing: the key -> slot function (CRC16/XMODEM of the key or of its {hash
 * tag}, mod 16384), the slot -> node map loaded from CLUSTER SLOTS, MOVED (update the slot,
 * reload the map, resend) and ASK (resend once to the importing node after ASKING), and the
 * wait list of operations that arrive before the first map. Nodes are created as the map or a
 * redirection names them, one connection each (node.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "store/redis/redis_int.h"

#define REFRESH_RETRY_MS   100
#define REFRESH_STALE_MS   2000 /* a refresh unanswered this long no longer blocks another */
#define REFRESH_MIN_GAP_MS 100  /* MOVED storms reload the map at most this often */

uint16_t
cki_redis_key_slot(const char *key, size_t len)
{
	const char *open = memchr(key, '{', len);
	uint16_t crc = 0;

	if (open != NULL) {
		const char *close = memchr(open + 1, '}', len - (size_t)(open + 1 - key));
		if (close != NULL && close > open + 1) {
			key = open + 1;
			len = (size_t)(close - open - 1);
		}
	}
	for (size_t i = 0; i < len; i++) {
		crc ^= (uint16_t)((unsigned char)key[i] << 8);
		for (int b = 0; b < 8; b++)
			crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021)
			                     : (uint16_t)(crc << 1);
	}
	return crc & (CKI_REDIS_SLOTS - 1);
}

static int
node_index(rstore *s, const rnode *n)
{
	for (size_t i = 0; i < s->nnodes; i++)
		if (s->nodes[i] == n)
			return (int)i;
	return -1;
}

static void
on_refresh_timer(cki_loop *loop, void *arg)
{
	rstore *s = arg;

	(void)loop;
	s->refresh_timer = 0;
	cki_rcluster_refresh(s);
}

static void
retry_refresh_later(rstore *s)
{
	if (s->refresh_timer == 0 && !s->destroying)
		s->refresh_timer = cki_loop_timer(s->loop, REFRESH_RETRY_MS, on_refresh_timer, s);
}

void
cki_rcluster_refresh(rstore *s)
{
	static const char cmd[] = "*2\r\n$7\r\nCLUSTER\r\n$5\r\nSLOTS\r\n";
	uint64_t now = cki_now_ms();
	rnode *n = NULL;
	rop *op;

	if (s->destroying || (s->refreshing && now - s->refresh_started < REFRESH_STALE_MS))
		return;
	for (size_t i = 0; i < s->nnodes && n == NULL; i++) {
		rnode *c = s->nodes[(s->refresh_next + i) % s->nnodes];
		if (c->ac != NULL && !c->down)
			n = c;
	}
	if (n == NULL) {
		retry_refresh_later(s);
		return;
	}
	op = calloc(1, sizeof(*op));
	if (op == NULL) {
		retry_refresh_later(s);
		return;
	}
	op->s = s;
	op->kind = ROP_SLOTS;
	op->slot = -1;
	op->node = n;
	op->in_hiredis = true;
	if (redisAsyncFormattedCommand(n->ac, cki_rop_on_reply, op, cmd, sizeof(cmd) - 1) !=
	    REDIS_OK) {
		free(op);
		retry_refresh_later(s);
		return;
	}
	n->inflight++;
	s->refreshing = true;
	s->refresh_started = now;
}

/* Sends every parked operation to its node now that the map is loaded. */
static void
flush_waiting(rstore *s)
{
	rop *list = cki_rwait_take(&s->wait), *op;

	while ((op = list) != NULL) {
		list = op->next;
		op->prev = op->next = NULL;
		if (s->slots[op->slot] < 0)
			cki_rop_fail(op, CK_EUPSTREAM, "no redis node serves this key's slot");
		else
			cki_rnode_send(s->nodes[s->slots[op->slot]], op, false);
	}
}

static bool
parse_range(rstore *s, const redisReply *e, const rnode *asked, int16_t *map)
{
	const redisReply *master;
	const char *host;
	rnode *n;
	int idx;

	if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
	    e->element[0]->type != REDIS_REPLY_INTEGER ||
	    e->element[1]->type != REDIS_REPLY_INTEGER || e->element[2]->type != REDIS_REPLY_ARRAY)
		return false;
	master = e->element[2];
	if (master->elements < 2 || master->element[0]->type != REDIS_REPLY_STRING ||
	    master->element[1]->type != REDIS_REPLY_INTEGER)
		return false;
	long long lo = e->element[0]->integer, hi = e->element[1]->integer;
	long long port = master->element[1]->integer;
	if (lo < 0 || hi >= CKI_REDIS_SLOTS || lo > hi || port < 1 || port > 65535 ||
	    master->element[0]->len >= CKI_REDIS_HOST_MAX)
		return false;
	/* An empty address means "the node you asked". */
	host = master->element[0]->len > 0 ? master->element[0]->str : asked->host;
	n = cki_rnode_get(s, host, (int)port);
	if (n == NULL || (idx = node_index(s, n)) < 0)
		return false;
	for (long long slot = lo; slot <= hi; slot++)
		map[slot] = (int16_t)idx;
	return true;
}

void
cki_rcluster_on_slots(rstore *s, rop *op, const redisReply *reply)
{
	int16_t *map = NULL;
	size_t covered = 0;

	s->refreshing = false;
	if (s->destroying)
		return;
	s->refresh_next++;
	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements == 0) {
		cki_log_warn("store redis: CLUSTER SLOTS on %s failed%s%.200s", op->node->name,
		             reply && reply->type == REDIS_REPLY_ERROR ? ": " : "",
		             reply && reply->type == REDIS_REPLY_ERROR ? reply->str : "");
		retry_refresh_later(s);
		return;
	}
	map = malloc(CKI_REDIS_SLOTS * sizeof(*map));
	if (map == NULL) {
		retry_refresh_later(s);
		return;
	}
	for (size_t i = 0; i < CKI_REDIS_SLOTS; i++)
		map[i] = -1;
	for (size_t i = 0; i < reply->elements; i++)
		if (!parse_range(s, reply->element[i], op->node, map))
			cki_log_warn(
			        "store redis: skipping a malformed CLUSTER SLOTS entry from %s",
			        op->node->name);
	for (size_t i = 0; i < CKI_REDIS_SLOTS; i++)
		covered += map[i] >= 0;
	memcpy(s->slots, map, CKI_REDIS_SLOTS * sizeof(*map));
	free(map);
	s->refreshes++;
	if (!s->map_ready || covered < CKI_REDIS_SLOTS)
		cki_log_info("store redis: cluster map loaded from %s: %zu nodes, %zu of %d slots",
		             op->node->name, s->nnodes, covered, CKI_REDIS_SLOTS);
	s->map_ready = true;
	flush_waiting(s);
}

rnode *
cki_rcluster_route(rstore *s, rop *op)
{
	if (op->slot < 0) {
		for (size_t i = 0; i < s->nnodes; i++)
			if (s->nodes[i]->ac != NULL && !s->nodes[i]->down)
				return s->nodes[i];
		return s->nodes[0];
	}
	if (s->map_ready && s->slots[op->slot] >= 0)
		return s->nodes[s->slots[op->slot]];
	if (s->map_ready) {
		cki_rop_fail(op, CK_EUPSTREAM, "no redis node serves this key's slot");
		cki_rcluster_refresh(s);
		return NULL;
	}
	if (s->wait.n >= s->max_inflight) {
		cki_rop_fail(op, CK_EOVERLOAD, "too many operations waiting for the cluster map");
		return NULL;
	}
	cki_rwait_push(&s->wait, op);
	cki_rcluster_refresh(s);
	return NULL;
}

bool
cki_rcluster_redirect(rstore *s, rop *op, const redisReply *reply)
{
	bool ask = strncmp(reply->str, "ASK ", 4) == 0;
	char host[CKI_REDIS_HOST_MAX];
	const char *addr, *colon;
	rnode *n;
	int slot, port, idx;

	if (!ask && strncmp(reply->str, "MOVED ", 6) != 0)
		return false;
	addr = strchr(reply->str + (ask ? 4 : 6), ' ');
	colon = addr ? strrchr(addr, ':') : NULL;
	slot = atoi(reply->str + (ask ? 4 : 6));
	if (colon == NULL || slot < 0 || slot >= CKI_REDIS_SLOTS ||
	    (size_t)(colon - addr - 1) >= sizeof(host) || (port = atoi(colon + 1)) <= 0 ||
	    port > 65535) {
		cki_log_warn("store redis: malformed redirection from %s", op->node->name);
		cki_rop_fail(op, CK_EUPSTREAM, "malformed redirection from redis");
		return true;
	}
	if (op->redirects >= CKI_REDIS_MAX_REDIRECT) {
		cki_rop_fail(op, CK_EUPSTREAM, "too many redis cluster redirections");
		return true;
	}
	op->redirects++;
	s->redirects++;
	memcpy(host, addr + 1, (size_t)(colon - addr - 1));
	host[colon - addr - 1] = '\0';
	if (colon - addr - 1 == 0)
		snprintf(host, sizeof(host), "%s", op->node->host);
	n = cki_rnode_get(s, host, port);
	if (n == NULL) {
		cki_rop_fail(op, CK_ENOMEM, NULL);
		return true;
	}
	if (!ask) {
		idx = node_index(s, n);
		if (idx >= 0)
			s->slots[slot] = (int16_t)idx;
		if (cki_now_ms() - s->refresh_started >= REFRESH_MIN_GAP_MS)
			cki_rcluster_refresh(s);
	}
	cki_rnode_send(n, op, ask);
	return true;
}
