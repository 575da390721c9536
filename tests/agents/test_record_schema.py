"""Every line a run writes is a typed, versioned TaskRecord: it validates against the schema `semtrace schema
record` prints (generated from the types), and Candidate round-trips without loss."""

from __future__ import annotations

import json

import jsonschema
import pytest
from conftest import run_config
from semtrace.agents.record import SCHEMA_VERSION, Candidate, TaskRecord, compact
from semtrace.agents.run import read_records
from semtrace.cli import _mount, app
from semtrace.config import build_config
from typer.testing import CliRunner


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


def test_unknown_fields_are_refused_not_dropped() -> None:
    with pytest.raises(ValueError, match="surprise"):
        Candidate.from_dict({"id": "c0r0", "chain": 0, "round": 0, "code": "", "surprise": 1})


def test_compact_outcomes_keep_counts_and_only_the_shown_detail() -> None:
    tests = [{"index": i, "status": "passed" if i != 3 else "failed", "message": "m", "actual": "x" * 500,
              "duration": 0.1} for i in range(200)]
    result = {"status": "failed", "tests": tests, "stdout": "y" * 10_000, "stderr": "", "message": ""}
    small = compact(result, {3})
    assert small["passed"] == 199 and small["total"] == 200 and small["outcomes"][3] == "F"
    assert [t["index"] for t in small["tests"]] == [3] and len(small["stdout"]) < 2100
    assert len(json.dumps(small)) < 3000 < len(json.dumps(result))
    assert len(compact(result, {3}, keep="all")["tests"]) == 200
    assert "stdout" not in compact(result, {3}, stdio=False)


def test_unknown_schema_is_one_line() -> None:
    res = _cli("schema", "nope")
    assert res.exit_code == 2 and "unknown schema" in res.output
