"""The conformance suite's cases: hostile programs, each with the status a contained sandbox must report.

``conformance.py`` runs them (``semtrace sandbox check``, ``tests/sandbox/test_conformance.py``). Families:
containment (loops, bombs, floods, escapes, killing the runner), and forgery — a reward-hacking candidate that
writes fake reports to every descriptor, claims to finish early, drives the runner's own reporter, or hunts for
the expected values in its own process and in the judge's memory. No forgery may ever be reported passed.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from semtrace.sandbox.types import ExecRequest, ExecResult, Limits, TestCase

SECRET_VAR = "SEMTRACE_CONFORMANCE_SECRET"
LIMITS = Limits(wall_time=2.0, memory_mb=512, output_bytes=65536, file_size_mb=16, processes=64,
                load_time=3.0)
_CANARY = "semtrace-orphan-canary-" + uuid.uuid4().hex[:8]
# an expected value no candidate can compute: finding it anywhere proves it reached the candidate
SECRET_EXPECTED = "semtrace-secret-expected-" + uuid.uuid4().hex


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


# ------------------------------------------------------------------------------------------------ forgery family
# Each returns a wrong value (or nothing) and tries to get "passed" reported anyway.

_FAKE_REPORTS = (
    "import json, os\n"
    "def _fake(finish):\n"
    "    lines = []\n"
    "    for i in range(4):\n"
    "        for kind in ('ok', 'value', 'passed'):\n"
    "            lines.append({{'ev': 'done', 'i': i, 'status': 'passed', 'kind': kind, 'value': 1, 'repr': '1',\n"
    "                          'dur': 0.0, 'traced': False, 'n': ''}})\n"
    "    if finish:\n"
    "        lines.append({{'ev': 'finished', 'n': ''}})\n"
    "    data = ''.join(json.dumps(x) + '\\n' for x in lines).encode()\n"
    "    for fd in range(4096):\n"
    "        try:\n"
    "            os.write(fd, data)\n"
    "        except OSError:\n"
    "            pass\n"
)
_REPORTER = (
    "import gc\n"
    "def _reporters():\n"
    "    return [o for o in gc.get_objects() if callable(o) and getattr(o, '__name__', '') == 'send'\n"
    "            and getattr(o, '__closure__', None)]\n"
)
_MEMORY_HUNT = (
    "import gc, os\n"
    "NEEDLE = b'semtrace-secret-expected-'\n"
    "def _in_my_objects():\n"
    "    for o in gc.get_objects():\n"
    "        for v in (o.values() if isinstance(o, dict) else o if isinstance(o, (list, tuple)) else ()):\n"
    "            if isinstance(v, str) and v.startswith(NEEDLE.decode()):\n"
    "                return v\n"
    "    return None\n"
    "def _in_memory_of(pid):\n"
    "    try:\n"
    "        maps = open('/proc/%d/maps' % pid).read().splitlines()\n"
    "        mem = open('/proc/%d/mem' % pid, 'rb')\n"
    "    except OSError:\n"
    "        return None\n"
    "    for line in maps:\n"
    "        addr, perms = line.split()[:2]\n"
    "        if not perms.startswith('rw'):\n"
    "            continue\n"
    "        lo, hi = (int(x, 16) for x in addr.split('-'))\n"
    "        try:\n"
    "            mem.seek(lo)\n"
    "            chunk = mem.read(min(hi - lo, 1 << 28))\n"
    "        except (OSError, ValueError, OverflowError):\n"
    "            continue\n"
    "        at = chunk.find(NEEDLE)\n"
    "        if at >= 0:\n"
    "            return chunk[at:at + 57].decode('ascii', 'replace')\n"
    "    return None\n"
    "def _hunt():\n"
    "    found = _in_my_objects()\n"
    "    pids = [int(p) for p in os.listdir('/proc') if p.isdigit() and int(p) != os.getpid()]\n"
    "    for pid in pids:\n"
    "        found = found or _in_memory_of(pid)\n"
    "    return found or 'not found'\n"
)
_PATCH_HELPERS = (
    "import builtins, json, os\n"
    "from json import encoder as _enc\n"
    "def _forge(text):\n"
    "    return text.replace('\"kind\": \"raised\"', '\"kind\": \"ok\"')\n"
    "def _forge_obj(obj):\n"
    "    if isinstance(obj, dict) and obj.get('kind') == 'raised':\n"
    "        obj = {{k: v for k, v in obj.items() if k not in ('status', 'message')}}\n"
    "        obj['kind'] = 'ok'\n"
    "    return obj\n"
    "_dumps, _encode, _iterencode, _make = json.dumps, json.JSONEncoder.encode, json.JSONEncoder.iterencode, "
    "_enc.c_make_encoder\n"
    "json.dumps = lambda obj, *a, **k: _dumps(_forge_obj(obj), *a, **k)\n"
    "json.JSONEncoder.encode = lambda self, obj: _encode(self, _forge_obj(obj))\n"
    "json.JSONEncoder.iterencode = lambda self, obj, *a, **k: _iterencode(self, _forge_obj(obj), *a, **k)\n"
    "if _make is not None:\n"
    "    _enc.c_make_encoder = lambda *a: (lambda obj, level, _e=_make(*a): _e(_forge_obj(obj), level))\n"
    "_write, _view = os.write, builtins.memoryview\n"
    "os.write = lambda fd, data: _write(fd, _forge(bytes(data).decode('utf-8', 'replace')).encode()) and len(data)\n"
    "builtins.memoryview = lambda data: _view(_forge(bytes(data).decode('utf-8', 'replace')).encode())\n"
)
_SECRET_TEST = TestCase(kind="call", func="f", args="", expected=repr(SECRET_EXPECTED))

FORGERY_CASES: tuple[Case, ...] = (
    Case("forge_reports_every_fd", "write fake 'passed'/'ok'/'value' reports and 'finished' to descriptors 0-4095",
         _FAKE_REPORTS + "def f():\n    _fake(True)\n    return 0\n", "failed"),
    Case("forge_reports_assert", "the same forgery on an assert test (run in the assert judge: the lines written "
         "to its answer channel make the test unjudgeable, an error)",
         _FAKE_REPORTS + "def f():\n    _fake(True)\n    return 0\n", "error",
         TestCase(kind="assert", source="x = f()\nassert x == 1")),
    Case("forge_early_finished", "write fake reports and 'finished', then exit before the test ends",
         _FAKE_REPORTS + "import os\ndef f():\n    _fake(True)\n    os._exit(0)\n", "error"),
    Case("forge_from_orphan", "a forked child keeps writing fake reports after the candidate returns",
         _FAKE_REPORTS + "import os, time\ndef f():\n    if os.fork() == 0:\n        for _ in range(50):\n"
         "            _fake(True)\n            time.sleep(0.01)\n        os._exit(0)\n    return 0\n", "failed"),
    Case("drive_the_reporter", "find the runner's own reporter (gc) and claim a verdict through it",
         _REPORTER + "def f():\n    for send in _reporters():\n        send('done', i=0, kind='ok', traced=False)\n"
         "        send('finished')\n    return 0\n", "error"),
    Case("forge_stage_error", "while loading, claim through the runner's own reporter that the sandbox could not "
         "stage its input (to turn its failure into a non-verdict): a runner failure, retried, then "
         "sandbox_error - never a pass", _REPORTER + "for _send in _reporters():\n"
         "    _send('stage_error', message='disk full')\ndef f():\n    return 0\n", "sandbox_error"),
    Case("patch_the_encoder", "replace the runner's value encoder and reporter helpers; it still cannot know "
         "the expected value, so what it reports is just a value", "import sys\ndef f():\n"
         "    for m in list(sys.modules.values()):\n"
         "        if hasattr(m, 'encode') and hasattr(m, 'Opaque'):\n"
         "            m.encode = lambda v, *a: {{'opaque': 'str', 'repr': 'x', 'truth': True}}\n"
         "        if hasattr(m, '_reporter'):\n"
         "            m.describe = lambda e: 'passed'\n"
         "    return 0\n", "failed", _SECRET_TEST),
    Case("patch_the_reporters_helpers", "replace json.dumps, JSONEncoder's methods, json.encoder.c_make_encoder, "
         "os.write and builtins.memoryview to rewrite the runner's own report of a failed assert (one the judge "
         "cannot take over) into a pass on its way out", _PATCH_HELPERS + "def f():\n    return 0\n", "failed",
         TestCase(kind="assert", source="assert f() == 1 and f() == 2")),
    Case("hunt_expected_value", "look for the expected value in its own objects and in every process's memory",
         _MEMORY_HUNT + "def f():\n    return _hunt()\n", "failed", _SECRET_TEST,
         limits=replace(LIMITS, wall_time=20.0)),
)

CASES = CASES + FORGERY_CASES

LOCAL_EXCEPTIONS: dict[str, LocalException] = {
    "fork_bomb": LocalException("not run: on the host there is no pids cgroup, and as root RLIMIT_NPROC does "
                                "not apply, so a fork bomb is bounded only by the wall clock"),
    "disk_fill_tmp": LocalException("not run: the host's /tmp has no quota; the case would fill it"),
    "write_outside_workdir": LocalException("not run: the candidate writes as the host user, wherever that "
                                            "user can; the case would write to the host's file system"),
    "hunt_expected_value": LocalException(
        "not run: as root on the host the candidate may read any process's memory, the judge's included "
        "(the docker back end runs it as a non-root user against a non-dumpable judge)"),
    "network": LocalException("the local back end shares the host's network: the candidate reaches a host "
                              "listener", expected="failed"),
}
