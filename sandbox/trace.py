"""The structured execution trace (host side). JSON-able; all text happens in ``representations/``.

The in-sandbox tracer (``sandbox/tracer.py``, stdlib only) emits exactly this shape as plain dicts.

``to_dict``/``from_dict`` are hand-written (the orchestrator decodes every event of every trace it gets back): they
give the same values and raise the same errors as ``semtrace.jsonable``. A decoder's fast path takes what the tracer
writes (a plain dict; for an event every key, for a trace a missing optional key is its default) with each value of
its field's own JSON type; any other value (``"3"`` for an int, a tuple for a list, a wrong type) goes to the generic
decoder of that field's type, and any other object (a missing key the fast path needs, a dict subclass, not a dict)
to the generic decoder of the class, so conversions and errors are the generic ones by construction.
``tests/sandbox/test_fast_codec.py`` checks both directions against ``jsonable`` on random and corrupted traces.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from functools import partial
from operator import itemgetter
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

    def to_dict(self) -> dict[str, Any]:
        return event_to_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TraceEvent:
        return event_from_dict(data) if cls is TraceEvent else from_jsonable(cls, data)


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
        return trace_to_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Trace:
        return trace_from_dict(data) if cls is Trace else from_jsonable(cls, data)


Decoder = Callable[[Any], Any]


def field_decoders(cls: type) -> dict[str, Decoder]:
    """The generic decoder of each field's type: where a fast path hands a value it does not take as it is."""
    hints = typing.get_type_hints(cls)
    return {f.name: partial(from_jsonable, hints[f.name]) for f in fields(cls)}


# The keys each codec handles, in field order (the tests check them against ``dataclasses.fields``).
EVENT_FIELDS = ("order", "kind", "line", "func", "depth", "changes", "value", "caller_line")
TRACE_FIELDS = ("test_index", "events", "truncated", "truncated_at", "line_hits", "backend")

_EVENT_KINDS = typing.get_args(EventKind)
_event_items = itemgetter(*EVENT_FIELDS)
_event = field_decoders(TraceEvent)
_trace = field_decoders(Trace)
_event_generic = partial(from_jsonable, TraceEvent)
_trace_generic = partial(from_jsonable, Trace)
_pair_generic = partial(from_jsonable, tuple[str, str])
_int_generic = partial(from_jsonable, int)


def _pairs(data: list[Any]) -> tuple[tuple[str, str], ...]:
    """``changes`` from a list: ``[name, repr]`` pairs of strings as they are, anything else the generic way."""
    out = []
    for pair in data:
        if pair.__class__ is list and len(pair) == 2:
            name, text = pair
            if name.__class__ is str and text.__class__ is str:
                out.append((name, text))
                continue
        out.append(_pair_generic(pair))
    return tuple(out)


def event_from_dict(data: Any) -> TraceEvent:
    if data.__class__ is not dict:
        return _event_generic(data)
    try:
        order, kind, line, func, depth, changes, value, caller_line = _event_items(data)
    except KeyError:  # not the tracer's shape (every key): the generic decoder, defaults and errors included
        return _event_generic(data)
    if order.__class__ is not int:
        order = _event["order"](order)
    if kind.__class__ is not str or kind not in _EVENT_KINDS:
        kind = _event["kind"](kind)
    if line.__class__ is not int:
        line = _event["line"](line)
    if func.__class__ is not str:
        func = _event["func"](func)
    if depth.__class__ is not int:
        depth = _event["depth"](depth)
    if changes.__class__ is list:
        changes = _pairs(changes) if changes else ()
    else:
        changes = _event["changes"](changes)
    if value is not None and value.__class__ is not str:
        value = _event["value"](value)
    if caller_line is not None and caller_line.__class__ is not int:
        caller_line = _event["caller_line"](caller_line)
    return TraceEvent(order, kind, line, func, depth, changes, value, caller_line)


def event_to_dict(event: TraceEvent) -> dict[str, Any]:
    """As ``to_jsonable`` writes an event whose fields hold their annotated types."""
    if event.__class__ is not TraceEvent:
        return to_jsonable(event)
    return {"order": event.order, "kind": event.kind, "line": event.line, "func": event.func, "depth": event.depth,
            "changes": [[*pair] for pair in event.changes], "value": event.value, "caller_line": event.caller_line}


def _line_hits(data: Any) -> dict[int, int]:
    """``line_hits`` (JSON keys are strings: ``"12"`` -> 12, as the generic ``dict[int, int]`` decoder does)."""
    out = {}
    for key, count in data.items():
        if key.__class__ is str:
            key = int(key)
        elif key.__class__ is not int:
            key = _int_generic(key)
        if count.__class__ is not int:
            count = _int_generic(count)
        out[key] = count
    return out


_MISSING: Any = object()


def _as(value: Any, cls: type, decode: Any) -> Any:
    """``value`` when it already is exactly a ``cls`` (the usual case), else what the field's decoder makes of it."""
    return value if value.__class__ is cls else decode(value)


def _required(get: Any, name: str, cls: type, decoders: dict[str, Any]) -> Any:
    """A required field: ``_MISSING`` when absent (the generic decoder then says so, after any earlier field's
    error), else as ``_as``."""
    value = get(name, _MISSING)
    return value if value is _MISSING else _as(value, cls, decoders[name])


def trace_from_dict(data: Any) -> Trace:
    if data.__class__ is not dict or (test_index := _required(data.get, "test_index", int, _trace)) is _MISSING:
        return _trace_generic(data)
    get = data.get
    events = tuple([event_from_dict(e) for e in get("events", ())])  # any iterable, as tuple(...) takes it
    truncated = get("truncated", False)
    if truncated.__class__ is not bool:
        truncated = _trace["truncated"](truncated)
    truncated_at = get("truncated_at")
    if truncated_at is not None and truncated_at.__class__ is not int:
        truncated_at = _trace["truncated_at"](truncated_at)
    line_hits = _line_hits(get("line_hits", {}))
    backend = get("backend", "")
    if backend.__class__ is not str:
        backend = _trace["backend"](backend)
    return Trace(test_index=test_index, events=events, truncated=truncated, truncated_at=truncated_at,
                 line_hits=line_hits, backend=backend)


def trace_to_dict(trace: Trace) -> dict[str, Any]:
    """As ``to_jsonable`` writes a trace whose fields hold their annotated types (``line_hits`` keys: strings)."""
    if trace.__class__ is not Trace:
        return to_jsonable(trace)
    return {"test_index": trace.test_index, "events": [event_to_dict(e) for e in trace.events],
            "truncated": trace.truncated, "truncated_at": trace.truncated_at,
            "line_hits": {str(k): v for k, v in trace.line_hits.items()}, "backend": trace.backend}
