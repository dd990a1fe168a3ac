# SPDX-License-Identifier: Apache-2.0
"""Operator-facing start-up checks: --check-config --probe calls the API's health route with
the configured key (ok with the right key, exit 2 naming the refusal with a wrong one), and a
refused API host names the setting that would allow it."""
import os
import re
import subprocess
import sys

import pytest

HERE = os.path.dirname(__file__)
sys.path.insert(0, os.path.join(HERE, "..", "fakeapi"))
from fakeapi import FakeApi  # noqa: E402
from harness import AGENT  # noqa: E402

pytestmark = pytest.mark.skipif(not (AGENT and os.environ.get("CK_FAKEAPI")),
                                reason="CK_AGENT_BIN / CK_FAKEAPI not set")
API_KEY = "ck_sdk_test"


@pytest.fixture(scope="module")
def api():
    with FakeApi() as a:
        yield a


def run_agent(*args, key=API_KEY):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CACHEKIT_")}
    env["CACHEKIT_API_KEY"] = key
    return subprocess.run([AGENT, *args], capture_output=True, text=True, timeout=60, env=env)


def probe_args(api):
    return ["--upstream", api.url, "--resolve", api.resolve, "--ca-file", api.ca,
            "--check-config", "--probe"]


def test_probe_with_the_right_key(api):
    api.reset()
    out = run_agent(*probe_args(api))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "probe: " + api.url in out.stdout and "answered health" in out.stdout
    assert out.stdout.rstrip().endswith("configuration ok")
    assert any(r["path"].endswith("/health") for r in api.requests(0)), api.requests(0)


def test_probe_with_a_wrong_key_fails(api):
    api.reset()
    out = run_agent(*probe_args(api), key="ck_sdk_wrong")
    assert out.returncode == 2, out.stdout + out.stderr
    assert "upstream rejected the API key" in out.stdout
    assert "configuration ok" not in out.stdout


def test_check_config_without_probe_makes_no_call(api):
    api.reset()
    args = [a for a in probe_args(api) if a != "--probe"]
    out = run_agent(*args)
    assert out.returncode == 0 and "probe:" not in out.stdout
    assert api.requests(0) == []


def test_refused_host_names_the_setting():
    out = run_agent("--upstream", "https://cache.example.org", "--check-config")
    assert out.returncode == 2
    assert ("upstream URL refused: host not permitted (set allow-custom-host / "
            "CACHEKIT_ALLOW_CUSTOM_HOST to allow it)") in out.stderr, out.stderr
    # A private address is refused whatever the settings: no misleading hint.
    out = run_agent("--upstream", "https://127.0.0.1", "--check-config")
    assert out.returncode == 2 and "allow-custom-host" not in out.stderr, out.stderr


def test_json_log_lines_parse():
    import json  # noqa: PLC0415

    from harness import Agent, RawClient, pb  # noqa: PLC0415

    with Agent("--log-format", "json") as a, RawClient(a.endpoint) as c:
        assert c.call(get=pb().GetRequest(key="")).status != 0  # a warning-worthy request
        lines = [json.loads(ln) for ln in a.read_log().splitlines()]
    assert lines and all(set(ln) == {"ts", "level", "pid", "msg"} for ln in lines), lines
    assert any(ln["msg"].startswith("ready: serving") and ln["level"] == "info" for ln in lines)


def test_journal_stream_gets_priorities():
    from harness import Agent  # noqa: PLC0415

    a = Agent()
    os.makedirs(a.dir, exist_ok=True)
    open(a.log_path, "ab").close()
    st = os.stat(a.log_path)  # the agent's stderr is this file: make it "the journal"
    a.env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
    with a:
        lines = a.read_log().splitlines()
    assert "<6>info: ready: serving " + a.endpoint in "\n".join(lines), lines
    assert all(re.match(r"^<[0-7]>(error|warn|info|debug): ", ln) for ln in lines), lines


def test_bad_log_format_is_refused():
    out = run_agent("--log-format", "xml", "--check-config")
    assert out.returncode == 2 and "log-format must be text or json" in out.stderr
