#!/usr/bin/env python3
"""The executor: the one process that forks candidates (stdlib only, Python 3.9+; shipped beside ``runner.py``).

    python3 executor.py FD      serve jobs on the socket FD (a socketpair end the supervisor passed down)

The supervisor (``supervisor.py``) starts this as a fresh interpreter, so its memory never held a request.
Each job carries the candidate's code, the tests' *inputs* (call arguments, stdin; for an assert test only that it
is one), limits and a nonce — never an expected value, which stays with the supervisor.
The executor keeps one child forked ahead, waiting for the next job; the child reads the job itself and runs it
(``child.py``: new session, rlimits, the pipes the supervisor sent, stdin from /dev/null, the tests in order, each
reported with the job's nonce). The executor says ``pid N`` when it forks a child, reaps it, kills any descendant
that escaped (it is a child subreaper), says ``exit N STATUS SECONDS`` (seconds since the fork) and forks the
next, so a ``pid`` line for the next job may follow an ``exit`` line in the same read.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from typing import List, Optional

try:  # imported as semtrace.sandbox.executor on the host, as a script inside the sandbox
    from . import protocol, tracer  # type: ignore[no-redef]
    from .child import child_main  # type: ignore[no-redef]
except ImportError:
    import protocol  # type: ignore[no-redef]
    import tracer  # type: ignore[no-redef]
    from child import child_main  # type: ignore[no-redef]

SUPERVISOR_GONE = 86  # a waiting child's exit code when the supervisor closed the socket before sending a job


def _children() -> List[int]:
    pid = os.getpid()
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def reap_orphans(keep: Optional[int] = None) -> None:
    """Kill descendants re-parented to this (subreaper) process; ``keep`` one child alive."""
    for _ in range(50):
        children = [c for c in _children() if c != keep]
        if not children:
            return
        for child in children:
            try:
                os.kill(child, signal.SIGKILL)
                os.waitpid(child, 0)
            except (ProcessLookupError, ChildProcessError, PermissionError):
                pass


def become_subreaper() -> None:
    try:
        import ctypes
        ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except Exception:
        pass


def serve(fd: int) -> int:
    sock = socket.socket(fileno=fd)
    become_subreaper()
    try:  # pay the tracer's first-use costs here once, not in every forked child
        tracer.trace_thunk(lambda: None, "<semtrace-warm-up>", 10, 10, 0)
    except Exception:
        pass
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the supervisor decides when to stop
    import gc
    gc.freeze()  # what the warm interpreter holds stays out of the children's collections (fewer copied pages)
    sock.sendall(b"ready\n")
    while True:
        # Fork the next child now, before its job arrives, and let the child read the job itself: the fork is off
        # the request's critical path, and the executor still never holds a request, so no candidate can find an
        # earlier one's code, inputs or assert sources in memory it inherited.
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            try:
                got = protocol.recv_job(sock)
            except BaseException:
                os._exit(SUPERVISOR_GONE)
            if got is None:
                os._exit(SUPERVISOR_GONE)
            job, fds = got
            sock.close()
            child_main(job, fds)
        try:
            sock.sendall(b"pid %d\n" % pid)
        except OSError:
            _stop(pid)
            return 0
        started = time.monotonic()
        _, status = os.waitpid(pid, 0)
        reap_orphans()
        if os.WIFEXITED(status) and os.WEXITSTATUS(status) == SUPERVISOR_GONE and _closed(sock):
            return 0  # (a candidate exiting with the same code does not stop the executor: the socket is open)
        try:
            sock.sendall(b"exit %d %d %.6f\n" % (pid, status, time.monotonic() - started))
        except OSError:
            return 0


def _closed(sock: socket.socket) -> bool:
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def _stop(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


if __name__ == "__main__":
    sys.exit(serve(int(sys.argv[1])))
