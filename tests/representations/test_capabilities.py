"""Every registered renderer declares its capabilities; ``none`` renders exactly the agent's feedback text."""

from __future__ import annotations

import itertools

import pytest
from semtrace.registry import RegistryError
from semtrace.representations import views
from semtrace.representations.base import (
    RENDERERS,
    Capabilities,
    LLMRenderer,
    Renderer,
    RendererBase,
    TraceView,
    capabilities,
    make_renderer,
)
from semtrace.sandbox.types import TestCase, TestOutcome

DECLARED = {
    "none": Capabilities(needs_trace=False),
    "contrast": Capabilities(uses_passing=True),
    "semcoder_nl": Capabilities(needs_llm=True),
}


@pytest.mark.parametrize("name", sorted(RENDERERS.entries))
def test_every_registered_renderer_declares_its_capabilities(name: str) -> None:
    cls = RENDERERS.resolve_class(name)
    for field in ("needs_trace", "uses_passing", "needs_llm"):
        assert isinstance(getattr(cls, field), bool), f"{name} does not declare {field}"
    renderer = make_renderer(name)
    assert isinstance(renderer, Renderer) and renderer.name == name
    assert capabilities(renderer) == DECLARED.get(name, Capabilities())
    assert isinstance(renderer, LLMRenderer) == capabilities(renderer).needs_llm


def test_undeclared_capabilities_default_and_an_llm_renderer_must_call_one() -> None:
    class Plain:
        name = "plain"

        def render(self, view: TraceView, **options: object) -> str:
            return ""

    class ClaimsLLM(RendererBase):
        name = "claims_llm"
        needs_llm = True

    assert capabilities(Plain()) == Capabilities(needs_trace=True, uses_passing=False, needs_llm=False)
    with pytest.raises(RegistryError, match="needs_llm = True but has no `async render_async"):
        capabilities(ClaimsLLM())


def old_feedback_text(test: TestCase, outcome: TestOutcome, entry_point: str | None) -> str:
    """``prompts.feedback_text`` as it was before ``none`` became the feedback: what the model has always seen."""

    def cap(text: str, limit: int = 600) -> str:
        return (
            text if len(text) <= limit else text[: limit - 20] + f"... [{len(text) - limit + 20} chars cut]"
        )

    lines = []
    if test.kind == "call":
        lines.append(f"Input: {test.func or entry_point}({test.args})")
        if test.expected is not None:
            lines.append(f"Expected output: {cap(test.expected)}")
    elif test.kind == "stdio":
        lines.append(f"Input (stdin:\n{cap(test.stdin)})")
        if test.expected is not None:
            lines.append(f"Expected output:\n{cap(test.expected)}")
    else:
        lines.append(f"Test: {cap(test.source.strip())}")
    if outcome.status == "failed":
        actual = outcome.actual if outcome.actual is not None else "(none)"
        lines.append(f"Actual output: {cap(actual)}")
        if outcome.message and outcome.actual is None:
            lines.append(f"Error: {cap(outcome.message)}")
    elif outcome.status == "timeout":
        lines.append("Error: the program timed out (possible infinite loop)")
    elif outcome.status == "oom":
        lines.append("Error: the program ran out of memory")
    else:
        if outcome.actual is not None:
            lines.append(f"Actual output: {cap(outcome.actual)}")
        lines.append(f"Error: {cap(outcome.message) or outcome.status}")
    return "\n".join(lines)


LONG = "x" * 900
TESTS = [
    TestCase(kind="call", func="f", args="[1, 2]", expected="3"),
    TestCase(kind="call", args="1", expected=None),
    TestCase(kind="call", func="f", args="1", expected=repr(LONG)),
    TestCase(kind="stdio", stdin="3\n1 2 3\n", expected="6\n"),
    TestCase(kind="stdio", stdin=LONG, expected=None),
    TestCase(kind="assert", source="  assert f(2) == 4  "),
    TestCase(kind="assert", source="assert " + LONG),
]
OUTCOMES = [
    TestOutcome(index=0, status="failed", actual="4"),
    TestOutcome(index=0, status="failed", actual=None, message="AssertionError"),
    TestOutcome(index=0, status="failed", actual=None),
    TestOutcome(index=0, status="failed", actual=repr(LONG)),
    TestOutcome(index=0, status="error", message="ZeroDivisionError: division by zero"),
    TestOutcome(index=0, status="error", actual="5", message="TypeError: bad\n  at line 2"),
    TestOutcome(index=0, status="error"),
    TestOutcome(index=0, status="timeout"),
    TestOutcome(index=0, status="oom"),
    TestOutcome(index=0, status="killed", message=LONG),
]


@pytest.mark.parametrize(("test", "outcome"), list(itertools.product(TESTS, OUTCOMES)))
def test_none_rendering_is_the_feedback_the_model_always_saw(test: TestCase, outcome: TestOutcome) -> None:
    view = TraceView(
        code="def f(x):\n    return x\n", entry_point="f", test=test, outcome=outcome, trace=None
    )
    text = old_feedback_text(test, outcome, "f")
    assert views.feedback(view) == make_renderer("none").render(view) == views.render("none", view) == text


def test_none_respects_a_small_budget_and_says_what_it_cut() -> None:
    test = TestCase(
        kind="stdio", stdin="\n".join(map(str, range(200))), expected="\n".join(map(str, range(200)))
    )
    view = TraceView("", None, test, TestOutcome(index=0, status="failed", actual="'0'"), None)
    text = make_renderer("none").render(view, budget=64)
    assert text.startswith("Input (stdin:\n0") and "cut to fit the budget" in text
    assert make_renderer("none").render(view, budget=10**6) == views.feedback(view)
