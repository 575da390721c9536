"""The Renderer contract: a TraceView in, text out, within a token budget."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol, runtime_checkable

from semtrace.registry import Registry
from semtrace.sandbox.trace import Trace
from semtrace.sandbox.types import TestCase, TestOutcome

TokenCounter = Callable[[str], int]


def approx_tokens(text: str) -> int:
    """A fast, offline approximation of a BPE token count (about 3.5 characters a token for code)."""
    return max(1, (len(text) * 2 + 6) // 7) if text else 0


@dataclass(frozen=True)
class TraceView:
    """Everything a renderer may look at: the program, the traced test, its outcome, and the trace.

    ``passing`` optionally carries a passing visible test with its outcome and trace (for contrastive renderers).
    """

    code: str
    entry_point: str | None
    test: TestCase
    outcome: TestOutcome
    trace: Trace | None
    passing: tuple[TestCase, TestOutcome, Trace] | None = None


@runtime_checkable
class Renderer(Protocol):
    name: str

    def render(self, view: TraceView, *, budget: int = 2048, count_tokens: TokenCounter = approx_tokens) -> str: ...


RENDERERS = Registry(
    kind="representation",
    group="semtrace.representations",
    entries={
        "none": "semtrace.representations.none:NoTrace",
        "next": "semtrace.representations.next:NextRenderer",
        "semcoder": "semtrace.representations.semcoder:SemCoderRenderer",
        "semcoder_nl": "semtrace.representations.semcoder_nl:SemCoderNLRenderer",
        "code_executor": "semtrace.representations.code_executor:CodeExecutorRenderer",
        "concise": "semtrace.representations.concise:ConciseRenderer",
        "slice": "semtrace.representations.slice:SliceRenderer",
        "contrast": "semtrace.representations.contrast:ContrastRenderer",
    },
)


def make_renderer(name: str, **options: object) -> Renderer:
    return RENDERERS.resolve_class(name)(**options)
