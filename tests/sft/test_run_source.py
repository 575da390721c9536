"""``run:DIR``: a scripted run with a known scenario yields exactly its failing -> passing descendants, chain by
chain, and every example's prompt is one the agent actually sent in that run."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from rules import repair_rules, write_rules
from semtrace.config import build_config
from semtrace.sandbox.local import LocalSandbox
from semtrace.sft.dataset import build_examples, write_dataset
from semtrace.sft.sources import from_run, settings_for
from sfthelp import RecordingLLM, requests_for, run_agent

FIX = [1, 2, None]  # task 0 fixed at round 1, task 1 at round 2, task 2 never
WIDTH, DEPTH = 2, 2


def _bytes(messages) -> bytes:
    return json.dumps([[m.role, m.content] for m in messages], ensure_ascii=False).encode()


@pytest.fixture(scope="module")
def scripted_run(fix_tasks, data_dir, tmp_path_factory):
    import asyncio

    tmp = tmp_path_factory.mktemp("sftrun")
    tasks = fix_tasks[: len(FIX)]
    rules = write_rules(tmp / "rules.jsonl", repair_rules(tasks, {t.task_id: r for t, r in zip(tasks, FIX)}))
    cfg = build_config(flags={"benchmark": "humaneval-fix", "data_dir": str(data_dir), "limit": len(FIX),
                              "strategy": "hybrid", "width": WIDTH, "depth": DEPTH, "representation": "next",
                              "model": f"scripted:{rules}", "sandbox": "local", "display": False})
    llm = RecordingLLM(str(rules))
    asyncio.run(run_agent(cfg, tmp / "run", llm))
    return tasks, tmp / "run", llm


def test_pairs_are_exactly_the_failing_to_passing_descendants(scripted_run):
    tasks, run_dir, _ = scripted_run
    loaded = from_run(str(run_dir))
    got = sorted((p.task_id, p.ids) for p in loaded.pairs)
    expected = []
    for t, fix in zip(tasks, FIX):
        if fix is None:
            continue
        for c in range(WIDTH):
            expected += [(t.task_id, (f"c{c}r{r}", f"c{c}r{fix}")) for r in range(fix)]
    assert got == sorted(expected)
    by_task = {t.task_id: t for t in tasks}
    for p in loaded.pairs:
        buggy_id, fixed_id = p.ids
        assert buggy_id[:2] == fixed_id[:2]  # same chain
        assert p.fixed.strip() == by_task[p.task_id].reference.strip()
        assert p.tests == by_task[p.task_id].visible_tests
    assert [d.task_id for d in loaded.dropped] == [tasks[2].task_id]  # never fixed: nothing to learn from
    assert loaded.settings["history"] == "all"


async def test_examples_are_prompts_the_agent_sent_and_hold_no_hidden_test(scripted_run, tmp_path):
    tasks, run_dir, llm = scripted_run
    loaded = from_run(str(run_dir))
    settings = settings_for(loaded)
    sandbox = LocalSandbox(concurrency=2)
    try:
        # rebuilt from the programs (the recorded prompt, when the record has one, is bypassed here)
        rebuilt = await build_examples([replace(p, sent=None) for p in loaded.pairs], ["next"], sandbox, settings)
        stored = await build_examples(loaded.pairs, ["next"], sandbox, settings)
        # each pair alone (no dedup): the round-2 pair's prompt lists the earlier attempt
        singles = [await build_examples([replace(p, sent=None)], ["next"], sandbox, settings)
                   for p in loaded.pairs]
    finally:
        await sandbox.close()
    for built in (rebuilt, stored, *singles):
        for e in built.examples["next"]:
            task = next(t for t in tasks if t.task_id == e.task_id)
            sent = {_bytes(r) for r in requests_for(llm, task.entry_point)}
            assert _bytes(e.messages) in sent, f"{e.task_id} {e.ids}: not a request the agent sent"
    assert any("### Attempt 2 (latest)" in s.examples["next"][0].messages[-1].content for s in singles)
    # dedup: both chains (and rounds 0 and 1, the same program) collapse into one example per fixed task
    assert sorted(e.task_id for e in rebuilt.examples["next"]) == sorted(t.task_id for t, f in zip(tasks, FIX) if f)
    assert sum("duplicate" in d.reason for d in rebuilt.dropped) == len(loaded.pairs) - 2

    write_dataset(rebuilt, tmp_path / "out", source=f"run:{run_dir}", settings=settings)
    text = "".join(p.read_text() for p in (tmp_path / "out").rglob("*") if p.is_file())
    for t in tasks:
        visible = " ".join(v.source for v in t.visible_tests) + t.prompt
        for h in t.hidden_tests:
            if len(h.source) > 30 and h.source not in visible:
                assert h.source not in text


def test_a_changed_prompt_knob_rebuilds_instead_of_reusing_recorded_prompts(scripted_run):
    _, run_dir, _ = scripted_run
    loaded = from_run(str(run_dir))
    assert settings_for(loaded).history == "all" and any(p.sent for p in loaded.pairs)
    settings = settings_for(loaded, history="last", max_tokens=None)
    assert settings.history == "last" and not any(p.sent for p in loaded.pairs)
