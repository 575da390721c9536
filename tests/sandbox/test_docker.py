"""The docker back end: lock-down, life cycle (crash, Ctrl-C, leftovers), health, equivalence with local.

Docker-marked tests need a daemon and the sandbox image (``bash .ci/docker.sh``); see conftest.py for the
skip/fail rule and the session-end check that no container is left behind.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from semtrace.sandbox.base import SandboxUnavailable
from semtrace.sandbox.types import ExecRequest, Limits, TestCase, TraceSpec

REPO = Path(__file__).resolve().parents[2]


def _call(code: str, expected: str, args: str = "", func: str = "f") -> ExecRequest:
    return ExecRequest(code=code, tests=(TestCase(kind="call", func=func, args=args, expected=expected),))


def _client():
    from semtrace.sandbox.image import docker_client

    return docker_client()


def _wait_gone(ids: list[str], seconds: float = 20.0) -> list[str]:
    client = _client()
    deadline = time.monotonic() + seconds
    alive = list(ids)
    while alive and time.monotonic() < deadline:
        found = client.containers.list(all=True, sparse=True, filters={"label": "semtrace.sandbox=docker"})
        present = {c.id for c in found}
        alive = [i for i in ids if i in present]
        if alive:
            time.sleep(0.25)
    client.close()
    return alive


@pytest.mark.docker
@pytest.mark.usefixtures("docker_ready")
async def test_container_is_locked_down() -> None:
    from semtrace.sandbox.docker import DockerSandbox

    probe = ("import os\n"
             "def f():\n"
             "    lines = open('/proc/self/status').read().splitlines()\n"
             "    status = dict(line.split(':\\t', 1) for line in lines if ':\\t' in line)\n"
             "    return [os.getuid() != 0, int(status['CapEff'], 16), status['NoNewPrivs'].strip(),\n"
             "            os.access('/', os.W_OK), os.getcwd().startswith('/work/')]\n")
    async with DockerSandbox(concurrency=1, memory_mb=1024, cpus=0.5, pids_limit=99, tmpfs_mb=32) as sb:
        result = await sb.run(_call(probe, "[True, 0, '1', False, True]"))
        assert result.passed, result
        [cid] = sb.containers()
        attrs = _client().api.inspect_container(cid)
    host, config = attrs["HostConfig"], attrs["Config"]
    assert host["NetworkMode"] == "none" and host["ReadonlyRootfs"] is True
    assert host["CapDrop"] == ["ALL"] and "no-new-privileges" in host["SecurityOpt"] and host["Init"] is True
    assert host["PidsLimit"] == 99 and host["Memory"] == 1024 * 2**20 == host["MemorySwap"]
    assert host["NanoCpus"] == 500_000_000 and host["AutoRemove"] is True
    assert host["LogConfig"]["Type"] == "none"
    assert set(host["Tmpfs"]) == {"/tmp", "/work"} and all("size=32m" in v for v in host["Tmpfs"].values())
    assert config["User"].split(":")[0] not in ("", "0", "root")
    assert config["Labels"]["semtrace.sandbox"] == "docker"
    assert config["Labels"]["semtrace.pid"] == str(os.getpid())
    assert [m["Mode"] for m in attrs["Mounts"] if m["Destination"] == "/opt/semtrace"] == ["ro"]
    assert not _wait_gone([cid]), "close() must remove the container"


@pytest.mark.docker
@pytest.mark.usefixtures("docker_ready")
async def test_concurrent_requests_use_every_slot_and_stay_correct() -> None:
    from semtrace.sandbox.docker import DockerSandbox

    async with DockerSandbox(concurrency=2) as sb:
        reqs = [_call("import time\ndef f(x):\n    time.sleep(0.02)\n    return x * x\n", str(i * i), str(i))
                for i in range(30)]
        results = await asyncio.gather(*(sb.run(r) for r in reqs))
        assert [r.status for r in results] == ["passed"] * 30
        assert len(sb.containers()) == 2
        wrong = await sb.run(_call("def f(x):\n    return x + 1\n", "3", "3"))
        assert wrong.status == "failed" and wrong.tests[0].actual == "4"


@pytest.mark.docker
@pytest.mark.usefixtures("docker_ready")
async def test_dead_container_is_replaced_and_the_request_retried() -> None:
    from semtrace.sandbox.docker import DockerSandbox

    async with DockerSandbox(concurrency=1) as sb:
        assert (await sb.run(_call("def f():\n    return 1\n", "1"))).passed
        [first] = sb.containers()
        _client().api.kill(first)  # the container dies between two requests
        result = await sb.run(_call("def f():\n    return 2\n", "2"))
        assert result.passed, result
        assert sb.replaced == 1 and sb.containers() != [first]


@pytest.mark.docker
@pytest.mark.usefixtures("docker_ready")
async def test_traces_inside_the_image_match_the_host() -> None:
    """The image's Python (3.13 in the built image: sys.monitoring) traces exactly as the host's does, end to end
    through both back ends, on the golden programs plus a loop."""
    from semtrace.sandbox.docker import DockerSandbox
    from semtrace.sandbox.local import LocalSandbox

    golden = json.loads((REPO / "tests" / "representations" / "golden" / "programs.json").read_text())
    programs = [(p["code"], p["func"], p["args"], p["expected"]) for p in golden.values()]
    programs.append(("def f(xs):\n    total = 0\n    for i, x in enumerate(xs):\n        if x % 2:\n"
                     "            total += x * i\n    return total\n", "f", "[3, 4, 5]", "0"))
    reqs = [ExecRequest(code=code, tests=(TestCase(kind="call", func=func, args=args, expected=expected),),
                        trace=TraceSpec(tests=(0,))) for code, func, args, expected in programs]
    async with DockerSandbox(concurrency=1) as sb:
        inside = [await sb.run(r) for r in reqs]
    async with LocalSandbox(concurrency=1) as lb:
        host = [await lb.run(r) for r in reqs]
    for a, b in zip(inside, host, strict=True):
        assert a.status == b.status and a.traces and b.traces
        assert a.traces[0].events and a.traces[0].events == b.traces[0].events
        assert a.traces[0].truncated == b.traces[0].truncated
    if tuple(int(p) for p in inside[0].python.split(".")[:2]) >= (3, 12):
        assert {r.traces[0].backend for r in inside} == {"monitoring"}


def _spawn_pool(body: str) -> subprocess.Popen:
    script = ("import asyncio, os, signal, sys, time\n"
              "signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with SIGINT ignored\n"
              "from semtrace.sandbox.docker import DockerSandbox\n"
              "async def main():\n"
              "    sb = DockerSandbox(concurrency=2)\n"
              "    await sb.warm()\n"
              "    print(' '.join(sb.containers()), flush=True)\n" + body +
              "asyncio.run(main())\n")
    return subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


@pytest.mark.docker
@pytest.mark.usefixtures("docker_ready")
def test_killed_host_process_leaves_no_container() -> None:
    proc = _spawn_pool("    os.kill(os.getpid(), 9)\n")
    ids = proc.stdout.readline().split()
    proc.wait(30)
    assert len(ids) == 2, proc.stderr.read()
    assert not _wait_gone(ids), "containers of a SIGKILLed process must go (stdin closes, the runner exits)"


@pytest.mark.docker
@pytest.mark.usefixtures("docker_ready")
def test_ctrl_c_removes_containers() -> None:
    proc = _spawn_pool("    await asyncio.sleep(60)\n")
    ids = proc.stdout.readline().split()
    assert len(ids) == 2, proc.stderr.read()
    proc.send_signal(signal.SIGINT)
    proc.wait(30)
    assert not _wait_gone(ids, 10.0)


@pytest.mark.docker
@pytest.mark.usefixtures("docker_ready")
def test_leftovers_of_dead_runs_are_removed() -> None:
    from semtrace.sandbox.docker import remove_leftovers
    from semtrace.sandbox.image import resolve_image

    client = _client()
    dead = subprocess.Popen(["true"])
    dead.wait()
    made = {}
    for owner in (str(dead.pid), "1"):  # a dead owner, and a live one (pid 1) that must be kept
        labels = {"semtrace.sandbox": "docker", "semtrace.host": socket.gethostname(), "semtrace.pid": owner,
                  "semtrace.run": "leftover-test"}
        made[owner] = client.containers.run(resolve_image(client, None, pull=False),
                                            ["python3", "-c", "import time; time.sleep(600)"], detach=True,
                                            labels=labels, network_mode="none").id
    try:
        remove_leftovers(client)
        present = {c.id for c in client.containers.list(all=True, sparse=True)}
        assert made[str(dead.pid)] not in present
        assert made["1"] in present
    finally:
        for cid in made.values():
            try:
                client.api.remove_container(cid, force=True)
            except Exception:
                pass


@pytest.mark.docker
@pytest.mark.usefixtures("docker_ready")
async def test_missing_image_names_the_fix() -> None:
    from semtrace.sandbox.docker import DockerSandbox

    sb = DockerSandbox(image="semtrace-no-such-image:0", pull=False)
    with pytest.raises(SandboxUnavailable, match="build-image"):
        await sb.run(_call("def f():\n    return 1\n", "1"))
    await sb.close()


async def test_no_daemon_is_an_infrastructure_error(monkeypatch, tmp_path) -> None:
    pytest.importorskip("docker")
    from semtrace.sandbox.docker import DockerSandbox

    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-daemon.sock")
    sb = DockerSandbox()
    with pytest.raises(SandboxUnavailable, match="no Docker daemon"):
        await sb.run(_call("def f():\n    return 1\n", "1"))
    await sb.close()


def test_bad_options_fail_clearly() -> None:
    from pydantic import ValidationError
    from semtrace.sandbox.docker import DockerSandbox

    with pytest.raises(ValidationError, match="memroy_mb"):
        DockerSandbox(memroy_mb=10)


def test_mirror_comes_from_env_or_apt(monkeypatch) -> None:
    from semtrace.sandbox.image import configured_mirror

    monkeypatch.setenv("SEMTRACE_DEBIAN_MIRROR", "http://mirror.example/debian")
    assert configured_mirror() == "http://mirror.example/debian"
    monkeypatch.delenv("SEMTRACE_DEBIAN_MIRROR")
    assert configured_mirror().rstrip("/").endswith("/debian")


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "semtrace.cli", "sandbox", *args], capture_output=True,
                          text=True, cwd=REPO, timeout=300)


def test_check_rejects_a_bad_backend_in_one_line() -> None:
    proc = _cli("check", "--backend", "podman")
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "docker, local" in proc.stderr


@pytest.mark.docker
@pytest.mark.usefixtures("docker_ready")
def test_check_json_schema() -> None:
    proc = _cli("check", "--backend", "docker", "--json", "--case", "always_true_eq", "--case", "network")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["backend"] == "docker" and report["passed"] == report["total"] == 2
    assert [(c["name"], c["expected"], c["got"], c["ok"]) for c in report["cases"]] == [
        ("network", "passed", "passed", True), ("always_true_eq", "failed", "failed", True)]


@pytest.mark.docker
@pytest.mark.usefixtures("docker_ready")
async def test_humaneval_gives_the_same_outcomes_as_local(data_dir) -> None:
    """The acceptance check behind `benchmarks verify humaneval --sandbox docker` == `--sandbox local`."""
    from semtrace.benchmarks.registry import BENCHMARKS
    from semtrace.sandbox.docker import DockerSandbox
    from semtrace.sandbox.local import LocalSandbox

    tasks = BENCHMARKS.resolve("humaneval").load(data_dir)
    reqs = [ExecRequest(code=t.reference or "", tests=t.visible_tests + t.hidden_tests,
                        entry_point=t.entry_point, test_setup=t.test_setup, limits=Limits(wall_time=10.0))
            for t in tasks]
    outcomes = {}
    for name, factory in (("docker", DockerSandbox), ("local", LocalSandbox)):
        async with factory(concurrency=2) as sb:
            results = await asyncio.gather(*(sb.run(r) for r in reqs))
        outcomes[name] = [(t.task_id, r.status, tuple(o.status for o in r.tests))
                          for t, r in zip(tasks, results, strict=True)]
    assert outcomes["docker"] == outcomes["local"]
    assert sum(status == "passed" for _, status, _ in outcomes["docker"]) == len(tasks) == 164


@pytest.mark.docker
@pytest.mark.usefixtures("docker_ready")
def test_benchmarks_verify_counts_match_local(data_dir) -> None:
    """Acceptance: `semtrace benchmarks verify humaneval --sandbox docker --json` == `--sandbox local`."""
    reports = {}
    for backend in ("docker", "local"):
        proc = subprocess.run([sys.executable, "-m", "semtrace.cli", "benchmarks", "verify", "humaneval",
                               "--sandbox", backend, "--json"], capture_output=True, text=True, cwd=REPO,
                              timeout=600, env=dict(os.environ, SEMTRACE_DATA=str(data_dir)))
        assert proc.returncode == 0, proc.stderr[-2000:]
        reports[backend] = json.loads(proc.stdout)
    counts = ("tasks", "reference", "starting_code", "known_broken", "mismatches")
    assert {k: reports["docker"].get(k) for k in counts} == {k: reports["local"].get(k) for k in counts}
    assert reports["docker"]["reference"] == {"passed": 164, "total": 164}
