"""JSON round-trip for the frozen dataclasses that carry data through semtrace.

``to_jsonable(obj)`` turns dataclasses, tuples, dicts and primitives into JSON-able values;
``from_jsonable(cls, data)`` rebuilds an instance from them, driven by the dataclass's type hints.

Both are compiled once per type: the type hints are read into one small function per type (``_decoder``) and a
dataclass's field names are looked up once per class (``_field_names``), so a trace of a few hundred events is
decoded without re-reading ``typing`` for every event (the orchestrator decodes every sandbox result).
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Callable
from functools import lru_cache
from typing import Any, Union, get_args, get_origin

_PLAIN = (str, int, float, bool, type(None))


@lru_cache(maxsize=None)
def _field_names(cls: type) -> tuple[str, ...] | None:
    """A dataclass's field names (None for any other class)."""
    if dataclasses.is_dataclass(cls):
        return tuple(f.name for f in dataclasses.fields(cls))
    return None


def to_jsonable(obj: Any) -> Any:
    cls = type(obj)
    if cls in _PLAIN:
        return obj
    names = _field_names(cls)
    if names is not None:
        return {name: to_jsonable(getattr(obj, name)) for name in names}
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(x) for x in obj]
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    return obj


@lru_cache(maxsize=None)
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def from_jsonable(tp: Any, data: Any) -> Any:
    return _decoder(tp)(data)


Decoder = Callable[[Any], Any]
_DECODERS: dict[tuple[Any, str], Decoder] = {}


def _same(data: Any) -> Any:
    return data


def _decoder(tp: Any) -> Decoder:
    """The function that rebuilds a value of type ``tp`` from its JSON form, built once per type. Keyed by the
    type and its repr: ``int | str`` and ``str | int`` are equal (and hash alike) but are tried in their own order."""
    try:
        key = (tp, repr(tp))
        known = _DECODERS.get(key)
    except TypeError:  # an annotation that cannot be hashed (Annotated with a dict): built each time
        return _build(tp)
    if known is None:
        known = _DECODERS[key] = _build(tp)
    return known


def _part(tp: Any) -> Decoder:
    """The decoder of a part of a type (an item, a member, a field). One that cannot be built (``typing.Dict``
    bare) fails when it is used, with the error it fails with, as the uncompiled decoder did."""
    try:
        return _decoder(tp)
    except Exception:  # noqa: BLE001 - raised again, at the same moment as before, by the call below
        return lambda data: _decoder(tp)(data)


def _build(tp: Any) -> Decoder:
    origin = get_origin(tp)
    if tp is Any:
        return _same
    if origin in (Union, types.UnionType):
        return _union(tp)
    if tp is type(None):
        return _plain(type(None), None)
    if origin is typing.Literal:
        allowed = get_args(tp)

        def literal(data: Any) -> Any:
            if data not in allowed:
                raise ValueError(f"{data!r} is not one of {allowed}")
            return data

        return literal
    if origin is tuple:
        args = get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return _same_type_items(_part(args[0]), tuple)
        items = tuple(_part(a) for a in args)
        return lambda data: tuple(dec(x) for dec, x in zip(items, data))
    if origin is list:
        (arg,) = get_args(tp)
        return _same_type_items(_part(arg), list)
    if origin is dict:
        kt, vt = get_args(tp)
        key, value = (None if kt is str else _part(kt)), _part(vt)
        if key is None:
            return lambda data: {k: value(v) for k, v in data.items()}
        return lambda data: {key(k): value(v) for k, v in data.items()}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _dataclass(tp)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp
    if tp is float:
        return _plain(float, lambda d: float(d) if isinstance(d, int) else d)
    if tp is int:
        return _plain(int, lambda d: int(d) if isinstance(d, str) else d)
    if isinstance(tp, type) and tp is not object:
        return _plain(tp, None)
    return _same


def _same_type_items(item: Decoder, make: type) -> Decoder:
    if item is _same:
        return lambda data: make(data)
    return lambda data: make(item(x) for x in data)


def _plain(tp: type, convert: Decoder | None) -> Decoder:
    """A plain type: a conversion first (int -> float, str -> int), then the value must be an instance of it."""

    def plain(data: Any) -> Any:
        if convert is not None:
            data = convert(data)
        if not isinstance(data, tp):
            raise TypeError(f"expected {tp.__name__}, got {type(data).__name__}")
        return data

    return plain


def _union(tp: Any) -> Decoder:
    """A union: None stays None; otherwise the first member, in the union's order, the value fits."""
    members = [_part(a) for a in get_args(tp) if a is not type(None)]

    def union(data: Any) -> Any:
        if data is None:
            return None
        for member in members:
            try:
                return member(data)
            except (TypeError, ValueError, KeyError):
                continue
        raise ValueError(f"{data!r} does not fit {tp}")

    return union


def _dataclass(tp: type) -> Decoder:
    """A dataclass from an object: each field present decoded by its type's decoder (fields are read on first use,
    so a dataclass may refer to itself)."""
    fields: list[tuple[tuple[str, Decoder], ...]] = []

    def dataclass(data: Any) -> Any:
        if not isinstance(data, dict):
            raise TypeError(f"{tp.__name__} needs an object, got {type(data).__name__}")
        if not fields:
            hints = _hints(tp)
            fields.append(tuple((f.name, _part(hints[f.name])) for f in dataclasses.fields(tp)))
        return tp(**{name: dec(data[name]) for name, dec in fields[0] if name in data})

    return dataclass
