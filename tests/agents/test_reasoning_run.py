"""Reasoning models in a run (issue 20): the program comes from the answer only; a reply whose reasoning never
closed (or that has only reasoning) has no program, is recorded with the reason and asked again; every candidate
keeps its reasoning and its reasoning tokens; no reasoning is ever sent again (a canary in every reasoning never
reaches a later request); the run warns once about replies cut inside their reasoning; ``keep_reasoning=false``
drops the text, not the counts; a resumed run keeps reasoning and counts as an uninterrupted one.

Real components: the scripted LLM (inline ``<think>`` tags and its ``reasoning`` field), the local sandbox, the
demo benchmark."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from reasoninghelp import AGAIN, CANARY, TASKS, demo_tasks, reasoning_rules
from runhelp import run_config
from semtrace.agents.record import NO_PROGRAM, TaskRecord
from semtrace.agents.replies import NO_ANSWER
from semtrace.agents.run import read_records
from semtrace.config import build_config
from semtrace.llms import UNFINISHED_REASONING
from semtrace.llms.registry import make_llm


class Spy:
    """The real scripted LLM, keeping every request it was sent (each message as ``to_dict``)."""

    def __init__(self, spec: str) -> None:
        self.inner = make_llm(spec)
        self.name, self.accounting, self.requests = self.inner.name, self.inner.accounting, []

    async def generate(self, messages, **kwargs):  # type: ignore[no-untyped-def]
        self.requests.append(json.dumps([m.to_dict() for m in messages]))
        return await self.inner.generate(messages, **kwargs)


def _cfg(rules: Path, **extra: Any) -> Any:
    return build_config(flags={"benchmark": "demo", "tasks": ",".join(TASKS), "model": f"scripted:{rules}",
                               "sandbox": "local", "strategy": "sequential", "depth": 2, "display": False},
                        overrides=[f"{k}={v}" for k, v in extra.items()])


@pytest.fixture(scope="module")
def reasoning_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    import asyncio

    root = tmp_path_factory.mktemp("reasoning")
    rules = reasoning_rules(root / "rules.jsonl")
    spy = Spy(f"scripted:{rules}")
    handler = _Lines()
    logging.getLogger("semtrace.agents.run").addHandler(handler)
    try:
        asyncio.run(run_config(_cfg(rules), root / "run", llm=spy))
    finally:
        logging.getLogger("semtrace.agents.run").removeHandler(handler)
    records = {r["task_id"]: r for r in read_records(root / "run" / "results.jsonl")}
    return {"root": root, "rules": rules, "spy": spy, "records": records, "logged": handler.lines}


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def _cands(rec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in rec["candidates"]}


def test_programs_come_from_answers_only(reasoning_run: dict[str, Any]) -> None:
    records, tasks = reasoning_run["records"], demo_tasks()
    assert set(records) == set(TASKS)
    for tid, rec in records.items():
        TaskRecord.model_validate(rec)  # fits the shipped schema
        for c in rec["candidates"]:
            assert "DRAFT-FROM-REASONING" not in c["code"] and "DRAFT-FROM-REASONING" not in c["raw"], (tid, c["id"])
            assert CANARY not in c["raw"]
        assert rec["correct"], tid
        assert rec["candidates"][-1]["code"].rstrip() == tasks[tid].reference.rstrip() or tid == "demo/is_even"
    fact = _cands(records["demo/factorial"])["c0r1"]
    assert fact["raw"].startswith("The fix:") and CANARY in fact["reasoning"] and "<think>" not in fact["reasoning"]
    even = _cands(records["demo/is_even"])["c0r1"]
    assert "# <think> here is code, not a tag </think>" in even["code"] and CANARY in even["reasoning"]


@pytest.mark.parametrize(("tid", "reason"), [("demo/sum_to_n", UNFINISHED_REASONING), ("demo/max_of", NO_ANSWER)])
def test_a_reply_without_a_program_is_recorded_as_failed_and_asked_again(reasoning_run: dict[str, Any], tid: str,
                                                                         reason: str) -> None:
    cands = _cands(reasoning_run["records"][tid])
    assert list(cands) == ["c0r0", "c0r1", "c0r2"]
    empty, again = cands["c0r1"], cands["c0r2"]
    assert empty["code"] == "" and empty["note"] == reason and CANARY in empty["reasoning"]
    assert empty["visible"]["status"] == NO_PROGRAM and empty["visible"]["passed"] == 0
    assert empty["hidden"]["status"] == NO_PROGRAM and not empty["trace"] and not empty["rendering"]
    assert empty["usage"]["reasoning_tokens"] > 0
    # round 2 is round 1's request once more, saying why; the chain's program is then the answer's
    assert again["parent"] == "c0r1" and again["prompt"][:-1] == empty["prompt"][:-1]
    last, before = again["prompt"][-1]["content"], empty["prompt"][-1]["content"]
    assert last.startswith(before) and AGAIN in last and reason in last
    assert again["hidden"]["status"] == "passed" and again["note"] == ""
    from semtrace.agents.metrics import pass_at_1

    rec = reasoning_run["records"][tid]
    assert [pass_at_1(rec, d) for d in (0, 1, 2)] == [0.0, 0.0, 1.0]  # the empty round counts as a failure


def test_reasoning_is_counted_and_never_sent_again(reasoning_run: dict[str, Any]) -> None:
    records, requests = reasoning_run["records"], reasoning_run["spy"].requests
    assert len(requests) == sum(len(r["candidates"]) - 1 for r in records.values()) == 6
    assert not [r for r in requests if CANARY in r or "DRAFT-FROM-REASONING" in r]
    for rec in records.values():
        for c in rec["candidates"][1:]:
            u = c["usage"]
            assert (u["reasoning_tokens"] > 0) == bool(c["reasoning"]), (rec["task_id"], c["id"])
            assert u["completion_tokens"] > u["reasoning_tokens"] or c["code"] == ""  # the answer's tokens
        total = sum(c["usage"]["reasoning_tokens"] for c in rec["candidates"])
        assert rec["usage"]["reasoning_tokens"] == total > 0
    # the control: the canary is in the records, so the check above could fail
    assert all(CANARY in json.dumps(r) for r in records.values())


def test_the_run_warns_once_about_replies_cut_inside_their_reasoning(reasoning_run: dict[str, Any]) -> None:
    lines = [line for line in reasoning_run["logged"] if "inside the reasoning" in line]
    assert lines == [("1 of 6 replies (17%) ran out of max_tokens inside the reasoning and have no answer (no "
                      "program); raise llm.max_tokens or lower the reasoning budget (llm.options.reasoning_effort, "
                      "llm.options.thinking, llm.options.enable_thinking)")]
    summary = json.loads((reasoning_run["root"] / "run" / "summary.json").read_text())
    assert summary["usage"]["reasoning_tokens"] > 0 and summary["llm"]["unfinished_reasoning"] == 1


async def test_keep_reasoning_false_drops_the_text_not_the_counts(reasoning_run: dict[str, Any],
                                                                  tmp_path: Path) -> None:
    await run_config(_cfg(reasoning_run["rules"], keep_reasoning="false"), tmp_path / "run")
    records = {r["task_id"]: r for r in read_records(tmp_path / "run" / "results.jsonl")}
    for tid, rec in records.items():
        assert CANARY not in json.dumps(rec), tid
        assert all(c["reasoning"] == "" for c in rec["candidates"])
        kept = reasoning_run["records"][tid]
        assert rec["usage"] == kept["usage"] and [c["code"] for c in rec["candidates"]] == [
            c["code"] for c in kept["candidates"]]
