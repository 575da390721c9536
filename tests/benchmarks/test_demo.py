"""The shipped demo set: 12-20 tasks, varied bug kinds, references pass, starting programs fail (visible AND hidden)."""

from __future__ import annotations

from collections import Counter

import pytest
from semtrace.benchmarks.registry import load_benchmark
from semtrace.benchmarks.task import Task
from semtrace.sandbox.types import ExecRequest, TestCase

TASKS = load_benchmark("demo")


def test_shape() -> None:
    assert 12 <= len(TASKS) <= 20
    kinds = Counter(t.metadata["bug"] for t in TASKS)
    for kind in ("off-by-one", "wrong operator", "wrong base case", "mutated default argument", "wrong comparison",
                 "missing edge case"):
        assert kinds[kind] >= 1, kind
    for t in TASKS:
        assert t.kind == "repair" and t.starting_code and t.reference and t.visible_tests and t.hidden_tests
        assert not {v.source for v in t.visible_tests} & {h.source for h in t.hidden_tests}  # disjoint
        assert t.starting_code != t.reference
        assert max(len(t.starting_code.splitlines()), len(t.reference.splitlines())) <= 12  # small


async def _run(sandbox, code: str, task: Task, tests: tuple[TestCase, ...]):
    return await sandbox.run(ExecRequest(code=code, tests=tests, entry_point=task.entry_point,
                                         test_setup=task.test_setup))


@pytest.mark.parametrize("task", TASKS, ids=[t.task_id for t in TASKS])
async def test_reference_passes_and_starting_code_fails(local_sandbox, task: Task) -> None:
    for tests in (task.visible_tests, task.hidden_tests):
        ref = await _run(local_sandbox, task.reference, task, tests)
        assert ref.passed, (task.task_id, ref.first_failure)
        start = await _run(local_sandbox, task.starting_code, task, tests)
        assert not start.passed, (task.task_id, "the starting program passes", tests)
