"""Orchestration overhead: is a run LLM-bound, and does it fit in memory?

A scripted model with a fixed latency per call (through the real ManagedLLM concurrency bound), the real local
sandbox, the real graph with SQLite checkpoints, on HumanEvalFix (164 tasks), width 4, depth 3. The baseline is the
ideal LLM-bound time measured from the same run: calls x latency / concurrency. Prints the ratio (target <= 1.10)
and the orchestrator's peak RSS (target <= 600 MB); exits 1 when either target is missed.

    .venv/bin/python perf/orchestration.py [--latency 1.0] [--concurrency 16] [--limit 164]
    .venv/bin/python perf/orchestration.py --mode sequential|debug [...]   # the strategy (default hybrid)

``--mode debug``: the ``debug`` strategy's tool loop (perf/debug_rules.py: run_tests, trace, then a program, per
round); compare its ratio and its orchestrator CPU per sandbox request with ``--mode sequential`` at the same sizes.
    .venv/bin/python perf/orchestration.py --tasks-scale 100,1000 [--width 8] [--depth 3]

Where the time goes: the run is profiled (``agents/profile.py``) and the sandbox sits behind a queue of its own
size, so the script prints, per kind (LLM gate wait, LLM calls, sandbox queue wait, sandbox runs of visible tests,
trace re-runs, rendering, checkpoint operations, the scorer), the count, seconds summed over everything in
flight, the mean, and how many were in flight in each tenth of the run; the CPU seconds of the orchestrator and
of the sandbox's processes (the machine's load average beside them); and the visible tests that timed out. The
printing and these summaries live in perf/orchestration_report.py (its names are importable from here too).

``--tasks-scale N,M``: memory against run size. A synthetic benchmark of N tasks built from the bundled demo
(its 17 repair tasks repeated under new ids, each fixed at round 1 by the scripted model), run at each size in a
fresh process with the scripted model (no latency), the local sandbox and the real graph; prints peak RSS and
bytes of results.jsonl per task at each size and the RSS ratio largest/smallest (target <= 1.5: records stream to
disk, nothing holds a run in memory). Needs no benchmark data.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO / "perf") not in sys.path:  # the sibling module, also when this one is imported from elsewhere
    sys.path.insert(0, str(REPO / "perf"))

from orchestration_report import (  # the reporting helpers, importable from here as before
    BREAKDOWN,  # noqa: F401
    breakdown,
    descendants_cpu,
    print_measurement,
    utilization,
)


class FixedLatencyLLM:
    """The scripted back end, answering after a fixed delay (a stand-in for a remote model's latency)."""

    cacheable = False
    free = True
    native_n = True

    def __init__(self, model: str, latency: float) -> None:
        from semtrace.llms.scripted import ScriptedLLM

        self.inner = ScriptedLLM(model)
        self.name = f"latency:{model}"
        self.latency = latency
        self.calls = 0
        self.spans: list[tuple[float, float]] = []
        self.scopes: list[Any] = []

    async def generate(self, messages: Any, **kwargs: Any) -> Any:
        self.calls += 1
        start = time.perf_counter()
        await asyncio.sleep(self.latency)
        out = await self.inner.generate(messages, **kwargs)
        self.spans.append((start, time.perf_counter()))
        from semtrace.llms.accounting import current_scope

        self.scopes.append(current_scope())
        return out


class ProfiledSandbox:
    """The run's sandbox, declaring its size as ``concurrency`` (so the run loop's priority gate, which times each
    request's wait as ``sandbox_queue``, admits no more than the pool runs), timing each request's run by purpose:
    ``sandbox_visible`` (observe's execute stage: visible tests, traced in the same run), ``sandbox_trace`` (the trace stage's
    re-runs), ``scorer`` (hidden tests). ``timeouts`` sums the
    visible runs with a timeout: tests that timed out, and tests run after the first timeout (with their limits)."""

    def __init__(self, inner: Any, slots: int, profile: Any) -> None:
        self.inner, self.profile = inner, profile
        self.concurrency = slots
        self.runner_seconds: dict[str, float] = {}
        self.timeouts = {"requests": 0, "timed_out": 0, "after_first": 0, "after_first_limit_s": 0.0}
        self.requests = 0  # every request that reached the sandbox (graph, tools and scorer)

    @staticmethod
    def purpose(request: Any) -> str:
        if request.stop_on_failure:
            return "scorer"
        if request.trace is not None and request.trace.tests:
            return "sandbox_trace"
        return "sandbox_visible"

    async def run(self, request: Any) -> Any:
        kind = self.purpose(request)
        self.requests += 1
        began = time.perf_counter()
        result = await self.inner.run(request)
        self.profile.add(kind, began, time.perf_counter())
        self.runner_seconds[kind] = self.runner_seconds.get(kind, 0.0) + result.duration
        if kind == "sandbox_visible":
            timed_out = [t for t in result.tests if t.status == "timeout"]
            if timed_out:
                first = timed_out[0].index
                after = [request.tests[t.index] for t in result.tests  # (stop_on_timeout: marked, not run)
                         if t.index > first and not t.message.startswith("not run")]
                self.timeouts["requests"] += 1
                self.timeouts["timed_out"] += len(timed_out)
                self.timeouts["after_first"] += len(after)
                self.timeouts["after_first_limit_s"] += sum(t.timeout or request.limits.wall_time for t in after)
        return result

    async def close(self) -> None:
        await self.inner.close()


def write_rules(tasks: list[Any], path: Path) -> None:
    """Distinct buggy variants per task (so every candidate really executes), with a quarter of the tasks fixed at
    round 2 and a quarter at round 3 once the trace shows the bug's line."""
    sys.path.insert(0, str(REPO / "tests" / "agents"))
    import re

    from rules import bug_line, fenced  # the same helper the acceptance tests use

    fixes, rest = [], []
    for i, t in enumerate(tasks):
        who = re.escape(f"The function to implement is `{t.entry_point}`.")
        fix_round = (None, 2, 3, None)[i % 4]
        if fix_round is not None:
            later = "|".join(str(k) for k in range(fix_round, fix_round + 20))
            fixes.append(
                {
                    "when": who
                    + rf"[\s\S]*### Attempt (?:{later}) \(latest\)[\s\S]*## Trace\n[\s\S]*"
                    + re.escape(bug_line(t.starting_code, t.reference)),
                    "reply": fenced(t.reference),
                }
            )
        variants = [fenced(f"{t.starting_code.rstrip()}\n# variant {k}\n") for k in range(16)]
        rest.append({"when": who, "reply": variants})
    path.write_text("".join(json.dumps(r) + "\n" for r in fixes + rest))


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    from semtrace.agents.build import build_components
    from semtrace.agents.context import RunStats
    from semtrace.agents.profile import Profile
    from semtrace.agents.run import Progress, prepare_run_dir, read_records, run_tasks
    from semtrace.benchmarks.registry import load_benchmark
    from semtrace.config import build_config
    from semtrace.llms.accounting import Accounting
    from semtrace.llms.managed import ManagedLLM

    tasks = load_benchmark("humaneval-fix", args.data)[: args.limit]
    work = Path(tempfile.mkdtemp(prefix="semtrace-perf-"))
    rules = work / "rules.jsonl"
    if args.mode == "debug":
        from debug_rules import write_debug_rules

        write_debug_rules(tasks, rules)
    else:
        write_rules(tasks, rules)
    backend = FixedLatencyLLM(str(rules), args.latency)
    llm = ManagedLLM(
        backend, provider="scripted", model=str(rules), concurrency=args.concurrency, accounting=Accounting()
    )
    cfg = build_config(
        flags={
            "benchmark": "humaneval-fix",
            "strategy": args.mode,
            "width": args.width,
            "depth": args.depth,
            "representation": "next",
            "selector": "visible_rate",
            "sandbox": "local",
            "display": False,
            "model": f"scripted:{rules}",
            "task_concurrency": args.task_concurrency,
            "sandbox_options": {"concurrency": args.sandbox_concurrency},
        },
        overrides=["limits.wall_time=1"],
    )
    comps = await build_components(cfg, tasks=tasks, llm=llm)
    profile = Profile()
    sandbox = ProfiledSandbox(comps.sandbox, args.sandbox_concurrency, profile)
    comps.sandbox = sandbox
    progress = Progress(total=len(tasks), stats=RunStats(profile=profile))
    run_dir = work / "run"
    prepare_run_dir(run_dir, cfg, resume=False)
    cpu0, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    try:
        summary = await run_tasks(cfg, run_dir, comps, progress=progress)
        sandbox_cpu = descendants_cpu()
    finally:
        await comps.sandbox.close()
    end, cpu1 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    wall = end - start
    if os.environ.get("PERF_DEBUG"):
        for (a, b), scope in sorted(zip(backend.spans, backend.scopes)):
            if b > end - 15:
                print(f"  call {a - start:7.2f}-{b - start:7.2f} {scope}")
    ideal = backend.calls * args.latency / args.concurrency
    return {
        "tasks": len(tasks),
        "llm_calls": backend.calls,
        "wall_s": wall,
        "ideal_llm_bound_s": ideal,
        "ratio": wall / ideal if ideal else float("nan"),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "sandbox_workers_peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "pass@1_by_depth": [round(r["pass@1"]["mean"], 3) for r in summary["by_depth"]],
        "errors": summary.get("errors", 0),
        "run_dir": str(run_dir),
        "utilization": utilization(backend.spans, start, end, args.concurrency),
        "breakdown": breakdown(profile, start, end, args.sandbox_concurrency),
        "orchestrator_cpu_s": (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime),
        "runner_seconds": sandbox.runner_seconds,
        "sandbox_cpu_s": sandbox_cpu,
        "load": os.getloadavg(),
        "timeouts": sandbox.timeouts,
        "sandbox_runs": progress.stats.sandbox_runs,
        "sandbox_requests": sandbox.requests,
        "exec_cache_hits": progress.stats.exec_cache_hits,
        "slowest": sorted(
            ((r["wall_time"], r["task_id"]) for r in read_records(run_dir / "results.jsonl")), reverse=True
        )[:4],
    }


async def measure_scale(n: int, width: int, depth: int) -> dict[str, Any]:
    """One size of ``--tasks-scale`` (run in its own process so its peak RSS is its own)."""
    from dataclasses import replace

    from semtrace.agents.build import build_components
    from semtrace.agents.run import prepare_run_dir, run_tasks
    from semtrace.benchmarks.demo import load
    from semtrace.config import build_config

    sys.path.insert(0, str(REPO / "tests" / "agents"))
    from rules import fenced

    demo = load()
    tasks = [replace(demo[i % len(demo)], task_id=f"{demo[i % len(demo)].task_id}#{i}") for i in range(n)]
    work = Path(tempfile.mkdtemp(prefix="semtrace-scale-"))
    rules = work / "rules.jsonl"
    rules.write_text("".join(json.dumps({"when": f"`{t.entry_point}`", "reply": fenced(t.reference or "")}) + "\n"
                             for t in demo))
    cfg = build_config(flags={"benchmark": "demo", "strategy": "hybrid", "width": width, "depth": depth,
                              "representation": "next", "sandbox": "local", "display": False,
                              "model": f"scripted:{rules}", "temperature": 0.7})
    comps = await build_components(cfg, tasks=tasks)
    run_dir = work / "run"
    prepare_run_dir(run_dir, cfg, resume=False)
    start = time.perf_counter()
    try:
        summary = await run_tasks(cfg, run_dir, comps)
    finally:
        await comps.sandbox.close()
    size = (run_dir / "results.jsonl").stat().st_size
    return {"tasks": n, "wall_s": time.perf_counter() - start, "errors": summary.get("errors", 0),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "bytes_per_task": size / n}


def scale_main(sizes: list[int], width: int, depth: int) -> int:
    import subprocess

    rows = []
    for n in sizes:
        proc = subprocess.run([sys.executable, __file__, "--scale-one", str(n), "--width", str(width),
                               "--depth", str(depth)], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            print(f"error: the {n}-task run failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
            return 1
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    print(f"orchestration --tasks-scale: width {width}, depth {depth}, scripted model, local sandbox")
    for r in rows:
        print(f"  {r['tasks']:>6} tasks: peak RSS {r['peak_rss_mb']:.0f} MB, {r['bytes_per_task']:.0f} bytes/task "
              f"in results.jsonl, {r['wall_s']:.0f} s, errors {r['errors']}")
    ratio = rows[-1]["peak_rss_mb"] / rows[0]["peak_rss_mb"]
    ok = ratio <= 1.5
    print(f"  RSS {rows[-1]['tasks']} / {rows[0]['tasks']} tasks: {ratio:.2f} (target <= 1.5: {'ok' if ok else 'MISSED'})")
    return 0 if ok and not any(r["errors"] for r in rows) else 1


def main() -> int:
    if "--scale-one" in sys.argv:
        ap = argparse.ArgumentParser()
        ap.add_argument("--scale-one", type=int)
        ap.add_argument("--width", type=int, default=8)
        ap.add_argument("--depth", type=int, default=3)
        a = ap.parse_args()
        print(json.dumps(asyncio.run(measure_scale(a.scale_one, a.width, a.depth))))
        return 0
    if "--tasks-scale" in sys.argv:
        ap = argparse.ArgumentParser()
        ap.add_argument("--tasks-scale", required=True, help="comma-separated task counts, e.g. 100,1000")
        ap.add_argument("--width", type=int, default=8)
        ap.add_argument("--depth", type=int, default=3)
        a = ap.parse_args()
        return scale_main([int(x) for x in a.tasks_scale.split(",")], a.width, a.depth)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_data = os.environ.get("SEMTRACE_DATA") or str(REPO.parent / "shared" / "benchmarks")
    parser.add_argument("--data", default=default_data)
    parser.add_argument("--latency", type=float, default=1.0, help="seconds per LLM call")
    parser.add_argument("--concurrency", type=int, default=16, help="LLM calls in flight")
    parser.add_argument(
        "--task-concurrency",
        type=int,
        default=164,
        help="tasks in flight (all: slow, timing-out tasks then start early; the LLM gate bounds work)",
    )
    parser.add_argument(
        "--sandbox-concurrency",
        type=int,
        default=8,
        help="sandbox workers (timeouts wait, they do not compute: more than cores is right)",
    )
    parser.add_argument("--limit", type=int, default=164)
    parser.add_argument("--width", type=int, default=4)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--mode", choices=("hybrid", "sequential", "debug"), default="hybrid", help="the strategy")
    args = parser.parse_args()
    if not (Path(args.data) / "humanevalpack").is_dir():
        print(
            f"error: HumanEvalFix data not found under {args.data}; pass --data DIR or set SEMTRACE_DATA",
            file=sys.stderr,
        )
        return 2
    r = asyncio.run(measure(args))
    return 0 if print_measurement(args, r) else 1


if __name__ == "__main__":
    sys.exit(main())
