"""The conformance suite of hostile programs (sandbox/conformance.py), against both back ends.

Each case runs on a pool with one slot, followed by a request that must pass on the same pool. The local back
end cannot contain everything; ``LOCAL_EXCEPTIONS`` in sandbox/conformance.py is the explicit, explained list:
those cases are either skipped on local (they would harm the host) or run there expecting the weaker status.
"""

from __future__ import annotations

import socket

import pytest
import pytest_asyncio
from semtrace.sandbox.conformance import (
    CASES,
    LOCAL_EXCEPTIONS,
    expected_for,
    make_backend,
    prepare_host_environment,
    run_case,
)


@pytest_asyncio.fixture(scope="module", loop_scope="module",
                        params=["local", pytest.param("docker", marks=pytest.mark.docker)])
async def pool(request: pytest.FixtureRequest):
    name = request.param
    if name == "docker":
        request.getfixturevalue("docker_ready")
    prepare_host_environment()  # before the sandbox starts: the host_environment case looks for it
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    sandbox = make_backend(name)
    yield name, sandbox, listener.getsockname()[1]
    await sandbox.close()
    listener.close()


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_case(pool, case) -> None:
    backend, sandbox, port = pool
    expected, note = expected_for(case, backend)
    if expected is None:
        pytest.skip(f"{backend}: {note}")
    outcome = await run_case(sandbox, case, backend, port)
    assert outcome.ok, (f"{case.name} on {backend}: expected {outcome.expected}, got {outcome.got} "
                        f"({outcome.detail})")


def test_local_exceptions_are_explained_and_real() -> None:
    names = {c.name for c in CASES}
    assert set(LOCAL_EXCEPTIONS) <= names
    for name, exc in LOCAL_EXCEPTIONS.items():
        assert len(exc.reason) > 30, name
        case = next(c for c in CASES if c.name == name)
        assert exc.expected != case.expected, f"{name}: an exception must differ from the docker expectation"


def test_suite_covers_the_issue_list() -> None:
    required = {"infinite_loop", "loop_ignoring_sigterm", "fork_bomb", "thread_bomb", "memory_bomb",
                "recursion_bomb", "disk_fill_tmp", "stdout_flood", "network", "host_environment",
                "write_outside_workdir", "kill_server", "segfault", "sys_exit_at_load", "os_exit_at_load",
                "always_true_eq", "orphan_process", "sleep_in_finally"}
    assert required <= {c.name for c in CASES}
