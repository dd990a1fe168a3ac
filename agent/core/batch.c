/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Batch answers (see batch.h). Each item is packed once, as it arrives, into the exact bytes
 * it has inside the final Response: the length prefix of an embedded message followed by the
 * item (so an item's reply may borrow anything while it is put). The final Response carries
 * those bytes as protobuf-c "unknown fields" of the MultiGet/MultiSetResult with the number of
 * its `items` field: protobuf-c writes an unknown field as its tag and then its bytes
 * verbatim, which is, byte for byte, what packing `items` would write, and any decoder reads
 * them back as `items`, in order. So a 4 KiB value is copied once here and once by the final
 * pack, instead of being packed, unpacked (allocating a Response per item) and packed again.
 */
#include "core/batch.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <protobuf-c/protobuf-c.h>

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

/* Field number of `items` in MultiGetResult and MultiSetResult (agent.proto). */
#define ITEMS_FIELD 1

/* Writes v as a protobuf varint at out (NULL: only counts); returns its length. */
static size_t
varint(uint64_t v, uint8_t *out)
{
	size_t n = 0;
	do {
		uint8_t byte = (uint8_t)(v & 0x7f);
		v >>= 7;
		if (out != NULL)
			out[n] = (uint8_t)(byte | (v ? 0x80 : 0));
		n++;
	} while (v);
	return n;
}

/* One Response as an embedded-message field body: length varint, then the packed message. On
 * failure NULL. */
static uint8_t *
pack_embedded(const resp_t *r, size_t *total)
{
	size_t len = cachekit__agent__v1__response__get_packed_size(r);
	size_t prefix = varint(len, NULL);
	uint8_t *buf = malloc(prefix + len);
	if (buf == NULL)
		return NULL;
	varint(len, buf);
	cachekit__agent__v1__response__pack(r, buf + prefix);
	*total = prefix + len;
	return buf;
}

void
cki_batch_put(cki_batch *b, size_t i, const cki_response *item)
{
	resp_t copy = *item;
	copy.id = 0;
	size_t len = 0;
	uint8_t *buf = pack_embedded(&copy, &len);
	if (buf == NULL)
		return; /* reported as an internal error by cki_batch_send */
	if (b->packed[i] != NULL)
		OPENSSL_cleanse(b->packed[i], b->len[i]);
	free(b->packed[i]);
	b->packed[i] = buf;
	b->len[i] = len;
}

void
cki_batch_send(cki_batch *b, const cki_reply_sink *sink, const cki_reply_to *to, uint64_t id,
               bool is_get)
{
	ProtobufCMessageUnknownField *items = calloc(b->n ? b->n : 1, sizeof(*items));
	resp_t resp = CACHEKIT__AGENT__V1__RESPONSE__INIT;
	resp_t lost = CACHEKIT__AGENT__V1__RESPONSE__INIT;
	Cachekit__Agent__V1__MultiGetResult mg = CACHEKIT__AGENT__V1__MULTI_GET_RESULT__INIT;
	Cachekit__Agent__V1__MultiSetResult ms = CACHEKIT__AGENT__V1__MULTI_SET_RESULT__INIT;
	uint8_t *lost_bytes = NULL;
	size_t lost_len = 0;

	lost.status = CK_EINTERNAL;
	lost.message = (char *)"item lost (out of memory)";
	if (items == NULL || (lost_bytes = pack_embedded(&lost, &lost_len)) == NULL) {
		cki_reply_status(sink, to, id, CK_ENOMEM, "agent out of memory");
		goto out;
	}
	for (size_t i = 0; i < b->n; i++) {
		items[i].tag = ITEMS_FIELD;
		items[i].wire_type = PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED;
		items[i].data = b->packed[i] != NULL ? b->packed[i] : lost_bytes;
		items[i].len = b->packed[i] != NULL ? b->len[i] : lost_len;
	}
	resp.id = id;
	resp.message = (char *)"";
	if (is_get) {
		resp.result_case = CACHEKIT__AGENT__V1__RESPONSE__RESULT_MULTI_GET;
		resp.multi_get = &mg;
		mg.base.n_unknown_fields = b->n;
		mg.base.unknown_fields = items;
	} else {
		resp.result_case = CACHEKIT__AGENT__V1__RESPONSE__RESULT_MULTI_SET;
		resp.multi_set = &ms;
		ms.base.n_unknown_fields = b->n;
		ms.base.unknown_fields = items;
	}
	sink->send(sink->arg, to, &resp);
out:
	free(items);
	free(lost_bytes);
	/* Values may be decrypted plaintext: wiped before they are freed. */
	for (size_t i = 0; i < b->n; i++) {
		if (b->packed[i] != NULL)
			OPENSSL_cleanse(b->packed[i], b->len[i]);
		free(b->packed[i]);
	}
	free(b->packed);
	free(b->len);
	free(b);
}
