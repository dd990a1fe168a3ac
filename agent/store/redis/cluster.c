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
#include "store/redis/reply.h"

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
	rwaitlist list = cki_rwait_take(&s->wait);
	rop *op;

	while ((op = cki_rwait_pop(&list)) != NULL) {
		if (s->slots[op->slot] < 0)
			cki_rop_fail(op, CK_EUPSTREAM, "no redis node serves this key's slot");
		else
			cki_rnode_send(s->nodes[s->slots[op->slot]], op, false);
	}
}

/* Points the slots of one CLUSTER SLOTS entry at its master (created when new). */
static bool
apply_range(rstore *s, const redisReply *e, const rnode *asked, int16_t *map)
{
	cki_redis_range r;
	char host[CKI_REDIS_HOST_MAX];
	rnode *n;
	int idx;

	if (!cki_redis_parse_range(e, &r))
		return false;
	/* An empty address means "the node you asked". */
	if (r.host_len > 0) {
		memcpy(host, r.host, r.host_len);
		host[r.host_len] = '\0';
	} else {
		snprintf(host, sizeof(host), "%s", asked->host);
	}
	n = cki_rnode_get(s, host, r.port);
	if (n == NULL || (idx = node_index(s, n)) < 0)
		return false;
	for (int slot = r.lo; slot <= r.hi; slot++)
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
		if (!apply_range(s, reply->element[i], op->node, map))
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
	cki_redis_redirect rd;
	rnode *n;
	int idx;

	if (strncmp(reply->str, "ASK ", 4) != 0 && strncmp(reply->str, "MOVED ", 6) != 0)
		return false;
	if (!cki_redis_parse_redirect(reply->str, &rd)) {
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
	if (rd.host[0] == '\0')
		snprintf(rd.host, sizeof(rd.host), "%s", op->node->host);
	n = cki_rnode_get(s, rd.host, rd.port);
	if (n == NULL) {
		cki_rop_fail(op, CK_ENOMEM, NULL);
		return true;
	}
	if (!rd.ask) {
		idx = node_index(s, n);
		if (idx >= 0)
			s->slots[rd.slot] = (int16_t)idx;
		if (cki_now_ms() - s->refresh_started >= REFRESH_MIN_GAP_MS)
			cki_rcluster_refresh(s);
	}
	cki_rnode_send(n, op, rd.ask);
	return true;
}
