/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The optional ByteStorage envelope (spec §6.2): a MessagePack fixarray(4)
 * [bin LZ4-block, array(8) xxh3_64 big-endian, uint original_size, str format]. The decoder
 * is pure (bytes in, bytes out, no I/O); before allocating it runs the protocol's decode
 * bounds over the whole document (crypto/mpbounds.h: declared sizes summed, depth, complete
 * root) and checks the named caps; it is fuzzed (tests/fuzz/fuzz_envelope.c). MessagePack is
 * read and written with msgpuck. It reads both the bin form and the legacy
 * array-of-integers form of compressed_data. Thread-safe.
 */
#ifndef CKI_ENVELOPE_H
#define CKI_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "cachekit/errors.h"

/* Caps from spec §6.2 (wire-format.json "limits"). */
#define CKI_ENVELOPE_MAX              ((size_t)512 * 1024 * 1024)
#define CKI_ENVELOPE_MAX_COMPRESSED   ((size_t)512 * 1024 * 1024)
#define CKI_ENVELOPE_MAX_UNCOMPRESSED ((size_t)512 * 1024 * 1024)
#define CKI_ENVELOPE_MAX_RATIO        1000
/* Longest format string accepted ("msgpack", "orjson", "arrow" in practice). */
#define CKI_ENVELOPE_FORMAT_MAX 32
/* The format the agent writes. */
#define CKI_ENVELOPE_FORMAT "msgpack"

/*
 * Wraps n bytes (n <= CKI_ENVELOPE_MAX_UNCOMPRESSED) in an envelope with format "msgpack":
 * LZ4 block (liblz4; not byte-identical to lz4_flex, see §6.2), xxh3_64 checksum, shortest
 * MessagePack forms. On CK_OK *out is malloc'd (free with free()), *out_len its size.
 * CK_ETOOBIG over a cap, CK_ENOMEM, CK_EINVAL; on failure *out is not written.
 */
CK_NODISCARD ck_err cki_envelope_encode(const uint8_t *in, size_t n, uint8_t **out,
                                        size_t *out_len);

/*
 * Unwraps an envelope, checking, in this order and before any allocation: total size, the
 * decode bounds of the whole document (cki_mp_check_bounds), no trailing bytes, the shape,
 * compressed and original sizes against the caps, compressed_len > 0 and
 * original_size <= 1000 * compressed_len (64-bit integer math). Then decompresses and
 * verifies the xxh3_64 checksum and the length. Any failure is CK_EPROTO (CK_ENOMEM only if
 * malloc fails); *out is not written. On CK_OK *out is malloc'd (at least 1 byte; free with
 * free()) and *out_len is original_size. The format field is not checked.
 */
CK_NODISCARD ck_err cki_envelope_decode(const uint8_t *in, size_t n, uint8_t **out,
                                        size_t *out_len);

/* As cki_envelope_decode, and copies the format string, NUL-terminated, into format
 * (format_cap >= CKI_ENVELOPE_FORMAT_MAX + 1) when format is not NULL. */
CK_NODISCARD ck_err cki_envelope_decode_ex(const uint8_t *in, size_t n, uint8_t **out,
                                           size_t *out_len, char *format, size_t format_cap);

#endif
