"""Guard: hidden tests never enter the graph. A canary string in every kind of hidden test (an assert's source, a
call's arguments and expected value, a stdio test's stdin and expected output) of the bundled ``demo`` tasks
must not appear in any checkpoint (every step of every task is kept, read both as raw SQLite rows and through
the saver's API), in any ``Send`` payload, or in the context the graph's nodes get; the scorer did run those tests
(the sandbox saw them) and the records carry their outcomes."""

from __future__ import annotations

import ast
import json
import sqlite3
import zlib
from dataclasses import replace
from typing import Any

from langgraph.types import Send
from semtrace.agents import nodes
from semtrace.agents.build import build_components
from semtrace.agents.checkpoints import RunSaver
from semtrace.agents.run import prepare_run_dir, read_records, run_tasks
from semtrace.benchmarks.demo import load
from semtrace.config import build_config
from semtrace.sandbox.types import TestCase

CANARY = "CANARY-5d1c0e77-hidden-only"


def as_call(test: TestCase) -> TestCase | None:
    """``assert f(ARGS) == EXPECTED`` as a call test still passing for a correct program, the canary in its args
    (a starred empty list) and its expected value (the first item of a pair)."""
    node = ast.parse(test.source).body[0]
    if not (isinstance(node, ast.Assert) and isinstance(node.test, ast.Compare)):
        return None
    call, ops, rights = node.test.left, node.test.ops, node.test.comparators
    if not (
        isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and [type(o) for o in ops] == [ast.Eq]
    ):
        return None
    seg = ast.get_source_segment(test.source, call) or ""
    args = seg[len(call.func.id) + 1 : -1].strip()
    expected = ast.get_source_segment(test.source, rights[0])
    starred = f"*[{CANARY!r}][:0]"
    return TestCase(
        kind="call",
        func=call.func.id,
        args=f"{args}, {starred}" if args else starred,
        expected=f"({expected}, {CANARY!r})[0]",
        name=f"{test.name}-call",
    )


def with_canary(task: Any) -> Any:
    hidden: list[TestCase] = []
    for t in task.hidden_tests:
        hidden.append(replace(t, source=f"{t.source}  # {CANARY}", name=f"{t.name}-{CANARY}"))
        call = as_call(t)
        if call is not None:
            hidden.append(call)
    hidden.append(TestCase(kind="stdio", stdin=f"{CANARY}\n", expected=f"{CANARY}\n", name="stdio"))
    return replace(task, hidden_tests=tuple(hidden))


class SpySandbox:
    """The real sandbox, every request kept."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.requests = inner, []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def run(self, request: Any) -> Any:
        self.requests.append(request)
        return await self.inner.run(request)


def _plain(blob: bytes) -> bytes:
    """A raw column as the bytes it stands for: large blobs are stored zlib-compressed (``CompressedSerde``)."""
    try:
        return zlib.decompress(blob)
    except zlib.error:
        return blob


async def test_no_hidden_test_in_checkpoints_payloads_or_context(demo_rules, tmp_path, monkeypatch):
    tasks = [with_canary(t) for t in load()[:6]]
    kinds = {t.kind for task in tasks for t in task.hidden_tests}
    assert kinds == {"assert", "call", "stdio"}

    async def keep_thread(self: Any, thread_id: str) -> None:  # every step's checkpoint stays to be read
        return None

    monkeypatch.setattr(RunSaver, "adelete_thread", keep_thread)  # the run's checkpointer
    sent: list[str] = []
    send_init = Send.__init__

    def spy_send(self: Any, node: str, arg: Any, **kwargs: Any) -> None:
        sent.append(json.dumps(arg, default=repr))
        send_init(self, node, arg, **kwargs)

    monkeypatch.setattr(Send, "__init__", spy_send)
    contexts: list[Any] = []
    generate = nodes.generate

    async def spy_generate(state: Any, runtime: Any) -> Any:
        contexts.append(runtime.context)
        return await generate(state, runtime)

    monkeypatch.setattr(nodes, "generate", spy_generate)

    cfg = build_config(
        flags={
            "benchmark": "demo",
            "strategy": "hybrid",
            "width": 2,
            "depth": 2,
            "selector": "oracle",  # applied after scoring, outside the graph
            "representation": "next",
            "critique": True,
            "model": f"scripted:{demo_rules}",
            "sandbox": "local",
            "display": False,
        }
    )
    comps = await build_components(cfg, tasks=tasks)
    spy = SpySandbox(comps.sandbox)
    comps.sandbox = spy
    run_dir = tmp_path / "run"
    prepare_run_dir(run_dir, cfg, resume=False)
    try:
        await run_tasks(cfg, run_dir, comps)
    finally:
        await spy.inner.close()

    # the scorer ran the canary tests, outside the graph, and the records hold their outcomes
    assert any(CANARY in json.dumps(r.to_dict()) for r in spy.requests)
    records = read_records(run_dir / "results.jsonl")
    assert len(records) == len(tasks)
    for rec in records:
        assert rec["selection"]["selector"] == "oracle" and rec["selection"]["upper_bound"] is True
        assert "deferred" not in rec["selection"] and rec["selection"]["id"]
        assert all(c["hidden"]["status"] and c["hidden"]["total"] for c in rec["candidates"])

    # the graph's context held the public view only
    assert len(contexts) == len(tasks)
    assert all(ctx.task.hidden_tests == () and ctx.task.reference is None for ctx in contexts)
    assert not [c for c in contexts if CANARY in json.dumps(c.task.to_dict())]

    # no Send payload carried a hidden test (and there were payloads carrying code and visible results)
    assert len(sent) > len(tasks) and any("visible" in s for s in sent)
    assert not [s for s in sent if CANARY in s]

    # no checkpoint row, raw: every column of every table of the checkpoint database
    db = sqlite3.connect(run_dir / "checkpoints.sqlite")
    try:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        blobs = [
            _plain(bytes(v)) if isinstance(v, (bytes, memoryview)) else str(v).encode()
            for table in tables
            for row in db.execute(f'SELECT * FROM "{table}"')
            for v in row
            if v is not None
        ]
    finally:
        db.close()
    code = tasks[0].reference.split("\n", 1)[0].encode()
    assert any(code in b for b in blobs)  # the candidates are there, readable as bytes
    assert not [b for b in blobs if CANARY.encode() in b]

    # nor decoded through the saver's API (checkpoints, metadata, pending writes)
    async with RunSaver.open(str(run_dir / "checkpoints.sqlite")) as saver:
        seen = [
            json.dumps([tup.checkpoint, tup.metadata, tup.pending_writes], default=repr)
            async for tup in saver.alist(None)
        ]
    assert len(seen) > len(tasks) and any('"candidates"' in s for s in seen)
    assert not [s for s in seen if CANARY in s]


async def test_scorer_runs_each_program_once_concurrently_and_stops_at_the_first_failure():
    import asyncio

    from semtrace.agents.context import RunStats
    from semtrace.agents.record import ExecSummary
    from semtrace.agents.scoring import Scorer, hidden_outcome
    from semtrace.sandbox.fake import FakeSandbox
    from semtrace.sandbox.types import ExecResult, Limits, TestOutcome

    task = load()[0]
    async def slow(request: Any) -> ExecResult:
        await asyncio.sleep(0.05)
        return ExecResult(status="failed", tests=(TestOutcome(index=0, status="failed", message="boom"),))

    sandbox = FakeSandbox(default=slow)
    stats = RunStats()
    limits = Limits(wall_time=2.0)
    scorer = Scorer(sandbox, [task], limits, stats)
    public = task.public()  # the scorer finds the real task's hidden tests from its id
    a, b = await asyncio.gather(scorer.score(public, "x = 1"), scorer.score(task, "x = 1"))
    assert a is b and len(sandbox.requests) == 1 and stats.exec_cache_hits == 1
    assert await scorer.score(task, "x = 1") is a and len(sandbox.requests) == 1
    await scorer.score(task, "x = 2")
    assert len(sandbox.requests) == 2
    req = sandbox.requests[0]
    assert req.tests == task.hidden_tests and req.stop_on_failure and req.trace is None
    assert req.entry_point == task.entry_point and req.limits == limits
    assert await scorer.score(replace(task, task_id="none", hidden_tests=()), "x = 1") is None
    out = hidden_outcome(a, "compact")
    assert out.outcomes == "F" and out.tests[0].message == "boom" and out.stdout == ""
    assert hidden_outcome(None, "compact") == ExecSummary()
