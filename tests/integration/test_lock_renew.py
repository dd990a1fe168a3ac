# SPDX-License-Identifier: Apache-2.0
"""RenewLock end to end: stub -> a real agent -> its store, on the embedded store (memory:) and
on a real redis-server started here (test_redis.py's harness). A holder process acquires a
short lease and renews it long; another process cannot renew it (status 16); a competitor that
waits well past the first lease stays locked out (the store's lease and the agent's own lease
table both moved); when the holder dies the agent still releases the renewed lock at once. On
Redis the lock key's PTTL shows the renewal. The Python stub and cachekit-ctl are driven too.
Every wait is for a reply or a counter, with a deadline: no sleep-and-assume."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile

import pytest

HERE = os.path.dirname(__file__)
sys.path.insert(0, HERE)
from harness import AGENT, Agent, RawClient, ctl, pb, stats_of, wait_until  # noqa: E402
from test_redis import REDIS_CLI, REDIS_SERVER, Redis  # noqa: E402

pytestmark = pytest.mark.skipif(not AGENT, reason="CK_AGENT_BIN not set")
CK_OK, CK_EBADHANDLE = 0, 16
FIRST_LEASE_MS = 1000
RENEWED_MS = 120000

# The holder: its own process, so "another process" and "the holder died" are real. Acquires
# KEY with a short lease, renews it long, prints the handle, waits for stdin to close.
HOLDER = r"""
import sys, zmq
from cachekit.agent.v1 import agent_pb2 as pb
ep, key, first, renewed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
s = zmq.Context().socket(zmq.DEALER)
s.connect(ep)
def call(i, **op):
    s.send(pb.Request(id=i, deadline_ms=30000, **op).SerializeToString())
    if not s.poll(30000):
        sys.exit("no reply")
    r = pb.Response(); r.ParseFromString(s.recv()); return r
a = call(1, acquire_lock=pb.AcquireLockRequest(name=key, lease_ms=first))
assert a.status == 0 and a.acquire_lock.acquired, a
r = call(2, renew_lock=pb.RenewLockRequest(handle=a.acquire_lock.handle, lease_ms=renewed))
assert r.status == 0 and r.renew_lock.renewed and r.renew_lock.lease_ms == renewed, r
print(a.acquire_lock.handle.hex(), flush=True)
sys.stdin.read()
"""


@pytest.fixture(scope="module")
def redis():
    if not (REDIS_SERVER and REDIS_CLI):
        pytest.skip("redis-server or redis-cli missing")
    d = tempfile.mkdtemp(prefix="ck-renew-redis-")
    r = Redis(d).start()
    try:
        yield r
    finally:
        r.kill(signal.SIGTERM)
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(params=["memory", "redis"])
def upstream(request):
    if request.param == "memory":
        yield "memory:", None
    else:
        r = request.getfixturevalue("redis")
        yield f"redis+unix://{r.sock}", r


def start_holder(endpoint, key):
    p = subprocess.Popen([sys.executable, "-c", HOLDER, endpoint, key, str(FIRST_LEASE_MS),
                          str(RENEWED_MS)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         env=dict(os.environ))
    line = p.stdout.readline().decode().strip()  # the holder's event: acquired and renewed
    assert line, f"holder exited {p.wait(30)}"
    return p, bytes.fromhex(line)


def test_renewed_lock_outlives_its_first_lease_and_dies_with_its_holder(upstream):
    url, redis = upstream
    key = "renew:job"
    with Agent("--upstream", url) as a, RawClient(a.endpoint, 30000) as c:
        holder, handle = start_holder(a.endpoint, key)
        try:
            if redis is not None:
                pttl = int(redis.cli("PTTL", "ck:lock:{%s}" % key).stdout)
                assert RENEWED_MS - 10000 < pttl <= RENEWED_MS
            # Another process with the handle bytes: refused, as for release.
            r = c.call(renew_lock=pb().RenewLockRequest(handle=handle, lease_ms=RENEWED_MS))
            assert r.status == CK_EBADHANDLE and "another process" in r.message
            r = c.call(renew_lock=pb().RenewLockRequest(handle=b"\x00" * 16))
            assert r.status == CK_EBADHANDLE
            # A competitor that keeps trying for 2.5x the first lease stays locked out: the
            # agent answers only when its wait is over.
            wait_ms = FIRST_LEASE_MS * 5 // 2
            r = c.call(deadline_ms=30000, acquire_lock=pb().AcquireLockRequest(
                name=key, lease_ms=5000, wait_ms=wait_ms))
            assert r.status == CK_OK and not r.acquire_lock.acquired
            st = stats_of(c)
            assert st["locks_renewed_total"] == 1 and st["locks_expired_total"] == 0
            assert st["locks_held"] == 1
            # The holder dies: its renewed lock is released at once, long before 120 s.
            holder.kill()
            holder.wait(30)
            r = c.call(deadline_ms=30000, acquire_lock=pb().AcquireLockRequest(
                name=key, lease_ms=5000, wait_ms=25000))
            assert r.status == CK_OK and r.acquire_lock.acquired
            assert stats_of(c)["locks_released_on_holder_death_total"] == 1
            # Our own lock: we renew it; after release there is nothing to renew.
            mine = r.acquire_lock.handle
            r = c.call(renew_lock=pb().RenewLockRequest(handle=mine, lease_ms=60000))
            assert r.status == CK_OK and r.renew_lock.renewed and r.renew_lock.lease_ms == 60000
            if redis is not None:
                assert int(redis.cli("PTTL", "ck:lock:{%s}" % key).stdout) > 50000
            assert c.call(release_lock=pb().ReleaseLockRequest(handle=mine)).release_lock.released
            r = c.call(renew_lock=pb().RenewLockRequest(handle=mine))
            assert r.status == CK_EBADHANDLE
        finally:
            if holder.poll() is None:
                holder.kill()
            holder.wait(30)
            holder.stdout.close()
            holder.stdin.close()


def test_lease_taken_over_in_the_store_reads_not_renewed(redis):
    """The lease ran out in Redis and someone else took the lock: renewed=false, and the agent
    forgets the handle."""
    key = "renew:lost"
    with Agent("--upstream", f"redis+unix://{redis.sock}") as a, \
            RawClient(a.endpoint, 30000) as c:
        lk = c.call(acquire_lock=pb().AcquireLockRequest(name=key, lease_ms=60000)).acquire_lock
        assert lk.acquired
        redis.cli("SET", "ck:lock:{%s}" % key, "someone-else", "PX", "60000")
        r = c.call(renew_lock=pb().RenewLockRequest(handle=lk.handle, lease_ms=90000))
        assert r.status == CK_OK and not r.renew_lock.renewed
        assert redis.cli("GET", "ck:lock:{%s}" % key).stdout.strip() == b"someone-else"
        assert int(redis.cli("PTTL", "ck:lock:{%s}" % key).stdout) <= 60000
        wait_until(lambda: stats_of(c)["locks_held"] == 0, what="the lease to be forgotten")
        r = c.call(renew_lock=pb().RenewLockRequest(handle=lk.handle))
        assert r.status == CK_EBADHANDLE


def test_python_stub_and_ctl_renew(upstream):
    cachekit_stub = pytest.importorskip("cachekit_stub")
    url, redis = upstream
    key = "renew:py"
    with Agent("--upstream", url) as a, cachekit_stub.Client(a.endpoint, timeout=30.0) as c:
        h = c.acquire_lock(key, lease=1)
        assert h is not None
        assert c.renew_lock(h, lease=90) is True
        if redis is not None:
            assert int(redis.cli("PTTL", "ck:lock:{%s}" % key).stdout) > 80000
        # cachekit-ctl is another process: the agent refuses it the holder's handle (exit 1,
        # "not held by you"), and the lease is untouched.
        r = ctl(a.endpoint, "renew", "--lease", "5", h.hex)
        assert r.returncode == 1, r.stderr
        assert b"another process" in r.stderr
        r = ctl(a.endpoint, "--json", "renew", "zz")
        assert r.returncode == 2
        assert c.acquire_lock(key) is None
        assert c.release_lock(h) is True
        assert c.renew_lock(h) is False
