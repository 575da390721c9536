"""Judging outside the candidate's process (stdlib only; shipped into the sandbox beside runner.py).

- ``encode`` (runs in the candidate's child): a value -> tagged JSON built from exact builtin types only. Anything
  else (an object with an always-true ``__eq__``, a generator, ...) becomes ``{"opaque": type, "repr": ...}``.
- ``decode`` (runs in the parent): tagged JSON -> plain builtins; opaque values become ``Opaque``, which equals
  nothing. So the comparison in the parent only ever runs builtin ``==``.
- ``judge``: expected (dataset source, evaluated by a restricted evaluator) vs decoded actual, by comparison mode.
- ``digest``: a canonical sha256 of a value that agrees with ``==`` (for expected outputs too large to ship).
The AST pass that turns ``assert f(...) == <literal>`` into a judged test is ``convert.py``.
"""

from __future__ import annotations

import decimal
import itertools
import math
from typing import Any, Callable, Dict, Optional, Tuple

try:  # imported as semtrace.sandbox.judge on the host, as a script inside the sandbox
    from .digest import BIG_INT_BITS, Digest, digest, digest_form, unlimited_digits  # type: ignore[no-redef]
    from .literals import UnsafeExpression, eval_expected, looks_literal  # type: ignore[no-redef]
except ImportError:
    from digest import BIG_INT_BITS, Digest, digest, digest_form, unlimited_digits  # type: ignore[no-redef]
    from literals import UnsafeExpression, eval_expected, looks_literal  # type: ignore[no-redef]

__all__ = ["BadValue", "Digest", "Opaque", "decode", "digest", "digest_form", "encode", "eval_expected", "judge",
           "judge_call", "lcb_stdout", "looks_literal", "safe_repr", "unlimited_digits", "values_equal",
           "UnsafeExpression"]

MAX_ENCODED_ITEMS = 5_000_000  # past this a value travels as its digest (record mode, digest tests) or not at all
REPR_LIMIT = 1000
COMPARES = ("eq", "truthy", "falsy", "is", "in", "isclose", "digest", "not_none", "poly_root", "returns",
            "lcb")


class BadValue(ValueError):
    """A reported value that is not in the encoding ``encode`` writes (a forged or broken report)."""


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
    def __init__(self, opaque: Optional[Callable[[Any], Any]] = None) -> None:
        self.left = MAX_ENCODED_ITEMS
        self.opaque = opaque


def _bounded_repr(value: Any, limit: int) -> Optional[str]:
    """The first ``limit`` characters of a long builtin container's repr without building all of it."""
    kind = type(value)
    if kind not in (list, tuple, set, frozenset, dict) or len(value) * 3 <= limit + 3:
        return None
    k = limit // 3 + 2  # every item takes at least 3 characters ("x, ")
    items = itertools.islice(value.items() if kind is dict else value, k)
    parts = []
    size = 0
    for item in items:
        text = ("%s: %s" % (safe_repr(item[0], limit), safe_repr(item[1], limit)) if kind is dict
                else safe_repr(item, limit))
        parts.append(text)
        size += len(text) + 2
        if size > limit:
            break
    opening = {list: "[", tuple: "(", set: "{", frozenset: "frozenset({", dict: "{"}[kind]
    return "%s...<%d items>" % ((opening + ", ".join(parts))[:limit], len(value))


def safe_repr(value: Any, limit: int = REPR_LIMIT) -> str:
    if type(value) is int and value.bit_length() > BIG_INT_BITS:  # decimal conversion is quadratic
        return "<an int of %d bits, about %d digits>" % (value.bit_length(), value.bit_length() * 0.30103)
    try:
        prefix = _bounded_repr(value, limit)
        if prefix is not None:
            return prefix
        text = repr(value)
    except BaseException as exc:  # a hostile __repr__ must not break the report
        text = "<unrepresentable %s: %s>" % (type(value).__name__, type(exc).__name__)
    if len(text) > limit:
        text = text[:limit] + "...<%d more chars>" % (len(text) - limit)
    return text


def encode(value: Any, _budget: Optional[_Budget] = None, opaque: Optional[Callable[[Any], Any]] = None) -> Any:
    """``value`` in tagged JSON; an object that is not an exact builtin (or a subclass read through the builtin's
    own slots) becomes ``{"opaque": ...}``, or what ``opaque(obj)`` returns (the call channel's handles)."""
    budget = _budget or _Budget(opaque)
    budget.left -= 1
    if budget.left < 0:
        raise OverflowError("value too large to judge")
    t = type(value)
    if value is None or t is bool or t is str:
        return value
    if t is int:  # big ints in hex: linear time both ways, and no 4,300-digit limit
        return value if -(2 ** 53) < value < 2 ** 53 else {"hex": format(value, "x")}
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
    if budget.opaque is not None:
        return budget.opaque(value)
    opaque = {"opaque": t.__name__, "repr": safe_repr(value, 200)}
    if getattr(t, "__module__", "") != "__candidate__":
        # Truthiness of a library object (a re.Match, ...) is part of `assert f(x)` tests; a type the candidate
        # defined could lie about it, so only library types carry it.
        try:
            opaque["truth"] = bool(value)
        except Exception:
            pass
    return opaque


def big_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        if not text.lstrip("-").isdigit():
            raise
        with unlimited_digits():
            return int(text)


def decode(data: Any, ref: Optional[Callable[[Dict[str, Any]], Any]] = None) -> Any:
    """Tagged JSON -> builtins; anything not in ``encode``'s form raises ``BadValue``. ``ref`` turns the call
    channel's object references (``{"handle": ...}``, ``{"ref": ...}``) into objects; without it they are bad."""
    try:
        return _decode(data, ref)
    except BadValue:
        raise
    except (ValueError, TypeError, AttributeError, RecursionError) as exc:
        raise BadValue("the reported value is malformed: %s" % type(exc).__name__) from None


def _decode(data: Any, ref: Optional[Callable[[Dict[str, Any]], Any]] = None) -> Any:
    if not isinstance(data, dict):
        if data is not None and not isinstance(data, (bool, int, float, str)):
            raise BadValue("untagged %s" % type(data).__name__)
        return data
    if "digest" in data and len(data) == 1:
        if not isinstance(data["digest"], str):
            raise BadValue("digest is not text")
        return Digest(data["digest"])
    if "opaque" in data:
        return Opaque(str(data["opaque"]), str(data.get("repr", "")), data.get("truth"))
    if ref is not None and ("handle" in data or "ref" in data):
        return ref(data)
    (tag, payload), = data.items()
    if tag == "hex":
        return int(payload, 16)
    if tag == "int":
        return big_int(payload)
    if tag == "float":
        return float(payload)
    if tag == "list":
        return [_decode(x, ref) for x in payload]
    if tag == "tuple":
        return tuple(_decode(x, ref) for x in payload)
    if tag == "set":
        return set(_decode(x, ref) for x in payload)
    if tag == "frozenset":
        return frozenset(_decode(x, ref) for x in payload)
    if tag == "dict":
        return {_decode(k, ref): _decode(v, ref) for k, v in payload}
    if tag == "bytes":
        return bytes.fromhex(payload)
    if tag == "complex":
        return complex(float(payload[0]), float(payload[1]))
    raise BadValue("unknown value tag %r" % tag)


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
    if isinstance(out, (Opaque, Digest)):
        return False
    try:
        if out == exp:
            return True
    except Exception:
        return False
    if atol > 0 or _contains_float(exp):
        return _close(out, exp, atol if atol > 0 else 1e-6)
    return False


def _poly(xs: Any, x: float) -> float:
    return sum(c * math.pow(x, i) for i, c in enumerate(xs))


def judge(compare: str, actual: Any, expected: Any, atol: float, rtol: float = 0.0) -> bool:
    """Whether ``actual`` (decoded) is right. ``expected`` is the evaluated expected value; for ``in`` a
    collection of accepted values, for ``digest`` the hex digest, for ``poly_root`` the polynomial's
    coefficients (EvalPlus's ``find_zero`` oracle: |poly(x)| <= atol)."""
    if compare == "returns":
        return True
    if compare == "not_none":  # EvalPlus's "returned something" oracle; a library object's presence counts
        return actual == expected if isinstance(actual, bool) else (actual is not None) == expected
    if compare == "digest":
        if isinstance(actual, Digest):
            return actual.hex == expected
        try:
            return digest(actual) == expected
        except TypeError:
            return False
    if isinstance(actual, (Opaque, Digest)):
        if isinstance(actual, Opaque) and actual.truth is not None and compare in ("truthy", "falsy"):
            return actual.truth is (compare == "truthy")
        return False
    if compare == "lcb":  # LiveCodeBench's functional rule: a returned tuple counts as a list (top level)
        return (list(actual) if type(actual) is tuple else actual) == expected
    if compare == "truthy":
        return bool(actual)
    if compare == "falsy":
        return not actual
    if compare == "is":
        return actual is expected
    if compare == "in":
        return any(values_equal(actual, e, atol) for e in expected)
    if compare == "isclose":
        if not isinstance(actual, (int, float)) or isinstance(actual, bool):
            return False
        return math.isclose(actual, expected, rel_tol=rtol or 1e-09, abs_tol=atol)
    if compare == "poly_root":
        if not isinstance(actual, (int, float)) or isinstance(actual, bool):
            return False
        try:
            return abs(_poly(expected, actual)) <= (atol or 1e-6)
        except (OverflowError, ValueError):
            return False
    return values_equal(actual, expected, atol)


def judge_call(test: Dict[str, Any], encoded: Any) -> Tuple[bool, str]:
    """(passed, message) for one call test's encoded output; ``BadValue`` for a malformed one."""
    actual = decode(encoded)
    compare = test.get("compare", "eq")
    if test.get("expected") is None and compare != "returns":
        return True, ""
    if compare == "digest":
        expected: Any = str(test["expected"]).split(":", 1)[-1]
    elif compare == "returns":
        expected = None
    else:
        expected = eval_expected(test["expected"])
    try:  # a value the comparison cannot handle (an int too large for a float, ...) is a wrong value
        ok = judge(compare, actual, expected, float(test.get("atol") or 0.0), float(test.get("rtol") or 0.0))
    except (OverflowError, TypeError, ValueError, ArithmeticError, RecursionError):
        ok = False
    if ok:
        return True, ""
    got = safe_repr(actual, 300)
    if compare in ("truthy", "falsy"):
        return False, "expected a %s value, got %s" % (compare, got)
    if compare == "digest":
        return False, "the output differs from the reference output (a large value, compared by digest): got %s" % got
    if compare == "in":
        return False, "expected one of %s, got %s" % (safe_repr(expected, 300), got)
    if compare == "poly_root":
        return False, "expected a root of the polynomial, got %s" % got
    if compare == "not_none":
        return False, "expected %s output, got %s" % ("a" if expected else "no", got)
    return False, "expected %s, got %s" % (safe_repr(expected, 300), got)


# --- LiveCodeBench's stdout rule (compare "lcb" on a stdio test) --------------------------------------------
# Both texts are stripped and split on "\n", and every line is stripped (so trailing spaces, "\r" and blank
# lines at either end do not matter, blank lines in between do); the line counts must agree; a line that is
# not identical passes when both lines are whitespace-separated numbers with equal decimal values ("0.5" ==
# "0.50", "1e3" == "1000", but no tolerance: "0.333" != "0.3333").

def _lcb_lines(text: str) -> list:
    return [line.strip() for line in text.strip().split("\n")]


def _lcb_numbers(line: str) -> Optional[list]:
    try:
        return [decimal.Decimal(token) for token in line.split()]
    except (decimal.InvalidOperation, ValueError):
        return None


def lcb_stdout(actual: str, expected: str) -> Tuple[bool, str]:
    """(passed, message) for a program's stdout under LiveCodeBench's rule."""
    got, want = _lcb_lines(actual), _lcb_lines(expected)
    if len(got) != len(want):
        return False, "wrong answer: %d output line(s), expected %d" % (len(got), len(want))
    for n, (g, w) in enumerate(zip(got, want), 1):
        if g == w:
            continue
        a, b = _lcb_numbers(g), _lcb_numbers(w)
        try:
            same = a is not None and b is not None and a == b
        except decimal.InvalidOperation:  # a signalling NaN
            same = False
        if not same:
            return False, "wrong answer at line %d: %s != %s" % (n, safe_repr(g, 150), safe_repr(w, 150))
    return True, ""
