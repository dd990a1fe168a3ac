/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The layout of the near-cache version table, shared by the agent (which writes it) and the
 * stubs (which map it read-only): a 64-byte header (magic, agent epoch, slot count) followed by
 * a power-of-two array of 64-bit counters. A storage key ("ns:{namespace}:{key}" or the bare
 * key) selects one slot by a fixed public hash; the agent increments that slot before it
 * answers any write to the key, so a stub that remembered the slot's value with a copy knows
 * the copy is stale when the value has moved. Epoch 0 means "no agent behind this table".
 * Other-language stubs read the same layout (docs/near-cache.md): little-endian, naturally
 * aligned, file next to the socket as "<socket path>.ver".
 */
#ifndef CKI_NEARVER_LAYOUT_H
#define CKI_NEARVER_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#define CKI_NEARVER_MAGIC  UINT64_C(0x3152455652414e43) /* "CNARVER1" little-endian */
#define CKI_NEARVER_SLOTS  65536u
#define CKI_NEARVER_HEADER 64u
#define CKI_NEARVER_SUFFIX ".ver"

typedef struct cki_nearver_header {
	uint64_t magic;
	uint64_t epoch; /* random, non-zero while an agent serves; 0 = retired */
	uint64_t nslots;
	uint64_t reserved[5];
} cki_nearver_header;

/* Bytes of a table with nslots counters. */
static inline size_t
cki_nearver_size(uint64_t nslots)
{
	return CKI_NEARVER_HEADER + (size_t)nslots * sizeof(uint64_t);
}

/* The slot hash: FNV-1a 64 over the storage key's bytes, then a 64-bit finaliser so the low bits
 * mix. Public and unkeyed on purpose (every stub must compute it); a collision only costs extra
 * misses. Streaming, so a stub can hash "ns:" + namespace + ":" + key without building it. */
#define CKI_NEARVER_HASH_INIT UINT64_C(0xcbf29ce484222325)

static inline uint64_t
cki_nearver_hash_update(uint64_t h, const void *bytes, size_t len)
{
	const uint8_t *p = bytes;
	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

static inline uint64_t
cki_nearver_hash_final(uint64_t h)
{
	h ^= h >> 33;
	h *= UINT64_C(0xff51afd7ed558ccd);
	h ^= h >> 33;
	return h;
}

static inline uint64_t
cki_nearver_hash(const char *storage_key, size_t len)
{
	return cki_nearver_hash_final(
	        cki_nearver_hash_update(CKI_NEARVER_HASH_INIT, storage_key, len));
}

#endif
