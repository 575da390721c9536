"""``semtrace sft build --out``: a new or empty folder, or an earlier build, which a rebuild replaces whole (its
stats.json always describes exactly the files beside it); anything else is refused before any work, in one line."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

BUGGY = "def add(a, b):\n    return a - b\n"
FIXED = "def add(a, b):\n    return a + b\n"


def _cli(args: list[str]):
    from semtrace.sft.cli import app

    return CliRunner().invoke(app, args)


@pytest.fixture
def pairs(tmp_path: Path) -> Path:
    path = tmp_path / "p.jsonl"
    rows = [{"buggy": BUGGY + f"# {i}\n", "fixed": FIXED, "tests": [f"assert add({i}, 2) == {i + 2}"],
             "task_id": f"t{i}"} for i in (1, 2, 3)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def build(pairs: Path, out: Path, *extra: str):
    return _cli(["build", "--source", f"pairs:{pairs}", "--out", str(out), "--split", "0.5", *extra])


def one_line(res) -> str:
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in res.output, res.output
    return lines[0]


def files_under(out: Path) -> set[str]:
    return {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}


def digest(out: Path, names: list[str]) -> str:
    """stats.json's digest, recomputed from the files it lists (sha256 over each file's name and bytes)."""
    h = hashlib.sha256()
    for name in sorted(names):
        h.update(Path(name).name.encode())
        h.update((out / name).read_bytes())
    return h.hexdigest()


def test_a_second_build_replaces_the_first_whole(pairs: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = build(pairs, out, "-r", "concise,none", "--format", "llamafactory")
    assert first.exit_code == 0, first.output
    assert "replaced" not in first.output
    second = build(pairs, out, "-r", "next")  # another representation and format into the same folder
    assert second.exit_code == 0, second.output
    assert "the earlier build there was replaced" in second.output
    stats = json.loads((out / "stats.json").read_text())
    assert list(stats["representations"]) == ["next"] and stats["format"] == "messages"
    assert files_under(out) == {"stats.json", *stats["files"]}  # nothing of the first build is left
    assert stats["digest"] == digest(out, stats["files"])
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]  # no scratch folder left behind


def test_a_folder_that_is_not_a_build_is_refused_before_any_work(pairs: Path, tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    res = build(pairs, out, "-r", "concise")
    assert res.exit_code == 2
    assert f"--out '{out}' is not empty and holds no earlier build (stats.json missing)" in one_line(res)
    assert files_under(out) == {"notes.txt"}


def test_an_earlier_build_with_other_files_is_refused(pairs: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert build(pairs, out, "-r", "none").exit_code == 0
    (out / "adapter").mkdir()
    (out / "adapter" / "weights.bin").write_text("trained")
    before = files_under(out)
    res = build(pairs, out, "-r", "none")
    assert res.exit_code == 2
    line = one_line(res)
    assert "holds an earlier build and files it did not write (adapter)" in line and "replaces the whole" in line
    assert files_under(out) == before


@pytest.mark.parametrize("where", ["file", "under_a_file"])
def test_out_naming_a_file_is_one_line_before_any_work(pairs: Path, tmp_path: Path, where: str) -> None:
    target = tmp_path / "taken.txt"
    target.write_text("x")
    out = target if where == "file" else target / "sub"
    res = build(pairs, out, "-r", "concise")
    assert res.exit_code == 2, res.output
    assert "is a file, not a folder" in one_line(res)
    assert target.read_text() == "x"


def test_empty_folder_is_fine(pairs: Path, tmp_path: Path) -> None:
    out = tmp_path / "empty"
    out.mkdir()
    res = build(pairs, out, "-r", "none")
    assert res.exit_code == 0, res.output
    stats = json.loads((out / "stats.json").read_text())
    assert stats["representations"]["none"]["examples"] == 3 and files_under(out) == {"stats.json", *stats["files"]}
