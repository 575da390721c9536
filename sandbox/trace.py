"""The structured execution trace (host side). JSON-able; all text happens in ``representations/``.

The in-sandbox tracer (``sandbox/tracer.py``, stdlib only) emits exactly this shape as plain dicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from semtrace.jsonable import from_jsonable, to_jsonable

EventKind = Literal["call", "line", "return", "exception"]


@dataclass(frozen=True)
class TraceEvent:
    """One event in a frame of the candidate program.

    ``order``: global order number (1-based) over the whole trace. ``line``: line number in the candidate's source
    (1-based). ``func``: function name ("<module>" for top level). ``depth``: call depth, 0 = outermost traced frame.
    ``changes``: for ``line`` the (name, repr) pairs the line created or changed, for ``call`` the arguments.
    ``value``: the return value's repr (``return``) or "Type: message" (``exception``).
    ``caller_line``: for ``call``, the line of the candidate frame that made the call (None from outside).
    """

    order: int
    kind: EventKind
    line: int
    func: str
    depth: int
    changes: tuple[tuple[str, str], ...] = ()
    value: str | None = None
    caller_line: int | None = None


@dataclass(frozen=True)
class Trace:
    """The trace of one test of one program."""

    test_index: int
    events: tuple[TraceEvent, ...] = ()
    truncated: bool = False
    truncated_at: int | None = None
    line_hits: dict[int, int] = field(default_factory=dict)
    backend: str = ""

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Trace":
        return from_jsonable(cls, data)
