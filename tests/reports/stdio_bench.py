"""A two-task stdin/stdout benchmark for the score tests (a plugin by dotted path, as LiveCodeBench-style data)."""

from __future__ import annotations

from pathlib import Path

from semtrace.benchmarks.registry import Benchmark
from semtrace.benchmarks.task import Task
from semtrace.sandbox.types import TestCase


def load(data_dir: Path) -> list[Task]:
    def stdio(pairs: list[tuple[str, str]]) -> tuple[TestCase, ...]:
        return tuple(TestCase(kind="stdio", stdin=i, expected=o, compare="lcb") for i, o in pairs)

    return [
        Task("io/sum", "synthesis", "Read two integers from one line and print their sum.", "main",
             visible_tests=stdio([("1 2\n", "3\n")]), hidden_tests=stdio([("2 5\n", "7\n"), ("-4 4\n", "0\n")])),
        Task("io/rev", "synthesis", "Read a line and print it reversed.", "main",
             visible_tests=stdio([("ab\n", "ba\n")]), hidden_tests=stdio([("abc\n", "cba\n"), ("x\n", "x\n")])),
    ]


STDIO = Benchmark(name="stdio-demo", description="two stdin/stdout tasks (tests only)", loader=load)
