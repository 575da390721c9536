"""``semtrace benchmarks list`` / ``verify``: JSON shape, exit codes, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from semtrace.benchmarks import cli
from semtrace.benchmarks.demo import DEMO
from semtrace.benchmarks.demo import load as load_demo
from semtrace.benchmarks.registry import Benchmark
from typer.testing import CliRunner

runner = CliRunner()
KEYS = {"benchmark", "tasks", "reference", "starting_code", "known_broken", "mismatches", "self_reported_asserts",
        "assert_judged", "unjudgeable"}


def semtrace(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "semtrace.cli", *args], capture_output=True, text=True, check=False,
                          timeout=1800, env=env)


def test_list_names_every_benchmark() -> None:
    result = runner.invoke(cli.app, ["list"])
    assert result.exit_code == 0
    for name in ("humaneval", "humaneval-plus", "mbpp", "mbpp-sanitized", "mbpp-plus", "humaneval-fix", "mbpp-r",
                 "quixbugs", "cruxeval", "demo"):
        assert f"\n{name} " in "\n" + result.output
    assert "MBPP/367" in result.output and "MBPP/927" in result.output


def test_verify_demo_json() -> None:
    proc = semtrace("benchmarks", "verify", "demo", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert set(report) == KEYS
    assert report["reference"] == {"passed": 17, "total": 17}
    assert report["starting_code"] == {"passed": 0, "total": 17}
    assert report["mismatches"] == [] and report["known_broken"] == []
    assert "\x1b[" not in proc.stdout + proc.stderr  # no progress bar off a terminal


def test_verify_limit() -> None:
    result = runner.invoke(cli.app, ["verify", "demo", "--limit", "3", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.output)["tasks"] == 3


def test_exit_1_when_a_starting_program_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_loader(data_dir: Path | None = None):
        tasks = load_demo()[:3]
        from dataclasses import replace
        return [replace(tasks[0], starting_code=tasks[0].reference), *tasks[1:]]

    broken = Benchmark(name="demo-broken", description="", loader=broken_loader)
    monkeypatch.setattr(cli, "get_benchmark", lambda name: broken)
    result = runner.invoke(cli.app, ["verify", "demo-broken", "--json"])
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["starting_code"] == {"passed": 1, "total": 3}
    assert report["mismatches"][0]["task_id"] == "demo/sum_to_n"
    assert report["mismatches"][0]["which"] == "starting_code"
    # the same mismatch on a known-broken task is reported but does not fail the run
    known = Benchmark(name="demo-broken", description="", loader=broken_loader,
                      known_broken={"demo/sum_to_n": "broken on purpose"})
    monkeypatch.setattr(cli, "get_benchmark", lambda name: known)
    result = runner.invoke(cli.app, ["verify", "demo-broken", "--json"])
    assert result.exit_code == 0
    report = json.loads(result.output)
    assert report["known_broken"] == ["demo/sum_to_n"]
    assert "broken on purpose" in report["mismatches"][0]["message"]


@pytest.mark.parametrize("args, needle", [
    (["verify", "nope"], "unknown benchmark 'nope'; valid:"),
    (["verify", "demo", "--limit", "0"], "--limit must be a positive"),
    (["verify", "demo", "--sandbox", "podman"], "--sandbox must be local or docker"),
])
def test_bad_input_one_clear_line(args: list[str], needle: str) -> None:
    proc = semtrace("benchmarks", *args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], proc.stderr


def test_missing_data_one_clear_line(tmp_path: Path) -> None:
    proc = semtrace("benchmarks", "verify", "quixbugs", "--data", str(tmp_path))
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert str(tmp_path / "quixbugs" / "quixbugs_python.jsonl") in line and "https://" in line


def test_demo_is_builtin() -> None:
    assert DEMO.files == {} and len(DEMO.load()) == 17
