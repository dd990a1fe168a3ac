# SPDX-License-Identifier: Apache-2.0
"""The in-process near cache of the Python stub (docs/near-cache.md).

Values the agent returned are kept by a keyed BLAKE2b-128 of (intent, storage key) with a key
drawn per process, never by the key itself; bounded in bytes (LRU) and in time (min(Fresh-For,
near_cache_max_ms)). A copy is served only while the agent's version table
("<socket path>.ver", mapped read-only) still shows the epoch and the slot counter the Get
reply carried. A hit reads two aligned 64-bit words from the mapping (single loads on the
platforms the agent runs on) and makes no system call. After fork() the child starts empty.
Thread-safe: one lock around the table.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import secrets
import struct
import threading
import time
import weakref
from collections import OrderedDict
from typing import Optional, Tuple

MAGIC = 0x3152455652414E43
HEADER = 64
SUFFIX = ".ver"
DEFAULT_MAX_MS = 60000
OVERHEAD = 96  # bookkeeping bytes counted per copy
_U64 = struct.Struct("<Q")
_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3
_M64 = (1 << 64) - 1

_caches: "weakref.WeakSet[NearCache]" = weakref.WeakSet()


def slot_hash(storage_key: bytes) -> int:
    """The version table's public slot hash (common/nearver_layout.h)."""
    h = _FNV_OFFSET
    for b in storage_key:
        h = ((h ^ b) * _FNV_PRIME) & _M64
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & _M64
    h ^= h >> 33
    return h


def storage_key(namespace: Optional[str], key: str) -> bytes:
    return (f"ns:{namespace}:{key}" if namespace else key).encode()


class NearCache:
    def __init__(self, endpoint: str, max_bytes: int, max_ms: int = 0) -> None:
        if max_bytes <= 0:
            raise ValueError("near_cache_bytes must be positive")
        self.max_bytes = int(max_bytes)
        self.max_s = (max_ms or DEFAULT_MAX_MS) / 1000.0
        self._path = endpoint[6:] + SUFFIX if endpoint.startswith("ipc://") else None
        self._lock = threading.Lock()
        self._entries: "OrderedDict[bytes, tuple]" = OrderedDict()
        self._bytes = 0
        self._map: Optional[mmap.mmap] = None
        self._mask = 0
        self._hkey = secrets.token_bytes(16)
        self._stats = dict(hits=0, misses=0, invalidations=0, expirations=0, evictions=0)
        _caches.add(self)

    # ---- the version table --------------------------------------------------------------

    def _epoch(self) -> int:
        return _U64.unpack_from(self._map, 8)[0]

    def _map_table(self, epoch: int) -> bool:
        if self._map is not None and self._epoch() == epoch:
            return True
        self._unmap()
        if self._path is None:
            return False
        try:
            fd = os.open(self._path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return False
        try:
            size = os.fstat(fd).st_size
            if size < HEADER:
                return False
            m = mmap.mmap(fd, size, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ)
        except (OSError, ValueError):
            return False
        finally:
            os.close(fd)
        magic, _, nslots = struct.unpack_from("<QQQ", m, 0)
        if magic != MAGIC or nslots == 0 or nslots & (nslots - 1) or HEADER + 8 * nslots != size:
            m.close()
            return False
        self._map, self._mask = m, nslots - 1
        return self._epoch() == epoch

    def _unmap(self) -> None:
        if self._map is not None:
            try:
                self._map.close()
            except BufferError:
                pass
        self._map = None

    # ---- lookups ------------------------------------------------------------------------

    def key_of(self, namespace: Optional[str], key: str, secure: bool) -> Tuple[bytes, bytes]:
        """(lookup hash, storage key) of a Get."""
        sk = storage_key(namespace, key)
        material = (b"\x01" if secure else b"\x00") + b"\x00" + sk
        return hashlib.blake2b(material, key=self._hkey, digest_size=16).digest(), sk

    def get(self, lookup: bytes) -> Optional[Tuple[bytes, int]]:
        """(value, remaining ms) of a valid copy, else None."""
        with self._lock:
            e = self._entries.get(lookup)
            if e is None:
                self._stats["misses"] += 1
                return None
            value, epoch, version, slot, expires = e
            left = expires - time.monotonic()
            m = self._map
            if left <= 0 or m is None or _U64.unpack_from(m, 8)[0] != epoch or \
                    _U64.unpack_from(m, HEADER + 8 * (slot & self._mask))[0] != version:
                self._stats["expirations" if left <= 0 else "invalidations"] += 1
                self._drop(lookup)
                self._stats["misses"] += 1
                return None
            self._entries.move_to_end(lookup, last=False)
            self._stats["hits"] += 1
            return value, int(left * 1000)

    def put(self, lookup: bytes, sk: bytes, value: bytes, epoch: int, version: int,
            fresh_for_ms: int, stale: bool, refresh_due: bool) -> None:
        cost = len(value) + OVERHEAD
        if epoch == 0 or stale or refresh_due or fresh_for_ms == 0 or cost > self.max_bytes // 4:
            return
        life = self.max_s
        if fresh_for_ms > 0:
            life = min(life, fresh_for_ms / 1000.0)
        slot = slot_hash(sk)
        with self._lock:
            if not self._map_table(epoch):
                return
            if lookup in self._entries:
                self._drop(lookup)
            while self._entries and self._bytes + cost > self.max_bytes:
                oldest = next(reversed(self._entries))
                self._drop(oldest)
                self._stats["evictions"] += 1
            self._entries[lookup] = (bytes(value), epoch, version, slot, time.monotonic() + life)
            self._entries.move_to_end(lookup, last=False)
            self._bytes += cost

    def _drop(self, lookup: bytes) -> None:
        e = self._entries.pop(lookup)
        self._bytes -= len(e[0]) + OVERHEAD

    def stats(self) -> dict:
        with self._lock:
            return dict(self._stats, entries=len(self._entries), bytes=self._bytes)

    def close(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0
            self._unmap()

    def _after_fork_in_child(self) -> None:
        self._lock = threading.Lock()
        self._entries = OrderedDict()
        self._bytes = 0
        self._hkey = secrets.token_bytes(16)
        self._stats = dict.fromkeys(self._stats, 0)


def _reset_in_child() -> None:
    for cache in list(_caches):
        cache._after_fork_in_child()


os.register_at_fork(after_in_child=_reset_in_child)
