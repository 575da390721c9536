"""verify_tasks: counting, known-broken handling, and the one solo re-run of a reference that timed out."""

from __future__ import annotations

from pathlib import Path

from semtrace.benchmarks.task import Task
from semtrace.benchmarks.verify import all_tests, verify_tasks
from semtrace.sandbox.types import TestCase


def _task(task_id: str, reference: str, starting: str | None = None, timeout: float = 0.5) -> Task:
    test = TestCase(kind="assert", source="assert f() == 1", timeout=timeout)
    return Task(task_id=task_id, kind="repair" if starting else "synthesis", prompt="", entry_point="f",
                starting_code=starting, visible_tests=(test,), hidden_tests=(test,), reference=reference)


def test_all_tests_dedupes() -> None:
    assert len(all_tests(_task("t", "def f(): return 1"))) == 1


async def test_slow_once_reference_passes_on_the_solo_rerun(local_sandbox, tmp_path: Path) -> None:
    marker = tmp_path / "ran-once"
    slow_once = (f"import os, time\ndef f():\n    if not os.path.exists({str(marker)!r}):\n"
                 f"        open({str(marker)!r}, 'w').close()\n        time.sleep(3)\n    return 1\n")
    report = await verify_tasks("x", [_task("t", slow_once)], local_sandbox)
    assert marker.exists() and report.ok and report.reference_passed == 1 and not report.mismatches


async def test_always_slow_reference_is_a_timeout_mismatch(local_sandbox) -> None:
    slow = "import time\ndef f():\n    time.sleep(3)\n    return 1\n"
    good = "def f():\n    return 1\n"
    report = await verify_tasks("x", [_task("slow", slow), _task("fix", good, starting=good)], local_sandbox,
                                known_broken={"fix": "on purpose"})
    assert not report.ok
    assert [(m.task_id, m.which, m.status) for m in report.mismatches] == [
        ("slow", "reference", "timeout"), ("fix", "starting_code", "passed")]
    assert report.reference_passed == 1 and report.reference_total == 2 and report.starting_passed == 1
    assert report.known_broken == ("fix",)


async def test_asserts_are_counted_by_path_and_what_the_judge_cannot_judge_is_named(local_sandbox) -> None:
    """Plain asserts on a user's data: none is self-reported; those the AST pass does not convert run in the assert
    judge (counted); one the judge cannot judge (it would hand the program a function of the test's) is named."""
    tests = (TestCase(kind="assert", source="assert f(1) == 2"),
             TestCase(kind="assert", source="assert f(1) == sum([1, 1])"),
             TestCase(kind="assert", source="assert f(lambda: 0) == sum([1, 1])"))
    task = Task(task_id="user/1", kind="synthesis", prompt="", entry_point="f", visible_tests=tests[:1],
                hidden_tests=tests, reference="def f(x):\n    return 2\n")
    report = await verify_tasks("user", [task], local_sandbox)
    data = report.to_json()
    assert data["self_reported_asserts"] == 0 and data["assert_judged"] == 2
    assert len(data["unjudgeable"]) == 1 and data["unjudgeable"][0]["task_id"] == "user/1"
    assert "cannot pass a function" in data["unjudgeable"][0]["why"]
