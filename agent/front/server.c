/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ROUTER socket, socket directory, single-instance lock file and per-message peer checks.
 * Peer credentials are checked per message (not only by a ZAP handler at connect time) so a
 * refused peer gets a clear CK_EDENIED answer instead of a connection that silently hangs.
 */
#define _GNU_SOURCE /* asprintf */
#include "front/server.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "base/log.h"
#include "base/metrics.h"
#include "front/pbcheck.h"
#include "wire.h"

/* Room for the protobuf framing around the largest value (key, options, tags). */
#define FRAME_SLACK (64 * 1024)
/* Anything larger than this is cut off by libzmq itself (the peer is disconnected). */
#define HARD_FRAME_SLACK (1024 * 1024)
#define MAX_ALLOW        64

struct cki_server {
	cki_loop *loop;
	void *ctx;
	void *router;
	char *socket_path;
	char *lock_path;
	int lock_fd;
	uint64_t frame_cap;
	bool draining;
	cki_request_handler handler;
	void *handler_arg;
	uid_t allow_uids[MAX_ALLOW];
	size_t n_allow_uids;
	gid_t allow_gids[MAX_ALLOW];
	size_t n_allow_gids;
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


static size_t
parse_id_list(const char *list, unsigned *out, size_t cap, bool *bad)
{
	size_t n = 0;
	if (list == NULL)
		return 0;
	const char *p = list;
	while (*p) {
		while (*p == ',' || *p == ' ')
			p++;
		if (*p == '\0')
			break;
		char *end;
		errno = 0;
		unsigned long v = strtoul(p, &end, 10);
		if (end == p || errno != 0 || v > UINT_MAX ||
		    (*end && *end != ',' && *end != ' ') || n == cap) {
			*bad = true;
			return n;
		}
		out[n++] = (unsigned)v;
		p = end;
	}
	return n;
}

/* mkdir -p for the socket directory; only the last component is created with our mode. */
static ck_err
ensure_dir(const char *dir, mode_t mode, gid_t gid, char *why, size_t why_cap)
{
	struct stat st;
	if (stat(dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode)) {
			snprintf(why, why_cap, "%s is not a directory", dir);
			return CK_ECONFIG;
		}
		/* A directory made for us (systemd RuntimeDirectory=) still needs the socket group
		 * to be able to enter it. */
		if (gid != (gid_t)-1 && st.st_uid == geteuid() &&
		    (st.st_gid != gid || (st.st_mode & 0777) != mode) &&
		    (chown(dir, (uid_t)-1, gid) != 0 || chmod(dir, mode) != 0)) {
			snprintf(why, why_cap, "cannot give %s to the socket group: %s", dir,
			         strerror(errno));
			return CK_EIO;
		}
		return CK_OK;
	}
	char parent[PATH_MAX];
	snprintf(parent, sizeof(parent), "%s", dir);
	char *pdir = dirname(parent);
	if (strcmp(pdir, dir) != 0 && strcmp(pdir, "/") != 0 && strcmp(pdir, ".") != 0) {
		ck_err rv = ensure_dir(pdir, 0755, (gid_t)-1, why, why_cap);
		if (rv != CK_OK)
			return rv;
	}
	if (mkdir(dir, mode) != 0 && errno != EEXIST) {
		snprintf(why, why_cap, "cannot create socket directory %s: %s", dir,
		         strerror(errno));
		return CK_EIO;
	}
	if (chmod(dir, mode) != 0 || (gid != (gid_t)-1 && chown(dir, (uid_t)-1, gid) != 0)) {
		snprintf(why, why_cap, "cannot set owner/permissions of %s: %s", dir,
		         strerror(errno));
		return CK_EIO;
	}
	return CK_OK;
}

static ck_err
take_lock(cki_server *s, char *why, size_t why_cap)
{
	s->lock_fd = open(s->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (s->lock_fd < 0) {
		snprintf(why, why_cap, "cannot open lock file %s: %s", s->lock_path,
		         strerror(errno));
		return CK_EIO;
	}
	if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		char pid[32] = "";
		ssize_t n = pread(s->lock_fd, pid, sizeof(pid) - 1, 0);
		if (n > 0) {
			pid[n] = '\0';
			pid[strcspn(pid, "\n")] = '\0';
		}
		snprintf(why, why_cap, "another agent%s%s%s already serves ipc://%s (lock %s)",
		         pid[0] ? " (pid " : "", pid, pid[0] ? ")" : "", s->socket_path,
		         s->lock_path);
		close(s->lock_fd);
		s->lock_fd = -1;
		return CK_EBUSYAGENT;
	}
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (ftruncate(s->lock_fd, 0) != 0 || pwrite(s->lock_fd, buf, (size_t)n, 0) != n)
		cki_log_warn("cannot write pid to %s: %s", s->lock_path, strerror(errno));
	return CK_OK;
}

static bool
peer_allowed(const cki_server *s, const cki_peer *peer)
{
	if (s->n_allow_uids == 0 && s->n_allow_gids == 0)
		return true;
	if (!peer->known)
		return false;
	for (size_t i = 0; i < s->n_allow_uids; i++)
		if (s->allow_uids[i] == peer->uid)
			return true;
	for (size_t i = 0; i < s->n_allow_gids; i++)
		if (s->allow_gids[i] == peer->gid)
			return true;
	return false;
}

static void
handle_frame(cki_server *s, const cki_reply_to *to, zmq_msg_t *msg)
{
	const uint8_t *data = zmq_msg_data(msg);
	size_t len = zmq_msg_size(msg);
	cki_peer peer = {0};
	cki_peer_parse(zmq_msg_gets(msg, "Peer-Address"), &peer);

	cki_metrics_inc(CKI_C_REQUESTS);

	if (!peer_allowed(s, &peer)) {
		cki_metrics_inc(CKI_C_DENIED);
		cki_log_warn("denied request from uid %d gid %d pid %d",
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
		cki_log_warn("refused oversized request (%zu bytes) from pid %d", len,
		             (int)peer.pid);
		cki_server_reply_status(s, to, cki_request_peek_id(data, len), CK_ETOOBIG, m);
		return;
	}
	cki_request *req = cachekit__agent__v1__request__unpack(NULL, len, data);
	if (req == NULL || req->op_case == CACHEKIT__AGENT__V1__REQUEST__OP__NOT_SET) {
		cki_metrics_inc(CKI_C_MALFORMED);
		cki_log_warn("malformed request (%zu bytes) from pid %d", len, (int)peer.pid);
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
	s->handler(s->handler_arg, to, &peer, req);
}

/* Reads every queued message: ZeroMQ only signals a change, so stopping early would stall. */
static void
on_readable(cki_loop *loop, int fd, unsigned events, void *arg)
{
	cki_server *s = arg;
	for (int budget = 0; budget < 4096; budget++) {
		zmq_msg_t rid, msg;
		zmq_msg_init(&rid);
		if (zmq_msg_recv(&rid, s->router, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&rid);
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
	/* Budget spent: yield to timers and other fds; come back on the next turn. */
	cki_loop_wake(s->loop);
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
	s->lock_fd = -1;
	s->handler = handler;
	s->handler_arg = arg;
	s->frame_cap = cfg->max_value_bytes + FRAME_SLACK;

	bool bad = false;
	s->n_allow_uids = parse_id_list(cfg->allow_uids, s->allow_uids, MAX_ALLOW, &bad);
	s->n_allow_gids = parse_id_list(cfg->allow_gids, s->allow_gids, MAX_ALLOW, &bad);
	if (bad) {
		snprintf(why, why_cap,
		         "allow-uids/allow-gids must be comma lists of at most %d numbers",
		         MAX_ALLOW);
		rv = CK_ECONFIG;
		goto out;
	}
	s->socket_path = strdup(cki_endpoint_path(cfg->endpoint));
	if (s->socket_path == NULL || asprintf(&s->lock_path, "%s.lock", s->socket_path) < 0) {
		s->lock_path = NULL;
		rv = CK_ENOMEM;
		goto out;
	}
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
	char dirbuf[PATH_MAX];
	snprintf(dirbuf, sizeof(dirbuf), "%s", s->socket_path);
	/* Only the agent (and the socket group, if any) may enter the socket directory. */
	rv = ensure_dir(dirname(dirbuf), gid != (gid_t)-1 ? 0750 : 0700, gid, why, why_cap);
	if (rv != CK_OK)
		goto out;
	rv = take_lock(s, why, why_cap);
	if (rv != CK_OK)
		goto out;

	s->ctx = zmq_ctx_new();
	s->router = s->ctx ? zmq_socket(s->ctx, ZMQ_ROUTER) : NULL;
	if (s->router == NULL) {
		snprintf(why, why_cap, "cannot create ZeroMQ socket: %s", zmq_strerror(errno));
		rv = CK_EIO;
		goto out;
	}
	int64_t maxmsg = (int64_t)(cfg->max_value_bytes + HARD_FRAME_SLACK);
	int hwm = 100000, one = 1, linger = 0;
	zmq_setsockopt(s->router, ZMQ_MAXMSGSIZE, &maxmsg, sizeof(maxmsg));
	zmq_setsockopt(s->router, ZMQ_SNDHWM, &hwm, sizeof(hwm));
	zmq_setsockopt(s->router, ZMQ_RCVHWM, &hwm, sizeof(hwm));
	zmq_setsockopt(s->router, ZMQ_ROUTER_MANDATORY, &one, sizeof(one));
	zmq_setsockopt(s->router, ZMQ_LINGER, &linger, sizeof(linger));
	mode_t old = umask(0777 & ~cfg->socket_mode);
	int brc = zmq_bind(s->router, cfg->endpoint);
	umask(old);
	if (brc != 0) {
		snprintf(why, why_cap, "cannot bind %s: %s", cfg->endpoint, zmq_strerror(errno));
		rv = CK_EIO;
		goto out;
	}
	if (chmod(s->socket_path, cfg->socket_mode) != 0 ||
	    (gid != (gid_t)-1 && chown(s->socket_path, (uid_t)-1, gid) != 0))
		cki_log_warn("cannot set permissions of %s: %s", s->socket_path, strerror(errno));
	rv = cki_loop_watch_zsock(loop, s->router, on_readable, s);
	if (rv != CK_OK)
		goto out;
	*out = s;
	s = NULL;
out:
	if (s != NULL) {
		if (rv == CK_EBUSYAGENT) {
			/* The socket and lock belong to the other agent: leave them alone. */
			free(s->lock_path);
			s->lock_path = NULL;
			free(s->socket_path);
			s->socket_path = NULL;
		}
		cki_server_free(s, 0);
	}
	return rv;
}

void
cki_server_free(cki_server *s, int linger_ms)
{
	if (s == NULL)
		return;
	if (s->router != NULL) {
		cki_loop_unwatch_zsock(s->loop, s->router);
		zmq_setsockopt(s->router, ZMQ_LINGER, &linger_ms, sizeof(linger_ms));
		zmq_close(s->router);
	}
	if (s->ctx != NULL)
		zmq_ctx_term(s->ctx);
	if (s->lock_fd >= 0) {
		if (s->socket_path != NULL)
			unlink(s->socket_path);
		unlink(s->lock_path);
		close(s->lock_fd);
	}
	free(s->socket_path);
	free(s->lock_path);
	free(s);
}

static void
free_packed(void *data, void *hint)
{
	free(data);
}

void
cki_server_reply(void *server, const cki_reply_to *to, const cki_response *resp)
{
	cki_server *s = server;
	size_t n = cachekit__agent__v1__response__get_packed_size(resp);
	uint8_t *buf = malloc(n ? n : 1);
	if (buf == NULL) {
		cki_log_error("out of memory packing a %zu-byte reply", n);
		return;
	}
	cachekit__agent__v1__response__pack(resp, buf);
	zmq_msg_t msg;
	zmq_msg_init_data(&msg, buf, n, free_packed, NULL);
	if (zmq_send(s->router, to->rid, to->rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
	    zmq_msg_send(&msg, s->router, ZMQ_DONTWAIT) < 0) {
		/* EHOSTUNREACH: the client left (timed out and reconnected, or exited). */
		cki_log_debug("reply %llu dropped: %s", (unsigned long long)resp->id,
		              zmq_strerror(errno));
		zmq_msg_close(&msg);
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
