"""What nodes get through LangGraph's run context: the task, the LLM, the sandbox, the renderer, the selector and
the settings. Never globals; one context per task invocation (the shared pieces are shared objects)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import heapq
import itertools
import json
import time
import zlib
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from semtrace.agents.config import AgentSection
from semtrace.agents.profile import Profile, span
from semtrace.benchmarks.task import Task
from semtrace.llms.base import LLM
from semtrace.llms.config import LLMSection
from semtrace.representations.base import Renderer
from semtrace.representations.config import TraceSection
from semtrace.sandbox.base import Sandbox
from semtrace.sandbox.types import ExecRequest, ExecResult, Limits


@dataclass(frozen=True)
class AgentSettings:
    """What the nodes know of the run's config: its sections as they are (``agent``, ``trace``, ``llm``, the
    ``Limits``), the run's seed, what the renderer declared it needs, and how much detail records keep."""

    agent: AgentSection = field(default_factory=AgentSection)
    trace: TraceSection = field(default_factory=TraceSection)
    llm: LLMSection = field(default_factory=LLMSection)
    limits: Limits = field(default_factory=Limits)
    seed: int = 0
    needs_trace: bool = True
    keep_outcomes: Literal["compact", "all"] = "compact"  # per-test detail kept in records

    @classmethod
    def of(cls, **flat: Any) -> AgentSettings:
        """Settings from flat config names (``depth=2``, ``max_events=50``, ``temperature=0.7``), each routed to
        its section as a run config routes it (``config.FLAT_KEYS``): a shorthand for tests and scripts."""
        from semtrace.config import FLAT_KEYS

        sections: dict[str, dict[str, Any]] = {"agent": {}, "trace": {}, "llm": {}}
        own: dict[str, Any] = {}
        for key, value in flat.items():
            section, _, name = FLAT_KEYS.get(key, "").partition(".")
            if section in sections:
                sections[section][name] = value
            elif key in {f.name for f in dataclasses.fields(cls)}:
                own[key] = value
            else:
                raise TypeError(f"AgentSettings.of: unknown setting '{key}'")
        return cls(agent=AgentSection(**sections["agent"]), trace=TraceSection(**sections["trace"]),
                   llm=LLMSection(**sections["llm"]), **own)

    def seed_for(self, task_id: str, *parts: object) -> int:
        """A stable per-call seed, so that cached and uncached runs ask the same questions."""
        key = "|".join([task_id, *map(str, parts)])
        return (self.seed * 1_000_003 + zlib.crc32(key.encode())) % (2**31 - 1)


@dataclass
class RunStats:
    """Live counters for the display (not part of any record)."""

    llm_calls: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    sandbox_runs: int = 0
    exec_cache_hits: int = 0
    llm_errors: int = 0
    profile: Profile | None = None  # where the time goes (agents/profile.py); off unless asked for

    def add_completions(self, completions: list[Any]) -> None:
        self.llm_calls += 1
        for c in completions:
            self.cache_hits += int(bool(getattr(c, "cached", False)))
            self.prompt_tokens += c.usage.prompt_tokens
            self.completion_tokens += c.usage.completion_tokens


_REQUEST_REST = tuple(f.name for f in dataclasses.fields(ExecRequest) if f.name not in ("code", "tests"))


class ExecCache:
    """Identical (code, tests) requests in one run execute once (e.g. a repair task's round 0 in every chain), also
    when asked concurrently: later askers await the one run in flight. When that run raises, every asker gets the
    error and nothing is cached; when the asker that started it is cancelled, the others start it again."""

    def __init__(self, maxsize: int = 1024) -> None:
        self._data: OrderedDict[str, ExecResult] = OrderedDict()
        self._inflight: dict[str, asyncio.Future[ExecResult]] = {}
        self._rest: dict[tuple[Any, ...], tuple[tuple[Any, ...], str]] = {}  # see key()
        self.maxsize = maxsize

    def key(self, request: ExecRequest) -> str:
        """A digest of the whole request: the program, and everything else digested once per distinct tests
        object (a task's tests are one tuple for the whole run), so a key costs no conversion of the tests."""
        rest = (id(request.tests), *(getattr(request, f) for f in _REQUEST_REST))
        try:
            known = self._rest.get(rest)
        except TypeError:  # a field that cannot be hashed: digest the whole request
            return hashlib.sha256(json.dumps(request.to_dict(), sort_keys=True).encode()).hexdigest()
        if known is None or known[0] is not request.tests:
            blob = json.dumps({**request.to_dict(), "code": None}, sort_keys=True)
            if len(self._rest) >= 4 * self.maxsize:
                self._rest.clear()
            known = (request.tests, hashlib.sha256(blob.encode()).hexdigest())
            self._rest[rest] = known
        return hashlib.sha256(json.dumps([request.code, known[1]]).encode()).hexdigest()

    async def run(self, sandbox: Sandbox, request: ExecRequest, stats: RunStats, key: str | None = None) -> ExecResult:
        """``sandbox.run(request)`` once per distinct request (``key``: a cheaper digest the caller vouches for)."""
        k = key or self.key(request)
        while True:
            if k in self._data:
                stats.exec_cache_hits += 1
                self._data.move_to_end(k)
                return self._data[k]
            if k not in self._inflight:
                break
            shared = self._inflight[k]
            # asyncio.wait never cancels ``shared``, and raises CancelledError only when this asker is cancelled
            # (Ctrl-C cancels every task at once: an asker must not take its owner's cancellation for its own
            # and start the run again, swallowing its own)
            await asyncio.wait((shared,))
            if shared.cancelled():  # its owner was cancelled, not this asker: run it again
                continue
            result = shared.result()  # the owner's error, if its run raised
            stats.exec_cache_hits += 1
            return result
        fut: asyncio.Future[ExecResult] = asyncio.get_running_loop().create_future()
        self._inflight[k] = fut
        try:
            result = await sandbox.run(request)
            stats.sandbox_runs += 1
        except asyncio.CancelledError:
            fut.cancel()  # the askers waiting on it start it again (the loop above)
            raise
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # mark retrieved
            raise
        finally:
            self._inflight.pop(k, None)
        fut.set_result(result)
        self._data[k] = result
        if len(self._data) > self.maxsize:
            self._data.popitem(last=False)
        return result


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


ExtractFn = Callable[[str, str], "str | None"]


@dataclass
class AgentContext:
    task: Task  # the public view (Task.public()): hidden tests are scored outside the graph (scoring.py)
    llm: LLM
    sandbox: Sandbox
    renderer: Renderer
    selector: Any
    settings: AgentSettings
    extract: ExtractFn
    exec_cache: ExecCache = field(default_factory=ExecCache)
    stats: RunStats = field(default_factory=RunStats)
    gate: PriorityGate | None = None
    ordinal: int = 0  # the task's position in the run (earlier tasks first among equal rounds)
    sandbox_gate: PriorityGate | None = None  # shared by the run's tasks and its scorer (GatedSandbox)

    def llm_for(self, round_: int) -> GatedLLM:
        return GatedLLM(self.llm, self.gate, (round_, self.ordinal), self.stats.profile)

    def sandbox_for(self, round_: int) -> GatedSandbox:
        return GatedSandbox(self.sandbox, self.sandbox_gate, (round_, 0, self.ordinal), self.stats.profile)
