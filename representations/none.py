"""``none``: the failing test, expected vs actual, the error; no trace (the paper's baseline).

This text is also the agent's feedback on every failing visible test, whatever the representation: the prompt's
``## TESTCASES`` section is the ``none`` rendering of the same :class:`TraceView` (``views.feedback``).
"""

from __future__ import annotations

from semtrace.representations.base import RendererBase, TokenCounter, TraceView
from semtrace.representations.budget import Item, fit_items
from semtrace.representations.common import cap


def feedback_lines(view: TraceView) -> list[str]:
    """The test's input, expected output, and the actual output or error (each value capped by ``common.cap``)."""
    test, outcome = view.test, view.outcome
    lines = []
    if test.kind == "call":
        lines.append(f"Input: {test.func or view.entry_point}({test.args})")
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
    return lines


class NoTrace(RendererBase):
    name = "none"
    needs_trace = False

    def text(self, view: TraceView, budget: int, count_tokens: TokenCounter) -> str:
        lines = "\n".join(feedback_lines(view)).split("\n")
        return fit_items(lines[:1], [Item(line) for line in lines[1:]], [], budget, count_tokens)
