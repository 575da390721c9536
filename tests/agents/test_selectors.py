"""Selectors on real runs: majority voting over LLM-proposed inputs, the S*-style judge, and the oracle label."""

from __future__ import annotations

import pytest
from runhelp import run_config
from rules import fenced, write_rules
from semtrace.agents.run import read_records
from semtrace.config import build_config

# passes HumanEval/0's two visible (docstring) tests by rote, and is wrong elsewhere
ROTE = (
    "def has_close_elements(numbers, threshold):\n"
    "    if numbers == [1.0, 2.8, 3.0, 4.0, 5.0, 2.0]:\n        return True\n    return False\n"
)


@pytest.fixture(scope="module")
def task0(data_dir):
    from semtrace.benchmarks.registry import load_benchmark

    return load_benchmark("humaneval", data_dir)[0]


def _rules(tmp_path, task, samples, verdict="B"):
    who = "The function to implement is `has_close_elements`"
    return write_rules(
        tmp_path / "rules.jsonl",
        [
            {"when": who + r"\.\n\nWrite the complete", "reply": [fenced(s) for s in samples]},
            {
                "when": "Propose \\d+ diverse",
                "reply": fenced("has_close_elements([1.0, 1.05], 0.1)\nhas_close_elements([5.0, 1.0], 0.5)"),
            },
            {"when": "whose result differs", "reply": fenced("has_close_elements([3.0, 3.01], 0.1)")},
            {"when": "Which output is correct", "reply": f"Output {verdict} follows the problem.\n{verdict}"},
        ],
    )


async def _select(tmp_path, task, samples, selector, verdict="B"):
    rules = _rules(tmp_path, task, samples, verdict)
    cfg = build_config(
        flags={
            "benchmark": "humaneval",
            "strategy": "parallel",
            "width": len(samples),
            "selector": selector,
            "model": f"scripted:{rules}",
            "sandbox": "local",
            "display": False,
        }
    )
    summary = await run_config(cfg, tmp_path / "run", tasks=[task])
    rec = read_records(tmp_path / "run" / "results.jsonl")[0]
    assert all(c["visible"]["status"] == "passed" for c in rec["candidates"])  # visible tests cannot decide
    return rec, summary


@pytest.mark.parametrize(
    "order, chosen, correct",
    [(["rote", "ref", "ref"], "c1r0", True), (["rote", "rote", "ref"], "c0r0", False)],
)
async def test_majority_output_picks_the_largest_cluster(task0, tmp_path, order, chosen, correct):
    samples = [ROTE if o == "rote" else task0.reference for o in order]
    rec, summary = await _select(tmp_path, task0, samples, "majority_output")
    assert rec["selection"]["id"] == chosen and rec["correct"] is correct
    assert rec["selection"]["info"]["clusters"] == [2, 1]
    assert summary["by_depth"][0]["pass@1"]["mean"] == pytest.approx(order.count("ref") / 3)


@pytest.mark.parametrize("verdict, chosen", [("B", "c1r0"), ("A", "c0r0")])
async def test_llm_judge_follows_the_judgement_on_a_distinguishing_input(task0, tmp_path, verdict, chosen):
    rec, _ = await _select(tmp_path, task0, [ROTE, task0.reference], "llm_judge", verdict)
    duel = rec["selection"]["info"]["duels"][0]
    assert duel["input"] == "[3.0, 3.01], 0.1" and duel["winner"] == chosen == rec["selection"]["id"]


async def test_oracle_is_labelled_upper_bound(task0, tmp_path):
    rec, summary = await _select(tmp_path, task0, [ROTE, task0.reference], "oracle")
    assert rec["selection"]["upper_bound"] is True and summary["selector_upper_bound"] is True
    assert rec["correct"] is True
