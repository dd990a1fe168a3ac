/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One turn of the agent's loop, for unit tests of code that talks to a store: stores complete
 * from the loop (store/store.h), so a test that wants a store's answer runs a turn, and every
 * completion queued before it is delivered, in order.
 */
#ifndef CK_TEST_LOOP_TURN_H
#define CK_TEST_LOOP_TURN_H

#include <CUnit/CUnit.h>

#include "base/loop.h"

static void
ck_test_stop_loop(cki_loop *loop, void *arg)
{
	(void)arg;
	cki_loop_stop(loop);
}

static inline void
ck_test_turn(cki_loop *loop)
{
	CU_ASSERT_FATAL(cki_loop_timer(loop, 0, ck_test_stop_loop, NULL) != 0);
	CU_ASSERT_EQUAL(cki_loop_run(loop), CK_OK);
}

#endif
