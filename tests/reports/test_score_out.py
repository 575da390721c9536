"""``semtrace score --out``: a path that cannot take the per-task JSONL is one line naming the fix before any
sample is scored, and a write that fails after scoring says the scores were not saved (never "every finished task
is kept")."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from reportcli import error_line, invoke

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "agents"))
from clihelp import lock, unlock


@pytest.fixture
def samples(tmp_path: Path) -> Path:
    from semtrace.benchmarks.demo import load

    path = tmp_path / "s.jsonl"
    path.write_text("".join(json.dumps({"task_id": t.task_id, "solution": t.reference}) + "\n" for t in load()[:2]))
    return path


def score(samples: Path, out: Path, *extra: str) -> object:
    return invoke("score", samples, "--benchmark", "demo", "--sandbox", "local", "--out", out, *extra)


def test_out_in_a_new_folder_is_written(samples: Path, tmp_path: Path) -> None:
    out = tmp_path / "new" / "deeper" / "scores.jsonl"
    res = score(samples, out, "--json")
    assert res.exit_code == 0, res.output
    assert [json.loads(line)["correct"] for line in out.read_text().splitlines()] == [1, 1]


def test_out_that_is_a_directory_is_refused_up_front(samples: Path, tmp_path: Path) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    res = score(samples, folder)
    assert res.exit_code == 2
    line = error_line(res)
    assert f"--out '{folder}' is a directory" in line and f"--out {folder / 's.scores.jsonl'}" in line, line
    assert "every finished task is kept" not in line and list(folder.iterdir()) == []
    assert "tasks scored" not in res.output  # nothing was scored


def test_out_that_is_the_samples_file_or_under_a_file_is_refused(samples: Path, tmp_path: Path) -> None:
    before = samples.read_text()
    res = score(samples, samples)
    assert res.exit_code == 2 and "is the samples file itself" in error_line(res)
    assert samples.read_text() == before
    res = score(samples, samples / "x.jsonl")
    assert res.exit_code == 2 and f"'{samples}' is a file, not a folder" in error_line(res)


def test_an_unwritable_out_never_claims_the_scores_were_kept(samples: Path, tmp_path: Path) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    lock(folder)
    try:
        res = score(samples, folder / "scores.jsonl")
    finally:
        unlock(folder)
    assert res.exit_code == 2
    line = error_line(res)
    assert f"--out '{folder / 'scores.jsonl'}'" in line and "every finished task is kept" not in line, line
    assert "not writable" in line or "the scores were not saved" in line, line
    assert not (folder / "scores.jsonl").exists()
