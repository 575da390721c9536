"""End to end with the scripted back end, the local sandbox and the real renderers on HumanEvalFix."""

from __future__ import annotations

import json

import pytest
from runhelp import run_config
from rules import repair_rules, write_rules
from semtrace.agents.run import read_records
from semtrace.config import build_config
from typer.testing import CliRunner

# Python/0..9: fixed at round 1, 2, 3, never, ... -> pass@1 at depth d is the share with fix round <= d.
FIX_ROUNDS = [1, 2, 3, None, 1, 2, 3, None, 1, 2]


def expected_curve(depth: int) -> list[float]:
    return [sum(r is not None and r <= d for r in FIX_ROUNDS) / len(FIX_ROUNDS) for d in range(depth + 1)]


@pytest.mark.parametrize("representation", ["next", "none"])
async def test_sequential_depth3_curve_follows_the_rules(fix_tasks, data_dir, tmp_path, representation):
    tasks = fix_tasks[:10]
    rules = write_rules(
        tmp_path / "rules.jsonl", repair_rules(tasks, {t.task_id: r for t, r in zip(tasks, FIX_ROUNDS)})
    )
    cfg = build_config(
        flags={
            "benchmark": "humaneval-fix",
            "data_dir": str(data_dir),
            "limit": 10,
            "strategy": "sequential",
            "depth": 3,
            "representation": representation,
            "model": f"scripted:{rules}",
            "sandbox": "local",
            "display": False,
        }
    )
    summary = await run_config(cfg, tmp_path / "run")
    curve = [row["pass@1"]["mean"] for row in summary["by_depth"]]
    if representation == "none":
        # the rules only fix a program when the prompt's trace shows the bug's line: no trace, no fix
        assert curve == [0.0, 0.0, 0.0, 0.0]
    else:
        assert curve == pytest.approx(expected_curve(3))
        assert curve == sorted(curve) and curve[-1] > curve[0]
    records = read_records(tmp_path / "run" / "results.jsonl")
    assert sorted(r["task_id"] for r in records) == sorted(t.task_id for t in tasks)
    for rec, fix in ((r, dict(zip([t.task_id for t in tasks], FIX_ROUNDS))[r["task_id"]]) for r in records):
        rounds = [c["round"] for c in rec["candidates"]]
        # every round is kept: a chain fixed at round r has rounds 0..r, a never-fixed one 0..3
        last = fix if (fix is not None and representation == "next") else 3
        assert rounds == list(range(last + 1))
        for c in rec["candidates"]:
            assert c["visible"]["status"] and c["hidden"]["status"]
            assert c["parent"] == (None if c["round"] == 0 else f"c0r{c['round'] - 1}")
        failing = [c for c in rec["candidates"] if c["round"] < last]
        assert all(c["feedback"] for c in failing)
        if representation == "next":
            assert all(c["trace"] and c["trace"]["n_events"] and c["rendering"] for c in failing)
        assert rec["correct"] == (representation == "next" and fix is not None)


async def test_hybrid_width_curves_and_selectors(fix_tasks, data_dir, tmp_path):
    """Width 3 x depth 2: per-width curves come from one run; the oracle is flagged as an upper bound."""
    tasks = fix_tasks[:4]
    rules = write_rules(
        tmp_path / "rules.jsonl", repair_rules(tasks, {tasks[0].task_id: 1, tasks[1].task_id: 2})
    )
    cfg = build_config(
        flags={
            "benchmark": "humaneval-fix",
            "data_dir": str(data_dir),
            "limit": 4,
            "strategy": "hybrid",
            "width": 3,
            "depth": 2,
            "representation": "next",
            "model": f"scripted:{rules}",
            "sandbox": "local",
            "selector": "oracle",
            "critique": True,
            "display": False,
        },
        overrides=["temperature=0.7"],
    )
    summary = await run_config(cfg, tmp_path / "run")
    assert summary["selector_upper_bound"] is True
    assert [row["width"] for row in summary["by_width"]] == [1, 2, 3]
    # tasks 0 and 1 are fixed in every chain by depth 2, the others in none: pass@k = 0.5 for every k
    assert [row["pass@k"]["mean"] for row in summary["by_width"]] == pytest.approx([0.5, 0.5, 0.5])
    assert [row["pass@1"]["mean"] for row in summary["by_depth"]] == pytest.approx([0.0, 0.25, 0.5])
    tokens = [row["tokens"] for row in summary["by_depth"]]
    usage = summary["usage"]
    assert tokens == sorted(tokens) and tokens[-1] == usage["prompt_tokens"] + usage["completion_tokens"]
    rec = read_records(tmp_path / "run" / "results.jsonl")[0]
    assert {c["chain"] for c in rec["candidates"]} == {0, 1, 2}
    assert all(c.get("critique") for c in rec["candidates"] if c["round"] == 0)


def test_cli_run_prints_table_and_report(fix_tasks, data_dir, tmp_path):
    from semtrace.cli import _mount, app

    _mount()
    tasks = fix_tasks[:2]
    rules = write_rules(tmp_path / "rules.jsonl", repair_rules(tasks, {t.task_id: 1 for t in tasks}))
    out = tmp_path / "run"
    runner = CliRunner()
    res = runner.invoke(
        app,
        [
            "run",
            "--benchmark",
            "humaneval-fix",
            "--data",
            str(data_dir),
            "--limit",
            "2",
            "--model",
            f"scripted:{rules}",
            "--sandbox",
            "local",
            "--depth",
            "1",
            "--out",
            str(out),
            "--no-display",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "pass@1" in res.output and "100.0%" in res.output
    assert json.loads((out / "summary.json").read_text())["by_depth"][1]["pass@1"]["mean"] == 1.0
    rep = runner.invoke(app, ["report", str(out)])
    assert rep.exit_code == 0 and "100.0%" in rep.output
    # the same directory again is refused with the fix named
    again = runner.invoke(app, ["run", "--out", str(out), "--benchmark", "humaneval-fix"])
    assert again.exit_code == 2 and "--resume" in again.output
    bad = runner.invoke(app, ["run", "-o", "dept=3", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "unknown config key 'dept'" in bad.output
