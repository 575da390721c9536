"""The graph's state, the per-chain payload carried by ``Send``, and the Candidate record.

State holds plain JSON-able dicts (so SQLite checkpoints stay small and portable) in the shape of
``record.Candidate``, the typed, frozen candidate that selectors, reports and ``results.jsonl`` use. The task itself is not in the state: it comes in with
the run context (so hidden tests never sit in a checkpoint or a payload).
"""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

from langgraph.channels.delta import DeltaChannel
from semtrace.agents.record import Candidate
from semtrace.representations.prompts import Attempt

__all__ = ["AgentState", "Candidate", "ChainPayload", "attempts_of", "candidate_id", "final_candidates",
           "merge_candidates"]


def merge_candidates(
    left: list[dict[str, Any]] | None, right: list[dict[str, Any]] | None
) -> list[dict[str, Any]]:
    """Reducer: candidates are keyed by ``id``; a later patch for the same id adds/overrides fields.

    Never mutates its inputs; order is first appearance (chain, then round as they were produced).
    """
    merged: dict[str, dict[str, Any]] = {c["id"]: c for c in (left or [])}
    for patch in right or []:
        cid = patch["id"]
        merged[cid] = {**merged[cid], **patch} if cid in merged else dict(patch)
    return list(merged.values())


def merge_candidate_writes(state: list[dict[str, Any]] | None, writes: list[list[dict[str, Any]]]
                           ) -> list[dict[str, Any]]:
    """``merge_candidates`` over a batch of writes, as ``DeltaChannel`` replays them (batching-invariant: merging
    by id write after write is the same as merging their concatenation)."""
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
    # a delta channel: a checkpoint stores this step's patches (the writes), not the whole candidate list again;
    # the list is rebuilt by replaying the writes (a full snapshot every 100 updates bounds the replay)
    candidates: Annotated[list[dict[str, Any]], DeltaChannel(merge_candidate_writes)]
    finished: Annotated[list[int], add_ints]  # chains that stopped
    selection: dict[str, Any]  # {"id": candidate id or None, "selector": name, "info": {...}}


class ChainPayload(TypedDict, total=False):
    """What one chain carries from node to node (the ``Send`` argument)."""

    chain: int
    round: int
    id: str
    parent: str | None
    code: str
    visible: dict[str, Any]  # ExecResult.to_dict() without traces
    failing: int | None  # index of the first failing visible test
    trace: dict[str, Any] | None
    rendering: str
    critique: str
    attempts: list[dict[str, str]]  # earlier rounds as Attempt fields
    prefetched: list[dict[str, Any]]  # traces the execution already recorded (Trace.to_dict())


def candidate_id(chain: int, round_: int) -> str:
    return f"c{chain}r{round_}"


def attempts_of(payload: ChainPayload) -> list[Attempt]:
    return [Attempt(**a) for a in payload.get("attempts", [])]


def final_candidates(
    candidates: list[dict[str, Any]], depth: int | None = None, width: int | None = None
) -> list[Candidate]:
    """Each chain's answer at ``depth``: its latest candidate with round <= depth (chains stop early on a pass)."""
    best: dict[int, dict[str, Any]] = {}
    for c in candidates:
        if width is not None and c["chain"] >= width:
            continue
        if depth is not None and c["round"] > depth:
            continue
        if c["chain"] not in best or c["round"] > best[c["chain"]]["round"]:
            best[c["chain"]] = c
    return [Candidate.from_dict(best[k]) for k in sorted(best)]
