"""A ``debug`` run stopped mid-round (Ctrl-C when its k-th LLM call or sandbox request starts: the ``interrupting``
plugins) resumes at the loop's step and finishes with records equal to an uninterrupted run's; no LLM call that
had finished is asked again (the loop is checkpointed at every step, agents/debug.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from clihelp import invoke, spawn
from debughelp import MAX_OF_FIX, call, max_of_scenario, rule, write
from interrupting import COUNT_ENV, ENV
from semtrace.agents.metrics import stable_record
from semtrace.agents.run import read_records

SUM_FIX = "def sum_to_n(n):\n    return sum(range(n + 1))\n"


def _rules(path: Path) -> Path:
    rules = [*max_of_scenario(False),
             rule(r"`sum_to_n`[\s\S]*\[trace result\]", f"The range stops early.\n```python\n{SUM_FIX}```"),
             rule(r"`sum_to_n`", call("trace", False, expression="sum_to_n(3)", lines=[1, 2])),
             rule(r"`is_even`", call("run", False, expression="is_even(3)"))]  # never submits
    return write(path, rules)


def _args(rules: Path, out: Path) -> tuple[str, ...]:
    return ("run", "--model", f"interrupting:InterruptingLLM:{rules}", "--sandbox",
            "interrupting:InterruptingSandbox", "--strategy", "debug", "--depth", "2", "-r", "none",
            "--tasks", "demo/max_of,demo/sum_to_n,demo/is_even", "--out", str(out), "--no-display",
            "-o", "tool_calls=2", "-o", "task_concurrency=1")


def _records(run_dir: Path) -> dict[str, Any]:
    return {r["task_id"]: stable_record(r) for r in read_records(run_dir / "results.jsonl")}


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], dict[str, int]]:
    base = tmp_path_factory.mktemp("debug-ref")
    rules = _rules(base / "rules.jsonl")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(COUNT_ENV, str(base / "count"))
        res = invoke(*_args(rules, base / "run"))
    assert res.exit_code == 0, res.output
    kinds = (base / "count").read_text().split()
    want = _records(base / "run")
    assert len(want) == 3
    return rules, want, {k: kinds.count(k) for k in ("sandbox", "llm")}


def test_the_reference_run_did_what_the_script_says(reference: tuple[Path, dict[str, Any], dict[str, int]]) -> None:
    _, want, counts = reference
    ends = {tid: [c["transcript"]["end"] for c in r["candidates"] if c["transcript"]] for tid, r in want.items()}
    assert ends == {"demo/max_of": ["submit"], "demo/sum_to_n": ["answer"], "demo/is_even": ["budget", "budget"]}
    assert want["demo/max_of"]["candidates"][1]["code"] == MAX_OF_FIX and want["demo/sum_to_n"]["correct"]
    assert counts["llm"] == 3 + 2 + 2 * 3


def _next_steps(run_dir: Path) -> dict[str, tuple[str, ...]]:
    """Where each unfinished task's checkpoint stands (its graph's next nodes)."""
    import asyncio

    from semtrace.agents.checkpoints import RunSaver
    from semtrace.agents.graph import compile_graph

    async def read() -> dict[str, tuple[str, ...]]:
        async with RunSaver.open(str(run_dir / "checkpoints.sqlite")) as saver:
            app = compile_graph(checkpointer=saver)
            out = {}
            for tid in ("demo/max_of", "demo/sum_to_n", "demo/is_even"):
                snap = await app.aget_state({"configurable": {"thread_id": tid}})
                if snap.next:
                    out[tid] = tuple(snap.next)
            return out

    return asyncio.run(read())


@pytest.mark.parametrize("kind, k", [("llm", 2), ("llm", 3), ("llm", 5), ("llm", 8), ("llm", 10),
                                     ("sandbox", 2), ("sandbox", 4), ("sandbox", 7)])
def test_ctrl_c_mid_round_then_resume_equals_the_uninterrupted_run(
        reference: tuple[Path, dict[str, Any], dict[str, int]], tmp_path: Path, kind: str, k: int) -> None:
    rules, want, counts = reference
    run_dir, count = tmp_path / "run", tmp_path / "count"
    env = {**os.environ, ENV: f"{kind}:{k}", COUNT_ENV: str(count)}
    proc = spawn(*_args(rules, run_dir), env=env)
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 130, err
    assert len(read_records(run_dir / "results.jsonl")) < len(want)
    where = _next_steps(run_dir)
    if kind == "llm":  # stopped inside a round's tool loop: the checkpoint's next step is the loop's
        assert "debug" in {n for steps in where.values() for n in steps}, where
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(COUNT_ENV, str(count))
        res = invoke("run", "--resume", str(run_dir), "--no-display")
    assert res.exit_code == 0, res.output
    assert _records(run_dir) == want
    # one task at a time: only the call cut by the Ctrl-C is asked again; every finished step came from the
    # checkpoint (replaying the round from its start would ask again every call before it)
    if kind == "llm":
        assert count.read_text().split().count("llm") == counts["llm"] + 1
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["errors"] == 0
