"""Routes: pure functions of a chain (or the state) and the settings, returning where the chain goes next."""

from __future__ import annotations

from typing import Literal

from semtrace.agents.settings import AgentSettings
from semtrace.agents.state import AgentState, Chain

AfterRun = Literal["finish", "feedback"]
AfterFeedback = Literal["critique", "refine", "debug"]
Repair = Literal["refine", "debug"]
AfterFinish = Literal["select", "__end__"]


def after_run(chain: Chain, settings: AgentSettings, has_tests: bool) -> AfterRun:
    """Stop when every visible test passes (if ``stop_on_pass``), when there are no visible tests to judge a pass
    by, or at the depth; else the chain gets its feedback (trace, rendering) for the next round."""
    passed = chain.candidate.visible.status == "passed"
    if passed and (settings.agent.stop_on_pass or not has_tests):
        return "finish"
    return "finish" if chain.round >= settings.agent.resolved_depth else "feedback"


def after_no_program(chain: Chain, settings: AgentSettings) -> Literal["finish", "refine"]:
    """A reply without a program ran nothing: the same request again (``refine``) unless at the depth."""
    return "finish" if chain.round >= settings.agent.resolved_depth else "refine"


def wants_trace(chain: Chain, settings: AgentSettings) -> bool:
    """A failing visible test to trace, and a representation that reads traces."""
    return settings.needs_trace and chain.failing is not None and chain.candidate.visible.status != "passed"


def repair_node(settings: AgentSettings) -> Repair:
    """Where a chain writes its next program: ``refine`` (one prompt, one reply), or the ``debug`` strategy's tool
    loop (agents/debug.py)."""
    return "debug" if settings.agent.strategy == "debug" else "refine"


def after_feedback(chain: Chain, settings: AgentSettings) -> AfterFeedback:
    return "critique" if settings.agent.critique and chain.failing is not None else repair_node(settings)


def after_finish(state: AgentState) -> AfterFinish:
    """Select once every chain has stopped."""
    done = set(state.get("finished", []))
    return "select" if len(done) >= state.get("width", 1) and "selection" not in state else "__end__"
