"""Checkpoints of an older format: a run killed under the format before issue 20 (full candidate lists, plain
blobs: ``fixtures/run-format1``, made by semtrace at 47b5b31 with a scripted model, killed after its first record)
resumes and finishes with the records of an uninterrupted run; a database of a newer format is one line naming its
version."""

from __future__ import annotations

import logging
import shutil
import sqlite3
from pathlib import Path

from clihelp import error_line, invoke
from runhelp import comparable, records_by_task
from semtrace.agents.checkpoints import FORMAT

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "run-format1"
IDS = ["demo/sum_to_n", "demo/factorial", "demo/is_even"]


def _old_run(tmp: Path) -> tuple[Path, Path]:
    run = tmp / "old"
    shutil.copytree(FIXTURE, run)
    rules = run / "rules.jsonl"
    cfg = run / "config.yaml"
    cfg.write_text(cfg.read_text().replace("scripted:RULES", f"scripted:{rules}"))
    return run, rules


def test_a_run_killed_under_the_old_format_resumes_and_equals_an_uninterrupted_run(tmp_path: Path, caplog) -> None:
    run, rules = _old_run(tmp_path)
    db = sqlite3.connect(run / "checkpoints.sqlite")
    try:  # the fixture is what it claims: format 1, a task in flight
        assert db.execute("PRAGMA user_version").fetchone()[0] == 0
        assert db.execute("SELECT DISTINCT thread_id FROM checkpoints").fetchall() == [("demo/factorial",)]
    finally:
        db.close()
    assert list(records_by_task(run)) == ["demo/sum_to_n"]
    with caplog.at_level(logging.INFO, logger="semtrace.agents.scoring"):
        res = invoke("run", "--resume", str(run), "--no-display")
    assert res.exit_code == 0, res.output
    # the task in flight went on from its old checkpoint (not from scratch)
    assert any("demo/factorial: continuing from its checkpoint" in r.getMessage() for r in caplog.records)
    resumed = records_by_task(run)
    assert sorted(resumed) == sorted(IDS)
    fresh = tmp_path / "fresh"
    res = invoke("run", "--benchmark", "demo", "--model", f"scripted:{rules}", "--sandbox", "local", "--strategy",
                 "hybrid", "--width", "2", "--depth", "3", "--limit", "3", "-o", "task_concurrency=1",
                 "--out", str(fresh), "--no-display")
    assert res.exit_code == 0, res.output
    uninterrupted = records_by_task(fresh)
    for task_id in IDS[1:]:  # the task in flight at the kill, and the one not started
        assert comparable(resumed[task_id]) == comparable(uninterrupted[task_id]), task_id
    db = sqlite3.connect(run / "checkpoints.sqlite")
    try:
        assert db.execute("PRAGMA user_version").fetchone()[0] == FORMAT
    finally:
        db.close()


def test_a_newer_format_is_one_line_naming_it(tmp_path: Path) -> None:
    run, _ = _old_run(tmp_path)
    db = sqlite3.connect(run / "checkpoints.sqlite")
    db.execute(f"PRAGMA user_version = {FORMAT + 1}")
    db.commit()
    db.close()
    res = invoke("run", "--resume", str(run), "--no-display")
    assert res.exit_code == 2
    line = error_line(res)
    assert f"checkpoint format {FORMAT + 1}" in line and "checkpoints.sqlite" in line and f"1 to {FORMAT}" in line
