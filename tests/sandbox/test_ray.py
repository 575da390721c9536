"""The ``ray`` sandbox on a real two-node Ray cluster started here (a head and a second node, one CPU each, on this
machine, in a temp dir, free ports; torn down after): a scripted HumanEvalFix run gives the records of a ``docker``
run, killing the second node's raylet mid-run loses and duplicates nothing, dispatch never submits more than a
node's slots, and bad options fail before any cluster is touched."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

ray = pytest.importorskip("ray", reason="the ray sandbox needs the 'ray' extra: pip install 'semtrace[ray]'")

from rules import repair_rules, write_rules  # tests/agents is on the pytest pythonpath
from semtrace.agents.metrics import stable_record
from semtrace.agents.run import read_records
from semtrace.config import build_config
from semtrace.sandbox.base import make_sandbox
from semtrace.sandbox.types import ExecRequest, TestCase

RAY = str(Path(sys.executable).with_name("ray"))
# the head's GCS declares a silent node dead after ~1.5 s instead of ~15 s (Ray's defaults: 3 s x 5)
FAST_HEALTH = {"RAY_health_check_initial_delay_ms": "500", "RAY_health_check_period_ms": "500",
               "RAY_health_check_timeout_ms": "500", "RAY_health_check_failure_threshold": "3"}


# a token file an earlier local cluster left in ~/.ray would turn token auth on for the nodes but not the driver
NO_TOKEN = {"RAY_AUTH_MODE": "disabled"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _group_pids(pgid: int, comm: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1: stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[2]) == pgid and name == comm:
            found.append(int(entry))
    return found


class LocalCluster:
    """``ray start --block`` processes (each its own process group) sharing one temp dir."""

    def __init__(self) -> None:
        self.temp_dir = tempfile.mkdtemp(prefix="rt", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
        self.port = _free_port()
        from ray._private.services import get_node_ip_address

        self.address = f"{get_node_ip_address()}:{self.port}"  # what Ray itself resolves a loopback address to
        self.nodes: list[subprocess.Popen[bytes]] = []
        self.env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", **NO_TOKEN, **FAST_HEALTH)

    def _ports(self) -> list[str]:
        flags = ["--node-manager-port", "--object-manager-port", "--dashboard-agent-listen-port",
                 "--dashboard-agent-grpc-port", "--runtime-env-agent-port", "--metrics-export-port"]
        return [x for f in flags for x in (f, str(_free_port()))]

    def _start(self, args: list[str]) -> subprocess.Popen[bytes]:
        log = open(Path(self.temp_dir) / f"node{len(self.nodes)}.log", "wb")  # noqa: SIM115 - lives with the node
        proc = subprocess.Popen([RAY, "start", "--block", "--num-cpus", "1",
                                 "--disable-usage-stats", *self._ports(), *args], env=self.env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        self.nodes.append(proc)
        return proc

    def start_head(self) -> None:
        self._start(["--head", "--port", str(self.port), "--temp-dir", self.temp_dir, "--include-dashboard",
                     "false", "--dashboard-port", str(_free_port())])
        deadline = time.monotonic() + 90
        while True:  # a driver that connects before the GCS listens retries for minutes
            if self.nodes[0].poll() is not None:
                raise RuntimeError(f"ray start failed: {(Path(self.temp_dir) / 'node0.log').read_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the Ray head did not listen within 90 s") from None
                time.sleep(0.2)
        self.wait_nodes(1)

    def add_node(self) -> subprocess.Popen[bytes]:
        alive = len(self.alive_nodes())
        proc = self._start(["--address", self.address])
        self.wait_nodes(alive + 1)
        return proc

    def alive_nodes(self) -> list[dict[str, Any]]:
        code = (f"import json, ray; ray.init(address={self.address!r}, log_to_driver=False); "
                "print('NODES=' + json.dumps([n['NodeID'] for n in ray.nodes() if n['Alive']]))")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=self.env,
                             timeout=60, check=False)
        lines = [x for x in out.stdout.splitlines() if x.startswith("NODES=")]  # Ray may print warnings too
        return json.loads(lines[-1][len("NODES="):]) if out.returncode == 0 and lines else []

    def wait_nodes(self, n: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.nodes[-1].poll() is not None:
                log = (Path(self.temp_dir) / f"node{len(self.nodes) - 1}.log").read_text()
                raise RuntimeError(f"ray start failed: {log[-2000:]}")
            if len(self.alive_nodes()) >= n:
                return
            time.sleep(0.5)
        raise RuntimeError(f"the Ray cluster did not reach {n} node(s) in {timeout:.0f}s")

    def wait_gone(self, n: int, timeout: float = 30.0) -> None:
        """Until at most ``n`` nodes are alive (a killed node is declared dead after the health checks)."""
        deadline = time.monotonic() + timeout
        while len(self.alive_nodes()) > n and time.monotonic() < deadline:
            time.sleep(0.5)

    def raylet_of(self, proc: subprocess.Popen[bytes]) -> int:
        pids = _group_pids(proc.pid, "raylet")
        assert len(pids) == 1, pids
        return pids[0]

    def stop(self) -> None:
        for proc in reversed(self.nodes):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 3  # a graceful stop, briefly; the group kill below ends the rest
        for proc in reversed(self.nodes):
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # whatever of that node is still there
            except ProcessLookupError:
                pass
        shutil.rmtree(self.temp_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster():
    saved = {k: os.environ.get(k) for k in NO_TOKEN}
    os.environ.update(NO_TOKEN)  # for the driver: the sandboxes' ray.init in this process
    c = LocalCluster()
    try:
        c.start_head()
        c.add_node()
        yield c
    finally:
        c.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="module")
def repair_case(data_dir, tmp_path_factory):
    """Six HumanEvalFix tasks and rules fixing them at rounds 1, 2, never, 1, 2, never."""
    from semtrace.benchmarks.registry import load_benchmark

    tasks = load_benchmark("humaneval-fix", data_dir)[:6]
    pattern = [1, 2, None]
    rules = write_rules(tmp_path_factory.mktemp("rules") / "rules.jsonl",
                        repair_rules(tasks, {t.task_id: pattern[i % 3] for i, t in enumerate(tasks)}))
    return tasks, rules


def _config(data_dir: Path, rules: Path, sandbox: str, **options: Any) -> Any:
    return build_config(overrides=[f"sandbox_options.{k}={v}" for k, v in options.items()], flags={"benchmark": "humaneval-fix", "data_dir": str(data_dir), "limit": 6,
                               "strategy": "sequential", "depth": 2, "representation": "next",
                               "model": f"scripted:{rules}", "sandbox": sandbox, "display": False,
                               "task_concurrency": 4})


async def _run(cfg: Any, run_dir: Path, sandbox: Any, tasks: Any, during: Any = None) -> list[dict[str, Any]]:
    from semtrace.agents.build import build_components
    from semtrace.agents.run import prepare_run_dir, run_tasks

    comps = await build_components(cfg, tasks=tasks, sandbox=sandbox)
    sandbox = comps.sandbox  # built from the config's sandbox and sandbox_options when not given
    prepare_run_dir(run_dir, cfg, resume=False)
    try:
        run = asyncio.ensure_future(run_tasks(cfg, run_dir, comps))
        if during is not None:
            await during(run, sandbox)
        await run
    finally:
        await sandbox.close()
    return read_records(run_dir / "results.jsonl")


def _by_task(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Records by task, comparable across runs: without volatile fields, and without the run's identity (the ray
    and docker runs' configs differ in their sandbox section, so their digests do)."""
    return {r["task_id"]: stable_record({k: v for k, v in r.items() if k != "config_digest"}) for r in records}


@pytest.fixture(scope="module")
def docker_records(repair_case, data_dir, tmp_path_factory, docker_ready):
    tasks, rules = repair_case
    run_dir = tmp_path_factory.mktemp("docker") / "run"
    cfg = _config(data_dir, rules, "docker")
    records = asyncio.run(_run(cfg, run_dir, make_sandbox("docker", concurrency=2), tasks))
    assert len(records) == len(tasks)
    return records


@pytest.mark.docker
async def test_ray_run_gives_the_docker_run_records(cluster, repair_case, data_dir, tmp_path, docker_records):
    tasks, rules = repair_case
    seen: dict[str, Any] = {}

    async def look(run: asyncio.Future[Any], sandbox: Any) -> None:
        await sandbox.warm()
        seen.update(sandbox=sandbox, live=list(sandbox._actors), actors=sandbox.actors())

    cfg = _config(data_dir, rules, "ray", address=cluster.address)  # the run builds it: sandbox: ray + options
    records = await _run(cfg, tmp_path / "run", None, tasks, look)
    actors, sandbox = seen["actors"], seen["sandbox"]
    assert type(sandbox).__name__ == "RaySandbox"
    assert len(actors) == 2 and len({a["node_id"] for a in actors}) == 2 and all(a["slots"] == 1 for a in actors)
    assert [a.served > 0 for a in seen["live"]] == [True, True]  # least-loaded dispatch used both nodes
    assert _by_task(records) == _by_task(docker_records)
    assert sandbox.lost == 0 and sandbox.retried == 0


@pytest.mark.docker
async def test_killing_the_second_nodes_raylet_mid_run_loses_and_repeats_nothing(
        cluster, repair_case, data_dir, tmp_path, docker_records):
    tasks, rules = repair_case
    second = cluster.nodes[-1]  # the second node (a later one when an earlier run replaced it)
    sandbox = make_sandbox("ray", address=cluster.address)
    await sandbox.warm()
    victim = next(a for a in sandbox._actors if a.pid in _descendants(cluster.raylet_of(second)))

    async def kill_mid_run(run: asyncio.Future[Any], _sandbox: Any) -> None:
        os.kill(victim.pid, signal.SIGSTOP)  # hold the request it gets: the kill then surely has one in flight
        try:
            full = victim.slots * sandbox.options.queue_per_slot
            for _ in range(600):
                if victim.inflight == full or run.done():
                    break
                await asyncio.sleep(0.01)
            assert victim.inflight == full, "the run finished before the second node's queue filled"
            os.kill(cluster.raylet_of(second), signal.SIGKILL)
            # the node is gone: its worker too (a stopped worker resumed could still answer the driver directly,
            # before it notices its raylet is gone)
            os.kill(victim.pid, signal.SIGKILL)
        finally:
            try:
                os.kill(victim.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass

    try:
        records = await _run(_config(data_dir, rules, "ray"), tmp_path / "run", sandbox, tasks, kill_mid_run)
        lines = (tmp_path / "run" / "results.jsonl").read_text().splitlines()
        assert sorted(json.loads(line)["task_id"] for line in lines) == sorted(t.task_id for t in tasks)
        assert _by_task(records) == _by_task(docker_records)
        assert sandbox.lost == 1 and sandbox.retried >= 2  # the request it ran and the one waiting there
    finally:  # give later tests a second node again, whatever happened here
        await sandbox.close()
        _restore_second_node(cluster, second)


def _restore_second_node(cluster: LocalCluster, second: subprocess.Popen[bytes]) -> None:
    if second.poll() is None:
        try:
            os.kill(cluster.raylet_of(second), signal.SIGKILL)  # `ray start --block` exits when its raylet dies
        except (AssertionError, ProcessLookupError):
            os.killpg(second.pid, signal.SIGKILL)
    second.wait(30)
    cluster.wait_gone(1)
    cluster.add_node()


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    out, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.add(child)
            todo.append(child)
    return out


@pytest.mark.parametrize("queue", [1, 2])
async def test_dispatch_is_least_loaded_and_bounded_by_the_slots(cluster, queue):
    """Local pools on both nodes: 24 requests at once never put more than slots x queue_per_slot on an actor,
    every request is answered, both nodes serve."""
    sandbox = make_sandbox("ray", address=cluster.address, backend="local", queue_per_slot=queue)
    try:
        await sandbox.warm()
        peak: dict[int, int] = {}

        async def watch() -> None:
            while True:
                for a in sandbox._actors:
                    peak[id(a)] = max(peak.get(id(a), 0), a.inflight)
                await asyncio.sleep(0)

        watcher = asyncio.ensure_future(watch())
        requests = [ExecRequest(code=f"def f():\n    return {i}\n",
                                tests=(TestCase(kind="call", func="f", expected=repr(i if i % 3 else -1)),)) for i in range(24)]
        results = await asyncio.gather(*(sandbox.run(r) for r in requests))
        watcher.cancel()
        assert [r.status for r in results] == ["passed" if i % 3 else "failed" for i in range(24)]
        assert sorted(peak.values()) == [queue, queue]  # one slot per node
        assert all(a["served"] > 0 for a in sandbox.actors())
        assert sum(a["served"] for a in sandbox.actors()) == 24
    finally:
        await sandbox.close()


async def test_two_sandboxes_share_the_connection(cluster):
    """ray.init is per process: closing one RaySandbox leaves the other working; the last one disconnects."""
    first = make_sandbox("ray", address=cluster.address, backend="local")
    second = make_sandbox("ray", address=cluster.address, backend="local")
    request = ExecRequest(code="def f():\n    return 2\n", tests=(TestCase(kind="call", func="f", expected="2"),))
    try:
        assert (await first.run(request)).status == "passed"
        assert (await second.run(request)).status == "passed"
        await first.close()
        assert (await second.run(request)).status == "passed"
    finally:
        await first.close()
        await second.close()
    assert not ray.is_initialized()


def test_bad_options_fail_before_any_cluster_is_touched():
    with pytest.raises(ValueError, match="imag"):
        make_sandbox("ray", address="127.0.0.1:1", imag="semtrace-sandbox:latest")
    with pytest.raises(ValueError, match="memory_mb"):
        make_sandbox("ray", address="127.0.0.1:1", backend="local", memory_mb=512)


async def test_no_cluster_is_one_clear_error():
    from semtrace.sandbox.base import SandboxUnavailable

    sandbox = make_sandbox("ray", address=f"127.0.0.1:{_free_port()}", backend="local")
    with pytest.raises(SandboxUnavailable, match="cannot connect to a Ray cluster at") as info:
        await sandbox.run(ExecRequest(code="", tests=()))
    assert "\n" not in str(info.value)
    await sandbox.close()


def _local_runners(actor_pid: int) -> list[int]:
    """The ``runner.py --serve`` workers of a ``local`` pool in the actor process ``actor_pid``."""
    found = []
    for pid in _descendants(actor_pid):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"--serve" in cmd and any(c.endswith(b"runner.py") for c in cmd):
            found.append(pid)
    return found


def _sleeper(seconds: float) -> ExecRequest:
    code = f"import time\ndef f():\n    time.sleep({seconds})\n    return 1\n"
    return ExecRequest(code=code, tests=(TestCase(kind="call", func="f", expected="1", timeout=5.0),))


async def test_the_watchdog_budgets_for_the_requests_queued_ahead(cluster):
    """Two honest runs back to back on each actor, each within the per-request watchdog but not together: the
    second, queued behind the first on the actor, is not taken for a wedged node."""
    sandbox = make_sandbox("ray", address=cluster.address, backend="local", queue_per_slot=2, watchdog=3.0)
    try:
        await sandbox.warm()
        results = await asyncio.gather(*(sandbox.run(_sleeper(2.0)) for _ in range(4)))
        assert [r.status for r in results] == ["passed"] * 4
        assert sandbox.lost == 0 and sandbox.retried == 0
        assert sorted(a["served"] for a in sandbox.actors()) == [2, 2]
    finally:
        await sandbox.close()


async def test_a_failing_pool_is_dropped_and_its_node_readmitted(cluster, tmp_path):
    """Pools that keep raising (their runner's interpreter is gone) are dropped after ``max_pool_errors`` in a
    row, not served forever; their nodes are forgotten, so a later discovery gives them new actors."""
    python = tmp_path / "python"
    python.write_text(f"#!/bin/sh\nexec {sys.executable} \"$@\"\n")
    python.chmod(0o755)
    sandbox = make_sandbox("ray", address=cluster.address, backend="local", python=str(python),
                           max_pool_errors=2, rediscover=1.0)
    ok = ExecRequest(code="def f():\n    return 2\n", tests=(TestCase(kind="call", func="f", expected="2"),))
    try:
        await sandbox.warm()
        first = {a.node_id: a.pid for a in sandbox._actors}
        assert len(first) == 2
        python.chmod(0o644)  # a new runner cannot start: every request the pools get from now on raises
        for pid in first.values():
            for runner in _local_runners(pid):
                os.kill(runner, signal.SIGKILL)
        for _ in range(2):
            assert (await sandbox.run(ok)).status == "sandbox_error"
        assert sandbox.lost == 2 and sandbox.actors() == []
        if sandbox._discovering is not None:  # the discovery the losses started fails too (no interpreter)
            await sandbox._discovering
        python.chmod(0o755)
        await asyncio.sleep(1.1)  # the next request starts a discovery and waits for its actors
        assert (await sandbox.run(ok)).status == "passed"
        again = {a["node_id"]: a["pid"] for a in sandbox.actors()}
        assert set(again) == set(first) and not set(again.values()) & set(first.values())
    finally:
        await sandbox.close()


async def test_close_after_a_failed_start_disconnects(cluster):
    """No node can start a pool: the error is raised, and close() still gives back the Ray connection."""
    from semtrace.sandbox.base import SandboxUnavailable

    sandbox = make_sandbox("ray", address=cluster.address, backend="local", python="/nonexistent/python3")
    with pytest.raises(SandboxUnavailable, match="no node could start"):
        await sandbox.warm()
    assert ray.is_initialized()
    await sandbox.close()
    assert not ray.is_initialized()
