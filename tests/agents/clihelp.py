"""Helpers for the command-line tests of runs: invoke the real ``semtrace`` app in-process, read its one error
line, make a path unwritable (chmod for a user, the immutable flag for root)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from semtrace.cli import _mount, app
from typer.testing import CliRunner, Result

_mount()


def invoke(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def error_line(res: Result) -> str:
    """The one error line of a failed command (no traceback anywhere)."""
    assert "Traceback" not in res.output, res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    return lines[0]


def run_demo(rules: Path, out: Path, *extra: str) -> Result:
    res = invoke("run", "--model", f"scripted:{rules}", "--sandbox", "local", "--out", str(out), "--no-display",
                 *extra)
    assert res.exit_code == 0, res.output
    return res


def lock(path: Path) -> None:
    """Make ``path`` unwritable for this process: chmod for a user, the immutable flag for root."""
    if os.geteuid() != 0:
        path.chmod(0o555 if path.is_dir() else 0o444)
        return
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(path)], check=False, capture_output=True).returncode:
        pytest.skip("running as root on a file system without chattr +i: cannot make a file unwritable")


def unlock(path: Path) -> None:
    if os.geteuid() != 0:
        path.chmod(0o755 if path.is_dir() else 0o644)
    elif shutil.which("chattr"):
        subprocess.run(["chattr", "-i", str(path)], check=False, capture_output=True)
