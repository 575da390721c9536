"""``contrast`` (ours): the failing test's run next to a passing visible test's run, aligned by line.

    failing: f([3, 1]) -> 1 (expected 3)
    passing: f([1, 3]) -> 3 (as expected)
    line | failing               | passing
    L0   | xs = [3, 1]           | xs = [1, 3]
    L2   | best = 3              | best = 1
    >>> first divergence: control flow; the failing run goes to line 5, the passing run to line 4
    L5   | (executed)            |
    ...

Steps of the outermost call are aligned on their sequence of executed lines (``difflib``); the first point where
the two runs execute different lines, or the same line changes different variables, is marked ``>>>``. Without a
passing trace this falls back to ``concise``. It declares ``uses_passing = True``, so callers trace a passing
visible test too (``TraceSpec(include_passing=True)``).
"""

from __future__ import annotations

import difflib

from semtrace.representations.base import RendererBase, TokenCounter, TraceView
from semtrace.representations.budget import Item, fit_items
from semtrace.representations.common import actual_text, call_text, expected_text, truncation_note
from semtrace.representations.concise import ConciseRenderer
from semtrace.sandbox.trace import Trace, TraceEvent


def _entry_steps(trace: Trace) -> list[TraceEvent]:
    """The outermost call's inputs, executed lines, return and exceptions."""
    return [ev for ev in trace.events if ev.depth == 0]


def _cell(ev: TraceEvent | None) -> str:
    if ev is None:
        return ""
    if ev.kind == "call":
        return ", ".join(f"{n} = {v}" for n, v in ev.changes)
    if ev.kind == "return":
        return f"return {ev.value}"
    if ev.kind == "exception":
        return f"raised {ev.value}"
    return ", ".join(f"{n} = {v}" for n, v in ev.changes) or "(executed)"


def _label(ev: TraceEvent) -> str:
    return "L0" if ev.kind == "call" else f"L{ev.line}"


def _key(ev: TraceEvent) -> tuple[str, int]:
    return (ev.kind, 0 if ev.kind == "call" else ev.line)


class ContrastRenderer(RendererBase):
    name = "contrast"
    uses_passing = True

    def text(self, view: TraceView, budget: int, count_tokens: TokenCounter) -> str:
        if view.passing is None or view.trace is None or view.passing[2] is None:
            text = ConciseRenderer(frames="entry").render(view, budget=budget, count_tokens=count_tokens)
            return "(no passing test to contrast with; the failing run alone)\n" + text
        p_test, p_outcome, p_trace = view.passing
        fail, ok = _entry_steps(view.trace), _entry_steps(p_trace)
        exp = expected_text(view)
        p_call = (
            f"{p_test.func or view.entry_point or 'f'}({p_test.args})"
            if p_test.kind == "call"
            else p_test.source.strip()
        )
        head = [
            f"failing: {call_text(view)} -> {actual_text(view)}" + (f" (expected {exp})" if exp else ""),
            f"passing: {p_call} -> {p_outcome.actual if p_outcome.actual is not None else 'ok'} (as expected)",
        ]
        rows: list[tuple[str, str, str, int | None]] = []
        divergence: int | None = None
        matcher = difflib.SequenceMatcher(a=[_key(e) for e in fail], b=[_key(e) for e in ok], autojunk=False)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag == "equal":
                for a, b in zip(fail[i1:i2], ok[j1:j2]):
                    if (
                        divergence is None
                        and a.kind == "line"
                        and [n for n, _ in a.changes] != [n for n, _ in b.changes]
                    ):
                        divergence = len(rows)
                        set_a = ", ".join(n for n, _ in a.changes) or "nothing"
                        set_b = ", ".join(n for n, _ in b.changes) or "nothing"
                        rows.append(
                            (
                                (
                                    f">>> first divergence at line {a.line}: the failing run sets {set_a}, "
                                    f"the passing run sets {set_b}"
                                ),
                                "",
                                "",
                                None,
                            )
                        )
                    rows.append((_label(a), _cell(a), _cell(b), a.line))
                continue
            if divergence is None:
                divergence = len(rows)
                if i1 == i2:
                    what = f"the passing run executes line {ok[j1].line}, the failing run skips it"
                elif j1 == j2:
                    what = f"the failing run executes line {fail[i1].line}, the passing run skips it"
                else:
                    what = (
                        f"the failing run goes to line {fail[i1].line}, the passing run to line {ok[j1].line}"
                    )
                rows.append((f">>> first divergence: control flow; {what}", "", "", None))
            for k in range(max(i2 - i1, j2 - j1)):
                f_ev = fail[i1 + k] if i1 + k < i2 else None
                p_ev = ok[j1 + k] if j1 + k < j2 else None
                ev = f_ev or p_ev
                assert ev is not None
                label = _label(ev)
                if f_ev is not None and p_ev is not None and _key(f_ev) != _key(p_ev):
                    label = f"{_label(f_ev)}/{_label(p_ev)}"
                rows.append((label, _cell(f_ev), _cell(p_ev), ev.line))
        width = min(48, max([len(r[1]) for r in rows if r[3] is not None] + [7]))
        lw = max([len(r[0]) for r in rows if r[3] is not None] + [4]) + 1
        items = []
        for label, cell_f, cell_p, line in rows:
            if line is None:
                items.append(Item(label))
            else:
                items.append(Item(f"{label:<{lw}}| {cell_f:<{width}} | {cell_p}".rstrip(), line))
        if divergence is None:
            head.append("(both runs execute the same lines; compare the values)")
        head.append(f"{'line':<{lw}}| {'failing':<{width}} | passing")
        notes = [n for n in (truncation_note(view.trace), truncation_note(p_trace)) if n]
        return fit_items(head, items, notes, budget, count_tokens)
