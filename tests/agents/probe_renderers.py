"""Renderers passed to the agent by dotted path: each declares one capability and renders what it was given, so a
test can see that the agent acts on the declaration (never on a name)."""

from __future__ import annotations

from semtrace.llms.base import LLM, Message
from semtrace.representations.base import (
    LLMRendererBase,
    RendererBase,
    TokenCounter,
    TraceView,
    approx_tokens,
)
from semtrace.sandbox.local import LocalSandbox
from semtrace.sandbox.types import ExecRequest, ExecResult


def seen(view: TraceView) -> str:
    passing = view.passing[0].args if view.passing is not None else None
    return f"PROBE failing={view.test.args} trace={view.trace is not None} passing={passing}"


class PassingProbe(RendererBase):
    name = "passing_probe"
    uses_passing = True

    def text(self, view: TraceView, budget: int, count_tokens: TokenCounter) -> str:
        return seen(view)


class NoTraceProbe(RendererBase):
    name = "no_trace_probe"
    needs_trace = False

    def text(self, view: TraceView, budget: int, count_tokens: TokenCounter) -> str:
        return seen(view)


class DefaultProbe:
    """No base class and no declared capabilities: it gets the defaults (a trace of the failing test only)."""

    name = "default_probe"

    def render(
        self, view: TraceView, *, budget: int = 2048, count_tokens: TokenCounter = approx_tokens
    ) -> str:
        return seen(view)


class LLMProbe(LLMRendererBase):
    name = "llm_probe"

    async def render_async(
        self, view: TraceView, llm: LLM, *, budget: int = 2048, count_tokens: TokenCounter = approx_tokens
    ) -> str:
        (completion,) = await llm.generate([Message("user", f"EXPLAIN {seen(view)}")], n=1)
        return f"LLM SAYS {completion.text}"


class RecordingSandbox(LocalSandbox):
    """The local sandbox, remembering every request it ran."""

    def __init__(self, concurrency: int | None = None) -> None:
        super().__init__(concurrency=concurrency)
        self.requests: list[ExecRequest] = []

    async def run(self, request: ExecRequest) -> ExecResult:
        self.requests.append(request)
        return await super().run(request)
