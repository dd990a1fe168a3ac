# SPDX-License-Identifier: Apache-2.0
"""docs/writing-a-stub.md: its complete Python example runs (with only pyzmq and the module
protoc generates) against the fake agent and prints the value it stored."""

import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import SOURCE_ROOT

DOC = SOURCE_ROOT / "docs" / "writing-a-stub.md"
PROTO_ROOT = SOURCE_ROOT / "proto"


def example_code():
    text = DOC.read_text()
    section = text[text.index("## 9."):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_example_is_short():
    assert len(example_code().strip().splitlines()) <= 35


def test_example_runs_against_fake_agent(fake, tmp_path):
    protoc = shutil.which("protoc")
    if protoc is None:
        pytest.skip("protoc not installed (Debian: protobuf-compiler)")
    subprocess.run([protoc, f"--proto_path={PROTO_ROOT}", f"--python_out={tmp_path}",
                    "cachekit/agent/v1/agent.proto"], check=True, cwd=PROTO_ROOT)
    (tmp_path / "example.py").write_text(example_code())
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["CACHEKIT_AGENT_ENDPOINT"] = fake.endpoint
    out = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "b'hello'"
    assert [r.WhichOneof("op") for r in fake.requests] == ["set", "get"]
    assert fake.requests[0].set.ttl_s == 60
