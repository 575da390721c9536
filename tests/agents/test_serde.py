"""The checkpoint serializer (agents/serde.py): the agent's own values (a ``Send`` carrying a ``Chain``, lists of
candidates and amends) stored as their JSON and read back equal, every field included (NaN too); anything else,
and blobs of older runs, through LangGraph's msgpack path; large blobs compressed."""

from __future__ import annotations

import math
import zlib

from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.types import Send
from semtrace.agents.record import Candidate, ExecSummary, PromptMessage, TestDetail
from semtrace.agents.serde import COMPRESS_FROM, KIND, TYPES, CompressedSerde
from semtrace.agents.state import Amend, Chain
from semtrace.agents.transcript import ToolStep, Transcript, Turn
from semtrace.llms.accounting import Spent
from semtrace.representations.prompts import Attempt

SERDE = CompressedSerde(allowed_msgpack_modules=TYPES)


def full_candidate(**extra: object) -> Candidate:
    """A candidate with every field set to something other than its default."""
    turn = Turn(text="t", reasoning="r", calls=(ToolStep(id="c1", name="trace", arguments={"expression": "f(1)"},
                                                         observation="o", tokens=3, done=True),),
                usage=Spent(prompt_tokens=5, completion_tokens=2, calls=1), latency=0.5)
    values: dict = dict(
        id="c1r2", chain=1, round=2, parent="c1r1", code="def f(x):\n    return x\n", raw="```python\n...```",
        note="n", reasoning="thought", feedback="fb", rendering="rd", critique="cr",
        visible=ExecSummary(status="failed", message="m", duration=0.25, passed=1, total=2, outcomes="PF",
                            tests=(TestDetail(index=1, status="failed", message="expected 2", actual="1",
                                              value={"list": [1, [2, 3]]}),)),
        hidden=ExecSummary(status="passed", passed=3, total=3, outcomes="PPP"),
        trace={"test_index": 1, "n_events": 7, "line_hits": {"2": 3}}, passing_trace={"test_index": 0},
        usage=Spent(prompt_tokens=10, completion_tokens=20, reasoning_tokens=5, calls=1),
        render_usage=Spent(calls=2), critique_usage=Spent(prompt_tokens=1, calls=1), prompt_digest="abc",
        prompt=(PromptMessage(role="system", content="s"), PromptMessage(role="user", content="u")), latency=1.5,
        critique_prompt=(PromptMessage(role="user", content="c"),), critique_reasoning="cr2",
        transcript=Transcript(protocol="native", budget=4, turns=(turn,)),
    )
    values.update(extra)
    cand = Candidate(**values)
    assert all(getattr(cand, f) != Candidate.model_fields[f].get_default(call_default_factory=True)
               for f in Candidate.model_fields if f != "id" and f not in extra), "every field set"
    return cand


def round_trip(obj: object) -> tuple[str, object]:
    kind, blob = SERDE.dumps_typed(obj)
    return kind, SERDE.loads_typed((kind, blob))


def test_a_send_carrying_a_chain_reads_back_equal_with_every_field() -> None:
    chain = Chain(candidate=full_candidate(), attempts=(Attempt(code="a", feedback="f", critique="c"),), failing=1,
                  visible={"status": "failed", "tests": [{"index": 0, "status": "passed"}]},
                  debug=Transcript(protocol="text", budget=2), legacy=True)
    kind, back = round_trip(Send("observe", chain))
    assert kind.split("+")[0] == KIND
    assert isinstance(back, Send) and back.node == "observe" and back.arg == chain
    assert isinstance(back.arg.attempts[0], Attempt) and isinstance(back.arg.candidate.usage, Spent)


def test_candidates_and_amends_read_back_typed_and_equal_nan_included() -> None:
    cands = [full_candidate(), full_candidate(id="c0r0", latency=float("nan")), Amend(id="c0r0", note="stop"),
             full_candidate(id="c9r9", reasoning="r" * COMPRESS_FROM)]
    kind, back = round_trip(cands)
    assert kind == KIND + "+z"  # large (a long reasoning): compressed
    assert [type(c) for c in back] == [Candidate, Candidate, Amend, Candidate]  # type: ignore[union-attr]
    assert back[0] == cands[0] and back[2:] == cands[2:]  # type: ignore[index]
    assert math.isnan(back[1].latency) and back[1].model_copy(update={"latency": 0}) == cands[1].model_copy(  # type: ignore[index]
        update={"latency": 0})
    small = [Amend(id="c0r1", note="n")]
    kind, back = round_trip(small)
    assert kind == KIND and back == small and len(SERDE.dumps_typed(small)[1]) < COMPRESS_FROM


def test_other_values_and_older_blobs_take_langgraphs_path() -> None:
    mixed = [full_candidate(), {"id": "c0r1", "note": "a patch of a format-2 checkpoint"}]
    for value in (mixed, Send("observe", {"id": "c0r0", "code": "x"}), {"task_id": "t"}, [1, 2], []):
        kind, back = round_trip(value)
        assert kind.split("+")[0] == "msgpack" and back == value
    old = JsonPlusSerializer().dumps_typed(Send("execute", {"id": "c0r0", "code": "x = 1"}))  # format 1
    assert SERDE.loads_typed(old) == Send("execute", {"id": "c0r0", "code": "x = 1"})


def test_a_checkpoint_holding_pending_sends_is_langgraphs_bytes_and_reads_back() -> None:
    """The fast hook writes exactly what LangGraph's own writes (so any LangGraph reader, and an older semtrace,
    reads it): a checkpoint whose pending tasks carry chains, and models inside other values."""
    chain = Chain(candidate=full_candidate(latency=float("inf")), attempts=(Attempt(code="a"),), failing=0)
    checkpoint = {"v": 4, "id": "x", "channel_values": {"__pregel_tasks": [Send("observe", chain),
                                                                          Send("refine", chain)], "finished": [0]},
                  "other": [full_candidate(), {"id": "c0r1", "note": "n"}, Amend(id="c0r1", note="m")]}
    theirs = JsonPlusSerializer(allowed_msgpack_modules=TYPES).dumps_typed(checkpoint)
    ours = SERDE.dumps_typed(checkpoint)
    assert ours[0].split("+")[0] == theirs[0] == "msgpack"
    assert (zlib.decompress(ours[1]) if ours[0].endswith("+z") else ours[1]) == theirs[1]
    back = SERDE.loads_typed(ours)
    assert back["channel_values"]["__pregel_tasks"] == checkpoint["channel_values"]["__pregel_tasks"]
    assert back["other"] == checkpoint["other"]
