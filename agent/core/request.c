/* SPDX-License-Identifier: Apache-2.0 */
/* Reply helpers shared by the front and the core (see request.h). */
#include "core/request.h"

#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "base/metrics.h"

/* A request's arena: the frame's length plus room for the message structs, then (rarely, e.g.
 * a batch of many short keys) more chunks, each at least twice the last. Freed as a whole. */
typedef struct chunk {
	struct chunk *next;
	size_t used, cap;
	alignas(max_align_t) unsigned char data[];
} chunk;

typedef struct arena {
	ProtobufCAllocator pa;
	chunk *more; /* newest first */
	size_t used, cap;
	alignas(max_align_t) unsigned char data[]; /* the Request itself comes first */
} arena;

#define ALIGN_UP(n) (((n) + alignof(max_align_t) - 1) & ~(alignof(max_align_t) - 1))
#define STRUCT_ROOM 1024u /* Request + a sub-message or two, with their alignment */

static void *
arena_alloc(void *ad, size_t size)
{
	arena *a = ad;
	if (size > SIZE_MAX / 4)
		return NULL;
	size = ALIGN_UP(size);
	if (a->more == NULL && a->cap - a->used >= size) {
		void *p = a->data + a->used;
		a->used += size;
		return p;
	}
	chunk *c = a->more;
	if (c == NULL || c->cap - c->used < size) {
		size_t last = c ? c->cap : a->cap;
		size_t cap = size > last * 2 ? size : last * 2;
		c = malloc(sizeof(*c) + cap);
		if (c == NULL)
			return NULL;
		c->used = 0;
		c->cap = cap;
		c->next = a->more;
		a->more = c;
	}
	void *p = c->data + c->used;
	c->used += size;
	return p;
}

static void
arena_free_one(void *ad, void *p)
{
	(void)ad; /* everything goes at once, in cki_request_free */
	(void)p;
}

static void
arena_free(arena *a)
{
	for (chunk *c = a->more, *next; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	free(a);
}

cki_request *
cki_request_unpack(const uint8_t *data, size_t len)
{
	if (len > SIZE_MAX / 2 - STRUCT_ROOM)
		return NULL;
	size_t cap = ALIGN_UP(len) + STRUCT_ROOM;
	arena *a = malloc(sizeof(*a) + cap);
	if (a == NULL)
		return NULL;
	a->pa = (ProtobufCAllocator){
	        .alloc = arena_alloc, .free = arena_free_one, .allocator_data = a};
	a->more = NULL;
	a->used = 0;
	a->cap = cap;
	cki_request *req = cachekit__agent__v1__request__unpack(&a->pa, len, data);
	/* protobuf-c allocates the message first, so it sits at a->data and cki_request_free can
	 * find the arena from it. Were that ever not so, every request would fail here, loudly
	 * in every test, never by freeing the wrong pointer. */
	if (req == NULL || (void *)req != (void *)a->data) {
		arena_free(a);
		return NULL;
	}
	return req;
}

void
cki_reply_status(const cki_reply_sink *sink, const cki_reply_to *to, uint64_t id, ck_err status,
                 const char *message)
{
	cki_response resp = CACHEKIT__AGENT__V1__RESPONSE__INIT;
	resp.id = id;
	resp.status = status;
	resp.message = (char *)(message ? message : "");
	if (status != CK_OK)
		cki_metrics_inc(CKI_C_ERRORS);
	sink->send(sink->arg, to, &resp);
}

void
cki_request_free(cki_request *req)
{
	if (req != NULL)
		arena_free((arena *)((unsigned char *)req - offsetof(arena, data)));
}
