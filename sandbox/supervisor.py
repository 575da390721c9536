"""The supervisor: the judge side of the runner (stdlib only, Python 3.9+; shipped beside ``runner.py``).

It holds the whole request, expected values included, and never runs candidate code. For each batch of tests it
creates the child's pipes, hands the executor (``executor.py``, a separate fresh interpreter) a job with the test
*inputs* only, then reads the child's reports and its stdout/stderr, enforces a wall-clock deadline per test
(killing the child's process group), and judges every call and stdio test from the value the child reports. An
assert test the AST pass (``convert.to_call_test``) did not convert is run by the assert judge (``judging.py``);
no report from the child is ever a verdict. A report out of order, for a test not in flight, without the
job's nonce or after ``finished`` passes nothing; a test with no report never passes. After a child finishes or
dies, its stdout and stderr are drained to EOF (bounded: orphans may hold the pipes open).
"""

from __future__ import annotations

import json
import os
import select
import signal
import time
from typing import Any, Dict, List, Optional, Tuple

try:  # imported as semtrace.sandbox.supervisor on the host, as a script inside the sandbox
    from . import convert, protocol  # type: ignore[no-redef]
    from .judging import JudgedAsserts, JudgeProcess  # type: ignore[no-redef]
    from .executor_handle import Executor, RunnerFailure  # type: ignore[no-redef]
    from .verdicts import TraceState, judge_report, outcome  # type: ignore[no-redef]
except ImportError:
    import convert  # type: ignore[no-redef]
    import protocol  # type: ignore[no-redef]
    from judging import JudgedAsserts, JudgeProcess  # type: ignore[no-redef]
    from executor_handle import Executor, RunnerFailure  # type: ignore[no-redef]
    from verdicts import TraceState, judge_report, outcome  # type: ignore[no-redef]

__all__ = ["Batch", "Executor", "RunnerFailure", "TraceState"]

DRAIN_SECONDS = 0.5  # after a child is done: how long its pipes may stay open (orphans) before we stop reading
EXIT_WAIT = 5.0  # how long the executor may take to report a killed child's exit
SIGNALS = {getattr(signal, n): n for n in dir(signal) if n.startswith("SIG") and not n.startswith("SIG_")}
# what the child learns of a test: inputs only, never ``expected``
INPUT_FIELDS = ("kind", "func", "args", "expr", "stdin")


_OOM_FILE: List[Optional[str]] = []


def _oom_file() -> Optional[str]:
    """Where this process's cgroup counts OOM kills (cgroup v2, then v1); found once."""
    if not _OOM_FILE:
        found = None
        try:
            with open("/proc/self/cgroup") as f:
                rel = next((line.split(":", 2)[2].strip() for line in f if line.startswith("0::")), "/")
            for path in ("/sys/fs/cgroup%s/memory.events" % rel.rstrip("/"), "/sys/fs/cgroup/memory.events",
                         "/sys/fs/cgroup/memory/memory.oom_control"):
                if os.path.exists(path):
                    found = path
                    break
        except (OSError, StopIteration):
            pass
        _OOM_FILE.append(found)
    return _OOM_FILE[0]


def _oom_kills() -> int:
    """The cgroup's OOM-kill counter; -1 where none can be read."""
    path = _oom_file()
    if path is None:
        return -1
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("oom_kill "):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return -1


def _kill(pid: int) -> None:
    for fn in (os.killpg, os.kill):
        try:
            fn(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


class Batch(JudgedAsserts):
    """One child running ``indices`` in order: its reports judged, its output drained, its end explained."""

    def __init__(self, req: Dict[str, Any], tests: List[Dict[str, Any]], indices: List[int], path: str,
                 trace: Optional[TraceState], out: Any, err: Any) -> None:
        self.req, self.tests, self.indices, self.path = req, tests, indices, path
        self.trace, self.out, self.err = trace, out, err
        limits = req.get("limits") or {}
        self.wall = float(limits.get("wall_time", 5.0))
        self.load_time = float(limits.get("load_time", 10.0))
        self.timeouts = {i: float(tests[i].get("timeout") or self.wall) for i in indices}
        self.done: Dict[int, Dict[str, Any]] = {}
        self.loaded = False
        self.load_error: Optional[Tuple[str, str]] = None
        self.position = 0
        self.ended: Optional[str] = None  # why the child stopped early: timeout | killed | oom | error
        self.reason = ""
        self.finished = False
        self.pid: Optional[int] = None
        self.exit_status: Optional[int] = None
        self.awaiting_trace: Optional[int] = None
        self.stage_error = ""  # the child could not stage its stdio inputs (the sandbox's disk): a runner failure
        # assert tests: run by the assert judge (forked at the first one), the child only answers its calls
        self.remote = {i for i in indices if tests[i]["kind"] == "assert"}
        self.judge: Optional[JudgeProcess] = None
        self.judge_fds: List[int] = []  # the judge's ends of the call channel until it is forked
        self.nonce = ""
        self.verdicts: Dict[int, Dict[str, Any]] = {}  # the judge's verdicts not yet settled
        self.judge_gone = False  # its verdict pipe closed
        self.served: Optional[bool] = None  # the child's end of that test's calls (whether it was traced)
        self.since = 0.0  # when the test in flight began
        self.backlog: List[protocol.Report] = []  # the child's reports that came before the judge's verdict

    @property
    def inflight(self) -> Optional[int]:
        return self.indices[self.position] if self.loaded and self.position < len(self.indices) else None

    def job(self, nonce: str) -> Dict[str, Any]:
        req = self.req
        limits = req.get("limits") or {}
        spec = self.trace.for_child() if self.trace is not None else None
        tests = []
        for i in self.indices:
            test = self.tests[i]
            if i in self.remote:  # the child only answers the assert judge's calls: no source, no expected value
                tests.append({"kind": "remote", "i": i})
                continue
            sent = {k: test[k] for k in INPUT_FIELDS if test.get(k)}
            sent["i"] = i
            if test.get("compare") == "digest":
                sent["form"] = "digest"
            if test.get("compare") == "lcb" and test["kind"] == "stdio":
                sent["any_exit"] = True  # LiveCodeBench grades what a stdio program printed, whatever its exit code
            tests.append(sent)
        return {"nonce": nonce, "code": req["code"], "path": self.path, "entry_point": req.get("entry_point"),
                "test_setup": convert.child_setup(req.get("test_setup") or "", self.tests), "prelude": req.get("prelude") or "", "tests": tests, "trace": spec,
                "record": bool(req.get("record")),
                "limits": {k: limits.get(k) for k in ("memory_mb", "file_size_mb", "processes")},
                "cpu": self.load_time + sum(self.timeouts.values()),
                "value_bytes": int(limits.get("value_bytes") or 256 * 1024 * 1024)}

    def run(self, executor: Executor) -> None:
        nonce = self.nonce = os.urandom(16).hex()
        pipes = [os.pipe() for _ in range(4)]  # report, stdout, stderr: child writes; control: child reads
        (res_r, res_w), (out_r, out_w), (err_r, err_w), (ctl_r, ctl_w) = pipes
        child_fds = [res_w, out_w, err_w, ctl_r]
        if self.remote:  # the assert judge's call channel: calls (child reads), answers (child writes)
            (call_r, call_w), (ans_r, ans_w) = os.pipe(), os.pipe()
            child_fds += [call_r, ans_w]
            self.judge_fds = [call_w, ans_r]
        ooms = _oom_kills()
        try:
            executor.launch(self.job(nonce), child_fds)
        finally:
            for fd in child_fds:
                os.close(fd)
        try:
            status = self._watch(executor, nonce, res_r, out_r, err_r, ctl_w)
        finally:
            for fd in (res_r, out_r, err_r, ctl_w):
                os.close(fd)
            self._close_judge()
        if self.stage_error:
            raise RunnerFailure("could not stage a stdio test's input: %s" % self.stage_error[:300])
        if self.ended is None and not self.finished:
            self._explain(status, ooms)

    def _watch(self, executor: Executor, nonce: str, res_r: int, out_r: int, err_r: int, ctl_w: int) -> int:
        assert executor.reader is not None
        limit = int((self.req.get("limits") or {}).get("value_bytes") or 256 * 1024 * 1024) + (1 << 20)
        reports = protocol.LineReader(res_r, max_line=limit)  # a child cannot make the judge buffer without bound
        readers: Dict[int, Any] = {res_r: reports, out_r: self.out, err_r: self.err}
        exec_fd = executor.reader.fd
        started = time.monotonic()
        deadline = started + self.load_time
        drain_until: Optional[float] = None
        closed = False  # reports are no longer accepted

        def after(new_deadline: Optional[float]) -> None:  # a report or verdict was taken: finish, or a new test
            nonlocal closed, drain_until, deadline, started
            started = step = time.monotonic()
            if self.finished:
                closed = True
                drain_until = min(drain_until or step + DRAIN_SECONDS, step + DRAIN_SECONDS)
            elif new_deadline is not None:
                deadline = step + new_deadline

        while True:
            now = time.monotonic()
            if not closed and self.exit_status is None and now >= deadline:
                self.ended, self.reason, closed = "timeout", "", True
                self._kill(executor)
                drain_until = now + DRAIN_SECONDS
            judge_fd = self.judge.fd if self.judge is not None else -1  # (open until the judge is stopped)
            if drain_until is not None and (now >= drain_until or (
                    self.exit_status is not None and not any(fd != judge_fd for fd in readers))):
                break
            if executor.lines and self.exit_status is None:  # already buffered (read while learning the pid)
                self._executor_lines(executor)
                continue
            until = min(drain_until or deadline, deadline) if not closed else drain_until or now
            # the executor's lines matter once the child is done (its exit) or killed; not waking for its pid
            # line while the child runs keeps the hot path short (the pid is read when a kill needs it)
            watch_exec = self.exit_status is None and (closed or res_r not in readers)
            fds = list(readers) + ([exec_fd] if watch_exec else [])
            ready = select.select(fds, [], [], max(0.0, min(until - now, 1.0)))[0]
            if self.judge is not None and self.judge.fd not in readers and not self.judge.reader.eof:
                readers[self.judge.fd] = self.judge.reader  # (forked while a report was handled)
            for fd in ready:
                if self.judge is not None and fd == self.judge.fd:
                    lines = self.judge.reader.feed()
                    if self.judge.reader.eof:
                        del readers[fd]
                    for line in lines:
                        if closed:
                            break
                        after(self._on_verdict(line, ctl_w))
                        while self.backlog and self.served is None and not closed:  # reports that waited
                            after(self._on_report(self.backlog.pop(0), time.monotonic() - started, ctl_w))
                    if self.judge.reader.eof and not closed and self._judge_lost():
                        self.ended, closed = "error", True
                        self._kill(executor)
                        drain_until = time.monotonic() + DRAIN_SECONDS
                    continue
                if fd == exec_fd:
                    executor.pump()
                    self._executor_lines(executor)
                    if self.exit_status is not None and drain_until is None:
                        drain_until = time.monotonic() + DRAIN_SECONDS  # reports written before the exit count
                    continue
                if fd != res_r:
                    data = os.read(fd, 1 << 16)
                    if data:
                        readers[fd].add(data)
                    else:
                        del readers[fd]
                    continue
                lines = reports.feed()
                if reports.eof:
                    del readers[fd]
                if reports.overflowed and not closed:  # a report past every limit: malformed, stop the child
                    inflight = self.inflight
                    if inflight is not None and inflight not in self.done:
                        self.done[inflight] = outcome(inflight, "error", "malformed report: larger than the "
                                                      "value limit (%d bytes)" % limit)
                    self.ended, self.reason, closed = "error", "malformed report", True
                    self._kill(executor)
                    drain_until = time.monotonic() + DRAIN_SECONDS
                    lines = []
                for line in lines:
                    if closed:
                        continue  # after finished or a timeout: nothing passes
                    rep = protocol.Report.parse(line, nonce)
                    if rep is None:
                        continue  # not from the runner's reporter: a forged or garbled line
                    if self.served is not None:  # the judge's verdict is due first: later reports wait for it
                        self.backlog.append(rep)
                        continue
                    after(self._on_report(rep, time.monotonic() - started, ctl_w))
        if self.exit_status is None:  # once reaped, the pid may belong to someone else: never kill it then
            self._kill(executor)
            self._await_executor(executor, lambda: self.exit_status is not None, "report the program's exit")
        assert self.exit_status is not None
        return self.exit_status

    def _await_executor(self, executor: Executor, done: Any, what: str) -> None:
        """Read the executor's lines (at most ``EXIT_WAIT`` seconds) until ``done()``; silence is a runner failure."""
        end = time.monotonic() + EXIT_WAIT
        while not done():
            line = executor.read_line(max(0.0, end - time.monotonic()))
            if line is None:
                executor.stop()
                raise RunnerFailure("the executor did not %s" % what)
            executor.lines.insert(0, line)
            self._executor_lines(executor)

    def _executor_lines(self, executor: Executor) -> Optional[int]:
        """Consume the executor's ``pid`` / ``exit`` lines; the exit status once it came. Anything else, or its
        socket closing, means the executor died or wedged: a runner failure."""
        while executor.lines:
            line = executor.lines.pop(0)
            parts = line.split()
            if len(parts) == 2 and parts[0] == b"pid" and self.pid is None:
                self.pid = int(parts[1])
            elif len(parts) == 4 and parts[0] == b"exit" and self.pid == int(parts[1]):
                self.exit_status = int(parts[2])
                return self.exit_status
            else:
                executor.stop()
                raise RunnerFailure("the executor spoke out of turn: %r" % line[:100])
        if executor.reader is None or executor.reader.eof:
            executor.stop()
            raise RunnerFailure("the executor died while it ran the program")
        return None

    def _kill(self, executor: Executor) -> None:
        """Kill the child (and its process group); first learn its pid if the executor has not said it yet."""
        self._await_executor(executor, lambda: self.pid is not None or self.exit_status is not None,
                             "fork the program")
        if self.exit_status is None:  # exited already: never kill a reaped pid
            _kill(self.pid)  # type: ignore[arg-type]

    def _on_report(self, rep: protocol.Report, took: float, ctl_w: int) -> Optional[float]:
        """Handle one valid report; return the next deadline's length when a new test is in flight."""
        if rep.ev == "loaded" and not self.loaded:
            self.loaded = True
            if not self.indices:
                return None
            self._begin(self.indices[0])
            return self.timeouts[self.indices[0]]
        if rep.ev == "stage_error" and not self.loaded:  # (sent before any candidate code ran)
            self.stage_error, self.finished = rep.message or "unknown", True
            return None
        if rep.ev == "load_error" and not self.loaded:
            self.load_error = (rep.status if rep.status in ("error", "oom") else "error", rep.message)
            self.finished = True
            return None
        if rep.ev == "trace":  # only right after the traced test's verdict asked for it
            if self.awaiting_trace is not None and rep.i == self.awaiting_trace and self.trace is not None:
                self.trace.traces.append(rep.trace)  # type: ignore[arg-type]
            self.awaiting_trace = None
            return None
        self.awaiting_trace = None
        inflight = self.inflight
        if inflight is None:
            if rep.ev == "finished" and self.loaded:
                self.finished = True
            return None
        if rep.ev == "finished":  # before the test in flight reported: never a pass for it
            self.done[inflight] = outcome(inflight, "error", "malformed report: the program claimed to finish "
                                          "before this test ended", None, took)
            self.finished = True
            return None
        if rep.ev != "done" or rep.i != inflight:
            return None  # not the test in flight: a forged or confused line
        if inflight in self.remote:  # the verdict is the judge's; the child only says its calls are over
            if rep.kind != "served":
                self.done[inflight] = outcome(inflight, "error", "the program's process failed while it answered "
                                              "the judge's calls: %s" % (rep.message or "malformed report"), None, took)
                self.finished = True  # out of step with the judge: this child runs nothing more
                return None
            return self._on_served(rep.traced, ctl_w)
        result = judge_report(self.tests[inflight], rep, took, bool(self.req.get("record")))
        return self._advance(inflight, result, rep.traced, ctl_w)

    def _advance(self, i: int, result: Dict[str, Any], traced: bool, ctl_w: int) -> Optional[float]:
        """Test ``i`` is decided: ship or drop its trace, start the next; the next deadline's length."""
        self.done[i] = result
        self.position += 1
        if traced and self.trace is not None:
            verdict = self.trace.verdict(i, result["status"])
            self.awaiting_trace = i if verdict in (b"t", b"T") else None
            try:
                os.write(ctl_w, verdict)
            except OSError:
                pass
        nxt = self.inflight
        if nxt is None:
            return None
        self._begin(nxt)
        return self.timeouts[nxt]

    def _explain(self, status: int, ooms_before: int) -> None:
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            if sig == signal.SIGXCPU:
                self.ended, self.reason = "timeout", "exceeded its CPU time limit"
            elif sig == signal.SIGKILL:
                after = _oom_kills()
                if ooms_before >= 0 and after > ooms_before:
                    self.ended, self.reason = "oom", "killed by the out-of-memory killer"
                else:
                    self.ended, self.reason = "killed", "killed by SIGKILL"
            else:
                self.ended, self.reason = "error", "process crashed with %s" % SIGNALS.get(sig, str(sig))
        else:
            self.ended = "error"
            self.reason = "process exited with code %d before the test finished" % os.WEXITSTATUS(status)


def dumps(obj: Any) -> bytes:
    return json.dumps(obj).encode()
