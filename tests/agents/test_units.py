"""Unit tests: config loading, reducers, routes, selectors' parsing, metrics, the results file, ablation grids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console
from rules import repair_rules, write_rules
from runhelp import run_config
from semtrace.agents.ablate import grid_points, parse_grid, run_grid
from semtrace.agents.display import progress_table, results_table
from semtrace.agents.metrics import pass_at_k, stable_record
from semtrace.agents.routes import after_execute, after_finish, after_render
from semtrace.agents.run import Progress, read_records
from semtrace.agents.selectors import parse_calls
from semtrace.agents.settings import AgentSettings
from semtrace.agents.state import merge_candidates
from semtrace.config import ConfigError, build_config
from semtrace.representations.prompts import Attempt, refine_messages


def test_config_precedence_yaml_flags_overrides(tmp_path):
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("benchmark: humaneval\ndepth: 2\nlimits:\n  wall_time: 3\n")
    cfg = build_config(cfg_file, {"depth": 4, "width": None}, ["limits.wall_time=1.5", "critique=true"])
    assert (cfg.benchmark, cfg.agent.depth, cfg.limits.wall_time, cfg.agent.critique) == ("humaneval", 4, 1.5, True)
    assert cfg.agent.width == 1  # the sequential preset fills what was not given
    assert build_config(None, {"strategy": "parallel"}).agent.depth == 0
    assert build_config(None, {"strategy": "hybrid"}).agent.resolved_width == 4


@pytest.mark.parametrize(
    "args, message",
    [
        ({"overrides": ["widht=3"]}, "unknown config key 'widht'"),
        ({"overrides": ["depth"]}, "not key=value"),
        ({"flags": {"strategy": "greedy", "depth": 2}}, "strategy 'greedy' fixes depth=0"),
        ({"flags": {"strategy": "beam"}}, "bad config value for 'agent.strategy'"),
        ({"path": "/nonexistent.yaml"}, "not found"),
    ],
)
def test_config_errors_name_the_problem(args, message):
    with pytest.raises(ConfigError, match=message):
        build_config(**args)


def test_merge_candidates_patches_by_id_without_mutating():
    left = [{"id": "c0r0", "code": "a"}]
    right = [{"id": "c0r0", "trace": {"x": 1}}, {"id": "c0r1", "code": "b"}]
    merged = merge_candidates(left, right)
    assert merged == [{"id": "c0r0", "code": "a", "trace": {"x": 1}}, {"id": "c0r1", "code": "b"}]
    assert left == [{"id": "c0r0", "code": "a"}] and len(right) == 2


def test_routes_are_pure_decisions():
    s = AgentSettings.of(depth=2, critique=True)
    failing = {"round": 0, "visible": {"status": "failed", "tests": [{}]}, "failing": 0}
    assert after_execute(failing, s) == "trace"
    assert after_execute({**failing, "round": 2}, s) == "finish"
    assert (
        after_execute({**failing, "visible": {"status": "passed", "tests": [{}]}, "failing": None}, s)
        == "finish"
    )
    assert after_execute(failing, AgentSettings.of(depth=2, needs_trace=False)) == "render"
    assert after_render(failing, s) == "critique" and after_render(failing, AgentSettings()) == "refine"
    assert after_finish({"width": 2, "finished": [0]}) == "__end__"
    assert after_finish({"width": 2, "finished": [1, 0]}) == "select"


def test_refine_history_all_lists_every_attempt():
    attempts = [
        Attempt("def f(): return 1", "Input: f()\nExpected output: 2", "trace-1"),
        Attempt("def f(): return 3", "Input: f()\nExpected output: 2", "trace-2"),
    ]
    all_ = refine_messages("Return two.", "f", attempts, "all")[-1].content
    last = refine_messages("Return two.", "f", attempts, "last")[-1].content
    assert "### Attempt 1" in all_ and "### Attempt 2 (latest)" in all_ and "trace-2" in all_
    assert "trace-1" not in all_  # only the latest round's trace is shown
    assert "return 1" not in last and "return 3" in last and "**BUGGY_PROGRAM**" in last


def test_parse_calls_keeps_valid_calls_of_the_entry_point():
    reply = "Inputs:\n```python\nf([1, 2])\nassert f([]) == 0\ng(3)\nf(1,\nf('a', k=2)\nf([1, 2])\n```"
    assert parse_calls(reply, "f", 5) == ["[1, 2]", "[]", "'a', k=2"]


def test_pass_at_k_and_stable_record():
    assert pass_at_k(4, 0, 1) == 0.0 and pass_at_k(4, 4, 1) == 1.0
    assert pass_at_k(4, 1, 1) == pytest.approx(0.25) and pass_at_k(4, 1, 4) == 1.0
    rec = {"a": 1, "duration": 3.2, "c": [{"python": "3.12", "b": 2}]}
    assert stable_record(rec) == {"a": 1, "c": [{"b": 2}]}


def test_results_file_ignores_and_repairs_a_torn_line(tmp_path):
    path = tmp_path / "results.jsonl"
    path.write_text(
        json.dumps({"task_id": "a"}) + "\n" + json.dumps({"task_id": "b"}) + "\n" + '{"task_id": "c", '
    )
    assert [r["task_id"] for r in read_records(path)] == ["a", "b"]
    read_records(path, repair=True)
    assert path.read_text().count("\n") == 2 and path.read_text().endswith("}\n")


def test_grid_points_and_errors():
    base = build_config(None, {"benchmark": "humaneval-fix"})
    grid = parse_grid(["representation=none,next", "depth=0,2"])
    names = [n for n, _ in grid_points(base, grid)]
    assert names == [
        "representation=none,depth=0",
        "representation=none,depth=2",
        "representation=next,depth=0",
        "representation=next,depth=2",
    ]
    with pytest.raises(ConfigError, match="at least one --grid"):
        parse_grid([])
    with pytest.raises(ConfigError, match="twice"):
        parse_grid(["depth=1", "depth=2"])


async def test_ablate_runs_the_grid_with_one_llm_and_writes_a_combined_summary(fix_tasks, data_dir, tmp_path):
    tasks = fix_tasks[:3]
    rules = write_rules(tmp_path / "rules.jsonl", repair_rules(tasks, {t.task_id: 1 for t in tasks}))
    base = build_config(
        None,
        {
            "benchmark": "humaneval-fix",
            "data_dir": str(data_dir),
            "limit": 3,
            "model": f"scripted:{rules}",
            "sandbox": "local",
            "depth": 1,
            "display": False,
        },
    )
    out = tmp_path / "grid"
    combined = await run_grid(base, parse_grid(["representation=none,next"]), out)
    saved = json.loads((out / "ablation.json").read_text())
    assert set(saved["points"]) == {"representation=none", "representation=next"} == set(combined["points"])
    # the rules fix only when a trace shows the bug: 'none' stays at 0, 'next' reaches 1.0 at depth 1
    assert saved["points"]["representation=none"]["selected"]["mean"] == 0.0
    assert saved["points"]["representation=next"]["selected"]["mean"] == 1.0
    again = await run_grid(
        base, parse_grid(["representation=none,next"]), out
    )  # re-running continues: no work
    volatile = {"cost", "wall_time"}  # (wall time sums every session, the continuing one too)
    for name, point in combined["points"].items():
        assert {k: v for k, v in again["points"][name].items() if k not in volatile} == {
            k: v for k, v in point.items() if k not in volatile
        }


async def test_tables_render(fix_tasks, data_dir, tmp_path):
    tasks = fix_tasks[:2]
    rules = write_rules(tmp_path / "rules.jsonl", repair_rules(tasks, {tasks[0].task_id: 1}))
    cfg = build_config(
        None,
        {
            "benchmark": "humaneval-fix",
            "data_dir": str(data_dir),
            "limit": 2,
            "width": 2,
            "strategy": "hybrid",
            "depth": 1,
            "model": f"scripted:{rules}",
            "sandbox": "local",
            "display": False,
        },
    )
    summary = await run_config(cfg, tmp_path / "run")
    console = Console(record=True, width=160)
    console.print(results_table(summary))
    console.print(progress_table(Progress(total=2, done=1, correct=1), None))
    text = console.export_text()
    assert "oracle (upper bound)" in text and "50.0%" in text and "tasks" in text and "1/2" in text
    assert len(read_records(Path(tmp_path / "run" / "results.jsonl"))) == 2


async def test_llm_written_rendering_records_exactly_its_own_usage(fix_tasks, data_dir, tmp_path):
    """semcoder_nl's rationale call is charged to the candidate it renders: one call with its own tokens, not a
    diff of run-wide counters that other tasks move while it waits."""
    tasks = fix_tasks[:3]
    rationale = {"when": "a test it fails, and the trace", "reply": "The loop stops one step early."}
    rules = write_rules(tmp_path / "rules.jsonl",
                        [rationale, *repair_rules(tasks, {t.task_id: None for t in tasks})])
    cfg = build_config(
        None,
        {
            "benchmark": "humaneval-fix", "data_dir": str(data_dir), "limit": 3, "depth": 1,
            "strategy": "sequential", "representation": "semcoder_nl", "model": f"scripted:{rules}",
            "sandbox": "local", "display": False,
        },
    )
    await run_config(cfg, tmp_path / "run")
    rendered = [c for rec in read_records(tmp_path / "run" / "results.jsonl") for c in rec["candidates"]
                if c.get("rendering")]
    assert rendered
    for c in rendered:
        usage = c.get("render_usage") or {}
        assert usage.get("calls") == 1 and usage.get("completion_tokens", 0) > 0, usage
