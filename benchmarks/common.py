"""Helpers shared by the dataset loaders: reading files, turning dataset test code into TestCases, value -> source."""

from __future__ import annotations

import ast
import gzip
import hashlib
import json
import math
import re
from pathlib import Path
from typing import Any

from semtrace.sandbox.types import TestCase


class DataMissing(FileNotFoundError):
    """A benchmark's data file is not where it should be. The message says where to put it and where to get it."""


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a .jsonl, .jsonl.gz or .json (array) file."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:  # type: ignore[operator]
        if path.suffix == ".json":
            return list(json.load(fh))
        return [json.loads(line) for line in fh if line.strip()]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------- values -> source


def to_source(value: Any) -> str:
    """Python source that evaluates to ``value`` (repr, except for non-finite floats and complex parts)."""
    if isinstance(value, bool) or value is None or isinstance(value, (int, str, bytes)):
        return repr(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "float('nan')"
        if math.isinf(value):
            return "float('inf')" if value > 0 else "float('-inf')"
        return repr(value)
    if isinstance(value, complex):
        return f"complex({to_source(value.real)}, {to_source(value.imag)})"
    if isinstance(value, list):
        return "[" + ", ".join(to_source(v) for v in value) + "]"
    if isinstance(value, tuple):
        inner = ", ".join(to_source(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{to_source(k)}: {to_source(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (set, frozenset)):
        if not value:
            return "set()" if isinstance(value, set) else "frozenset()"
        inner = "{" + ", ".join(to_source(v) for v in value) + "}"
        return inner if isinstance(value, set) else f"frozenset({inner})"
    raise TypeError(f"cannot write a {type(value).__name__} as Python source")


def args_source(args: list[Any] | tuple[Any, ...]) -> str:
    """Source of a call's positional arguments: ``[1, 2], 'x'``."""
    return ", ".join(to_source(a) for a in args)


# --------------------------------------------------------------------------------------------- test code -> tests


def _is_trivial_assert(node: ast.stmt) -> bool:
    return isinstance(node, ast.Assert) and isinstance(node.test, ast.Constant)


def assert_lines(code: str) -> tuple[str, list[str]]:
    """Split test code into (setup, one source per top-level assert).

    Top-level statements other than asserts (imports, helpers, constants) form the setup. Raises SyntaxError when
    the code does not parse.
    """
    tree = ast.parse(code)
    setup: list[str] = []
    asserts: list[str] = []
    for node in tree.body:
        segment = ast.get_source_segment(code, node) or ast.unparse(node)
        if isinstance(node, ast.Assert):
            if not _is_trivial_assert(node):
                asserts.append(segment)
        else:
            setup.append(segment)
    return "\n".join(setup), asserts


def split_check_function(test_code: str, entry_point: str, *, name_prefix: str = "") -> tuple[str, list[TestCase]]:
    """HumanEval-style ``def check(candidate): assert ...`` -> (test_setup, one ``assert`` TestCase per assert).

    When the body of ``check`` is only asserts (and imports or docstrings), each assert becomes its own TestCase
    with the parameter name left as written (``candidate`` is bound by the runner; a parameter named after the
    entry point resolves to the candidate's own function). Otherwise (loops, locals) the whole ``check`` stays
    one TestCase ``check(<entry_point>)``. A trailing top-level ``check(...)`` call is dropped.
    """
    tree = ast.parse(test_code)
    setup: list[str] = []
    check: ast.FunctionDef | None = None
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "check":
            check = node
            continue
        if (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
                and isinstance(node.value.func, ast.Name) and node.value.func.id == "check"):
            continue
        setup.append(ast.get_source_segment(test_code, node) or ast.unparse(node))
    if check is None:
        raise ValueError("test code has no check function")
    param = check.args.args[0].arg if check.args.args else "candidate"
    simple = all(
        isinstance(s, (ast.Assert, ast.Import, ast.ImportFrom))
        or (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
        for s in check.body
    )
    if simple and param in ("candidate", entry_point):
        tests: list[TestCase] = []
        for stmt in check.body:
            if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                setup.append(ast.unparse(stmt))
            elif isinstance(stmt, ast.Assert) and not _is_trivial_assert(stmt):
                tests.append(TestCase(kind="assert", source=ast.unparse(stmt),
                                      name=f"{name_prefix}{len(tests)}"))
        if tests:
            return "\n".join(setup), tests
    setup.append(ast.get_source_segment(test_code, check) or ast.unparse(check))
    return "\n".join(setup), [TestCase(kind="assert", source=f"check({entry_point})", name=f"{name_prefix}check")]


_DOCTEST = re.compile(r"^\s*>>>\s?(.*)$")


def doctest_examples(prompt: str, entry_point: str) -> list[tuple[str, str]]:
    """``>>> call`` / expected-output pairs from a docstring, for calls of ``entry_point`` only.

    Multi-line expected outputs and examples whose output is not a Python expression are skipped.
    """
    lines = prompt.splitlines()
    examples: list[tuple[str, str]] = []
    for i, line in enumerate(lines):
        match = _DOCTEST.match(line)
        if not match:
            continue
        call = match.group(1).strip()
        if not call.startswith(entry_point + "(") or i + 1 >= len(lines):
            continue
        out = lines[i + 1].strip()
        following = lines[i + 2].strip() if i + 2 < len(lines) else ""
        if not out or out.startswith(">>>") or (following and not following.startswith(">>>")
                                                 and not following.startswith('"""') and following != "'''"):
            continue
        try:
            ast.parse(call, mode="eval")
            ast.literal_eval(out)
        except (SyntaxError, ValueError):
            continue
        examples.append((call, out))
    return examples


