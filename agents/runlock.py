"""One run directory, one command at a time: ``run.lock`` in the run directory, held (``fcntl.flock``) for as long
as a command works in it, says who holds it (pid, host, command, start time) to whoever else tries.

The kernel drops a flock when its process ends, however it ends (Ctrl-C, kill -9, a crash), so a lock file left by
a dead process is simply taken over; its text is only a description for the message. Holding is re-entrant within
a process (the command holds the directory from before its components are built; the run loop holds it again
inside), so the directory is never let go in between.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from semtrace.agents.rundir import RunError

try:
    import fcntl
except ImportError:  # not POSIX: no lock (a warning says so)
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

LOCK_FILE = "run.lock"

_held: dict[str, list[int]] = {}  # resolved run directory -> [fd, depth] of the locks this process holds


class RunDirBusy(RunError):
    """Another process works in the run directory; the message names it."""


def _holder(fd: int) -> str:
    """Who holds the lock, from the text it wrote into the lock file."""
    try:
        info = json.loads(os.pread(fd, 65536, 0).decode("utf-8", "replace") or "{}")
    except (OSError, ValueError):
        info = {}
    if not isinstance(info, dict) or "pid" not in info:
        return "another process (it has not written its name yet)"
    return (f"pid {info.get('pid')} on {info.get('host', '?')} since {info.get('started', '?')} "
            f"(`{info.get('command', '?')}`)")


def busy_holder(run_dir: Path) -> str | None:
    """Who works in ``run_dir`` right now (None: nobody; the directory or its lock file may not exist)."""
    if fcntl is None or str(run_dir.resolve()) in _held:
        return None
    try:
        fd = os.open(run_dir / LOCK_FILE, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _holder(fd)
    except OSError:
        return None
    finally:
        os.close(fd)  # also lets go of the shared lock just taken
    return None


def _acquire(run_dir: Path, fix: str) -> int | None:
    try:
        fd = os.open(run_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise RunError(f"cannot open {run_dir / LOCK_FILE}: {exc.strerror or exc}; {fix}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(fd)
        os.close(fd)
        raise RunDirBusy(f"run directory '{run_dir}' is in use by {holder}; {fix}") from None
    except OSError as exc:  # a file system without locks (some network mounts): go on, unprotected
        os.close(fd)
        log.warning("%s cannot be locked (%s); nothing stops a second command from using %s at the same time",
                    run_dir / LOCK_FILE, exc.strerror or exc, run_dir)
        return None
    info = {"pid": os.getpid(), "host": socket.gethostname(), "command": " ".join(["semtrace", *sys.argv[1:]]),
            "started": time.strftime("%Y-%m-%d %H:%M:%S %z")}
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
    except OSError as exc:  # the lock holds; only its description is missing
        log.warning("cannot describe the lock in %s: %s", run_dir / LOCK_FILE, exc.strerror or exc)
    return fd


@contextlib.contextmanager
def hold(run_dir: Path, fix: str = "") -> Iterator[None]:
    """Hold ``run_dir``'s lock for the block; RunDirBusy (one line naming the holder, then ``fix``) when another
    process holds it. ``run_dir`` must exist."""
    fix = fix or f"wait for it to end (or stop it), then continue with `semtrace run --resume {run_dir}`"
    key = str(run_dir.resolve())
    if key in _held:
        _held[key][1] += 1
        try:
            yield
        finally:
            _held[key][1] -= 1
        return
    fd = _acquire(run_dir, fix) if fcntl is not None else None
    if fd is None:
        if fcntl is None:
            log.warning("no file locks on this system; nothing stops a second command from using %s", run_dir)
        yield
        return
    _held[key] = [fd, 1]
    try:
        yield
    finally:
        del _held[key]
        os.close(fd)  # lets go of the lock; the file stays (unlinking it would race with the next holder)
