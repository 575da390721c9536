"""Unit tests of each node and route, called as plain functions with a LangGraph ``Runtime`` whose context holds
the ``fake`` sandbox (scripted results, every request recorded) and the ``scripted`` LLM (every prompt recorded).

Each node call deep-copies its input and checks it is unchanged afterwards; checks that what it writes to the
state is whole ``Candidate``s (a chain read from a checkpoint before format 3 writes dicts instead, of
``Candidate`` fields only; ``refine`` stopped by an LLM error writes an ``Amend`` of the candidate it had), that
every ``Send`` carries a typed ``Chain``, and that a candidate it both writes and hands on is carried without
exactly what no later node reads (``DROPPED``, and the prompt unless the reply had no program), everything else
as written; and checks where the chain goes next. ``observe`` runs, traces and renders in one
step and writes the candidate complete (unless ``critique`` completes it). The tasks are the bundled ``demo``
benchmark's, so nothing here skips. The contexts hold the whole task, hidden tests included (a run hands the graph
its public view), so a node that leaked a hidden test into a request or a prompt would show here.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
from pathlib import Path
from typing import Any

import pytest
from langgraph.runtime import Runtime
from langgraph.types import Command, Send
from rules import fenced, write_rules
from semtrace.agents import nodes
from semtrace.agents.build import extract
from semtrace.agents.context import AgentContext
from semtrace.agents.observe import observe
from semtrace.agents.record import NO_PROGRAM, Candidate, ExecSummary, PromptMessage, summary, trace_record
from semtrace.agents.replies import ASKED_AGAIN, candidate, prompt_digest, prompt_messages
from semtrace.agents.routes import (
    after_feedback,
    after_finish,
    after_no_program,
    after_run,
    repair_node,
    wants_trace,
)
from semtrace.agents.selectors import make_selector
from semtrace.agents.settings import AgentSettings
from semtrace.agents.state import AgentState, Amend, Chain, merge_candidates
from semtrace.benchmarks.registry import load_benchmark
from semtrace.benchmarks.task import Task
from semtrace.llms.accounting import Spent
from semtrace.llms.base import UNFINISHED_REASONING, BadResponse, Completion, ContextTooLong, Message
from semtrace.llms.scripted import ScriptedLLM
from semtrace.representations import views
from semtrace.representations.base import capabilities, make_renderer
from semtrace.representations.prompts import Attempt
from semtrace.sandbox.fake import FakeSandbox
from semtrace.sandbox.trace import Trace, TraceEvent
from semtrace.sandbox.types import ExecRequest, ExecResult, TestOutcome

TASKS = {t.task_id: t for t in load_benchmark("demo")}
SUM = TASKS["demo/sum_to_n"]  # one visible test, which fails
APPEND = TASKS["demo/append_item"]  # two visible tests: the first passes, the second fails
FIELDS = set(Candidate.model_fields)
STATE_KEYS = set(AgentState.__annotations__)
CRITIQUE = "The range stops one short of n."
RATIONALE = "The loop stops one step early."
CRITIQUE_FIELDS = ("critique", "critique_usage", "critique_prompt", "critique_reasoning", "note")
# what a chain no longer carries once its candidate is written (no later node reads it): each field, reset to this
DROPPED: dict[str, Any] = {"raw": "", "reasoning": "", "critique_reasoning": "", "trace": None,
                           "passing_trace": None, "transcript": None, "critique_prompt": ()}


def carried_form(written: Candidate) -> Candidate:
    """The written candidate as its chain carries it on: ``DROPPED`` reset, and the prompt too unless the reply
    had no program (refine asks the same request again from it); every other field as written."""
    drop = dict(DROPPED) if written.visible.status == NO_PROGRAM else {**DROPPED, "prompt": ()}
    return written.model_copy(update=drop)


class RecordingLLM(ScriptedLLM):
    """The scripted LLM, remembering every conversation it was sent; raising ``error`` when one is set."""

    def __init__(self, model: str, error: Exception | None = None) -> None:
        super().__init__(model)
        self.seen: list[list[Message]] = []
        self.error = error

    async def generate(self, messages: list[Message], **options: Any) -> list[Completion]:
        self.seen.append(list(messages))
        if self.error is not None:
            raise self.error
        return await super().generate(messages, **options)


def trace_of(index: int, func: str, arg: tuple[str, str], value: str) -> Trace:
    """call ``func(arg)``, one line, return ``value``: the shape the tracer writes."""
    return Trace(test_index=index, line_hits={2: 1}, backend="settrace", events=(
        TraceEvent(order=1, kind="call", line=1, func=func, depth=0, changes=(arg,)),
        TraceEvent(order=2, kind="line", line=2, func=func, depth=0),
        TraceEvent(order=3, kind="return", line=2, func=func, depth=0, value=value),
    ))


SUM_TRACE = trace_of(0, "sum_to_n", ("n", "3"), "3")
SUM_FAILED = ExecResult(status="failed", traces=(SUM_TRACE,),
                        tests=(TestOutcome(index=0, status="failed", message="expected 6, got 3", actual="3"),))
SUM_PASSED = ExecResult(status="passed", tests=(TestOutcome(index=0, status="passed", actual="6"),))
APPEND_OUTCOMES = (TestOutcome(index=0, status="passed", actual="[1]"),
                   TestOutcome(index=1, status="failed", message="expected [2], got [1, 2]", actual="[1, 2]"))
APPEND_FAILED = ExecResult(status="failed", tests=APPEND_OUTCOMES)  # no trace in it
APPEND_FAILING_TRACE = trace_of(1, "append_item", ("item", "2"), "[1, 2]")
APPEND_PASSING_TRACE = trace_of(0, "append_item", ("item", "1"), "[1]")


def sandbox_for(task: Task, visible: ExecResult) -> FakeSandbox:
    """The task's buggy program answering ``visible`` on its visible tests (any other request raises)."""
    return FakeSandbox({(task.starting_code or "", task.visible_tests): visible})


def make_ctx(tmp_path: Path, task: Task, sandbox: FakeSandbox, representation: str = "next", *,
             error: Exception | None = None, critique_reply: str = CRITIQUE, **settings: Any) -> AgentContext:
    """The scripted LLM writes a rationale when a representation asks for one, explains the bug when asked to
    critique, else answers with the task's reference (or raises ``error`` at every call)."""
    renderer = make_renderer(representation)
    rules = [{"when": "a test it fails, and the trace", "reply": RATIONALE},
             {"when": "Do not write any code", "reply": critique_reply},
             {"when": f"`{task.entry_point}`", "reply": "Fixed:\n" + fenced(task.reference or "")}]
    llm = RecordingLLM(str(write_rules(tmp_path / "rules.jsonl", rules)), error)
    options = {"needs_trace": capabilities(renderer).needs_trace, **settings}
    return AgentContext(task=task, llm=llm, sandbox=sandbox, renderer=renderer,
                        selector=make_selector("first_pass"), settings=AgentSettings.of(**options), extract=extract)


def runtime(ctx: AgentContext) -> Runtime[AgentContext]:
    """What LangGraph hands a node (``Pregel`` builds it the same way before merging its parent's)."""
    return Runtime(context=ctx, store=None, previous=None, execution_info=None)


def sends(cmd: Command) -> list[Send]:
    goto = cmd.goto if isinstance(cmd.goto, (list, tuple)) else [cmd.goto]
    assert all(isinstance(g, Send) for g in goto), goto
    return list(goto)


async def call(node: Any, arg: Any, ctx: AgentContext | None = None, *, legacy: bool = False) -> Any:
    """Call a node. Its input must be exactly as it was afterwards; it writes only state keys; a Send carries a
    typed ``Chain``; a candidate it writes is a ``Candidate`` (``legacy``: a dict of Candidate fields with its id,
    the input being a payload of an older checkpoint) or an ``Amend`` of a candidate no chain carries on; when
    the chain goes on with a candidate it writes, the chain carries exactly ``carried_form`` of it (legacy: the
    chain's candidate has every field the patch sets, with the same value, but the dropped ones reset)."""
    before = copy.deepcopy(arg)
    out = node(arg, runtime(ctx)) if ctx is not None else node(arg)
    if inspect.isawaitable(out):
        out = await out
    assert arg == before, f"{getattr(node, '__name__', node)} mutated its input"
    update = (out.update if isinstance(out, Command) else out) or {}
    assert set(update) <= STATE_KEYS, sorted(set(update) - STATE_KEYS)
    carried = {}
    if isinstance(out, Command) and out.goto and not isinstance(out.goto, str):
        for send in sends(out):
            assert isinstance(send.arg, Chain), type(send.arg)
            carried[send.arg.candidate.id] = send.arg.candidate
    for w in update.get("candidates", []):
        if isinstance(w, Amend):  # a note on a candidate written before: its chain stopped, nothing carries it
            assert w.id not in carried, w
        elif legacy:
            assert isinstance(w, dict) and "id" in w and set(w) <= FIELDS, w
            if w["id"] in carried:
                on = carried[w["id"]]
                assert on == carried_form(on), "the chain carries fields no later node reads"
                reset = set(DROPPED) | (set() if on.visible.status == NO_PROGRAM else {"prompt"})
                blank, held = carried_form(on).to_dict(), on.to_dict()
                assert {k: held[k] for k in w} == {k: (blank[k] if k in reset else v) for k, v in w.items()}
        else:
            assert isinstance(w, Candidate), w
            if w.id in carried:
                assert carried[w.id] == carried_form(w), "the chain does not carry the written candidate less " \
                                                         "exactly the dropped fields"
    return out


def only_send(cmd: Command, node: str) -> Chain:
    (send,) = sends(cmd)
    assert send.node == node, send.node
    return send.arg


def only_written(cmd: Command) -> Any:
    (cand,) = cmd.update["candidates"]
    return cand


def chain_of(task: Task, round_: int = 0, *, attempts: tuple[Attempt, ...] = (), failing: int | None = None,
             **fields: Any) -> Chain:
    """Chain 0 at ``round_`` with the task's buggy program (``fields`` override the candidate's)."""
    base = {"id": f"c0r{round_}", "chain": 0, "round": round_, "parent": f"c0r{round_ - 1}" if round_ else None,
            "code": task.starting_code or ""}
    return Chain(candidate=Candidate(**{**base, **fields}), attempts=attempts, failing=failing)


def observed(task: Task, round_: int = 0, **fields: Any) -> Chain:
    """The chain as ``observe`` hands it on after ``SUM_FAILED`` (its rendering ``TRACE-TEXT``)."""
    attempts = fields.pop("attempts", ())
    feedback = views.feedback(view_of(task, SUM_FAILED))
    return chain_of(task, round_, attempts=attempts, failing=0, visible=summary(SUM_FAILED),
                    trace=trace_record(SUM_TRACE), feedback=feedback, rendering="TRACE-TEXT", **fields)


def view_of(task: Task, result: ExecResult) -> views.TraceView:
    request = ExecRequest(code=task.starting_code or "", tests=task.visible_tests, entry_point=task.entry_point)
    first = result.first_failure
    return views.view_from_result(request, result, test_index=first.index if first else None)


def no_hidden_test_in(task: Task, ctx: AgentContext, requests: list[ExecRequest]) -> None:
    """``task`` (the full one, even when the context holds its public view) has no hidden test in these requests
    nor in any prompt the LLM got."""
    hidden = set(task.hidden_tests)
    assert hidden and not any(set(r.tests) & hidden for r in requests)
    prompts = "\n".join(m.text for conv in ctx.llm.seen for m in conv)  # type: ignore[attr-defined]
    assert not any(t.source in prompts for t in hidden)


# ------------------------------------------------------------------ generate


async def test_generate_repair_starts_every_chain_from_the_buggy_program_without_the_llm(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, SUM, FakeSandbox(), width=3)
    cmd = await call(nodes.generate, {}, ctx)
    assert cmd.update == {"task_id": SUM.task_id, "width": 3}  # nothing written: a candidate is written observed
    out = sends(cmd)
    assert [s.node for s in out] == ["observe"] * 3
    assert [(s.arg.chain, s.arg.round, s.arg.candidate.id, s.arg.candidate.parent) for s in out] == [
        (i, 0, f"c{i}r0", None) for i in range(3)]
    assert all(s.arg.candidate.code == SUM.starting_code and s.arg.attempts == () and not s.arg.no_program
               and s.arg.candidate.prompt == () and s.arg.candidate.usage == Spent() for s in out)
    assert ctx.llm.seen == [] and ctx.sandbox.requests == []  # type: ignore[attr-defined]


async def test_generate_synthesis_samples_width_programs_in_one_call(tmp_path: Path) -> None:
    task = dataclasses.replace(SUM, kind="synthesis", starting_code=None)
    ctx = make_ctx(tmp_path, task, FakeSandbox(), width=2)
    cmd = await call(nodes.generate, {"task_id": "stale"}, ctx)
    assert cmd.update == {"task_id": task.task_id, "width": 2}
    out = sends(cmd)
    assert [s.node for s in out] == ["observe", "observe"]
    (conversation,) = ctx.llm.seen  # type: ignore[attr-defined]
    for chain, send in enumerate(out):
        c = send.arg.candidate
        assert c.code.strip() == (SUM.reference or "").strip() and c.raw.startswith("Fixed:")
        assert not send.arg.no_program
        assert (c.id, c.chain, c.round, c.parent, c.note) == (f"c{chain}r0", chain, 0, None, "")
        assert c.prompt == prompt_messages(conversation) and c.prompt_digest == prompt_digest(conversation)
    # one call, charged once (to chain 0), read from the ledger
    assert [s.arg.candidate.usage.calls for s in out] == [1, 0]
    assert out[0].arg.candidate.usage.completion_tokens > 0 and out[1].arg.candidate.usage == Spent()
    no_hidden_test_in(SUM, ctx, [])


# ------------------------------------------------------------------ observe: execute, trace, render


async def test_observe_runs_the_visible_tests_traced_and_writes_the_complete_candidate(tmp_path: Path) -> None:
    sandbox = sandbox_for(SUM, SUM_FAILED)
    ctx = make_ctx(tmp_path, SUM, sandbox, depth=2)
    arg = chain_of(SUM)
    cmd = await call(observe, arg, ctx)
    (visible,) = sandbox.requests  # the execution traced the failing test: nothing re-run, no hidden test run
    assert visible.tests == SUM.visible_tests and visible.code == SUM.starting_code
    assert visible.entry_point == SUM.entry_point and not visible.stop_on_failure
    assert visible.trace is not None and visible.trace.max_failing == 1 and not visible.trace.include_passing
    assert "finished" not in cmd.update
    cand = only_written(cmd)
    nxt = only_send(cmd, "refine")
    assert nxt.candidate == carried_form(cand) and nxt.failing == 0 and nxt.attempts == () and nxt.visible is None
    # written whole; carried on without the trace (refine reads the feedback and the rendering, kept)
    assert cand.trace is not None and nxt.candidate.trace is None
    assert (nxt.candidate.feedback, nxt.candidate.rendering, nxt.candidate.visible) == (
        cand.feedback, cand.rendering, cand.visible)
    assert cand.id == "c0r0" and cand.visible.status == "failed" and cand.visible.outcomes == "F"
    assert cand.visible.total == 1 and [t.index for t in cand.visible.tests] == [0]
    # the record keeps the trace without its events (their count stays); the rendering read them whole
    assert cand.trace == trace_record(SUM_TRACE) and cand.trace["n_events"] == len(SUM_TRACE.events) > 0
    assert "events" not in cand.trace and cand.passing_trace is None
    view = view_of(SUM, SUM_FAILED)
    assert cand.feedback == views.feedback(view)
    assert cand.rendering == make_renderer("next").render(view, budget=ctx.settings.trace.budget) != cand.feedback
    assert "n = 3" in cand.rendering and cand.render_usage == Spent()
    # nothing else of the candidate changed
    observed_fields = ("visible", "trace", "feedback", "rendering")
    assert cand.model_copy(update={k: getattr(arg.candidate, k) for k in observed_fields}) == arg.candidate
    no_hidden_test_in(SUM, ctx, sandbox.requests)


@pytest.mark.parametrize("representation, depth, round_, traced, goto", [
        ("next", 1, 1, False, "finish"),  # depth reached: nothing left to feed back, so nothing traced
        ("none", 1, 0, False, "refine"),  # the representation needs no trace
        ("contrast", 1, 0, True, "refine"),  # uses_passing: a passing test is traced too (SUM has none)
])
async def test_observe_asks_for_a_trace_only_when_the_renderer_needs_one_and_depth_allows(
    tmp_path: Path, representation: str, depth: int, round_: int, traced: bool, goto: str
) -> None:
    sandbox = sandbox_for(SUM, SUM_FAILED)
    ctx = make_ctx(tmp_path, SUM, sandbox, representation, depth=depth)
    cmd = await call(observe, chain_of(SUM, round_), ctx)
    (visible,) = sandbox.requests
    assert (visible.trace is not None) == traced
    assert visible.trace is None or visible.trace.include_passing  # traced here only for contrast
    cand = only_written(cmd)
    assert cand.visible.outcomes == "F"
    if goto == "finish":
        assert cmd.goto == "finish" and cmd.update["finished"] == [0]
        assert (cand.feedback, cand.rendering, cand.trace) == ("", "", None)  # the chain stops: no feedback
    else:
        assert "finished" not in cmd.update and only_send(cmd, goto).failing == 0 and cand.feedback
        assert cand.trace == (trace_record(SUM_TRACE) if traced else None)


@pytest.mark.parametrize("stop_on_pass", [True, False])
async def test_observe_of_a_program_that_passes_its_visible_tests(tmp_path: Path, stop_on_pass: bool) -> None:
    code = SUM.reference or ""
    sandbox = FakeSandbox({(code, SUM.visible_tests): SUM_PASSED})
    ctx = make_ctx(tmp_path, SUM, sandbox, depth=3, stop_on_pass=stop_on_pass)
    arg = chain_of(SUM, 1, code=code, raw="Fixed", usage=Spent(calls=1, completion_tokens=7), latency=0.5)
    cmd = await call(observe, arg, ctx)
    (visible,) = sandbox.requests  # nothing to trace: no re-run
    assert visible.code == code and visible.trace is not None  # asked for; the program passed, so unused
    cand = only_written(cmd)
    assert cand.parent == "c0r0" and cand.visible.status == "passed" and cand.visible.outcomes == "P"
    assert (cand.usage, cand.raw, cand.latency) == (arg.candidate.usage, "Fixed", 0.5)  # the reply's, kept
    assert cand.trace is None and cand.rendering == ""
    if stop_on_pass:
        assert cmd.goto == "finish" and cmd.update["finished"] == [0] and cand.feedback == ""
        assert cand == arg.candidate.model_copy(update={"visible": summary(SUM_PASSED)})
    else:  # refined further, with no failing test to show
        nxt = only_send(cmd, "refine")
        assert nxt.failing is None and cand.feedback == "All visible tests pass." and "finished" not in cmd.update


async def test_observe_reruns_only_the_tests_to_trace_when_the_execution_did_not_and_maps_them_back(
    tmp_path: Path
) -> None:
    code = APPEND.starting_code or ""
    failing, passing = APPEND.visible_tests[1], APPEND.visible_tests[0]
    rerun = ExecResult(status="failed", tests=(APPEND_OUTCOMES[1], APPEND_OUTCOMES[0]),
                       traces=(dataclasses.replace(APPEND_FAILING_TRACE, test_index=0),
                               dataclasses.replace(APPEND_PASSING_TRACE, test_index=1)))
    sandbox = FakeSandbox({(code, APPEND.visible_tests): APPEND_FAILED, (code, (failing, passing)): rerun})
    ctx = make_ctx(tmp_path, APPEND, sandbox, "contrast", depth=1)
    cmd = await call(observe, chain_of(APPEND), ctx)
    visible, request = sandbox.requests
    assert visible.tests == APPEND.visible_tests and visible.trace is not None and visible.trace.include_passing
    assert request.tests == (failing, passing) and request.trace is not None and request.trace.tests == (0, 1)
    cand = only_written(cmd)
    assert cand.trace == trace_record(APPEND_FAILING_TRACE) and cand.trace["test_index"] == 1
    assert cand.passing_trace == trace_record(APPEND_PASSING_TRACE) and cand.passing_trace["test_index"] == 0
    # the rendering read both traces, events and all, at the visible tests' indices
    both = dataclasses.replace(APPEND_FAILED, traces=(APPEND_FAILING_TRACE, APPEND_PASSING_TRACE))
    failing_only = dataclasses.replace(APPEND_FAILED, traces=(APPEND_FAILING_TRACE,))
    budget = ctx.settings.trace.budget
    contrast = make_renderer("contrast")
    assert cand.rendering == contrast.render(view_of(APPEND, both), budget=budget)
    assert cand.rendering != contrast.render(view_of(APPEND, failing_only), budget=budget)
    on = only_send(cmd, "refine").candidate
    assert on == carried_form(cand) and (on.trace, on.passing_trace) == (None, None) and on.rendering
    no_hidden_test_in(APPEND, ctx, sandbox.requests)


async def test_observe_takes_both_traces_from_an_execution_that_recorded_them(tmp_path: Path) -> None:
    traced = dataclasses.replace(APPEND_FAILED, traces=(APPEND_FAILING_TRACE, APPEND_PASSING_TRACE))
    sandbox = sandbox_for(APPEND, traced)
    ctx = make_ctx(tmp_path, APPEND, sandbox, "contrast", depth=1)
    cand = only_written(await call(observe, chain_of(APPEND), ctx))
    assert len(sandbox.requests) == 1  # nothing re-run
    assert cand.trace == trace_record(APPEND_FAILING_TRACE)
    assert cand.passing_trace == trace_record(APPEND_PASSING_TRACE)


@pytest.mark.parametrize("critique", [False, True])
async def test_observe_feedback_is_the_none_rendering_and_the_trace_is_rendered(
    tmp_path: Path, critique: bool
) -> None:
    ctx = make_ctx(tmp_path, SUM, sandbox_for(SUM, SUM_FAILED), "next", depth=1, critique=critique)
    cmd = await call(observe, chain_of(SUM), ctx)
    view = view_of(SUM, SUM_FAILED)
    feedback = make_renderer("none").render(view)
    assert feedback == views.feedback(view) and "sum_to_n(3)" in feedback
    nxt = only_send(cmd, "critique" if critique else "refine")
    if critique:  # complete but for its critique, carried whole (trace included): critique writes it
        assert not cmd.update and ctx.llm.seen == []  # type: ignore[attr-defined]
        cand = nxt.candidate
    else:  # written complete, carried on without what no later node reads
        cand = only_written(cmd)
        assert cmd.update == {"candidates": [cand]} and nxt.candidate == carried_form(cand)
    assert cand.feedback == feedback and cand.rendering == make_renderer("next").render(view, budget=1024)
    assert cand.rendering and cand.render_usage == Spent() and cand.trace == trace_record(SUM_TRACE)


async def test_observe_with_the_none_representation_does_not_repeat_the_feedback(tmp_path: Path) -> None:
    untraced = ExecResult(status="failed", tests=SUM_FAILED.tests)
    ctx = make_ctx(tmp_path, SUM, sandbox_for(SUM, untraced), "none", depth=1)
    cmd = await call(observe, chain_of(SUM), ctx)
    cand = only_written(cmd)
    view = view_of(SUM, SUM_FAILED)
    assert make_renderer("none").render(view) == views.feedback(view) != ""  # its text is the feedback itself
    assert cand.rendering == "" and cand.feedback == views.feedback(view) and cand.trace is None
    assert only_send(cmd, "refine").candidate.rendering == ""


async def test_observe_of_a_program_that_ran_no_test_says_why(tmp_path: Path) -> None:
    broken = ExecResult(status="error", message="SyntaxError: invalid syntax")
    sandbox = sandbox_for(SUM, broken)
    ctx = make_ctx(tmp_path, SUM, sandbox, depth=1, critique=True)  # no failing test: nothing to critique
    cmd = await call(observe, chain_of(SUM), ctx)
    assert len(sandbox.requests) == 1  # no failing test to trace
    cand = only_written(cmd)
    assert cand.feedback == "The program failed (error): SyntaxError: invalid syntax"
    assert (cand.rendering, cand.trace, cand.visible.status, cand.visible.total) == ("", None, "error", 0)
    assert only_send(cmd, "refine").failing is None


async def test_observe_hands_the_debug_strategy_the_visible_run(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, SUM, sandbox_for(SUM, SUM_FAILED), depth=1, strategy="debug")
    assert repair_node(ctx.settings) == "debug"
    cmd = await call(observe, chain_of(SUM), ctx)
    nxt = only_send(cmd, "debug")
    assert nxt.visible is not None and nxt.visible["status"] == "failed" and not nxt.visible.get("traces")
    assert [t["index"] for t in nxt.visible["tests"]] == [0] and nxt.candidate == carried_form(only_written(cmd))


async def test_observe_charges_an_llm_written_rendering_to_the_candidate(tmp_path: Path) -> None:
    sandbox = sandbox_for(SUM, SUM_FAILED)
    ctx = make_ctx(tmp_path, SUM, sandbox, "semcoder_nl", depth=1)
    assert capabilities(ctx.renderer).needs_llm
    cand = only_written(await call(observe, chain_of(SUM), ctx))
    assert cand.rendering == RATIONALE and cand.usage == Spent()
    assert cand.render_usage.calls == 1 and cand.render_usage.completion_tokens > 0
    assert ctx.stats.llm_calls == 1  # the live counters saw it too
    (conversation,) = ctx.llm.seen  # type: ignore[attr-defined]
    assert "sum_to_n(3)" in conversation[-1].text
    no_hidden_test_in(SUM, ctx, sandbox.requests)


# ------------------------------------------------------------------ a reply without a program


async def test_a_reply_without_a_program_is_recorded_unrun_and_the_request_asked_again(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, SUM, FakeSandbox(), depth=2)
    sent = [Message("system", "S"), Message("user", "Fix `sum_to_n`.")]
    reply = Completion(text="", reasoning="Maybe range(n + 1) in sum_to_n", reasoning_unfinished=True,
                       finish_reason="length")
    cand = candidate(ctx, reply, chain=0, round_=1, parent="c0r0", messages=sent, usage=Spent(calls=1),
                     latency=0.1)
    assert (cand.code, cand.visible.status, cand.note) == ("", NO_PROGRAM, UNFINISHED_REASONING)
    earlier = (Attempt(code=SUM.starting_code or "", feedback="F0"),)
    arg = Chain(candidate=cand, attempts=earlier)
    assert arg.no_program
    cmd = await call(observe, arg, ctx)
    assert ctx.sandbox.requests == []  # type: ignore[attr-defined]  # nothing to run
    assert cmd.update == {"candidates": [cand]}  # recorded as it came
    on = only_send(cmd, "refine")
    # carried without the reasoning, but with the prompt: refine asks the same request again from it
    assert on == arg.model_copy(update={"candidate": carried_form(cand)})
    assert on.candidate.prompt == cand.prompt == prompt_messages(sent) and on.candidate.reasoning == ""
    assert on.candidate.note == UNFINISHED_REASONING and on.no_program
    cmd = await call(nodes.refine, on, ctx)  # what the graph hands refine
    (conversation,) = ctx.llm.seen  # type: ignore[attr-defined]
    # the same request, its last user message saying why; the reasoning is never sent back
    assert [m.role for m in conversation] == ["system", "user"] and conversation[0].text == "S"
    assert conversation[1].text == "Fix `sum_to_n`.\n\n" + ASKED_AGAIN.format(reason=UNFINISHED_REASONING)
    assert not any("range(n + 1)" in m.text for m in conversation)
    assert cmd.update is None
    nxt = only_send(cmd, "observe")
    assert (nxt.candidate.id, nxt.candidate.round, nxt.candidate.parent) == ("c0r2", 2, "c0r1")
    assert nxt.candidate.code.strip() == (SUM.reference or "").strip() and not nxt.no_program
    assert nxt.attempts == earlier  # a round without a program is not an attempt
    assert nxt.candidate.prompt == prompt_messages(conversation)


async def test_a_reply_without_a_program_at_the_depth_finishes_the_chain(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, SUM, FakeSandbox(), depth=1)
    cand = Candidate(id="c0r1", chain=0, round=1, parent="c0r0", code="", note=UNFINISHED_REASONING,
                     visible=ExecSummary(status=NO_PROGRAM, message=UNFINISHED_REASONING))
    cmd = await call(observe, Chain(candidate=cand), ctx)
    assert cmd.goto == "finish" and cmd.update == {"candidates": [cand], "finished": [0]}
    assert ctx.sandbox.requests == [] and ctx.llm.seen == []  # type: ignore[attr-defined]


# ------------------------------------------------------------------ critique, refine


async def test_critique_explains_the_bug_writes_the_candidate_and_goes_to_refine(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, SUM, FakeSandbox(), depth=1, critique=True)
    arg = observed(SUM, note="earlier note")
    cmd = await call(nodes.critique, arg, ctx)
    cand = only_written(cmd)
    (conversation,) = ctx.llm.seen  # type: ignore[attr-defined]
    assert cand.critique == CRITIQUE and cand.critique_reasoning == "" and cand.note == "earlier note"
    assert cand.critique_usage.calls == 1 and cand.critique_usage.completion_tokens > 0
    assert cand.critique_prompt == prompt_messages(conversation)
    asked = conversation[-1].text
    assert "TRACE-TEXT" in asked and arg.candidate.feedback in asked and "return sum(range(n))" in asked
    # only the critique's fields were set
    assert cand.model_copy(update={k: getattr(arg.candidate, k) for k in CRITIQUE_FIELDS}) == arg.candidate
    nxt = only_send(cmd, "refine")
    assert nxt.candidate == carried_form(cand) and (nxt.attempts, nxt.failing) == (arg.attempts, arg.failing)
    # refine reads the critique (kept); the critique's prompt and the trace stay in the state's record only
    assert (nxt.candidate.critique, nxt.candidate.critique_prompt, nxt.candidate.trace) == (CRITIQUE, (), None)
    assert ctx.sandbox.requests == []  # type: ignore[attr-defined]
    no_hidden_test_in(SUM, ctx, [])


async def test_critique_hands_the_debug_strategy_its_chain(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, SUM, FakeSandbox(), depth=1, critique=True, strategy="debug")
    cmd = await call(nodes.critique, observed(SUM), ctx)
    assert only_send(cmd, "debug").candidate.critique == CRITIQUE


async def test_critique_whose_reasoning_never_finished_says_so_in_the_note(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, SUM, FakeSandbox(), depth=1, critique=True, critique_reply="<think>The range")
    cmd = await call(nodes.critique, observed(SUM, note="earlier note"), ctx)
    cand = only_written(cmd)
    assert cand.critique == "" and cand.critique_reasoning.startswith("The range")
    assert cand.note == f"earlier note; critique: {UNFINISHED_REASONING}"
    on = only_send(cmd, "refine").candidate  # the note goes on, the reasoning stays in the record
    assert on.note == cand.note and on.critique_reasoning == ""


@pytest.mark.parametrize("error", [ContextTooLong("prompt too long", provider="scripted"),
                                   BadResponse("garbled", provider="scripted")])
async def test_critique_the_llm_cannot_give_leaves_the_chain_going_without_one(
    tmp_path: Path, error: Exception
) -> None:
    ctx = make_ctx(tmp_path, SUM, FakeSandbox(), depth=1, critique=True, error=error)
    arg = observed(SUM)
    cmd = await call(nodes.critique, arg, ctx)
    cand = only_written(cmd)
    assert cand.critique == "" and cand.critique_usage == Spent(calls=1) and ctx.stats.llm_errors == 1
    (conversation,) = ctx.llm.seen  # type: ignore[attr-defined]
    assert cand.critique_prompt == prompt_messages(conversation)
    assert only_send(cmd, "refine").candidate == carried_form(cand) and cand.feedback == arg.candidate.feedback


async def test_refine_builds_the_next_rounds_chain_with_the_parent_id(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, SUM, FakeSandbox(), depth=2)
    earlier = Attempt(code="def sum_to_n(n):\n    return 0\n", feedback="F0")
    arg = observed(SUM, 1, attempts=(earlier,), critique="C1")
    cmd = await call(nodes.refine, arg, ctx)
    assert cmd.update is None  # the candidate is written when it has been observed
    nxt = only_send(cmd, "observe")
    c = nxt.candidate
    assert (c.chain, c.round, c.id, c.parent) == (0, 2, "c0r2", "c0r1")
    assert c.code.strip() == (SUM.reference or "").strip() and c.raw.startswith("Fixed:") and c.note == ""
    assert c.usage.calls == 1 and c.usage.completion_tokens > 0
    # the history: earlier rounds by code, feedback and critique; only the latest round's trace is shown
    assert nxt.attempts == (earlier, Attempt(code=SUM.starting_code or "", feedback=arg.candidate.feedback,
                                             critique="C1", rendering=""))
    assert (nxt.failing, nxt.visible, nxt.legacy) == (None, None, False)
    assert c.model_copy(update={k: getattr(c, k) for k in ("visible", "trace", "feedback", "rendering")}) == c
    assert (c.visible, c.trace, c.feedback, c.rendering, c.critique) == (ExecSummary(), None, "", "", "")
    (conversation,) = ctx.llm.seen  # type: ignore[attr-defined]
    asked = conversation[-1].text
    assert "TRACE-TEXT" in asked and "C1" in asked and "### Attempt 1" in asked and "return 0" in asked
    assert "### Attempt 2 (latest)" in asked
    assert c.prompt_digest == prompt_digest(conversation) and c.prompt == prompt_messages(conversation)
    no_hidden_test_in(SUM, ctx, [])


async def test_refine_with_history_last_shows_only_the_latest_round(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, SUM, FakeSandbox(), depth=2, history="last")
    earlier = Attempt(code="def sum_to_n(n):\n    return 0\n", feedback="F0")
    nxt = only_send(await call(nodes.refine, observed(SUM, 1, attempts=(earlier,)), ctx), "observe")
    (conversation,) = ctx.llm.seen  # type: ignore[attr-defined]
    asked = conversation[-1].text
    assert "TRACE-TEXT" in asked and "return sum(range(n))" in asked
    assert "return 0" not in asked and "### Attempt" not in asked
    assert len(nxt.attempts) == 2  # the history is still carried: only the prompt shows less


@pytest.mark.parametrize("error, name", [
        (ContextTooLong("prompt too long", provider="scripted"), "ContextTooLong"),
        (BadResponse("garbled", provider="scripted"), "BadResponse"),
])
async def test_refine_stops_the_chain_when_the_model_cannot_answer(tmp_path: Path, error: Exception,
                                                                    name: str) -> None:
    ctx = make_ctx(tmp_path, SUM, FakeSandbox(), depth=2, error=error)
    # the candidate as observe wrote it, and the chain as it carries it on to refine
    written = observed(SUM, critique="C0", raw="R", reasoning="why", critique_reasoning="hm",
                       prompt=(PromptMessage(role="user", content="Fix it"),), usage=Spent(calls=1)).candidate
    arg = Chain(candidate=carried_form(written), failing=0)
    cmd = await call(nodes.refine, arg, ctx)
    assert len(ctx.llm.seen) == 1  # type: ignore[attr-defined]  # asked once
    note = f"refinement stopped: {name}: {error}"
    # not the carried candidate rewritten (it lacks the prompt, answer, trace): a note on the one written
    assert cmd.goto == "finish" and cmd.update == {"candidates": [Amend(id="c0r0", note=note)], "finished": [0]}
    assert type(only_written(cmd)) is Amend
    (record,) = merge_candidates([written], cmd.update["candidates"])
    assert record == written.model_copy(update={"note": note}) and record.prompt and record.trace
    assert ctx.stats.llm_errors == 1


def test_next_attempts_drop_the_rendering_and_skip_a_round_without_a_program() -> None:
    earlier = (Attempt(code="a", feedback="F0"),)
    chain = observed(SUM, 1, attempts=earlier, critique="C1")
    assert nodes.next_attempts(chain) == (*earlier, Attempt(code=SUM.starting_code or "",
                                                             feedback=chain.candidate.feedback, critique="C1"))
    assert chain.attempt().rendering == "TRACE-TEXT"  # the latest round's prompt shows it
    none = Chain(candidate=Candidate(id="c0r2", chain=0, round=2, code="",
                                     visible=ExecSummary(status=NO_PROGRAM)), attempts=earlier)
    assert nodes.next_attempts(none) == earlier


# ------------------------------------------------------------------ a payload of an older checkpoint


def format2_payload(**extra: Any) -> dict[str, Any]:
    """What ``refine`` of a format-2 checkpoint handed ``execute``: the candidate's fields as a dict."""
    return {"chain": 0, "round": 1, "id": "c0r1", "parent": "c0r0", "code": SUM.starting_code, "raw": "r",
            "note": "", "reasoning": "", "prompt_digest": "d", "prompt": [{"role": "user", "content": "Fix it"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 7, "reasoning_tokens": 0, "calls": 1},
            "latency": 0.5, "attempts": [{"code": "x", "feedback": "F0", "rendering": "", "critique": ""}],
            **extra}


async def test_a_pending_execute_payload_of_a_format_2_checkpoint_is_observed_and_written_as_a_patch(
    tmp_path: Path
) -> None:
    ctx = make_ctx(tmp_path, SUM, sandbox_for(SUM, SUM_FAILED), depth=2)
    cmd = await call(observe, format2_payload(), ctx, legacy=True)
    patch = only_written(cmd)
    nxt = only_send(cmd, "refine")
    assert nxt.legacy and nxt.attempts == (Attempt(code="x", feedback="F0"),) and nxt.failing == 0
    assert nxt.candidate.usage == Spent(prompt_tokens=5, completion_tokens=7, calls=1)
    assert patch["visible"]["outcomes"] == "F" and patch["feedback"] and patch["rendering"]
    # the patch keeps what the payload held (carried on without it)
    assert (patch["raw"], patch["prompt"]) == ("r", [{"role": "user", "content": "Fix it"}])
    (record,) = merge_candidates([], [patch])  # the state had no record of it yet: the patch is all of it
    assert isinstance(record, Candidate) and nxt.candidate == carried_form(record)
    assert record.prompt == (PromptMessage(role="user", content="Fix it"),) and record.raw == "r"
    assert (nxt.candidate.prompt, nxt.candidate.raw, nxt.candidate.trace) == ((), "", None) and record.trace


async def test_a_pending_critique_payload_of_a_format_2_checkpoint_patches_only_what_it_holds_and_sets(
    tmp_path: Path
) -> None:
    visible = {k: v for k, v in SUM_FAILED.to_dict().items() if k != "traces"}
    old = {"chain": 0, "round": 0, "id": "c0r0", "parent": None, "code": SUM.starting_code, "visible": visible,
           "failing": 0, "feedback": "FB", "rendering": "TRACE-TEXT", "critique": "", "attempts": []}
    in_state = Candidate(id="c0r0", chain=0, round=0, code=SUM.starting_code or "", visible=summary(SUM_FAILED),
                         trace=trace_record(SUM_TRACE), feedback="FB", rendering="TRACE-TEXT",
                         usage=Spent(calls=1, prompt_tokens=3), prompt_digest="d")
    ctx = make_ctx(tmp_path, SUM, FakeSandbox(), depth=1, critique=True)
    cmd = await call(nodes.critique, old, ctx, legacy=True)
    patch = only_written(cmd)
    assert set(patch) == {"id", "chain", "round", "parent", "code", "feedback", "rendering", "critique",
                          "critique_usage", "critique_prompt"}
    (merged,) = merge_candidates([in_state], [patch])
    assert merged == in_state.model_copy(update={"critique": CRITIQUE, "critique_usage": merged.critique_usage,
                                                 "critique_prompt": merged.critique_prompt})
    assert merged.critique_usage.calls == 1 and merged.usage == in_state.usage
    nxt = only_send(cmd, "refine")
    assert nxt.visible == visible and nxt.failing == 0 and nxt.candidate.critique == CRITIQUE


# ------------------------------------------------------------------ finish, select


async def test_finish_is_an_empty_join_and_select_picks_among_the_chains_answers(tmp_path: Path) -> None:
    state: dict[str, Any] = {"task_id": SUM.task_id, "width": 2, "finished": [0, 1], "candidates": [
        Candidate(id="c0r0", chain=0, round=0, code="a", visible=ExecSummary(status="failed")),
        Candidate(id="c0r1", chain=0, round=1, code="b", visible=ExecSummary(status="failed")),
        Candidate(id="c1r0", chain=1, round=0, code="c", visible=ExecSummary(status="passed")),
        {"id": "c1r1", "note": "x"},  # a partial patch of an older checkpoint, never completed: not an answer
    ]}
    assert await call(nodes.finish, state) == {}
    ctx = make_ctx(tmp_path, SUM, FakeSandbox(), width=2, depth=1)
    out = await call(nodes.select, state, ctx)
    assert set(out) == {"selection"} and out["selection"]["id"] == "c1r0"
    assert out["selection"]["selector"] == "first_pass"


async def test_select_defers_a_selector_that_reads_hidden_results(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, SUM, FakeSandbox(), width=2, depth=1)
    ctx.selector = make_selector("oracle")
    out = await call(nodes.select, {"candidates": [Candidate(id="c0r0", chain=0, round=0, code="a")]}, ctx)
    assert out == {"selection": {"id": None, "selector": "oracle", "deferred": True, "info": {}}}


# ------------------------------------------------------------------ routes


def routed(status: str, round_: int = 0, failing: int | None = None, total: int = 1) -> Chain:
    visible = ExecSummary(status=status, total=total, passed=total if status == "passed" else 0)
    return Chain(candidate=Candidate(id=f"c0r{round_}", chain=0, round=round_, code="x", visible=visible),
                 failing=failing)


FAILING = routed("failed", failing=0)
PASSING = routed("passed")
NO_TEST = routed("error", total=0)


@pytest.mark.parametrize("chain, settings, has_tests, after, traced", [
        (FAILING, AgentSettings.of(depth=1), True, "feedback", True),
        (routed("failed", 1, failing=0), AgentSettings.of(depth=1), True, "finish", True),
        (FAILING, AgentSettings.of(depth=0), True, "finish", True),
        (FAILING, AgentSettings.of(depth=1, needs_trace=False), True, "feedback", False),
        (PASSING, AgentSettings.of(depth=1), True, "finish", False),
        (PASSING, AgentSettings.of(depth=1, stop_on_pass=False), True, "feedback", False),
        (routed("passed", 1), AgentSettings.of(depth=1, stop_on_pass=False), True, "finish", False),
        (routed("passed", total=0), AgentSettings.of(depth=1, stop_on_pass=False), False, "finish", False),
        (NO_TEST, AgentSettings.of(depth=1), False, "feedback", False),
])
def test_after_run_and_wants_trace(chain: Chain, settings: AgentSettings, has_tests: bool, after: str,
                                   traced: bool) -> None:
    before = copy.deepcopy(chain)
    assert after_run(chain, settings, has_tests=has_tests) == after
    assert wants_trace(chain, settings) is traced  # (asked only when the chain gets its feedback)
    assert chain == before


@pytest.mark.parametrize("round_, depth, expected", [(0, 1, "refine"), (1, 2, "refine"), (1, 1, "finish"),
                                                     (2, 1, "finish")])
def test_after_no_program(round_: int, depth: int, expected: str) -> None:
    none = Candidate(id=f"c0r{round_}", chain=0, round=round_, code="", visible=ExecSummary(status=NO_PROGRAM))
    chain = Chain(candidate=none)
    assert after_no_program(chain, AgentSettings.of(depth=depth)) == expected


@pytest.mark.parametrize("chain, settings, expected", [
        (FAILING, AgentSettings.of(depth=1, critique=True), "critique"),
        (FAILING, AgentSettings.of(depth=1, critique=False), "refine"),
        (PASSING, AgentSettings.of(depth=1, critique=True), "refine"),
        (NO_TEST, AgentSettings.of(depth=1, critique=True), "refine"),
        (FAILING, AgentSettings.of(depth=1, strategy="debug"), "debug"),
        (FAILING, AgentSettings.of(depth=1, strategy="debug", critique=True), "critique"),
])
def test_after_feedback(chain: Chain, settings: AgentSettings, expected: str) -> None:
    assert after_feedback(chain, settings) == expected


@pytest.mark.parametrize("state, expected", [
        ({"width": 2, "finished": [0]}, "__end__"),
        ({"width": 2, "finished": [1, 0]}, "select"),
        ({"width": 2, "finished": [0, 0]}, "__end__"),  # one chain reported twice is still one chain
        ({"finished": [0]}, "select"),  # width defaults to 1
        ({"width": 1, "finished": [0], "selection": {"id": "c0r0"}}, "__end__"),  # selected already
])
def test_after_finish(state: dict[str, Any], expected: str) -> None:
    assert after_finish(state) == expected  # type: ignore[arg-type]
