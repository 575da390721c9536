"""The graph's state and the chain a ``Send`` carries, both typed.

A candidate is one ``record.Candidate``, created once by the node that got its program (``generate``, ``refine``,
``debug``), completed by ``observe`` (its run, trace, feedback, rendering) and ``critique``, and written to the
state once its round is complete; the scorer adds its hidden outcome outside the graph. A chain travels from node
to node as a ``Chain``: the candidate in progress and the history the next prompt shows. The task itself is not
in the state: it comes in with the run context (so hidden tests never sit in a checkpoint or a payload). Dicts
exist only where a checkpoint of an older format is read (``as_chain``, ``merge_candidates``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Annotated, Any, TypedDict

from langgraph.channels.delta import DeltaChannel
from pydantic import BaseModel, ConfigDict, ValidationError
from semtrace.agents.record import Candidate, PromptMessage, not_run
from semtrace.agents.transcript import Transcript
from semtrace.representations.prompts import Attempt

__all__ = ["AgentState", "Amend", "Candidate", "Chain", "as_chain", "candidate_id", "final_candidates",
           "merge_candidates"]


class Chain(BaseModel):
    """One chain between two nodes: its candidate of this round and what later prompts show of earlier rounds.

    ``failing``: the first failing visible test (None: none failed, or nothing ran); ``visible``: the visible run's
    every outcome (the ``debug`` strategy's ``run_tests`` tool reads it; None otherwise); ``debug``: the ``debug``
    round's tool loop in progress."""

    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="constants")

    candidate: Candidate
    attempts: tuple[Attempt, ...] = ()
    failing: int | None = None
    visible: dict[str, Any] | None = None
    debug: Transcript | None = None
    legacy: bool = False  # read from a checkpoint before format 3: its candidate's other fields are in the state

    @property
    def chain(self) -> int:
        return self.candidate.chain

    @property
    def round(self) -> int:
        return self.candidate.round

    @property
    def no_program(self) -> bool:
        return self.candidate.no_program

    def written(self, cand: Candidate) -> Candidate | dict[str, Any]:
        """What a node writes to the state for ``cand`` (this chain's candidate, completed): the candidate; for a
        chain of an older checkpoint, only the fields the node set (merged onto that checkpoint's record)."""
        if not self.legacy:
            return cand
        old = self.candidate
        given = old.model_fields_set  # the fields the old payload held (as new as the state's)
        return {"id": cand.id, **{k: v for k, v in cand.to_dict().items()
                                  if k in given or getattr(cand, k) != getattr(old, k)}}

    def carried(self) -> Chain:
        """The chain as it goes on once its candidate is written: the candidate without what no later node reads
        (the answer, the reasoning, the traces, the tool loop, and the prompt unless the reply had no program and
        the request is asked again), so the payloads a checkpoint stores stay small. Nothing writes a carried
        candidate again (a note on it is an ``Amend``)."""
        c = self.candidate
        drop: dict[str, Any] = {"raw": "", "reasoning": "", "critique_reasoning": "", "trace": None,
                                "passing_trace": None, "transcript": None, "critique_prompt": ()}
        if not self.no_program:
            drop["prompt"] = ()
        return self.model_copy(update={"candidate": c.model_copy(update=drop)})

    def attempt(self) -> Attempt:
        """This round as the next prompt's history shows it."""
        c = self.candidate
        return Attempt(code=c.code, feedback=c.feedback, rendering=c.rendering, critique=c.critique)


def candidate_id(chain: int, round_: int) -> str:
    return f"c{chain}r{round_}"


# ------------------------------------------------------------------ the candidates channel


def _typed(data: dict[str, Any]) -> Candidate | dict[str, Any]:
    """A candidate from an older checkpoint's dict (kept a dict while its patches are still partial)."""
    try:
        return Candidate.from_dict(data)
    except ValidationError:
        return data


class Amend(BaseModel):
    """A note added to a candidate already written (a chain stopped by an LLM error after it)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    note: str


def _cid(c: Candidate | Amend | dict[str, Any]) -> str:
    return c["id"] if isinstance(c, dict) else c.id


def merge_candidates(left: Sequence[Candidate | dict[str, Any]] | None,
                     right: Sequence[Candidate | Amend | dict[str, Any]] | None) -> list[Candidate | dict[str, Any]]:
    """Reducer: candidates keyed by id, a later write of an id replacing it whole; an ``Amend`` sets the note of
    the candidate it names. A dict is a patch of a checkpoint written before format 3 (``checkpoints.FORMAT``),
    merged onto what that id holds. Never mutates its inputs; order is first appearance."""
    merged: dict[str, Candidate | dict[str, Any]] = {}
    for c in left or []:
        merged[_cid(c)] = c if isinstance(c, Candidate) else _typed(c)
    for w in right or []:
        cid = _cid(w)
        if isinstance(w, Candidate):
            merged[cid] = w
            continue
        if isinstance(w, Amend):
            held = merged.get(cid)
            merged[cid] = (held.model_copy(update={"note": w.note}) if isinstance(held, Candidate)
                           else _typed({**(held or {}), "id": cid, "note": w.note}))
            continue
        base = merged.get(cid)
        merged[cid] = _typed({**(base.to_dict() if isinstance(base, Candidate) else (base or {})), **w})
    return list(merged.values())


def merge_candidate_writes(state: list[Any] | None, writes: list[list[Any]]) -> list[Any]:
    """``merge_candidates`` over a batch of writes, as ``DeltaChannel`` replays them (batching-invariant)."""
    merged = state or []
    for write in writes:
        merged = merge_candidates(merged, write)
    return merged


def add_ints(left: list[int] | None, right: list[int] | None) -> list[int]:
    return [*(left or []), *(right or [])]


class AgentState(TypedDict, total=False):
    """One task's graph state."""

    task_id: str
    width: int
    # a delta channel: a checkpoint stores this step's writes (each a finished candidate), not the whole list
    # again; the list is rebuilt by replaying them (a full snapshot every 100 updates bounds the replay)
    candidates: Annotated[list[Candidate], DeltaChannel(merge_candidate_writes)]
    finished: Annotated[list[int], add_ints]  # chains that stopped
    selection: dict[str, Any]  # {"id": candidate id or None, "selector": name, "info": {...}}


def candidates_of(state: dict[str, Any]) -> list[Candidate]:
    """The state's candidates, typed: an older checkpoint's dicts too (LangGraph loads a stored channel value
    without the reducer, so they stay dicts until the next write); partial dicts, never completed, are left out."""
    typed = (c if isinstance(c, Candidate) else _typed(c) for c in state.get("candidates") or [])
    return [c for c in typed if isinstance(c, Candidate)]


def final_candidates(candidates: Iterable[Candidate], depth: int | None = None,
                     width: int | None = None) -> list[Candidate]:
    """Each chain's answer at ``depth``: its latest candidate with round <= depth (chains stop early on a pass).
    A record read from ``results.jsonl`` is typed first (``metrics.parsed``)."""
    best: dict[int, Candidate] = {}
    for c in candidates:
        if (width is not None and c.chain >= width) or (depth is not None and c.round > depth):
            continue
        if c.chain not in best or c.round > best[c.chain].round:
            best[c.chain] = c
    return [best[k] for k in sorted(best)]


# ------------------------------------------------------------------ payloads of checkpoints before format 3

_RECORD_KEYS = ("id", "chain", "round", "parent", "code", "raw", "note", "reasoning", "feedback", "rendering",
                "critique", "prompt_digest", "latency")


def as_chain(payload: Chain | dict[str, Any]) -> Chain:
    """A node's input as a ``Chain``: a ``Send`` payload of a checkpoint written before format 3 was a dict of the
    candidate's fields and the chain's history; it is read into the same types (the candidate's other fields are
    in that checkpoint's state, merged by id)."""
    if isinstance(payload, Chain):
        return payload
    p = payload
    fields: dict[str, Any] = {k: p[k] for k in _RECORD_KEYS if k in p}
    if "prompt" in p:
        fields["prompt"] = tuple(PromptMessage(**m) for m in p["prompt"] or [])
    if p.get("usage"):
        fields["usage"] = p["usage"]
    if p.get("no_program"):
        fields["visible"] = not_run(p.get("note", ""))
    return Chain(
        candidate=Candidate.from_dict({"code": "", **fields}),
        attempts=tuple(Attempt(**a) for a in p.get("attempts") or []),
        failing=p.get("failing"),
        visible=p.get("visible") if isinstance(p.get("visible"), dict) else None,
        debug=Transcript.from_dict(p["debug"]) if p.get("debug") else None,
        legacy=True,
    )
