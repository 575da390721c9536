"""Damaged data files: every loader error is one line naming the file, the row and the fix (never ``Aborted.``, a
traceback, a JSON position without the file, or "check --tasks/--limit"), and a run creates nothing."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest
from semtrace.benchmarks.common import DataError, read_rows, rows_to
from semtrace.cli import _mount, app
from typer.testing import CliRunner

_mount()
runner = CliRunner()

HE = "humaneval/HumanEval.jsonl.gz"
FIX = "humanevalpack/humanevalpack_python.jsonl"
MBPP = "mbpp/mbpp.jsonl"
SANITIZED = "mbpp/sanitized-mbpp.json"
PLUS = "mbppplus/MbppPlus-v0.2.0.jsonl.gz"


def one_error_line(args: list[str]) -> str:
    res = runner.invoke(app, args)
    assert res.exit_code == 2, (res.exit_code, res.output, res.exception)
    assert not res.stdout.strip(), res.stdout
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    return lines[0]


def copy(data_dir: Path, tmp_path: Path, rel: str) -> Path:
    dst = tmp_path / "data" / rel
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(data_dir / rel, dst)
    dst.chmod(0o644)
    return dst


def break_line(path: Path, lineno: int, keep: int) -> None:
    """Cut line ``lineno`` (1-based) after ``keep`` characters: that row is no longer JSON."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[lineno - 1] = lines[lineno - 1][:keep] + "\n"
    path.write_text("".join(lines), encoding="utf-8")


def test_truncated_gzip_names_the_file_and_the_download(data_dir: Path, tmp_path: Path) -> None:
    path = copy(data_dir, tmp_path, HE)
    path.write_bytes(path.read_bytes()[:20000])
    for args in (["benchmarks", "verify", "humaneval"], ["run", "--benchmark", "humaneval", "--sandbox", "local",
                                                         "--model", "scripted:none.jsonl",
                                                         "--out", str(tmp_path / "run")]):
        line = one_error_line([*args, "--data", str(tmp_path / "data")])
        assert str(path) in line and "not a complete gzip file" in line, line
        assert "https://github.com/openai/human-eval" in line, line
    assert not (tmp_path / "run").exists()


def test_broken_json_row_names_the_file_and_the_row(data_dir: Path, tmp_path: Path) -> None:
    path = copy(data_dir, tmp_path, FIX)
    break_line(path, 81, 100)
    for args in (["benchmarks", "verify", "humaneval-fix"], ["run", "--benchmark", "humaneval-fix", "--sandbox",
                                                             "local", "--model", "scripted:none.jsonl",
                                                             "--out", str(tmp_path / "run")]):
        line = one_error_line([*args, "--data", str(tmp_path / "data")])
        assert f"{path}: row 81: not valid JSON" in line and "column 101" in line, line
        assert "line 1 column" not in line and "fresh copy from https://" in line, line
    assert not (tmp_path / "run").exists()


def test_empty_file_is_not_a_task_filter_problem(data_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "data" / MBPP
    path.parent.mkdir(parents=True)
    path.write_text("")
    line = one_error_line(["run", "--benchmark", "mbpp", "--data", str(tmp_path / "data"), "--sandbox", "local",
                           "--model", "scripted:none.jsonl", "--out", str(tmp_path / "run")])
    assert str(path) in line and "holds no rows" in line and "--tasks" not in line, line
    assert "mbpp.jsonl" in line.split("fresh copy from")[1]
    assert not (tmp_path / "run").exists()


def test_row_missing_a_field_or_with_bad_test_code(data_dir: Path, tmp_path: Path) -> None:
    path = copy(data_dir, tmp_path, FIX)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    del rows[4]["prompt"]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    line = one_error_line(["benchmarks", "verify", "humaneval-fix", "--data", str(tmp_path / "data")])
    assert f"{path}: row 5 (task_id 'Python/4'): missing field 'prompt'" in line, line
    rows[4]["prompt"] = "x"
    rows[6]["test"] = "def nope(): pass"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    line = one_error_line(["benchmarks", "verify", "humaneval-fix", "--data", str(tmp_path / "data")])
    assert f"{path}: row 7 (task_id 'Python/6'): does not fit" in line and "no check function" in line, line


def test_json_array_file_names_the_line(data_dir: Path, tmp_path: Path) -> None:
    path = copy(data_dir, tmp_path, SANITIZED)
    text = path.read_text()
    path.write_text(text[: len(text) // 2])
    line = one_error_line(["benchmarks", "verify", "mbpp-sanitized", "--data", str(tmp_path / "data")])
    assert str(path) in line and "not valid JSON (line " in line and "sanitized-mbpp.json" in line, line


def test_evalplus_file_shares_the_reader(data_dir: Path, tmp_path: Path) -> None:
    path = copy(data_dir, tmp_path, PLUS)
    with gzip.open(data_dir / PLUS, "rt", encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    lines[2] = lines[2][:50]
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    line = one_error_line(["benchmarks", "verify", "mbpp-plus", "--data", str(tmp_path / "data")])
    assert f"{path}: row 3: not valid JSON" in line, line


def test_reader_errors(tmp_path: Path) -> None:
    bad = tmp_path / "x.jsonl"
    bad.write_bytes(b'{"task_id": "a"}\n\n{"task_id": "\xff"}\n')
    with pytest.raises(DataError, match=r"x.jsonl: row 3: not UTF-8 text \(byte 0xff at offset 13\)"):
        read_rows(bad)
    bad.write_text('{"task_id": "a"}\n[1, 2]\n')
    with pytest.raises(DataError, match=r"x.jsonl: row 2: is a JSON list, not an object"):
        read_rows(bad)
    bad.write_text('{"task_id": "a"}\n\n{"task_id": "b", "n": "x"}\n')
    with pytest.raises(DataError, match=r"x.jsonl: row 3 \(task_id 'b'\): does not fit .*ValueError"):
        rows_to(bad, lambda row: int(row["n"]) if "n" in row else 0)
    assert rows_to(bad, lambda row: row["task_id"]) == ["a", "b"]


def test_a_dotted_path_that_is_not_a_benchmark(tmp_path: Path) -> None:
    line = one_error_line(["run", "--benchmark", "os.path:join", "--sandbox", "local",
                           "--model", "scripted:none.jsonl", "--out", str(tmp_path / "run")])
    assert "'os.path:join' is a function, not a benchmark" in line, line
    line = one_error_line(["benchmarks", "verify", "os.path:join"])
    assert "not a benchmark" in line, line
