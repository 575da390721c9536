"""Scheduling and de-duplication of the run's work (issue 14.1): the run-wide ExecCache under concurrency, the
visible run's stop at the first timeout, no trace re-run of a test that timed out, the run's checkpointer, and the
profile spans. Real nodes (``observe`` runs, traces and renders a candidate in one step), the ``fake`` sandbox
(every request recorded) and the real local sandbox."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from semtrace.agents import checkpoints
from semtrace.agents.checkpoints import CompressedSerde, RunSaver
from semtrace.agents.context import RunStats
from semtrace.agents.exec_cache import ExecCache
from semtrace.agents.gates import sandbox_gate
from semtrace.agents.observe import observe
from semtrace.agents.profile import Profile
from semtrace.agents.record import Candidate
from semtrace.agents.scoring import Scorer
from semtrace.agents.settings import AgentSettings
from semtrace.agents.state import Amend, Chain, merge_candidates
from semtrace.benchmarks.demo import load
from semtrace.config import build_config
from semtrace.llms.accounting import Spent
from semtrace.representations.prompts import Attempt
from semtrace.sandbox.fake import FakeSandbox
from semtrace.sandbox.local import LocalSandbox
from semtrace.sandbox.types import ExecRequest, ExecResult, Limits, TestCase, TestOutcome
from test_nodes import APPEND_PASSING_TRACE, call, chain_of, make_ctx, only_send, only_written

TASKS = {t.task_id: t for t in load()}
APPEND = TASKS["demo/append_item"]  # two visible tests
PASSED = ExecResult(status="passed", tests=(TestOutcome(index=0, status="passed"),))


class Gate:
    """A FakeSandbox answer that waits until released, so requests overlap; counts how many started."""

    def __init__(self, result: ExecResult = PASSED) -> None:
        self.result, self.started, self.release = result, 0, asyncio.Event()

    async def __call__(self, request: ExecRequest) -> ExecResult:
        self.started += 1
        await self.release.wait()
        return self.result


def request(code: str = "x = 1", tests: tuple[TestCase, ...] | None = None, **kw: Any) -> ExecRequest:
    tests = tests if tests is not None else (TestCase(kind="assert", source="assert x == 1"),)
    return ExecRequest(code=code, tests=tests, **kw)


async def test_concurrent_identical_requests_run_once_and_share_the_result():
    gate = Gate()
    sandbox, cache, stats = FakeSandbox(default=gate), ExecCache(), RunStats()
    jobs = [asyncio.ensure_future(cache.run(sandbox, request(), stats)) for _ in range(8)]
    await asyncio.sleep(0.01)
    assert gate.started == 1  # the other seven wait for the one in flight
    gate.release.set()
    results = await asyncio.gather(*jobs)
    assert all(r is results[0] for r in results) and results[0] == PASSED
    assert (len(sandbox.requests), stats.sandbox_runs, stats.exec_cache_hits) == (1, 1, 7)
    assert await cache.run(sandbox, request(), stats) is results[0] and len(sandbox.requests) == 1  # cached


async def test_equal_requests_share_a_key_and_any_difference_makes_another():
    cache = ExecCache()
    tests = (TestCase(kind="assert", source="assert x == 1"),)
    copy = tuple(TestCase(kind="assert", source="assert x == 1") for _ in range(1))  # equal, not the same object
    base = cache.key(request(tests=tests))
    assert cache.key(request(tests=copy)) == base == ExecCache().key(request(tests=tests))
    others = [
        request(code="x = 2", tests=tests),
        request(tests=(TestCase(kind="assert", source="assert x == 2"),)),
        request(tests=tests, limits=Limits(wall_time=1.0)),
        request(tests=tests, stop_on_timeout=True),
        request(tests=tests, stop_on_failure=True),
        request(tests=tests, prelude="import math"),
        request(tests=tests, entry_point="f"),
    ]
    keys = {cache.key(r) for r in others}
    assert base not in keys and len(keys) == len(others)


async def test_a_failed_run_reaches_every_asker_and_is_not_cached():
    async def boom(_: ExecRequest) -> ExecResult:
        await asyncio.sleep(0.01)
        raise RuntimeError("the daemon went away")

    sandbox, cache, stats = FakeSandbox(default=boom), ExecCache(), RunStats()
    results = await asyncio.gather(*(cache.run(sandbox, request(), stats) for _ in range(3)), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results) and len(sandbox.requests) == 1
    sandbox.default = PASSED
    assert await cache.run(sandbox, request(), stats) == PASSED and len(sandbox.requests) == 2


async def test_when_the_asker_that_started_a_run_is_cancelled_the_others_run_it_again():
    gate = Gate()
    sandbox, cache, stats = FakeSandbox(default=gate), ExecCache(), RunStats()
    owner = asyncio.ensure_future(cache.run(sandbox, request(), stats))
    await asyncio.sleep(0.01)
    waiter = asyncio.ensure_future(cache.run(sandbox, request(), stats))
    await asyncio.sleep(0.01)
    owner.cancel()
    await asyncio.sleep(0.01)
    assert gate.started == 2  # the waiter started it again instead of taking the owner's cancellation
    gate.release.set()
    assert await waiter == PASSED
    with pytest.raises(asyncio.CancelledError):
        await owner


@pytest.mark.parametrize("order", ["owner first", "askers first"])
async def test_ctrl_c_cancelling_the_owner_and_its_askers_at_once_cancels_them_all(order: str):
    """Ctrl-C cancels every task in one go: an asker must not take its owner's cancellation for the owner's alone
    and start the run again (it swallowed its own cancellation: the run went on after Ctrl-C)."""
    gate = Gate()
    sandbox, cache, stats = FakeSandbox(default=gate), ExecCache(), RunStats()
    owner = asyncio.ensure_future(cache.run(sandbox, request(), stats))
    await asyncio.sleep(0.01)
    askers = [asyncio.ensure_future(cache.run(sandbox, request(), stats)) for _ in range(3)]
    await asyncio.sleep(0.01)
    everyone = [owner, *askers] if order == "owner first" else [*askers, owner]
    for job in everyone:
        job.cancel()
    gate.release.set()  # a run started again would finish (and its asker return) rather than hang
    results = await asyncio.gather(*everyone, return_exceptions=True)
    assert all(isinstance(r, asyncio.CancelledError) for r in results), results
    assert gate.started == 1 and stats.sandbox_runs == 0  # nothing started again after the Ctrl-C
    assert await cache.run(sandbox, request(), stats) == PASSED  # and the next asker runs it


async def test_the_cache_holds_on_the_real_sandbox_under_concurrency():
    code = "import time\ntime.sleep(0.3)\nx = 1\n"
    async with LocalSandbox(concurrency=2) as sandbox:
        cache, stats = ExecCache(), RunStats()
        results = await asyncio.gather(*(cache.run(sandbox, request(code), stats) for _ in range(6)),
                                       cache.run(sandbox, request("x = 2"), stats))
    assert [r.status for r in results] == ["passed"] * 6 + ["failed"]
    assert (stats.sandbox_runs, stats.exec_cache_hits) == (2, 5)


async def test_the_sandbox_queue_runs_lagging_chains_first_and_a_rounds_scores_after_its_chains(tmp_path: Path):
    order: list[str] = []
    release = asyncio.Event()

    async def answer(req: ExecRequest) -> ExecResult:
        order.append(req.code)
        if req.code == "blocker":
            await release.wait()
        return PASSED

    sandbox = FakeSandbox(default=answer, concurrency=1)
    gate = sandbox_gate(sandbox)
    assert gate is not None and gate.capacity == 1 and sandbox_gate(FakeSandbox(default=PASSED)) is None
    first = make_ctx(tmp_path, APPEND, sandbox, depth=3)
    first.sandbox_gate = gate
    later = replace(first, ordinal=5)  # a task started after it
    scorer = Scorer(sandbox, [APPEND], Limits(), gate=gate)
    jobs = [asyncio.ensure_future(first.sandbox_for(0).run(request("blocker")))]
    await asyncio.sleep(0.01)  # holds the one slot
    jobs += [
        asyncio.ensure_future(first.sandbox_for(2).run(request("chain, round 2"))),
        asyncio.ensure_future(scorer.score(APPEND, "score, round 1", 1, first.ordinal)),
        asyncio.ensure_future(later.sandbox_for(1).run(request("later task's chain, round 1"))),
        asyncio.ensure_future(first.sandbox_for(1).run(request("chain, round 1"))),
    ]
    await asyncio.sleep(0.01)
    assert order == ["blocker"]
    release.set()
    await asyncio.gather(*jobs)
    assert order == ["blocker", "chain, round 1", "later task's chain, round 1", "score, round 1", "chain, round 2"]


async def test_the_visible_run_asks_to_stop_at_the_first_timeout_unless_told_otherwise(tmp_path: Path):
    for setting, expected in ((None, True), (False, False)):
        sandbox = FakeSandbox(default=PASSED)
        extra = {} if setting is None else {"stop_on_timeout": setting}
        ctx = make_ctx(tmp_path, APPEND, sandbox, depth=1, **extra)
        cmd = await call(observe, chain_of(APPEND), ctx)
        (sent,) = sandbox.requests
        assert cmd.goto == "finish"
        assert sent.stop_on_timeout is expected and sent.tests == APPEND.visible_tests
    assert AgentSettings().agent.stop_on_timeout is True
    assert build_config(flags={}, overrides=["stop_on_timeout=false"]).agent.stop_on_timeout is False


@pytest.mark.parametrize("representation", ["next", "contrast"])
async def test_a_failing_test_that_timed_out_is_not_traced_again(tmp_path: Path, representation: str):
    code = APPEND.starting_code or ""
    outcomes = (TestOutcome(index=0, status="passed"),
                TestOutcome(index=1, status="timeout", message="exceeded the time limit of 1.0s"))
    timed_out = ExecResult(status="timeout", tests=outcomes)  # traced in the judged run: no trace came back
    passing = ExecResult(status="passed", tests=(outcomes[0],),
                         traces=(replace(APPEND_PASSING_TRACE, test_index=0),))
    sandbox = FakeSandbox({(code, APPEND.visible_tests): timed_out, (code, APPEND.visible_tests[:1]): passing})
    ctx = make_ctx(tmp_path, APPEND, sandbox, representation, depth=1)
    cmd = await call(observe, chain_of(APPEND), ctx)
    visible, *rerun = sandbox.requests
    assert visible.tests == APPEND.visible_tests and visible.trace is not None
    cand = only_written(cmd)
    assert cand.trace is None and cand.visible.outcomes == "PT" and cand.feedback
    assert only_send(cmd, "refine").failing == 1
    if representation == "contrast":  # uses_passing: the passing test alone is traced (the timed-out one is not)
        (again,) = rerun
        assert again.tests == APPEND.visible_tests[:1] and again.trace is not None and again.trace.tests == (0,)
        assert cand.passing_trace is not None and cand.passing_trace["test_index"] == 0
    else:
        assert rerun == [] and cand.passing_trace is None
    # one that failed without a trace (not a timeout) is still re-run under the tracer
    failed = ExecResult(status="failed", tests=(outcomes[0], TestOutcome(index=1, status="failed")))
    sandbox = FakeSandbox(default=failed)
    ctx = make_ctx(tmp_path, APPEND, sandbox, depth=1)
    await call(observe, chain_of(APPEND), ctx)
    visible, rerun_failed = sandbox.requests
    assert visible.tests == APPEND.visible_tests
    assert rerun_failed.tests == (APPEND.visible_tests[1],) and rerun_failed.trace is not None


async def test_the_run_saver_round_trips_and_is_read_by_langgraphs_own_saver(tmp_path: Path):
    from langgraph.checkpoint.base import empty_checkpoint
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    path = str(tmp_path / "c.sqlite")
    config = {"configurable": {"thread_id": "t1", "checkpoint_ns": ""}}
    # what a run's checkpoint holds: typed candidates (a dict: a patch of a format-2 checkpoint; an Amend: refine's
    # note on a candidate written before) and chains
    cand = Candidate(id="c0r0", chain=0, round=0, code="x = 1", usage=Spent(calls=1), trace={"n_events": 3})
    chain = Chain(candidate=cand, attempts=(Attempt(code="a", feedback="F"),), failing=0)
    amend = Amend(id="c0r0", note="refinement stopped: BadResponse: garbled")
    writes = [("candidates", [cand, {"id": "c0r1", "note": "n"}]), ("branch:to:refine", chain),
              ("candidates", [amend])]
    async with RunSaver.open(path) as saver:
        saved = await saver.aput(config, empty_checkpoint(), {"step": 1}, {})
        await saver.aput_writes(saved, writes, task_id="w1")
        got = await saver.aget_tuple(config)
        assert got is not None and got.metadata["step"] == 1
        assert [w[1:] for w in got.pending_writes] == writes
        (_, _, (typed, _)), (_, _, carried), (_, _, (amended,)) = got.pending_writes
        assert isinstance(typed, Candidate) and isinstance(typed.usage, Spent)
        assert isinstance(carried, Chain) and isinstance(carried.attempts[0], Attempt)
        assert type(amended) is Amend and amended == amend  # read back an Amend, not a dict patch
        assert merge_candidates([typed], [amended]) == [cand.model_copy(update={"note": amend.note})]
        assert [t.config for t in [t async for t in saver.alist(None)]] == [got.config]
    # the same file and schema as LangGraph's own saver, which reads it given the run's serializer (its blobs are
    # typed ``semtrace`` and compressed ``+z``: agents/serde.py)
    import aiosqlite

    async with aiosqlite.connect(path) as conn:
        theirs = AsyncSqliteSaver(conn, serde=CompressedSerde(allowed_msgpack_modules=checkpoints.TYPES))
        back = await theirs.aget_tuple(config)
        assert back.checkpoint["id"] == got.checkpoint["id"] and [w[1:] for w in back.pending_writes] == writes
    async with RunSaver.open(path) as saver:
        await saver.adelete_thread("t1")
        assert await saver.aget_tuple(config) is None


def test_an_amend_round_trips_through_the_checkpoint_serde_as_an_amend():
    serde = CompressedSerde(allowed_msgpack_modules=checkpoints.TYPES)
    from semtrace.agents.serde import COMPRESS_FROM

    for note in ("refinement stopped: ContextTooLong: prompt too long", "x" * COMPRESS_FROM):  # the long: compressed
        amend = Amend(id="c0r1", note=note)
        kind, blob = serde.dumps_typed([amend])
        assert kind.endswith("+z") == (len(note) >= COMPRESS_FROM)
        (back,) = serde.loads_typed((kind, blob))
        assert type(back) is Amend and back == amend


async def test_a_profiled_run_records_where_its_time_goes(tmp_path: Path, demo_rules: Path):
    from semtrace.agents.build import build_components
    from semtrace.agents.run import Progress, prepare_run_dir, run_tasks

    cfg = build_config(flags={"benchmark": "demo", "strategy": "hybrid", "width": 2, "depth": 1,
                              "sandbox": "local", "display": False, "model": f"scripted:{demo_rules}",
                              "tasks": "demo/sum_to_n,demo/append_item"})
    comps = await build_components(cfg)
    profile = Profile()
    prepare_run_dir(tmp_path / "run", cfg, resume=False)
    try:
        summary = await run_tasks(cfg, tmp_path / "run", comps,
                                  progress=Progress(total=2, stats=RunStats(profile=profile)))
    finally:
        await comps.sandbox.close()
    assert summary["errors"] == 0
    assert {"llm_gate", "llm", "render", "checkpoint", "sandbox_queue"} <= set(profile.spans)  # local: gated
    assert all(b >= a for spans in profile.spans.values() for a, b in spans)
    start = min(a for spans in profile.spans.values() for a, _ in spans)
    end = max(b for spans in profile.spans.values() for _, b in spans)
    occ = profile.occupancy("checkpoint", start, end)
    assert len(occ) == 10 and abs(sum(occ) * (end - start) / 10 - profile.total("checkpoint")) < 1e-6
