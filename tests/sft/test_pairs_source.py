"""``pairs:FILE.jsonl``: user pairs, the reasons a pair is dropped, the token filter, and one clear line (exit 2)
for every kind of bad input."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

BUGGY = "def add(a, b):\n    return a - b\n"
FIXED = "def add(a, b):\n    return a + b\n"


def _cli(args: list[str]):
    from semtrace.sft.cli import app

    return CliRunner().invoke(app, args)


def _write(path, rows) -> str:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return str(path)


def test_pairs_build_and_drop_reasons(tmp_path):
    pairs = _write(tmp_path / "p.jsonl", [
        {"buggy": BUGGY, "fixed": FIXED, "tests": ["assert add(1, 2) == 3"], "prompt": "Add two numbers."},
        {"buggy": BUGGY, "fixed": FIXED, "tests": ["assert add(0, 0) == 0"], "task_id": "passes"},
        {"buggy": BUGGY, "fixed": BUGGY, "tests": ["assert add(2, 2) == 4"], "task_id": "badfix"},
        {"buggy": BUGGY, "fixed": FIXED, "entry_point": "add", "task_id": "call",
         "tests": [{"kind": "call", "args": "2, 3", "expected": "5"}]},
    ])
    out = tmp_path / "out"
    res = _cli(["build", "--source", f"pairs:{pairs}", "-r", "concise", "--out", str(out)])
    assert res.exit_code == 0, res.output
    stats = json.loads((out / "stats.json").read_text())
    assert stats["representations"]["concise"]["examples"] == 2
    reasons = {d["task_id"]: d["reason"] for d in stats["dropped"]}
    assert reasons["passes"] == "the buggy program passes its visible tests"
    assert reasons["badfix"].startswith("the fixed program fails its visible tests")
    rows = [json.loads(x) for s in ("train", "test") if (out / "concise" / f"{s}.jsonl").exists()
            for x in (out / "concise" / f"{s}.jsonl").read_text().splitlines()]
    user = next(r for r in rows if r["meta"]["task_id"] == "p/1")["messages"][1]["content"]
    assert "Add two numbers." in user and "assert add(1, 2) == 3" in user and "## Trace" in user


def test_max_tokens_drops_long_examples_with_the_reason(tmp_path):
    pairs = _write(tmp_path / "p.jsonl", [{"buggy": BUGGY, "fixed": FIXED, "tests": ["assert add(1, 2) == 3"]}])
    out = tmp_path / "out"
    res = _cli(["build", "--source", f"pairs:{pairs}", "-r", "next", "--out", str(out), "--max-tokens", "50"])
    assert res.exit_code == 0, res.output
    stats = json.loads((out / "stats.json").read_text())
    assert stats["representations"]["next"]["examples"] == 0
    assert "tokens > --max-tokens 50" in stats["dropped"][0]["reason"]


@pytest.mark.parametrize("rows, needle", [
    ([{"buggy": BUGGY, "tests": ["assert add(1, 2) == 3"]}], "row 1: missing key 'fixed'"),
    (["{not json"], "row 1: not JSON"),
    ([{"buggy": BUGGY, "fixed": FIXED, "tests": []}], "row 1: key 'tests' must be a non-empty list"),
    ([{"buggy": "x = 1", "fixed": "x = 2", "tests": ["assert x == 2"]}], "no 'entry_point'"),
    ([{"buggy": BUGGY, "fixed": FIXED, "tests": [{"kind": "nope"}]}], "key 'tests': bad test case"),
])
def test_bad_pairs_rows_are_one_line(tmp_path, rows, needle):
    pairs = _write(tmp_path / "bad.jsonl", rows)
    res = _cli(["build", "--source", f"pairs:{pairs}", "-r", "none", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2, res.output
    assert needle in res.output and "bad.jsonl" in res.output
    assert "Traceback" not in res.output and len(res.output.strip().splitlines()) == 1


@pytest.mark.parametrize("args, needle", [
    (["--source", "bench:x"], "expected benchmark:NAME, run:DIR or pairs:FILE.jsonl"),
    (["--source", "pairs:/nonexistent.jsonl"], "no such file"),
    (["--source", "run:/nonexistent"], "not a run directory"),
    (["--source", "pairs:x", "-r", "nosuch"], "nosuch"),
    (["--source", "pairs:x", "--format", "yaml"], "unknown --format 'yaml'"),
    (["--source", "pairs:x", "-r", "semcoder_nl"], "--llm SPEC"),
])
def test_bad_options_are_one_line(tmp_path, args, needle):
    res = _cli(["build", *args, "--out", str(tmp_path / "o")])
    assert res.exit_code == 2, res.output
    assert needle in res.output and "Traceback" not in res.output
