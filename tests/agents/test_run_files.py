"""Runs never lose or hide finished work: a results file that cannot be written stops the run at once (resumable,
no unrelated task charged), damaged lines are skipped and kept, a corrupt summary is rebuilt, a corrupt config is
one line naming it, and the saved config resumes from any directory. Real scripted LLM and local sandbox."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from clihelp import error_line, invoke, lock, run_demo, unlock
from semtrace.agents.build import build_components
from semtrace.agents.metrics import stable_record
from semtrace.agents.run import RunWriteError, prepare_run_dir, read_records, run_tasks
from semtrace.agents.rundir import corrupt_path, read_results, repair_results
from semtrace.benchmarks.demo import load as load_demo
from semtrace.config import build_config

DEMO = load_demo()


class LocksResultsAfter:
    """The run's LLM, unchanged, except that before its ``n``-th call it makes results.jsonl unwritable."""

    def __init__(self, llm: Any, results: Path, n: int) -> None:
        self._llm, self._results, self._n, self._calls = llm, results, n, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._llm, name)

    async def generate(self, *args: Any, **kwargs: Any) -> Any:
        self._calls += 1
        if self._calls == self._n:
            assert self._results.is_file()  # the 4 task slots: call 5+ waits for a finished, written task
            lock(self._results)
        return await self._llm.generate(*args, **kwargs)


async def test_results_unwritable_mid_run_stops_at_once_and_resumes(demo_rules: Path, tmp_path: Path) -> None:
    cfg = build_config(flags={"model": f"scripted:{demo_rules}", "sandbox": "local", "display": False},
                       overrides=["task_concurrency=4"])
    run_dir = tmp_path / "run"
    results = run_dir / "results.jsonl"
    comps = await build_components(cfg)
    comps.llm = LocksResultsAfter(comps.llm, results, 6)
    prepare_run_dir(run_dir, cfg, resume=False)
    try:
        with pytest.raises(RunWriteError, match=f"cannot write {results}: "):
            await asyncio.wait_for(run_tasks(cfg, run_dir, comps), 120)  # the old loop could hang here
    finally:
        unlock(results)
        await comps.sandbox.close()
    kept = results.read_text().splitlines()
    assert 1 <= len(kept) < len(DEMO)
    assert not (run_dir / "errors.jsonl").exists()  # no other task was charged with the failure
    comps = await build_components(cfg)
    try:
        summary = await run_tasks(cfg, run_dir, comps)
    finally:
        await comps.sandbox.close()
    assert summary["tasks"] == len(DEMO) and summary["errors"] == 0
    assert results.read_text().splitlines()[: len(kept)] == kept  # finished work untouched


@pytest.mark.parametrize("how", ["read-only", "full-disk"])
def test_results_unwritable_on_resume_is_one_line(demo_rules: Path, tmp_path: Path, how: str) -> None:
    run_dir = tmp_path / "run"
    results = run_dir / "results.jsonl"
    run_demo(demo_rules, run_dir, "--limit", "3")
    lines = results.read_text().splitlines(keepends=True)
    results.write_text("".join(lines[:2]))  # the third task is pending again
    saved = tmp_path / "saved.jsonl"
    if how == "read-only":
        lock(results)
    else:  # /dev/full: every write fails with ENOSPC, like a full disk
        results.rename(saved)
        results.symlink_to("/dev/full")
    try:
        res = invoke("run", "--resume", str(run_dir), "--no-display")
    finally:
        if how == "read-only":
            unlock(results)
        else:
            results.unlink()
            saved.rename(results)
    assert res.exit_code == 2, res.output
    line = error_line(res)
    reason = "No space left on device" if how == "full-disk" else ("Operation not permitted" if os.geteuid() == 0
                                                                    else "Permission denied")
    assert line.startswith(f"error: cannot write {results}: [Errno ") and reason in line, line
    assert line.endswith(f"then continue with `semtrace run --resume {run_dir}`"), line
    assert results.read_text() == "".join(lines[:2])
    run_demo_resume = invoke("run", "--resume", str(run_dir), "--no-display")
    assert run_demo_resume.exit_code == 0, run_demo_resume.output
    assert len(read_records(results)) == 3


def test_corrupt_line_in_the_middle_keeps_every_good_record(demo_rules: Path, tmp_path: Path,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    run_dir = tmp_path / "run"
    results = run_dir / "results.jsonl"
    run_demo(demo_rules, run_dir)
    lines = results.read_text().splitlines(keepends=True)
    assert len(lines) == len(DEMO)
    lines[4] = '{"task_id": "demo/fib", "candid\x00\n'  # a damaged line in the middle
    lines[-1] = lines[-1][:40]  # and a torn last line (no newline)
    results.write_text("".join(lines))
    good = lines[:4] + lines[5:-1]

    rep = invoke("report", str(run_dir), "--json")
    assert rep.exit_code == 0, rep.output
    summary = json.loads(rep.stdout)[str(run_dir)]
    assert summary["tasks"] == len(DEMO) - 2 and summary["total_tasks"] == len(DEMO) and summary["errors"] == 2
    assert f"{results}:5: skipped" in caplog.text and f"{results}:{len(DEMO)}: skipped" in caplog.text

    res = invoke("run", "--resume", str(run_dir), "--no-display")
    assert res.exit_code == 0, res.output
    text = results.read_text()
    assert all(line in text for line in good)  # every good record kept as it was, not re-run
    assert text.startswith("".join(lines[:5]))  # the damaged middle line left in place, the torn one cut off
    assert {r["task_id"] for r in read_records(results)} == {t.task_id for t in DEMO}
    side = [json.loads(line) for line in corrupt_path(results).read_text().splitlines()]
    assert [(e["line"], e["text"]) for e in side] == [(5, lines[4].rstrip("\n")), (len(DEMO), lines[-1])]
    assert invoke("run", "--resume", str(run_dir), "--no-display").exit_code == 0
    assert len(corrupt_path(results).read_text().splitlines()) == 2  # kept once, not once per resume


def test_read_results_keeps_a_record_whose_newline_was_lost(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    path.write_bytes(b'{"task_id": "a"}\n\xff\xfe not utf-8\n{"task_id": "b"}')
    res = read_results(path)
    assert list(res.records) == ["a", "b"] and [b.lineno for b in res.bad] == [2]
    repair_results(res)
    assert path.read_bytes() == b'{"task_id": "a"}\n\xff\xfe not utf-8\n{"task_id": "b"}\n'
    entry = json.loads(corrupt_path(path).read_text())
    assert entry["text"].encode("utf-8", "surrogateescape") == b"\xff\xfe not utf-8"  # the bytes, recoverable


def test_corrupt_summary_is_rebuilt_and_cost_survives_a_resume(demo_rules: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_demo(demo_rules, run_dir)
    assert json.loads((run_dir / "summary.json").read_text())["cost"] == 0.0
    res = invoke("run", "--resume", str(run_dir), "--no-display")  # a finished run: nothing to do
    assert res.exit_code == 0, res.output
    assert json.loads((run_dir / "summary.json").read_text())["cost"] == 0.0  # not null
    (run_dir / "summary.json").write_text('{"tasks": 17, "by_dep')
    rep = invoke("report", str(run_dir), "--json")
    assert rep.exit_code == 0, rep.output
    summary = json.loads(rep.stdout)[str(run_dir)]
    assert summary["tasks"] == summary["total_tasks"] == len(DEMO) and summary["by_depth"]
    res = invoke("run", "--resume", str(run_dir), "--no-display")
    assert res.exit_code == 0, res.output
    assert json.loads((run_dir / "summary.json").read_text())["tasks"] == len(DEMO)


@pytest.mark.parametrize("config, needle", [
    ("benchmark: [demo\n", "is not valid YAML"),
    ("- just\n- a list\n", "does not hold a run config"),
    ("benchmark: demo\nbogus_key: 1\n", "unknown config key 'bogus_key'"),
])
def test_corrupt_config_is_one_line_naming_it(demo_rules: Path, tmp_path: Path, config: str, needle: str) -> None:
    run_dir = tmp_path / "run"
    run_demo(demo_rules, run_dir, "--limit", "2")
    (run_dir / "config.yaml").write_text(config)
    for args in (("report", str(run_dir)), ("run", "--resume", str(run_dir))):
        res = invoke(*args)
        assert res.exit_code == 2, res.output
        line = error_line(res)
        assert line.startswith(f"error: {run_dir / 'config.yaml'}") and needle in line, line


def test_relative_paths_resume_from_another_directory(demo_rules: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    shutil.copy(demo_rules, first / "fix.jsonl")
    (first / "data").mkdir()
    monkeypatch.chdir(first)
    res = invoke("run", "--model", "scripted:fix.jsonl", "--data", "data", "--sandbox", "local",
                 "--out", "run", "--no-display", "--limit", "3")
    assert res.exit_code == 0, res.output
    saved = (first / "run" / "config.yaml").read_text()
    assert f"model: scripted:{first / 'fix.jsonl'}" in saved and f"data_dir: {first / 'data'}" in saved
    results = first / "run" / "results.jsonl"
    results.write_text("".join(results.read_text().splitlines(keepends=True)[:1]))
    monkeypatch.chdir(second)
    res = invoke("run", "--resume", str(first / "run"), "--no-display")
    assert res.exit_code == 0, res.output
    assert len(read_records(results)) == 3
    assert [stable_record(r)["model"] for r in read_records(results)] == [f"scripted:{first / 'fix.jsonl'}"] * 3
