"""Fixtures for the viewer tests: scripted runs (real agent, local sandbox) and a headless Chromium."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def browser() -> Iterator[Any]:
    """A headless Chromium page. Missing Chromium fails in CI (``$CI`` set: the set-up must install it) and skips
    with the reason elsewhere."""
    from semtrace.viewer.browser import Browser, BrowserUnavailable

    try:
        b = Browser()
        b.start()
    except BrowserUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser test: {exc}")
        pytest.skip(f"no headless browser here: {exc}")
    try:
        yield b
    finally:
        b.close()


@pytest.fixture
def save_artifact() -> Any:
    """Copy a test artefact (a screenshot) to ``$SEMTRACE_ARTIFACTS`` when set, and print where it is."""

    def save(path: Path) -> Path:
        target = path
        where = os.environ.get("SEMTRACE_ARTIFACTS")
        if where:
            Path(where).mkdir(parents=True, exist_ok=True)
            target = Path(where) / path.name
            shutil.copyfile(path, target)
        print(f"artefact: {target}")
        return target

    return save


@pytest.fixture
def demo_rules(tmp_path: Path) -> Path:
    """Scripted replies fixing every demo task at round 1 (its reference)."""
    from rules import fenced, write_rules
    from semtrace.benchmarks.demo import load

    rules = [{"when": f"`{t.entry_point}`", "reply": fenced(t.reference or "")} for t in load()]
    return write_rules(tmp_path / "rules.jsonl", rules)
