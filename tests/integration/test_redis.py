# SPDX-License-Identifier: Apache-2.0
"""The agent in front of a self-hosted Redis, end to end: stub -> agent -> hiredis -> a real
redis-server started here (a single node on a unix socket, and a 3-master cluster on free
loopback ports built with redis-cli --cluster create). Covers every operation through the raw
protocol client and cachekit-ctl, cachekit-py's layout (values written by redis-cli read by a
stub and back), TTL and the stale window, locks across agents and holder death, kill -9 of
Redis under load and its restart, MOVED/ASK after a slot migration, and a cluster node down.
Servers are awaited by polling PING, never by sleeping."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest

HERE = os.path.dirname(__file__)
sys.path.insert(0, HERE)
from harness import AGENT, Agent, RawClient, ctl, pb  # noqa: E402

REDIS_SERVER = shutil.which("redis-server")
REDIS_CLI = shutil.which("redis-cli")
pytestmark = pytest.mark.skipif(not (AGENT and REDIS_SERVER and REDIS_CLI),
                                reason="CK_AGENT_BIN, redis-server or redis-cli missing")

CK_OK, CK_ETIMEDOUT, CK_EUNAVAILABLE, CK_EUPSTREAM, CK_ECONFLICT = 0, 4, 8, 11, 19
FRESH, STALE = 1, 2
WAIT_S = 30.0


def free_port(bus=False):
    """A free loopback port; with bus=True one whose cluster bus port (+10000) is free too."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if not bus:
            return port
        if port + 10000 > 65535:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port


def wait_until(what, cond, timeout=WAIT_S, step=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(step)
    raise AssertionError(f"timed out waiting for {what}")


class Redis:
    """One redis-server process (unix socket or TCP port)."""

    def __init__(self, workdir, port=0, unix=True, extra=(), password=None):
        self.dir = workdir
        self.password = password
        self.port = port
        self.sock = os.path.join(workdir, "redis.sock") if unix else None
        self.extra = list(extra)
        self.proc = None

    def start(self):
        args = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", self.dir, "--logfile",
                os.path.join(self.dir, "redis.log"), *self.extra]
        if self.sock:
            args += ["--unixsocket", self.sock]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until("redis PING", self.pings)
        return self

    def pings(self):
        if self.proc.poll() is not None:
            with open(os.path.join(self.dir, "redis.log"), errors="replace") as f:
                raise AssertionError(f"redis-server exited {self.proc.returncode}: {f.read()}")
        return self.cli("PING", check=False).stdout.strip() == b"PONG"

    def cli(self, *args, input=None, check=True):
        where = ["-s", self.sock] if self.sock else ["-h", "127.0.0.1", "-p", str(self.port)]
        if self.password:
            where += ["-a", self.password, "--no-auth-warning"]
        r = subprocess.run([REDIS_CLI, *where, *args], input=input, capture_output=True,
                           timeout=30)
        if check:
            assert r.returncode == 0, r.stderr
        return r

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(30)
        if self.sock and os.path.exists(self.sock):
            os.unlink(self.sock)


@pytest.fixture(scope="module")
def single():
    d = tempfile.mkdtemp(prefix="ck-redis-")
    r = Redis(d).start()
    try:
        yield r
    finally:
        r.kill(signal.SIGTERM)
        shutil.rmtree(d, ignore_errors=True)


def redis_agent(url, *args, env=None):
    return Agent("--upstream", url, "--timeout", "2", *args, env=env)


def status_ok(r):
    assert r.status == CK_OK, (r.status, r.message)
    return r


# ---- single node ------------------------------------------------------------------------------

def test_every_operation(single):
    with redis_agent(f"redis+unix://{single.sock}") as a, RawClient(a.endpoint, 5000) as c:
        status_ok(c.call(set=pb().SetRequest(key="user:1", value=b"\x00bin\xff", ttl_s=60)))
        g = status_ok(c.call(get=pb().GetRequest(key="user:1"))).get
        assert g.found and g.value == b"\x00bin\xff" and g.freshness == FRESH
        assert 55000 < g.fresh_for_ms <= 60000
        assert c.call(exists=pb().ExistsRequest(key="user:1")).exists.exists
        assert 55 <= c.call(get_ttl=pb().GetTtlRequest(key="user:1")).get_ttl.ttl_s <= 60
        assert c.call(refresh_ttl=pb().RefreshTtlRequest(key="user:1", ttl_s=120)).refresh_ttl.refreshed
        assert 115 <= int(single.cli("TTL", "user:1").stdout) <= 120
        lk = c.call(acquire_lock=pb().AcquireLockRequest(name="user:1", lease_ms=5000)).acquire_lock
        assert lk.acquired
        assert single.cli("EXISTS", "ck:lock:{user:1}").stdout.strip() == b"1"
        assert c.call(release_lock=pb().ReleaseLockRequest(handle=lk.handle)).release_lock.released
        assert single.cli("EXISTS", "ck:lock:{user:1}").stdout.strip() == b"0"
        assert c.call(delete=pb().DeleteRequest(key="user:1")).delete.existed
        assert not c.call(delete=pb().DeleteRequest(key="user:1")).delete.existed
        assert not c.call(get=pb().GetRequest(key="user:1")).get.found
        assert not c.call(exists=pb().ExistsRequest(key="user:1")).exists.exists
        h = c.call(health=pb().HealthRequest()).health
        version = single.cli("INFO", "server").stdout.decode()
        assert h.healthy and h.backend_type == "redis"
        assert h.api_url == f"redis+unix://{single.sock}"
        assert f"redis_version:{h.version}" in version
        assert h.latency_ms >= 0
        stats = {s.name: s.value for s in c.call(stats=pb().StatsRequest()).stats.stats}
        assert stats["redis_nodes"] == 1 and stats["redis_nodes_down"] == 0
        # the CLI stub too
        assert ctl(a.endpoint, "set", "--ttl", "30", "cli:k", "v1").returncode == 0
        assert ctl(a.endpoint, "get", "cli:k").stdout == b"v1"
        assert ctl(a.endpoint, "exists", "cli:k").stdout.strip() == b"true"


def test_values_shared_with_redis_cli(single):
    """cachekit-py's RedisBackend layout: the key, the bytes, SETEX. redis-cli stands in for
    a cachekit-py service."""
    blob = bytes(range(256)) * 4
    single.cli("-x", "SETEX", "py:shared", "300", input=blob)
    with redis_agent(f"redis+unix://{single.sock}") as a, RawClient(a.endpoint, 5000) as c:
        g = status_ok(c.call(get=pb().GetRequest(key="py:shared"))).get
        assert g.found and g.value == blob and g.freshness == FRESH
        assert 290000 < g.fresh_for_ms <= 300000
        assert ctl(a.endpoint, "get", "py:shared").stdout == blob
        status_ok(c.call(set=pb().SetRequest(key="agent:written", value=b"\xffback\x00", ttl_s=90)))
        raw = single.cli("--no-raw", "GET", "agent:written").stdout.strip()
        assert raw == b'"\\xffback\\x00"'
        assert 85 <= int(single.cli("TTL", "agent:written").stdout) <= 90
        assert single.cli("EXISTS", "ck:stale:{agent:written}").stdout.strip() == b"0"


def test_secure_values_are_sealed_in_redis(single):
    """Secure values reach Redis as interop/v1 ciphertext, sealed above the store."""
    from test_secure import K1, open_sealed  # noqa: PLC0415
    with redis_agent(f"redis+unix://{single.sock}", env={"CACHEKIT_MASTER_KEY": K1}) as a, \
            RawClient(a.endpoint, 5000) as c:
        status_ok(c.call(namespace="app", set=pb().SetRequest(key="card", value=b"4111",
                                                              secure=True, ttl_s=60)))
        stored = single.cli("--no-raw", "GET", "ns:app:card").stdout
        assert stored and b"4111" not in stored
        raw = subprocess.run([REDIS_CLI, "-s", single.sock, "GET", "ns:app:card"],
                             capture_output=True).stdout[:-1]  # redis-cli adds one "\n"
        assert open_sealed(raw, "ns:app:card") == b"4111"
        g = status_ok(c.call(namespace="app", get=pb().GetRequest(key="card", secure=True))).get
        assert g.found and g.value == b"4111"


def test_ttl_and_stale_window(single):
    with redis_agent(f"redis+unix://{single.sock}") as a, RawClient(a.endpoint, 5000) as c:
        status_ok(c.call(set=pb().SetRequest(key="st", value=b"v", ttl_s=1, stale_ttl_s=60)))
        g = c.call(get=pb().GetRequest(key="st")).get
        assert g.found and g.freshness == FRESH and 0 < g.fresh_for_ms <= 1000
        assert 59 <= c.call(get_ttl=pb().GetTtlRequest(key="st")).get_ttl.ttl_s <= 61
        # real time passes the fresh window; the entry is then served stale
        g = wait_until("a stale read", lambda: (lambda x: x if x.freshness == STALE else None)(
            c.call(get=pb().GetRequest(key="st")).get))
        assert g.found and g.value == b"v" and g.fresh_for_ms == 0
        r = c.call(refresh_ttl=pb().RefreshTtlRequest(key="st", ttl_s=30))
        assert r.status == CK_ECONFLICT
        # a write restarts both windows
        status_ok(c.call(set=pb().SetRequest(key="st", value=b"w", ttl_s=30, stale_ttl_s=60)))
        g = c.call(get=pb().GetRequest(key="st")).get
        assert g.freshness == FRESH and g.value == b"w"


def test_locks_across_agents_and_holder_death(single):
    url = f"redis+unix://{single.sock}"
    with redis_agent(url) as b, RawClient(b.endpoint, 30000) as cb:
        holder = redis_agent(url).start()
        try:
            with RawClient(holder.endpoint, 5000) as ca:
                lk = ca.call(acquire_lock=pb().AcquireLockRequest(name="job", lease_ms=1500))
                assert lk.acquire_lock.acquired
                other = cb.call(acquire_lock=pb().AcquireLockRequest(name="job", lease_ms=1500))
                assert not other.acquire_lock.acquired  # held by another agent
                holder.stop(signal.SIGKILL)  # the holder dies without releasing
            got = cb.call(deadline_ms=20000, acquire_lock=pb().AcquireLockRequest(
                name="job", lease_ms=5000, wait_ms=15000)).acquire_lock
            assert got.acquired  # the lease lapsed in Redis
            assert cb.call(release_lock=pb().ReleaseLockRequest(handle=got.handle)).release_lock.released
        finally:
            holder.log.close()
            shutil.rmtree(holder.dir, ignore_errors=True)
        # a CLI process that takes a lock and exits: the agent gives it back
        assert ctl(b.endpoint, "lock", "cli-job").returncode == 0
        got = cb.call(acquire_lock=pb().AcquireLockRequest(name="cli-job", lease_ms=5000,
                                                           wait_ms=10000)).acquire_lock
        assert got.acquired


def test_kill9_mid_load_and_restart(single):
    """Four clients set and get (a key's value never changes, so any value read can be
    checked) while Redis is killed: every request is answered by its deadline, with the right
    value or an error, never a wrong value; after a restart the agent serves again."""
    import threading

    def value_of(k):
        return f"value-of-{k}".encode() * 3

    with redis_agent(f"redis+unix://{single.sock}") as a:
        killed = threading.Event()
        problems, statuses, lock = [], set(), threading.Lock()

        def client(t):
            with RawClient(a.endpoint, 5000) as c:
                for i in range(300):
                    if t == 0 and i == 60:
                        single.kill(signal.SIGKILL)
                        killed.set()
                    k = f"load:{t}:{i % 40}"
                    t0 = time.monotonic()
                    try:
                        if i % 3 == 0:
                            r = c.call(deadline_ms=1000, set=pb().SetRequest(
                                key=k, value=value_of(k), ttl_s=600))
                        else:
                            r = c.call(deadline_ms=1000, get=pb().GetRequest(key=k))
                    except TimeoutError:
                        with lock:
                            problems.append(f"{k}: no answer")
                        continue
                    late = time.monotonic() - t0 > 2.0
                    wrong = r.status == CK_OK and r.HasField("get") and r.get.found and \
                        r.get.value != value_of(k)
                    bad = r.status not in (CK_OK, CK_ETIMEDOUT, CK_EUNAVAILABLE, CK_EUPSTREAM)
                    with lock:
                        statuses.add(r.status)
                        if late or wrong or bad:
                            problems.append(f"{k}: status {r.status} late={late} wrong={wrong}")

        threads = [threading.Thread(target=client, args=(t,)) for t in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(120)
        assert killed.is_set()
        assert not problems, problems[:5]
        assert statuses - {CK_OK}, "the kill was not noticed"
        with RawClient(a.endpoint, 5000) as c:
            single.start()  # no persistence: the data is gone, the agent must reconnect
            wait_until("the agent to serve again",
                       lambda: c.call(get=pb().GetRequest(key="load:0:1")).status == CK_OK)
            status_ok(c.call(set=pb().SetRequest(key="load:0:1", value=b"again")))
            assert c.call(get=pb().GetRequest(key="load:0:1")).get.value == b"again"
            stats = {s.name: s.value for s in c.call(stats=pb().StatsRequest()).stats.stats}
            assert stats["redis_reconnects"] >= 1


def test_password_sources():
    d = tempfile.mkdtemp(prefix="ck-redis-pw-")
    port = free_port()
    r = Redis(d, port=port, unix=False, extra=["--requirepass", "s3cret-pw"],
              password="s3cret-pw").start()
    try:
        # inside CACHEKIT_REDIS_URL (as cachekit-py users write it): taken, then hidden
        with Agent(env={"CACHEKIT_REDIS_URL": f"redis://:s3cret-pw@127.0.0.1:{port}"}) as a, \
                RawClient(a.endpoint, 5000) as c:
            status_ok(c.call(set=pb().SetRequest(key="pw", value=b"ok")))
            h = c.call(health=pb().HealthRequest()).health
            assert h.api_url == f"redis://127.0.0.1:{port}"
            assert "s3cret" not in a.read_log()
        # from CACHEKIT_REDIS_PASSWORD
        with Agent("--upstream", f"redis://127.0.0.1:{port}",
                   env={"CACHEKIT_REDIS_PASSWORD": "s3cret-pw"}) as a, \
                RawClient(a.endpoint, 5000) as c:
            assert c.call(get=pb().GetRequest(key="pw")).get.value == b"ok"
            assert "s3cret" not in a.read_log()
        # on the command line: refused
        bad = Agent("--upstream", f"redis://:s3cret-pw@127.0.0.1:{port}").start(wait=False)
        assert bad.proc.wait(30) == 2
        assert "refused" in bad.read_log() and "s3cret" not in bad.read_log()
        bad.log.close()
        shutil.rmtree(bad.dir, ignore_errors=True)
    finally:
        r.kill(signal.SIGTERM)
        shutil.rmtree(d, ignore_errors=True)


# ---- cluster --------------------------------------------------------------------------------

class Cluster:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="ck-rcluster-")
        self.nodes = []

    def start(self):
        for i in range(3):
            nd = os.path.join(self.dir, str(i))
            os.mkdir(nd)
            port = free_port(bus=True)
            self.nodes.append(Redis(nd, port=port, unix=False, extra=[
                "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                "--cluster-node-timeout", "3000", "--cluster-require-full-coverage", "no"]).start())
        addrs = [f"127.0.0.1:{n.port}" for n in self.nodes]
        r = subprocess.run([REDIS_CLI, "--cluster", "create", *addrs, "--cluster-replicas", "0",
                            "--cluster-yes"], capture_output=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        for n in self.nodes:
            wait_until("cluster_state:ok",
                       lambda n=n: b"cluster_state:ok" in n.cli("CLUSTER", "INFO").stdout)
        return self

    @property
    def url(self):
        return "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes[:2])

    def node_id(self, n):
        return n.cli("CLUSTER", "MYID").stdout.strip().decode()

    def owner(self, slot):
        for n in self.nodes:
            if n.proc.poll() is not None:
                continue
            for line in n.cli("CLUSTER", "NODES").stdout.decode().splitlines():
                f = line.split()
                if "myself" in f[2]:
                    for rng in f[8:]:
                        if rng.startswith("["):
                            continue
                        lo, _, hi = rng.partition("-")
                        if int(lo) <= slot <= int(hi or lo):
                            return n
        return None

    def stop(self):
        for n in self.nodes:
            n.kill(signal.SIGTERM)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster():
    c = Cluster()
    try:
        yield c.start()
    finally:
        c.stop()


def test_cluster_every_operation(cluster):
    with redis_agent(cluster.url) as a, RawClient(a.endpoint, 5000) as c:
        for i in range(200):
            status_ok(c.call(set=pb().SetRequest(key=f"ck:{i}", value=f"v{i}".encode(), ttl_s=300,
                                                 stale_ttl_s=30)))
        for i in range(200):
            g = status_ok(c.call(get=pb().GetRequest(key=f"ck:{i}"))).get
            assert g.found and g.value == f"v{i}".encode() and g.freshness == FRESH
        sizes = [int(n.cli("DBSIZE").stdout) for n in cluster.nodes]
        assert all(s > 0 for s in sizes) and sum(sizes) == 400  # entries + stale markers
        assert c.call(exists=pb().ExistsRequest(key="ck:7")).exists.exists
        assert 325 <= c.call(get_ttl=pb().GetTtlRequest(key="ck:7")).get_ttl.ttl_s <= 330
        assert c.call(refresh_ttl=pb().RefreshTtlRequest(key="ck:7", ttl_s=100)).refresh_ttl.refreshed
        lk = c.call(acquire_lock=pb().AcquireLockRequest(name="ck:7", lease_ms=5000)).acquire_lock
        assert lk.acquired
        assert not c.call(acquire_lock=pb().AcquireLockRequest(name="ck:7", lease_ms=5000)).acquire_lock.acquired
        assert c.call(release_lock=pb().ReleaseLockRequest(handle=lk.handle)).release_lock.released
        assert c.call(delete=pb().DeleteRequest(key="ck:7")).delete.existed
        assert not c.call(get=pb().GetRequest(key="ck:7")).get.found
        h = c.call(health=pb().HealthRequest()).health
        assert h.healthy and h.backend_type == "redis" and h.version != "unknown"
        stats = {s.name: s.value for s in c.call(stats=pb().StatsRequest()).stats.stats}
        assert stats["redis_nodes"] == 3  # two seeds given, the third discovered


def test_cluster_ask_and_moved_after_slot_migration(cluster):
    key = "migrating:key"
    with redis_agent(cluster.url) as a, RawClient(a.endpoint, 5000) as c:
        status_ok(c.call(set=pb().SetRequest(key=key, value=b"moves", ttl_s=300, stale_ttl_s=30)))
        slot = int(cluster.nodes[0].cli("CLUSTER", "KEYSLOT", key).stdout)
        src = cluster.owner(slot)
        dst = next(n for n in cluster.nodes if n is not src)
        src_id, dst_id = cluster.node_id(src), cluster.node_id(dst)
        dst.cli("CLUSTER", "SETSLOT", str(slot), "IMPORTING", src_id)
        src.cli("CLUSTER", "SETSLOT", str(slot), "MIGRATING", dst_id)
        keys = src.cli("CLUSTER", "GETKEYSINSLOT", str(slot), "100").stdout.split()
        assert set(keys) >= {key.encode(), b"ck:stale:{" + key.encode() + b"}"}
        r = src.cli("MIGRATE", "127.0.0.1", str(dst.port), "", "0", "5000", "KEYS",
                    *[k.decode() for k in keys])
        assert b"OK" in r.stdout, r.stdout
        # mid-migration: the source answers ASK
        g = status_ok(c.call(get=pb().GetRequest(key=key))).get
        assert g.found and g.value == b"moves" and g.freshness == FRESH
        for n in cluster.nodes:
            n.cli("CLUSTER", "SETSLOT", str(slot), "NODE", dst_id)
        # done: the old owner answers MOVED
        g = status_ok(c.call(get=pb().GetRequest(key=key))).get
        assert g.found and g.value == b"moves"
        status_ok(c.call(set=pb().SetRequest(key=key, value=b"moved", ttl_s=300)))
        assert dst.cli("GET", key).stdout.strip() == b"moved"
        stats = {s.name: s.value for s in c.call(stats=pb().StatsRequest()).stats.stats}
        assert stats["redis_redirects"] >= 2


def test_cluster_node_down(cluster):
    """Runs last in the module: it kills a master. Two agents watch: one with stale-if-error
    off sees a clear error for the dead node's slots; the one that wrote the keys (stale-if-error
    on, the default) answers them with its last copy, marked stale. Other slots keep serving."""
    with redis_agent(cluster.url) as a, RawClient(a.endpoint, 5000) as c, \
            redis_agent(cluster.url, "--stale-if-error-size", "0") as b, \
            RawClient(b.endpoint, 5000) as plain:
        keys = [f"down:{i}" for i in range(60)]
        for k in keys:
            status_ok(c.call(set=pb().SetRequest(key=k, value=k.encode(), ttl_s=300)))
        victim = cluster.nodes[2]
        slot_of = {k: int(cluster.nodes[0].cli("CLUSTER", "KEYSLOT", k).stdout) for k in keys}
        on_victim = {k for k in keys if cluster.owner(slot_of[k]) is victim}
        assert on_victim and len(on_victim) < len(keys)
        victim.kill(signal.SIGKILL)
        for k in keys:
            r = plain.call(deadline_ms=1000, get=pb().GetRequest(key=k))
            s = c.call(deadline_ms=1000, get=pb().GetRequest(key=k))
            if k in on_victim:
                assert r.status in (CK_EUPSTREAM, CK_EUNAVAILABLE, CK_ETIMEDOUT), r
                assert s.status == CK_OK and s.get.value == k.encode(), s
                assert s.get.freshness == STALE, s
            else:
                assert r.status == CK_OK and r.get.value == k.encode(), r
                assert s.status == CK_OK and s.get.value == k.encode(), s
