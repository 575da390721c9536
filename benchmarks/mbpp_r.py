"""MBPP-R: the repair set of "Do Code Semantics Help?" (arXiv 2509.11686), 378 buggy programs for MBPP+ tasks.

Field mapping: ``task_id`` (an MBPP+ id such as ``Mbpp/250``) -> task_id, joined with MBPP+ (``evalplus.py``) for
prompt, entry point, reference (``canonical_solution``) and tests; ``solution`` (the buggy program) ->
starting_code; ``is_syntax_err`` -> metadata. The authors' own ``prompt`` field (their no-trace prompt) is ignored.
Tests are MBPP+'s: every base and plus input as a ``call`` test judged against the reference's output with the
dataset's ``atol`` and EvalPlus's special oracles; expected outputs and time limits come from the shared MBPP+
calibration (``calibrate.py``), so loading mbpp-r after mbpp-plus costs nothing.

Visible/hidden split (the paper's repair setting, where the model sees failing tests of the original problem): the
base inputs (the original MBPP tests) are visible; all base and plus inputs are hidden, i.e. the MBPP+ score.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from semtrace.benchmarks.common import DataError, rows_to
from semtrace.benchmarks.evalplus import (
    MBPP_PLUS_FILE,
    MBPP_PLUS_URL,
    ORACLE_SETUP,
    judged_tests,
    read_problems,
)
from semtrace.benchmarks.registry import TIME_FACTOR, TIME_FLOOR, Benchmark
from semtrace.benchmarks.task import Task

FILE = "mbpp-r/mbpp_repair_generations.jsonl"
URL = ("https://github.com/tracewise-probing/tracewise_probing/raw/33038ec62430212eb53ee3d7828f2ba2e2b89285/"
       "infer_with_trace/corpus/mbpp_repair_generations.jsonl")


def load(data_dir: Path, sandbox: str = "local", floor: float = TIME_FLOOR, factor: float = TIME_FACTOR) -> list[Task]:
    from semtrace.benchmarks.calibrate import calibrate

    plus_path = data_dir / MBPP_PLUS_FILE
    problems = {p.task_id: p for p in read_problems(plus_path, "mbpp")}
    calib = calibrate(list(problems.values()), plus_path, sandbox=sandbox, floor=floor, factor=factor)
    path = data_dir / FILE

    def task_from_row(row: dict[str, Any]) -> Task:
        p = problems.get(row["task_id"])
        if p is None:
            raise DataError(path, f"task {row['task_id']!r} is not an MBPP+ v0.2.0 task",
                            fix=f"check that {plus_path} is MBPP+ v0.2.0 and {path} the paper's MBPP-R file")
        tests = judged_tests(p, calib.expected[p.task_id], calib.timeouts(p.task_id))
        return Task(
            task_id=p.task_id, kind="repair", prompt=p.prompt, entry_point=p.entry_point,
            starting_code=row["solution"], visible_tests=tuple(tests[:p.n_base]), hidden_tests=tuple(tests),
            reference=p.reference, test_setup=ORACLE_SETUP,
            metadata={"dataset": "mbpp-r", "is_syntax_err": str(row.get("is_syntax_err")) == "True",
                      "n_base": p.n_base, "atol": p.atol})

    return rows_to(path, task_from_row)


MBPP_R = Benchmark(
    name="mbpp-r",
    description="MBPP-R: 378 buggy programs for MBPP+ tasks (the paper's repair set; base tests visible)",
    loader=load,
    files={FILE: URL, MBPP_PLUS_FILE: MBPP_PLUS_URL},
    needs_sandbox=True,
)
