"""The typed, versioned record of one finished task: what ``results.jsonl`` holds, one line per task.

Everything a run writes about a task is one ``TaskRecord``: the experiment's knobs, every ``Candidate`` of every
round of every chain (code, reply, visible and hidden outcomes, trace, feedback, rendering, critique, usage,
parent), the selection and the verdict. The JSON Schema comes from these types (``semtrace schema record``), so
other tools can read runs; ``SCHEMA_VERSION`` changes when the shape does. ``task_record`` builds a finished
task's record from the graph's final state (its usage summed over every call, ``candidate_usage``).

Outcomes are compact (``ExecSummary``): per-test pass/fail as one letter per test, counts, and full detail only
for the tests that matter — the failing visible test the model was shown, and the first hidden failure.
``keep_outcomes="all"`` (``-o keep_outcomes=all``) keeps every test's detail.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from semtrace.agents.transcript import Transcript
from semtrace.llms.accounting import Spent
from semtrace.sandbox.trace import Trace
from semtrace.sandbox.types import ExecResult

SCHEMA_VERSION = 3  # 2: config_digest; 3: a candidate's reasoning (records of versions 1 and 2 still load)
NO_PROGRAM = "no_program"  # the outcome status of a candidate whose reply held no program (never run)
LETTERS = {"passed": "P", "failed": "F", "error": "E", "timeout": "T", "oom": "O", "killed": "K",
           "sandbox_error": "S"}
STDIO_KEEP = 2000  # characters of a candidate's stdout/stderr kept in the record (the runner caps them too)


class _Model(BaseModel):
    # NaN and infinities written as JSON's usual constants (as json.dumps does), never turned into null
    model_config = ConfigDict(extra="forbid", frozen=True, ser_json_inf_nan="constants")


class TestDetail(_Model):
    """One test's outcome in full (the ``sandbox.types.TestOutcome`` fields)."""

    __test__ = False  # not a pytest class

    index: int
    status: str
    message: str = ""
    actual: str | None = None
    duration: float = 0.0
    value: Any = None


class ExecSummary(_Model):
    """One execution of a candidate on a test set, compact: ``outcomes`` has one letter per test (P passed, F
    failed, E error, T timeout, O oom, K killed, S sandbox error); ``tests`` the detailed ones."""

    status: str | None = None
    message: str = ""
    duration: float = 0.0
    python: str = ""
    stdout: str = ""
    stderr: str = ""
    runner_error: str = ""
    passed: int = 0
    total: int = 0
    outcomes: str = ""
    tests: tuple[TestDetail, ...] = ()

    @property
    def rate(self) -> float:
        if not self.total:
            return 1.0 if self.status == "passed" else 0.0
        return self.passed / self.total


# the defaults every candidate shares (frozen, so one instance serves them all: a run holds thousands of candidates)
NOT_RUN = ExecSummary()
NO_SPEND = Spent()
_SPENT_KEYS = tuple(Spent.model_fields)


def not_run(reason: str) -> ExecSummary:
    """The outcome of a candidate whose reply held no program (visible and hidden alike): never run."""
    return ExecSummary(status=NO_PROGRAM, message=reason)


def _cut(text: str) -> str:
    return text if len(text) <= STDIO_KEEP else text[:STDIO_KEEP] + f"...[{len(text) - STDIO_KEEP} more]"


def summary(result: ExecResult | None, shown: set[int] | None = None, keep: str = "compact",
            stdio: bool = True) -> ExecSummary:
    """An execution as the record keeps it: detail for the ``shown`` tests only (all with ``keep="all"``; None:
    the first failing test), stdout/stderr cut to ``STDIO_KEEP`` characters (dropped with ``stdio=False``)."""
    if result is None:
        return NOT_RUN
    if shown is None:
        first = result.first_failure
        shown = {first.index} if first is not None else set()
    return ExecSummary(
        status=result.status, message=result.message, duration=result.duration, python=result.python,
        runner_error=result.runner_error,
        stdout=_cut(result.stdout) if stdio else "", stderr=_cut(result.stderr) if stdio else "",
        passed=sum(t.status == "passed" for t in result.tests), total=len(result.tests),
        outcomes="".join(LETTERS.get(t.status, "?") for t in result.tests),
        tests=tuple(TestDetail(index=t.index, status=t.status, message=t.message, actual=t.actual,
                               duration=t.duration, value=t.value)
                    for t in result.tests if keep == "all" or t.index in shown),
    )


def trace_record(trace: Trace | None, keep: str = "compact") -> dict[str, Any] | None:
    """A trace for the record: without its events (``n_events`` says how many; the rendering the model read is
    kept whole beside it), unless ``keep="all"``. Raw traces are most of a looping run's bytes (hundreds of KB per
    candidate) and nothing downstream reads them from records."""
    if trace is None:
        return None
    if keep == "all":
        return trace.to_dict()
    return {"test_index": trace.test_index, "truncated": trace.truncated, "truncated_at": trace.truncated_at,
            "line_hits": {str(k): v for k, v in trace.line_hits.items()}, "backend": trace.backend,
            "n_events": len(trace.events)}


class PromptMessage(_Model):
    """One message of the conversation the LLM was sent (``llms.base.Message``)."""

    role: str
    content: str


class Candidate(_Model):
    """One program of one round of one chain, with everything that happened to it. ``prompt`` is the exact list
    of messages the LLM received when it wrote this candidate (empty for a repair task's starting program);
    ``critique_prompt`` the messages of the critique of it, when the run critiques."""

    model_config = ConfigDict(extra="forbid", frozen=True, ser_json_inf_nan="constants")

    id: str
    chain: int
    round: int
    parent: str | None = None
    code: str  # "" when the reply held no program (``visible.status == NO_PROGRAM``; ``note`` says why)
    raw: str = ""  # the reply's answer (its reasoning apart, below)
    note: str = ""
    reasoning: str = ""  # what the model thought first (never sent again; -o keep_reasoning=false drops it)
    visible: ExecSummary = NOT_RUN
    hidden: ExecSummary = NOT_RUN
    trace: dict[str, Any] | None = None
    passing_trace: dict[str, Any] | None = None
    feedback: str = ""
    rendering: str = ""
    critique: str = ""
    usage: Spent = NO_SPEND
    render_usage: Spent = NO_SPEND
    critique_usage: Spent = NO_SPEND
    prompt_digest: str = ""
    prompt: tuple[PromptMessage, ...] = ()
    latency: float = 0.0  # seconds the LLM took to write it (width samples of one call: chain 0 carries them)
    critique_prompt: tuple[PromptMessage, ...] = ()  # the messages the critique call sent (critique runs)
    critique_reasoning: str = ""  # the critique's reasoning (as ``reasoning``)

    # the `debug` strategy: the tool loop of the round that wrote this candidate (turns, calls, observations)
    transcript: Transcript | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Candidate:
        return cls.model_validate(data)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_defaults=False)

    @property
    def no_program(self) -> bool:
        """The reply held no program: nothing ran (``NO_PROGRAM``; ``note`` says why)."""
        return self.visible.status == NO_PROGRAM

    @property
    def visible_passed(self) -> bool:
        return self.visible.status == "passed"

    @property
    def visible_rate(self) -> float:
        return self.visible.rate

    @property
    def correct(self) -> bool:
        """Scored on the hidden tests (the visible ones when a task has no hidden tests)."""
        if self.hidden.total:
            return self.hidden.status == "passed"
        if self.hidden.status not in (None, "passed"):
            return False
        return self.visible_passed


class Selection(_Model):
    model_config = ConfigDict(extra="allow", frozen=True)

    id: str | None = None
    selector: str = ""
    info: dict[str, Any] = Field(default_factory=dict)


class TaskRecord(_Model):
    """One line of ``results.jsonl``."""

    schema_version: Literal[1, 2, 3] = SCHEMA_VERSION
    task_id: str
    kind: str
    benchmark: str = ""
    model: str = ""
    representation: str = ""
    strategy: str = ""
    width: int = 1
    depth: int = 0
    selector: str = ""
    critique: bool = False
    history: str = "all"
    temperature: float = 0.0
    candidates: tuple[Candidate, ...] = ()
    selection: Selection = Field(default_factory=Selection)
    correct: bool = False
    usage: dict[str, int] = Field(default_factory=dict)
    wall_time: float | None = None
    # the task's public grouping keys (TASK_META_KEYS: LiveCodeBench's difficulty, platform, ...) for `report --by`
    task_meta: dict[str, str] = Field(default_factory=dict)
    # the run's identity: a digest of its config (identity.config_digest, kept in run.json); a record whose digest
    # is not its run directory's is another run's, and set aside by every reader (identity.foreign_reason)
    config_digest: str = ""


# task metadata a record may carry (a whitelist: a dataset's metadata can hold expected outputs, e.g. CruxEval's)
TASK_META_KEYS = ("difficulty", "platform", "contest_date", "contest_id", "test_type", "bug_type", "dataset")


def task_meta(metadata: dict[str, Any] | None) -> dict[str, str]:
    return {k: str(metadata[k]) for k in TASK_META_KEYS if (metadata or {}).get(k) not in (None, "")}


def record_schema() -> dict[str, Any]:
    """The JSON Schema of a ``results.jsonl`` line."""
    schema = TaskRecord.model_json_schema()
    schema["$id"] = f"https://semtrace.dev/schema/task-record-v{SCHEMA_VERSION}.json"
    schema["title"] = "semtrace TaskRecord"
    return schema


def _usage_sum(items: Iterable[Spent | dict[str, int] | None]) -> dict[str, int]:
    """Usages summed (a record read from a file holds them as dicts); ``completion_tokens`` includes
    ``reasoning_tokens`` (the reasoning's share)."""
    total = Spent()
    for u in items:  # a dict (a plugin selector's info, an old record) counts by the four keys; others ignored
        total = total + (u if isinstance(u, Spent) else Spent(**{k: int((u or {}).get(k, 0)) for k in _SPENT_KEYS}))
    return total.model_dump()


def candidate_usage(c: Candidate | dict[str, Any]) -> dict[str, int]:
    """Everything a candidate's round used: its reply, its critique and an LLM-written rendering."""
    if isinstance(c, Candidate):
        return _usage_sum([c.usage, c.critique_usage, c.render_usage])
    return _usage_sum([c.get("usage"), c.get("critique_usage"), c.get("render_usage")])


def task_record(task: Any, settings_view: dict[str, Any], candidates: Iterable[Candidate],
                selection: dict[str, Any], config_digest: str = "", keep_reasoning: bool = True) -> TaskRecord:
    """The finished task as one ``TaskRecord`` of the run whose config has ``config_digest`` (validated: every
    line of results.jsonl fits the shipped schema); without the models' reasoning when not ``keep_reasoning`` (its
    tokens stay counted in the usage)."""
    cands = sorted(candidates, key=lambda c: (c.chain, c.round))
    if not keep_reasoning:
        cands = [c.model_copy(update={"reasoning": "", "critique_reasoning": ""}) for c in cands]
    chosen = next((c for c in cands if c.id == selection.get("id")), None)
    usage = _usage_sum([*(candidate_usage(c) for c in cands), (selection.get("info") or {}).get("usage")])
    return TaskRecord(
        task_id=task.task_id,
        kind=task.kind,
        **settings_view,
        candidates=tuple(cands),
        selection=selection,
        correct=bool(chosen and chosen.correct),
        usage=usage,
        task_meta=task_meta(getattr(task, "metadata", None)),
        config_digest=config_digest,
    )
