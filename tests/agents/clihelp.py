"""Helpers for the command-line tests of runs: invoke the real ``semtrace`` app in-process or start it as a process
(with Ctrl-C delivered as a user's would be), read its one error line, make a path unwritable (chmod for a user, the
immutable flag for root)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
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


HERE = Path(__file__).resolve().parent


# Ctrl-C as at a terminal: a process started from a background job (a CI step, ``cmd &``) inherits SIGINT ignored
# (or blocked), and Python keeps an inherited SIG_IGN: such a run never sees a Ctrl-C (it ran to the end and exited
# 0, silently, in a CI run). The child restores it before semtrace starts.
_BOOT = ("import runpy, signal\n"
         "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
         "signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})\n"
         "runpy.run_module('semtrace.cli', run_name='__main__', alter_sys=True)\n")


def spawn(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """``semtrace ARGS`` as a process whose Ctrl-C works as at a terminal; the plugins beside this file
    (``interrupting``, ``broken_plugins``) can be named by dotted path."""
    environ = dict(os.environ if env is None else env)
    environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE), environ.get("PYTHONPATH", "")) if p)
    return subprocess.Popen([sys.executable, "-c", _BOOT, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=environ)


def interruptible(rules: Path, out: Path) -> tuple[str, ...]:
    """``semtrace run`` arguments of a small run with the ``interrupting`` plugins: three demo tasks, width 2 (its
    chains share round 0's run of the buggy program), depth 3, two tasks at once."""
    return ("run", "--model", f"interrupting:InterruptingLLM:{rules}", "--sandbox", "interrupting:InterruptingSandbox",
            "--out", str(out), "--no-display", "--limit", "3", "--width", "2", "--depth", "3",
            "-o", "task_concurrency=2", "-o", "temperature=0.7")


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
