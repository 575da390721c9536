"""The sandbox conformance suite: hostile programs, each with the status a contained sandbox must report.

Shared by ``semtrace sandbox check`` and ``tests/sandbox/test_conformance.py``. Every case is followed by a
second request on the same pool (concurrency 1, so the same container or runner process unless it had to be
replaced) that must pass: containment that leaves the sandbox broken is no containment.

The local back end (host subprocesses with rlimits) cannot contain everything; ``LOCAL_EXCEPTIONS`` lists what
it cannot, why, and whether the case is still run there (with the status it then gives) or not run at all
because it would harm the host.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from semtrace.sandbox.conformance_asserts import ASSERT_CASES
from semtrace.sandbox.conformance_cases import (
    _CANARY,
    LOCAL_EXCEPTIONS,
    PROBE,
    SECRET_VAR,
    Case,
    LocalException,
)
from semtrace.sandbox.conformance_cases import CASES as _CASES
from semtrace.sandbox.types import ExecResult

CASES: tuple[Case, ...] = _CASES + ASSERT_CASES  # containment, forgery, assert forgery

__all__ = ["CASES", "LOCAL_EXCEPTIONS", "Case", "CaseResult", "LocalException", "SuiteReport", "run_suite"]

@dataclass(frozen=True)
class CaseResult:
    name: str
    expected: str
    got: str
    ok: bool
    detail: str = ""
    skipped: str = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "expected": self.expected, "got": self.got, "ok": self.ok}
        if self.detail:
            out["detail"] = self.detail
        if self.skipped:
            out["skipped"] = self.skipped
        return out


@dataclass(frozen=True)
class SuiteReport:
    backend: str
    cases: tuple[CaseResult, ...] = field(default_factory=tuple)
    python: str = ""

    @property
    def run(self) -> list[CaseResult]:
        return [c for c in self.cases if not c.skipped]

    @property
    def passed(self) -> int:
        return sum(c.ok for c in self.run)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.run)

    def to_dict(self) -> dict[str, Any]:
        return {"backend": self.backend, "passed": self.passed, "total": len(self.run),
                "skipped": len(self.cases) - len(self.run), "python": self.python,
                "cases": [c.to_dict() for c in self.cases]}


def case_names() -> list[str]:
    return [c.name for c in CASES]


def expected_for(case: Case, backend: str) -> tuple[str | None, str]:
    """(expected status or None when not run, note) for ``case`` on ``backend``."""
    if backend == "local" and case.name in LOCAL_EXCEPTIONS:
        exc = LOCAL_EXCEPTIONS[case.name]
        return exc.expected, exc.reason
    return case.expected, ""


def prepare_host_environment() -> None:
    """Set the host secret the ``host_environment`` case looks for. Call before the sandbox starts."""
    os.environ[SECRET_VAR] = "this-must-not-reach-the-sandbox"


async def _run(sandbox: Any, case: Case, fmt: dict[str, Any]) -> ExecResult:
    return await sandbox.run(case.request(**fmt))


async def run_case(sandbox: Any, case: Case, backend: str, port: int = 9) -> CaseResult:
    """Run one case and its follow-up on ``sandbox`` (which should have concurrency 1)."""
    expected, note = expected_for(case, backend)
    if expected is None:
        return CaseResult(case.name, case.expected, "not run", False, skipped=note)
    fmt = {"port": port, "canary": _CANARY}
    result = await _run(sandbox, case, fmt)
    problems = []
    got = result.status
    if got != expected:
        first = result.first_failure
        problems.append((first.message if first else result.message)[:200])
    if case.check is not None:
        problem = case.check(result)
        if problem:
            problems.append(problem)
    follow = case.followup or PROBE
    after = await _run(sandbox, follow, fmt)
    if after.status != "passed":
        got = f"{got}; next request {after.status}"
        failure = after.first_failure
        problems.append(f"next request: {(failure.message if failure else after.message)[:200]}")
    ok = got == expected and not problems
    return CaseResult(case.name, expected, got, ok, "; ".join(p for p in problems + [note] if p))


def make_backend(backend: str) -> Any:
    from semtrace.sandbox.base import make_sandbox

    return make_sandbox(backend, concurrency=1)


async def run_suite(backend: str, names: list[str] | None = None,
                    progress: Callable[[CaseResult], None] | None = None) -> SuiteReport:
    """Run the suite (or the ``names`` cases) against a fresh ``backend`` sandbox with one slot."""
    unknown = sorted(set(names or ()) - set(case_names()))
    if unknown:
        raise ValueError(f"unknown case(s) {', '.join(unknown)}; valid: {', '.join(case_names())}")
    prepare_host_environment()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    sandbox = make_backend(backend)
    results: list[CaseResult] = []
    python = ""
    try:
        python = (await sandbox.run(PROBE.request())).python
        for case in CASES:
            if names and case.name not in names:
                continue
            outcome = await run_case(sandbox, case, backend, port)
            results.append(outcome)
            if progress is not None:
                progress(outcome)
    finally:
        await sandbox.close()
        listener.close()
    return SuiteReport(backend, tuple(results), python)


def run_suite_sync(backend: str, names: list[str] | None = None,
                   progress: Callable[[CaseResult], None] | None = None) -> SuiteReport:
    return asyncio.run(run_suite(backend, names, progress))
