#!/usr/bin/env python3
"""A/B the sandbox against an earlier revision: the same HumanEval requests, alternating runs, ratios of medians.

    python perf/sandbox_ab.py --baseline REV [--backend docker|local] [--rounds 4] [--passes 2] [--concurrency 2]
                              [--tasks all|value-judged|assert-judged]

The baseline is the package as it was at git revision REV (checked out into a temporary worktree; each version
ships its own runner into its containers). Each round runs both versions once, in alternating order, in fresh
processes; each run sends HumanEval's 164 reference programs with their tests ``passes`` times, ``concurrency``
at a time, and measures

  wall_ms   wall time per request (what throughput is the inverse of),
  cpu_ms    CPU time per request spent inside the sandbox containers (their cgroup's cpuacct/cpu.stat counter;
            docker), or by the runner processes and their descendants (``/proc``, local): the cost of the runner
            itself, much less sensitive than wall time to other load on a shared machine.

Prints the medians per version and the ratios current/baseline (below 1.0: the current version is cheaper).
Throughput ratios against an in-run baseline (``sandbox_throughput.py``) swing by 2x on a loaded machine; this
comparison is the one to read when the question is "did a change make the sandbox slower".
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

WORKER = r"""
import asyncio, glob, gzip, json, os, subprocess, sys, time
from semtrace.benchmarks.humaneval import task_from_row
from semtrace.sandbox.base import make_sandbox
from semtrace.sandbox.types import ExecRequest, Limits

backend, passes, conc, data = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
only = set(int(x) for x in sys.argv[5].split(",")) if len(sys.argv) > 5 and sys.argv[5] else None
rows = [json.loads(line) for line in gzip.open(data, "rt") if line.strip()]
rows = [row for i, row in enumerate(rows) if only is None or i in only]
reqs = []
for row in rows:
    t = task_from_row(row)
    reqs.append(ExecRequest(code=t.reference or "", tests=t.hidden_tests, entry_point=t.entry_point,
                            test_setup=t.test_setup, limits=Limits(wall_time=10)))

def container_cpu():
    ids = subprocess.run(["docker", "ps", "-q", "--no-trunc", "--filter", "label=semtrace.pid=%d" % os.getpid()],
                         capture_output=True, text=True).stdout.split()
    total = 0.0
    for cid in ids:
        for path in glob.glob("/sys/fs/cgroup/cpuacct/docker/%s/cpuacct.usage" % cid):
            total += int(open(path).read()) / 1e9
        for path in glob.glob("/sys/fs/cgroup/system.slice/docker-%s.scope/cpu.stat" % cid) + glob.glob(
                "/sys/fs/cgroup/docker/%s/cpu.stat" % cid):
            for line in open(path):
                if line.startswith("usage_usec"):
                    total += int(line.split()[1]) / 1e6
    return total

def tree_cpu():
    # CPU seconds of this process's live descendants (the local runners, their executors, their children), each
    # with the children it has reaped: the local back end's runner cost
    parent, times = {}, {}
    tick = os.sysconf("SC_CLK_TCK")
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            fields = open("/proc/%s/stat" % pid).read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parent[int(pid)] = int(fields[1])
        times[int(pid)] = sum(int(x) for x in fields[11:15]) / tick
    me, total = os.getpid(), 0.0
    for pid in times:
        p = parent.get(pid)
        while p is not None and p != me and p > 1:
            p = parent.get(p)
        if p == me:
            total += times[pid]
    return total

def sandbox_cpu():
    return container_cpu() if backend == "docker" else tree_cpu()

async def main():
    sb = make_sandbox(backend, concurrency=conc)
    try:
        await asyncio.gather(*(sb.run(reqs[0]) for _ in range(conc)))
        sem = asyncio.Semaphore(conc)
        failed = 0
        async def one(r):
            nonlocal failed
            async with sem:
                res = await sb.run(r)
            failed += res.status != "passed"
        c0, w0 = sandbox_cpu(), time.perf_counter()
        for _ in range(passes):
            await asyncio.gather(*(one(r) for r in reqs))
        wall = time.perf_counter() - w0
        cpu = sandbox_cpu() - c0
    finally:
        await sb.close()
    n = passes * len(reqs)
    print(json.dumps({"wall_ms": 1000 * wall / n, "cpu_ms": 1000 * cpu / n, "failed": failed}))

asyncio.run(main())
"""


def run_version(pkg_parent: Path | None, args: argparse.Namespace, data: Path, only: str) -> dict[str, float]:
    env = dict(os.environ)
    if pkg_parent is not None:
        env["PYTHONPATH"] = str(pkg_parent)
    proc = subprocess.run([sys.executable, "-c", WORKER, args.backend, str(args.passes), str(args.concurrency),
                           str(data), only], capture_output=True, text=True, env=env, timeout=1800)
    if proc.returncode != 0:
        sys.exit(f"error: a {'baseline' if pkg_parent else 'current'} run failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _subset(data: Path, which: str) -> tuple[str, int]:
    """(the task indices as the worker's argument, how many) for ``--tasks``; judged by the current code."""
    import gzip

    from semtrace.benchmarks.humaneval import task_from_row
    from semtrace.sandbox.convert import judged_by_assert_judge

    rows = [json.loads(line) for line in gzip.open(data, "rt") if line.strip()]
    if which == "all":
        return "", len(rows)
    keep = []
    for i, row in enumerate(rows):
        t = task_from_row(row)
        judged = judged_by_assert_judge([x.to_dict() for x in t.hidden_tests], t.entry_point, t.reference or "",
                                        t.test_setup)
        if (judged > 0) == (which == "assert-judged"):
            keep.append(i)
    return ",".join(map(str, keep)), len(keep)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--baseline", required=True, help="git revision to compare against")
    ap.add_argument("--backend", default="docker", choices=("docker", "local"))
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--passes", type=int, default=2)
    ap.add_argument("--concurrency", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--tasks", default="all", choices=("all", "value-judged", "assert-judged"),
                    help="all of HumanEval, or only the tasks whose tests are all judged from one value (the "
                         "path an assert judge must not slow), or only those with a test the assert judge runs")
    args = ap.parse_args()
    base = os.environ.get("SEMTRACE_DATA")
    data = (Path(base) if base else REPO.parent / "shared" / "benchmarks") / "humaneval" / "HumanEval.jsonl.gz"
    if not data.is_file():
        sys.exit(f"error: {data} not found: set SEMTRACE_DATA to the benchmarks directory")
    only, count = _subset(data, args.tasks)
    with tempfile.TemporaryDirectory(prefix="semtrace-ab-") as tmp:
        tree = Path(tmp) / "semtrace"  # the package is the repository root, so the worktree is named after it
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "-f", str(tree), args.baseline],
                       check=True, capture_output=True)
        try:
            runs: dict[str, list[dict[str, float]]] = {"current": [], "baseline": []}
            for r in range(args.rounds):
                order = ("current", "baseline") if r % 2 == 0 else ("baseline", "current")
                for which in order:
                    runs[which].append(run_version(None if which == "current" else Path(tmp), args, data, only))
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)],
                           capture_output=True)
    out: dict[str, object] = {"baseline": args.baseline, "backend": args.backend, "rounds": args.rounds,
                              "requests_per_run": count * args.passes, "tasks": args.tasks, "concurrency": args.concurrency}
    for key in ("wall_ms", "cpu_ms"):
        cur = statistics.median(x[key] for x in runs["current"])
        old = statistics.median(x[key] for x in runs["baseline"])
        out[key] = {"current": round(cur, 3), "baseline": round(old, 3), "ratio": round(cur / old, 3) if old else None}
    out["failed"] = sum(x["failed"] for v in runs.values() for x in v)
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"{args.backend}: {out['requests_per_run']} requests per run ({args.tasks}), {args.rounds} rounds, "
              f"concurrency {args.concurrency}, baseline {args.baseline}")
        for key in ("wall_ms", "cpu_ms"):
            v = out[key]
            print(f"  {key:8s} current {v['current']:.2f}  baseline {v['baseline']:.2f}  "  # type: ignore[index]
                  f"ratio {v['ratio']}")  # type: ignore[index]
    return 1 if out["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
