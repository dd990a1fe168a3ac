/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A check protobuf-c does not make: proto3 strings may carry NUL bytes on the wire, but the
 * decoded C string ends at the first one. A key "a\0b" would silently become "a". This walker
 * reads the encoded message beside its descriptor and finds any string field holding a NUL.
 */
#ifndef CKI_PBCHECK_H
#define CKI_PBCHECK_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

/* The name of the first string field (at any nesting depth up to 8) whose bytes contain a
 * NUL, or NULL when there is none. Malformed input returns NULL: the decoder rejects it. */
const char *cki_pb_nul_string_field(const ProtobufCMessageDescriptor *desc, const uint8_t *buf,
                                    size_t len);

#endif
