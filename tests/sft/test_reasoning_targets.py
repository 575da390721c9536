"""``sft build --source run:DIR --reasoning drop|keep`` (issue 20) from a scripted reasoning run (real agent, local
sandbox): dropped by default; kept in each format's convention — ``reasoning_content`` on the messages
(``messages``, ``hf``), a ``<think>`` block before the answer (``llamafactory``), refused for ``openai`` — and
only where the reasoning answered the example's very prompt (the fix is the reply to the request it shows)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from clihelp import error_line, invoke
from reasoninghelp import CANARY, TASKS, reasoning_rules
from runhelp import run_config
from semtrace.agents.run import read_records
from semtrace.config import build_config


@pytest.fixture(scope="module")
def reasoning_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import asyncio

    root = tmp_path_factory.mktemp("sft-reasoning")
    rules = reasoning_rules(root / "rules.jsonl")
    cfg = build_config(flags={"benchmark": "demo", "tasks": ",".join(TASKS), "model": f"scripted:{rules}",
                              "sandbox": "local", "strategy": "sequential", "depth": 2, "display": False})
    asyncio.run(run_config(cfg, root / "run"))
    return root / "run"


def _build(run: Path, out: Path, fmt: str, *reasoning: str) -> Any:
    res = invoke("sft", "build", "--source", f"run:{run}", "--representation", "next", "--format", fmt,
                 "--out", str(out), *reasoning)
    return res


def _rows(out: Path) -> dict[str, dict[str, Any]]:
    rows = [json.loads(line) for line in (out / "next" / "train.jsonl").read_text().splitlines()]
    rows += [json.loads(line) for p in [out / "next" / "test.jsonl"] if p.is_file()
             for line in p.read_text().splitlines()]
    return {r["meta"]["task_id"]: r for r in rows}


def _fix_reasoning(run: Path) -> dict[str, str]:
    """Per task, the reasoning of the reply that wrote the fix in answer to the request after the buggy program."""
    out = {}
    for rec in read_records(run / "results.jsonl"):
        fix = rec["candidates"][1]
        out[rec["task_id"]] = fix["reasoning"] if fix["visible"]["status"] == "passed" else ""
    return out


def test_reasoning_is_dropped_by_default(reasoning_run: Path, tmp_path: Path) -> None:
    res = _build(reasoning_run, tmp_path / "out", "messages")
    assert res.exit_code == 0, res.output
    rows = _rows(tmp_path / "out")
    assert set(rows) == set(TASKS)  # sum_to_n and max_of: the buggy program -> the fix after a reply without one
    text = "".join(p.read_text() for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert CANARY not in text and "reasoning_content" not in text
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["settings"]["reasoning"] == "drop" and stats["representations"]["next"]["with_reasoning"] == 0


def test_messages_keep_it_as_reasoning_content(reasoning_run: Path, tmp_path: Path) -> None:
    res = _build(reasoning_run, tmp_path / "out", "messages", "--reasoning", "keep")
    assert res.exit_code == 0, res.output
    expected = _fix_reasoning(reasoning_run)
    assert expected["demo/factorial"] and expected["demo/is_even"] and not expected["demo/sum_to_n"]
    for tid, row in _rows(tmp_path / "out").items():
        *prompt, target = row["messages"]
        assert all(m["reasoning_content"] == "" for m in prompt) and target["role"] == "assistant"
        assert target["reasoning_content"] == expected[tid], tid
        assert CANARY not in target["content"] and target["content"].startswith("```python")
    assert json.loads((tmp_path / "out" / "stats.json").read_text())["representations"]["next"][
        "with_reasoning"] == 2


def test_llamafactory_keeps_it_as_a_think_block_before_the_answer(reasoning_run: Path, tmp_path: Path) -> None:
    res = _build(reasoning_run, tmp_path / "out", "llamafactory", "--reasoning", "keep")
    assert res.exit_code == 0, res.output
    rows = [r for p in sorted((tmp_path / "out").glob("next_*.json")) for r in json.loads(p.read_text())]
    values = [r["conversations"][-1]["value"] for r in rows]
    thought = [v for v in values if v.startswith("<think>\n")]
    assert len(values) == 4 and len(thought) == 2
    for v in thought:
        reasoning, answer = v[len("<think>\n"):].split("\n</think>\n\n")
        assert CANARY in reasoning and answer.startswith("```python")
    assert all(v.startswith("```python") for v in values if v not in thought)


def test_hf_keeps_it_as_reasoning_content(reasoning_run: Path, tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    res = _build(reasoning_run, tmp_path / "out", "hf", "--reasoning", "keep")
    assert res.exit_code == 0, res.output
    dd = datasets.load_from_disk(str(tmp_path / "out" / "next"))
    targets = [row["messages"][-1] for split in dd.values() for row in split]
    assert sorted(bool(t["reasoning_content"]) for t in targets) == [False, False, True, True]


def test_openai_refuses_to_keep_it_in_one_line(reasoning_run: Path, tmp_path: Path) -> None:
    res = _build(reasoning_run, tmp_path / "out", "openai", "--reasoning", "keep")
    assert res.exit_code == 2
    assert "--reasoning keep: the openai format has no place for reasoning" in error_line(res)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
