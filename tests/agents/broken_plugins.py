"""Plugins with a bug, passed to ``semtrace run`` by dotted path (real components otherwise): a bug must surface as
a bug (traceback kept in a file, exit 1), never as a one-line "user error"."""

from __future__ import annotations

from semtrace.sandbox.local import LocalSandbox


class CloseFails(LocalSandbox):
    """The local sandbox, whose close() raises a ValueError after the run has finished."""

    async def close(self) -> None:
        await super().close()
        raise ValueError("close is broken")


class RunFails(LocalSandbox):
    """The local sandbox, whose every run raises (an infrastructure failure: every task errors)."""

    async def run(self, request: object) -> object:
        raise RuntimeError("the sandbox is gone")


class RendererInitFails:
    """A renderer whose constructor raises (before any run directory exists)."""

    name = "init_fails"

    def __init__(self) -> None:
        raise ValueError("renderer is broken")
