"""``concise``: one line per state change, ``[Lk] var = value [/Lk]``, inputs first and output last.

[L0] [INPUT] nums = [1, 2, 3] [/INPUT] [/L0]
[L3] total = 1 [/L3]
[L5] [OUTPUT] 6 [/OUTPUT] [/L5]
"""

from __future__ import annotations

from semtrace.representations.base import FramesRenderer, TokenCounter, TraceView
from semtrace.representations.budget import Item, fit_items
from semtrace.representations.common import (
    Step,
    actual_text,
    outcome_is_error,
    steps_from_trace,
    truncation_note,
)


def concise_line(step: Step) -> str:
    n = step.line
    if step.kind == "input":
        return f"[L{n}] [INPUT] {step.state_text()} [/INPUT] [/L{n}]"
    if step.kind == "return":
        return f"[L{n}] [OUTPUT] {step.value} [/OUTPUT] [/L{n}]"
    if step.kind == "exception":
        return f"[L{n}] [EXCEPTION] {step.value} [/EXCEPTION] [/L{n}]"
    return f"[L{n}] {step.state_text()} [/L{n}]"


class ConciseRenderer(FramesRenderer):
    name = "concise"

    def text(self, view: TraceView, budget: int, count_tokens: TokenCounter) -> str:
        steps = steps_from_trace(view.trace, self.frames)
        if not steps:
            return "(no trace: the program did not reach the traced function)"
        head = [concise_line(steps[0])] if steps[0].kind == "input" else []
        body_steps = steps[len(head) :]
        tail_steps = (
            [body_steps.pop()] if body_steps and body_steps[-1].kind in ("return", "exception") else []
        )
        items = [Item(concise_line(s), s.line if s.kind == "state" else None) for s in body_steps]
        tail = [concise_line(s) for s in tail_steps]
        if view.test.kind == "stdio" and not outcome_is_error(view):
            tail.append(
                f"[OUTPUT] {actual_text(view)} [/OUTPUT]"
            )  # a whole program's result is what it printed
        note = truncation_note(view.trace)
        return fit_items(head, items, tail + ([note] if note else []), budget, count_tokens)
