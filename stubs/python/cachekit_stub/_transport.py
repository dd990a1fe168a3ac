# SPDX-License-Identifier: Apache-2.0
"""The ZeroMQ side of the stub: endpoint resolution, request ids, and one DEALER socket per
client per process, for the sync client (an I/O thread) and the asyncio client (a reader task).

Why an I/O thread for the sync client: a ZeroMQ socket must never be used by two threads at
once, and that includes polling it. A "whoever waits receives" design would have to hold the
socket lock while blocked in poll, stalling every thread that wants to send. So one daemon
thread owns the socket: callers register a waiter under a small lock, queue the encoded frame
and wake the thread through a pipe; the thread sends queued frames, receives replies and hands
each to the waiter registered under its id. A caller that gives up removes its waiter, so a
late reply finds no waiter and is dropped (counted in ``late_replies``).

Fork safety: every connection records the pid that created it. A call from another pid (a
forked child) builds a fresh context, socket and thread, and keeps the parent's objects in
``_ABANDONED`` for the life of the process so the garbage collector never closes or destroys
them in the child (that would touch the parent's context). Locks that a fork may have copied
in a held state are replaced in the child by an ``os.register_at_fork`` hook.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import math
import os
import threading
import weakref
from typing import Deque, Dict, List, Optional, Tuple

import zmq
import zmq.asyncio

from . import agent_pb2 as pb
from .errors import ECONNECT, ETIMEDOUT, AgentUnreachable, CacheKitTimeout

DEFAULT_SYSTEM_ENDPOINT = "ipc:///run/cachekit/agent.sock"
MAX_DEADLINE_MS = 0xFFFFFFFF
# Replies larger than this are refused by the socket (the agent's own cap is lower).
MAX_REPLY_BYTES = 64 * 1024 * 1024

# Parent-process objects abandoned in a forked child; never released (see module docstring).
_ABANDONED: List[object] = []


def _retire(conn) -> None:
    """Close a connection this process opened; park one inherited across fork() in _ABANDONED
    (closing it would touch the parent's socket). None is a no-op."""
    if conn is None:
        return
    if conn.pid == os.getpid():
        conn.close()
    else:
        _ABANDONED.append(conn)


def resolve_endpoint(endpoint: Optional[str] = None) -> str:
    """The agent endpoint: the argument, else $CACHEKIT_AGENT_ENDPOINT, else
    ipc://$XDG_RUNTIME_DIR/cachekit/agent.sock for a non-root user with XDG_RUNTIME_DIR set,
    else ipc:///run/cachekit/agent.sock."""
    if endpoint:
        return endpoint
    env = os.environ.get("CACHEKIT_AGENT_ENDPOINT")
    if env:
        return env
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and os.geteuid() != 0:
        return f"ipc://{xdg.rstrip('/')}/cachekit/agent.sock"
    return DEFAULT_SYSTEM_ENDPOINT


def deadline_ms(timeout: float) -> int:
    """A timeout in seconds as the Request.deadline_ms the agent expects (at least 1 ms)."""
    if timeout is None or math.isnan(timeout) or timeout <= 0:
        raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
    return min(MAX_DEADLINE_MS, max(1, math.ceil(timeout * 1000)))


def _configure(sock: zmq.Socket) -> None:
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.MAXMSGSIZE, MAX_REPLY_BYTES)
    # A burst of many in-flight requests (asyncio.gather of thousands) must not hit the
    # default high-water mark of 1000 and be refused while the agent is simply busy.
    sock.setsockopt(zmq.SNDHWM, 100_000)
    sock.setsockopt(zmq.RCVHWM, 100_000)
    sock.setsockopt(zmq.RECONNECT_IVL, 50)
    sock.setsockopt(zmq.RECONNECT_IVL_MAX, 1000)


def parse_response(frame: bytes) -> Optional[pb.Response]:
    resp = pb.Response()
    try:
        resp.ParseFromString(frame)
    except Exception:  # a malformed frame from the peer is dropped, never raised
        return None
    return resp


class _Waiter:
    __slots__ = ("done", "reply", "error")

    def __init__(self) -> None:
        # A lock taken now and released by the I/O thread is the cheapest one-shot event.
        self.done = threading.Lock()
        self.done.acquire()
        self.reply: Optional[pb.Response] = None
        self.error: Optional[Exception] = None


class SyncConnection:
    """One DEALER socket owned by one I/O thread, in the process that created it."""

    def __init__(self, endpoint: str) -> None:
        self.pid = os.getpid()
        self.endpoint = endpoint
        self.late_replies = 0
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._pending: Dict[int, _Waiter] = {}
        self._outbox: Deque[Tuple[int, bytes]] = collections.deque()
        self._closed = False
        self._ctx = zmq.Context()
        self._sock = self._ctx.socket(zmq.DEALER)
        _configure(self._sock)
        self._sock.connect(endpoint)
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._thread = threading.Thread(target=self._run, name="cachekit-stub-io", daemon=True)
        self._thread.start()

    # ---- caller side ------------------------------------------------------------------

    def call(self, req: pb.Request, timeout: float) -> pb.Response:
        """Sends req (its id is assigned here) and waits up to timeout seconds for the reply.
        Raises CacheKitTimeout, or AgentUnreachable if the connection closed meanwhile."""
        waiter = _Waiter()
        with self._lock:
            if self._closed:
                raise AgentUnreachable(ECONNECT, "client is closed")
            rid = next(self._ids)
            req.id = rid
            self._pending[rid] = waiter
            self._outbox.append((rid, req.SerializeToString()))
        self._wake()
        if not waiter.done.acquire(timeout=timeout):
            with self._lock:
                mine = self._pending.pop(rid, None)
            if mine is not None:
                raise CacheKitTimeout(ETIMEDOUT, f"no reply from the agent within {timeout:g}s")
            # The I/O thread claimed the reply just as we gave up: it is about to hand it over.
            waiter.done.acquire()
        if waiter.error is not None:
            raise waiter.error
        return waiter.reply  # type: ignore[return-value]

    def close(self) -> None:
        """Stops the I/O thread and closes the socket (only in the creating process)."""
        if os.getpid() != self.pid:
            return
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._wake()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=5.0)

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"\0")
        except BlockingIOError:
            pass  # the pipe is full: the thread is already due to wake
        except OSError:
            pass  # closed during shutdown

    # ---- I/O thread -------------------------------------------------------------------

    def _run(self) -> None:
        poller = zmq.Poller()
        poller.register(self._sock, zmq.POLLIN)
        poller.register(self._wake_r, zmq.POLLIN)
        want_out = False
        try:
            while True:
                events = dict(poller.poll())
                if self._wake_r in events:
                    self._drain_wake()
                if self._closed:
                    break
                blocked = self._send_queued()
                if blocked != want_out:
                    want_out = blocked
                    poller.modify(self._sock, zmq.POLLIN | (zmq.POLLOUT if blocked else 0))
                self._receive_all()
        except Exception as exc:  # keep callers from hanging on a broken connection
            self._fail_all(AgentUnreachable(ECONNECT, f"agent connection failed: {exc}"))
        finally:
            with self._lock:
                self._closed = True
            self._fail_all(AgentUnreachable(ECONNECT, "client is closed"))
            self._sock.close(linger=0)
            self._ctx.term()
            os.close(self._wake_r)
            os.close(self._wake_w)

    def _drain_wake(self) -> None:
        try:
            while os.read(self._wake_r, 4096):
                pass
        except BlockingIOError:
            pass

    def _send_queued(self) -> bool:
        """Sends queued frames; True when the socket would block with frames still queued."""
        while True:
            with self._lock:
                if not self._outbox:
                    return False
                rid, frame = self._outbox[0]
                if rid not in self._pending:  # its caller already gave up
                    self._outbox.popleft()
                    continue
            try:
                self._sock.send(frame, zmq.NOBLOCK)
            except zmq.Again:
                return True
            with self._lock:
                self._outbox.popleft()

    def _receive_all(self) -> None:
        while True:
            try:
                frame = self._sock.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            resp = parse_response(frame)
            if resp is None:
                continue
            with self._lock:
                waiter = self._pending.pop(resp.id, None)
            if waiter is None:
                self.late_replies += 1
                continue
            waiter.reply = resp
            waiter.done.release()

    def _fail_all(self, error: Exception) -> None:
        with self._lock:
            waiters = list(self._pending.values())
            self._pending.clear()
            self._outbox.clear()
        for waiter in waiters:
            waiter.error = error
            waiter.done.release()


class SharedSync:
    """What every view of one sync Client shares: the endpoint and the per-process connection."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.lock = threading.Lock()
        self._box: List[Optional[SyncConnection]] = [None]
        self.closed = False
        _LIVE.add(self)
        # A client dropped without close() must not leave its I/O thread and socket behind.
        weakref.finalize(self, _close_boxed, self._box)

    @property
    def conn(self) -> Optional[SyncConnection]:
        return self._box[0]

    @conn.setter
    def conn(self, value: Optional[SyncConnection]) -> None:
        self._box[0] = value

    def connection(self) -> SyncConnection:
        conn = self.conn
        if conn is not None and conn.pid == os.getpid() and not conn._closed:
            return conn
        with self.lock:
            if self.closed:
                raise AgentUnreachable(ECONNECT, "client is closed")
            conn = self.conn
            if conn is not None and conn.pid != os.getpid():
                _ABANDONED.append(conn)  # a forked child: never touch the parent's socket
                conn = None
            if conn is None or conn._closed:
                conn = SyncConnection(self.endpoint)
                self.conn = conn
            return conn

    def close(self) -> None:
        with self.lock:
            self.closed = True
            conn, self.conn = self.conn, None
        _retire(conn)

    def _after_fork_in_child(self) -> None:
        self.lock = threading.Lock()


def _close_boxed(box: List[Optional[SyncConnection]]) -> None:
    conn = box[0]
    if conn is not None and conn.pid == os.getpid():
        conn.close()


class AsyncConnection:
    """One zmq.asyncio DEALER socket and its reader task, bound to one process and one loop."""

    def __init__(self, endpoint: str, loop: asyncio.AbstractEventLoop) -> None:
        self.pid = os.getpid()
        self.loop = loop
        self.late_replies = 0
        self._ids = itertools.count(1)
        self._pending: Dict[int, asyncio.Future] = {}
        self._closed = False
        self._ctx = zmq.asyncio.Context()
        self._sock = self._ctx.socket(zmq.DEALER)
        _configure(self._sock)
        self._sock.connect(endpoint)
        self._reader = loop.create_task(self._read())

    async def call(self, req: pb.Request, timeout: float) -> pb.Response:
        if self._closed:
            raise AgentUnreachable(ECONNECT, "client is closed")
        rid = next(self._ids)
        req.id = rid
        fut = self.loop.create_future()
        self._pending[rid] = fut
        try:
            try:
                await asyncio.wait_for(self._send_and_wait(req.SerializeToString(), fut), timeout)
            except asyncio.TimeoutError:
                raise CacheKitTimeout(
                    ETIMEDOUT, f"no reply from the agent within {timeout:g}s"
                ) from None
        finally:
            self._pending.pop(rid, None)
        return fut.result()

    async def _send_and_wait(self, frame: bytes, fut: asyncio.Future) -> None:
        await self._sock.send(frame)
        await asyncio.shield(fut)

    async def _read(self) -> None:
        try:
            while True:
                frame = await self._sock.recv()
                resp = parse_response(frame)
                if resp is None:
                    continue
                fut = self._pending.pop(resp.id, None)
                if fut is None or fut.done():
                    self.late_replies += 1
                    continue
                fut.set_result(resp)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._closed = True
            err = AgentUnreachable(ECONNECT, f"agent connection failed: {exc}")
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(err)
            self._pending.clear()

    def close(self) -> None:
        if self._closed or os.getpid() != self.pid:
            return
        self._closed = True
        if not self.loop.is_closed():
            self._reader.cancel()
        err = AgentUnreachable(ECONNECT, "client is closed")
        for fut in self._pending.values():
            if not fut.done() and not self.loop.is_closed():
                fut.set_exception(err)
        self._pending.clear()
        self._sock.close(linger=0)
        self._ctx.term()


class SharedAsync:
    """What every view of one AsyncClient shares: one connection per (process, event loop)."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.conn: Optional[AsyncConnection] = None
        self.closed = False

    def connection(self) -> AsyncConnection:
        if self.closed:
            raise AgentUnreachable(ECONNECT, "client is closed")
        loop = asyncio.get_running_loop()
        conn = self.conn
        if conn is not None and conn.pid == os.getpid() and conn.loop is loop and not conn._closed:
            return conn
        _retire(conn)  # same process: another (or a finished) event loop
        conn = AsyncConnection(self.endpoint, loop)
        self.conn = conn
        return conn

    def close(self) -> None:
        self.closed = True
        conn, self.conn = self.conn, None
        _retire(conn)


_LIVE: "weakref.WeakSet[SharedSync]" = weakref.WeakSet()


def _reset_locks_in_child() -> None:
    for shared in list(_LIVE):
        shared._after_fork_in_child()


os.register_at_fork(after_in_child=_reset_locks_in_child)
