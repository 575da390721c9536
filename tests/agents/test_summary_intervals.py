"""summarize's rates carry Wilson / bootstrap intervals inside [0, 1]; tables print them as [lo, hi]; the run
comparison gives a paired bootstrap difference. Records are built by hand (no LLM, no sandbox)."""

from __future__ import annotations

from typing import Any

import pytest
from rich.console import Console
from semtrace.agents.display import comparison_table, results_table, width_table
from semtrace.agents.metrics import paired_difference, pass_at_1, pass_at_width, summarize
from semtrace.benchmarks.metrics import bootstrap_interval, wilson_interval


def _record(task_id: str, chains: list[list[bool]], *, depth: int = 1, selected: int = 0) -> dict[str, Any]:
    """One task: ``chains[i][r]`` is whether chain i's round-r program passes (visible and hidden alike)."""
    cands = [
        {
            "id": f"c{i}r{r}",
            "chain": i,
            "round": r,
            "parent": None,
            "code": "",
            "visible": {"status": "passed" if ok else "failed"},
            "hidden": {"status": "passed" if ok else "failed", "passed": int(ok), "total": 1,
                       "outcomes": "P" if ok else "F"},
        }
        for i, rounds in enumerate(chains)
        for r, ok in enumerate(rounds)
    ]
    return {
        "task_id": task_id,
        "depth": depth,
        "width": len(chains),
        "selector": "visible_rate",
        "candidates": cands,
        "selection": {"id": f"c{selected}r{len(chains[selected]) - 1}"},
        "correct": chains[selected][-1],
        "usage": {},
    }


def _rates(summary: dict[str, Any]) -> list[dict[str, float]]:
    cells = [summary["selected"]]
    for row in summary["by_depth"] + summary["by_width"]:
        cells += [v for v in row.values() if isinstance(v, dict)]
    return cells


def test_demo_shaped_summary_has_wilson_intervals_inside_the_unit_interval() -> None:
    # 17 tasks at width 1, one repaired at depth 1: the old normal interval was "5.9% +- 11.5%" ([-5.6%, 17.4%])
    records = [_record(f"demo/{i}", [[False, i == 0]]) for i in range(17)]
    summary = summarize(records)
    final = summary["by_depth"][1]["pass@1"]
    assert set(final) == {"mean", "lo", "hi"}
    assert final["mean"] == pytest.approx(1 / 17)
    assert (final["lo"], final["hi"]) == pytest.approx((0.010460, 0.269820), abs=1e-6)
    assert summary["by_depth"][0]["pass@1"] == {"mean": 0.0, "lo": 0.0, "hi": pytest.approx(0.184318, abs=1e-6)}  # z²/(n + z²)
    assert all(0.0 <= c["lo"] <= c["mean"] <= c["hi"] <= 1.0 for c in _rates(summary))
    console = Console(record=True, width=160)
    console.print(results_table(summary))
    text = console.export_text()
    assert "5.9% [1.0%, 27.0%]" in text and "[lo, hi] = 95% interval" in text and "±" not in text


def test_errored_tasks_count_as_failures_in_the_intervals() -> None:
    records = [_record(t, [[True]], depth=0) for t in ("a", "b")]  # 2 of 3 tasks solved, the third errored
    summary = summarize(records, total_tasks=3)
    assert summary["selected"]["mean"] == pytest.approx(2 / 3)
    # the old normal interval: 66.7% +- 65.3%, up to 132%
    assert (summary["selected"]["lo"], summary["selected"]["hi"]) == pytest.approx(wilson_interval(2, 3))


def test_fractional_pass_at_1_over_chains_is_bootstrapped_over_tasks() -> None:
    outcomes = [
        [[False, True], [False, False], [True, True]],  # 2 of 3 chains at depth 1
        [[False, False], [False, False], [False, False]],
        [[False, True], [False, True], [False, True]],
        [[False, False], [True, True], [False, False]],
    ]
    records = [_record(f"t{i}", chains) for i, chains in enumerate(outcomes)]
    summary = summarize(records, total_tasks=5)  # one more task errored: 0 everywhere
    per_task = [2 / 3, 0.0, 1.0, 1 / 3, 0.0]
    cell = summary["by_depth"][1]["pass@1"]
    assert cell["mean"] == pytest.approx(sum(per_task) / 5)
    assert (cell["lo"], cell["hi"]) == bootstrap_interval([pass_at_1(r, 1) for r in records] + [0.0])
    assert all(0.0 <= c["lo"] <= c["mean"] <= c["hi"] <= 1.0 for c in _rates(summary))
    # pass@k at k = width = n is 0/1 per task: the same Wilson interval as the oracle at full width
    full = summary["by_width"][-1]
    assert full["pass@k"] == full["oracle"] and full["pass@k"]["mean"] == pytest.approx(3 / 5)
    assert summary == summarize(records, total_tasks=5)  # seeded: deterministic
    assert width_table(summary) is not None


def test_pass_at_width_uses_the_unbiased_estimator_and_caps_k_at_the_chains() -> None:
    rec = _record("t", [[True], [False], [False], [False]], depth=0)
    assert [pass_at_width(rec, w) for w in (1, 2, 4)] == pytest.approx([0.25, 0.5, 1.0])
    assert pass_at_width(rec, 6) == 1.0  # fewer chains than k: the best of all four
    assert pass_at_width(_record("u", [[False]], depth=0), 3) == 0.0


def test_comparison_gives_a_paired_bootstrap_difference() -> None:
    base = [_record(f"t{i}", [[i < 3]], depth=0) for i in range(10)]
    better = [_record(f"t{i}", [[i < 8]], depth=0) for i in range(10)]
    a = {**summarize(base), "config": {"benchmark": "demo"}}
    b = {**summarize(better), "config": {"benchmark": "demo"}}
    assert paired_difference(a, a) == (0.0, 0.0, 0.0)
    diff, lo, hi = paired_difference(b, a)
    assert diff == pytest.approx(0.5) and 0.0 < lo <= diff <= hi <= 1.0
    assert paired_difference(b, {**a, "config": {"benchmark": "mbpp"}}) is None  # not the same tasks
    assert paired_difference(b, {k: v for k, v in a.items() if k != "per_task"}) is None
    # a task one run did not finish scores 0 there
    partial = {**summarize(better[:9], total_tasks=10), "config": {"benchmark": "demo"}}
    assert paired_difference(partial, a)[0] == pytest.approx(0.5)
    console = Console(record=True, width=200)
    console.print(comparison_table([("base", a), ("better", b)]))
    text = console.export_text()
    assert "Δ selected vs first" in text and f"+50.0 pts [{lo * 100:+.1f}, {hi * 100:+.1f}]" in text
    assert "30.0% [" in text and "±" not in text
