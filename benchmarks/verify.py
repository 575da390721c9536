"""Run every task's reference solution and, where there is one, its starting (buggy) program through a sandbox.

A reference must pass all its tests (visible and hidden); a starting program must not. Anything else is a
mismatch, unless the task is known broken upstream (the benchmark lists it with the reason); mismatches of known
broken tasks are still reported, with the reason in their message, but do not fail the verification. Time limits
are calibrated (a few times the reference's own runtime), so on a busy machine a reference can overrun one: a
reference that times out is run once more, alone, after the others, and only a second timeout is a mismatch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from semtrace.benchmarks.task import Task
from semtrace.sandbox.assert_judge import LIMIT
from semtrace.sandbox.base import Sandbox
from semtrace.sandbox.types import ExecRequest, ExecResult, Limits, TestCase


@dataclass(frozen=True)
class Mismatch:
    task_id: str
    which: str  # "reference" | "starting_code"
    status: str
    message: str


@dataclass(frozen=True)
class VerifyReport:
    benchmark: str
    tasks: int
    reference_passed: int
    reference_total: int
    starting_passed: int
    starting_total: int
    known_broken: tuple[str, ...] = ()
    mismatches: tuple[Mismatch, ...] = ()
    seconds: float = 0.0
    programs: int = 0
    known_broken_reasons: dict[str, str] = field(default_factory=dict)
    self_reported_asserts: int = 0  # tests whose verdict the candidate's process reports (see sandbox/README.md)
    assert_judged: int = 0  # tests run in the supervisor's assert judge (the rest: judged from one reported value)
    unjudgeable: tuple[Mismatch, ...] = ()  # tests the assert judge could not judge for the reference, and why

    @property
    def ok(self) -> bool:
        """No mismatch outside the known-broken tasks."""
        return all(m.task_id in self.known_broken for m in self.mismatches)

    def to_json(self) -> dict[str, Any]:
        """The issue's JSON shape."""
        return {
            "benchmark": self.benchmark,
            "tasks": self.tasks,
            "reference": {"passed": self.reference_passed, "total": self.reference_total},
            "starting_code": {"passed": self.starting_passed, "total": self.starting_total},
            "known_broken": list(self.known_broken),
            "self_reported_asserts": self.self_reported_asserts,
            "assert_judged": self.assert_judged,
            "unjudgeable": [{"task_id": m.task_id, "test": m.status, "why": m.message} for m in self.unjudgeable],
            "mismatches": [{"task_id": m.task_id, "which": m.which, "status": m.status, "message": m.message}
                           for m in self.mismatches],
        }


def all_tests(task: Task) -> tuple[TestCase, ...]:
    """Visible then hidden tests, without repeating a test that is in both."""
    seen: set[TestCase] = set()
    out = []
    for test in (*task.visible_tests, *task.hidden_tests):
        if test not in seen:
            seen.add(test)
            out.append(test)
    return tuple(out)


def request_for(task: Task, code: str, limits: Limits | None = None) -> ExecRequest:
    return ExecRequest(code=code, tests=all_tests(task), entry_point=task.entry_point or None,
                       test_setup=task.test_setup, prelude=task.prelude, limits=limits or Limits(),
                       stop_on_failure=True)


def _describe(result: ExecResult) -> str:
    failure = result.first_failure
    if failure is not None:
        return f"test {failure.index}: {failure.message}"[:500]
    return (result.message or "passed")[:500]


async def verify_tasks(benchmark: str, tasks: list[Task], sandbox: Sandbox, *,
                       known_broken: dict[str, str] | None = None, limits: Limits | None = None,
                       progress: Callable[[int], None] | None = None) -> VerifyReport:
    """Run references and starting programs of ``tasks``; ``progress(n)`` is called as programs finish."""
    known = {k: v for k, v in (known_broken or {}).items() if k in {t.task_id for t in tasks}}
    loop = asyncio.get_running_loop()
    start = loop.time()
    mismatches: list[Mismatch] = []
    counts = {"reference": [0, 0], "starting_code": [0, 0]}

    retry: list[Task] = []
    unjudgeable: list[Mismatch] = []

    def record(task: Task, which: str, result: ExecResult) -> None:
        counts[which][1] += 1
        unjudgeable.extend(Mismatch(task.task_id, which, str(t.index), t.message) for t in result.tests
                           if t.message.startswith(LIMIT))
        passed = result.passed and bool(result.tests)
        counts[which][0] += passed
        if passed != (which == "reference"):
            status = result.status if which == "reference" else "passed"
            message = _describe(result) if which == "reference" else "the starting program passes every test"
            if task.task_id in known:
                message = f"known broken upstream: {known[task.task_id]}; {message}"
            mismatches.append(Mismatch(task.task_id, which, status, message))

    async def check(task: Task, which: str, code: str) -> None:
        result = await sandbox.run(request_for(task, code, limits))
        if which == "reference" and result.status == "timeout":
            retry.append(task)  # judged again below, alone, so a busy machine is not mistaken for a slow reference
        else:
            record(task, which, result)
        if progress:
            progress(1)

    jobs = []
    for task in tasks:
        if task.reference is not None:
            jobs.append(check(task, "reference", task.reference))
        if task.starting_code is not None:
            jobs.append(check(task, "starting_code", task.starting_code))
    await asyncio.gather(*jobs)
    for task in retry:
        record(task, "reference", await sandbox.run(request_for(task, task.reference or "", limits)))
    order = {t.task_id: i for i, t in enumerate(tasks)}
    mismatches.sort(key=lambda m: (order[m.task_id], m.which))
    return VerifyReport(
        benchmark=benchmark, tasks=len(tasks),
        reference_passed=counts["reference"][0], reference_total=counts["reference"][1],
        starting_passed=counts["starting_code"][0], starting_total=counts["starting_code"][1],
        known_broken=tuple(sorted(known, key=order.__getitem__)), mismatches=tuple(mismatches),
        seconds=loop.time() - start, programs=len(jobs), known_broken_reasons=known,
        self_reported_asserts=sum(self_reported_asserts(t) for t in tasks),
        assert_judged=sum(assert_judged(t) for t in tasks), unjudgeable=tuple(unjudgeable))


def self_reported_asserts(task: Task) -> int:
    """How many of the task's tests the candidate's process would judge itself: 0 since every assert runs in the
    supervisor's assert judge; kept so that a user's data can be shown to have none."""
    from semtrace.sandbox.convert import self_reported

    code = task.reference or task.starting_code or ""
    return self_reported([t.to_dict() for t in all_tests(task)], task.entry_point or None, code, task.test_setup)


def assert_judged(task: Task) -> int:
    """How many of the task's tests run in the assert judge (the AST pass depends on the names the program
    defines: counted against the reference, or the starting code when there is none)."""
    from semtrace.sandbox.convert import judged_by_assert_judge

    code = task.reference or task.starting_code or ""
    return judged_by_assert_judge([t.to_dict() for t in all_tests(task)], task.entry_point or None, code,
                                  task.test_setup)


def program_count(tasks: list[Task]) -> int:
    return sum((t.reference is not None) + (t.starting_code is not None) for t in tasks)
