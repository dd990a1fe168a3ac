/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Batch answers (see batch.h). Items are kept packed (one allocation each) and unpacked only
 * to build the final Response, so an item's reply may borrow anything while it is put.
 */
#include "core/batch.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

typedef Cachekit__Agent__V1__Response resp_t;

struct cki_batch {
	size_t n;
	uint8_t **packed;
	size_t *len;
};

cki_batch *
cki_batch_new(size_t n)
{
	cki_batch *b = calloc(1, sizeof(*b));
	if (b == NULL)
		return NULL;
	b->n = n;
	b->packed = calloc(n ? n : 1, sizeof(*b->packed));
	b->len = calloc(n ? n : 1, sizeof(*b->len));
	if (b->packed == NULL || b->len == NULL) {
		free(b->packed);
		free(b->len);
		free(b);
		return NULL;
	}
	return b;
}

void
cki_batch_put(cki_batch *b, size_t i, const cki_response *item)
{
	resp_t copy = *item;
	copy.id = 0;
	size_t len = cachekit__agent__v1__response__get_packed_size(&copy);
	uint8_t *buf = malloc(len ? len : 1);
	if (buf == NULL)
		return; /* reported as an internal error by cki_batch_send */
	cachekit__agent__v1__response__pack(&copy, buf);
	free(b->packed[i]);
	b->packed[i] = buf;
	b->len[i] = len;
}

void
cki_batch_send(cki_batch *b, const cki_reply_sink *sink, const cki_reply_to *to, uint64_t id,
               bool is_get)
{
	resp_t **items = calloc(b->n ? b->n : 1, sizeof(*items));
	resp_t resp = CACHEKIT__AGENT__V1__RESPONSE__INIT;
	resp_t lost = CACHEKIT__AGENT__V1__RESPONSE__INIT;
	Cachekit__Agent__V1__MultiGetResult mg = CACHEKIT__AGENT__V1__MULTI_GET_RESULT__INIT;
	Cachekit__Agent__V1__MultiSetResult ms = CACHEKIT__AGENT__V1__MULTI_SET_RESULT__INIT;

	if (items == NULL) {
		cki_reply_status(sink, to, id, CK_ENOMEM, "agent out of memory");
		goto out;
	}
	lost.status = CK_EINTERNAL;
	lost.message = (char *)"item lost (out of memory)";
	for (size_t i = 0; i < b->n; i++) {
		items[i] = b->packed[i] ? cachekit__agent__v1__response__unpack(NULL, b->len[i],
		                                                                b->packed[i])
		                        : NULL;
		if (items[i] == NULL)
			items[i] = &lost;
	}
	resp.id = id;
	resp.message = (char *)"";
	if (is_get) {
		resp.result_case = CACHEKIT__AGENT__V1__RESPONSE__RESULT_MULTI_GET;
		resp.multi_get = &mg;
		mg.n_items = b->n;
		mg.items = items;
	} else {
		resp.result_case = CACHEKIT__AGENT__V1__RESPONSE__RESULT_MULTI_SET;
		resp.multi_set = &ms;
		ms.n_items = b->n;
		ms.items = items;
	}
	sink->send(sink->arg, to, &resp);
	/* Values may be decrypted plaintext: wiped before they are freed. */
	for (size_t i = 0; i < b->n; i++) {
		if (items[i] == &lost)
			continue;
		if (items[i]->result_case == CACHEKIT__AGENT__V1__RESPONSE__RESULT_GET &&
		    items[i]->get != NULL && items[i]->get->value.len > 0)
			OPENSSL_cleanse(items[i]->get->value.data, items[i]->get->value.len);
		cachekit__agent__v1__response__free_unpacked(items[i], NULL);
	}
out:
	free(items);
	for (size_t i = 0; i < b->n; i++) {
		if (b->packed[i] != NULL)
			OPENSSL_cleanse(b->packed[i], b->len[i]);
		free(b->packed[i]);
	}
	free(b->packed);
	free(b->len);
	free(b);
}
