"""CRUXEval-O (facebookresearch/cruxeval): 800 output-prediction tasks, kind ``reasoning``.

Field mapping: ``id`` -> task_id; ``code`` (defines ``f``) -> reference and the program shown in the prompt;
``input`` (argument source) and ``output`` (a literal) -> one hidden ``call`` test ``f(<input>) == <output>`` and
metadata. The prompt asks for the output of ``f(<input>)``, so there are no visible tests (showing the expected
output would give the answer away); scoring an answer means checking ``f(<input>) == <answer>`` (CRUXEval's own
convention: execution-based, not string match).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from semtrace.benchmarks.common import rows_to
from semtrace.benchmarks.registry import Benchmark
from semtrace.benchmarks.task import Task
from semtrace.sandbox.types import TestCase

FILE = "cruxeval/cruxeval.jsonl"
URL = "https://github.com/facebookresearch/cruxeval/raw/main/data/cruxeval.jsonl"


def task_from_row(row: dict[str, Any]) -> Task:
    prompt = (f"{row['code']}\n\n# What does f({row['input']}) return? Answer with a Python literal.\n"
              f"assert f({row['input']}) == ??\n")
    test = TestCase(kind="call", func="f", args=row["input"], expected=row["output"], name="output")
    return Task(
        task_id=row["id"],
        kind="reasoning",
        prompt=prompt,
        entry_point="f",
        hidden_tests=(test,),
        reference=row["code"],
        metadata={"dataset": "cruxeval", "mode": "output", "input": row["input"], "output": row["output"]},
    )


def load(data_dir: Path) -> list[Task]:
    return rows_to(data_dir / FILE, task_from_row)


CRUXEVAL = Benchmark(
    name="cruxeval",
    description="CRUXEval-O: 800 output-prediction tasks (reasoning; the hidden test checks f(input) == output)",
    loader=load,
    files={FILE: URL},
)
