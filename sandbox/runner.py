#!/usr/bin/env python3
"""semtrace's in-sandbox runner (stdlib only, Python 3.9+). The same files serve the local and Docker back ends.

    python3 runner.py            one JSON ExecRequest on stdin -> one JSON ExecResult on stdout
    python3 runner.py --serve    newline-delimited requests on stdin -> one result line each on stdout

The runner process is the *supervisor* (``supervisor.py``): it holds the request, expected values included, and
judges. Candidates are forked by a separate *executor* process (``executor.py``), a fresh interpreter started
here that only ever receives code, test inputs and limits. Per request the supervisor writes the candidate to a
fresh working directory, turns ``assert f(x) == <literal>`` tests into judged ones (``convert.to_call_test``), runs
the tests in batches (a test that crashes, times out or exits the process is marked, the rest continue in a fresh
child), optionally keeps traces, and kills every descendant left behind.

A result whose ``runner_error`` is set means the runner itself failed (its executor died or wedged, a bug): the
back end's pool replaces the worker and retries; it is never a verdict on the program.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import tempfile
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

try:  # imported as semtrace.sandbox.runner on the host, as a script inside the sandbox
    from . import executor as executor_mod  # type: ignore[no-redef]
    from . import convert, supervisor, verdicts  # type: ignore[no-redef]
except ImportError:
    import convert  # type: ignore[no-redef]
    import verdicts  # type: ignore[no-redef]
    import executor as executor_mod  # type: ignore[no-redef]
    import supervisor  # type: ignore[no-redef]

PYTHON = sys.version.split()[0]


def run_request(req: Dict[str, Any], executor: supervisor.Executor,
                later: Optional[List[Callable[[], None]]] = None) -> Dict[str, Any]:
    """Execute one ExecRequest (as a dict) and return the ExecResult (as a dict). With ``later``, the clean-up
    (killing what the program left running, removing its working directory) is appended there instead of done
    now: the serve loop answers first and cleans before it reads the next request."""
    started = time.monotonic()
    limits = req.get("limits") or {}
    cap = int(limits.get("output_bytes", 65536))
    out, err = Capped(cap), Capped(cap)
    setup = req.get("test_setup") or ""
    tests = [dict(convert.to_call_test(dict(t), req.get("entry_point"), req["code"], setup), index=i)
             for i, t in enumerate(req.get("tests", []))]
    workdir = tempfile.mkdtemp(prefix="st-", dir=os.environ.get("SEMTRACE_WORKDIR") or None)
    path = os.path.join(workdir, "candidate.py")
    spec = req.get("trace")
    trace = verdicts.TraceState(spec) if spec is not None else None
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(req["code"])
        try:
            by_index, message = run_tests(req, tests, path, out, err, trace, executor)
        except supervisor.RunnerFailure as exc:
            return error_result("runner: %s" % exc, stdout=out.text(), stderr=err.text())
        outcomes = [by_index[i] for i in sorted(by_index)]
    finally:
        if later is None:
            _clean_up(workdir, executor)
        else:
            later.append(lambda: _clean_up(workdir, executor))
    status = next((o["status"] for o in outcomes if o["status"] != "passed"), "passed")
    if not tests and message:
        status = "error"
    return {"status": status, "tests": outcomes, "stdout": out.text(), "stderr": err.text(),
            "duration": time.monotonic() - started, "message": message,
            "traces": trace.traces if trace is not None else [], "python": PYTHON}


class Capped:
    """The child's stdout or stderr, kept up to ``cap`` bytes (the rest counted)."""

    def __init__(self, cap: int) -> None:
        self.cap, self.parts, self.size, self.dropped = cap, [], 0, 0  # type: int, List[bytes], int, int

    def add(self, data: bytes) -> None:
        room = self.cap - self.size
        if room > 0:
            self.parts.append(data[:room])
            self.size += min(room, len(data))
        self.dropped += max(0, len(data) - max(room, 0))

    def text(self) -> str:
        out = b"".join(self.parts).decode("utf-8", "replace")
        return out + ("\n...[%d more bytes]" % self.dropped if self.dropped else "")


def run_tests(req: Dict[str, Any], tests: List[Dict[str, Any]], path: str, out: Capped, err: Capped,
              trace: Optional[verdicts.TraceState], executor: supervisor.Executor
              ) -> Tuple[Dict[int, Dict[str, Any]], str]:
    """Run ``tests`` in batches (a fresh child after a test that crashed, timed out or exited); their outcomes by
    index, and the load error's message when the program did not load."""
    outcomes: Dict[int, Dict[str, Any]] = {}
    pending = list(range(len(tests)))
    while True:
        batch = supervisor.Batch(req, tests, pending, path, trace, out, err)
        batch.run(executor)
        outcomes.update(batch.done)
        if batch.load_error or not batch.loaded:
            if batch.load_error:
                status, message = batch.load_error
            else:
                status = batch.ended or "error"
                message = batch.reason or ("the program did not finish loading in time"
                                           if status == "timeout" else "the program did not load")
            for i in pending:
                outcomes.setdefault(i, verdicts.outcome(i, status, message))
            return outcomes, message
        inflight = batch.inflight
        if inflight is not None and inflight not in outcomes:
            status = batch.ended or "error"
            reason = batch.reason or ("exceeded the time limit of %.1fs" % batch.timeouts[inflight]
                                      if status == "timeout" else "the program stopped without reporting")
            outcomes[inflight] = verdicts.outcome(inflight, status, reason)
        pending = [i for i in pending if i not in outcomes]
        if req.get("stop_on_failure") and any(o["status"] != "passed" for o in outcomes.values()):
            return outcomes, ""
        if req.get("stop_on_timeout") and any(o["status"] == "timeout" for o in outcomes.values()):
            # a looping program costs one timeout, not one per remaining test; the tests not run count as failed
            # (the total stays the test count, so a pass rate never rises by skipping)
            for i in pending:
                outcomes[i] = verdicts.outcome(i, "timeout", "not run: an earlier test timed out (stop_on_timeout)")
            return outcomes, ""
        if not pending:
            return outcomes, ""
        if inflight is None and not batch.done:  # died between tests: blame the next one and move on
            outcomes[pending[0]] = verdicts.outcome(pending[0], batch.ended or "error", batch.reason or "process died")
            pending = pending[1:]
            if not pending:
                return outcomes, ""



def _clean_up(workdir: str, executor: supervisor.Executor) -> None:
    executor_mod.reap_orphans(keep=executor.pid)
    shutil.rmtree(workdir, ignore_errors=True)


def error_result(message: str, stdout: str = "", stderr: str = "") -> Dict[str, Any]:
    return {"status": "sandbox_error", "tests": [], "stdout": stdout, "stderr": stderr, "duration": 0.0,
            "message": message, "traces": [], "python": PYTHON, "runner_error": message}


def handle_line(line: bytes, executor: supervisor.Executor,
                later: Optional[List[Callable[[], None]]] = None) -> Dict[str, Any]:
    try:
        req = json.loads(line)
    except ValueError as exc:
        return error_result("runner: malformed request: %s" % exc)
    if req.get("ping"):
        try:
            executor.ensure()
        except supervisor.RunnerFailure as exc:
            return error_result("runner: %s" % exc)
        return {"pong": True, "python": PYTHON, "pid": os.getpid()}
    try:
        return run_request(req, executor, later)
    except Exception as exc:  # a runner bug must come back as an infrastructure error, not a hang
        return error_result("runner: %s: %s" % (type(exc).__name__, exc))


def _not_dumpable() -> None:
    """Same-uid processes (the candidate) may not ptrace this one or read its memory (expected values)."""
    try:
        import ctypes
        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE
    except Exception:
        pass


def _start() -> supervisor.Executor:
    executor_mod.become_subreaper()
    _not_dumpable()
    # the digit limit stays on here: what the child reports is parsed under it (big ints travel in hex)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    executor = supervisor.Executor()
    try:
        executor.ensure()
    except supervisor.RunnerFailure as exc:
        sys.stderr.write("runner: %s\n" % exc)
    return executor


# ------------------------------------------------------------------------------------------------------ serving
# ``serve_container(scratch_dirs)`` is the ``--serve`` loop; the docker back end passes its container's scratch
# tmpfs mounts, emptied after every request so nothing a candidate wrote outside its working directory is visible to
# the next request and a tmpfs filled by one candidate never outlives it. If a scratch directory cannot be emptied
# the server answers the request and then exits; the back end replaces the container.

def _empty_dir(path: str) -> bool:
    """Remove everything inside ``path`` (making directories writable first); True when it is empty."""
    try:
        names = os.listdir(path)
    except OSError:
        return False
    for name in names:
        full = os.path.join(path, name)
        try:
            if os.path.isdir(full) and not os.path.islink(full):
                for root, dirs, _files in os.walk(full):
                    for d in [root] + [os.path.join(root, x) for x in dirs]:
                        try:
                            os.chmod(d, 0o700)
                        except OSError:
                            pass
                shutil.rmtree(full, ignore_errors=True)
            else:
                os.unlink(full)
        except OSError:
            pass
    try:
        return not os.listdir(path)
    except OSError:
        return False


def serve_container(scratch: List[str]) -> int:
    """``--serve``: one request line in, one result line out; after each answer and before the next request is
    read, kill what the program left running, remove its working directory and empty every ``scratch`` dir (off
    the request's critical path, never overlapping the next request)."""
    executor = _start()
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    try:
        for line in stdin:
            if not line.strip():
                continue
            later: List[Callable[[], None]] = []
            try:
                answer = json.dumps(handle_line(line, executor, later)).encode() + b"\n"
                stdout.write(answer)
                stdout.flush()
            finally:
                for step in later:
                    step()
            clean = all([_empty_dir(d) for d in scratch])
            if not clean:
                sys.stderr.write("runner: cannot empty the scratch directories; exiting\n")
                return 3
    finally:
        executor.stop()
    return 0


def main(argv: List[str]) -> int:
    if "--serve" in argv:
        return serve_container([])
    executor = _start()
    try:
        sys.stdout.buffer.write(json.dumps(handle_line(sys.stdin.buffer.read(), executor)).encode() + b"\n")
        sys.stdout.flush()
    finally:
        executor.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
