"""A canonical digest of a value that agrees with ``==`` on builtin values (stdlib only; shipped beside
``runner.py``): set and dict order ignored, ``2.0`` written as ``2``, big ints in hex. Expected outputs too large to
ship as source are stored as this digest (EvalPlus calibration) and a value too large to report whole travels as
it (computed in the child: it never holds the expected digest, so a forged one is no better than a wrong value).
"""

from __future__ import annotations

import hashlib
import sys
from typing import Any, Dict

BIG_INT_BITS = 8192  # ints above this are written in hex in the canonical form (decimal conversion is quadratic)


class unlimited_digits:
    """Lift Python's 4,300-digit guard on int <-> str for a block (the digits come from our own encoder)."""

    def __enter__(self) -> None:
        self.old = sys.get_int_max_str_digits() if hasattr(sys, "get_int_max_str_digits") else None
        if self.old:
            sys.set_int_max_str_digits(0)

    def __exit__(self, *exc: Any) -> None:
        if self.old:
            sys.set_int_max_str_digits(self.old)


class Digest:
    """A value reported as its ``digest`` (too large to ship whole); equals nothing, matches a digest test."""

    def __init__(self, hexdigest: str) -> None:
        self.hex = hexdigest

    def __eq__(self, other: object) -> bool:
        return False

    def __hash__(self) -> int:
        return id(self)

    def __repr__(self) -> str:
        return "<a large value with digest %s>" % self.hex[:16]


def digest_form(value: Any) -> Dict[str, str]:
    """The report of a value too large to ship: its canonical digest (computed in the child). Safe to accept: the
    child never holds the expected digest, so a forged one is no better than a wrong value."""
    return {"digest": digest(value)}


_PLAIN = (str, int, bool, type(None), bytes)
_SMALL = 1 << BIG_INT_BITS


def _int_text(v: int) -> bytes:
    return repr(v).encode() if -_SMALL < v < _SMALL else b"0x" + format(v, "x").encode()


def _canon(v: Any) -> bytes:
    out: list = []
    _feed(out.append, v)
    return b"".join(out)


_PLAIN_SET = frozenset(_PLAIN)


def _all_plain(v: Any) -> bool:
    kinds = set(map(type, v))  # C-level: this check runs once per inner tuple of multi-million-item outputs
    if not kinds <= _PLAIN_SET:
        return False
    return int not in kinds or all(-_SMALL < x < _SMALL for x in v if type(x) is int)


def _feed(put: Any, v: Any) -> None:
    t = type(v)
    if t is list or t is tuple:
        if _all_plain(v):  # the common case, in one repr: "[1, 'a']" / "(1, 'a')"
            if t is list:
                put(repr(v).encode())
            elif len(v) == 1:
                put(b"(" + repr(v[0]).encode() + b")")
            else:
                put(repr(v).encode())
            return
        put(b"[" if t is list else b"(")
        for j, x in enumerate(v):
            if j:
                put(b", ")
            _feed(put, x)
        put(b"]" if t is list else b")")
    elif t is int:
        put(_int_text(v))
    elif t in _PLAIN:
        put(repr(v).encode())
    elif t is float:
        put(_int_text(int(v)) if v.is_integer() else repr(v).encode())
    elif t is complex:
        put(repr(v).encode())
    elif t is dict:
        put(b"{" + b", ".join(sorted(_canon(k) + b": " + _canon(x) for k, x in v.items())) + b"}")
    elif t is set or t is frozenset:
        put(b"set{" + b", ".join(sorted(_canon(x) for x in v)) + b"}")
    else:
        raise TypeError("cannot digest a %s" % t.__name__)


def digest(value: Any) -> str:
    h = hashlib.sha256()
    with unlimited_digits():
        _feed(h.update, value)
    return h.hexdigest()
