/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An intrusive doubly linked list: each item embeds a cki_list_link and the list keeps its
 * head, tail and length, so appending and removing any item are O(1) and never allocate.
 * CKI_LIST_ITEM() turns a link back into its item. The HTTP transport's requests in progress and
 * the Redis store's wait queues are such lists. The list owns nothing: items are the caller's. Not
 * thread-safe. memtable.h's recency (LRU) list is one too.
 */
#ifndef CKI_LIST_H
#define CKI_LIST_H

#include <stddef.h>

typedef struct cki_list_link {
	struct cki_list_link *prev; /* towards head; NULL at the head */
	struct cki_list_link *next; /* towards tail; NULL at the tail */
} cki_list_link;

typedef struct cki_list {
	cki_list_link *head;
	cki_list_link *tail;
	size_t n; /* items on the list */
} cki_list;

/* The item of type `type` whose member `member` is link. */
#define CKI_LIST_ITEM(link, type, member) ((type *)(void *)((char *)(link)-offsetof(type, member)))

/* Adds link (not on any list) as the new tail. */
static inline void
cki_list_push_back(cki_list *l, cki_list_link *link)
{
	link->next = NULL;
	link->prev = l->tail;
	if (l->tail != NULL)
		l->tail->next = link;
	else
		l->head = link;
	l->tail = link;
	l->n++;
}

/* Takes link (on l) off l; its prev and next are NULL after. */
static inline void
cki_list_remove(cki_list *l, cki_list_link *link)
{
	if (link->prev != NULL)
		link->prev->next = link->next;
	else
		l->head = link->next;
	if (link->next != NULL)
		link->next->prev = link->prev;
	else
		l->tail = link->prev;
	link->prev = link->next = NULL;
	l->n--;
}

#endif
