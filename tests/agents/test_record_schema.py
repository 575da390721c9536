"""Every line a run writes is a typed, versioned TaskRecord: it validates against the schema `semtrace schema
record` prints (generated from the types), and Candidate round-trips without loss."""

from __future__ import annotations

import json

import jsonschema
import pytest
from runhelp import run_config
from semtrace.agents.record import SCHEMA_VERSION, Candidate, TaskRecord, summary
from semtrace.sandbox.types import ExecResult
from semtrace.agents.run import read_records
from semtrace.cli import _mount, app
from semtrace.config import build_config
from semtrace.llms.scripted import ScriptedLLM
from typer.testing import CliRunner


class RecordingLLM(ScriptedLLM):
    """The scripted back end, keeping every conversation it was sent (in call order)."""

    def __init__(self, model: str) -> None:
        super().__init__(model)
        self.seen: list[list[dict[str, str]]] = []

    async def generate(self, messages, **options):  # type: ignore[no-untyped-def]
        self.seen.append([{"role": m.role, "content": m.content} for m in messages])
        return await super().generate(messages, **options)


def _cli(*args: str):
    if not app.registered_commands:
        _mount()
    return CliRunner().invoke(app, list(args))


def _schema() -> dict:
    res = _cli("schema", "record")
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


async def test_run_records_validate_against_the_shipped_schema(demo_rules, tmp_path) -> None:
    cfg = build_config(flags={"benchmark": "demo", "model": f"scripted:{demo_rules}", "sandbox": "local",
                              "strategy": "sequential", "depth": 2, "representation": "concise",
                              "display": False, "limit": 6})
    await run_config(cfg, tmp_path / "run")
    records = read_records(tmp_path / "run" / "results.jsonl")
    assert len(records) == 6
    validator = jsonschema.Draft202012Validator(_schema())
    for rec in records:
        errors = sorted(validator.iter_errors(rec), key=str)
        assert not errors, f"{rec['task_id']}: {errors[0].message} at {list(errors[0].path)}"
        assert rec["schema_version"] == SCHEMA_VERSION
        typed = TaskRecord.model_validate(rec)
        assert typed.model_dump(mode="json") == rec  # nothing dropped, nothing added
        for cand in rec["candidates"]:
            assert Candidate.from_dict(cand).to_dict() == cand
    fixed = [c for r in records for c in r["candidates"] if c["round"] > 0]
    assert fixed and all(c["parent"] and c["visible"]["total"] for c in fixed)


async def test_each_candidate_keeps_the_exact_prompt_the_llm_was_sent(fix_tasks, data_dir, tmp_path) -> None:
    """Repair at depth 2 with history 'all' and critique: round 0 is the buggy program (no prompt); every later
    candidate's ``prompt`` is, message for message, one conversation the LLM received, and it carries its
    parent's rendered trace; the digest is the digest of that list; each critique keeps its own prompt."""
    from rules import repair_rules, write_rules
    from semtrace.agents.replies import prompt_digest
    from semtrace.llms.base import Message

    tasks = fix_tasks[:3]
    rules = write_rules(tmp_path / "rules.jsonl", repair_rules(tasks, {tasks[0].task_id: 2}))
    cfg = build_config(flags={"benchmark": "humaneval-fix", "data_dir": str(data_dir), "limit": 3,
                              "model": f"scripted:{rules}", "sandbox": "local", "strategy": "sequential",
                              "depth": 2, "representation": "concise", "critique": True, "display": False})
    llm = RecordingLLM(str(rules))
    await run_config(cfg, tmp_path / "run", llm=llm)
    records = read_records(tmp_path / "run" / "results.jsonl")
    seen = [json.dumps(conv) for conv in llm.seen]
    prompted = critiqued = 0
    for rec in records:
        by_id = {c["id"]: c for c in rec["candidates"]}
        for cand in rec["candidates"]:
            if cand["critique"]:
                critiqued += 1
                assert json.dumps(cand["critique_prompt"]) in seen, f"{rec['task_id']}/{cand['id']}: critique"
                assert cand["rendering"] in cand["critique_prompt"][-1]["content"]
            else:
                assert cand["critique_prompt"] == []
            if cand["round"] == 0:
                assert cand["prompt"] == [] and cand["prompt_digest"] == ""
                continue
            prompted += 1
            assert json.dumps(cand["prompt"]) in seen, f"{rec['task_id']}/{cand['id']}: not a prompt the LLM got"
            assert cand["prompt_digest"] == prompt_digest([Message(**m) for m in cand["prompt"]])
            parent = by_id[cand["parent"]]
            assert parent["rendering"] and parent["rendering"] in cand["prompt"][-1]["content"]
    assert prompted == sum(len(r["candidates"]) - 1 for r in records) > 3 and critiqued >= prompted
    assert prompted + critiqued == len(seen)


async def test_greedy_humaneval_plus_record_stays_small(data_dir, tmp_path) -> None:
    """Issue 10's target, with the prompt kept: a greedy HumanEval+ record is at most 8 KB."""
    from rules import fenced, write_rules
    from semtrace.benchmarks.registry import load_benchmark

    tasks = load_benchmark("humaneval-plus", data_dir)[:3]
    rules = write_rules(tmp_path / "rules.jsonl",
                        [{"when": f"`{t.entry_point}`", "reply": fenced(t.reference or "pass")} for t in tasks])
    cfg = build_config(flags={"benchmark": "humaneval-plus", "data_dir": str(data_dir), "limit": 3,
                              "model": f"scripted:{rules}", "sandbox": "local", "strategy": "greedy",
                              "display": False})
    await run_config(cfg, tmp_path / "run")
    lines = (tmp_path / "run" / "results.jsonl").read_bytes().splitlines()
    assert len(lines) == 3
    for line in lines:
        rec = json.loads(line)
        assert rec["candidates"][0]["prompt"], rec["task_id"]
        assert len(line) <= 8 * 1024, f"{rec['task_id']}: {len(line)} bytes"


def test_unknown_fields_are_refused_not_dropped() -> None:
    with pytest.raises(ValueError, match="surprise"):
        Candidate.from_dict({"id": "c0r0", "chain": 0, "round": 0, "code": "", "surprise": 1})


def test_compact_outcomes_keep_counts_and_only_the_shown_detail() -> None:
    tests = [{"index": i, "status": "passed" if i != 3 else "failed", "message": "m", "actual": "x" * 500,
              "duration": 0.1} for i in range(200)]
    result = {"status": "failed", "tests": tests, "stdout": "y" * 10_000, "stderr": "", "message": ""}
    run = ExecResult.from_dict(result)
    small = summary(run, {3})
    assert small.passed == 199 and small.total == 200 and small.outcomes[3] == "F"
    assert [t.index for t in small.tests] == [3] and len(small.stdout) < 2100
    assert len(small.model_dump_json()) < 3000 < len(json.dumps(result))
    assert len(summary(run, {3}, keep="all").tests) == 200
    assert summary(run, {3}, stdio=False).stdout == ""
    assert [t.index for t in summary(run).tests] == [3]  # the first failing test by default


def test_unknown_schema_is_one_line() -> None:
    res = _cli("schema", "nope")
    assert res.exit_code == 2 and "unknown schema" in res.output
