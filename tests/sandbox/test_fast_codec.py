"""The hand-written codecs of the sandbox's data (``sandbox/types.py``, ``sandbox/trace.py``) against the generic
one (``semtrace.jsonable``): the same values (types included: tuple/list, int/float, ``line_hits`` keys) both ways
on seeded random results, the same exception class (and message) on invalid or corrupted data, and every
dataclass field handled (a field added without updating a codec fails here)."""

from __future__ import annotations

import collections
import collections.abc
import copy
import dataclasses
import json
import math
import random
import types
import typing
from typing import Any, Literal, Union, get_args, get_origin

import pytest
from semtrace.jsonable import from_jsonable, to_jsonable
from semtrace.sandbox import trace as trace_module
from semtrace.sandbox.trace import Trace, TraceEvent
from semtrace.sandbox.types import ExecRequest, ExecResult, Limits, TestCase, TestOutcome, TraceSpec

DECODED = (TraceEvent, Trace, TestOutcome, ExecResult)  # fast from_dict
ENCODED = (TraceEvent, Trace, TestOutcome, ExecResult, TestCase, Limits, TraceSpec, ExecRequest)  # fast to_dict
SIZES = {"events": 40, "tests": 6, "traces": 3}  # most items a generated tuple field holds
SMALL = {"events": 5, "tests": 3, "traces": 2}

# ---- random valid objects, driven by the type hints (so a new field gets random values too) ----


def rand_str(rng: random.Random) -> str:
    return rng.choice(["", "x", "12", "-3", "f", "<module>", "héllo\n\tworld", "None", "1.5", "'a'",
                       "".join(rng.choice("ab_ \"\\é\u2028{}[]") for _ in range(rng.randint(1, 12)))])


def rand_json(rng: random.Random, depth: int = 0, tuples: bool = False) -> Any:
    """A JSON-native value (what ``TestOutcome.value`` holds after a JSON round trip); with ``tuples``, lists may
    be tuples (a value set on the Python side, which ``to_jsonable`` writes as a list)."""
    pick = rng.randint(0, 7 if depth < 2 else 4)
    if pick == 0:
        return None
    if pick == 1:
        return rng.random() < 0.5
    if pick == 2:
        return rng.randint(-10**20, 10**20)
    if pick == 3:
        return rng.choice([0.0, -2.5, 1e300, 3.0, rng.random()])
    if pick == 4:
        return rand_str(rng)
    if pick in (5, 6):
        items = [rand_json(rng, depth + 1, tuples) for _ in range(rng.randint(0, 3))]
        return tuple(items) if tuples and rng.random() < 0.5 else items
    return {rand_str(rng): rand_json(rng, depth + 1, tuples) for _ in range(rng.randint(0, 3))}


def rand_value(tp: Any, rng: random.Random, name: str = "", sizes: dict[str, int] = SIZES) -> Any:
    origin, args = get_origin(tp), get_args(tp)
    if tp is Any:
        return rand_json(rng)
    if origin in (Union, types.UnionType):
        members = [a for a in args if a is not type(None)]
        if type(None) in args and rng.random() < 0.4:
            return None
        return rand_value(rng.choice(members), rng, name, sizes)
    if origin is Literal:
        return rng.choice(args)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(rand_value(args[0], rng, sizes=sizes) for _ in range(rng.randint(0, sizes.get(name, 4))))
        return tuple(rand_value(a, rng) for a in args)
    if origin is dict:
        return {rand_value(args[0], rng): rand_value(args[1], rng) for _ in range(rng.randint(0, 5))}
    if dataclasses.is_dataclass(tp):
        return rand_object(tp, rng, sizes)
    if tp is bool:
        return rng.random() < 0.5
    if tp is int:
        return rng.choice([0, 1, rng.randint(-5, 400), rng.randint(0, 10**12)])
    if tp is float:
        return rng.choice([0.0, 1.0, 2.5e-6, rng.uniform(0, 30), 1e18])
    if tp is str:
        return rand_str(rng)
    raise AssertionError(f"no generator for {tp!r} ({name}): teach rand_value this type")


def rand_object(cls: type, rng: random.Random, sizes: dict[str, int] = SIZES) -> Any:
    hints = typing.get_type_hints(cls)
    return cls(**{f.name: rand_value(hints[f.name], rng, f.name, sizes) for f in dataclasses.fields(cls)})


# ---- comparison: types, dict key order and compare=False fields (TestOutcome.value) included ----


def shape(x: Any) -> Any:
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return (type(x).__name__, tuple((f.name, shape(getattr(x, f.name))) for f in dataclasses.fields(x)))
    if isinstance(x, dict):
        return (type(x).__name__, tuple((shape(k), shape(v)) for k, v in x.items()))
    if isinstance(x, (list, tuple)):
        return (type(x).__name__, tuple(shape(v) for v in x))
    if isinstance(x, float) and math.isnan(x):
        return ("float", "nan")
    return (type(x).__name__, x)


def attempt(fn: Any, *args: Any) -> Any:
    try:
        return ("ok", shape(fn(*args)))
    except Exception as exc:  # noqa: BLE001 - the class and message are what is compared
        return ("raised", type(exc).__name__, str(exc))


def fast_decode(cls: type, data: Any) -> Any:
    return cls.from_dict(data)


def same_decoding(cls: type, data: Any) -> Any:
    """Decode ``data`` both ways (each from its own copy) and require the same outcome; return it."""
    fast = attempt(fast_decode, cls, copy.deepcopy(data))
    generic = attempt(from_jsonable, cls, copy.deepcopy(data))
    assert fast == generic, (cls.__name__, data)
    return fast


# ---- valid JSON variants the generic decoder accepts (and converts) ----


def loosen(data: Any, hints_of: type, rng: random.Random) -> Any:
    """Another valid JSON form of an object: optional keys dropped, ints for floats, numeric strings for ints,
    int keys in ``line_hits``, tuples for lists, a dict subclass."""
    hints = typing.get_type_hints(hints_of)
    out = dict(data)
    for f in dataclasses.fields(hints_of):
        tp, value = hints[f.name], out[f.name]
        has_default = f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        roll = rng.random()
        if has_default and roll < 0.15:
            del out[f.name]
            continue
        if roll > 0.7:
            if tp is float and value == int(value) and abs(value) < 1e15:
                out[f.name] = int(value)
            elif tp in (int, int | None) and isinstance(value, int):
                out[f.name] = str(value)
            elif f.name == "line_hits":
                out[f.name] = {int(k): v for k, v in value.items()}
            elif f.name == "changes":
                out[f.name] = tuple(tuple(p) for p in value)
            elif isinstance(value, list) and f.name != "changes":
                out[f.name] = tuple(value)
    if f"{hints_of.__name__}" in ("ExecResult", "Trace") and rng.random() < 0.1:
        return collections.OrderedDict(out)
    return out


def loosen_result(data: dict[str, Any], rng: random.Random) -> Any:
    data = dict(data)
    data["tests"] = [loosen(t, TestOutcome, rng) for t in data["tests"]]
    traces = []
    for t in data["traces"]:
        t = dict(t)
        t["events"] = [loosen(e, TraceEvent, rng) if rng.random() < 0.2 else e for e in t["events"]]
        traces.append(loosen(t, Trace, rng))
    data["traces"] = traces
    return loosen(data, ExecResult, rng)


# ---- corruptions: any value anywhere, or a key gone ----

JUNK = (None, 0, -1, 1.5, True, "x", "12", "", "passed", "line", [], [1], [["a", "b"]], ["a"], {}, {"1": 1},
        {"a": 1}, ("a", "b"), float("nan"))


def corrupt(data: Any, rng: random.Random) -> Any:
    """A deep copy of ``data`` with one value replaced by junk (or one key removed), at a random place."""
    data = copy.deepcopy(data)
    holder, key = None, None
    node = data
    while True:
        if isinstance(node, dict) and node:
            k = rng.choice(list(node))
        elif isinstance(node, list) and node:
            k = rng.randrange(len(node))
        else:
            break
        holder, key, node = node, k, node[k]
        if rng.random() < 0.35:
            break
    if holder is None:
        return rng.choice(JUNK)
    if isinstance(holder, dict) and rng.random() < 0.25:
        del holder[key]
    else:
        holder[key] = copy.deepcopy(rng.choice(JUNK))
    return data


# ---- the tests ----


@pytest.mark.parametrize("seed", range(6))
def test_random_results_encode_decode_and_round_trip_as_the_generic_codec_does(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(40):
        result = rand_object(ExecResult, rng)
        encoded = result.to_dict()
        assert shape(encoded) == shape(to_jsonable(result))
        assert json.dumps(encoded) == json.dumps(to_jsonable(result))  # key order and number forms too
        wire = json.loads(json.dumps(encoded))
        decoded = ExecResult.from_dict(wire)
        assert shape(decoded) == shape(from_jsonable(ExecResult, wire)) == shape(result)  # the round trip
        assert same_decoding(ExecResult, loosen_result(wire, rng))[0] == "ok"
        for t in result.traces:
            assert shape(t.to_dict()) == shape(to_jsonable(t))
            assert shape(Trace.from_dict(t.to_dict())) == shape(t)
            for e in t.events[:5]:
                assert shape(e.to_dict()) == shape(to_jsonable(e))
                same_decoding(TraceEvent, e.to_dict())
        for o in result.tests:
            assert shape(o.to_dict()) == shape(to_jsonable(o))
            same_decoding(TestOutcome, o.to_dict())
            python_side = dataclasses.replace(o, value=rand_json(rng, tuples=True))  # tuples in the value
            assert shape(python_side.to_dict()) == shape(to_jsonable(python_side))


@pytest.mark.parametrize("seed", range(4))
def test_random_requests_encode_as_the_generic_codec_does(seed: int) -> None:
    rng = random.Random(100 + seed)
    for _ in range(60):
        request = rand_object(ExecRequest, rng)
        if rng.random() < 0.3:
            request = dataclasses.replace(request, trace=None)
        assert json.dumps(request.to_dict()) == json.dumps(to_jsonable(request))
        assert shape(request.to_dict()) == shape(to_jsonable(request))
        for obj in (*request.tests, request.limits, request.trace):
            if obj is not None:
                assert shape(obj.to_dict()) == shape(to_jsonable(obj))


@pytest.mark.parametrize("seed", range(6))
def test_corrupted_results_fail_or_pass_as_the_generic_decoder_does(seed: int) -> None:
    rng = random.Random(200 + seed)
    raised = 0
    for _ in range(300):
        wire = json.loads(json.dumps(rand_object(ExecResult, rng, SMALL).to_dict()))
        outcome = same_decoding(ExecResult, corrupt(wire, rng))
        raised += outcome[0] == "raised"
    assert raised > 50  # the corruptions do reach the checks


def base() -> dict[str, Any]:
    event = {"order": 1, "kind": "call", "line": 1, "func": "f", "depth": 0, "changes": [["x", "1"]],
             "value": None, "caller_line": None}
    trace = {"test_index": 0, "events": [event], "truncated": False, "truncated_at": None,
             "line_hits": {"1": 2}, "backend": "settrace"}
    outcome = {"index": 0, "status": "failed", "message": "m", "actual": "1", "duration": 0.5, "value": [1]}
    return {"status": "failed", "tests": [outcome], "stdout": "", "stderr": "", "duration": 1.0, "message": "",
            "traces": [trace], "python": "3.11", "runner_error": ""}


def at(path: str, value: Any = dataclasses.MISSING) -> Any:
    """``base()`` with the value at ``path`` (``traces.0.events.0.kind``) replaced, or removed when no value."""
    data = base()
    *parents, last = path.split(".")
    node: Any = data
    for p in parents:
        node = node[int(p) if isinstance(node, list) else p]
    if value is dataclasses.MISSING:
        del node[last]
    else:
        node[int(last) if isinstance(node, list) else last] = value
    return data


class Mapping(collections.abc.Mapping):
    """A mapping with ``get`` and ``[]`` that is not a dict."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def __iter__(self) -> Any:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


E, T, O = "traces.0.events.0.", "traces.0.", "tests.0."
INVALID = [
    (ExecResult, [], TypeError), (ExecResult, None, TypeError), (ExecResult, "x", TypeError),
    (ExecResult, at("status", "bogus"), ValueError), (ExecResult, at("status", 3), ValueError),
    (ExecResult, at("status"), TypeError), (ExecResult, at("tests", 5), TypeError),
    (ExecResult, at("tests", ["x"]), TypeError), (ExecResult, at("stdout", 5), TypeError),
    (ExecResult, at("duration", "1.0"), TypeError), (ExecResult, at("message", None), TypeError),
    (ExecResult, at("traces", [[]]), TypeError), (ExecResult, at("python", None), TypeError),
    (ExecResult, at("runner_error", 1), TypeError), (ExecResult, at("traces", None), TypeError),
    (ExecResult, {**at("status"), "stdout": 5}, TypeError),
    (ExecResult, {**at("status", "bogus"), "stdout": 5}, ValueError),  # the first field's error first
    (ExecResult, at(O + "index", "abc"), ValueError), (ExecResult, at(O + "index", 1.5), TypeError),
    (ExecResult, at(O + "index"), TypeError), (ExecResult, at(O + "status", "won"), ValueError),
    (ExecResult, at(O + "status"), TypeError), (ExecResult, at(O + "actual", 1), ValueError),
    (ExecResult, at(O + "duration", "0.5"), TypeError), (ExecResult, at(O + "message", []), TypeError),
    (ExecResult, at(T + "test_index"), TypeError), (ExecResult, at(T + "test_index", "a"), ValueError),
    (ExecResult, at(T + "events", 5), TypeError), (ExecResult, at(T + "events", [5]), TypeError),
    (ExecResult, at(T + "truncated", "yes"), TypeError), (ExecResult, at(T + "truncated", 1), TypeError),
    (ExecResult, at(T + "truncated_at", "x"), ValueError), (ExecResult, at(T + "truncated_at", 2.0), ValueError),
    (ExecResult, at(T + "line_hits", []), AttributeError), (ExecResult, at(T + "line_hits", None), AttributeError),
    (ExecResult, at(T + "line_hits", {"x": 1}), ValueError),
    (ExecResult, at(T + "line_hits", {"1": "x"}), ValueError),
    (ExecResult, at(T + "line_hits", {"1": 1.5}), TypeError), (ExecResult, at(T + "backend", 5), TypeError),
    (ExecResult, at(E + "kind", "jump"), ValueError), (ExecResult, at(E + "kind", None), ValueError),
    (ExecResult, at(E + "order", "x"), ValueError), (ExecResult, at(E + "order", 1.0), TypeError),
    (ExecResult, at(E + "line", 1.5), TypeError), (ExecResult, at(E + "func", None), TypeError),
    (ExecResult, at(E + "depth", []), TypeError), (ExecResult, at(E + "changes", 5), TypeError),
    (ExecResult, at(E + "changes", [[1, "x"]]), TypeError), (ExecResult, at(E + "changes", [5]), TypeError),
    (ExecResult, at(E + "changes", [None]), TypeError), (ExecResult, at(E + "value", 5), ValueError),
    (ExecResult, at(E + "caller_line", "x"), ValueError), (ExecResult, at(E + "caller_line", 1.5), ValueError),
    (ExecResult, at(E + "order"), TypeError), (ExecResult, at(E + "func"), TypeError),
    (ExecResult, {**at(E + "order", 1.5)}, TypeError),
    (TraceEvent, {**base()["traces"][0]["events"][0], "order": 1.5, "kind": "zz"}, TypeError),  # order first
    (TraceEvent, {**base()["traces"][0]["events"][0], "order": "1", "kind": "zz"}, ValueError),
    (TraceEvent, {"kind": "zz"}, ValueError),  # a bad value before the missing keys
    (TraceEvent, {"kind": "line"}, TypeError), (TraceEvent, ["order"], TypeError),
    (Trace, {"events": [{"order": 1}]}, TypeError), (Trace, {"test_index": 0, "line_hits": 3}, AttributeError),
    (TestOutcome, {"status": "passed"}, TypeError), (TestOutcome, {"index": 1, "status": "zz"}, ValueError),
    (TestOutcome, 5, TypeError),
    # a mapping that is not a dict is not an object
    (ExecResult, Mapping(base()), TypeError),
    (Trace, Mapping(base()["traces"][0]), TypeError),
    (TraceEvent, Mapping(base()["traces"][0]["events"][0]), TypeError),
    (TestOutcome, Mapping(base()["tests"][0]), TypeError),
]

# Not errors: odd values the generic decoder accepts and converts (the fast path must hand them over, not guess).
ODD_BUT_VALID = [
    at(E + "changes", [["a"]]), at(E + "changes", [["a", "b", "c"]]), at(E + "changes", ["ab"]),
    at(E + "changes", [("a", "b")]), at(E + "changes", ()), at(E + "changes", ""), at(E + "changes", {"ab": 1}),
    at(E + "order", "7"), at(E + "order", True), at(E + "caller_line", "3"), at(E + "caller_line", False),
    at(T + "line_hits", {1: 2, "1": 3}), at(T + "line_hits", {" 5 ": 1, "+6": True}),
    at(T + "events", ()), at(T + "events", {}), at(T + "truncated_at", "9"), at(T + "test_index", "0"),
    at(O + "duration", 1), at(O + "duration", True), at("duration", 3), at(O + "value", {"x": (1, 2)}),
    at(O + "index", "4"), at("tests", ()), at("traces", ""), at("tests"), at("traces"), at(O + "value"),
    at(O + "actual", None), at(T + "line_hits"), at(E + "value"), at(E + "changes"), at("runner_error"),
    {**base(), "extra": 1}, collections.OrderedDict(base()), at(T + "events", [collections.OrderedDict(
        base()["traces"][0]["events"][0])]), at("tests", [collections.OrderedDict(base()["tests"][0])]),
]


@pytest.mark.parametrize("cls,data,error", INVALID, ids=range(len(INVALID)))
def test_invalid_data_raises_the_generic_decoders_exception(cls: type, data: Any, error: type) -> None:
    with pytest.raises(error):
        from_jsonable(cls, copy.deepcopy(data))  # the table says what the generic decoder does
    assert same_decoding(cls, data)[:2] == ("raised", error.__name__)


@pytest.mark.parametrize("data", ODD_BUT_VALID, ids=range(len(ODD_BUT_VALID)))
def test_odd_but_valid_data_decodes_as_the_generic_decoder_does(data: Any) -> None:
    assert same_decoding(ExecResult, data)[0] == "ok"


def test_line_hits_keys_are_ints_after_decoding_and_strings_after_encoding() -> None:
    data = {"test_index": 0, "line_hits": {"3": 1, "12": 4}}
    assert Trace.from_dict(data).line_hits == {3: 1, 12: 4} == from_jsonable(Trace, data).line_hits
    trace = Trace.from_dict(data)
    assert trace.to_dict()["line_hits"] == {"3": 1, "12": 4}


def test_every_field_is_handled_by_the_fast_codecs() -> None:
    """A field added to a class and not to its codec fails here (encoders: their keys, in field order; decoders:
    a non-default value of each field survives them)."""
    names = {cls: [f.name for f in dataclasses.fields(cls)] for cls in ENCODED}
    assert list(trace_module.EVENT_FIELDS) == names[TraceEvent]
    assert list(trace_module.TRACE_FIELDS) == names[Trace]
    rng = random.Random(7)
    for cls in ENCODED:
        assert "to_dict" in vars(cls), f"{cls.__name__} has no hand-written to_dict"
        obj = rand_object(cls, rng)
        assert list(obj.to_dict()) == names[cls] == list(to_jsonable(obj))
    for cls in DECODED:
        assert "from_dict" in vars(cls), f"{cls.__name__} has no hand-written from_dict"
        first = rand_object(cls, rng)
        for f in dataclasses.fields(cls):
            for _ in range(200):  # an object whose field ``f`` differs from the one of ``first``
                obj = rand_object(cls, rng)
                if shape(getattr(obj, f.name)) != shape(getattr(first, f.name)):
                    break
            else:
                raise AssertionError(f"no second value for {cls.__name__}.{f.name}")
            data = {**to_jsonable(first), f.name: to_jsonable(getattr(obj, f.name))}
            got = cls.from_dict(json.loads(json.dumps(data)))
            assert shape(getattr(got, f.name)) == shape(getattr(obj, f.name)), (cls.__name__, f.name)


def test_subclasses_and_other_objects_go_to_the_generic_codec() -> None:
    @dataclasses.dataclass(frozen=True)
    class Tagged(ExecResult):
        tag: str = ""

    data = {**base(), "tag": "t"}
    assert Tagged.from_dict(data).tag == "t" and Tagged.from_dict(data).to_dict()["tag"] == "t"
    request = ExecRequest(code="x", tests=[TestCase(kind="call", args="1")], limits=None)  # type: ignore[arg-type]
    assert json.dumps(request.to_dict()) == json.dumps(to_jsonable(request))
    event = TraceEvent(order=1, kind="line", line=2, func="f", depth=0,
                       changes=[["a", "1"]])  # type: ignore[arg-type]
    trace = Trace(test_index=0, events=[event], line_hits={"2": 1})  # type: ignore[arg-type]
    assert json.dumps(trace.to_dict()) == json.dumps(to_jsonable(trace))
