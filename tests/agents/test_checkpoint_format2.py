"""Checkpoints of format 2 (dict chain payloads, the ``execute``/``trace``/``render`` nodes) resume under the
current format: a run killed by semtrace at 6b5ef4b, the last commit writing format 2, with chain payloads pending
at each node of the old graph finishes with the records of an uninterrupted run of the current code.

The fixtures ``fixtures/run-format2-NODE`` were made by ``fixtures/make_format2.py`` (see its docstring and
fixtures/README.md): ``semtrace run --benchmark demo --model scripted:RULES --sandbox local --width 2 --depth 3
--limit 3 -o task_concurrency=1 -o trace.max_events=200`` with ``--strategy hybrid --critique`` (``--strategy
debug -o tool_calls=3`` for ``debug``), SIGKILLed 1 s after chain 1's task of NODE started in ``demo/factorial``
(the second task; ``demo/sum_to_n`` is done, ``demo/is_even`` not started). Chain 1's payload is then pending at
NODE and chain 0's, whose task of that step finished, at the node after it: the checkpoint's own tasks and the
``Send``s its finished tasks wrote (with their dict candidate patches) both go through the legacy path
(``graph.LEGACY_NODES``, ``state.as_chain``, ``state.merge_candidates``)."""

from __future__ import annotations

import hashlib
import logging
import shutil
import sqlite3
from pathlib import Path

import pytest
from clihelp import invoke
from fixtures.make_format2 import pending as _pending
from runhelp import comparable, records_by_task
from semtrace.agents.checkpoints import FORMAT, TYPES, CompressedSerde

FIXTURES = Path(__file__).resolve().parent / "fixtures"
IDS = ["demo/sum_to_n", "demo/factorial", "demo/is_even"]
IN_FLIGHT = "demo/factorial"
# fixture: the (node, chain, round) of every payload pending in demo/factorial's checkpoint
PENDING = {
    "execute": [("execute", 1, 1), ("trace", 0, 1)],
    "trace": [("render", 0, 1), ("trace", 1, 1)],
    "render": [("critique", 0, 1), ("render", 1, 1)],
    "critique": [("critique", 1, 1), ("refine", 0, 1)],
    "refine": [("execute", 0, 2), ("refine", 1, 1)],
    "debug": [("debug", 1, 0), ("execute", 0, 1)],
}


def pending(db_path: Path) -> dict[str, list[tuple[str, int, int]]]:
    """What the fixture has pending (``fixtures/make_format2.pending``), read with this semtrace's serializer."""
    return _pending(db_path, CompressedSerde(allowed_msgpack_modules=TYPES))


def _user_version(db_path: Path) -> int:
    db = sqlite3.connect(db_path)
    try:
        return db.execute("PRAGMA user_version").fetchone()[0]
    finally:
        db.close()


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Rules files and uninterrupted runs by the fixture's config and rules (the hybrid fixtures share theirs):
    both runs name the same rules file, so the records' ``model`` is the same."""
    return {"base": tmp_path_factory.mktemp("format2"), "runs": {}}


def _setup(shared: dict, fixture: Path, run: Path) -> tuple[Path, str]:
    """Copy the fixture to ``run`` with its config naming a rules file shared by fixtures of the same rules."""
    rules_text = (fixture / "rules.jsonl").read_text()
    rules = shared["base"] / f"rules-{hashlib.sha256(rules_text.encode()).hexdigest()[:12]}.jsonl"
    rules.write_text(rules_text)
    shutil.copytree(fixture, run)
    cfg_text = (run / "config.yaml").read_text()
    assert "scripted:RULES" in cfg_text
    cfg_text = cfg_text.replace("scripted:RULES", f"scripted:{rules}")
    (run / "config.yaml").write_text(cfg_text)
    return run / "config.yaml", cfg_text


def _uninterrupted(shared: dict, cfg: Path, cfg_text: str) -> dict[str, dict]:
    """The records of a fresh run of the current code with the fixture's config (once per config)."""
    if cfg_text not in shared["runs"]:
        fresh = shared["base"] / f"fresh-{len(shared['runs'])}"
        res = invoke("run", "--config", str(cfg), "--out", str(fresh), "--no-display")
        assert res.exit_code == 0, res.output
        shared["runs"][cfg_text] = records_by_task(fresh)
    return shared["runs"][cfg_text]


@pytest.mark.parametrize("node", list(PENDING))
def test_a_run_killed_under_format2_resumes_and_equals_an_uninterrupted_run(
    node: str, shared: dict, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fixture = FIXTURES / f"run-format2-{node}"
    run = tmp_path / "old"
    cfg, cfg_text = _setup(shared, fixture, run)
    db_path = run / "checkpoints.sqlite"
    # the fixture is what it claims: format 2, one task in flight with payloads pending at these nodes
    assert _user_version(db_path) == 2
    assert pending(db_path) == {IN_FLIGHT: PENDING[node]}
    assert list(records_by_task(run)) == IDS[:1]

    with caplog.at_level(logging.INFO, logger="semtrace.agents.scoring"):
        res = invoke("run", "--resume", str(run), "--no-display")
    assert res.exit_code == 0, res.output
    # the task in flight went on from its old checkpoint (not from scratch)
    assert any(f"{IN_FLIGHT}: continuing from its checkpoint" in r.getMessage() for r in caplog.records)
    resumed = records_by_task(run)
    assert sorted(resumed) == sorted(IDS)
    uninterrupted = _uninterrupted(shared, cfg, cfg_text)
    for task_id in IDS[1:]:  # the task in flight at the kill, and the one not started
        assert comparable(resumed[task_id]) == comparable(uninterrupted[task_id]), task_id
    assert _user_version(db_path) == FORMAT
