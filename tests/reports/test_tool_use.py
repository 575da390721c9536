"""``semtrace report`` of pushed against pulled traces: an ``ablate --grid strategy=sequential,debug`` on demo (real
runs: scripted model, local sandbox) reports both with the paired comparison, the pass@1-vs-tokens plot, and the
debug run's tool use per round."""

from __future__ import annotations

from pathlib import Path

from clihelp import invoke
from debughelp import max_of_scenario, write
from rules import fenced
from semtrace.benchmarks.demo import load
from semtrace.reports import build_report
from semtrace.reports.model import Rate


def test_a_strategy_grid_reports_both_paired_with_tool_use(tmp_path: Path) -> None:
    fix = {t.task_id: t.reference for t in load()}
    sequential = {"when": "you can start with", "reply": fenced(fix["demo/max_of"])}
    never = {"when": "`sum_to_n`", "match": "conversation",  # never submits: its round ends at the budget
             "reply": "```tool\n{\"name\": \"run_tests\"}\n```"}
    rules = write(tmp_path / "rules.jsonl", [sequential, never, *max_of_scenario(False)])
    out = tmp_path / "grid"
    res = invoke("ablate", "--grid", "strategy=sequential,debug", "--model", f"scripted:{rules}", "--sandbox",
                 "local", "--tasks", "demo/max_of,demo/sum_to_n", "--depth", "1", "-r", "none", "-o",
                 "tool_calls=2", "--out", str(out), "--no-display")
    assert res.exit_code == 0, res.output
    report = build_report([out], tmp_path / "report")
    tables = {t.name: t for t in report.tables}
    assert {"summary", "paired", "tool_use"} <= set(tables)
    [row] = tables["tool_use"].rows
    cells = dict(zip(tables["tool_use"].columns, row))
    assert (cells["name"], cells["rounds"], cells["run_tests"], cells["trace"], cells["submit"]) == (
        "strategy=debug", 2, 1 + 3, 1, 1)
    assert (cells["ended: submit"], cells["ended: budget"], cells["errors"]) == (1, 1, 1)
    assert isinstance(cells["rounds traced"], Rate) and cells["rounds traced"].mean == 0.5
    assert len(report.paired) >= 1 and any("pass1_tokens" in p.name for p in report.plots)
