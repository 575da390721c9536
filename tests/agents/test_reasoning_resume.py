"""Resume keeps reasoning and its counts: a run whose scripted model answers like a reasoning model (an unclosed
``<think>`` asked again, a closed one with a draft inside, the ``reasoning`` field, a code fence holding a tag) is
stopped by Ctrl-C at its first, middle and last LLM call, resumed, and its records — reasoning text and reasoning
tokens included — equal an uninterrupted run's."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from clihelp import interruptible, invoke, spawn
from reasoninghelp import reasoning_rules
from semtrace.agents.metrics import stable_record
from semtrace.agents.run import read_records


@pytest.fixture(scope="module")
def reasoning_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], int]:
    from interrupting import COUNT_ENV

    base = tmp_path_factory.mktemp("reasoning")
    rules = reasoning_rules(base / "rules.jsonl")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(COUNT_ENV, str(base / "count"))
        res = invoke(*interruptible(rules, base / "run"))
    assert res.exit_code == 0, res.output
    records = {r["task_id"]: stable_record(r) for r in read_records(base / "run" / "results.jsonl")}
    assert len(records) == 3
    reasoned = [c for r in records.values() for c in r["candidates"] if c.get("reasoning")]
    assert reasoned and all(c["usage"].get("reasoning_tokens", 0) > 0 for c in reasoned)
    return rules, records, (base / "count").read_text().split().count("llm")


@pytest.mark.parametrize("where", [0.0, 0.5, 1.0])
def test_a_reasoning_run_stopped_anywhere_resumes_with_its_reasoning_and_counts(
    reasoning_run: tuple[Path, dict[str, Any], int], tmp_path: Path, where: float
) -> None:
    from interrupting import ENV

    rules, want, calls = reasoning_run
    k = max(1, round(where * calls))
    run_dir = tmp_path / "run"
    proc = spawn(*interruptible(rules, run_dir), env={**os.environ, ENV: f"llm:{k}"})
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    res = invoke("run", "--resume", str(run_dir), "--no-display")
    assert res.exit_code == 0, res.output
    got = {r["task_id"]: stable_record(r) for r in read_records(run_dir / "results.jsonl")}
    assert got == want
