"""Cold calibration of the EvalPlus datasets, three times in a row: every reference output is recorded every time
and the three recordings agree (issue 9: concurrent requests once lost stdout at random, and calibration read its
outputs from stdout). Slow (about 3 x 4 minutes on 2 cores); `make test` and CI run it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from semtrace.benchmarks.calibrate import calibrate
from semtrace.benchmarks.evalplus import HUMANEVAL_PLUS_FILE, MBPP_PLUS_FILE, read_problems


@pytest.mark.slow
@pytest.mark.parametrize("rel,dataset", [(HUMANEVAL_PLUS_FILE, "humaneval"), (MBPP_PLUS_FILE, "mbpp")])
def test_cold_calibration_loses_nothing_three_times(rel: str, dataset: str, data_dir: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    path = data_dir / rel
    problems = read_problems(path, dataset)
    inputs = sum(len(p.inputs) for p in problems)
    runs = []
    for attempt in range(3):
        monkeypatch.setenv("SEMTRACE_CACHE", str(tmp_path / f"cold-{attempt}"))  # a fresh, empty cache each time
        calib = calibrate(problems, path)  # raises CalibrationError naming any task/input that was lost
        assert sum(len(v) for v in calib.expected.values()) == inputs
        runs.append(calib.expected)
    assert runs[0] == runs[1] == runs[2], "three cold recordings of the same references differ"
