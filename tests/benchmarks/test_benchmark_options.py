"""Benchmark options: the ``name?key=value`` spec and ``benchmark_options``, validated against what the benchmark
takes; the calibration timing is a recorded config value, not an environment variable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from semtrace.benchmarks.calibrate import with_timeouts
from semtrace.benchmarks.registry import (
    BenchmarkOptionError,
    get_benchmark,
    load_benchmark,
    parse_benchmark_spec,
)
from semtrace.config import build_config, with_absolute_paths


def test_spec_options_parse():
    assert parse_benchmark_spec("demo") == ("demo", {})
    assert parse_benchmark_spec("livecodebench?difficulty=easy&since=2024-08-01") == (
        "livecodebench", {"difficulty": "easy", "since": "2024-08-01"})


def test_an_unknown_option_names_itself_and_the_valid_ones(data_dir: Path):
    with pytest.raises(BenchmarkOptionError, match=r"no option 'colour' \(valid: time_floor, time_factor\)"):
        load_benchmark("humaneval-fix?colour=red", data_dir)
    with pytest.raises(BenchmarkOptionError, match="has no option 'time_floor' \\(it takes none\\)"):
        load_benchmark("demo", options={"time_floor": 2})
    with pytest.raises(BenchmarkOptionError, match="'time_factor' must be a positive number"):
        get_benchmark("humaneval-fix").check_options({"time_factor": "fast"})


def test_timing_options_change_the_limits(data_dir: Path):
    task = load_benchmark("humaneval-fix", data_dir, calibrate=False)[0]
    slow = with_timeouts(task, [0.5] * 100, floor=3.0, factor=4.0)
    assert {t.timeout for t in slow.hidden_tests} == {3.0}
    fast = with_timeouts(task, [0.5] * 100, floor=1.0, factor=4.0)
    assert {t.timeout for t in fast.hidden_tests} == {2.0}


def test_the_run_config_records_the_timing_and_spec_options():
    cfg = with_absolute_paths(build_config(None, {"benchmark": "humaneval-fix?time_floor=2"}))
    assert cfg.benchmark == "humaneval-fix"
    assert cfg.benchmark_options == {"time_floor": 2.0, "time_factor": 4.0}
    assert with_absolute_paths(build_config(None, {"benchmark": "demo"})).benchmark_options == {}
    dumped = yaml.safe_load(yaml.safe_dump(cfg.dump()))
    assert dumped["benchmark_options"] == {"time_floor": 2.0, "time_factor": 4.0}


def test_the_cli_rejects_a_bad_option_in_one_line(tmp_path: Path):
    proc = subprocess.run([sys.executable, "-m", "semtrace.cli", "run", "--benchmark", "demo?depth=3",
                           "--out", str(tmp_path / "r"), "--no-display"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode != 0
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "has no option 'depth'" in lines[0] and "Traceback" not in proc.stderr
