"""``semtrace ablate`` checks every grid point (its config, the registry names it uses, its tasks) and its --out
before any point runs: a bad point is one line naming it, exit 2, and nothing is written."""

from __future__ import annotations

from pathlib import Path

import pytest
from clihelp import error_line, invoke


def ablate(rules: Path, out: Path, *grid: str, extra: tuple[str, ...] = ()) -> tuple[str, ...]:
    return ("ablate", *(x for g in grid for x in ("--grid", g)), "-o", f"model=scripted:{rules}",
            "-o", "sandbox=local", "-o", "limit=1", "-o", "depth=1", *extra, "--out", str(out), "--no-display")


@pytest.mark.parametrize("grid, point, needle", [
    (["representation=none,bogus"], "representation=bogus", "unknown representation 'bogus'"),
    (["selector=first_pass,nosuch"], "selector=nosuch", "unknown selector 'nosuch'"),
    (["strategy=sequential,sideways"], "strategy=sideways", "'agent.strategy'"),
    (["sandbox=local,nosuch.mod:Box"], "sandbox=nosuch.mod:Box", "nosuch"),
    (["depth=0,1", "representation=next,bogus"], "depth=0,representation=bogus", "unknown representation"),
    (["benchmark=demo,demo?colour=red"], "benchmark=demo_colour=red", "no option 'colour'"),
    (["tasks=demo/sum_to_n,no-such-task"], "tasks=no-such-task", "unknown task id(s) no-such-task"),
])
def test_a_bad_grid_point_fails_before_any_point_runs(demo_rules: Path, tmp_path: Path, grid: list[str],
                                                      point: str, needle: str) -> None:
    out = tmp_path / "grid"
    res = invoke(*ablate(demo_rules, out, *grid))
    assert res.exit_code == 2, res.output
    line = error_line(res)
    assert f"grid point '{point}'" in line and needle in line, line
    assert not out.exists()  # not even the valid points' directories


def test_a_bad_model_in_the_grid_fails_before_any_point_runs(demo_rules: Path, tmp_path: Path) -> None:
    out = tmp_path / "grid"
    res = invoke(*ablate(demo_rules, out, f"model=scripted:{demo_rules},nosuchprovider:x"))
    assert res.exit_code == 2, res.output
    line = error_line(res)
    assert "grid point 'model=nosuchprovider:x'" in line and "unknown LLM provider 'nosuchprovider'" in line, line
    assert not out.exists()


def test_a_missing_script_fails_before_any_point_runs(demo_rules: Path, tmp_path: Path) -> None:
    out = tmp_path / "grid"
    missing = tmp_path / "missing.jsonl"
    res = invoke(*ablate(demo_rules, out, f"model=scripted:{demo_rules},scripted:{missing}"))
    assert res.exit_code == 2, res.output
    assert "missing.jsonl" in error_line(res)
    assert not out.exists()


def test_a_valid_grid_runs_and_an_unrelated_out_is_refused(demo_rules: Path, tmp_path: Path) -> None:
    out = tmp_path / "grid"
    res = invoke(*ablate(demo_rules, out, "representation=none,next"))
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == ["ablation.json", "representation=next", "representation=none"]
    again = invoke(*ablate(demo_rules, out, "representation=none,next"))  # the same grid continues (nothing to do)
    assert again.exit_code == 0, again.output
    other = invoke(*ablate(demo_rules, out, "representation=none,next", extra=("-o", "depth=2")))
    assert other.exit_code == 2 and "holds a different config" in error_line(other)

    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    res = invoke(*ablate(demo_rules, busy, "representation=none,next"))
    assert res.exit_code == 2
    assert "is not empty and holds no ablation" in error_line(res)
    assert sorted(p.name for p in busy.iterdir()) == ["notes.txt"]

    taken = tmp_path / "taken"
    taken.write_text("x")
    res = invoke(*ablate(demo_rules, taken, "representation=none,next"))
    assert res.exit_code == 2 and "is a file" in error_line(res)


def test_ablate_takes_runs_selection_flags_and_compares_pushed_with_pulled_traces(tmp_path: Path) -> None:
    """``ablate`` takes ``run``'s selection flags (item 7 of issue 21); ``--depth 1`` holds for every point of a
    strategy axis, and a debug point runs its tool loop beside the sequential one on the same tasks."""
    import json

    from debughelp import max_of_scenario, write
    from rules import fenced
    from semtrace.agents.run import read_records
    from semtrace.benchmarks.demo import load

    fix = {t.task_id: t.reference for t in load()}
    sequential = {"when": "you can start with", "reply": fenced(fix["demo/max_of"])}  # the refine prompt's cue
    rules = write(tmp_path / "rules.jsonl", [sequential, *max_of_scenario(False)])
    out = tmp_path / "grid"
    res = invoke("ablate", "--grid", "strategy=sequential,debug", "--benchmark", "demo", "--model",
                 f"scripted:{rules}", "--sandbox", "local", "--tasks", "demo/max_of", "--depth", "1", "-r", "none",
                 "--out", str(out), "--no-display")
    assert res.exit_code == 0, res.output
    for point, calls in (("strategy=sequential", 1), ("strategy=debug", 3)):
        [record] = read_records(out / point / "results.jsonl")
        assert (record["strategy"], record["depth"], record["correct"]) == (point.split("=")[1], 1, True)
        assert record["candidates"][1]["usage"]["calls"] == calls
    combined = json.loads((out / "ablation.json").read_text())
    assert combined["base"]["tasks"] == ["demo/max_of"] and combined["base"]["agent"]["depth"] == 1
