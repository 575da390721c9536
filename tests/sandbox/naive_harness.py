"""The old way of judging an assert, kept as a reference for the verdict-equivalence test (never used to judge).

    python naive_harness.py < jobs.jsonl > verdicts.jsonl

Each job line is ``{"code", "entry_point", "test_setup", "prelude", "tests": [source, ...], "timeout"}``; each
output line the list of per-test statuses. As semtrace's child did before the assert judge existed: a forked
process runs the prelude, the program, binds ``candidate``, runs the whole ``test_setup``, then each test's source
in that one namespace, in order (QuixBugs' tests share nodes); a test that takes longer than ``timeout`` is a
``timeout`` and the rest run in a fresh process. ``AssertionError`` -> failed, ``MemoryError`` -> oom, any other
exception -> error.
"""

from __future__ import annotations

import json
import os
import resource
import select
import signal
import sys


def _child(job: dict, start: int, w: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
    sys.setrecursionlimit(10_000)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 1)
    os.dup2(devnull, 0)
    ns: dict = {"__name__": "__candidate__"}
    try:
        if job.get("prelude"):
            exec(compile(job["prelude"], "<prelude>", "exec"), ns)
        exec(compile(job["code"], "candidate.py", "exec"), ns)
        entry = job.get("entry_point")
        if entry and entry in ns:
            ns["candidate"] = ns[entry]
        if job.get("test_setup"):
            exec(compile(job["test_setup"], "<test_setup>", "exec"), ns)
    except BaseException as exc:
        os.write(w, (json.dumps(["load", "oom" if isinstance(exc, MemoryError) else "error"]) + "\n").encode())
        os._exit(0)
    for n, source in enumerate(job["tests"]):
        if n < start:
            continue
        try:
            exec(compile(source, "<test>", "exec"), ns)
            status = "passed"
        except AssertionError:
            status = "failed"
        except MemoryError:
            status = "oom"
        except BaseException:
            status = "error"
        os.write(w, (json.dumps([n, status]) + "\n").encode())
    os._exit(0)


def run(job: dict) -> list:
    out: list = []
    total = len(job["tests"])
    while len(out) < total:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            _child(job, len(out), w)
        os.close(w)
        buf = b""
        while len(out) < total:
            ready = select.select([r], [], [], float(job.get("timeout", 5.0)))[0]
            if not ready:
                out.append("timeout")
                break
            chunk = os.read(r, 65536)
            if not chunk:
                out.append("error")  # the process died between tests: the next one is blamed, as the runner did
                break
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                first, status = json.loads(line)
                if first == "load":
                    out.extend([status] * (total - len(out)))
                else:
                    out.append(status)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
        os.close(r)
    return out[:total]


if __name__ == "__main__":
    for line in sys.stdin:
        sys.stdout.write(json.dumps(run(json.loads(line))) + "\n")
        sys.stdout.flush()
