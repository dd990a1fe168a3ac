# SPDX-License-Identifier: Apache-2.0
"""``@cached``: cache a function's results through the agent, for apps without cachekit-py.

Keys are interop/v1 keys (keys.py: ``{namespace}:{operation}:{blake2b(args)}``) and values are
one canonical MessagePack document (the interop value format, spec §6.5), so entries written
here are readable by every cachekit SDK in interop mode and the other way round. The key has
no "ns:" prefix: the call is sent without a Request namespace, whatever the client's default.

A miss computes the function and stores the result. Cache trouble never breaks the app: an
agent error or an undecodable stored value is logged and treated as a miss; only arguments
that interop mode cannot encode raise (InteropError), since they are a programming error.
"""

from __future__ import annotations

import functools
import inspect
import logging
from typing import Any, Callable, Optional, Union

import msgpack

from .aio import AsyncClient
from .client import Client
from .errors import CacheKitError
from .keys import InteropError, bind_args, canonical_value, check_segment, interop_key

__all__ = ["cached", "encode_value", "decode_value"]

_log = logging.getLogger("cachekit_stub")
_MAX_DEPTH = 64


def _revive(obj: dict) -> Any:
    if len(obj) == 2 and "value" in obj:
        import datetime as dt

        if obj.get("__datetime__") is True:
            return dt.datetime.fromisoformat(obj["value"])
        if obj.get("__date__") is True:
            return dt.date.fromisoformat(obj["value"])
        if obj.get("__time__") is True:
            return dt.time.fromisoformat(obj["value"])
    return obj


def encode_value(value: Any) -> bytes:
    """The interop value bytes of value (canonical MessagePack)."""
    return canonical_value(value)


# Fixed-size payload bytes after each first byte that is not a fix* form (0 = scalar/none).
_FIXED = {0xC0: 0, 0xC2: 0, 0xC3: 0, 0xCA: 4, 0xCB: 8, 0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8,
          0xD0: 1, 0xD1: 2, 0xD2: 4, 0xD3: 8, 0xD4: 2, 0xD5: 3, 0xD6: 5, 0xD7: 9, 0xD8: 17}
# Length-prefixed forms: first byte -> (length bytes, extra bytes before the payload).
_SIZED = {0xC4: (1, 0), 0xC5: (2, 0), 0xC6: (4, 0), 0xC7: (1, 1), 0xC8: (2, 1), 0xC9: (4, 1),
          0xD9: (1, 0), 0xDA: (2, 0), 0xDB: (4, 0)}
_CONTAINERS = {0xDC: (2, 1), 0xDD: (4, 1), 0xDE: (2, 2), 0xDF: (4, 2)}  # (len bytes, slots/item)


def check_bounds(data: bytes) -> None:
    """The decode bounds of spec §6.6, checked on the headers alone before anything is built:
    exactly one complete document, nesting depth <= _MAX_DEPTH, and declared slots (a map
    pair counts 2) not above len(data) - 1. Raises ValueError."""
    n = len(data)
    pos = 0
    slots = 0
    open_items = [1]  # items still expected at each open level
    while open_items:
        if open_items[-1] == 0:
            open_items.pop()
            continue
        open_items[-1] -= 1
        if pos >= n:
            raise ValueError("incomplete MessagePack document")
        b = data[pos]
        pos += 1
        count = -1
        if b <= 0x7F or b >= 0xE0:
            continue
        if 0x80 <= b <= 0x8F:
            count = 2 * (b & 0x0F)
        elif 0x90 <= b <= 0x9F:
            count = b & 0x0F
        elif 0xA0 <= b <= 0xBF:
            slots += b & 0x1F  # str/bin/ext bytes are declared slots too
            pos += b & 0x1F
        elif b in _FIXED:
            pos += _FIXED[b]
        elif b in _SIZED:
            width, extra = _SIZED[b]
            if pos + width > n:
                raise ValueError("incomplete MessagePack document")
            length = int.from_bytes(data[pos : pos + width], "big")
            slots += length
            pos += width + extra + length
        elif b in _CONTAINERS:
            width, per = _CONTAINERS[b]
            if pos + width > n:
                raise ValueError("incomplete MessagePack document")
            count = per * int.from_bytes(data[pos : pos + width], "big")
            pos += width
        else:
            raise ValueError(f"invalid MessagePack byte 0x{b:02x}")
        if count >= 0:
            slots += count
            if slots > n - 1:
                raise ValueError("MessagePack declares more items than its length allows")
            open_items.append(count)
            if len(open_items) - 1 > _MAX_DEPTH:
                raise ValueError("MessagePack value nested too deeply")
    if slots > n - 1:
        raise ValueError("MessagePack declares more items than its length allows")
    if pos > n:
        raise ValueError("incomplete MessagePack document")
    if pos < n:
        if data[:2] == b"CK":
            raise ValueError("Python-SDK-internal auto-mode entry")
        raise ValueError("trailing bytes after the MessagePack value")


def decode_value(data: bytes) -> Any:
    """Reads one interop value; raises ValueError for anything but exactly one well-formed
    MessagePack document within the depth bound."""
    check_bounds(data)
    try:
        return msgpack.unpackb(data, raw=False, strict_map_key=False, object_hook=_revive)
    except Exception as exc:
        raise ValueError(f"undecodable MessagePack value: {exc}") from None


_MISS = object()


def cached(
    *,
    namespace: str,
    ttl: Optional[int] = None,
    operation: Optional[str] = None,
    secure: bool = False,
    client: Optional[Union[Client, AsyncClient]] = None,
) -> Callable[[Callable], Callable]:
    """Caches a sync or async function's results in interop mode.

    namespace / operation: the key's first two segments, each [a-z0-9][a-z0-9._-]{0,63};
    operation defaults to the function's __name__ (which must then match). ttl: seconds (None
    = the agent's default-ttl). secure: the agent encrypts the value. client: a Client (sync
    functions) or AsyncClient (async functions); by default one is created on first use with
    the default endpoint. The wrapper has ``.cache_key(*args, **kwargs)`` and ``.invalidate(...)``.
    """
    check_segment("namespace", namespace)

    def decorate(func: Callable) -> Callable:
        op = check_segment("operation", operation if operation is not None else func.__name__)
        is_async = inspect.iscoroutinefunction(func)
        holder = {"client": client}

        def key_of(args, kwargs) -> str:
            return interop_key(namespace, op, bind_args(func, args, kwargs))

        def get_client():
            if holder["client"] is None:
                holder["client"] = AsyncClient() if is_async else Client()
            return holder["client"]

        def decode(raw: Optional[bytes]) -> Any:
            if raw is None:
                return _MISS
            try:
                return decode_value(raw)
            except ValueError as exc:
                _log.warning("cachekit: treating undecodable entry as a miss: %s", exc)
                return _MISS

        if is_async:

            @functools.wraps(func)
            async def async_wrapper(*args, **kwargs):
                key = key_of(args, kwargs)
                c = get_client()
                try:
                    hit = decode(await c.get(key, secure=secure, namespace=""))
                except CacheKitError as exc:
                    _log.warning("cachekit: get failed, computing: %s", exc)
                    hit = _MISS
                if hit is not _MISS:
                    return hit
                result = await func(*args, **kwargs)
                try:
                    await c.set(key, encode_value(result), ttl=ttl, secure=secure, namespace="")
                except (CacheKitError, InteropError) as exc:
                    _log.warning("cachekit: set failed: %s", exc)
                return result

            async def ainvalidate(*args, **kwargs) -> bool:
                return await get_client().delete(key_of(args, kwargs), namespace="")

            async_wrapper.cache_key = lambda *a, **kw: key_of(a, kw)
            async_wrapper.invalidate = ainvalidate
            return async_wrapper

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            key = key_of(args, kwargs)
            c = get_client()
            try:
                hit = decode(c.get(key, secure=secure, namespace=""))
            except CacheKitError as exc:
                _log.warning("cachekit: get failed, computing: %s", exc)
                hit = _MISS
            if hit is not _MISS:
                return hit
            result = func(*args, **kwargs)
            try:
                c.set(key, encode_value(result), ttl=ttl, secure=secure, namespace="")
            except (CacheKitError, InteropError) as exc:
                _log.warning("cachekit: set failed: %s", exc)
            return result

        def invalidate(*args, **kwargs) -> bool:
            return get_client().delete(key_of(args, kwargs), namespace="")

        wrapper.cache_key = lambda *a, **kw: key_of(a, kw)
        wrapper.invalidate = invalidate
        return wrapper

    return decorate
