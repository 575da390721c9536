#!/usr/bin/env python3
"""The hand-written sandbox codecs against the generic one (``semtrace.jsonable``), measured in the same run.

    .venv/bin/python perf/codec.py [--events 300] [--traces 2] [--outcomes 20] [--repeat 7] [--json]

Builds a realistic ``ExecResult`` (``--traces`` traces of ``--events`` events each, the tracer's JSON shape:
changes on call and line events, reprs on returns; ``--outcomes`` test outcomes) and an ``ExecRequest`` of as many
tests, checks that both codecs give the same values, then times each direction both ways: decoding the wire form
(``ExecResult.from_dict`` vs ``from_jsonable(ExecResult, ...)``), encoding (``ExecResult.to_dict`` vs
``to_jsonable``), ``Trace.to_dict`` and ``ExecRequest.to_dict``. Each number is the best of ``--repeat`` rounds
(a round calls the codec enough times to last about 0.2 s). Prints microseconds per call and the ratio
fast/generic (below 1: the hand-written codec is faster).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable
from typing import Any

from semtrace.jsonable import from_jsonable, to_jsonable
from semtrace.sandbox.types import ExecRequest, ExecResult, Limits, TestCase, TraceSpec


def trace_dict(rng: random.Random, index: int, events: int) -> dict[str, Any]:
    """A trace as the in-sandbox tracer writes it (plain dicts, every key)."""
    out: list[dict[str, Any]] = []
    hits: dict[int, int] = {}
    depth = 0
    for order in range(1, events + 1):
        kind = rng.choices(["line", "call", "return", "exception"], [70, 12, 12, 1])[0]
        line = rng.randint(1, 40)
        changes = [[rng.choice("ijkxs") + "_" * rng.randint(0, 3), repr(rng.randint(-99, 10**6))]
                   for _ in range(rng.choice([0, 0, 1, 1, 2, 3]))] if kind in ("line", "call") else []
        value = (repr([rng.randint(0, 9) for _ in range(rng.randint(0, 8))]) if kind == "return"
                 else "ValueError: bad input" if kind == "exception" else None)
        out.append({"order": order, "kind": kind, "line": line, "func": rng.choice(["f", "helper", "<module>"]),
                    "depth": depth, "changes": changes, "value": value,
                    "caller_line": rng.randint(1, 40) if kind == "call" and depth else None})
        depth = max(0, depth + (kind == "call") - (kind == "return"))
        if kind == "line":
            hits[line] = hits.get(line, 0) + 1
    return {"test_index": index, "events": out, "truncated": False, "truncated_at": None,
            "line_hits": {str(k): v for k, v in hits.items()}, "backend": "settrace"}


def result_dict(rng: random.Random, traces: int, events: int, outcomes: int) -> dict[str, Any]:
    """An ExecResult as the runner writes it (outcomes without ``value``, no ``runner_error``)."""
    tests = [{"index": i, "status": "passed" if i % 3 else "failed",
              "message": "" if i % 3 else "expected 3, got 4",
              "actual": repr(rng.randint(0, 100)), "duration": rng.uniform(0.0001, 0.01)} for i in range(outcomes)]
    return {"status": "failed", "tests": tests, "stdout": "", "stderr": "", "duration": 0.41, "message": "",
            "traces": [trace_dict(rng, i, events) for i in range(traces)], "python": "3.11.7"}


def request(outcomes: int) -> ExecRequest:
    tests = tuple(TestCase(kind="call", args=f"[{i}, {i + 1}], key={i}", expected=str(i), func="f", atol=1e-6)
                  for i in range(outcomes))
    return ExecRequest(code="def f(xs, key):\n    return sum(xs) + key\n", tests=tests, entry_point="f",
                       trace=TraceSpec(tests=(0, 1)), limits=Limits(wall_time=3.0))


def best(fn: Callable[[], Any], repeat: int) -> float:
    """Seconds per call, the best of ``repeat`` rounds of about 0.2 s each."""
    number, start = 1, time.perf_counter()
    fn()
    once = max(time.perf_counter() - start, 1e-7)
    number = max(1, int(0.2 / once))
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - start) / number)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--traces", type=int, default=2)
    parser.add_argument("--outcomes", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    wire = json.loads(json.dumps(result_dict(random.Random(0), args.traces, args.events, args.outcomes)))
    result = ExecResult.from_dict(wire)
    req = request(args.outcomes)
    same = (json.dumps(result.to_dict()) == json.dumps(to_jsonable(from_jsonable(ExecResult, wire)))
            and json.dumps(req.to_dict()) == json.dumps(to_jsonable(req)))
    if not same:
        print("the two codecs disagree: no timing", file=sys.stderr)
        return 1
    cases = {
        "decode ExecResult": (lambda: ExecResult.from_dict(wire), lambda: from_jsonable(ExecResult, wire)),
        "encode ExecResult": (result.to_dict, lambda: to_jsonable(result)),
        "encode Trace": (result.traces[0].to_dict, lambda: to_jsonable(result.traces[0])),
        "encode ExecRequest": (req.to_dict, lambda: to_jsonable(req)),
    }
    rows = {}
    for name, (fast, generic) in cases.items():
        f, g = best(fast, args.repeat), best(generic, args.repeat)
        rows[name] = {"fast_us": f * 1e6, "generic_us": g * 1e6, "ratio": f / g}
    shape = {"traces": args.traces, "events": args.events, "outcomes": args.outcomes, "repeat": args.repeat}
    if args.json:
        print(json.dumps({"shape": shape, "results": rows}, indent=2))
        return 0
    print(f"ExecResult: {args.traces} traces x {args.events} events, {args.outcomes} outcomes; "
          f"ExecRequest: {args.outcomes} tests; best of {args.repeat}")
    for name, row in rows.items():
        print(f"{name:20s} fast {row['fast_us']:9.1f} us   generic {row['generic_us']:9.1f} us   "
              f"fast/generic {row['ratio']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
