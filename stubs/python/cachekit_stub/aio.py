# SPDX-License-Identifier: Apache-2.0
"""The asyncio client: the same operations as Client, as coroutines, over zmq.asyncio.

One DEALER socket per client per process and event loop; a reader task matches replies to
waiting coroutines by request id, so any number of calls (asyncio.gather of thousands) are in
flight at once. A call that times out forgets its id; its late reply is dropped. An AsyncClient
belongs to one event loop at a time: used from a new loop, it opens a new socket there.
"""

from __future__ import annotations

import contextlib
from typing import Any, AsyncIterator, Dict, Optional

from . import _near_report, _transport
from .client import DEFAULT_LEASE_S, Entry, LockHandle, LockRef, _Base, _Op, finish
from .errors import EBUSY, LockContested


class AsyncClient(_Base):
    """asyncio client of the cachekit agent; arguments as for Client."""

    _shared_type = _transport.SharedAsync

    async def aclose(self) -> None:
        self.close()

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc) -> None:
        self.close()

    async def _run(self, op: _Op) -> Any:
        _near_report.attach(self._near, op.req)
        resp = await self._shared.connection().call(op.req, op.timeout)
        return finish(op, resp)

    async def get(self, key: str, secure: bool = False, *, timeout=None, namespace=None) -> Optional[bytes]:
        hit, op = self._plan_get(key, secure, timeout, namespace, entry=False)
        return hit if op is None else await self._run(op)

    async def get_entry(self, key: str, secure: bool = False, *, timeout=None, namespace=None) -> Optional[Entry]:
        hit, op = self._plan_get(key, secure, timeout, namespace, entry=True)
        return hit if op is None else await self._run(op)

    async def set(
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
        await self._run(
            self._op_set(key, value, ttl, stale_ttl, secure, sliding, format, timeout, namespace)
        )

    async def delete(self, key: str, *, timeout=None, namespace=None) -> bool:
        return await self._run(self._op_delete(key, timeout, namespace))

    async def exists(self, key: str, *, timeout=None, namespace=None) -> bool:
        return await self._run(self._op_exists(key, timeout, namespace))

    async def get_ttl(self, key: str, *, timeout=None, namespace=None) -> Optional[int]:
        return await self._run(self._op_get_ttl(key, timeout, namespace))

    async def refresh_ttl(self, key: str, ttl: int, *, timeout=None, namespace=None) -> bool:
        return await self._run(self._op_refresh_ttl(key, ttl, timeout, namespace))

    async def acquire_lock(
        self, name: str, lease: float = DEFAULT_LEASE_S, wait: float = 0.0, *, timeout=None, namespace=None
    ) -> Optional[LockHandle]:
        return await self._run(self._op_acquire_lock(name, lease, wait, timeout, namespace))

    async def release_lock(self, handle: LockRef, *, timeout=None, namespace=None) -> bool:
        return await self._run(self._op_release_lock(handle, timeout, namespace))

    async def renew_lock(
        self, handle: LockRef, lease: float = DEFAULT_LEASE_S, *, timeout=None, namespace=None
    ) -> bool:
        return await self._run(self._op_renew_lock(handle, lease, timeout, namespace))

    @contextlib.asynccontextmanager
    async def lock(
        self, name: str, lease: float = DEFAULT_LEASE_S, wait: float = 0.0, *, timeout=None, namespace=None
    ) -> AsyncIterator[LockHandle]:
        """``async with client.lock("k", wait=5):``; raises LockContested if not acquired."""
        handle = await self.acquire_lock(name, lease, wait, timeout=timeout, namespace=namespace)
        if handle is None:
            raise LockContested(EBUSY, f"lock {name!r} is held by another holder")
        try:
            yield handle
        finally:
            await self.release_lock(handle, timeout=timeout, namespace=namespace)

    async def health(self, *, timeout=None) -> Dict[str, Any]:
        return await self._run(self._op_health(timeout))

    async def stats(self, *, timeout=None) -> Dict[str, float]:
        return await self._run(self._op_stats(timeout))
