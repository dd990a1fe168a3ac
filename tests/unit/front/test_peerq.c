/* SPDX-License-Identifier: Apache-2.0 */
/* Per-client reply queues: charges come back on release, a client whose connection closed
 * leaves the table at once and its entry is freed with its last queued reply, an idle entry
 * can be forgotten, and big buffers (pages of their own) are usable and released, and kept for
 * the next big reply within a fixed bound. The release
 * here runs on the test thread; in the agent libzmq's I/O thread calls it. */
#include <string.h>

#include "cunit_main.h"
#include "front/peerq.h"

static const uint8_t RID_A[] = {0, 1, 2, 3, 4};
static const uint8_t RID_B[] = {0, 1, 2, 3, 5};

static void
test_charges_come_back_on_release(void)
{
	cki_peerq *pq = NULL;
	CU_ASSERT_EQUAL_FATAL(cki_peerq_new(&pq), CK_OK);
	cki_peer_queue *q = cki_peerq_find(pq, RID_A, sizeof(RID_A));
	CU_ASSERT_PTR_NOT_NULL_FATAL(q);
	CU_ASSERT_PTR_EQUAL(cki_peerq_find(pq, RID_A, sizeof(RID_A)), q);
	void *h1 = NULL, *h2 = NULL;
	uint8_t *b1 = cki_peerq_alloc(pq, q, 100, &h1);
	uint8_t *b2 = cki_peerq_alloc(pq, q, 1 << 20, &h2); /* pages of its own */
	CU_ASSERT_PTR_NOT_NULL_FATAL(b1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b2);
	memset(b1, 1, 100);
	memset(b2, 2, 1 << 20);
	uint64_t want = 100 + (1 << 20) + 2 * CKI_PEERQ_MSG_OVERHEAD;
	CU_ASSERT_EQUAL(cki_peerq_queued(q), want);
	CU_ASSERT_EQUAL(cki_peerq_total(pq), want);
	cki_peerq_release(b2, h2);
	CU_ASSERT_EQUAL(cki_peerq_queued(q), 100 + CKI_PEERQ_MSG_OVERHEAD);
	cki_peerq_release(b1, h1);
	CU_ASSERT_EQUAL(cki_peerq_queued(q), 0);
	CU_ASSERT_EQUAL(cki_peerq_total(pq), 0);
	CU_ASSERT_EQUAL(cki_peerq_entries(pq), 1);
	cki_peerq_free(pq);
}

static void
test_a_closed_connection_is_forgotten_after_its_last_reply(void)
{
	cki_peerq *pq = NULL;
	CU_ASSERT_EQUAL_FATAL(cki_peerq_new(&pq), CK_OK);
	cki_peer_queue *a = cki_peerq_find(pq, RID_A, sizeof(RID_A));
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	cki_peerq_set_fd(a, 7);
	cki_peer_queue *b = cki_peerq_find(pq, RID_B, sizeof(RID_B));
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	cki_peerq_set_fd(b, 8);
	void *h = NULL;
	uint8_t *buf = cki_peerq_alloc(pq, a, 5000, &h);
	CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
	CU_ASSERT_EQUAL(cki_peerq_entries(pq), 2);
	/* fd 9 is nobody's; fd 7 is a's, which still has a reply queued. */
	CU_ASSERT_EQUAL(cki_peerq_gone(pq, 9), 0);
	CU_ASSERT_EQUAL(cki_peerq_gone(pq, 7), 1);
	CU_ASSERT_EQUAL(cki_peerq_entries(pq), 2); /* kept alive by its reply */
	CU_ASSERT_EQUAL(cki_peerq_total(pq), 5000 + CKI_PEERQ_MSG_OVERHEAD);
	/* A message from that routing id now would make a fresh entry, not find the old one. */
	cki_peer_queue *again = cki_peerq_find(pq, RID_A, sizeof(RID_A));
	CU_ASSERT_PTR_NOT_NULL_FATAL(again);
	CU_ASSERT_EQUAL(cki_peerq_queued(again), 0);
	CU_ASSERT_EQUAL(cki_peerq_entries(pq), 3);
	cki_peerq_forget(pq, RID_A, sizeof(RID_A));
	CU_ASSERT_EQUAL(cki_peerq_entries(pq), 2);
	/* libzmq drops the reply of the client that left: the last reference frees it. */
	cki_peerq_release(buf, h);
	CU_ASSERT_EQUAL(cki_peerq_total(pq), 0);
	CU_ASSERT_EQUAL(cki_peerq_entries(pq), 1);
	/* An idle entry whose connection closes goes at once. */
	CU_ASSERT_EQUAL(cki_peerq_gone(pq, 8), 1);
	CU_ASSERT_EQUAL(cki_peerq_entries(pq), 0);
	cki_peerq_free(pq);
}

static void
test_forget_keeps_an_entry_with_queued_replies(void)
{
	cki_peerq *pq = NULL;
	CU_ASSERT_EQUAL_FATAL(cki_peerq_new(&pq), CK_OK);
	cki_peer_queue *a = cki_peerq_find(pq, RID_A, sizeof(RID_A));
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	void *h = NULL;
	uint8_t *buf = cki_peerq_alloc(pq, a, 10, &h);
	CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
	cki_peerq_forget(pq, RID_A, sizeof(RID_A));
	CU_ASSERT_PTR_EQUAL(cki_peerq_find(pq, RID_A, sizeof(RID_A)), a);
	CU_ASSERT_EQUAL(cki_peerq_queued(a), 10 + CKI_PEERQ_MSG_OVERHEAD);
	cki_peerq_release(buf, h);
	cki_peerq_forget(pq, RID_A, sizeof(RID_A));
	CU_ASSERT_EQUAL(cki_peerq_entries(pq), 0);
	cki_peerq_free(pq);
}

static void
test_credentials_are_kept_per_connection(void)
{
	cki_peerq *pq = NULL;
	CU_ASSERT_EQUAL_FATAL(cki_peerq_new(&pq), CK_OK);
	cki_peer_queue *a = cki_peerq_find(pq, RID_A, sizeof(RID_A));
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	cki_peer got = {0};
	CU_ASSERT_FALSE(cki_peerq_cred_get(a, 7, &got)); /* nothing read yet */
	cki_peer unknown = {0};
	cki_peerq_cred_set(a, 7, &unknown); /* no credentials: not kept, read again next time */
	CU_ASSERT_FALSE(cki_peerq_cred_get(a, 7, &got));
	cki_peer cred = {.known = true, .uid = 1001, .gid = 1002, .pid = 4242};
	cki_peerq_cred_set(a, -1, &cred); /* no connection known: not kept */
	CU_ASSERT_FALSE(cki_peerq_cred_get(a, -1, &got));
	cki_peerq_cred_set(a, 7, &cred);
	CU_ASSERT_TRUE_FATAL(cki_peerq_cred_get(a, 7, &got));
	CU_ASSERT_TRUE(got.known);
	CU_ASSERT_EQUAL(got.uid, 1001);
	CU_ASSERT_EQUAL(got.gid, 1002);
	CU_ASSERT_EQUAL(got.pid, 4242);
	/* The same routing id on another connection is another peer until read again. */
	CU_ASSERT_FALSE(cki_peerq_cred_get(a, 8, &got));
	cki_peerq_free(pq);
}

static void
test_an_entry_that_left_is_not_found_again(void)
{
	cki_peerq *pq = NULL;
	CU_ASSERT_EQUAL_FATAL(cki_peerq_new(&pq), CK_OK);
	cki_peer_queue *a = cki_peerq_find(pq, RID_A, sizeof(RID_A));
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	cki_peer cred = {.known = true, .uid = 1, .gid = 2, .pid = 3};
	cki_peerq_set_fd(a, 7);
	cki_peerq_cred_set(a, 7, &cred);
	CU_ASSERT_PTR_EQUAL(cki_peerq_find(pq, RID_A, sizeof(RID_A)), a); /* the last one found */
	CU_ASSERT_EQUAL(cki_peerq_gone(pq, 7), 1);
	CU_ASSERT_EQUAL(cki_peerq_entries(pq), 0);
	/* A new entry with no credentials, not the freed one (ASan would see the old one). */
	cki_peer_queue *again = cki_peerq_find(pq, RID_A, sizeof(RID_A));
	CU_ASSERT_PTR_NOT_NULL_FATAL(again);
	cki_peer got = {0};
	CU_ASSERT_FALSE(cki_peerq_cred_get(again, 7, &got));
	CU_ASSERT_EQUAL(cki_peerq_entries(pq), 1);
	cki_peerq_forget(pq, RID_A, sizeof(RID_A));
	CU_ASSERT_EQUAL(cki_peerq_entries(pq), 0);
	cki_peer_queue *third = cki_peerq_find(pq, RID_A, sizeof(RID_A));
	CU_ASSERT_PTR_NOT_NULL_FATAL(third);
	CU_ASSERT_FALSE(cki_peerq_cred_get(third, 7, &got));
	CU_ASSERT_EQUAL(cki_peerq_entries(pq), 1);
	cki_peerq_free(pq);
}

static void
test_big_buffers_are_kept_for_reuse_within_a_bound(void)
{
	cki_peerq *pq = NULL;
	CU_ASSERT_EQUAL_FATAL(cki_peerq_new(&pq), CK_OK);
	void *h = NULL, *h2 = NULL;
	uint8_t *b = cki_peerq_alloc(pq, NULL, 400 * 1024, &h);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	memset(b, 1, 400 * 1024);
	CU_ASSERT_EQUAL(cki_peerq_spare_bytes(pq), 0);
	cki_peerq_release(b, h);
	uint64_t kept = cki_peerq_spare_bytes(pq);
	CU_ASSERT(kept >= 400 * 1024);
	/* A much smaller big reply does not take it: a new mapping, and the spare stays. */
	b = cki_peerq_alloc(pq, NULL, 100 * 1024, &h);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	CU_ASSERT_EQUAL(cki_peerq_spare_bytes(pq), kept);
	/* One of about the same size does, and is writable whole. */
	uint8_t *b2 = cki_peerq_alloc(pq, NULL, 410 * 1024, &h2);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b2);
	CU_ASSERT_EQUAL(cki_peerq_spare_bytes(pq), 0);
	memset(b2, 2, 410 * 1024);
	cki_peerq_release(b2, h2);
	cki_peerq_release(b, h);
	CU_ASSERT(cki_peerq_spare_bytes(pq) > kept);
	/* Many released at once: what is kept stays within the bound; the rest is unmapped. */
	enum { MANY = CKI_PEERQ_SPARE_SLOTS + 4 };
	uint8_t *bufs[MANY];
	void *hints[MANY];
	for (int i = 0; i < MANY; i++) {
		bufs[i] = cki_peerq_alloc(pq, NULL, 1 << 20, &hints[i]);
		CU_ASSERT_PTR_NOT_NULL_FATAL(bufs[i]);
		bufs[i][(1 << 20) - 1] = (uint8_t)i;
	}
	for (int i = 0; i < MANY; i++)
		cki_peerq_release(bufs[i], hints[i]);
	CU_ASSERT(cki_peerq_spare_bytes(pq) > 0);
	CU_ASSERT(cki_peerq_spare_bytes(pq) <= CKI_PEERQ_SPARE_BYTES);
	/* Larger than the whole bound: never kept. */
	uint64_t before = cki_peerq_spare_bytes(pq);
	b = cki_peerq_alloc(pq, NULL, CKI_PEERQ_SPARE_BYTES + 1, &h);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	cki_peerq_release(b, h);
	CU_ASSERT_EQUAL(cki_peerq_spare_bytes(pq), before);
	CU_ASSERT_EQUAL(cki_peerq_total(pq), 0);
	cki_peerq_free(pq); /* unmaps the spares (ASan/valgrind would see a leak otherwise) */
}

static CU_TestInfo tests[] = {
        {"big buffers are kept for reuse within a bound",
         test_big_buffers_are_kept_for_reuse_within_a_bound},
        {"credentials are kept per connection", test_credentials_are_kept_per_connection},
        {"an entry that left is not found again", test_an_entry_that_left_is_not_found_again},
        {"charges come back on release", test_charges_come_back_on_release},
        {"a closed connection is forgotten after its last reply",
         test_a_closed_connection_is_forgotten_after_its_last_reply},
        {"forget keeps an entry with queued replies",
         test_forget_keeps_an_entry_with_queued_replies},
        CU_TEST_INFO_NULL,
};
CK_UNIT_SUITE("peerq", tests)
