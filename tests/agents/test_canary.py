"""Guard: hidden tests never reach a prompt. A canary string in every hidden test must not appear in any LLM
request of full runs (every strategy, every representation, critique on, LLM-driven selectors)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from runhelp import run_config
from rules import fenced, repair_rules, write_rules
from semtrace.config import build_config
from semtrace.llms.registry import make_llm
from semtrace.representations.base import RENDERERS

CANARY = "CANARY-7f3e9b1c-hidden-test"


class RecordingLLM:
    """Forwards to a real LLM and keeps every request's text (a spy around the real back end)."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.name, self.requests = inner, inner.name, []

    async def generate(self, messages, **kwargs):  # type: ignore[no-untyped-def]
        self.requests.append(json.dumps([[m.role, m.content] for m in messages]))
        return await self.inner.generate(messages, **kwargs)


def with_canary(task: Any, *, visible_too: bool = False) -> Any:
    def mark(t: Any) -> Any:
        return dataclasses.replace(t, source=f"{t.source}  # {CANARY}", name=f"{t.name}-{CANARY}")

    hidden = tuple(mark(t) for t in task.hidden_tests)
    visible = tuple(mark(t) for t in task.visible_tests) if visible_too else task.visible_tests
    return dataclasses.replace(task, hidden_tests=hidden, visible_tests=visible)


@pytest.fixture
def canary_setup(data_dir, tmp_path):
    from semtrace.benchmarks.registry import load_benchmark

    repair = [with_canary(t) for t in load_benchmark("humaneval-fix", data_dir)[:2]]
    synth = [with_canary(t) for t in load_benchmark("humaneval", data_dir)[:2]]
    rules = repair_rules(repair, {repair[0].task_id: 2})
    for t in synth:  # two different programs per synthesis task, so selectors have something to decide
        wrong = f"def {t.entry_point}(*args, **kwargs):\n    return None\n"
        rules.insert(
            0,
            {
                "when": f"The function to implement is `{t.entry_point}`\\.\n\nWrite the complete",
                "reply": [
                    fenced(wrong),
                    fenced(
                        t.prompt + t.reference[len(t.prompt) :]
                        if t.reference.startswith(t.prompt)
                        else t.reference
                    ),
                ],
            },
        )
        rules.append(
            {
                "when": f"Propose \\d+ diverse, valid inputs for `{t.entry_point}`",
                "reply": fenced(t.visible_tests[0].source.replace("assert ", "").split(" == ")[0]),
            }
        )
    rules.append(
        {"when": "", "reply": "The loop compares the wrong values. A: B\nB"}
    )  # critiques, rationales
    return repair + synth, write_rules(tmp_path / "rules.jsonl", rules)


SETTINGS = [
    ("hybrid", 2, 2, "llm_judge"),
    ("parallel", 3, 0, "majority_output"),
    ("greedy", 1, 0, "first_pass"),
    ("sequential", 1, 3, "visible_rate"),
]


async def _run_all(tasks, rules, tmp_path, representations, settings) -> list[str]:
    requests: list[str] = []
    for rep in representations:
        for i, (strategy, width, depth, selector) in enumerate(settings):
            llm = RecordingLLM(make_llm(f"scripted:{rules}"))
            cfg = build_config(
                flags={
                    "benchmark": "humaneval-fix",
                    "strategy": strategy,
                    "width": width,
                    "depth": depth,
                    "selector": selector,
                    "representation": rep,
                    "critique": True,
                    "model": f"scripted:{rules}",
                    "sandbox": "local",
                    "display": False,
                },
                overrides=["temperature=0.7"],
            )
            await run_config(cfg, tmp_path / f"{rep}-{i}", llm=llm, tasks=tasks)
            requests += llm.requests
    return requests


async def test_canary_in_hidden_tests_never_reaches_the_llm(canary_setup, tmp_path):
    tasks, rules = canary_setup
    reps = RENDERERS.names()
    assert {"none", "next", "semcoder", "semcoder_nl", "concise", "code_executor"} <= set(reps)
    requests = await _run_all(tasks, rules, tmp_path, reps, SETTINGS[:1])
    requests += await _run_all(tasks, rules, tmp_path / "strategies", ["next"], SETTINGS[1:])
    assert len(requests) > 50
    assert any("## Trace" in r for r in requests) and any("Program A" in r for r in requests)
    assert not [r for r in requests if CANARY in r]


async def test_the_guard_can_fail(canary_setup, tmp_path):
    """Positive control: the same canary in a *visible* test does reach the prompts (as feedback)."""
    tasks, rules = canary_setup
    leaky = [with_canary(t, visible_too=True) for t in tasks]
    requests = await _run_all(leaky, rules, tmp_path, ["next"], SETTINGS[3:])
    assert any(CANARY in r for r in requests)
