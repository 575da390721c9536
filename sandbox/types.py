"""The sandbox contract's data: what to run (ExecRequest) and what happened (ExecResult).

All frozen dataclasses, JSON round-trip via ``to_dict``/``from_dict``. The in-sandbox runner speaks the same JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from semtrace.jsonable import from_jsonable, to_jsonable
from semtrace.sandbox.trace import Trace

TestKind = Literal["assert", "call", "stdio"]
Compare = Literal["eq", "truthy", "falsy", "is", "in", "isclose", "digest", "not_none", "poly_root",
                  "returns", "lcb"]
# ``killed``: ended by a signal with no evidence of why (``oom`` needs evidence: a MemoryError, the address-space
# limit, or the container's OOM-kill counter going up).
Status = Literal["passed", "failed", "error", "timeout", "oom", "killed", "sandbox_error"]
STATUSES: tuple[str, ...] = ("passed", "failed", "error", "timeout", "oom", "killed", "sandbox_error")


class _Codec:
    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        return from_jsonable(cls, data)


@dataclass(frozen=True)
class TestCase(_Codec):
    """One check.

    - ``assert``: ``source`` is run as written with the candidate's names (and ``candidate`` = the entry point) in
      scope — in the supervisor's assert judge, where those names are stand-ins whose uses are calls into the
      candidate's process (sandbox/README.md); the runner's AST pass turns ``assert f(...) == <literal>`` into a
      ``call`` test.
    - ``call``: ``func(<args>)`` where ``args`` is Python source of the arguments ("[1, 2], key=3"), evaluated in the
      candidate's process; ``expected`` is Python source of the expected value, evaluated and compared in the
      runner's parent process, never in the candidate's. ``expected=None`` records the output without judging it
      (used to calibrate from a reference solution). ``atol``: float tolerance (EvalPlus convention; floats
      compare with 1e-6 when it is 0).
    - ``stdio``: the program runs as ``__main__`` with ``stdin``; its stdout is compared with ``expected``
      (trailing whitespace of each line ignored).

    ``compare`` for call tests: ``eq`` (with float tolerance), ``truthy``/``falsy``, ``is``, ``in`` (expected is a
    collection of accepted values), ``isclose`` (``atol`` and ``rtol``), ``digest`` (expected ``sha256:<hex>`` of
    ``judge.digest``), ``not_none``, ``poly_root`` (expected: the coefficients), ``returns`` (any value
    passes), ``lcb`` (LiveCodeBench's rules: for call tests a returned tuple counts as a list, then ``==``;
    for stdio tests ``judge.lcb_stdout``: stripped lines, equal counts, numeric tokens compared as decimals).
    ``expr``: an expression evaluated instead of ``func(args)`` (set by the runner's AST pass).
    """

    __test__ = False  # not a pytest class

    kind: TestKind
    source: str = ""
    args: str = ""
    expected: str | None = None
    func: str | None = None
    compare: Compare = "eq"
    atol: float = 0.0
    rtol: float = 0.0
    expr: str | None = None
    stdin: str = ""
    timeout: float | None = None
    name: str = ""


@dataclass(frozen=True)
class Limits(_Codec):
    """Resource limits. ``wall_time`` is per test unless the test carries its own (calibrated) timeout."""

    wall_time: float = 5.0
    memory_mb: int = 2048
    output_bytes: int = 65536
    file_size_mb: int = 16
    processes: int = 256
    load_time: float = 10.0
    value_bytes: int = 256 * 1024 * 1024  # largest value one test may report (judged or recorded)


DEFAULT_MAX_EVENTS = 2000  # the tracer's step budget per traced test: the one default (config, agent, CLI)


@dataclass(frozen=True)
class TraceSpec(_Codec):
    """Which tests to trace and the tracer's budgets.

    ``tests`` names test indices explicitly; empty means "the first ``max_failing`` failing tests", plus the first
    passing one when ``include_passing``.
    """

    tests: tuple[int, ...] = ()
    max_failing: int = 1
    include_passing: bool = False
    max_events: int = DEFAULT_MAX_EVENTS
    max_value_len: int = 200


@dataclass(frozen=True)
class ExecRequest(_Codec):
    code: str
    tests: tuple[TestCase, ...] = ()
    entry_point: str | None = None
    test_setup: str = ""
    prelude: str = ""  # run in the program's namespace before the program (a benchmark's implicit imports)
    trace: TraceSpec | None = None
    limits: Limits = field(default_factory=Limits)
    stop_on_failure: bool = False
    stop_on_timeout: bool = False  # stop at the first test that times out (a looping program costs one timeout)
    record: bool = False  # keep each call/stdio test's whole reported value in ``TestOutcome.value``


@dataclass(frozen=True)
class TestOutcome(_Codec):
    __test__ = False  # not a pytest class

    index: int
    status: Status
    message: str = ""
    actual: str | None = None  # a repr capped at 1,000 characters, for people and prompts
    duration: float = 0.0  # measured by the judge side, not reported by the candidate
    value: Any = field(default=None, compare=False)  # with ``ExecRequest.record``: the whole value as ``judge.encode`` writes it (stdio: stdout)

    def decoded(self) -> Any:
        """``value`` as a Python value (builtins only)."""
        from semtrace.sandbox import judge

        return judge.decode(self.value) if not isinstance(self.value, str) else self.value


@dataclass(frozen=True)
class ExecResult(_Codec):
    status: Status
    tests: tuple[TestOutcome, ...] = ()
    stdout: str = ""
    stderr: str = ""
    duration: float = 0.0
    message: str = ""
    traces: tuple[Trace, ...] = ()
    python: str = ""
    runner_error: str = ""  # set when the runner itself failed: the pool retries, then reports sandbox_error

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @property
    def first_failure(self) -> TestOutcome | None:
        return next((t for t in self.tests if t.status != "passed"), None)


def overall_status(outcomes: list[TestOutcome] | tuple[TestOutcome, ...]) -> Status:
    """Passed when every test passed (and there is at least one); else the first non-passed test's status."""
    for t in outcomes:
        if t.status != "passed":
            return t.status
    return "passed"
