#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Reads the tables run-bench printed and prints one table of ratios against the goals of the
hot-read work (issue 10): each ratio is taken between a target and its baseline measured next
to it in the same section of the same run (the n-th row of one paired with the n-th row of the
other, same value size and process count), and reported as the median of those pairs with
their spread (min-max). "faster" ratios are baseline / target at p50 (higher is better);
"cost" ratios are target / baseline (lower is better). A verdict column says whether the
median meets the goal; nothing here fails the run (a benchmark never asserts timing).

Usage: ratios.py FILE   (FILE: run-bench's standard output)
"""
import statistics
import sys

# (label, section title prefix, target, baseline, size, procs, column, kind, goal)
# kind "faster": baseline/target >= goal; "cost": target/baseline <= goal.
GOALS = [
    ("near-cache hit vs Redis GET, p50", "near cache", "near-get", "redis-get", "64 B", 1,
     "p50", "faster", 20),
    ("near-cache hit vs Redis GET, p50", "near cache", "near-get", "redis-get", "4 KiB", 1,
     "p50", "faster", 20),
    ("agent hit vs raw ZeroMQ echo, p50", "stub -> agent", "agent-get", "zmq-echo", "64 B", 1,
     "p50", "cost", 1.1),
    ("agent hit vs raw ZeroMQ echo, p99", "stub -> agent", "agent-get", "zmq-echo", "64 B", 1,
     "p99", "cost", 1.1),
    ("agent hit vs raw ZeroMQ echo, p50", "stub -> agent", "agent-get", "zmq-echo", "64 B", 8,
     "p50", "cost", 1.1),
    ("agent hit vs raw ZeroMQ echo, p99", "stub -> agent", "agent-get", "zmq-echo", "64 B", 8,
     "p99", "cost", 1.1),
    ("agent hit vs raw ZeroMQ echo, p50", "stub -> agent", "agent-get", "zmq-echo", "4 KiB", 8,
     "p50", "cost", 1.1),
    ("agent hit vs raw ZeroMQ echo, p50 (interleaved repetitions)", "near cache", "agent-get",
     "zmq-echo", "64 B", 1, "p50", "cost", 1.1),
    ("agent hit vs raw ZeroMQ echo, p50 (interleaved repetitions)", "near cache", "agent-get",
     "zmq-echo", "4 KiB", 1, "p50", "cost", 1.1),
    ("async, 16 in flight, vs pipelined echo", "many processes", "async-get16", "zmq-echo16",
     "64 B", 8, "p50", "faster", 0.8),
    ("async, 16 in flight, vs pipelined echo", "near cache", "async-get16", "zmq-echo16",
     "64 B", 1, "p50", "faster", 0.8),
    ("batch of 100 vs 100 single Gets", "near cache", "agent-mget100", "agent-get100", "64 B", 1,
     "p50", "faster", 10),
    ("batch of 100 vs 100 single Gets", "near cache", "agent-mget100", "agent-get100", "4 KiB",
     1, "p50", "faster", 10),
    ("miss path vs per-process libcurl (loopback)", "Get through the agent to the API",
     "agent-get", "curl-direct-get", "64 B", 8, "p50", "faster", 1),
    ("miss path, agent L1 on, vs per-process libcurl", "Get through the agent to the API",
     "agent-get (L1 on)", "curl-direct-get", "64 B", 8, "p50", "faster", 1),
    ("one-request processes behind a 10 ms relay", "miss path behind",
     "agent-get-once", "curl-direct-get-once", "64 B", 200, "p50", "faster", 20),
]

COLS = {"ops": 3, "p50": 4, "p99": 5}


def sections(text):
    """{section title: [row cells]} in order of appearance; a title is the text after '## '."""
    out, title = {}, ""
    for line in text.splitlines():
        if line.startswith("## "):
            title = line[3:]
            out.setdefault(title, [])
        elif line.startswith("| ") and not line.startswith("| target"):
            out.setdefault(title, []).append([c.strip() for c in line.strip().strip("|").split("|")])
    return out


def rows_of(rows, target, size, procs):
    return [r for r in rows if r[0] == target and r[1] == size and r[2] == str(procs)]


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1]) as f:
        secs = sections(f.read())
    print("| goal | value | procs | measured (median, min-max of pairs) | goal | met |")
    print("|---|---:|---:|---|---|---|")
    for label, sec, target, base, size, procs, col, kind, goal in GOALS:
        rows = [r for t, rs in secs.items() if t.startswith(sec) for r in rs]
        a, b = rows_of(rows, target, size, procs), rows_of(rows, base, size, procs)
        pairs = []
        for x, y in zip(a, b):
            tx, ty = float(x[COLS[col]]), float(y[COLS[col]])
            if tx > 0 and ty > 0:
                pairs.append(ty / tx if kind == "faster" else tx / ty)
        if not pairs:
            continue  # not measured in this run (no redis-server, --smoke counts)
        med = statistics.median(pairs)
        spread = (f"{min(pairs):.2f}-{max(pairs):.2f}, {len(pairs)} pairs" if len(pairs) > 1
                  else "one pair")
        word = "as fast" if kind == "faster" else "the cost"
        want = f">= {goal}x as fast" if kind == "faster" else f"<= {goal}x"
        met = med >= goal if kind == "faster" else med <= goal
        print(f"| {label} | {size} | {procs} | {med:.2f}x {word} ({spread}) "
              f"| {want} | {'yes' if met else 'no'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
