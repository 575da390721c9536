"""The ``observe`` node: what running a candidate shows. Three stages in one graph step, so nothing between them
is checkpointed (they are deterministic sandbox runs and text; a killed step simply runs again):

- **execute**: the candidate on the visible tests only (feedback, selection; the hidden tests are scored outside
  the graph, ``scoring.py``), tracing the first failing test in the same request when the chain goes on;
- **trace**: the trace of the first failing visible test (and of a passing one when the representation declares
  ``uses_passing``), taken from that execution, else by re-running just those tests under the tracer;
- **render**: the feedback on the failing visible test (the ``none`` rendering of the view
  ``representations.views`` builds, so the agent shows what the golden tests check) and the representation's
  text, unless it only repeats that feedback. A representation declaring ``needs_llm`` gets the run's LLM, its
  calls counted in the candidate's ``render_usage``. No representation is known here by name.

The candidate leaves complete (its compact visible outcome, trace without events, feedback, rendering) and is
written to the state here, unless the chain goes to ``critique``, which completes and writes it. Raw traces never
leave this step: the payload after it carries the rendering, not the events.
"""

from __future__ import annotations

import dataclasses
from typing import Any, cast

from langgraph.runtime import Runtime
from langgraph.types import Command, Send
from semtrace.agents import routes
from semtrace.agents.context import AgentContext
from semtrace.agents.profile import span
from semtrace.agents.record import summary, trace_record
from semtrace.agents.state import Chain, as_chain
from semtrace.llms.accounting import measure
from semtrace.llms.base import Completion, Message
from semtrace.representations import views
from semtrace.representations.base import LLMRenderer, TraceView, capabilities
from semtrace.sandbox.trace import Trace
from semtrace.sandbox.types import ExecRequest, ExecResult, TraceSpec


def uses_passing(renderer: object) -> bool:
    """Whether the representation also reads a passing visible test's trace (it declares ``uses_passing``)."""
    return capabilities(renderer).uses_passing


def request(ctx: AgentContext, code: str, tests: tuple, trace: TraceSpec | None = None,
            stop_on_timeout: bool = False) -> ExecRequest:
    return ExecRequest(code=code, tests=tests, entry_point=ctx.task.entry_point, test_setup=ctx.task.test_setup,
                       prelude=ctx.task.prelude, trace=trace, limits=ctx.settings.limits,
                       stop_on_timeout=stop_on_timeout)


async def observe(payload: Chain | dict[str, Any], runtime: Runtime[AgentContext]) -> Command:
    """Run the candidate, and unless its chain stops here, trace and render what it showed."""
    ctx = runtime.context
    s = ctx.settings
    chain = as_chain(payload)
    cand = chain.candidate
    if chain.no_program:  # nothing to run: recorded as it came (status no_program), the request asked again
        if routes.after_no_program(chain, s) == "finish":
            return Command(update={"candidates": [chain.written(cand)], "finished": [chain.chain]}, goto="finish")
        return Command(update={"candidates": [chain.written(cand)]}, goto=Send("refine", chain.carried()))
    result = await execute(ctx, chain)
    first = result.first_failure
    failing = first.index if first is not None else None
    shown = {failing} if failing is not None else set()
    cand = cand.model_copy(update={"visible": summary(result, shown, s.keep_outcomes)})
    chain = chain.model_copy(update={"candidate": cand, "failing": failing})
    if routes.after_run(chain, s, has_tests=bool(result.tests)) == "finish":
        return Command(update={"candidates": [chain.written(cand)], "finished": [chain.chain]}, goto="finish")
    traces = await trace(ctx, chain, result) if routes.wants_trace(chain, s) else ()
    with span(ctx.stats.profile, "render"):
        feedback, rendering, used = await render(ctx, chain, result, traces)
    updates: dict[str, Any] = {"feedback": feedback, "rendering": rendering}
    if traces:
        updates["trace"] = trace_record(traces[0], s.keep_outcomes)
        if len(traces) > 1 and traces[1] is not None:
            updates["passing_trace"] = trace_record(traces[1], s.keep_outcomes)
    if used is not None:
        updates["render_usage"] = used
    cand = cand.model_copy(update=updates)
    nxt = chain.model_copy(update={
        "candidate": cand,
        "visible": _outcomes(result) if routes.repair_node(s) == "debug" else None,
    })
    route = routes.after_feedback(nxt, s)
    if route == "critique":  # critique completes the candidate and writes it
        return Command(goto=Send("critique", nxt))
    return Command(update={"candidates": [chain.written(cand)]}, goto=Send(route, nxt.carried()))


def _outcomes(result: ExecResult) -> dict[str, Any]:
    """The visible run without its traces, for the ``debug`` strategy's ``run_tests`` tool."""
    return dataclasses.replace(result, traces=()).to_dict()


async def execute(ctx: AgentContext, chain: Chain) -> ExecResult:
    """The candidate on the visible tests; the first failing test traced in the same request when the chain may
    go on (a looping program costs one timeout, not one per visible test: ``agent.stop_on_timeout``)."""
    s = ctx.settings
    spec = None
    if s.needs_trace and chain.round < s.agent.resolved_depth:
        spec = TraceSpec(max_failing=1, include_passing=uses_passing(ctx.renderer), max_events=s.trace.max_events,
                         max_value_len=s.trace.max_value_len)
    req = request(ctx, chain.candidate.code, ctx.task.visible_tests, spec, stop_on_timeout=s.agent.stop_on_timeout)
    return await ctx.exec_cache.run(ctx.sandbox_for(chain.round), req, ctx.stats)


async def trace(ctx: AgentContext, chain: Chain, result: ExecResult) -> tuple[Trace | None, ...]:
    """The failing test's trace (None when there is none), then a passing test's when the representation reads
    one: from the execution when it traced them, else by re-running just those tests under the tracer."""
    s = ctx.settings
    failing = cast(int, chain.failing)
    indices = [failing]
    if uses_passing(ctx.renderer):
        passing = next((t.index for t in result.tests if t.status == "passed"), None)
        if passing is not None:
            indices.append(passing)
    by_test = {t.test_index: t for t in result.traces}
    status = {t.index: t.status for t in result.tests}
    # a failing test that timed out did so under the tracer in the judged run: a re-run would only time out again
    wanted = [i for i in indices if not (i == failing and status.get(i) == "timeout")]
    if not all(i in by_test for i in wanted):
        spec = TraceSpec(tests=tuple(range(len(wanted))), max_events=s.trace.max_events,
                         max_value_len=s.trace.max_value_len)
        tests = tuple(ctx.task.visible_tests[i] for i in wanted)
        rerun = await ctx.exec_cache.run(ctx.sandbox_for(chain.round),
                                         request(ctx, chain.candidate.code, tests, spec), ctx.stats)
        by_test = {wanted[t.test_index]: dataclasses.replace(t, test_index=wanted[t.test_index])
                   for t in rerun.traces if 0 <= t.test_index < len(wanted)}
    return tuple(by_test.get(i) for i in indices)


class _LiveCountedLLM:
    """The run's LLM as handed to a representation written by an LLM (``needs_llm``): its calls also reach the
    run's live display counters. What they used for the record comes from the ledger (``measure``)."""

    def __init__(self, llm: Any, stats: Any) -> None:
        self._llm, self._stats = llm, stats
        self.name = getattr(llm, "name", "llm")

    async def generate(self, messages: list[Message], **options: Any) -> list[Completion]:
        completions = await self._llm.generate(messages, **options)
        self._stats.add_completions(completions)
        return completions


def feedback_view(ctx: AgentContext, chain: Chain, result: ExecResult,
                  traces: tuple[Trace | None, ...]) -> tuple[str, TraceView | None]:
    """The feedback text, and the view of the failing visible test (None when no visible test failed)."""
    if chain.failing is None:
        if result.status != "passed":  # e.g. the program did not load and no test ran
            return views.program_failed(result.status, result.message), None
        return "All visible tests pass.", None
    shown = dataclasses.replace(result, traces=tuple(t for t in traces if t is not None))
    req = ExecRequest(code=chain.candidate.code, tests=ctx.task.visible_tests, entry_point=ctx.task.entry_point)
    view = views.view_from_result(req, shown, test_index=chain.failing)
    return views.feedback(view), view


async def render(ctx: AgentContext, chain: Chain, result: ExecResult, traces: tuple[Trace | None, ...]
                 ) -> tuple[str, str, Any]:
    """The feedback, the representation's rendering (not the feedback twice) and what an LLM-written rendering
    used (None for a representation that needs no LLM)."""
    feedback, view = feedback_view(ctx, chain, result, traces)
    if view is None:
        return feedback, "", None
    budget = ctx.settings.trace.budget
    used = None
    if not capabilities(ctx.renderer).needs_llm:
        text = ctx.renderer.render(view, budget=budget)
    else:
        counted = _LiveCountedLLM(ctx.llm_for(chain.round), ctx.stats)
        with measure(ctx.llm, task_id=ctx.task.task_id, round=chain.round, chain=chain.chain,
                     purpose="render") as measured:
            text = await cast(LLMRenderer, ctx.renderer).render_async(view, counted, budget=budget)
        used = measured.spent
    return feedback, views.shown_rendering(view, text, budget=budget), used
