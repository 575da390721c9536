"""HumanEval (openai/human-eval), 164 synthesis tasks.

Field mapping: ``task_id`` -> task_id; ``prompt`` (signature + docstring) -> prompt; ``entry_point`` -> entry_point;
``prompt + canonical_solution`` -> reference; ``test`` (``def check(candidate)``) -> hidden tests, one ``assert``
TestCase per assert of ``check`` (METADATA and helpers go to ``test_setup``; the few ``check`` bodies with loops or
locals stay one ``check(<entry_point>)`` test).

Visible/hidden split (Reflexion / LDB-style self-debugging convention): the docstring's ``>>>`` examples are the
visible tests; the full ``check`` suite is hidden (it is the official score). Tasks whose docstring has no
``>>>`` example (95 of 164 use prose examples) take the first ``check`` assert as their visible test.
Upstream errata: the docstring of HumanEval/47 claims ``median([-10, 4, 6, 1000, 10, 20]) == 15.0``; the true
median is 8.0 (the canonical solution and the hidden tests agree on 8.0), so that example is not used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from semtrace.benchmarks.common import doctest_examples, rows_to, split_check_function
from semtrace.benchmarks.registry import Benchmark
from semtrace.benchmarks.task import Task
from semtrace.sandbox.types import TestCase

FILE = "humaneval/HumanEval.jsonl.gz"
URL = "https://github.com/openai/human-eval/raw/master/data/HumanEval.jsonl.gz"

# Docstring examples that contradict the task's own specification (upstream errata), by task id -> call source.
WRONG_DOCSTRING_EXAMPLES: dict[str, set[str]] = {"HumanEval/47": {"median([-10, 4, 6, 1000, 10, 20])"}}


def visible_from_docstring(task_id: str, prompt: str, entry_point: str) -> list[TestCase]:
    """The docstring's ``>>> f(...)`` / output pairs as ``assert f(...) == output`` tests."""
    wrong = WRONG_DOCSTRING_EXAMPLES.get(task_id, set())
    return [TestCase(kind="assert", source=f"assert {call} == {out}", name=f"doc{i}")
            for i, (call, out) in enumerate(doctest_examples(prompt, entry_point)) if call not in wrong]


def task_from_row(row: dict[str, Any]) -> Task:
    entry = row["entry_point"]
    setup, hidden = split_check_function(row["test"], entry, name_prefix="check")
    visible = visible_from_docstring(row["task_id"], row["prompt"], entry) or hidden[:1]
    return Task(
        task_id=row["task_id"],
        kind="synthesis",
        prompt=row["prompt"],
        entry_point=entry,
        visible_tests=tuple(visible),
        hidden_tests=tuple(hidden),
        reference=row["prompt"] + row["canonical_solution"],
        test_setup=setup,
        metadata={"dataset": "humaneval"},
    )


def load(data_dir: Path) -> list[Task]:
    return rows_to(data_dir / FILE, task_from_row)


HUMANEVAL = Benchmark(
    name="humaneval",
    description="HumanEval: 164 Python synthesis tasks (docstring examples visible, check() hidden)",
    loader=load,
    files={FILE: URL},
)
