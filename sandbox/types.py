"""The sandbox contract's data: what to run (ExecRequest) and what happened (ExecResult).

All frozen dataclasses, JSON round-trip via ``to_dict``/``from_dict``. The in-sandbox runner speaks the same JSON.

The generic codec (``semtrace.jsonable``) is replaced by hand-written ones where the orchestrator spends its time:
``ExecResult``/``TestOutcome`` both ways (every sandbox result, with its traces: ``sandbox/trace.py``) and the
request's ``to_dict`` (``ExecRequest``, ``TestCase``, ``Limits``, ``TraceSpec``). They give the same values and
raise the same errors (a value a fast path does not take as it is goes to the generic decoder of its field's type;
an object without a required key, or not a plain dict, to the generic decoder of its class); the encoders write
objects whose fields hold their annotated types (a subclass goes to the generic encoder).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal, get_args

from semtrace.jsonable import from_jsonable, to_jsonable
from semtrace.sandbox.trace import (
    _MISSING,
    Trace,
    _as,
    _required,
    field_decoders,
    trace_from_dict,
    trace_to_dict,
)

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

    def to_dict(self) -> dict[str, Any]:
        return case_to_dict(self)


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

    def to_dict(self) -> dict[str, Any]:
        return limits_to_dict(self)


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

    def to_dict(self) -> dict[str, Any]:
        return spec_to_dict(self)


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

    def to_dict(self) -> dict[str, Any]:
        return request_to_dict(self)


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

    def to_dict(self) -> dict[str, Any]:
        return outcome_to_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        return outcome_from_dict(data) if cls is TestOutcome else from_jsonable(cls, data)


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

    def to_dict(self) -> dict[str, Any]:
        return result_to_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        return result_from_dict(data) if cls is ExecResult else from_jsonable(cls, data)

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


# The hand-written codecs (module docstring). Encoders: as ``to_jsonable`` writes these classes' objects.

def case_to_dict(case: TestCase) -> dict[str, Any]:
    if case.__class__ is not TestCase:
        return to_jsonable(case)
    return {"kind": case.kind, "source": case.source, "args": case.args, "expected": case.expected,
            "func": case.func, "compare": case.compare, "atol": case.atol, "rtol": case.rtol, "expr": case.expr,
            "stdin": case.stdin, "timeout": case.timeout, "name": case.name}


def limits_to_dict(limits: Limits) -> dict[str, Any]:
    if limits.__class__ is not Limits:
        return to_jsonable(limits)
    return {"wall_time": limits.wall_time, "memory_mb": limits.memory_mb, "output_bytes": limits.output_bytes,
            "file_size_mb": limits.file_size_mb, "processes": limits.processes, "load_time": limits.load_time,
            "value_bytes": limits.value_bytes}


def spec_to_dict(spec: TraceSpec | None) -> dict[str, Any] | None:
    if spec.__class__ is not TraceSpec:
        return to_jsonable(spec)  # None stays None
    return {"tests": [*spec.tests], "max_failing": spec.max_failing, "include_passing": spec.include_passing,
            "max_events": spec.max_events, "max_value_len": spec.max_value_len}


def request_to_dict(request: ExecRequest) -> dict[str, Any]:
    if request.__class__ is not ExecRequest:
        return to_jsonable(request)
    return {"code": request.code, "tests": [case_to_dict(t) for t in request.tests],
            "entry_point": request.entry_point, "test_setup": request.test_setup, "prelude": request.prelude,
            "trace": spec_to_dict(request.trace), "limits": limits_to_dict(request.limits),
            "stop_on_failure": request.stop_on_failure, "stop_on_timeout": request.stop_on_timeout,
            "record": request.record}


def outcome_to_dict(outcome: TestOutcome) -> dict[str, Any]:
    if outcome.__class__ is not TestOutcome:
        return to_jsonable(outcome)
    return {"index": outcome.index, "status": outcome.status, "message": outcome.message, "actual": outcome.actual,
            "duration": outcome.duration, "value": to_jsonable(outcome.value)}


def result_to_dict(result: ExecResult) -> dict[str, Any]:
    if result.__class__ is not ExecResult:
        return to_jsonable(result)
    return {"status": result.status, "tests": [outcome_to_dict(t) for t in result.tests], "stdout": result.stdout,
            "stderr": result.stderr, "duration": result.duration, "message": result.message,
            "traces": [trace_to_dict(t) for t in result.traces], "python": result.python,
            "runner_error": result.runner_error}


# Decoders: a field's value of its own JSON type is taken as it is; any other goes to the generic decoder of the
# field's type (conversions, errors); an object that is not a plain dict, or lacks a required key, goes to the
# generic decoder of its class (which decodes the keys present in field order first, as here, then raises).
_STATUSES = get_args(Status)
_outcome = field_decoders(TestOutcome)
_result = field_decoders(ExecResult)
_outcome_generic = partial(from_jsonable, TestOutcome)
_result_generic = partial(from_jsonable, ExecResult)


def _status(get: Any, decoders: dict[str, Any]) -> Any:
    """The required ``status`` (``_MISSING`` when absent): one of ``STATUSES`` as it is, else its decoder's."""
    status = get("status", _MISSING)
    if status is _MISSING or (status.__class__ is str and status in _STATUSES):
        return status
    return decoders["status"](status)


def outcome_from_dict(data: Any) -> TestOutcome:
    if data.__class__ is not dict or (index := _required(data.get, "index", int, _outcome)) is _MISSING:
        return _outcome_generic(data)
    get = data.get
    if (status := _status(get, _outcome)) is _MISSING:
        return _outcome_generic(data)
    actual = get("actual")
    return TestOutcome(index=index, status=status, message=_as(get("message", ""), str, _outcome["message"]),
                       actual=actual if actual is None else _as(actual, str, _outcome["actual"]),
                       duration=_as(get("duration", 0.0), float, _outcome["duration"]), value=get("value"))


def result_from_dict(data: Any) -> ExecResult:
    if data.__class__ is not dict or (status := _status(data.get, _result)) is _MISSING:
        return _result_generic(data)
    get = data.get
    # in field order, as the generic decoder (which error wins when two fields are bad)
    tests = tuple([outcome_from_dict(t) for t in get("tests", ())])  # any iterable, as tuple(...) takes it
    stdout = _as(get("stdout", ""), str, _result["stdout"])
    stderr = _as(get("stderr", ""), str, _result["stderr"])
    duration = _as(get("duration", 0.0), float, _result["duration"])
    message = _as(get("message", ""), str, _result["message"])
    traces = tuple([trace_from_dict(t) for t in get("traces", ())])
    return ExecResult(status=status, tests=tests, stdout=stdout, stderr=stderr, duration=duration, message=message,
                      traces=traces, python=_as(get("python", ""), str, _result["python"]),
                      runner_error=_as(get("runner_error", ""), str, _result["runner_error"]))
