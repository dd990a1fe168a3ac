/* SPDX-License-Identifier: Apache-2.0 */
/* Replies a store knows at once, delivered from the loop in order (see completion.h). */
#include "store/completion.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"

struct cki_completion {
	cki_completion *next;
	cki_store_cb cb;
	void *arg;
	cki_store_reply reply; /* pointers into bytes[] below */
	uint8_t bytes[];
};

void
cki_completions_init(cki_completions *q, cki_loop *loop)
{
	memset(q, 0, sizeof(*q));
	q->loop = loop;
}

static size_t
str_size(const char *s)
{
	return s != NULL ? strlen(s) + 1 : 0;
}

/* Copies s into *at and returns the copy (NULL for NULL). */
static const char *
put_str(uint8_t **at, const char *s)
{
	if (s == NULL)
		return NULL;
	size_t n = strlen(s) + 1;
	memcpy(*at, s, n);
	const char *copy = (const char *)*at;
	*at += n;
	return copy;
}

static cki_completion *
copy_reply(cki_store_cb cb, void *arg, const cki_store_reply *r)
{
	size_t value = r->value != NULL ? r->value_len : 0;
	size_t strs = str_size(r->message) + str_size(r->lock_id) + str_size(r->version) +
	              str_size(r->error_type);
	if (value > SIZE_MAX - sizeof(cki_completion) - strs)
		return NULL;
	cki_completion *c = malloc(sizeof(*c) + value + strs);
	if (c == NULL)
		return NULL;
	c->next = NULL;
	c->cb = cb;
	c->arg = arg;
	c->reply = *r;
	uint8_t *at = c->bytes;
	if (r->value != NULL) {
		memcpy(at, r->value, value);
		c->reply.value = at;
		at += value;
	}
	c->reply.message = put_str(&at, r->message);
	c->reply.lock_id = put_str(&at, r->lock_id);
	c->reply.version = put_str(&at, r->version);
	c->reply.error_type = put_str(&at, r->error_type);
	return c;
}

/* Delivers the replies queued before this turn; later posts wait for their own turn. */
static void
deliver(cki_loop *loop, void *arg)
{
	cki_completions *q = arg;
	q->timer = 0;
	cki_completion *c = q->head;
	q->head = q->tail = NULL;
	q->queued = 0;
	while (c != NULL) {
		cki_completion *next = c->next;
		c->cb(c->arg, &c->reply);
		free(c);
		c = next;
	}
}

void
cki_completions_post(cki_completions *q, cki_store_cb cb, void *arg, const cki_store_reply *r)
{
	if (cb == NULL)
		return;
	cki_completion *c = copy_reply(cb, arg, r);
	if (c == NULL) {
		/* No room for the copy: the answer is lost, so say so (never a wrong value). */
		cki_store_reply oom;
		cki_store_reply_init(&oom);
		oom.err = CK_ENOMEM;
		oom.message = "agent out of memory";
		c = copy_reply(cb, arg, &oom);
		if (c == NULL) {
			cki_log_error("store: out of memory queueing a reply; answering inline");
			cb(arg, &oom);
			return;
		}
	}
	if (q->tail != NULL)
		q->tail->next = c;
	else
		q->head = c;
	q->tail = c;
	q->queued++;
	if (q->timer == 0) {
		q->timer = cki_loop_timer(q->loop, 0, deliver, q);
		if (q->timer == 0) {
			cki_log_error(
			        "store: cannot schedule a reply on the loop; answering inline");
			cki_completions_flush(q);
		}
	}
}

void
cki_completions_flush(cki_completions *q)
{
	if (q->timer != 0)
		cki_loop_timer_cancel(q->loop, q->timer);
	deliver(q->loop, q);
}
