"""``semtrace report`` at scale: a 1,000-task x 8-chain run, made from a real small run's records.

A real small run first (the bundled demo benchmark, scripted model, local sandbox, width 8, depth 2, half the
tasks fixed at round 1 and half never, so chains run every round), then its records replicated under new task ids
into a run of N tasks (default 1,000) with the same config. Timed, each the best of ``--repeat`` runs:

- baseline: ``agents.rundir.read_results`` alone (read and parse every line, nothing else);
- ``build_report`` without plots, cold (an empty cache: stream, parse, reduce, summarize, every table);
- ``build_report`` without plots, warm (the reduced records from ``reports/cache.py``);
- ``build_report`` with plots, warm (PNG + SVG of every figure);
- the ``semtrace report --plots`` command end to end in a fresh process (imports included), warm.

Prints each time and its ratio to the baseline; ``--json`` prints them as JSON. Needs no benchmark data.
``--source RUN_DIR`` replicates that run's records instead (e.g. a HumanEvalFix run: its traces are ~5 KB a
candidate, the demo's ~28 KB, as two demo tasks recurse or loop until the tracer's event budget).

    .venv/bin/python perf/report_scale.py [--tasks 1000] [--repeat 3] [--source RUN_DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic import replicate, small_run


def best(fn: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", type=int, default=1000)
    ap.add_argument("--width", type=int, default=8)
    ap.add_argument("--depth", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--source", type=Path, default=None, help="replicate this run's records (default: a demo run)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("SEMTRACE_LOG", "ERROR")

    from semtrace.agents.rundir import read_results
    from semtrace.reports import build_report

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        small = args.source or small_run(tmp, args.width, args.depth)
        big = tmp / "big"
        size, candidates = replicate(small, big, args.tasks)
        baseline = best(lambda: read_results(big / "results.jsonl"), args.repeat)
        fresh = iter(range(10**6))

        def cold() -> None:
            os.environ["SEMTRACE_REPORT_CACHE"] = str(tmp / f"cache{next(fresh)}")
            build_report([big], tmp / "r0", plots=False)

        tables_cold = best(cold, args.repeat)
        tables = best(lambda: build_report([big], tmp / "r1", plots=False), args.repeat)
        plots = best(lambda: build_report([big], tmp / "r2", plots=True), args.repeat)
        cmd = [sys.executable, "-m", "semtrace.cli", "report", str(big), "--plots", "--out", str(tmp / "r3")]
        command = best(lambda: subprocess.run(cmd, check=True, capture_output=True), max(1, args.repeat - 1))
        result = build_report([big], tmp / "r4", plots=False)
    out = {
        "tasks": args.tasks, "source": str(args.source or "demo"), "candidates": candidates,
        "results_mb": round(size / 1e6, 1),
        "baseline_read_results_s": round(baseline, 3),
        "report_cold_s": round(tables_cold, 3), "ratio_cold": round(tables_cold / baseline, 2),
        "report_tables_s": round(tables, 3), "ratio_tables": round(tables / baseline, 2),
        "report_with_plots_s": round(plots, 3), "ratio_with_plots": round(plots / baseline, 2),
        "command_s": round(command, 3), "ratio_command": round(command / baseline, 2),
        "pass@1": result.table("summary").rows[0][2].mean,
    }
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(f"run: {args.tasks} tasks from {args.source or 'a demo run'}, {candidates:,} candidates, "
          f"results.jsonl {out['results_mb']} MB")
    print(f"baseline read_results:        {baseline:7.3f} s")
    print(f"build_report (tables, cold):  {tables_cold:7.3f} s   x{out['ratio_cold']}")
    print(f"build_report (tables, warm):  {tables:7.3f} s   x{out['ratio_tables']}")
    print(f"build_report (+plots, warm):  {plots:7.3f} s   x{out['ratio_with_plots']}")
    print(f"semtrace report --plots (cmd): {command:6.3f} s   x{out['ratio_command']}  (warm, fresh process)")


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
