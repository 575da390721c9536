"""A run directory whose ``checkpoints.sqlite`` cannot serve (not a SQLite database, read-only, not a file): ``semtrace
run --resume`` says so in one line naming the file and the fix, exits 2 before any task starts, and the fix it names
works. A checkpoint operation that fails during the run stops it the same way (``fatal``)."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from pathlib import Path

import pytest
from clihelp import error_line, invoke, lock, run_demo, unlock
from semtrace.agents.checkpoints import CheckpointError, RunSaver
from semtrace.agents.run import read_records

TASKS = 4
KEPT = 2  # finished tasks left in results.jsonl; the others are redone by the resume


@pytest.fixture
def half_done(demo_rules: Path, tmp_path: Path) -> Path:
    """A finished run of four demo tasks whose last two lines are dropped: a resume has two tasks to redo."""
    run_dir = tmp_path / "run"
    run_demo(demo_rules, run_dir, "--limit", str(TASKS))
    results = run_dir / "results.jsonl"
    lines = results.read_text().splitlines(keepends=True)
    assert len(lines) == TASKS
    results.write_text("".join(lines[:KEPT]))
    assert (run_dir / "checkpoints.sqlite").is_file()
    return run_dir


def _move_away(db: Path, to: Path) -> None:
    """What the message says to do: the file and its -wal and -shm files, if any."""
    to.mkdir()
    for name in (db.name, db.name + "-wal", db.name + "-shm"):
        if (db.parent / name).exists():
            shutil.move(str(db.parent / name), str(to / name))


def _resume(run_dir: Path) -> object:
    return invoke("run", "--resume", str(run_dir), "--no-display")


def _damage(db: Path, how: str) -> None:
    if how == "garbage":
        db.write_bytes(b"this is not a database\n" * 200)
    else:  # "pages": a real SQLite header followed by garbage pages
        header = db.read_bytes()[:100]
        assert header.startswith(b"SQLite format 3\x00")
        db.write_bytes(header + b"\xab" * (4096 * 4 - 100))


@pytest.mark.parametrize("how", ["garbage", "pages"])
def test_a_corrupt_checkpoint_file_is_one_line_and_moving_it_away_resumes(half_done: Path, tmp_path: Path,
                                                                           how: str) -> None:
    db = half_done / "checkpoints.sqlite"
    results = half_done / "results.jsonl"
    _damage(db, how)
    before = results.read_bytes()
    res = _resume(half_done)
    assert res.exit_code == 2, res.output
    line = error_line(res)
    assert line.startswith(f"error: {db} is not a SQLite database (corrupt?): move it away"), line
    assert f"`semtrace run --resume {half_done}` redoes the unfinished tasks" in line
    assert results.read_bytes() == before  # no task started, none finished
    assert not (half_done / "errors.jsonl").exists()
    _move_away(db, tmp_path / "moved")
    res = _resume(half_done)
    assert res.exit_code == 0, res.output
    records = read_records(results)
    assert len(records) == TASKS and len({r["task_id"] for r in records}) == TASKS


def test_a_read_only_checkpoint_file_is_one_line_and_resumes_once_writable(half_done: Path) -> None:
    db = half_done / "checkpoints.sqlite"
    results = half_done / "results.jsonl"
    before = results.read_bytes()
    lock(db)  # chmod 0444 for a user; the immutable flag for root (chmod does not stop root); else a skip
    try:
        res = _resume(half_done)
    finally:
        unlock(db)
    assert res.exit_code == 2, res.output
    line = error_line(res)
    assert line.startswith(f"error: {db} is read-only: make it writable"), line
    assert f"`semtrace run --resume {half_done}`" in line
    assert results.read_bytes() == before
    res = _resume(half_done)
    assert res.exit_code == 0, res.output
    assert len(read_records(results)) == TASKS


def test_a_directory_in_place_of_the_checkpoint_file_is_one_line(half_done: Path) -> None:
    db = half_done / "checkpoints.sqlite"
    db.unlink()
    db.mkdir()
    res = _resume(half_done)
    assert res.exit_code == 2, res.output
    line = error_line(res)
    assert line.startswith(f"error: {db} cannot be opened as a database"), line


async def test_a_failure_during_the_run_is_fatal_and_names_the_file(tmp_path: Path) -> None:
    """An operation that fails mid-run (here the connection made read-only, as a file turned read-only would)
    is a fatal CheckpointError naming the file: the run stops rather than fail each task alike."""
    path = tmp_path / "checkpoints.sqlite"
    config = {"configurable": {"thread_id": "T/1", "checkpoint_ns": ""}}
    async with RunSaver.open(str(path)) as saver:
        saver.conn.execute("PRAGMA query_only = 1")
        with pytest.raises(CheckpointError) as info:
            await saver.adelete_thread("T/1")
        assert info.value.fatal and str(info.value).startswith(f"{path} is read-only")
        assert await saver.aget_tuple(config) is None  # reads still work
    async with RunSaver.open(str(path)) as saver:  # misuse is a bug, not the file's problem: not disguised
        saver.conn.close()
        with pytest.raises(sqlite3.ProgrammingError):
            await saver.aget_tuple(config)


def test_opening_proves_the_file_writable_without_changing_it(tmp_path: Path) -> None:
    path = tmp_path / "checkpoints.sqlite"

    async def open_once() -> list[str]:
        async with RunSaver.open(str(path)) as saver:
            return [r[0] for r in saver.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]

    first = asyncio.run(open_once())
    assert asyncio.run(open_once()) == first and "semtrace_write_probe" not in first
