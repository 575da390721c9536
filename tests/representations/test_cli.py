"""``semtrace trace``: the rendering, the JSON trace, and one clear error line for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from semtrace.representations.cli import parse_call, register
from typer.testing import CliRunner

app = typer.Typer()
register(app)
app.command("noop", hidden=True)(lambda: None)  # keeps `trace` a named sub-command
runner = CliRunner()

PROGRAM = "def max_of(xs):\n    best = xs[0]\n    for x in xs[1:]:\n        if x < best:\n            best = x\n    return best\n"


def write(tmp_path: Path) -> Path:
    path = tmp_path / "prog.py"
    path.write_text(PROGRAM)
    return path


def test_parse_call() -> None:
    assert parse_call("f(1, [2, 3], k='a')") == ("f", "1, [2, 3], k='a'")
    assert parse_call("  g()  ") == ("g", "")


def test_trace_prints_the_rendering(tmp_path: Path) -> None:
    res = runner.invoke(
        app,
        ["trace", str(write(tmp_path)), "--call", "max_of([1, 3, 2])", "-r", "semcoder", "--expected", "3"],
    )
    assert res.exit_code == 0, res.output
    assert "* line 3: (3) x = 3; (4) x = 2" in res.output and "**FAILED**" in res.output


def test_trace_json(tmp_path: Path) -> None:
    res = runner.invoke(app, ["trace", str(write(tmp_path)), "--call", "max_of([4, 2])", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["outcome"]["actual"] == "2"
    assert data["trace"]["events"][0]["changes"] == [["xs", "[4, 2]"]]


def test_bad_input_gives_one_error_line(tmp_path: Path) -> None:
    path = write(tmp_path)
    for args, needle in (
        (["trace", str(tmp_path / "missing.py"), "--call", "f()"], "does not exist"),
        (["trace", str(path), "--call", "max_of[1]"], "must be one call"),
        (["trace", str(path), "--call", "max_of([1])", "-r", "bogus"], "unknown representation"),
        (["trace", str(path), "--call", "max_of([1])", "-r", "semcoder_nl"], "--llm"),
    ):
        res = runner.invoke(app, args)
        assert res.exit_code == 2
        lines = [line for line in res.output.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], res.output
