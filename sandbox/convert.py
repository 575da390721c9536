"""The AST pass that takes verdicts away from the candidate (stdlib only; shipped beside ``runner.py``).

An ``assert`` test runs inside the candidate's process, so its verdict is the one thing the child reports about
itself. ``to_call_test`` rewrites the patterns whose verdict the supervisor can decide from a value:

    assert X == L / L == X        value of X, compared with L            (compare "eq")
    assert X is True|False|None   value of X                              ("is")
    assert X in L                 value of X, one of the items of L       ("in")
    assert f(...) / not f(...)    truthiness of a call's value            ("truthy" / "falsy")
    assert math.isclose(X, L, rel_tol=r, abs_tol=a)                       ("isclose")
    assert abs(X - L) < t  (or <=, either order inside abs)               ("isclose", abs_tol t)

where L is a literal the restricted evaluator accepts (``judge.eval_expected``) and X any expression. A plain
call of a function ``f(args)`` keeps the ``func``/``args`` form (the tracer and the renderers show it as a call);
anything else travels as ``expr``. Every other assert stays an assert and runs in the assert judge
(``assert_judge.py``), the candidate answering its calls with values; ``judged_by_assert_judge`` counts them.
"""

from __future__ import annotations

import ast
import builtins
from typing import Any, Dict, FrozenSet, List, Optional, Tuple

try:
    from . import judge  # type: ignore[no-redef]
except ImportError:
    import judge  # type: ignore[no-redef]


def _literal(node: ast.AST) -> Optional[str]:
    if not judge.looks_literal(node):  # most candidate-side expressions fail here, before an unparse
        return None
    source = ast.unparse(node)
    try:
        judge.eval_expected(source)
    except Exception:
        return None
    return source


def _value_test(node: ast.AST, names: "set[str]") -> Dict[str, Any]:
    """The fields that make the child compute ``node``'s value (a call of one of ``names``: func + args)."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in names:
        parts = [ast.unparse(a) for a in node.args]
        parts += [("%s=%s" % (k.arg, ast.unparse(k.value))) if k.arg else "**" + ast.unparse(k.value)
                  for k in node.keywords]
        return {"func": node.func.id, "args": ", ".join(parts), "expr": None}
    return {"expr": ast.unparse(node), "func": None, "args": ""}


def _is_call(node: ast.AST, names: "set[str]") -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in names


def _defined(code: str) -> List[str]:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    return [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]


def _isclose(node: ast.AST) -> Optional[Tuple[ast.AST, str, float, float]]:
    """``math.isclose(X, L, ...)`` or ``abs(X - L) <(=) t`` -> (X, L source, abs_tol, rel_tol)."""
    if isinstance(node, ast.Call) and ast.unparse(node.func) in ("math.isclose", "isclose") and len(node.args) == 2:
        tols = {"rel_tol": 1e-09, "abs_tol": 0.0}
        for kw in node.keywords:
            if kw.arg not in tols or _literal(kw.value) is None:
                return None
            tols[kw.arg] = float(judge.eval_expected(ast.unparse(kw.value)))
        for x, lit in ((node.args[0], node.args[1]), (node.args[1], node.args[0])):
            source = _literal(lit)
            if source is not None and _literal(x) is None:
                return x, source, tols["abs_tol"], tols["rel_tol"]
        return None
    if (isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], (ast.Lt, ast.LtE))
            and isinstance(node.left, ast.Call) and ast.unparse(node.left.func) == "abs"
            and len(node.left.args) == 1 and isinstance(node.left.args[0], ast.BinOp)
            and isinstance(node.left.args[0].op, ast.Sub)):
        tol = _literal(node.comparators[0])
        diff = node.left.args[0]
        if tol is None:
            return None
        for x, lit in ((diff.left, diff.right), (diff.right, diff.left)):
            source = _literal(lit)
            if source is not None and _literal(x) is None:
                value = float(judge.eval_expected(tol))
                return x, source, value, 0.0
    return None


_BUILTINS = frozenset(dir(builtins))
_CACHE: Dict[Tuple[str, FrozenSet[str]], Optional[Dict[str, Any]]] = {}
_NAMES: Dict[str, FrozenSet[str]] = {}


def candidate_names(code: str, entry_point: Optional[str]) -> FrozenSet[str]:
    """The names a plain call may use as ``func``: the program's top-level definitions, ``candidate``, the entry."""
    key = "%s\0%s" % (entry_point or "", code)
    if key not in _NAMES:
        if len(_NAMES) > 256:
            _NAMES.clear()
        # a program that redefines a builtin (``all``, ``sorted``) must not have a test's call of it read as its own
        own = frozenset(_defined(code)) - _BUILTINS
        _NAMES[key] = own | {"candidate"} | ({entry_point} if entry_point else frozenset())
    return _NAMES[key]


_SETUPS: Dict[str, Tuple[str, FrozenSet[str]]] = {}


def split_setup(setup: str) -> Tuple[str, FrozenSet[str]]:
    """(the part of ``test_setup`` the child runs, the names only the assert judge defines).

    ``test_setup`` is the test's code: its functions (helpers, QuixBugs' ``testN`` bodies, asserts and expected
    values included) and its data (``METADATA``, prebuilt inputs) run only in the assert judge. The child runs
    the rest — imports, classes (the program's inputs are built from them: QuixBugs' ``Node``) and other
    statements (LiveCodeBench's method binding) — so no expected value in it reaches the candidate's process."""
    if setup not in _SETUPS:
        if len(_SETUPS) > 4096:
            _SETUPS.clear()
        try:
            tree = ast.parse(setup)
        except SyntaxError:  # the child reports it when it loads
            _SETUPS[setup] = (setup, frozenset())
            return _SETUPS[setup]
        kept: List[str] = []
        judged: "set[str]" = set()
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                judged.add(node.name)
            elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                judged.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
            else:
                kept.append(ast.get_source_segment(setup, node) or ast.unparse(node))
        _SETUPS[setup] = ("\n".join(kept) + ("\n" if kept else ""), frozenset(judged))
    return _SETUPS[setup]


def child_setup(setup: str, tests: List[Dict[str, Any]]) -> str:
    """What of ``test_setup`` the child runs: ``split_setup``'s part, or all of it when a call test's arguments
    (evaluated in the child, as they always were) read a name only the judge would define."""
    if not setup:
        return ""
    part, judged = split_setup(setup)
    if judged and any(t.get("kind") == "call" and _uses(t, judged) for t in tests):
        return setup
    return part


def to_call_test(test: Dict[str, Any], entry_point: Optional[str], code: str, setup: str) -> Dict[str, Any]:
    """Return ``test`` as a supervisor-judged ``call`` test when its assert has one of the patterns above (and
    its value needs nothing that only the assert judge defines)."""
    if test.get("kind") != "assert":
        return test
    key = (test.get("source", ""), candidate_names(code, entry_point))
    if key not in _CACHE:  # the same tests come back for every candidate of a task
        if len(_CACHE) > 50_000:
            _CACHE.clear()
        _CACHE[key] = _convert(key[0], set(key[1]))
    fields = _CACHE[key]
    judged = split_setup(setup)[1] if setup else frozenset()
    if fields is not None and judged and _uses(fields, judged):
        return test
    if fields is None:
        return test
    converted = dict(test)
    converted.update(fields, kind="call", source=test.get("source", ""))
    return converted


_READS: Dict[Tuple[str, FrozenSet[str]], bool] = {}


def _uses(fields: Dict[str, Any], names: FrozenSet[str]) -> bool:
    """Whether a call test's value (evaluated in the child) reads one of ``names`` (cached: the same tests come
    back for every candidate of a task)."""
    source = fields.get("expr") or "%s(%s)" % (fields.get("func") or "f", fields.get("args") or "")
    key = (source, names)
    if key not in _READS:
        if len(_READS) > 100_000:
            _READS.clear()
        try:
            tree = ast.parse(source, mode="eval")
            _READS[key] = any(isinstance(n, ast.Name) and n.id in names for n in ast.walk(tree))
        except SyntaxError:
            _READS[key] = True
    return _READS[key]


def _decided_in_child(node: ast.AST) -> bool:
    """An expression whose value is itself a verdict computed with the candidate's objects (``f(x) == 5``,
    ``a and b``, ``not x``): judging its value would trust the candidate's ``__eq__``. Such asserts stay asserts."""
    return any(isinstance(n, (ast.Compare, ast.BoolOp)) or (isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.Not))
               for n in ast.walk(node))


def _convert(source: str, names: "set[str]") -> Optional[Dict[str, Any]]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assert):
        return None
    node = tree.body[0].test

    valued: ast.AST = node  # the expression whose value the child reports

    def _value_of(x: ast.AST) -> Dict[str, Any]:
        nonlocal valued
        valued = x
        return _value_test(x, names)

    fields: Optional[Dict[str, Any]] = None
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        op, left, right = node.ops[0], node.left, node.comparators[0]
        if isinstance(op, ast.Eq):
            for x, lit in ((left, right), (right, left)):
                source = _literal(lit)
                if source is not None and _literal(x) is None:
                    fields = dict(_value_of(x), expected=source, compare="eq")
                    break
        elif isinstance(op, ast.Is) and isinstance(right, ast.Constant) and any(
                right.value is c for c in (True, False, None)):
            if _literal(left) is None:
                fields = dict(_value_of(left), expected=repr(right.value), compare="is")
        elif isinstance(op, ast.In) and isinstance(right, (ast.Tuple, ast.List, ast.Set)):
            source = _literal(right)
            if source is not None and _literal(left) is None:
                fields = dict(_value_of(left), expected=source, compare="in")
    if fields is None:
        close = _isclose(node)
        if close is not None:
            x, source, atol, rtol = close
            fields = dict(_value_of(x), expected=source, compare="isclose", atol=atol, rtol=rtol)
    if fields is None and _is_call(node, names):
        fields = dict(_value_of(node), expected="True", compare="truthy")
    if (fields is None and isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not)
            and _is_call(node.operand, names)):
        fields = dict(_value_of(node.operand), expected="False", compare="falsy")
    if fields is not None and _decided_in_child(valued):  # (a func + args call: its func is a plain name)
        return None
    return fields


def self_reported(tests: List[Dict[str, Any]], entry_point: Optional[str], code: str, setup: str) -> int:
    """How many of ``tests`` the child would judge itself: none, since every assert the AST pass does not convert
    runs in the assert judge (``assert_judge.py``). Kept so that a user's data can be shown to have none."""
    return 0


def judged_by_assert_judge(tests: List[Dict[str, Any]], entry_point: Optional[str], code: str, setup: str) -> int:
    """How many of ``tests`` run in the assert judge (the rest are judged from one reported value)."""
    return sum(to_call_test(dict(t), entry_point, code, setup)["kind"] == "assert" for t in tests)
