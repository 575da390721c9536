"""The supervisor's side of assert tests (stdlib only, Python 3.9+; shipped beside ``runner.py``).

A batch with assert tests forks one assert judge (``assert_judge.py``) at its first; each assert test in flight is
sent to it, and is settled when both the judge's verdict and the child's end of its calls have come (the child's
later reports wait in ``backlog`` meanwhile). A judge that stops without its verdict makes the test an ``error``;
a judge still running when the batch ends is killed with it.
"""

from __future__ import annotations

import json
import os
import signal
import time
from typing import Any, Dict, List, Optional

try:  # imported as semtrace.sandbox.judging on the host, as a script inside the sandbox
    from . import protocol  # type: ignore[no-redef]
    from .assert_judge import LIMIT, Link, become_judge, serve  # type: ignore[no-redef]
    from .executor_handle import RunnerFailure  # type: ignore[no-redef]
    from .verdicts import outcome  # type: ignore[no-redef]
except ImportError:
    import protocol  # type: ignore[no-redef]
    from assert_judge import LIMIT, Link, become_judge, serve  # type: ignore[no-redef]
    from executor_handle import RunnerFailure  # type: ignore[no-redef]
    from verdicts import outcome  # type: ignore[no-redef]


class JudgeProcess:
    """The supervisor's handle on the judge it forked for one batch: it judges ``order`` (the batch's remaining
    assert tests, in order) and says each verdict on its pipe."""

    def __init__(self, req: Dict[str, Any], tests: List[Dict[str, Any]], order: List[int], call_w: int,
                 answer_r: int, nonce: str, cpu_seconds: float) -> None:
        self.fd, verdict_w = os.pipe()
        value_bytes = int((req.get("limits") or {}).get("value_bytes") or 256 * 1024 * 1024)
        self.pid = os.fork()
        if self.pid == 0:  # the judge: never returns
            try:
                become_judge([verdict_w, call_w, answer_r], cpu_seconds)
                serve(req, tests, order, Link(call_w, answer_r, nonce, value_bytes), verdict_w)
            finally:
                os._exit(0)
        os.close(verdict_w)
        self.reader = protocol.LineReader(self.fd, max_line=64 << 20)

    def stop(self) -> None:
        try:
            os.close(self.fd)
        except OSError:
            pass
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass


class JudgedAsserts:
    """What ``supervisor.Batch`` does for its assert tests (a mixin: it uses the batch's fields)."""

    remote: "set[int]"
    judge: Optional[JudgeProcess]
    judge_fds: List[int]
    nonce: str
    verdicts: Dict[int, Dict[str, Any]]
    judge_gone: bool
    served: Optional[bool]
    indices: List[int]
    position: int
    since: float
    backlog: List[Any]
    done: Dict[int, Dict[str, Any]]
    reason: str
    req: Dict[str, Any]
    tests: List[Dict[str, Any]]
    load_time: float
    timeouts: Dict[int, float]
    inflight: Optional[int]

    def _advance(self, i: int, result: Dict[str, Any], traced: bool, ctl_w: int) -> Optional[float]:
        raise NotImplementedError

    def _begin(self, i: int) -> None:
        """Test ``i`` is in flight; the judge is forked at the batch's first assert test and judges the rest."""
        self.since = time.monotonic()
        if i not in self.remote or self.judge is not None:
            return
        order = [j for j in self.indices[self.position:] if j in self.remote]
        try:
            self.judge = JudgeProcess(self.req, self.tests, order, self.judge_fds[0], self.judge_fds[1], self.nonce,
                                      self.load_time + sum(self.timeouts.values()))
        except OSError as exc:
            raise RunnerFailure("cannot fork the assert judge: %s" % exc) from None
        finally:
            self._close_judge_fds()

    def _on_verdict(self, line: bytes, ctl_w: int) -> Optional[float]:
        """A verdict of the judge's (it may come before its test is in flight: kept until then)."""
        try:
            data = json.loads(line)
        except ValueError:
            return None
        i = data.get("i") if isinstance(data, dict) else None
        if i not in self.remote or i in self.done:
            return None
        if data.get("gone"):  # the child stopped answering: its exit explains the test, or it claimed to be done
            self.judge_gone = True
            return self._settle(ctl_w) if i == self.inflight and self.served is not None else None
        self.verdicts[i] = data
        return self._settle(ctl_w) if i == self.inflight and self.served is not None else None

    def _on_served(self, traced: bool, ctl_w: int) -> Optional[float]:
        """The child's calls for the assert test in flight are over: settled now if its verdict came."""
        self.served = traced
        return self._settle(ctl_w) if self.inflight in self.verdicts or self.judge_gone else None

    def _settle(self, ctl_w: int) -> Optional[float]:
        i, traced = self.inflight, bool(self.served)
        assert i is not None
        data = self.verdicts.pop(i, None) or {"status": "error", "message": "the program stopped answering the "
                                               "judge's calls"}
        self.served = None
        status = data.get("status") if data.get("status") in ("passed", "failed", "error", "oom") else "error"
        result = outcome(i, status, str(data.get("message") or "")[:2000], None, time.monotonic() - self.since)
        return self._advance(i, result, traced, ctl_w)

    def _judge_lost(self) -> bool:
        """The judge's pipe closed: if it owed a verdict on the test in flight, that test is an error."""
        self.judge_gone = True
        inflight = self.inflight
        if inflight is None or inflight not in self.remote or inflight in self.verdicts or inflight in self.done:
            return False
        self.done[inflight] = outcome(inflight, "error", "%s judge this test: the assert judge stopped while it "
                                      "evaluated it" % LIMIT, None, time.monotonic() - self.since)
        self.reason = "the assert judge stopped"
        return True

    def _close_judge_fds(self) -> None:
        for fd in self.judge_fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self.judge_fds = []

    def _close_judge(self) -> None:
        self._close_judge_fds()
        if self.judge is not None:
            self.judge.stop()
