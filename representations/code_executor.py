"""``code_executor``: ``<line> <k> <state>var = value</state>`` per state change after the code, then ``<output>``.

    <line> <2> <state>min_length = 2</state>
    <line> <3> <state>i = 0</state>
    <output>[1, 1, 1]</output>
"""

from __future__ import annotations

from semtrace.representations.base import TokenCounter, TraceView, approx_tokens
from semtrace.representations.budget import Item, fit_items
from semtrace.representations.common import Frames, Step, actual_text, steps_from_trace, truncation_note


def executor_line(step: Step) -> str:
    if step.kind == "exception":
        return f"<line> <{step.line}> <exception>{step.value}</exception>"
    if step.kind == "return":
        return f"<line> <{step.line}> <return>{step.value}</return>"
    return f"<line> <{step.line}> <state>{step.state_text()}</state>"


class CodeExecutorRenderer:
    name = "code_executor"

    def __init__(self, frames: Frames = "entry") -> None:
        self.frames: Frames = frames

    def render(self, view: TraceView, *, budget: int = 2048, count_tokens: TokenCounter = approx_tokens) -> str:
        steps = steps_from_trace(view.trace, self.frames)
        # inputs are in the test; returns of the outermost frame are the <output>
        shown = [s for s in steps if s.kind != "input" and not (s.kind == "return" and s.depth == 0)]
        items = [Item(executor_line(s), s.line if s.kind == "state" else None) for s in shown]
        tail = []
        note = truncation_note(view.trace)
        if note:
            tail.append(note)
        returns = [s for s in steps if s.kind == "return" and s.depth == 0]
        if returns:
            tail.append(f"<output>{returns[-1].value}</output>")
        else:
            tail.append(f"<error>{actual_text(view)}</error>")
        return fit_items([], items, tail, budget, count_tokens)
