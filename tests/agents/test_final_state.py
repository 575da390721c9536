"""A task run from its start takes its final state from its own stream of updates (``scoring._graph_state``), not
by reading the checkpoint back: that state must be exactly what the checkpoint holds at the end — every candidate
(merged by id as the ``candidates`` channel merges them) and the selection — or records would silently differ from
what a resumed task (which reads its checkpoint) gets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rules import fenced, write_rules
from runhelp import run_config
from semtrace.agents import scoring
from semtrace.agents.run import read_records
from semtrace.agents.state import candidates_of
from semtrace.benchmarks.demo import load
from semtrace.config import build_config


@pytest.mark.parametrize("strategy,critique", [("hybrid", True), ("sequential", False)])
async def test_the_state_from_updates_is_the_checkpointed_state(tmp_path: Path, monkeypatch: Any, strategy: str,
                                                                 critique: bool) -> None:
    tasks = load()
    # half the tasks fixed at round 1, half never (their chains run to the depth, critiqued and refined)
    rules = [{"when": f"`{t.entry_point}`", "reply": fenced((t.reference if i % 2 else t.starting_code) or "")}
             for i, t in enumerate(tasks)]
    path = write_rules(tmp_path / "rules.jsonl", rules)
    seen: list[tuple[str, Any, Any]] = []
    made = scoring._graph_state

    async def checked(app: Any, task: Any, ctx: Any, start: Any) -> dict[str, Any]:
        state = await made(app, task, ctx, start)
        saved = (await app.aget_state({"configurable": {"thread_id": task.task_id}})).values
        seen.append((task.task_id, (sorted(candidates_of(state), key=lambda c: c.id), state.get("selection")),
                     (sorted(candidates_of(saved), key=lambda c: c.id), saved.get("selection"))))
        return state

    monkeypatch.setattr(scoring, "_graph_state", checked)
    cfg = build_config(flags={"benchmark": "demo", "strategy": strategy, "width": 2, "depth": 2,
                              "critique": critique, "representation": "next", "model": f"scripted:{path}",
                              "sandbox": "local", "display": False})
    run_dir = tmp_path / "run"
    await run_config(cfg, run_dir, tasks=tasks)
    assert len(seen) == len(tasks) == len(read_records(run_dir / "results.jsonl"))
    deep = [ours for _, ours, _ in seen if max(c.round for c in ours[0]) == 2]
    assert deep and all(ours[1] for _, ours, _ in seen)  # tasks that ran to the depth; every task selected
    for task_id, ours, checkpointed in seen:
        assert ours == checkpointed, task_id
