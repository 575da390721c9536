"""Helpers of the report tests: the ``semtrace`` command in-process and its one-line errors."""

from __future__ import annotations

from typing import Any

from typer.testing import CliRunner


def invoke(*args: Any) -> Any:
    """``semtrace ARGS`` in-process (the root app with every command mounted)."""
    from semtrace.cli import _mount, app

    if not any(c.name == "report" for c in app.registered_commands):
        _mount()
    return CliRunner().invoke(app, [str(a) for a in args])


def error_line(result: Any) -> str:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output  # one line, no traceback
    return lines[0]
