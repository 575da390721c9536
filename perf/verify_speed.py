"""Programs per second of `semtrace benchmarks verify humaneval` (local sandbox) against a human-eval-style baseline.

The baseline is what openai/human-eval's ``check_correctness`` does: one ``multiprocessing.Process`` per program
(``prompt + solution + test + check(entry_point)`` exec'd in the child, no isolation beyond the process, no per-test
results, a wall-clock timeout), run from a thread pool with as many workers as the local sandbox has slots.
Both sides run the same 164 HumanEval reference solutions in the same process run, one after the other;
the ratio is semtrace / baseline (higher is better for semtrace).

    python perf/verify_speed.py [--data DIR] [--repeat N] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from semtrace.benchmarks.common import read_rows
from semtrace.benchmarks.humaneval import FILE
from semtrace.benchmarks.registry import get_benchmark, resolve_data_dir
from semtrace.benchmarks.verify import verify_tasks
from semtrace.sandbox.local import LocalSandbox


def _child(program: str) -> None:
    try:
        exec(program, {"__name__": "__candidate__"})  # noqa: S102 - the baseline runs programs unisolated
    except BaseException:  # noqa: BLE001 - any failure of the program is a failed check
        os._exit(1)
    os._exit(0)


def _check_one(program: str, timeout: float) -> bool:
    proc = multiprocessing.get_context("fork").Process(target=_child, args=(program,))
    proc.start()
    proc.join(timeout)
    if proc.is_alive():
        proc.kill()
        proc.join()
        return False
    return proc.exitcode == 0


def baseline(rows: list[dict], workers: int, timeout: float = 3.0) -> tuple[int, float]:
    programs = [r["prompt"] + r["canonical_solution"] + "\n" + r["test"] + f"\ncheck({r['entry_point']})\n"
                for r in rows]
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        passed = sum(pool.map(lambda p: _check_one(p, timeout), programs))
    return passed, time.perf_counter() - start


async def ours(tasks: list, workers: int) -> tuple[int, float]:
    sandbox = LocalSandbox(concurrency=workers)
    try:
        start = time.perf_counter()
        report = await verify_tasks("humaneval", tasks, sandbox)
        return report.reference_passed, time.perf_counter() - start
    finally:
        await sandbox.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=None, help="data dir (else $SEMTRACE_DATA / ../shared)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each side; the best is reported")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    data = args.data or (None if os.environ.get("SEMTRACE_DATA") else Path(__file__).resolve().parents[2] /
                         "shared" / "benchmarks")
    root = resolve_data_dir(data)
    if not (root / FILE).is_file():
        print(f"error: {root / FILE} not found; pass --data DIR or set SEMTRACE_DATA", file=sys.stderr)
        return 2
    workers = os.cpu_count() or 1
    tasks = get_benchmark("humaneval").load(root)  # calibrated time limits (cached after the first run)
    rows = read_rows(root / FILE)
    best_ours = best_base = float("inf")
    ours_passed = base_passed = 0
    for _ in range(max(1, args.repeat)):
        ours_passed, took = asyncio.run(ours(tasks, workers))
        best_ours = min(best_ours, took)
        base_passed, took = baseline(rows, workers)
        best_base = min(best_base, took)
    n = len(tasks)
    result = {
        "programs": n, "workers": workers,
        "semtrace_programs_per_s": round(n / best_ours, 2), "semtrace_passed": ours_passed,
        "baseline_programs_per_s": round(n / best_base, 2), "baseline_passed": base_passed,
        "ratio": round(best_base / best_ours, 3),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"verify humaneval: {n} programs, {workers} workers, best of {max(1, args.repeat)}")
        print(f"  semtrace (local sandbox): {result['semtrace_programs_per_s']:8.2f} programs/s "
              f"({ours_passed}/{n} passed)")
        print(f"  baseline (Process each):  {result['baseline_programs_per_s']:8.2f} programs/s "
              f"({base_passed}/{n} passed)")
        print(f"  ratio semtrace/baseline:  {result['ratio']:8.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
