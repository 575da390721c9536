"""``next`` (NExT-style): states as inline comments on the code lines.

    def f(xs): #(1) ['xs = [1, 2, 3, 4]']
        total = 0 #(2) ['total = 0']
        for x in xs: #(3) ['x = 1']; (5) ['x = 2']; ...; (9) ['x = 4']
            total += x #(4) ['total = 1']; (6) ['total = 3']; ...; (10) ['total = 10']
        return total #__return__=10

A line with more than three states shows the first two, ``...`` and the last (the ``(k)`` numbers say how many
were left out). Over budget: the first and last only, then whole lines' comments are replaced by a count.
"""

from __future__ import annotations

from semtrace.representations.base import FramesRenderer, TokenCounter, TraceView
from semtrace.representations.budget import clip_group
from semtrace.representations.common import Step, code_lines, steps_from_trace, truncation_note


def _annotations(steps: list[Step]) -> tuple[dict[int, list[str]], dict[int, list[str]]]:
    states: dict[int, list[str]] = {}
    ends: dict[int, list[str]] = {}
    for s in steps:
        if s.kind in ("input", "state"):
            line = s.line
            if s.kind == "input" and s.depth == 0:
                line = -1  # placed on the traced function's def line below
            states.setdefault(line, []).append(f"({s.order}) {[s.state_text()]!r}")
        elif s.kind == "return":
            ends.setdefault(s.line, []).append(f"__return__={s.value}")
        else:
            ends.setdefault(s.line, []).append(f"__exception__={s.value}")
    return states, ends


def _entry_def_line(view: TraceView) -> int | None:
    if view.trace is None:
        return None
    return next((ev.line for ev in view.trace.events if ev.kind == "call" and ev.depth == 0), None)


class NextRenderer(FramesRenderer):
    name = "next"

    def _render(self, view: TraceView, first: int, last: int, elided: set[int]) -> str:
        steps = steps_from_trace(view.trace, self.frames)
        states, ends = _annotations(steps)
        def_line = _entry_def_line(view)
        if -1 in states and def_line is not None:
            states.setdefault(def_line, [])[:0] = states.pop(-1)
        out = []
        for n, text in enumerate(code_lines(view.code), start=1):
            parts = []
            if n in states:
                if n in elided:
                    parts.append(f"#({len(states[n])} states elided to fit the budget)")
                else:
                    parts.append("#" + clip_group(states[n], first, last))
            if n in ends:
                parts.append("#" + clip_group(ends[n], first, last))
            out.append(f"{text} {' '.join(parts)}" if parts else text)
        note = truncation_note(view.trace)
        if note:
            out.append(f"# {note}")
        return "\n".join(out)

    def text(self, view: TraceView, budget: int, count_tokens: TokenCounter) -> str:
        text = ""
        for first, last in ((2, 1), (1, 1)):
            text = self._render(view, first, last, set())
            if count_tokens(text) <= budget:
                return text
        states, _ = _annotations(steps_from_trace(view.trace, self.frames))
        by_size = sorted((n for n in states if n > 0), key=lambda n: -len(states[n]))
        elided: set[int] = set()
        for n in by_size:
            elided.add(n)
            text = self._render(view, 1, 1, elided)
            if count_tokens(text) <= budget:
                break
        return text
