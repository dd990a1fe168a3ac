#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The agent's folders are its layers: a file may include its own layer and those below,
never one above, and no two files may include each other (directly or in a circle).
Exits non-zero naming each offending include."""
import os
import re
import sys

ORDER = ["base", "config", "crypto", "store", "store/memory", "store/http", "store/redis",
         "core", "front", "main"]
# Sibling stores never include each other: each backend sees only the interface and below.
RANK = {"base": 0, "config": 1, "crypto": 2, "store": 3, "store/memory": 4, "store/http": 4,
        "store/redis": 4, "core": 5, "front": 6, "main": 7}

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "../../agent")
root = os.path.abspath(root)
inc = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def layer_of(rel):
    d = os.path.dirname(rel)
    if d == "":
        return "main"
    return d


problems = []
graph = {}
for dirpath, _, files in os.walk(root):
    for name in files:
        if not name.endswith((".c", ".h")):
            continue
        rel = os.path.relpath(os.path.join(dirpath, name), root)
        mine = layer_of(rel)
        if mine not in RANK:
            problems.append(f"{rel}: folder {mine!r} is not a known layer")
            continue
        text = open(os.path.join(dirpath, name), encoding="utf-8").read()
        for target in inc.findall(text):
            if not os.path.exists(os.path.join(root, target)):
                continue  # common/, generated or public headers: below every layer
            graph.setdefault(rel, set()).add(target)
            theirs = layer_of(target)
            if theirs == mine:
                continue
            if RANK[theirs] > RANK[mine] or (RANK[theirs] == RANK[mine]):
                problems.append(f"{rel} ({mine}) includes {target} ({theirs}): points up or sideways")

# Circles between files: a .c, its own .h and its private <name>_internal.h (shared by the
# files a module was split into, e.g. core/dispatch_*.c) are one unit.
def unit(p):
    base = os.path.splitext(p)[0]
    return base[: -len("_internal")] if base.endswith("_internal") else base

ugraph = {}
for src, targets in graph.items():
    for t in targets:
        if unit(t) != unit(src):
            ugraph.setdefault(unit(src), set()).add(unit(t))

state = {}
def visit(n, stack):
    state[n] = 1
    stack.append(n)
    for m in sorted(ugraph.get(n, ())):
        if state.get(m) == 1:
            problems.append("circle: " + " -> ".join(stack[stack.index(m):] + [m]))
        elif m not in state:
            visit(m, stack)
    stack.pop()
    state[n] = 2

for n in sorted(ugraph):
    if n not in state:
        visit(n, [])

for p in problems:
    print(p)
print(f"{len(graph)} files checked, {len(problems)} problems")
sys.exit(1 if problems else 0)
