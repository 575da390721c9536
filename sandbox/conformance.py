"""The sandbox conformance suite: hostile programs, each with the status a contained sandbox must report.

Shared by ``semtrace sandbox check`` and ``tests/sandbox/test_conformance.py``. Every case is followed by a
second request on the same pool (concurrency 1, so the same container or runner process unless it had to be
replaced) that must pass: containment that leaves the sandbox broken is no containment.

The local back end (host subprocesses with rlimits) cannot contain everything; ``LOCAL_EXCEPTIONS`` lists what
it cannot, why, and whether the case is still run there (with the status it then gives) or not run at all
because it would harm the host.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from semtrace.sandbox.types import ExecRequest, ExecResult, Limits, TestCase

SECRET_VAR = "SEMTRACE_CONFORMANCE_SECRET"
LIMITS = Limits(wall_time=2.0, memory_mb=512, output_bytes=65536, file_size_mb=16, processes=64,
                load_time=3.0)
_CANARY = "semtrace-orphan-canary-" + uuid.uuid4().hex[:8]


@dataclass(frozen=True)
class LocalException:
    """Why the local back end cannot contain a case; ``expected`` is its status there (None: not run)."""

    reason: str
    expected: str | None = None


@dataclass(frozen=True)
class Case:
    name: str
    what: str
    code: str
    expected: str
    test: TestCase = TestCase(kind="call", func="f", args="", expected="1")
    limits: Limits = LIMITS
    check: Callable[[ExecResult], str] | None = None  # returns a problem ("" when fine)
    followup: Case | None = None  # default: the plain probe below

    def request(self, **fmt: Any) -> ExecRequest:
        return ExecRequest(code=self.code.format(**fmt) if fmt else self.code, tests=(self.test,),
                           limits=self.limits)


@dataclass(frozen=True)
class CaseResult:
    name: str
    expected: str
    got: str
    ok: bool
    detail: str = ""
    skipped: str = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "expected": self.expected, "got": self.got, "ok": self.ok}
        if self.detail:
            out["detail"] = self.detail
        if self.skipped:
            out["skipped"] = self.skipped
        return out


@dataclass(frozen=True)
class SuiteReport:
    backend: str
    cases: tuple[CaseResult, ...] = field(default_factory=tuple)
    python: str = ""

    @property
    def run(self) -> list[CaseResult]:
        return [c for c in self.cases if not c.skipped]

    @property
    def passed(self) -> int:
        return sum(c.ok for c in self.run)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.run)

    def to_dict(self) -> dict[str, Any]:
        return {"backend": self.backend, "passed": self.passed, "total": len(self.run),
                "skipped": len(self.cases) - len(self.run), "python": self.python,
                "cases": [c.to_dict() for c in self.cases]}


def _stdout_capped(result: ExecResult) -> str:
    cap = LIMITS.output_bytes
    return "" if len(result.stdout.encode()) <= cap + 64 else f"stdout not capped: {len(result.stdout)} chars"


PROBE = Case("probe", "a plain program after the hostile one", "def f():\n    return 41 + 1\n", "passed",
             TestCase(kind="call", func="f", args="", expected="42"))
_FOLLOW_DISK = Case("probe_disk", "the next request can use /tmp again", (
    "def f():\n"
    "    with open('/tmp/after-fill', 'wb') as fh:\n"
    "        fh.write(b'y' * (8 * 1024 * 1024))\n"
    "    return 1\n"), "passed")
_FOLLOW_ORPHAN = Case("probe_orphan", "no process of the previous request is alive", (
    "import os\n"
    "def f():\n"
    "    found = []\n"
    "    for pid in os.listdir('/proc'):\n"
    "        try:\n"
    "            with open('/proc/%s/cmdline' % pid, 'rb') as fh:\n"
    "                if b'{canary}' in fh.read():\n"
    "                    found.append(int(pid))\n"
    "        except (OSError, ValueError):\n"
    "            pass\n"
    "    return found\n"), "passed", TestCase(kind="call", func="f", args="", expected="[]"))

CASES: tuple[Case, ...] = (
    Case("infinite_loop", "a busy loop that never returns",
         "def f():\n    while True:\n        pass\n", "timeout"),
    Case("loop_ignoring_sigterm", "a busy loop with SIGTERM and SIGINT ignored", (
        "import signal\n"
        "def f():\n"
        "    signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "    signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        "    while True:\n"
        "        pass\n"), "timeout"),
    Case("fork_bomb", "fork in a loop, in every child too", (
        "import os\n"
        "def f():\n"
        "    while True:\n"
        "        try:\n"
        "            os.fork()\n"
        "        except OSError:\n"
        "            pass\n"), "timeout"),
    Case("thread_bomb", "start sleeping threads until it breaks", (
        "import threading, time\n"
        "def f():\n"
        "    while True:\n"
        "        threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n"), "error"),
    Case("memory_bomb", "allocate 50 MB blocks forever", (
        "def f():\n"
        "    hog = []\n"
        "    while True:\n"
        "        hog.append(bytearray(50 * 1024 * 1024))\n"), "oom"),
    Case("recursion_bomb", "unbounded recursion", "def f(n=0):\n    return f(n + 1)\n", "error"),
    Case("disk_fill_tmp", "write 4 MB files into /tmp until the disk is full", (
        "def f():\n"
        "    i = 0\n"
        "    while True:\n"
        "        with open('/tmp/fill-%d' % i, 'wb') as fh:\n"
        "            fh.write(b'x' * (4 * 1024 * 1024))\n"
        "        i += 1\n"), "error", followup=_FOLLOW_DISK),
    Case("stdout_flood", "print 100 MB, then return normally", (
        "import sys\n"
        "def f():\n"
        "    chunk = 'x' * (1 << 20)\n"
        "    for _ in range(100):\n"
        "        sys.stdout.write(chunk)\n"
        "    sys.stdout.flush()\n"
        "    return 1\n"), "passed", limits=replace(LIMITS, wall_time=10.0), check=_stdout_capped),
    Case("network", "connect to a listener on the host's loopback; list network interfaces", (
        "import socket\n"
        "def f():\n"
        "    try:\n"
        "        s = socket.create_connection(('127.0.0.1', {port}), timeout=1.0)\n"
        "    except OSError:\n"
        "        pass\n"
        "    else:\n"
        "        s.close()\n"
        "        return 'connected to the host'\n"
        "    names = [n for _, n in socket.if_nameindex()]\n"
        "    if [n for n in names if n != 'lo']:\n"
        "        return 'interfaces: ' + ','.join(names)\n"
        "    return 'blocked'\n"), "passed", TestCase(kind="call", func="f", args="", expected="'blocked'")),
    Case("host_environment", "read a variable set in the host's environment, and any *_API_KEY", (
        "import os\n"
        "def f():\n"
        "    return sorted(k for k in os.environ if k == '%s' or k.endswith('_API_KEY'))\n" % SECRET_VAR),
         "passed", TestCase(kind="call", func="f", args="", expected="[]")),
    Case("write_outside_workdir", "write to the root file system and to the runner's own files", (
        "import os\n"
        "def f():\n"
        "    wrote = []\n"
        "    for path in ['/semtrace-escape', '/etc/semtrace-escape', '/usr/lib/semtrace-escape',\n"
        "                 '/opt/semtrace/semtrace-escape', '/opt/semtrace/runner.py']:\n"
        "        try:\n"
        "            with open(path, 'a') as fh:\n"
        "                fh.write('')\n"
        "            wrote.append(path)\n"
        "        except OSError:\n"
        "            pass\n"
        "    return wrote\n"), "passed", TestCase(kind="call", func="f", args="", expected="[]")),
    Case("kill_server", "SIGKILL its own parent (the runner server)", (
        "import os, signal\n"
        "def f():\n"
        "    os.kill(os.getppid(), signal.SIGKILL)\n"
        "    return 1\n"), "sandbox_error"),
    Case("wedge_server", "SIGSTOP its own parent: only the watchdog can notice", (
        "import os, signal\n"
        "def f():\n"
        "    os.kill(os.getppid(), signal.SIGSTOP)\n"
        "    return 1\n"), "sandbox_error", limits=replace(LIMITS, wall_time=0.5, load_time=0.5)),
    Case("segfault", "dereference NULL through ctypes",
         "import ctypes\ndef f():\n    return ctypes.string_at(0)\n", "error"),
    Case("sys_exit_at_load", "sys.exit(0) before the tests run",
         "import sys\nsys.exit(0)\ndef f():\n    return 1\n", "error"),
    Case("os_exit_at_load", "os._exit(0) before the tests run",
         "import os\nos._exit(0)\ndef f():\n    return 1\n", "error"),
    Case("always_true_eq", "return an object whose __eq__ is always True", (
        "class Sneaky:\n"
        "    def __eq__(self, other):\n"
        "        return True\n"
        "    def __ne__(self, other):\n"
        "        return False\n"
        "    __hash__ = object.__hash__\n"
        "def f():\n"
        "    return Sneaky()\n"), "failed", TestCase(kind="assert", source="assert f() == 3")),
    Case("orphan_process", "double-fork a detached process (new session) and return", (
        "import os, sys\n"
        "def f():\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        os.setsid()\n"
        "        if os.fork() == 0:\n"
        "            os.execv(sys.executable,\n"
        "                     [sys.executable, '-c', 'import time; time.sleep(30)  # {canary}'])\n"
        "        os._exit(0)\n"
        "    os.waitpid(pid, 0)\n"
        "    return 1\n"), "passed", followup=_FOLLOW_ORPHAN),
    Case("sleep_in_finally", "return, then sleep past the limit in a finally block", (
        "import time\n"
        "def f():\n"
        "    try:\n"
        "        return 1\n"
        "    finally:\n"
        "        time.sleep(100)\n"), "timeout"),
)

LOCAL_EXCEPTIONS: dict[str, LocalException] = {
    "fork_bomb": LocalException("not run: on the host there is no pids cgroup, and as root RLIMIT_NPROC does "
                                "not apply, so a fork bomb is bounded only by the wall clock"),
    "disk_fill_tmp": LocalException("not run: the host's /tmp has no quota; the case would fill it"),
    "write_outside_workdir": LocalException("not run: the candidate writes as the host user, wherever that "
                                            "user can; the case would write to the host's file system"),
    "network": LocalException("the local back end shares the host's network: the candidate reaches a host "
                              "listener", expected="failed"),
}


def case_names() -> list[str]:
    return [c.name for c in CASES]


def expected_for(case: Case, backend: str) -> tuple[str | None, str]:
    """(expected status or None when not run, note) for ``case`` on ``backend``."""
    if backend == "local" and case.name in LOCAL_EXCEPTIONS:
        exc = LOCAL_EXCEPTIONS[case.name]
        return exc.expected, exc.reason
    return case.expected, ""


def prepare_host_environment() -> None:
    """Set the host secret the ``host_environment`` case looks for. Call before the sandbox starts."""
    os.environ[SECRET_VAR] = "this-must-not-reach-the-sandbox"


async def _run(sandbox: Any, case: Case, fmt: dict[str, Any]) -> ExecResult:
    return await sandbox.run(case.request(**fmt))


async def run_case(sandbox: Any, case: Case, backend: str, port: int = 9) -> CaseResult:
    """Run one case and its follow-up on ``sandbox`` (which should have concurrency 1)."""
    expected, note = expected_for(case, backend)
    if expected is None:
        return CaseResult(case.name, case.expected, "not run", False, skipped=note)
    fmt = {"port": port, "canary": _CANARY}
    result = await _run(sandbox, case, fmt)
    problems = []
    got = result.status
    if got != expected:
        first = result.first_failure
        problems.append((first.message if first else result.message)[:200])
    if case.check is not None:
        problem = case.check(result)
        if problem:
            problems.append(problem)
    follow = case.followup or PROBE
    after = await _run(sandbox, follow, fmt)
    if after.status != "passed":
        got = f"{got}; next request {after.status}"
        failure = after.first_failure
        problems.append(f"next request: {(failure.message if failure else after.message)[:200]}")
    ok = got == expected and not problems
    return CaseResult(case.name, expected, got, ok, "; ".join(p for p in problems + [note] if p))


def make_backend(backend: str) -> Any:
    from semtrace.sandbox.base import make_sandbox

    return make_sandbox(backend, concurrency=1)


async def run_suite(backend: str, names: list[str] | None = None,
                    progress: Callable[[CaseResult], None] | None = None) -> SuiteReport:
    """Run the suite (or the ``names`` cases) against a fresh ``backend`` sandbox with one slot."""
    unknown = sorted(set(names or ()) - set(case_names()))
    if unknown:
        raise ValueError(f"unknown case(s) {', '.join(unknown)}; valid: {', '.join(case_names())}")
    prepare_host_environment()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    sandbox = make_backend(backend)
    results: list[CaseResult] = []
    python = ""
    try:
        python = (await sandbox.run(PROBE.request())).python
        for case in CASES:
            if names and case.name not in names:
                continue
            outcome = await run_case(sandbox, case, backend, port)
            results.append(outcome)
            if progress is not None:
                progress(outcome)
    finally:
        await sandbox.close()
        listener.close()
    return SuiteReport(backend, tuple(results), python)


def run_suite_sync(backend: str, names: list[str] | None = None,
                   progress: Callable[[CaseResult], None] | None = None) -> SuiteReport:
    return asyncio.run(run_suite(backend, names, progress))
