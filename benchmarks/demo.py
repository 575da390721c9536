"""``demo``: 17 small repair tasks written for semtrace and shipped in the package (``data/demo.jsonl``).

The embedded default for the quick start: no data download. Each row: ``task_id``, ``bug`` (the kind of defect:
off-by-one, wrong operator, wrong comparison, wrong base case, mutated default argument, missing edge case, wrong
operator precedence), ``prompt`` (signature + docstring), ``entry_point``, ``starting_code`` (the buggy program),
``reference`` (the fix), ``visible_tests`` and ``hidden_tests`` (assert statements, disjoint sets). Every reference
passes both sets; every starting program fails at least one visible and one hidden test (checked by the tests).
Tests of one set run in order in one process, which is how the mutated-default-argument bugs show.
"""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path
from typing import Any

from semtrace.benchmarks.registry import Benchmark
from semtrace.benchmarks.task import Task
from semtrace.sandbox.types import TestCase


def _tests(sources: list[str], prefix: str) -> tuple[TestCase, ...]:
    return tuple(TestCase(kind="assert", source=s, name=f"{prefix}{i}") for i, s in enumerate(sources))


def task_from_row(row: dict[str, Any]) -> Task:
    return Task(
        task_id=row["task_id"],
        kind="repair",
        prompt=row["prompt"],
        entry_point=row["entry_point"],
        starting_code=row["starting_code"],
        visible_tests=_tests(row["visible_tests"], "visible"),
        hidden_tests=_tests(row["hidden_tests"], "hidden"),
        reference=row["reference"],
        metadata={"dataset": "demo", "bug": row["bug"]},
    )


def load(data_dir: Path | None = None) -> list[Task]:
    text = files("semtrace.benchmarks").joinpath("data/demo.jsonl").read_text(encoding="utf-8")
    return [task_from_row(json.loads(line)) for line in text.splitlines() if line.strip()]


DEMO = Benchmark(
    name="demo",
    description="17 small repair tasks shipped with semtrace (no download; the quick-start default)",
    loader=load,
)
