"""Judging outside the candidate's process (stdlib only; shipped into the sandbox beside runner.py).

- ``encode`` (runs in the candidate's child): a value -> tagged JSON built from exact builtin types only. Anything
  else (an object with an always-true ``__eq__``, a generator, ...) becomes ``{"opaque": type, "repr": ...}``.
- ``decode`` (runs in the parent): tagged JSON -> plain builtins; opaque values become ``Opaque``, which equals
  nothing. So the comparison in the parent only ever runs builtin ``==``.
- ``to_call_test``: the AST pass that turns ``assert f(...) == <literal>`` into a parent-compared ``call`` test.
- ``judge``: expected (dataset source, evaluated by a restricted evaluator) vs decoded actual.
"""

from __future__ import annotations

import ast
import math
from typing import Any, Dict, List, Optional, Tuple

MAX_ENCODED_ITEMS = 2_000_000
REPR_LIMIT = 1000


class Opaque:
    """A value the parent cannot (and must not) interpret; never equal to anything."""

    def __init__(self, type_name: str, text: str, truth: Optional[bool] = None) -> None:
        self.type_name = type_name
        self.text = text
        self.truth = truth  # bool(value) as reported for library types; None for types the candidate defined

    def __eq__(self, other: object) -> bool:
        return False

    def __ne__(self, other: object) -> bool:
        return True

    def __hash__(self) -> int:
        return id(self)

    def __repr__(self) -> str:
        return self.text


class _Budget:
    def __init__(self) -> None:
        self.left = MAX_ENCODED_ITEMS


def safe_repr(value: Any, limit: int = REPR_LIMIT) -> str:
    try:
        text = repr(value)
    except BaseException as exc:  # a hostile __repr__ must not break the report
        text = "<unrepresentable %s: %s>" % (type(value).__name__, type(exc).__name__)
    if len(text) > limit:
        text = text[:limit] + "...<%d more chars>" % (len(text) - limit)
    return text


def encode(value: Any, _budget: Optional[_Budget] = None) -> Any:
    budget = _budget or _Budget()
    budget.left -= 1
    if budget.left < 0:
        raise OverflowError("value too large to judge")
    t = type(value)
    if value is None or t is bool or t is str:
        return value
    if t is int:
        return value if -(2 ** 53) < value < 2 ** 53 else {"int": str(value)}
    if t is float:
        return value if math.isfinite(value) else {"float": repr(value)}
    if t is list:
        return {"list": [encode(x, budget) for x in value]}
    if t is tuple:
        return {"tuple": [encode(x, budget) for x in value]}
    if t is set or t is frozenset:
        return {"set" if t is set else "frozenset": [encode(x, budget) for x in value]}
    if t is dict:
        return {"dict": [[encode(k, budget), encode(v, budget)] for k, v in value.items()]}
    if t is bytes:
        return {"bytes": value.hex()}
    if t is complex:
        return {"complex": [repr(value.real), repr(value.imag)]}
    # Subclasses of builtins: read them through the base type's own slots, never their overrides.
    if isinstance(value, bool):
        return bool(int.__index__(value))
    if isinstance(value, int):
        return encode(int.__index__(value), budget)
    if isinstance(value, float):
        return encode(float.__float__(value), budget)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, tuple):
        return {"tuple": [encode(tuple.__getitem__(value, i), budget) for i in range(tuple.__len__(value))]}
    if isinstance(value, list):
        return {"list": [encode(list.__getitem__(value, i), budget) for i in range(list.__len__(value))]}
    if isinstance(value, dict):  # Counter, OrderedDict, defaultdict compare equal to a plain dict
        return {"dict": [[encode(k, budget), encode(v, budget)] for k, v in dict.items(value)]}
    if isinstance(value, set):
        return {"set": [encode(x, budget) for x in set.__iter__(value)]}
    if isinstance(value, frozenset):
        return {"frozenset": [encode(x, budget) for x in frozenset.__iter__(value)]}
    opaque = {"opaque": t.__name__, "repr": safe_repr(value, 200)}
    if getattr(t, "__module__", "") != "__candidate__":
        # Truthiness of a library object (a re.Match, ...) is part of `assert f(x)` tests; a type the candidate
        # defined could lie about it, so only library types carry it.
        try:
            opaque["truth"] = bool(value)
        except Exception:
            pass
    return opaque


def decode(data: Any) -> Any:
    if not isinstance(data, dict):
        return data
    if "opaque" in data:
        return Opaque(str(data["opaque"]), str(data.get("repr", "")), data.get("truth"))
    (tag, payload), = data.items()
    if tag == "int":
        return int(payload)
    if tag == "float":
        return float(payload)
    if tag == "list":
        return [decode(x) for x in payload]
    if tag == "tuple":
        return tuple(decode(x) for x in payload)
    if tag == "set":
        return set(decode(x) for x in payload)
    if tag == "frozenset":
        return frozenset(decode(x) for x in payload)
    if tag == "dict":
        return {decode(k): decode(v) for k, v in payload}
    if tag == "bytes":
        return bytes.fromhex(payload)
    if tag == "complex":
        return complex(float(payload[0]), float(payload[1]))
    raise ValueError("unknown value tag %r" % tag)


# --- the restricted evaluator for expected values (dataset source, evaluated in the parent) -----------------------

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


_EVAL_CACHE: Dict[str, Any] = {}


def eval_expected(source: str) -> Any:
    """Evaluate dataset-provided expected-value source without names, attributes or arbitrary calls."""
    if source in _EVAL_CACHE:
        return _EVAL_CACHE[source]
    tree = ast.parse(source.strip(), mode="eval")
    _check_safe(tree)
    scope: Dict[str, Any] = {"__builtins__": {}}
    scope.update(_SAFE_CALLS)
    scope.update(_SAFE_NAMES)
    value = eval(compile(tree, "<expected>", "eval"), scope)
    if len(_EVAL_CACHE) < 50_000:
        _EVAL_CACHE[source] = value
    return value


def _contains_float(value: Any) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, (list, tuple, set, frozenset)):
        return any(_contains_float(x) for x in value)
    if isinstance(value, dict):
        return any(_contains_float(x) for x in value.values())
    return False


def _close(out: Any, exp: Any, atol: float) -> bool:
    if isinstance(out, Opaque) or isinstance(exp, Opaque):
        return False
    num = (int, float)
    if isinstance(out, num) and isinstance(exp, num) and not isinstance(out, bool) and not isinstance(exp, bool):
        if math.isnan(out) or math.isnan(exp):
            return math.isnan(out) and math.isnan(exp)
        if math.isinf(out) or math.isinf(exp):
            return out == exp
        return abs(out - exp) <= atol + 1e-07 * abs(exp)
    if isinstance(out, (list, tuple)) and type(out) is type(exp):
        return len(out) == len(exp) and all(_close(o, e, atol) for o, e in zip(out, exp))
    if isinstance(out, dict) and isinstance(exp, dict):
        return out.keys() == exp.keys() and all(_close(out[k], exp[k], atol) for k in exp)
    return out == exp


def values_equal(out: Any, exp: Any, atol: float = 0.0) -> bool:
    """Builtin equality; floats within ``atol`` (EvalPlus: 1e-6 when the dataset gives 0)."""
    if isinstance(out, Opaque):
        return False
    try:
        if out == exp:
            return True
    except Exception:
        return False
    if atol > 0 or _contains_float(exp):
        return _close(out, exp, atol if atol > 0 else 1e-6)
    return False


def judge(compare: str, actual: Any, expected: Any, atol: float) -> bool:
    if isinstance(actual, Opaque):
        if actual.truth is not None and compare in ("truthy", "falsy"):
            return actual.truth is (compare == "truthy")
        return False
    if compare == "truthy":
        return bool(actual)
    if compare == "falsy":
        return not actual
    if compare == "is":
        return actual is expected
    return values_equal(actual, expected, atol)


# --- the AST pass: assert f(...) == <literal>  ->  call test ------------------------------------------------------

def _defined_names(code: str) -> List[str]:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    return [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]


def _call_of(node: ast.AST, names: set) -> Optional[ast.Call]:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in names:
        return node
    return None


def _literal_source(node: ast.AST) -> Optional[str]:
    source = ast.unparse(node)
    try:
        eval_expected(source)
    except Exception:
        return None
    return source


def to_call_test(test: Dict[str, Any], entry_point: Optional[str], code: str, setup: str) -> Dict[str, Any]:
    """Return ``test`` as a call test when it is ``assert f(...) <op> <literal>`` on a candidate function."""
    if test.get("kind") != "assert":
        return test
    try:
        tree = ast.parse(test.get("source", ""))
    except SyntaxError:
        return test
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assert):
        return test
    names = set(_defined_names(code)) - set(_defined_names(setup))
    names.add("candidate")
    if entry_point:
        names.add(entry_point)
    node = tree.body[0].test
    call: Optional[ast.Call] = None
    expected: Optional[str] = None
    compare = "eq"
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], (ast.Eq, ast.Is)):
        left, right = node.left, node.comparators[0]
        for c, e in ((left, right), (right, left)):
            if _call_of(c, names) is not None:
                call, expected = _call_of(c, names), _literal_source(e)
                break
        if isinstance(node.ops[0], ast.Is):
            if expected not in ("True", "False", "None"):
                return test
            compare = "is"
    elif _call_of(node, names) is not None:
        call, expected, compare = _call_of(node, names), "True", "truthy"
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not) and _call_of(node.operand, names):
        call, expected, compare = _call_of(node.operand, names), "False", "falsy"
    if call is None or expected is None:
        return test
    parts = [ast.unparse(a) for a in call.args]
    parts += [("%s=%s" % (k.arg, ast.unparse(k.value))) if k.arg else "**" + ast.unparse(k.value)
              for k in call.keywords]
    converted = dict(test)
    converted.update(kind="call", func=call.func.id, args=", ".join(parts), expected=expected, compare=compare,
                     source=test.get("source", ""))
    return converted


def judge_call(test: Dict[str, Any], encoded: Any) -> Tuple[bool, str]:
    """(passed, message) for one call test's encoded output."""
    actual = decode(encoded)
    if test.get("expected") is None:
        return True, ""
    expected = eval_expected(test["expected"])
    ok = judge(test.get("compare", "eq"), actual, expected, float(test.get("atol") or 0.0))
    if ok:
        return True, ""
    if test.get("compare") in ("truthy", "falsy"):
        return False, "expected a %s value, got %s" % (test["compare"], safe_repr(actual, 300))
    return False, "expected %s, got %s" % (safe_repr(expected, 300), safe_repr(actual, 300))
