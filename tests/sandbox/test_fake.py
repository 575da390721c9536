"""The ``fake`` sandbox: registered like any back end, answers by (program, tests), records what it was sent."""

from __future__ import annotations

import pytest
from semtrace.sandbox.base import SANDBOXES, Sandbox, make_sandbox
from semtrace.sandbox.fake import FakeSandbox
from semtrace.sandbox.types import ExecRequest, ExecResult, TestCase, TestOutcome, TraceSpec

CODE = "def f(x):\n    return x + 1\n"
TESTS = (TestCase(kind="assert", source="assert f(1) == 2"),)
PASSED = ExecResult(status="passed", tests=(TestOutcome(index=0, status="passed", actual="2"),))


def test_registered_by_name_and_is_a_sandbox() -> None:
    assert "fake" in SANDBOXES.names()
    sandbox = make_sandbox("fake", results={(CODE, TESTS): PASSED})
    assert isinstance(sandbox, FakeSandbox) and isinstance(sandbox, Sandbox)


async def test_answers_by_program_and_tests_whatever_else_the_request_says() -> None:
    sandbox = FakeSandbox({(CODE, TESTS): PASSED})
    plain = ExecRequest(code=CODE, tests=TESTS)
    traced = ExecRequest(code=CODE, tests=TESTS, trace=TraceSpec(), stop_on_failure=True)
    assert await sandbox.run(plain) == PASSED and await sandbox.run(traced) == PASSED
    assert sandbox.requests == [plain, traced]
    assert (CODE, TESTS) in sandbox and FakeSandbox.key(CODE, TESTS) in sandbox and (CODE, ()) not in sandbox


async def test_an_unknown_request_names_the_programs_first_line_or_gets_the_default() -> None:
    sandbox = FakeSandbox({(CODE, TESTS): PASSED})
    with pytest.raises(KeyError, match="def f\\(x\\):"):
        await sandbox.run(ExecRequest(code=CODE, tests=()))
    failed = ExecResult(status="failed")
    assert await FakeSandbox(default=failed).run(ExecRequest(code="x = 1")) == failed
    seen: list[str] = []

    async def answer(request: ExecRequest) -> ExecResult:
        seen.append(request.code)
        return PASSED

    async with FakeSandbox(default=answer) as sandbox:
        assert await sandbox.run(ExecRequest(code="y = 2")) == PASSED
    assert seen == ["y = 2"] and sandbox.closed


async def test_add_and_a_function_answer_that_returns_no_result() -> None:
    sandbox = FakeSandbox()
    sandbox.add(CODE, TESTS, lambda request: PASSED)
    assert await sandbox.run(ExecRequest(code=CODE, tests=TESTS)) == PASSED
    sandbox.add(CODE, (), lambda request: "passed")  # type: ignore[arg-type, return-value]
    with pytest.raises(TypeError, match="not an ExecResult"):
        await sandbox.run(ExecRequest(code=CODE))
