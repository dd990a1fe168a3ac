/* SPDX-License-Identifier: Apache-2.0 */
/* See wire.h. */
#include "wire.h"

bool
cki_wire_peek_id(const uint8_t *buf, size_t len, uint64_t *id)
{
	uint64_t v = 0;
	if (len < 2 || buf[0] != 0x08) /* field 1, wire type 0 (varint) */
		return false;
	for (size_t i = 1; i < len && i <= 10; i++) {
		v |= (uint64_t)(buf[i] & 0x7f) << (7 * (i - 1));
		if ((buf[i] & 0x80) == 0) {
			*id = v;
			return true;
		}
	}
	return false;
}
