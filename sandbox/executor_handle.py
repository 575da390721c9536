"""The supervisor's handle on its executor (stdlib only; shipped beside ``runner.py``): start the fresh
interpreter that forks candidates, send it jobs with the child's pipe ends, read its ``pid`` / ``exit`` lines.
"""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
import time
from typing import Any, Dict, List, Optional

try:
    from . import protocol  # type: ignore[no-redef]
except ImportError:
    import protocol  # type: ignore[no-redef]

HERE = os.path.dirname(os.path.abspath(__file__))


class RunnerFailure(RuntimeError):
    """The runner itself failed (its executor died or wedged): an infrastructure error, not a program outcome."""


class Executor:
    """The supervisor's handle on its executor process, (re)started on demand."""

    def __init__(self) -> None:
        self.proc: Optional[subprocess.Popen] = None
        self.sock: Optional[socket.socket] = None
        self.reader: Optional[protocol.LineReader] = None
        self.lines: List[bytes] = []

    @property
    def pid(self) -> Optional[int]:
        return self.proc.pid if self.proc is not None else None

    def ensure(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            return
        self.stop()
        mine, theirs = socket.socketpair()
        self.proc = subprocess.Popen(
            [sys.executable, "-s", "-u", os.path.join(HERE, "executor.py"), str(theirs.fileno())],
            pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, close_fds=True)
        theirs.close()
        self.sock, self.reader, self.lines = mine, protocol.LineReader(mine.fileno()), []
        if self.read_line(30.0) != b"ready":
            self.stop()
            raise RunnerFailure("the executor did not start")

    def read_line(self, timeout: float) -> Optional[bytes]:
        """The executor's next line, waiting at most ``timeout`` seconds (0: only what is already readable)."""
        assert self.reader is not None
        end = time.monotonic() + timeout
        while not self.lines:
            if self.reader.eof:
                return None
            if not select.select([self.reader.fd], [], [], max(0.0, end - time.monotonic()))[0]:
                return None
            self.lines.extend(self.reader.feed())
        return self.lines.pop(0)

    def pump(self) -> None:
        """Read what the executor has sent (call when its socket is readable)."""
        assert self.reader is not None
        self.lines.extend(self.reader.feed())

    def launch(self, job: Dict[str, Any], fds: List[int]) -> None:
        """Send a job; the executor answers ``pid N`` then ``exit N STATUS`` (read by the batch, not waited for)."""
        self.ensure()
        assert self.sock is not None
        try:
            protocol.send_job(self.sock, job, fds)
        except OSError as exc:
            self.stop()
            raise RunnerFailure("the executor is gone: %s" % exc)

    def stop(self) -> None:
        if self.sock is not None:
            self.sock.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait()
        self.proc = self.sock = self.reader = None
