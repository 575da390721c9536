"""The Sandbox contract and its registry."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from semtrace.registry import Registry
from semtrace.sandbox.types import ExecRequest, ExecResult


class SandboxUnavailable(RuntimeError):
    """The sandbox cannot run anything (no Docker daemon, no image, ...). Infrastructure, not a program outcome."""


@runtime_checkable
class Sandbox(Protocol):
    """Runs one request and reports what happened. Program failures are values (ExecResult.status), never raised.

    A back end may declare ``concurrency: int``, the requests it runs at once. The run loop then queues requests in
    front of it in its own order (lagging chains first, ``agents.gates.PriorityGate``) instead of the back end's
    arrival order; without it, requests go straight in.
    """

    async def run(self, request: ExecRequest) -> ExecResult: ...

    async def close(self) -> None: ...


SANDBOXES = Registry(
    kind="sandbox",
    group="semtrace.sandboxes",
    entries={
        "local": "semtrace.sandbox.local:LocalSandbox",
        "docker": "semtrace.sandbox.docker:DockerSandbox",
        "fake": "semtrace.sandbox.fake:FakeSandbox",
        "ray": "semtrace.sandbox.ray:RaySandbox",
    },
)


def make_sandbox(name: str, **options: Any) -> Sandbox:
    """Build a sandbox by registry name (``local``, ``docker``) or dotted path."""
    cls = SANDBOXES.resolve(name)
    return cls(**options)
