"""``none``: the failing test, expected vs actual, the error; no trace (the paper's baseline)."""

from __future__ import annotations

from semtrace.representations.base import TokenCounter, TraceView, approx_tokens
from semtrace.representations.budget import Item, fit_items
from semtrace.representations.common import actual_text, call_text, expected_text, outcome_is_error


class NoTrace:
    name = "none"

    def render(
        self, view: TraceView, *, budget: int = 2048, count_tokens: TokenCounter = approx_tokens
    ) -> str:
        head = [f"Test: {call_text(view)}"]
        exp = expected_text(view)
        if exp is not None:
            head.append(f"Expected output: {exp}")
        label = "Error" if outcome_is_error(view) else "Actual output"
        if view.test.kind == "assert" and view.outcome.status == "failed" and view.outcome.actual is None:
            label = "Result"
        first, *rest = actual_text(view).split("\n")
        body = [Item(f"{label}: {first}")] + [Item(f"  {line}") for line in rest]
        return fit_items(head, body, [f"Status: {view.outcome.status}"], budget, count_tokens)
