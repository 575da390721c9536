"""The ``ray`` back end: the per-node sandbox pools of a Ray cluster behind one ``Sandbox``.

One Ray actor per node (or per ``cores_per_actor`` cores of it), pinned there, owns an ordinary ``docker`` (or
``local``) sandbox on that node: the same ``DockerSandbox``/``LocalSandbox``, runner files, image and isolation
flags as a single-machine run, built from the same options. The orchestrator stays one process and sends each
``ExecRequest`` to the least-loaded actor (outstanding requests / slots); at most ``slots`` requests are ever
submitted to an actor, so a caller beyond the cluster's capacity waits here (backpressure) instead of queueing
inside Ray. An actor or node that dies, does not answer within the request's watchdog (plus the watchdogs of
the requests queued ahead of it there), or whose pool raised ``max_pool_errors`` times in a row, is dropped: its
pool is closed if it can still be reached, it is killed, and its node, left without actors, is forgotten so the
next discovery gives it new ones. Each request it held is retried once on another actor, then reported as
``sandbox_error``: never lost, and answered exactly once (only the retry's answer is returned). Nodes that join
later get actors at the next discovery.

Options (``sandbox.options``): ``address`` (``auto``: a running cluster; ``ray://host:port``: Ray Client, needs
``ray[client]``; ``host:port`` of a GCS; ``local``: start a private one; default: Ray's own choice —
``$RAY_ADDRESS``, else a running local cluster, else a new one), ``backend`` (``docker`` | ``local``),
``cores_per_actor``, ``num_cpus`` (CPUs each actor holds in Ray's accounting; 0 by default), ``start_timeout``,
``rediscover`` (seconds between node discoveries), ``log_to_driver``, ``queue_per_slot``, ``watchdog``,
``max_pool_errors``, ``close_timeout``; every other key goes to the node's back end
(``image``, ``memory_mb``, ``concurrency`` ... for docker) and is validated here, before anything starts.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from typing import Any

from semtrace.sandbox.base import SandboxUnavailable
from semtrace.sandbox.pool import watchdog_seconds
from semtrace.sandbox.ray_node import NodeSandbox, RayOptions, _Actor, _death_errors, _ray, _unreachable
from semtrace.sandbox.types import ExecRequest, ExecResult

log = logging.getLogger(__name__)

_LOCAL_KEYS = {"concurrency", "python"}
_CONNECTED = 0  # RaySandboxes of this process using the Ray connection one of them made (ray.init is per process)


class RaySandbox:
    """``async run(ExecRequest) -> ExecResult`` on the sandbox pools of a Ray cluster's nodes."""

    name = "ray"

    options_model = RayOptions

    def __init__(self, **options: Any) -> None:
        self.options = RayOptions(**options)
        node = self.options.node_options()
        if self.options.backend == "docker":
            from semtrace.sandbox.docker import DockerOptions

            DockerOptions(**node)  # a typo fails here, before a cluster is touched
        elif set(node) - _LOCAL_KEYS:
            raise ValueError(f"unknown option(s) for the ray sandbox's local back end: "
                             f"{', '.join(sorted(set(node) - _LOCAL_KEYS))}; valid: {', '.join(sorted(_LOCAL_KEYS))}")
        self._actors: list[_Actor] = []
        self._seen_nodes: set[str] = set()  # nodes with actors (or being given some); a node loses its entry
        # when its last actor is dropped or fails to start, so the next discovery gives it new ones
        self._pending: set[_Actor] = set()  # actors starting their pool
        self._retiring: set[asyncio.Task[None]] = set()  # dropped actors closing their pool, then killed
        self._tokens = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()  # callers waiting for a slot
        self._start_lock: asyncio.Lock | None = None
        self._started = False
        self._owns_ray = False
        self._last_discovery = 0.0
        self._discovering: asyncio.Task[None] | None = None
        self.lost = 0  # actors dropped as dead or wedged
        self.retried = 0  # requests sent again after their actor was lost
        self.closed = False

    # -- cluster ---------------------------------------------------------------------------------------------
    def _connect(self) -> None:
        global _CONNECTED
        ray = _ray()
        if ray.is_initialized():
            if _CONNECTED:  # another RaySandbox of this process connected: share it, the last one out shuts down
                _CONNECTED += 1
                self._owns_ray = True
            return
        address = self.options.address
        where = f"at '{address}'" if address else "(Ray's default address)"
        hint = "start one with `ray start --head` or set sandbox.options.address"
        problem = _unreachable(address)
        if problem:  # Ray itself would retry for minutes before giving up
            raise SandboxUnavailable(f"ray sandbox: cannot connect to a Ray cluster {where}: {problem}; {hint}")
        try:
            ray.init(address=address, log_to_driver=self.options.log_to_driver, include_dashboard=False,
                     configure_logging=False, ignore_reinit_error=True)
        except (Exception, SystemExit) as exc:  # ConnectionError, ValueError, grpc errors: no cluster to use
            raise SandboxUnavailable(f"ray sandbox: cannot connect to a Ray cluster {where}: "
                                     f"{type(exc).__name__}: {str(exc).strip()[:300]}; {hint}") from exc
        self._owns_ray = True
        _CONNECTED = 1

    def _new_actors(self) -> list[_Actor]:
        """Actors for every live node not seen before (blocking: ``ray.nodes()`` and actor creation)."""
        ray = _ray()
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        made = []
        for node in ray.nodes():
            node_id = node.get("NodeID", "")
            if not node.get("Alive") or node_id in self._seen_nodes:
                continue
            self._seen_nodes.add(node_id)
            cpus = max(1, int(node.get("Resources", {}).get("CPU", 1) or 1))
            per = self.options.cores_per_actor
            count, slots = (max(1, cpus // per), per) if per else (1, cpus)
            options = self.options.node_options()
            slots = int(options.get("concurrency") or slots)
            options["concurrency"] = slots
            cls = ray.remote(NodeSandbox).options(
                num_cpus=self.options.num_cpus, max_concurrency=slots * self.options.queue_per_slot + 4,
                max_restarts=0,
                scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=node_id, soft=False))
            for _ in range(count):
                made.append(_Actor(cls.remote(self.options.backend, options), node_id, slots))
        return made

    async def _admit(self, fresh: list[_Actor]) -> list[str]:
        """Wait for each new actor's pool; the ready ones join the dispatch set. Returns the failures."""
        async def one(actor: _Actor) -> str | None:
            try:
                info = await asyncio.wait_for(self._await(actor.handle.ready.remote()), self.options.start_timeout)
            except Exception as exc:  # noqa: BLE001 - any failure keeps this actor out, with its reason
                self._pending.discard(actor)
                actor.alive = False
                _ray().kill(actor.handle, no_restart=True)
                return f"node {actor.node_id[:12]}: {type(exc).__name__}: {str(exc).strip()[-400:]}"
            self._pending.discard(actor)  # (a cancelled start stays pending: close() kills it)
            actor.host, actor.pid = str(info.get("host", "")), int(info.get("pid", 0))
            self._actors.append(actor)
            return None

        self._pending.update(fresh)
        problems = [p for p in await asyncio.gather(*(one(a) for a in fresh)) if p]
        for node_id in {a.node_id for a in fresh}:
            self._forget_if_empty(node_id)
        for p in problems:
            log.warning("ray sandbox: an actor did not start: %s", p)
        if fresh:
            self._wake(everyone=True)
        return problems

    async def _ensure_started(self) -> None:
        if self._started:
            return
        if self.closed:
            raise SandboxUnavailable("the ray sandbox is closed")
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
        async with self._start_lock:
            if self._started:
                return
            self._connect()
            problems = await self._admit(await asyncio.to_thread(self._new_actors))
            self._last_discovery = time.monotonic()
            if not self._actors:
                raise SandboxUnavailable("ray sandbox: no node could start a sandbox pool: "
                                         + ("; ".join(problems) or "the cluster has no live node"))
            log.info("ray sandbox: %d actor(s), %d slot(s) on %d node(s)", len(self._actors),
                     sum(a.slots for a in self._actors), len({a.node_id for a in self._actors}))
            self._started = True

    def _forget_if_empty(self, node_id: str) -> None:
        """A node with no live or starting actor left is new again to the next discovery."""
        if not any(a.node_id == node_id and a.alive for a in (*self._actors, *self._pending)):
            self._seen_nodes.discard(node_id)

    def _maybe_discover(self, force: bool = False) -> None:
        due = time.monotonic() - self._last_discovery > self.options.rediscover
        if (force or due) and (self._discovering is None or self._discovering.done()) and not self.closed:
            self._last_discovery = time.monotonic()
            self._discovering = asyncio.ensure_future(self._discover())

    async def _discover(self) -> None:
        try:
            await self._admit(await asyncio.to_thread(self._new_actors))
        except Exception:  # discovery is best effort; the live actors keep serving
            log.exception("ray sandbox: looking for new nodes failed")

    @staticmethod
    async def _await(ref: Any) -> Any:
        if hasattr(ref, "__await__"):
            return await ref
        return await asyncio.wrap_future(ref.future())  # Ray Client refs

    # -- dispatch --------------------------------------------------------------------------------------------
    async def _acquire(self, exclude: set[_Actor]) -> _Actor | None:
        """The least-loaded live actor with a free slot (waiting for one); None when none but ``exclude`` live."""
        while True:
            live = [a for a in self._actors if a.alive and a not in exclude]
            if not live:
                if self._discovering is not None and not self._discovering.done():
                    await asyncio.shield(self._discovering)  # a discovery (after a loss) may bring actors: wait
                    continue
                return None
            free = [a for a in live if a.inflight < a.slots * self.options.queue_per_slot]
            if free:
                actor = min(free, key=lambda a: (a.load, a.inflight))
                actor.inflight += 1
                return actor
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._wake()  # it was handed a slot it will not use: pass it on
                raise

    def _wake(self, everyone: bool = False) -> None:
        """A slot came free: the longest waiting caller looks again (FIFO, one wake-up per slot); when the set
        of actors changed, every caller does."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                if not everyone:
                    return

    def _release(self, actor: _Actor) -> None:
        actor.inflight -= 1
        self._wake()

    def _drop(self, actor: _Actor, why: str) -> None:
        if not actor.alive:
            return
        actor.alive = False
        self.lost += 1
        log.warning("ray sandbox: dropping the actor on node %s (%s): %s", actor.node_id[:12], actor.host, why)
        self._actors = [a for a in self._actors if a.alive]
        self._forget_if_empty(actor.node_id)
        task = asyncio.ensure_future(self._retire(actor))
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)
        self._wake(everyone=True)
        self._maybe_discover(force=True)

    async def _retire(self, actor: _Actor) -> None:
        """Best effort, bounded: a dropped actor that can still be reached removes its pool's containers; then
        it is killed."""
        try:
            await asyncio.wait_for(self._await(actor.handle.close.remote()), self.options.close_timeout)
        except Exception as exc:  # noqa: BLE001 - dead or wedged: the kill below is all there is
            log.debug("ray sandbox: closing a dropped actor's pool: %s: %s", type(exc).__name__, exc)
        try:
            _ray().kill(actor.handle, no_restart=True)
        except Exception as exc:  # noqa: BLE001 - it is gone already
            log.debug("ray sandbox: kill: %s", exc)

    async def run(self, request: ExecRequest) -> ExecResult:
        await self._ensure_started()
        self._maybe_discover()
        ray = _ray()
        deaths = _death_errors(ray)
        payload = request.to_dict()
        own = self.options.watchdog or watchdog_seconds(request) + 30.0  # the pool has its own; this is the node's
        tried: set[_Actor] = set()
        problem = ""
        for attempt in (1, 2):
            actor = await self._acquire(tried)
            if actor is None:
                if attempt == 1:
                    raise SandboxUnavailable("ray sandbox: every sandbox actor is gone (nodes died or failed to "
                                             "start); check `ray status`")
                problem += "; no other live actor to retry on"
                break
            tried.add(actor)
            if attempt == 2:
                self.retried += 1
            # the clock starts now, but the actor may first finish the requests it holds: budget for them
            ahead = sum(actor.budgets.values()) if len(actor.budgets) >= actor.slots else 0.0
            watchdog = own + ahead
            self._tokens += 1
            token = self._tokens
            actor.budgets[token] = own
            ref = actor.handle.run.remote(payload)
            try:
                answer = await asyncio.wait_for(self._await(ref), watchdog)
            except asyncio.TimeoutError:
                problem = f"the actor on {actor.host or actor.node_id[:12]} did not answer within {watchdog:.0f}s"
                self._drop(actor, problem)
            except deaths as exc:
                problem = f"the actor on {actor.host or actor.node_id[:12]} died: {type(exc).__name__}"
                self._drop(actor, f"{problem}: {str(exc).strip()[:300]}")
            except ray.exceptions.RayTaskError as exc:  # the node's pool raised (e.g. SandboxUnavailable)
                problem = f"the pool on {actor.host or actor.node_id[:12]} failed: {str(exc).strip()[-300:]}"
                log.warning("ray sandbox: %s (attempt %d)", problem, attempt)
                actor.pool_errors += 1
                if actor.pool_errors >= self.options.max_pool_errors:
                    self._drop(actor, f"its pool failed {actor.pool_errors} times in a row")
            except asyncio.CancelledError:
                ray.cancel(ref)
                raise
            else:
                actor.served += 1
                actor.pool_errors = 0
                return ExecResult.from_dict(answer)
            finally:
                actor.budgets.pop(token, None)
                self._release(actor)
        return ExecResult(status="sandbox_error", message=f"ray sandbox: {problem} (after one retry)")

    # -- introspection and clean-up ----------------------------------------------------------------------------
    def actors(self) -> list[dict[str, Any]]:
        """The live actors: node id, host, slots, outstanding and served requests."""
        return [{"node_id": a.node_id, "host": a.host, "pid": a.pid, "slots": a.slots, "inflight": a.inflight,
                 "served": a.served} for a in self._actors if a.alive]

    async def warm(self) -> None:
        await self._ensure_started()

    async def close(self) -> None:
        global _CONNECTED
        if self.closed:
            return
        self.closed = True
        if self._discovering is not None:
            self._discovering.cancel()
        if self._retiring:
            await asyncio.gather(*list(self._retiring), return_exceptions=True)
        if not self._owns_ray and not self._actors and not self._pending:
            return
        ray = _ray()
        actors, self._actors = list(self._actors), []
        closing = [asyncio.wait_for(self._await(a.handle.close.remote()), 30) for a in actors]
        await asyncio.gather(*closing, return_exceptions=True)  # each node removes its containers
        actors, self._pending = [*actors, *self._pending], set()  # one still starting is killed (no pool yet)
        for a in actors:
            try:
                ray.kill(a.handle, no_restart=True)
            except Exception as exc:  # noqa: BLE001 - already gone
                log.debug("ray sandbox: kill: %s", exc)
        if self._owns_ray:  # also when starting failed after the connection was made
            self._owns_ray = False
            _CONNECTED -= 1
            if _CONNECTED == 0 and ray.is_initialized():
                ray.shutdown()

    async def __aenter__(self) -> RaySandbox:  # noqa: PYI034 - as the other back ends
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
