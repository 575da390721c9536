"""The Renderer contract: a TraceView in, text out, within a token budget; its declared capabilities."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from semtrace.registry import Registry, RegistryError
from semtrace.sandbox.trace import Trace
from semtrace.sandbox.types import TestCase, TestOutcome

if TYPE_CHECKING:
    from semtrace.llms.base import LLM

TokenCounter = Callable[[str], int]
Frames = Literal["entry", "all"]
DEFAULT_BUDGET = 2048


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


class NeedsLLM(RuntimeError):
    """The representation needs an LLM and none was given."""


@dataclass(frozen=True)
class Capabilities:
    """What a renderer declares about the runs it needs; callers read these, never the renderer's name.

    - ``needs_trace``: the failing test must be run under the tracer (False: the view's ``trace`` is None);
    - ``uses_passing``: a passing visible test is traced too, for ``view.passing`` (``TraceSpec(include_passing)``);
    - ``needs_llm``: the text is written by a model: call ``await render_async(view, llm, budget=...)``.
    """

    needs_trace: bool = True
    uses_passing: bool = False
    needs_llm: bool = False


@runtime_checkable
class Renderer(Protocol):
    """The contract. The capabilities are class attributes; one a renderer does not declare takes the default of
    :class:`Capabilities` (read them with :func:`capabilities`)."""

    name: str
    needs_trace: bool
    uses_passing: bool
    needs_llm: bool

    def render(
        self, view: TraceView, *, budget: int = DEFAULT_BUDGET, count_tokens: TokenCounter = approx_tokens
    ) -> str: ...


@runtime_checkable
class LLMRenderer(Renderer, Protocol):
    """A renderer whose text a model writes (``needs_llm = True``); ``render`` raises :class:`NeedsLLM`. ``llm`` is
    any object with the ``semtrace.llms.base.LLM`` contract."""

    async def render_async(
        self,
        view: TraceView,
        llm: LLM,
        *,
        budget: int = DEFAULT_BUDGET,
        count_tokens: TokenCounter = approx_tokens,
    ) -> str: ...


def capabilities(renderer: object) -> Capabilities:
    """The capabilities ``renderer`` declares, with the defaults for those it does not (a plugin need not subclass
    :class:`RendererBase`). ``needs_llm`` without a ``render_async`` method is a registry error."""
    default = Capabilities()
    caps = Capabilities(
        needs_trace=bool(getattr(renderer, "needs_trace", default.needs_trace)),
        uses_passing=bool(getattr(renderer, "uses_passing", default.uses_passing)),
        needs_llm=bool(getattr(renderer, "needs_llm", default.needs_llm)),
    )
    if caps.needs_llm and not callable(getattr(renderer, "render_async", None)):
        raise RegistryError(
            f"representation '{getattr(renderer, 'name', type(renderer).__name__)}' declares needs_llm = True "
            "but has no `async render_async(view, llm, *, budget, count_tokens)` method"
        )
    return caps


class RendererBase:
    """A renderer's defaults: the capabilities of :class:`Capabilities` and ``render``'s keywords. A subclass sets
    ``name`` (and any capability that differs) and writes ``text(view, budget, count_tokens)``."""

    name: str = ""
    needs_trace: bool = Capabilities.needs_trace
    uses_passing: bool = Capabilities.uses_passing
    needs_llm: bool = Capabilities.needs_llm

    def render(
        self, view: TraceView, *, budget: int = DEFAULT_BUDGET, count_tokens: TokenCounter = approx_tokens
    ) -> str:
        return self.text(view, budget, count_tokens)

    def text(self, view: TraceView, budget: int, count_tokens: TokenCounter) -> str:
        raise NotImplementedError(f"{type(self).__name__} must define text(view, budget, count_tokens)")


class FramesRenderer(RendererBase):
    """A renderer of the tested function's frames (``frames="entry"``, recursive calls included) or of every
    candidate frame (``frames="all"``, helpers too)."""

    def __init__(self, frames: Frames = "entry") -> None:
        self.frames: Frames = frames


class LLMRendererBase(RendererBase):
    """A renderer whose text a model writes: ``needs_llm = True``; ``render`` says how to call ``render_async``."""

    needs_llm = True

    def text(self, view: TraceView, budget: int, count_tokens: TokenCounter) -> str:
        raise NeedsLLM(
            f"the {self.name} representation is written by an LLM: call "
            f"`await {type(self).__name__}().render_async(view, llm)` (CLI: `semtrace trace ... "
            f"-r {self.name} --llm SPEC`)"
        )

    async def render_async(
        self,
        view: TraceView,
        llm: LLM,
        *,
        budget: int = DEFAULT_BUDGET,
        count_tokens: TokenCounter = approx_tokens,
    ) -> str:
        raise NotImplementedError(f"{type(self).__name__} must define async render_async(view, llm, ...)")


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
    renderer = RENDERERS.resolve_class(name)(**options)
    capabilities(renderer)  # a renderer that declares an LLM but cannot call one fails here, not mid-run
    return renderer
