# SPDX-License-Identifier: Apache-2.0
"""A small reader of deploy/container/Containerfile for the tests: splits it into stages of
(instruction, argument) pairs (continuation lines joined, comments dropped), and, as a
program (`containerfile.py replay FILE`), prints shell assignments that let
test_packages.sh replay the runtime stage in a chroot: its RUN steps (a file of shell), its
USER, its ENV, its ENTRYPOINT/CMD arguments, its HEALTHCHECK command and where its COPY puts
the packages. Exec-form JSON arrays only for CMD/ENTRYPOINT/HEALTHCHECK, as the file uses."""
import json
import os
import shlex
import sys
import tempfile


def parse(path):
    """Stages as dicts {"from": str, "name": str|None, "ins": [(INSTR, arg)]}."""
    stages, logical = [], ""
    lines = open(path, encoding="utf-8").read().splitlines()
    joined = []
    for line in lines:
        if line.lstrip().startswith("#") and not logical:
            continue
        if line.lstrip().startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            logical += line[:-1] + " "
            continue
        logical += line
        if logical.strip():
            joined.append(logical.strip())
        logical = ""
    for ins in joined:
        word, _, arg = ins.partition(" ")
        word, arg = word.upper(), arg.strip()
        if word == "FROM":
            parts = arg.split()
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
            stages.append({"from": parts[0], "name": name, "ins": []})
        else:
            if not stages:
                raise ValueError("instruction before FROM: " + ins)
            stages[-1]["ins"].append((word, arg))
    return stages


def values(stage, word):
    return [a for w, a in stage["ins"] if w == word]


def replay(path):
    rt = parse(path)[-1]
    copies = [a.split() for a in values(rt, "COPY") if a.startswith("--from=")]
    debs_dir = copies[0][-1].rstrip("/") if copies else "/tmp/debs"
    fd, steps = tempfile.mkstemp(prefix="ck-run-steps.", suffix=".sh")
    with os.fdopen(fd, "w") as f:
        for run in values(rt, "RUN"):
            f.write(run + "\n")
    env = []
    for e in values(rt, "ENV"):
        env += shlex.split(e)
    user = values(rt, "USER")[-1]
    entry = json.loads(values(rt, "ENTRYPOINT")[-1])
    cmd = json.loads(values(rt, "CMD")[-1])
    health = values(rt, "HEALTHCHECK")[-1]
    health_cmd = json.loads(health[health.index("CMD ") + 4:])
    out = {
        "RUN_STEPS_FILE": steps,
        "USER_SPEC": user if ":" in user else user + ":" + user,
        "ENV_ASSIGN": " ".join(env),
        "ENTRY": " ".join(entry),
        "CMD_ARGS": " ".join(cmd),
        "HEALTH_CMD": " ".join(health_cmd),
        "DEBS_DIR": debs_dir,
    }
    for k, v in out.items():
        print(f"{k}={shlex.quote(v)}")


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "replay":
        sys.exit("usage: containerfile.py replay CONTAINERFILE")
    replay(sys.argv[2])
