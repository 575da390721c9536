"""The pieces of the ``ray`` back end that are not its dispatch (``ray.py``): its options, the per-node actor
(``NodeSandbox``, the one class the nodes import), the driver's record of each actor, and Ray look-ups."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from semtrace.sandbox.base import SandboxUnavailable
from semtrace.sandbox.types import ExecRequest


class RayOptions(BaseModel):
    """The ray back end's own options; the rest of ``sandbox.options`` configures each node's back end."""

    model_config = ConfigDict(extra="allow")
    address: str | None = Field(None, description="auto, ray://host:port, host:port, local; default: Ray's")
    backend: Literal["docker", "local"] = "docker"
    cores_per_actor: int | None = Field(None, ge=1, description="default: one actor per node, a slot per CPU")
    num_cpus: float = Field(0.0, ge=0, description="CPUs each actor holds in Ray's resource accounting")
    start_timeout: float = Field(180.0, gt=0, description="seconds for an actor to start its pool")
    rediscover: float = Field(30.0, gt=0, description="seconds between looks for new nodes")
    log_to_driver: bool = False
    queue_per_slot: int = Field(2, ge=1, description="requests an actor holds per slot: 1 runs, the rest wait "
                                "there, so a slot never idles for the round trip; bounded, never more")
    watchdog: float | None = Field(None, gt=0, description="seconds one request may take on an actor before the "
                                   "actor counts as wedged; default: the pool's watchdog + 30 s. Requests "
                                   "queued ahead of it on that actor add theirs")
    max_pool_errors: int = Field(3, ge=1, description="an actor whose pool raised this many times in a row is "
                                 "dropped")
    close_timeout: float = Field(10.0, gt=0, description="seconds a dropped actor gets to close its pool")

    def node_options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class NodeSandbox:
    """The actor: one node's sandbox (``make_sandbox(backend, **options)``), serving requests as dicts."""

    def __init__(self, backend: str, options: dict[str, Any]) -> None:
        self.backend = backend
        self.options = options
        self.sandbox: Any = None

    async def ready(self) -> dict[str, Any]:
        """Build and warm the pool (docker starts every container now); fail here, loudly, if it cannot run."""
        from semtrace.sandbox.base import make_sandbox

        self.sandbox = make_sandbox(self.backend, **self.options)
        warm = getattr(self.sandbox, "warm", None)
        if warm is not None:
            await warm()
        else:
            await self.sandbox.run(ExecRequest(code="", tests=()))
        return {"host": socket.gethostname(), "pid": os.getpid(), "python": getattr(self.sandbox, "python", "")}

    async def run(self, payload: dict[str, Any]) -> dict[str, Any]:
        result = await self.sandbox.run(ExecRequest.from_dict(payload))
        return result.to_dict()

    async def close(self) -> None:
        if self.sandbox is not None:
            await self.sandbox.close()


@dataclass(eq=False)
class _Actor:
    handle: Any
    node_id: str
    slots: int
    host: str = ""
    pid: int = 0
    inflight: int = 0
    alive: bool = True
    served: int = 0
    pool_errors: int = 0  # RayTaskErrors in a row
    budgets: dict[int, float] = field(default_factory=dict)  # watchdog seconds of each request it holds

    @property
    def load(self) -> float:
        return self.inflight / self.slots


def _ray() -> Any:
    try:
        import ray
    except ModuleNotFoundError as exc:
        raise SandboxUnavailable("the 'ray' sandbox needs the 'ray' package; install it with: "
                                 "pip install 'semtrace[ray]'") from exc
    return ray


def _unreachable(address: str | None) -> str | None:
    """For a ``host:port`` GCS address: why nothing answers there (None when something does, or for other forms)."""
    if not address or address in ("auto", "local") or "://" in address or ":" not in address:
        return None
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=5):
            return None
    except (OSError, ValueError) as exc:
        return f"nothing answers at {host}:{port} ({type(exc).__name__}: {exc})"


def _death_errors(ray: Any) -> tuple[type[BaseException], ...]:
    ex = ray.exceptions
    names = ("RayActorError", "RaySystemError", "ObjectLostError", "WorkerCrashedError", "NodeDiedError",
             "LocalRayletDiedError", "OutOfMemoryError")
    return tuple(getattr(ex, n) for n in names if isinstance(getattr(ex, n, None), type))
