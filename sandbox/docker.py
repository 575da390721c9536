"""The ``docker`` back end: a warm pool of locked-down containers, each running the runner as a server.

One container per concurrent slot. Its main process (under Docker's init) is ``runner.serve_container``:
the runner's ``--serve`` loop, forking one child per request, plus emptying the container's scratch tmpfs
mounts after every request. Requests and answers travel as newline-delimited JSON over the container's
attached stdin/stdout (the docker SDK's attach socket, demultiplexed here), so a request costs no
``docker exec`` and no new process outside the fork the runner does anyway.

Containment per container: no network, read-only root, size-capped tmpfs for /tmp and the working root, pids,
memory (no swap) and CPU limits, every capability dropped, ``no-new-privileges``, a non-root user (one uid
per slot, so per-uid process limits of one slot never starve another), Docker's init, and an environment built
here (nothing from the host). The runner and its two sibling modules are bind-mounted read-only. Health
(watchdog, replace + retry once, then ``sandbox_error``) is the shared ``pool.WorkerPool``'s.

Clean-up: containers carry ``semtrace.*`` labels; they are removed on ``close()``, at interpreter exit, and —
because stdin closes when this process dies (``stdin_once``) and the runner then exits — Docker removes them
itself (``auto_remove``) even after ``kill -9``. Leftovers of dead runs on this host are removed at start.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import logging
import os
import shutil
import socket
import ssl
import struct
import tempfile
import threading
import uuid
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from semtrace.sandbox.base import SandboxUnavailable
from semtrace.sandbox.pool import RUNNER_DIR, RUNNER_FILES, WorkerDied, WorkerPool
from semtrace.sandbox.types import ExecRequest, ExecResult

log = logging.getLogger(__name__)

LABEL = "semtrace.sandbox"  # value: "docker"; plus semtrace.host, semtrace.pid, semtrace.run
MOUNT = "/opt/semtrace"
SCRATCH = ("/tmp", "/work")
_BOOT = ("import sys; sys.path[:] = ['%s'] + [p for p in sys.path if p]; import runner; "
         "sys.exit(runner.serve_container(sys.argv[1:]))" % MOUNT)
_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
        "HOME": "/tmp", "TMPDIR": "/tmp", "SEMTRACE_WORKDIR": "/work", "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1"}
_HEADER = struct.Struct(">BxxxL")  # docker's multiplexed stream frame: stream id, 3 pad bytes, payload size


class DockerOptions(BaseModel):
    """The docker back end's configuration (``sandbox.options`` in a run config)."""

    model_config = ConfigDict(extra="forbid")
    image: str | None = Field(None, description="default: $SEMTRACE_SANDBOX_IMAGE, built, python:3.12-slim")
    concurrency: int | None = Field(None, ge=1, description="containers = requests at once (default: cores)")
    memory_mb: int = Field(4096, ge=256, description="per container, tmpfs included; no swap")
    cpus: float = Field(1.0, gt=0, description="CPU quota per container")
    pids_limit: int = Field(512, ge=16)
    tmpfs_mb: int = Field(256, ge=16, description="size of each of /tmp and the working root")
    uid_base: int = Field(20000, ge=1000, description="slot i runs as uid/gid uid_base + i")
    pull: bool = Field(True, description="pull python:3.12-slim when no local image exists")
    start_timeout: float = Field(60.0, gt=0)


# ------------------------------------------------------------------------------------ process-wide clean-up

_LIVE: dict[str, Any] = {}  # container id -> docker client, for the exit handler
_LIVE_LOCK = threading.Lock()
_SWEPT = False


def _owner_labels(run_id: str) -> dict[str, str]:
    return {LABEL: "docker", "semtrace.host": socket.gethostname(), "semtrace.pid": str(os.getpid()),
            "semtrace.run": run_id}


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_leftovers(client: Any, everything: bool = False) -> int:
    """Remove semtrace containers on this host whose owning process is dead (all of this host's with
    ``everything``). Containers of live processes, and of other hosts sharing the daemon, are left alone."""
    removed = 0
    for container in client.containers.list(all=True, ignore_removed=True, filters={"label": LABEL}):
        labels = container.labels or {}
        if labels.get("semtrace.host") != socket.gethostname():
            continue
        pid = int(labels.get("semtrace.pid", "0") or 0)
        if everything or not _pid_alive(pid):
            try:
                container.remove(force=True)
                removed += 1
            except Exception as exc:  # already being removed by auto_remove
                log.debug("leftover %s: %s", container.short_id, exc)
    return removed


def _remove_live_at_exit() -> None:
    with _LIVE_LOCK:
        live = list(_LIVE.items())
        _LIVE.clear()
    for cid, client in live:
        try:
            client.api.remove_container(cid, force=True)
        except Exception:
            pass


atexit.register(_remove_live_at_exit)


# ------------------------------------------------------------------------------------------- one container

class _ContainerWorker:
    """One warm container: one request line in on stdin, one answer line out on stdout."""

    def __init__(self, owner: DockerSandbox, slot: int, container_id: str, handle: Any,
                 reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.owner, self.slot, self.id = owner, slot, container_id
        self._handle = handle  # the SDK's socket object; kept so the connection is not garbage-collected
        self._reader, self._writer = reader, writer
        self._pending = b""
        self.stderr = ""  # the runner's last stderr output (it writes none in normal operation)

    async def request(self, line: bytes) -> bytes:
        chunks = [self._pending] if self._pending else []
        try:
            self._writer.write(line)
            await self._writer.drain()
            done = b"\n" in self._pending
            while not done:
                stream, size = _HEADER.unpack(await self._reader.readexactly(_HEADER.size))
                payload = await self._reader.readexactly(size)
                if stream == 1:
                    chunks.append(payload)
                    done = b"\n" in payload
                elif payload.strip():
                    text = payload.decode("utf-8", "replace")
                    self.stderr = (self.stderr + text)[-2000:]
                    log.warning("container %s runner stderr: %s", self.id[:12], text.rstrip()[:2000])
        except (asyncio.IncompleteReadError, ConnectionError, OSError) as exc:
            raise WorkerDied(f"container {self.id[:12]} is gone ({exc.__class__.__name__})") from exc
        answer, self._pending = b"".join(chunks).split(b"\n", 1)
        return answer + b"\n"

    async def kill(self) -> None:
        try:
            self._writer.close()
        except Exception:
            pass
        try:
            self._handle.close()
        except Exception:
            pass
        await asyncio.to_thread(self.owner._remove, self.id)
        self.owner._workers.pop(self.id, None)
        self.owner._free_slot(self.slot)


# -------------------------------------------------------------------------------------------- the back end

class DockerSandbox:
    """``async run(ExecRequest) -> ExecResult`` in a warm pool of isolated containers."""

    name = "docker"

    options_model = DockerOptions

    def __init__(self, **options: Any) -> None:
        self.options = DockerOptions(**options)
        self.concurrency = self.options.concurrency or os.cpu_count() or 1
        self.run_id = uuid.uuid4().hex[:12]
        self._client: Any = None
        self.image: str | None = None
        self.python = ""  # the image's Python version, known once a container has started
        self._mount_dir: str | None = None
        self._slots: set[int] = set()
        self._workers: dict[str, _ContainerWorker] = {}
        self._setup_lock = threading.Lock()
        self._pool = WorkerPool(self._start_worker, self.concurrency, name="docker sandbox")
        self.closed = False

    # -- setup (blocking; runs in a worker thread) ----------------------------------------------------------
    def _setup(self) -> None:
        global _SWEPT
        with self._setup_lock:
            if self._client is not None:
                return
            from semtrace.sandbox.image import docker_client, resolve_image

            client = docker_client()
            self.image = resolve_image(client, self.options.image, pull=self.options.pull)
            if not _SWEPT:
                _SWEPT = True
                n = remove_leftovers(client)
                if n:
                    log.info("removed %d leftover semtrace container(s) of dead runs", n)
            mount = tempfile.mkdtemp(prefix="semtrace-runner-")
            os.chmod(mount, 0o755)
            for name in RUNNER_FILES:  # a private copy: edits to the checkout never reach a live pool
                shutil.copyfile(RUNNER_DIR / name, Path(mount) / name)
                os.chmod(Path(mount) / name, 0o644)
            self._mount_dir = mount
            self._client = client

    def _container_config(self, slot: int) -> dict[str, Any]:
        from docker.types import LogConfig

        o = self.options
        uid = o.uid_base + slot
        tmpfs = f"rw,nosuid,nodev,noexec,size={o.tmpfs_mb}m,mode=1777"
        return dict(
            image=self.image, command=["python3", "-s", "-u", "-c", _BOOT, *SCRATCH],
            # working_dir is not /work: Docker would create it and reset the tmpfs mode
            user=f"{uid}:{uid}", environment=dict(_ENV, USER=f"sandbox{slot}"), working_dir="/tmp",
            stdin_open=True, detach=False, tty=False,  # detach=False + stdin_open: StdinOnce, attached stdio
            network_mode="none", read_only=True, tmpfs={path: tmpfs for path in SCRATCH},
            volumes={self._mount_dir: {"bind": MOUNT, "mode": "ro"}},
            pids_limit=o.pids_limit, mem_limit=f"{o.memory_mb}m", memswap_limit=f"{o.memory_mb}m",
            nano_cpus=int(o.cpus * 1e9), cap_drop=["ALL"], security_opt=["no-new-privileges"], init=True,
            ipc_mode="private", labels=dict(_owner_labels(self.run_id), **{"semtrace.slot": str(slot)}),
            auto_remove=True, log_config=LogConfig(type="none"),
        )

    def _launch(self, slot: int) -> tuple[str, Any]:
        """Create, attach (before start, so no output is lost), start. Blocking."""
        self._setup()
        client = self._client
        container = client.containers.create(**self._container_config(slot))
        with _LIVE_LOCK:
            _LIVE[container.id] = client
        try:
            handle = client.api.attach_socket(container.id, params={"stdin": 1, "stdout": 1, "stderr": 1,
                                                                    "stream": 1})
            client.api.start(container.id)
        except Exception:
            self._remove(container.id)
            raise
        return container.id, handle

    def _remove(self, container_id: str) -> None:
        with _LIVE_LOCK:
            _LIVE.pop(container_id, None)
        try:
            self._client.api.remove_container(container_id, force=True)
        except Exception as exc:  # gone already (auto_remove) or being removed
            log.debug("remove %s: %s", container_id[:12], exc)

    def _take_slot(self) -> int:
        slot = next(i for i in range(len(self._slots) + 1) if i not in self._slots)
        self._slots.add(slot)
        return slot

    def _free_slot(self, slot: int) -> None:
        self._slots.discard(slot)

    async def _start_worker(self) -> _ContainerWorker:
        if self.closed:
            raise SandboxUnavailable("the docker sandbox is closed")
        slot = self._take_slot()
        try:
            container_id, handle = await asyncio.wait_for(asyncio.to_thread(self._launch, slot),
                                                          self.options.start_timeout)
        except SandboxUnavailable:
            self._free_slot(slot)
            raise
        except Exception as exc:
            self._free_slot(slot)
            raise SandboxUnavailable(f"cannot start a sandbox container from {self.image or 'the image'}: "
                                     f"{exc.__class__.__name__}: {exc}") from exc
        raw = getattr(handle, "_sock", handle)
        if not isinstance(raw, socket.socket) or isinstance(raw, ssl.SSLSocket):
            await asyncio.to_thread(self._remove, container_id)
            self._free_slot(slot)
            raise SandboxUnavailable("the docker back end needs a unix:// or plain tcp:// DOCKER_HOST "
                                     f"(got a {type(raw).__name__} connection)")
        reader, writer = await asyncio.open_connection(sock=raw.dup(), limit=1 << 30)
        log.debug("container %s started in slot %d", container_id[:12], slot)
        worker = _ContainerWorker(self, slot, container_id, handle, reader, writer)
        self._workers[container_id] = worker
        try:  # the runner answers a ping once it is up; an image that cannot run it fails here, loudly
            answer = await asyncio.wait_for(worker.request(b'{"ping": true}\n'), self.options.start_timeout)
            pong = json.loads(answer)
            if not pong.get("pong"):
                raise ValueError(f"unexpected answer {pong!r}")
        except (WorkerDied, ValueError, asyncio.TimeoutError) as exc:
            await worker.kill()
            stderr = f"; its stderr: {worker.stderr.strip()[-500:]}" if worker.stderr else ""
            raise SandboxUnavailable(
                f"the sandbox container ({self.image}) did not start the runner: {exc}{stderr}") from exc
        self.python = str(pong.get("python", ""))
        return worker

    # -- the Sandbox contract -----------------------------------------------------------------------------
    async def run(self, request: ExecRequest) -> ExecResult:
        if self.closed:
            raise SandboxUnavailable("the docker sandbox is closed")
        return await self._pool.run(request)

    async def warm(self) -> None:
        """Start every slot's container now (otherwise they start on first use)."""
        probe = ExecRequest(code="", tests=())
        await asyncio.gather(*(self._pool.run(probe) for _ in range(self.concurrency)))

    def containers(self) -> list[str]:
        """Ids of this pool's live containers."""
        return list(self._workers)

    @property
    def replaced(self) -> int:
        """How many containers were discarded as dead or wedged."""
        return self._pool.replaced

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        await self._pool.close()
        if self._mount_dir:
            shutil.rmtree(self._mount_dir, ignore_errors=True)
        if self._client is not None:
            self._client.close()

    async def __aenter__(self) -> DockerSandbox:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
