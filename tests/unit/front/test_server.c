/* SPDX-License-Identifier: Apache-2.0 */
/* The ROUTER front door: peer credential parsing, request id peeking, the socket directory
 * and single-instance lock, and real round trips from a DEALER socket through the loop,
 * including the refusals (oversized, malformed, denied, draining) that never reach the
 * handler. */
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "cunit_main.h"
#include "base/log.h"
#include "base/metrics.h"
#include "front/server.h"

static int
suite_init(void)
{
	cki_log_set_level(CKI_LOG_ERROR);
	return 0;
}

/* ---- pure helpers ---------------------------------------------------------------------- */

static void
test_peer_parse_valid_forms(void)
{
	cki_peer p = {0};
	CU_ASSERT_TRUE(cki_peer_parse("localhost:0:0:8389", &p));
	CU_ASSERT_TRUE(p.known);
	CU_ASSERT_EQUAL(p.uid, 0);
	CU_ASSERT_EQUAL(p.gid, 0);
	CU_ASSERT_EQUAL(p.pid, 8389);
	memset(&p, 0, sizeof(p));
	/* libzmq's form for an ipc peer: an empty address, then ":uid:gid:pid". */
	CU_ASSERT_TRUE(cki_peer_parse(":1000:1000:42", &p));
	CU_ASSERT_EQUAL(p.uid, 1000);
	CU_ASSERT_EQUAL(p.gid, 1000);
	CU_ASSERT_EQUAL(p.pid, 42);
	/* Colons in the address part are fine: the last three fields count. */
	CU_ASSERT_TRUE(cki_peer_parse("a:b:c:5:6:7", &p));
	CU_ASSERT_EQUAL(p.uid, 5);
	CU_ASSERT_EQUAL(p.gid, 6);
	CU_ASSERT_EQUAL(p.pid, 7);
	CU_ASSERT_TRUE(cki_peer_parse("x:2147483647:0:1", &p));
	CU_ASSERT_EQUAL(p.uid, 2147483647);
}

static void
test_peer_parse_rejects_malformed(void)
{
	static const char *const bad[] = {
	        "",                           /* empty */
	        "1000:1000:42",               /* only two separators: no address part */
	        "x:1:2:",                     /* empty pid */
	        "x::2:3",                     /* empty uid */
	        "x:1::3",                     /* empty gid */
	        "x:-1:2:3",                   /* negative */
	        "x:1:2:-3",                   /* negative pid */
	        "x:+1:2:3",                   /* sign */
	        "x: 1:2:3",                   /* space */
	        "x:1:2:3a",                   /* trailing junk */
	        "x:1:2:99999999999999999999", /* overflow */
	        "x:2147483648:0:1",           /* above INT_MAX */
	        "nocolons",
	        ":::",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cki_peer p = {.known = false, .uid = 7, .gid = 7, .pid = 7};
		if (cki_peer_parse(bad[i], &p)) {
			fprintf(stderr, "\naccepted \"%s\"\n", bad[i]);
			CU_FAIL("malformed peer address accepted");
		}
		CU_ASSERT_FALSE(p.known); /* untouched on failure */
	}
	cki_peer p = {0};
	CU_ASSERT_FALSE(cki_peer_parse(NULL, &p));
}

static void
test_peek_id_reads_field_one(void)
{
	static const uint8_t one_byte[] = {0x08, 0x2a, 0x52, 0x00};
	CU_ASSERT_EQUAL(cki_request_peek_id(one_byte, sizeof(one_byte)), 42);
	static const uint8_t two_bytes[] = {0x08, 0xac, 0x02};
	CU_ASSERT_EQUAL(cki_request_peek_id(two_bytes, sizeof(two_bytes)), 300);
	/* The longest varint: 10 bytes. */
	static const uint8_t max[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff,
	                              0xff, 0xff, 0xff, 0xff, 0x01};
	CU_ASSERT_EQUAL(cki_request_peek_id(max, sizeof(max)), UINT64_MAX);
	/* A real encoded request. */
	cki_request req = CACHEKIT__AGENT__V1__REQUEST__INIT;
	Cachekit__Agent__V1__HealthRequest h = CACHEKIT__AGENT__V1__HEALTH_REQUEST__INIT;
	req.id = 123456789012ull;
	req.op_case = CACHEKIT__AGENT__V1__REQUEST__OP_HEALTH;
	req.health = &h;
	uint8_t buf[64];
	size_t n = cachekit__agent__v1__request__pack(&req, buf);
	CU_ASSERT_EQUAL(cki_request_peek_id(buf, n), 123456789012ull);
}

static void
test_peek_id_is_zero_when_absent_or_malformed(void)
{
	static const uint8_t other_field[] = {0x10, 0x05};
	CU_ASSERT_EQUAL(cki_request_peek_id(other_field, sizeof(other_field)), 0);
	static const uint8_t truncated[] = {0x08, 0x80, 0x80};
	CU_ASSERT_EQUAL(cki_request_peek_id(truncated, sizeof(truncated)), 0);
	static const uint8_t eleven[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff,
	                                 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
	CU_ASSERT_EQUAL(cki_request_peek_id(eleven, sizeof(eleven)), 0);
	static const uint8_t tag_only[] = {0x08};
	CU_ASSERT_EQUAL(cki_request_peek_id(tag_only, sizeof(tag_only)), 0);
	CU_ASSERT_EQUAL(cki_request_peek_id(NULL, 0), 0);
	static const uint8_t wrong_type[] = {0x09, 0x2a}; /* field 1 as fixed64 */
	CU_ASSERT_EQUAL(cki_request_peek_id(wrong_type, sizeof(wrong_type)), 0);
}

static void
test_endpoint_path(void)
{
	CU_ASSERT_STRING_EQUAL(cki_endpoint_path("ipc:///run/cachekit/agent.sock"),
	                       "/run/cachekit/agent.sock");
	CU_ASSERT_STRING_EQUAL(cki_endpoint_path("ipc://rel.sock"), "rel.sock");
	CU_ASSERT_STRING_EQUAL(cki_endpoint_path("tcp://127.0.0.1:1"), "tcp://127.0.0.1:1");
}

/* ---- a server on a temp endpoint ---------------------------------------------------------- */

typedef struct fixture {
	char dir[64];     /* mkdtemp */
	char sockdir[96]; /* created by the server */
	char sock[128];
	char endpoint[140];
	cki_config cfg;
	cki_loop *loop;
	cki_server *srv;
	void *zctx, *dealer;
	/* what the handler saw */
	int handled;
	cki_peer peer;
	uint64_t handled_id;
	/* what the dealer got */
	cki_response *resp;
	bool timed_out;
} fixture;

static void
on_request(void *arg, const cki_reply_to *to, const cki_peer *peer, cki_request *req)
{
	fixture *f = arg;
	f->handled++;
	f->peer = *peer;
	f->handled_id = req->id;
	cki_server_reply_status(f->srv, to, req->id, CK_OK, "handled");
	cki_request_free(req);
}

static void
on_dealer(cki_loop *loop, int fd, unsigned ev, void *arg)
{
	fixture *f = arg;
	for (;;) {
		zmq_msg_t msg;
		zmq_msg_init(&msg);
		if (zmq_msg_recv(&msg, f->dealer, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&msg);
			return;
		}
		cachekit__agent__v1__response__free_unpacked(f->resp, NULL);
		f->resp = cachekit__agent__v1__response__unpack(NULL, zmq_msg_size(&msg),
		                                                zmq_msg_data(&msg));
		zmq_msg_close(&msg);
		cki_loop_stop(loop);
	}
}

static void
on_timeout(cki_loop *loop, void *arg)
{
	fixture *f = arg;
	f->timed_out = true;
	cki_loop_stop(loop);
}

static void
fixture_init(fixture *f)
{
	memset(f, 0, sizeof(*f));
	ck_tmp_template(f->dir, sizeof(f->dir), "ck-srv");
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(f->dir));
	snprintf(f->sockdir, sizeof(f->sockdir), "%s/run", f->dir);
	snprintf(f->sock, sizeof(f->sock), "%s/agent.sock", f->sockdir);
	snprintf(f->endpoint, sizeof(f->endpoint), "ipc://%s", f->sock);
	CU_ASSERT_EQUAL_FATAL(cki_config_defaults(&f->cfg), CK_OK);
	free(f->cfg.endpoint);
	f->cfg.endpoint = strdup(f->endpoint);
	CU_ASSERT_EQUAL_FATAL(cki_loop_new(&f->loop), CK_OK);
}

/* Starts the server and a connected DEALER. */
static void
fixture_start(fixture *f)
{
	char why[256] = "";
	CU_ASSERT_EQUAL_FATAL(cki_config_policy(&f->cfg, stderr), CK_OK); /* typed allow lists */
	ck_err rv = cki_server_new(&f->srv, f->loop, &f->cfg, on_request, f, why, sizeof(why));
	if (rv != CK_OK)
		fprintf(stderr, "\ncki_server_new: %s\n", why);
	CU_ASSERT_EQUAL_FATAL(rv, CK_OK);
	f->zctx = zmq_ctx_new();
	f->dealer = zmq_socket(f->zctx, ZMQ_DEALER);
	CU_ASSERT_EQUAL_FATAL(zmq_connect(f->dealer, f->endpoint), 0);
	CU_ASSERT_EQUAL_FATAL(cki_loop_watch_zsock(f->loop, f->dealer, on_dealer, f), CK_OK);
}

static void
fixture_done(fixture *f)
{
	if (f->dealer != NULL) {
		cki_loop_unwatch_zsock(f->loop, f->dealer);
		int linger = 0;
		zmq_setsockopt(f->dealer, ZMQ_LINGER, &linger, sizeof(linger));
		zmq_close(f->dealer);
		zmq_ctx_term(f->zctx);
	}
	cki_server_free(f->srv, 0);
	cachekit__agent__v1__response__free_unpacked(f->resp, NULL);
	cki_loop_free(f->loop);
	cki_config_free(&f->cfg);
	rmdir(f->sockdir);
	rmdir(f->dir);
}

/* Sends one frame and runs the loop until the reply (or 5 s). */
static const cki_response *
roundtrip_bytes(fixture *f, const void *buf, size_t len)
{
	cachekit__agent__v1__response__free_unpacked(f->resp, NULL);
	f->resp = NULL;
	f->timed_out = false;
	CU_ASSERT_EQUAL_FATAL(zmq_send(f->dealer, buf, len, 0), (int)len);
	cki_timer_id t = cki_loop_timer(f->loop, 5000, on_timeout, f);
	CU_ASSERT_EQUAL(cki_loop_run(f->loop), CK_OK);
	cki_loop_timer_cancel(f->loop, t);
	CU_ASSERT_FALSE(f->timed_out);
	return f->resp;
}

static const cki_response *
roundtrip(fixture *f, const cki_request *req)
{
	size_t n = cachekit__agent__v1__request__get_packed_size(req);
	uint8_t *buf = malloc(n ? n : 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
	cachekit__agent__v1__request__pack(req, buf);
	const cki_response *r = roundtrip_bytes(f, buf, n);
	free(buf);
	return r;
}

/* A Health request with the given id (static storage: valid until the next call). */
static const cki_request *
health_request(uint64_t id)
{
	static cki_request req;
	static Cachekit__Agent__V1__HealthRequest h;
	cachekit__agent__v1__request__init(&req);
	cachekit__agent__v1__health_request__init(&h);
	req.id = id;
	req.op_case = CACHEKIT__AGENT__V1__REQUEST__OP_HEALTH;
	req.health = &h;
	return &req;
}

static void
test_new_creates_private_directory_socket_and_lock(void)
{
	fixture f;
	fixture_init(&f);
	fixture_start(&f);
	struct stat st;
	CU_ASSERT_EQUAL_FATAL(stat(f.sockdir, &st), 0);
	CU_ASSERT_TRUE(S_ISDIR(st.st_mode));
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0700);
	CU_ASSERT_EQUAL_FATAL(stat(f.sock, &st), 0);
	CU_ASSERT_TRUE(S_ISSOCK(st.st_mode));
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0660);
	char lock[160];
	snprintf(lock, sizeof(lock), "%s.lock", f.sock);
	char *text = ck_read_file(lock, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	char expect[32];
	snprintf(expect, sizeof(expect), "%d\n", (int)getpid());
	CU_ASSERT_STRING_EQUAL(text, expect);
	free(text);
	/* Freeing removes the socket and the lock file. */
	cki_server_free(f.srv, 0);
	f.srv = NULL;
	CU_ASSERT_NOT_EQUAL(stat(f.sock, &st), 0);
	CU_ASSERT_NOT_EQUAL(stat(lock, &st), 0);
	fixture_done(&f);
}

static void
test_second_server_is_refused_and_leaves_the_first_alone(void)
{
	fixture f;
	fixture_init(&f);
	fixture_start(&f);
	cki_server *second = NULL;
	char why[512] = "";
	CU_ASSERT_EQUAL(cki_server_new(&second, f.loop, &f.cfg, on_request, &f, why, sizeof(why)),
	                CK_EBUSYAGENT);
	CU_ASSERT_PTR_NULL(second);
	char pid[32];
	snprintf(pid, sizeof(pid), "(pid %d)", (int)getpid());
	CU_ASSERT_PTR_NOT_NULL(strstr(why, pid));
	CU_ASSERT_PTR_NOT_NULL(strstr(why, f.sock));
	struct stat st;
	CU_ASSERT_EQUAL(stat(f.sock, &st), 0);
	/* ...and the first still serves. */
	const cki_response *r = roundtrip(&f, health_request(5));
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_EQUAL(r->id, 5);
	CU_ASSERT_EQUAL(f.handled, 1);
	/* Once the first is gone, a new server may take the endpoint. */
	cki_server_free(f.srv, 0);
	f.srv = NULL;
	CU_ASSERT_EQUAL(cki_server_new(&second, f.loop, &f.cfg, on_request, &f, why, sizeof(why)),
	                CK_OK);
	cki_server_free(second, 0);
	fixture_done(&f);
}

static void
test_bad_socket_group_is_a_config_error(void)
{
	fixture f;
	fixture_init(&f);
	f.cfg.socket_group = strdup("ck-no-such-group-xyz");
	cki_server *s = NULL;
	char why[256] = "";
	CU_ASSERT_EQUAL(cki_server_new(&s, f.loop, &f.cfg, on_request, &f, why, sizeof(why)),
	                CK_ECONFIG);
	CU_ASSERT_PTR_NULL(s);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "ck-no-such-group-xyz"));
	fixture_done(&f);
}

/* The allow lists are typed when the configuration loads (cki_config_policy), so a bad one
 * stops the agent before the server exists. */
static void
test_bad_allow_list_is_a_config_error(void)
{
	fixture f;
	fixture_init(&f);
	char *msg = NULL;
	size_t msg_len = 0;
	FILE *err = open_memstream(&msg, &msg_len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(err);
	f.cfg.allow_uids = strdup("1000,ck-no-such-user-xyz");
	CU_ASSERT_EQUAL(cki_config_policy(&f.cfg, err), CK_ECONFIG);
	fflush(err);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "allow-uids"));
	free(f.cfg.allow_uids);
	f.cfg.allow_uids = NULL;
	f.cfg.allow_gids = strdup("5;6");
	CU_ASSERT_EQUAL(cki_config_policy(&f.cfg, err), CK_ECONFIG);
	free(f.cfg.allow_gids);
	/* More than 64 entries. */
	char many[512] = "";
	for (int i = 0; i < 65; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many), "%d,", i);
	f.cfg.allow_gids = strdup(many);
	CU_ASSERT_EQUAL(cki_config_policy(&f.cfg, err), CK_ECONFIG);
	fclose(err);
	free(msg);
	fixture_done(&f);
}

static void
test_round_trip_reaches_handler_with_kernel_credentials(void)
{
	fixture f;
	fixture_init(&f);
	fixture_start(&f);
	cki_metrics_reset();
	const cki_response *r = roundtrip(&f, health_request(0xfeedbeefull));
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_EQUAL(r->id, 0xfeedbeefull);
	CU_ASSERT_EQUAL(r->status, CK_OK);
	CU_ASSERT_STRING_EQUAL(r->message, "handled");
	CU_ASSERT_EQUAL(f.handled, 1);
	CU_ASSERT_EQUAL(f.handled_id, 0xfeedbeefull);
	CU_ASSERT_TRUE(f.peer.known);
	CU_ASSERT_EQUAL(f.peer.pid, getpid());
	CU_ASSERT_EQUAL(f.peer.uid, getuid());
	CU_ASSERT_EQUAL(f.peer.gid, getgid());
	CU_ASSERT_EQUAL(cki_metrics_get(CKI_C_REQUESTS), 1);
	/* Pipelined requests each get their own id back. */
	r = roundtrip(&f, health_request(2));
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_EQUAL(r->id, 2);
	CU_ASSERT_EQUAL(f.handled, 2);
	fixture_done(&f);
}

static void
test_oversized_frame_is_refused_before_the_handler(void)
{
	fixture f;
	fixture_init(&f);
	f.cfg.max_value_bytes = 1000; /* frame cap: 1000 + 64 KiB of framing */
	fixture_start(&f);
	cki_metrics_reset();
	cki_request req = CACHEKIT__AGENT__V1__REQUEST__INIT;
	Cachekit__Agent__V1__SetRequest set = CACHEKIT__AGENT__V1__SET_REQUEST__INIT;
	static uint8_t big[100 * 1024];
	memset(big, 'v', sizeof(big));
	req.id = 77;
	req.op_case = CACHEKIT__AGENT__V1__REQUEST__OP_SET;
	req.set = &set;
	set.key = "k";
	set.value.data = big;
	set.value.len = sizeof(big);
	const cki_response *r = roundtrip(&f, &req);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_EQUAL(r->id, 77);
	CU_ASSERT_EQUAL(r->status, CK_ETOOBIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(r->message, "exceeds"));
	CU_ASSERT_EQUAL(f.handled, 0);
	CU_ASSERT_EQUAL(cki_metrics_get(CKI_C_OVERSIZED), 1);
	/* A frame within the cap still goes through. */
	set.value.len = 1000;
	r = roundtrip(&f, &req);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_EQUAL(r->status, CK_OK);
	CU_ASSERT_EQUAL(f.handled, 1);
	fixture_done(&f);
}

static void
test_garbage_is_a_protocol_error(void)
{
	fixture f;
	fixture_init(&f);
	fixture_start(&f);
	cki_metrics_reset();
	static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff};
	const cki_response *r = roundtrip_bytes(&f, junk, sizeof(junk));
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_EQUAL(r->status, CK_EPROTO);
	CU_ASSERT_EQUAL(r->id, 0);
	/* A readable id comes back even when the rest is junk. */
	static const uint8_t id_then_junk[] = {0x08, 0x07, 0xff, 0xff, 0xff};
	r = roundtrip_bytes(&f, id_then_junk, sizeof(id_then_junk));
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_EQUAL(r->status, CK_EPROTO);
	CU_ASSERT_EQUAL(r->id, 7);
	/* A well-formed request that names no operation. */
	cki_request req = CACHEKIT__AGENT__V1__REQUEST__INIT;
	req.id = 9;
	r = roundtrip(&f, &req);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_EQUAL(r->status, CK_EPROTO);
	CU_ASSERT_EQUAL(r->id, 9);
	CU_ASSERT_PTR_NOT_NULL(strstr(r->message, "no operation"));
	CU_ASSERT_EQUAL(f.handled, 0);
	CU_ASSERT_EQUAL(cki_metrics_get(CKI_C_MALFORMED), 3);
	fixture_done(&f);
}

static void
test_multipart_message_is_refused(void)
{
	fixture f;
	fixture_init(&f);
	fixture_start(&f);
	static const uint8_t part1[] = {0x08, 0x0b};
	CU_ASSERT_EQUAL(zmq_send(f.dealer, part1, sizeof(part1), ZMQ_SNDMORE), 2);
	const cki_response *r = roundtrip_bytes(&f, "tail", 4);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_EQUAL(r->status, CK_EPROTO);
	CU_ASSERT_EQUAL(r->id, 11);
	CU_ASSERT_EQUAL(f.handled, 0);
	fixture_done(&f);
}

static void
test_allow_lists_deny_other_users(void)
{
	fixture f;
	fixture_init(&f);
	char list[64];
	snprintf(list, sizeof(list), "%u, %u", (unsigned)getuid() + 1, (unsigned)getuid() + 2);
	f.cfg.allow_uids = strdup(list);
	fixture_start(&f);
	cki_metrics_reset();
	const cki_response *r = roundtrip(&f, health_request(31));
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_EQUAL(r->status, CK_EDENIED);
	CU_ASSERT_EQUAL(r->id, 31);
	CU_ASSERT_EQUAL(f.handled, 0);
	CU_ASSERT_EQUAL(cki_metrics_get(CKI_C_DENIED), 1);
	fixture_done(&f);

	/* Our gid in allow-gids lets us in even though allow-uids does not list us. */
	fixture_init(&f);
	f.cfg.allow_uids = strdup(list);
	snprintf(list, sizeof(list), "%u", (unsigned)getgid());
	f.cfg.allow_gids = strdup(list);
	fixture_start(&f);
	r = roundtrip(&f, health_request(32));
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_EQUAL(r->status, CK_OK);
	CU_ASSERT_EQUAL(f.handled, 1);
	fixture_done(&f);

	/* Our own uid listed. */
	fixture_init(&f);
	snprintf(list, sizeof(list), "1,%u", (unsigned)getuid());
	f.cfg.allow_uids = strdup(list);
	fixture_start(&f);
	r = roundtrip(&f, health_request(33));
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_EQUAL(r->status, CK_OK);
	fixture_done(&f);
}

static void
test_draining_answers_shutdown(void)
{
	fixture f;
	fixture_init(&f);
	fixture_start(&f);
	cki_server_set_draining(f.srv, true);
	const cki_response *r = roundtrip(&f, health_request(41));
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_EQUAL(r->status, CK_ESHUTDOWN);
	CU_ASSERT_EQUAL(r->id, 41);
	CU_ASSERT_EQUAL(f.handled, 0);
	cki_server_set_draining(f.srv, false);
	r = roundtrip(&f, health_request(42));
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_EQUAL(r->status, CK_OK);
	CU_ASSERT_EQUAL(f.handled, 1);
	fixture_done(&f);
}

static CU_TestInfo tests[] = {
        {"peer_parse accepts uid:gid:pid after an address", test_peer_parse_valid_forms},
        {"peer_parse rejects malformed addresses", test_peer_parse_rejects_malformed},
        {"peek_id reads field 1", test_peek_id_reads_field_one},
        {"peek_id is 0 when absent or malformed", test_peek_id_is_zero_when_absent_or_malformed},
        {"endpoint_path strips ipc://", test_endpoint_path},
        {"new creates a private directory, the socket and a lock file",
         test_new_creates_private_directory_socket_and_lock},
        {"a second server is refused and leaves the first alone",
         test_second_server_is_refused_and_leaves_the_first_alone},
        {"a bad socket group is a config error", test_bad_socket_group_is_a_config_error},
        {"a bad allow list is a config error", test_bad_allow_list_is_a_config_error},
        {"a round trip reaches the handler with kernel credentials",
         test_round_trip_reaches_handler_with_kernel_credentials},
        {"an oversized frame is refused before the handler",
         test_oversized_frame_is_refused_before_the_handler},
        {"garbage is a protocol error", test_garbage_is_a_protocol_error},
        {"a multi-part message is refused", test_multipart_message_is_refused},
        {"allow lists deny other users", test_allow_lists_deny_other_users},
        {"draining answers shutdown", test_draining_answers_shutdown},
        CU_TEST_INFO_NULL,
};

CK_UNIT_SUITE_FULL("server", tests, suite_init, NULL)
