"""The wheel holds every module of the source tree (a forgotten package-list entry fails here)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOT_PACKAGED = {"tests", "perf", ".venv", ".ci", "build", "dist", ".git"}


def source_modules() -> set[str]:
    found = set()
    for path in REPO.rglob("*.py"):
        rel = path.relative_to(REPO)
        if rel.parts[0] in NOT_PACKAGED or any(p.startswith(".") or p == "__pycache__" or p.endswith(".egg-info")
                                               for p in rel.parts):
            continue
        found.add("semtrace/" + rel.as_posix())
    return found


@pytest.mark.slow
def test_wheel_contains_every_module(tmp_path):
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path), str(REPO)],
                   check=True, capture_output=True)
    (wheel,) = tmp_path.glob("semtrace-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = source_modules() - names
    assert not missing, f"modules missing from the wheel (add their package to pyproject.toml): {sorted(missing)}"
    assert "semtrace/sandbox/runner.py" in names
    assert any(n.startswith("semtrace/benchmarks/data/") for n in names) or not (REPO / "benchmarks/data").exists()


def test_import_needs_no_optional_sdk():
    code = ("import sys, semtrace, semtrace.sandbox.types, semtrace.llms.base, semtrace.representations.base\n"
            "bad = [m for m in ('openai', 'anthropic', 'llama_cpp', 'vllm', 'docker') if m in sys.modules]\n"
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
