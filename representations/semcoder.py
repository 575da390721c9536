"""``semcoder`` (the paper's "SemCoder", code name OUR01): states grouped per line, then the explicit assertion.

**TEST1_RESULT**
* line 0: (1) lst = [3, 1, 2]
* line 3: (3) i = 0; (4) i = 1; ...; (9) i = 5
* line 6: __return__=[1, 1, 1]

TEST1_BUGGY_PROGRAM_OUTPUT = execute(BUGGY_PROGRAM, input1) = [1, 1, 1]
**FAILED**
assert TEST1_BUGGY_PROGRAM_OUTPUT == expect_output1 is False
"""

from __future__ import annotations

from semtrace.representations.base import FramesRenderer, TokenCounter, TraceView
from semtrace.representations.budget import Item, clip_group, fit_items
from semtrace.representations.common import (
    Step,
    actual_text,
    call_text,
    expected_text,
    outcome_is_error,
    steps_from_trace,
    truncation_note,
)


def grouped_bullets(steps: list[Step], first: int = 2, last: int = 1) -> list[str]:
    """``* line k: (a) x = 1; (b) x = 2`` per line in line order; returns and exceptions get bullets of their
    own."""
    states: dict[int, list[str]] = {}
    ends: dict[int, list[str]] = {}
    for s in steps:
        if s.kind in ("input", "state"):
            states.setdefault(s.line, []).append(f"({s.order}) {s.state_text()}")
        elif s.kind == "return":
            ends.setdefault(s.line, []).append(f"__return__={s.value}")
        else:
            ends.setdefault(s.line, []).append(f"__exception__={s.value}")
    out = []
    for line in sorted(set(states) | set(ends)):
        if line in states:
            out.append(f"* line {line}: {clip_group(states[line], first, last)}")
        if line in ends:
            out.append(f"* line {line}: {clip_group(ends[line], first, last)}")
    return out


def assertion_footer(view: TraceView) -> list[str]:
    status = view.outcome.status
    if view.test.kind == "assert" and expected_text(view) is None:
        if status == "passed":
            return [f"assert {view.test.source.strip()} is True", "", "**PASSED**"]
        head = [f"assert {view.test.source.strip()} is False"]
        if outcome_is_error(view):
            head = [f"{call_text(view)} raised {actual_text(view)}"]
        return [*head, "", "**FAILED**", "", "TEST1 failed in BUGGY_PROGRAM"]
    if outcome_is_error(view):
        result = f"TEST1_BUGGY_PROGRAM_OUTPUT = execute(BUGGY_PROGRAM, input1) raised {actual_text(view)}"
        return [result, "", "**FAILED**", "", "TEST1 failed in BUGGY_PROGRAM"]
    result = f"TEST1_BUGGY_PROGRAM_OUTPUT = execute(BUGGY_PROGRAM, input1) = {actual_text(view)}"
    if status == "passed":
        return [result, "", "**PASSED**", "", "assert TEST1_BUGGY_PROGRAM_OUTPUT == expect_output1 is True"]
    return [
        result,
        "",
        "**FAILED**",
        "",
        "assert TEST1_BUGGY_PROGRAM_OUTPUT == expect_output1 is False",
        "",
        "TEST1 failed in BUGGY_PROGRAM",
    ]


def test_header(view: TraceView) -> list[str]:
    head = ["**TEST1**", f"input1 = {call_text(view)}"]
    exp = expected_text(view)
    if exp is not None:
        head.append(f"expect_output1 = {exp}")
    return head


class SemCoderRenderer(FramesRenderer):
    name = "semcoder"

    def text(self, view: TraceView, budget: int, count_tokens: TokenCounter) -> str:
        steps = steps_from_trace(view.trace, self.frames)
        head = [*test_header(view), "", "**TEST1_RESULT**"]
        note = truncation_note(view.trace)
        tail = ([note] if note else []) + [""] + assertion_footer(view)
        if not steps:
            head.append("(no trace: the program did not reach the traced function)")
        text = ""
        for first, last in ((2, 1), (1, 1)):
            items = [Item(b) for b in grouped_bullets(steps, first, last)]
            text = fit_items(head, items, tail, 0, count_tokens)
            if count_tokens(text) <= budget:
                return text
        return fit_items(head, items, tail, budget, count_tokens)
