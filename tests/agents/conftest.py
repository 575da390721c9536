"""Fixtures for the agent tests: real benchmark tasks, rule files for the scripted LLM, a run helper."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the rules helper module beside this file

from runhelp import run_config  # noqa: F401  (the run helper; import it from runhelp)


@pytest.fixture(scope="session")
def fix_tasks(data_dir: Path) -> list[Any]:
    from semtrace.benchmarks.registry import load_benchmark

    return load_benchmark("humaneval-fix", data_dir)


@pytest.fixture
def demo_rules(tmp_path: Path) -> Path:
    """Scripted replies fixing every demo task at round 1 (its reference): fast, deterministic runs."""
    from rules import fenced, write_rules
    from semtrace.benchmarks.demo import load

    rules = [{"when": f"`{t.entry_point}`", "reply": fenced(t.reference or "")} for t in load()]
    return write_rules(tmp_path / "rules.jsonl", rules)


@pytest.fixture(scope="session")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], dict[str, int]]:
    """A run of ``clihelp.interruptible`` left alone: its rules, its records by task (``stable_record``) and how
    many requests of each kind (``sandbox``, ``llm``) it made."""
    from clihelp import interruptible, invoke
    from interrupting import COUNT_ENV
    from rules import repair_rules, write_rules
    from semtrace.agents.metrics import stable_record
    from semtrace.agents.run import read_records
    from semtrace.benchmarks.demo import load

    base = tmp_path_factory.mktemp("uninterrupted")
    tasks = load()[:3]
    fix_at = {tasks[0].task_id: 1, tasks[1].task_id: 3, tasks[2].task_id: None}
    rules = write_rules(base / "rules.jsonl", repair_rules(tasks, fix_at))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(COUNT_ENV, str(base / "count"))
        res = invoke(*interruptible(rules, base / "run"))
    assert res.exit_code == 0, res.output
    kinds = (base / "count").read_text().split()
    records = {r["task_id"]: stable_record(r) for r in read_records(base / "run" / "results.jsonl")}
    assert len(records) == 3
    return rules, records, {k: kinds.count(k) for k in ("sandbox", "llm")}
