"""Building a :class:`TraceView` from what the sandbox returned, and rendering it by name."""

from __future__ import annotations

from semtrace.representations.base import (
    DEFAULT_BUDGET,
    TokenCounter,
    TraceView,
    approx_tokens,
    make_renderer,
)
from semtrace.representations.none import NoTrace
from semtrace.sandbox.trace import Trace
from semtrace.sandbox.types import ExecRequest, ExecResult


def view_from_result(request: ExecRequest, result: ExecResult, test_index: int | None = None) -> TraceView:
    """The view of one traced test (default: the first failing test that has a trace, else the first trace).

    A passing test's trace, when the result carries one, becomes ``view.passing`` (for renderers that declare
    ``uses_passing``). The agent builds its views here too, so what it renders is what the golden tests check.
    """
    traces = {t.test_index: t for t in result.traces}
    outcomes = {o.index: o for o in result.tests}
    if test_index is None:
        failing = [i for i in sorted(traces) if i in outcomes and outcomes[i].status != "passed"]
        if failing:
            test_index = failing[0]
        elif result.first_failure is not None:
            test_index = result.first_failure.index
        elif traces:
            test_index = min(traces)
        elif result.tests:
            test_index = result.tests[0].index
        else:
            raise ValueError("the result has no test outcomes to render; run at least one test")
    if test_index not in outcomes:
        raise ValueError(f"test {test_index} has no outcome in the result ({len(result.tests)} tests ran)")
    passing = None
    for i in sorted(traces):
        if i != test_index and i in outcomes and outcomes[i].status == "passed":
            passing = (request.tests[i], outcomes[i], traces[i])
            break
    trace: Trace | None = traces.get(test_index)
    return TraceView(
        code=request.code,
        entry_point=request.entry_point,
        test=request.tests[test_index],
        outcome=outcomes[test_index],
        trace=trace,
        passing=passing,
    )


def feedback(
    view: TraceView, *, budget: int = DEFAULT_BUDGET, count_tokens: TokenCounter = approx_tokens
) -> str:
    """The feedback on the view's test (input, expected, actual or error): exactly its ``none`` rendering."""
    return NoTrace().render(view, budget=budget, count_tokens=count_tokens)


def render(
    name: str,
    view: TraceView,
    *,
    budget: int = DEFAULT_BUDGET,
    count_tokens: TokenCounter = approx_tokens,
    **options: object,
) -> str:
    """Render ``view`` with the representation registered as ``name`` (or a dotted path)."""
    return make_renderer(name, **options).render(view, budget=budget, count_tokens=count_tokens)


def program_failed(status: str, message: str) -> str:
    """The feedback when the program failed with no test outcome to show (e.g. it did not load)."""
    return f"The program failed ({status}): {message}".strip()


def shown_rendering(view: TraceView, rendering: str, *, budget: int) -> str:
    """What a prompt shows of ``rendering``: nothing when it only repeats the feedback (the ``none`` baseline's
    text, at the default or at the trace ``budget``), else the rendering itself. The agent's render stage (observe.py) and the
    SFT builder both call this, so a prompt and a training example show the same trace section."""
    return "" if rendering in (feedback(view), feedback(view, budget=budget)) else rendering
