"""``ExecCache``: identical (code, tests) sandbox requests in one run execute once, also when asked concurrently."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from semtrace.sandbox.base import Sandbox
from semtrace.sandbox.types import ExecRequest, ExecResult

if TYPE_CHECKING:
    from semtrace.agents.context import RunStats


_REQUEST_REST = tuple(f.name for f in dataclasses.fields(ExecRequest) if f.name not in ("code", "tests"))


def program_key(code: str, rest_digest: str) -> str:
    """The key of a program run with everything else digested as ``rest_digest`` (a fixed-length hex digest, so
    the concatenation is unambiguous)."""
    return hashlib.sha256(rest_digest.encode() + b"\n" + code.encode("utf-8", "surrogatepass")).hexdigest()


class ExecCache:
    """Identical (code, tests) requests in one run execute once (e.g. a repair task's round 0 in every chain), also
    when asked concurrently: later askers await the one run in flight. When that run raises, every asker gets the
    error and nothing is cached; when the asker that started it is cancelled, the others start it again."""

    def __init__(self, maxsize: int = 1024) -> None:
        self._data: OrderedDict[str, ExecResult] = OrderedDict()
        self._inflight: dict[str, asyncio.Future[ExecResult]] = {}
        self._rest: dict[tuple[Any, ...], tuple[tuple[Any, ...], str]] = {}  # see key()
        self.maxsize = maxsize

    def key(self, request: ExecRequest) -> str:
        """A digest of the whole request: the program, and everything else digested once per distinct tests
        object (a task's tests are one tuple for the whole run), so a key costs no conversion of the tests."""
        rest = (id(request.tests), *(getattr(request, f) for f in _REQUEST_REST))
        try:
            known = self._rest.get(rest)
        except TypeError:  # a field that cannot be hashed: digest the whole request
            return hashlib.sha256(json.dumps(request.to_dict(), sort_keys=True).encode()).hexdigest()
        if known is None or known[0] is not request.tests:
            blob = json.dumps({**request.to_dict(), "code": None}, sort_keys=True)
            if len(self._rest) >= 4 * self.maxsize:
                self._rest.clear()
            known = (request.tests, hashlib.sha256(blob.encode()).hexdigest())
            self._rest[rest] = known
        return program_key(request.code, known[1])

    async def run(self, sandbox: Sandbox, request: ExecRequest, stats: RunStats, key: str | None = None) -> ExecResult:
        """``sandbox.run(request)`` once per distinct request (``key``: a cheaper digest the caller vouches for)."""
        k = key or self.key(request)
        while True:
            if k in self._data:
                stats.exec_cache_hits += 1
                self._data.move_to_end(k)
                return self._data[k]
            if k not in self._inflight:
                break
            shared = self._inflight[k]
            # asyncio.wait never cancels ``shared``, and raises CancelledError only when this asker is cancelled
            # (Ctrl-C cancels every task at once: an asker must not take its owner's cancellation for its own
            # and start the run again, swallowing its own)
            await asyncio.wait((shared,))
            if shared.cancelled():  # its owner was cancelled, not this asker: run it again
                continue
            result = shared.result()  # the owner's error, if its run raised
            stats.exec_cache_hits += 1
            return result
        fut: asyncio.Future[ExecResult] = asyncio.get_running_loop().create_future()
        self._inflight[k] = fut
        try:
            result = await sandbox.run(request)
            stats.sandbox_runs += 1
        except asyncio.CancelledError:
            fut.cancel()  # the askers waiting on it start it again (the loop above)
            raise
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # mark retrieved
            raise
        finally:
            self._inflight.pop(k, None)
        fut.set_result(result)
        self._data[k] = result
        if len(self._data) > self.maxsize:
            self._data.popitem(last=False)
        return result
