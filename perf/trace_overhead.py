#!/usr/bin/env python3
"""Tracing overhead on HumanEvalFix's 164 buggy programs, both sides measured in this one run.

    python perf/trace_overhead.py [--sandbox local|docker] [--representation concise] [--limit N] [--json]
    [--check]

For each buggy program (its ``check`` asserts as separate tests), the same request is run twice, one request at a
time, alternating which goes first: without tracing, and with ``TraceSpec()`` (the first failing test traced in
the judged run itself) followed by rendering that trace. The time of each is the wall time of ``sandbox.run``
(plus the rendering for the traced one). Prints the per-program ratio traced/untraced at the median and p95, and
the totals; and, to separate the tracer from the sandbox, the tracer alone: the failing test run in this process
under ``trace_thunk`` minus plainly, in ms (programs that time out are left out of that figure).
``--check`` exits 1 unless the median ratio is <= 1.5 (the acceptance target of issue 4).
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import json
import os
import signal
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def data_dir() -> Path:
    env = os.environ.get("SEMTRACE_DATA")
    return Path(env) if env else REPO.parent / "shared" / "benchmarks"


def load_programs(limit: int | None) -> list[dict[str, Any]]:
    path = data_dir() / "humanevalpack" / "humanevalpack_python.jsonl"
    if not path.is_file():
        sys.exit(f"error: {path} not found; set SEMTRACE_DATA to the folder holding humanevalpack/")
    programs = []
    for line in path.read_text().splitlines()[:limit]:
        row = json.loads(line)
        check = next(
            n for n in ast.parse(row["test"]).body if isinstance(n, ast.FunctionDef) and n.name == "check"
        )
        param = check.args.args[0].arg
        asserts = [ast.unparse(s) for s in ast.walk(check) if isinstance(s, ast.Assert)]
        setup = f"{param} = {row['entry_point']}\n" if param != row["entry_point"] else ""
        programs.append(
            {
                "task_id": row["task_id"],
                "code": row["declaration"] + row["buggy_solution"],
                "entry": row["entry_point"],
                "asserts": asserts,
                "setup": setup,
            }
        )
    return programs


class _Slow(Exception):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise _Slow()


def tracer_only_ratio(code: str, setup: str, source: str, runs: int = 20) -> float | None:
    """In this process, no fork: seconds the tracer adds to the failing test (median of runs, traced -
    plain)."""
    from semtrace.sandbox import tracer

    path = str(REPO / "perf" / "_candidate_.py")  # only a name for the tracer's frame filter; never written
    ns: dict[str, Any] = {"__name__": "__candidate__"}
    compiled = compile(source, "<test>", "exec")
    signal.signal(signal.SIGALRM, _alarm)
    try:
        signal.setitimer(signal.ITIMER_REAL, 2.0)
        exec(compile(code, path, "exec"), ns)
        exec(setup, ns)
        plain, traced = [], []
        for _ in range(runs):
            start = time.perf_counter()
            try:
                exec(compiled, ns)
            except Exception:  # noqa: BLE001 - the buggy program fails its test; that is the point
                pass
            plain.append(time.perf_counter() - start)
            start = time.perf_counter()
            tracer.trace_thunk(lambda: exec(compiled, ns), path, 10000, 200, 0)
            traced.append(time.perf_counter() - start)
        return statistics.median(traced) - statistics.median(plain)
    except (_Slow, BaseException):
        return None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def measure(sandbox_name: str, representation: str, limit: int | None) -> dict[str, Any]:
    from semtrace.representations.base import make_renderer
    from semtrace.representations.views import view_from_result
    from semtrace.sandbox.base import make_sandbox
    from semtrace.sandbox.types import ExecRequest, TestCase, TraceSpec

    renderer = make_renderer(representation)
    sandbox = make_sandbox(sandbox_name)
    ratios, plain_total, traced_total, traced_count = [], 0.0, 0.0, 0
    tracer_ratios: list[float] = []
    plains: list[float] = []
    traceds: list[float] = []
    try:
        programs = load_programs(limit)
        for i, p in enumerate(programs):
            tests = tuple(TestCase(kind="assert", source=a) for a in p["asserts"])
            plain = ExecRequest(code=p["code"], tests=tests, entry_point=p["entry"], test_setup=p["setup"])
            traced = ExecRequest(
                code=p["code"], tests=tests, entry_point=p["entry"], test_setup=p["setup"], trace=TraceSpec()
            )
            if i == 0:  # warm the pool
                await sandbox.run(plain)
            times: dict[str, float] = {}
            for kind in ("plain", "traced") if i % 2 == 0 else ("traced", "plain"):
                start = time.perf_counter()
                if kind == "plain":
                    await sandbox.run(plain)
                    times[kind] = time.perf_counter() - start
                else:
                    result = await sandbox.run(traced)
                    if result.traces:
                        renderer.render(view_from_result(traced, result))
                    times[kind] = time.perf_counter() - start  # (the in-process figure below is not part of it)
                    if result.traces:
                        traced_count += 1
                        failing = result.traces[0].test_index
                        if result.tests[failing].status != "timeout":
                            inproc = tracer_only_ratio(p["code"], p["setup"], p["asserts"][failing])
                            if inproc is not None:
                                tracer_ratios.append(inproc)
            ratios.append(times["traced"] / times["plain"])
            plains.append(times["plain"])
            traceds.append(times["traced"])
            plain_total += times["plain"]
            traced_total += times["traced"]
    finally:
        await sandbox.close()
    return {
        "programs": len(ratios),
        "traced": traced_count,
        "representation": representation,
        "sandbox": sandbox_name,
        "median_ratio": statistics.median(ratios),
        "p95_ratio": percentile(ratios, 0.95),
        "plain_ms_median": 1000 * statistics.median(plains),
        "traced_ms_median": 1000 * statistics.median(traceds),
        "plain_seconds": plain_total,
        "traced_seconds": traced_total,
        "tracer_only_median": statistics.median(tracer_ratios) if tracer_ratios else None,
        "tracer_only_p95": percentile(tracer_ratios, 0.95) if tracer_ratios else None,
        "tracer_only_programs": len(tracer_ratios),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sandbox", default="local")
    parser.add_argument("--representation", "-r", default="concise")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    out = asyncio.run(measure(args.sandbox, args.representation, args.limit))
    if args.json:
        print(json.dumps(out))
    else:
        print(
            f"trace overhead on {out['programs']} HumanEvalFix programs ({out['traced']} traced), sandbox "
            f"{out['sandbox']}, rendering {out['representation']}:"
        )
        print(f"  traced/untraced ratio: median {out['median_ratio']:.2f}, p95 {out['p95_ratio']:.2f} "
              f"(per program: untraced median {out['plain_ms_median']:.2f} ms, traced "
              f"{out['traced_ms_median']:.2f} ms)")
        print(
            f"  total: untraced {out['plain_seconds']:.2f} s, traced+rendered {out['traced_seconds']:.2f} s"
        )
        if out["tracer_only_median"] is not None:
            print(
                f"  the tracer alone, in-process on the failing test ({out['tracer_only_programs']} "
                f"programs): "
                f"adds median {out['tracer_only_median'] * 1000:.2f} ms, p95 "
                f"{out['tracer_only_p95'] * 1000:.2f} ms"
            )
    if args.check and out["median_ratio"] > 1.5:
        print(f"FAIL: median ratio {out['median_ratio']:.2f} > 1.5", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
