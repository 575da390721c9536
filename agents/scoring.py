"""Scoring outside the graph: the hidden tests run here and nowhere else.

The graph gets the task's public view (``Task.public()``: no hidden tests, no reference, no metadata), so hidden
tests never sit in ``AgentContext``, a node, a ``Send`` payload or a checkpoint. ``run_scored`` streams the graph's
updates and starts a ``Scorer`` job for each new candidate program as it appears, so scoring overlaps the graph;
when the graph has finished it awaits the scores (candidates a resumed task made before a kill are scored then, the
cache making repeats free), attaches each candidate's compact hidden outcome and applies a selector that reads
hidden results (``needs_hidden``, e.g. ``oracle``), whose in-graph ``select`` only recorded that it was deferred.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Iterable, Iterator
from typing import Any

from semtrace.agents.context import AgentContext, RunStats
from semtrace.agents.exec_cache import ExecCache, program_key
from semtrace.agents.gates import GatedSandbox, PriorityGate
from semtrace.agents.record import Candidate, ExecSummary, not_run, summary
from semtrace.agents.state import candidates_of, final_candidates, merge_candidates
from semtrace.benchmarks.task import Task
from semtrace.sandbox.base import Sandbox
from semtrace.sandbox.types import ExecRequest, ExecResult, Limits

log = logging.getLogger(__name__)


class Scorer:
    """Runs a program on its task's hidden tests, stopping at the first failure (pass/fail is all scoring needs;
    a looping program costs one timeout). Each distinct (program, hidden tests) pair runs once per run: results
    are cached by a digest of both, and concurrent requests for the same pair share one execution. With the run's
    sandbox ``gate``, a round-r candidate's run queues after the chains' runs of round r (``GatedSandbox``)."""

    def __init__(
        self,
        sandbox: Sandbox,
        tasks: Iterable[Task],
        limits: Limits,
        stats: RunStats | None = None,
        maxsize: int = 4096,
        gate: PriorityGate | None = None,
    ) -> None:
        self.sandbox, self.limits, self.maxsize, self.gate = sandbox, limits, maxsize, gate
        self.stats = stats if stats is not None else RunStats()
        self._tasks = {t.task_id: t for t in tasks}
        self._digests: dict[str, str] = {}
        self._cache = ExecCache(maxsize)  # one distinct program is scored once, also when asked concurrently

    def _task(self, task: Task) -> Task:
        return self._tasks.get(task.task_id, task)  # the real task, even when given its public view

    def request(self, task: Task, code: str) -> ExecRequest:
        task = self._task(task)
        return ExecRequest(
            code=code,
            tests=task.hidden_tests,
            entry_point=task.entry_point,
            test_setup=task.test_setup,
            prelude=task.prelude,
            limits=self.limits,
            stop_on_failure=True,
        )

    def tests_digest(self, task: Task) -> str:
        """The digest of everything but the program in the task's scoring request (tests, setup, limits)."""
        task = self._task(task)
        if task.task_id not in self._digests:
            blob = json.dumps({**self.request(task, "").to_dict(), "code": None}, sort_keys=True)
            self._digests[task.task_id] = hashlib.sha256(blob.encode()).hexdigest()
        return self._digests[task.task_id]

    def key(self, task: Task, code: str) -> str:
        return program_key(code, self.tests_digest(task))

    async def score(self, task: Task, code: str, round_: int = 0, ordinal: int = 0) -> ExecResult | None:
        """The hidden-test result of ``code`` (None when the task has no hidden tests); ``round_`` and ``ordinal``
        (the candidate's round, the task's place in the run) only order it in the sandbox's queue."""
        if not self._task(task).hidden_tests:
            return None
        sandbox = GatedSandbox(self.sandbox, self.gate, (round_, 1, ordinal), self.stats.profile)
        return await self._cache.run(sandbox, self.request(task, code), self.stats, key=self.key(task, code))


def hidden_outcome(result: ExecResult | None, keep: str) -> ExecSummary:
    """The record's compact hidden result: counts, one letter per test, detail for the first failure only."""
    return summary(result, None, keep, stdio=False)


def _updates(chunk: Any) -> Iterator[dict[str, Any]]:
    """The node updates in one ``stream_mode="updates"`` chunk (``{node: update or [updates]}``)."""
    if not isinstance(chunk, dict):
        return
    for value in chunk.values():
        for update in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(update, dict):
                yield update


async def _graph_state(app: Any, task: Task, ctx: AgentContext, start: Any) -> dict[str, Any]:
    """Run (or continue from its checkpoint) the task's graph, calling ``start(candidate)`` for every candidate as
    its update arrives; the final state. A task run from its start has its final state from its own updates (the
    candidates merged as the channel merges them, the selection), so the checkpoint is not read back; a resumed one
    reads it (writes made before the kill are in it, not in this session's stream)."""
    config = {"configurable": {"thread_id": task.task_id}, "recursion_limit": 10_000}
    snapshot = await app.aget_state(config)
    if snapshot.values and not snapshot.next and "selection" in snapshot.values:
        return dict(snapshot.values)  # finished before the kill; only its line was missing
    resumed = bool(snapshot.next)
    if resumed:
        log.info("task %s: continuing from its checkpoint (next: %s)", task.task_id, ",".join(snapshot.next))
    state: dict[str, Any] = {"candidates": []}
    async for chunk in app.astream(None if resumed else {"task_id": task.task_id}, config, context=ctx,
                                   stream_mode="updates"):
        for update in _updates(chunk):
            written = update.get("candidates") or []
            for cand in written:
                if isinstance(cand, Candidate):
                    start(cand)
            state["candidates"] = merge_candidates(state["candidates"], written)
            if "selection" in update:
                state["selection"] = update["selection"]
    return dict((await app.aget_state(config)).values) if resumed else state


async def run_scored(app: Any, task: Task, ctx: AgentContext, scorer: Scorer
                     ) -> tuple[list[Candidate], dict[str, Any]]:
    """The task's candidates, each with its hidden outcome, and the final selection. ``task`` is the real task
    (for scoring); the graph sees only ``ctx.task``, its public view."""
    jobs: dict[str, asyncio.Future[ExecResult | None]] = {}

    def start(cand: Candidate) -> None:  # scored once per program; queued by its first candidate's round
        if not cand.no_program and cand.code not in jobs:
            jobs[cand.code] = asyncio.ensure_future(scorer.score(task, cand.code, cand.round, ctx.ordinal))

    try:
        state = await _graph_state(app, task, ctx, start)
        made = candidates_of(state)
        for cand in made:
            start(cand)  # made before a kill (in the checkpoint, not in this session's stream)
        scores = {code: await job for code, job in jobs.items()}
    except BaseException:
        for job in jobs.values():
            job.cancel()
        await asyncio.gather(*jobs.values(), return_exceptions=True)
        raise
    keep = ctx.settings.keep_outcomes
    scored = [c.model_copy(update={"hidden": not_run(c.note) if c.no_program
                                   else hidden_outcome(scores[c.code], keep)}) for c in made]
    selection = state.get("selection") or {}
    if selection.get("deferred"):  # a selector reading hidden results runs now that they exist
        selection = await ctx.selector.select(final_candidates(scored), ctx)
    return scored, selection
