"""Routes: pure functions of a chain payload (or the state) and the settings, returning a node name."""

from __future__ import annotations

from typing import Literal

from semtrace.agents.settings import AgentSettings
from semtrace.agents.state import AgentState, ChainPayload

AfterExecute = Literal["trace", "render", "refine", "finish"]
AfterRender = Literal["critique", "refine", "debug"]
Repair = Literal["refine", "debug"]
AfterFinish = Literal["select", "__end__"]


def after_execute(payload: ChainPayload, settings: AgentSettings) -> AfterExecute:
    """Stop when every visible test passes (if ``stop_on_pass``) or the depth is reached; else trace (or go
    straight to rendering when the representation needs no trace)."""
    if payload.get("no_program"):  # nothing ran: ask again (refine re-sends the request) unless at the depth
        return "finish" if payload["round"] >= settings.agent.resolved_depth else "refine"
    passed = payload.get("visible", {}).get("status") == "passed"
    if passed and (settings.agent.stop_on_pass or not payload.get("visible", {}).get("tests")):
        return "finish"
    if payload["round"] >= settings.agent.resolved_depth:
        return "finish"
    if passed:  # stop_on_pass is off: keep refining a passing program, with no failing test to show
        return "render"
    return "trace" if settings.needs_trace and payload.get("failing") is not None else "render"


def repair_node(settings: AgentSettings) -> Repair:
    """Where a chain writes its next program: ``refine`` (one prompt, one reply), or the ``debug`` strategy's tool
    loop (agents/debug.py)."""
    return "debug" if settings.agent.strategy == "debug" else "refine"


def after_render(payload: ChainPayload, settings: AgentSettings) -> AfterRender:
    return "critique" if settings.agent.critique and payload.get("failing") is not None else repair_node(settings)


def after_finish(state: AgentState) -> AfterFinish:
    """Select once every chain has stopped."""
    done = set(state.get("finished", []))
    return "select" if len(done) >= state.get("width", 1) and "selection" not in state else "__end__"
