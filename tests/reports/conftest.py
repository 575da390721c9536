"""Fixtures for the report tests: HumanEvalFix's first tasks (the helpers are in reportcli.py beside this file)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(scope="session", autouse=True)
def report_cache(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The reports' cache of reduced records in a temporary directory (not the user's ~/.cache)."""
    old = os.environ.get("SEMTRACE_REPORT_CACHE")
    path = tmp_path_factory.mktemp("report-cache")
    os.environ["SEMTRACE_REPORT_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("SEMTRACE_REPORT_CACHE", None)
    else:
        os.environ["SEMTRACE_REPORT_CACHE"] = old


@pytest.fixture(scope="session")
def fix20(data_dir: Path) -> list[Any]:
    from semtrace.benchmarks.registry import load_benchmark

    return load_benchmark("humaneval-fix", data_dir)[:20]
