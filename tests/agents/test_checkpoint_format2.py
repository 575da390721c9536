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
import json
import logging
import re
import shutil
import sqlite3
from pathlib import Path

import pytest
from clihelp import invoke
from semtrace.agents.checkpoints import FORMAT, TYPES, CompressedSerde
from semtrace.agents.metrics import stable_record

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
    """Per thread: (node, chain, round) of every payload not yet run: the latest checkpoint's ``Send``s whose task
    left no writes, and the ``Send``s (and branch writes: chain and round -1) of its tasks that finished."""
    serde = CompressedSerde(allowed_msgpack_modules=TYPES)
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    out = {}
    try:
        for (thread,) in db.execute("SELECT DISTINCT thread_id FROM checkpoints"):
            cid, kind, blob = db.execute(
                "SELECT checkpoint_id, type, checkpoint FROM checkpoints WHERE thread_id = ? AND checkpoint_ns = '' "
                "ORDER BY checkpoint_id DESC LIMIT 1", (thread,)).fetchone()
            sends = serde.loads_typed((kind, blob))["channel_values"].get("__pregel_tasks", [])
            writes = db.execute("SELECT task_path, channel, type, value FROM writes WHERE thread_id = ? AND "
                                "checkpoint_id = ? ORDER BY task_id, idx", (thread, cid)).fetchall()
            done = {int(m.group(1)) for path, *_ in writes if (m := re.match(r"~__pregel_push, (\d+)", path))}
            items = [s for i, s in enumerate(sends) if i not in done]
            items += [serde.loads_typed((k, v)) for _, ch, k, v in writes if ch == "__pregel_tasks"]
            assert all(isinstance(s.arg, dict) for s in items), "format 2 payloads are dicts"
            found = [(s.node, s.arg["chain"], s.arg["round"]) for s in items]
            # a node a finished task went to without a payload (a branch channel: the ``finish`` join)
            found += [(ch.removeprefix("branch:to:"), -1, -1) for _, ch, *_ in writes if ch.startswith("branch:to:")]
            out[thread] = sorted(found)
    finally:
        db.close()
    return out


def _user_version(db_path: Path) -> int:
    db = sqlite3.connect(db_path)
    try:
        return db.execute("PRAGMA user_version").fetchone()[0]
    finally:
        db.close()


def _records(run: Path) -> dict[str, dict]:
    out = {}
    for line in (run / "results.jsonl").read_text().splitlines():
        rec = json.loads(line)
        out[rec["task_id"]] = rec
    return out


def _comparable(rec: dict) -> dict:
    return stable_record({k: v for k, v in rec.items() if k not in ("schema_version", "config_digest")})


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
        shared["runs"][cfg_text] = _records(fresh)
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
    assert list(_records(run)) == IDS[:1]

    with caplog.at_level(logging.INFO, logger="semtrace.agents.scoring"):
        res = invoke("run", "--resume", str(run), "--no-display")
    assert res.exit_code == 0, res.output
    # the task in flight went on from its old checkpoint (not from scratch)
    assert any(f"{IN_FLIGHT}: continuing from its checkpoint" in r.getMessage() for r in caplog.records)
    resumed = _records(run)
    assert sorted(resumed) == sorted(IDS)
    uninterrupted = _uninterrupted(shared, cfg, cfg_text)
    for task_id in IDS[1:]:  # the task in flight at the kill, and the one not started
        assert _comparable(resumed[task_id]) == _comparable(uninterrupted[task_id]), task_id
    assert _user_version(db_path) == FORMAT
