"""Docker fixtures for the sandbox tests, and the session-end check that no semtrace container is left behind.

Docker-marked tests skip with a reason when no daemon or image is available, except where Docker is required
(``SEMTRACE_REQUIRE_DOCKER=1``, set by ``.ci/run``): there a missing daemon is a failure, not a skip.
"""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

REQUIRE_DOCKER = os.environ.get("SEMTRACE_REQUIRE_DOCKER", "") not in ("", "0")


def docker_problem() -> str | None:
    """None when a daemon answers and a sandbox image is there; else why not."""
    try:
        from semtrace.sandbox.image import docker_client, resolve_image

        client = docker_client(timeout=10)
        resolve_image(client, None, pull=False)
        client.close()
    except Exception as exc:  # SandboxUnavailable, ImportError of the SDK
        return f"{exc.__class__.__name__}: {exc}"
    return None


@pytest.fixture(scope="session")
def docker_ready() -> None:
    problem = docker_problem()
    if problem is not None:
        message = f"Docker sandbox unavailable ({problem}); run `bash .ci/docker.sh`"
        if REQUIRE_DOCKER:
            pytest.fail(message + " (SEMTRACE_REQUIRE_DOCKER is set)")
        pytest.skip(message)


def my_containers() -> list[Any]:
    """semtrace sandbox containers (any state) on this host owned by this test process or by a dead process
    (e.g. a CLI subprocess the tests ran); containers of other live processes are someone else's."""
    import socket

    from semtrace.sandbox.docker import _pid_alive
    from semtrace.sandbox.image import docker_client

    client = docker_client(timeout=10)
    try:
        found = client.containers.list(all=True, ignore_removed=True,
                                       filters={"label": "semtrace.sandbox=docker"})
    finally:
        client.close()
    host = socket.gethostname()

    def ours(labels: dict[str, str]) -> bool:
        pid = int(labels.get("semtrace.pid", "0") or 0)
        return labels.get("semtrace.host") == host and (pid == os.getpid() or not _pid_alive(pid))

    return [c for c in found if ours(c.labels or {})]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """After the suite, no container this process started may remain (they are removed asynchronously when a
    runner dies, so allow a few seconds)."""
    if docker_problem() is not None:
        return
    left: list[Any] = []
    for _ in range(40):
        left = my_containers()
        if not left:
            return
        time.sleep(0.25)
    names = ", ".join(f"{c.short_id} ({c.status})" for c in left)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"FAILED: semtrace containers left after the test session: {names}", red=True)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
