"""``semtrace trace``: the rendering, the JSON trace, and one clear error line for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
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
    assert res.exit_code == 1, res.output  # the call returned 1, not the expected 3: the trace, then one line
    assert "* line 3: (3) x = 3; (4) x = 2" in res.stdout and "**FAILED**" in res.stdout
    assert res.stderr.strip() == f"error: {tmp_path / 'prog.py'}: max_of([1, 3, 2]) returned 1, expected 3"
    ok = runner.invoke(app, ["trace", str(write(tmp_path)), "--call", "max_of([1, 3, 2])", "--expected", "1"])
    assert ok.exit_code == 0 and not ok.stderr, ok.output


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


@pytest.mark.parametrize("program, call, extra, needle", [
    ("def f(x):\n    y = 1\n    return x +\n", "f(1)", [], "does not compile: syntax error at line 3: invalid syntax"),
    ("def f(x):\n    return x\n", "g(1)", [], "has no function `g` (it defines: f)"),
    ("def f(x):\n    while True:\n        pass\n", "f(1)", ["--timeout", "0.5"], "timed out after 0.5s"),
    ("import sys\nsys.exit(3)\ndef f(x):\n    return x\n", "f(1)", [], "stopped before calling `f`: SystemExit: 3"),
])
@pytest.mark.parametrize("as_json", [False, True])
def test_untraced_call_says_what_happened(tmp_path: Path, program: str, call: str, extra: list[str], needle: str,
                                          as_json: bool) -> None:
    path = tmp_path / "prog.py"
    path.write_text(program)
    res = runner.invoke(app, ["trace", str(path), "--call", call, *extra, *(["--json"] if as_json else [])])
    assert res.exit_code == 1, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}: ") and needle in lines[0], res.stderr
    assert "no trace" not in res.output
    if as_json:
        assert json.loads(res.stdout)["outcome"]["status"] in ("error", "timeout")
    else:
        assert not res.stdout.strip()


def test_an_exception_inside_the_call_is_a_trace_and_an_error(tmp_path: Path) -> None:
    path = tmp_path / "prog.py"
    path.write_text("def f(x):\n    raise ValueError('boom')\n")
    res = runner.invoke(app, ["trace", str(path), "--call", "f(1)"])
    assert res.exit_code == 1, res.output
    assert "ValueError: boom" in res.stdout
    assert res.stderr.strip() == f"error: {path}: f(1) raised ValueError: boom"


@pytest.mark.parametrize("rep", ["concise", "next", "none"])
@pytest.mark.parametrize("as_json", [False, True])
def test_infinite_recursion_shows_the_error_and_exits_1(tmp_path: Path, rep: str, as_json: bool) -> None:
    path = tmp_path / "prog.py"
    path.write_text("def f(n):\n    return f(n + 1)\n")
    res = runner.invoke(app, ["trace", str(path), "--call", "f(1)", "-r", rep, *(["--json"] if as_json else [])])
    assert res.exit_code == 1, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}: f(1) raised RecursionError: maximum recursion "
                                                   f"depth exceeded"), res.stderr
    if as_json:
        assert json.loads(res.stdout)["outcome"]["status"] == "error"
    else:
        assert res.stdout.strip()  # the trace is still printed, before the error line


def test_non_utf8_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "prog.py"
    path.write_bytes(b"def f(x):\n    return '\xff'\n")
    res = runner.invoke(app, ["trace", str(path), "--call", "f(1)"])
    assert res.exit_code == 2, res.output
    assert res.stderr.strip() == f"error: {path} is not UTF-8 text (byte 0xff on line 2); save it as UTF-8"
