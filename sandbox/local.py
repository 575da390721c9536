"""The ``local`` back end: the runner as host subprocesses, kept warm in a pool.

Weaker isolation than Docker: the candidate runs as the host user with rlimits, a process-group kill and a clean
environment (no host variables, so no API keys), but with the host's filesystem and network. Use it where no Docker
daemon exists; it is never a silent fallback when Docker was asked for.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import tempfile

from pydantic import BaseModel, ConfigDict, Field
from semtrace.sandbox.pool import RUNNER_DIR, WorkerDied, WorkerPool
from semtrace.sandbox.types import ExecRequest, ExecResult

CLEAN_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONHASHSEED": "0",
             "PYTHONDONTWRITEBYTECODE": "1"}


class _ProcessWorker:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls, python: str, workdir: str) -> "_ProcessWorker":
        env = dict(CLEAN_ENV, HOME=workdir, TMPDIR=workdir, SEMTRACE_WORKDIR=workdir)
        proc = await asyncio.create_subprocess_exec(
            python, "-s", "-u", str(RUNNER_DIR / "runner.py"), "--serve",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
            env=env, cwd=workdir, start_new_session=True, limit=1 << 30)
        return cls(proc)

    async def request(self, line: bytes) -> bytes:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write(line)
            await self.proc.stdin.drain()
            answer = await self.proc.stdout.readline()
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise WorkerDied(f"runner process {self.proc.pid} is gone: {exc}") from exc
        if not answer:
            raise WorkerDied(f"runner process {self.proc.pid} exited with {await self.proc.wait()}")
        return answer

    async def kill(self) -> None:
        if self.proc.returncode is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        await self.proc.wait()


class LocalOptions(BaseModel):
    """The local back end's configuration (``sandbox.options`` in a run config)."""

    model_config = ConfigDict(extra="forbid")
    concurrency: int | None = Field(None, ge=1, description="runner processes = requests at once (default: cores)")
    python: str | None = Field(None, description="the interpreter candidates run under (default: this one)")


class LocalSandbox:
    """``async run(ExecRequest) -> ExecResult`` with at most ``concurrency`` runs at once (default: cores)."""

    name = "local"
    options_model = LocalOptions

    def __init__(self, concurrency: int | None = None, python: str | None = None) -> None:
        self.python = python or sys.executable
        self.concurrency = concurrency or os.cpu_count() or 1  # declared: runs at once (sandbox.base.Sandbox)
        self._workdir = tempfile.TemporaryDirectory(prefix="semtrace-local-")
        self._pool = WorkerPool(lambda: _ProcessWorker.start(self.python, self._workdir.name),
                                self.concurrency, name="local sandbox")

    async def run(self, request: ExecRequest) -> ExecResult:
        return await self._pool.run(request)

    async def close(self) -> None:
        await self._pool.close()
        self._workdir.cleanup()

    async def __aenter__(self) -> "LocalSandbox":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
