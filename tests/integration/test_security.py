# SPDX-License-Identifier: Apache-2.0
"""The agent as an attacker on the same host would try it (docs/security.md): an unprivileged
user pre-creating, symlinking or swapping the runtime directory, the lock file and the socket
of a root agent; SIGTERM while a client waits for a held lock; a client that never reads its
replies; a flood of refused requests. Real agent processes, real users, real sockets."""
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

import pytest
import zmq

sys.path.insert(0, os.path.dirname(__file__))
from harness import AGENT, Agent, RawClient, pb  # noqa: E402

CK_OK, CK_EPROTO, CK_EDENIED, CK_ESHUTDOWN, CK_EOVERLOAD = 0, 6, 13, 21, 27
EXIT_CONFIG = 2

pytestmark = pytest.mark.skipif(not AGENT, reason="CK_AGENT_BIN not set")

def _has_nobody():
    try:
        return pwd.getpwnam("nobody").pw_uid != 0
    except KeyError:
        return False


needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None or not _has_nobody(),
    reason="needs root (to run a root agent against an unprivileged user), setpriv and the "
           "nobody user")


def clean_env():
    return {k: v for k, v in os.environ.items() if not k.startswith("CACHEKIT_")}


def attacker_ids():
    pw = pwd.getpwnam("nobody")
    return pw.pw_uid, pw.pw_gid


def as_attacker(code, background=False):
    """Runs Python code as the unprivileged user (nobody, no supplementary groups)."""
    uid, gid = attacker_ids()
    argv = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--",
            sys.executable, "-c", code]
    if background:
        return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r


@pytest.fixture
def host():
    """A root-owned tree: shared/ is world-writable with the sticky bit (like /tmp), victim is
    a root file 0600 the attacker wants the agent to touch, vault/ a root directory 0700."""
    base = tempfile.mkdtemp(prefix="ck-sec-")
    os.chmod(base, 0o755)
    shared = os.path.join(base, "shared")
    os.mkdir(shared)
    os.chmod(shared, 0o1777)
    victim = os.path.join(base, "victim")
    with open(victim, "w") as f:
        f.write("root's data\n")
    os.chmod(victim, 0o600)
    vault = os.path.join(base, "vault")
    os.mkdir(vault, 0o700)
    try:
        yield {"base": base, "shared": shared, "victim": victim, "vault": vault}
    finally:
        shutil.rmtree(base, ignore_errors=True)


def assert_victim_untouched(host):
    st = os.lstat(host["victim"])
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == 0
    with open(host["victim"]) as f:
        assert f.read() == "root's data\n"
    assert os.listdir(host["vault"]) == []


def run_agent_expecting_refusal(endpoint):
    r = subprocess.run([AGENT, "--endpoint", endpoint], capture_output=True, text=True,
                       timeout=60, env=clean_env())
    assert r.returncode == EXIT_CONFIG, (r.returncode, r.stderr)
    return r.stderr


@needs_root
def test_root_agent_refuses_a_socket_directory_an_unprivileged_user_made(host):
    run = os.path.join(host["shared"], "run")
    as_attacker(f"import os; os.mkdir({run!r}); os.chmod({run!r}, 0o777)")
    err = run_agent_expecting_refusal(f"ipc://{run}/agent.sock")
    uid, _ = attacker_ids()
    assert f"refusing socket directory {run}: owned by uid {uid}" in err
    assert os.listdir(run) == []


@needs_root
def test_root_agent_refuses_a_directory_under_a_parent_an_unprivileged_user_owns(host):
    evil = os.path.join(host["shared"], "evil")
    as_attacker(f"import os; os.mkdir({evil!r}, 0o755)")
    err = run_agent_expecting_refusal(f"ipc://{evil}/run/agent.sock")
    assert f"refusing socket directory parent {evil}" in err
    assert os.listdir(evil) == []


@needs_root
def test_root_agent_refuses_a_symlinked_socket_directory(host):
    run = os.path.join(host["shared"], "run")
    as_attacker(f"import os; os.symlink({host['vault']!r}, {run!r})")
    err = run_agent_expecting_refusal(f"ipc://{run}/agent.sock")
    assert f"refusing socket directory {run}: it is a symbolic link" in err
    assert_victim_untouched(host)


@needs_root
def test_root_agent_never_writes_through_a_symlinked_lock_file(host):
    # Planted by the attacker in a directory of theirs: the directory is refused first.
    run = os.path.join(host["shared"], "run")
    as_attacker(f"import os; os.mkdir({run!r}, 0o755); "
                f"os.symlink({host['victim']!r}, {run!r} + '/agent.sock.lock')")
    err = run_agent_expecting_refusal(f"ipc://{run}/agent.sock")
    assert f"refusing socket directory {run}" in err
    assert_victim_untouched(host)
    # Left in a directory of root's (a stale link, a mistake): the lock file is refused.
    mine = os.path.join(host["base"], "mine")
    os.mkdir(mine, 0o700)
    os.symlink(host["victim"], os.path.join(mine, "agent.sock.lock"))
    err = run_agent_expecting_refusal(f"ipc://{mine}/agent.sock")
    assert f"refusing lock file {mine}/agent.sock.lock: it is a symbolic link" in err
    assert_victim_untouched(host)


@needs_root
def test_root_agent_is_not_fooled_by_a_socket_swapped_for_a_symlink(host):
    run = os.path.join(host["shared"], "run")
    os.makedirs(run)
    ready = os.path.join(host["shared"], "swapper-ready")
    # The attacker's loop keeps replacing agent.sock with a symlink to root's file.
    swapper = as_attacker(
        "import os\n"
        f"run, victim, ready = {run!r}, {host['victim']!r}, {ready!r}\n"
        "open(ready, 'w').close()\n"
        "while True:\n"
        "    try:\n"
        "        os.symlink(victim, run + '/.x')\n"
        "        os.rename(run + '/.x', run + '/agent.sock')\n"
        "    except OSError:\n"
        "        pass\n", background=True)
    try:
        # The directory root made is not the attacker's to write: the loop only fails.
        deadline = time.monotonic() + 30
        while not os.path.exists(ready):
            assert swapper.poll() is None, swapper.stderr.read()
            assert time.monotonic() < deadline
            time.sleep(0.01)
        with Agent(workdir=tempfile.mkdtemp(prefix="ck-sec-agent-"),
                   endpoint=f"ipc://{run}/agent.sock") as a:
            assert stat.S_ISSOCK(os.lstat(f"{run}/agent.sock").st_mode)
            with RawClient(a.endpoint) as c:
                assert c.call(health=pb().HealthRequest()).status == CK_OK
        assert_victim_untouched(host)
        # Now a directory the attacker owns, with the loop swapping inside it.
        shutil.rmtree(run)
        as_attacker(f"import os; os.mkdir({run!r}, 0o777); os.chmod({run!r}, 0o777)")
        err = run_agent_expecting_refusal(f"ipc://{run}/agent.sock")
        assert f"refusing socket directory {run}" in err
        assert_victim_untouched(host)
    finally:
        swapper.kill()
        swapper.wait()
        swapper.stderr.close()


@needs_root
def test_root_agent_makes_its_directory_private(host):
    run = os.path.join(host["shared"], "run")
    with Agent(workdir=tempfile.mkdtemp(prefix="ck-sec-agent-"),
               endpoint=f"ipc://{run}/agent.sock") as a:
        d = os.lstat(run)
        assert stat.S_ISDIR(d.st_mode) and stat.S_IMODE(d.st_mode) == 0o700 and d.st_uid == 0
        s = os.lstat(f"{run}/agent.sock")
        assert stat.S_ISSOCK(s.st_mode) and s.st_uid == 0
        with RawClient(a.endpoint) as c:
            assert c.call(health=pb().HealthRequest()).status == CK_OK
    # Socket and lock file go; the near-cache version table stays (epoch 0 until the next agent
    # writes its own epoch into it, so stubs that map it drop their copies: docs/near-cache.md).
    assert sorted(os.listdir(run)) == ["agent.sock.ver"]
    v = os.stat(os.path.join(run, "agent.sock.ver"), follow_symlinks=False)
    assert stat.S_ISREG(v.st_mode) and v.st_uid == 0 and not stat.S_IMODE(v.st_mode) & 0o022


def test_group_or_world_writable_socket_directory_is_refused():
    base = tempfile.mkdtemp(prefix="ck-sec-")
    try:
        run = os.path.join(base, "run")
        os.mkdir(run)
        os.chmod(run, 0o770)
        err = run_agent_expecting_refusal(f"ipc://{run}/agent.sock")
        assert f"refusing socket directory {run}: mode 0770 is writable by group or others" in err
        assert os.listdir(run) == []
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_sigterm_answers_a_lock_waiter_and_ends_the_drain_early():
    with Agent() as agent, RawClient(agent.endpoint) as holder, \
            RawClient(agent.endpoint, 60000) as waiter:
        assert holder.call(acquire_lock=pb().AcquireLockRequest(
            name="held", lease_ms=60000)).acquire_lock.acquired
        req = pb().Request(id=91, deadline_ms=60000, acquire_lock=pb().AcquireLockRequest(
            name="held", lease_ms=1000, wait_ms=60000))
        waiter.sock.send(req.SerializeToString())
        # Requests on one connection are taken in order: once Health is answered, the
        # acquire before it is waiting inside the agent.
        h = pb().Request(id=92, health=pb().HealthRequest())
        waiter.sock.send(h.SerializeToString())
        assert waiter.recv(30000).id == 92
        agent.send_signal(signal.SIGTERM)
        r = waiter.recv(30000)
        assert r.id == 91 and r.status == CK_ESHUTDOWN and not r.acquire_lock.acquired
        assert agent.proc.wait(30) == 0
        log = agent.read_log()
        assert "stopped" in log
        assert "giving up on" not in log  # the drain ended when nothing was left
        assert "AddressSanitizer" not in log and "runtime error" not in log


def count_refusal_lines(log, needle):
    """(lines printed for refusals, flush lines, refusals counted as suppressed)."""
    printed = flushes = suppressed = 0
    for line in log.splitlines():
        if needle not in line:
            continue
        m = re.search(r"\((\d+) similar suppressed\)( last: )?", line)
        suppressed += int(m.group(1)) if m else 0
        if m and m.group(2):
            flushes += 1
        else:
            printed += 1
    return printed, flushes, suppressed


@pytest.mark.parametrize("kind", ["malformed", "denied"])
def test_twenty_thousand_refusals_log_a_few_lines_and_a_suppressed_count(kind):
    n = 20000
    args = ["--allow-uids", "54321"] if kind == "denied" else []
    needle = "malformed request" if kind == "malformed" else "denied request"
    want = CK_EPROTO if kind == "malformed" else CK_EDENIED
    with Agent(*args) as agent, RawClient(agent.endpoint) as c:
        frame = b"\xff\xff\xff" if kind == "malformed" else \
            pb().Request(id=5, get=pb().GetRequest(key="k")).SerializeToString()
        for _ in range(n):
            c.sock.send(frame)
        for _ in range(n):
            assert c.recv(30000).status == want
        assert agent.stop() == 0
        printed, flushes, suppressed = count_refusal_lines(agent.read_log(), needle)
    assert 1 <= printed <= 60 and 1 <= flushes <= 60, (printed, flushes)
    # Every refusal is a line of its own or counted in a "suppressed" total.
    assert printed + suppressed == n


def proc_status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"{field} missing from /proc/{pid}/status")


def stat_value(client, name):
    r = client.call(stats=pb().StatsRequest())
    return next((s.value for s in r.stats.stats if s.name == name), 0)


def test_a_client_that_never_reads_cannot_grow_the_agent():
    limit = 16 << 20
    value = os.urandom(1 << 20)
    n = 800  # 800 MiB of replies if nothing bounded them
    with Agent(env={"CACHEKIT_MAX_PEER_QUEUED_BYTES": str(limit)}) as agent, \
            RawClient(agent.endpoint, 30000) as a:
        assert a.call(set=pb().SetRequest(key="big", value=value)).status == CK_OK
        assert a.call(get=pb().GetRequest(key="big")).get.value == value
        base_kib = proc_status_kib(agent.proc.pid, "VmRSS")
        hits_before = stat_value(a, "get_hits_total")
        ctx = zmq.Context()
        lazy = ctx.socket(zmq.DEALER)
        lazy.setsockopt(zmq.LINGER, 0)
        lazy.setsockopt(zmq.RCVHWM, 1)
        lazy.setsockopt(zmq.RCVBUF, 4096)
        lazy.connect(agent.endpoint)
        try:
            for i in range(1, n + 1):
                lazy.send(pb().Request(id=i, deadline_ms=30000,
                                       get=pb().GetRequest(key="big")).SerializeToString())
            # Wait for the agent to have taken every request and finished every reply.
            deadline = time.monotonic() + 60
            while True:
                done = stat_value(a, "get_hits_total") - hits_before >= n
                if done and stat_value(a, "inflight_requests") <= 1:  # 1: this Stats
                    break
                assert time.monotonic() < deadline, "agent did not take the requests"
                time.sleep(0.05)
            peak_kib = proc_status_kib(agent.proc.pid, "VmHWM")
            grown = (peak_kib - base_kib) * 1024
            assert grown < limit + (256 << 20), f"agent grew by {grown >> 20} MiB"
            assert stat_value(a, "peer_queue_refusals_total") > 0
            # When it finally reads: every request was answered, the first ones with the
            # value, the rest CK_EOVERLOAD.
            statuses = []
            while len(statuses) < n:
                assert lazy.poll(30000), f"only {len(statuses)} replies"
                r = pb().Response()
                r.ParseFromString(lazy.recv())
                statuses.append(r.status)
                if r.status == CK_OK:
                    assert r.get.value == value
            ok = statuses.count(CK_OK)
            assert 1 <= ok <= limit // len(value) + 1, ok
            assert statuses.count(CK_EOVERLOAD) == n - ok
            # Having read, it is served again.
            lazy.send(pb().Request(id=n + 1, get=pb().GetRequest(key="big")).SerializeToString())
            assert lazy.poll(30000)
            r = pb().Response()
            r.ParseFromString(lazy.recv())
            assert r.id == n + 1 and r.status == CK_OK and r.get.value == value
        finally:
            lazy.close(0)
            ctx.term()


def run_agent_as_nobody(endpoint, log_path):
    """Starts the agent as the unprivileged user (nobody), stderr to log_path."""
    uid, gid = attacker_ids()
    log = open(log_path, "wb")
    try:
        return subprocess.Popen(
            ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--",
             AGENT, "--endpoint", endpoint], stdout=log, stderr=log, env=clean_env())
    finally:
        log.close()


@needs_root
def test_every_ancestor_of_the_socket_directory_is_checked(host):
    """An unprivileged agent (nobody) whose socket directory sits in a directory of its own,
    two levels under a root-owned world-writable directory without the sticky bit: anyone
    could rename that whole subtree and put their own in its place, so the agent refuses,
    naming the ancestor. Under a sticky one (like /tmp, what mktemp -d gives) it serves; under
    an ancestor another user owns it refuses too."""
    uid, gid = attacker_ids()
    base = host["base"]

    def tree(top, top_mode):
        os.mkdir(os.path.join(base, top))
        os.chmod(os.path.join(base, top), top_mode)  # root's
        mine = os.path.join(base, top, "mine")
        os.mkdir(mine, 0o755)
        os.chown(mine, uid, gid)  # the agent user's own, as in $HOME or mktemp -d
        return mine

    # World-writable, no sticky bit, two levels up: refused, naming it.
    mine = tree("open", 0o777)
    r = subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--",
                        AGENT, "--endpoint", f"ipc://{mine}/run/agent.sock"],
                       capture_output=True, text=True, timeout=60, env=clean_env())
    assert r.returncode == EXIT_CONFIG, (r.returncode, r.stderr)
    assert (f"refusing socket directory ancestor {base}/open: mode 0777 is writable by group "
            "or others without the sticky bit") in r.stderr, r.stderr
    assert os.listdir(mine) == []

    # The same tree under a sticky world-writable directory (/tmp's mode): served.
    mine = tree("sticky", 0o1777)
    log_path = os.path.join(base, "agent.log")
    agent = run_agent_as_nobody(f"ipc://{mine}/run/agent.sock", log_path)
    try:
        def ready():
            assert agent.poll() is None, open(log_path).read()
            return "ready: serving" in open(log_path).read()
        deadline = time.monotonic() + 30
        while not ready():
            assert time.monotonic() < deadline, open(log_path).read()
            time.sleep(0.02)
        with RawClient(f"ipc://{mine}/run/agent.sock") as c:
            assert c.call(health=pb().HealthRequest()).status == CK_OK
    finally:
        agent.terminate()
        assert agent.wait(30) == 0

    # A root agent, and a directory the unprivileged user owns two levels up: refused.
    evil = os.path.join(host["shared"], "evil")
    as_attacker(f"import os; os.mkdir({evil!r}, 0o755)")
    inner = os.path.join(evil, "inner")
    as_attacker(f"import os; os.mkdir({inner!r}, 0o755)")
    err = run_agent_expecting_refusal(f"ipc://{inner}/run/agent.sock")
    assert f"refusing socket directory ancestor {evil}: owned by uid {uid}" in err, err
    assert os.listdir(inner) == []
    assert_victim_untouched(host)
