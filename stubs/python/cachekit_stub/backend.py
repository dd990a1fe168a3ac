# SPDX-License-Identifier: Apache-2.0
"""AgentBackend: a cachekit-py backend that stores through the local cachekit agent.

``@cache(backend=AgentBackend())`` in an app using cachekit-py sends every L2 operation to the
agent instead of to the API, so the app holds no API key and shares the agent's connection
pool, near cache and locks with every other process on the host.

The method set, signatures, defaults and result semantics follow cachekit-py's backend
protocols (BaseBackend, its async variants, LockableBackend, TTLInspectableBackend,
TimeoutConfigurableBackend) as its cachekit.io backend implements them; the list that is
checked is tests/cachekit_py_protocol.py. Errors: operations raise cachekit-py's BackendError
(with its error_type) when cachekit-py is installed, else the stub's CacheKitError (which
carries the same ``error_type`` attribute). As in cachekit-py, lock and TTL operations never
raise: failures read as "not acquired", None or False.
"""

from __future__ import annotations

import time
from typing import Any

from .aio import AsyncClient
from .client import Client
from .errors import CacheKitError

__all__ = ["AgentBackend"]


def _translate(exc: CacheKitError, operation: str, key: str | None) -> Exception:
    """cachekit-py's BackendError for exc when cachekit-py is importable, else exc itself."""
    try:
        from cachekit.backends.errors import BackendError, BackendErrorType
    except Exception:
        return exc
    return BackendError(
        f"{exc.name}: {exc.message}",
        error_type=BackendErrorType(exc.error_type),
        original_exception=exc,
        operation=operation,
        key=key,
    )


class AgentBackend:
    """cachekit-py backend over the cachekit agent.

    endpoint: agent endpoint (default: $CACHEKIT_AGENT_ENDPOINT, then the runtime-dir or system
    socket). timeout: seconds per operation (default 5). namespace: agent namespace for every
    key (None: none). One sync and one asyncio socket per process, opened on first use.
    """

    def __init__(
        self,
        endpoint: str | None = None,
        timeout: float | None = None,
        namespace: str | None = None,
    ) -> None:
        self._sync = Client(endpoint, timeout=timeout if timeout else 5.0, namespace=namespace)
        self._async = AsyncClient(self._sync.endpoint, timeout=self._sync.timeout, namespace=namespace)

    @property
    def client(self) -> Client:
        """The synchronous stub client this backend uses."""
        return self._sync

    @property
    def async_client(self) -> AsyncClient:
        return self._async

    def close(self) -> None:
        self._sync.close()
        self._async.close()

    # ---- BaseBackend (sync) -----------------------------------------------------------

    def get(self, key: str) -> bytes | None:
        try:
            return self._sync.get(key)
        except CacheKitError as exc:
            raise _translate(exc, "get", key) from exc

    def set(self, key: str, value: bytes, ttl: int | None = None) -> None:
        try:
            self._sync.set(key, value, ttl=ttl)
        except CacheKitError as exc:
            raise _translate(exc, "set", key) from exc

    def delete(self, key: str) -> bool:
        try:
            return self._sync.delete(key)
        except CacheKitError as exc:
            raise _translate(exc, "delete", key) from exc

    def exists(self, key: str) -> bool:
        try:
            return self._sync.exists(key)
        except CacheKitError as exc:
            raise _translate(exc, "exists", key) from exc

    def health_check(self) -> tuple[bool, dict[str, Any]]:
        start = time.monotonic()
        try:
            report = self._sync.health()
        except Exception as exc:
            return _unhealthy(exc)
        return _health(report, start)

    # ---- async variants ----------------------------------------------------------------

    async def get_async(self, key: str) -> bytes | None:
        try:
            return await self._async.get(key)
        except CacheKitError as exc:
            raise _translate(exc, "get", key) from exc

    async def set_async(self, key: str, value: bytes, ttl: int | None = None) -> None:
        try:
            await self._async.set(key, value, ttl=ttl)
        except CacheKitError as exc:
            raise _translate(exc, "set", key) from exc

    async def delete_async(self, key: str) -> bool:
        try:
            return await self._async.delete(key)
        except CacheKitError as exc:
            raise _translate(exc, "delete", key) from exc

    async def exists_async(self, key: str) -> bool:
        try:
            return await self._async.exists(key)
        except CacheKitError as exc:
            raise _translate(exc, "exists", key) from exc

    async def health_check_async(self) -> tuple[bool, dict[str, Any]]:
        start = time.monotonic()
        try:
            report = await self._async.health()
        except Exception as exc:
            return _unhealthy(exc)
        return _health(report, start)

    # ---- LockableBackend ---------------------------------------------------------------

    async def acquire_lock(self, lock_key: str, timeout: int = 5) -> str | None:
        """One attempt at the lock on lock_key with a lease of timeout seconds. Returns the
        agent's opaque handle as a hex string (the lock id), or None if contested or failed."""
        try:
            handle = await self._async.acquire_lock(lock_key, lease=max(0.001, float(timeout)))
        except CacheKitError:
            return None
        return handle.hex if handle is not None else None

    async def release_lock(self, lock_key: str, lock_id: str) -> bool:
        """Releases the lock acquired as lock_id; False if it was not held (or on error)."""
        try:
            return await self._async.release_lock(lock_id)
        except CacheKitError:
            return False

    # ---- TTLInspectableBackend ---------------------------------------------------------

    async def get_ttl(self, key: str) -> int | None:
        """Seconds until eviction; None when absent, without expiry, or on error."""
        try:
            ttl = await self._async.get_ttl(key)
        except CacheKitError:
            return None
        return ttl if ttl is not None and ttl >= 0 else None

    async def refresh_ttl(self, key: str, ttl: int) -> bool:
        """True when the key's TTL was refreshed; False when absent, stale or on error."""
        try:
            return await self._async.refresh_ttl(key, ttl)
        except CacheKitError:
            return False

    # ---- TimeoutConfigurableBackend ----------------------------------------------------

    def with_timeout(self, timeout: float) -> AgentBackend:
        """A backend with another per-operation timeout (seconds), sharing the sockets."""
        view = object.__new__(AgentBackend)
        view._sync = self._sync.with_timeout(timeout)
        view._async = self._async.with_timeout(timeout)
        return view


def _health(report: dict, start: float) -> tuple[bool, dict[str, Any]]:
    latency_ms = round((time.monotonic() - start) * 1000.0, 2)
    details: dict[str, Any] = {
        "backend_type": "agent",
        "latency_ms": latency_ms,
        "api_url": report["api_url"],
        "version": report["version"] or "unknown",
        "upstream_backend_type": report["backend_type"],
        "upstream_latency_ms": report["latency_ms"],
        "agent_version": report["agent_version"],
    }
    if not report["healthy"]:
        details["error"] = report["error"]
        details["error_type"] = report["error_type"]
    return bool(report["healthy"]), details


def _unhealthy(exc: Exception) -> tuple[bool, dict[str, Any]]:
    return False, {
        "backend_type": "agent",
        "latency_ms": -1,
        "error": str(exc),
        "error_type": type(exc).__name__,
    }
