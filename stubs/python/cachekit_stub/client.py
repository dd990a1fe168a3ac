# SPDX-License-Identifier: Apache-2.0
"""The synchronous client, and the request building and reply reading both clients share.

Every operation is described once as an ``_Op``: the Request to send, the timeout to wait, and
how to read the Response (including which non-zero statuses are ordinary results, such as
CK_ENOTFOUND for a miss). ``Client`` runs an ``_Op`` on the I/O-thread connection;
``AsyncClient`` (aio.py) awaits the same ``_Op`` on its asyncio connection.

A Client is thread-safe: any number of threads may call it at once; their requests are in
flight together on the one socket and each reply is matched to its caller by request id.
"""

from __future__ import annotations

import contextlib
import math
import re
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, Optional, Union

from . import _keyrule, _limits, _near, _near_report, _transport
from . import agent_pb2 as pb
from .errors import (
    EBADHANDLE,
    EBUSY,
    EINVAL,
    EINVALKEY,
    ENOTFOUND,
    EPROTO,
    InvalidArgument,
    InvalidKey,
    LockContested,
    ProtocolError,
    error_for_status,
)

DEFAULT_TIMEOUT = 5.0
MAX_TTL_S = _limits.TTL_MAX
DEFAULT_LEASE_S = 30.0
MAX_BATCH = 1000
_NAMESPACE_RE = re.compile(f"[{_limits.NAMESPACE_CHARSET}]{{1,{_limits.NAMESPACE_MAX}}}")
_FRESHNESS = {
    pb.FRESHNESS_UNKNOWN: "unknown",
    pb.FRESHNESS_FRESH: "fresh",
    pb.FRESHNESS_STALE: "stale",
}


@dataclass(frozen=True)
class Entry:
    """A value read with get_entry(): the bytes plus the agent's freshness information."""

    value: bytes
    freshness: str  # "fresh", "stale" or "unknown"
    fresh_for_ms: Optional[int]  # None: no bound known
    refresh_due: bool  # this caller was chosen to recompute and set the value


@dataclass(frozen=True)
class LockHandle:
    """A held lock. ``handle`` is the agent's opaque handle; ``hex`` is its text form, the
    lock id AgentBackend hands to cachekit-py. Only this process may release it."""

    name: str
    handle: bytes
    lease_ms: int

    @property
    def hex(self) -> str:
        return self.handle.hex()


LockRef = Union[LockHandle, bytes, str]


@dataclass
class _Op:
    req: pb.Request
    timeout: float
    read: Callable[[pb.Response], Any]
    # Non-zero statuses that are results, not errors: status -> value returned.
    results: Optional[Dict[int, Any]] = None


def _u32(what: str, value: Optional[float], cap: int = 0xFFFFFFFF) -> int:
    """A whole number of units; a fraction rounds UP (0.2 s -> 1 s), never down to 0, which
    would mean "no TTL" (protocol API-42, API-54)."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise InvalidArgument(EINVAL, f"{what} must be a number, not {value!r}")
    if value < 0 or value > cap:
        raise InvalidArgument(EINVAL, f"{what} must be within 0..{cap}, not {value!r}")
    return int(math.ceil(value))


def _check_key(what: str, key: Any, req: Optional[pb.Request] = None) -> str:
    """key, checked as a str; with req (a keyed request whose namespace is set), also by the
    agent's key rule, so a key it would refuse never leaves the process."""
    if not isinstance(key, str):
        raise InvalidArgument(EINVAL, f"{what} must be a str, not {type(key).__name__}")
    if req is not None:
        why = _keyrule.key_problem(req.namespace, key)
        if why is not None:
            raise InvalidKey(EINVALKEY, f"invalid cache key: {why}")
    return key


def _result(resp: pb.Response, field: str):
    if resp.WhichOneof("result") != field:
        raise ProtocolError(EPROTO, f"reply carries {resp.WhichOneof('result')!r}, not {field!r}")
    return getattr(resp, field)


def _handle_bytes(lock: LockRef) -> bytes:
    if isinstance(lock, LockHandle):
        return lock.handle
    if isinstance(lock, (bytes, bytearray, memoryview)):
        return bytes(lock)
    if isinstance(lock, str):
        try:
            return bytes.fromhex(lock)
        except ValueError:
            raise InvalidArgument(EINVAL, "lock id is not a hex string") from None
    raise InvalidArgument(EINVAL, f"not a lock handle: {type(lock).__name__}")


class _Base:
    """Options, the socket holder, the near cache and request building shared by Client and
    AsyncClient; each says which holder it uses (_shared_type) and how it runs an _Op."""

    _timeout: float
    _namespace: Optional[str]

    _near: Optional[_near.NearCache] = None
    _shared_type: Any = None  # _transport.SharedSync or SharedAsync

    def __init__(
        self,
        endpoint: Optional[str] = None,
        timeout: float = DEFAULT_TIMEOUT,
        namespace: Optional[str] = None,
        *,
        near_cache_bytes: int = 0,
        near_cache_max_ms: int = 0,
    ) -> None:
        self._init_options(timeout, namespace)
        self._shared = self._shared_type(_transport.resolve_endpoint(endpoint))
        self._init_near(self._shared.endpoint, near_cache_bytes, near_cache_max_ms)

    @property
    def endpoint(self) -> str:
        return self._shared.endpoint

    @property
    def late_replies(self) -> int:
        """Replies dropped because their caller had already timed out (this process)."""
        conn = self._shared.conn
        return conn.late_replies if conn is not None else 0

    def close(self) -> None:
        """Closes the socket of every view of this client. Later calls raise AgentUnreachable."""
        self._shared.close()
        if self._near is not None:
            self._near.close()

    def _plan_get(self, key, secure, timeout, namespace, entry: bool):
        """(answer, op): the near copy and None, or None and the _Op that asks the agent."""
        hit, probe = self._near_probe(key, secure, namespace, entry=entry)
        if hit is not None:
            return hit, None
        return None, self._op_get(key, secure, timeout, namespace, entry=entry, probe=probe)

    def _init_near(self, endpoint: str, near_cache_bytes: int, near_cache_max_ms: int) -> None:
        if near_cache_bytes:
            _u32("near_cache_max_ms", near_cache_max_ms)
            if isinstance(near_cache_bytes, bool) or not isinstance(near_cache_bytes, int) \
                    or near_cache_bytes < 0:
                raise InvalidArgument(EINVAL, "near_cache_bytes must be a non-negative int")
            self._near = _near.NearCache(endpoint, near_cache_bytes, near_cache_max_ms)

    def near_stats(self) -> Dict[str, int]:
        """Counters of this client's near cache (hits, misses, invalidations, expirations,
        evictions, entries, bytes); all 0 when it is off."""
        if self._near is None:
            return dict(hits=0, misses=0, invalidations=0, expirations=0, evictions=0,
                        entries=0, bytes=0)
        return self._near.stats()

    def _near_probe(self, key, secure, namespace, entry: bool):
        """(answer, probe): answer is the near copy (bytes or Entry) or None; probe is what
        _op_get needs to keep the agent's answer, or None when the cache is off."""
        if self._near is None or not isinstance(key, str):
            return None, None
        ns = self._namespace if namespace is None else namespace
        lookup, sk = self._near.key_of(ns or None, key, bool(secure))
        hit = self._near.get(lookup)
        if hit is None:
            return None, (lookup, sk)
        value, left_ms = hit
        if not entry:
            return value, None
        return Entry(value=value, freshness="fresh", fresh_for_ms=left_ms, refresh_due=False), None

    def _init_options(self, timeout: Optional[float], namespace: Optional[str]) -> None:
        self._timeout = DEFAULT_TIMEOUT if timeout is None else float(timeout)
        _transport.deadline_ms(self._timeout)  # validates
        self._namespace = self._check_namespace(namespace) if namespace else None

    @staticmethod
    def _check_namespace(ns: str) -> str:
        if not isinstance(ns, str) or not _NAMESPACE_RE.fullmatch(ns):
            raise InvalidArgument(EINVAL, "namespace must be 1-64 chars of [A-Za-z0-9_-]")
        return ns

    @property
    def timeout(self) -> float:
        """The default timeout of this view, in seconds."""
        return self._timeout

    @property
    def namespace(self) -> Optional[str]:
        return self._namespace

    def _view(self, timeout: Optional[float] = None, namespace: Optional[str] = None):
        view = object.__new__(type(self))
        view.__dict__.update(self.__dict__)
        if timeout is not None:
            _transport.deadline_ms(float(timeout))
            view._timeout = float(timeout)
        if namespace is not None:
            view._namespace = self._check_namespace(namespace) if namespace else None
        return view

    def with_timeout(self, timeout: float):
        """A view of this client with another default timeout (seconds), sharing its socket."""
        return self._view(timeout=timeout)

    def with_namespace(self, namespace: str):
        """A view with another default namespace ("" for none), sharing the socket."""
        return self._view(namespace=namespace)

    def _request(self, timeout: Optional[float], namespace: Optional[str]):
        t = self._timeout if timeout is None else float(timeout)
        req = pb.Request(deadline_ms=_transport.deadline_ms(t))
        ns = self._namespace if namespace is None else namespace
        if ns:
            req.namespace = self._check_namespace(ns)
        return req, t

    # ---- operations: request + reply reader ------------------------------------------

    def _op_get(self, key, secure, timeout, namespace, entry: bool, probe=None) -> _Op:
        req, t = self._request(timeout, namespace)
        req.get.key = _check_key("key", key, req)
        req.get.secure = bool(secure)
        near = self._near

        def read(resp):
            r = _result(resp, "get")
            if not r.found:
                return None
            if probe is not None and near is not None:
                near.put(probe[0], probe[1], r.value, r.near_epoch, r.near_version,
                         r.fresh_for_ms, r.freshness == pb.FRESHNESS_STALE, r.refresh_due)
            if not entry:
                return r.value
            return Entry(
                value=r.value,
                freshness=_FRESHNESS.get(r.freshness, "unknown"),
                fresh_for_ms=None if r.fresh_for_ms < 0 else r.fresh_for_ms,
                refresh_due=r.refresh_due,
            )

        return _Op(req, t, read, {ENOTFOUND: None})

    def _op_set(self, key, value, ttl, stale_ttl, secure, sliding, fmt, timeout, namespace) -> _Op:
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise InvalidArgument(EINVAL, f"value must be bytes, not {type(value).__name__}")
        req, t = self._request(timeout, namespace)
        s = req.set
        s.key = _check_key("key", key, req)
        s.value = bytes(value)
        s.ttl_s = _u32("ttl", ttl, MAX_TTL_S)
        s.stale_ttl_s = _u32("stale_ttl", stale_ttl, MAX_TTL_S)
        s.secure = bool(secure)
        s.sliding = bool(sliding)
        if fmt:
            s.format = fmt
        return _Op(req, t, lambda resp: (_result(resp, "set"), None)[1])

    def _op_delete(self, key, timeout, namespace) -> _Op:
        req, t = self._request(timeout, namespace)
        req.delete.key = _check_key("key", key, req)
        return _Op(req, t, lambda resp: _result(resp, "delete").existed, {ENOTFOUND: False})

    def _op_exists(self, key, timeout, namespace) -> _Op:
        req, t = self._request(timeout, namespace)
        req.exists.key = _check_key("key", key, req)
        return _Op(req, t, lambda resp: _result(resp, "exists").exists, {ENOTFOUND: False})

    def _op_get_ttl(self, key, timeout, namespace) -> _Op:
        req, t = self._request(timeout, namespace)
        req.get_ttl.key = _check_key("key", key, req)

        def read(resp):
            r = _result(resp, "get_ttl")
            return int(r.ttl_s) if r.found else None

        return _Op(req, t, read, {ENOTFOUND: None})

    def _op_refresh_ttl(self, key, ttl, timeout, namespace) -> _Op:
        req, t = self._request(timeout, namespace)
        req.refresh_ttl.key = _check_key("key", key, req)
        ttl_s = _u32("ttl", ttl, MAX_TTL_S)
        if ttl_s < 1:
            raise InvalidArgument(EINVAL, f"ttl must be within 1..{MAX_TTL_S} seconds")
        req.refresh_ttl.ttl_s = ttl_s
        return _Op(req, t, lambda resp: _result(resp, "refresh_ttl").refreshed, {ENOTFOUND: False})

    def _op_acquire_lock(self, name, lease, wait, timeout, namespace) -> _Op:
        lease_ms = _u32("lease", None if lease is None else round(lease * 1000))
        wait_ms = _u32("wait", None if wait is None else round(wait * 1000))
        # The agent keeps trying for wait_ms: the call's own timeout comes on top of that.
        if timeout is None:
            timeout = self._timeout + wait_ms / 1000.0
        req, t = self._request(timeout, namespace)
        a = req.acquire_lock
        a.name = _check_key("name", name, req)
        a.lease_ms = lease_ms
        a.wait_ms = wait_ms

        def read(resp):
            r = _result(resp, "acquire_lock")
            if not r.acquired:
                return None
            if not r.handle:
                raise ProtocolError(EPROTO, "lock granted without a handle")
            return LockHandle(name=name, handle=r.handle, lease_ms=int(r.lease_ms))

        return _Op(req, t, read, {EBUSY: None})

    def _op_release_lock(self, lock, timeout, namespace) -> _Op:
        req, t = self._request(timeout, namespace)
        req.release_lock.handle = _handle_bytes(lock)
        return _Op(
            req, t, lambda resp: _result(resp, "release_lock").released, {EBADHANDLE: False}
        )

    def _op_renew_lock(self, lock, lease, timeout, namespace) -> _Op:
        lease_ms = _u32("lease", None if lease is None else round(lease * 1000))
        req, t = self._request(timeout, namespace)
        req.renew_lock.handle = _handle_bytes(lock)
        req.renew_lock.lease_ms = lease_ms
        return _Op(
            req, t, lambda resp: _result(resp, "renew_lock").renewed, {EBADHANDLE: False}
        )

    def _op_get_many(self, keys, secure, timeout, namespace) -> _Op:
        keys = [_check_key("key", k) for k in keys]
        if not 1 <= len(keys) <= MAX_BATCH:
            raise InvalidArgument(EINVAL, f"a batch holds 1..{MAX_BATCH} keys, not {len(keys)}")
        req, t = self._request(timeout, namespace)
        for k in keys:
            req.multi_get.items.add(key=k, secure=bool(secure))
        near = self._near
        ns = self._namespace if namespace is None else namespace

        def read(resp):
            items = _result(resp, "multi_get").items
            if len(items) != len(keys):
                raise ProtocolError(EPROTO, "batch reply has the wrong number of items")
            out = {}
            for k, item in zip(keys, items):
                if item.status == ENOTFOUND or (item.status == 0 and not item.get.found):
                    out[k] = None
                elif item.status != 0:
                    out[k] = error_for_status(item.status, item.message)
                else:
                    g = item.get
                    out[k] = g.value
                    if near is not None:
                        lookup, sk = near.key_of(ns or None, k, bool(secure))
                        near.put(lookup, sk, g.value, g.near_epoch, g.near_version,
                                 g.fresh_for_ms, g.freshness == pb.FRESHNESS_STALE, g.refresh_due)
            return out

        return _Op(req, t, read)

    def _op_set_many(self, items, ttl, timeout, namespace) -> _Op:
        items = list(items.items()) if isinstance(items, dict) else list(items)
        if not 1 <= len(items) <= MAX_BATCH:
            raise InvalidArgument(EINVAL, f"a batch holds 1..{MAX_BATCH} items, not {len(items)}")
        req, t = self._request(timeout, namespace)
        ttl_s = _u32("ttl", ttl, MAX_TTL_S)
        for k, v in items:
            if not isinstance(v, (bytes, bytearray, memoryview)):
                raise InvalidArgument(EINVAL, f"value must be bytes, not {type(v).__name__}")
            req.multi_set.items.add(key=_check_key("key", k), value=bytes(v), ttl_s=ttl_s)

        def read(resp):
            got = _result(resp, "multi_set").items
            if len(got) != len(items):
                raise ProtocolError(EPROTO, "batch reply has the wrong number of items")
            return {k: (None if r.status == 0 else error_for_status(r.status, r.message))
                    for (k, _), r in zip(items, got)}

        return _Op(req, t, read)

    def _op_health(self, timeout) -> _Op:
        req, t = self._request(timeout, "")
        req.health.SetInParent()

        def read(resp):
            h = _result(resp, "health")
            return {
                "healthy": h.healthy,
                "backend_type": h.backend_type,
                "latency_ms": h.latency_ms,
                "api_url": h.api_url,
                "version": h.version,
                "error": h.error,
                "error_type": h.error_type,
                "agent_version": h.agent_version,
            }

        return _Op(req, t, read)

    def _op_stats(self, timeout) -> _Op:
        req, t = self._request(timeout, "")
        req.stats.SetInParent()
        return _Op(req, t, lambda resp: {s.name: s.value for s in _result(resp, "stats").stats})


def finish(op: _Op, resp: pb.Response) -> Any:
    """Reads a reply for op: a result value, or raises the status's exception."""
    if resp.status != 0:
        if op.results is not None and resp.status in op.results:
            return op.results[resp.status]
        raise error_for_status(resp.status, resp.message)
    return op.read(resp)


class Client(_Base):
    """Synchronous, thread-safe client of the cachekit agent.

    ``endpoint``: ZeroMQ endpoint (default: see resolve_endpoint). ``timeout``: default
    seconds per call (every method also takes ``timeout=``). ``namespace``: default namespace
    (every method also takes ``namespace=``; "" means none). Connects lazily.
    """

    _shared_type = _transport.SharedSync

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _run(self, op: _Op) -> Any:
        _near_report.attach(self._near, op.req)
        return finish(op, self._shared.connection().call(op.req, op.timeout))

    def get(self, key: str, secure: bool = False, *, timeout=None, namespace=None) -> Optional[bytes]:
        """The value of key, or None on a miss."""
        hit, op = self._plan_get(key, secure, timeout, namespace, entry=False)
        return hit if op is None else self._run(op)

    def get_entry(self, key: str, secure: bool = False, *, timeout=None, namespace=None) -> Optional[Entry]:
        """The value of key with its freshness, or None on a miss."""
        hit, op = self._plan_get(key, secure, timeout, namespace, entry=True)
        return hit if op is None else self._run(op)

    def set(
        self,
        key: str,
        value: bytes,
        ttl: Optional[int] = None,
        stale_ttl: Optional[int] = None,
        secure: bool = False,
        sliding: bool = False,
        *,
        format: Optional[str] = None,
        timeout=None,
        namespace=None,
    ) -> None:
        """Stores value (bytes) at key; ttl/stale_ttl in seconds (ttl None: the agent's default-ttl)."""
        self._run(
            self._op_set(key, value, ttl, stale_ttl, secure, sliding, format, timeout, namespace)
        )

    def get_many(self, keys, secure: bool = False, *, timeout=None, namespace=None) -> Dict[str, Any]:
        """Reads 1..1000 keys in one round trip: {key: bytes, or None for a miss, or the
        item's exception (not raised)}. Keys held in the near cache are answered locally."""
        keys = list(keys)
        out: Dict[str, Any] = {}
        rest = []
        for k in keys:
            hit, _ = self._near_probe(k, secure, namespace, entry=False)
            if hit is not None:
                out[k] = hit
            else:
                rest.append(k)
        if rest:
            out.update(self._run(self._op_get_many(rest, secure, timeout, namespace)))
        return {k: out[k] for k in keys}

    def set_many(self, items, ttl: Optional[int] = None, *, timeout=None, namespace=None) -> Dict[str, Any]:
        """Stores 1..1000 values (a dict or (key, bytes) pairs) in one round trip:
        {key: None on success, or the item's exception (not raised)}."""
        return self._run(self._op_set_many(items, ttl, timeout, namespace))

    def delete(self, key: str, *, timeout=None, namespace=None) -> bool:
        """True when the key existed."""
        return self._run(self._op_delete(key, timeout, namespace))

    def exists(self, key: str, *, timeout=None, namespace=None) -> bool:
        return self._run(self._op_exists(key, timeout, namespace))

    def get_ttl(self, key: str, *, timeout=None, namespace=None) -> Optional[int]:
        """Seconds until eviction (rounded up); -1 for no expiry; None when absent."""
        return self._run(self._op_get_ttl(key, timeout, namespace))

    def refresh_ttl(self, key: str, ttl: int, *, timeout=None, namespace=None) -> bool:
        """Sets a new fresh window; False for an absent key. Raises Conflict when stale."""
        return self._run(self._op_refresh_ttl(key, ttl, timeout, namespace))

    def acquire_lock(
        self,
        name: str,
        lease: float = DEFAULT_LEASE_S,
        wait: float = 0.0,
        *,
        timeout=None,
        namespace=None,
    ) -> Optional[LockHandle]:
        """Acquires the lease lock on name (lease and wait in seconds); None if contested."""
        return self._run(self._op_acquire_lock(name, lease, wait, timeout, namespace))

    def release_lock(self, handle: LockRef, *, timeout=None, namespace=None) -> bool:
        """Releases a lock (LockHandle, handle bytes or hex id); False if the agent no longer
        knows it (expired or released)."""
        return self._run(self._op_release_lock(handle, timeout, namespace))

    def renew_lock(
        self, handle: LockRef, lease: float = DEFAULT_LEASE_S, *, timeout=None, namespace=None
    ) -> bool:
        """Renews a lock this process holds (LockHandle, handle bytes or hex id): its lease then
        ends lease seconds from now. False if it is no longer held (expired, taken by someone
        else, or released). Raises NotSupported over the cachekit.io API, which has no lock
        renewal."""
        return self._run(self._op_renew_lock(handle, lease, timeout, namespace))

    @contextlib.contextmanager
    def lock(
        self, name: str, lease: float = DEFAULT_LEASE_S, wait: float = 0.0, *, timeout=None, namespace=None
    ) -> Iterator[LockHandle]:
        """``with client.lock("k", wait=5):`` holds the lock for the block and releases it
        after. Raises LockContested if it cannot be acquired within wait."""
        handle = self.acquire_lock(name, lease, wait, timeout=timeout, namespace=namespace)
        if handle is None:
            raise LockContested(EBUSY, f"lock {name!r} is held by another holder")
        try:
            yield handle
        finally:
            self.release_lock(handle, timeout=timeout, namespace=namespace)

    def health(self, *, timeout=None) -> Dict[str, Any]:
        """The agent's health report (healthy, backend_type, latency_ms, api_url, ...)."""
        return self._run(self._op_health(timeout))

    def stats(self, *, timeout=None) -> Dict[str, float]:
        """Every agent counter and gauge by name."""
        return self._run(self._op_stats(timeout))
