"""The ``render`` node and what it reads: the feedback on the failing visible test and the representation's text.

The feedback *is* the ``none`` rendering of the test's :class:`TraceView`, and the view comes from the one view
builder (``representations.views.view_from_result``), so the agent shows what the golden tests check. What the
representation needs (a trace, a passing test's trace too, an LLM) is what it declares (``capabilities``); no
representation is known here by name.
"""

from __future__ import annotations

from typing import Any, cast

from langgraph.runtime import Runtime
from langgraph.types import Command, Send
from semtrace.agents import routes
from semtrace.agents.context import AgentContext
from semtrace.agents.profile import span
from semtrace.agents.state import ChainPayload
from semtrace.llms.accounting import measure, usage_of
from semtrace.llms.base import Completion, Message
from semtrace.representations import views
from semtrace.representations.base import LLMRenderer, TraceView, capabilities
from semtrace.sandbox.types import ExecRequest, ExecResult


def uses_passing(renderer: object) -> bool:
    """Whether the representation also reads a passing visible test's trace (it declares ``uses_passing``)."""
    return capabilities(renderer).uses_passing


class _LiveCountedLLM:
    """The run's LLM as handed to a representation written by an LLM (``needs_llm``): its calls also reach the
    run's live display counters. What they used for the record comes from the ledger (``measure``)."""

    def __init__(self, llm: Any, stats: Any) -> None:
        self._llm, self._stats = llm, stats
        self.name = getattr(llm, "name", "llm")
        self.calls: list[Completion] = []

    async def generate(self, messages: list[Message], **options: Any) -> list[Completion]:
        completions = await self._llm.generate(messages, **options)
        self._stats.add_completions(completions)
        self.calls.append(completions)  # type: ignore[arg-type]
        return completions


def feedback_view(ctx: AgentContext, payload: ChainPayload) -> tuple[str, TraceView | None]:
    """The feedback text, and the view of the failing visible test (None when no visible test failed)."""
    idx = payload.get("failing")
    visible = payload.get("visible", {})
    if idx is None:
        if visible.get("status") not in (None, "passed"):  # e.g. the program did not load and no test ran
            return views.program_failed(visible["status"], visible.get("message", "")), None
        return "All visible tests pass.", None
    traces = [t for t in (payload.get("trace"), payload.get("passing_trace")) if t]
    result = ExecResult.from_dict({**visible, "traces": traces})
    request = ExecRequest(
        code=payload["code"], tests=ctx.task.visible_tests, entry_point=ctx.task.entry_point
    )
    view = views.view_from_result(request, result, test_index=int(idx))
    return views.feedback(view), view


async def _rendering(ctx: AgentContext, payload: ChainPayload, view: TraceView) -> tuple[str, dict[str, int]]:
    budget = ctx.settings.trace.budget
    if not capabilities(ctx.renderer).needs_llm:
        return ctx.renderer.render(view, budget=budget), {}
    counted = _LiveCountedLLM(ctx.llm_for(payload["round"]), ctx.stats)
    with measure(
        ctx.llm, task_id=ctx.task.task_id, round=payload["round"], chain=payload["chain"], purpose="render"
    ) as used:
        text = await cast(LLMRenderer, ctx.renderer).render_async(view, counted, budget=budget)
    if used.usage is not None:
        return text, used.usage.brief()
    fallback = usage_of([c for batch in counted.calls for c in batch], calls=len(counted.calls))  # type: ignore
    return text, fallback.brief()


async def render(payload: ChainPayload, runtime: Runtime[AgentContext]) -> Command:
    """The failing visible test as feedback text, plus the representation's rendering of its view. A rendering
    that only repeats the feedback (the ``none`` baseline's) is not shown twice."""
    ctx = runtime.context
    with span(ctx.stats.profile, "render"):
        feedback, view = feedback_view(ctx, payload)
        rendering = ""
        usage: dict[str, int] = {}
        if view is not None:
            rendering, usage = await _rendering(ctx, payload, view)
            rendering = views.shown_rendering(view, rendering, budget=ctx.settings.trace.budget)
    # the trace's events end here: what comes next (critique, refine) reads the rendering, and a checkpoint
    # stores every pending payload (twice), so carrying the raw trace on was most of a run's checkpoint bytes
    kept = {k: v for k, v in payload.items() if k not in ("trace", "passing_trace")}
    nxt = cast(ChainPayload, {**kept, "rendering": rendering, "feedback": feedback})
    patch: dict[str, Any] = {"id": payload["id"], "rendering": rendering, "feedback": feedback}
    if usage:
        patch["render_usage"] = usage
    return Command(update={"candidates": [patch]}, goto=Send(routes.after_render(nxt, ctx.settings), nxt))
