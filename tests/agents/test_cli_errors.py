"""``semtrace run`` ends every expected failure with one clear line and the right exit code, creates no run
directory for a run that cannot start, says how to continue after Ctrl-C, and keeps a bug's traceback."""

from __future__ import annotations

import json
import os
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from clihelp import error_line, interruptible, invoke, lock, run_demo, spawn, unlock
from rules import fenced, write_rules
from semtrace.agents.metrics import stable_record
from semtrace.agents.run import read_records
from semtrace.benchmarks.demo import load as load_demo

DEMO = load_demo()


def start(rules: Path, out: Path, *extra: str) -> tuple[str, ...]:
    return ("run", "--model", f"scripted:{rules}", "--sandbox", "local", "--out", str(out), "--no-display", *extra)


@pytest.mark.parametrize("tasks", ["", ",", " , "])
def test_empty_task_list_is_an_error(demo_rules: Path, tmp_path: Path, tasks: str) -> None:
    res = invoke(*start(demo_rules, tmp_path / "run", "--tasks", tasks))
    assert res.exit_code == 2
    assert "'tasks': names no task id" in error_line(res)
    assert not (tmp_path / "run").exists()


def test_docker_without_a_daemon_fails_before_anything_is_created(
    demo_rules: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-such.sock")
    monkeypatch.chdir(tmp_path)  # the hint must not depend on being in the checkout
    res = invoke("run", "--model", f"scripted:{demo_rules}", "--sandbox", "docker", "--out", "run", "--no-display")
    assert res.exit_code == 2
    line = error_line(res)
    assert line.startswith("error: --sandbox docker: no Docker daemon answers") and "--sandbox local" in line, line
    assert "semtrace sandbox check --backend docker" in line and ".ci/" not in line, line
    assert not (tmp_path / "run").exists()


def test_resume_with_out_is_an_error(demo_rules: Path, tmp_path: Path) -> None:
    run_demo(demo_rules, tmp_path / "run", "--limit", "1")
    res = invoke("run", "--resume", str(tmp_path / "run"), "--out", str(tmp_path / "other"))
    assert res.exit_code == 2
    assert "drop --out" in error_line(res)
    assert not (tmp_path / "other").exists()


def test_out_that_is_a_file_or_unwritable(demo_rules: Path, tmp_path: Path) -> None:
    target = tmp_path / "taken"
    target.write_text("x")
    res = invoke(*start(demo_rules, target))
    assert res.exit_code == 2
    assert error_line(res) == f"error: --out '{target}' is a file, not a directory; choose another --out"
    parent = tmp_path / "ro"
    parent.mkdir()
    lock(parent)
    try:
        res = invoke(*start(demo_rules, parent / "run"))
    finally:
        unlock(parent)
    assert res.exit_code == 2
    line = error_line(res)
    assert line.startswith(f"error: cannot create the run directory '{parent / 'run'}': "), line
    assert not (parent / "run").exists()


def test_ctrl_c_says_how_to_continue_and_the_resume_finishes(tmp_path: Path) -> None:
    never = write_rules(tmp_path / "never.jsonl", [{"when": "", "reply": fenced("def nothing():\n    pass")}])
    run_dir = tmp_path / "run"
    results = run_dir / "results.jsonl"
    proc = spawn(*start(never, run_dir, "--depth", "40", "-o", "task_concurrency=1"))
    deadline = time.monotonic() + 120
    while not (results.is_file() and results.stat().st_size) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip().splitlines() == [f"interrupted; continue with `semtrace run --resume {run_dir}`"], err
    finished = len(read_records(results))
    assert 1 <= finished < len(DEMO)
    res = invoke("run", "--resume", str(run_dir), "--no-display")
    assert res.exit_code == 0, res.output
    assert len(read_records(results)) == len(DEMO)


# Ctrl-C at many exact points of a run: when the k-th sandbox request or LLM call starts (tests/agents/interrupting.py
# sends the process SIGINT there), for k from the first request to the last one an uninterrupted run makes.
POINTS = [("sandbox", 0.0), ("sandbox", 0.34), ("sandbox", 0.67), ("sandbox", 1.0), ("llm", 0.0), ("llm", 0.5),
          ("llm", 1.0)]


@pytest.mark.parametrize("kind, where", POINTS)
def test_ctrl_c_at_any_point_exits_130_with_the_hint_and_the_resume_equals_an_uninterrupted_run(
    uninterrupted: tuple[Path, dict[str, Any], dict[str, int]], tmp_path: Path, kind: str, where: float
) -> None:
    from interrupting import ENV

    rules, want, counts = uninterrupted
    k = max(1, round(where * counts[kind]))
    run_dir = tmp_path / "run"
    proc = spawn(*interruptible(rules, run_dir), env={**os.environ, ENV: f"{kind}:{k}"})
    _, err = proc.communicate(timeout=120)
    assert (proc.returncode, err.strip().splitlines()) == (
        130, [f"interrupted; continue with `semtrace run --resume {run_dir}`"]), f"{kind} request {k}: {err}"
    assert len(read_records(run_dir / "results.jsonl")) < len(want)  # stopped before the end
    res = invoke("run", "--resume", str(run_dir), "--no-display")
    assert res.exit_code == 0, res.output
    got = {r["task_id"]: stable_record(r) for r in read_records(run_dir / "results.jsonl")}
    assert got == want


def test_a_bug_after_the_run_keeps_its_traceback_in_errors_jsonl(demo_rules: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    res = invoke(*start(demo_rules, run_dir, "--sandbox", "broken_plugins:CloseFails", "--limit", "2"))
    assert res.exit_code == 1, res.output
    line = error_line(res)
    assert line == (f"error: unexpected ValueError: close is broken (a bug, not a problem with the input; the "
                    f"traceback is in {run_dir / 'errors.jsonl'})"), line
    entry = json.loads((run_dir / "errors.jsonl").read_text().splitlines()[-1])
    assert entry["task_id"] is None and "close is broken" in entry["traceback"]
    assert "Traceback (most recent call last)" in entry["traceback"]
    assert len(read_records(run_dir / "results.jsonl")) == 2  # the finished work is there


def test_a_bug_before_the_run_keeps_its_traceback_in_a_temp_file(
    demo_rules: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    res = invoke(*start(demo_rules, tmp_path / "run", "-r", "broken_plugins:RendererInitFails"))
    assert res.exit_code == 1, res.output
    line = error_line(res)
    assert line.startswith("error: unexpected ValueError: renderer is broken (a bug, not a problem with the input")
    where = Path(line.rsplit("the traceback is in ", 1)[1].rstrip(")"))
    assert where.parent == tmp_path and "renderer is broken" in where.read_text()
    assert not (tmp_path / "run").exists()


def test_user_errors_of_llm_specs_stay_one_line(tmp_path: Path) -> None:
    res = invoke(*start(tmp_path / "missing.jsonl", tmp_path / "run"))
    assert res.exit_code == 2 and "rule file" in error_line(res)
    res = invoke("run", "--model", "nocolon", "--sandbox", "local", "--out", str(tmp_path / "run"))
    assert res.exit_code == 2 and "bad model spec" in error_line(res)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("option, kind", [("--sandbox", "sandbox"), ("-r", "representation"),
                                          ("--selector", "selector")])
def test_a_dotted_path_that_is_not_a_class(demo_rules: Path, tmp_path: Path, option: str, kind: str) -> None:
    res = invoke(*start(demo_rules, tmp_path / "run", option, "os.path:join"))
    assert res.exit_code == 2
    assert f"'os.path:join' is a function, not a {kind} class" in error_line(res)
    assert not (tmp_path / "run").exists()
