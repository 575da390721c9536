"""Shared pieces of the renderers: state steps from a trace, the test's description, numbering conventions.

Conventions (the paper's, without its defects): the frames shown are those of the function the test called,
recursive calls included (``frames="all"`` adds helper functions); line numbers are the candidate's own source
lines; "line 0" holds a call's inputs; ``(k)`` is the global order of state changes in the run (the inputs are
``(1)``); the changed variables of one step are listed in the order the program created them (the paper reversed
them); the inputs are shown as plain ``name = value`` pairs (the paper sometimes wrapped them in a list) and
expected values are shown as written in the test (the paper lost their brackets and doubled their quotes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from semtrace.representations.base import Frames, TraceView
from semtrace.sandbox.trace import Trace, TraceEvent

StepKind = Literal["input", "state", "return", "exception"]


@dataclass(frozen=True)
class Step:
    """One thing a renderer may show: inputs of a call, the changes of one line, a return or an exception.

    ``order`` is the state-change number ``(k)`` (0 for returns and exceptions, which carry none); ``line`` is the
    source line (0 for inputs); ``event`` is the trace's global event order; ``depth`` the call depth.
    """

    kind: StepKind
    line: int
    order: int
    changes: tuple[tuple[str, str], ...] = ()
    value: str = ""
    func: str = ""
    depth: int = 0
    event: int = 0

    def state_text(self, sep: str = ", ") -> str:
        return sep.join(f"{name} = {value}" for name, value in self.changes)


def entry_function(trace: Trace | None) -> str | None:
    """The name of the function the test called (the first outermost call)."""
    if trace is None:
        return None
    return next((ev.func for ev in trace.events if ev.kind == "call" and ev.depth == 0), None)


def steps_from_trace(trace: Trace | None, frames: Frames = "entry") -> list[Step]:
    """The state changes of a trace, numbered ``(k)`` in execution order.

    ``frames="entry"`` keeps the frames of the function the test called, recursive calls included (as the paper's
    renderings do); ``"all"`` keeps helper functions too. A nested call's inputs sit on the line that made the call
    (the outermost call's on line 0). Numbering counts only the steps kept.
    """
    if trace is None:
        return []
    entry = entry_function(trace)
    out: list[Step] = []
    k = 0
    for ev in trace.events:
        if frames == "entry" and ev.func != entry:
            continue
        if ev.kind == "call":
            if not ev.changes:
                continue  # no arguments (a whole program run on stdin): nothing to show
            k += 1
            line = 0 if ev.depth == 0 else (ev.caller_line if ev.caller_line is not None else ev.line)
            out.append(
                Step("input", line, k, tuple(ev.changes), func=ev.func, depth=ev.depth, event=ev.order)
            )
        elif ev.kind == "line" and ev.changes:
            k += 1
            out.append(
                Step("state", ev.line, k, tuple(ev.changes), func=ev.func, depth=ev.depth, event=ev.order)
            )
        elif ev.kind == "return":
            if ev.func == "<module>":
                continue  # a whole program's result is its output, not the module's None
            out.append(Step("return", ev.line, 0, (), ev.value or "None", ev.func, ev.depth, ev.order))
        elif ev.kind == "exception":
            out.append(Step("exception", ev.line, 0, (), ev.value or "", ev.func, ev.depth, ev.order))
    return out


def final_exception(trace: Trace | None) -> TraceEvent | None:
    """The exception that escaped the outermost frame, if the run ended with one."""
    if trace is None or not trace.events:
        return None
    last_exc = None
    for ev in trace.events:
        if ev.kind == "exception":
            last_exc = ev
        elif ev.kind == "return" and ev.depth == 0:
            last_exc = None
    return last_exc


def truncation_note(trace: Trace | None) -> str:
    if trace is None or not trace.truncated:
        return ""
    where = f" at line {trace.truncated_at}" if trace.truncated_at is not None else ""
    return (
        f"... the tracer stopped{where} after {len(trace.events)} events (its step budget); "
        "the program ran on untraced ..."
    )


def cap(text: str, limit: int = 600) -> str:
    """``text`` cut to ``limit`` characters, saying how many were cut (for values shown in prompts)."""
    return text if len(text) <= limit else text[: limit - 20] + f"... [{len(text) - limit + 20} chars cut]"


def call_text(view: TraceView) -> str:
    """The test's input as the user would write it."""
    t = view.test
    if t.kind == "call":
        return f"{t.func or view.entry_point or 'f'}({t.args})"
    if t.kind == "stdio":
        return f"stdin = {t.stdin!r}"
    return t.source.strip()


def expected_text(view: TraceView) -> str | None:
    t = view.test
    if t.kind in ("call", "stdio") and t.expected is not None:
        return t.expected.strip() if t.kind == "call" else repr(t.expected)
    return None


def actual_text(view: TraceView) -> str:
    """What the program produced: its value, its output, or its error."""
    o = view.outcome
    if o.actual is not None and o.status in ("passed", "failed"):
        return repr(o.actual) if view.test.kind == "stdio" else o.actual
    if o.status == "timeout":
        return "timeout (the program did not finish in time)"
    if o.status == "oom":
        return "out of memory"
    return o.message or o.status


def outcome_is_error(view: TraceView) -> bool:
    return view.outcome.status not in ("passed", "failed")


def input_lines(view: TraceView) -> list[str]:
    """``input = f(1, 2)`` / ``expected = ...`` / the assertion, for headers of the trace renderings."""
    lines = [f"input: {call_text(view)}"]
    exp = expected_text(view)
    if exp is not None:
        lines.append(f"expected output: {exp}")
    return lines


def code_lines(code: str) -> list[str]:
    return code.rstrip().split("\n")
