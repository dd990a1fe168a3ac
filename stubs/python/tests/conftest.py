# SPDX-License-Identifier: Apache-2.0
"""Fixtures for the cachekit_stub tests.

* ``fake``: a fake agent, a ZeroMQ ROUTER socket in a thread on a temporary ipc endpoint. By
  default it behaves like a tiny agent (an in-memory dict for get/set/delete/exists, health,
  stats); a test scripts it with ``fake.handler = fn`` where fn(Request) returns a Response,
  None (no reply), or a list of (delay_seconds, Response) to send later, in any order.
  ``fake.restart()`` closes the socket and binds the endpoint again, like an agent restart.
* ``agent``: the real agent, ``$CK_AGENT_BIN --endpoint ipc://<tmp> --upstream memory:``,
  started per test module and waited for until a health() call succeeds. Tests that use it
  skip, saying why, when CK_AGENT_BIN is unset (ctest always sets it).

Run with PYTHONPATH pointing at a built package tree (CMake: ${CMAKE_BINARY_DIR}/python), or
after `pip install stubs/python`.
"""

from __future__ import annotations

import contextlib
import heapq
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
import zmq

try:
    import cachekit_stub
    from cachekit_stub import agent_pb2 as pb
except ImportError as exc:  # the source tree alone has no generated modules
    pytest.exit(
        f"cannot import cachekit_stub with its generated modules ({exc}); run the tests with "
        "PYTHONPATH=<cmake build dir>/python (ctest does), or pip install stubs/python",
        returncode=1,
    )

HERE = Path(__file__).resolve().parent
SOURCE_ROOT = HERE.parents[2]


def vectors_dir() -> Path:
    env = os.environ.get("CK_VECTORS_DIR")
    if env:
        return Path(env)
    return SOURCE_ROOT.parent / "shared" / "vectors"


def pytest_sessionfinish(session, exitstatus):
    # pytest exits 5 when it collected nothing; say so loudly rather than let a wrong path or
    # a broken conftest pass for "no failures".
    if exitstatus == 5:
        sys.stderr.write("cachekit_stub tests: NO TESTS WERE COLLECTED; failing the run\n")
        session.exitstatus = 1


# ---------------------------------------------------------------------------------------
# fake agent
# ---------------------------------------------------------------------------------------


def ok(req: pb.Request, **result) -> pb.Response:
    """A status-0 Response echoing req.id; result is one oneof field, e.g. get=pb.GetResult()."""
    resp = pb.Response(id=req.id, status=0)
    for name, msg in result.items():
        getattr(resp, name).CopyFrom(msg)
    return resp


def error(req: pb.Request, status: int, message: str = "") -> pb.Response:
    return pb.Response(id=req.id, status=status, message=message)


class FakeAgent:
    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.store: dict = {}
        self.requests: list = []  # every Request received, in order
        self.handler = self.default_handler
        self._ctx = zmq.Context()
        self._lock = threading.Lock()
        self._stop = False
        self._rebind = False
        self._later: list = []  # heap of (due, seq, identity, frame)
        self._seq = 0
        self._sock = self._bind()
        self._thread = threading.Thread(target=self._run, name="fake-agent", daemon=True)
        self._thread.start()

    def _bind(self) -> zmq.Socket:
        sock = self._ctx.socket(zmq.ROUTER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.bind(self.endpoint)
        return sock

    def default_handler(self, req: pb.Request):
        op = req.WhichOneof("op")
        key = getattr(getattr(req, op), "key", None)
        if req.namespace and key is not None:
            key = f"ns:{req.namespace}:{key}"
        if op == "get":
            if key in self.store:
                return ok(req, get=pb.GetResult(found=True, value=self.store[key],
                                                freshness=pb.FRESHNESS_FRESH, fresh_for_ms=-1))
            return ok(req, get=pb.GetResult(found=False))
        if op == "set":
            self.store[key] = req.set.value
            return ok(req, set=pb.SetResult())
        if op == "delete":
            return ok(req, delete=pb.DeleteResult(existed=self.store.pop(key, None) is not None))
        if op == "exists":
            return ok(req, exists=pb.ExistsResult(exists=key in self.store))
        if op == "health":
            return ok(req, health=pb.HealthResult(healthy=True, backend_type="memory",
                                                  latency_ms=0.1, api_url="memory:",
                                                  version="unknown", agent_version="fake"))
        if op == "stats":
            return ok(req, stats=pb.StatsResult(stats=[pb.Stat(name="requests_total",
                                                               value=len(self.requests))]))
        return error(req, 7, "fake agent: not scripted")

    def restart(self) -> None:
        """Closes the socket and binds the endpoint again (in the fake's thread)."""
        with self._lock:
            self._rebind = True
        deadline = time.monotonic() + 30
        while self._rebind and time.monotonic() < deadline:
            time.sleep(0.005)
        assert not self._rebind, "fake agent did not rebind"

    def _run(self) -> None:
        poller = zmq.Poller()
        poller.register(self._sock, zmq.POLLIN)
        while not self._stop:
            if self._rebind:
                poller.unregister(self._sock)
                self._sock.close(linger=0)
                self._later.clear()
                time.sleep(0.05)
                self._sock = self._bind()
                poller.register(self._sock, zmq.POLLIN)
                self._rebind = False
            timeout = 10
            if self._later:
                timeout = max(0, min(timeout, int((self._later[0][0] - time.monotonic()) * 1000)))
            for _sock, _ev in poller.poll(timeout):
                while True:
                    try:
                        identity, frame = self._sock.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    self._handle(identity, frame)
            now = time.monotonic()
            while self._later and self._later[0][0] <= now:
                _due, _seq, identity, frame = heapq.heappop(self._later)
                self._sock.send_multipart([identity, frame])
        self._sock.close(linger=0)

    def _handle(self, identity: bytes, frame: bytes) -> None:
        req = pb.Request()
        req.ParseFromString(frame)
        self.requests.append(req)
        out = self.handler(req)
        if out is None:
            return
        if isinstance(out, pb.Response):
            self._sock.send_multipart([identity, out.SerializeToString()])
            return
        for delay, resp in out:
            self._seq += 1
            heapq.heappush(self._later, (time.monotonic() + delay, self._seq, identity,
                                         resp.SerializeToString()))

    def close(self) -> None:
        self._stop = True
        self._thread.join(timeout=30)
        self._ctx.term()


@pytest.fixture
def tmp_ipc():
    # ipc paths must stay short (sun_path is 108 bytes): $TMPDIR (or /tmp), not tmp_path.
    d = tempfile.mkdtemp(prefix="ckpy-")  # $TMPDIR or /tmp
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def fake(tmp_ipc):
    agent = FakeAgent(f"ipc://{tmp_ipc}/fake.sock")
    yield agent
    agent.close()


@pytest.fixture
def client(fake):
    c = cachekit_stub.Client(fake.endpoint, timeout=30.0)
    yield c
    c.close()


# ---------------------------------------------------------------------------------------
# real agent
# ---------------------------------------------------------------------------------------


class RealAgent:
    def __init__(self, binary: str, workdir: str, extra_env: dict | None = None,
                 args: list | None = None) -> None:
        self.endpoint = f"ipc://{workdir}/agent.sock"
        self.log_path = Path(workdir) / "agent.log"
        env = dict(os.environ)
        for name in list(env):
            if name.startswith("CACHEKIT_"):
                del env[name]  # the test decides the agent's whole configuration
        env.update(extra_env or {})
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [binary, "--endpoint", self.endpoint, *(args or ["--upstream", "memory:"])],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT, env=env,
        )
        self._wait_ready()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def _wait_ready(self) -> None:
        probe = cachekit_stub.Client(self.endpoint, timeout=0.5)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"agent exited with {self.proc.returncode}:\n{self.log()}")
                try:
                    probe.health()
                    return
                except cachekit_stub.CacheKitError:
                    time.sleep(0.05)
            self.stop()
            raise RuntimeError(f"agent did not answer health() within 30 s:\n{self.log()}")
        finally:
            probe.close()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


def agent_binary() -> str:
    binary = os.environ.get("CK_AGENT_BIN")
    if not binary:
        pytest.skip("CK_AGENT_BIN is unset: set it to build/<dir>/agent/cachekit-agent "
                    "(ctest sets it) to run the tests against the real agent")
    if not os.access(binary, os.X_OK):
        pytest.fail(f"CK_AGENT_BIN={binary} is not an executable (is the agent built?)")
    return binary


# Master key for the real agent's secure=True tests (a test value; never a real secret).
TEST_MASTER_KEY = "4b" * 32


def _fake_api():
    """ck-fakeapi (tests/fakeapi), when ctest provides it; None otherwise."""
    if not (os.environ.get("CK_FAKEAPI") and os.environ.get("CK_TEST_CERTS")):
        return None
    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests" / "fakeapi"))
    from fakeapi import FakeApi  # noqa: PLC0415

    return FakeApi()


@contextlib.contextmanager
def real_agent(backend: str, env: dict, extra_args: tuple = ()):
    """A real agent on the embedded store ("memory") or on the cachekit.io API ("fakeapi":
    ck-fakeapi over TLS + HTTP/2), with env and extra_args; .backend names which, .api is the
    FakeApi or None. Stopped (and asserted to exit 0 on SIGTERM) and cleaned up on exit."""
    binary = agent_binary()
    env = dict(env)
    args = ["--upstream", "memory:"]
    api = None
    if backend == "fakeapi":
        api = _fake_api()
        if api is None:
            pytest.skip("CK_FAKEAPI / CK_TEST_CERTS unset: no fake API for the upstream run")
        api.start()
        env["CACHEKIT_API_KEY"] = "ck_sdk_test"
        args = ["--upstream", api.url, "--resolve", api.resolve, "--ca-file", api.ca]
    workdir = tempfile.mkdtemp(prefix="ckag-")
    try:
        proc = RealAgent(binary, workdir, env, args + list(extra_args))
        proc.backend = backend
        proc.api = api
        yield proc
        rc = proc.stop()
        assert rc == 0, f"agent exited with {rc} on SIGTERM:\n{proc.log()}"
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if api is not None:
            api.stop()


@pytest.fixture(scope="module", params=["memory", "fakeapi"])
def agent(request):
    """A real agent on the embedded store, and one on the cachekit.io API (ck-fakeapi over
    TLS + HTTP/2): every test that uses it runs against both."""
    with real_agent(request.param, {"CACHEKIT_MASTER_KEY": TEST_MASTER_KEY}) as proc:
        yield proc


@pytest.fixture(scope="module")
def agent_nokey():
    """A real agent with no master key configured."""
    binary = agent_binary()
    workdir = tempfile.mkdtemp(prefix="ckag-")
    proc = RealAgent(binary, workdir)
    yield proc
    proc.stop()
    shutil.rmtree(workdir, ignore_errors=True)
