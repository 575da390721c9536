"""Kill -9 a run at three random moments, resume each time: the records equal an uninterrupted run's."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from rules import repair_rules, write_rules
from semtrace.agents.metrics import stable_record
from semtrace.agents.run import read_records


def _cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "semtrace.cli", "run", *args]


def _lines(path: Path) -> list[str]:
    """Task ids of the complete lines: the run may be writing the last one right now (or was killed mid-line,
    which resume cuts off), so a line without its newline is not a record yet."""
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8", errors="replace")
    complete = text[: text.rfind("\n") + 1]
    return [json.loads(line)["task_id"] for line in complete.splitlines() if line.strip()]


def test_kill9_three_times_then_resume_equals_uninterrupted(fix_tasks, data_dir, tmp_path):
    tasks = fix_tasks[:24]
    pattern = [1, 2, 3, None]
    rules = write_rules(
        tmp_path / "rules.jsonl",
        repair_rules(tasks, {t.task_id: pattern[i % 4] for i, t in enumerate(tasks)}),
    )
    common = [
        "--benchmark",
        "humaneval-fix",
        "--data",
        str(data_dir),
        "--limit",
        str(len(tasks)),
        "--model",
        f"scripted:{rules}",
        "--sandbox",
        "local",
        "--strategy",
        "hybrid",
        "--width",
        "2",
        "--depth",
        "3",
        "--critique",
        "--no-display",
        "-o",
        "task_concurrency=2",
        "-o",
        "limits.wall_time=1",
    ]
    env = {**os.environ, "SEMTRACE_LOG": "ERROR"}

    ref = tmp_path / "ref"
    t0 = time.monotonic()
    subprocess.run(_cmd(*common, "--out", str(ref)), check=True, env=env, capture_output=True, timeout=600)
    elapsed = time.monotonic() - t0

    seed = int(os.environ.get("SEMTRACE_TEST_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    run = tmp_path / "run"
    partial = []
    for attempt in range(3):
        args = (
            _cmd(*common, "--out", str(run)) if attempt == 0 else _cmd("--resume", str(run), "--no-display")
        )
        proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if (
            attempt == 0
        ):  # anywhere in the first run, possibly before any task finished (in-flight checkpoints)
            time.sleep(rng.uniform(0.3, 0.9) * elapsed)
        else:  # after a random number of further tasks finished, plus a random delay (mid-task)
            lo = len(_lines(run / "results.jsonl")) + 1
            target = rng.randrange(lo, len(tasks)) if lo < len(tasks) else len(tasks)
            deadline = time.monotonic() + 120
            while (
                len(_lines(run / "results.jsonl")) < target
                and proc.poll() is None
                and time.monotonic() < deadline
            ):
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 0.3))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        done = _lines(run / "results.jsonl")
        assert len(done) == len(set(done)), f"duplicated task lines after kill {attempt + 1} (seed {seed})"
        partial.append(len(done))
    subprocess.run(
        _cmd("--resume", str(run), "--no-display"), check=True, env=env, capture_output=True, timeout=600
    )

    final_ids = _lines(run / "results.jsonl")
    assert sorted(final_ids) == sorted(t.task_id for t in tasks), f"seed {seed}"  # none lost, none duplicated
    got = {r["task_id"]: stable_record(r) for r in read_records(run / "results.jsonl")}
    want = {r["task_id"]: stable_record(r) for r in read_records(ref / "results.jsonl")}
    assert got == want, f"resumed records differ from the uninterrupted run (seed {seed})"
    summary_got = json.loads((run / "summary.json").read_text())
    summary_want = json.loads((ref / "summary.json").read_text())
    assert summary_got["by_depth"] == summary_want["by_depth"]
    # the kills landed mid-run at least once (otherwise this test would prove nothing)
    print(f"kill seed {seed}: uninterrupted {elapsed:.1f} s, tasks done at each kill {partial}")
    assert any(0 < n < len(tasks) for n in partial), f"no kill landed mid-run: {partial} (seed {seed})"
