# SPDX-License-Identifier: Apache-2.0
"""cachekit-ctl against a real agent: every command, binary values, --json, exit codes."""
import json
import re
import os
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from harness import AGENT, CTL, Agent, ctl, wait_until  # noqa: E402

pytestmark = pytest.mark.skipif(not (AGENT and CTL), reason="CK_AGENT_BIN/CK_CTL_BIN not set")

EXIT_OK, EXIT_MISS, EXIT_USAGE, EXIT_ERROR, EXIT_TIMEOUT, EXIT_CONTESTED = 0, 1, 2, 3, 4, 5


@pytest.fixture(scope="module")
def agent():
    with Agent() as a:
        yield a


def test_set_then_get_from_argument(agent):
    assert ctl(agent.endpoint, "set", "greeting", "hello").returncode == EXIT_OK
    r = ctl(agent.endpoint, "get", "greeting")
    assert r.returncode == EXIT_OK and r.stdout == b"hello"


def test_binary_value_from_stdin_round_trips(agent):
    value = bytes(range(256)) * 64 + b"\x00\xff\x00"
    assert ctl(agent.endpoint, "set", "blob", input=value).returncode == EXIT_OK
    r = ctl(agent.endpoint, "get", "blob")
    assert r.returncode == EXIT_OK and r.stdout == value


def test_json_output_marks_binary_as_base64(agent):
    ctl(agent.endpoint, "set", "j1", "plain text", "--ttl", "60")
    out = json.loads(ctl(agent.endpoint, "--json", "get", "j1").stdout)
    assert out["value"] == "plain text" and out["freshness"] == "fresh"
    assert 0 < out["fresh_for_ms"] <= 60000
    ctl(agent.endpoint, "set", "j2", input=b"\xff\xfe")
    out = json.loads(ctl(agent.endpoint, "--json", "get", "j2").stdout)
    assert out["encoding"] == "base64" and out["value"] == "//4="


def test_miss_exists_delete_and_ttl_exit_codes(agent):
    assert ctl(agent.endpoint, "get", "absent").returncode == EXIT_MISS
    assert ctl(agent.endpoint, "exists", "absent").returncode == EXIT_MISS
    assert ctl(agent.endpoint, "del", "absent").returncode == EXIT_MISS
    assert ctl(agent.endpoint, "ttl", "absent").returncode == EXIT_MISS
    ctl(agent.endpoint, "set", "k", "v", "--ttl", "100")
    r = ctl(agent.endpoint, "exists", "k")
    assert r.returncode == EXIT_OK and r.stdout.strip() == b"true"
    r = ctl(agent.endpoint, "ttl", "k")
    assert r.returncode == EXIT_OK and int(r.stdout) == 100
    assert ctl(agent.endpoint, "touch", "k", "500").returncode == EXIT_OK
    assert int(ctl(agent.endpoint, "ttl", "k").stdout) == 500
    assert ctl(agent.endpoint, "del", "k").returncode == EXIT_OK
    assert ctl(agent.endpoint, "get", "k").returncode == EXIT_MISS


def test_namespace_option(agent):
    ctl(agent.endpoint, "--namespace", "team", "set", "x", "1")
    assert ctl(agent.endpoint, "get", "ns:team:x").stdout == b"1"


def test_invalid_key_is_a_clear_error(agent):
    r = ctl(agent.endpoint, "set", "bad key", "v")
    assert r.returncode == EXIT_ERROR
    assert b"invalid cache key" in r.stderr


def test_usage_error(agent):
    assert ctl(agent.endpoint, "frobnicate").returncode == EXIT_USAGE
    assert ctl(agent.endpoint, "get").returncode == EXIT_USAGE


def test_timeout_when_no_agent_listens(tmp_path):
    r = subprocess.run([CTL, "--endpoint", f"ipc://{tmp_path}/none.sock", "--timeout", "200",
                        "get", "k"], capture_output=True, timeout=10)
    assert r.returncode == EXIT_TIMEOUT
    assert b"timed out" in r.stderr


def test_lock_runs_command_and_contention_is_reported(agent, tmp_path):
    r = ctl(agent.endpoint, "lock", "job", "--", "sh", "-c", "exit 7")
    assert r.returncode == 7
    # The holder's command says when it runs (the lock is held) and ends when told to.
    held, go = tmp_path / "held", tmp_path / "go"
    script = f'touch "{held}"; while [ ! -e "{go}" ]; do sleep 0.05; done'
    holder = subprocess.Popen([CTL, "--endpoint", agent.endpoint, "lock", "job2", "--", "sh",
                               "-c", script])
    waiter = None
    try:
        wait_until(held.exists, what="the holder's command to run under the lock")
        r = ctl(agent.endpoint, "lock", "job2", "--", "true")
        assert r.returncode == EXIT_CONTESTED
        # A waiter gets the lock once the holder ends, long before its 60 s wait runs out.
        waiter = subprocess.Popen([CTL, "--endpoint", agent.endpoint, "lock", "job2", "--wait",
                                   "60000", "--", "true"])
        t0 = time.monotonic()
        go.touch()
        assert holder.wait(30) == 0
        assert waiter.wait(60) == EXIT_OK and time.monotonic() - t0 < 45
    finally:
        for p in (holder, waiter):
            if p is not None:
                p.kill()
                p.wait()


def test_lock_without_command_is_released_when_ctl_exits(agent):
    r = ctl(agent.endpoint, "lock", "brief", "--lease", "120000")
    assert r.returncode == EXIT_OK and len(r.stdout.strip()) == 32  # 16-byte handle in hex
    # cachekit-ctl exited: the agent saw its holder die and freed the lock (a free lock well
    # before the 120 s lease runs out shows the release on exit).
    t0 = time.monotonic()
    wait_until(lambda: ctl(agent.endpoint, "lock", "brief", "--", "true").returncode == EXIT_OK,
               timeout=90, what="the lock of an exited cachekit-ctl to be released")
    assert time.monotonic() - t0 < 90


def test_health_and_stats(agent):
    r = ctl(agent.endpoint, "--json", "health")
    h = json.loads(r.stdout)
    assert r.returncode == EXIT_OK and h["healthy"] is True and h["backend_type"] == "memory"
    r = ctl(agent.endpoint, "--json", "stats")
    stats = json.loads(r.stdout)
    names = set(stats) if isinstance(stats, dict) else {s["name"] for s in stats}
    assert "requests_total" in names and "store_entries" in names


def test_secure_without_master_key_is_refused(agent):
    r = ctl(agent.endpoint, "--secure", "set", "s", "v")
    assert r.returncode == EXIT_ERROR and b"master key" in r.stderr


def test_stats_in_prometheus_text_format(agent):
    ctl(agent.endpoint, "set", "p", "v")
    r = ctl(agent.endpoint, "stats", "--prometheus")
    assert r.returncode == EXIT_OK
    lines = r.stdout.decode().splitlines()
    assert lines and all(re.fullmatch(r"cachekit_agent_[a-z0-9_]+ -?[0-9.e+]+", l) for l in lines)
    values = dict(l.split(" ") for l in lines)
    assert float(values["cachekit_agent_sets_total"]) >= 1
