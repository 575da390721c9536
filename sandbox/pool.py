"""A pool of warm runner workers with a watchdog, replacement and one retry — shared by the sandbox back ends.

A worker is anything that can carry one newline-delimited JSON request to a runner in ``--serve`` mode and bring
back its one-line answer: a host subprocess (``local``) or a container (``docker``). The pool owns health, in one
place for every back end: a worker that dies, answers garbage, overruns the watchdog or answers with
``runner_error`` set (the runner itself failed) is killed and replaced, and the request it held is retried once on
a fresh worker, then reported as ``sandbox_error`` — never as a program failure.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any, Awaitable, Callable, Protocol

import orjson

from semtrace.sandbox.types import ExecRequest, ExecResult

log = logging.getLogger(__name__)

RUNNER_DIR = Path(__file__).resolve().parent
RUNNER_FILES = ("runner.py", "supervisor.py", "executor_handle.py", "verdicts.py", "executor.py", "child.py",
                "protocol.py", "convert.py", "judge.py", "calls.py", "assert_judge.py", "judging.py",
                "literals.py", "digest.py",
                "tracer.py", "tracer_values.py")


class WorkerDied(RuntimeError):
    """The worker's runner is gone or answered something that is not a result."""


class Worker(Protocol):
    async def request(self, line: bytes) -> bytes:
        """Send one request line, return one answer line; raise WorkerDied if the worker is gone."""
        ...

    async def kill(self) -> None: ...


WorkerFactory = Callable[[], Awaitable[Worker]]


def watchdog_seconds(request: ExecRequest) -> float:
    """An upper bound on an honest request's time: every test's limit, the load, slack. Traced tests run inside
    the judged run under the same per-test deadlines, so tracing needs no term of its own."""
    limits = request.limits
    per_test = sum(t.timeout or limits.wall_time for t in request.tests)
    # a test that kills its child makes the runner reload the program for the remaining tests
    return 2 * limits.load_time + per_test * 1.5 + 10.0


def _loads(answer: bytes) -> Any:
    """A worker's JSON answer: orjson (several times faster: the orchestrator reads every result), else json for
    what only json reads (NaN, Infinity, an integer past 64 bits, a lone surrogate), with json's own errors."""
    try:
        return orjson.loads(answer)
    except orjson.JSONDecodeError:
        return json.loads(answer)


class WorkerPool:
    """At most ``size`` workers, started lazily, each serving one request at a time."""

    def __init__(self, factory: WorkerFactory, size: int, name: str = "sandbox") -> None:
        self._factory = factory
        self._size = max(1, size)
        self._name = name
        self._idle: list[Worker] = []
        self._all: set[Worker] = set()
        self._slots = asyncio.Semaphore(self._size)
        self.replaced = 0

    async def _acquire(self) -> Worker:
        if self._idle:
            return self._idle.pop()
        worker = await self._factory()
        self._all.add(worker)
        return worker

    async def _discard(self, worker: Worker) -> None:
        self._all.discard(worker)
        self.replaced += 1
        try:
            await worker.kill()
        except Exception:  # a broken worker must not break the run
            log.exception("%s: killing a broken worker failed", self._name)

    async def run(self, request: ExecRequest) -> ExecResult:
        line = json.dumps(request.to_dict()).encode() + b"\n"
        watchdog = watchdog_seconds(request)
        problem = ""
        async with self._slots:
            for attempt in (1, 2):
                worker = await self._acquire()
                try:
                    answer = await asyncio.wait_for(worker.request(line), watchdog)
                    result = ExecResult.from_dict(_loads(answer))
                    if result.runner_error:  # decided here, once, for every back end
                        raise WorkerDied(f"its runner failed: {result.runner_error}")
                except asyncio.TimeoutError:
                    problem = f"the worker did not answer within the {watchdog:.0f}s watchdog"
                except (WorkerDied, ValueError, KeyError, TypeError) as exc:
                    problem = f"the worker failed: {exc}"
                except BaseException:
                    await self._discard(worker)  # cancelled mid-request: the worker's state is unknown
                    raise
                else:
                    self._idle.append(worker)
                    return result
                log.warning("%s: %s (attempt %d); replacing the worker", self._name, problem, attempt)
                await self._discard(worker)
        return ExecResult(status="sandbox_error", message=f"{self._name}: {problem} (after one retry)")

    async def close(self) -> None:
        workers, self._idle, self._all = list(self._all), [], set()
        await asyncio.gather(*(w.kill() for w in workers), return_exceptions=True)
