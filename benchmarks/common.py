"""Helpers shared by the dataset loaders: reading files, turning dataset test code into TestCases, value -> source."""

from __future__ import annotations

import ast
import gzip
import hashlib
import json
import math
import re
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from semtrace.sandbox.types import TestCase

T = TypeVar("T")


class DataMissing(FileNotFoundError):
    """A benchmark's data file is not where it should be. The message says where to put it and where to get it."""


class DataError(ValueError):
    """A benchmark data file cannot be read as its dataset: the message names the file, the row (rows of a JSONL
    file are numbered by line) and the fix. ``Benchmark.load`` adds where a fresh copy comes from."""

    DAMAGED = "the file is damaged or not this dataset: replace it with a fresh copy"

    def __init__(self, path: Path, problem: str, *, row: int | None = None, task: str = "",
                 fix: str | None = None) -> None:
        self.path, self.problem, self.row, self.task = path, problem, row, task
        self.fix = fix if fix is not None else self.DAMAGED
        where = f"{path}: row {row}" if row is not None else f"{path}"
        super().__init__(f"{where}{f' ({task})' if task else ''}: {problem}; {self.fix}")

    def with_fix(self, fix: str) -> DataError:
        return DataError(self.path, self.problem, row=self.row, task=self.task, fix=fix)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _json_problem(exc: json.JSONDecodeError) -> str:
    return f"{exc.msg.removesuffix(' at')} at column {exc.colno}"


def _decode(path: Path, raw: bytes, row: int | None) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(path, f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})", row=row
                        ) from None


def _numbered_rows(path: Path) -> list[tuple[int, Any]]:
    """(row number, parsed value) of a .jsonl, .jsonl.gz or .json (array) file; DataError names what is wrong."""
    opener = gzip.open if path.suffix == ".gz" else open
    rows: list[tuple[int, Any]] = []
    try:
        with opener(path, "rb") as fh:  # type: ignore[operator]
            if path.suffix == ".json":
                try:
                    data = json.loads(_decode(path, fh.read(), None))
                except json.JSONDecodeError as exc:
                    raise DataError(path, f"not valid JSON (line {exc.lineno}: {_json_problem(exc)})") from None
                if not isinstance(data, list):
                    raise DataError(path, f"holds a JSON {type(data).__name__}, not an array of rows")
                rows = list(enumerate(data, 1))
            else:
                for lineno, raw in enumerate(fh, 1):
                    if not raw.strip():
                        continue
                    try:
                        rows.append((lineno, json.loads(_decode(path, raw, lineno))))
                    except json.JSONDecodeError as exc:
                        raise DataError(path, f"not valid JSON ({_json_problem(exc)})", row=lineno) from None
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise DataError(path, f"not a complete gzip file ({_first_line(exc)}; {len(rows)} rows read)") from None
    except IsADirectoryError:
        raise DataError(path, "is a directory, not a data file", fix="remove it and put the data file there"
                        ) from None
    except PermissionError as exc:
        raise DataError(path, f"cannot be read ({exc.strerror})", fix="make it readable (chmod a+r)") from None
    if not rows:
        raise DataError(path, "holds no rows (the file is empty)")
    for n, row in rows:
        if not isinstance(row, dict):
            raise DataError(path, f"is a JSON {type(row).__name__}, not an object with the dataset's fields", row=n)
    return rows


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a .jsonl, .jsonl.gz or .json (array) file; a damaged or empty file raises DataError."""
    return [row for _, row in _numbered_rows(path)]


def rows_to(path: Path, convert: Callable[[dict[str, Any]], T]) -> list[T]:
    """``convert`` applied to every row of ``path``; a row that does not fit (a missing field, a value of the
    wrong type, test code that does not parse) raises DataError naming the file, the row and the task."""
    out: list[T] = []
    for n, row in _numbered_rows(path):
        try:
            out.append(convert(row))
        except DataError as exc:
            if exc.row is None and exc.path == path:
                raise DataError(path, exc.problem, row=n, task=exc.task or _row_name(row), fix=exc.fix) from exc
            raise
        except KeyError as exc:
            key = exc.args[0] if exc.args else None
            what = f"missing field {key!r}" if key not in row else f"{type(exc).__name__}: {exc}"
            raise DataError(path, what, row=n, task=_row_name(row)) from exc
        except (TypeError, ValueError, AttributeError, IndexError, SyntaxError) as exc:
            raise DataError(path, f"does not fit the dataset's format ({type(exc).__name__}: {_first_line(exc)})",
                            row=n, task=_row_name(row)) from exc
    return out


def _row_name(row: dict[str, Any]) -> str:
    for key in ("task_id", "name", "id"):
        if isinstance(row.get(key), (str, int)):
            return f"{key} {row[key]!r}"
    return ""


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


