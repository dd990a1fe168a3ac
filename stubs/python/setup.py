# SPDX-License-Identifier: Apache-2.0
"""Build hook: generates cachekit_stub/agent_pb2.py and cachekit_stub/_errors_table.py into the
build directory (never into the source tree, never checked in).

agent_pb2.py comes from proto/cachekit/agent/v1/agent.proto via `protoc --python_out` ($PROTOC
or protoc on PATH; Debian: protobuf-compiler). Without protoc, a file generated earlier by a
CMake build is used: $CACHEKIT_PREGENERATED_DIR, else the first
<repo>/build/*/python/cachekit_stub/agent_pb2.py. _errors_table.py comes from
include/cachekit/errors.h via gen_errors.py. Override the inputs with $CACHEKIT_PROTO and
$CACHEKIT_ERRORS_H when building outside the source tree. _limits.py comes from common/ck_limits.h via
gen_limits.py ($CACHEKIT_LIMITS_H).
"""

import glob
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PROTO = Path(os.environ.get("CACHEKIT_PROTO", ROOT / "proto/cachekit/agent/v1/agent.proto"))
ERRORS_H = Path(os.environ.get("CACHEKIT_ERRORS_H", ROOT / "include/cachekit/errors.h"))
LIMITS_H = Path(os.environ.get("CACHEKIT_LIMITS_H", ROOT / "common/ck_limits.h"))


def _protoc(out_dir: Path) -> bool:
    protoc = os.environ.get("PROTOC") or shutil.which("protoc")
    if not protoc or not PROTO.is_file():
        return False
    # Generate with the proto root as include path so the descriptor keeps its full name
    # (cachekit/agent/v1/agent.proto), then place the module inside the package.
    proto_root = PROTO.parents[3]
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [protoc, f"--proto_path={proto_root}", f"--python_out={tmp}", str(PROTO)], check=True
        )
        shutil.copyfile(Path(tmp) / PROTO.relative_to(proto_root).with_name("agent_pb2.py"),
                        out_dir / "agent_pb2.py")
    return True


def _pregenerated(out_dir: Path) -> bool:
    candidates = []
    if os.environ.get("CACHEKIT_PREGENERATED_DIR"):
        candidates.append(Path(os.environ["CACHEKIT_PREGENERATED_DIR"]) / "agent_pb2.py")
    candidates += [Path(p) for p in sorted(glob.glob(str(ROOT / "build/*/python/cachekit_stub/agent_pb2.py")))]
    for cand in candidates:
        if cand.is_file():
            shutil.copyfile(cand, out_dir / "agent_pb2.py")
            return True
    return False


class BuildPyWithGenerated(build_py):
    def run(self):
        super().run()
        out_dir = Path(self.build_lib) / "cachekit_stub"
        out_dir.mkdir(parents=True, exist_ok=True)
        if not (_protoc(out_dir) or _pregenerated(out_dir)):
            raise SystemExit(
                "cachekit-stub: cannot generate agent_pb2.py: install protoc (Debian: "
                "protobuf-compiler) or set CACHEKIT_PREGENERATED_DIR to a CMake build's "
                "python/cachekit_stub directory"
            )
        for script, header, env, module in (
            ("gen_errors.py", ERRORS_H, "CACHEKIT_ERRORS_H", "_errors_table.py"),
            ("gen_limits.py", LIMITS_H, "CACHEKIT_LIMITS_H", "_limits.py"),
        ):
            if not header.is_file():
                raise SystemExit(f"cachekit-stub: {header} not found (set {env})")
            subprocess.run([sys.executable, str(HERE / script), str(header), str(out_dir / module)],
                           check=True)


setup(cmdclass={"build_py": BuildPyWithGenerated})
