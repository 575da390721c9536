"""Plugins that press Ctrl-C at an exact point of a run, passed to ``semtrace run`` by dotted path (real components
otherwise): the local sandbox and the scripted LLM, which send their own process SIGINT when their k-th request
starts, as a user's Ctrl-C would arrive. ``SEMTRACE_TEST_INTERRUPT=sandbox:K`` or ``llm:K`` picks the point (unset:
no interruption, so a resume of the same run directory runs to the end); ``SEMTRACE_TEST_COUNT=FILE`` appends one
line per request to FILE (how many requests an uninterrupted run makes). ``SEMTRACE_TEST_PAUSE=DIR`` holds the run at
its first sandbox request: it creates DIR/paused and waits until DIR/go exists (the run is surely under way then)."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

from semtrace.llms.scripted import ScriptedLLM
from semtrace.sandbox.local import LocalSandbox
from semtrace.sandbox.types import ExecRequest, ExecResult

ENV, COUNT_ENV, PAUSE_ENV = "SEMTRACE_TEST_INTERRUPT", "SEMTRACE_TEST_COUNT", "SEMTRACE_TEST_PAUSE"


class _Counter:
    def __init__(self, kind: str) -> None:
        self.kind, self.seen = kind, 0
        where, _, at = os.environ.get(ENV, "").partition(":")
        self.at = int(at) if where == kind and at else None

    def tick(self) -> None:
        self.seen += 1
        count = os.environ.get(COUNT_ENV)
        if count:
            with open(count, "a", encoding="utf-8") as fh:
                fh.write(f"{self.kind}\n")
        if self.seen == self.at:
            os.kill(os.getpid(), signal.SIGINT)  # delivered to the event loop as the user's Ctrl-C


class InterruptingSandbox(LocalSandbox):
    """The local sandbox; its k-th run (``SEMTRACE_TEST_INTERRUPT=sandbox:K``) starts with a Ctrl-C."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._counter = _Counter("sandbox")

    async def run(self, request: ExecRequest) -> ExecResult:
        self._counter.tick()
        pause = os.environ.get(PAUSE_ENV)
        if pause and self._counter.seen == 1:
            (Path(pause) / "paused").touch()
            for _ in range(3000):  # at most 5 minutes: a test that died must not leave this run behind forever
                if (Path(pause) / "go").exists():
                    break
                await asyncio.sleep(0.1)
        return await super().run(request)


class InterruptingLLM(ScriptedLLM):
    """The scripted LLM; its k-th call (``SEMTRACE_TEST_INTERRUPT=llm:K``) starts with a Ctrl-C."""

    def __init__(self, model: str, **options: Any) -> None:
        super().__init__(model, **options)
        self._counter = _Counter("llm")

    async def generate(self, messages: Any, **options: Any) -> Any:
        self._counter.tick()
        return await super().generate(messages, **options)
