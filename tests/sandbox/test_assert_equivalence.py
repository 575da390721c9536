"""Verdict equivalence: every assert test of every shipped benchmark that the assert judge runs (and every assert of a
task with a ``test_setup``, whose functions and data now stay out of the child) gives the same verdict through the
assert judge as through the old way — the test's source run in the program's own namespace
(``naive_harness.py``) — for the references and for the starting (buggy) programs."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from semtrace.benchmarks.registry import load_benchmark
from semtrace.benchmarks.verify import all_tests
from semtrace.sandbox import convert
from semtrace.sandbox.base import make_sandbox
from semtrace.sandbox.types import ExecRequest, Limits

HARNESS = Path(__file__).with_name("naive_harness.py")
WALL = 10.0  # generous: no shipped test loops on this path, and a loaded machine must not turn a pass into a timeout
# benchmarks with assert tests (EvalPlus's, MBPP-R's and CRUXEval's are call tests, judged as before)
NAMES = ["humaneval", "humaneval-fix", "quixbugs", "mbpp", "mbpp-sanitized"]


def _jobs(tasks: list) -> list[tuple[str, str, object, list]]:
    jobs = []
    for task in tasks:
        for which, code in (("reference", task.reference), ("starting", task.starting_code)):
            if code is None:
                continue
            asserts = [t for t in all_tests(task) if t.kind == "assert"]
            judged = [t for t in asserts if task.test_setup or convert.to_call_test(
                t.to_dict(), task.entry_point or None, code, task.test_setup)["kind"] == "assert"]
            if judged:
                jobs.append((task.task_id, which, task, code, judged))
    return jobs


def _naive(jobs: list) -> list[list[str]]:
    lines = "".join(json.dumps({"code": code, "entry_point": task.entry_point, "test_setup": task.test_setup,
                                "prelude": task.prelude, "tests": [t.source for t in tests], "timeout": WALL}) + "\n"
                    for _, _, task, code, tests in jobs)
    done = subprocess.run([sys.executable, str(HARNESS)], input=lines, capture_output=True, text=True, check=True,
                          timeout=1800)
    return [json.loads(line) for line in done.stdout.splitlines()]


async def _new(jobs: list) -> list[list[str]]:
    sandbox = make_sandbox("local")
    try:
        results = await asyncio.gather(*(sandbox.run(ExecRequest(
            code=code, tests=tuple(tests), entry_point=task.entry_point or None, test_setup=task.test_setup,
            prelude=task.prelude, limits=Limits(wall_time=WALL))) for _, _, task, code, tests in jobs))
    finally:
        await sandbox.close()
    return [[t.status for t in r.tests] for r in results]


def _same(old: str, new: str) -> bool:
    return old == new or {old, new} <= {"error", "oom", "killed"}


@pytest.mark.parametrize("name", NAMES)
def test_the_assert_judge_gives_the_old_verdicts(name: str, data_dir: Path) -> None:
    tasks = load_benchmark(name, data_dir)
    jobs = _jobs(tasks)
    assert jobs, f"{name}: no assert test reaches the assert judge (the selection is broken)"
    old, new = _naive(jobs), asyncio.run(_new(jobs))
    differ = []
    for (task_id, which, _task, _code, tests), o, n in zip(jobs, old, new, strict=True):
        for test, a, b in zip(tests, o, n, strict=True):
            if not _same(a, b):
                differ.append(f"{task_id} ({which}): {test.source.strip()[:80]!r}: old {a}, new {b}")
    assert not differ, f"{len(differ)} verdict(s) differ:\n" + "\n".join(differ[:20])
