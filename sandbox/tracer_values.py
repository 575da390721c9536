"""How the tracer writes values (stdlib only; shipped beside ``tracer.py``): capped reprs without memory addresses,
exception text, and the comprehension lines that 3.12+ inlines into their enclosing frame.
"""

from __future__ import annotations

import ast
import itertools
import re
import sys
from typing import Any, Optional, Tuple

INLINED_COMPREHENSIONS = sys.version_info >= (3, 12)
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _long_container_prefix(value: Any, max_len: int) -> Optional[str]:
    """For a built-in container too long to show, the first ``max_len`` characters of its repr without building
    all of it (a loop growing a big list would otherwise cost a full repr per step)."""
    kind = type(value)
    if kind not in (list, tuple, set, frozenset, dict) or len(value) * 3 <= max_len + 3:
        return None
    k = max_len // 3 + 2  # every item takes at least 3 characters ("x, ")
    if kind is dict:
        body = ", ".join("%r: %r" % item for item in itertools.islice(value.items(), k))
        opening = "{"
    else:
        body = ", ".join(map(repr, itertools.islice(value, k)))
        opening = {list: "[", tuple: "(", set: "{", frozenset: "frozenset({"}[kind]
    text = opening + body
    if " at 0x" in text:
        text = _ADDRESS.sub("", text)
    return "%s...<%d items>" % (text[:max_len], len(value))


def format_value(value: Any, max_len: int) -> str:
    """``repr`` with memory addresses removed and capped to ``max_len`` characters plus a marker."""
    if max_len:
        try:
            prefix = _long_container_prefix(value, max_len)
        except Exception:  # a candidate's broken __repr__ inside
            prefix = None
        if prefix is not None:
            return prefix
    try:
        text = repr(value)
    except Exception as exc:  # a candidate's broken __repr__
        text = "<repr failed: %s>" % type(exc).__name__
    if " at 0x" in text:
        text = _ADDRESS.sub("", text)
    if max_len and len(text) > max_len:
        text = "%s...<+%d chars>" % (text[:max_len], len(text) - max_len)
    return text


def format_exception(exc: BaseException, max_len: int) -> str:
    message = str(exc)
    if max_len and len(message) > max_len:
        message = "%s...<+%d chars>" % (message[:max_len], len(message) - max_len)
    return "%s: %s" % (type(exc).__name__, message) if message else type(exc).__name__


def comprehension_lines(filename: str) -> Tuple[frozenset, frozenset]:
    """Lines that hold an inlined comprehension, and the continuation lines of multi-line ones (3.12+ only)."""
    if not INLINED_COMPREHENSIONS:
        return frozenset(), frozenset()
    try:
        with open(filename, encoding="utf-8") as handle:
            tree = ast.parse(handle.read())
    except (OSError, SyntaxError, ValueError):
        return frozenset(), frozenset()
    first, inner = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp)):
            end = getattr(node, "end_lineno", None) or node.lineno
            first.update(range(node.lineno, end + 1))
            inner.update(range(node.lineno + 1, end + 1))
    statement_starts = {n.lineno for n in ast.walk(tree) if isinstance(n, ast.stmt)}
    return frozenset(first), frozenset(inner - statement_starts)
