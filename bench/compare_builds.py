#!/usr/bin/env python3
"""Before/after throughput of two builds of //bench:throughput, interleaved.

usage: compare_builds.py BEFORE_BIN AFTER_BIN [--reps N] [--cases 16x1,...] [--impl ...]

Runs `BIN --reps=1` alternately (before, after, before, after, ...) N times, so
machine drift hits both alike, and reads each run's xLIMIT column (throughput
as a ratio to LIMIT-writev measured in that same run). Prints, per case and
implementation, the median and min-max of xLIMIT for each build and the ratio
of the medians (after / before). Absolute frames/s are not compared: they do
not carry between runs on a shared machine, same-run ratios do.

Build the binaries with `bazel build -c opt //bench:throughput` in two
checkouts (e.g. a `git worktree` at the old commit) and copy them out
(`cp -L bazel-bin/bench/throughput /tmp/tp_after`).
"""
import argparse
import re
import statistics
import subprocess
import sys
from collections import defaultdict

ROW = re.compile(r"^\| (\S+)\s+\|\s+[\d.]+ \|\s+[\d.]+ \| [\d.\-]+\s+\|\s+([\d.]+)x \|")
CASE = re.compile(r"^### (\d+) B payload, (\d+) producer")


def run(binary, cases, impl):
    args = [binary, "--reps=1", f"--cases={cases}"]
    if impl:
        args.append(f"--impl={impl}")
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    got, case = {}, None
    for line in out.splitlines():
        if m := CASE.match(line):
            case = f"{m.group(1)}x{m.group(2)}"
        elif case and (m := ROW.match(line)):
            got[(case, m.group(1))] = float(m.group(2))
    return got


def main():
    p = argparse.ArgumentParser()
    p.add_argument("before")
    p.add_argument("after")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--cases", default="16x1,16x4,256x1,1024x1,65536x1")
    p.add_argument("--impl", default="")
    a = p.parse_args()
    res = {"before": defaultdict(list), "after": defaultdict(list)}
    for rep in range(a.reps):
        for name, binary in (("before", a.before), ("after", a.after)):
            for key, x in run(binary, a.cases, a.impl).items():
                res[name][key].append(x)
        print(f"rep {rep + 1}/{a.reps} done", file=sys.stderr)
    print("| case | implementation | before xLIMIT (min-max) | after xLIMIT (min-max) | after/before |")
    print("| --- | --- | --- | --- | ---: |")
    for key in sorted(res["after"], key=lambda k: (int(k[0].split("x")[0]), k[0], k[1])):
        if key[1].startswith("LIMIT-writev") or key not in res["before"]:
            continue
        b, f = res["before"][key], res["after"][key]
        mb, mf = statistics.median(b), statistics.median(f)
        print(f"| {key[0]} | {key[1]} | {mb:.2f} ({min(b):.2f}-{max(b):.2f}) | "
              f"{mf:.2f} ({min(f):.2f}-{max(f):.2f}) | {mf / mb:.2f} |")


if __name__ == "__main__":
    main()
