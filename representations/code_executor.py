"""``code_executor``: after the code, ``<line> <k> <state>var = value</state>`` per state change, then ``<output>``.

<line> <2> <state>min_length = 2</state>
<line> <3> <state>i = 0</state>
<output>[1, 1, 1]</output>
"""

from __future__ import annotations

from semtrace.representations.base import FramesRenderer, TokenCounter, TraceView
from semtrace.representations.budget import Item, fit_items
from semtrace.representations.common import (
    Step,
    actual_text,
    entry_function,
    steps_from_trace,
    truncation_note,
)


def executor_line(step: Step) -> str:
    if step.kind == "exception":
        return f"<line> <{step.line}> <exception>{step.value}</exception>"
    if step.kind == "return":
        return f"<line> <{step.line}> <return>{step.value}</return>"
    return f"<line> <{step.line}> <state>{step.state_text()}</state>"


class CodeExecutorRenderer(FramesRenderer):
    name = "code_executor"

    def text(self, view: TraceView, budget: int, count_tokens: TokenCounter) -> str:
        steps = steps_from_trace(view.trace, self.frames)
        entry = entry_function(view.trace)
        items: list[Item] = []
        returned = False
        for s in steps:
            if s.kind == "input":
                continue  # the inputs are in the test
            if s.kind == "return" and s.func == entry:
                items.append(Item(f"<output>{s.value}</output>"))  # every return of the tested function
                returned = returned or s.depth == 0
            else:
                items.append(Item(executor_line(s), s.line if s.kind == "state" else None))
        tail = []
        note = truncation_note(view.trace)
        if note:
            tail.append(note)
        if view.test.kind == "stdio" and view.outcome.status in ("passed", "failed"):
            tail.append(
                f"<output>{actual_text(view)}</output>"
            )  # a whole program's result is what it printed
        elif not returned:
            tail.append(f"<error>{actual_text(view)}</error>")
        elif items and items[-1].text.startswith("<output>"):
            tail.append(items.pop().text)  # the final result is never cut
        return fit_items([], items, tail, budget, count_tokens)
