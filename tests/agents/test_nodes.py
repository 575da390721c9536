"""Unit tests of each node and route, called as plain functions with a LangGraph ``Runtime`` whose context holds
the ``fake`` sandbox (scripted results, every request recorded) and the ``scripted`` LLM (every prompt recorded).

Each node call deep-copies its input and checks it is unchanged afterwards, checks that every candidate patch it
emits has only ``Candidate`` fields, and checks where the chain goes next. The tasks are the bundled ``demo``
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
from semtrace.agents.feedback import render
from semtrace.agents.record import Candidate, compact_trace
from semtrace.agents.routes import after_execute, after_finish, after_render
from semtrace.agents.selectors import make_selector
from semtrace.agents.settings import AgentSettings
from semtrace.benchmarks.registry import load_benchmark
from semtrace.benchmarks.task import Task
from semtrace.llms.base import Completion, ContextTooLong, Message
from semtrace.llms.scripted import ScriptedLLM
from semtrace.representations import views
from semtrace.representations.base import capabilities, make_renderer
from semtrace.sandbox.fake import FakeSandbox
from semtrace.sandbox.trace import Trace, TraceEvent
from semtrace.sandbox.types import ExecRequest, ExecResult, TestOutcome

TASKS = {t.task_id: t for t in load_benchmark("demo")}
SUM = TASKS["demo/sum_to_n"]  # one visible test, which fails
APPEND = TASKS["demo/append_item"]  # two visible tests: the first passes, the second fails
FIELDS = set(Candidate.model_fields)
CRITIQUE = "The range stops one short of n."


class RecordingLLM(ScriptedLLM):
    """The scripted LLM, remembering every conversation it was sent."""

    def __init__(self, model: str) -> None:
        super().__init__(model)
        self.seen: list[list[Message]] = []

    async def generate(self, messages: list[Message], **options: Any) -> list[Completion]:
        self.seen.append(list(messages))
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
SUM_HIDDEN = ExecResult(status="failed", tests=(TestOutcome(index=0, status="passed", actual="1"),
                                                TestOutcome(index=1, status="failed", message="expected 55")))
SUM_PASSED = ExecResult(status="passed", tests=(TestOutcome(index=0, status="passed", actual="6"),))
APPEND_OUTCOMES = (TestOutcome(index=0, status="passed", actual="[1]"),
                   TestOutcome(index=1, status="failed", message="expected [2], got [1, 2]", actual="[1, 2]"))
APPEND_FAILED = ExecResult(status="failed", tests=APPEND_OUTCOMES)  # no trace in it


def sandbox_for(task: Task, visible: ExecResult, hidden: ExecResult | None = None) -> FakeSandbox:
    """The task's buggy program: ``visible`` on its visible tests, ``hidden`` (default: failed) on the others."""
    code = task.starting_code or ""
    hidden = hidden or ExecResult(status="failed", tests=(TestOutcome(index=0, status="failed"),))
    return FakeSandbox({(code, task.visible_tests): visible, (code, task.hidden_tests): hidden})


def make_ctx(tmp_path: Path, task: Task, sandbox: FakeSandbox, representation: str = "next",
             **settings: Any) -> AgentContext:
    """The scripted LLM explains the bug when asked to critique, else answers with the task's reference."""
    renderer = make_renderer(representation)
    rules = [{"when": "Do not write any code", "reply": CRITIQUE},
             {"when": f"`{task.entry_point}`", "reply": "Fixed:\n" + fenced(task.reference or "")}]
    llm = RecordingLLM(str(write_rules(tmp_path / "rules.jsonl", rules)))
    options = {"needs_trace": capabilities(renderer).needs_trace, **settings}
    return AgentContext(task=task, llm=llm, sandbox=sandbox, renderer=renderer,
                        selector=make_selector("first_pass"), settings=AgentSettings.of(**options), extract=extract)


def runtime(ctx: AgentContext) -> Runtime[AgentContext]:
    """What LangGraph hands a node (``Pregel`` builds it the same way before merging its parent's)."""
    return Runtime(context=ctx, store=None, previous=None, execution_info=None)


async def call(node: Any, arg: dict[str, Any], ctx: AgentContext | None = None) -> Any:
    """Call a node; its input must be exactly as it was afterwards, its patches only Candidate fields."""
    before = copy.deepcopy(arg)
    out = node(arg, runtime(ctx)) if ctx is not None else node(arg)
    if inspect.isawaitable(out):
        out = await out
    assert arg == before, f"{getattr(node, '__name__', node)} mutated its input"
    update = out.update if isinstance(out, Command) else out
    for patch in (update or {}).get("candidates", []):
        assert "id" in patch and set(patch) <= FIELDS, sorted(set(patch) - FIELDS)
    return out


def sends(cmd: Command) -> list[Send]:
    goto = cmd.goto if isinstance(cmd.goto, (list, tuple)) else [cmd.goto]
    assert all(isinstance(g, Send) for g in goto), goto
    return list(goto)


def only_send(cmd: Command, node: str) -> dict[str, Any]:
    (send,) = sends(cmd)
    assert send.node == node, send.node
    return dict(send.arg)


def payload(task: Task, round_: int = 0, **extra: Any) -> dict[str, Any]:
    return {"chain": 0, "round": round_, "id": f"c0r{round_}", "parent": None, "code": task.starting_code,
            "attempts": [], **extra}


def after_exec(task: Task, result: ExecResult, **extra: Any) -> dict[str, Any]:
    """The payload ``execute`` hands on for ``result`` on the visible tests."""
    visible = {k: v for k, v in result.to_dict().items() if k != "traces"}
    first = result.first_failure
    return {**payload(task, visible=visible, failing=first.index if first else None, trace=None, rendering="",
                      critique="", prefetched=[t.to_dict() for t in result.traces]), **extra}


def scored_only(sandbox: FakeSandbox, task: Task) -> list[ExecRequest]:
    """The visible runs; a request with hidden tests (if execute still scores) holds only those, untraced,
    stopping at the first failure."""
    hidden = set(task.hidden_tests)
    for r in sandbox.requests:
        if set(r.tests) & hidden:
            assert set(r.tests) <= hidden and r.stop_on_failure and r.trace is None, r
    return [r for r in sandbox.requests if r.tests == task.visible_tests]


def no_hidden_test_in(task: Task, ctx: AgentContext, requests: list[ExecRequest]) -> None:
    """``task`` (the full one, even when the context holds its public view) has no hidden test in these requests
    nor in any prompt the LLM got."""
    hidden = set(task.hidden_tests)
    assert hidden and not any(set(r.tests) & hidden for r in requests)
    prompts = "\n".join(m.content for conv in ctx.llm.seen for m in conv)  # type: ignore[attr-defined]
    assert not any(t.source in prompts for t in hidden)


async def test_generate_repair_starts_every_chain_from_the_buggy_program_without_the_llm(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, SUM, FakeSandbox(), width=3)
    cmd = await call(nodes.generate, {}, ctx)
    assert cmd.update == {"task_id": SUM.task_id, "width": 3}
    out = sends(cmd)
    assert [s.node for s in out] == ["execute"] * 3
    assert [(s.arg["chain"], s.arg["round"], s.arg["id"], s.arg["parent"]) for s in out] == [
        (i, 0, f"c{i}r0", None) for i in range(3)]
    assert all(s.arg["code"] == SUM.starting_code and s.arg["attempts"] == [] for s in out)
    assert ctx.llm.seen == [] and ctx.sandbox.requests == []  # type: ignore[attr-defined]


async def test_generate_synthesis_samples_width_programs_in_one_call(tmp_path: Path) -> None:
    task = dataclasses.replace(SUM, kind="synthesis", starting_code=None)
    ctx = make_ctx(tmp_path, task, FakeSandbox(), width=2)
    cmd = await call(nodes.generate, {"task_id": "stale"}, ctx)
    out = sends(cmd)
    assert [s.node for s in out] == ["execute", "execute"] and len(ctx.llm.seen) == 1  # type: ignore[attr-defined]
    for chain, send in enumerate(out):
        assert send.arg["code"].strip() == (SUM.reference or "").strip() and send.arg["raw"].startswith("Fixed:")
        assert send.arg["id"] == f"c{chain}r0" and send.arg["prompt_digest"] and send.arg["note"] == ""
    assert [s.arg["usage"]["calls"] for s in out] == [1, 0]  # one call, charged once


async def test_execute_runs_the_visible_tests_with_a_trace_and_sends_a_failure_to_trace(tmp_path: Path) -> None:
    sandbox = sandbox_for(SUM, SUM_FAILED, SUM_HIDDEN)
    ctx = make_ctx(tmp_path, SUM, sandbox, depth=2)
    cmd = await call(nodes.execute, payload(SUM), ctx)
    (visible,) = scored_only(sandbox, SUM)
    assert visible.trace is not None and not visible.trace.include_passing and not visible.stop_on_failure
    assert visible.code == SUM.starting_code and visible.entry_point == SUM.entry_point
    (record,) = cmd.update["candidates"]
    assert "finished" not in cmd.update and record["id"] == "c0r0" and record["visible"]["outcomes"] == "F" and record["visible"]["total"] == 1
    nxt = only_send(cmd, "trace")
    assert nxt["failing"] == 0 and nxt["visible"]["status"] == "failed" and "traces" not in nxt["visible"]
    assert nxt["prefetched"] == [SUM_TRACE.to_dict()]


@pytest.mark.parametrize("representation, depth, round_, traced, goto", [
        ("next", 1, 1, False, "finish"),  # depth reached: nothing left to feed back, so nothing traced
        ("none", 1, 0, False, "render"),  # the representation needs no trace
        ("contrast", 1, 0, True, "trace"),  # uses_passing: a passing test is traced too
])
async def test_execute_asks_for_a_trace_only_when_the_renderer_needs_one_and_depth_allows(
    tmp_path: Path, representation: str, depth: int, round_: int, traced: bool, goto: str
) -> None:
    sandbox = sandbox_for(SUM, SUM_FAILED)
    ctx = make_ctx(tmp_path, SUM, sandbox, representation, depth=depth)
    cmd = await call(nodes.execute, payload(SUM, round_), ctx)
    (visible,) = scored_only(sandbox, SUM)
    assert (visible.trace is not None) == traced
    assert visible.trace is None or visible.trace.include_passing  # traced here only for contrast
    if goto == "finish":
        assert cmd.goto == "finish" and cmd.update["finished"] == [0]
    else:
        assert only_send(cmd, goto)["failing"] == 0


async def test_execute_finishes_a_chain_that_passes_its_visible_tests(tmp_path: Path) -> None:
    code = SUM.reference or ""
    sandbox = FakeSandbox({(code, SUM.visible_tests): SUM_PASSED},
                          default=ExecResult(status="passed", tests=(TestOutcome(index=0, status="passed"),)))
    ctx = make_ctx(tmp_path, SUM, sandbox, depth=3)
    cmd = await call(nodes.execute, {**payload(SUM, 1), "code": code, "parent": "c0r0"}, ctx)
    assert cmd.goto == "finish" and cmd.update["finished"] == [0]
    (record,) = cmd.update["candidates"]
    assert record["parent"] == "c0r0" and record["visible"]["status"] == "passed"
    (visible,) = scored_only(sandbox, SUM)
    assert visible.code == code and visible.trace is not None  # asked for; the program passed, so unused


async def test_trace_takes_the_trace_the_execution_recorded(tmp_path: Path) -> None:
    sandbox = FakeSandbox()
    ctx = make_ctx(tmp_path, SUM, sandbox, depth=1)
    cmd = await call(nodes.trace, after_exec(SUM, SUM_FAILED), ctx)
    assert sandbox.requests == []  # nothing re-run
    # the record keeps the trace without its events (their count stays); the render node gets the whole trace
    assert cmd.update == {"candidates": [{"id": "c0r0", "trace": compact_trace(SUM_TRACE.to_dict())}]}
    assert cmd.update["candidates"][0]["trace"]["n_events"] == len(SUM_TRACE.events) > 0
    nxt = only_send(cmd, "render")
    assert nxt["trace"] == SUM_TRACE.to_dict() and nxt["passing_trace"] is None and "prefetched" not in nxt


async def test_trace_reruns_only_the_tests_it_needs_and_maps_their_indices_back(tmp_path: Path) -> None:
    code = APPEND.starting_code or ""
    failing, passing = APPEND.visible_tests[1], APPEND.visible_tests[0]
    rerun = ExecResult(status="failed", tests=(APPEND_OUTCOMES[1], APPEND_OUTCOMES[0]),
                       traces=(trace_of(0, "append_item", ("item", "2"), "[1, 2]"),
                               trace_of(1, "append_item", ("item", "1"), "[1]")))
    sandbox = FakeSandbox({(code, (failing, passing)): rerun})
    ctx = make_ctx(tmp_path, APPEND, sandbox, "contrast", depth=1)
    cmd = await call(nodes.trace, after_exec(APPEND, APPEND_FAILED), ctx)
    (request,) = sandbox.requests
    assert request.tests == (failing, passing) and request.trace is not None and request.trace.tests == (0, 1)
    (patch,) = cmd.update["candidates"]
    assert patch["trace"]["test_index"] == 1 and patch["passing_trace"]["test_index"] == 0
    nxt = only_send(cmd, "render")
    assert nxt["trace"]["events"] and nxt["passing_trace"]["events"]
    assert compact_trace(nxt["trace"]) == patch["trace"] and compact_trace(nxt["passing_trace"]) == patch["passing_trace"]
    no_hidden_test_in(APPEND, ctx, sandbox.requests)


def view_of(task: Task, result: ExecResult) -> views.TraceView:
    request = ExecRequest(code=task.starting_code or "", tests=task.visible_tests, entry_point=task.entry_point)
    first = result.first_failure
    return views.view_from_result(request, result, test_index=first.index if first else None)


@pytest.mark.parametrize("critique, goto", [(False, "refine"), (True, "critique")])
async def test_render_feedback_is_the_none_rendering_and_the_trace_is_rendered(
    tmp_path: Path, critique: bool, goto: str
) -> None:
    ctx = make_ctx(tmp_path, SUM, FakeSandbox(), "next", depth=1, critique=critique)
    arg = {k: v for k, v in after_exec(SUM, SUM_FAILED, trace=SUM_TRACE.to_dict(), passing_trace=None).items()
           if k != "prefetched"}  # what trace hands on
    cmd = await call(render, arg, ctx)
    view = view_of(SUM, SUM_FAILED)
    feedback = make_renderer("none").render(view)
    assert feedback == views.feedback(view) and "sum_to_n(3)" in feedback
    (patch,) = cmd.update["candidates"]
    assert patch["feedback"] == feedback and patch["rendering"] == make_renderer("next").render(view, budget=1024)
    assert patch["rendering"] and "render_usage" not in patch
    nxt = only_send(cmd, goto)
    assert nxt["feedback"] == feedback and nxt["rendering"] == patch["rendering"]


async def test_render_with_the_none_representation_does_not_repeat_the_feedback(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, SUM, FakeSandbox(), "none", depth=1)
    cmd = await call(render, after_exec(SUM, ExecResult(status="failed", tests=SUM_FAILED.tests)), ctx)
    (patch,) = cmd.update["candidates"]
    assert patch["rendering"] == "" and patch["feedback"] == views.feedback(view_of(SUM, SUM_FAILED))
    assert only_send(cmd, "refine")["rendering"] == ""


async def test_render_of_a_program_that_ran_no_test_says_why(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, SUM, FakeSandbox(), depth=1)
    broken = ExecResult(status="error", message="SyntaxError: invalid syntax")
    cmd = await call(render, after_exec(SUM, broken), ctx)
    assert cmd.update["candidates"] == [
        {"id": "c0r0", "rendering": "", "feedback": "The program failed (error): SyntaxError: invalid syntax"}]
    only_send(cmd, "refine")


def rendered(task: Task, **extra: Any) -> dict[str, Any]:
    feedback = views.feedback(view_of(task, SUM_FAILED))
    return {**after_exec(task, SUM_FAILED), "trace": SUM_TRACE.to_dict(), "passing_trace": None,
            "feedback": feedback, "rendering": "TRACE-TEXT", **extra}


async def test_critique_explains_the_bug_and_goes_to_refine(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, SUM, FakeSandbox(), depth=1, critique=True)
    cmd = await call(nodes.critique, rendered(SUM), ctx)
    (patch,) = cmd.update["candidates"]
    assert patch["critique"] == CRITIQUE and patch["critique_usage"]["calls"] == 1
    assert only_send(cmd, "refine")["critique"] == CRITIQUE
    (conversation,) = ctx.llm.seen  # type: ignore[attr-defined]
    assert "TRACE-TEXT" in conversation[-1].content
    no_hidden_test_in(SUM, ctx, [])


async def test_refine_builds_the_next_rounds_payload_with_the_parent_id(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, SUM, FakeSandbox(), depth=2)
    earlier = {"code": "def sum_to_n(n):\n    return 0\n", "feedback": "F0", "critique": "", "rendering": ""}
    arg = rendered(SUM, round=1, id="c0r1", parent="c0r0", attempts=[earlier], critique="C1")
    cmd = await call(nodes.refine, arg, ctx)
    assert cmd.update is None  # the candidate is recorded when it has been executed
    nxt = only_send(cmd, "execute")
    assert (nxt["chain"], nxt["round"], nxt["id"], nxt["parent"]) == (0, 2, "c0r2", "c0r1")
    assert nxt["code"].strip() == (SUM.reference or "").strip() and nxt["usage"]["calls"] == 1
    assert nxt["attempts"] == [earlier, {"code": SUM.starting_code, "feedback": arg["feedback"], "critique": "C1",
                                         "rendering": ""}]
    assert not {"visible", "failing", "trace", "prefetched"} & set(nxt)
    (conversation,) = ctx.llm.seen  # type: ignore[attr-defined]
    assert "TRACE-TEXT" in conversation[-1].content and nxt["prompt_digest"] == nodes.prompt_digest(conversation)
    no_hidden_test_in(SUM, ctx, [])


async def test_refine_stops_the_chain_when_the_model_cannot_answer(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, SUM, FakeSandbox(), depth=2)

    async def too_long(messages: list[Message], **options: Any) -> list[Completion]:
        raise ContextTooLong("prompt too long", provider="scripted")

    ctx.llm.generate = too_long  # type: ignore[method-assign]
    cmd = await call(nodes.refine, rendered(SUM), ctx)
    assert cmd.goto == "finish" and cmd.update["finished"] == [0]
    (patch,) = cmd.update["candidates"]
    assert patch["id"] == "c0r0" and patch["note"].startswith("refinement stopped: ContextTooLong")
    assert ctx.stats.llm_errors == 1


async def test_finish_is_an_empty_join_and_select_picks_among_the_chains_answers(tmp_path: Path) -> None:
    state: dict[str, Any] = {"task_id": SUM.task_id, "width": 2, "finished": [0, 1], "candidates": [
        {"id": "c0r0", "chain": 0, "round": 0, "code": "a", "visible": {"status": "failed"}},
        {"id": "c0r1", "chain": 0, "round": 1, "code": "b", "visible": {"status": "failed"}},
        {"id": "c1r0", "chain": 1, "round": 0, "code": "c", "visible": {"status": "passed"}},
    ]}
    assert await call(nodes.finish, state) == {}
    ctx = make_ctx(tmp_path, SUM, FakeSandbox(), width=2, depth=1)
    out = await call(nodes.select, state, ctx)
    assert set(out) == {"selection"} and out["selection"]["id"] == "c1r0"
    assert out["selection"]["selector"] == "first_pass"


FAILING = {"round": 0, "visible": {"status": "failed", "tests": [{}]}, "failing": 0}
PASSING = {"round": 0, "visible": {"status": "passed", "tests": [{}]}, "failing": None}
NO_TEST = {"round": 0, "visible": {"status": "error", "tests": []}, "failing": None}


@pytest.mark.parametrize("chain, settings, expected", [
        (FAILING, AgentSettings.of(depth=1), "trace"),
        ({**FAILING, "round": 1}, AgentSettings.of(depth=1), "finish"),
        (FAILING, AgentSettings.of(depth=0), "finish"),
        (FAILING, AgentSettings.of(depth=1, needs_trace=False), "render"),
        (PASSING, AgentSettings.of(depth=1), "finish"),
        (PASSING, AgentSettings.of(depth=1, stop_on_pass=False), "render"),
        ({**PASSING, "round": 1}, AgentSettings.of(depth=1, stop_on_pass=False), "finish"),
        ({**PASSING, "visible": {"status": "passed", "tests": []}}, AgentSettings.of(depth=1, stop_on_pass=False),
         "finish"),
        (NO_TEST, AgentSettings.of(depth=1), "render"),
])
def test_after_execute(chain: dict[str, Any], settings: AgentSettings, expected: str) -> None:
    before = copy.deepcopy(chain)
    assert after_execute(chain, settings) == expected  # type: ignore[arg-type]
    assert chain == before


@pytest.mark.parametrize(
    "chain, critique, expected",
    [(FAILING, True, "critique"), (FAILING, False, "refine"), (PASSING, True, "refine"), (NO_TEST, True, "refine")],
)
def test_after_render(chain: dict[str, Any], critique: bool, expected: str) -> None:
    assert after_render(chain, AgentSettings.of(depth=1, critique=critique)) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("state, expected", [
        ({"width": 2, "finished": [0]}, "__end__"),
        ({"width": 2, "finished": [1, 0]}, "select"),
        ({"width": 2, "finished": [0, 0]}, "__end__"),  # one chain reported twice is still one chain
        ({"finished": [0]}, "select"),  # width defaults to 1
        ({"width": 1, "finished": [0], "selection": {"id": "c0r0"}}, "__end__"),  # selected already
])
def test_after_finish(state: dict[str, Any], expected: str) -> None:
    assert after_finish(state) == expected  # type: ignore[arg-type]
