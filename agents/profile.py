"""Where a run's time goes: spans of what the run waited on, by kind (off unless asked for).

A run records nothing unless its ``RunStats.profile`` is a :class:`Profile` (``perf/orchestration.py`` sets one).
Kinds recorded by the agent: ``llm_gate`` (a call waiting for an LLM slot), ``llm`` (the call itself), ``render``
(the render stage of ``observe``), ``checkpoint`` (checkpoint reads, writes and deletes), ``select``. A caller may add its own
(the perf script adds the sandbox's queue wait and runs by purpose). Spans overlap (the run is concurrent), so a
kind's total is summed over everything in flight; ``occupancy`` says how many were in flight in each part of the
run.
"""

from __future__ import annotations

import contextlib
import time
from collections import defaultdict
from collections.abc import Iterator


class Profile:
    """Spans ``(start, end)`` in ``time.perf_counter`` seconds, by kind."""

    def __init__(self) -> None:
        self.spans: dict[str, list[tuple[float, float]]] = defaultdict(list)

    def add(self, kind: str, start: float, end: float) -> None:
        self.spans[kind].append((start, end))

    @contextlib.contextmanager
    def span(self, kind: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.spans[kind].append((start, time.perf_counter()))

    def total(self, kind: str) -> float:
        return sum(b - a for a, b in self.spans.get(kind, ()))

    def occupancy(self, kind: str, start: float, end: float, buckets: int = 10) -> list[float]:
        """Mean number of ``kind`` spans in flight in each of ``buckets`` equal parts of ``[start, end]``."""
        width = (end - start) / buckets if end > start else 1.0
        busy = [0.0] * buckets
        for a, b in self.spans.get(kind, ()):
            first, last = int(max(0.0, a - start) // width), int(max(0.0, b - start) // width)
            for i in range(max(0, first), min(buckets, last + 1)):
                lo, hi = start + i * width, start + (i + 1) * width
                busy[i] += max(0.0, min(b, hi) - max(a, lo))
        return [x / width for x in busy]


def span(profile: Profile | None, kind: str) -> contextlib.AbstractContextManager[None]:
    """``profile.span(kind)``, or nothing when the run is not profiled."""
    return profile.span(kind) if profile is not None else contextlib.nullcontext()
