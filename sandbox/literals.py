"""The restricted evaluator for expected values (stdlib only; shipped into the sandbox beside runner.py).

Dataset-provided expected-value source (``[1, 2]``, ``float('inf')``, ``{'a': (1, 2)}``) is evaluated on the
judge side with no names, attributes or calls beyond builtin constructors; candidates never reach it.
"""

from __future__ import annotations

import ast
import math
from typing import Any, Dict

try:  # imported as semtrace.sandbox.literals on the host, as a script inside the sandbox
    from .digest import unlimited_digits  # type: ignore[no-redef]
except ImportError:
    from digest import unlimited_digits  # type: ignore[no-redef]

__all__ = ["UnsafeExpression", "eval_expected", "looks_literal"]


_SAFE_CALLS = {"float": float, "int": int, "str": str, "set": set, "frozenset": frozenset, "tuple": tuple,
               "list": list, "dict": dict, "bool": bool, "complex": complex, "bytes": bytes, "range": range}
_SAFE_NAMES = {"True": True, "False": False, "None": None, "inf": math.inf, "nan": math.nan}
_ALLOWED_NODES = (ast.Expression, ast.Constant, ast.List, ast.Tuple, ast.Set, ast.Dict, ast.UnaryOp, ast.BinOp,
                  ast.USub, ast.UAdd, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Load,
                  ast.Call, ast.Name, ast.Not, ast.keyword, ast.Starred, ast.Pow)


class UnsafeExpression(ValueError):
    pass


def _check_safe(tree: ast.AST) -> None:
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            raise UnsafeExpression("not a literal expression: %s" % type(node).__name__)
        if isinstance(node, ast.Name) and node.id not in _SAFE_NAMES and node.id not in _SAFE_CALLS:
            raise UnsafeExpression("name %r is not allowed in an expected value" % node.id)
        if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name) and node.func.id in _SAFE_CALLS):
            raise UnsafeExpression("only builtin constructors may be called in an expected value")
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            right = node.right
            if not (isinstance(right, ast.Constant) and isinstance(right.value, int) and abs(right.value) < 4096):
                raise UnsafeExpression("unbounded power in an expected value")


def looks_literal(node: ast.AST) -> bool:
    """Whether ``eval_expected`` could accept ``node`` (a cheap check on the tree, before any unparse)."""
    try:
        _check_safe(node)
    except UnsafeExpression:
        return False
    return True


_EVAL_CACHE: Dict[str, Any] = {}


def eval_expected(source: str) -> Any:
    """Evaluate dataset-provided expected-value source without names, attributes or arbitrary calls."""
    if source in _EVAL_CACHE:
        return _EVAL_CACHE[source]
    with unlimited_digits():  # dataset and calibration literals may hold big ints; candidates never reach here
        tree = ast.parse(source.strip(), mode="eval")
    _check_safe(tree)
    scope: Dict[str, Any] = {"__builtins__": {}}
    scope.update(_SAFE_CALLS)
    scope.update(_SAFE_NAMES)
    with unlimited_digits():
        value = eval(compile(tree, "<expected>", "eval"), scope)
    if len(_EVAL_CACHE) < 50_000:
        _EVAL_CACHE[source] = value
    return value
