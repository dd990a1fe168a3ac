/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the agent's handling of peer bytes: what a stub sends as one ZeroMQ
 * frame goes through cki_request_peek_id(), the protobuf-c Request decoder and then the real
 * dispatch (agent/dispatch.c) over the embedded store and the lock table, exactly as
 * server.c's frame handler does. One input may carry several frames, split by the 8-byte
 * marker "#CKNEXT#" (same peer) or "#CKPEER#" (the next frame comes from another live
 * process), so sequences like set-then-get or acquire-then-release are reachable. Each input
 * gets a fresh store, lock table, refresh scheduler, near cache (L1, on), single-flight
 * table and dispatcher, wired as main.c wires them; the keyring holds a fixed
 * test master key, and the namespaces "sec", "env" and "slide" are secure-only, enveloped and
 * sliding, so the sealing and refresh paths are reachable too. Replies really go out through a
 * cki_server (bound once, to ipc:///tmp/ck-fuzz-<pid>/a.sock, whose files are removed once
 * connected) to a DEALER socket of this process, and every one is checked: exactly one reply per
 * frame, carrying the request id, a known status and, on success, the result that matches the
 * operation.
 */
#define _GNU_SOURCE /* asprintf */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "cachekit/errors.h"
#include "config/config.h"
#include "core/dispatch.h"
#include "core/storefront.h"
#include "core/flight.h"
#include "crypto/keyring.h"
#include "core/l1.h"
#include "core/locks.h"
#include "base/log.h"
#include "base/loop.h"
#include "core/refresh.h"
#include "crypto/secmem.h"
#include "front/server.h"
#include "store/store.h"
#include "store/memory/store_memory.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_FRAMES 16
#define MARK_LEN   8
#define MARK_NEXT  "#CKNEXT#"
#define MARK_PEER  "#CKPEER#"
#define PEER_RID   "ck-fuzz-peer"
/* Small caps so that the size checks and LRU eviction are within the fuzzer's reach. */
#define FUZZ_MAX_VALUE    4096u
#define FUZZ_MEMORY_LIMIT (64u * 1024u)
#define FUZZ_L1_BYTES     (16u * 1024u)
#define REPLY_WAIT_MS     10000
/* A fixed test master key: the fuzzer only needs sealing to work, not to be secret. */
#define FUZZ_MASTER_KEY "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

/* What one frame of the current input expects back. */
typedef struct expect {
	uint64_t id;
	int op; /* Request op case; 0 when the frame did not decode to an operation */
	bool seen;
} expect;

static struct {
	bool ready;
	cki_config cfg;
	cki_loop *loop;
	cki_server *server;
	cki_keyring *keyring;
	char dir[256];
	void *zctx;
	void *dealer;
	cki_reply_to to;
	cki_peer self, other;
	uint64_t next_id;
	bool warmed_up;
} F;

static void
fail(const char *what)
{
	fprintf(stderr, "fuzz_request: %s\n", what);
	abort();
}

/* The server's handler: only the warm-up request arrives through the socket. */
static void
on_request(void *arg, const cki_reply_to *to, const cki_peer *peer, cki_request *req)
{
	(void)arg;
	(void)peer;
	cki_server_reply_status(F.server, to, req->id, CK_OK, "warm-up");
	cki_request_free(req);
	F.warmed_up = true;
	cki_loop_stop(F.loop);
}

static void
on_warmup_timeout(cki_loop *loop, void *arg)
{
	(void)arg;
	cki_loop_stop(loop);
}

static void
cleanup(void)
{
	if (!F.ready)
		return;
	F.ready = false;
	if (F.dealer != NULL)
		zmq_close(F.dealer);
	if (F.zctx != NULL)
		zmq_ctx_term(F.zctx);
	cki_server_free(F.server, 0);
	cki_keyring_free(F.keyring);
	cki_loop_free(F.loop);
	cki_config_free(&F.cfg);
	rmdir(F.dir);
}

/* Receives one reply for the current input, waiting at most REPLY_WAIT_MS. libFuzzer's
 * -timeout runs a periodic SIGALRM; a signal interrupts the receive (EINTR), which is not a
 * missing reply: receive again. */
static cki_response *
recv_reply(void)
{
	zmq_msg_t msg;
	zmq_msg_init(&msg);
	int rc;
	while ((rc = zmq_msg_recv(&msg, F.dealer, 0)) < 0 && errno == EINTR)
		;
	if (rc < 0) {
		zmq_msg_close(&msg);
		return NULL;
	}
	cki_response *r =
	        cachekit__agent__v1__response__unpack(NULL, zmq_msg_size(&msg), zmq_msg_data(&msg));
	if (r == NULL)
		fail("the agent sent a reply that does not decode as a Response");
	zmq_msg_close(&msg);
	return r;
}

static void
setup(void)
{
	char why[256] = "";
	cki_log_set_level(CKI_LOG_ERROR);
	const char *tmp = getenv("TMPDIR");
	snprintf(F.dir, sizeof(F.dir), "%s/ck-fuzz-%d", tmp != NULL && *tmp ? tmp : "/tmp",
	         (int)getpid());
	if (cki_config_defaults(&F.cfg) != CK_OK)
		fail("cki_config_defaults");
	free(F.cfg.endpoint);
	if (asprintf(&F.cfg.endpoint, "ipc://%s/a.sock", F.dir) < 0)
		fail("out of memory");
	F.cfg.max_value_bytes = FUZZ_MAX_VALUE;
	F.cfg.memory_limit_bytes = FUZZ_MEMORY_LIMIT;
	F.cfg.l1_bytes = FUZZ_L1_BYTES;
	free(F.cfg.secure_namespaces);
	free(F.cfg.envelope_namespaces);
	free(F.cfg.sliding_namespaces);
	F.cfg.secure_namespaces = strdup("sec");
	F.cfg.envelope_namespaces = strdup("env");
	F.cfg.sliding_namespaces = strdup("slide");
	if (!F.cfg.secure_namespaces || !F.cfg.envelope_namespaces || !F.cfg.sliding_namespaces)
		fail("out of memory");
	if (cki_config_policy(&F.cfg, stderr) != CK_OK)
		fail("cki_config_policy");
	cki_secret *mk = cki_secret_from((const uint8_t *)FUZZ_MASTER_KEY, strlen(FUZZ_MASTER_KEY));
	if (mk == NULL || cki_keyring_new(&F.keyring, NULL, mk, NULL, why, sizeof(why)) != CK_OK)
		fail("cannot build the test keyring");
	cki_secret_free(mk);
	if (cki_loop_new(&F.loop) != CK_OK)
		fail("cki_loop_new");
	if (cki_server_new(&F.server, F.loop, &F.cfg, on_request, NULL, why, sizeof(why)) !=
	    CK_OK) {
		fprintf(stderr, "fuzz_request: cki_server_new: %s\n", why);
		abort();
	}
	F.ready = true;
	atexit(cleanup);

	/* A DEALER with a fixed routing id: the ROUTER learns it from the warm-up request, so
	 * replies addressed to it arrive here. */
	int timeout = REPLY_WAIT_MS, zero = 0;
	F.zctx = zmq_ctx_new();
	F.dealer = F.zctx ? zmq_socket(F.zctx, ZMQ_DEALER) : NULL;
	if (F.dealer == NULL ||
	    zmq_setsockopt(F.dealer, ZMQ_ROUTING_ID, PEER_RID, strlen(PEER_RID)) != 0 ||
	    zmq_setsockopt(F.dealer, ZMQ_RCVTIMEO, &timeout, sizeof(timeout)) != 0 ||
	    zmq_setsockopt(F.dealer, ZMQ_LINGER, &zero, sizeof(zero)) != 0 ||
	    zmq_connect(F.dealer, F.cfg.endpoint) != 0)
		fail("cannot set up the DEALER socket");
	static const uint8_t health[] = {0x08, 0x01, 0x92, 0x01, 0x00}; /* id 1, health {} */
	if (zmq_send(F.dealer, health, sizeof(health), 0) != (int)sizeof(health))
		fail("cannot send the warm-up request");
	cki_timer_id t = cki_loop_timer(F.loop, REPLY_WAIT_MS, on_warmup_timeout, NULL);
	if (cki_loop_run(F.loop) != CK_OK || !F.warmed_up)
		fail("the warm-up request never reached the server");
	cki_loop_timer_cancel(F.loop, t);
	cki_response *r = recv_reply();
	if (r == NULL || r->id != 1 || r->status != CK_OK)
		fail("no warm-up reply");
	cachekit__agent__v1__response__free_unpacked(r, NULL);
	/* The connection outlives its path: remove the files now, so that a run killed by a
	 * signal or _exit() (libFuzzer's merge and timeouts) leaves nothing behind. */
	char p[300];
	snprintf(p, sizeof(p), "%s/a.sock", F.dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/a.sock.lock", F.dir);
	unlink(p);
	rmdir(F.dir);

	F.to.rid_len = (uint8_t)strlen(PEER_RID);
	memcpy(F.to.rid, PEER_RID, F.to.rid_len);
	F.self = (cki_peer){.known = true, .uid = getuid(), .gid = getgid(), .pid = getpid()};
	F.other = (cki_peer){.known = true, .uid = getuid(), .gid = getgid(), .pid = getppid()};
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	setup();
	return 0;
}

/* Splits data at the markers. frames[i] / lens[i] / other_peer[i]; returns the count. */
static size_t
split_frames(const uint8_t *data, size_t size, const uint8_t **frames, size_t *lens,
             bool *other_peer)
{
	size_t n = 0, start = 0;
	bool next_other = false;
	for (size_t i = 0; n < MAX_FRAMES - 1 && i + MARK_LEN <= size; i++) {
		bool is_next = memcmp(data + i, MARK_NEXT, MARK_LEN) == 0;
		bool is_peer = !is_next && memcmp(data + i, MARK_PEER, MARK_LEN) == 0;
		if (!is_next && !is_peer)
			continue;
		frames[n] = data + start;
		lens[n] = i - start;
		other_peer[n++] = next_other;
		next_other = is_peer;
		start = i + MARK_LEN;
		i += MARK_LEN - 1;
	}
	frames[n] = data + start;
	lens[n] = size - start;
	other_peer[n++] = next_other;
	return n;
}

/* Feeds one frame the way server.c's handle_frame() does; records what must come back. */
static void
feed_frame(cki_dispatch *d, const uint8_t *buf, size_t len, const cki_peer *peer, expect *e)
{
	/* The peeked id is what the server echoes when the frame does not decode; it must be
	 * computable for any bytes, and 0 unless the frame starts with field 1 as a varint.
	 * Replies here carry a serial id instead, so that they can be matched. */
	uint64_t peeked = cki_request_peek_id(buf, len);
	if ((len < 2 || buf[0] != 0x08) && peeked != 0)
		fail("cki_request_peek_id found an id where field 1 is absent");
	e->id = ++F.next_id;
	e->op = 0;
	if (len > F.cfg.max_value_bytes + 64 * 1024) {
		cki_server_reply_status(F.server, &F.to, e->id, CK_ETOOBIG, "oversized");
		return;
	}
	cki_request *req = cki_request_unpack(buf, len);
	if (req == NULL || req->op_case == CACHEKIT__AGENT__V1__REQUEST__OP__NOT_SET) {
		cki_server_reply_status(F.server, &F.to, e->id, CK_EPROTO, "malformed");
		cki_request_free(req);
		return;
	}
	req->id = e->id;
	e->op = (int)req->op_case;
	cki_dispatch_handle(d, &F.to, peer, req); /* takes ownership of req */
}

static void
check_reply(const cki_response *r, expect *ex, size_t n)
{
	expect *e = NULL;
	for (size_t i = 0; i < n; i++)
		if (ex[i].id == r->id && !ex[i].seen)
			e = &ex[i];
	if (e == NULL)
		fail("reply with an unexpected or repeated id");
	e->seen = true;
	if (ck_errname(r->status) == NULL)
		fail("reply status is not a cachekit error code");
	if (r->message == NULL)
		fail("reply without a message string");
	if (e->op == 0) {
		if (r->status != CK_EPROTO && r->status != CK_ETOOBIG)
			fail("undecodable frame not answered CK_EPROTO");
		return;
	}
	if (r->status != CK_OK) {
		if (r->result_case != CACHEKIT__AGENT__V1__RESPONSE__RESULT__NOT_SET)
			fail("failed reply carries a result");
		return;
	}
	/* Request op numbers and Response result numbers are the same oneof field numbers. */
	if ((int)r->result_case != e->op || r->get == NULL)
		fail("successful reply carries the wrong result for its operation");
	switch (r->result_case) {
	case CACHEKIT__AGENT__V1__RESPONSE__RESULT_GET:
		if (r->get->found && r->get->value.len > F.cfg.max_value_bytes)
			fail("get returned a value larger than the value cap");
		if (!r->get->found && r->get->value.len != 0)
			fail("get miss carries a value");
		break;
	case CACHEKIT__AGENT__V1__RESPONSE__RESULT_GET_TTL:
		if (r->get_ttl->found ? r->get_ttl->ttl_s < -1 : r->get_ttl->ttl_s != -1)
			fail("get_ttl returned an impossible ttl");
		break;
	case CACHEKIT__AGENT__V1__RESPONSE__RESULT_ACQUIRE_LOCK:
		if (r->acquire_lock->acquired && r->acquire_lock->handle.len != CKI_LOCK_HANDLE_LEN)
			fail("acquired lock without a full handle");
		if (!r->acquire_lock->acquired && r->acquire_lock->handle.len != 0)
			fail("lock not acquired but a handle was sent");
		break;
	case CACHEKIT__AGENT__V1__RESPONSE__RESULT_RELEASE_LOCK:
		if (!r->release_lock->released)
			fail("successful release that released nothing");
		break;
	case CACHEKIT__AGENT__V1__RESPONSE__RESULT_RENEW_LOCK:
		if (r->renew_lock->renewed ? r->renew_lock->lease_ms <= 0
		                           : r->renew_lock->lease_ms != 0)
			fail("renewal with an impossible lease");
		break;
	default:
		break;
	}
}

static void
stop_turn(cki_loop *loop, void *arg)
{
	cki_loop_stop(loop);
}

/* One turn of the loop: delivers what the store queued before it. */
static void
run_one_turn(void)
{
	if (cki_loop_timer(F.loop, 0, stop_turn, NULL) == 0 || cki_loop_run(F.loop) != CK_OK)
		fail("cannot run the loop");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *frames[MAX_FRAMES];
	size_t lens[MAX_FRAMES];
	bool other[MAX_FRAMES];
	expect ex[MAX_FRAMES];
	cki_store *store = NULL;
	cki_locks *locks = NULL;
	cki_refresh *refresh = NULL;
	cki_l1 *l1 = NULL;
	cki_flight *flight = NULL;
	cki_dispatch *d = NULL;
	/* As main.c sets it up. */
	cki_refresh_opts ro = {.ahead_pct = F.cfg.refresh_ahead_pct,
	                       .jitter_pct = 20,
	                       .claim_ms = F.cfg.refresh_claim_ms};

	cki_store *backend = NULL;
	if (cki_store_memory_new(&backend, F.loop, F.cfg.memory_limit_bytes) != CK_OK ||
	    cki_l1_new(&l1, F.cfg.l1_bytes, F.cfg.l1_ttl_ms) != CK_OK ||
	    cki_storefront_new(&store, backend, F.loop, l1) != CK_OK ||
	    cki_locks_new(&locks, F.loop, store) != CK_OK ||
	    cki_refresh_new(&refresh, F.loop, store, &ro) != CK_OK ||
	    cki_flight_new(&flight, store) != CK_OK)
		fail("cannot create the store or one of the dispatcher's helpers");
	cki_dispatch_deps deps = {.loop = F.loop,
	                          .cfg = &F.cfg,
	                          .store = store,
	                          .locks = locks,
	                          .refresh = refresh,
	                          .l1 = l1,
	                          .flight = flight,
	                          .keyring = F.keyring};
	if (cki_dispatch_new(&d, &deps) != CK_OK)
		fail("cki_dispatch_new");
	cki_dispatch_set_reply(d, cki_server_sink(F.server));

	size_t n = split_frames(data, size, frames, lens, other);
	memset(ex, 0, sizeof(ex));
	for (size_t i = 0; i < n; i++)
		feed_frame(d, frames[i], lens[i], other[i] ? &F.other : &F.self, &ex[i]);

	/* Lock waits sit on loop timers; shutting the table down answers them. The embedded
	 * store completes from the loop's next turn, so a few turns settle everything else. */
	cki_locks_shutdown(locks);
	for (int turn = 0;
	     turn < 64 && (cki_dispatch_inflight(d) != 0 || cki_locks_busy(locks) != 0); turn++)
		run_one_turn();
	if (cki_dispatch_inflight(d) != 0)
		fail("a request is still in flight after the lock table shut down");
	if (cki_locks_busy(locks) != 0)
		fail("lock operations pending with the embedded store");

	for (size_t i = 0; i < n; i++) {
		cki_response *r = recv_reply();
		if (r == NULL)
			fail("a request got no reply");
		check_reply(r, ex, n);
		cachekit__agent__v1__response__free_unpacked(r, NULL);
	}
	zmq_pollitem_t item = {F.dealer, 0, ZMQ_POLLIN, 0};
	if (zmq_poll(&item, 1, 0) > 0)
		fail("more replies than requests");
	if (cki_flight_count(flight) != 0)
		fail("single-flight Gets pending with the embedded store");
	/* The store goes before the tables that may still expect its callbacks. */
	store->ops->destroy(store);
	cki_l1_free(l1);
	cki_refresh_free(refresh);
	cki_flight_free(flight);
	cki_locks_free(locks);
	cki_dispatch_free(d);
	return 0;
}
