"""Fixtures for the report tests: HumanEvalFix's first tasks (the helpers are in reportcli.py beside this file)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(scope="session")
def fix20(data_dir: Path) -> list[Any]:
    from semtrace.benchmarks.registry import load_benchmark

    return load_benchmark("humaneval-fix", data_dir)[:20]
