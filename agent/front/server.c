/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ROUTER socket, socket directory, single-instance lock file and per-message peer checks.
 * Peer credentials are checked per message (not only by a ZAP handler at connect time) so a
 * refused peer gets a clear CK_EDENIED answer instead of a connection that silently hangs.
 */
#define _GNU_SOURCE
#include "front/server.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "base/log.h"
#include "base/metrics.h"
#include "core/access.h"
#include "front/conns.h"
#include "front/nearstats.h"
#include "front/pbcheck.h"
#include "front/peerq.h"
#include "front/rundir.h"
#include "wire.h"

/* Room for the protobuf framing around the largest value (key, options, tags). */
#define FRAME_SLACK (64 * 1024)
/* Anything larger than this is cut off by libzmq itself (the peer is disconnected). */
#define HARD_FRAME_SLACK (1024 * 1024)
/* A client this far past max-peer-queued-bytes still sends without reading: even a refusal
 * could not reach it, so its requests are dropped until it reads. */
#define PEER_DROP_SLACK (1024 * 1024)
/* Replies this small are always sent (a lock handle must never be lost); larger ones that
 * would pass the per-client limit become CK_EOVERLOAD. */
#define PEER_SMALL_REPLY 4096

struct cki_server {
	cki_loop *loop;
	void *ctx;
	void *router;
	cki_rundir rundir; /* socket directory, lock file; everything through its fd */
	cki_peerq *peerq;  /* reply bytes queued per client */
	cki_conns *conns;  /* open connections; forgets the queues of those that close */
	uint64_t peer_limit;
	uint64_t frame_cap;
	bool draining; /* shutting down: new requests get CK_ESHUTDOWN */
	bool in_drain; /* inside on_readable (see there) */
	cki_request_handler handler;
	void *handler_arg;
	const cki_policy *policy; /* allow lists, typed at config load; outlives the server */
};

const char *
cki_endpoint_path(const char *endpoint)
{
	return strncmp(endpoint, "ipc://", 6) == 0 ? endpoint + 6 : endpoint;
}

bool
cki_peer_parse(const char *pa, cki_peer *out)
{
	if (pa == NULL)
		return false;
	/* The last three colon-separated fields are uid, gid, pid. */
	const char *p3 = strrchr(pa, ':');
	if (p3 == NULL || p3 == pa)
		return false;
	const char *p2 = p3 - 1;
	while (p2 > pa && *p2 != ':')
		p2--;
	if (*p2 != ':' || p2 == pa)
		return false;
	const char *p1 = p2 - 1;
	while (p1 > pa && *p1 != ':')
		p1--;
	if (*p1 != ':')
		return false;
	unsigned long v[3];
	const char *starts[3] = {p1 + 1, p2 + 1, p3 + 1};
	const char *ends[3] = {p2, p3, pa + strlen(pa)};
	for (int i = 0; i < 3; i++) {
		char *end;
		if (starts[i] == ends[i] || *starts[i] < '0' || *starts[i] > '9')
			return false;
		errno = 0;
		v[i] = strtoul(starts[i], &end, 10);
		if (errno != 0 || end != ends[i] || v[i] > INT_MAX)
			return false;
	}
	out->known = true;
	out->uid = (uid_t)v[0];
	out->gid = (gid_t)v[1];
	out->pid = (pid_t)v[2];
	return true;
}

uint64_t
cki_request_peek_id(const uint8_t *buf, size_t len)
{
	uint64_t id = 0;
	return cki_wire_peek_id(buf, len, &id) ? id : 0;
}

/* Connections the kernel queues before the agent accepts them (capped by net.core.somaxconn).
 * libzmq's default of 100 refused the rest of a pool of workers that started at once: a
 * refused ipc connect is retried after the reconnect interval, doubling each time, so 200
 * one-request processes took half a second instead of a few milliseconds. */
#define LISTEN_BACKLOG 4096

/* A frame cap that does not apply is a hole, not a detail: every option must take. */
static ck_err
set_options(cki_server *s, const cki_config *cfg, char *why, size_t why_cap)
{
	int64_t maxmsg = (int64_t)(cfg->max_value_bytes + HARD_FRAME_SLACK);
	int hwm = 100000, one = 1, linger = 0, backlog = LISTEN_BACKLOG;
	const char *failed = NULL;
	if (zmq_setsockopt(s->router, ZMQ_MAXMSGSIZE, &maxmsg, sizeof(maxmsg)) != 0)
		failed = "ZMQ_MAXMSGSIZE";
	else if (zmq_setsockopt(s->router, ZMQ_SNDHWM, &hwm, sizeof(hwm)) != 0)
		failed = "ZMQ_SNDHWM";
	else if (zmq_setsockopt(s->router, ZMQ_RCVHWM, &hwm, sizeof(hwm)) != 0)
		failed = "ZMQ_RCVHWM";
	else if (zmq_setsockopt(s->router, ZMQ_ROUTER_MANDATORY, &one, sizeof(one)) != 0)
		failed = "ZMQ_ROUTER_MANDATORY";
	else if (zmq_setsockopt(s->router, ZMQ_LINGER, &linger, sizeof(linger)) != 0)
		failed = "ZMQ_LINGER";
	else if (zmq_setsockopt(s->router, ZMQ_BACKLOG, &backlog, sizeof(backlog)) != 0)
		failed = "ZMQ_BACKLOG";
	if (failed == NULL)
		return CK_OK;
	snprintf(why, why_cap, "cannot set %s on the ROUTER socket: %s", failed,
	         zmq_strerror(errno));
	return CK_EIO;
}

static bool
peer_allowed(const cki_server *s, const cki_peer *peer)
{
	const cki_policy *p = s->policy;
	if (p->allow_uids.n == 0 && p->allow_gids.n == 0)
		return true;
	if (!peer->known)
		return false;
	return cki_id_set_has(&p->allow_uids, (uint32_t)peer->uid) ||
	       cki_peer_in_gids(&p->allow_gids, peer);
}

static void
handle_frame(cki_server *s, const cki_reply_to *to, zmq_msg_t *msg)
{
	const uint8_t *data = zmq_msg_data(msg);
	size_t len = zmq_msg_size(msg);
	cki_peer peer = {0};

	cki_metrics_inc(CKI_C_REQUESTS);

	cki_peer_queue *q = cki_peerq_find(s->peerq, to->rid, to->rid_len);
	int fd = zmq_msg_get(msg, ZMQ_SRCFD);
	if (q != NULL)
		cki_peerq_set_fd(q, fd);
	/* Parsing Peer-Address on every message was a tenth of a hit's instructions. */
	if (q == NULL || !cki_peerq_cred_get(q, fd, &peer)) {
		cki_peer_parse(zmq_msg_gets(msg, "Peer-Address"), &peer);
		if (q != NULL)
			cki_peerq_cred_set(q, fd, &peer);
	}
	uint64_t queued = q != NULL ? cki_peerq_queued(q) : 0;
	if (queued >= s->peer_limit) {
		if (queued >= s->peer_limit + PEER_DROP_SLACK) {
			cki_metrics_inc(CKI_C_PEER_DROPPED);
			cki_log_warn_rl("pid %d has %llu bytes of replies unread: dropping its "
			                "requests until it reads",
			                (int)peer.pid, (unsigned long long)queued);
			return;
		}
		cki_metrics_inc(CKI_C_PEER_OVERLOADED);
		cki_log_warn_rl("pid %d has %llu bytes of replies unread (max-peer-queued-bytes "
		                "%llu): answering CK_EOVERLOAD",
		                (int)peer.pid, (unsigned long long)queued,
		                (unsigned long long)s->peer_limit);
		cki_server_reply_status(s, to, cki_request_peek_id(data, len), CK_EOVERLOAD,
		                        "too many reply bytes wait unread for this client: read "
		                        "them first");
		return;
	}
	if (!peer_allowed(s, &peer)) {
		cki_metrics_inc(CKI_C_DENIED);
		cki_log_warn_rl("denied request from uid %d gid %d pid %d",
		                peer.known ? (int)peer.uid : -1, peer.known ? (int)peer.gid : -1,
		                peer.known ? (int)peer.pid : -1);
		cki_server_reply_status(s, to, cki_request_peek_id(data, len), CK_EDENIED,
		                        "this user is not allowed to use the agent");
		return;
	}
	if (len > s->frame_cap) {
		cki_metrics_inc(CKI_C_OVERSIZED);
		char m[128];
		snprintf(m, sizeof(m), "request of %zu bytes exceeds the agent's limit of %llu",
		         len, (unsigned long long)s->frame_cap);
		cki_log_warn_rl("refused oversized request (%zu bytes) from pid %d", len,
		                (int)peer.pid);
		cki_server_reply_status(s, to, cki_request_peek_id(data, len), CK_ETOOBIG, m);
		return;
	}
	cki_request *req = cki_request_unpack(data, len);
	if (req == NULL || req->op_case == CACHEKIT__AGENT__V1__REQUEST__OP__NOT_SET) {
		cki_metrics_inc(CKI_C_MALFORMED);
		cki_log_warn_rl("malformed request (%zu bytes) from pid %d", len, (int)peer.pid);
		cki_server_reply_status(s, to, req ? req->id : cki_request_peek_id(data, len),
		                        CK_EPROTO,
		                        req ? "request names no operation (unknown to this agent?)"
		                            : "request is not a valid cachekit.agent.v1.Request");
		cki_request_free(req);
		return;
	}
	const char *nul_field =
	        cki_pb_nul_string_field(&cachekit__agent__v1__request__descriptor, data, len);
	if (nul_field != NULL) {
		/* protobuf-c would hand us the string cut at the NUL: "a\0b" must not become "a".
		 */
		bool is_key = strcmp(nul_field, "key") == 0 || strcmp(nul_field, "name") == 0 ||
		              strcmp(nul_field, "namespace") == 0;
		char m[96];
		snprintf(m, sizeof(m), "%s%s contains a NUL byte",
		         is_key ? "invalid cache key: " : "", nul_field);
		cki_metrics_inc(CKI_C_MALFORMED);
		cki_server_reply_status(s, to, req->id, is_key ? CK_EINVALKEY : CK_EPROTO, m);
		cki_request_free(req);
		return;
	}
	if (s->draining) {
		cki_metrics_inc(CKI_C_SHUTDOWN_REFUSED);
		cki_server_reply_status(s, to, req->id, CK_ESHUTDOWN, "agent is shutting down");
		cki_request_free(req);
		return;
	}
	cki_nearstats_absorb(req);
	s->handler(s->handler_arg, to, &peer, req);
}

/* Reads every queued message: ZeroMQ only signals a change, so stopping early would stall. */
static void
on_readable(cki_loop *loop, int fd, unsigned events, void *arg)
{
	cki_server *s = arg;
	/* Replies sent in the drain go out before the receive that ends the drain, which sees
	 * anything their sends took the signal of: they need no end-of-turn check. */
	s->in_drain = true;
	for (int budget = 0; budget < 4096; budget++) {
		zmq_msg_t rid, msg;
		zmq_msg_init(&rid);
		if (zmq_msg_recv(&rid, s->router, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&rid);
			s->in_drain = false;
			return;
		}
		cki_reply_to to;
		size_t rlen = zmq_msg_size(&rid);
		to.rid_len = (uint8_t)(rlen > sizeof(to.rid) ? sizeof(to.rid) : rlen);
		memcpy(to.rid, zmq_msg_data(&rid), to.rid_len);
		bool more = zmq_msg_more(&rid);
		zmq_msg_close(&rid);
		if (!more)
			continue;
		zmq_msg_init(&msg);
		if (zmq_msg_recv(&msg, s->router, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&msg);
			s->in_drain = false;
			return;
		}
		if (zmq_msg_more(&msg)) {
			/* One frame per message is the contract: drop the rest, answer EPROTO. */
			uint64_t id = cki_request_peek_id(zmq_msg_data(&msg), zmq_msg_size(&msg));
			zmq_msg_t extra;
			do {
				zmq_msg_init(&extra);
				if (zmq_msg_recv(&extra, s->router, ZMQ_DONTWAIT) < 0) {
					zmq_msg_close(&extra);
					break;
				}
				more = zmq_msg_more(&extra);
				zmq_msg_close(&extra);
			} while (more);
			cki_metrics_inc(CKI_C_MALFORMED);
			cki_server_reply_status(
			        s, &to, id, CK_EPROTO,
			        "one frame per message: multi-part request refused");
		} else {
			handle_frame(s, &to, &msg);
		}
		zmq_msg_close(&msg);
	}
	/* Budget spent: yield to timers and other fds; the loop finds the rest at the end of the
	 * turn and comes back without sleeping. */
	s->in_drain = false;
	cki_loop_zsock_used(s->loop, s->router);
}

ck_err
cki_server_new(cki_server **out, cki_loop *loop, const cki_config *cfg, cki_request_handler handler,
               void *arg, char *why, size_t why_cap)
{
	ck_err rv = CK_OK;
	cki_server *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return CK_ENOMEM;
	s->loop = loop;
	s->rundir = (cki_rundir)CKI_RUNDIR_INIT;
	s->handler = handler;
	s->handler_arg = arg;
	s->frame_cap = cfg->max_value_bytes + FRAME_SLACK;
	s->peer_limit = cfg->max_peer_queued_bytes;
	rv = cki_peerq_new(&s->peerq);
	if (rv != CK_OK)
		goto out;

	s->policy = &cfg->policy;
	gid_t gid = (gid_t)-1;
	if (cfg->socket_group != NULL) {
		struct group *gr = getgrnam(cfg->socket_group);
		if (gr == NULL) {
			snprintf(why, why_cap, "socket-group \"%s\" does not exist",
			         cfg->socket_group);
			rv = CK_ECONFIG;
			goto out;
		}
		gid = gr->gr_gid;
	}
	/* Only the agent (and the socket group, if any) may enter the socket directory. */
	rv = cki_rundir_open(&s->rundir, cki_endpoint_path(cfg->endpoint),
	                     gid != (gid_t)-1 ? 0750 : 0700, gid, why, why_cap);
	if (rv != CK_OK)
		goto out;
	rv = cki_rundir_lock(&s->rundir, cfg->endpoint, why, why_cap);
	if (rv != CK_OK)
		goto out;

	s->ctx = zmq_ctx_new();
	s->router = s->ctx ? zmq_socket(s->ctx, ZMQ_ROUTER) : NULL;
	if (s->router == NULL) {
		snprintf(why, why_cap, "cannot create ZeroMQ socket: %s", zmq_strerror(errno));
		rv = CK_EIO;
		goto out;
	}
	rv = set_options(s, cfg, why, why_cap);
	if (rv != CK_OK)
		goto out;
	/* Before bind: every connection is seen from its start. */
	rv = cki_conns_start(&s->conns, loop, s->ctx, s->router, s->peerq, why, why_cap);
	if (rv != CK_OK)
		goto out;
	/* libzmq binds by path in this thread: the umask gives the socket its mode at birth,
	 * so there is no moment where it is wider, and no chmod by name afterwards. The
	 * directory is ours and closed to others, so nobody can swap the name between bind and
	 * the check below. */
	mode_t old = umask(cki_rundir_socket_umask(cfg->socket_mode));
	int brc = zmq_bind(s->router, cfg->endpoint);
	int berr = errno;
	umask(old);
	if (brc != 0) {
		snprintf(why, why_cap, "cannot bind %s: %s", cfg->endpoint, zmq_strerror(berr));
		rv = CK_EIO;
		goto out;
	}
	rv = cki_rundir_check_socket(&s->rundir, cfg->socket_mode, gid, why, why_cap);
	if (rv != CK_OK)
		goto out;
	rv = cki_loop_watch_zsock(loop, s->router, on_readable, s);
	if (rv != CK_OK)
		goto out;
	*out = s;
	s = NULL;
out:
	cki_server_free(s, 0);
	return rv;
}

void
cki_server_free(cki_server *s, int linger_ms)
{
	if (s == NULL)
		return;
	cki_conns_stop(s->conns);
	if (s->router != NULL) {
		cki_loop_unwatch_zsock(s->loop, s->router);
		if (zmq_setsockopt(s->router, ZMQ_LINGER, &linger_ms, sizeof(linger_ms)) != 0)
			cki_log_warn("cannot set linger at close: %s", zmq_strerror(errno));
		zmq_close(s->router);
	}
	if (s->ctx != NULL)
		zmq_ctx_term(s->ctx);
	cki_peerq_free(s->peerq); /* after the context: no release can follow */
	/* Removes only what is ours: after CK_EBUSYAGENT the lock and socket are another
	 * agent's and stay. */
	cki_rundir_close(&s->rundir);
	free(s);
}

void
cki_server_reply(void *server, const cki_reply_to *to, const cki_response *resp)
{
	cki_server *s = server;
	size_t n = cachekit__agent__v1__response__get_packed_size(resp);
	cki_peer_queue *q = cki_peerq_find(s->peerq, to->rid, to->rid_len);
	cki_response refused = CACHEKIT__AGENT__V1__RESPONSE__INIT;
	if (q != NULL && n > PEER_SMALL_REPLY &&
	    cki_peerq_queued(q) + n + CKI_PEERQ_MSG_OVERHEAD > s->peer_limit) {
		/* The client is not reading: its reply would grow the agent past the bound. */
		refused.id = resp->id;
		refused.status = CK_EOVERLOAD;
		refused.message = "reply withheld: too many reply bytes wait unread for this "
		                  "client (max-peer-queued-bytes)";
		cki_metrics_inc(CKI_C_PEER_OVERLOADED);
		cki_log_warn_rl("reply %llu of %zu bytes withheld: %llu bytes wait unread for "
		                "this client",
		                (unsigned long long)resp->id, n,
		                (unsigned long long)cki_peerq_queued(q));
		resp = &refused;
		n = cachekit__agent__v1__response__get_packed_size(resp);
	}
	void *hint = NULL;
	uint8_t *buf = cki_peerq_alloc(s->peerq, q, n, &hint);
	if (buf == NULL) {
		cki_log_error("out of memory packing a %zu-byte reply", n);
		return;
	}
	cachekit__agent__v1__response__pack(resp, buf);
	zmq_msg_t msg;
	if (!s->in_drain)
		cki_loop_zsock_used(s->loop, s->router); /* a send outside the drain */
	if (zmq_msg_init_data(&msg, buf, n, cki_peerq_release, hint) != 0) {
		cki_peerq_release(buf, hint);
		cki_log_error("out of memory queueing a %zu-byte reply", n);
		return;
	}
	if (zmq_send(s->router, to->rid, to->rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
	    zmq_msg_send(&msg, s->router, ZMQ_DONTWAIT) < 0) {
		/* EHOSTUNREACH: the client left (timed out and reconnected, or exited). */
		cki_log_debug("reply %llu dropped: %s", (unsigned long long)resp->id,
		              zmq_strerror(errno));
		zmq_msg_close(&msg);
		/* Nothing of it stays: no entry for a client that is not there. */
		cki_peerq_forget(s->peerq, to->rid, to->rid_len);
	}
}

cki_reply_sink
cki_server_sink(cki_server *s)
{
	return (cki_reply_sink){.send = cki_server_reply, .arg = s};
}

void
cki_server_reply_status(cki_server *s, const cki_reply_to *to, uint64_t id, ck_err status,
                        const char *message)
{
	cki_reply_sink sink = cki_server_sink(s);
	cki_reply_status(&sink, to, id, status, message);
}

void
cki_server_set_draining(cki_server *s, bool draining)
{
	s->draining = draining;
}

int
cki_server_dir_fd(const cki_server *s)
{
	return s->rundir.dir_fd;
}

const char *
cki_server_sock_name(const cki_server *s)
{
	return s->rundir.sock_name;
}
