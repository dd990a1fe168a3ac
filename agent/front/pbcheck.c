/* SPDX-License-Identifier: Apache-2.0 */
/* Walks protobuf wire format with a message descriptor; see pbcheck.h. No allocation. */
#include "front/pbcheck.h"

#include <stdbool.h>
#include <string.h>

#define MAX_DEPTH 8

static bool
read_varint(const uint8_t *buf, size_t len, size_t *off, uint64_t *out)
{
	uint64_t v = 0;
	for (unsigned shift = 0; shift < 64 && *off < len; shift += 7) {
		uint8_t b = buf[(*off)++];
		v |= (uint64_t)(b & 0x7f) << shift;
		if ((b & 0x80) == 0) {
			*out = v;
			return true;
		}
	}
	return false;
}

static const char *
walk(const ProtobufCMessageDescriptor *desc, const uint8_t *buf, size_t len, int depth)
{
	size_t off = 0;
	while (off < len) {
		uint64_t tag, v;
		if (!read_varint(buf, len, &off, &tag))
			return NULL;
		switch (tag & 7) {
		case 0: /* varint */
			if (!read_varint(buf, len, &off, &v))
				return NULL;
			break;
		case 1: /* 64-bit */
			if (len - off < 8)
				return NULL;
			off += 8;
			break;
		case 5: /* 32-bit */
			if (len - off < 4)
				return NULL;
			off += 4;
			break;
		case 2: { /* length-delimited */
			if (!read_varint(buf, len, &off, &v) || v > len - off)
				return NULL;
			const uint8_t *data = buf + off;
			size_t n = (size_t)v;
			off += n;
			if (tag >> 3 > UINT32_MAX)
				return NULL;
			const ProtobufCFieldDescriptor *f =
			        protobuf_c_message_descriptor_get_field(desc, (unsigned)(tag >> 3));
			if (f == NULL)
				break;
			if (f->type == PROTOBUF_C_TYPE_STRING && memchr(data, 0, n) != NULL)
				return f->name;
			if (f->type == PROTOBUF_C_TYPE_MESSAGE && depth < MAX_DEPTH) {
				const char *bad = walk(f->descriptor, data, n, depth + 1);
				if (bad != NULL)
					return bad;
			}
			break;
		}
		default: /* groups: not in proto3; the decoder decides */
			return NULL;
		}
	}
	return NULL;
}

const char *
cki_pb_nul_string_field(const ProtobufCMessageDescriptor *desc, const uint8_t *buf, size_t len)
{
	return walk(desc, buf, len, 0);
}
