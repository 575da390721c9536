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
