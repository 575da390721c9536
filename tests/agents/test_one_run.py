"""A run directory holds one run, once (issue 19.2), through the command line: a second command in a directory being
run is refused naming the first; a record of another run in results.jsonl is set aside by every reader; a run
started with $SEMTRACE_DATA resumes without it; the results table names the configured width x depth even when
every task errored."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from clihelp import error_line, interruptible, invoke, spawn
from interrupting import ENV, PAUSE_ENV
from rules import repair_rules, write_rules
from semtrace.agents.metrics import stable_record
from semtrace.agents.run import read_records


def _wait_for(path: Path, proc: Any) -> None:
    deadline = time.monotonic() + 120
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def test_a_second_command_in_a_run_directory_being_run_is_refused_naming_the_first(
    uninterrupted: tuple[Path, dict[str, Any], dict[str, int]], tmp_path: Path
) -> None:
    rules, want, _ = uninterrupted
    run_dir, pause = tmp_path / "run", tmp_path / "pause"
    pause.mkdir()
    first = spawn(*interruptible(rules, run_dir), env={**os.environ, ENV: "sandbox:3"})
    assert first.wait(120) == 130  # a run to resume
    resuming = spawn("run", "--resume", str(run_dir), "--no-display", env={**os.environ, PAUSE_ENV: str(pause)})
    _wait_for(pause / "paused", resuming)  # the first resume is under way (it holds its first sandbox request)
    try:
        res = invoke("run", "--resume", str(run_dir), "--no-display")
        line = error_line(res)
        assert res.exit_code == 2
        assert line.startswith(f"error: run directory '{run_dir}' is in use by pid {resuming.pid} on "
                               f"{socket.gethostname()} since "), line
        assert f"(`semtrace run --resume {run_dir} --no-display`)" in line
        assert line.endswith(f"wait for it to end (or stop it), then continue with `semtrace run --resume {run_dir}`")
        res = invoke(*interruptible(rules, run_dir))  # a new run into it: refused alike
        assert res.exit_code == 2
        assert error_line(res).endswith("--no-display`); choose another --out")
    finally:
        (pause / "go").touch()
    _, err = resuming.communicate(timeout=120)
    assert resuming.returncode == 0, err
    lines = (run_dir / "results.jsonl").read_text().splitlines()
    assert len(lines) == len(want)  # every task once: the refused commands did nothing
    assert {r["task_id"]: stable_record(r) for r in read_records(run_dir / "results.jsonl")} == want
    # the lock file left by the finished command is taken over (the kernel let go of its lock when it ended)
    assert json.loads((run_dir / "run.lock").read_text())["pid"] == resuming.pid
    res = invoke("run", "--resume", str(run_dir), "--no-display")
    assert res.exit_code == 0, res.output


def _report(run_dir: Path) -> tuple[int, float]:
    res = invoke("report", str(run_dir), "-f", "json")
    assert res.exit_code == 0, res.output
    row = json.loads(res.stdout)["tables"][0]["rows"][0]
    return row[1], row[3]["mean"]  # tasks, selected


def test_a_record_of_another_run_is_set_aside_by_resume_summary_and_report(
    demo_rules: Path, tmp_path: Path
) -> None:
    run_dir, other = tmp_path / "run", tmp_path / "other"
    base = ("--model", f"scripted:{demo_rules}", "--sandbox", "local", "--no-display")
    assert invoke("run", *base, "--out", str(run_dir), "--limit", "3").exit_code == 0
    assert invoke("run", *base, "--out", str(other), "--limit", "4", "--depth", "2").exit_code == 0
    assert _report(run_dir) == (3, 1.0)
    results = run_dir / "results.jsonl"
    mine = read_records(results)
    digest, ids = mine[0]["config_digest"], {r["task_id"] for r in mine}
    others = read_records(other / "results.jsonl")
    same_task = next(r for r in others if r["task_id"] in ids)  # one of this run's tasks, another config (depth 2)
    new_task = next(r for r in others if r["task_id"] not in ids)
    assert len(digest) == 16 and same_task["config_digest"] not in ("", digest)
    foreign = [
        same_task,
        {**new_task, "config_digest": digest},  # this run's digest, a task it does not have
        {**new_task, "benchmark": "mbpp", "config_digest": ""},  # an older record (no digest) of another benchmark
    ]
    with results.open("a") as fh:
        for rec in foreign:
            fh.write(json.dumps({**rec, "correct": False}) + "\n")

    assert _report(run_dir) == (3, 1.0)
    assert len(read_records(results)) == 3
    proc = spawn("run", "--resume", str(run_dir), "--no-display")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    warnings = [ln for ln in err.splitlines() if ln.strip()]
    assert len(warnings) == 3, err
    assert f"{results}:4: set aside a record that is not this run's (a record of another run: config digest " \
           f"'{same_task['config_digest']}', this run's is '{digest}')" in warnings[0]
    assert f"{results}:5: set aside a record that is not this run's (a record of task " \
           f"'{new_task['task_id']}', which this run does not have)" in warnings[1]
    assert f"{results}:6: set aside a record that is not this run's (a record of benchmark 'mbpp', this run's " \
           f"is 'demo')" in warnings[2]
    assert "errored" not in out and "3 tasks" in out
    summary = json.loads((run_dir / "summary.json").read_text())
    assert (summary["tasks"], summary["total_tasks"], summary["errors"], summary["selected"]["mean"]) == (3, 3, 0, 1.0)


def test_a_run_started_with_semtrace_data_resumes_without_it(fix_tasks: list[Any], data_dir: Path,
                                                              tmp_path: Path) -> None:
    tasks = fix_tasks[:3]
    rules = write_rules(tmp_path / "rules.jsonl", repair_rules(tasks, {t.task_id: 1 for t in tasks}))
    run_dir = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if k != "SEMTRACE_DATA"}
    proc = spawn("run", "--benchmark", "humaneval-fix", "--limit", "3", "--model",
                 f"interrupting:InterruptingLLM:{rules}", "--sandbox", "local", "--depth", "1", "--out", str(run_dir), "--no-display", "-o", "task_concurrency=1",
                 env={**env, "SEMTRACE_DATA": str(data_dir), ENV: "llm:2"})
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    config = run_dir / "config.yaml"
    assert yaml.safe_load(config.read_text())["data_dir"] == str(data_dir.resolve())
    proc = spawn("run", "--resume", str(run_dir), "--no-display", env=env)  # no SEMTRACE_DATA
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert len(read_records(run_dir / "results.jsonl")) == 3

    # data that is gone: the hint says where the run reads it and how to point it elsewhere (not --data)
    saved = yaml.safe_load(config.read_text())
    config.write_text(yaml.safe_dump({**saved, "data_dir": str(tmp_path / "moved")}))
    res = invoke("run", "--resume", str(run_dir), "--no-display")
    assert res.exit_code == 2
    line = error_line(res)
    assert line.startswith(f"error: cannot resume '{run_dir}': humaneval-fix: data file {tmp_path / 'moved'}/"), line
    assert line.endswith(f"not found; put the data back in the run's data dir {tmp_path / 'moved'}, or set data_dir "
                         f"in {config} to where it is now"), line
    assert "--data" not in line

    # a run from before data dirs were saved (none in its config) read $SEMTRACE_DATA: the hint says so
    config.write_text(yaml.safe_dump({**saved, "data_dir": None}))
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("SEMTRACE_DATA", raising=False)
        mp.setenv("SEMTRACE_CACHE", str(tmp_path / "empty-cache"))
        res = invoke("run", "--resume", str(run_dir), "--no-display")
    assert res.exit_code == 2
    line = error_line(res)
    assert line.endswith(f"not found; set SEMTRACE_DATA to the data dir the run started with, or data_dir in {config} "
                         f"to where it is"), line
    assert "--data" not in line


@pytest.mark.parametrize("width, depth", [(1, 2), (3, 2)])
def test_when_every_task_errors_the_table_shows_the_configured_width_and_depth(
    demo_rules: Path, tmp_path: Path, width: int, depth: int
) -> None:
    res = invoke("run", "--model", f"scripted:{demo_rules}", "--sandbox", "broken_plugins:RunFails", "--limit", "2",
                 "--width", str(width), "--depth", str(depth), "--out", str(tmp_path / "run"), "--no-display",
                 "-o", "temperature=0.7")
    assert res.exit_code == 1, res.output
    text = " ".join(res.stdout.split())  # the title and caption wrap to the table's width
    assert f" {width}x{depth} · 2 tasks" in text, res.stdout
    assert "2 task(s) errored" in text
