"""How the run's checkpoints store values: LangGraph's serializer, with the agent's own types written directly and
large blobs compressed.

- The graph's hot values — a ``Send`` carrying a ``state.Chain``, and a list of ``record.Candidate`` /
  ``state.Amend`` written to the ``candidates`` channel — are stored as their pydantic JSON (type ``semtrace``):
  one ``model_dump_json`` each, read back with ``model_validate``, instead of LangGraph's msgpack extension path
  (a Python hook per object, a protocol check per ``Send``, the fields dumped to Python objects first). Floats that
  JSON cannot hold (NaN, infinities) are written as JSON's usual constants (``ser_json_inf_nan``) and read back by
  ``json``.
- Everything else goes through LangGraph's ``JsonPlusSerializer`` format; its msgpack extension may revive only the
  types in ``TYPES`` (besides LangGraph's own), the ones a checkpoint of format 3 holds. A checkpoint's pending
  ``Send``s (and the agent's models inside any value) are encoded by ``_default`` first: the same bytes
  LangGraph's hook writes (a test compares them), without its chain of type checks.
- A blob of ``COMPRESS_FROM`` bytes or more (a later round's long prompt, a long reasoning, an older run's payload
  with a trace) is stored zlib-compressed (level 1), typed ``<type>+z``; the usual blob, a few KB since the chains
  carry no traces and no answers (``Chain.carried``), is not (compressing every blob from 2 KB cost ~5% of the
  orchestrator's CPU). ``perf/checkpoint_bytes.py``: checkpoint bytes per task 0.17x of issue 20's start on
  ``perf/orchestration.py``'s scenario, 0.07x on a demo run.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

import orjson
import ormsgpack
from langgraph.checkpoint.serde import jsonplus as _jsonplus
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.types import Send
from semtrace.agents.record import Candidate
from semtrace.agents.state import Amend, Chain

COMPRESS_FROM = 8 * 1024  # the usual blob is a few KB: compressing each cost more CPU than its bytes were worth
KIND = "semtrace"
# the types a checkpoint may hold besides LangGraph's own (read back by validating their fields)
TYPES = (("semtrace.agents.state", "Chain"), ("semtrace.agents.state", "Amend"),
         ("semtrace.agents.record", "Candidate"))
_TAGS = {Candidate: b"C", Amend: b"A"}
_BY_TAG = {"C": Candidate, "A": Amend}


def _direct(obj: Any) -> bytes | None:
    """``obj`` as the ``semtrace`` kind's JSON, or None when it is not one of the values stored that way."""
    if isinstance(obj, Send) and type(obj.arg) is Chain and getattr(obj, "timeout", None) is None:
        return b'{"send":' + orjson.dumps(obj.node) + b',"chain":' + obj.arg.model_dump_json().encode() + b"}"
    if isinstance(obj, list) and obj and all(type(c) in _TAGS for c in obj):
        items = (b'["' + _TAGS[type(c)] + b'",' + c.model_dump_json().encode() + b"]" for c in obj)
        return b'{"candidates":[' + b",".join(items) + b"]}"
    return None


_MODELS = (Chain, Candidate, Amend)


def _default(obj: Any) -> Any:
    """LangGraph's msgpack hook, byte for byte, with the agent's values first: the pending ``Send``s a checkpoint
    holds (``__pregel_tasks``) otherwise go through ~20 type checks and a protocol check each."""
    cls = type(obj)
    if cls is Send and getattr(obj, "timeout", None) is None:
        return ormsgpack.Ext(_jsonplus.EXT_CONSTRUCTOR_POS_ARGS, _pack((cls.__module__, cls.__name__,
                                                                         (obj.node, obj.arg))))
    if cls in _MODELS:
        return ormsgpack.Ext(_jsonplus.EXT_PYDANTIC_V2, _pack((cls.__module__, cls.__name__, obj.model_dump(),
                                                               "model_validate_json")))
    return _jsonplus._msgpack_default(obj)


def _pack(data: Any) -> bytes:
    return ormsgpack.packb(data, default=_default, option=_jsonplus._option)


def _revive(data: dict[str, Any]) -> Any:
    if "send" in data:
        return Send(data["send"], Chain.model_validate(data["chain"]))
    return [_BY_TAG[tag].model_validate(value) for tag, value in data["candidates"]]


class CompressedSerde(JsonPlusSerializer):
    """LangGraph's serializer with the agent's own values written directly and large blobs compressed (see the
    module's docstring)."""

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        direct = _direct(obj)
        if direct is not None:
            kind, data = KIND, direct
        elif isinstance(obj, (dict, list)):  # a checkpoint, a write: LangGraph's format, the agent's values first
            try:
                kind, data = "msgpack", _pack(obj)
            except ormsgpack.MsgpackEncodeError:
                kind, data = super().dumps_typed(obj)
        else:
            kind, data = super().dumps_typed(obj)
        if len(data) >= COMPRESS_FROM and kind in ("msgpack", "json", "pickle", KIND):
            return kind + "+z", zlib.compress(data, 1)
        return kind, data

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        kind, blob = data
        if kind.endswith("+z"):
            kind, blob = kind[:-2], zlib.decompress(blob)
        if kind == KIND:
            try:
                return _revive(orjson.loads(blob))
            except orjson.JSONDecodeError:  # NaN or infinities (JSON's constants): what json reads
                return _revive(json.loads(blob))
        return super().loads_typed((kind, blob))
