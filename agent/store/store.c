/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by every store backend. */
#include "store/store.h"

#include <string.h>

void
cki_store_reply_init(cki_store_reply *r)
{
	memset(r, 0, sizeof(*r));
	r->err = CK_OK;
	r->fresh_for_ms = -1;
	r->ttl_s = -1;
	r->latency_ms = -1;
}

void
cki_store_on_drop(cki_store *s, cki_store_drop_fn fn, void *arg)
{
	s->on_drop = fn;
	s->on_drop_arg = fn != NULL ? arg : NULL;
}
