"""Shared fixtures: the real benchmark data (skipped with a reason when absent) and a local sandbox."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_benchmarks() -> Path | None:
    """``$SEMTRACE_DATA`` or ``../shared/benchmarks`` beside the checkout, if it exists."""
    env = os.environ.get("SEMTRACE_DATA")
    candidate = Path(env) if env else REPO.parent / "shared" / "benchmarks"
    return candidate if candidate.is_dir() else None


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = shared_benchmarks()
    if path is None:
        pytest.skip("benchmark data not found: set SEMTRACE_DATA or place it at ../shared/benchmarks")
    return path


@pytest.fixture
async def local_sandbox():
    from semtrace.sandbox.local import LocalSandbox

    sandbox = LocalSandbox(concurrency=2)
    yield sandbox
    await sandbox.close()


@pytest.fixture(scope="session", autouse=True)
def report_cache(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The reports' cache of reduced records in a temporary directory, for every test that builds a report
    (reports, viewer, agents, benchmarks): never the user's ~/.cache."""
    old = os.environ.get("SEMTRACE_REPORT_CACHE")
    path = tmp_path_factory.mktemp("report-cache")
    os.environ["SEMTRACE_REPORT_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("SEMTRACE_REPORT_CACHE", None)
    else:
        os.environ["SEMTRACE_REPORT_CACHE"] = old
