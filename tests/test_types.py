"""Core data types: frozen, JSON round-trip."""

from __future__ import annotations

import dataclasses
import json
import typing

import pytest

from semtrace.benchmarks.task import Task
from semtrace.registry import Registry, RegistryError
from semtrace.sandbox.trace import Trace, TraceEvent
from semtrace.sandbox.types import ExecRequest, ExecResult, Limits, TestCase, TestOutcome, TraceSpec


def roundtrip(obj):
    return type(obj).from_dict(json.loads(json.dumps(obj.to_dict())))


def test_roundtrips():
    tests = (TestCase(kind="assert", source="assert f(1) == 2"),
             TestCase(kind="call", args="[1], k=2", expected="3.5", atol=1e-3, timeout=2.0),
             TestCase(kind="stdio", stdin="1\n", expected="2\n"))
    task = Task(task_id="t/1", kind="repair", prompt="p", entry_point="f", starting_code="def f(): pass",
                visible_tests=tests[:1], hidden_tests=tests[1:], reference="def f(): return 2",
                metadata={"source": "x", "n": [1, 2]})
    request = ExecRequest(code="x", tests=tests, entry_point="f", trace=TraceSpec(tests=(0, 2), max_events=5),
                          limits=Limits(wall_time=2.5))
    trace = Trace(test_index=0, events=(TraceEvent(order=1, kind="call", line=1, func="f", depth=0,
                                                   changes=(("x", "1"),)),
                                        TraceEvent(order=2, kind="return", line=2, func="f", depth=0, value="2")),
                  truncated=True, truncated_at=2, line_hits={1: 1, 2: 3})
    result = ExecResult(status="failed", tests=(TestOutcome(index=0, status="failed", message="m", actual="1"),),
                        traces=(trace,), python="3.12.1")
    for obj in (task, request, result, trace, *tests):
        assert roundtrip(obj) == obj


def test_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        TestCase(kind="assert").source = "x"  # type: ignore[misc]


def test_bad_values_are_rejected():
    with pytest.raises(ValueError):
        TestCase.from_dict({"kind": "nonsense"})


def test_registry_unknown_name_lists_valid_ones():
    reg = Registry(kind="widget", group="semtrace.widgets", entries={"a": "json:dumps", "b": "json:loads"})
    assert reg.resolve("a") is json.dumps
    assert reg.resolve("json:loads") is json.loads
    with pytest.raises(RegistryError, match="unknown widget 'c'; valid: a, b"):
        reg.resolve("c")


def test_the_compiled_decoders_keep_each_unions_order_and_fail_where_they_always_failed():
    """One decoder is built per type; ``int | str`` and ``str | int`` are equal types but try their members in
    their own order, and a part that cannot be built fails only when a value needs it."""
    from semtrace.jsonable import from_jsonable

    assert from_jsonable(int | str, "5") == 5 and from_jsonable(str | int, "5") == "5"
    assert from_jsonable(str | int, "5") == "5" and from_jsonable(int | str, "5") == 5  # either order first
    assert from_jsonable(tuple[str | int, ...], ["1", 2]) == ("1", 2)

    @dataclasses.dataclass(frozen=True)
    class Loose:
        a: int
        b: typing.Dict = None  # type: ignore[assignment] - a bare Dict cannot decode anything

    assert from_jsonable(Loose, {"a": 1}) == Loose(a=1)
    with pytest.raises(ValueError):
        from_jsonable(Loose, {"a": 1, "b": {"x": 1}})
    assert from_jsonable(typing.Union[typing.Dict, int], 5) == 5
    assert from_jsonable(list[typing.Dict], []) == []
    assert from_jsonable(typing.Annotated[int, {"unhashable": True}], 3) == 3
    with pytest.raises(ValueError, match=r"3 is not one of \(2, 1\)"):
        from_jsonable(typing.Literal[2, 1], 3)
