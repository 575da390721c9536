"""``fake``: an in-memory sandbox for tests. A map from (program, tests) to the ``ExecResult`` to answer; nothing runs.

It records every request it gets (``requests``), so a test can assert what a node sent: whether a ``TraceSpec``
was asked for, which tests were run, that no hidden test reached a given request. Lookups match the program and
its tests exactly (``key``); the rest of the request (trace, limits, ``stop_on_failure``) does not take part, so
the same entry answers a traced and an untraced run of one program. A request with no entry gets ``default`` (a
result, or a function of the request), else a ``KeyError`` naming the program's first line.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TypeAlias

from semtrace.sandbox.types import ExecRequest, ExecResult, TestCase
from typing_extensions import Self

Answer: TypeAlias = "ExecResult | Callable[[ExecRequest], ExecResult | Awaitable[ExecResult]]"
Key: TypeAlias = "str | tuple[str, Iterable[TestCase]]"  # (code, tests), or a digest from FakeSandbox.key


def _digest(code: str, tests: Iterable[TestCase]) -> str:
    blob = json.dumps([code, [t.to_dict() for t in tests]], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def _first_line(code: str) -> str:
    return next((line.strip() for line in code.splitlines() if line.strip()), "<empty program>")


class FakeSandbox:
    """``FakeSandbox({(code, tests): result, ...}, default=None)``; ``add(code, tests, result)`` adds an entry.

    A value (or ``default``) may be a function ``request -> ExecResult`` (sync or async) instead of a result.
    ``concurrency``: declare how many requests it runs at once (``sandbox.base.Sandbox``), so a run queues requests
    in front of it in priority order; by default it declares none and takes every request at once.
    """

    def __init__(
        self, results: Mapping[Key, Answer] | None = None, default: Answer | None = None,
        concurrency: int | None = None,
    ) -> None:
        if concurrency is not None:
            self.concurrency = concurrency
        self._results: dict[str, Answer] = {}
        self.default = default
        self.requests: list[ExecRequest] = []
        self.closed = False
        for key, answer in (results or {}).items():
            self._results[self._normal(key)] = answer

    @staticmethod
    def key(code: str, tests: Iterable[TestCase]) -> str:
        """The digest a request is looked up by: its program and its tests' dicts."""
        return _digest(code, tuple(tests))

    @classmethod
    def _normal(cls, key: Key) -> str:
        if isinstance(key, str):
            return key
        code, tests = key
        return cls.key(code, tests)

    def add(self, code: str, tests: Iterable[TestCase], answer: Answer) -> None:
        self._results[self.key(code, tests)] = answer

    def __contains__(self, key: object) -> bool:
        try:
            return self._normal(key) in self._results  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return False

    async def run(self, request: ExecRequest) -> ExecResult:
        self.requests.append(request)
        answer = self._results.get(self.key(request.code, request.tests), self.default)
        if answer is None:
            raise KeyError(
                f"FakeSandbox has no result for the program starting {_first_line(request.code)!r} on "
                f"{len(request.tests)} test(s); add one with FakeSandbox({{(code, tests): result}}), .add(), "
                "or give a default"
            )
        if isinstance(answer, ExecResult):
            return answer
        out = answer(request)
        if inspect.isawaitable(out):
            out = await out
        if not isinstance(out, ExecResult):
            raise TypeError(f"FakeSandbox answer for {_first_line(request.code)!r} returned "
                            f"{type(out).__name__}, not an ExecResult")
        return out

    async def close(self) -> None:
        self.closed = True

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
