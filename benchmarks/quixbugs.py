"""QuixBugs, Python (jkoppel/QuixBugs as packaged by bigcode-project/octopack): 40 one-line-defect repair tasks.

Field mapping: ``name`` -> task_id and entry_point; ``docstring`` -> prompt (the docstring followed by the buggy
function's ``def`` line, so the model sees the signature); ``buggy_program`` -> starting_code; ``solution`` ->
reference; ``tests`` -> tests. ``tests`` is either ``assert name(*[args]) == expected`` lines (one ``assert``
TestCase each) or, for the graph and linked-list programs, a script that defines ``Node`` and ``def testN()``
functions and calls them: its definitions go to ``test_setup`` and each top-level ``testN()`` call becomes one
TestCase, run in order in the same namespace (detect_cycle's tests mutate shared nodes, as upstream).

Visible/hidden split (the usual QuixBugs repair setting, one example shown as in the first-test convention of
MBPP): the first test is visible; all tests are hidden. Several buggy programs loop forever: always time-limit.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from semtrace.benchmarks.common import rows_to
from semtrace.benchmarks.registry import Benchmark
from semtrace.benchmarks.task import Task
from semtrace.sandbox.types import TestCase

FILE = "quixbugs/quixbugs_python.jsonl"
URL = "https://github.com/bigcode-project/octopack/raw/main/evaluation/other/QuixBugs/quixbugs_python.jsonl"


def split_script(tests: str) -> tuple[str, list[TestCase]]:
    """(setup, tests): top-level asserts and bare calls are tests; everything else is setup."""
    tree = ast.parse(tests)
    setup: list[str] = []
    cases: list[TestCase] = []
    for node in tree.body:
        source = ast.get_source_segment(tests, node) or ast.unparse(node)
        if isinstance(node, ast.Assert) or (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)):
            cases.append(TestCase(kind="assert", source=source, name=f"test{len(cases)}"))
        else:
            setup.append(source)
    return "\n\n".join(setup), cases


def signature_line(program: str, name: str) -> str:
    for line in program.splitlines():
        if line.startswith(f"def {name}("):
            return line
    return f"def {name}(...):"


def task_from_row(row: dict[str, Any]) -> Task:
    name = row["name"]
    setup, cases = split_script(row["tests"])
    return Task(
        task_id=f"QuixBugs/{name}",
        kind="repair",
        prompt=f"{signature_line(row['buggy_program'], name)}\n    {row['docstring'].strip()}\n",
        entry_point=name,
        starting_code=row["buggy_program"],
        visible_tests=tuple(cases[:1]),
        hidden_tests=tuple(cases),
        reference=row["solution"],
        test_setup=setup,
        metadata={"dataset": "quixbugs"},
    )


def load(data_dir: Path) -> list[Task]:
    return rows_to(data_dir / FILE, task_from_row)


QUIXBUGS = Benchmark(
    name="quixbugs",
    description="QuixBugs (Python): 40 one-line-defect repair tasks (first test visible, all hidden)",
    loader=load,
    files={FILE: URL},
)
