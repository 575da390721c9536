"""Per-test time limits for every dataset, and expected outputs for those that store inputs only (EvalPlus).

The reference solution runs once per task in the sandbox. For EvalPlus each input is a call test run in the
runner's record mode: the whole output travels back on the result channel (no stdout, no cap but
``Limits.value_bytes``) and is stored as Python source (``common.to_source``; ``judge.digest`` for outputs over
``SOURCE_LIMIT`` characters), with the runtime the judge side measured; for the other datasets the
reference runs the dataset's own tests and only their runtimes are kept. A runtime ``t`` sets the test's time
limit to ``max(floor, factor x t)`` (EvalPlus's rule and defaults: floor 1 s, factor 4). Results are cached as
JSON under ``$SEMTRACE_CACHE/calibration`` (default ``~/.cache/semtrace``), named after the dataset file's sha256,
so they are measured once per dataset file. Runtimes are stored raw: floor and factor can change without
re-measuring.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from semtrace.benchmarks.common import sha256_file, to_source
from semtrace.benchmarks.registry import TIME_FACTOR, TIME_FLOOR
from semtrace.sandbox.types import ExecRequest, Limits, TestCase

if TYPE_CHECKING:
    from semtrace.benchmarks.evalplus import PlusProblem
    from semtrace.benchmarks.task import Task

log = logging.getLogger(__name__)

SOURCE_LIMIT = 20000  # outputs with longer source are stored and compared as a digest
CALIBRATION_VERSION = 2  # bump when the input -> source conversion or the record format changes
# EvalPlus's defaults; a slow or busy machine may raise them (time limits are wall-clock).
DEFAULT_FLOOR = TIME_FLOOR  # a run sets them through its config (benchmark_options: time_floor, time_factor)
DEFAULT_FACTOR = TIME_FACTOR
RECORD_LIMITS = Limits(wall_time=120.0, memory_mb=4096, output_bytes=1 << 28, load_time=30.0)


class CalibrationError(RuntimeError):
    """The reference solution could not be recorded (it failed, or its output cannot be written back as source)."""


@dataclass(frozen=True)
class Calibration:
    """Per task: expected output sources and the reference's per-test runtimes (seconds)."""

    expected: dict[str, list[str]]
    ref_time: dict[str, list[float]]
    floor: float = DEFAULT_FLOOR
    factor: float = DEFAULT_FACTOR
    meta: dict[str, Any] = field(default_factory=dict)

    def timeouts(self, task_id: str) -> list[float]:
        return [round(max(self.floor, self.factor * t), 3) for t in self.ref_time[task_id]]


def cache_dir() -> Path:
    root = os.environ.get("SEMTRACE_CACHE")
    return (Path(root) if root else Path("~/.cache/semtrace").expanduser()) / "calibration"


def cache_path(data_file: Path) -> Path:
    return cache_dir() / f"{data_file.name}.{sha256_file(data_file)[:20]}.v{CALIBRATION_VERSION}.json"


def _run_sync(factory: Callable[[], Any]) -> Any:
    """Run a coroutine from sync code, also when the caller is already inside an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(factory())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="semtrace-calibrate")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]

def is_small(value: Any, limit: int) -> bool:
    """Whether ``value``'s source stays under about ``limit`` characters (and has no int the parent cannot
    parse: more than 4000 digits). Walks at most ``limit`` items."""
    left = limit
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, (str, bytes)):
            left -= len(v) + 2
        elif isinstance(v, int) and not isinstance(v, bool):
            if v.bit_length() > 13000:
                return False
            left -= v.bit_length() // 3 + 1
        elif isinstance(v, (list, tuple, set, frozenset)):
            left -= 2
            stack.extend(v)
        elif isinstance(v, dict):
            left -= 2
            stack.extend(v.keys())
            stack.extend(v.values())
        else:
            left -= 24
        if left < 0:
            return False
    return True


def expected_source(value: Any) -> str:
    """How a recorded output is stored: source when small, a digest when large, ``repr:`` for non-builtins."""
    from semtrace.benchmarks.evalplus import DIGEST_PREFIX
    from semtrace.sandbox.judge import Digest, Opaque, digest

    if isinstance(value, Digest):  # too large to travel whole: the child sent its digest
        return DIGEST_PREFIX + value.hex
    if isinstance(value, Opaque):  # only the special oracles read those: re.Match of the "not None" tasks
        return "repr:" + value.text.replace("\n", " ")
    if is_small(value, SOURCE_LIMIT):
        try:
            return to_source(value)
        except TypeError:
            pass
    try:
        return DIGEST_PREFIX + digest(value)
    except TypeError:
        return "repr:" + repr(value).replace("\n", " ")


async def record(problems: list[PlusProblem], sandbox: str = "local",
                 progress: Callable[[int, int], None] | None = None,
                 ) -> tuple[dict[str, list[str]], dict[str, list[float]], list[str]]:
    """Run each reference once in record mode, keeping every input's output and runtime.

    Returns (expected sources, runtimes, errors); an error names the task, the input and why.
    """
    from semtrace.sandbox.base import make_sandbox

    box = make_sandbox(sandbox)
    expected: dict[str, list[str]] = {}
    times: dict[str, list[float]] = {}
    errors: list[str] = []
    done = 0

    async def one(p: PlusProblem) -> None:
        nonlocal done
        tests = tuple(TestCase(kind="call", func=p.entry_point, args=args, name=f"rec{i}")
                      for i, args in enumerate(p.inputs))
        result = await box.run(ExecRequest(code=p.reference, tests=tests, entry_point=p.entry_point,
                                           limits=RECORD_LIMITS, record=True))
        failed = [t for t in result.tests if t.status != "passed"]
        if failed or len(result.tests) != len(p.inputs):
            why = (f"input {failed[0].index}: {failed[0].status}: {failed[0].message}" if failed
                   else f"{len(result.tests)} of {len(p.inputs)} inputs came back ({result.status}: {result.message})")
            errors.append(f"{p.task_id}: reference {why}")
        else:
            expected[p.task_id] = [expected_source(t.decoded()) for t in result.tests]
            times[p.task_id] = [t.duration for t in result.tests]
        done += 1
        if progress:
            progress(done, len(problems))

    try:
        await asyncio.gather(*(one(p) for p in problems))
    finally:
        await box.close()
    return expected, times, errors


def calibrate(problems: list[PlusProblem], data_file: Path, *, sandbox: str = "local",
              floor: float = DEFAULT_FLOOR, factor: float = DEFAULT_FACTOR, refresh: bool = False) -> Calibration:
    """Cached expected outputs and runtimes for ``problems`` (from ``data_file``); measured on the first call."""
    path = cache_path(data_file)
    if path.is_file() and not refresh:
        data = json.loads(path.read_text())
        if set(data["expected"]) >= {p.task_id for p in problems}:
            return Calibration(data["expected"], data["ref_time"], floor, factor, data.get("meta", {}))
    log.warning("calibrating %s: running %d reference solutions once (cached in %s)", data_file.name,
                len(problems), path)
    expected, times, errors = _run_sync(lambda: record(problems, sandbox))
    if errors:
        raise CalibrationError(f"the reference solution could not be recorded for {len(errors)} task(s): "
                               + "; ".join(sorted(errors)[:5]))
    meta = {"dataset_file": data_file.name, "sha256": sha256_file(data_file), "sandbox": sandbox,
            "version": CALIBRATION_VERSION}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps({"meta": meta, "expected": expected, "ref_time": times}))
    tmp.replace(path)
    return Calibration(expected, times, floor, factor, meta)


# --------------------------------------------------------------------------------------------- time limits only
# Datasets that carry their expected values (HumanEval, MBPP, ...) only need the time limits: the reference runs
# every test once and each test gets ``max(floor, factor x its runtime)``; tests the reference does not pass keep
# the default limit.


async def measure_tests(tasks: list[Task], sandbox: str = "local") -> dict[str, list[float | None]]:
    """Per task, the reference's runtime on each test of ``all_tests(task)`` (None where it did not pass)."""
    from semtrace.benchmarks.verify import all_tests
    from semtrace.sandbox.base import make_sandbox

    box = make_sandbox(sandbox)

    async def one(task: Task) -> tuple[str, list[float | None]]:
        tests = all_tests(task)
        result = await box.run(ExecRequest(code=task.reference or "", tests=tests, entry_point=task.entry_point,
                                           test_setup=task.test_setup, prelude=task.prelude,
                                           limits=RECORD_LIMITS))
        times: list[float | None] = [None] * len(tests)
        for outcome in result.tests:
            if outcome.status == "passed" and 0 <= outcome.index < len(tests):
                times[outcome.index] = outcome.duration
        return task.task_id, times

    try:
        pairs = await asyncio.gather(*(one(t) for t in tasks if t.reference is not None))
    finally:
        await box.close()
    return dict(pairs)


def with_timeouts(task: Task, times: list[float | None], floor: float, factor: float) -> Task:
    from semtrace.benchmarks.verify import all_tests

    limits = {test: round(max(floor, factor * t), 3) for test, t in zip(all_tests(task), times) if t is not None}

    def fix(tests: tuple[TestCase, ...]) -> tuple[TestCase, ...]:
        return tuple(replace(t, timeout=limits[t]) if t.timeout is None and t in limits else t for t in tests)

    return replace(task, visible_tests=fix(task.visible_tests), hidden_tests=fix(task.hidden_tests))


def calibrate_timeouts(name: str, tasks: list[Task], data_files: list[Path], *, sandbox: str = "local",
                       floor: float = DEFAULT_FLOOR, factor: float = DEFAULT_FACTOR,
                       refresh: bool = False) -> list[Task]:
    """``tasks`` with per-test time limits from the reference's runtime, measured once per dataset file(s)."""
    key = "-".join(sha256_file(f)[:12] for f in data_files)
    path = cache_dir() / f"{name}.timeouts.{key}.v{CALIBRATION_VERSION}.json"
    times: dict[str, list[float | None]] = {}
    if path.is_file() and not refresh:
        times = json.loads(path.read_text())["ref_time"]
    wanted = {t.task_id for t in tasks if t.reference is not None}
    if not wanted <= set(times):
        log.warning("calibrating %s time limits: running %d reference solutions once (cached in %s)", name,
                    len(wanted), path)
        times.update(_run_sync(lambda: measure_tests([t for t in tasks if t.task_id not in times], sandbox)))
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps({"meta": {"benchmark": name, "files": [f.name for f in data_files],
                                            "sandbox": sandbox}, "ref_time": times}))
        tmp.replace(path)
    return [with_timeouts(t, times[t.task_id], floor, factor) if t.task_id in times else t for t in tasks]
