"""Scheduling gates: at most a back end's declared concurrency of LLM calls or sandbox requests at once, the waiting
served least-progress first (``PriorityGate``), and the LLM and sandbox as nodes see them through one."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from collections.abc import AsyncIterator
from typing import Any

from semtrace.agents.profile import Profile, span
from semtrace.sandbox.base import Sandbox
from semtrace.sandbox.types import ExecRequest, ExecResult


class PriorityGate:
    """At most ``capacity`` holders at once (LLM calls, or sandbox requests: ``GatedLLM``, ``GatedSandbox``); the
    waiting go lowest priority tuple first (least progress: lowest round, then the earliest task), so lagging
    chains catch up and a run does not end on a long tail of one slow task."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.active = 0
        self._heap: list[tuple[tuple[int, ...], int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    @contextlib.asynccontextmanager
    async def slot(self, priority: tuple[int, ...]) -> AsyncIterator[None]:
        if self.active < self.capacity and not self._heap:
            self.active += 1
        else:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            heapq.heappush(self._heap, (priority, next(self._seq), fut))
            try:
                await fut  # resolved by _release, which hands its slot over
            except asyncio.CancelledError:
                if fut.done() and not fut.cancelled():
                    self._release()
                raise
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        while self._heap:
            _, _, fut = heapq.heappop(self._heap)
            if not fut.done():
                fut.set_result(None)
                return
        self.active -= 1


def gate_for(capacity: Any) -> PriorityGate | None:
    """A gate for a declared ``concurrency`` (an LLM's, a sandbox's); None (no queue of ours) without one."""
    return PriorityGate(capacity) if isinstance(capacity, int) and capacity > 0 else None


@contextlib.asynccontextmanager
async def gated(
    gate: PriorityGate | None, priority: tuple[int, ...], profile: Profile | None, waited: str
) -> AsyncIterator[None]:
    """A slot of ``gate`` (at once without a gate), the wait for it recorded as a ``waited`` span."""
    if gate is None:
        yield
        return
    asked = time.perf_counter()
    async with gate.slot(priority):
        if profile is not None:
            profile.add(waited, asked, time.perf_counter())
        yield


class GatedLLM:
    """The run's LLM seen through the priority gate (what nodes, selectors and LLM-written renderers call)."""

    def __init__(
        self, llm: Any, gate: PriorityGate | None, priority: tuple[int, ...], profile: Profile | None = None
    ) -> None:
        self.llm, self.gate, self.priority, self.profile = llm, gate, priority, profile
        self.name = getattr(llm, "name", "llm")

    async def generate(self, messages: Any, **kwargs: Any) -> Any:
        async with gated(self.gate, self.priority, self.profile, "llm_gate"):
            with span(self.profile, "llm"):
                return await self.llm.generate(messages, **kwargs)


class GatedSandbox:
    """The run's sandbox seen through a priority gate sized to its declared ``concurrency``: requests wait here,
    in priority order, rather than in the back end's arrival order. Priorities: ``(round, 0, task)`` for a chain's
    runs (lagging chains first, as the LLM gate orders calls), ``(round, 1, task)`` for the scorer's run of a
    round-``round`` candidate: after the chains' runs of that round (a chain, and the LLM, waits on its run), before
    later rounds' (so tasks finish, and their records are written, as the run goes; measured with scores after
    every chain's run instead, the LLM's work ended sooner but the run did not, and no task finished until then)."""

    def __init__(
        self, sandbox: Sandbox, gate: PriorityGate | None, priority: tuple[int, ...], profile: Profile | None = None
    ) -> None:
        self.sandbox, self.gate, self.priority, self.profile = sandbox, gate, priority, profile

    async def run(self, request: ExecRequest) -> ExecResult:
        async with gated(self.gate, self.priority, self.profile, "sandbox_queue"):
            return await self.sandbox.run(request)


def sandbox_gate(sandbox: Any) -> PriorityGate | None:
    """The priority gate for a sandbox that declares its ``concurrency`` (None: requests go straight in)."""
    return gate_for(getattr(sandbox, "concurrency", None))
