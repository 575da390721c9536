"""Per-test time limits for every dataset, and expected outputs for those that store inputs only (EvalPlus).

The reference solution runs once per task in the sandbox. For EvalPlus each input is a test that calls the
reference and prints the output as Python source (``common.to_source``; a digest for outputs over
``SOURCE_LIMIT`` characters) on a marked stdout line, with the call's runtime; for the other datasets the
reference runs the dataset's own tests and only their runtimes are kept. A runtime ``t`` sets the test's time
limit to ``max(floor, factor x t)`` (EvalPlus's rule and defaults: floor 1 s, factor 4). Results are cached as
JSON under ``$SEMTRACE_CACHE/calibration`` (default ``~/.cache/semtrace``), named after the dataset file's sha256,
so they are measured once per dataset file. Runtimes are stored raw: floor and factor can change without
re-measuring.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from semtrace.benchmarks.common import sha256_file, to_source
from semtrace.sandbox.types import ExecRequest, Limits, TestCase

if TYPE_CHECKING:
    from semtrace.benchmarks.evalplus import PlusProblem
    from semtrace.benchmarks.task import Task

log = logging.getLogger(__name__)

SOURCE_LIMIT = 20000  # outputs with longer source are stored and compared as a digest
CALIBRATION_VERSION = 1  # bump when the input -> source conversion or the record format changes
# EvalPlus's defaults; a slow or busy machine may raise them (time limits are wall-clock).
DEFAULT_FLOOR = float(os.environ.get("SEMTRACE_TIME_FLOOR", "1.0"))
DEFAULT_FACTOR = float(os.environ.get("SEMTRACE_TIME_FACTOR", "4.0"))
RECORD_LIMITS = Limits(wall_time=60.0, memory_mb=4096, output_bytes=1 << 28, load_time=30.0)


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

MARK = "\x1esemtrace-record "  # starts each recorded-output line on stdout


def _record_setup() -> str:
    """Test-namespace helpers: ``_st_record(i, thunk)`` times one call and prints its output on a marked stdout line.

    Outputs travel on stdout rather than in ``TestOutcome.actual`` (whose repr the runner caps at 1000 characters):
    as full Python source (``common.to_source``) when small, else as the ``_st_digest`` the tests compare with;
    for those the digest's own time is counted in the reference time, since the test computes it too.
    """
    from semtrace.benchmarks.evalplus import ORACLE_SETUP

    return "\n".join([
        ORACLE_SETUP,
        "import math, time as _st_time\nfrom typing import Any",
        inspect.getsource(to_source),
        inspect.getsource(is_small),
        "def _st_record(i, thunk):",
        "    start = _st_time.perf_counter()",
        "    value = thunk()",
        "    took = _st_time.perf_counter() - start",
        "    start = _st_time.perf_counter()",
        "    try:",
        f"        text = 'src ' + to_source(value) if is_small(value, {SOURCE_LIMIT}) else 'sha ' + _st_digest(value)",
        "    except (TypeError, RecursionError):",
        "        text = 'repr ' + repr(value).replace('\\n', ' ')",
        "    took += (_st_time.perf_counter() - start) if text.startswith('sha') else 0.0",
        "    _st_sys.stdout.write('%s%d %r %s\\n' % (" + repr(MARK) + ", i, took, text))",
        "",
    ])


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


def parse_records(stdout: str, n: int) -> dict[int, tuple[float, str, str]]:
    """index -> (seconds, 'src' | 'repr', text) from the marked stdout lines."""
    found: dict[int, tuple[float, str, str]] = {}
    for line in stdout.split("\n"):
        if not line.startswith(MARK):
            continue
        index, took, kind, text = line[len(MARK):].split(" ", 3)
        if 0 <= int(index) < n:
            found[int(index)] = (float(took), kind, text)
    return found


async def record(problems: list[PlusProblem], sandbox: str = "local",
                 progress: Callable[[int, int], None] | None = None,
                 ) -> tuple[dict[str, list[str]], dict[str, list[float]], list[str]]:
    """Run each reference once, recording every input's output source and runtime.

    Returns (expected sources, runtimes, errors). An output that is not a builtin value is stored as its repr
    prefixed with ``repr:`` (only the special oracles read those: ``re.Match`` objects of the "not None" tasks).
    """
    from semtrace.benchmarks.evalplus import DIGEST_PREFIX
    from semtrace.sandbox.base import make_sandbox

    box = make_sandbox(sandbox)
    setup = _record_setup()
    expected: dict[str, list[str]] = {}
    times: dict[str, list[float]] = {}
    errors: list[str] = []
    done = 0

    async def one(p: PlusProblem) -> None:
        nonlocal done
        tests = tuple(TestCase(kind="assert", source=f"_st_record({i}, lambda: candidate({args}))", name=f"rec{i}")
                      for i, args in enumerate(p.inputs))
        result = await box.run(ExecRequest(code=p.reference, tests=tests, entry_point=p.entry_point,
                                           test_setup=setup, limits=RECORD_LIMITS))
        records = parse_records(result.stdout, len(p.inputs))
        failed = [t for t in result.tests if t.status != "passed"]
        missing = [i for i in range(len(p.inputs)) if i not in records]
        if failed or missing or len(result.tests) != len(p.inputs):
            why = (f"input {failed[0].index}: {failed[0].status}: {failed[0].message}" if failed
                   else f"no output recorded for input {missing[0] if missing else '?'} ({result.message})")
            errors.append(f"{p.task_id}: reference {why}")
        else:
            prefix = {"src": "", "sha": DIGEST_PREFIX, "repr": "repr:"}
            expected[p.task_id] = [prefix[records[i][1]] + records[i][2] for i in range(len(p.inputs))]
            times[p.task_id] = [records[i][0] for i in range(len(p.inputs))]
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
                                           test_setup=task.test_setup, limits=RECORD_LIMITS))
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
