"""HumanEvalFix, Python (HumanEvalPack, bigcode-project/octopack): 164 repair tasks.

Field mapping: ``task_id`` (``Python/N``) -> task_id; ``prompt`` (signature + docstring) -> prompt;
``declaration + buggy_solution`` -> starting_code; ``declaration + canonical_solution`` -> reference;
``entry_point`` -> entry_point; ``bug_type`` and ``failure_symptoms`` -> metadata.

Visible/hidden split (HumanEvalPack's own "tests visible" convention, Muennighoff et al. 2023): ``example_test``
(the docstring examples as asserts) is visible; ``test`` (the full suite) is hidden. Both are ``def check(<name>)``
functions; each assert becomes one ``assert`` TestCase, the trailing ``check(...)`` call is dropped, and anything
else at the top level goes to ``test_setup``. Six rows (Python/38, 41, 50, 83, 84, 160) have an empty
``example_test``; they show the first hidden test instead; Python/119's ``example_test`` begins with a stray indented copy of
the solution, which is cut off. Three buggy programs loop forever: always run with a time limit.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from semtrace.benchmarks.common import rows_to, split_check_function
from semtrace.benchmarks.registry import Benchmark
from semtrace.benchmarks.task import Task

FILE = "humanevalpack/humanevalpack_python.jsonl"
URL = ("https://github.com/bigcode-project/octopack/raw/main/evaluation/create/humaneval-x/data/python/data/"
       "humanevalpack.jsonl (or the Hugging Face dataset bigcode/humanevalpack, config python)")


def strip_leading_junk(test_code: str) -> str:
    """Python/119's ``example_test`` starts with an indented copy of the canonical solution (upstream defect);
    keep the code from the first top-level ``def check(`` on when the whole does not parse."""
    try:
        ast.parse(test_code)
        return test_code
    except SyntaxError:
        start = test_code.find("\ndef check(")
        return test_code[start + 1:] if start >= 0 else test_code


def task_from_row(row: dict[str, Any]) -> Task:
    entry = row["entry_point"]
    hidden_setup, hidden = split_check_function(row["test"], entry, name_prefix="test")
    visible_setup, visible = "", hidden[:1]
    if row["example_test"].strip():
        visible_setup, visible = split_check_function(strip_leading_junk(row["example_test"]), entry,
                                                      name_prefix="example")
    setup = "\n".join(dict.fromkeys(s for s in (hidden_setup, visible_setup) if s.strip()))
    return Task(
        task_id=row["task_id"],
        kind="repair",
        prompt=row["prompt"],
        entry_point=entry,
        starting_code=row["declaration"] + row["buggy_solution"],
        visible_tests=tuple(visible),
        hidden_tests=tuple(hidden),
        reference=row["declaration"] + row["canonical_solution"],
        test_setup=setup,
        metadata={"dataset": "humaneval-fix", "bug_type": row.get("bug_type", ""),
                  "failure_symptoms": row.get("failure_symptoms", "")},
    )


def load(data_dir: Path) -> list[Task]:
    return rows_to(data_dir / FILE, task_from_row)


HUMANEVAL_FIX = Benchmark(
    name="humaneval-fix",
    description="HumanEvalFix (Python): 164 repair tasks (example_test visible, test hidden)",
    loader=load,
    files={FILE: URL},
)
