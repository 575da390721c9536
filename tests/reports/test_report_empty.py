"""``semtrace report`` of runs with nothing to compare: no task in common, or no finished task, is said in one
line; no paired difference, p-value or row of zero rates is made up for it."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from reportcli import error_line, invoke

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "agents"))
from rules import fenced, write_rules


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Demo runs fixed at round 1 by scripted replies: A (next) and B (none) on the same two tasks, C (none) on
    another task, and A0/B0: runs that were started but have no finished task (their config only)."""
    from semtrace.benchmarks.demo import load

    tmp = tmp_path_factory.mktemp("runs")
    rules = write_rules(tmp / "rules.jsonl", [{"when": f"`{t.entry_point}`", "reply": fenced(t.reference or "")}
                                              for t in load()])
    for name, args in (("A", ["-r", "next", "--limit", "2"]), ("B", ["-r", "none", "--limit", "2"]),
                       ("C", ["-r", "none", "--tasks", "demo/max_of"])):
        res = invoke("run", "--model", f"scripted:{rules}", "--sandbox", "local", "--no-display",
                     "--out", tmp / name, *args)
        assert res.exit_code == 0, res.output
    for name in ("A", "B"):
        (tmp / f"{name}0").mkdir()
        shutil.copy(tmp / name / "config.yaml", tmp / f"{name}0" / "config.yaml")
    return tmp


def test_runs_with_tasks_in_common_are_paired(runs: Path) -> None:
    res = invoke("report", runs / "A", runs / "B", "--format", "json")
    assert res.exit_code == 0, res.output
    paired = json.loads(res.stdout)["paired"]
    assert [(p["tasks"], p["ties"]) for p in paired] == [(2, 2)]  # the replies fix both tasks in both runs


@pytest.mark.parametrize("baseline", [False, True])
def test_no_task_in_common_is_nothing_to_pair(runs: Path, baseline: bool) -> None:
    res = invoke("report", runs / "A", runs / "C", *(["--baseline", runs / "C"] if baseline else []),
                 "--format", "json")
    if baseline:
        assert res.exit_code == 2
        line = error_line(res)
        assert "no task in common, so there is nothing to pair" in line and "demo/max_of" in line, line
        return
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["paired"] == [] and not any(t["name"] == "paired" for t in data["tables"])
    notes = [n for n in res.stderr.splitlines() if "nothing to pair" in n]
    assert len(notes) == 1 and "no task in common" in notes[0], res.stderr
    assert "+0.0" not in res.output and "McNemar" not in res.output


def test_a_run_without_a_finished_task_has_no_rates(runs: Path) -> None:
    res = invoke("report", runs / "A", runs / "B0", "--format", "csv")
    assert res.exit_code == 0, res.output
    assert "not paired: " in res.stderr and "B0 has no finished task, so there is nothing to pair" in res.stderr
    assert "no finished task in " in res.stderr and "its rows show no rates" in res.stderr
    summary = res.stdout.split("\n\n")[0].splitlines()
    header, rows = summary[1].split(","), [r.split(",") for r in summary[2:]]
    empty = next(r for r in rows if r[0] == "none")
    assert empty[header.index("tasks")] == "0"
    assert all(empty[header.index(c)] == "" for c in ("pass@1", "tokens/task")), summary  # '-', not zeros
    assert "McNemar" not in res.stdout


def test_only_runs_without_a_finished_task_is_one_line(runs: Path) -> None:
    for args in ([runs / "A0"], [runs / "A0", runs / "B0"], [runs / "A0", runs / "B0", "--baseline", runs / "A0"]):
        res = invoke("report", *args)
        assert res.exit_code == 2, res.output
        line = error_line(res)
        assert line.startswith("error: nothing to report: no finished task in ") and "A0" in line, line


def test_a_baseline_without_a_finished_task_is_refused(runs: Path) -> None:
    res = invoke("report", runs / "A", runs / "B0", "--baseline", runs / "B0")
    assert res.exit_code == 2
    assert "B0 has no finished task, so there is nothing to pair; finish the runs first" in error_line(res)


@pytest.mark.parametrize("plots", [False, True])
def test_out_that_is_a_file_is_one_line_before_any_work(runs: Path, tmp_path: Path, plots: bool) -> None:
    taken = tmp_path / "taken.txt"
    taken.write_text("x")
    for out, needle in ((taken, f"--out '{taken}' is a file"), (taken / "sub", f"'{taken}' is a file, not a folder")):
        res = invoke("report", runs / "A", "--out", out, *(["--plots"] if plots else []))
        assert res.exit_code == 2, res.output
        assert needle in error_line(res)  # the one line is all: no table printed before it
    assert taken.read_text() == "x"
