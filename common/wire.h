/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One wire-format helper shared by the agent and the stubs: both encode a message's id as
 * field 1, first, so the receiver can read it without decoding the rest (an oversized request
 * is refused by id; a late reply carrying a large value is dropped without a copy).
 */
#ifndef CKI_WIRE_H
#define CKI_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Reads field 1 (a varint) when the frame starts with it. false when it does not, or the
 * varint is truncated or longer than 10 bytes. */
bool cki_wire_peek_id(const uint8_t *buf, size_t len, uint64_t *id);

#endif
