"""Acceptance: for the same program and trace, an SFT example's prompt is byte for byte the round-1 repair request
the real agent sends (the agent driven with a recording LLM over the local sandbox and the real renderers)."""

from __future__ import annotations

import json

import pytest
from rules import fenced, write_rules
from semtrace.config import build_config
from semtrace.sandbox.local import LocalSandbox
from semtrace.sft.build import BuildSettings, answer
from semtrace.sft.dataset import build_examples
from semtrace.sft.sources import task_pair
from sfthelp import RecordingLLM, requests_for, run_agent

N_TASKS = 4


def _bytes(messages) -> bytes:
    return json.dumps([[m.role, m.content] for m in messages], ensure_ascii=False).encode()


@pytest.mark.parametrize("representation", ["concise", "next", "none", "contrast"])
async def test_example_prompt_is_the_agents_round1_request(fix_tasks, data_dir, tmp_path, representation):
    tasks = fix_tasks[:N_TASKS]
    # the model answers every request with the buggy program again: one refine request per task, at round 1
    rules = write_rules(tmp_path / "rules.jsonl",
                        [{"when": f"`{t.entry_point}`", "reply": fenced(t.starting_code)} for t in tasks])
    cfg = build_config(flags={"benchmark": "humaneval-fix", "data_dir": str(data_dir), "limit": N_TASKS,
                              "strategy": "sequential", "depth": 1, "representation": representation,
                              "model": f"scripted:{rules}", "sandbox": "local", "display": False})
    llm = RecordingLLM(str(rules))
    await run_agent(cfg, tmp_path / "run", llm)

    sandbox = LocalSandbox(concurrency=2)
    try:
        built = await build_examples([task_pair(t, "benchmark:humaneval-fix") for t in tasks], [representation],
                                     sandbox, BuildSettings(history=cfg.agent.history))
    finally:
        await sandbox.close()
    examples = {e.task_id: e for e in built.examples[representation]}
    assert sorted(examples) == sorted(t.task_id for t in tasks), built.dropped
    for t in tasks:
        sent = requests_for(llm, t.entry_point)
        assert len(sent) == 1, f"{t.task_id}: expected one round-1 request, got {len(sent)}"
        example = examples[t.task_id]
        assert _bytes(example.messages) == _bytes(sent[0])
        if representation != "none":
            assert "## Trace" in sent[0][-1].content  # the comparison covers a rendered trace, not only feedback
        assert example.target == answer(t.reference)
